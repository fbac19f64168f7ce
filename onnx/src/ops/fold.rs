//! Ops evaluated at compile time on constant inputs: the shape subgraphs exporters emit
//! (Shape → Gather → Unsqueeze → Concat → Reshape, NonZero → Range-like index lists, …), which
//! are constants once the batch size is fixed. On a computed tensor, the pure re-indexings
//! (Unsqueeze, Squeeze, Slice, Gather at constant indices, Expand, Cast to a float type) become
//! views: the op runs on the element numbers of its input, which says where each output element
//! comes from. Gather of a constant table by computed integer indices is an embedding lookup
//! (`super::embed`); the rest are rejected.

use super::{input, shape_err, OnnxOp};
use crate::onnx::computed_parameter_detail;
use crate::proto::Attrs;
use crate::quantize::{Lin, QuantCtx};
use crate::tensor::{
    axis, broadcast_index, broadcast_shape, checked_len, dim_axis, strides, DType, Tensor,
};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::TensorKind;

/// Slice attributes before opset 10: starts, ends and axes.
type SliceAttrs = (Vec<i64>, Vec<i64>, Option<Vec<i64>>);

#[derive(Debug)]
enum Kind {
    Constant(Tensor),
    Shape { start: i64, end: Option<i64> },
    Gather(i64),
    Unsqueeze(Option<Vec<i64>>),
    Squeeze(Option<Vec<i64>>),
    Cast(DType),
    Slice(Option<SliceAttrs>),
    ConstantOfShape(Tensor),
    NonZero,
    Range,
    Expand,
}

/// A fold-only op.
#[derive(Debug)]
pub struct Fold {
    kind: Kind,
}

fn ints_input(
    _node: &str,
    inputs: &[Option<&Tensor>],
    i: usize,
) -> Result<Option<Vec<i64>>, FrontendError> {
    Ok(inputs.get(i).copied().flatten().map(|t| t.ints()))
}

