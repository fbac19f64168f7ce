//! Conv (1-D and 2-D, any stride/padding/dilation, grouped or depthwise; 1-D as 2-D of height
//! 1): one linear group per output
//! position and channel group (im2col), weights `M/G × (C/G·kh·kw)` per group. A
//! BatchNormalization reading only this Conv is folded into its weights.

use super::pool::Window;
use super::{input, shape_err, BatchNorm, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::QuantCtx;
use crate::tensor::Tensor;
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::Geometry;

/// 1-D or 2-D convolution.
#[derive(Debug)]
pub struct Conv {
    window: Window,
    group: i64,
}

/// Refuses a convolution's input with a batch of more than one (its other samples would be
/// left out, as the pools refuse them).
pub(crate) fn batch_of_one(node: &str, x: &[usize]) -> Result<(), FrontendError> {
    match x.first() {
        Some(1) => Ok(()),
        _ => Err(shape_err(
            node,
            format!("only a batch of 1 is supported, got an input of shape {x:?}"),
        )),
    }
}

impl Conv {
    /// The input and weight shapes as 2-D ones (`[N, C, 1, L]` and `[M, C/G, 1, K]` for a 1-D
    /// convolution).
    fn planes(
        &self,
        node: &str,
        x: &[usize],
        w: &[usize],
    ) -> Result<(Vec<usize>, Vec<usize>), FrontendError> {
        if x.len() != w.len() || !(3..=4).contains(&x.len()) {
            return Err(shape_err(node, format!("only 1-D and 2-D convolutions (3-D and 4-D tensors) are supported, got input {x:?}, weight {w:?}")));
        }
        Ok((self.window.plane(node, x)?, self.window.plane(node, w)?))
    }

    /// Output size and pads of the convolution of 2-D shapes (from [`Self::planes`]).
    fn dims(
        &self,
        node: &str,
        x: &[usize],
        w: &[usize],
    ) -> Result<([usize; 2], [usize; 4]), FrontendError> {
        let g = usize::try_from(self.group).unwrap_or(0);
        if g == 0 || !w[0].is_multiple_of(g) || w[1] * g != x[1] {
            return Err(shape_err(
                node,
                format!(
                    "weight {w:?} in {} group(s) does not fit an input of {} channels",
                    self.group, x[1]
                ),
            ));
        }
        batch_of_one(node, x)?;
        let kernel = [w[2], w[3]];
        self.window.resolve(node, [x[2], x[3]], kernel)
    }
}

impl Conv {
    /// The linear map's geometry for input shape `xs` and weight shape `ws`, and the groups.
    pub(super) fn geometry(
        &self,
        node: &str,
        xs: &[usize],
        ws: &[usize],
    ) -> Result<(Geometry, usize), FrontendError> {
        let (xs, ws) = &self.planes(node, xs, ws)?;
        let (out, pads) = self.dims(node, xs, ws)?;
        let groups = usize::try_from(self.group).unwrap_or(1);
        let geometry = Geometry::Conv2d {
            c: xs[1],
            h: xs[2],
            w: xs[3],
            kernel: [ws[2], ws[3]],
            stride: self.window.strides,
            pad: [pads[0], pads[1]],
            dilation: self.window.dilations,
            out,
            groups,
        };
        Ok((geometry, groups))
    }
}

impl OnnxOp for Conv {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (x, w) = (input(node, inputs, 0)?, input(node, inputs, 1)?);
        let (xs, ws) = self.planes(node, &x.shape, &w.shape)?;
        let (out, pads) = self.dims(node, &xs, &ws)?;
        let (c, h, wd) = (xs[1], xs[2], xs[3]);
        let (m, kh, kw) = (ws[0], ws[2], ws[3]);
        let bias = inputs.get(2).copied().flatten();
        if bias.is_some_and(|b| b.len() != m) {
            return Err(shape_err(node, "bias length differs from output channels"));
        }
        let [sh, sw] = self.window.strides;
        let [dh, dw] = self.window.dilations;
        // Output channel `oc` reads the `cg` input channels of its group.
        let cg = ws[1];
        let per = m / (c / cg.max(1)).max(1);
        let mut y = vec![0.0; m * out[0] * out[1]];
        for oc in 0..m {
            let first = (oc / per.max(1)) * cg;
            for oh in 0..out[0] {
                for ow in 0..out[1] {
                    let mut acc = bias.map(|b| b.data[oc]).unwrap_or(0.0);
                    for t in 0..cg {
                        let ic = first + t;
                        for i in 0..kh {
                            for j in 0..kw {
                                let ih = (oh * sh + i * dh) as isize - pads[0] as isize;
                                let iw = (ow * sw + j * dw) as isize - pads[1] as isize;
                                if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < wd {
                                    acc += w.data[((oc * cg + t) * kh + i) * kw + j]
                                        * x.data[(ic * h + ih as usize) * wd + iw as usize];
                                }
                            }
                        }
                    }
                    y[(oc * out[0] + oh) * out[1] + ow] = acc;
                }
            }
        }
        let shape = match x.rank() {
            3 => vec![1, m, out[1]],
            _ => vec![1, m, out[0], out[1]],
        };
        Ok(vec![Tensor::float(shape, y)])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let x = q.act_input(node, 0)?;
        let w = q
            .const_input(node, 1)
            .ok_or_else(|| q.err(node, "Conv weights must be constant"))?;
        if q.input_id(node, 2).is_some() && q.const_input(node, 2).is_none() {
            return Err(q.err(node, "Conv bias must be constant"));
        }
        let xs = q.shape(q.input_id(node, 0).unwrap_or(0)).to_vec();
        let (geometry, g) = self.geometry(&q.node(node).name, &xs, &w.shape)?;
        let (m, k) = (w.shape[0], w.shape[1..].iter().product::<usize>());
        let mut wr = w.data.clone();
        let mut br = q
            .const_input(node, 2)
            .map(|b| b.data.clone())
            .unwrap_or_else(|| vec![0.0; m]);
        let mut out = q.node(node).outputs[0];
        // Fold a following BatchNormalization.
        if let Some(c) = q.sole_consumer(out) {
            if let Some(bn) = q.node(c).op.as_any().downcast_ref::<BatchNorm>() {
                let (a, b) = bn.node_affine(q, c)?;
                if a.len() == m {
                    for oc in 0..m {
                        wr[oc * k..(oc + 1) * k]
                            .iter_mut()
                            .for_each(|v| *v *= a[oc]);
                        br[oc] = br[oc] * a[oc] + b[oc];
                    }
                    q.mark_done(c);
                    out = q.node(c).outputs[0];
                }
            }
        }
        // One weight set per channel group.
        let per = m / g;
        let sets: Vec<_> = (0..g)
            .map(|i| {
                let rows = i * per..(i + 1) * per;
                (wr[rows.start * k..rows.end * k].to_vec(), br[rows].to_vec())
            })
            .collect();
        q.linear(node, x, out, &sets, per, geometry)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Conv {
    /// A Conv's (or ConvInteger's) attributes.
    pub(super) fn parse(a: &Attrs<'_>, _: i64) -> Result<Self, FrontendError> {
        Ok(Conv {
            window: Window::parse(a, true)?,
            group: a.int("group")?.unwrap_or(1),
        })
    }
}

pub fn conv(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Conv::parse(a, opset)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb;

    #[test]
    fn a_batch_of_more_than_one_is_refused() {
        let node = pb::NodeProto {
            op_type: "Conv".into(),
            ..Default::default()
        };
        let op = conv(&Attrs::new(&node, "c"), 13).unwrap();
        let w = Tensor::float(vec![4, 3, 3], vec![0.5; 36]);
        let run = |n: usize| {
            let x = Tensor::float(vec![n, 3, 8], vec![1.0; n * 24]);
            op.eval("c", &[Some(&x), Some(&w)])
                .map_err(|e| e.to_string())
        };
        // Its second sample was left out: [1, 4, 6] for an input of two.
        let err = run(2).unwrap_err();
        assert!(err.contains("only a batch of 1"), "{err}");
        assert_eq!(run(1).unwrap()[0].shape, vec![1, 4, 6]);
    }
}
