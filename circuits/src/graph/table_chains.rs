//! Chains of tables: an elementwise op that only looks its operand up in a tabulated function,
//!
//! ```text
//! y = T2[x]        x = T1[w]        (x read by nothing else)
//! ```
//!
//! becomes one lookup `y = (T2 ∘ T1)[w]` over `T1`'s domain, and `x` is dropped: one op (a row
//! per element) fewer, the same integers. An imported int8 model has such chains wherever the
//! quantizer writes a unary op after another (a scaling, a Tanh, an offset: GELU's
//! `Mul → Tanh → Add`). The composed table's domain is `T1`'s, so `w` is checked as before;
//! a chain whose `T1` values leave `T2`'s domain (a witness the two lookups would refuse) is
//! left as it is.

use super::compose::{reader_counts, remove_ops};
use super::{Coef, ElemOp, FnKind, QOp, QuantizedGraph, TensorId};

/// Composes every chain of table lookups (see the module docs) and drops the functions no op
/// uses any more; returns the number of ops removed.
pub fn compose_tables(g: &mut QuantizedGraph) -> usize {
    let readers = reader_counts(g);
    let mut producer: Vec<Option<usize>> = vec![None; g.tensors.len()];
    let mut removed = vec![false; g.ops.len()];
    for i in 0..g.ops.len() {
        producer[g.ops[i].family().output()] = Some(i);
        let Some((x, outer)) = lookup(g, i) else {
            continue;
        };
        let Some(p) = producer[x].filter(|_| readers[x] == 1) else {
            continue;
        };
        let Some((w, inner)) = lookup(g, p) else {
            continue;
        };
        let Some(f) = composed(&g.functions[inner as usize], &g.functions[outer as usize]) else {
            continue;
        };
        let func = g.function_index(f);
        if let QOp::Elementwise(op) = &mut g.ops[i] {
            if let Some(a) = op.a.as_mut() {
                a.tensor = w;
            }
            op.func = func;
            removed[p] = true;
        }
    }
    let n = remove_ops(g, &removed);
    drop_unused_functions(g);
    n
}

/// Op `i` as a plain lookup `T[x]` of a tabulated function: its operand and function.
fn lookup(g: &QuantizedGraph, i: usize) -> Option<(TensorId, u32)> {
    let QOp::Elementwise(op) = &g.ops[i] else {
        return None;
    };
    let ElemOp {
        a: Some(a),
        b: None,
        qa: Coef::Const(1),
        qm,
        qc,
        shift: 0,
        func,
        ..
    } = op
    else {
        return None;
    };
    let plain = a.index.is_none() && qm.is_zero() && qc.is_zero();
    let tabulated = matches!(
        g.functions.get(*func as usize),
        Some(FnKind::Tabulated { .. })
    );
    (plain && tabulated).then_some((a.tensor, *func))
}

/// `outer ∘ inner` over `inner`'s domain, when every value of `inner` is in `outer`'s.
fn composed(inner: &FnKind, outer: &FnKind) -> Option<FnKind> {
    let (
        FnKind::Tabulated { lo, values },
        FnKind::Tabulated {
            lo: lo2,
            values: outer,
        },
    ) = (inner, outer)
    else {
        return None;
    };
    let values = values
        .iter()
        .map(|&v| {
            let at = usize::try_from(v.checked_sub(*lo2)?).ok()?;
            outer.get(at).copied()
        })
        .collect::<Option<Vec<i64>>>()?;
    Some(FnKind::Tabulated { lo: *lo, values })
}

/// Removes the functions no elementwise op uses (the identity stays first), renumbering.
fn drop_unused_functions(g: &mut QuantizedGraph) {
    let mut used = vec![false; g.functions.len()];
    if let Some(first) = used.first_mut() {
        *first = true;
    }
    for op in &g.ops {
        if let QOp::Elementwise(e) = op {
            if let Some(u) = used.get_mut(e.func as usize) {
                *u = true;
            }
        }
    }
    let mut new_index = Vec::with_capacity(used.len());
    let mut next = 0u32;
    for &u in &used {
        new_index.push(next);
        next += u32::from(u);
    }
    let mut i = 0;
    g.functions.retain(|_| {
        i += 1;
        used[i - 1]
    });
    for op in &mut g.ops {
        if let QOp::Elementwise(e) = op {
            e.func = new_index[e.func as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{QTensor, TensorKind};

    /// `x` (a graph input, range checked) → `T1` → `T2` (the output), with `extra` readers of
    /// `T1`'s output; `T1` maps `[-4, 4)` to `v − 1`, `T2` squares `[lo2, lo2 + 8)`.
    fn chain(extra: bool, lo2: i64) -> QuantizedGraph {
        let mut g = QuantizedGraph {
            bits: 8,
            tensors: vec![],
            inputs: vec![],
            outputs: vec![],
            ops: vec![],
            functions: vec![
                FnKind::Identity,
                FnKind::Tabulated {
                    lo: -4,
                    values: (-4..4).map(|v| v - 1).collect(),
                },
                FnKind::Tabulated {
                    lo: lo2,
                    values: (lo2..lo2 + 8).map(|v| v * v).collect(),
                },
            ],
            integer_inputs: vec![],
        };
        let step = |g: &mut QuantizedGraph, name: &str, input: Option<TensorId>, func| {
            g.tensors.push(QTensor {
                name: name.into(),
                shape: vec![3],
                scale: 0,
                kind: TensorKind::Activation,
                affine: None,
            });
            let output = g.tensors.len() - 1;
            if let Some(t) = input {
                g.ops.push(QOp::Elementwise(ElemOp::lookup(
                    name.into(),
                    (t, output),
                    func,
                )));
            }
            output
        };
        let x = step(&mut g, "x", None, 0);
        g.inputs.push(x);
        let checked = step(&mut g, "checked", Some(x), 0);
        let t1 = step(&mut g, "t1", Some(checked), 1);
        let t2 = step(&mut g, "t2", Some(t1), 2);
        g.outputs.push(t2);
        if extra {
            let other = step(&mut g, "other", Some(t1), 0);
            g.outputs.push(other);
        }
        g
    }

    fn outputs(g: &QuantizedGraph, x: &[i128]) -> Option<Vec<Vec<i128>>> {
        let vals = g.eval(&[x.to_vec()]).ok()?;
        Some(g.outputs.iter().map(|&o| vals[o].clone()).collect())
    }

    #[test]
    fn a_lookup_of_a_lookup_is_one_lookup_of_the_composed_table() {
        let before = chain(false, -5);
        let mut after = before.clone();
        assert_eq!(compose_tables(&mut after), 1);
        assert_eq!(after.ops.len(), 2);
        assert_eq!(after.functions.len(), 2, "the two tables are gone");
        after.validate().unwrap();
        for x in [[-4, 0, 3], [1, 2, -1]] {
            assert_eq!(outputs(&after, &x), outputs(&before, &x));
            assert_eq!(outputs(&after, &x).unwrap()[0][0], (x[0] - 1) * (x[0] - 1));
        }
        // The composed table keeps the first one's domain.
        assert!(outputs(&after, &[4, 0, 0]).is_none());
    }

    #[test]
    fn shared_or_out_of_domain_intermediates_stay() {
        for g in [chain(true, -5), chain(false, -2)] {
            let mut after = g.clone();
            assert_eq!(compose_tables(&mut after), 0);
            assert_eq!(after.ops.len(), g.ops.len());
        }
    }
}
