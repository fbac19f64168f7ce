//! Views: Flatten, Reshape, Identity, Transpose, Concat. They move elements without arithmetic,
//! so in the circuit their outputs are their inputs' cells.

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QRef, QuantCtx};
use crate::tensor::{axis, checked_len, dim_axis, strides, transpose_index, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, FnKind, QOp, TensorKind, ViewOp};

/// A view's output shape and, per output element, `(input number, element)`.
type ViewPlan = (Vec<usize>, Vec<(u16, u32)>);

#[derive(Debug)]
enum Kind {
    Flatten(i64),
    /// Opset < 5 shape attribute.
    Reshape {
        shape: Option<Vec<i64>>,
        allow_zero: bool,
    },
    Identity,
    Transpose(Option<Vec<i64>>),
    Concat(i64),
}

/// A view op.
#[derive(Debug)]
pub struct View {
    kind: Kind,
}

fn reshape_target(
    node: &str,
    from: &[usize],
    spec: &[i64],
    allow_zero: bool,
) -> Result<Vec<usize>, FrontendError> {
    let n: usize = from.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(
                *from
                    .get(i)
                    .ok_or_else(|| shape_err(node, "0 in shape refers to a missing dimension"))?,
            ),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(shape_err(node, format!("invalid target shape {spec:?}"))),
        }
    }
    if let Some(i) = infer {
        let rest = checked_len(&out, node)?;
        if rest == 0 || !n.is_multiple_of(rest) {
            return Err(shape_err(
                node,
                format!("cannot reshape {from:?} to {spec:?}"),
            ));
        }
        out[i] = n / rest;
    }
    if checked_len(&out, node)? != n {
        return Err(shape_err(
            node,
            format!("cannot reshape {from:?} ({n} elements) to {out:?}"),
        ));
    }
    Ok(out)
}

impl View {
    /// Output shape and, per output element, `(input number, element)`.
    fn plan(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<ViewPlan, FrontendError> {
        let x = input(node, inputs, 0)?;
        let identity = |shape: Vec<usize>| -> ViewPlan {
            let n = x.len() as u32;
            (shape, (0..n).map(|e| (0, e)).collect())
        };
        match &self.kind {
            Kind::Identity => Ok(identity(x.shape.clone())),
            Kind::Flatten(a) => {
                let r = x.rank() as i64;
                let a = if *a < 0 { a + r } else { *a };
                if a < 0 || a > r {
                    return Err(shape_err(
                        node,
                        format!("Flatten axis out of range for rank {r}"),
                    ));
                }
                let outer: usize = x.shape[..a as usize].iter().product();
                Ok(identity(vec![outer, x.len() / outer.max(1)]))
            }
            Kind::Reshape { shape, allow_zero } => {
                let spec = match shape {
                    Some(s) => s.clone(),
                    None => input(node, inputs, 1)?.ints(),
                };
                Ok(identity(reshape_target(
                    node,
                    &x.shape,
                    &spec,
                    *allow_zero,
                )?))
            }
            Kind::Transpose(perm) => {
                let r = x.rank();
                let perm: Vec<usize> = match perm {
                    Some(p) => p
                        .iter()
                        .map(|&a| axis(a, r, node))
                        .collect::<Result<_, _>>()?,
                    None => (0..r).rev().collect(),
                };
                let mut seen = perm.clone();
                seen.sort_unstable();
                if seen != (0..r).collect::<Vec<_>>() {
                    return Err(shape_err(node, format!("invalid permutation {perm:?}")));
                }
                let (shape, idx) = transpose_index(&x.shape, &perm);
                Ok((shape, idx.into_iter().map(|e| (0, e)).collect()))
            }
            Kind::Concat(a) => {
                let parts: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
                let r = parts[0].rank();
                let ax = dim_axis(*a, r, node)?;
                let mut shape = parts[0].shape.clone();
                shape[ax] = 0;
                for p in &parts {
                    if p.rank() != r
                        || p.shape
                            .iter()
                            .enumerate()
                            .any(|(d, &v)| d != ax && v != parts[0].shape[d])
                    {
                        return Err(shape_err(
                            node,
                            "Concat inputs differ outside the concatenation axis",
                        ));
                    }
                    shape[ax] += p.shape[ax];
                }
                let ost = strides(&shape);
                let n: usize = shape.iter().product();
                let mut map = Vec::with_capacity(n);
                for e in 0..n {
                    let coord = (e / ost[ax]) % shape[ax];
                    let (mut which, mut c) = (0usize, coord);
                    while c >= parts[which].shape[ax] {
                        c -= parts[which].shape[ax];
                        which += 1;
                    }
                    let pst = strides(&parts[which].shape);
                    let mut src = 0;
                    for d in 0..r {
                        let v = if d == ax { c } else { (e / ost[d]) % shape[d] };
                        src += v * pst[d];
                    }
                    map.push((which as u16, src as u32));
                }
                Ok((shape, map))
            }
        }
    }
}

impl OnnxOp for View {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (shape, map) = self.plan(node, inputs)?;
        let parts: Vec<&Tensor> = match self.kind {
            Kind::Concat(_) => inputs.iter().flatten().copied().collect(),
            _ => vec![input(node, inputs, 0)?],
        };
        let dtype = parts[0].dtype;
        let data = map
            .iter()
            .map(|&(i, e)| parts[i as usize].data[e as usize])
            .collect();
        Ok(vec![Tensor { shape, data, dtype }])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let n = q.node(node);
        let positions: Vec<usize> = match self.kind {
            Kind::Concat(_) => (0..n.inputs.len())
                .filter(|&i| n.inputs[i].is_some())
                .collect(),
            _ => vec![0],
        };
        // Inputs as quantized activations at one common scale (constants: None).
        let mut refs: Vec<Option<QRef>> = positions
            .iter()
            .map(|&i| {
                if q.const_input(node, i).is_some() {
                    Ok(None)
                } else {
                    q.act_input(node, i).map(Some)
                }
            })
            .collect::<Result<_, _>>()?;
        // The coarsest scale of the computed parts, coarser still where a constant part would
        // not be an activation at it.
        let constants = positions
            .iter()
            .zip(&refs)
            .filter(|(_, r)| r.is_none())
            .filter_map(|(&i, _)| q.const_input(node, i))
            .flat_map(|c| c.data.iter())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let scale = refs
            .iter()
            .flatten()
            .map(|r| r.scale)
            .min()
            .ok_or_else(|| q.err(node, "no computed input"))?
            .min(match constants > 0.0 {
                true => q.scale_for_max(constants),
                false => i32::MAX,
            });
        for r in refs.iter_mut().flatten() {
            *r = q.rescale_to(node, *r, scale)?;
        }
        let mut ids = Vec::with_capacity(refs.len());
        for (r, &i) in refs.iter().zip(&positions) {
            match r {
                Some(r) => ids.push(r.id),
                None => {
                    // A constant part of a Concat: materialize it as range-checked cells.
                    let t = q
                        .input_id(node, i)
                        .ok_or_else(|| q.err(node, "missing input"))?;
                    let c = q
                        .constant(t)
                        .ok_or_else(|| q.err(node, "input is neither computed nor constant"))?;
                    let vals = c
                        .data
                        .iter()
                        .map(|&v| q.fixed(node, v, scale))
                        .collect::<Result<Vec<_>, _>>()?;
                    let lin = Lin {
                        qc: Coef::Each(vals),
                        ..Lin::default()
                    };
                    let name = format!("{} (constant)", q.model.tensors[t].name);
                    let r = q.emit(
                        n.name.clone(),
                        NewTensor {
                            name: &name,
                            shape: c.shape.clone(),
                            scale,
                        },
                        lin,
                        0,
                        FnKind::Identity,
                    );
                    ids.push(r.id);
                }
            }
        }
        let placeholders: Vec<Tensor> = ids
            .iter()
            .map(|&id| {
                Tensor::zeros(
                    q.graph.tensors[id].shape.clone(),
                    crate::tensor::DType::Float,
                )
            })
            .collect();
        let mut args: Vec<Option<&Tensor>> = placeholders.iter().map(Some).collect();
        let shape_input;
        if let Kind::Reshape { shape: None, .. } = self.kind {
            shape_input = q
                .const_input(node, 1)
                .ok_or_else(|| q.err(node, "Reshape target shape must be constant"))?;
            args.push(Some(shape_input));
        }
        let (shape, map) = self.plan(&n.name, &args)?;
        let out = n.outputs[0];
        let name = q.model.tensors[out].name.clone();
        let id = q.new_tensor(&name, shape, scale, TensorKind::Activation);
        q.push(QOp::View(ViewOp {
            name: n.name.clone(),
            inputs: ids,
            output: id,
            map,
        }));
        q.bind(out, QRef { id, scale });
        Ok(())
    }

