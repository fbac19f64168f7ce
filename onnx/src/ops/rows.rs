//! Row helpers shared by the ops that normalise over the trailing elements of a tensor
//! (Softmax, LayerNormalization): the row index of each element and exact row sums.

use crate::quantize::{QRef, QuantCtx};
use crate::tensor::transpose_index;
use zkinfer_circuits::graph::{LinearOp, QOp, TensorId, TensorKind, ViewOp};

/// For each element of a `rows × n` tensor, its row (an elementwise operand's index).
pub fn row_index(rows: usize, n: usize) -> Option<Vec<u32>> {
    Some((0..rows * n).map(|e| (e / n) as u32).collect())
}

/// Appends `Σ_j x[r, j]` for each row of the `rows × n` tensor `x`: a constant-weight linear
/// map with weights 1, exact (an accumulator named `name`, at `scale`).
pub fn row_sum(
    q: &mut QuantCtx<'_>,
    op: &str,
    x: TensorId,
    (rows, n): (usize, usize),
    name: &str,
    scale: i32,
) -> TensorId {
    let sum = q.new_tensor(name, vec![rows], scale, TensorKind::Accumulator);
    q.push(QOp::Linear(LinearOp::row_sums(op, (x, sum), (rows, n))));
    sum
}

/// The inverse of a permutation.
pub fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

/// A view of `x` (shape `shape`) with its axes permuted by `perm`.
pub fn permute(
    q: &mut QuantCtx<'_>,
    node: &str,
    x: QRef,
    shape: &[usize],
    perm: &[usize],
    name: &str,
) -> QRef {
    let (tshape, idx) = transpose_index(shape, perm);
    let map = idx.into_iter().map(|i| (0, i)).collect();
    view(q, node, (vec![x.id], map), x.scale, (&tshape, name))
}

/// A new tensor `name` of shape `shape` whose element `e` is element `map[e].1` of
/// `inputs[map[e].0]` (all at `scale`).
pub fn view(
    q: &mut QuantCtx<'_>,
    node: &str,
    (inputs, map): (Vec<TensorId>, Vec<(u16, u32)>),
    scale: i32,
    (shape, name): (&[usize], &str),
) -> QRef {
    let id = q.new_tensor(name, shape.to_vec(), scale, TensorKind::Activation);
    q.push(QOp::View(ViewOp {
        name: node.to_string(),
        inputs,
        output: id,
        map,
    }));
    QRef { id, scale }
}
