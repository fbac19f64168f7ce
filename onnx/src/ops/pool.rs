//! MaxPool, AveragePool, GlobalAveragePool (2-D), and the window geometry they share with Conv.

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{QuantCtx, RealWeightSet};
use crate::tensor::Tensor;
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Geometry, MaxOp, QOp, TensorId, TensorKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AutoPad {
    NotSet,
    Valid,
    SameUpper,
    SameLower,
}

/// Kernel window attributes: strides, dilations, padding, rounding.
#[derive(Clone, Debug)]
pub struct Window {
    kernel: Option<[usize; 2]>,
    /// Strides.
    pub strides: [usize; 2],
    /// Dilations.
    pub dilations: [usize; 2],
    pads: [usize; 4],
    auto_pad: AutoPad,
    ceil_mode: bool,
}

impl Window {
    /// Parses the window attributes of a Conv or pool node.
    pub fn parse(a: &Attrs<'_>, conv: bool) -> Result<Self, FrontendError> {
        let two = |name: &str, dflt: usize| -> Result<[usize; 2], FrontendError> {
            match a.usizes(name, 2)? {
                Some(v) if v.iter().all(|&x| x > 0) => Ok([v[0], v[1]]),
                Some(_) => Err(a.error(name, "values must be positive")),
                None => Ok([dflt, dflt]),
            }
        };
        let kernel = match a.usizes("kernel_shape", 2)? {
            Some(v) if v.iter().all(|&x| x > 0) => Some([v[0], v[1]]),
            Some(_) => return Err(a.error("kernel_shape", "values must be positive")),
            None if conv => None,
            None => return Err(a.error("kernel_shape", "required for pooling (2-D only)")),
        };
        let pads = match a.usizes("pads", 4)? {
            Some(v) => [v[0], v[1], v[2], v[3]],
            None => [0; 4],
        };
        let auto_pad = match a.string("auto_pad")?.as_deref() {
            None | Some("NOTSET") | Some("") => AutoPad::NotSet,
            Some("VALID") => AutoPad::Valid,
            Some("SAME_UPPER") => AutoPad::SameUpper,
            Some("SAME_LOWER") => AutoPad::SameLower,
            Some(other) => return Err(a.error("auto_pad", format!("unknown value '{other}'"))),
        };
        Ok(Window {
            kernel,
            strides: two("strides", 1)?,
            dilations: two("dilations", 1)?,
            pads,
            auto_pad,
            ceil_mode: a.int("ceil_mode")?.unwrap_or(0) != 0,
        })
    }

    /// Output size and `[top, left, bottom, right]` padding for an input of `hw`.
    pub fn resolve(
        &self,
        node: &str,
        hw: [usize; 2],
        kernel: [usize; 2],
    ) -> Result<([usize; 2], [usize; 4]), FrontendError> {
        if let Some(k) = self.kernel {
            if k != kernel {
                return Err(shape_err(
                    node,
                    format!("kernel_shape {k:?} does not match the weights {kernel:?}"),
                ));
            }
        }
        let mut out = [0usize; 2];
        let mut pads = self.pads;
        for d in 0..2 {
            let eff = (kernel[d] - 1) * self.dilations[d] + 1;
            let s = self.strides[d];
            match self.auto_pad {
                AutoPad::NotSet => {
                    let span = (hw[d] + pads[d] + pads[d + 2]) as isize - eff as isize;
                    if span < 0 {
                        return Err(shape_err(
                            node,
                            format!("kernel {kernel:?} is larger than the padded input {hw:?}"),
                        ));
                    }
                    let span = span as usize;
                    let mut o = if self.ceil_mode {
                        span.div_ceil(s) + 1
                    } else {
                        span / s + 1
                    };
                    if self.ceil_mode && (o - 1) * s >= hw[d] + pads[d] {
                        o -= 1;
                    }
                    out[d] = o;
                }
                AutoPad::Valid => {
                    if hw[d] < eff {
                        return Err(shape_err(
                            node,
                            format!("kernel {kernel:?} is larger than the input {hw:?}"),
                        ));
                    }
                    pads[d] = 0;
                    pads[d + 2] = 0;
                    out[d] = (hw[d] - eff) / s + 1;
                }
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let o = hw[d].div_ceil(s);
                    let total = ((o - 1) * s + eff).saturating_sub(hw[d]);
                    let small = total / 2;
                    let (b, e) = if self.auto_pad == AutoPad::SameUpper {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    pads[d] = b;
                    pads[d + 2] = e;
                    out[d] = o;
                }
            }
        }
        if out[0] == 0 || out[1] == 0 {
            return Err(shape_err(node, "empty output"));
        }
        Ok((out, pads))
    }
}

fn check_4d(node: &str, x: &Tensor) -> Result<(), FrontendError> {
    check_4d_shape(node, &x.shape)
}

