//! Gemm and MatMul. With one constant operand they become constant-weight linear maps (one
//! group per row, or per column when the constant is on the left); with two computed operands,
//! a product of activations.

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{QuantCtx, RealWeightSet};
use crate::tensor::{broadcast_index, broadcast_shape, strides, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Geometry, MatMulOp, QOp, TensorKind};

/// Batched matrix-product geometry (numpy `matmul` rules).
pub(crate) struct Batched {
    pub i: usize,
    pub k: usize,
    pub j: usize,
    pub out_shape: Vec<usize>,
    /// Per output batch: offsets of A, B, C in elements.
    pub batches: Vec<[usize; 3]>,
    /// Whether A / B carry batch dimensions of their own.
    pub a_batched: bool,
    pub b_batched: bool,
}

pub(crate) fn batched(node: &str, a: &[usize], b: &[usize]) -> Result<Batched, FrontendError> {
    if a.is_empty() || b.is_empty() {
        return Err(shape_err(node, "MatMul operands must have rank >= 1"));
    }
    let a2: Vec<usize> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<usize> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    let (i, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, j) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(shape_err(
            node,
            format!("inner dimensions differ: {a:?} x {b:?}"),
        ));
    }
    let (ab, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
    let batch = broadcast_shape(ab, bb, node)?;
    let ia = broadcast_index(ab, &batch);
    let ib = broadcast_index(bb, &batch);
    let batches = ia
        .iter()
        .zip(&ib)
        .enumerate()
        .map(|(n, (&x, &y))| [x as usize * i * k, y as usize * k * j, n * i * j])
        .collect();
    let mut out_shape = batch.clone();
    if a.len() > 1 {
        out_shape.push(i);
    }
    if b.len() > 1 {
        out_shape.push(j);
    }
    Ok(Batched {
        i,
        k,
        j,
        out_shape,
        batches,
        a_batched: ab.iter().product::<usize>() > 1,
        b_batched: bb.iter().product::<usize>() > 1,
    })
}

pub(crate) fn float_matmul(g: &Batched, a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; g.batches.len() * g.i * g.j];
    for &[ao, bo, co] in &g.batches {
        for r in 0..g.i {
            for c in 0..g.j {
                out[co + r * g.j + c] = (0..g.k)
                    .map(|t| a[ao + r * g.k + t] * b[bo + t * g.j + c])
                    .sum();
            }
        }
    }
    out
}

/// Transposes a 2-D tensor's data if asked.
fn maybe_t(t: &Tensor, trans: bool) -> (usize, usize, Vec<f64>) {
    let (r, c) = (t.shape[0], t.shape[1]);
    if !trans {
        return (r, c, t.data.clone());
    }
    let mut d = vec![0.0; r * c];
    for x in 0..r {
        for y in 0..c {
            d[y * r + x] = t.data[x * c + y];
        }
    }
    (c, r, d)
}

/// Groups rows of biases: identical rows share one weight set.
fn bias_sets(w: Vec<f64>, biases: Vec<Vec<f64>>) -> (Vec<RealWeightSet>, Option<Vec<u32>>) {
    let mut sets: Vec<RealWeightSet> = Vec::new();
    let mut of_group = Vec::with_capacity(biases.len());
    for b in biases {
        let idx = match sets.iter().position(|(_, sb)| *sb == b) {
            Some(i) => i,
            None => {
                sets.push((w.clone(), b));
                sets.len() - 1
            }
        };
        of_group.push(idx as u32);
    }
    let map = (sets.len() > 1).then_some(of_group);
    (sets, map)
}

/// `Y = alpha · A' · B' + beta · C`.
#[derive(Debug)]
pub struct Gemm {
    alpha: f64,
    beta: f64,
    trans_a: bool,
    trans_b: bool,
}

