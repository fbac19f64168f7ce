//! Gemm and MatMul. With one constant operand they become constant-weight linear maps (one
//! group per row, or per column when the constant is on the left); with two computed operands,
//! a product of activations.

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QRef, QuantCtx, RealWeightSet};
use crate::tensor::{broadcast_index, broadcast_shape, Tensor};
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, FnKind, Geometry, MatMulOp, Operand, QOp, TensorKind, ViewOp};

/// Batched matrix-product geometry (numpy `matmul` rules).
pub(crate) struct Batched {
    pub i: usize,
    pub k: usize,
    pub j: usize,
    pub out_shape: Vec<usize>,
    /// Per output batch: offsets of A, B, C in elements.
    pub batches: Vec<[usize; 3]>,
    /// Whether B carries batch dimensions of its own.
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
            if broadcast_shape(&c.shape, &[m, n], node)? != [m, n] {
                return Err(shape_err(
                    node,
                    format!("C of shape {:?} does not broadcast to [{m}, {n}]", c.shape),
                ));
            }
            let idx = broadcast_index(&c.shape, &[m, n]);
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
        if m * k * n == 0 {
            return Err(q.err(node, "Gemm of an empty tensor is not supported"));
        }
        let c = match (q.input_id(node, 2), q.const_input(node, 2)) {
            (Some(_), None) => GemmC::Computed(q.act_input(node, 2)?),
            (_, Some(c)) => GemmC::Constant(c),
            (None, None) => GemmC::None,
        };
        let out = q.node(node).outputs[0];
        let linear = match (q.const_input(node, 0), q.const_input(node, 1)) {
            (None, Some(b)) => self.constant_right(q, node, b, [m, k, n])?,
            (Some(a), None) => self.constant_left(q, node, a, [m, k, n])?,
            (None, None) => {
                let acc = self.product(q, node, [m, k, n])?;
                return self.finish(q, node, (acc, self.alpha), c, [m, n]);
            }
            (Some(_), Some(_)) => {
                return Err(q.err(
                    node,
                    "A and B both constant with a computed C is not supported: compute alpha·A·B as a constant and Add beta·C to it",
                ))
            }
        };
        // A constant C is in the weight sets' biases.
        let (x, sets, outputs, geometry) = linear;
        match c {
            GemmC::Computed(c) => {
                let acc = q.linear_accumulator(node, x, out, &sets, outputs, geometry)?;
                self.finish(q, node, (acc, 1.0), GemmC::Computed(c), [m, n])
            }
            _ => q.linear(node, x, out, &sets, outputs, geometry),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Gemm's `C`.
#[derive(Clone, Copy)]
enum GemmC<'a> {
    None,
    Computed(QRef),
    Constant(&'a Tensor),
}

/// A constant-weight linear map: its input, weight sets, outputs per group and geometry.
type LinearMap = (QRef, Vec<RealWeightSet>, usize, Geometry);

impl Gemm {
    /// `beta · C` of a constant `C` (zeros without one), row-major `m × n`.
    fn bias(&self, q: &QuantCtx<'_>, node: usize, [m, n]: [usize; 2]) -> Vec<f64> {
        match q.const_input(node, 2) {
            Some(c) => broadcast_index(&c.shape, &[m, n])
                .iter()
                .map(|&i| self.beta * c.data[i as usize])
                .collect(),
            None => vec![0.0; m * n],
        }
    }

    /// `alpha · A' · B` with `B` constant: one group per row of `A'`, `alpha` in the weights.
    fn constant_right(
        &self,
        q: &mut QuantCtx<'_>,
        node: usize,
        b: &Tensor,
        [m, k, n]: [usize; 3],
    ) -> Result<LinearMap, FrontendError> {
        let x = q.act_input(node, 0)?;
        let (_, _, bd) = maybe_t(b, self.trans_b); // k x n
        let w: Vec<f64> = (0..n)
            .flat_map(|c| (0..k).map(move |t| (c, t)))
            .map(|(c, t)| self.alpha * bd[t * n + c])
            .collect();
        let c = self.bias(q, node, [m, n]);
        let rows: Vec<Vec<f64>> = (0..m).map(|r| c[r * n..(r + 1) * n].to_vec()).collect();
        let (sets, map) = bias_sets(w, rows);
        let xs = if self.trans_a { [0, 1, m] } else { [0, k, 1] };
        let geometry = Geometry::Dense {
            outer: 1,
            inner: m,
            xs,
            ys: [0, n, 1],
            sets: map,
        };
        Ok((x, sets, n, geometry))
    }

    /// `alpha · A · B'` with `A` constant: one group per column of `B'`, `alpha` in the
    /// weights.
    fn constant_left(
        &self,
        q: &mut QuantCtx<'_>,
        node: usize,
        a: &Tensor,
        [m, k, n]: [usize; 3],
    ) -> Result<LinearMap, FrontendError> {
        let x = q.act_input(node, 1)?;
        let (_, _, ad) = maybe_t(a, self.trans_a); // m x k
        let w: Vec<f64> = ad.iter().map(|v| self.alpha * v).collect();
        let c = self.bias(q, node, [m, n]);
        let cols: Vec<Vec<f64>> = (0..n)
            .map(|col| (0..m).map(|r| c[r * n + col]).collect())
            .collect();
        let (sets, map) = bias_sets(w, cols);
        let xs = if self.trans_b { [0, k, 1] } else { [0, 1, n] };
        let geometry = Geometry::Dense {
            outer: 1,
            inner: n,
            xs,
            ys: [0, 1, n],
            sets: map,
        };
        Ok((x, sets, m, geometry))
    }

    /// `A' · B'` of two computed operands (transposed by views): the product's accumulator.
    fn product(
        &self,
        q: &mut QuantCtx<'_>,
        node: usize,
        [m, k, n]: [usize; 3],
    ) -> Result<QRef, FrontendError> {
        let (mut a, mut b) = (q.act_input(node, 0)?, q.act_input(node, 1)?);
        if self.trans_a {
            a = transposed(q, node, a, [k, m]);
        }
        if self.trans_b {
            b = transposed(q, node, b, [n, k]);
        }
        product_accumulator(q, node, (a, b), (&[m, k], &[k, n]))
    }

    /// `round(alpha · acc + beta · C)` at the output's scale, `C` broadcast (computed, or a
    /// constant the weights do not already hold); `alpha` (1 where it is in the weights) takes
    /// the bits the accumulator leaves below the width.
    fn finish(
        &self,
        q: &mut QuantCtx<'_>,
        node: usize,
        (acc, alpha): (QRef, f64),
        c: GemmC<'_>,
        [m, n]: [usize; 2],
    ) -> Result<(), FrontendError> {
        let out = q.node(node).outputs[0];
        let c = match c {
            _ if self.beta == 0.0 => GemmC::None,
            c => c,
        };
        if alpha == 1.0 && matches!(c, GemmC::None) {
            return q.finish_accumulator(node, acc.id, acc.scale, out);
        }
        if alpha == 0.0 {
            return Err(q.err(node, "alpha = 0 (Y = beta·C alone) is not supported"));
        }
        // alpha's bits, if the shift to the output's scale leaves them below the width;
        // otherwise the product is rounded to an activation first, which leaves room.
        let room = |q: &QuantCtx<'_>, s: i32| (q.scale_for(out) + q.bits as i32 - s).max(0);
        let need = coefficient_bits(alpha);
        let (acc, t) = match need <= room(q, acc.scale) {
            true => (acc, need),
            false => {
                let p = self.product_activation(q, node, acc)?;
                (p, need.min(room(q, p.scale)))
            }
        };
        let qa = q.fixed(node, alpha, t)?;
        if qa == 0 {
            return Err(q.err(node, format!("alpha = {alpha} rounds to 0")));
        }
        let lin_scale = acc.scale + t;
        let mut lin = Lin {
            qa: Coef::Const(qa),
            ..Lin::of(acc)
        };
        if let GemmC::Constant(c) = c {
            lin.qc = super::arith::coef(q, node, c, &[m, n], lin_scale, self.beta)?;
        }
        if let GemmC::Computed(c) = c {
            // beta's bits too, C coarsened for them where needed, but not past the output's
            // scale.
            let floor = q.scale_for(out).min(c.scale);
            let want = (lin_scale - coefficient_bits(self.beta)).max(floor);
            let c = q.rescale_to(node, c, want.min(lin_scale))?;
            let qb = q.fixed(node, self.beta, lin_scale - c.scale)?;
            if qb == 0 {
                return Err(q.err(node, format!("beta = {} rounds to 0", self.beta)));
            }
            let shape = &q.graph.tensors[c.id].shape;
            let index = (shape.as_slice() != [m, n]).then(|| broadcast_index(shape, &[m, n]));
            lin.b = Some(Operand {
                tensor: c.id,
                index,
            });
            lin.qb = Coef::Const(qb);
        }
        q.finish(node, lin, lin_scale, out)
    }
}

impl Gemm {
    /// The product `A'·B'` rounded to an activation, at the finest scale holding the bound
    /// the calibration gives it: `|A'·B'| ≤ (|Y| + |beta|·|C|) / |alpha|`.
    fn product_activation(
        &self,
        q: &mut QuantCtx<'_>,
        node: usize,
        acc: QRef,
    ) -> Result<QRef, FrontendError> {
        let out = q.node(node).outputs[0];
        let c = q.input_id(node, 2).map_or(0.0, |c| q.bound(c));
        let bound = (q.bound(out) + self.beta.abs() * c) / self.alpha.abs().max(1e-30);
        let scale = q.scale_for_max(bound).min(acc.scale);
        let scale = scale.max(acc.scale - q.bits as i32);
        let name = format!("{} (A·B)", q.model.tensors[out].name);
        let op = q.node(node).name.clone();
        Ok(q.emit(
            op,
            NewTensor {
                name: &name,
                shape: q.shape(out).to_vec(),
                scale,
            },
            Lin::of(acc),
            (acc.scale - scale) as u32,
            FnKind::Identity,
        ))
    }
}

/// The fractional bits a coefficient is given: as many as make it an integer (0.25 needs 2),
/// else 16 significant ones.
fn coefficient_bits(v: f64) -> i32 {
    (0..=16)
        .find(|&t| (v * f64::from(t).exp2()).fract() == 0.0)
        .unwrap_or_else(|| 15 - v.abs().log2().floor() as i32)
        .max(0)
}

/// The view of a computed `r × c` matrix transposed: no rows.
fn transposed(q: &mut QuantCtx<'_>, node: usize, x: QRef, [r, c]: [usize; 2]) -> QRef {
    let map = (0..c)
        .flat_map(|i| (0..r).map(move |j| (0u16, (j * c + i) as u32)))
        .collect();
    let name = format!("{} (transposed)", q.graph.tensors[x.id].name);
    let id = q.new_tensor(&name, vec![c, r], x.scale, TensorKind::Activation);
    q.push(QOp::View(ViewOp {
        name: q.node(node).name.clone(),
        inputs: vec![x.id],
        output: id,
        map,
    }));
    QRef { id, scale: x.scale }
}

/// The accumulator of the product of two computed tensors (numpy `matmul` of the shapes).
fn product_accumulator(
    q: &mut QuantCtx<'_>,
    node: usize,
    (a, b): (QRef, QRef),
    (ashape, bshape): (&[usize], &[usize]),
) -> Result<QRef, FrontendError> {
    let g = batched(&q.node(node).name, ashape, bshape)?;
    let out = q.node(node).outputs[0];
    let scale = a.scale + b.scale;
    // Keep the final shift within the bit width by rescaling afterwards only.
    let name = format!("{} (accumulator)", q.model.tensors[out].name);
    let acc = q.new_tensor(&name, q.shape(out).to_vec(), scale, TensorKind::Accumulator);
    q.push(QOp::MatMul(MatMulOp {
        name: q.node(node).name.clone(),
        a: a.id,
        b: b.id,
        output: acc,
        ikj: [g.i, g.k, g.j],
        batches: g.batches,
        a_zeros: Vec::new(),
    }));
    Ok(QRef { id: acc, scale })
}

/// Product of two computed tensors, then rescale.
fn lower_product(
    q: &mut QuantCtx<'_>,
    node: usize,
    ashape: &[usize],
    bshape: &[usize],
) -> Result<(), FrontendError> {
    let (a, b) = (q.act_input(node, 0)?, q.act_input(node, 1)?);
    let acc = product_accumulator(q, node, (a, b), (ashape, bshape))?;
    let out = q.node(node).outputs[0];
    q.finish_accumulator(node, acc.id, acc.scale, out)
}

/// The stride between consecutive output batches of the operand whose offsets (in
/// elements, one per output batch) are `offsets`: 0 when every batch reads the same matrix,
/// `size` when batch `n` reads the `n`-th; `None` when its batch dimensions broadcast only
/// partly against the other operand's (numpy's `[2, 1, ..] x [1, 3, ..]`).
fn batch_stride(offsets: impl Iterator<Item = usize> + Clone, size: usize) -> Option<usize> {
    if offsets.clone().all(|o| o == 0) {
        return Some(0);
    }
    offsets
        .enumerate()
        .all(|(n, o)| o == n * size)
        .then_some(size)
}

/// A computed operand whose batch dimensions broadcast only partly against a constant
/// one's, repeated to one matrix (of `size` elements) per output batch: a view, no rows.
fn broadcast_batches(
    q: &mut QuantCtx<'_>,
    node: usize,
    x: QRef,
    offsets: &[usize],
    size: usize,
) -> QRef {
    let map = offsets
        .iter()
        .flat_map(|&o| (o..o + size).map(|e| (0u16, e as u32)))
        .collect();
    let name = format!("{} (batches)", q.node(node).name);
    let id = q.new_tensor(
        &name,
        vec![offsets.len(), size],
        x.scale,
        TensorKind::Activation,
    );
    q.push(QOp::View(ViewOp {
        name: q.node(node).name.clone(),
        inputs: vec![x.id],
        output: id,
        map,
    }));
    QRef { id, scale: x.scale }
}

/// The weight sets of a constant operand with batch dimensions: one per distinct matrix the
/// output batches read (by its offset), built by `weights`, and for each group (`per` of
/// them per output batch) the index of its set.
fn batch_sets(
    offsets: &[usize],
    per: usize,
    weights: impl Fn(usize) -> Vec<f64>,
    outputs: usize,
) -> (Vec<RealWeightSet>, Option<Vec<u32>>) {
    let mut seen: Vec<usize> = Vec::new();
    let mut of_batch = Vec::with_capacity(offsets.len());
    for &o in offsets {
        let idx = match seen.iter().position(|&s| s == o) {
            Some(i) => i,
            None => {
                seen.push(o);
                seen.len() - 1
            }
        };
        of_batch.push(idx as u32);
    }
    let sets = seen
        .iter()
        .map(|&o| (weights(o), vec![0.0; outputs]))
        .collect();
    let map = (seen.len() > 1).then(|| {
        of_batch
            .iter()
            .flat_map(|&s| std::iter::repeat_n(s, per))
            .collect()
    });
    (sets, map)
}

/// The computed operand (input `side`: 0 left, 1 right) of a product by a constant, and the
/// stride between the matrices its output batches read: repeated by a view where its batch
/// dimensions broadcast only partly against the constant's.
fn computed_operand(
    q: &mut QuantCtx<'_>,
    node: usize,
    g: &Batched,
    side: usize,
) -> Result<(QRef, usize), FrontendError> {
    if g.batches.is_empty() || g.i * g.k * g.j == 0 {
        return Err(q.err(node, "MatMul of an empty tensor is not supported"));
    }
    let size = if side == 0 { g.i * g.k } else { g.k * g.j };
    let x = q.act_input(node, side)?;
    let offsets: Vec<usize> = g.batches.iter().map(|b| b[side]).collect();
    Ok(match batch_stride(offsets.iter().copied(), size) {
        Some(stride) => (x, stride),
        None => (broadcast_batches(q, node, x, &offsets, size), size),
    })
}

/// `X · B` with `B` constant: one group per row of `X` in every output batch, with the
/// weights `Bᵀ` of the matrix that batch reads.
fn lower_constant_right(
    q: &mut QuantCtx<'_>,
    node: usize,
    g: &Batched,
    b: &Tensor,
) -> Result<(), FrontendError> {
    let (i, k, j) = (g.i, g.k, g.j);
    let (x, xs0) = computed_operand(q, node, g, 0)?;
    let b_offsets: Vec<usize> = g.batches.iter().map(|b| b[1]).collect();
    // W[c][t] = B[t][c] of the batch's matrix.
    let weights = |o: usize| -> Vec<f64> {
        (0..j)
            .flat_map(|c| (0..k).map(move |t| o + t * j + c))
            .map(|e| b.data[e])
            .collect()
    };
    let (sets, map) = batch_sets(&b_offsets, i, weights, j);
    // One matrix for every batch of a batched `X`: its rows are one run of groups.
    let nb = g.batches.len();
    let (outer, inner, xs0, ys0) = match (&map, xs0) {
        (None, s) if s > 0 || nb == 1 => (1, nb * i, 0, 0),
        _ => (nb, i, xs0, i * j),
    };
    let out = q.node(node).outputs[0];
    q.linear(
        node,
        x,
        out,
        &sets,
        j,
        Geometry::Dense {
            outer,
            inner,
            xs: [xs0, k, 1],
            ys: [ys0, j, 1],
            sets: map,
        },
    )
}

/// `A · X` with `A` constant: one group per column of `X` in every output batch, with the
/// weights of the matrix `A` that batch reads.
fn lower_constant_left(
    q: &mut QuantCtx<'_>,
    node: usize,
    g: &Batched,
    a: &Tensor,
) -> Result<(), FrontendError> {
    let (i, k, j) = (g.i, g.k, g.j);
    let (x, stride) = computed_operand(q, node, g, 1)?;
    // (One batch: any stride reads it; `k·j` as before batched constants.)
    let xs0 = if g.batches.len() == 1 { k * j } else { stride };
    let a_offsets: Vec<usize> = g.batches.iter().map(|b| b[0]).collect();
    let weights = |o: usize| a.data[o..o + i * k].to_vec();
    let (sets, map) = batch_sets(&a_offsets, j, weights, i);
    let out = q.node(node).outputs[0];
    q.linear(
        node,
        x,
        out,
        &sets,
        i,
        Geometry::Dense {
            outer: g.batches.len(),
            inner: j,
            xs: [xs0, 1, j],
            ys: [i * j, 1, j],
            sets: map,
        },
    )
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
            (None, Some(b)) => lower_constant_right(q, node, &g, b),
            (Some(a), None) => lower_constant_left(q, node, &g, a),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_get_their_exact_bits_or_sixteen_significant() {
        assert_eq!(coefficient_bits(1.0), 0);
        assert_eq!(coefficient_bits(-3.0), 0);
        assert_eq!(coefficient_bits(0.25), 2);
        assert_eq!(coefficient_bits(0.375), 3);
        // Not dyadic within 16 bits: 16 significant bits, more for small values.
        assert_eq!(coefficient_bits(0.1), 19);
        assert_eq!(coefficient_bits(1e-4), 29);
        assert_eq!(coefficient_bits(-1.7), 15);
        let q = |v: f64| (v * f64::from(coefficient_bits(v)).exp2()).round();
        for v in [0.1, 1e-4, -1.7, 0.35, 2.5e-6] {
            let back = q(v) / f64::from(coefficient_bits(v)).exp2();
            assert!(((back - v) / v).abs() < 1e-4, "{v}: {back}");
        }
    }

    #[test]
    fn a_c_that_does_not_broadcast_to_the_output_is_refused() {
        let gemm = Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        };
        let (a, b) = (
            Tensor::float(vec![1, 2], vec![1.0; 2]),
            Tensor::float(vec![2, 3], vec![1.0; 6]),
        );
        // Rank 3 (it panicked), and [2, 3] against an output of [1, 3] (it used row 0).
        for c in [
            Tensor::float(vec![2, 1, 3], vec![0.0; 6]),
            Tensor::float(vec![2, 3], vec![0.0; 6]),
        ] {
            let err = gemm.eval("g", &[Some(&a), Some(&b), Some(&c)]).unwrap_err();
            assert!(err.to_string().contains("broadcast"), "{err}");
        }
        let c = Tensor::float(vec![3], vec![1.0, 2.0, 3.0]);
        let y = gemm.eval("g", &[Some(&a), Some(&b), Some(&c)]).unwrap();
        assert_eq!(y[0].data, vec![3.0, 4.0, 5.0]);
    }

    #[test]
    fn batch_strides_are_whole_matrices_or_none() {
        // Every batch reads the same matrix, or the n-th reads the n-th.
        assert_eq!(batch_stride([0, 0, 0].into_iter(), 12), Some(0));
        assert_eq!(batch_stride([0, 12, 24].into_iter(), 12), Some(12));
        // [3, 1] against [1, 2]: batches read 0, 0, 1, 1, 2, 2 — partly broadcast.
        let partly = [0, 0, 12, 12, 24, 24];
        assert_eq!(batch_stride(partly.into_iter(), 12), None);
        assert_eq!(batch_stride([12, 0].into_iter(), 12), None);
    }

    #[test]
    fn batched_constants_get_one_set_per_matrix_read() {
        // Output batches reading matrices at offsets 0, 8, 0, 8 (a [2] constant broadcast
        // against a [2, 2] batch), two groups per batch.
        let data: Vec<f64> = (0..16).map(f64::from).collect();
        let weights = |o: usize| data[o..o + 8].to_vec();
        let (sets, map) = batch_sets(&[0, 8, 0, 8], 2, weights, 4);
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[1].0[0], 8.0);
        assert_eq!(sets[1].1, vec![0.0; 4]);
        assert_eq!(map, Some(vec![0, 0, 1, 1, 0, 0, 1, 1]));
        // One matrix for every batch: no map.
        let (sets, map) = batch_sets(&[0, 0, 0], 5, |_| vec![1.0], 1);
        assert_eq!((sets.len(), map), (1, None));
    }

    #[test]
    fn batched_geometry_matches_numpy_shapes() {
        let g = batched("m", &[3, 1, 3, 4], &[1, 2, 4, 2]).unwrap();
        assert_eq!((g.i, g.k, g.j), (3, 4, 2));
        assert_eq!(g.out_shape, vec![3, 2, 3, 2]);
        let a: Vec<usize> = g.batches.iter().map(|b| b[0]).collect();
        let b: Vec<usize> = g.batches.iter().map(|b| b[1]).collect();
        assert_eq!(a, vec![0, 0, 12, 12, 24, 24]);
        assert_eq!(b, vec![0, 8, 0, 8, 0, 8]);
        assert!(g.b_batched);
    }
}
