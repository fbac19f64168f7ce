//! `QuantizedGraph`: the fixed-point model the circuit proves.
//!
//! Every tensor holds integers with a power-of-two scale (`real = int * 2^-scale`). Ops come in
//! six families, one file each:
//!
//! | family | file | proves |
//! | --- | --- | --- |
//! | [`LinearOp`] | `linear.rs` | constant-weight linear maps (Gemm, MatMul with a constant side, Conv, average pools) |
//! | [`ElemOp`] | `elementwise.rs` | `f(round((qa·a + qb·b + qm·a·b + qc) / 2^d))`: rescale, activations, add/sub/mul, affine |
//! | [`MaxOp`] | `maxpool.rs` | window maxima |
//! | [`MatMulOp`] | `matmul.rs` | products of two computed tensors |
//! | [`ViewOp`] | `view.rs` | re-indexing without arithmetic (reshape, transpose, concat, flatten) |
//! | [`RequantOp`] | `requant_op.rs` | `clamp(round(acc·M / 2^n) + zp, qmin, qmax)`: ONNX Runtime's int8/uint8 requantization |
//!
//! Activations are bounded: they lie in `[-2^(bits-1), 2^(bits-1))`, which the circuit enforces
//! by lookups. Accumulators (outputs of linear maps and products) are unbounded and are only
//! ever consumed by an [`ElemOp`] that rescales them back into the activation range.

mod centring;
mod compose;
mod elementwise;
pub mod expr;
mod invalid;
mod linear;
mod matmul;
mod maxpool;
mod narrow;
pub mod requant;
mod requant_op;
mod scalar_products;
mod siblings;
mod table_chains;
mod tables;
mod view;
mod zeros;

pub use centring::centre_at_source;
pub use compose::{compose_affine, remove_unread};
pub use elementwise::{Coef, ElemOp, Operand};
pub use invalid::{GraphError, OpDefect};
pub use linear::{Geometry, LinearGroup, LinearOp, WeightSet, PAD};
pub use matmul::{skip_known_zeros, MatMulOp};
pub use maxpool::MaxOp;
pub use narrow::narrow_to_read;
pub use requant_op::{RequantOp, MAX_PREMUL_BITS};
pub use scalar_products::scalar_products;
pub use siblings::fuse_sibling_products;
pub use table_chains::compose_tables;
pub use tables::{det_exp, det_sigmoid, det_tanh, FnKind, ImageError, Knot};
pub use view::ViewOp;
pub use zeros::KnownZeros;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Activation bit widths a graph may use: `MIN_BITS..=MAX_BITS`.
pub const MIN_BITS: u32 = 4;
/// See [`MIN_BITS`]. Lookup tables have `2^bits` rows per function, and `bits` must leave room
/// for the range checks of every rescale below the field's size.
pub const MAX_BITS: u32 = 24;

/// The most elements a tensor may have (a circuit has at most `2^MAX_K` rows).
pub const MAX_TENSOR_LEN: usize = 1 << 28;

/// Index of a tensor in [`QuantizedGraph::tensors`].
pub type TensorId = usize;

/// Whether a tensor is range-checked (activation) or an unbounded accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TensorKind {
    /// Bounded to `bits` signed bits, enforced in the circuit.
    Activation,
    /// Output of a linear map or product; consumed only by a rescaling [`ElemOp`].
    Accumulator,
}

/// A tensor of the quantized graph.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QTensor {
    /// Name of the ONNX tensor it stands for (or a derived name).
    pub name: String,
    /// Shape, batch dimension fixed to 1.
    pub shape: Vec<usize>,
    /// Power-of-two scale: `real = int * 2^-scale`.
    pub scale: i32,
    /// Activation or accumulator.
    pub kind: TensorKind,
    /// An imported int8/uint8 tensor's own quantization (then `scale` is 0 and unused).
    #[serde(default)]
    pub affine: Option<requant::AffineScale>,
}

/// A power-of-two scale `2^-s` as text: `2^-10`, or `2^24` for `s = -24`.
pub fn scale_text(s: i32) -> String {
    match s {
        s if s >= 0 => format!("2^-{s}"),
        s => format!("2^{}", -i64::from(s)),
    }
}

impl QTensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One op of the quantized graph.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum QOp {
    /// Constant-weight linear map.
    Linear(LinearOp),
    /// Elementwise affine/product, rescale and function.
    Elementwise(ElemOp),
    /// Window maxima.
    MaxPool(MaxOp),
    /// Product of two computed tensors.
    MatMul(MatMulOp),
    /// Re-indexing.
    View(ViewOp),
    /// Requantization of an accumulator to int8/uint8 (imported quantized models).
    Requant(RequantOp),
}

