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
//!
//! A *masked* softmax (`Softmax(Where(mask, -inf, x))`, a causal mask; see `super::select`)
//! runs the same steps on the kept elements only: the maximum of each row is that of its kept
//! elements (one run each of a view of them), steps 2 and 5 cover the kept elements, and
//! the masked ones are a constant zero in the sum and the output, as `exp(-inf) = 0` makes them
//! in floats. Every row must keep at least one element.

use super::rows::{inverse, permute, row_index, row_sum, view};
use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QRef, QuantCtx};
use crate::tensor::{axis, transpose_index, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, FnKind, MaxOp, Operand, QOp, TensorId, TensorKind};

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

impl Softmax {
    /// Whether every row of a softmax over `shape` keeps an element of `keep` (one flag per
    /// element, in `shape`'s order).
    pub(super) fn keeps_every_row(&self, shape: &[usize], keep: &[bool]) -> bool {
        let Ok(rows) = self.rows("", shape) else {
            return false;
        };
        let keep: Vec<bool> = match &rows.perm {
            Some(p) => transpose_index(shape, p)
                .1
                .iter()
                .map(|&i| keep[i as usize])
                .collect(),
            None => keep.to_vec(),
        };
        keep.chunks(rows.n).all(|r| r.iter().any(|&k| k))
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
        let x = q.act_input(node, 0)?;
        self.lower(q, node, x, None)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Softmax {
    /// Lowers the softmax of `x` (the node's input, or a masked one: `keep` says which elements
    /// of `x`, in its own order, take part).
    pub(super) fn lower(
        &self,
        q: &mut QuantCtx<'_>,
        node: usize,
        x: QRef,
        keep: Option<Vec<bool>>,
    ) -> Result<(), FrontendError> {
        let n = q.node(node);
        let (name, out) = (n.name.clone(), n.outputs[0]);
        let shape = q.graph.tensors[x.id].shape.clone();
        let rows = self.rows(&name, &shape)?;
        let out_name = q.model.tensors[out].name.clone();
        let (x, keep) = match &rows.perm {
            Some(p) => {
                let keep = keep.map(|k| {
                    let (_, idx) = transpose_index(&shape, p);
                    idx.iter().map(|&i| k[i as usize]).collect::<Vec<bool>>()
                });
                let x = permute(q, &name, x, &shape, p, &format!("{out_name} (rows)"));
                (x, keep)
            }
            None => (x, keep),
        };
        let result = match &rows.perm {
            Some(_) => format!("{out_name} (by rows)"),
            None => out_name.clone(),
        };
        let p = match keep {
            None => lower_rows(q, node, x, &rows, &out_name, &result)?,
            Some(keep) => lower_masked(q, node, x, &rows, &keep, (&out_name, &result))?,
        };
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
    let op = q.node(node).name.clone();
    let shape = q.graph.tensors[x.id].shape.clone();
    let s_e = exp_scale(q, node, n)?;
    let m = row_max(q, x, rows, name, |m| {
        MaxOp::row_maxima(&op, (x.id, m), (rows, n))
    });
    let e = exp_terms(q, node, (x, None), (m, row_index(rows, n)), &shape, name)?;
    let sum = row_sum(q, &op, e.id, (rows, n), &format!("{name} (sum)"), s_e);
    let r = reciprocal(q, node, sum, (rows, n), name)?;
    Ok(product(q, &op, e, (r, row_index(rows, n)), shape, result))
}

/// The masked softmax of the module documentation: `keep` (in `x`'s `rows × n` order) says
/// which elements take part; the others are zero in the result.
fn lower_masked(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    rows: &Rows,
    keep: &[bool],
    (name, result): (&str, &str),
) -> Result<QRef, FrontendError> {
    let Rows { rows, n, .. } = *rows;
    let op = q.node(node).name.clone();
    let shape = q.graph.tensors[x.id].shape.clone();
    let s_e = exp_scale(q, node, n)?;
    let kept: Vec<u32> = (0..rows * n)
        .filter(|&e| keep[e])
        .map(|e| e as u32)
        .collect();
    let kept_rows: Vec<u32> = kept.iter().map(|&e| e / n as u32).collect();
    // The maximum of each row's kept elements (a run of the kept view).
    let mut ends = Vec::with_capacity(rows);
    for r in 0..rows {
        let end = kept.partition_point(|&e| (e as usize) < (r + 1) * n) as u32;
        if ends.last().copied().unwrap_or(0) == end {
            return Err(q.err(node, format!("row {r} of the softmax is entirely masked")));
        }
        ends.push(end);
    }
    let kept_x = view(
        q,
        &op,
        (vec![x.id], kept.iter().map(|&e| (0, e)).collect()),
        x.scale,
        (&[kept.len()], &format!("{name} (kept)")),
    );
    let m = row_max(q, kept_x, rows, name, |m| {
        MaxOp::run_maxima(&op, (kept_x.id, m), ends)
    });
    let e = exp_terms(
        q,
        node,
        (x, Some(kept.clone())),
        (m, Some(kept_rows.clone())),
        &[kept.len()],
        name,
    )?;
    let zero = q.emit(
        op.clone(),
        new(&format!("{name} (zero)"), vec![1], s_e),
        Lin::default(),
        0,
        FnKind::Identity,
    );
    // Kept elements from `src` (in order), masked ones from `zero`.
    let spread = |src: TensorId| -> (Vec<TensorId>, Vec<(u16, u32)>) {
        let mut next = 0u32;
        let map = keep
            .iter()
            .map(|&k| match k {
                true => {
                    next += 1;
                    (0, next - 1)
                }
                false => (1, 0),
            })
            .collect();
        (vec![src, zero.id], map)
    };
    let e_all = view(
        q,
        &op,
        spread(e.id),
        s_e,
        (&shape, &format!("{name} (exp, all)")),
    );
    let sum = row_sum(q, &op, e_all.id, (rows, n), &format!("{name} (sum)"), s_e);
    let r = reciprocal(q, node, sum, (rows, n), name)?;
    let p = product(
        q,
        &op,
        e,
        (r, Some(kept_rows)),
        vec![kept.len()],
        &format!("{result} (kept)"),
    );
    Ok(view(q, &op, spread(p.id), s_e, (&shape, result)))
}

/// The scale `B - 2` of the exponentials (and of the result), refused when a row of `n` values
/// cannot be summed at `B` bits.
fn exp_scale(q: &QuantCtx<'_>, node: usize, n: usize) -> Result<i32, FrontendError> {
    let bits = q.bits;
    if n.next_power_of_two().trailing_zeros() > bits {
        return Err(q.err(
            node,
            format!("softmax over {n} values needs more than {bits} bits"),
        ));
    }
    Ok(bits as i32 - 2)
}

/// Step 1, the maximum of each of `rows` rows of `x`, by the max op `op` builds for the maxima's
/// tensor (whole rows, or the runs of a masked softmax's kept elements).
fn row_max(
    q: &mut QuantCtx<'_>,
    x: QRef,
    rows: usize,
    name: &str,
    op: impl FnOnce(TensorId) -> MaxOp,
) -> TensorId {
    let m = q.new_tensor(
        &format!("{name} (max)"),
        vec![rows],
        x.scale,
        TensorKind::Activation,
    );
    q.push(QOp::MaxPool(op(m)));
    m
}

/// Step 2, `e_j = EXP[x_j - m + 2^(B-1) - 1]`, over the elements of `x` at `xi` (all by
/// default), each with its row's maximum (`m` at `mi`).
fn exp_terms(
    q: &mut QuantCtx<'_>,
    node: usize,
    (x, xi): (QRef, Option<Vec<u32>>),
    (m, mi): (TensorId, Option<Vec<u32>>),
    shape: &[usize],
    name: &str,
) -> Result<QRef, FrontendError> {
    let bits = q.bits;
    let half = 1i64 << (bits - 1);
    let s_e = bits as i32 - 2;
    let exp = FnKind::ExpShifted {
        offset: half - 1,
        in_scale: x.scale,
        out_scale: s_e,
    };
    exp.check_image(bits)
        .map_err(|e| q.err(node, e.to_string()))?;
    let lin = Lin {
        a: Some(Operand {
            tensor: x.id,
            index: xi,
        }),
        b: Some(Operand {
            tensor: m,
            index: mi,
        }),
        qb: Coef::Const(-1),
        qc: Coef::Const(half - 1),
        ..Lin::of(x)
    };
    let op = q.node(node).name.clone();
    Ok(q.emit(
        op,
        new(&format!("{name} (exp)"), shape.to_vec(), s_e),
        lin,
        0,
        exp,
    ))
}

/// Step 4, `R = RECIP[round(S / 2^t)]`, for the row sums `S` of `n` terms.
fn reciprocal(
    q: &mut QuantCtx<'_>,
    node: usize,
    sum: TensorId,
    (rows, n): (usize, usize),
    name: &str,
) -> Result<TensorId, FrontendError> {
    let bits = q.bits;
    let s_e = bits as i32 - 2;
    let t = n.next_power_of_two().trailing_zeros();
    let recip = FnKind::Recip {
        in_scale: s_e - t as i32,
        out_scale: s_e,
        exact: false,
    };
    recip
        .check_image(bits)
        .map_err(|e| q.err(node, e.to_string()))?;
    let s = QRef {
        id: sum,
        scale: s_e,
    };
    let op = q.node(node).name.clone();
    let r_name = format!("{name} (1/sum)");
    Ok(
        q.emit(op, new(&r_name, vec![rows], s_e), Lin::of(s), t, recip)
            .id,
    )
}

/// Step 5, `p_j = round(e_j · R / 2^(B-2))`, each `e_j` with its row's reciprocal (`r` at `ri`).
fn product(
    q: &mut QuantCtx<'_>,
    op: &str,
    e: QRef,
    (r, ri): (TensorId, Option<Vec<u32>>),
    shape: Vec<usize>,
    result: &str,
) -> QRef {
    let s_e = q.bits as i32 - 2;
    let lin = Lin {
        b: Some(Operand {
            tensor: r,
            index: ri,
        }),
        qa: Coef::Const(0),
        qm: Coef::Const(1),
        ..Lin::of(e)
    };
    q.emit(
        op.to_string(),
        new(result, shape, s_e),
        lin,
        s_e as u32,
        FnKind::Identity,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_without_a_kept_element_is_found_along_the_softmax_axis() {
        // 2 × 3, kept: [[1, 0, 0], [0, 0, 1]].
        let keep = [true, false, false, false, false, true];
        let last = Softmax {
            axis: 1,
            coerce_2d: false,
        };
        assert!(last.keeps_every_row(&[2, 3], &keep));
        // Along axis 0 the middle column keeps nothing.
        let first = Softmax {
            axis: 0,
            coerce_2d: false,
        };
        assert!(!first.keeps_every_row(&[2, 3], &keep));
        let mut row_masked = keep;
        row_masked[5] = false;
        assert!(!last.keeps_every_row(&[2, 3], &row_masked));
    }
}
