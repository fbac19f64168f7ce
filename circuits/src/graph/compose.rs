//! Composition of affine steps: an elementwise op that only rescales or shifts one operand,
//!
//! ```text
//! t = round((A·x + C) / 2^s)              // identity function, one operand, no product
//! ```
//!
//! and whose output only one elementwise op reads, is substituted into that reader:
//! `qa·t + qb·b + qm·t·b + qc` becomes, times `2^s`,
//! `(qa·A)·x + (qb·2^s + qm·C)·b + (qm·A)·x·b + (qc·2^s + qa·C)` with the reader's shift plus
//! `s`. The reader then rounds once, from the exact value, instead of twice: one op (a row per
//! element) fewer and no less precise. A matrix product's rescale followed by a scaling, a
//! bias `Add` or an activation table becomes one op (a residual `Add` too, where the two
//! shifts together fit the bit width).
//!
//! The reader keeps every check it had (its remainder against `2^bits`, its output range and
//! function), so its witness stays unique. A composition is skipped when the combined shift
//! would exceed the bit width, when a coefficient would grow past what the circuit keeps
//! exact, and for the range check of a graph input (public values are range-checked first).

use super::{Coef, ElemOp, Operand, QOp, QuantizedGraph, TensorId};

/// Largest coefficient magnitude a composition may produce (validation allows `2^62`).
const MAX_COEF: i128 = 1 << 56;

/// The affine step an op computes from its one operand: `(A·x + C) / 2^shift`.
struct Step {
    x: Operand,
    a: Coef,
    c: Coef,
    shift: u32,
}

impl Step {
    /// `op` as a step, when it is one: identity function, one operand, no product.
    fn of(op: &ElemOp, g: &QuantizedGraph) -> Option<Self> {
        if op.func != 0 || !op.qm.is_zero() {
            return None;
        }
        let (x, a) = match (&op.a, &op.b) {
            (Some(x), None) => (x, &op.qa),
            (None, Some(x)) => (x, &op.qb),
            (Some(x), Some(_)) if op.qb.is_zero() => (x, &op.qa),
            (Some(_), Some(x)) if op.qa.is_zero() => (x, &op.qb),
            _ => return None,
        };
        // A graph input's range check stays: it is what bounds the public values.
        if g.inputs.contains(&x.tensor) {
            return None;
        }
        Some(Step {
            x: x.clone(),
            a: a.clone(),
            c: op.qc.clone(),
            shift: op.shift,
        })
    }
}

/// Per-element coefficient `f(e)` for `n` elements, shared when equal; `None` when one is too
/// large.
fn coef(n: usize, f: impl Fn(usize) -> i128) -> Option<Coef> {
    let v: Vec<i128> = (0..n).map(f).collect();
    if v.iter().any(|c| c.abs() >= MAX_COEF) {
        return None;
    }
    let first = v.first().copied().unwrap_or(0);
    Some(if v.iter().all(|&c| c == first) {
        Coef::Const(first as i64)
    } else {
        Coef::Each(v.into_iter().map(|c| c as i64).collect())
    })
}

/// Which operand of the reader the step's output is.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    A,
    B,
}

/// The reader `op` with the step substituted for its operand `slot`, or `None` when the result
/// would not fit (shift above `bits`, coefficients too large).
fn substitute(op: &ElemOp, slot: Slot, step: &Step, n: usize, bits: u32) -> Option<ElemOp> {
    let (here, other_coef) = match slot {
        Slot::A => (op.a.as_ref()?, &op.qb),
        Slot::B => (op.b.as_ref()?, &op.qa),
    };
    let this_coef = if slot == Slot::A { &op.qa } else { &op.qb };
    // Element `e` of the reader reads element `j` of t, which reads element `x(j)` of x.
    let j = |e: usize| here.at(e);
    let x = Operand {
        tensor: step.x.tensor,
        index: Some((0..n).map(|e| step.x.at(j(e)) as u32).collect()),
    };
    let p = 1i128 << step.shift;
    let (sa, sc) = (|e| step.a.at(j(e)) as i128, |e| step.c.at(j(e)) as i128);
    let this = coef(n, |e| this_coef.at(e) as i128 * sa(e))?;
    let other = coef(n, |e| {
        other_coef.at(e) as i128 * p + op.qm.at(e) as i128 * sc(e)
    })?;
    let qm = coef(n, |e| op.qm.at(e) as i128 * sa(e))?;
    let qc = coef(n, |e| {
        op.qc.at(e) as i128 * p + this_coef.at(e) as i128 * sc(e)
    })?;
    let mut out = op.clone();
    match slot {
        Slot::A => (out.a, out.qa, out.qb) = (Some(x), this, other),
        Slot::B => (out.b, out.qb, out.qa) = (Some(x), this, other),
    }
    out.qm = qm;
    out.qc = qc;
    out.shift += step.shift;
    reduce(&mut out);
    (out.shift <= bits).then_some(out)
}

