//! `OnnxModel` → `QuantizedGraph`.
//!
//! Scales: every activation tensor gets the finest power-of-two scale at which its calibrated
//! range (times a margin) fits in `bits` signed bits. Weights of a linear map get the scale that
//! makes its accumulator exactly `bits` finer than its output, so every rescale shifts by at
//! most `bits` and one remainder range serves the whole circuit; the weight rounding error then
//! stays below a quarter of an output step per term.
//!
//! Bits are chosen by simulation: the smallest width whose integer model matches the float
//! model on the calibration input within the tolerance.

use super::calibrate::{Ranges, RowStats};
use super::onnx::{Node, OnnxModel};
use super::ops::Activation;
use super::tensor::{DType, Tensor};
use super::FrontendError;
use zkinfer_circuits::compiled::IoSpec;
use zkinfer_circuits::graph::{
    Coef, ElemOp, FnKind, Geometry, LinearOp, Operand, QOp, QTensor, QuantizedGraph, TensorId,
    TensorKind, ViewOp, WeightSet, MAX_BITS, MIN_BITS,
};
use zkinfer_circuits::input::InputData;

/// How the circuit will look a graph's functions up: in whole tables, or interpolated between
/// knots on limbs, which range-check every function's outputs as activations (so no function
/// may have [wide](FnKind::wide) outputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookups {
    /// Whole tables.
    Tables,
    /// Knots on limbs ([`interpolated`]).
    Limbs,
}

/// Where a linear map read only by an `Add` (a bias, or a residual sum) aims its weights
/// ([`QuantCtx::linear`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Biases {
    /// At the Add's output scale where it is coarser: the rescale and the Add compose into
    /// one rounding, for a bit or two of weight precision.
    Composed,
    /// At the map's own output scale: the Add is an op of its own.
    Separate,
}

/// The linear/product part of an elementwise op: `qa·a + qb·b + qm·a·b + qc`.
#[derive(Clone, Debug)]
pub struct Lin {
    /// First operand.
    pub a: Option<Operand>,
    /// Second operand.
    pub b: Option<Operand>,
    /// Coefficient of `a`.
    pub qa: Coef,
    /// Coefficient of `b`.
    pub qb: Coef,
    /// Coefficient of `a·b`.
    pub qm: Coef,
    /// Constant.
    pub qc: Coef,
}

impl Lin {
    /// `1 · x`.
    pub fn of(x: QRef) -> Self {
        Lin {
            a: Some(Operand {
                tensor: x.id,
                index: None,
            }),
            qa: Coef::Const(1),
            ..Lin::default()
        }
    }
}

impl Default for Lin {
    fn default() -> Self {
        Lin {
            a: None,
            b: None,
            qa: Coef::Const(0),
            qb: Coef::Const(0),
            qm: Coef::Const(0),
            qc: Coef::Const(0),
        }
    }
}

/// A real weight set of a constant-weight linear map before quantization: `(W (m × k), b (m))`.
pub type RealWeightSet = (Vec<f64>, Vec<f64>);

/// The activation tensor an elementwise op writes (see [`QuantCtx::emit`]).
#[derive(Clone, Debug)]
pub struct NewTensor<'n> {
    /// Its name in the quantized graph.
    pub name: &'n str,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its scale.
    pub scale: i32,
}

/// A quantized activation standing for an ONNX tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QRef {
    /// Tensor in the quantized graph.
    pub id: TensorId,
    /// Its scale.
    pub scale: i32,
}

/// Options of the quantizer.
#[derive(Clone, Debug)]
pub struct QuantizeOptions {
    /// Fixed bit width, or `None` to search.
    pub bits: Option<u32>,
    /// Tolerance for the search (fraction of the output range).
    pub tolerance: f64,
    /// Headroom multiplier on calibrated ranges.
    pub range_margin: f64,
}

