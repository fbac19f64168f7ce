//! LayerNormalization (opset 17), lowered into existing families so that every step has
//! exactly one witness. For a row `x_1..x_n` at scale `s_x` and `B`-bit activations:
//!
//! 1. `S = Σ_j x_j`: a linear map with weights 1, exact;
//! 2. `d_j = round((n·x_j − S) / 2^t1)`: `n·(x_j − mean)`, rescaled (a rounding with its
//!    remainder range-checked) by the smallest `t1` at which `d` is an activation and
//!    `V + c_ε` (step 3) rescales into one, for rows within the calibrated bounds;
//! 3. `V = Σ_j d_j²`: a product of computed tensors (the dot chip), exact;
//! 4. `r = RSQRT[round((V + c_ε) / 2^t2)]`: a rescale fused with the table
//!    `round(2^s_r / sqrt(max(v, 1) · unit))`, `unit` being `n²` times the variance one step of
//!    `v` stands for (so `r` is `1/(n·σ)`) and `c_ε` ε in the units of `V`. `r` is an
//!    activation at the smallest calibrated variance, so it keeps its bits there; smaller
//!    variances give wider values (the table's outputs are wide, read only by step 5);
//! 5. `z_j = round(d_j · r / 2^s1)`: the normalised values `(x_j − mean)/σ`, at the scale
//!    their calibrated bound allows (never above `√(n − 1)`, Samuelson's bound);
//! 6. `y_j = round(γ'_j · z_j + β'_j)` at the calibrated output scale (`γ'`, `β'` the scale
//!    and bias in the units of `z`), fused with a following activation as any rescale is.
//!    With `γ = 1` and `β = 0` there is no step 6: step 5 computes `z` at the output's
//!    calibrated scale and `z` is `Y`.
//!
//! No value is chosen by the prover. `t2` and `z`'s scale come from the calibrated rows like an
//! activation's range (times the range margin; the standard deviations within the margin): a
//! row beyond them is a prove-time range error. The optional outputs are `Mean = S / n` (a rescale of the row
//! sums) and `InvStdDev = n·r` (rescaled).

use super::reduce::{Reduce, Reduction};
use super::rows::{row_index, row_sum};
use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, Lookups, NewTensor, QRef, QuantCtx};
use crate::tensor::{axis, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, FnKind, MatMulOp, Operand, QOp, TensorId, TensorKind};

/// LayerNormalization over the dimensions from `axis` on.
#[derive(Debug)]
pub struct LayerNorm {
    axis: i64,
    epsilon: f64,
    /// Which of `Y`, `Mean`, `InvStdDev` the node names.
    outputs: Vec<bool>,
}

impl LayerNorm {
    /// `(rows, n)`: the tensor as rows of the normalised elements.
    fn rows(&self, node: &str, shape: &[usize]) -> Result<(usize, usize), FrontendError> {
        let a = axis(self.axis, shape.len(), node)?;
        let n: usize = shape[a..].iter().product();
        if n == 0 {
            return Err(shape_err(node, "layer normalization over no elements"));
        }
        Ok((shape[..a].iter().product(), n))
    }
}

/// `γ` or `β` repeated for every row (`n` values per row), broadcast from its own shape.
fn per_element(
    node: &str,
    t: Option<&Tensor>,
    n: usize,
    dflt: f64,
) -> Result<Vec<f64>, FrontendError> {
    match t {
        None => Ok(vec![dflt; n]),
        Some(t) if t.len() == n => Ok(t.data.clone()),
        Some(t) if t.len() == 1 => Ok(vec![t.data[0]; n]),
        Some(t) => Err(shape_err(
            node,
            format!("scale/bias of {} values for rows of {n}", t.len()),
        )),
    }
}

/// Refuses a `γ` or `β` of a row's `n` values whose shape lays them along other axes than the
/// normalised ones: ONNX broadcasts a `[4, 1]` scale against rows of 4 as one value per *row*,
/// where it is read as one per position (shapes are compared without leading 1s).
pub(crate) fn along_rows(node: &str, t: &Tensor, row: &[usize]) -> Result<(), FrontendError> {
    let strip = |s: &[usize]| {
        s.iter()
            .skip_while(|&&d| d == 1)
            .copied()
            .collect::<Vec<_>>()
    };
    let n: usize = row.iter().product();
    if t.len() != n || t.len() == 1 || strip(&t.shape) == strip(row) {
        return Ok(());
    }
    Err(shape_err(
        node,
        format!(
            "scale/bias of shape {:?} does not lie along the normalised dimensions {row:?}",
            t.shape
        ),
    ))
}