impl OnnxOp for Fold {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let out = match &self.kind {
            Kind::Constant(t) => t.clone(),
            Kind::Shape { start, end } => eval_shape(node, inputs, *start, *end)?,
            Kind::Gather(a) => eval_gather(node, inputs, *a)?,
            Kind::Unsqueeze(attr) => eval_unsqueeze(node, inputs, attr.as_deref())?,
            Kind::Squeeze(attr) => eval_squeeze(node, inputs, attr.as_deref())?,
            Kind::Cast(to) => eval_cast(node, inputs, *to)?,
            Kind::Slice(attr) => eval_slice(node, inputs, attr.as_ref())?,
            Kind::ConstantOfShape(v) => eval_constant_of_shape(node, inputs, v)?,
            Kind::NonZero => eval_nonzero(node, inputs)?,
            Kind::Range => eval_range(node, inputs)?,
            Kind::Expand => eval_expand(node, inputs)?,
        };
        Ok(vec![out])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        match &self.kind {
            Kind::Gather(a) if q.const_input(node, 0).is_some() => super::embed::lower(q, node, *a),
            Kind::Unsqueeze(_)
            | Kind::Squeeze(_)
            | Kind::Gather(_)
            | Kind::Slice(_)
            | Kind::Expand => self.lower_as_view(q, node),
            // An int32 accumulator (MatMulInteger's) rescaled to the scale calibrated for the
            // float; anything else a view.
            Kind::Cast(DType::Float) => {
                let x = q.act_input(node, 0)?;
                if q.graph.tensors[x.id].kind == TensorKind::Accumulator {
                    let out = q.node(node).outputs[0];
                    return q.finish(node, Lin::of(x), x.scale, out);
                }
                self.lower_as_view(q, node)
            }
            Kind::Cast(_) => Err(q.err(
                node,
                "Cast of a computed tensor to an integer or boolean type is not supported",
            )),
            _ => Err(q.err(
                node,
                format!(
                    "{} is only supported on constant inputs (shape computations)",
                    q.node(node).op_type
                ),
            )),
        }
    }

    fn reads_integers(&self) -> bool {
        true
    }

    fn parameter_inputs(&self) -> &'static [usize] {
        match self.kind {
            Kind::Unsqueeze(_) | Kind::Squeeze(_) | Kind::Expand => &[1],
            Kind::Slice(_) => &[1, 2, 3, 4],
            Kind::Range => &[0, 1, 2],
            Kind::ConstantOfShape(_) => &[0],
            _ => &[],
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Fold {
    /// Lowers a re-indexing of computed input #0 (its other inputs constant) as a view: the op
    /// runs on the element numbers of input #0 and its output lists the element each output
    /// element reads.
    fn lower_as_view(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let x = q.act_input(node, 0)?;
        let n = q.node(node);
        let shape = q.graph.tensors[x.id].shape.clone();
        let len: usize = shape.iter().product();
        let numbers = Tensor::float(shape, (0..len).map(|e| e as f64).collect());
        let mut inputs = vec![Some(&numbers)];
        for i in 1..n.inputs.len() {
            let t = match q.input_id(node, i) {
                None => None,
                Some(t) => Some(q.const_input(node, i).ok_or_else(|| {
                    let tensor = &q.model.tensors[t].name;
                    q.err(node, computed_parameter_detail(i, tensor, &n.op_type))
                })?),
            };
            inputs.push(t);
        }
        let picked = self
            .eval(&n.name, &inputs)?
            .into_iter()
            .next()
            .ok_or_else(|| q.err(node, "no output"))?;
        let map = picked.data.iter().map(|&e| (0u16, e as u32)).collect();
        q.bind_view(node, vec![x.id], map, x.scale, n.outputs[0]);
        Ok(())
    }
}

/// Shape: the dimensions `start..end` of the input (negative bounds count from the end).
fn eval_shape(
    node: &str,
    inputs: &[Option<&Tensor>],
    start: i64,
    end: Option<i64>,
) -> Result<Tensor, FrontendError> {
    let x = input(node, inputs, 0)?;
    let r = x.rank() as i64;
    let clamp = |v: i64| if v < 0 { (v + r).max(0) } else { v.min(r) } as usize;
    let (s, e) = (clamp(start), clamp(end.unwrap_or(r)));
    let dims: Vec<f64> = x.shape[s..e.max(s)].iter().map(|&d| d as f64).collect();
    Ok(Tensor::int(vec![dims.len()], dims))
}

/// Gather: the slices of the input at the indices along axis `a`.
fn eval_gather(node: &str, inputs: &[Option<&Tensor>], a: i64) -> Result<Tensor, FrontendError> {
    let (x, idx) = (input(node, inputs, 0)?, input(node, inputs, 1)?);
    let ax = dim_axis(a, x.rank(), node)?;
    let dim = x.shape[ax] as i64;
    let outer: usize = x.shape[..ax].iter().product();
    let inner: usize = x.shape[ax + 1..].iter().product();
    let len = checked_len(&[outer, idx.len(), inner], node)?;
    let mut data = Vec::with_capacity(len);
    for o in 0..outer {
        for &i in &idx.ints() {
            let i = if i < 0 { i + dim } else { i };
            if i < 0 || i >= dim {
                return Err(shape_err(
                    node,
                    format!("index {i} out of range for axis of size {dim}"),
                ));
            }
            let base = (o * dim as usize + i as usize) * inner;
            data.extend_from_slice(&x.data[base..base + inner]);
        }
    }
    let mut shape = x.shape[..ax].to_vec();
    shape.extend_from_slice(&idx.shape);
    shape.extend_from_slice(&x.shape[ax + 1..]);
    Ok(Tensor {
        shape,
        data,
        dtype: x.dtype,
    })
}

/// Unsqueeze: size-1 dimensions inserted at the axes (attribute, or input #1 from opset 13).
fn eval_unsqueeze(
    node: &str,
    inputs: &[Option<&Tensor>],
    attr: Option<&[i64]>,
) -> Result<Tensor, FrontendError> {
    let x = input(node, inputs, 0)?;
    let axes = match attr {
        Some(a) => a.to_vec(),
        None => {
            ints_input(node, inputs, 1)?.ok_or_else(|| shape_err(node, "Unsqueeze needs axes"))?
        }
    };
    let r = x.rank() + axes.len();
    let mut ax: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, r, node))
        .collect::<Result<_, _>>()?;
    ax.sort_unstable();
    distinct_axes(&ax, node)?;
    let mut shape = x.shape.clone();
    for a in ax {
        shape.insert(a.min(shape.len()), 1);
    }
    Ok(Tensor {
        shape,
        data: x.data.clone(),
        dtype: x.dtype,
    })
}

