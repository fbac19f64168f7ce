//! Max-pool chip: a running maximum over each window, one window element per row.
//!
//! ```text
//! start row:  m = x
//! step rows:  (m − m_prev) · (m − x) = 0,   (m − m_prev) + (m − x) ∈ [0, 2^B)
//! ```
//!
//! The product puts one of the two differences at zero, so their sum *is* the other one and
//! its range check bounds both: `m` is at least the previous maximum and the new element and
//! equals one of them. One lookup of an expression, no difference columns: the lookup reads
//! `step·(2m − m_prev − x) + (1 − start − step)`, so `0` on start rows and `1` on every row
//! the lane does not use (the sentinel row among them, see [`super::sentinel`]).
//!
//! With limbs (`limb_bits = L`) the sum is split instead, `2m − m_prev − x = sh·2^L + sl` on
//! step rows, with `sl` in the range table `[0, 2^L)` and `sh − 2^(B−L−1)` an identity knot
//! (`sh ∈ [0, 2^(B−L))`).

use super::table::TableConfig;
use super::{AdvCol, Assigner, Wit};
use crate::field::{fe, pow2, F};
use crate::graph::MaxOp;
use crate::plan::{CircuitShape, Col, Pos, RunRegion};
use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{
    Advice, Column, ConstraintSystem, Error, Expression, Fixed, VirtualCells,
};
use halo2_proofs::poly::Rotation;

/// Columns of one max-pool lane.
#[derive(Clone, Debug)]
pub struct MaxLane {
    /// Window elements (equality-enabled).
    pub x: Column<Advice>,
    /// Running maximum (equality-enabled; the last row of a window is the output).
    pub m: Column<Advice>,
    start: Column<Fixed>,
    step: Column<Fixed>,
    /// With limbs: `[sh, sl]`, and the limb width.
    limbs: Option<([Column<Advice>; 2], u32)>,
}

/// `2m − m_prev − x` on the current row: the sum of the two differences of a step row.
fn step_sum(vc: &mut VirtualCells<'_, F>, [x, m]: [Column<Advice>; 2]) -> Expression<F> {
    let cur = Rotation::cur();
    let (xv, mv, mp) = (
        vc.query_advice(x, cur),
        vc.query_advice(m, cur),
        vc.query_advice(m, Rotation::prev()),
    );
    mv.clone() + mv - mp - xv
}