impl OnnxOp for LayerNorm {
    fn skips_unnamed_outputs(&self) -> bool {
        true
    }

    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let (_, n) = self.rows(node, &x.shape)?;
        let a = axis(self.axis, x.rank(), node)?;
        for t in inputs.iter().skip(1).take(2).flatten() {
            along_rows(node, t, &x.shape[a..])?;
        }
        let gamma = per_element(node, inputs.get(1).copied().flatten(), n, 1.0)?;
        let beta = per_element(node, inputs.get(2).copied().flatten(), n, 0.0)?;
        let (mut y, mut means, mut invs) = (Vec::new(), Vec::new(), Vec::new());
        for row in x.data.chunks(n) {
            let mean = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            let inv = 1.0 / (var + self.epsilon).sqrt();
            y.extend(
                row.iter()
                    .enumerate()
                    .map(|(j, v)| (v - mean) * inv * gamma[j] + beta[j]),
            );
            means.push(mean);
            invs.push(inv);
        }
        // Mean and InvStdDev keep the normalised axes as 1s.
        let stat: Vec<usize> = (0..x.rank())
            .map(|d| if d < a { x.shape[d] } else { 1 })
            .collect();
        let all = [
            Tensor::float(x.shape.clone(), y),
            Tensor::float(stat.clone(), means),
            Tensor::float(stat, invs),
        ];
        Ok(all
            .into_iter()
            .zip(self.outputs.iter().chain(std::iter::repeat(&true)))
            .filter(|(_, &named)| named)
            .map(|(t, _)| t)
            .collect())
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let nd = q.node(node);
        let x = q.act_input(node, 0)?;
        let shape = q.graph.tensors[x.id].shape.clone();
        let rows = self.rows(&nd.name, &shape)?;
        let gamma = per_element(&nd.name, q.const_input(node, 1), rows.1, 1.0)?;
        let beta = per_element(&nd.name, q.const_input(node, 2), rows.1, 0.0)?;
        // Scale and bias computed from graph inputs (γ = 1, β = 0 in the constants then).
        let mut computed = [None, None];
        for (i, slot) in [1, 2].into_iter().zip(&mut computed) {
            if q.input_id(node, i).is_some() && q.const_input(node, i).is_none() {
                let v = q.act_input(node, i)?;
                let len = q.graph.tensors[v.id].len();
                if len != rows.1 && len != 1 {
                    return Err(q.err(
                        node,
                        format!("scale/bias of {len} values for rows of {}", rows.1),
                    ));
                }
                *slot = Some(v);
            }
        }
        let affine = Affine {
            gamma: &gamma,
            beta: &beta,
            computed,
        };
        // The ONNX tensor of each named output slot.
        let mut named = nd.outputs.iter().copied();
        let mut slots = [None; 3];
        for (slot, &present) in slots.iter_mut().zip(&self.outputs) {
            if present {
                *slot = named.next();
            }
        }
        lower(q, node, x, rows, affine, self.epsilon, slots)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A layer normalisation's scale and bias: constants per element of a row, or computed
/// tensors (of a row's `n` elements or one) in their place.
struct Affine<'a> {
    gamma: &'a [f64],
    beta: &'a [f64],
    computed: [Option<QRef>; 2],
}

