//! Softmax between DequantizeLinear and QuantizeLinear, and com.microsoft QLinearSoftmax: the
//! float front end's steps on the int8 integers, each with one witness.
//!
//! For a row of `n` integers `q_j` of scale `s_x` (the zero point cancels in `x_j − max x`):
//!
//! 1. `m = max_j q_j`: a max pool over the row (the max chip pins it);
//! 2. `e_j = EXP[q_j − m]`: a table over the at most 256 differences,
//!    `round(2^E · exp(s_x·d))` by a deterministic exp, so `e_j ≤ 2^E` and the maximum's own
//!    term is `2^E`;
//! 3. `S = Σ_j e_j` exactly (a linear op of weight 1), and `R = RECIP[round(S / 2^t)]`
//!    (`round(2^(2E−t) / round(S / 2^t))`, `t = ⌈log2 n⌉`, an exact table);
//! 4. `p_j = round(e_j·R / 2^E)` (`≈ 2^E·e_j / S`, the softmax at scale `2^-E`, in
//!    `[0, 2^E]`), and the output's integers by ONNX Runtime's requantization of `p_j` with
//!    `m = 1 / (2^E·s_y)`: one lookup of a table of that rule over `[0, 2^E]` (one row per
//!    element where a requantization takes three).
//!
//! ONNX Runtime computes the softmax in f32 (`ORT_DISABLE_ALL`) or from its own exp table
//! (QLinearSoftmax, `ORT_ENABLE_ALL`): `p_j` is within about `2^-(E-2)` of it, so an output
//! whose value lies that close to a rounding tie may take the neighbouring integer.

use super::*;
use zkinfer_circuits::graph::{det_exp, MaxOp};

/// The exponentials' bits: `e_j ≤ 2^E`.
const E: u32 = 14;

/// The activation bits a softmax needs (its exponentials, sums and reciprocals).
pub(super) const SOFTMAX_BITS: u32 = E + 2;

/// A Softmax (node name) of a DequantizeLinear over rows of `n`, waiting for its
/// QuantizeLinear.
#[derive(Clone, Debug)]
pub(super) struct PendingSoftmax {
    pub name: String,
    pub x: Act,
    pub n: usize,
}

impl Importer {
    /// A Softmax of `np`'s DequantizeLinear input: its rows must be contiguous (the last axis,
    /// or any axis before opset 13, which coerces the input to 2-D there).
    pub(super) fn pending_softmax(
        &self,
        np: &pb::NodeProto,
        name: &str,
        x: Act,
        opset: i64,
    ) -> Result<PendingSoftmax, ImportError> {
        let rank = x.shape.len();
        let default = if opset < 13 { 1 } else { -1 };
        let axis = Attrs::new(np, name)
            .int("axis")
            .map_err(|e| ImportError::at(name, e.to_string()))?
            .unwrap_or(default);
        let a = crate::tensor::axis(axis, rank, name)
            .map_err(|e| ImportError::at(name, e.to_string()))?;
        let n: usize = x.shape[a..].iter().product();
        let contiguous = opset < 13 || x.shape[a + 1..].iter().all(|&d| d == 1);
        if !contiguous || n == 0 {
            return Err(ImportError::at(
                name,
                format!(
                    "a Softmax over axis {axis} of {:?} is imported over the last axis only",
                    x.shape
                ),
            ));
        }
        Ok(PendingSoftmax {
            name: name.to_string(),
            x,
            n,
        })
    }

    /// com.microsoft QLinearSoftmax (`opset` attribute: the Softmax it replaces).
    pub(super) fn qlinear_softmax(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let x = self.qlinear_act(np, 0, name)?;
        let y = self.params(np, (3, 4), name)?;
        let opset = Attrs::new(np, name)
            .int("opset")
            .map_err(|e| ImportError::at(name, e.to_string()))?
            .unwrap_or(self.opset);
        let p = self.pending_softmax(np, name, x, opset)?;
        self.softmax(&p, &y, &output(np, name)?).map(Val::Q)
    }

    /// The softmax of `p.x`'s rows requantized to `y` (steps 1–4 of the module docs).
    pub(super) fn softmax(
        &mut self,
        p: &PendingSoftmax,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let (name, x, n) = (p.name.as_str(), &p.x, p.n);
        let ax = x.q.affine(name)?;
        let len: usize = x.shape.iter().product();
        let rows = len / n;
        let t = n.next_power_of_two().trailing_zeros();
        if t > E - 2 {
            return Err(ImportError::at(
                name,
                format!(
                    "a softmax over {n} values is not imported (at most {})",
                    1 << (E - 2)
                ),
            ));
        }
        self.min_bits = self.min_bits.max(SOFTMAX_BITS);
        let row_of: Vec<u32> = (0..len).map(|e| (e / n) as u32).collect();
        // 1. The row maxima.
        let max = self.tensor(
            &format!("{name} (max)"),
            vec![rows],
            TensorKind::Activation,
            None,
        )?;
        self.g.ops.push(QOp::MaxPool(MaxOp::row_maxima(
            name,
            (x.id, max),
            (rows, n),
        )));
        // 2. The exponentials of the differences.
        let (lo, hi) = ax.range();
        let scale = f64::from(ax.scale());
        let values = (lo - hi..=0)
            .map(|d| (det_exp(scale * d as f64) * f64::from(1u32 << E)).round() as i64)
            .collect();
        let exp = self.g.function_index(FnKind::Tabulated {
            lo: lo - hi,
            values,
        });
        let e = self.tensor(
            &format!("{name} (exp)"),
            x.shape.clone(),
            TensorKind::Activation,
            None,
        )?;
        let mut step = identity_step(name.to_string(), (x.id, e), exp);
        step.b = Some(Operand {
            tensor: max,
            index: Some(row_of.clone()),
        });
        step.qb = Coef::Const(-1);
        self.g.ops.push(QOp::Elementwise(step));
        // 3. The row sums and their reciprocals.
        let sum = self.row_sums((name, "sum"), e, (rows, n))?;
        let recip = self.g.function_index(FnKind::Recip {
            in_scale: (E - t) as i32,
            out_scale: E as i32,
            exact: true,
        });
        let r = self.tensor(
            &format!("{name} (1/sum)"),
            vec![rows],
            TensorKind::Activation,
            None,
        )?;
        let mut step = identity_step(name.to_string(), (sum, r), recip);
        step.shift = t;
        self.g.ops.push(QOp::Elementwise(step));
        // 4. The probabilities at scale 2^-E, requantized to the output by a table over
        //    their range: `e_j ≤ 2^E` and `R ≤ 2^E` (`S ≥ 2^E`), so `p_j ∈ [0, 2^E]`.
        let ay = y.affine(out)?;
        let m = 1.0 / (ay.scale() * (1u32 << E) as f32);
        let rule = channel_rule(name, m, (ay.zero_point(), ay.range()), 1 << E)?;
        self.report_requant(name, std::slice::from_ref(&rule));
        let requantized = self.g.function_index(FnKind::Tabulated {
            lo: 0,
            values: (0..=1i64 << E).map(|p| rule.rule.apply(p)).collect(),
        });
        let id = self.tensor(out, x.shape.clone(), TensorKind::Activation, Some(y))?;
        let mut step = identity_step(name.to_string(), (e, id), requantized);
        step.b = Some(Operand {
            tensor: r,
            index: Some(row_of),
        });
        step.qa = Coef::Const(0);
        step.qm = Coef::Const(1);
        step.shift = E;
        self.g.ops.push(QOp::Elementwise(step));
        Ok(Act {
            id,
            q: y.clone(),
            shape: x.shape.clone(),
        })
    }
}