/// Drops an index that reads every element of a tensor of `len` elements in order.
fn plain_index(o: Operand, len: usize) -> Operand {
    let plain = o
        .index
        .as_ref()
        .is_some_and(|ix| ix.len() == len && ix.iter().enumerate().all(|(e, &i)| i as usize == e));
    if plain {
        Operand {
            tensor: o.tensor,
            index: None,
        }
    } else {
        o
    }
}

/// Halves every coefficient and the shift while all coefficients are even: the same rounding.
fn reduce(op: &mut ElemOp) {
    let even = |c: &Coef| match c {
        Coef::Const(v) => v % 2 == 0,
        Coef::Each(v) => v.iter().all(|c| c % 2 == 0),
    };
    let half = |c: &mut Coef| match c {
        Coef::Const(v) => *v /= 2,
        Coef::Each(v) => v.iter_mut().for_each(|c| *c /= 2),
    };
    while op.shift > 0 && [&op.qa, &op.qb, &op.qm, &op.qc].into_iter().all(even) {
        for c in [&mut op.qa, &mut op.qb, &mut op.qm, &mut op.qc] {
            half(c);
        }
        op.shift -= 1;
    }
}

/// Substitutes every affine step into its only reader (see the module docs); returns how
/// many ops were removed. Tensors no op writes any more are dropped.
pub fn compose_affine(g: &mut QuantizedGraph) -> usize {
    let readers = reader_counts(g);
    // The op writing each tensor, by position in `g.ops`.
    let mut producer: Vec<Option<usize>> = vec![None; g.tensors.len()];
    let mut removed = vec![false; g.ops.len()];
    for i in 0..g.ops.len() {
        producer[g.ops[i].family().output()] = Some(i);
        for slot in [Slot::A, Slot::B] {
            if let Some(p) = absorbable(g, i, slot, &readers, &producer) {
                removed[p] = true;
            }
        }
    }
    remove_ops(g, &removed)
}

/// How many ops read each tensor (graph inputs and outputs count two more: never absorbed).
pub(super) fn reader_counts(g: &QuantizedGraph) -> Vec<usize> {
    let mut readers = vec![0usize; g.tensors.len()];
    for op in &g.ops {
        for t in op.family().inputs() {
            readers[t] += 1;
        }
    }
    for &t in g.outputs.iter().chain(&g.inputs) {
        readers[t] += 2;
    }
    readers
}

/// Removes every op whose output nothing reads (no op, not a graph output), as long as there
/// are such, and the tensors they wrote; returns how many. An op reading a graph input stays:
/// it is that input's range check, which bounds the public values.
pub fn remove_unread(g: &mut QuantizedGraph) -> usize {
    let mut readers = reader_counts(g);
    let mut removed = vec![false; g.ops.len()];
    for i in (0..g.ops.len()).rev() {
        let inputs = g.ops[i].family().inputs();
        if readers[g.ops[i].family().output()] > 0 || inputs.iter().any(|t| g.inputs.contains(t)) {
            continue;
        }
        removed[i] = true;
        for t in inputs {
            readers[t] -= 1;
        }
    }
    remove_ops(g, &removed)
}

/// Removes the ops marked in `removed` and the tensors they wrote; returns how many.
pub(super) fn remove_ops(g: &mut QuantizedGraph, removed: &[bool]) -> usize {
    let n = removed.iter().filter(|&&r| r).count();
    let mut k = 0;
    g.ops.retain(|_| {
        k += 1;
        !removed[k - 1]
    });
    drop_unwritten(g);
    n
}

