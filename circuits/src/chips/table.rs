//! The tagged lookup table: rows `(tag, x, f_tag(x))` for every function of the graph over the
//! whole activation domain, plus the all-zero row that unused lookup rows land on.
//!
//! Tag `t` selects function `t - 1` of the graph; function 0 is the identity, so a lookup of
//! `(1, v, v)` is a signed range check of `v` and `(1, r - 2^(B-1), r - 2^(B-1))` checks
//! `r ∈ [0, 2^B)`.

use super::Assigner;
use crate::field::{fe, F};
use crate::graph::QuantizedGraph;
use halo2_proofs::plonk::{Column, ConstraintSystem, Expression, Fixed, VirtualCells};
use halo2_proofs::poly::Rotation;

/// Table columns.
#[derive(Clone, Debug)]
pub struct TableConfig {
    /// Function tag (0 only on the zero row).
    pub tag: Column<Fixed>,
    /// Function input.
    pub x: Column<Fixed>,
    /// Function output.
    pub y: Column<Fixed>,
}

impl TableConfig {
    /// Allocates the table columns.
    pub fn configure(meta: &mut ConstraintSystem<F>) -> Self {
        TableConfig {
            tag: meta.fixed_column(),
            x: meta.fixed_column(),
            y: meta.fixed_column(),
        }
    }

    /// Declares a lookup of `(tag, x, y)` input expressions into the table.
    pub fn lookup(
        &self,
        meta: &mut ConstraintSystem<F>,
        name: &'static str,
        input: impl FnOnce(&mut VirtualCells<'_, F>) -> [Expression<F>; 3],
    ) {
        let cols = [self.tag, self.x, self.y];
        meta.lookup_any(name, |vc| {
            let inputs = input(vc);
            inputs
                .into_iter()
                .zip(cols)
                .map(|(i, c)| (i, vc.query_fixed(c, Rotation::cur())))
                .collect()
        });
    }

    /// Writes the table contents (row 0 stays zero).
    pub(crate) fn assign(&self, a: &mut Assigner<'_, '_>, g: &QuantizedGraph) {
        let half = 1i64 << (g.bits - 1);
        let mut row = 1u32;
        for (i, f) in g.functions.iter().enumerate() {
            let tag = F::from(i as u64 + 1);
            for x in -half..half {
                a.fixed(self.tag, row, tag);
                a.fixed(self.x, row, fe(x as i128));
                a.fixed(self.y, row, fe(f.eval(x) as i128));
                row += 1;
            }
        }
    }
}
