//! int8 tensors that are functions of one other int8 tensor, element by element. A QDQ graph
//! requantizes after every op, and a run of elementwise ops on one tensor (GELU written out:
//! `x·x`, `·x`, `·0.044715`, `+ x`, `·√(2/π)`, Tanh, `+ 1`, `·0.5x`) gives int8 tensors
//! each of which depends only on the same element of that tensor `s`. Each is recorded here as
//! its integers for every integer of `s` (at most 256), and an Add or Mul of two such tensors
//! becomes one table over `s` of the op's own rule applied to the two operands' integers: the
//! same integers the product or sum, its requantization and the tables before it give, in one
//! lookup per element. The ops the tables replace are left without readers and removed when
//! the graph is finished ([`zkinfer_circuits::graph::remove_unread`]).

use super::sums::Operands;
use super::*;

/// An int8 tensor as a function of a source tensor: its integer for each integer of the
/// source's range, from the least.
#[derive(Clone, Debug)]
pub(super) struct Derived {
    pub(super) source: Act,
    pub(super) values: Vec<i64>,
}

impl Derived {
    /// The identity on `a`'s range.
    fn of_itself(a: &Act) -> Derived {
        let (lo, hi) = a.q.range;
        Derived {
            source: a.clone(),
            values: (lo..=hi).collect(),
        }
    }

    /// The least integer of the source.
    pub(super) fn source_lo(&self) -> i64 {
        self.source.q.range.0
    }

    /// `table` (from `lo`) after this function; `None` where a value leaves its domain.
    pub(super) fn then(&self, (lo, table): (i64, &[i64])) -> Option<Vec<i64>> {
        self.values
            .iter()
            .map(|&v| table.get(usize::try_from(v - lo).ok()?).copied())
            .collect()
    }
}

impl Importer {
    /// `a` as a function of its source (itself when it was not derived).
    pub(super) fn derivation(&self, a: &Act) -> Derived {
        self.derived
            .get(&a.id)
            .cloned()
            .unwrap_or_else(|| Derived::of_itself(a))
    }

    /// Records that `out` is `values` of `source`.
    pub(super) fn derive(&mut self, out: TensorId, source: &Act, values: Vec<i64>) {
        self.derived.insert(
            out,
            Derived {
                source: source.clone(),
                values,
            },
        );
    }

    /// The two operands as functions of one source, when both are (of the same shape as the
    /// output: no broadcasting).
    pub(super) fn same_source(
        &self,
        a: &Act,
        b: &Summand,
        ops: &Operands,
    ) -> Option<(Derived, Derived)> {
        let Summand::Act(b) = b else {
            return None;
        };
        if a.shape != ops.shape || b.shape != ops.shape {
            return None;
        }
        let (da, db) = (self.derivation(a), self.derivation(b));
        (da.source.id == db.source.id && da.source.q.range == db.source.q.range).then_some((da, db))
    }

    /// `y`'s integers `rule(acc(a, b))` of two functions of one source, as a table over the
    /// source (reported as the requantization it replaces).
    pub(super) fn pairwise_table(
        &mut self,
        name: &str,
        (da, db): (Derived, Derived),
        (rule, acc): (ChannelRule, impl Fn(i64, i64) -> i64),
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        self.report_requant(name, std::slice::from_ref(&rule));
        let values = (da.values.iter().zip(&db.values))
            .map(|(&a, &b)| rule.rule.apply(acc(a, b)))
            .collect();
        self.tabulated(name, &da.source, (da.source_lo(), values), y, out)
    }
}
