//! MaxPool, AveragePool, GlobalAveragePool (1-D and 2-D), and the window geometry they share
//! with Conv.

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

/// Kernel window attributes: strides, dilations, padding, rounding. A 1-D window (attributes
/// of one value, pads of two) is the 2-D window of height 1 over `[N, C, 1, L]`.
#[derive(Clone, Debug)]
pub struct Window {
    /// 1 or 2 where an attribute says which; `None` where none does (every default).
    spatial: Option<usize>,
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
        let mut spatial = None;
        // An attribute of `per` values per spatial dimension, 1-D or 2-D (all alike).
        let mut dims = |name: &str, per: usize| -> Result<Option<Vec<usize>>, FrontendError> {
            let Some(v) = a.ints(name)? else {
                return Ok(None);
            };
            let d = match v.len() / per {
                d @ (1 | 2) if v.len() % per == 0 => d,
                _ => {
                    return Err(a.error(
                        name,
                        format!(
                            "expected {} or {} values (1-D or 2-D), got {v:?}",
                            per,
                            2 * per
                        ),
                    ))
                }
            };
            if *spatial.get_or_insert(d) != d {
                return Err(a.error(name, "mixes 1-D and 2-D window attributes"));
            }
            let v = a.usizes(name, v.len())?.unwrap_or_default();
            // 1-D: height 1, no padding above or below.
            Ok(Some(match (d, per) {
                (1, 1) => vec![1, v[0]],
                (1, _) => vec![0, v[0], 0, v[1]],
                _ => v,
            }))
        };
        let positive = |name: &str, v: Option<Vec<usize>>, dflt: usize| match v {
            Some(v) if v.iter().all(|&x| x > 0) => Ok([v[0], v[1]]),
            Some(_) => Err(a.error(name, "values must be positive")),
            None => Ok([dflt, dflt]),
        };
        let kernel = match dims("kernel_shape", 1)? {
            Some(v) => Some(positive("kernel_shape", Some(v), 1)?),
            None if conv => None,
            None => return Err(a.error("kernel_shape", "required for pooling")),
        };
        let strides = positive("strides", dims("strides", 1)?, 1)?;
        let dilations = positive("dilations", dims("dilations", 1)?, 1)?;
        let pads = match dims("pads", 2)? {
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
            spatial,
            kernel,
            strides,
            dilations,
            pads,
            auto_pad,
            ceil_mode: a.int("ceil_mode")?.unwrap_or(0) != 0,
        })
    }

    /// The window of no attributes (either rank), for global pools' shapes.
    fn parse_none() -> Self {
        Window {
            spatial: None,
            kernel: None,
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
            auto_pad: AutoPad::NotSet,
            ceil_mode: false,
        }
    }

    /// `shape` (`[N, C, L]` or `[N, C, H, W]`) as the 2-D window sees it, `[N, C, 1, L]` for a
    /// 1-D one; an error where the window's attributes are of the other rank.
    pub fn plane(&self, node: &str, shape: &[usize]) -> Result<Vec<usize>, FrontendError> {
        match (shape, self.spatial) {
            (&[n, c, l], None | Some(1)) => Ok(vec![n, c, 1, l]),
            ([_, _, _, _], None | Some(2)) => Ok(shape.to_vec()),
            _ => Err(shape_err(
                node,
                format!(
                    "a {}window over a tensor of shape {shape:?} (1-D windows take [N, C, L], 2-D ones [N, C, H, W])",
                    match self.spatial {
                        Some(d) => format!("{d}-D "),
                        None => String::new(),
                    }
                ),
            )),
        }
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

/// A pool's input `shape` as `[1, C, H, W]` (`[1, C, 1, L]` for a 1-D pool); `window` is
/// `None` for a global pool, which takes either rank.
fn pool_plane(
    node: &str,
    window: Option<&Window>,
    shape: &[usize],
) -> Result<Vec<usize>, FrontendError> {
    let plane = match window {
        Some(w) => w.plane(node, shape)?,
        None => Window::parse_none().plane(node, shape)?,
    };
    match plane[0] {
        1 => Ok(plane),
        _ => Err(shape_err(
            node,
            format!(
                "only pooling of [1, C, L] and [1, C, H, W] tensors is supported, got {shape:?}"
            ),
        )),
    }
}

/// Refuses a pool's padding as wide as its (dilated) kernel on either side: a window could then
/// lie wholly in the padding (ONNX Runtime refuses such pads too).
fn pads_within_kernel(
    node: &str,
    pads: [usize; 4],
    k: [usize; 2],
    dilations: [usize; 2],
) -> Result<(), FrontendError> {
    let span = |d: usize| (k[d] - 1) * dilations[d] + 1;
    match (0..4).all(|i| pads[i] < span(i % 2)) {
        true => Ok(()),
        false => Err(shape_err(node, "padding must be smaller than the kernel")),
    }
}

/// A pool's output shape: `[1, C, L']` for a 1-D input (rank 3), else `[1, C, H', W']`.
fn pooled_shape(rank: usize, c: usize, out: [usize; 2]) -> Vec<usize> {
    match rank {
        3 => vec![1, c, out[1]],
        _ => vec![1, c, out[0], out[1]],
    }
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
        pads_within_kernel(node, pads, k, self.window.dilations)?;
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
        let shape = &pool_plane(node, Some(&self.window), shape)?;
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
        let shape = pool_plane(node, Some(&self.window), &x.shape)?;
        let PoolGeometry {
            out,
            pads,
            kernel: k,
            ..
        } = self.geometry(node, &shape)?;
        let (c, h, w) = (shape[1], shape[2], shape[3]);
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
        Ok(vec![Tensor::float(pooled_shape(x.rank(), c, out), y)])
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
                pads_within_kernel(node, pads, k, w.dilations)?;
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
        let shape = &pool_plane(node, self.window.as_ref(), shape)?;
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
        let shape = pool_plane(node, self.window.as_ref(), &x.shape)?;
        let PoolGeometry {
            out,
            pads,
            kernel: k,
            strides: s,
        } = self.geometry(node, &shape)?;
        let (c, h, w) = (shape[1], shape[2], shape[3]);
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
        Ok(vec![Tensor::float(pooled_shape(x.rank(), c, out), y)])
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

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb;

    fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::Ints as i32,
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    fn window(attrs: Vec<pb::AttributeProto>) -> Result<Window, FrontendError> {
        let node = pb::NodeProto {
            op_type: "MaxPool".into(),
            attribute: attrs,
            ..Default::default()
        };
        Window::parse(&Attrs::new(&node, "p"), false)
    }

    #[test]
    fn one_dimensional_windows_are_two_dimensional_of_height_one() {
        let w = window(vec![
            ints("kernel_shape", &[3]),
            ints("strides", &[2]),
            ints("pads", &[1, 2]),
        ])
        .unwrap();
        assert_eq!(w.kernel, Some([1, 3]));
        assert_eq!(w.strides, [1, 2]);
        assert_eq!(w.pads, [0, 1, 0, 2]);
        assert_eq!(w.plane("p", &[1, 4, 10]).unwrap(), vec![1, 4, 1, 10]);
        // Of the other rank: refused, not read as a window of height 1.
        let e = w.plane("p", &[1, 4, 10, 10]).unwrap_err().to_string();
        assert!(
            e.contains("a 1-D window over a tensor of shape [1, 4, 10, 10]"),
            "{e}"
        );
        let two = window(vec![ints("kernel_shape", &[3, 3])]).unwrap();
        assert!(two.plane("p", &[1, 4, 10]).is_err());
        assert_eq!(two.plane("p", &[1, 4, 5, 6]).unwrap(), vec![1, 4, 5, 6]);
    }

    #[test]
    fn window_attributes_of_mixed_or_other_ranks_are_refused() {
        let mixed = window(vec![ints("kernel_shape", &[3]), ints("strides", &[1, 1])]);
        assert!(mixed.unwrap_err().to_string().contains("mixes 1-D and 2-D"));
        let three = window(vec![ints("kernel_shape", &[2, 2, 2])]);
        assert!(three
            .unwrap_err()
            .to_string()
            .contains("expected 1 or 2 values (1-D or 2-D), got [2, 2, 2]"));
        let odd_pads = window(vec![ints("kernel_shape", &[3]), ints("pads", &[1, 1, 1])]);
        assert!(odd_pads.is_err());
        let negative = window(vec![ints("kernel_shape", &[-3])]);
        assert!(negative.is_err());
    }

    #[test]
    fn pads_as_wide_as_the_kernel_are_refused_on_either_side() {
        let node = |op: &str, attrs: Vec<pb::AttributeProto>| pb::NodeProto {
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        };
        let x = Tensor::float(vec![1, 1, 4], vec![1.0, 2.0, 3.0, 4.0]);
        for op in ["AveragePool", "MaxPool"] {
            let eval = |pads: &[i64]| {
                let n = node(op, vec![ints("kernel_shape", &[2]), ints("pads", pads)]);
                let a = Attrs::new(&n, "p");
                let pool = match op {
                    "MaxPool" => max_pool(&a, 13),
                    _ => average_pool(&a, 13),
                }
                .unwrap();
                pool.eval("p", &[Some(&x)]).map_err(|e| e.to_string())
            };
            // The last window of [0, 3] end pads lies wholly in the padding: refused (an
            // AveragePool gave 0 there).
            for pads in [[0, 3], [0, 2], [2, 0]] {
                let err = eval(&pads).unwrap_err();
                assert!(
                    err.contains("smaller than the kernel"),
                    "{op} {pads:?}: {err}"
                );
            }
            assert_eq!(eval(&[1, 1]).unwrap()[0].shape, vec![1, 1, 5], "{op}");
        }
    }
}