/// State while lowering one model at one bit width.
pub struct QuantCtx<'a> {
    /// The model being lowered.
    pub model: &'a OnnxModel,
    /// Activation bit width.
    pub bits: u32,
    /// How the circuit will look functions up.
    pub lookups: Lookups,
    ranges: &'a Ranges,
    margin: f64,
    /// The graph being built.
    pub graph: QuantizedGraph,
    map: Vec<Option<QRef>>,
    done: Vec<bool>,
    biases: Biases,
    /// Linear maps whose weights aim at their bias Add's coarser scale.
    composed_biases: usize,
}

impl<'a> QuantCtx<'a> {
    /// The `i`-th node of the model.
    pub fn node(&self, i: usize) -> &'a Node {
        &self.model.nodes[i]
    }

    /// Value of a constant ONNX tensor.
    pub fn constant(&self, t: usize) -> Option<&'a Tensor> {
        self.model.tensors[t].value.as_ref()
    }

    /// ONNX tensor of input `i` of `node`.
    pub fn input_id(&self, node: usize, i: usize) -> Option<usize> {
        self.model.nodes[node].inputs.get(i).copied().flatten()
    }

    /// Constant value of input `i` of `node`, if it is constant.
    pub fn const_input(&self, node: usize, i: usize) -> Option<&'a Tensor> {
        self.input_id(node, i).and_then(|t| self.constant(t))
    }

    /// The quantized activation of input `i` of `node`.
    pub fn act_input(&self, node: usize, i: usize) -> Result<QRef, FrontendError> {
        let t = self
            .input_id(node, i)
            .ok_or_else(|| self.err(node, format!("missing input #{i}")))?;
        self.map[t].ok_or_else(|| {
            self.err(
                node,
                format!(
                    "input #{i} ('{}') is not a computed tensor",
                    self.model.tensors[t].name
                ),
            )
        })
    }

    /// A quantization error for `node`.
    pub fn err(&self, node: usize, detail: impl Into<String>) -> FrontendError {
        FrontendError::Quantize {
            node: self.model.nodes[node].name.clone(),
            detail: detail.into(),
        }
    }

    /// Shape of an ONNX tensor.
    pub fn shape(&self, t: usize) -> &'a [usize] {
        &self.model.tensors[t].shape
    }

    /// Calibrated bound on the magnitude of an ONNX tensor's values (its largest magnitude on
    /// the calibration input, times the margin).
    pub fn bound(&self, t: usize) -> f64 {
        self.ranges.max_abs.get(t).copied().unwrap_or(0.0) * self.margin
    }

    /// Calibrated lower bound on a positive ONNX tensor: its smallest value on the calibration
    /// input divided by the margin, or `None` where a value there is not positive.
    pub fn positive_floor(&self, t: usize) -> Option<f64> {
        self.ranges
            .min(t)
            .filter(|&m| m > 0.0)
            .map(|m| m / self.margin.max(1.0))
    }

    /// Calibrated bounds on the rows of `n` of an ONNX tensor (a layer normalisation's input
    /// with its `epsilon`), widened by the margin as ranges are: the normalised values times
    /// the margin, the variances within the margin squared (the standard deviations within
    /// the margin).
    pub fn row_bounds(&self, t: usize, n: usize, epsilon: f64) -> Option<RowStats> {
        let st = self.ranges.row_stats(t, n, epsilon)?;
        let m = self.margin;
        Some(RowStats {
            variance: (st.variance.0 / (m * m), st.variance.1 * m * m),
            normalized: st.normalized * m,
        })
    }

    /// Calibrated scale of an ONNX tensor: the finest at which its range fits.
    pub fn scale_for(&self, t: usize) -> i32 {
        self.scale_for_max(self.bound(t))
    }

    /// The finest scale at which every value of magnitude up to `m` is an activation.
    pub fn scale_for_max(&self, m: f64) -> i32 {
        let m = if m > 1e-30 { m } else { 1.0 };
        let limit = ((1i64 << (self.bits - 1)) - 1) as f64;
        let s = (limit / m).log2().floor() as i32;
        s.clamp(-2 * self.bits as i32, 3 * self.bits as i32)
    }

    /// Weight scale for a linear map from scale `s_in` to an output of scale `s_out`.
    pub fn weight_scale(&self, s_in: i32, s_out: i32) -> i32 {
        s_out + self.bits as i32 - s_in
    }

    /// Adds a tensor to the graph.
    pub fn new_tensor(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        scale: i32,
        kind: TensorKind,
    ) -> TensorId {
        self.graph.tensors.push(QTensor {
            name: name.to_string(),
            shape,
            scale,
            kind,
            affine: None,
        });
        self.graph.tensors.len() - 1
    }

    /// Appends an op.
    pub fn push(&mut self, op: QOp) {
        self.graph.ops.push(op);
    }

    /// The quantized activation standing for ONNX tensor `t`, if it has one yet.
    pub fn quantized(&self, t: usize) -> Option<QRef> {
        self.map.get(t).copied().flatten()
    }

    /// Whether node `i` is lowered already (or fused into one that is).
    pub fn is_done(&self, i: usize) -> bool {
        self.done.get(i).copied().unwrap_or(true)
    }

    /// Records that an ONNX tensor is represented by a quantized activation.
    pub fn bind(&mut self, t: usize, q: QRef) {
        self.map[t] = Some(q);
    }

    /// Binds ONNX tensor `out` (the output of `node`) to a view of the quantized tensors
    /// `inputs`: output element `e` is element `map[e].1` of input `map[e].0`, all at `scale`.
    pub fn bind_view(
        &mut self,
        node: usize,
        inputs: Vec<TensorId>,
        map: Vec<(u16, u32)>,
        scale: i32,
        out: usize,
    ) -> QRef {
        let name = self.model.tensors[out].name.clone();
        let id = self.new_tensor(
            &name,
            self.shape(out).to_vec(),
            scale,
            TensorKind::Activation,
        );
        self.push(QOp::View(ViewOp {
            name: self.node(node).name.clone(),
            inputs,
            output: id,
            map,
        }));
        let r = QRef { id, scale };
        self.bind(out, r);
        r
    }

    /// Table index of a function (deduplicated).
    pub fn function(&mut self, f: FnKind) -> u32 {
        self.graph.function_index(f)
    }

    /// The table function of activation node `node` at input scale `in_scale`, and its output
    /// scale, refused when its image over the whole domain leaves its codomain (the lookup is
    /// all that bounds the output in the circuit).
    pub fn activation_fn(
        &self,
        act: &dyn Activation,
        node: usize,
        in_scale: i32,
    ) -> Result<(FnKind, i32), FrontendError> {
        let (f, out_scale) = act.function(self, node, in_scale)?;
        f.check_image(self.bits)
            .map_err(|e| self.err(node, e.to_string()))?;
        Ok((f, out_scale))
    }

    /// The only compute node reading `t`, if `t` is not a graph output.
    pub fn sole_consumer(&self, t: usize) -> Option<usize> {
        if self.model.outputs.contains(&t) {
            return None;
        }
        match self.model.consumers[t].as_slice() {
            [c] if !self.done[*c] => Some(*c),
            _ => None,
        }
    }

    /// Marks a node as lowered by another (fusion).
    pub fn mark_done(&mut self, node: usize) {
        self.done[node] = true;
    }

    /// Rounds a real to an integer at scale `s`, checking it stays exact in the circuit.
    pub fn fixed(&self, node: usize, x: f64, s: i32) -> Result<i64, FrontendError> {
        let v = (x * (s as f64).exp2()).round();
        if !v.is_finite() || v.abs() >= (1u64 << 60) as f64 {
            return Err(self.err(
                node,
                format!(
                    "constant {x} does not fit at scale {}",
                    zkinfer_circuits::graph::scale_text(s)
                ),
            ));
        }
        Ok(v as i64)
    }

    /// Appends the elementwise op `op_name`, `func(round(lin / 2^shift))`, writing the new
    /// activation tensor `out`.
    pub fn emit(
        &mut self,
        op_name: String,
        out: NewTensor<'_>,
        lin: Lin,
        shift: u32,
        func: FnKind,
    ) -> QRef {
        let NewTensor { name, shape, scale } = out;
        let id = self.new_tensor(name, shape, scale, TensorKind::Activation);
        let func = self.function(func);
        self.push(QOp::Elementwise(ElemOp {
            name: op_name,
            output: id,
            a: lin.a,
            b: lin.b,
            qa: lin.qa,
            qb: lin.qb,
            qm: lin.qm,
            qc: lin.qc,
            shift,
            func,
        }));
        QRef { id, scale }
    }

    /// Lowers a constant-weight linear map from `x` to the ONNX tensor `out`: quantizes the
    /// real weight sets `(W (m × k), b (m))` with the weight-scale rule, then rescales (fusing a
    /// following activation).
    pub fn linear(
        &mut self,
        node: usize,
        x: QRef,
        out: usize,
        sets: &[RealWeightSet],
        m: usize,
        geometry: Geometry,
    ) -> Result<(), FrontendError> {
        let acc = self.linear_accumulator(node, x, out, sets, m, geometry)?;
        self.finish_accumulator(node, acc.id, acc.scale, out)
    }

    /// The accumulator of [`Self::linear`] (its id and scale), not yet rescaled to `out`.
    pub fn linear_accumulator(
        &mut self,
        node: usize,
        x: QRef,
        out: usize,
        sets: &[RealWeightSet],
        m: usize,
        geometry: Geometry,
    ) -> Result<QRef, FrontendError> {
        let s_out = self.linear_out_scale(out);
        let s_w = self.weight_scale(x.scale, s_out);
        let s_acc = x.scale + s_w;
        let mut qsets = Vec::with_capacity(sets.len());
        for (w, b) in sets {
            let w = w
                .iter()
                .map(|&v| self.fixed(node, v, s_w))
                .collect::<Result<Vec<_>, _>>()?;
            let b = b
                .iter()
                .map(|&v| self.fixed(node, v, s_acc))
                .collect::<Result<Vec<_>, _>>()?;
            qsets.push(WeightSet {
                m,
                k: w.len() / m.max(1),
                w,
                b,
            });
        }
        let name = format!("{} (accumulator)", self.model.tensors[out].name);
        let acc = self.new_tensor(
            &name,
            self.shape(out).to_vec(),
            s_acc,
            TensorKind::Accumulator,
        );
        self.push(QOp::Linear(LinearOp {
            name: self.node(node).name.clone(),
            input: x.id,
            output: acc,
            sets: qsets,
            geometry,
        }));
        Ok(QRef {
            id: acc,
            scale: s_acc,
        })
    }

    /// The output scale a constant-weight linear map aims its weights at: its output's
    /// calibrated scale, or where the one reader of that output is an `Add` (a bias after a
    /// MatMul, or a residual sum) and its result is coarser, that result's scale. The rescale
    /// and the Add then compose into one rounding within the bit width (`graph/compose.rs`)
    /// instead of two ops, for a bit or two of weight precision ([`Biases`] says whether to).
    fn linear_out_scale(&mut self, out: usize) -> i32 {
        let own = self.scale_for(out);
        let Some(c) = self
            .sole_consumer(out)
            .filter(|_| self.biases == Biases::Composed)
        else {
            return own;
        };
        let n = self.node(c);
        let coarser = match (n.op_type.as_str(), n.outputs.as_slice()) {
            ("Add", [sum]) => self.scale_for(*sum),
            _ => own,
        };
        if coarser < own {
            self.composed_biases += 1;
        }
        own.min(coarser)
    }

    /// Lowers a linear map with integer weights (weight scale 0) from `x`, binding the ONNX
    /// tensor `out` to its exact accumulator without rescaling it: an integer op's int32 result
    /// (MatMulInteger), which the product with its scales that follows rescales.
    pub fn integer_linear(
        &mut self,
        node: usize,
        x: QRef,
        out: usize,
        sets: Vec<WeightSet>,
        geometry: Geometry,
    ) -> QRef {
        let name = self.model.tensors[out].name.clone();
        let shape = self.shape(out).to_vec();
        let acc = self.new_tensor(&name, shape, x.scale, TensorKind::Accumulator);
        self.push(QOp::Linear(LinearOp {
            name: self.node(node).name.clone(),
            input: x.id,
            output: acc,
            sets,
            geometry,
        }));
        let r = QRef {
            id: acc,
            scale: x.scale,
        };
        self.bind(out, r);
        r
    }

    /// Rescales an accumulator (scale `acc_scale`) produced by `node` for its ONNX output `out`,
    /// fusing a following activation when `out` has no other reader.
    pub fn finish_accumulator(
        &mut self,
        node: usize,
        acc: TensorId,
        acc_scale: i32,
        out: usize,
    ) -> Result<(), FrontendError> {
        self.finish(
            node,
            Lin::of(QRef {
                id: acc,
                scale: acc_scale,
            }),
            acc_scale,
            out,
        )
    }

    /// Emits `f(round(lin / 2^d))` for the linear/product part `lin` (at scale `lin_scale`) of
    /// `node`, choosing the output scale from the calibration of `out` and fusing a following
    /// activation when `out` has no other reader. Binds the result to the last fused ONNX tensor.
    pub fn finish(
        &mut self,
        node: usize,
        lin: Lin,
        lin_scale: i32,
        out: usize,
    ) -> Result<(), FrontendError> {
        let mut s_pre = self.scale_for(out).min(lin_scale);
        if lin_scale - s_pre > self.bits as i32 {
            s_pre = lin_scale - self.bits as i32;
        }
        let shift = (lin_scale - s_pre) as u32;
        let fused = self
            .sole_consumer(out)
            .filter(|&c| self.node(c).op.activation().is_some());
        let (target, func, out_scale) = match fused {
            Some(c) => {
                let act = self
                    .node(c)
                    .op
                    .activation()
                    .ok_or_else(|| self.err(c, "not an activation"))?;
                let (f, os) = self.activation_fn(act, c, s_pre)?;
                self.mark_done(c);
                (self.node(c).outputs[0], f, os)
            }
            None => (out, FnKind::Identity, s_pre),
        };
        let name = self.model.tensors[target].name.clone();
        let shape = self.shape(target).to_vec();
        let r = self.emit(
            self.node(node).name.clone(),
            NewTensor {
                name: &name,
                shape,
                scale: out_scale,
            },
            lin,
            shift,
            func,
        );
        self.bind(target, r);
        Ok(())
    }

    /// Rescales an activation to a coarser scale (used to align operands).
    pub fn rescale_to(&mut self, node: usize, x: QRef, scale: i32) -> Result<QRef, FrontendError> {
        if scale >= x.scale {
            return Ok(x);
        }
        let shift = (x.scale - scale) as u32;
        if shift > self.bits {
            return Err(self.err(node, "operand scales differ by more than the bit width"));
        }
        let t = &self.graph.tensors[x.id];
        let (name, shape) = (
            format!("{}@{}", t.name, zkinfer_circuits::graph::scale_text(scale)),
            t.shape.clone(),
        );
        let lin = Lin::of(x);
        Ok(self.emit(
            self.node(node).name.clone(),
            NewTensor {
                name: &name,
                shape,
                scale,
            },
            lin,
            shift,
            FnKind::Identity,
        ))
    }
}