impl OnnxOp for Gemm {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (a, b) = (input(node, inputs, 0)?, input(node, inputs, 1)?);
        if a.rank() != 2 || b.rank() != 2 {
            return Err(shape_err(
                node,
                format!(
                    "Gemm needs 2-D operands, got {:?} and {:?}",
                    a.shape, b.shape
                ),
            ));
        }
        let (m, k, ad) = maybe_t(a, self.trans_a);
        let (k2, n, bd) = maybe_t(b, self.trans_b);
        if k != k2 {
            return Err(shape_err(
                node,
                format!("inner dimensions differ: {:?} x {:?}", a.shape, b.shape),
            ));
        }
        let mut out = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                out[r * n + c] =
                    self.alpha * (0..k).map(|t| ad[r * k + t] * bd[t * n + c]).sum::<f64>();
            }
        }
        if let Some(c) = inputs.get(2).copied().flatten() {
            let idx = broadcast_index(&c.shape, &[m, n]);
            broadcast_shape(&c.shape, &[m, n], node)?;
            for (o, &i) in out.iter_mut().zip(&idx) {
                *o += self.beta * c.data[i as usize];
            }
        }
        Ok(vec![Tensor::float(vec![m, n], out)])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let (ai, bi) = (q.input_id(node, 0), q.input_id(node, 1));
        let (Some(ai), Some(bi)) = (ai, bi) else {
            return Err(q.err(node, "Gemm needs two inputs"));
        };
        let (ashape, bshape) = (q.shape(ai).to_vec(), q.shape(bi).to_vec());
        let (m, k) = if self.trans_a {
            (ashape[1], ashape[0])
        } else {
            (ashape[0], ashape[1])
        };
        let n = if self.trans_b { bshape[0] } else { bshape[1] };
        let bias = |q: &QuantCtx<'_>| -> Vec<f64> {
            match q.const_input(node, 2) {
                Some(c) => broadcast_index(&c.shape, &[m, n])
                    .iter()
                    .map(|&i| self.beta * c.data[i as usize])
                    .collect(),
                None => vec![0.0; m * n],
            }
        };
        if q.input_id(node, 2).is_some() && q.const_input(node, 2).is_none() {
            return Err(q.err(node, "Gemm with a computed C is not supported"));
        }
        match (q.const_input(node, 0), q.const_input(node, 1)) {
            (None, Some(b)) => {
                let x = q.act_input(node, 0)?;
                let (_, _, bd) = maybe_t(b, self.trans_b); // k x n
                let w: Vec<f64> = (0..n)
                    .flat_map(|c| (0..k).map(move |t| (c, t)))
                    .map(|(c, t)| self.alpha * bd[t * n + c])
                    .collect();
                let c = bias(q);
                let rows: Vec<Vec<f64>> = (0..m).map(|r| c[r * n..(r + 1) * n].to_vec()).collect();
                let (sets, map) = bias_sets(w, rows);
                let xs = if self.trans_a { [0, 1, m] } else { [0, k, 1] };
                {
                    let out = q.node(node).outputs[0];
                    q.linear(
                        node,
                        x,
                        out,
                        &sets,
                        n,
                        Geometry::Dense {
                            outer: 1,
                            inner: m,
                            xs,
                            ys: [0, n, 1],
                            sets: map,
                        },
                    )
                }
            }
            (Some(a), None) => {
                let x = q.act_input(node, 1)?;
                let (_, _, ad) = maybe_t(a, self.trans_a); // m x k
                let w: Vec<f64> = ad.iter().map(|v| self.alpha * v).collect();
                let c = bias(q);
                let cols: Vec<Vec<f64>> = (0..n)
                    .map(|col| (0..m).map(|r| c[r * n + col]).collect())
                    .collect();
                let (sets, map) = bias_sets(w, cols);
                let xs = if self.trans_b { [0, k, 1] } else { [0, 1, n] };
                {
                    let out = q.node(node).outputs[0];
                    q.linear(
                        node,
                        x,
                        out,
                        &sets,
                        m,
                        Geometry::Dense {
                            outer: 1,
                            inner: n,
                            xs,
                            ys: [0, 1, n],
                            sets: map,
                        },
                    )
                }
            }
            (None, None) => {
                if self.trans_a
                    || self.trans_b
                    || self.alpha != 1.0
                    || q.input_id(node, 2).is_some()
                {
                    return Err(q.err(node, "Gemm of two computed operands supports only transA = transB = 0, alpha = 1 and no C (use MatMul)"));
                }
                lower_product(q, node, &ashape, &bshape)
            }
            (Some(_), Some(_)) => {
                Err(q.err(node, "both operands are constant (should have been folded)"))
            }
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Product of two computed tensors, then rescale.
fn lower_product(
    q: &mut QuantCtx<'_>,
    node: usize,
    ashape: &[usize],
    bshape: &[usize],
) -> Result<(), FrontendError> {
    let (a, b) = (q.act_input(node, 0)?, q.act_input(node, 1)?);
    let g = batched(&q.node(node).name, ashape, bshape)?;
    let out = q.node(node).outputs[0];
    let s_acc = a.scale + b.scale;
    // Keep the final shift within the bit width by rescaling afterwards only.
    let name = format!("{} (accumulator)", q.model.tensors[out].name);
    let acc = q.new_tensor(&name, q.shape(out).to_vec(), s_acc, TensorKind::Accumulator);
    q.push(QOp::MatMul(MatMulOp {
        name: q.node(node).name.clone(),
        a: a.id,
        b: b.id,
        output: acc,
        ikj: [g.i, g.k, g.j],
        batches: g.batches,
        a_zeros: Vec::new(),
    }));
    q.finish_accumulator(node, acc, s_acc, out)
}

/// Numpy-style matrix product.
#[derive(Debug)]
pub struct MatMul;

impl OnnxOp for MatMul {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (a, b) = (input(node, inputs, 0)?, input(node, inputs, 1)?);
        let g = batched(node, &a.shape, &b.shape)?;
        let data = float_matmul(&g, &a.data, &b.data);
        Ok(vec![Tensor::float(g.out_shape, data)])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let (Some(ai), Some(bi)) = (q.input_id(node, 0), q.input_id(node, 1)) else {
            return Err(q.err(node, "MatMul needs two inputs"));
        };
        let (ashape, bshape) = (q.shape(ai).to_vec(), q.shape(bi).to_vec());
        let g = batched(&q.node(node).name, &ashape, &bshape)?;
        match (q.const_input(node, 0), q.const_input(node, 1)) {
            (None, Some(b)) => {
                if g.b_batched {
                    return Err(q.err(node, "MatMul with a constant right operand that has batch dimensions is not supported"));
                }
                let x = q.act_input(node, 0)?;
                // W[c][t] = B[t][c]; one group per row of A (all batches).
                let w: Vec<f64> = (0..g.j)
                    .flat_map(|c| (0..g.k).map(move |t| (c, t)))
                    .map(|(c, t)| b.data[t * g.j + c])
                    .collect();
                let rows = g.batches.len() * g.i;
                let (j, k) = (g.j, g.k);
                {
                    let out = q.node(node).outputs[0];
                    q.linear(
                        node,
                        x,
                        out,
                        &[(w, vec![0.0; j])],
                        j,
                        Geometry::Dense {
                            outer: 1,
                            inner: rows,
                            xs: [0, k, 1],
                            ys: [0, j, 1],
                            sets: None,
                        },
                    )
                }
            }
            (Some(a), None) => {
                if g.a_batched {
                    return Err(q.err(node, "MatMul with a constant left operand that has batch dimensions is not supported"));
                }
                let x = q.act_input(node, 1)?;
                let (i, k, j) = (g.i, g.k, g.j);
                let nb = g.batches.len();
                let st = strides(&[nb, k, j]);
                {
                    let out = q.node(node).outputs[0];
                    q.linear(
                        node,
                        x,
                        out,
                        &[(a.data.clone(), vec![0.0; i])],
                        i,
                        Geometry::Dense {
                            outer: nb,
                            inner: j,
                            xs: [st[0], 1, j],
                            ys: [i * j, 1, j],
                            sets: None,
                        },
                    )
                }
            }
            (None, None) => lower_product(q, node, &ashape, &bshape),
            (Some(_), Some(_)) => {
                Err(q.err(node, "both operands are constant (should have been folded)"))
            }
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn gemm(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Gemm {
        alpha: a.float("alpha")?.unwrap_or(1.0),
        beta: a.float("beta")?.unwrap_or(1.0),
        trans_a: a.int("transA")?.unwrap_or(0) != 0,
        trans_b: a.int("transB")?.unwrap_or(0) != 0,
    }))
}

pub fn matmul(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(MatMul))
}