/// Refuses sorted axes that name one axis twice (ONNX: Squeeze and Unsqueeze axes must be
/// distinct; `[1, -2]` of a rank-3 tensor is such a pair).
fn distinct_axes(sorted: &[usize], node: &str) -> Result<(), FrontendError> {
    match sorted.windows(2).any(|w| w[0] == w[1]) {
        true => Err(shape_err(node, "an axis is repeated")),
        false => Ok(()),
    }
}

/// Squeeze: the size-1 dimensions at the axes (attribute, or input #1 from opset 13) removed,
/// or all of them without axes.
fn eval_squeeze(
    node: &str,
    inputs: &[Option<&Tensor>],
    attr: Option<&[i64]>,
) -> Result<Tensor, FrontendError> {
    let x = input(node, inputs, 0)?;
    let axes = match attr {
        Some(a) => Some(a.to_vec()),
        None => ints_input(node, inputs, 1)?,
    };
    let shape = match axes {
        Some(a) => {
            let mut ax: Vec<usize> = a
                .iter()
                .map(|&v| dim_axis(v, x.rank(), node))
                .collect::<Result<_, _>>()?;
            ax.sort_unstable();
            distinct_axes(&ax, node)?;
            if ax.iter().any(|&i| x.shape[i] != 1) {
                return Err(shape_err(node, "cannot squeeze a dimension that is not 1"));
            }
            x.shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !ax.contains(i))
                .map(|(_, &d)| d)
                .collect()
        }
        None => x.shape.iter().copied().filter(|&d| d != 1).collect(),
    };
    Ok(Tensor {
        shape,
        data: x.data.clone(),
        dtype: x.dtype,
    })
}

/// Cast: the values converted to `to` (integers truncate, booleans are `v != 0`).
fn eval_cast(node: &str, inputs: &[Option<&Tensor>], to: DType) -> Result<Tensor, FrontendError> {
    let x = input(node, inputs, 0)?;
    let data = match to {
        DType::Float => x.data.clone(),
        DType::Int => x.data.iter().map(|v| v.trunc()).collect(),
        DType::Bool => x.data.iter().map(|&v| (v != 0.0) as u8 as f64).collect(),
    };
    Ok(Tensor {
        shape: x.shape.clone(),
        data,
        dtype: to,
    })
}

/// Slice: every `step`-th element of a box of the input, per dimension (a negative step walks
/// the dimension backwards).
fn eval_slice(
    node: &str,
    inputs: &[Option<&Tensor>],
    attr: Option<&SliceAttrs>,
) -> Result<Tensor, FrontendError> {
    let x = input(node, inputs, 0)?;
    let ranges = slice_ranges(node, inputs, attr, &x.shape)?;
    let shape: Vec<usize> = ranges.iter().map(|r| r.count).collect();
    let (ist, ost) = (strides(&x.shape), strides(&shape));
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|e| {
            let src: i64 = ranges
                .iter()
                .enumerate()
                .map(|(d, r)| (r.start + ((e / ost[d]) % shape[d]) as i64 * r.step) * ist[d] as i64)
                .sum();
            x.data[src as usize]
        })
        .collect();
    Ok(Tensor {
        shape,
        data,
        dtype: x.dtype,
    })
}

/// The elements a slice keeps of one dimension: `start, start + step, …`, `count` of them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct SliceRange {
    start: i64,
    count: usize,
    step: i64,
}