/// Refuses an op that reads an integer tensor (token ids) unless it only re-indexes, casts or
/// gathers with it.
fn check_integer_inputs(model: &OnnxModel, ni: usize) -> Result<(), FrontendError> {
    let node = &model.nodes[ni];
    if node.op.reads_integers() {
        return Ok(());
    }
    let integer = node
        .inputs
        .iter()
        .flatten()
        .find(|&&t| model.tensors[t].value.is_none() && model.tensors[t].dtype != DType::Float);
    match integer {
        None => Ok(()),
        Some(&t) => Err(FrontendError::Quantize {
            node: node.name.clone(),
            detail: format!(
                "{} reads the integer tensor '{}', computed from a graph input: integer inputs (token ids) may only be gathered with, re-indexed or cast to float, and shapes, axes and indices must be constants",
                node.op_type, model.tensors[t].name
            ),
        }),
    }
}

/// Lowers a model at a given bit width (biases composed where they can be, [`Biases`]).
pub fn quantize(
    model: &OnnxModel,
    ranges: &Ranges,
    bits: u32,
    margin: f64,
    lookups: Lookups,
) -> Result<QuantizedGraph, FrontendError> {
    let lowered = lower(model, ranges, (bits, margin), (lookups, Biases::Composed))?;
    Ok(lowered.0)
}

