//! Sibling products: constant-weight linear ops that multiply the *same* rows by different
//! weights (an attention layer's separate query, key and value projections) become one op
//! whose weight matrix stacks theirs, `X·[W₁; W₂; W₃]ᵀ`. Checked at the matrix level (the
//! matmul chip places `X` once per product), the rows of `X` are then placed once instead of
//! once per sibling. Every output element is the same dot product as before: the readers of
//! the siblings' accumulators read the stacked one at the matching elements.
//!
//! Siblings are fused when they read the same tensor through the same dense geometry (one
//! weight set, every row), their accumulators have one scale, and only elementwise ops read
//! those accumulators (their operands can read any element by index) and none is a graph
//! output.

use super::compose::{reader_counts, remove_ops};
use super::{Geometry, LinearOp, QOp, QTensor, QuantizedGraph, TensorId, TensorKind};
use super::{Operand, WeightSet};

/// What makes linear ops siblings: the tensor read, the dense geometry reading it, the inner
/// dimension, and the accumulator's scale.
#[derive(PartialEq)]
struct Kinship {
    input: TensorId,
    outer: usize,
    inner: usize,
    xs: [usize; 3],
    k: usize,
    scale: i32,
}

/// Fuses every set of sibling products (see the module documentation); returns how many ops
/// were absorbed into another.
pub fn fuse_sibling_products(g: &mut QuantizedGraph) -> usize {
    let families = sibling_sets(g);
    if families.is_empty() {
        return 0;
    }
    let mut removed = vec![false; g.ops.len()];
    for family in &families {
        fuse(g, family);
        for &i in &family[1..] {
            removed[i] = true;
        }
    }
    remove_ops(g, &removed)
}

/// The kinship of op `i`, when it can be fused at all.
fn kinship(g: &QuantizedGraph, i: usize, elementwise_only: &[bool]) -> Option<Kinship> {
    let QOp::Linear(op) = &g.ops[i] else {
        return None;
    };
    let Geometry::Dense {
        outer,
        inner,
        xs,
        sets: None,
        ..
    } = &op.geometry
    else {
        return None;
    };
    let [_, k, _] = op.shared_product()?;
    let out = &g.tensors[op.output];
    let fusable = op.sets.len() == 1
        && out.affine.is_none()
        && elementwise_only[op.output]
        && !g.outputs.contains(&op.output);
    fusable.then_some(Kinship {
        input: op.input,
        outer: *outer,
        inner: *inner,
        xs: *xs,
        k,
        scale: out.scale,
    })
}

/// Sets of two or more siblings, each in op order.
fn sibling_sets(g: &QuantizedGraph) -> Vec<Vec<usize>> {
    let elementwise_only = elementwise_readers_only(g);
    let mut sets: Vec<(Kinship, Vec<usize>)> = Vec::new();
    for i in 0..g.ops.len() {
        let Some(kin) = kinship(g, i, &elementwise_only) else {
            continue;
        };
        match sets.iter_mut().find(|(k, _)| *k == kin) {
            Some((_, members)) => members.push(i),
            None => sets.push((kin, vec![i])),
        }
    }
    (sets.into_iter())
        .map(|(_, members)| members)
        .filter(|m| m.len() > 1)
        .collect()
}

/// Per tensor: whether every op reading it is elementwise (and something reads it).
fn elementwise_readers_only(g: &QuantizedGraph) -> Vec<bool> {
    let mut only = vec![true; g.tensors.len()];
    for op in &g.ops {
        if !matches!(op, QOp::Elementwise(_)) {
            for t in op.family().inputs() {
                only[t] = false;
            }
        }
    }
    let readers = reader_counts(g);
    (only.into_iter().zip(readers))
        .map(|(o, r)| o && r > 0)
        .collect()
}

/// Puts the stacked op in place of `family[0]` and points the siblings' readers at it.
fn fuse(g: &mut QuantizedGraph, family: &[usize]) {
    let ops: Vec<&LinearOp> = (family.iter())
        .filter_map(|&i| match &g.ops[i] {
            QOp::Linear(op) => Some(op),
            _ => None,
        })
        .collect();
    let Some(first) = ops.first() else {
        return;
    };
    let (n, wide) = (first.group_count(), ops.iter().map(|o| o.sets[0].m).sum());
    // Where each sibling's output elements land in the stacked accumulator.
    let mut moves: Vec<(TensorId, Vec<u32>)> = Vec::with_capacity(ops.len());
    let mut offset = 0;
    for op in &ops {
        let mut to = vec![0u32; g.tensors[op.output].len()];
        for p in 0..n {
            for (r, &e) in op.group(p).out.iter().enumerate() {
                to[e as usize] = (p * wide + offset + r) as u32;
            }
        }
        offset += op.sets[0].m;
        moves.push((op.output, to));
    }
    let stacked = stack(first, &ops, wide, g.tensors.len());
    let tensor = QTensor {
        name: format!("{} (stacked accumulator)", stacked.name),
        shape: vec![n, wide],
        scale: g.tensors[first.output].scale,
        kind: TensorKind::Accumulator,
        affine: None,
    };
    g.tensors.push(tensor);
    g.ops[family[0]] = QOp::Linear(stacked);
    redirect_readers(g, &moves);
}

/// The stacked op: the first sibling's geometry, every sibling's weight rows and biases in
/// turn, writing `wide` elements per row into tensor `output`.
fn stack(first: &LinearOp, ops: &[&LinearOp], wide: usize, output: TensorId) -> LinearOp {
    let (mut w, mut b) = (Vec::new(), Vec::new());
    for op in ops {
        w.extend_from_slice(&op.sets[0].w);
        b.extend_from_slice(&op.sets[0].b);
    }
    let Geometry::Dense {
        outer, inner, xs, ..
    } = first.geometry.clone()
    else {
        return first.clone();
    };
    LinearOp {
        name: ops
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        input: first.input,
        output,
        sets: vec![WeightSet {
            m: wide,
            k: first.sets[0].k,
            w,
            b,
        }],
        geometry: Geometry::Dense {
            outer,
            inner,
            xs,
            ys: [inner * wide, wide, 1],
            sets: None,
        },
    }
}

