//! Softmax, lowered into existing families so that every step has exactly one witness:
//!
//! 1. `m = max_j x_j` per row: a max-pool over the row (running maximum, range-checked
//!    differences: `m` is exactly the largest element);
//! 2. `e_j = EXP[x_j - m + 2^(B-1) - 1]`: one elementwise op; the offset puts `x_j - m`, which
//!    lies in `[-(2^B - 1), 0]`, into the table's domain, and the table is
//!    `round(2^s_e · exp(real))` with `s_e = B - 2`, so `e_j ∈ [0, 2^s_e]` and the row maximum's
//!    own term is exactly `2^s_e`;
//! 3. `S = Σ_j e_j`: a constant-weight linear map (weights 1), exact, so `S ≥ 2^s_e`;
//! 4. `R = RECIP[round(S / 2^t)]`, `t = ⌈log2 n⌉`: a rescale fused with a reciprocal table
//!    (`round(2^s_R / real)`, `s_R = B - 2`);
//! 5. `p_j = round(e_j · R / 2^(B-2))`: an elementwise product with its remainder checked.
//!
//! No step has a prover-chosen value: the maximum is pinned by the max chip, the tables are
//! fixed and the roundings have range-checked remainders. The output has scale `B - 2`.

use super::rows::{inverse, permute, row_index, row_sum};
use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QRef, QuantCtx};
use crate::tensor::{axis, transpose_index, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, FnKind, MaxOp, Operand, QOp, TensorKind};

/// Softmax over one axis (opset ≥ 13) or over the dimensions from `axis` on (opset < 13,
/// which coerces the input to 2-D).
#[derive(Debug)]
pub struct Softmax {
    axis: i64,
    coerce_2d: bool,
}

/// How a softmax runs as rows: an optional permutation that makes its axis last, and the
/// resulting `rows × n` layout.
struct Rows {
    perm: Option<Vec<usize>>,
    rows: usize,
    n: usize,
}

impl Softmax {
    fn rows(&self, node: &str, shape: &[usize]) -> Result<Rows, FrontendError> {
        let a = axis(self.axis, shape.len(), node)?;
        let (perm, rows, n) = if self.coerce_2d {
            (
                None,
                shape[..a].iter().product(),
                shape[a..].iter().product(),
            )
        } else {
            let last = shape.len().saturating_sub(1);
            let perm = (a != last).then(|| {
                let mut p: Vec<usize> = (0..shape.len()).filter(|&d| d != a).collect();
                p.push(a);
                p
            });
            let n = shape.get(a).copied().unwrap_or(1);
            (perm, shape.iter().product::<usize>() / n.max(1), n)
        };
        if n == 0 {
            return Err(shape_err(node, "softmax over an empty axis"));
        }
        Ok(Rows { perm, rows, n })
    }
}

