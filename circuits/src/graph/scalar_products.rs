//! Products of two computed tensors element by element: a [`MatMulOp`] of 1×1×1 blocks,
//!
//! ```text
//! p[e] = a'[i(e)] · b'[j(e)]        a' = A·a + C,  b' = B·b + D     (affine steps, shift 0)
//! ```
//!
//! becomes one elementwise row per element,
//! `p = (A·B)·a·b + (A·D)·a + (B·C)·b + C·D` (identity function), where the product chip took
//! three rows per element and each operand's step one more. An imported int8 model writes
//! every Mul of two tensors this way: `(a − z_a)(b − z_b)`, then its requantization (GELU's
//! three products per layer).
//!
//! The row computes the same integer exactly (no rounding: shift 0) and its lookup bounds it to
//! the activation domain, so the pass applies only where every product lies in that domain,
//! which the operands' int8 ranges (through their steps) show. Where the products' span fits
//! but not their place (`(a − z_a)` in `[0, 255]` times a centred int8: up to 255·129), the row
//! writes `p − K` for the span's middle `K` and the requantization that alone reads it adds `K`
//! back as its constant offset, so it requantizes `p` as before. Elsewhere the product is left
//! as it is. A step is absorbed when the product is its only reader, and a graph input's range
//! check is never absorbed.

use super::compose::{reader_counts, remove_ops};
use super::{Coef, ElemOp, MatMulOp, Operand, QOp, QuantizedGraph, TensorId, TensorKind};

/// Rewrites every elementwise product that fits (see the module docs); returns how many.
pub fn scalar_products(g: &mut QuantizedGraph) -> usize {
    let readers = reader_counts(g);
    let mut producer: Vec<Option<usize>> = vec![None; g.tensors.len()];
    let mut removed = vec![false; g.ops.len()];
    let mut rewritten = 0;
    for i in 0..g.ops.len() {
        producer[g.ops[i].family().output()] = Some(i);
        let QOp::MatMul(m) = &g.ops[i] else {
            continue;
        };
        if m.ikj != [1, 1, 1] {
            continue;
        }
        let (a, b) = (
            Factor::of(g, m.a, &readers, &producer),
            Factor::of(g, m.b, &readers, &producer),
        );
        let requant = only_requant(g, m.output, &readers);
        let Some((op, shift)) = row_op(g, m, (&a, &b), requant.is_some()) else {
            continue;
        };
        let out = op.output;
        g.ops[i] = QOp::Elementwise(op);
        g.tensors[out].kind = TensorKind::Activation;
        if let (Some(r), true) = (requant, shift != 0) {
            add_offset(g, r, shift);
        }
        for f in [&a, &b] {
            if let Some(p) = f.step {
                removed[p] = true;
            }
        }
        rewritten += 1;
    }
    remove_ops(g, &removed);
    rewritten
}

/// One operand of a product: `A·x + C` over tensor `x`, whose values lie in `[lo, hi]`; `step`
/// is the op computing it when that op is absorbed.
struct Factor {
    x: TensorId,
    a: i64,
    c: i64,
    range: Option<(i64, i64)>,
    step: Option<usize>,
}

impl Factor {
    /// Operand `t`: the step writing it when the product alone reads it, or `t` itself.
    fn of(
        g: &QuantizedGraph,
        t: TensorId,
        readers: &[usize],
        producer: &[Option<usize>],
    ) -> Factor {
        let plain = Factor {
            x: t,
            a: 1,
            c: 0,
            range: int8_range(g, t),
            step: None,
        };
        let Some(p) = producer[t].filter(|_| readers[t] == 1) else {
            return plain;
        };
        match &g.ops[p] {
            QOp::Elementwise(ElemOp {
                a:
                    Some(Operand {
                        tensor,
                        index: None,
                    }),
                b: None,
                qa: Coef::Const(a),
                qm,
                qc: Coef::Const(c),
                shift: 0,
                func: 0,
                ..
            }) if qm.is_zero() && !g.inputs.contains(tensor) => Factor {
                x: *tensor,
                a: *a,
                c: *c,
                range: int8_range(g, *tensor),
                step: Some(p),
            },
            _ => plain,
        }
    }

    /// The least and greatest value of `A·x + C`.
    fn span(&self) -> Option<(i128, i128)> {
        let (lo, hi) = self.range?;
        let (u, v) = (
            i128::from(self.a) * i128::from(lo) + i128::from(self.c),
            i128::from(self.a) * i128::from(hi) + i128::from(self.c),
        );
        Some((u.min(v), u.max(v)))
    }
}

