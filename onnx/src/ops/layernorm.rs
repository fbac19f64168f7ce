//! LayerNormalization (opset 17), lowered into existing families so that every step has
//! exactly one witness. For a row `x_1..x_n` at scale `s_x` and `B`-bit activations:
//!
//! 1. `S = Σ_j x_j`: a linear map with weights 1, exact;
//! 2. `d_j = round((n·x_j − S) / 2^t1)`: `n·(x_j − mean)`, rescaled into `h` bits (a rounding
//!    with its remainder range-checked), `h` small enough for step 4; where the activation
//!    width allows more, a second, finer copy `e_j = round((n·x_j − S) / 2^t0)` (`t0 < t1`, as
//!    fine as the calibrated deviations `|x_j − mean|` allow, like any activation's range, and
//!    as the coefficients `γ_j/n` of step 5 keep their bits) is what step 5 multiplies, so the
//!    output is not limited to `h` bits;
//! 3. `V = Σ_j d_j²`: a product of computed tensors (the dot chip), exact;
//! 4. `r = RSQRT[round((V + c_ε) / 2^t2)]`: a rescale fused with the table
//!    `round(2^s_r / sqrt(max(v, 1) · unit))`, where `unit` is the variance one step of `v`
//!    stands for and `c_ε` is ε in the units of `V`;
//! 5. `y_j = round(γ'_j · e_j · r + β'_j)` at the calibrated output scale (`γ'`, `β'` the scale
//!    and bias in the units of `e·r`), fused with a following activation as any rescale is.
//!
//! No value is chosen by the prover. The optional outputs are `Mean = S / n` (a rescale of the
//! row sums) and `InvStdDev = r`.

use super::reduce::Reduce;
use super::rows::{row_index, row_sum};
use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QRef, QuantCtx};
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

