//! Ops evaluated at compile time on constant inputs: the shape subgraphs exporters emit
//! (Shape → Gather → Unsqueeze → Concat → Reshape and similar), which are constants once the
//! batch size is fixed. On computed tensors only Unsqueeze and Squeeze are allowed (as views);
//! the rest are rejected.

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::QuantCtx;
use crate::tensor::{axis, strides, DType, Tensor};
use crate::FrontendError;
use std::any::Any;

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
        };
        Ok(vec![out])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        // Unsqueeze and Squeeze only change the shape: a view of the input.
        if !matches!(self.kind, Kind::Unsqueeze(_) | Kind::Squeeze(_)) {
            let n = q.node(node);
            return Err(q.err(
                node,
                format!(
                    "{} is only supported on constant inputs (shape computations)",
                    n.op_type
                ),
            ));
        }
        let x = q.act_input(node, 0)?;
        let out = q.node(node).outputs[0];
        let n = q.graph.tensors[x.id].len() as u32;
        q.bind_view(
            node,
            vec![x.id],
            (0..n).map(|e| (0, e)).collect(),
            x.scale,
            out,
        );
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
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
    let ax = axis(a, x.rank(), node)?;
    let dim = x.shape[ax] as i64;
    let outer: usize = x.shape[..ax].iter().product();
    let inner: usize = x.shape[ax + 1..].iter().product();
    let mut data = Vec::with_capacity(outer * idx.len() * inner);
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
            let ax: Vec<usize> = a
                .iter()
                .map(|&v| axis(v, x.rank(), node))
                .collect::<Result<_, _>>()?;
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

/// Slice: a contiguous box of the input (steps of 1 only).
fn eval_slice(
    node: &str,
    inputs: &[Option<&Tensor>],
    attr: Option<&SliceAttrs>,
) -> Result<Tensor, FrontendError> {
    let x = input(node, inputs, 0)?;
    let ranges = slice_ranges(node, inputs, attr, &x.shape)?;
    let r = x.rank();
    let shape: Vec<usize> = ranges.iter().map(|&(s, e, _)| (e - s) as usize).collect();
    let (ist, ost) = (strides(&x.shape), strides(&shape));
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|e| {
            let src: usize = (0..r)
                .map(|d| ((e / ost[d]) % shape[d] + ranges[d].0 as usize) * ist[d])
                .sum();
            x.data[src]
        })
        .collect();
    Ok(Tensor {
        shape,
        data,
        dtype: x.dtype,
    })
}

/// The `(start, end, step)` range kept of each dimension of a slice of a tensor of shape
/// `dims`, from the attributes (before opset 10) or the inputs #1..#4.
fn slice_ranges(
    node: &str,
    inputs: &[Option<&Tensor>],
    attr: Option<&SliceAttrs>,
    dims: &[usize],
) -> Result<Vec<(i64, i64, i64)>, FrontendError> {
    let (starts, ends, axes, steps) = match attr {
        Some((s, e, a)) => (s.clone(), e.clone(), a.clone(), None),
        None => (
            ints_input(node, inputs, 1)?.ok_or_else(|| shape_err(node, "Slice needs starts"))?,
            ints_input(node, inputs, 2)?.ok_or_else(|| shape_err(node, "Slice needs ends"))?,
            ints_input(node, inputs, 3)?,
            ints_input(node, inputs, 4)?,
        ),
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&v| axis(v, dims.len(), node))
            .collect::<Result<_, _>>()?,
        None => (0..starts.len()).collect(),
    };
    let mut ranges: Vec<(i64, i64, i64)> = dims.iter().map(|&d| (0, d as i64, 1)).collect();
    for (n, &ax) in axes.iter().enumerate() {
        let dim = dims[ax] as i64;
        let step = steps.as_ref().and_then(|s| s.get(n).copied()).unwrap_or(1);
        if step != 1 {
            return Err(shape_err(
                node,
                "Slice steps other than 1 are not supported",
            ));
        }
        let fix = |v: i64| (if v < 0 { v + dim } else { v }).clamp(0, dim);
        let (s, e) = (
            fix(*starts.get(n).unwrap_or(&0)),
            fix(*ends.get(n).unwrap_or(&dim)),
        );
        ranges[ax] = (s, e.max(s), 1);
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
    let n: usize = shape.iter().product();
    Ok(Tensor {
        shape,
        data: vec![v.data.first().copied().unwrap_or(0.0); n],
        dtype: v.dtype,
    })
}

/// Div: broadcast quotient (truncated for integers); refuses a division by zero.
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
    boxed(Kind::Unsqueeze(if opset < 13 {
        a.ints("axes")?
    } else {
        None
    }))
}

pub fn squeeze(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
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
