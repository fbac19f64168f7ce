//! Lookup tables.
//!
//! - The *range table* is one fixed column holding `0 .. 2^B`: remainders, signed range checks
//!   (`v + 2^(B-1)`) and the sum of a max-pool step's differences are looked up in it.
//! - The *function table* holds `(tag, x, f_tag(x))` for every non-identity function of the
//!   graph over its domain (the activation range `[-2^(B-1), 2^(B-1))`, or a tabulated
//!   function's indices), plus the all-zero row that rows
//!   without a function land on and `(0, 1, 1)`, which only the sentinel row looks up (the one
//!   row with `fn = 1` under tag 0; see `chips::sentinel`). Tag `t` is function `t` of the
//!   graph (function 0, the identity, needs no table). With `identity_table` (a shape option)
//!   the identity is in the table too (tag 0, whose `(0, 0, 0)` entry serves unused rows), so
//!   the function lookup alone range-checks its input.
//!
//! Two tables instead of one keep each within `2^(B+1)` rows, so a model with one activation
//! function fits at `k = B + 1`. The range column is only allocated when a chip looks values up
//! in it (with `remainder_rows` the elementwise lanes need none).
//!
//! With `fn_tables = n > 1` (a shape option) the functions are split over `n` function tables
//! ([`QuantizedGraph::function_banks`]): table 0 opens with the identity (with
//! `identity_table`) or with the zero row and `(0, 1, 1)`, every other table with those two
//! rows. An elementwise lane then looks up in every table, each lookup's input multiplied by
//! that table's fixed selector, which is 1 only on rows whose function the table holds: a row
//! is checked against its own function, and its other lookups are `(0, 0, 0)`. The tallest
//! table instead of their sum bounds `k`, for one lookup more per lane and table.
//!
//! With limbs (`limb_bits = L`, a shape option; see `chips::limbs`) there is no function table:
//! the *knot table* holds `(tag + 1, h, t0, t1)` for each function's knots (the identity's,
//! tag 0, included) after the zero row, and the range table is `[0, 2^L)`.

use super::{limbs, Assigner};
use crate::field::{fe, F};
use crate::graph::QuantizedGraph;
use crate::plan::CircuitShape;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Column, ConstraintSystem, Error, Expression, Fixed, VirtualCells};
use halo2_proofs::poly::Rotation;

/// The columns of one function table.
#[derive(Clone, Copy, Debug)]
pub struct FnTable {
    /// Function tag (0 only on the zero row, or the identity).
    pub tag: Column<Fixed>,
    /// Function input.
    pub x: Column<Fixed>,
    /// Function output.
    pub y: Column<Fixed>,
}

/// Table columns.
#[derive(Clone, Debug)]
pub struct TableConfig {
    /// `0 .. 2^B`, allocated by the first range lookup.
    pub range: Option<Column<Fixed>>,
    /// The function tables (one unless the shape splits the functions, `fn_tables`; none
    /// with limbs).
    pub banks: Vec<FnTable>,
    /// The knot table `(tag + 1, h, t0, t1)` (with limbs).
    pub knots: Option<[Column<Fixed>; 4]>,
    /// The range table is `[0, 2^range_bits)`: the activation width, or the limb width.
    pub range_bits: u32,
    /// The clamp table `(x, clamp(x − D, 0, W), x mod 2)` of one-row requantization lanes
    /// (`chips::requant_row`), allocated by the first clamp lookup.
    pub clamp: Option<[Column<Fixed>; 3]>,
}

impl TableConfig {
    /// Allocates the columns of the shape's function tables (at least one), or its knot table
    /// with limbs.
    pub fn configure(meta: &mut ConstraintSystem<F>, shape: &CircuitShape) -> Self {
        let limbed = shape.limbed();
        let banks = if limbed { 0 } else { shape.fn_banks() };
        TableConfig {
            range: None,
            knots: limbed.then(|| [(); 4].map(|_| meta.fixed_column())),
            range_bits: if limbed { shape.limb_bits } else { shape.bits },
            clamp: None,
            banks: (0..banks)
                .map(|_| FnTable {
                    tag: meta.fixed_column(),
                    x: meta.fixed_column(),
                    y: meta.fixed_column(),
                })
                .collect(),
        }
    }

