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
        if x.rank() == 0 {
            return Err(shape_err(node, "Pad of a scalar"));
        }
        let pads = self.pads(node, x.rank(), inputs)?;
        let spans = (x.shape.iter().zip(&pads))
            .map(|(&n, &pad)| self.mode.span(node, n, pad))
            .collect::<Result<Vec<_>, _>>()?;
        let shape: Vec<usize> = spans.iter().map(Span::len).collect();
        let count = crate::tensor::checked_len(&shape, node)?;
        let in_strides = crate::tensor::strides(&x.shape);
        let mut from = Vec::with_capacity(count);
        let mut coord = vec![0usize; shape.len()];
        for _ in 0..count {
            let mut e = Some(0usize);
            for (d, &o) in coord.iter().enumerate() {
                let src = spans[d].source(self.mode, o);
                e = e.zip(src).map(|(e, s)| e + s * in_strides[d]);
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

/// One axis: the input elements kept after cropping, `[base, base + kept)`, and the padding
/// before and after them. ONNX crops first (negative pads), then pads what is left.
struct Span {
    base: usize,
    kept: usize,
    before: usize,
    after: usize,
}

impl Span {
    fn len(&self) -> usize {
        self.before + self.kept + self.after
    }

    /// The input coordinate of output coordinate `o` (`None`: the padding value).
    fn source(&self, mode: Mode, o: usize) -> Option<usize> {
        let src = o as i64 - self.before as i64;
        let s = mode.source(src, self.kept as i64)?;
        Some(self.base + s as usize)
    }
}

impl Mode {
    /// An axis of `n` padded by `(begin, end)`, or why it cannot be.
    fn span(self, node: &str, n: usize, (b, e): (i64, i64)) -> Result<Span, FrontendError> {
        let bad = |why: &str| shape_err(node, format!("pads ({b}, {e}) of an axis of {n}: {why}"));
        let crop = |p: i64| usize::try_from(p.checked_neg().unwrap_or(i64::MAX).max(0)).ok();
        let pad = |p: i64| usize::try_from(p.max(0)).ok();
        let (Some(cb), Some(ce), Some(before), Some(after)) = (crop(b), crop(e), pad(b), pad(e))
        else {
            return Err(bad("out of range"));
        };
        let kept = n
            .checked_sub(cb)
            .and_then(|k| k.checked_sub(ce))
            .ok_or_else(|| bad("they crop more than the axis"))?;
        let span = Span {
            base: cb,
            kept,
            before,
            after,
        };
        if before.max(after) > 1 << 24 || span.len() > 1 << 24 {
            return Err(bad("too large"));
        }
        let padded = before.max(after) > 0;
        match self {
            Mode::Constant => Ok(span),
            _ if padded && kept == 0 => Err(bad("padding an empty axis needs constant mode")),
            Mode::Reflect if padded && before.max(after) >= kept => Err(bad(
                "reflect pads must be smaller than the axis they reflect",
            )),
            _ => Ok(span),
        }
    }

    /// The coordinate in an axis of `n > 0` kept elements of position `src` (negative before
    /// them, `n` or more after them); `None`: the padding value.
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
            // Coarsen the input only when the value is not an activation at its scale.
            let half = (1i64 << (q.bits - 1)) as f64;
            let fits = q.scale_for_max(value.abs());
            if (value * f64::from(x.scale).exp2()).abs() > half - 1.0 && fits < x.scale {
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

    fn parameter_inputs(&self) -> &'static [usize] {
        &[1, 2, 3]
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
        "wrap" if opset >= 19 => Mode::Wrap,
        "wrap" => {
            let why = format!("Pad mode 'wrap' is opset 19 or later (this model is opset {opset})");
            return Err(a.error("mode", why));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{attr, node_with};
    use tract_onnx::pb::attribute_proto::AttributeType;

    #[test]
    fn wrap_before_opset_19_is_refused() {
        let mode = attr("mode", AttributeType::String, |a| a.s = b"wrap".to_vec());
        let node = node_with("Pad", vec![mode]);
        let a = Attrs::new(&node, "p");
        let err = pad(&a, 18).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("opset 19 or later"), "{err}");
        assert!(pad(&a, 19).is_ok());
    }

    fn padded(mode: Mode, x: &[f64], pads: &[i64]) -> Result<Vec<f64>, FrontendError> {
        let pad = Pad {
            mode,
            pads: Some(pads.to_vec()),
            value: -1.0,
        };
        let t = Tensor::float(vec![x.len()], x.to_vec());
        Ok(pad.eval("pad", &[Some(&t)])?.remove(0).data)
    }

    /// ONNX crops first (negative pads), then pads what is left, in every mode.
    #[test]
    fn pads_follow_onnx_on_each_mode_and_crop_first() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let run = |mode, pads: &[i64]| padded(mode, &x, pads).unwrap();
        assert_eq!(
            run(Mode::Constant, &[1, 2]),
            [-1.0, 1.0, 2.0, 3.0, 4.0, -1.0, -1.0]
        );
        assert_eq!(
            run(Mode::Edge, &[2, 1]),
            [1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
        );
        assert_eq!(
            run(Mode::Reflect, &[2, 2]),
            [3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]
        );
        assert_eq!(
            run(Mode::Wrap, &[1, 5]),
            [4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0]
        );
        assert_eq!(run(Mode::Constant, &[-1, -2]), [2.0]);
        assert_eq!(run(Mode::Wrap, &[-1, 1]), [2.0, 3.0, 4.0, 2.0]);
        assert_eq!(run(Mode::Edge, &[1, -3]), [1.0, 1.0]);
        assert_eq!(run(Mode::Reflect, &[-1, 2]), [2.0, 3.0, 4.0, 3.0, 2.0]);
    }

    #[test]
    fn impossible_pads_are_one_line_errors() {
        let x = [1.0, 2.0, 3.0, 4.0];
        for (mode, pads) in [
            (Mode::Reflect, vec![-1, 3]),
            (Mode::Edge, vec![-4, 1]),
            (Mode::Constant, vec![-3, -2]),
            (Mode::Constant, vec![i64::MIN, i64::MAX]),
            (Mode::Constant, vec![1 << 40, 0]),
            (Mode::Constant, vec![1]),
        ] {
            let err = padded(mode, &x, &pads).unwrap_err().to_string();
            assert!(
                err.contains("pad") && !err.contains('\n'),
                "{pads:?}: {err}"
            );
        }
        assert_eq!(padded(Mode::Edge, &x, &[0, -4]).unwrap(), Vec::<f64>::new());
        let scalar = Tensor::float(vec![], vec![1.0]);
        let pad = Pad {
            mode: Mode::Constant,
            pads: Some(vec![]),
            value: 0.0,
        };
        assert!(pad.eval("pad", &[Some(&scalar)]).is_err());
    }
}