/// Lowers the layer normalisation of `x` (as `rows × n`) with scale and bias `[γ, β]`
/// for `node`, binding the ONNX tensors of its named outputs `[Y, Mean, InvStdDev]`.
fn lower(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    rows: (usize, usize),
    affine: Affine<'_>,
    epsilon: f64,
    [y, mean, inv_std]: [Option<usize>; 3],
) -> Result<(), FrontendError> {
    let b = bounds(q, node, x, rows.1, epsilon);
    let st = statistics(q, node, x, rows, epsilon, &b)?;
    let n = rows.1;
    if let Some(out) = mean {
        // Mean = S / n, rescaled like any linear output.
        let w = q.weight_scale(x.scale, q.scale_for(out));
        let lin = Lin {
            qa: Coef::Const(q.fixed(node, 1.0 / n as f64, w)?),
            ..Lin::of(QRef {
                id: st.sum,
                scale: x.scale,
            })
        };
        q.finish(node, lin, x.scale + w, out)?;
    }
    // With γ = 1 and β = 0 (and no activation to fuse), Y is z itself: z is computed at
    // Y's calibrated scale and step 6 is skipped (one rounding instead of two).
    let Affine {
        gamma,
        beta,
        computed,
    } = affine;
    let plain = y.filter(|&out| {
        computed == [None, None]
            && gamma.iter().all(|&g| g == 1.0)
            && beta.iter().all(|&v| v == 0.0)
            && q.sole_consumer(out)
                .is_none_or(|c| q.node(c).op.activation().is_none())
    });
    let s_y = plain.map(|out| q.scale_for(out));
    let (z, r) = normalized(q, node, x, rows, &st, &b, s_y)?;
    if let Some(out) = inv_std {
        // r stands for 1/(n·σ): InvStdDev = n·r, rescaled.
        let lin = Lin {
            qa: Coef::Const(n as i64),
            ..Lin::of(r)
        };
        q.finish(node, lin, r.scale, out)?;
    }
    if let Some(out) = plain {
        q.bind(out, z);
        return Ok(());
    }
    let Some(out) = y else {
        return Ok(());
    };
    if computed != [None, None] {
        return computed_affine(q, node, (z, out), (gamma, beta), computed);
    }
    // 6. y = γ·z + β, at the calibrated output scale: one rounding by 2^B.
    let s_out = q.scale_for(out);
    let l = s_out + q.bits as i32;
    let mut qa = Vec::with_capacity(rows.0 * n);
    let mut qc = Vec::with_capacity(rows.0 * n);
    for j in 0..rows.0 * n {
        qa.push(q.fixed(node, gamma[j % n], l - z.scale)?);
        qc.push(q.fixed(node, beta[j % n], l)?);
    }
    let lin = Lin {
        qa: Coef::Each(qa),
        qc: Coef::Each(qc),
        ..Lin::of(z)
    };
    q.finish(node, lin, l, out)
}

/// Step 6 with a computed scale or bias: `y = γ·z + β` as one op (`γ·z` a product of
/// activations, or a constant `γ` per element; `β` a constant or an operand) where only one
/// of them is computed; where both are, `γ·z` is rounded to an activation first (at the
/// finest scale holding `|y| + |β|`), then `β` added.
fn computed_affine(
    q: &mut QuantCtx<'_>,
    node: usize,
    (z, out): (QRef, usize),
    (gamma, beta): (&[f64], &[f64]),
    [g, b]: [Option<QRef>; 2],
) -> Result<(), FrontendError> {
    let len = q.graph.tensors[z.id].len();
    let n = gamma.len();
    let operand = |q: &QuantCtx<'_>, t: QRef| Operand {
        tensor: t.id,
        index: match q.graph.tensors[t.id].len() {
            l if l == len => None,
            1 => Some(vec![0; len]),
            _ => Some((0..len).map(|j| (j % n) as u32).collect()),
        },
    };
    let s_out = q.scale_for(out);
    // Where γ·z is rounded to: the output, or (β computed too) an activation holding |y| + |β|.
    let target = match b {
        Some(_) if g.is_some() => {
            let bound = q.bound(out) + q.input_id(node, 2).map_or(0.0, |t| q.bound(t));
            q.scale_for_max(bound)
        }
        _ => s_out,
    };
    // γ·z: its operand and coefficients, at scale `lin_scale`.
    let (mut lin, lin_scale) = match g {
        Some(g) => {
            // γ coarsened where the product's scale is more than the width above the target.
            let excess = z.scale + g.scale - target - q.bits as i32;
            let g = match excess > 0 {
                true => q.rescale_to(node, g, g.scale - excess)?,
                false => g,
            };
            let lin = Lin {
                a: Lin::of(z).a,
                b: Some(operand(q, g)),
                qm: Coef::Const(1),
                ..Lin::default()
            };
            (lin, z.scale + g.scale)
        }
        None => {
            let l = s_out + q.bits as i32;
            let qa = (0..len)
                .map(|j| q.fixed(node, gamma[j % n], l - z.scale))
                .collect::<Result<_, _>>()?;
            let lin = Lin {
                qa: Coef::Each(qa),
                ..Lin::of(z)
            };
            (lin, l)
        }
    };
    match (g, b) {
        (_, None) => {
            let qc = (0..len)
                .map(|j| q.fixed(node, beta[j % n], lin_scale))
                .collect::<Result<_, _>>()?;
            lin.qc = Coef::Each(qc);
            q.finish(node, lin, lin_scale, out)
        }
        (None, Some(b)) => {
            let b = q.rescale_to(node, b, lin_scale)?;
            lin.b = Some(operand(q, b));
            lin.qb = Coef::Const(q.fixed(node, 1.0, lin_scale - b.scale)?);
            q.finish(node, lin, lin_scale, out)
        }
        (Some(_), Some(b)) => {
            let scale = target.min(lin_scale);
            let scale = scale.max(lin_scale - q.bits as i32);
            let t = &q.graph.tensors[z.id];
            let (name, shape) = (format!("{} (scaled)", t.name), t.shape.clone());
            let op = q.node(node).name.clone();
            let p = q.emit(
                op,
                new(&name, shape, scale),
                lin,
                (lin_scale - scale) as u32,
                FnKind::Identity,
            );
            let b = q.rescale_to(node, b, s_out + q.bits as i32)?;
            let top = p.scale.max(b.scale);
            let sum = Lin {
                qa: Coef::Const(q.fixed(node, 1.0, top - p.scale)?),
                b: Some(operand(q, b)),
                qb: Coef::Const(q.fixed(node, 1.0, top - b.scale)?),
                ..Lin::of(p)
            };
            q.finish(node, sum, top, out)
        }
    }
}