/// Lowers a model; also returns how many linear maps aimed at their bias Add's scale.
fn lower(
    model: &OnnxModel,
    ranges: &Ranges,
    (bits, margin): (u32, f64),
    (lookups, biases): (Lookups, Biases),
) -> Result<(QuantizedGraph, usize), FrontendError> {
    let mut q = QuantCtx {
        model,
        bits,
        lookups,
        ranges,
        margin,
        graph: QuantizedGraph::empty(bits),
        map: vec![None; model.tensors.len()],
        done: vec![false; model.nodes.len()],
        biases,
        composed_biases: 0,
    };
    // Public inputs, each range-checked before use.
    for &t in &model.inputs {
        let info = &model.tensors[t];
        // Integer inputs (token ids) are taken as they are.
        let integer = info.dtype == DType::Int;
        let s = if integer { 0 } else { q.scale_for(t) };
        let raw = q.new_tensor(&info.name, info.shape.clone(), s, TensorKind::Activation);
        q.graph.inputs.push(raw);
        if integer {
            q.graph.integer_inputs.push(raw);
        }
        let lin = Lin::of(QRef { id: raw, scale: s });
        let checked = q.emit(
            format!("input '{}'", info.name),
            NewTensor {
                name: &format!("{} (range-checked)", info.name),
                shape: info.shape.clone(),
                scale: s,
            },
            lin,
            0,
            FnKind::Identity,
        );
        q.bind(t, checked);
    }
    for &ni in &model.compute {
        if q.done[ni] {
            continue;
        }
        check_integer_inputs(model, ni)?;
        if !crate::fuse::elementwise_chain(&mut q, ni)? {
            model.nodes[ni].op.quantize(&mut q, ni)?;
        }
        q.done[ni] = true;
    }
    for &o in &model.outputs {
        let r = q.map[o].ok_or_else(|| FrontendError::Graph {
            detail: format!("graph output '{}' was not lowered", model.tensors[o].name),
        })?;
        q.graph.outputs.push(r.id);
    }
    zkinfer_circuits::graph::compose_affine(&mut q.graph);
    zkinfer_circuits::graph::narrow_to_read(&mut q.graph);
    zkinfer_circuits::graph::skip_known_zeros(&mut q.graph);
    q.graph.validate().map_err(|d| FrontendError::Graph {
        detail: format!("internal: quantized graph invalid: {d}"),
    })?;
    Ok((q.graph, q.composed_biases))
}