fn check_4d_shape(node: &str, shape: &[usize]) -> Result<(), FrontendError> {
    if shape.len() != 4 || shape[0] != 1 {
        return Err(shape_err(
            node,
            format!("only 2-D pooling of [1, C, H, W] tensors is supported, got {shape:?}"),
        ));
    }
    Ok(())
}

/// A pool's window on one input: output size, pads `[top, left, bottom, right]`, kernel and
/// strides (each `[h, w]`).
struct PoolGeometry {
    out: [usize; 2],
    pads: [usize; 4],
    kernel: [usize; 2],
    strides: [usize; 2],
}

/// Max pool.
#[derive(Debug)]
pub struct MaxPool {
    window: Window,
}

impl MaxPool {
    fn geometry(&self, node: &str, shape: &[usize]) -> Result<PoolGeometry, FrontendError> {
        let k = self.window.kernel.unwrap_or([1, 1]);
        let (out, pads) = self.window.resolve(node, [shape[2], shape[3]], k)?;
        if pads[0] >= k[0] * self.window.dilations[0] || pads[1] >= k[1] * self.window.dilations[1]
        {
            return Err(shape_err(node, "padding must be smaller than the kernel"));
        }
        Ok(PoolGeometry {
            out,
            pads,
            kernel: k,
            strides: self.window.strides,
        })
    }
}

impl MaxPool {
    /// The op over an input of `shape`, from `input` to `output`.
    fn op(
        &self,
        node: &str,
        shape: &[usize],
        (input, output): (TensorId, TensorId),
    ) -> Result<MaxOp, FrontendError> {
        check_4d_shape(node, shape)?;
        let PoolGeometry {
            out, pads, kernel, ..
        } = self.geometry(node, shape)?;
        Ok(MaxOp {
            name: node.to_string(),
            input,
            output,
            chw: [shape[1], shape[2], shape[3]],
            kernel,
            stride: self.window.strides,
            pad: [pads[0], pads[1]],
            dilation: self.window.dilations,
            out,
            runs: None,
        })
    }
}

/// A MaxPool node's op over an input of `shape` (int8 import: a monotone quantization keeps
/// the maximum, so the integers are compared as they are).
pub(crate) fn max_op(
    a: &Attrs<'_>,
    node: &str,
    shape: &[usize],
    ids: (TensorId, TensorId),
) -> Result<MaxOp, FrontendError> {
    parse_max_pool(a)?.op(node, shape, ids)
}

fn parse_max_pool(a: &Attrs<'_>) -> Result<MaxPool, FrontendError> {
    if a.int("storage_order")?.unwrap_or(0) != 0 {
        return Err(a.error("storage_order", "only row-major (0) is supported"));
    }
    Ok(MaxPool {
        window: Window::parse(a, false)?,
    })
}

impl OnnxOp for MaxPool {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        check_4d(node, x)?;
        let PoolGeometry {
            out,
            pads,
            kernel: k,
            ..
        } = self.geometry(node, &x.shape)?;
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
        let mut y = Vec::with_capacity(c * out[0] * out[1]);
        for ch in 0..c {
            for oh in 0..out[0] {
                for ow in 0..out[1] {
                    let mut best = f64::NEG_INFINITY;
                    for i in 0..k[0] {
                        for j in 0..k[1] {
                            let ih = (oh * self.window.strides[0] + i * self.window.dilations[0])
                                as isize
                                - pads[0] as isize;
                            let iw = (ow * self.window.strides[1] + j * self.window.dilations[1])
                                as isize
                                - pads[1] as isize;
                            if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                                best = best.max(x.data[(ch * h + ih as usize) * w + iw as usize]);
                            }
                        }
                    }
                    y.push(best);
                }
            }
        }
        Ok(vec![Tensor::float(vec![1, c, out[0], out[1]], y)])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let x = q.act_input(node, 0)?;
        let n = q.node(node);
        if n.outputs.len() > 1 {
            return Err(q.err(node, "MaxPool's Indices output is not supported"));
        }
        let shape = q.graph.tensors[x.id].shape.clone();
        let o = n.outputs[0];
        let name = q.model.tensors[o].name.clone();
        let id = q.new_tensor(&name, q.shape(o).to_vec(), x.scale, TensorKind::Activation);
        let op = self.op(&n.name.clone(), &shape, (x.id, id))?;
        q.push(QOp::MaxPool(op));
        q.bind(o, crate::quantize::QRef { id, scale: x.scale });
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Average pool (also global average pool, as a full-size window).
#[derive(Debug)]
pub struct AvgPool {
    window: Option<Window>,
    count_include_pad: bool,
}

impl AvgPool {
    fn geometry(&self, node: &str, shape: &[usize]) -> Result<PoolGeometry, FrontendError> {
        match &self.window {
            None => Ok(PoolGeometry {
                out: [1, 1],
                pads: [0; 4],
                kernel: [shape[2], shape[3]],
                strides: [1, 1],
            }),
            Some(w) => {
                if w.dilations != [1, 1] {
                    return Err(shape_err(node, "AveragePool dilations are not supported"));
                }
                let k = w.kernel.unwrap_or([1, 1]);
                let (out, pads) = w.resolve(node, [shape[2], shape[3]], k)?;
                Ok(PoolGeometry {
                    out,
                    pads,
                    kernel: k,
                    strides: w.strides,
                })
            }
        }
    }
}