    /// Declares a lookup of one expression into the range table.
    pub fn range_lookup(
        &mut self,
        meta: &mut ConstraintSystem<F>,
        name: &'static str,
        input: impl FnOnce(&mut VirtualCells<'_, F>) -> Expression<F>,
    ) {
        let col = *self.range.get_or_insert_with(|| meta.fixed_column());
        meta.lookup_any(name, |vc| {
            vec![(input(vc), vc.query_fixed(col, Rotation::cur()))]
        });
    }

    /// Declares a lookup of `(u, y − qmin, par)` into the clamp table.
    pub fn clamp_lookup(
        &mut self,
        meta: &mut ConstraintSystem<F>,
        name: &'static str,
        input: impl FnOnce(&mut VirtualCells<'_, F>) -> [Expression<F>; 3],
    ) {
        let cols = *self
            .clamp
            .get_or_insert_with(|| [(); 3].map(|_| meta.fixed_column()));
        lookup_into(meta, name, cols, input);
    }

    /// Declares a lookup of `(tag + 1, h, t0, t1)` into the knot table (none without limbs).
    pub fn knot_lookup(
        &self,
        meta: &mut ConstraintSystem<F>,
        name: &'static str,
        input: impl FnOnce(&mut VirtualCells<'_, F>) -> [Expression<F>; 4],
    ) {
        if let Some(cols) = self.knots {
            lookup_into(meta, name, cols, input);
        }
    }

    /// Declares a lookup of `(tag, x, y)` into function table `bank`.
    pub fn function_lookup(
        &self,
        meta: &mut ConstraintSystem<F>,
        name: &'static str,
        bank: usize,
        input: impl FnOnce(&mut VirtualCells<'_, F>) -> [Expression<F>; 3],
    ) {
        if let Some(t) = self.banks.get(bank) {
            lookup_into(meta, name, [t.tag, t.x, t.y], input);
        }
    }

    /// Writes the tables. Without `identity` each function table starts with the zero row that
    /// rows without a function look up and the sentinel's `(0, 1, 1)`; with it, table 0 starts
    /// with tag 0 (the identity) over the whole domain, and the others with those two rows.
    /// The functions are split as [`QuantizedGraph::function_banks`] says. Refuses a function
    /// whose image leaves its codomain: its lookup is all that bounds the outputs (validated
    /// graphs never have one).
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        g: &QuantizedGraph,
        identity: bool,
    ) -> Result<(), Error> {
        if let Some(range) = self.range {
            for v in 0..(1u32 << self.range_bits) {
                a.fixed(range, v, F::from(v as u64));
            }
        }
        if let (Some(cols), Some(width)) = (self.clamp, g.requant_clamp_width()) {
            for (row, entry) in clamp_rows(self.range_bits, width).enumerate() {
                for (&c, v) in cols.iter().zip(entry) {
                    a.fixed(c, row as u32, v);
                }
            }
        }
        if let Some(cols) = self.knots {
            return self.assign_knots(a, g, cols);
        }
        let split = g.function_banks(identity, self.banks.len() as u32);
        let mut next = vec![0u32; self.banks.len()];
        for (b, t) in self.banks.iter().enumerate() {
            if !(identity && b == 0) {
                // Row 0 stays all zero.
                a.fixed(t.x, 1, F::ONE);
                a.fixed(t.y, 1, F::ONE);
                next[b] = 2;
            }
        }
        for (i, f) in g.functions.iter().enumerate() {
            if i == 0 && !identity {
                continue;
            }
            let b = split.bank_of[i] as usize;
            let t = self.banks.get(b).ok_or(Error::Synthesis)?;
            let tag = F::from(i as u64);
            for x in f.domain(g.bits) {
                let y = f.eval(x);
                if !f.in_codomain(y, g.bits) {
                    return Err(Error::Synthesis);
                }
                let row = next[b];
                a.fixed(t.tag, row, tag);
                a.fixed(t.x, row, fe(x as i128));
                a.fixed(t.y, row, fe(y as i128));
                next[b] += 1;
            }
        }
        Ok(())
    }

    /// Writes the knot table: the zero row, then each function's knots. Refuses a graph whose
    /// functions are not all interpolated at the limb width (`QuantizedGraph::fits_limbs`).
    fn assign_knots(
        &self,
        a: &mut Assigner<'_, '_>,
        g: &QuantizedGraph,
        cols: [Column<Fixed>; 4],
    ) -> Result<(), Error> {
        let limb = self.range_bits;
        if !g.fits_limbs(limb) {
            return Err(Error::Synthesis);
        }
        let mut row = 1u32;
        for (tag, f) in g.functions.iter().enumerate() {
            for entry in limbs::knot_rows(f, tag, g.bits, limb) {
                for (&c, v) in cols.iter().zip(entry) {
                    a.fixed(c, row, v);
                }
                row += 1;
            }
        }
        Ok(())
    }
}

/// The clamp table's rows for a `bits`-bit range table and clamp width `width`:
/// `(x, clamp(x − D, 0, width), x mod 2)` for `x ∈ [0, 2D)`, `D = clamp_reach(bits)`.
pub fn clamp_rows(bits: u32, width: i64) -> impl Iterator<Item = [F; 3]> {
    let reach = super::requant_row::clamp_reach(bits);
    (0..2 * reach).map(move |x| {
        let y = (x - reach).clamp(0, i128::from(width));
        [fe(x), fe(y), fe(x % 2)]
    })
}

/// Declares a lookup of `N` expressions into `N` fixed table columns.
fn lookup_into<const N: usize>(
    meta: &mut ConstraintSystem<F>,
    name: &'static str,
    cols: [Column<Fixed>; N],
    input: impl FnOnce(&mut VirtualCells<'_, F>) -> [Expression<F>; N],
) {
    meta.lookup_any(name, |vc| {
        input(vc)
            .into_iter()
            .zip(cols)
            .map(|(i, c)| (i, vc.query_fixed(c, Rotation::cur())))
            .collect()
    });
}
