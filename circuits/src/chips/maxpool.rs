//! Max-pool chip: a running maximum over each window, one window element per row.
//!
//! ```text
//! start row:  m = x
//! step rows:  d1 = m - m_prev,  d2 = m - x,  d1 · d2 = 0,  d1, d2 ∈ [0, 2^B)
//! ```
//!
//! So `m` is at least the previous maximum and the new element and equals one of them. The
//! differences are looked up in the range table `[0, 2^B)`; with limbs (`limb_bits = L`),
//! each is split instead, `d = dh·2^L + dl` on start and step rows, with `dl` in the range
//! table `[0, 2^L)` and `dh − 2^(B−L−1)` an identity knot (`dh ∈ [0, 2^(B−L))`).

use super::table::TableConfig;
use super::{AdvCol, Assigner, Wit};
use crate::field::{fe, pow2, F};
use crate::graph::MaxOp;
use crate::plan::{CircuitShape, Col, Pos, RunRegion};
use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed};
use halo2_proofs::poly::Rotation;

/// Columns of one max-pool lane.
#[derive(Clone, Debug)]
pub struct MaxLane {
    /// Window elements (equality-enabled).
    pub x: Column<Advice>,
    /// Running maximum (equality-enabled; the last row of a window is the output).
    pub m: Column<Advice>,
    /// `m - m_prev`.
    pub d1: Column<Advice>,
    /// `m - x`.
    pub d2: Column<Advice>,
    start: Column<Fixed>,
    step: Column<Fixed>,
    /// With limbs: `[d1h, d1l, d2h, d2l]`, and the limb width.
    limbs: Option<([Column<Advice>; 4], u32)>,
}

impl MaxLane {
    /// Declares the lane's gate and lookups.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        table: &mut TableConfig,
        shape: &CircuitShape,
    ) -> Self {
        let (x, m, d1, d2) = (
            meta.advice_column(),
            meta.advice_column(),
            meta.advice_column(),
            meta.advice_column(),
        );
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
            let (d1v, d2v) = (vc.query_advice(d1, cur), vc.query_advice(d2, cur));
            let (st, sp) = (vc.query_fixed(start, cur), vc.query_fixed(step, cur));
            vec![
                st * (mv.clone() - xv.clone()),
                sp.clone() * (d1v.clone() - mv.clone() + mp),
                sp.clone() * (d2v.clone() - mv + xv),
                sp * d1v * d2v,
            ]
        });
        let limbs = match shape.limbed() {
            true => Some((
                Self::configure_limbs(meta, table, [d1, d2], [start, step], shape),
                shape.limb_bits,
            )),
            false => {
                for (name, d) in [("max step over previous", d1), ("max step over input", d2)] {
                    table.range_lookup(meta, name, |vc| vc.query_advice(d, Rotation::cur()));
                }
                None
            }
        };
        MaxLane {
            x,
            m,
            d1,
            d2,
            start,
            step,
            limbs,
        }
    }

    /// The differences' limbs: `d = dh·2^L + dl` where `start + step` is on, `dl` in the range
    /// table, `(1, dh − H, (dh − H)·2^L, (dh − H + 1)·2^L)` in the knot table with
    /// `H = 2^(B−L−1)` (an identity knot: `dh ∈ [0, 2^(B−L))`). Zero cells look up the knot
    /// `h = −H`.
    fn configure_limbs(
        meta: &mut ConstraintSystem<F>,
        table: &mut TableConfig,
        ds: [Column<Advice>; 2],
        [start, step]: [Column<Fixed>; 2],
        shape: &CircuitShape,
    ) -> [Column<Advice>; 4] {
        let cols = [(); 4].map(|_| meta.advice_column());
        let base = Expression::Constant(pow2(shape.limb_bits));
        let shift = Expression::Constant(pow2(shape.bits - shape.limb_bits - 1));
        meta.create_gate("max difference limbs", |vc| {
            let cur = Rotation::cur();
            let on = vc.query_fixed(start, cur) + vc.query_fixed(step, cur);
            (0..2)
                .map(|i| {
                    let d = vc.query_advice(ds[i], cur);
                    let (hi, lo) = (
                        vc.query_advice(cols[2 * i], cur),
                        vc.query_advice(cols[2 * i + 1], cur),
                    );
                    on.clone() * (d - hi * base.clone() - lo)
                })
                .collect::<Vec<_>>()
        });
        for i in 0..2 {
            let (hi, lo) = (cols[2 * i], cols[2 * i + 1]);
            let (base, shift) = (base.clone(), shift.clone());
            table.knot_lookup(meta, "max difference, high limb", move |vc| {
                let h = vc.query_advice(hi, Rotation::cur()) - shift;
                let one = Expression::Constant(F::ONE);
                [
                    one.clone(),
                    h.clone(),
                    h.clone() * base.clone(),
                    (h + one) * base,
                ]
            });
            table.range_lookup(meta, "max difference, low limb", move |vc| {
                vc.query_advice(lo, Rotation::cur())
            });
        }
        cols
    }

    /// The column of difference limb `j` (`[d1h, d1l, d2h, d2l]`), with limbs.
    pub fn limb(&self, j: u8) -> Option<Column<Advice>> {
        self.limbs.as_ref()?.0.get(j as usize).copied()
    }

    /// Assigns the limbs of the differences `d1`, `d2` on `row`.
    fn assign_limbs(&self, a: &mut Assigner<'_, '_>, lane: u16, row: u32, d: [Option<i128>; 2]) {
        let Some((cols, limb)) = &self.limbs else {
            return;
        };
        for (i, v) in d.into_iter().enumerate() {
            let hi = v.map(|v| v >> limb);
            let lo = v.zip(hi).map(|(v, h)| v - (h << limb));
            for (j, part) in [hi, lo].into_iter().enumerate() {
                let c = 2 * i + j;
                let val = match part {
                    Some(p) => Value::known(fe(p)),
                    None => Value::unknown(),
                };
                a.advice(AdvCol::MxLimb(lane, c as u8), cols[c], row, val);
            }
        }
    }

    /// The sentinel row (see [`super::sentinel`]): `d1 = d2 = 1`, in the range table, with
    /// `start` and `step` off (no gate reads the row).
    pub(crate) fn assign_sentinel(
        &self,
        a: &mut Assigner<'_, '_>,
        lane: u16,
        row: u32,
        wit: Wit<'_>,
    ) {
        let one = wit.map(Some(1));
        a.advice(AdvCol::MxD1(lane), self.d1, row, one);
        a.advice(AdvCol::MxD2(lane), self.d2, row, one);
        let known = wit.vals.map(|_| 1);
        self.assign_limbs(a, lane, row, [known, known]);
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
                a.advice(AdvCol::MxD1(lane), self.d1, row, wit.map(Some(0)));
                a.advice(AdvCol::MxD2(lane), self.d2, row, wit.map(Some(0)));
                let zero = wit.vals.map(|_| 0);
                self.assign_limbs(a, lane, row, [zero, zero]);
            } else {
                a.fixed(self.step, row, F::ONE);
                let d1 = best.zip(prev).map(|(b, p)| b - p);
                let d2 = best.zip(xv).map(|(b, x)| b - x);
                a.advice(AdvCol::MxD1(lane), self.d1, row, wit.map(d1));
                a.advice(AdvCol::MxD2(lane), self.d2, row, wit.map(d2));
                self.assign_limbs(a, lane, row, [d1, d2]);
            }
        }
        Ok(())
    }
}