/// What every op family provides to the graph: its wiring and its integer semantics.
pub trait IntOp {
    /// The ONNX node (or derived step) this op implements, for messages.
    fn name(&self) -> &str;
    /// Tensors read.
    fn inputs(&self) -> Vec<TensorId>;
    /// Tensor written.
    fn output(&self) -> TensorId;
    /// Short description for `inspect`.
    fn describe(&self, g: &QuantizedGraph) -> String;
    /// Computes the output from the inputs, checking every bound the circuit enforces.
    fn eval(&self, g: &QuantizedGraph, vals: &mut [Vec<i128>]) -> Result<(), EvalError>;
}

impl QOp {
    /// The family implementation behind this op (the one place ops are dispatched).
    pub fn family(&self) -> &dyn IntOp {
        match self {
            QOp::Linear(op) => op,
            QOp::Elementwise(op) => op,
            QOp::MaxPool(op) => op,
            QOp::MatMul(op) => op,
            QOp::View(op) => op,
            QOp::Requant(op) => op,
        }
    }

    /// Every tensor id the op holds (read and written), for renumbering.
    pub fn tensor_ids_mut(&mut self) -> Vec<&mut TensorId> {
        match self {
            QOp::Linear(op) => vec![&mut op.input, &mut op.output],
            QOp::Elementwise(op) => {
                let mut v: Vec<&mut TensorId> = op.a.iter_mut().map(|o| &mut o.tensor).collect();
                v.extend(op.b.iter_mut().map(|o| &mut o.tensor));
                v.push(&mut op.output);
                v
            }
            QOp::MaxPool(op) => vec![&mut op.input, &mut op.output],
            QOp::Requant(op) => vec![&mut op.input, &mut op.output],
            QOp::MatMul(op) => vec![&mut op.a, &mut op.b, &mut op.output],
            QOp::View(op) => {
                let mut v: Vec<&mut TensorId> = op.inputs.iter_mut().collect();
                v.push(&mut op.output);
                v
            }
        }
    }

    /// Family name for summaries.
    pub fn family_name(&self) -> &'static str {
        match self {
            QOp::Linear(_) => "linear",
            QOp::Elementwise(_) => "elementwise",
            QOp::MaxPool(_) => "maxpool",
            QOp::MatMul(_) => "matmul",
            QOp::View(_) => "view",
            QOp::Requant(_) => "requant",
        }
    }
}

/// The quantized model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuantizedGraph {
    /// Signed bit width of activations.
    pub bits: u32,
    /// All tensors.
    pub tensors: Vec<QTensor>,
    /// Public inputs, in graph order. Each is range-checked by an [`ElemOp`] before use.
    pub inputs: Vec<TensorId>,
    /// Public outputs, in graph order.
    pub outputs: Vec<TensorId>,
    /// Ops in evaluation order.
    pub ops: Vec<QOp>,
    /// Lookup functions; the function with index `i` has table tag `i + 1`.
    /// Index 0 is always [`FnKind::Identity`].
    pub functions: Vec<FnKind>,
    /// Inputs that take integers (token ids), at scale 0: values are not rounded.
    #[serde(default)]
    pub integer_inputs: Vec<TensorId>,
}

