//! Pad (`constant`, `reflect`, `edge` and `wrap` modes, negative pads cropping): a view. Each
//! output element is an element of the input, or, in `constant` mode, the padding value: one
//! constant cell the view repeats (at the input's scale, coarsened where the value needs it).

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QuantCtx};
use crate::tensor::Tensor;
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, FnKind, QOp, TensorKind, ViewOp};

/// How the border is filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// `Pad`. Before opset 11 the pads and value are attributes; from 11 they are inputs
/// (`pads`, `constant_value`, and from 18 `axes`).
#[derive(Debug)]
pub struct Pad {
    mode: Mode,
    /// Attribute pads (opset < 11).
    pads: Option<Vec<i64>>,
    /// Attribute value (opset < 11).
    value: f64,
}

/// Where each output element comes from: `Some(e)` an input element, `None` the padding value.
struct Plan {
    shape: Vec<usize>,
    from: Vec<Option<u32>>,
}

impl Mode {
    /// The input coordinate for output coordinate `o − begin = src` on an axis of `n` (`None`:
    /// the padding value).
    fn source(self, src: i64, n: i64) -> Option<i64> {
        if (0..n).contains(&src) {
            return Some(src);
        }
        match self {
            Mode::Constant => None,
            Mode::Edge => Some(src.clamp(0, n - 1)),
            Mode::Wrap => Some(src.rem_euclid(n)),
            Mode::Reflect if n == 1 => Some(0),
            Mode::Reflect => {
                let period = 2 * (n - 1);
                let m = src.rem_euclid(period);
                Some(if m >= n { period - m } else { m })
            }
        }
    }
}

impl Pad {
    /// The pads of every axis of a rank-`rank` tensor, `(begin, end)`.
    fn pads(
        &self,
        node: &str,
        rank: usize,
        inputs: &[Option<&Tensor>],
    ) -> Result<Vec<(i64, i64)>, FrontendError> {
        let given = match (&self.pads, inputs.get(1).copied().flatten()) {
            (Some(p), _) => p.clone(),
            (None, Some(t)) => t.ints(),
            (None, None) => return Err(shape_err(node, "Pad needs its pads")),
        };
        let axes: Vec<usize> = match inputs.get(3).copied().flatten() {
            Some(a) => a
                .ints()
                .iter()
                .map(|&a| crate::tensor::axis(a, rank, node))
                .collect::<Result<_, _>>()?,
            None => (0..rank).collect(),
        };
        if given.len() != 2 * axes.len() {
            return Err(shape_err(
                node,
                format!(
                    "{} pads for {} axes (two per axis)",
                    given.len(),
                    axes.len()
                ),
            ));
        }
        let mut pads = vec![(0, 0); rank];
        for (i, &a) in axes.iter().enumerate() {
            pads[a] = (given[i], given[i + axes.len()]);
        }
        Ok(pads)
    }

    /// The padding value (0 by default).
    fn value(&self, inputs: &[Option<&Tensor>]) -> f64 {
        match inputs.get(2).copied().flatten() {
            Some(c) => c.data.first().copied().unwrap_or(0.0),
            None => self.value,
        }
    }