/// Every elementwise operand reading one of the `moves`' tensors reads the stacked
/// accumulator (the last tensor) at the moved element instead.
fn redirect_readers(g: &mut QuantizedGraph, moves: &[(TensorId, Vec<u32>)]) {
    let stacked = g.tensors.len() - 1;
    for op in &mut g.ops {
        let QOp::Elementwise(e) = op else { continue };
        let n = g.tensors[e.output].len();
        for operand in [&mut e.a, &mut e.b].into_iter().flatten() {
            let Some((_, to)) = moves.iter().find(|(t, _)| *t == operand.tensor) else {
                continue;
            };
            let index = (0..n).map(|i| to[operand.at(i)]).collect();
            *operand = Operand {
                tensor: stacked,
                index: Some(index),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Coef, ElemOp, FnKind};

    /// A dense product of the `3 × 2` tensor `x` with the `m × 2` weights `w` (bias `b`),
    /// into a new accumulator at `scale`.
    fn product(g: &mut QuantizedGraph, x: TensorId, ws: (&[i64], &[i64]), scale: i32) -> TensorId {
        let m = ws.1.len();
        let output = g.push_activation("acc", 3 * m);
        g.tensors[output].kind = TensorKind::Accumulator;
        g.tensors[output].scale = scale;
        g.ops.push(QOp::Linear(LinearOp {
            name: format!("product {output}"),
            input: x,
            output,
            sets: vec![WeightSet {
                m,
                k: 2,
                w: ws.0.to_vec(),
                b: ws.1.to_vec(),
            }],
            geometry: Geometry::Dense {
                outer: 3,
                inner: 1,
                xs: [2, 0, 1],
                ys: [m, 0, 1],
                sets: None,
            },
        }));
        output
    }

    /// `round((a[index] + 2·b[index]) / 2)` of two accumulators, or of one (`b = None`).
    fn read(g: &mut QuantizedGraph, a: TensorId, b: Option<TensorId>, index: Vec<u32>) -> TensorId {
        let output = g.push_activation("read", index.len());
        let operand = |tensor| Operand {
            tensor,
            index: Some(index.clone()),
        };
        g.ops.push(QOp::Elementwise(ElemOp {
            name: format!("read {output}"),
            output,
            a: Some(operand(a)),
            b: b.map(operand),
            qa: Coef::Const(1),
            qb: Coef::Const(if b.is_some() { 2 } else { 0 }),
            qm: Coef::Const(0),
            qc: Coef::Const(0),
            shift: 1,
            func: 0,
        }));
        output
    }

    /// Input `x [3 × 2]` and its range check; three products of it, the third at `scale3`.
    fn graph(scale3: i32) -> (QuantizedGraph, [TensorId; 3]) {
        let mut g = QuantizedGraph::empty(8);
        g.functions = vec![FnKind::Identity];
        let x = g.push_activation("x", 6);
        g.inputs.push(x);
        let check = read(&mut g, x, None, (0..6).collect());
        let a = product(&mut g, check, (&[1, -2, 3, 4], &[5, -6]), 8);
        let b = product(&mut g, check, (&[7, 1, -1, 2, 0, 3], &[1, 2, 3]), 8);
        let c = product(&mut g, check, (&[2, 2], &[9]), scale3);
        (g, [a, b, c])
    }

    const X: [i128; 6] = [-7, 3, 11, -2, 5, 9];

    #[test]
    fn siblings_become_one_product_with_the_same_integers() {
        let (mut g, [a, b, c]) = graph(8);
        let ra = read(&mut g, a, Some(b), vec![5, 0, 2]);
        let rc = read(&mut g, c, None, vec![2, 1]);
        let rb = read(&mut g, b, None, (0..9).collect());
        g.outputs = vec![ra, rc, rb];
        g.validate().unwrap();
        let before = g.eval(&[X.to_vec()]).unwrap();
        let outputs: Vec<_> = g.outputs.iter().map(|&t| before[t].clone()).collect();
        assert_eq!(fuse_sibling_products(&mut g), 2);
        g.validate().unwrap();
        let linear: Vec<&LinearOp> = (g.ops.iter())
            .filter_map(|op| match op {
                QOp::Linear(l) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(linear.len(), 1);
        assert_eq!(linear[0].shared_product(), Some([3, 2, 6]));
        let after = g.eval(&[X.to_vec()]).unwrap();
        let fused: Vec<_> = g.outputs.iter().map(|&t| after[t].clone()).collect();
        assert_eq!(fused, outputs);
    }

    #[test]
    fn products_of_another_scale_or_input_stay_apart() {
        // Scales differ: the third stays; the first two fuse.
        let (mut g, [a, b, c]) = graph(9);
        let r = read(&mut g, a, Some(b), vec![0, 1]);
        let rc = read(&mut g, c, None, vec![0]);
        g.outputs = vec![r, rc];
        assert_eq!(fuse_sibling_products(&mut g), 1);
        g.validate().unwrap();
        // Another input: nothing to fuse.
        let (mut g, [a, _, _]) = graph(8);
        g.ops.truncate(2);
        let y = read(&mut g, a, None, (0..6).collect());
        let other = product(&mut g, y, (&[1, 1], &[0]), 8);
        let r = read(&mut g, other, None, vec![0]);
        g.outputs = vec![r];
        assert_eq!(fuse_sibling_products(&mut g), 0);
    }
}