/// Errors of integer evaluation: the input is not what the compiled model accepts.
#[derive(Debug, Error, PartialEq)]
pub enum EvalError {
    /// Wrong number of graph inputs.
    #[error("the model takes {expected} input tensor(s), got {got}")]
    InputCount { expected: usize, got: usize },
    /// Wrong element count for one input.
    #[error("input #{index} ('{name}') must have {expected} values (shape {shape:?}), got {got}")]
    InputLength {
        index: usize,
        name: String,
        expected: usize,
        got: usize,
        shape: Vec<usize>,
    },
    /// A value left the range the circuit can represent.
    #[error("{what} in '{op}' is outside the calibrated range: {value} not in [{lo}, {hi}] (quantized); recompile with a calibration input that covers this input, or a larger --range-margin")]
    OutOfRange {
        op: String,
        what: String,
        value: f64,
        lo: f64,
        hi: f64,
    },
    /// An argument outside a function's table (a token id past the vocabulary, a square root's
    /// negative argument, an exponential's past its calibrated range).
    #[error(
        "'{op}': element #{element} looks up {x}, outside the table's rows [{lo}, {hi}) (a token \
         id past the table, or an argument where the function is not tabulated)"
    )]
    OutOfDomain {
        op: String,
        element: usize,
        x: i64,
        lo: i64,
        hi: i64,
    },
    /// A function's value left its codomain (a compiled model that `validate` would refuse).
    #[error("'{op}': function {function} maps {x} to {y}, outside its codomain [{lo}, {hi}]")]
    OutOfCodomain {
        op: String,
        function: String,
        x: i64,
        y: i64,
        lo: i64,
        hi: i64,
    },
    /// An accumulator grew beyond what the field arithmetic keeps exact.
    #[error("accumulator overflow in '{op}'")]
    Overflow { op: String },
    /// An accumulator whose requantization the circuit's range checks cannot hold.
    #[error("'{op}': accumulator {acc} of element #{element} requantizes past the {bits}-bit span its range checks hold")]
    Requant {
        op: String,
        element: usize,
        acc: i128,
        bits: u32,
    },
}

impl QuantizedGraph {
    /// A graph of `bits`-bit activations with no tensors or ops yet (the identity its first
    /// function).
    pub fn empty(bits: u32) -> QuantizedGraph {
        QuantizedGraph {
            bits,
            tensors: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            ops: Vec::new(),
            functions: vec![FnKind::Identity],
            integer_inputs: Vec::new(),
        }
    }

    /// Test graphs: a new one-dimensional activation of `n` elements at scale 4.
    #[cfg(test)]
    pub(crate) fn push_activation(&mut self, name: &str, n: usize) -> TensorId {
        self.tensors.push(QTensor {
            name: name.into(),
            shape: vec![n],
            scale: 4,
            kind: TensorKind::Activation,
            affine: None,
        });
        self.tensors.len() - 1
    }

    /// Remainder limbs of `bits` bits the requantization lanes need: enough for the widest
    /// shift of any rule (0 without requantization).
    pub fn requant_limbs(&self) -> u32 {
        let shifts = self.ops.iter().flat_map(|op| match op {
            QOp::Requant(r) => r.rules.iter().map(|d| d.shift()).collect(),
            _ => Vec::new(),
        });
        shifts
            .map(|n| n.div_ceil(self.bits.max(1)))
            .max()
            .unwrap_or(0)
    }

