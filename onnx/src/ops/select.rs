//! Where with a constant condition (a mask): one elementwise op whose per-element coefficients
//! pick either operand, the constant one through the constant term. Equal is folded on
//! constants (it builds such masks).
//!
//! `Softmax(Where(cond, -inf, x))` (a causal mask; very large negative constants, ≤ -1e9, count
//! as -inf) is lowered here together with its Softmax as a masked softmax
//! (`super::softmax`): the masked elements are exactly zero, as in floats. An infinite constant
//! anywhere else is refused. A finite constant so negative that the softmax's exponential
//! rounds it to zero for every value the other side can take (nanoGPT's `-10` beside scores
//! of at most a few units) masks the same way: the quantized result is the one the Where would
//! give, without a Where op, and the scores keep their own, finer scale.

use super::rows::view;
use super::softmax::Softmax;
use super::{input, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, QRef, QuantCtx};
use crate::tensor::{broadcast_binary, broadcast_index, broadcast_shape, DType, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, Operand};

/// `Where(cond, a, b)`.
#[derive(Debug)]
pub struct Where;

/// `Equal(a, b)`, on constants.
#[derive(Debug)]
pub struct Equal;

impl OnnxOp for Where {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (c, a, b) = (
            input(node, inputs, 0)?,
            input(node, inputs, 1)?,
            input(node, inputs, 2)?,
        );
        let ab = broadcast_shape(&a.shape, &b.shape, node)?;
        let shape = broadcast_shape(&c.shape, &ab, node)?;
        let (ic, ia, ib) = (
            broadcast_index(&c.shape, &shape),
            broadcast_index(&a.shape, &shape),
            broadcast_index(&b.shape, &shape),
        );
        let data = (0..ic.len())
            .map(|e| match c.data[ic[e] as usize] != 0.0 {
                true => a.data[ia[e] as usize],
                false => b.data[ib[e] as usize],
            })
            .collect();
        let dtype = if a.dtype == DType::Float || b.dtype == DType::Float {
            DType::Float
        } else {
            a.dtype
        };
        Ok(vec![Tensor { shape, data, dtype }])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let cond = q
            .const_input(node, 0)
            .ok_or_else(|| q.err(node, "the condition must be constant"))?;
        if lower_masked_softmax(q, node, cond)? {
            return Ok(());
        }
        let out = q.node(node).outputs[0];
        let shape = q.shape(out).to_vec();
        let pick: Vec<bool> = broadcast_index(&cond.shape, &shape)
            .iter()
            .map(|&i| cond.data[i as usize] != 0.0)
            .collect();
        // Each side: (computed operand, or its constant) at a common scale `s`.
        let sides = [1, 2].map(|i| (q.act_input(node, i).ok(), q.const_input(node, i)));
        let bits = q.bits as i32;
        let scales: Vec<i32> = sides
            .iter()
            .filter_map(|(x, _)| x.map(|x| x.scale))
            .collect();
        let s = match scales.as_slice() {
            [] => return Err(q.err(node, "both operands are constant (should have been folded)")),
            [a] => (*a).max(q.scale_for(out)).min(a + bits),
            [a, b] if (a - b).abs() <= bits => *a.max(b),
            _ => return Err(q.err(node, "operand scales differ by more than the bit width")),
        };
        let mut lin = Lin::default();
        let mut qc = vec![0i64; pick.len()];
        for (k, (x, c)) in sides.iter().enumerate() {
            let chosen = |e: usize| pick[e] == (k == 0);
            match (x, c) {
                (Some(x), _) => {
                    let index = broadcast_index(&q.graph.tensors[x.id].shape, &shape);
                    let coef = Coef::Each(
                        (0..pick.len())
                            .map(|e| i64::from(chosen(e)) << (s - x.scale))
                            .collect(),
                    );
                    let operand = Some(Operand {
                        tensor: x.id,
                        index: Some(index),
                    });
                    if k == 0 {
                        (lin.a, lin.qa) = (operand, coef);
                    } else {
                        (lin.b, lin.qb) = (operand, coef);
                    }
                }
                (None, Some(c)) => {
                    let idx = broadcast_index(&c.shape, &shape);
                    for (e, v) in qc.iter_mut().enumerate() {
                        if chosen(e) {
                            *v = q.fixed(node, c.data[idx[e] as usize], s)?;
                        }
                    }
                }
                (None, None) => return Err(q.err(node, format!("missing input #{}", k + 1))),
            }
        }
        lin.qc = Coef::Each(qc);
        q.finish(node, lin, s, out)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Whether `v` masks an element out of a softmax.
fn is_mask(v: f64) -> bool {
    v <= -1e9
}

/// Whether a finite constant `v` drops out of a softmax over a row of `x`, for every value `x`
/// can take: the largest `|x|` a `bits`-bit activation at `x`'s scale holds is `R`, so the row
/// maximum is at least `-R` and `exp(v - max) ≤ exp(v + R)`, which the softmax's exponential
/// (`round(2^(bits-2)·exp(·))`, `super::softmax`) rounds to zero when it is below
/// `2^-(bits-1)`; a quarter in the exponent covers the rounding of `v` and `x`. The masked
/// softmax then computes what the softmax of `Where(cond, v, x)` would at this width.
fn underflows(v: f64, x: QRef, bits: u32) -> bool {
    let reach = (f64::from(bits as i32 - 1 - x.scale)).exp2();
    v + reach < -f64::from(bits - 1) * std::f64::consts::LN_2 - 0.25
}

/// Lowers `Softmax(Where(cond, -inf, x))` (either side) as a masked softmax; `false` when the
/// Where has no mask constant. A finite constant that [underflows] the softmax masks too,
/// when every element the Where takes from it does and the Where's only reader is a Softmax.
fn lower_masked_softmax(
    q: &mut QuantCtx<'_>,
    node: usize,
    cond: &Tensor,
) -> Result<bool, FrontendError> {
    let (ci, xi) = match (q.const_input(node, 1), q.const_input(node, 2)) {
        (Some(_), None) => (1, 2),
        (None, Some(_)) => (2, 1),
        _ => return Ok(false),
    };
    let c = q
        .const_input(node, ci)
        .ok_or_else(|| q.err(node, "missing mask constant"))?;
    let out = q.node(node).outputs[0];
    let infinite = c.data.iter().any(|&v| is_mask(v));
    let to_softmax = q
        .sole_consumer(out)
        .is_some_and(|s| q.node(s).op.as_any().is::<Softmax>());
    let x = match q.act_input(node, xi) {
        Ok(x) => x,
        Err(e) if infinite => return Err(e),
        Err(_) => return Ok(false),
    };
    let masks = |v: f64| is_mask(v) || (!infinite && underflows(v, x, q.bits));
    let masked = infinite || (to_softmax && c.data.iter().all(|&v| masks(v)));
    if !masked {
        return Ok(false);
    }
    let shape = q.shape(out).to_vec();
    let (cidx, vidx) = (
        broadcast_index(&cond.shape, &shape),
        broadcast_index(&c.shape, &shape),
    );
    // The constant side is picked where the condition is true for input #1, false for #2.
    let keep: Vec<bool> = cidx
        .iter()
        .map(|&i| (cond.data[i as usize] != 0.0) != (ci == 1))
        .collect();
    if keep
        .iter()
        .zip(&vidx)
        .any(|(&k, &i)| !k && !masks(c.data[i as usize]))
    {
        return Err(q.err(
            node,
            "a Where that masks with -inf must pick -inf for every element it takes from the constant",
        ));
    }
    let softmax = q.sole_consumer(out).and_then(|s| {
        q.node(s)
            .op
            .as_any()
            .downcast_ref::<Softmax>()
            .map(|op| (s, op))
    });
    let Some((s, op)) = softmax else {
        return Err(q.err(
            node,
            "an infinite constant (a -inf mask) is only supported as the input of a Softmax",
        ));
    };
    // A row masked entirely by a finite constant is uniform in floats: the Where stays.
    if !infinite && !op.keeps_every_row(&shape, &keep) {
        return Ok(false);
    }
    let xshape = q.graph.tensors[x.id].shape.clone();
    let x = match xshape == shape {
        true => x,
        false => {
            let map = broadcast_index(&xshape, &shape)
                .into_iter()
                .map(|i| (0, i))
                .collect();
            let name = format!("{} (broadcast)", q.model.tensors[out].name);
            let op_name = q.node(node).name.clone();
            view(q, &op_name, (vec![x.id], map), x.scale, (&shape, &name))
        }
    };
    op.lower(q, s, x, Some(keep))?;
    q.mark_done(s);
    Ok(true)
}

impl OnnxOp for Equal {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (a, b) = (input(node, inputs, 0)?, input(node, inputs, 1)?);
        let mut t = broadcast_binary(a, b, node, |x, y| f64::from(u8::from(x == y)))?;
        t.dtype = DType::Bool;
        Ok(vec![t])
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn where_(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Where))
}

pub fn equal(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Equal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_scale(scale: i32) -> QRef {
        QRef { id: 0, scale }
    }

    #[test]
    fn a_finite_constant_masks_only_where_the_exponential_rounds_it_to_zero() {
        // 12 bits: the exponential is round(2^10·exp(·)); zero below 2^-11 = exp(-7.62).
        // Scores at 2^-13 reach 0.25, at 2^-11 reach 1, at 2^-9 reach 4.
        assert!(underflows(-10.0, at_scale(13), 12));
        assert!(underflows(-10.0, at_scale(11), 12));
        assert!(!underflows(-10.0, at_scale(9), 12));
        assert!(!underflows(-8.0, at_scale(11), 12));
        // Wider activations resolve smaller exponentials: -10 is seen at 16 bits.
        assert!(!underflows(-10.0, at_scale(17), 16));
        // The bound itself: exp(v + R) with the quarter's margin.
        let edge = -(11.0 * std::f64::consts::LN_2) - 0.25 - 1.0;
        assert!(underflows(edge - 1e-9, at_scale(11), 12));
        assert!(!underflows(edge + 1e-9, at_scale(11), 12));
    }
}
