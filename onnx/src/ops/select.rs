//! Where with a constant condition (a mask): one elementwise op whose per-element coefficients
//! pick either operand, the constant one through the constant term. Equal is folded on
//! constants (it builds such masks).
//!
//! `Softmax(Where(cond, -inf, x))` (a causal mask; very large negative constants, ≤ -1e9, count
//! as -inf) is lowered here together with its Softmax as a masked softmax
//! (`super::softmax`): the masked elements are exactly zero, as in floats. An infinite constant
//! anywhere else is refused.

use super::rows::view;
use super::softmax::Softmax;
use super::{input, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, QuantCtx};
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

/// Lowers `Softmax(Where(cond, -inf, x))` (either side) as a masked softmax; `false` when the
/// Where has no mask constant.
fn lower_masked_softmax(
    q: &mut QuantCtx<'_>,
    node: usize,
    cond: &Tensor,
) -> Result<bool, FrontendError> {
    let (ci, xi) = match (q.const_input(node, 1), q.const_input(node, 2)) {
        (Some(c), None) if c.data.iter().any(|&v| is_mask(v)) => (1, 2),
        (None, Some(c)) if c.data.iter().any(|&v| is_mask(v)) => (2, 1),
        _ => return Ok(false),
    };
    let c = q
        .const_input(node, ci)
        .ok_or_else(|| q.err(node, "missing mask constant"))?;
    let out = q.node(node).outputs[0];
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
        .any(|(&k, &i)| !k && !is_mask(c.data[i as usize]))
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
    let x = q.act_input(node, xi)?;
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
