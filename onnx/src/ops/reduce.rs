//! ReduceMean, ReduceSum and ReduceMax over constant axes, the reduced axes first moved last
//! by a view when they are not the trailing ones: constant-weight linear maps over the reduced
//! elements (weights `1/n` for a mean, ones for a sum), or the maximum of each row of them
//! (the max chip: a running maximum that is one of the row's elements). A ReduceMean that
//! starts the decomposed layer normalisation (ReduceMean, Sub, Pow 2, ReduceMean, Add ε, Sqrt,
//! Div, then optionally Mul γ and Add β) is lowered as one LayerNorm (see `layernorm.rs`).

use super::layernorm::Decomposed;
use super::rows::permute;
use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::QuantCtx;
use crate::tensor::{axis, transpose_index, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Geometry, MaxOp, QOp, TensorKind};

/// What a reduction computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Mean,
    Sum,
    Max,
}

impl Reduction {
    /// Of a row of values.
    fn of(self, row: &[f64]) -> f64 {
        match self {
            Reduction::Mean => row.iter().sum::<f64>() / row.len().max(1) as f64,
            Reduction::Sum => row.iter().sum(),
            Reduction::Max => row.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// ReduceMean, ReduceSum or ReduceMax.
#[derive(Debug)]
pub struct Reduce {
    /// What it computes.
    pub kind: Reduction,
    /// Axes from the attribute (before the opset that made them an input).
    pub axes: Option<Vec<i64>>,
    /// Keep reduced dimensions as 1.
    pub keepdims: bool,
    /// With no axes: the identity instead of reducing everything.
    pub noop_with_empty_axes: bool,
}

/// A reduction laid out as rows: the permutation moving the reduced axes last (if needed), the
/// number of rows and of reduced elements per row.
pub struct Layout {
    pub perm: Option<Vec<usize>>,
    pub rows: usize,
    pub n: usize,
}

impl Reduce {
    /// The reduced axes (sorted, resolved), or `None` for the identity.
    pub fn axes(
        &self,
        node: &str,
        rank: usize,
        axes_input: Option<&Tensor>,
    ) -> Result<Option<Vec<usize>>, FrontendError> {
        if rank == 0 {
            return Ok(None); // a scalar reduces to itself
        }
        let given = match (&self.axes, axes_input) {
            (Some(a), _) => Some(a.clone()),
            (None, Some(t)) => Some(t.ints()),
            (None, None) => None,
        };
        let list = match given {
            Some(a) if !a.is_empty() => a,
            _ if self.noop_with_empty_axes => return Ok(None),
            _ => (0..rank as i64).collect(),
        };
        let mut axes = list
            .iter()
            .map(|&a| axis(a, rank, node))
            .collect::<Result<Vec<_>, _>>()?;
        axes.sort_unstable();
        axes.dedup();
        Ok(Some(axes))
    }

    /// The layout of the reduction of a tensor of `shape` over `axes`.
    pub fn layout(shape: &[usize], axes: &[usize]) -> Layout {
        let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
        let mut order = kept.clone();
        order.extend_from_slice(axes);
        let n: usize = axes.iter().map(|&a| shape[a]).product();
        let rows: usize = kept.iter().map(|&a| shape[a]).product();
        let perm = (order.iter().enumerate().any(|(i, &a)| i != a)).then_some(order);
        Layout { perm, rows, n }
    }

    fn out_shape(&self, shape: &[usize], axes: &[usize]) -> Vec<usize> {
        (0..shape.len())
            .filter_map(|d| match (axes.contains(&d), self.keepdims) {
                (false, _) => Some(shape[d]),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect()
    }
}

impl OnnxOp for Reduce {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let Some(axes) = self.axes(node, x.rank(), inputs.get(1).copied().flatten())? else {
            return Ok(vec![x.clone()]);
        };
        let Layout { perm, n, .. } = Reduce::layout(&x.shape, &axes);
        let data: Vec<f64> = match &perm {
            Some(p) => {
                let (_, idx) = transpose_index(&x.shape, p);
                idx.iter().map(|&i| x.data[i as usize]).collect()
            }
            None => x.data.clone(),
        };
        let out = match n {
            // Rows of nothing: each row's reduction of no values (ONNX: -inf for a maximum).
            0 => vec![self.kind.of(&[]); Reduce::layout(&x.shape, &axes).rows],
            n => data.chunks(n).map(|row| self.kind.of(row)).collect(),
        };
        let mut t = Tensor::float(self.out_shape(&x.shape, &axes), out);
        t.dtype = x.dtype;
        Ok(vec![t])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        if self.kind == Reduction::Mean {
            if let Some(ln) = Decomposed::find(q, node) {
                return ln.lower(q);
            }
        }
        let n = q.node(node);
        let (name, out) = (n.name.clone(), n.outputs[0]);
        if q.input_id(node, 1).is_some() && q.const_input(node, 1).is_none() {
            return Err(q.err(node, "axes must be constant"));
        }
        let mut x = q.act_input(node, 0)?;
        let shape = q.graph.tensors[x.id].shape.clone();
        let Some(axes) = self.axes(&name, shape.len(), q.const_input(node, 1))? else {
            q.bind(out, x);
            return Ok(());
        };
        let Layout { perm, rows, n } = Reduce::layout(&shape, &axes);
        if n == 0 {
            return Err(shape_err(&name, "reduction over no elements"));
        }
        if let Some(p) = &perm {
            let view = format!("{} (reduced axes last)", q.model.tensors[out].name);
            x = permute(q, &name, x, &shape, p, &view);
        }
        let w = match self.kind {
            Reduction::Mean => 1.0 / n as f64,
            Reduction::Sum => 1.0,
            Reduction::Max => return row_maxima(q, node, x, (rows, n)),
        };
        let geometry = Geometry::Dense {
            outer: rows,
            inner: 1,
            xs: [n, 0, 1],
            ys: [1, 0, 1],
            sets: None,
        };
        q.linear(node, x, out, &[(vec![w; n], vec![0.0])], 1, geometry)
    }

    fn parameter_inputs(&self) -> &'static [usize] {
        &[1]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The maximum of each of `rows` rows of `n` elements of `x` (reduced axes last), at `x`'s
/// scale: node `node`'s output.
fn row_maxima(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: crate::quantize::QRef,
    (rows, n): (usize, usize),
) -> Result<(), FrontendError> {
    let out = q.node(node).outputs[0];
    let name = q.model.tensors[out].name.clone();
    let id = q.new_tensor(
        &name,
        q.shape(out).to_vec(),
        x.scale,
        TensorKind::Activation,
    );
    let op = MaxOp::row_maxima(&q.node(node).name, (x.id, id), (rows, n));
    q.push(QOp::MaxPool(op));
    q.bind(out, crate::quantize::QRef { id, scale: x.scale });
    Ok(())
}

fn build(
    a: &Attrs<'_>,
    kind: Reduction,
    axes_attr: bool,
) -> Result<Box<dyn OnnxOp>, FrontendError> {
    if !axes_attr && a.ints("axes")?.is_some() {
        return Err(a.error(
            "axes",
            "an attribute before this op's opset made it an input",
        ));
    }
    Ok(Box::new(Reduce {
        kind,
        axes: if axes_attr { a.ints("axes")? } else { None },
        keepdims: a.int("keepdims")?.unwrap_or(1) != 0,
        noop_with_empty_axes: a.int("noop_with_empty_axes")?.unwrap_or(0) != 0,
    }))
}

/// `ReduceMean`: axes an attribute before opset 18, an input from 18.
pub fn reduce_mean(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    build(a, Reduction::Mean, opset < 18)
}

/// `ReduceSum`: axes an attribute before opset 13, an input from 13.
pub fn reduce_sum(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    build(a, Reduction::Sum, opset < 13)
}

/// `ReduceMax`: axes an attribute before opset 18, an input from 18.
pub fn reduce_max(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    build(a, Reduction::Max, opset < 18)
}
