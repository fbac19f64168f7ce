//! Split: consecutive pieces of a tensor along one axis, each a view of the input.

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::QuantCtx;
use crate::tensor::{axis, Tensor};
use crate::FrontendError;
use std::any::Any;

/// Split along `axis` into the sizes of `split` (attribute before opset 13, input from 13), or
/// into `outputs` equal pieces.
#[derive(Debug)]
pub struct Split {
    axis: i64,
    split: Option<Vec<i64>>,
    outputs: usize,
}

impl Split {
    /// The axis and the size of each piece.
    fn pieces(
        &self,
        node: &str,
        shape: &[usize],
        split_input: Option<&Tensor>,
    ) -> Result<(usize, Vec<usize>), FrontendError> {
        let a = axis(self.axis, shape.len(), node)?;
        let dim = shape[a];
        let sizes: Vec<usize> = match (&self.split, split_input) {
            (Some(s), _) => s.iter().map(|&v| v.max(0) as usize).collect(),
            (None, Some(t)) => t.ints().iter().map(|&v| v.max(0) as usize).collect(),
            (None, None) => {
                let k = self.outputs.max(1);
                let each = dim.div_ceil(k);
                (0..k)
                    .map(|i| each.min(dim.saturating_sub(i * each)))
                    .collect()
            }
        };
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
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let (a, sizes) = self.pieces(node, &x.shape, inputs.get(1).copied().flatten())?;
        let mut start = 0;
        let mut outs = Vec::with_capacity(sizes.len());
        for len in sizes {
            let (shape, idx) = piece(&x.shape, a, start, len);
            let data = idx.iter().map(|&i| x.data[i as usize]).collect();
            outs.push(Tensor {
                shape,
                data,
                dtype: x.dtype,
            });
            start += len;
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
        let outs = n.outputs.clone();
        let mut start = 0;
        for (&out, len) in outs.iter().zip(sizes) {
            let (_, idx) = piece(&shape, a, start, len);
            start += len;
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
    let outputs = a.present_outputs().len();
    Ok(Box::new(Split {
        axis: a.int("axis")?.unwrap_or(0),
        split: if opset < 13 { a.ints("split")? } else { None },
        outputs: a.int("num_outputs")?.map_or(outputs, |k| k.max(1) as usize),
    }))
}