impl OnnxOp for LayerNorm {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let (_, n) = self.rows(node, &x.shape)?;
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
        let a = axis(self.axis, x.rank(), node)?;
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
        for i in 1..nd.inputs.len() {
            if q.input_id(node, i).is_some() && q.const_input(node, i).is_none() {
                return Err(q.err(node, "scale and bias must be constants"));
            }
        }
        let x = q.act_input(node, 0)?;
        let shape = q.graph.tensors[x.id].shape.clone();
        let rows = self.rows(&nd.name, &shape)?;
        let gamma = per_element(&nd.name, q.const_input(node, 1), rows.1, 1.0)?;
        let beta = per_element(&nd.name, q.const_input(node, 2), rows.1, 0.0)?;
        // The ONNX tensor of each named output slot.
        let mut named = nd.outputs.iter().copied();
        let mut slots = [None; 3];
        for (slot, &present) in slots.iter_mut().zip(&self.outputs) {
            if present {
                *slot = named.next();
            }
        }
        lower(q, node, x, rows, [&gamma, &beta], self.epsilon, slots)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Lowers the layer normalisation of `x` (as `rows × n`) with scale and bias `[γ, β]`
/// (per element of a row) for `node`, binding the ONNX tensors of its named outputs
/// `[Y, Mean, InvStdDev]`.
fn lower(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    rows: (usize, usize),
    [gamma, beta]: [&[f64]; 2],
    epsilon: f64,
    [y, mean, inv_std]: [Option<usize>; 3],
) -> Result<(), FrontendError> {
    let st = deviation_and_rsqrt(q, node, x, rows, epsilon)?;
    let (r, sum) = (st.r, st.sum);
    if let Some(out) = mean {
        // Mean = S / n, rescaled like any linear output.
        let w = q.weight_scale(x.scale, q.scale_for(out));
        let lin = Lin {
            qa: Coef::Const(q.fixed(node, 1.0 / rows.1 as f64, w)?),
            ..Lin::of(QRef {
                id: sum,
                scale: x.scale,
            })
        };
        q.finish(node, lin, x.scale + w, out)?;
    }
    if let Some(out) = inv_std {
        // InvStdDev is r itself, viewed in the output's shape.
        let map = (0..rows.0 as u32).map(|e| (0, e)).collect();
        q.bind_view(node, vec![r.id], map, r.scale, out);
    }
    let Some(out) = y else {
        return Ok(());
    };
    // 5. y = γ·e·r/(n·2^s_dr) + β, at the calibrated scale.
    let n = rows.1;
    let s_out = q.scale_for(out);
    let t0 = fine_shift(q, node, x, n, &st, s_out, gamma);
    let e = match t0 < st.t1 {
        true => deviation(q, node, x, sum, rows, t0, "fine deviation"),
        false => st.d,
    };
    let s_dr = e.scale + r.scale;
    let s_g = s_out + q.bits as i32 - s_dr;
    let l = s_g + s_dr;
    let mut qm = Vec::with_capacity(rows.0 * n);
    let mut qc = Vec::with_capacity(rows.0 * n);
    for j in 0..rows.0 * n {
        qm.push(q.fixed(node, gamma[j % n] / n as f64, s_g)?);
        qc.push(q.fixed(node, beta[j % n], l)?);
    }
    let lin = Lin {
        a: Some(Operand {
            tensor: e.id,
            index: None,
        }),
        b: Some(Operand {
            tensor: r.id,
            index: row_index(rows.0, n),
        }),
        qm: Coef::Each(qm),
        qc: Coef::Each(qc),
        ..Lin::default()
    };
    q.finish(node, lin, l, out)
}

/// What steps 1–4 leave for step 5.
struct Stats {
    /// The row sums `S`.
    sum: TensorId,
    /// The coarse deviations `d`, and their shift `t1`.
    d: QRef,
    t1: i32,
    /// The bound on `|x_j − mean|` (integers at the input's scale) that `t1` is chosen for.
    spread: f64,
    /// The reciprocal standard deviations.
    r: QRef,
}

/// Steps 1–4: `S`, `d` (`n·(x − mean)` in units of `2^(t1 − s_x)`) and `r` (the reciprocal
/// standard deviation in units of `2^-s_r`).
fn deviation_and_rsqrt(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    (rows, n): (usize, usize),
    epsilon: f64,
) -> Result<Stats, FrontendError> {
    let bits = q.bits;
    let op = q.node(node).name.clone();
    let name = q.model.tensors[q.node(node).outputs[0]].name.clone();
    // |d| ≤ 2^h, with n·2^(2h) small enough for V to be rescaled within `bits`.
    let h = (bits as f64 - 1.0 - (n as f64).log2() / 2.0).floor() as i32 - 1;
    let h = h.min(bits as i32 - 2);
    // |x − mean| is at most twice the input's calibrated bound (an input beyond it is a
    // prove-time range error, as for any activation), and never more than the domain.
    let x_onnx = q.input_id(node, 0).unwrap_or(usize::MAX);
    let domain = (bits as f64).exp2();
    let spread = (2.0 * q.bound(x_onnx) * (x.scale as f64).exp2()).clamp(1.0, domain);
    // The smallest t1 with n·spread / 2^t1 ≤ 2^h.
    let t1 = ((n as f64 * spread).log2() - h as f64).ceil().max(0.0) as i32;
    if h < 1 || t1 > bits as i32 {
        return Err(q.err(
            node,
            format!("layer normalization over {n} values needs more than {bits} bits"),
        ));
    }

    // 1. S = Σ x.
    let sum = row_sum(q, &op, x.id, (rows, n), &format!("{name} (sum)"), x.scale);
    // 2. d = round((n·x − S) / 2^t1).
    let d = deviation(q, node, x, sum, (rows, n), t1, "deviation");
    let s_d = d.scale;

    // 3. V = Σ d².
    let v = q.new_tensor(
        &format!("{name} (n·variance)"),
        vec![rows],
        2 * s_d,
        TensorKind::Accumulator,
    );
    q.push(QOp::MatMul(MatMulOp {
        name: op.clone(),
        a: d.id,
        b: d.id,
        output: v,
        ikj: [1, n, 1],
        batches: (0..rows).map(|r| [r * n, r * n, r]).collect(),
    }));

    // 4. r = RSQRT[round((V + c_ε) / 2^t2)]. V = n³·var·2^(2·s_d).
    let n3 = (n as f64).powi(3);
    let per_var = n3 * (2.0 * s_d as f64).exp2();
    let c = (epsilon * per_var).round();
    let top = variance_top(n, spread / 2.0, t1, h) + c;
    let t2 = (top.log2().ceil() as i32 - (bits as i32 - 2)).max(0);
    if t2 > bits as i32 || !c.is_finite() || c >= (1u64 << 60) as f64 {
        return Err(q.err(
            node,
            format!("epsilon {epsilon} does not fit at {bits} bits"),
        ));
    }
    let unit = (t2 as f64).exp2() / per_var;
    // The largest r (at v = 1) just fits the activation range.
    let s_r = ((((1i64 << (bits - 1)) - 1) as f64) * unit.sqrt())
        .log2()
        .floor() as i32
        - 1;
    let rsqrt = FnKind::Rsqrt {
        unit,
        out_scale: s_r,
    };
    rsqrt
        .check_image(bits)
        .map_err(|e| q.err(node, e.to_string()))?;
    let lin = Lin {
        qc: Coef::Const(c as i64),
        ..Lin::of(QRef {
            id: v,
            scale: 2 * s_d,
        })
    };
    let r_name = format!("{name} (1/std)");
    let r = q.emit(op, new(&r_name, vec![rows], s_r), lin, t2 as u32, rsqrt);
    Ok(Stats {
        sum,
        d,
        t1,
        spread,
        r,
    })
}

/// `round((n·x_j − S) / 2^t)`: `n·(x_j − mean)` at the input's scale less `t`.
fn deviation(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    sum: TensorId,
    (rows, n): (usize, usize),
    t: i32,
    what: &str,
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
    let name = format!("{name} ({what})");
    let shape = q.graph.tensors[x.id].shape.clone();
    q.emit(
        op,
        new(&name, shape, x.scale - t),
        lin,
        t as u32,
        FnKind::Identity,
    )
}

/// The shift `t0 ≤ t1` of the deviations step 5 multiplies: the finest at which they are still
/// activations for the calibrated `|x_j − mean|` (a wider deviation is a prove-time range
/// error, as for any activation), unless that leaves the coefficients `γ_j/n` too few bits in
/// the product's single rounding (`s_out` is the output's scale).
fn fine_shift(
    q: &QuantCtx<'_>,
    node: usize,
    x: QRef,
    n: usize,
    st: &Stats,
    s_out: i32,
    gamma: &[f64],
) -> i32 {
    let bits = q.bits as i32;
    let x_onnx = q.input_id(node, 0).unwrap_or(usize::MAX);
    let dev = q.row_deviation_bound(x_onnx, n).map_or(st.spread, |b| {
        (b * (x.scale as f64).exp2()).clamp(1.0, st.spread)
    });
    // n·dev / 2^t0 < 2^(B−1).
    let finest = ((n as f64 * dev + 1.0).log2() - (bits - 1) as f64)
        .ceil()
        .max(0.0) as i32;
    (finest..st.t1)
        .find(|&t0| {
            let s_g = s_out + bits - (x.scale - t0) - st.r.scale;
            coefficients_keep(gamma, n, s_g, bits - 2)
        })
        .unwrap_or(st.t1)
}

/// Whether `γ_j / n` at scale `2^-s_g` rounds to integers within `2^-bits` of the largest.
fn coefficients_keep(gamma: &[f64], n: usize, s_g: i32, bits: i32) -> bool {
    let c = |g: f64| g / n as f64 * (s_g as f64).exp2();
    let top = gamma.iter().fold(0.0f64, |m, &g| m.max(c(g).abs()));
    let err = gamma
        .iter()
        .fold(0.0f64, |m, &g| m.max((c(g).round() - c(g)).abs()));
    top.is_finite() && err <= top * (-bits as f64).exp2()
}

/// The largest `V = Σ_j d_j²` of a row of `n` inputs within `±b` (integers at the input's
/// scale), `d_j = round((n·x_j − S) / 2^t1)` and `|d_j| ≤ 2^h`. Since
/// `Σ (n·x_j − S)² = n²·Σ (x_j − mean)² ≤ n²·Σ x_j² ≤ n³·b²` and each rounding moves a term
/// by at most ½, `√V ≤ n^1.5·b / 2^t1 + √n / 2`: a quarter of the bound `n·2^(2h)` that the
/// per-element range alone gives, so the variance keeps two more bits before its table. An
/// input beyond the calibrated range can exceed it: a prove-time range error, as for any
/// activation.
fn variance_top(n: usize, b: f64, t1: i32, h: i32) -> f64 {
    let n = n as f64;
    let root = n.powf(1.5) * b / (t1 as f64).exp2() + n.sqrt() / 2.0;
    (root * root).min(n * (2.0 * h as f64).exp2())
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
            let r = reduce(i).filter(|r| r.mean && r.keepdims)?;
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
        let mut affine = |kind: &str, out: &mut usize| {
            let c = q.sole_consumer(*out).filter(|&c| op(c) == kind)?;
            let k = other_constant(q, c, *out)?;
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
        lower(
            q,
            self.first,
            x,
            rows,
            [&gamma, &beta],
            self.epsilon,
            [Some(self.out), None, None],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{coefficients_keep, variance_top};

    /// γ/n keeps its bits where it is exact or large enough at the scale, not otherwise.
    #[test]
    fn coefficients_keep_their_precision_or_the_shift_stays_coarse() {
        // 1/128 at 2^-7: exactly 1.
        assert!(coefficients_keep(&[1.0; 4], 128, 7, 12));
        // 0.3/128 at 2^-8 is 0.6: rounding it to 1 loses 40%.
        assert!(!coefficients_keep(&[0.3, 1.0], 128, 8, 12));
        // At 2^-30 the same coefficients are within 2^-12 of the largest.
        assert!(coefficients_keep(&[0.3, 1.0], 128, 30, 12));
        // All zero: nothing to lose.
        assert!(coefficients_keep(&[0.0; 3], 7, 0, 12));
    }

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
            let top = variance_top(n, b as f64, t1, 62);
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
        // Never above the per-element bound n·2^(2h).
        assert_eq!(variance_top(10, 1e9, 0, 4), 10.0 * 256.0);
    }
}