/// What the rows may reach, in integers at the input's scale: deviations `|x_j − mean| ≤ dev`
/// (from the input's range), standard deviations within `sd` and (real) normalised values
/// `|x_j − mean| / sqrt(σ² + ε) ≤ z`. The last two are calibrated like an activation's range
/// (a row beyond them is a prove-time range error), unless the calibration input's rows are
/// constant at the input's scale (then they calibrate nothing): then, what the input's range
/// allows.
struct Bounds {
    dev: f64,
    sd: (f64, f64),
    z: f64,
}

fn bounds(q: &QuantCtx<'_>, node: usize, x: QRef, n: usize, epsilon: f64) -> Bounds {
    let x_onnx = q.input_id(node, 0).unwrap_or(usize::MAX);
    let unit = (x.scale as f64).exp2();
    // |x − mean| is at most twice the input's bound, σ at most the bound, and |z| at most
    // √(n − 1) (Samuelson), with room for the roundings.
    let spread = (2.0 * q.bound(x_onnx) * unit).clamp(1.0, (q.bits as f64).exp2());
    let z_top = 1.25 * (n as f64).sqrt();
    let calibrated = q
        .row_bounds(x_onnx, n, epsilon)
        .filter(|st| st.variance.1.sqrt() * unit >= 1.0);
    let Some(st) = calibrated else {
        return Bounds {
            dev: spread,
            sd: (0.0, spread / 2.0),
            z: z_top,
        };
    };
    Bounds {
        dev: spread,
        sd: (
            (st.variance.0.sqrt() * unit).min(spread / 2.0),
            (st.variance.1.sqrt() * unit).min(spread / 2.0),
        ),
        z: st.normalized.clamp(1.0, z_top),
    }
}

/// What steps 1–4 leave for step 5.
struct Stats {
    /// The row sums `S`.
    sum: TensorId,
    /// The coarse deviations `d`, and their shift `t1`.
    d: QRef,
    t1: i32,
    /// `V = Σ d²`, the rescale `t2` of the table's argument and `c_ε`.
    v: TensorId,
    t2: i32,
    c: f64,
}

/// The largest `|round((n·x_j − S) / 2^t)|` of rows within the bounds.
fn deviation_top(n: usize, b: &Bounds, t: i32) -> f64 {
    n as f64 * b.dev / (t as f64).exp2() + 0.5
}

/// The smallest shift `t2 ≤ B` with `round(top / 2^t2)` an activation.
fn argument_shift(top: f64, bits: u32) -> Option<i32> {
    let half = (bits as f64 - 1.0).exp2();
    (0..=bits as i32).find(|&t| top / (t as f64).exp2() + 0.5 < half)
}

/// `c_ε`: ε in the units of `V` (`V = n³·σ²·2^(2·s_d)` at the deviations' scale `s_d`).
fn epsilon_units(n: usize, epsilon: f64, s_d: i32) -> f64 {
    (epsilon * (n as f64).powi(3) * (2.0 * s_d as f64).exp2()).round()
}