impl MaxLane {
    /// Declares the lane's gate and lookups.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        table: &mut TableConfig,
        shape: &CircuitShape,
    ) -> Self {
        let (x, m) = (meta.advice_column(), meta.advice_column());
        meta.enable_equality(x);
        meta.enable_equality(m);
        let (start, step) = (meta.fixed_column(), meta.fixed_column());
        meta.create_gate("max", |vc| {
            let cur = Rotation::cur();
            let (xv, mv, mp) = (
                vc.query_advice(x, cur),
                vc.query_advice(m, cur),
                vc.query_advice(m, Rotation::prev()),
            );
            let (st, sp) = (vc.query_fixed(start, cur), vc.query_fixed(step, cur));
            vec![
                st * (mv.clone() - xv.clone()),
                sp * (mv.clone() - mp) * (mv - xv),
            ]
        });
        let limbs = match shape.limbed() {
            true => Some((
                Self::configure_limbs(meta, table, [x, m], step, shape),
                shape.limb_bits,
            )),
            false => {
                table.range_lookup(meta, "max step: sum of the differences", |vc| {
                    let (st, sp) = (
                        vc.query_fixed(start, Rotation::cur()),
                        vc.query_fixed(step, Rotation::cur()),
                    );
                    let off = Expression::Constant(F::ONE) - st - sp.clone();
                    sp * step_sum(vc, [x, m]) + off
                });
                None
            }
        };
        MaxLane {
            x,
            m,
            start,
            step,
            limbs,
        }
    }

    /// The sum's limbs: `2m − m_prev − x = sh·2^L + sl` where `step` is on, `sl` in the range
    /// table, `(1, sh − H, (sh − H)·2^L, (sh − H + 1)·2^L)` in the knot table with
    /// `H = 2^(B−L−1)` (an identity knot: `sh ∈ [0, 2^(B−L))`). Zero cells look up the knot
    /// `h = −H`.
    fn configure_limbs(
        meta: &mut ConstraintSystem<F>,
        table: &mut TableConfig,
        xm: [Column<Advice>; 2],
        step: Column<Fixed>,
        shape: &CircuitShape,
    ) -> [Column<Advice>; 2] {
        let [hi, lo] = [(); 2].map(|_| meta.advice_column());
        let base = Expression::Constant(pow2(shape.limb_bits));
        let shift = Expression::Constant(pow2(shape.bits - shape.limb_bits - 1));
        meta.create_gate("max sum limbs", |vc| {
            let cur = Rotation::cur();
            let sum = step_sum(vc, xm);
            let (h, l) = (vc.query_advice(hi, cur), vc.query_advice(lo, cur));
            vec![vc.query_fixed(step, cur) * (sum - h * base.clone() - l)]
        });
        table.knot_lookup(meta, "max sum, high limb", move |vc| {
            let h = vc.query_advice(hi, Rotation::cur()) - shift;
            let one = Expression::Constant(F::ONE);
            [
                one.clone(),
                h.clone(),
                h.clone() * base.clone(),
                (h + one) * base,
            ]
        });
        table.range_lookup(meta, "max sum, low limb", move |vc| {
            vc.query_advice(lo, Rotation::cur())
        });
        [hi, lo]
    }

    /// The column of sum limb `j` (`[sh, sl]`), with limbs.
    pub fn limb(&self, j: u8) -> Option<Column<Advice>> {
        self.limbs.as_ref()?.0.get(j as usize).copied()
    }

    /// Assigns the limbs of the sum `s` on `row`.
    fn assign_limbs(&self, a: &mut Assigner<'_, '_>, lane: u16, row: u32, s: Option<i128>) {
        let Some((cols, limb)) = &self.limbs else {
            return;
        };
        let hi = s.map(|v| v >> limb);
        let lo = s.zip(hi).map(|(v, h)| v - (h << limb));
        for (j, part) in [hi, lo].into_iter().enumerate() {
            let val = match part {
                Some(p) => Value::known(fe(p)),
                None => Value::unknown(),
            };
            a.advice(AdvCol::MxLimb(lane, j as u8), cols[j], row, val);
        }
    }

    /// The sentinel row (see [`super::sentinel`]): with limbs, `sl = 1` (no gate reads the row;
    /// without limbs the lookup reads 1 on every row the lane does not use).
    pub(crate) fn assign_sentinel(
        &self,
        a: &mut Assigner<'_, '_>,
        lane: u16,
        row: u32,
        wit: Wit<'_>,
    ) {
        let known = wit.vals.map(|_| 1);
        self.assign_limbs(a, lane, row, known);
    }

    /// Assigns one window.
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        reg: &RunRegion,
        op: &MaxOp,
        wit: Wit<'_>,
        homes: &[Vec<Pos>],
    ) -> Result<(), Error> {
        let lane = reg.lane;
        let window = op.window(reg.item as usize);
        let mut best: Option<i128> = None;
        for (i, &src) in window.iter().enumerate() {
            let row = reg.start + i as u32;
            let xv = wit.int(op.input, src as usize);
            a.advice(AdvCol::MxX(lane), self.x, row, wit.map(xv));
            a.copy(
                Pos {
                    col: Col::MxX(lane),
                    row,
                },
                homes[op.input][src as usize],
            )?;
            let prev = best;
            best = match (best, xv) {
                (Some(b), Some(x)) => Some(b.max(x)),
                (None, x) => x,
                (b, None) => b,
            };
            a.advice(AdvCol::MxM(lane), self.m, row, wit.map(best));
            if i == 0 {
                a.fixed(self.start, row, F::ONE);
                self.assign_limbs(a, lane, row, wit.vals.map(|_| 0));
            } else {
                a.fixed(self.step, row, F::ONE);
                let sum = best.zip(prev).zip(xv).map(|((b, p), x)| 2 * b - p - x);
                self.assign_limbs(a, lane, row, sum);
            }
        }
        Ok(())
    }
}