    fn plan(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Plan, FrontendError> {
        let x = input(node, inputs, 0)?;
        let pads = self.pads(node, x.rank(), inputs)?;
        let mut shape = Vec::with_capacity(x.rank());
        for (&n, &(b, e)) in x.shape.iter().zip(&pads) {
            let len = (n as i64).checked_add(b).and_then(|v| v.checked_add(e));
            match len {
                Some(len) if (0..=1 << 24).contains(&len) => shape.push(len as usize),
                _ => {
                    return Err(shape_err(
                        node,
                        format!("pads ({b}, {e}) of an axis of {n}"),
                    ))
                }
            }
            if n == 0 && self.mode != Mode::Constant && b.max(e) > 0 {
                return Err(shape_err(node, "padding an empty axis needs constant mode"));
            }
        }
        let count: usize = shape.iter().product();
        if count > 1 << 24 {
            return Err(shape_err(node, "the padded tensor is too large"));
        }
        let in_strides = crate::tensor::strides(&x.shape);
        let mut from = Vec::with_capacity(count);
        let mut coord = vec![0usize; shape.len()];
        for _ in 0..count {
            let mut e = Some(0i64);
            for (d, &o) in coord.iter().enumerate() {
                let src = self.mode.source(o as i64 - pads[d].0, x.shape[d] as i64);
                e = e.zip(src).map(|(e, s)| e + s * in_strides[d] as i64);
            }
            from.push(e.map(|e| e as u32));
            for d in (0..shape.len()).rev() {
                coord[d] += 1;
                if coord[d] < shape[d] {
                    break;
                }
                coord[d] = 0;
            }
        }
        Ok(Plan { shape, from })
    }
}

impl OnnxOp for Pad {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let value = self.value(inputs);
        let plan = self.plan(node, inputs)?;
        let data = (plan.from.iter())
            .map(|e| e.map_or(value, |e| x.data[e as usize]))
            .collect();
        Ok(vec![Tensor {
            shape: plan.shape,
            data,
            dtype: x.dtype,
        }])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let n = q.node(node);
        for i in 1..n.inputs.len() {
            if q.input_id(node, i).is_some() && q.const_input(node, i).is_none() {
                return Err(q.err(node, "pads, value and axes must be constant"));
            }
        }
        let mut x = q.act_input(node, 0)?;
        let shape = q.graph.tensors[x.id].shape.clone();
        let consts: Vec<Option<&Tensor>> = (1..4).map(|i| q.const_input(node, i)).collect();
        let placeholder = Tensor::zeros(shape, crate::tensor::DType::Float);
        let mut args = vec![Some(&placeholder)];
        args.extend(consts);
        let plan = self.plan(&n.name, &args)?;
        let mut inputs = vec![x.id];
        let mut map: Vec<(u16, u32)> = Vec::with_capacity(plan.from.len());
        if plan.from.iter().any(Option::is_none) {
            let value = self.value(&args);
            let fits = q.scale_for_max(value.abs());
            if fits < x.scale {
                x = q.rescale_to(node, x, fits)?;
                inputs[0] = x.id;
            }
            let lin = Lin {
                qc: Coef::Const(q.fixed(node, value, x.scale)?),
                ..Lin::default()
            };
            let name = format!("{} (padding value)", n.name);
            let cell = q.emit(
                n.name.clone(),
                NewTensor {
                    name: &name,
                    shape: vec![1],
                    scale: x.scale,
                },
                lin,
                0,
                FnKind::Identity,
            );
            inputs.push(cell.id);
        }
        map.extend(plan.from.iter().map(|e| match e {
            Some(e) => (0, *e),
            None => (1, 0),
        }));
        let out = n.outputs[0];
        let name = q.model.tensors[out].name.clone();
        let id = q.new_tensor(&name, plan.shape, x.scale, TensorKind::Activation);
        q.push(QOp::View(ViewOp {
            name: n.name.clone(),
            inputs,
            output: id,
            map,
        }));
        q.bind(out, crate::quantize::QRef { id, scale: x.scale });
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn pad(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    let mode = match a.string("mode")?.as_deref().unwrap_or("constant") {
        "constant" => Mode::Constant,
        "reflect" => Mode::Reflect,
        "edge" => Mode::Edge,
        "wrap" => Mode::Wrap,
        other => return Err(a.error("mode", format!("unknown Pad mode '{other}'"))),
    };
    Ok(Box::new(Pad {
        mode,
        pads: if opset < 11 { a.ints("pads")? } else { None },
        value: if opset < 11 {
            a.float("value")?.unwrap_or(0.0)
        } else {
            0.0
        },
    }))
}
