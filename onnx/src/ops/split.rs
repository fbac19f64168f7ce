//! Split: consecutive pieces of a tensor along one axis, each a view of the input.

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::QuantCtx;
use crate::tensor::{dim_axis, Tensor};
use crate::FrontendError;
use std::any::Any;

/// Split along `axis` into the sizes of `split` (attribute before opset 13, input from 13), or
/// into `outputs` equal pieces.
#[derive(Debug)]
pub struct Split {
    axis: i64,
    split: Option<Vec<i64>>,
    /// Which output slots are named (an empty name leaves a piece out).
    present: Vec<bool>,
    /// Pieces without sizes: `num_outputs` (opset 18, the last piece may be smaller), or one
    /// per output slot (before 18, equal pieces only).
    outputs: usize,
    uneven: bool,
}

impl Split {
    /// The axis and the size of each piece.
    fn pieces(
        &self,
        node: &str,
        shape: &[usize],
        split_input: Option<&Tensor>,
    ) -> Result<(usize, Vec<usize>), FrontendError> {
        let a = dim_axis(self.axis, shape.len(), node)?;
        let dim = shape[a];
        let given = match (&self.split, split_input) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(t)) => Some(t.ints()),
            (None, None) => None,
        };
        let sizes: Vec<usize> = match given {
            Some(s) => s
                .iter()
                .map(|&v| usize::try_from(v).ok().filter(|&v| v <= dim))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    shape_err(node, format!("split sizes {s:?} for a dimension of {dim}"))
                })?,
            None => {
                let k = self.outputs.max(1);
                if !self.uneven && !dim.is_multiple_of(k) {
                    return Err(shape_err(
                        node,
                        format!("a dimension of {dim} does not split into {k} equal pieces"),
                    ));
                }
                let each = dim.div_ceil(k);
                (0..k)
                    .map(|i| each.min(dim.saturating_sub(i * each)))
                    .collect()
            }
        };
        if sizes.len() != self.present.len() {
            return Err(shape_err(
                node,
                format!(
                    "{} split pieces for {} outputs",
                    sizes.len(),
                    self.present.len()
                ),
            ));
        }
        if sizes.iter().sum::<usize>() != dim {
            return Err(shape_err(
                node,
                format!("split sizes {sizes:?} do not add up to {dim}"),
            ));
        }
        Ok((a, sizes))
    }
}

/// For piece `[start, start + len)` of axis `a` of a tensor of `shape`: its shape and, per
/// element, the input element it is.
fn piece(shape: &[usize], a: usize, start: usize, len: usize) -> (Vec<usize>, Vec<u32>) {
    let outer: usize = shape[..a].iter().product();
    let inner: usize = shape[a + 1..].iter().product();
    let dim = shape[a];
    let mut out = shape.to_vec();
    out[a] = len;
    let idx = (0..outer)
        .flat_map(|o| {
            (start..start + len)
                .flat_map(move |i| (0..inner).map(move |j| ((o * dim + i) * inner + j) as u32))
        })
        .collect();
    (out, idx)
}

impl OnnxOp for Split {
    fn skips_unnamed_outputs(&self) -> bool {
        true
    }

    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let (a, sizes) = self.pieces(node, &x.shape, inputs.get(1).copied().flatten())?;
        let mut start = 0;
        let mut outs = Vec::with_capacity(sizes.len());
        for (len, &named) in sizes.into_iter().zip(&self.present) {
            let (shape, idx) = piece(&x.shape, a, start, len);
            start += len;
            if !named {
                continue;
            }
            let data = idx.iter().map(|&i| x.data[i as usize]).collect();
            outs.push(Tensor {
                shape,
                data,
                dtype: x.dtype,
            });
        }
        Ok(outs)
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        if q.input_id(node, 1).is_some() && q.const_input(node, 1).is_none() {
            return Err(q.err(node, "split sizes must be constant"));
        }
        let x = q.act_input(node, 0)?;
        let n = q.node(node);
        let shape = q.graph.tensors[x.id].shape.clone();
        let (a, sizes) = self.pieces(&n.name, &shape, q.const_input(node, 1))?;
        let mut outs = n.outputs.clone().into_iter();
        let mut start = 0;
        for (len, &named) in sizes.into_iter().zip(&self.present) {
            let (_, idx) = piece(&shape, a, start, len);
            start += len;
            let Some(out) = outs.next().filter(|_| named) else {
                continue;
            };
            let map = idx.into_iter().map(|i| (0, i)).collect();
            q.bind_view(node, vec![x.id], map, x.scale, out);
        }
        Ok(())
    }

    fn reads_integers(&self) -> bool {
        true
    }

    fn parameter_inputs(&self) -> &'static [usize] {
        &[1]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `Split`: `axis` (default 0), `split` an attribute before opset 13 (an input from 13),