/// Steps 1–3: `S`, `d = round((n·x − S) / 2^t1)` and `V = Σ d²`, with `t1` the finest shift at
/// which `d` is an activation and `V + c_ε` rescales into one within `B` bits.
fn statistics(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    (rows, n): (usize, usize),
    epsilon: f64,
    b: &Bounds,
) -> Result<Stats, FrontendError> {
    let bits = q.bits;
    let op = q.node(node).name.clone();
    let name = q.model.tensors[q.node(node).outputs[0]].name.clone();
    let half = (bits as f64 - 1.0).exp2();
    let d_top = |t: i32| deviation_top(n, b, t);
    let fits = |t: i32| {
        let top = variance_top(n, b.sd.1, t, d_top(t)) + epsilon_units(n, epsilon, x.scale - t);
        d_top(t) < half && argument_shift(top, bits).is_some()
    };
    let Some(t1) = (0..=bits as i32).find(|&t| fits(t)) else {
        return Err(q.err(
            node,
            format!("layer normalization over {n} values needs more than {bits} bits"),
        ));
    };
    let c = epsilon_units(n, epsilon, x.scale - t1);
    if !c.is_finite() || c >= (1u64 << 60) as f64 {
        return Err(q.err(
            node,
            format!("epsilon {epsilon} does not fit at {bits} bits"),
        ));
    }
    let top = variance_top(n, b.sd.1, t1, d_top(t1)) + c;
    let t2 = argument_shift(top, bits).unwrap_or(bits as i32);

    // 1. S = Σ x.
    let sum = row_sum(q, &op, x.id, (rows, n), &format!("{name} (sum)"), x.scale);
    // 2. d = round((n·x − S) / 2^t1).
    let d = deviation(q, node, x, sum, (rows, n), t1);
    // 3. V = Σ d².
    let v = q.new_tensor(
        &format!("{name} (n·variance)"),
        vec![rows],
        2 * d.scale,
        TensorKind::Accumulator,
    );
    q.push(QOp::MatMul(MatMulOp {
        name: op,
        a: d.id,
        b: d.id,
        output: v,
        ikj: [1, n, 1],
        batches: (0..rows).map(|r| [r * n, r * n, r]).collect(),
        a_zeros: Vec::new(),
    }));
    Ok(Stats {
        sum,
        d,
        t1,
        v,
        t2,
        c,
    })
}

/// Steps 4–5: `r`, then `z = round(d·r / 2^s1)`, the normalised values `(x − mean)/σ` at the
/// scale their bound allows (or at `s_y`, the output's, when z is the output). Returns
/// `(z, r)`.
fn normalized(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    (rows, n): (usize, usize),
    st: &Stats,
    b: &Bounds,
    s_y: Option<i32>,
) -> Result<(QRef, QRef), FrontendError> {
    let op = q.node(node).name.clone();
    let name = q.model.tensors[q.node(node).outputs[0]].name.clone();
    // d·r / 2^s1 with s1 ≤ B: r no finer than z's scale allows.
    let s_d = st.d.scale;
    let mut s_z = s_y.unwrap_or_else(|| q.scale_for_max(b.z));
    let r = reciprocal_std(q, node, (rows, n), st, b, s_z + q.bits as i32 - s_d)?;
    if s_d + r.scale < s_z {
        s_z = s_d + r.scale;
    }
    let lin = Lin {
        a: Some(Operand {
            tensor: st.d.id,
            index: None,
        }),
        b: Some(Operand {
            tensor: r.id,
            index: row_index(rows, n),
        }),
        qm: Coef::Const(1),
        ..Lin::default()
    };
    let shape = q.graph.tensors[x.id].shape.clone();
    let z_name = format!("{name} (normalized)");
    let shift = (s_d + r.scale - s_z) as u32;
    let z = q.emit(op, new(&z_name, shape, s_z), lin, shift, FnKind::Identity);
    Ok((z, r))
}