/// Substitutes the step writing operand `slot` of op `i` into it when it can; returns the
/// position of the absorbed op.
fn absorbable(
    g: &mut QuantizedGraph,
    i: usize,
    slot: Slot,
    readers: &[usize],
    producer: &[Option<usize>],
) -> Option<usize> {
    let QOp::Elementwise(op) = &g.ops[i] else {
        return None;
    };
    let t = match slot {
        Slot::A => op.a.as_ref()?.tensor,
        Slot::B => op.b.as_ref()?.tensor,
    };
    if readers[t] != 1
        || op
            .a
            .as_ref()
            .zip(op.b.as_ref())
            .is_some_and(|(a, b)| a.tensor == b.tensor)
    {
        return None;
    }
    let p = producer[t]?;
    let QOp::Elementwise(prev) = &g.ops[p] else {
        return None;
    };
    let step = Step::of(prev, g)?;
    let n = g.tensors[op.output].len();
    let mut fused = substitute(op, slot, &step, n, g.bits)?;
    let len = |o: &Operand| g.tensors[o.tensor].len();
    fused.a = fused.a.map(|o| plain_index(o.clone(), len(&o)));
    fused.b = fused.b.map(|o| plain_index(o.clone(), len(&o)));
    g.ops[i] = QOp::Elementwise(fused);
    Some(p)
}