    /// Limbs of `bits` bits the requantization lanes check quotients in: enough for every
    /// op's `quotient_bits` (1 without requantization, or when the bits suffice).
    pub fn requant_wide(&self) -> u32 {
        let widest = self.ops.iter().filter_map(|op| match op {
            QOp::Requant(r) => Some(r.quotient_bits),
            _ => None,
        });
        widest
            .map(|q| q.div_ceil(self.bits.max(1)))
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// The clamp width `W = qmax − qmin` of one-row requantization lanes
    /// (`chips::requant_row`), when they can hold every requantization of the graph: one width
    /// for every rule, and every op's unclamped values (its declared `quotient_bits`, which
    /// evaluation enforces, less a half's correction, plus `zp − qmin`) within the clamp
    /// table's reach of `qmin`. `None` without requantizations or with an undeclared width.
    pub fn requant_clamp_width(&self) -> Option<i64> {
        let reach = crate::chips::requant_row::clamp_reach(self.bits);
        let mut width = None;
        for op in &self.ops {
            let QOp::Requant(r) = op else { continue };
            if r.quotient_bits == 0 {
                return None; // no declared bound on the quotients
            }
            let span = 1i128 << r.quotient_bits.min(100);
            for d in &r.rules {
                let (qmin, qmax) = d.range();
                let shift = i128::from(d.zp()) - i128::from(qmin);
                let fits = -span - 1 + shift >= -reach && span - 1 + shift < reach;
                if !fits || *width.get_or_insert(qmax - qmin) != qmax - qmin {
                    return None;
                }
            }
        }
        width.filter(|&w| w >= 1 && i128::from(w) < reach)
    }

    /// Half-range of activations: activations lie in `[-half, half)`.
    pub fn half_range(&self) -> i128 {
        1i128 << (self.bits - 1)
    }

    /// Evaluates the graph on quantized inputs, returning the values of every tensor.
    pub fn eval(&self, inputs: &[Vec<i128>]) -> Result<Vec<Vec<i128>>, EvalError> {
        if inputs.len() != self.inputs.len() {
            return Err(EvalError::InputCount {
                expected: self.inputs.len(),
                got: inputs.len(),
            });
        }
        let mut vals: Vec<Vec<i128>> = vec![Vec::new(); self.tensors.len()];
        for (i, (&t, data)) in self.inputs.iter().zip(inputs).enumerate() {
            let tensor = &self.tensors[t];
            if data.len() != tensor.len() {
                return Err(EvalError::InputLength {
                    index: i,
                    name: tensor.name.clone(),
                    expected: tensor.len(),
                    got: data.len(),
                    shape: tensor.shape.clone(),
                });
            }
            vals[t] = data.clone();
        }
        for op in &self.ops {
            op.family().eval(self, &mut vals)?;
        }
        Ok(vals)
    }

    /// Real value of an integer of tensor `t`.
    pub fn dequantize(&self, t: TensorId, v: i128) -> f64 {
        match &self.tensors[t].affine {
            Some(a) => f64::from(a.dequantize(v.clamp(-(1 << 20), 1 << 20) as i64)),
            None => v as f64 * (-(self.tensors[t].scale as f64)).exp2(),
        }
    }

    /// Integer of a real value for tensor `t`, rounding half away from zero.
    pub fn quantize(&self, t: TensorId, x: f64) -> f64 {
        (x * (self.tensors[t].scale as f64).exp2()).round()
    }

    /// Checks the structural invariants the layout and circuit rely on. Compiled models are
    /// checked on load, so a hand-edited or corrupted file fails here with a message rather
    /// than in the middle of key generation.
    pub fn validate(&self) -> Result<(), GraphError> {
        if !(MIN_BITS..=MAX_BITS).contains(&self.bits) {
            return Err(GraphError::Bits {
                got: self.bits,
                min: MIN_BITS,
                max: MAX_BITS,
            });
        }
        if self.functions.first() != Some(&FnKind::Identity) {
            return Err(GraphError::FirstFunction);
        }
        self.check_function_images()?;
        for t in &self.tensors {
            let len = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if len.is_none_or(|n| n > MAX_TENSOR_LEN) {
                return Err(GraphError::TensorTooLarge {
                    tensor: t.name.clone(),
                    max: MAX_TENSOR_LEN,
                });
            }
        }
        let n = self.tensors.len();
        let mut produced = vec![false; n];
        for &t in &self.inputs {
            if t >= n {
                return Err(GraphError::NoSuchInput(t));
            }
            if produced[t] {
                return Err(GraphError::InputTwice(self.tensors[t].name.clone()));
            }
            produced[t] = true;
        }
        for op in &self.ops {
            let f = op.family();
            for t in f.inputs() {
                if t >= n || !produced[t] {
                    return Err(GraphError::ReadBeforeWrite {
                        op: f.name().to_string(),
                        tensor: t,
                    });
                }
            }
            let o = f.output();
            if o >= n || produced[o] {
                return Err(GraphError::WrittenTwice {
                    op: f.name().to_string(),
                    tensor: o,
                });
            }
            produced[o] = true;
            match op {
                QOp::Linear(l) => l.validate(self)?,
                QOp::Elementwise(e) => e.validate(self)?,
                QOp::MaxPool(m) => m.validate(self)?,
                QOp::MatMul(m) => m.validate(self)?,
                QOp::View(v) => v.validate(self)?,
                QOp::Requant(r) => r.validate(self)?,
            }
        }
        self.check_known_zeros()?;
        for &t in &self.outputs {
            if t >= n || !produced[t] {
                return Err(GraphError::OutputNotProduced(t));
            }
            if self.tensors[t].kind != TensorKind::Activation {
                return Err(GraphError::OutputUnchecked(self.tensors[t].name.clone()));
            }
        }
        self.check_wide_readers()
    }

    /// Every product's claim of known zeros holds ([`MatMulOp::a_zeros`]), found once.
    fn check_known_zeros(&self) -> Result<(), GraphError> {
        let claims = self.ops.iter().filter_map(|op| match op {
            QOp::MatMul(m) if !m.a_zeros.is_empty() => Some(m),
            _ => None,
        });
        let mut known = None;
        for m in claims {
            m.check_zeros(known.get_or_insert_with(|| KnownZeros::new(self)))?;
        }
        Ok(())
    }

    /// A tensor written by a wide function ([`FnKind::wide`]) is read only as an operand of
    /// elementwise ops (exact for any field value this size) and is not an output.
    fn check_wide_readers(&self) -> Result<(), GraphError> {
        let mut wide = vec![false; self.tensors.len()];
        for op in &self.ops {
            if let QOp::Elementwise(e) = op {
                let f = self.functions.get(e.func as usize);
                if let (Some(w), true) = (wide.get_mut(e.output), f.is_some_and(FnKind::wide)) {
                    *w = true;
                }
            }
        }
        let is_wide = |t: TensorId| wide.get(t).copied().unwrap_or(false);
        for op in &self.ops {
            if matches!(op, QOp::Elementwise(_)) {
                continue;
            }
            let f = op.family();
            if let Some(t) = f.inputs().into_iter().find(|&t| is_wide(t)) {
                return Err(GraphError::WideOperand {
                    op: f.name().to_string(),
                    tensor: self.tensors[t].name.clone(),
                });
            }
        }
        match self.outputs.iter().find(|&&t| is_wide(t)) {
            Some(&t) => Err(GraphError::WideOutput(self.tensors[t].name.clone())),
            None => Ok(()),
        }
    }

    /// Every function's image over the whole domain lies in its codomain; the error names the
    /// first op that applies a function that leaves it.
    fn check_function_images(&self) -> Result<(), GraphError> {
        for (i, f) in self.functions.iter().enumerate() {
            if let FnKind::Interpolated { step_bits, inner } = f {
                if !(1..self.bits).contains(step_bits) || !inner.interpolable() {
                    return Err(GraphError::Interpolation(f.key()));
                }
            }
            if let Err(e) = f.check_image(self.bits) {
                let user = self.ops.iter().find_map(|op| match op {
                    QOp::Elementwise(el) if el.func as usize == i => Some(el.name.clone()),
                    _ => None,
                });
                return Err(GraphError::Image {
                    op: user,
                    source: e,
                });
            }
        }
        Ok(())
    }

    /// The function tables when the functions are split over `banks` tables (at least one):
    /// each function's table and each table's rows. With `identity`, the identity (function 0)
    /// opens table 0; every other table opens with the zero row and the sentinel's
    /// `(0, 1, 1)`. The other functions go, in order, to the table with the fewest rows so far
    /// (the first of those on a tie), so the split depends only on the graph.
    pub fn function_banks(&self, identity: bool, banks: u32) -> FunctionBanks {
        let n = banks.max(1) as usize;
        let size = |f: &FnKind| {
            let d = f.domain(self.bits);
            d.end.saturating_sub(d.start).max(0) as usize
        };
        let mut rows = vec![2usize; n];
        let mut bank_of = vec![0u32; self.functions.len()];
        for (i, f) in self.functions.iter().enumerate() {
            if i == 0 {
                if identity {
                    rows[0] = size(f);
                }
                continue;
            }
            let b = (0..n).min_by_key(|&b| (rows[b], b)).unwrap_or(0);
            bank_of[i] = b as u32;
            rows[b] += size(f);
        }
        FunctionBanks { bank_of, rows }
    }

    /// Rows of the tallest lookup table with the functions in `banks` tables: the range table
    /// (`2^bits`) or a function table ([`Self::function_banks`]).
    pub fn banked_table_rows(&self, identity: bool, banks: u32) -> usize {
        let tallest = self.function_banks(identity, banks).rows.into_iter().max();
        (1usize << self.bits).max(tallest.unwrap_or(0))
    }

    /// Whether every function but the identity is interpolated between knots `2^limb` apart,
    /// as circuits with lookups on limbs of `limb` bits need (`CircuitShape::limb_bits`).
    pub fn fits_limbs(&self, limb: u32) -> bool {
        self.functions
            .iter()
            .skip(1)
            .all(|f| matches!(f, FnKind::Interpolated { step_bits, .. } if *step_bits == limb))
    }

    /// The knot spacing of a graph whose functions (at least one besides the identity) are all
    /// interpolated with the same step: the limb width its circuit may use.
    pub fn knot_limb(&self) -> Option<u32> {
        match self.functions.get(1)? {
            FnKind::Interpolated { step_bits, .. } if self.fits_limbs(*step_bits) => {
                Some(*step_bits)
            }
            _ => None,
        }
    }

    /// The limb width a circuit of this graph may look values up on: the knot spacing of its
    /// interpolated functions, or half the activation width (rounded up) for a graph with only
    /// the identity (range checks alone: any width fits); `None` otherwise.
    pub fn limb_width(&self) -> Option<u32> {
        match self.functions.len() {
            1 if self.bits >= 2 => Some(self.bits.div_ceil(2)),
            _ => self.knot_limb(),
        }
    }

    /// The index of function `f` in [`Self::functions`], added if it is not there yet.
    pub fn function_index(&mut self, f: FnKind) -> u32 {
        let i = match self.functions.iter().position(|g| *g == f) {
            Some(i) => i,
            None => {
                self.functions.push(f);
                self.functions.len() - 1
            }
        };
        u32::try_from(i).unwrap_or(u32::MAX)
    }

    /// This graph with every function but the identity interpolated between knots `2^limb`
    /// apart (`None` when one cannot be: a tabulated function, or `limb` outside `1..bits`).
    /// Its outputs differ from this graph's by the interpolation error.
    pub fn with_knots(&self, limb: u32) -> Option<QuantizedGraph> {
        if !(1..self.bits).contains(&limb) {
            return None;
        }
        let mut g = self.clone();
        for f in g.functions.iter_mut().skip(1) {
            if !f.interpolable() {
                return None;
            }
            let inner = Box::new(std::mem::replace(f, FnKind::Identity));
            *f = FnKind::Interpolated {
                step_bits: limb,
                inner,
            };
        }
        Some(g)
    }

    /// Rows of the knot table of a circuit with lookups on limbs of `limb` bits: the zero row,
    /// the identity's knots and every other function's (one per `2^limb` of its domain).
    pub fn knot_table_rows(&self, limb: u32) -> usize {
        let limb = limb.min(40);
        let knots = |f: &FnKind| {
            let d = f.domain(self.bits);
            ((d.end >> limb) - (d.start >> limb)).max(0) as usize
        };
        1 + self.functions.iter().map(knots).sum::<usize>()
    }

    /// Rows of the tallest lookup table of a circuit laid out with `shape`'s table options:
    /// the knot or range table with limbs, otherwise [`Self::banked_table_rows`].
    pub fn lookup_table_rows(&self, shape: &crate::plan::CircuitShape) -> usize {
        let rows = match shape.limbed() {
            true => self
                .knot_table_rows(shape.limb_bits)
                .max(1 << shape.limb_bits.min(40)),
            false => self.banked_table_rows(shape.identity_table, shape.fn_banks()),
        };
        match shape.requant_row && shape.requant_lanes > 0 {
            true => rows.max(2 * crate::chips::requant_row::clamp_reach(self.bits) as usize),
            false => rows,
        }
    }

    /// Rows of the taller lookup table: the range table (`2^bits`) or the function table (each
    /// function's domain, the identity's included when `identity` is set, otherwise the zero
    /// row and the sentinel's `(0, 1, 1)` instead).
    pub fn table_rows(&self, identity: bool) -> usize {
        self.banked_table_rows(identity, 1)
    }
}

/// How the function tables are split ([`QuantizedGraph::function_banks`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionBanks {
    /// The table of each function.
    pub bank_of: Vec<u32>,
    /// Rows of each table.
    pub rows: Vec<usize>,
}

