//! Centring at the source: a product of two computed int8 tensors multiplies `x − z`, and the
//! importer writes that as an elementwise step per operand,
//!
//! ```text
//! c = x − z            // identity function, shift 0: one row per element
//! ```
//!
//! Where every reader of `x` (through views) is such a step with the same `z`, the op that
//! writes `x` can write `x − z` itself: a requantization with zero point `zp − z` and range
//! `[qmin − z, qmax − z]` (`clamp(v + zp, qmin, qmax) − z` is `clamp(v + zp − z, qmin − z,
//! qmax − z)`), or a table with every value less `z`. The steps become views (no rows). The
//! tensors in between then hold integers `z` lower: their int8 quantizations are relabelled to
//! match (zero point and range less `z`, the same reals). Attention's `Q`, `K`, `V` (one requantization, split) and its
//! probabilities (the softmax's last table) are read only by matrix products.

use super::requant::{AffineScale, Dyadic};
use super::{Coef, ElemOp, FnKind, Operand, QOp, QuantizedGraph, TensorId, ViewOp};

/// Moves every centring it can to the op writing the centred tensor (see the module docs);
/// returns how many steps became views.
pub fn centre_at_source(g: &mut QuantizedGraph) -> usize {
    let readers = readers(g);
    let mut moved = 0;
    for root in 0..g.ops.len() {
        let out = g.ops[root].family().output();
        let Some((z, tree, steps)) = centred_readers(g, out, &readers) else {
            continue;
        };
        // The int8 quantizations of the tensors on the way, relabelled: the same reals from
        // integers `z` lower (zero point and range moved by `−z`).
        let relabelled: Option<Vec<Option<AffineScale>>> = (tree.iter())
            .map(|&t| match g.tensors[t].affine {
                None => Some(None),
                Some(a) => {
                    let (lo, hi) = a.range();
                    AffineScale::new(a.scale(), a.zero_point() - z, (lo - z, hi - z))
                        .ok()
                        .map(Some)
                }
            })
            .collect();
        let Some(relabelled) = relabelled else {
            continue;
        };
        if !shift_writer(g, root, z) {
            continue;
        }
        for (t, a) in tree.into_iter().zip(relabelled) {
            g.tensors[t].affine = a;
        }
        for s in steps {
            let QOp::Elementwise(e) = &g.ops[s] else {
                continue;
            };
            let (Some(a), output) = (e.a.clone(), e.output) else {
                continue;
            };
            g.ops[s] = QOp::View(ViewOp {
                name: e.name.clone(),
                inputs: vec![a.tensor],
                output,
                map: (0..g.tensors[output].len() as u32)
                    .map(|e| (0u16, e))
                    .collect(),
            });
            moved += 1;
        }
    }
    moved
}

/// The ops reading each tensor, by position.
fn readers(g: &QuantizedGraph) -> Vec<Vec<usize>> {
    let mut r = vec![Vec::new(); g.tensors.len()];
    for (i, op) in g.ops.iter().enumerate() {
        for t in op.family().inputs() {
            r[t].push(i);
        }
    }
    r
}

/// `x − z` of a whole tensor, as the importer writes a centring: `z` when `op` is one.
fn centring(op: &QOp) -> Option<i64> {
    match op {
        QOp::Elementwise(ElemOp {
            a: Some(Operand { index: None, .. }),
            b: None,
            qa: Coef::Const(1),
            qm,
            qc: Coef::Const(c),
            shift: 0,
            func: 0,
            ..
        }) if qm.is_zero() && *c != 0 => Some(-*c),
        _ => None,
    }
}

/// When every reader of `t`, through views of one input, is a centring by the same `z` (and
/// no tensor on the way is a graph output): `z`, the tensors from `t` to the steps' operands,
/// and the steps.
fn centred_readers(
    g: &QuantizedGraph,
    t: TensorId,
    readers: &[Vec<usize>],
) -> Option<(i64, Vec<TensorId>, Vec<usize>)> {
    let (mut z, mut tree, mut steps) = (None, Vec::new(), Vec::new());
    let mut todo = vec![t];
    while let Some(u) = todo.pop() {
        if g.outputs.contains(&u) || g.inputs.contains(&u) || readers[u].is_empty() {
            return None;
        }
        tree.push(u);
        for &r in &readers[u] {
            match (&g.ops[r], centring(&g.ops[r])) {
                (QOp::View(v), _) if v.inputs.len() == 1 => todo.push(v.output),
                (_, Some(c)) if z.is_none_or(|z| z == c) => {
                    z = Some(c);
                    steps.push(r);
                }
                _ => return None,
            }
        }
    }
    Some((z?, tree, steps))
}

