//! Add, Sub, Mul with numpy broadcasting, on two computed tensors or with a constant operand;
//! Div by a constant (a multiplication by its reciprocal) or by a positive computed tensor (by
//! its reciprocal's table, `unary.rs`).
//!
//! Lowering (all one elementwise op, rescaled to the calibrated output scale):
//! - `a ± b`: both aligned to the finer scale `s`: `2^(s-sa)·a ± 2^(s-sb)·b`.
//! - `a ± c`: `2^(s-sa)·a ± round(c·2^s)`, `s` the finer of the input and output scales.
//! - `a · b`: the product at scale `sa + sb` (an operand is rescaled first if that would need a
//!   shift beyond the bit width).
//! - `a · c`: `round(c·2^sc)·a` with the weight rule of linear maps.
//! - `a / b`: `a · r`, `r = RECIP[b]` a table over `b`'s positive part (Reciprocal's).

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, QRef, QuantCtx};
use crate::tensor::{broadcast_binary, broadcast_index, broadcast_shape, DType, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, Operand};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Add,
    Sub,
    Mul,
    /// A multiplication by the divisor's reciprocal (a constant's, or a table of a positive
    /// computed divisor's).
    Div,
}

/// A binary arithmetic op.
#[derive(Debug)]
pub struct Arith {
    kind: Kind,
}

fn operand(q: &QuantCtx<'_>, x: QRef, out_shape: &[usize]) -> Operand {
    let shape = &q.graph.tensors[x.id].shape;
    let index = (shape.as_slice() != out_shape).then(|| broadcast_index(shape, out_shape));
    Operand {
        tensor: x.id,
        index,
    }
}

/// Per-output-element coefficients from a broadcast constant.
pub(super) fn coef(
    q: &QuantCtx<'_>,
    node: usize,
    c: &Tensor,
    out_shape: &[usize],
    scale: i32,
    sign: f64,
) -> Result<Coef, FrontendError> {
    let idx = broadcast_index(&c.shape, out_shape);
    let vals = idx
        .iter()
        .map(|&i| q.fixed(node, sign * c.data[i as usize], scale))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if vals.iter().all(|&v| v == vals[0]) {
        Coef::Const(vals.first().copied().unwrap_or(0))
    } else {
        Coef::Each(vals)
    })
}

impl OnnxOp for Arith {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (a, b) = (input(node, inputs, 0)?, input(node, inputs, 1)?);
        let mut out = match self.kind {
            Kind::Add => broadcast_binary(a, b, node, |x, y| x + y)?,
            Kind::Sub => broadcast_binary(a, b, node, |x, y| x - y)?,
            Kind::Mul => broadcast_binary(a, b, node, |x, y| x * y)?,
            Kind::Div => broadcast_binary(a, b, node, |x, y| x / y)?,
        };
        // Integers have no infinity: their division by zero is an error. Floats follow IEEE
        // (shape inference divides by zero inputs; calibration refuses non-finite values).
        if out.dtype == DType::Int {
            if out.data.iter().any(|v| !v.is_finite()) {
                return Err(shape_err(node, "integer division by zero"));
            }
            out.data.iter_mut().for_each(|v| *v = v.trunc());
        }
        Ok(vec![out])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let out = q.node(node).outputs[0];
        let out_shape = q.shape(out).to_vec();
        let (ca, cb) = (q.const_input(node, 0), q.const_input(node, 1));
        let s_out = q.scale_for(out);
        let bits = q.bits as i32;
        match (ca, cb) {
            (Some(_), None) if self.kind == Kind::Div => Err(q.err(
                node,
                "a constant divided by a computed tensor is not supported",
            )),
            (None, None) => {
                let (mut a, mut b) = (q.act_input(node, 0)?, q.act_input(node, 1)?);
                broadcast_shape(
                    &q.graph.tensors[a.id].shape,
                    &q.graph.tensors[b.id].shape,
                    &q.node(node).name,
                )?;
                if self.kind == Kind::Div {
                    // `a · (1/b)`, the reciprocal one table over `b`'s positive part.
                    b = super::unary::divisor_reciprocal(q, node, b)?;
                }
                if matches!(self.kind, Kind::Mul | Kind::Div) {
                    // Keep the final shift within the bit width by coarsening the finer operand.
                    let excess = a.scale + b.scale - s_out - bits;
                    if excess > 0 {
                        if a.scale >= b.scale {
                            a = q.rescale_to(node, a, a.scale - excess)?;
                        } else {
                            b = q.rescale_to(node, b, b.scale - excess)?;
                        }
                    }
                    let lin = Lin {
                        a: Some(operand(q, a, &out_shape)),
                        b: Some(operand(q, b, &out_shape)),
                        qm: Coef::Const(1),
                        ..Lin::default()
                    };
                    return q.finish(node, lin, a.scale + b.scale, out);
                }
                // Aligning multiplies the coarser operand by 2^(difference): keep that bounded.
                if (a.scale - b.scale).abs() > bits {
                    if a.scale > b.scale {
                        a = q.rescale_to(node, a, b.scale + bits)?;
                    } else {
                        b = q.rescale_to(node, b, a.scale + bits)?;
                    }
                }
                let s = a.scale.max(b.scale);
                let sign = if self.kind == Kind::Sub { -1 } else { 1 };
                let lin = Lin {
                    a: Some(operand(q, a, &out_shape)),
                    b: Some(operand(q, b, &out_shape)),
                    qa: Coef::Const(1 << (s - a.scale)),
                    qb: Coef::Const(sign * (1 << (s - b.scale))),
                    ..Lin::default()
                };
                q.finish(node, lin, s, out)
            }
            (Some(c), None) | (None, Some(c)) => {
                let x_first = ca.is_none();
                let x = q.act_input(node, if x_first { 0 } else { 1 })?;
                match self.kind {
                    Kind::Mul | Kind::Div => {
                        let sc = q.weight_scale(x.scale, s_out);
                        let c = match self.kind {
                            Kind::Div => Tensor {
                                data: c.data.iter().map(|v| 1.0 / v).collect(),
                                ..c.clone()
                            },
                            _ => c.clone(),
                        };
                        let lin = Lin {
                            a: Some(operand(q, x, &out_shape)),
                            qa: coef(q, node, &c, &out_shape, sc, 1.0)?,
                            ..Lin::default()
                        };
                        q.finish(node, lin, x.scale + sc, out)
                    }
                    Kind::Add | Kind::Sub => {
                        let s = x.scale.max(s_out).min(x.scale + bits);
                        // x - c, c - x or x + c.
                        let (sx, sc) = match (self.kind, x_first) {
                            (Kind::Sub, true) => (1, -1.0),
                            (Kind::Sub, false) => (-1, 1.0),
                            _ => (1, 1.0),
                        };
                        let lin = Lin {
                            a: Some(operand(q, x, &out_shape)),
                            qa: Coef::Const(sx * (1 << (s - x.scale))),
                            qc: coef(q, node, c, &out_shape, s, sc)?,
                            ..Lin::default()
                        };
                        q.finish(node, lin, s, out)
                    }
                }
            }
            (Some(_), Some(_)) => {
                Err(q.err(node, "both operands are constant (should have been folded)"))
            }
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn add(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Arith { kind: Kind::Add }))
}

pub fn sub(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Arith { kind: Kind::Sub }))
}

pub fn mul(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Arith { kind: Kind::Mul }))
}

pub fn div(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Arith { kind: Kind::Div }))
}