/// `num_outputs` from opset 18; without sizes, equal pieces, one per output.
pub fn split(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    let present = a.present_outputs();
    a.input_since("split", opset, 13)?;
    let split = a.ints("split")?;
    let num = a.int("num_outputs")?;
    if let Some(k) = num.filter(|&k| usize::try_from(k).ok() != Some(present.len())) {
        let detail = format!("{k} for a node of {} outputs", present.len());
        return Err(a.error("num_outputs", detail));
    }
    Ok(Box::new(Split {
        axis: a.int("axis")?.unwrap_or(0),
        split,
        outputs: present.len(),
        present,
        uneven: num.is_some(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb;

    /// A Split node of `outputs` (an empty name leaves a piece out) with integer attributes.
    fn split_op(
        opset: i64,
        outputs: &[&str],
        attrs: &[(&str, &[i64])],
    ) -> Result<Box<dyn OnnxOp>, FrontendError> {
        let node = pb::NodeProto {
            op_type: "Split".into(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs
                .iter()
                .map(|(name, v)| pb::AttributeProto {
                    name: name.to_string(),
                    r#type: match *name {
                        "split" => pb::attribute_proto::AttributeType::Ints,
                        _ => pb::attribute_proto::AttributeType::Int,
                    } as i32,
                    ints: v.to_vec(),
                    i: v[0],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        split(&Attrs::new(&node, "s"), opset)
    }

    fn run(op: &dyn OnnxOp, x: &Tensor) -> Result<Vec<Tensor>, String> {
        op.eval("s", &[Some(x)]).map_err(|e| e.to_string())
    }

    #[test]
    fn an_unnamed_output_leaves_its_piece_out() {
        // Outputs ["", "b"] of [0, 1, 2, 3]: b is the second half, not the first.
        let x = Tensor::float(vec![4], vec![0.0, 1.0, 2.0, 3.0]);
        let op = split_op(13, &["", "b"], &[]).unwrap();
        let outs = run(op.as_ref(), &x).unwrap();
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].data, vec![2.0, 3.0]);
    }

    #[test]
    fn malformed_splits_are_refused() {
        let x = Tensor::float(vec![5], vec![0.0; 5]);
        let fail = |op: Result<Box<dyn OnnxOp>, FrontendError>, what: &str| {
            let err = op
                .map_err(|e| e.to_string())
                .and_then(|op| run(op.as_ref(), &x).map(|_| ()));
            let err = err.unwrap_err();
            assert!(err.contains(what), "{err}");
        };
        // Unequal pieces before opset 18, negative and overflowing sizes.
        fail(
            split_op(13, &["a", "b"], &[]),
            "does not split into 2 equal pieces",
        );
        fail(
            split_op(11, &["a", "b"], &[("split", &[-1, 6])]),
            "split sizes [-1, 6]",
        );
        fail(
            split_op(11, &["a", "b", "c"], &[("split", &[i64::MAX, i64::MAX, 6])]),
            "split sizes",
        );
        fail(
            split_op(11, &["a", "b", "c"], &[("split", &[2, 3])]),
            "2 split pieces for 3 outputs",
        );
        // The 'split' attribute at opset 13 (an input there); num_outputs against the outputs.
        fail(
            split_op(13, &["a", "b"], &[("split", &[2, 3])]),
            "an input from it",
        );
        fail(
            split_op(18, &["a", "b"], &[("num_outputs", &[3])]),
            "3 for a node of 2 outputs",
        );
        // A scalar.
        let op = split_op(13, &["a"], &[]).unwrap();
        let err = run(op.as_ref(), &Tensor::float(vec![], vec![1.0])).unwrap_err();
        assert!(err.contains("a scalar has no axis"), "{err}");
        // Opset 18's num_outputs takes a smaller last piece.
        let op = split_op(18, &["a", "b"], &[("num_outputs", &[2])]).unwrap();
        let outs = run(op.as_ref(), &x).unwrap();
        assert_eq!((outs[0].len(), outs[1].len()), (3, 2));
    }
}