/// Makes op `i` write its integers less `z`: a requantization's zero point and range, or a
/// table's values (as a new function). False for any other op, or where a value would leave
/// the activation domain.
fn shift_writer(g: &mut QuantizedGraph, i: usize, z: i64) -> bool {
    let half = i64::try_from(g.half_range()).unwrap_or(i64::MAX);
    let inside = |v: i64| (-half..half).contains(&v);
    match &g.ops[i] {
        QOp::Requant(r) => {
            let rules: Option<Vec<Dyadic>> = (r.rules.iter())
                .map(|d| {
                    let (lo, hi) = (d.range().0 - z, d.range().1 - z);
                    (inside(lo) && inside(hi)).then_some(())?;
                    Dyadic::new((d.mult(), d.shift(), d.rounding()), d.zp() - z, (lo, hi)).ok()
                })
                .collect();
            let Some(rules) = rules else {
                return false;
            };
            if let QOp::Requant(r) = &mut g.ops[i] {
                r.rules = rules;
            }
            true
        }
        QOp::Elementwise(e) => {
            let Some(FnKind::Tabulated { lo, values }) = g.functions.get(e.func as usize) else {
                return false;
            };
            let shifted: Vec<i64> = values.iter().map(|v| v - z).collect();
            if !shifted.iter().all(|&v| inside(v)) {
                return false;
            }
            let f = FnKind::Tabulated {
                lo: *lo,
                values: shifted,
            };
            let func = g.function_index(f);
            if let QOp::Elementwise(e) = &mut g.ops[i] {
                e.func = func;
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{MatMulOp, QTensor, RequantOp, TensorKind};

    fn tensor(g: &mut QuantizedGraph, name: &str, n: usize, kind: TensorKind) -> TensorId {
        g.tensors.push(QTensor {
            name: name.into(),
            shape: vec![n],
            scale: 0,
            kind,
            affine: None,
        });
        g.tensors.len() - 1
    }

    fn step(g: &mut QuantizedGraph, x: TensorId, qc: i64) -> TensorId {
        let out = tensor(g, "centred", g.tensors[x].len(), TensorKind::Activation);
        let mut op = ElemOp::lookup("centring".into(), (x, out), 0);
        op.qc = Coef::Const(qc);
        g.ops.push(QOp::Elementwise(op));
        out
    }

    /// An accumulator requantized to int8 (zero point 5), split by two views, each half centred
    /// and the halves multiplied (`[1, 2]·[2, 1]`); `extra` adds another reader of the
    /// requantized tensor.
    fn graph(extra: bool) -> QuantizedGraph {
        let mut g = QuantizedGraph::empty(16);
        let acc = tensor(&mut g, "acc", 4, TensorKind::Activation);
        g.inputs = vec![acc];
        let checked = step(&mut g, acc, 0);
        let y = tensor(&mut g, "y", 4, TensorKind::Activation);
        g.tensors[y].affine = AffineScale::new(0.1, 5, (-128, 127)).ok();
        let rule = Dyadic::new(
            (3, 2, crate::graph::requant::Rounding::HalfUp),
            5,
            (-128, 127),
        );
        g.ops.push(QOp::Requant(RequantOp {
            name: "requant".into(),
            input: checked,
            output: y,
            rules: vec![rule.unwrap()],
            inner: 4,
            offsets: vec![],
            quotient_bits: 12,
        }));
        let mut halves = Vec::new();
        for h in 0..2u32 {
            let v = tensor(&mut g, "half", 2, TensorKind::Activation);
            g.tensors[v].affine = g.tensors[y].affine;
            g.ops.push(QOp::View(ViewOp {
                name: "split".into(),
                inputs: vec![y],
                output: v,
                map: vec![(0, 2 * h), (0, 2 * h + 1)],
            }));
            halves.push(step(&mut g, v, -5));
        }
        let p = tensor(&mut g, "p", 1, TensorKind::Accumulator);
        g.ops.push(QOp::MatMul(MatMulOp {
            name: "product".into(),
            a: halves[0],
            b: halves[1],
            output: p,
            ikj: [1, 2, 1],
            batches: vec![[0, 0, 0]],
            a_zeros: Vec::new(),
        }));
        let out = step(&mut g, p, 0);
        g.outputs = vec![out];
        if extra {
            let other = step(&mut g, y, 0);
            g.outputs.push(other);
        }
        g
    }

    #[test]
    fn a_requantization_read_only_by_centring_steps_writes_centred_integers() {
        let mut g = graph(false);
        let x = vec![vec![40, -7, 300, -1000]];
        let want = g.eval(&x).unwrap()[g.outputs[0]].clone();
        assert_eq!(centre_at_source(&mut g), 2);
        g.validate().unwrap();
        assert!(g.ops.iter().filter(|op| centring(op).is_some()).count() == 0);
        let QOp::Requant(r) = &g.ops[1] else {
            panic!("{:?}", g.ops[1]);
        };
        assert_eq!((r.rules[0].zp(), r.rules[0].range()), (0, (-133, 122)));
        // The same product; the requantized integers (35, 0, 127, −128 clamped) 5 lower,
        // relabelled with zero point 0.
        let vals = g.eval(&x).unwrap();
        assert_eq!(vals[g.outputs[0]], want);
        let y = r.output;
        assert_eq!(vals[y], vec![30, -5, 122, -133]);
        let a = g.tensors[y].affine.unwrap();
        assert_eq!((a.zero_point(), a.range()), (0, (-133, 122)));
    }

    #[test]
    fn another_reader_keeps_the_centring_steps() {
        let mut g = graph(true);
        assert_eq!(centre_at_source(&mut g), 0);
        assert_eq!(g.ops.iter().filter(|op| centring(op).is_some()).count(), 2);
    }
}