/// Removes tensors that are neither graph inputs nor written by an op, renumbering the rest.
fn drop_unwritten(g: &mut QuantizedGraph) {
    let mut keep = vec![false; g.tensors.len()];
    for &t in &g.inputs {
        keep[t] = true;
    }
    for op in &g.ops {
        keep[op.family().output()] = true;
    }
    let mut new_id: Vec<TensorId> = Vec::with_capacity(keep.len());
    let mut next = 0;
    for &k in &keep {
        new_id.push(next);
        next += usize::from(k);
    }
    let mut i = 0;
    g.tensors.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    for op in &mut g.ops {
        for t in op.tensor_ids_mut() {
            *t = new_id[*t];
        }
    }
    for t in g
        .inputs
        .iter_mut()
        .chain(g.outputs.iter_mut())
        .chain(g.integer_inputs.iter_mut())
    {
        *t = new_id[*t];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::FnKind;

    const BITS: u32 = 8;

    fn graph() -> QuantizedGraph {
        QuantizedGraph {
            bits: BITS,
            tensors: vec![],
            inputs: vec![],
            outputs: vec![],
            ops: vec![],
            functions: vec![FnKind::Identity, FnKind::Relu],
            integer_inputs: vec![],
        }
    }

    fn tensor(g: &mut QuantizedGraph, name: &str, n: usize) -> TensorId {
        g.push_activation(name, n)
    }

    fn plain(tensor: TensorId) -> Option<Operand> {
        Some(Operand {
            tensor,
            index: None,
        })
    }

    /// `func(round((qa·a + qb·b + qm·a·b + qc) / 2^shift))` into a new tensor of `n` elements.
    #[allow(clippy::too_many_arguments)]
    fn elem(
        g: &mut QuantizedGraph,
        name: &str,
        n: usize,
        a: Option<Operand>,
        b: Option<Operand>,
        [qa, qb, qm]: [i64; 3],
        qc: Coef,
        shift: u32,
        func: u32,
    ) -> TensorId {
        let output = tensor(g, name, n);
        g.ops.push(QOp::Elementwise(ElemOp {
            name: name.into(),
            output,
            a,
            b,
            qa: Coef::Const(qa),
            qb: Coef::Const(qb),
            qm: Coef::Const(qm),
            qc,
            shift,
            func,
        }));
        output
    }

    /// Graph input `x` of `n` elements and its range check.
    fn input(g: &mut QuantizedGraph, name: &str, n: usize) -> TensorId {
        let raw = tensor(g, name, n);
        g.inputs.push(raw);
        elem(
            g,
            "check",
            n,
            plain(raw),
            None,
            [1, 0, 0],
            Coef::Const(0),
            0,
            0,
        )
    }

    /// `floor(num / 2^s + 1/2)`: one half-up rounding of the exact value.
    fn round(num: i128, s: u32) -> i128 {
        (num + (1 << s >> 1)).div_euclid(1 << s)
    }

    fn xs() -> Vec<i128> {
        (-128..128).collect()
    }

    #[test]
    fn unread_ops_are_removed_but_an_input_check_stays() {
        let mut g = graph();
        let x = input(&mut g, "x", 4);
        let step = |g: &mut QuantizedGraph, name: &str, t: TensorId| {
            elem(g, name, 4, plain(t), None, [1, 0, 0], Coef::Const(1), 0, 0)
        };
        // A second, unread check of the input, a chain read by nothing, and the output's op.
        let raw = g.inputs[0];
        step(&mut g, "unread check", raw);
        let d = step(&mut g, "dead", x);
        step(&mut g, "dead too", d);
        let y = step(&mut g, "y", x);
        g.outputs.push(y);
        let before = g.eval(&[vec![1, 2, 3, 4]]).unwrap()[y].clone();
        assert_eq!(remove_unread(&mut g), 2);
        g.validate().unwrap();
        let names: Vec<&str> = g.ops.iter().map(|op| op.family().name()).collect();
        assert_eq!(names, ["check", "unread check", "y"]);
        assert_eq!(g.eval(&[vec![1, 2, 3, 4]]).unwrap()[g.outputs[0]], before);
    }

    #[test]
    fn a_rescale_then_a_bias_add_round_once() {
        let mut g = graph();
        let x = input(&mut g, "x", 256);
        let t = elem(
            &mut g,
            "rescale",
            256,
            plain(x),
            None,
            [3, 0, 0],
            Coef::Const(0),
            2,
            0,
        );
        let bias = Coef::Each((0..256).map(|e| e % 7 - 3).collect());
        let y = elem(&mut g, "add", 256, plain(t), None, [5, 0, 0], bias, 3, 1);
        g.outputs.push(y);
        let before = g.eval(&[xs()]).unwrap();
        let (ops, tensors) = (g.ops.len(), g.tensors.len());
        assert_eq!(compose_affine(&mut g), 1);
        g.validate().unwrap();
        assert_eq!((g.ops.len(), g.tensors.len()), (ops - 1, tensors - 1));
        let out = g.outputs[0];
        let after = &g.eval(&[xs()]).unwrap()[out];
        let mut differs = false;
        for (e, &x) in xs().iter().enumerate() {
            let exact = round(5 * 3 * x + 4 * (e as i128 % 7 - 3), 5).max(0);
            assert_eq!(after[e], exact, "x = {x}");
            differs |= before[y][e] != exact;
        }
        assert!(differs, "two roundings and one should differ somewhere");
    }

    #[test]
    fn a_product_reader_absorbs_the_step_of_either_operand() {
        let n = 80;
        let xs: Vec<i128> = (0..n).map(|e| e as i128 - 40).collect();
        let ws: Vec<i128> = (0..n).map(|e| (e as i128 * 7) % 32 - 16).collect();
        for slot in [Slot::A, Slot::B] {
            let mut g = graph();
            let x = input(&mut g, "x", n);
            let w = input(&mut g, "w", n);
            let c = Coef::Each((0..n as i64).map(|e| e % 5 - 2).collect());
            let t = elem(&mut g, "step", n, plain(x), None, [3, 0, 0], c, 1, 0);
            let (a, b, qs) = match slot {
                Slot::A => (t, w, [2, -1, 1]),
                Slot::B => (w, t, [-1, 2, 1]),
            };
            let y = elem(
                &mut g,
                "mul",
                n,
                plain(a),
                plain(b),
                qs,
                Coef::Const(1),
                4,
                0,
            );
            g.outputs.push(y);
            assert!(g.eval(&[xs.clone(), ws.clone()]).is_ok());
            assert_eq!(compose_affine(&mut g), 1);
            g.validate().unwrap();
            let after = &g.eval(&[xs.clone(), ws.clone()]).unwrap()[g.outputs[0]];
            for e in 0..n {
                let (x, w, c) = (xs[e], ws[e], e as i128 % 5 - 2);
                // (2·t − w + t·w + 1) / 2^4 with t = (3x + c) / 2, times 2 to stay exact.
                let num = 2 * (3 * x + c) - 2 * w + (3 * x + c) * w + 2;
                assert_eq!(after[e], round(num, 5), "element {e}");
            }
        }
    }

    /// `x → t = f1(round(qa1·x / 2^s1)) → y = f2(round((qa2·t + qc2) / 2^s2))`, `x` an input of
    /// four elements; returns the graph, `t` and `y` (nothing listed as output yet).
    fn two_steps(
        (qa1, s1, f1): (i64, u32, u32),
        (qa2, qc2, s2, f2): (i64, i64, u32, u32),
    ) -> (QuantizedGraph, TensorId, TensorId) {
        let mut g = graph();
        let x = input(&mut g, "x", 4);
        let (c0, c) = (Coef::Const(0), Coef::Const(qc2));
        let t = elem(&mut g, "t", 4, plain(x), None, [qa1, 0, 0], c0, s1, f1);
        let y = elem(&mut g, "y", 4, plain(t), None, [qa2, 0, 0], c, s2, f2);
        (g, t, y)
    }

    #[test]
    fn steps_others_read_listed_or_input_checks_stay() {
        // Read twice: by y and by z.
        let (mut g, t, y) = two_steps((1, 1, 0), (1, 0, 1, 0));
        let z = elem(
            &mut g,
            "z",
            4,
            plain(t),
            None,
            [1, 0, 0],
            Coef::Const(0),
            0,
            0,
        );
        g.outputs.extend([y, z]);
        assert_eq!(compose_affine(&mut g), 0);
        // Listed as an output.
        let (mut g, t, y) = two_steps((1, 1, 0), (1, 0, 1, 0));
        g.outputs.extend([t, y]);
        assert_eq!(compose_affine(&mut g), 0);
        // A step through a function (relu).
        let (mut g, _, y) = two_steps((1, 1, 1), (1, 0, 1, 0));
        g.outputs.push(y);
        assert_eq!(compose_affine(&mut g), 0);
        // A graph input's range check: `t` reads the input's check, which stays.
        let (mut g, _, y) = two_steps((1, 1, 0), (1, 0, 1, 0));
        g.outputs.push(y);
        assert_eq!(compose_affine(&mut g), 1);
        assert_eq!(g.ops.len(), 2, "the input check and the composed step");
        let (QOp::Elementwise(check), QOp::Elementwise(y)) = (&g.ops[0], &g.ops[1]) else {
            panic!("not elementwise")
        };
        assert_eq!(y.a.as_ref().map(|o| o.tensor), Some(check.output));
    }

    #[test]
    fn a_composed_shift_beyond_the_bits_stays() {
        let (mut g, _, y) = two_steps((3, 5, 0), (5, 1, 4, 0));
        g.outputs.push(y);
        assert_eq!(compose_affine(&mut g), 0, "5 + 4 > 8 bits");
        // Even coefficients cancel shift: 4·x / 2^5 then 8·t / 2^4 is x / 2^4.
        let (mut g, _, y) = two_steps((4, 5, 0), (8, 0, 4, 0));
        g.outputs.push(y);
        assert_eq!(compose_affine(&mut g), 1);
        let QOp::Elementwise(e) = &g.ops[1] else {
            panic!("not elementwise")
        };
        assert_eq!((e.shift, &e.qa), (4, &Coef::Const(1)));
    }

    #[test]
    fn broadcast_reads_compose_their_indices() {
        // t (2 elements) read by y (4 elements) through [0, 1, 0, 1]; t reads x reversed.
        let mut g = graph();
        let x = input(&mut g, "x", 2);
        let rev = Some(Operand {
            tensor: x,
            index: Some(vec![1, 0]),
        });
        let t = elem(
            &mut g,
            "t",
            2,
            rev,
            None,
            [3, 0, 0],
            Coef::Each(vec![1, -1]),
            1,
            0,
        );
        let bcast = Some(Operand {
            tensor: t,
            index: Some(vec![0, 1, 0, 1]),
        });
        let y = elem(
            &mut g,
            "y",
            4,
            bcast,
            None,
            [1, 0, 0],
            Coef::Each(vec![0, 0, 5, 5]),
            0,
            0,
        );
        g.outputs.push(y);
        assert_eq!(compose_affine(&mut g), 1);
        g.validate().unwrap();
        let out = &g.eval(&[vec![10, 20]]).unwrap()[g.outputs[0]];
        // t = round((3·x[1] + 1) / 2), round((3·x[0] - 1) / 2) = 31 (30.5), 15 (14.5).
        assert_eq!(out, &vec![31, 15, 36, 20]);
    }
}