impl SliceRange {
    /// ONNX's rule for one axis of size `dim`: negative `start` and `end` count from the end,
    /// then both are clamped to `[0, dim]` for a positive step and to `[0, dim - 1]` and
    /// `[-1, dim - 1]` for a negative one (so `end = INT64_MIN` runs to the first element).
    fn new(start: i64, end: i64, step: i64, dim: i64) -> SliceRange {
        let from_end = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (start, end) = (from_end(start), from_end(end));
        let stride = step.unsigned_abs();
        let (start, count) = if step > 0 {
            let (s, e) = (start.clamp(0, dim), end.clamp(0, dim));
            (
                s,
                if e > s {
                    (e - s - 1) as u64 / stride + 1
                } else {
                    0
                },
            )
        } else {
            let (s, e) = (start.min(dim - 1).max(0), end.min(dim - 1).max(-1));
            (
                s,
                if s > e && dim > 0 {
                    (s - e - 1) as u64 / stride + 1
                } else {
                    0
                },
            )
        };
        SliceRange {
            start,
            count: count as usize,
            step,
        }
    }
}

/// The elements kept of each dimension of a slice of a tensor of shape `dims`, from the
/// attributes (before opset 10) or the inputs #1..#4.
fn slice_ranges(
    node: &str,
    inputs: &[Option<&Tensor>],
    attr: Option<&SliceAttrs>,
    dims: &[usize],
) -> Result<Vec<SliceRange>, FrontendError> {
    let (starts, ends, axes, steps) = match attr {
        Some((s, e, a)) => (s.clone(), e.clone(), a.clone(), None),
        None => (
            ints_input(node, inputs, 1)?.ok_or_else(|| shape_err(node, "Slice needs starts"))?,
            ints_input(node, inputs, 2)?.ok_or_else(|| shape_err(node, "Slice needs ends"))?,
            ints_input(node, inputs, 3)?,
            ints_input(node, inputs, 4)?,
        ),
    };
    if dims.is_empty() {
        return Err(shape_err(node, "a Slice of a scalar (ONNX allows none)"));
    }
    let n = starts.len();
    let lens = [
        Some(ends.len()),
        axes.as_ref().map(Vec::len),
        steps.as_ref().map(Vec::len),
    ];
    if lens.iter().flatten().any(|&l| l != n) {
        return Err(shape_err(
            node,
            "Slice's starts, ends, axes and steps differ in length",
        ));
    }
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&v| axis(v, dims.len(), node))
            .collect::<Result<_, _>>()?,
        None if n <= dims.len() => (0..n).collect(),
        None => {
            return Err(shape_err(
                node,
                format!("{n} Slice starts for a tensor of rank {}", dims.len()),
            ))
        }
    };
    if (1..axes.len()).any(|i| axes[..i].contains(&axes[i])) {
        return Err(shape_err(
            node,
            format!("Slice axes {axes:?} repeat an axis"),
        ));
    }
    let mut ranges: Vec<SliceRange> = dims
        .iter()
        .map(|&d| SliceRange::new(0, d as i64, 1, d as i64))
        .collect();
    for (n, &ax) in axes.iter().enumerate() {
        let dim = dims[ax] as i64;
        let step = steps.as_ref().and_then(|s| s.get(n).copied()).unwrap_or(1);
        if step == 0 {
            return Err(shape_err(node, "a Slice step of 0 (ONNX allows none)"));
        }
        let (start, end) = (*starts.get(n).unwrap_or(&0), *ends.get(n).unwrap_or(&dim));
        ranges[ax] = SliceRange::new(start, end, step, dim);
    }
    Ok(ranges)
}

/// ConstantOfShape: a tensor of the shape given by input #0, filled with `v`'s first value.
fn eval_constant_of_shape(
    node: &str,
    inputs: &[Option<&Tensor>],
    v: &Tensor,
) -> Result<Tensor, FrontendError> {
    let shape: Vec<usize> = input(node, inputs, 0)?
        .ints()
        .iter()
        .map(|&d| d.max(0) as usize)
        .collect();
    let n = crate::tensor::checked_len(&shape, node)?;
    Ok(Tensor {
        shape,
        data: vec![v.data.first().copied().unwrap_or(0.0); n],
        dtype: v.dtype,
    })
}

/// NonZero: the coordinates of the non-zero elements, one row per dimension (`[rank, count]`).
fn eval_nonzero(node: &str, inputs: &[Option<&Tensor>]) -> Result<Tensor, FrontendError> {
    let x = input(node, inputs, 0)?;
    let st = strides(&x.shape);
    let hits: Vec<usize> = (0..x.len()).filter(|&e| x.data[e] != 0.0).collect();
    let mut data = Vec::with_capacity(x.rank() * hits.len());
    for (d, &dim) in x.shape.iter().enumerate() {
        data.extend(hits.iter().map(|&e| ((e / st[d]) % dim) as f64));
    }
    Ok(Tensor::int(vec![x.rank(), hits.len()], data))
}

