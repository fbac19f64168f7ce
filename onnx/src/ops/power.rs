//! Pow with a constant integer exponent 1–3 (products of the input with itself); other
//! exponents (0, 4 to 8, 0.5, -0.5, -1) are tables (`unary.rs`). (Sqrt is a table too, or part
//! of a layer normalisation, `layernorm.rs`.)

use super::{input, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QRef, QuantCtx};
use crate::tensor::{broadcast_binary, broadcast_index, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, FnKind, Operand, QOp, TensorKind, ViewOp};

/// `Pow(x, e)`.
#[derive(Debug)]
pub struct Pow;

/// `x · y`, rescaled to the calibrated scale of ONNX tensor `out` (or `x` alone when `y` is
/// `None`).
fn product(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    y: Option<QRef>,
    out: usize,
) -> Result<(), FrontendError> {
    let operand = |t: QRef| {
        Some(Operand {
            tensor: t.id,
            index: None,
        })
    };
    let Some(y) = y else {
        return q.finish(node, Lin::of(x), x.scale, out);
    };
    let lin = Lin {
        a: operand(x),
        b: operand(y),
        qm: Coef::Const(1),
        ..Lin::default()
    };
    q.finish(node, lin, x.scale + y.scale, out)
}

/// `x²` at the finest scale holding `bound` (an intermediate of `x³`).
fn square(q: &mut QuantCtx<'_>, node: usize, x: QRef, bound: f64) -> Result<QRef, FrontendError> {
    let limit = ((1i64 << (q.bits - 1)) - 1) as f64;
    let scale = ((limit / bound.max(1e-30)).log2().floor() as i32).min(2 * x.scale);
    let shift = 2 * x.scale - scale;
    if shift > q.bits as i32 {
        return Err(q.err(node, "x³ does not fit the bit width"));
    }
    let t = &q.graph.tensors[x.id];
    let (name, shape) = (format!("{}²", t.name), t.shape.clone());
    let lin = Lin {
        a: Some(Operand {
            tensor: x.id,
            index: None,
        }),
        b: Some(Operand {
            tensor: x.id,
            index: None,
        }),
        qm: Coef::Const(1),
        ..Lin::default()
    };
    let op = q.node(node).name.clone();
    Ok(q.emit(
        op,
        NewTensor {
            name: &name,
            shape,
            scale,
        },
        lin,
        shift as u32,
        FnKind::Identity,
    ))
}

/// Pow by a constant exponent of several elements (which may differ): the elements of each exponent
/// (a view of the base) through that exponent's table, all at one output scale, and the
/// results listed back in order (a view).
fn per_element(q: &mut QuantCtx<'_>, node: usize, e: &Tensor) -> Result<(), FrontendError> {
    let x = q.act_input(node, 0)?;
    let out = q.node(node).outputs[0];
    let shape = q.shape(out).to_vec();
    let xshape = q.graph.tensors[x.id].shape.clone();
    let (ix, ie) = (
        broadcast_index(&xshape, &shape),
        broadcast_index(&e.shape, &shape),
    );
    let exp_of = |o: usize| e.data[ie[o] as usize];
    let mut exps: Vec<f64> = Vec::new();
    for o in 0..ix.len() {
        if !exps.contains(&exp_of(o)) {
            exps.push(exp_of(o));
        }
    }
    let tables = super::unary::power_tables(q, node, x.scale, &exps)?;
    let (name, op) = (q.model.tensors[out].name.clone(), q.node(node).name.clone());
    let (mut parts, mut map, mut scale) = (Vec::new(), vec![(0u16, 0u32); ix.len()], x.scale);
    for (d, (&ev, f)) in exps.iter().zip(tables).enumerate() {
        let elems: Vec<usize> = (0..ix.len()).filter(|&o| exp_of(o) == ev).collect();
        let base = q.new_tensor(
            &format!("{name} (base of exponent {ev})"),
            vec![elems.len()],
            x.scale,
            TensorKind::Activation,
        );
        q.push(QOp::View(ViewOp {
            name: op.clone(),
            inputs: vec![x.id],
            output: base,
            map: elems.iter().map(|&o| (0, ix[o])).collect(),
        }));
        let FnKind::ExprWithin { out_scale, .. } = f else {
            return Err(q.err(node, "a power table has no output scale"));
        };
        scale = out_scale;
        let part = q.emit(
            op.clone(),
            NewTensor {
                name: &format!("{name} (exponent {ev})"),
                shape: vec![elems.len()],
                scale,
            },
            Lin::of(QRef {
                id: base,
                scale: x.scale,
            }),
            0,
            f,
        );
        for (p, &o) in elems.iter().enumerate() {
            map[o] = (d as u16, p as u32);
        }
        parts.push(part.id);
    }
    q.bind_view(node, parts, map, scale, out);
    Ok(())
}

impl OnnxOp for Pow {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (x, e) = (input(node, inputs, 0)?, input(node, inputs, 1)?);
        Ok(vec![broadcast_binary(x, e, node, f64::powf)?])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let e = match q.const_input(node, 1) {
            None => return Err(q.err(node, "the exponent must be a constant")),
            Some(e) if e.len() == 1 => e.data[0],
            Some(e) => return per_element(q, node, e),
        };
        let x = q.act_input(node, 0)?;
        let out = q.node(node).outputs[0];
        match e {
            1.0 => product(q, node, x, None, out),
            2.0 => product(q, node, x, Some(x), out),
            3.0 => {
                // x² at the calibrated scale of x (its bound squared), then times x.
                let bound = q.bound(q.input_id(node, 0).unwrap_or(usize::MAX));
                let sq = square(q, node, x, bound * bound)?;
                product(q, node, sq, Some(x), out)
            }
            _ => match super::unary::Unary::power(e) {
                Some(table) => super::activation::quantize_standalone(&table, q, node),
                None => Err(q.err(
                    node,
                    format!("exponent {e} (supported: 0 to 8, 0.5, -0.5 and -1)"),
                )),
            },
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn pow(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Pow))
}