    fn reads_integers(&self) -> bool {
        true
    }

    fn parameter_inputs(&self) -> &'static [usize] {
        match self.kind {
            Kind::Reshape { .. } => &[1],
            _ => &[],
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn flatten(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(View {
        kind: Kind::Flatten(a.int("axis")?.unwrap_or(1)),
    }))
}

pub fn reshape(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    let shape = if opset < 5 {
        Some(
            a.ints("shape")?
                .ok_or_else(|| a.error("shape", "required before opset 5"))?,
        )
    } else {
        None
    };
    Ok(Box::new(View {
        kind: Kind::Reshape {
            shape,
            allow_zero: a.int("allowzero")?.unwrap_or(0) != 0,
        },
    }))
}

pub fn identity(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(View {
        kind: Kind::Identity,
    }))
}

pub fn transpose(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(View {
        kind: Kind::Transpose(a.ints("perm")?),
    }))
}

pub fn concat(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(View {
        kind: Kind::Concat(a.int("axis")?.ok_or_else(|| a.error("axis", "required"))?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb;

    #[test]
    fn target_shapes_whose_size_overflows_are_refused() {
        // 4323 · 8534232742868171 wraps to 1 modulo 2^64; -1 beside 2^32 · 2^32 overflows.
        for spec in [
            vec![4323, 8_534_232_742_868_171],
            vec![-1, 1 << 32, 1 << 32],
        ] {
            let err = reshape_target("r", &[1], &spec, false)
                .unwrap_err()
                .to_string();
            assert!(err.contains("more than 2^26 elements"), "{spec:?}: {err}");
        }
        assert_eq!(reshape_target("r", &[2, 3], &[-1], false).unwrap(), vec![6]);
    }

    #[test]
    fn a_concat_of_scalars_is_refused() {
        let node = pb::NodeProto {
            op_type: "Concat".into(),
            attribute: vec![pb::AttributeProto {
                name: "axis".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: 0,
                ..Default::default()
            }],
            ..Default::default()
        };
        let op = concat(&Attrs::new(&node, "c"), 13).unwrap();
        let s = Tensor::float(vec![], vec![1.0]);
        let err = op.eval("c", &[Some(&s), Some(&s)]).unwrap_err();
        assert!(err.to_string().contains("a scalar has no axis"), "{err}");
    }
}