/// Range: `start, start + delta, …` below `limit` (above it for a negative `delta`).
fn eval_range(node: &str, inputs: &[Option<&Tensor>]) -> Result<Tensor, FrontendError> {
    let scalar = |i| -> Result<(f64, DType), FrontendError> {
        let t = input(node, inputs, i)?;
        let v = t
            .data
            .first()
            .copied()
            .ok_or_else(|| shape_err(node, "empty Range bound"))?;
        Ok((v, t.dtype))
    };
    let ((start, dtype), (limit, _), (delta, _)) = (scalar(0)?, scalar(1)?, scalar(2)?);
    if delta == 0.0 || !delta.is_finite() || !start.is_finite() || !limit.is_finite() {
        return Err(shape_err(
            node,
            "Range needs finite bounds and a non-zero delta",
        ));
    }
    let count = ((limit - start) / delta).ceil().max(0.0);
    if count > (1u64 << 24) as f64 {
        return Err(shape_err(
            node,
            format!("Range of {count} elements is too long"),
        ));
    }
    let data: Vec<f64> = (0..count as usize)
        .map(|i| start + i as f64 * delta)
        .collect();
    Ok(Tensor {
        shape: vec![data.len()],
        data,
        dtype,
    })
}

/// Expand: the input broadcast (numpy rules) against the shape given by input #1.
fn eval_expand(node: &str, inputs: &[Option<&Tensor>]) -> Result<Tensor, FrontendError> {
    let x = input(node, inputs, 0)?;
    let dims: Vec<usize> = input(node, inputs, 1)?
        .ints()
        .iter()
        .map(|&d| d.max(0) as usize)
        .collect();
    let shape = broadcast_shape(&x.shape, &dims, node).map_err(|_| {
        shape_err(
            node,
            format!(
                "cannot expand shape {:?} to {dims:?} (the target shape must be a constant that broadcasts)",
                x.shape
            ),
        )
    })?;
    let data = broadcast_index(&x.shape, &shape)
        .iter()
        .map(|&i| x.data[i as usize])
        .collect();
    Ok(Tensor {
        shape,
        data,
        dtype: x.dtype,
    })
}

/// A boxed fold op.
fn boxed(kind: Kind) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Fold { kind }))
}

pub fn constant(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    if let Some(t) = a.tensor("value")? {
        return boxed(Kind::Constant(t));
    }
    if let Some(f) = a.float("value_float")? {
        return boxed(Kind::Constant(Tensor::float(vec![], vec![f])));
    }
    if let Some(f) = a.floats("value_floats")? {
        return boxed(Kind::Constant(Tensor::float(vec![f.len()], f)));
    }
    if let Some(i) = a.int("value_int")? {
        return boxed(Kind::Constant(Tensor::int(vec![], vec![i as f64])));
    }
    if let Some(i) = a.ints("value_ints")? {
        return boxed(Kind::Constant(Tensor::int(
            vec![i.len()],
            i.iter().map(|&v| v as f64).collect(),
        )));
    }
    Err(a.error(
        "value",
        "Constant needs one of value, value_float(s), value_int(s)",
    ))
}

pub fn shape(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    boxed(Kind::Shape {
        start: a.int("start")?.unwrap_or(0),
        end: a.int("end")?,
    })
}

pub fn gather(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    boxed(Kind::Gather(a.int("axis")?.unwrap_or(0)))
}

pub fn unsqueeze(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    a.input_since("axes", opset, 13)?;
    boxed(Kind::Unsqueeze(if opset < 13 {
        a.ints("axes")?
    } else {
        None
    }))
}

pub fn squeeze(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    a.input_since("axes", opset, 13)?;
    boxed(Kind::Squeeze(if opset < 13 {
        a.ints("axes")?
    } else {
        None
    }))
}