/// A 2-D kernel window placed at output position `(oh, ow)` of an `h × w` plane.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window2d {
    pub hw: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
}

impl Window2d {
    /// For each kernel tap (row-major), its index within the plane, or `None` in the padding.
    pub fn taps(&self, oh: usize, ow: usize) -> impl Iterator<Item = Option<usize>> + '_ {
        let [h, w] = self.hw;
        (0..self.kernel[0]).flat_map(move |i| {
            (0..self.kernel[1]).map(move |j| {
                let ih =
                    (oh * self.stride[0] + i * self.dilation[0]) as isize - self.pad[0] as isize;
                let iw =
                    (ow * self.stride[1] + j * self.dilation[1]) as isize - self.pad[1] as isize;
                (ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w)
                    .then(|| ih as usize * w + iw as usize)
            })
        })
    }
}

/// Checks that `idx` addresses an element of tensor `t`.
pub(crate) fn check_index(
    g: &QuantizedGraph,
    t: TensorId,
    idx: usize,
    op: &str,
) -> Result<(), GraphError> {
    let len = g
        .tensors
        .get(t)
        .map(|x| x.len())
        .ok_or_else(|| GraphError::op(op, OpDefect::NoSuchTensor(t)))?;
    if idx >= len {
        let defect = OpDefect::OutOfBounds {
            index: idx,
            tensor: g.tensors[t].name.clone(),
            len,
        };
        return Err(GraphError::op(op, defect));
    }
    Ok(())
}