/// How closely the quantized model matches the float model on one input.
#[derive(Clone, Debug)]
pub struct Accuracy {
    /// Bit width used.
    pub bits: u32,
    /// Largest absolute error over all outputs.
    pub max_abs_error: f64,
    /// Largest error relative to its output's float range.
    pub rel_error: f64,
    /// Whether the arg-max of every output agrees (classifiers).
    pub argmax_match: bool,
    /// Whether `rel_error` is within the requested tolerance.
    pub met_tolerance: bool,
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// Output range used as the error yardstick: max − min of the float output, with floors so
/// constant outputs do not divide by zero. A single value has no range: its magnitude is the
/// yardstick (so a scalar output is compiled like any other, not at the widest bit width).
pub fn output_range(v: &[f64]) -> f64 {
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let mag = v.iter().fold(0.0f64, |m, &x| m.max(x.abs()));
    // One value, or values all equal: no spread to measure against, so their magnitude.
    let floor = if v.len() == 1 || hi == lo {
        mag
    } else {
        1e-3 * mag
    };
    (hi - lo).max(floor).max(1e-9)
}

/// Compares integer outputs (dequantized) with float outputs.
pub fn accuracy(
    g: &QuantizedGraph,
    quantized: &[Vec<f64>],
    float: &[Vec<f64>],
    tolerance: f64,
) -> Accuracy {
    let (mut max_abs, mut rel, mut arg) = (0.0f64, 0.0f64, true);
    for (q, f) in quantized.iter().zip(float) {
        let err = q
            .iter()
            .zip(f)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        max_abs = max_abs.max(err);
        rel = rel.max(err / output_range(f));
        if f.len() > 1 && argmax(q) != argmax(f) {
            arg = false;
        }
    }
    Accuracy {
        bits: g.bits,
        max_abs_error: max_abs,
        rel_error: rel,
        argmax_match: arg,
        met_tolerance: rel <= tolerance,
    }
}

/// How closely one quantized tensor that stands for an ONNX tensor matches it.
#[derive(Clone, Debug)]
pub struct TensorAccuracy {
    /// The tensor's name (the ONNX tensor's).
    pub tensor: String,
    /// The op that writes it.
    pub op: String,
    /// Largest error relative to the float tensor's range.
    pub rel_error: f64,
}

/// Every quantized activation named after a computed ONNX tensor, in graph order, with its
/// error against the float model on `inputs`: where a model's accuracy is lost.
pub fn tensor_accuracy(
    model: &OnnxModel,
    g: &QuantizedGraph,
    inputs: &[Tensor],
) -> Result<Vec<TensorAccuracy>, FrontendError> {
    let float = model.run(inputs)?;
    let io = IoSpec::of(g, Default::default());
    let data = InputData {
        source: "calibration input".into(),
        values: inputs.iter().map(|t| t.data.clone()).collect(),
    };
    let vals = g.eval(&data.quantize(&io)?)?;
    let by_name: std::collections::HashMap<&str, usize> = model
        .tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for op in &g.ops {
        let f = op.family();
        let t = f.output();
        let q = &g.tensors[t];
        let Some(reference) = by_name
            .get(q.name.as_str())
            .and_then(|&i| float.get(i))
            .and_then(Option::as_ref)
            .filter(|r| r.len() == q.len() && q.kind == TensorKind::Activation)
        else {
            continue;
        };
        let err = vals[t]
            .iter()
            .zip(&reference.data)
            .fold(0.0f64, |e, (&v, &r)| e.max((g.dequantize(t, v) - r).abs()));
        out.push(TensorAccuracy {
            tensor: q.name.clone(),
            op: f.name().to_string(),
            rel_error: err / output_range(&reference.data),
        });
    }
    Ok(out)
}

/// Runs the integer model on float inputs and returns dequantized outputs.
pub fn run_quantized(
    g: &QuantizedGraph,
    inputs: &[Tensor],
) -> Result<Vec<Vec<f64>>, FrontendError> {
    let io = IoSpec::of(g, Default::default());
    let data = InputData {
        source: "calibration input".into(),
        values: inputs.iter().map(|t| t.data.clone()).collect(),
    };
    let q = data.quantize(&io)?;
    let vals = g.eval(&q)?;
    Ok(g.outputs
        .iter()
        .map(|&t| vals[t].iter().map(|&v| g.dequantize(t, v)).collect())
        .collect())
}

/// The float model's outputs on `inputs`.
fn float_outputs(model: &OnnxModel, inputs: &[Tensor]) -> Result<Vec<Vec<f64>>, FrontendError> {
    let vals = model.run(inputs)?;
    Ok(model
        .outputs
        .iter()
        .map(|&o| vals[o].as_ref().map(|t| t.data.clone()).unwrap_or_default())
        .collect())
}

/// Limb widths worth trying for a graph at `bits`: knots from `2^10` per function (the
/// finest, most accurate) to `4` (the range table then being the taller one).
pub fn limb_widths(bits: u32) -> impl Iterator<Item = u32> {
    (bits.saturating_sub(10).max(1)..bits.saturating_sub(1)).filter(|&l| l >= 1)
}

/// `g` with its functions interpolated between knots `2^limb` apart, with its accuracy, when
/// that graph is valid and meets the tolerance (or, when `g` misses it, is no worse than
/// `base`).
pub fn interpolated(
    model: &OnnxModel,
    inputs: &[Tensor],
    g: &QuantizedGraph,
    base: &Accuracy,
    limb: u32,
    tolerance: f64,
) -> Result<Option<(QuantizedGraph, Accuracy)>, FrontendError> {
    let Some(gi) = g.with_knots(limb) else {
        return Ok(None);
    };
    if gi.validate().is_err() {
        return Ok(None);
    }
    // Interpolation can move a value out of its calibrated range: then not this width.
    let Ok(out) = run_quantized(&gi, inputs) else {
        return Ok(None);
    };
    let acc = accuracy(&gi, &out, &float_outputs(model, inputs)?, tolerance);
    let good = acc.met_tolerance || (!base.met_tolerance && acc.rel_error <= base.rel_error);
    Ok(good.then_some((gi, acc)))
}

/// Lowers at the requested bit width, or searches the smallest one meeting the tolerance.
/// Returns the graphs that meet it (or the most accurate one when none does), for the caller
/// to pick by the plan's estimate: at that width, the graph with composed biases and, where
/// composing changed it, the one with separate biases ([`Biases`]); where only the separate
/// one met the tolerance, also the composed one a bit wider (its circuit may still be the
/// smaller).
pub fn quantize_search(
    model: &OnnxModel,
    ranges: &Ranges,
    inputs: &[Tensor],
    opts: &QuantizeOptions,
) -> Result<Vec<(QuantizedGraph, Accuracy)>, FrontendError> {
    let float = float_outputs(model, inputs)?;
    let widths: Vec<u32> = match opts.bits {
        Some(b) => vec![b],
        None => (8..=16).collect(),
    };
    let mut best: Option<(QuantizedGraph, Accuracy)> = None;
    let mut met = Vec::new();
    let mut last_err = None;
    let mut wider_composed = false;
    for bits in widths {
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(FrontendError::Calibration(format!(
                "bits must be in {MIN_BITS}..={MAX_BITS}, got {bits}"
            )));
        }
        let (mut differs, mut composed_met) = (true, false);
        for biases in [Biases::Composed, Biases::Separate] {
            if (biases == Biases::Separate) && (wider_composed || !differs) {
                break;
            }
            let lowered = lower(
                model,
                ranges,
                (bits, opts.range_margin),
                (Lookups::Tables, biases),
            );
            // Some ops need more bits than others (a softmax or layer normalisation over long
            // rows): a width they refuse is skipped like one whose values leave the range.
            let (g, composed) = match lowered {
                Ok(x) => x,
                Err(e) if opts.bits.is_none() => {
                    last_err = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if biases == Biases::Composed {
                differs = composed > 0;
            }
            let out = match run_quantized(&g, inputs) {
                Ok(o) => o,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let acc = accuracy(&g, &out, &float, opts.tolerance);
            if acc.met_tolerance {
                composed_met |= biases == Biases::Composed;
                met.push((g, acc));
            } else if best
                .as_ref()
                .is_none_or(|(_, b)| acc.rel_error < b.rel_error)
            {
                best = Some((g, acc));
            }
        }
        if met.is_empty() {
            continue;
        }
        if wider_composed || composed_met || !differs || opts.bits.is_some() {
            break;
        }
        wider_composed = true;
    }
    match (best, last_err) {
        _ if !met.is_empty() => Ok(met),
        (Some(b), _) => Ok(vec![b]),
        (None, Some(e)) => Err(e),
        (None, None) => Err(FrontendError::Calibration(
            "no bit width could be evaluated".into(),
        )),
    }
}