pub fn cast(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    let to = a.int("to")?.ok_or_else(|| a.error("to", "required"))?;
    let dt = match to {
        1 | 10 | 11 | 16 => DType::Float,
        9 => DType::Bool,
        2..=7 | 12 | 13 => DType::Int,
        other => return Err(a.error("to", format!("unsupported target type {other}"))),
    };
    boxed(Kind::Cast(dt))
}

pub fn slice(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    if opset < 10 {
        let s = a
            .ints("starts")?
            .ok_or_else(|| a.error("starts", "required before opset 10"))?;
        let e = a
            .ints("ends")?
            .ok_or_else(|| a.error("ends", "required before opset 10"))?;
        return boxed(Kind::Slice(Some((s, e, a.ints("axes")?))));
    }
    boxed(Kind::Slice(None))
}

pub fn constant_of_shape(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    boxed(Kind::ConstantOfShape(
        a.tensor("value")?
            .unwrap_or_else(|| Tensor::float(vec![1], vec![0.0])),
    ))
}

pub fn nonzero(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    boxed(Kind::NonZero)
}

pub fn range(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    boxed(Kind::Range)
}

pub fn expand(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    boxed(Kind::Expand)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The indices a slice keeps, by walking the dimension: an independent statement of the
    /// rule `SliceRange::new` computes in closed form. ONNX's rule (and ONNX Runtime's) is
    /// numpy's except that, stepping backwards, a start before the first element is clamped
    /// to it (numpy keeps nothing there).
    fn walked(start: i64, end: i64, step: i64, dim: i64) -> Vec<i64> {
        let from_end = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let (mut i, end) = (from_end(start), from_end(end));
        let mut kept = Vec::new();
        if step > 0 {
            i = i.max(0);
            while i < end.min(dim) {
                kept.push(i);
                i = match i.checked_add(step) {
                    Some(next) => next,
                    None => break,
                };
            }
        } else {
            i = i.min(dim - 1).max(0);
            while i > end.max(-1) && i < dim {
                kept.push(i);
                i = match i.checked_add(step) {
                    Some(next) => next,
                    None => break,
                };
            }
        }
        kept
    }

    #[test]
    fn slice_ranges_keep_what_walking_keeps() {
        let ends = [i64::MIN, i64::MIN + 1, -9, -3, -1, 0, 1, 2, 4, 9, i64::MAX];
        let steps = [i64::MIN, -5, -2, -1, 1, 2, 3, i64::MAX];
        for dim in 0..6 {
            for &start in &ends {
                for &end in &ends {
                    for &step in &steps {
                        let r = SliceRange::new(start, end, step, dim);
                        let kept: Vec<i64> =
                            (0..r.count as i64).map(|k| r.start + k * r.step).collect();
                        assert_eq!(
                            kept,
                            walked(start, end, step, dim),
                            "start {start} end {end} step {step} dim {dim}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn slices_with_steps_read_the_right_elements() {
        let x = Tensor::float(vec![2, 5], (0..10).map(f64::from).collect());
        let ints = |v: &[i64]| Tensor::int(vec![v.len()], v.iter().map(|&d| d as f64).collect());
        let (starts, ends, axes, steps) = (
            ints(&[1, 4]),
            ints(&[i64::MIN, 0]),
            ints(&[0, 1]),
            ints(&[-1, -2]),
        );
        let inputs = [
            Some(&x),
            Some(&starts),
            Some(&ends),
            Some(&axes),
            Some(&steps),
        ];
        let y = eval_slice("s", &inputs, None).unwrap();
        assert_eq!(y.shape, vec![2, 2]);
        assert_eq!(y.data, vec![9.0, 7.0, 4.0, 2.0]);
        let zero = ints(&[0, 0]);
        let inputs = [
            Some(&x),
            Some(&starts),
            Some(&ends),
            Some(&axes),
            Some(&zero),
        ];
        assert!(eval_slice("s", &inputs, None).is_err());
    }

    #[test]
    fn malformed_slices_are_refused_not_read_by_default() {
        let x = Tensor::float(vec![2, 6], (0..12).map(f64::from).collect());
        let ints = |v: &[i64]| Tensor::int(vec![v.len()], v.iter().map(|&d| d as f64).collect());
        let slice = |x: &Tensor, parts: [&[i64]; 4]| {
            let [s, e, a, st] = parts.map(|p| (!p.is_empty()).then(|| ints(p)));
            let inputs = [Some(x), s.as_ref(), e.as_ref(), a.as_ref(), st.as_ref()];
            eval_slice("s", &inputs, None).map_err(|e| e.to_string())
        };
        let fail = |x: &Tensor, parts, what: &str| {
            let err = slice(x, parts).unwrap_err();
            assert!(err.contains(what), "{err}");
        };
        // Lengths that differ: ends shorter, steps shorter, axes longer.
        fail(&x, [&[0, 2], &[2], &[], &[]], "differ in length");
        fail(&x, [&[0, 2], &[2, 4], &[0, 1], &[-1]], "differ in length");
        fail(&x, [&[0], &[2], &[0, 1], &[]], "differ in length");
        // A repeated axis, also as a negative one.
        fail(&x, [&[0, 2], &[6, 4], &[1, 1], &[]], "repeat an axis");
        fail(&x, [&[0, 2], &[6, 4], &[1, -1], &[]], "repeat an axis");
        // More starts than axes, without axes; a scalar.
        fail(&x, [&[0, 0, 0], &[1, 1, 1], &[], &[]], "rank 2");
        fail(
            &Tensor::float(vec![], vec![1.0]),
            [&[0], &[1], &[], &[]],
            "scalar",
        );
        // Well-formed: x[:, 2:4].
        let y = slice(&x, [&[2], &[4], &[1], &[]]).unwrap();
        assert_eq!(y.data, vec![2.0, 3.0, 8.0, 9.0]);
    }

    #[test]
    fn repeated_squeeze_and_unsqueeze_axes_are_refused() {
        let x = Tensor::float(vec![2, 1, 3], vec![0.0; 6]);
        // [1, -4] name one axis of Unsqueeze's rank-5 output; it inserted two 1s before.
        let axes = Tensor::int(vec![2], vec![1.0, -4.0]);
        let err = eval_unsqueeze("u", &[Some(&x), Some(&axes)], None).unwrap_err();
        assert!(err.to_string().contains("an axis is repeated"), "{err}");
        let err = eval_squeeze("s", &[Some(&x)], Some(&[1, -2])).unwrap_err();
        assert!(err.to_string().contains("an axis is repeated"), "{err}");
        // Distinct axes still work.
        let ok = eval_unsqueeze("u", &[Some(&x), None], Some(&[0, 4])).unwrap();
        assert_eq!(ok.shape, vec![1, 2, 1, 3, 1]);
        let ok = eval_squeeze("s", &[Some(&x)], Some(&[-2])).unwrap();
        assert_eq!(ok.shape, vec![2, 3]);
    }

    #[test]
    fn scalars_and_axes_attributes_of_later_opsets_are_refused() {
        let scalar = Tensor::float(vec![], vec![1.0]);
        let zero = Tensor::int(vec![], vec![0.0]);
        let err = eval_gather("g", &[Some(&scalar), Some(&zero)], 0).unwrap_err();
        assert!(err.to_string().contains("a scalar has no axis"), "{err}");
        let node = |op: &str| {
            use tract_onnx::pb::attribute_proto::AttributeType;
            let axes = crate::proto::attr("axes", AttributeType::Ints, |a| a.ints = vec![0]);
            crate::proto::node_with(op, vec![axes])
        };
        // Squeeze of a scalar (opset 11, axes an attribute there) panicked.
        let sq = squeeze(&Attrs::new(&node("Squeeze"), "s"), 11).unwrap();
        let err = sq.eval("s", &[Some(&scalar)]).unwrap_err();
        assert!(err.to_string().contains("a scalar has no axis"), "{err}");
        // From opset 13 axes are an input: the attribute was dropped (every 1 squeezed).
        for op in ["Squeeze", "Unsqueeze"] {
            let n = node(op);
            let a = Attrs::new(&n, "s");
            let err = match op {
                "Squeeze" => squeeze(&a, 13),
                _ => unsqueeze(&a, 13),
            }
            .unwrap_err();
            assert!(err.to_string().contains("an input from it"), "{op}: {err}");
        }
    }
}