/// Step 4: `r = RSQRT[round((V + c_ε) / 2^t2)]`, the reciprocal of `n·σ` (the table's `unit`
/// carries `n²`), at the finest scale (at most `s_max`) at which its value for the smallest
/// calibrated variance is an activation (for lookups on limbs, its value at `v = 1`).
fn reciprocal_std(
    q: &mut QuantCtx<'_>,
    node: usize,
    (rows, n): (usize, usize),
    st: &Stats,
    b: &Bounds,
    s_max: i32,
) -> Result<QRef, FrontendError> {
    let bits = q.bits as i32;
    let nf = n as f64;
    // V = n³·σ²·2^(2·s_d); v·unit = n²·(σ² + ε), and r = 2^s_r / sqrt(v·unit).
    let per_var = nf.powi(3) * (2.0 * st.d.scale as f64).exp2();
    let unit = (st.t2 as f64).exp2() / per_var * nf * nf;
    // The smallest argument of calibrated rows: √V ≥ n^1.5·σ/2^t1 − √n/2 (each d moves by at
    // most ½). r there fits the activation range; smaller variances give wider values (the
    // table's outputs are wide), which only the product of step 5 reads.
    let root = (nf.powf(1.5) * b.sd.0 / (st.t1 as f64).exp2() - nf.sqrt() / 2.0).max(0.0);
    let low = match q.lookups {
        Lookups::Tables => ((root * root + st.c) / (st.t2 as f64).exp2() + 0.5).floor(),
        // On limbs every output is an activation: the largest r, at v = 1, fits.
        Lookups::Limbs => 1.0,
    }
    .max(1.0);
    let half = ((1i64 << (bits - 1)) - 1) as f64;
    let s_top = (half * (low * unit).sqrt()).log2().floor();
    let s_r = (s_top.clamp(-64.0, 64.0) as i32).min(s_max);
    let rsqrt = FnKind::Rsqrt {
        unit,
        out_scale: s_r,
        narrow: q.lookups == Lookups::Limbs,
    };
    rsqrt
        .check_image(q.bits)
        .map_err(|e| q.err(node, e.to_string()))?;
    let lin = Lin {
        qc: Coef::Const(st.c as i64),
        ..Lin::of(QRef {
            id: st.v,
            scale: 2 * st.d.scale,
        })
    };
    let op = q.node(node).name.clone();
    let name = q.model.tensors[q.node(node).outputs[0]].name.clone();
    let r_name = format!("{name} (1/(n·std))");
    Ok(q.emit(op, new(&r_name, vec![rows], s_r), lin, st.t2 as u32, rsqrt))
}

/// `round((n·x_j − S) / 2^t)`: `n·(x_j − mean)` at the input's scale less `t`.
fn deviation(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    sum: TensorId,
    (rows, n): (usize, usize),
    t: i32,
) -> QRef {
    let lin = Lin {
        b: Some(Operand {
            tensor: sum,
            index: row_index(rows, n),
        }),
        qa: Coef::Const(n as i64),
        qb: Coef::Const(-1),
        ..Lin::of(x)
    };
    let op = q.node(node).name.clone();
    let name = q.model.tensors[q.node(node).outputs[0]].name.clone();
    let name = format!("{name} (deviation)");
    let shape = q.graph.tensors[x.id].shape.clone();
    q.emit(
        op,
        new(&name, shape, x.scale - t),
        lin,
        t as u32,
        FnKind::Identity,
    )
}

/// The largest `V = Σ_j d_j²` of a row of `n` inputs whose standard deviation is at most `sd`
/// (integers at the input's scale), `d_j = round((n·x_j − S) / 2^t1)` and `|d_j| ≤ d_top`.
/// Since `Σ (n·x_j − S)² = n³·σ²` and each rounding moves a term by at most ½,
/// `√V ≤ n^1.5·sd / 2^t1 + √n / 2`; and `V ≤ n·d_top²`. (Inputs within `±b` have `σ ≤ b`.)
fn variance_top(n: usize, sd: f64, t1: i32, d_top: f64) -> f64 {
    let n = n as f64;
    let root = n.powf(1.5) * sd / (t1 as f64).exp2() + n.sqrt() / 2.0;
    (root * root).min(n * d_top * d_top)
}

fn new(name: &str, shape: Vec<usize>, scale: i32) -> NewTensor<'_> {
    NewTensor { name, shape, scale }
}

/// `LayerNormalization`: `axis` (default -1), `epsilon` (default 1e-5); `stash_type` only
/// changes the float precision ONNX Runtime computes in.
pub fn layer_norm(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(LayerNorm {
        axis: a.int("axis")?.unwrap_or(-1),
        epsilon: a.float("epsilon")?.unwrap_or(1e-5),
        outputs: a.present_outputs(),
    }))
}