/// The range an imported tensor's quantization gives it.
fn int8_range(g: &QuantizedGraph, t: TensorId) -> Option<(i64, i64)> {
    g.tensors[t].affine.map(|s| s.range())
}

/// The requantization that alone reads tensor `t`, by position.
fn only_requant(g: &QuantizedGraph, t: TensorId, readers: &[usize]) -> Option<usize> {
    if readers[t] != 1 {
        return None;
    }
    g.ops
        .iter()
        .position(|op| matches!(op, QOp::Requant(r) if r.input == t))
}

/// Adds `k` to every accumulator requantization `r` reads.
fn add_offset(g: &mut QuantizedGraph, r: usize, k: i64) {
    let n = g.ops[r]
        .family()
        .inputs()
        .first()
        .map_or(0, |&t| g.tensors[t].len());
    if let QOp::Requant(op) = &mut g.ops[r] {
        if op.offsets.is_empty() {
            op.offsets = vec![0; n];
        }
        op.offsets.iter_mut().for_each(|o| *o += k);
    }
}

/// The elementwise op for `m` and the constant `K` it subtracts (see the module docs), when
/// every product fits the activation domain (moved by `K` only when `movable`).
fn row_op(
    g: &QuantizedGraph,
    m: &MatMulOp,
    (a, b): (&Factor, &Factor),
    movable: bool,
) -> Option<(ElemOp, i64)> {
    let ((alo, ahi), (blo, bhi)) = (a.span()?, b.span()?);
    let corners = [alo * blo, alo * bhi, ahi * blo, ahi * bhi];
    let half = g.half_range();
    let (lo, hi) = (*corners.iter().min()?, *corners.iter().max()?);
    let k = match lo >= -half && hi < half {
        true => 0,
        false if movable => (lo + hi).div_euclid(2),
        false => return None,
    };
    if lo - k < -half || hi - k >= half {
        return None;
    }
    let n = g.tensors[m.output].len();
    let (mut ia, mut ib) = (vec![0u32; n], vec![0u32; n]);
    for &[ao, bo, co] in &m.batches {
        let slot = (ia.get_mut(co)?, ib.get_mut(co)?);
        (*slot.0, *slot.1) = (u32::try_from(ao).ok()?, u32::try_from(bo).ok()?);
    }
    let operand = |x: TensorId, ix: Vec<u32>| {
        let plain =
            ix.len() == g.tensors[x].len() && ix.iter().enumerate().all(|(e, &i)| i as usize == e);
        Operand {
            tensor: x,
            index: (!plain).then_some(ix),
        }
    };
    let coef = |v: i128| i64::try_from(v).ok().map(Coef::Const);
    let (ca, cc, cb, cd) = (
        i128::from(a.a),
        i128::from(a.c),
        i128::from(b.a),
        i128::from(b.c),
    );
    let op = ElemOp {
        name: m.name.clone(),
        output: m.output,
        a: Some(operand(a.x, ia)),
        b: Some(operand(b.x, ib)),
        qa: coef(ca * cd)?,
        qb: coef(cb * cc)?,
        qm: coef(ca * cb)?,
        qc: coef(cc * cd - k)?,
        shift: 0,
        func: 0,
    };
    Some((op, i64::try_from(k).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::requant::{AffineScale, Dyadic, Rounding};
    use crate::graph::{QTensor, RequantOp};

    fn tensor(g: &mut QuantizedGraph, name: &str, n: usize, zp: Option<i64>) -> TensorId {
        g.tensors.push(QTensor {
            name: name.into(),
            shape: vec![n],
            scale: 0,
            kind: TensorKind::Activation,
            affine: zp.map(|z| AffineScale::new(0.1, z, (-128, 127)).unwrap()),
        });
        g.tensors.len() - 1
    }

    /// `x − zp`, an int8 tensor of zero point `keeps` when given.
    fn centring(g: &mut QuantizedGraph, x: TensorId, zp: i64, keeps: Option<i64>) -> TensorId {
        let n = g.tensors[x].len();
        let out = tensor(g, "centred", n, keeps);
        let mut op = ElemOp::lookup("centring".into(), (x, out), 0);
        op.qc = Coef::Const(-zp);
        g.ops.push(QOp::Elementwise(op));
        out
    }

    /// `(a − za)(b − zb)` for `a` of 4 elements and `b` of 2 broadcast over pairs, by a matrix
    /// product of 1×1×1 blocks, at `bits`.
    fn graph(bits: u32, (za, zb): (i64, i64)) -> QuantizedGraph {
        let mut g = QuantizedGraph::empty(bits);
        let (a, b) = (
            tensor(&mut g, "a", 4, Some(za)),
            tensor(&mut g, "b", 2, Some(zb)),
        );
        g.inputs = vec![a, b];
        // The inputs' range checks, then the centring steps the product reads.
        let (ra, rb) = (
            centring(&mut g, a, 0, Some(za)),
            centring(&mut g, b, 0, Some(zb)),
        );
        let (ca, cb) = (
            centring(&mut g, ra, za, None),
            centring(&mut g, rb, zb, None),
        );
        let out = g.tensors.len();
        g.tensors.push(QTensor {
            name: "p".into(),
            shape: vec![4],
            scale: 0,
            kind: TensorKind::Accumulator,
            affine: None,
        });
        g.ops.push(QOp::MatMul(MatMulOp {
            name: "mul".into(),
            a: ca,
            b: cb,
            output: out,
            ikj: [1, 1, 1],
            batches: vec![[0, 0, 0], [1, 1, 1], [2, 0, 2], [3, 1, 3]],
            a_zeros: Vec::new(),
        }));
        g.outputs = vec![out];
        g
    }

    #[test]
    fn a_product_of_centred_int8_tensors_takes_one_row_and_the_same_integers() {
        let mut g = graph(16, (-5, 7));
        let inputs = vec![vec![-128, 127, 3, 0], vec![127, -128]];
        let want = g.eval(&inputs).unwrap()[g.outputs[0]].clone();
        assert_eq!(want, vec![-123 * 120, 132 * -135, 8 * 120, 5 * -135]);
        assert_eq!(scalar_products(&mut g), 1);
        g.validate().unwrap();
        // The two centring steps are gone; the inputs' range checks stay.
        assert_eq!(g.ops.len(), 3);
        let QOp::Elementwise(p) = &g.ops[2] else {
            panic!("{:?}", g.ops[2]);
        };
        assert_eq!(
            (p.qm.at(0), p.qa.at(0), p.qb.at(0), p.qc.at(0)),
            (1, -7, 5, -35)
        );
        assert_eq!(g.eval(&inputs).unwrap()[g.outputs[0]], want);
    }

    #[test]
    fn a_product_beyond_the_activation_domain_stays_a_matrix_product() {
        // (127 + 100)·(−128 − 100) leaves ±2^15.
        let mut g = graph(16, (-100, 100));
        assert_eq!(scalar_products(&mut g), 0);
        assert!(matches!(g.ops.last(), Some(QOp::MatMul(_))));
        // At 17 bits it fits.
        let mut g = graph(17, (-100, 100));
        assert_eq!(scalar_products(&mut g), 1);
    }

    #[test]
    fn a_requantized_product_is_moved_into_the_domain_and_moved_back_by_the_offset() {
        // The products span [−51756, 6384]: too low for ±2^15, narrow enough to move.
        let mut g = graph(16, (-100, 100));
        let p = g.outputs[0];
        let y = tensor(&mut g, "y", 4, Some(0));
        let rule = Dyadic::new((3, 9, Rounding::HalfEven), 1, (-128, 127)).unwrap();
        g.ops.push(QOp::Requant(RequantOp {
            name: "requant".into(),
            input: p,
            output: y,
            rules: vec![rule],
            inner: 4,
            offsets: vec![],
            quotient_bits: 10,
        }));
        g.outputs = vec![y];
        let inputs = vec![vec![127, -128, 127, 5], vec![-128, 127]];
        let want = g.eval(&inputs).unwrap()[y].clone();
        assert_eq!(want[0], i128::from(rule.apply(227 * -228)));
        assert_eq!(scalar_products(&mut g), 1);
        g.validate().unwrap();
        let Some(QOp::Requant(r)) = g.ops.last() else {
            panic!("{:?}", g.ops.last());
        };
        assert_eq!(r.offsets, vec![(-51756 + 6384) / 2; 4]);
        // (Tensors are renumbered: the centring steps' outputs are gone.)
        let (p, y) = (r.input, g.outputs[0]);
        let vals = g.eval(&inputs).unwrap();
        assert_eq!(vals[y], want);
        assert!(vals[p].iter().all(|v| v.abs() < 1 << 15), "{:?}", vals[p]);
    }
}