impl AvgPool {
    /// The pool as a linear op's geometry over an input of `shape`, with one weight set per
    /// divisor that occurs (border windows may count fewer positions): the divisors, in the
    /// order of the sets.
    fn linear_geometry(
        &self,
        node: &str,
        shape: &[usize],
    ) -> Result<(Geometry, Vec<u32>), FrontendError> {
        check_4d_shape(node, shape)?;
        let PoolGeometry {
            out,
            pads,
            kernel: k,
            strides: s,
        } = self.geometry(node, shape)?;
        let mut geometry = Geometry::AvgPool2d {
            c: shape[1],
            h: shape[2],
            w: shape[3],
            kernel: k,
            stride: s,
            pad: [pads[0], pads[1]],
            pad_end: [pads[2], pads[3]],
            out,
            count_include_pad: self.count_include_pad,
            set_for_count: Vec::new(),
        };
        // Every window is built once here: cap the work (a crafted kernel could ask for 2^40).
        let taps = k[0].checked_mul(k[1]);
        let windows = [shape[1], out[0], out[1]]
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .zip(taps)
            .and_then(|(n, t)| n.checked_mul(t));
        if windows.is_none_or(|n| n > 1 << 26) || taps.is_none_or(|t| t > 1 << 12) {
            return Err(shape_err(
                node,
                format!("an average pool of {k:?} windows over {shape:?} is too large"),
            ));
        }
        let mut counts: Vec<u32> = (0..shape[1] * out[0] * out[1])
            .map(|p| geometry.avg_window(p).1)
            .collect();
        counts.sort_unstable();
        counts.dedup();
        if let Geometry::AvgPool2d { set_for_count, .. } = &mut geometry {
            *set_for_count = counts
                .iter()
                .enumerate()
                .map(|(i, &c)| (c, i as u32))
                .collect();
        }
        Ok((geometry, counts))
    }
}

/// An AveragePool node's linear geometry over an input of `shape` and its divisors (int8
/// import), with whether padded positions count.
pub(crate) fn average_geometry(
    a: &Attrs<'_>,
    node: &str,
    shape: &[usize],
) -> Result<(Geometry, Vec<u32>, bool), FrontendError> {
    let pool = AvgPool {
        window: Some(Window::parse(a, false)?),
        count_include_pad: a.int("count_include_pad")?.unwrap_or(0) != 0,
    };
    let (g, counts) = pool.linear_geometry(node, shape)?;
    Ok((g, counts, pool.count_include_pad))
}

impl OnnxOp for AvgPool {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        check_4d(node, x)?;
        let PoolGeometry {
            out,
            pads,
            kernel: k,
            strides: s,
        } = self.geometry(node, &x.shape)?;
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
        let mut y = Vec::with_capacity(c * out[0] * out[1]);
        for ch in 0..c {
            for oh in 0..out[0] {
                for ow in 0..out[1] {
                    let (mut sum, mut count) = (0.0, 0usize);
                    for i in 0..k[0] {
                        for j in 0..k[1] {
                            let ih = (oh * s[0] + i) as isize - pads[0] as isize;
                            let iw = (ow * s[1] + j) as isize - pads[1] as isize;
                            if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                                sum += x.data[(ch * h + ih as usize) * w + iw as usize];
                                count += 1;
                            } else if self.count_include_pad
                                && ih < (h + pads[2]) as isize
                                && iw < (w + pads[3]) as isize
                                && ih >= -(pads[0] as isize)
                                && iw >= -(pads[1] as isize)
                            {
                                count += 1;
                            }
                        }
                    }
                    y.push(if count > 0 { sum / count as f64 } else { 0.0 });
                }
            }
        }
        Ok(vec![Tensor::float(vec![1, c, out[0], out[1]], y)])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let x = q.act_input(node, 0)?;
        let shape = q.graph.tensors[x.id].shape.clone();
        let (geometry, counts) = self.linear_geometry(&q.node(node).name, &shape)?;
        let kk = geometry.avg_window(0).0.len(); // the kernel's taps
        let o = q.node(node).outputs[0];
        let sets: Vec<RealWeightSet> = counts
            .iter()
            .map(|&c| (vec![1.0 / c.max(1) as f64; kk], vec![0.0]))
            .collect();
        q.linear(node, x, o, &sets, 1, geometry)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn max_pool(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(parse_max_pool(a)?))
}

pub fn average_pool(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(AvgPool {
        window: Some(Window::parse(a, false)?),
        count_include_pad: a.int("count_include_pad")?.unwrap_or(0) != 0,
    }))
}

pub fn global_average_pool(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(AvgPool {
        window: None,
        count_include_pad: false,
    }))
}