/// The decomposed layer normalisation exporters emit, recognised from its first ReduceMean:
/// `m = ReduceMean(x)`, `d = x − m`, `v = ReduceMean(d^2)`, `y = d / Sqrt(v + ε)`, then
/// optionally `· γ` and `+ β` with constants. Lowered as one LayerNorm.
pub struct Decomposed {
    /// The first ReduceMean.
    first: usize,
    /// The other nodes of the pattern.
    rest: Vec<usize>,
    /// First normalised axis (the reduced axes are the trailing ones).
    axis: usize,
    epsilon: f64,
    gamma: Option<Tensor>,
    beta: Option<Tensor>,
    /// The ONNX tensor the pattern ends in.
    out: usize,
}

/// The constant operand of binary node `c` other than `t`, if `c` reads `t` and a constant.
fn other_constant(q: &QuantCtx<'_>, c: usize, t: usize) -> Option<Tensor> {
    let ins = &q.node(c).inputs;
    match ins.as_slice() {
        [Some(a), Some(_)] if *a == t => q.const_input(c, 1).cloned(),
        [Some(_), Some(b)] if *b == t => q.const_input(c, 0).cloned(),
        _ => None,
    }
}

impl Decomposed {
    /// The pattern starting at ReduceMean node `first`, if it is there.
    pub fn find(q: &QuantCtx<'_>, first: usize) -> Option<Self> {
        let op = |i: usize| q.node(i).op_type.as_str();
        let out0 = |i: usize| q.node(i).outputs.first().copied();
        let reduce = |i: usize| q.node(i).op.as_any().downcast_ref::<Reduce>();
        let x = q.input_id(first, 0)?;
        let rank = q.shape(x).len();
        let axes = |i: usize| {
            let r = reduce(i).filter(|r| r.kind == Reduction::Mean && r.keepdims)?;
            r.axes(&q.node(i).name, rank, q.const_input(i, 1))
                .ok()
                .flatten()
        };
        let reduced = axes(first)?;
        let axis = *reduced.first()?;
        if reduced != (axis..rank).collect::<Vec<_>>() {
            return None;
        }
        let m = out0(first)?;
        let sub = q.sole_consumer(m).filter(|&c| op(c) == "Sub")?;
        if q.node(sub).inputs != [Some(x), Some(m)] {
            return None;
        }
        let d = out0(sub)?;
        let users = q.model.consumers.get(d)?;
        let pow = *users.iter().find(|&&c| op(c) == "Pow")?;
        let div = *users.iter().find(|&&c| op(c) == "Div")?;
        let two = q.const_input(pow, 1)?;
        let pow_ok =
            q.node(pow).inputs.first() == Some(&Some(d)) && two.data.iter().all(|&v| v == 2.0);
        if users.len() != 2 || q.model.outputs.contains(&d) || !pow_ok {
            return None;
        }
        let mean2 = q.sole_consumer(out0(pow)?)?;
        if axes(mean2)? != reduced {
            return None;
        }
        let add = q.sole_consumer(out0(mean2)?).filter(|&c| op(c) == "Add")?;
        let eps = other_constant(q, add, out0(mean2)?).filter(|t| t.len() == 1)?;
        let sqrt = q.sole_consumer(out0(add)?).filter(|&c| op(c) == "Sqrt")?;
        if q.sole_consumer(out0(sqrt)?) != Some(div)
            || q.node(div).inputs != [Some(d), out0(sqrt).map(Some)?]
        {
            return None;
        }
        let mut rest = vec![sub, pow, mean2, add, sqrt, div];
        let mut out = out0(div)?;
        // A scale or bias of one value, or one per position of a row: others (a per-row
        // `[4, 1]`, a partial broadcast) are left to the Mul or Add itself.
        let row = &q.shape(x)[axis..];
        let n: usize = row.iter().product();
        let mut affine = |kind: &str, out: &mut usize| {
            let c = q.sole_consumer(*out).filter(|&c| op(c) == kind)?;
            let k = other_constant(q, c, *out)
                .filter(|k| (k.len() == 1 || k.len() == n) && along_rows("", k, row).is_ok())?;
            rest.push(c);
            *out = out0(c)?;
            Some(k)
        };
        let gamma = affine("Mul", &mut out);
        let beta = gamma.as_ref().and_then(|_| affine("Add", &mut out));
        Some(Decomposed {
            first,
            rest,
            axis,
            epsilon: eps.data[0],
            gamma,
            beta,
            out,
        })
    }