/// Softmax of each row of `x` (`rows × n`, row-major), in floats.
fn softmax_rows(x: &[f64], n: usize) -> Vec<f64> {
    x.chunks(n)
        .flat_map(|row| {
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = row.iter().map(|&v| (v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect()
}

impl OnnxOp for Softmax {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let Rows { perm, n, .. } = self.rows(node, &x.shape)?;
        let Some(perm) = perm else {
            return Ok(vec![Tensor::float(
                x.shape.clone(),
                softmax_rows(&x.data, n),
            )]);
        };
        let (tshape, idx) = transpose_index(&x.shape, &perm);
        let xt: Vec<f64> = idx.iter().map(|&i| x.data[i as usize]).collect();
        let yt = softmax_rows(&xt, n);
        let (_, back) = transpose_index(&tshape, &inverse(&perm));
        let y = back.iter().map(|&i| yt[i as usize]).collect();
        Ok(vec![Tensor::float(x.shape.clone(), y)])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let n = q.node(node);
        let (name, out) = (n.name.clone(), n.outputs[0]);
        let x = q.act_input(node, 0)?;
        let shape = q.graph.tensors[x.id].shape.clone();
        let rows = self.rows(&name, &shape)?;
        let out_name = q.model.tensors[out].name.clone();
        let x = match &rows.perm {
            Some(p) => permute(q, &name, x, &shape, p, &format!("{out_name} (rows)")),
            None => x,
        };
        let result = match &rows.perm {
            Some(_) => format!("{out_name} (by rows)"),
            None => out_name.clone(),
        };
        let p = lower_rows(q, node, x, &rows, &out_name, &result)?;
        let p = match &rows.perm {
            Some(perm) => {
                let (tshape, _) = transpose_index(&shape, perm);
                permute(q, &name, p, &tshape, &inverse(perm), &out_name)
            }
            None => p,
        };
        q.bind(out, p);
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Steps 1–5 of the module documentation on `x`, laid out as `rows × n`; the result (named
/// `result`, the intermediate tensors after `name`) has `x`'s shape and scale `B - 2`.
fn lower_rows(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    rows: &Rows,
    name: &str,
    result: &str,
) -> Result<QRef, FrontendError> {
    let Rows { rows, n, .. } = *rows;
    let bits = q.bits;
    let op = q.node(node).name.clone();
    let shape = q.graph.tensors[x.id].shape.clone();
    let t = n.next_power_of_two().trailing_zeros();
    if t > bits {
        return Err(q.err(
            node,
            format!("softmax over {n} values needs more than {bits} bits"),
        ));
    }
    let s_e = bits as i32 - 2;
    let half = 1i64 << (bits - 1);

    // 1. The row maximum.
    let m = q.new_tensor(
        &format!("{name} (max)"),
        vec![rows],
        x.scale,
        TensorKind::Activation,
    );
    q.push(QOp::MaxPool(MaxOp {
        name: op.clone(),
        input: x.id,
        output: m,
        chw: [1, rows, n],
        kernel: [1, n],
        stride: [1, n],
        pad: [0, 0],
        dilation: [1, 1],
        out: [rows, 1],
    }));

    // 2. e_j = EXP[x_j - m + 2^(B-1) - 1].
    let exp = FnKind::ExpShifted {
        offset: half - 1,
        in_scale: x.scale,
        out_scale: s_e,
    };
    exp.check_image(bits)
        .map_err(|e| q.err(node, e.to_string()))?;
    let lin = Lin {
        b: Some(Operand {
            tensor: m,
            index: row_index(rows, n),
        }),
        qb: Coef::Const(-1),
        qc: Coef::Const(half - 1),
        ..Lin::of(x)
    };
    let e_name = format!("{name} (exp)");
    let e = q.emit(op.clone(), new(&e_name, shape.clone(), s_e), lin, 0, exp);

    // 3. S = Σ_j e_j, exactly.
    let sum = row_sum(q, &op, e.id, (rows, n), &format!("{name} (sum)"), s_e);

    // 4. R = RECIP[round(S / 2^t)].
    let recip = FnKind::Recip {
        in_scale: s_e - t as i32,
        out_scale: s_e,
    };
    recip
        .check_image(bits)
        .map_err(|e| q.err(node, e.to_string()))?;
    let r_name = format!("{name} (1/sum)");
    let s = QRef {
        id: sum,
        scale: s_e,
    };
    let r = q.emit(
        op.clone(),
        new(&r_name, vec![rows], s_e),
        Lin::of(s),
        t,
        recip,
    );

    // 5. p_j = round(e_j · R / 2^(B-2)).
    let lin = Lin {
        b: Some(Operand {
            tensor: r.id,
            index: row_index(rows, n),
        }),
        qa: Coef::Const(0),
        qm: Coef::Const(1),
        ..Lin::of(e)
    };
    Ok(q.emit(
        op,
        new(result, shape, s_e),
        lin,
        s_e as u32,
        FnKind::Identity,
    ))
}

fn new(name: &str, shape: Vec<usize>, scale: i32) -> NewTensor<'_> {
    NewTensor { name, shape, scale }
}

/// `Softmax`: `axis` defaults to 1 before opset 13 (coerced to 2-D) and to -1 from 13.
pub fn softmax(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    let coerce_2d = opset < 13;
    let axis = a.int("axis")?.unwrap_or(if coerce_2d { 1 } else { -1 });
    Ok(Box::new(Softmax { axis, coerce_2d }))
}
