//! Max-pool chip: a running maximum over each window, one window element per row.
//!
//! ```text
//! start row:  m = x
//! step rows:  d1 = m - m_prev,  d2 = m - x,  d1 · d2 = 0,  d1, d2 ∈ [0, 2^B)
//! ```
//!
//! So `m` is at least the previous maximum and the new element and equals one of them. The
//! differences are looked up in the range table `[0, 2^B)`.

use super::table::TableConfig;
use super::{AdvCol, Assigner, Wit};
use crate::field::F;
use crate::graph::MaxOp;
use crate::plan::{Col, Pos, RunRegion};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Fixed};
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
}

impl MaxLane {
    /// Declares the lane's gate and lookups.
    pub fn configure(meta: &mut ConstraintSystem<F>, table: &mut TableConfig) -> Self {
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
        table.range_lookup(meta, "max step over previous", |vc| {
            vc.query_advice(d1, Rotation::cur())
        });
        table.range_lookup(meta, "max step over input", |vc| {
            vc.query_advice(d2, Rotation::cur())
        });
        MaxLane {
            x,
            m,
            d1,
            d2,
            start,
            step,
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
            } else {
                a.fixed(self.step, row, F::ONE);
                let d1 = best.zip(prev).map(|(b, p)| b - p);
                let d2 = best.zip(xv).map(|(b, x)| b - x);
                a.advice(AdvCol::MxD1(lane), self.d1, row, wit.map(d1));
                a.advice(AdvCol::MxD2(lane), self.d2, row, wit.map(d2));
            }
        }
        Ok(())
    }
}