    /// Lowers the pattern as one LayerNorm.
    pub fn lower(self, q: &mut QuantCtx<'_>) -> Result<(), FrontendError> {
        for &nd in &self.rest {
            q.mark_done(nd);
        }
        let name = q.node(self.first).name.clone();
        let x = q.act_input(self.first, 0)?;
        let shape = q.graph.tensors[x.id].shape.clone();
        let n: usize = shape[self.axis..].iter().product();
        let rows = (shape[..self.axis].iter().product(), n);
        let gamma = per_element(&name, self.gamma.as_ref(), n, 1.0)?;
        let beta = per_element(&name, self.beta.as_ref(), n, 0.0)?;
        let affine = Affine {
            gamma: &gamma,
            beta: &beta,
            computed: [None, None],
        };
        lower(
            q,
            self.first,
            x,
            rows,
            affine,
            self.epsilon,
            [Some(self.out), None, None],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{variance_top, LayerNorm};
    use crate::ops::OnnxOp;
    use crate::tensor::Tensor;

    /// `Σ d²` of a row, `d_j = round((n·x_j − S) / 2^t1)` half-up as the circuit rounds.
    fn sum_sq(row: &[i64], t1: i32) -> f64 {
        let n = row.len() as i64;
        let s: i64 = row.iter().sum();
        row.iter()
            .map(|&x| {
                let e = n * x - s;
                let d = (e + (1 << t1) / 2).div_euclid(1 << t1);
                (d * d) as f64
            })
            .sum()
    }

    #[test]
    fn variance_top_bounds_every_row_within_the_input_range() {
        // Deterministic rows: extremes, alternating signs, one outlier, pseudo-random values.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |b: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % (2 * b as u64 + 1)) as i64 - b
        };
        for (n, b, t1) in [
            (2usize, 7i64, 0i32),
            (10, 1000, 3),
            (100, 32767, 9),
            (64, 4095, 6),
        ] {
            let top = variance_top(n, b as f64, t1, 1e30);
            let mut rows: Vec<Vec<i64>> = vec![
                (0..n).map(|j| if j % 2 == 0 { b } else { -b }).collect(),
                (0..n).map(|j| if j == 0 { b } else { -b }).collect(),
                vec![b; n],
            ];
            rows.extend((0..200).map(|_| (0..n).map(|_| next(b)).collect()));
            for row in &rows {
                let v = sum_sq(row, t1);
                assert!(
                    v <= top,
                    "n {n}, b {b}, t1 {t1}: Σd² {v} above the bound {top}"
                );
            }
            // The bound is not loose by more than the roundings: an alternating row of ±b
            // (even n) reaches n³·b²/2^(2·t1).
            let alt = sum_sq(&rows[0], t1);
            if n % 2 == 0 {
                assert!(
                    alt >= top / 1.5,
                    "n {n}: alternating row {alt}, bound {top}"
                );
            }
        }
        // Never above the per-element bound n·d_top².
        assert_eq!(variance_top(10, 1e9, 0, 16.0), 10.0 * 256.0);
    }

    #[test]
    fn a_scale_along_other_axes_than_the_rows_is_refused() {
        let ln = LayerNorm {
            axis: -1,
            epsilon: 1e-5,
            outputs: vec![true],
        };
        let x = Tensor::float(vec![4, 4], (0..16).map(f64::from).collect());
        let eval = |g: &Tensor| ln.eval("ln", &[Some(&x), Some(g)]);
        // [4, 1] against rows of 4: ONNX scales each row by one value, not each position.
        let err = eval(&Tensor::float(vec![4, 1], vec![1.0; 4])).unwrap_err();
        assert!(err.to_string().contains("does not lie along"), "{err}");
        assert!(eval(&Tensor::float(vec![2, 2], vec![1.0; 4])).is_err());
        // One per position, with or without leading 1s, and one for all, are taken.
        for g in [vec![4], vec![1, 4], vec![1, 1, 4], vec![1]] {
            let len = g.iter().product();
            assert!(
                eval(&Tensor::float(g.clone(), vec![2.0; len])).is_ok(),
                "{g:?}"
            );
        }
    }
}
