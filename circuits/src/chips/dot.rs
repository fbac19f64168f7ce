//! Dot chip: running sums of products of two computed values (MatMul of two activations).
//!
//! ```text
//! first row: acc = x · w
//! next rows: acc = acc_prev + x · w
//! ```
//!
//! The last row of a run is the output; it is unbounded and always rescaled by the
//! elementwise chip, which range-checks the result.
//!
//! A run sums the terms of [`MatMulOp::dot_terms`]: a term whose `A` element is a known zero
//! (a constant op's zero, claimed in [`MatMulOp::a_zeros`] and checked by `validate`) adds
//! nothing and has no row. Outputs no op reads ([`MatMulOp::dot_outputs`]) have no run.

use super::{AdvCol, Assigner, Wit};
use crate::field::F;
use crate::graph::MatMulOp;
use crate::plan::{Col, Pos, RunRegion};
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Selector};
use halo2_proofs::poly::Rotation;

/// Columns of one dot-product lane.
#[derive(Clone, Debug)]
pub struct DotLane {
    /// Left factors (equality-enabled).
    pub x: Column<Advice>,
    /// Right factors (equality-enabled).
    pub w: Column<Advice>,
    /// Running sums (equality-enabled).
    pub acc: Column<Advice>,
    s0: Selector,
    s1: Selector,
}

impl DotLane {
    /// Declares the lane's gate.
    pub fn configure(meta: &mut ConstraintSystem<F>) -> Self {
        let (x, w, acc) = (
            meta.advice_column(),
            meta.advice_column(),
            meta.advice_column(),
        );
        for c in [x, w, acc] {
            meta.enable_equality(c);
        }
        let (s0, s1) = (meta.selector(), meta.selector());
        meta.create_gate("dot", |vc| {
            let cur = Rotation::cur();
            let prod = vc.query_advice(x, cur) * vc.query_advice(w, cur);
            let accv = vc.query_advice(acc, cur);
            vec![
                vc.query_selector(s0) * (accv.clone() - prod.clone()),
                vc.query_selector(s1) * (accv - vc.query_advice(acc, Rotation::prev()) - prod),
            ]
        });
        DotLane { x, w, acc, s0, s1 }
    }

    /// Assigns one dot product.
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        reg: &RunRegion,
        op: &MatMulOp,
        wit: Wit<'_>,
        homes: &[Vec<Pos>],
    ) -> Result<(), Error> {
        let lane = reg.lane;
        let (_, pairs) = op.dot_terms(reg.item as usize);
        let mut acc = Some(0i128);
        for (i, &(xa, wb)) in pairs.iter().enumerate() {
            let row = reg.start + i as u32;
            let (xv, wv) = (wit.int(op.a, xa as usize), wit.int(op.b, wb as usize));
            a.advice(AdvCol::DotX(lane), self.x, row, wit.map(xv));
            a.advice(AdvCol::DotW(lane), self.w, row, wit.map(wv));
            a.copy(
                Pos {
                    col: Col::DotX(lane),
                    row,
                },
                homes[op.a][xa as usize],
            )?;
            a.copy(
                Pos {
                    col: Col::DotW(lane),
                    row,
                },
                homes[op.b][wb as usize],
            )?;
            acc = match (acc, xv, wv) {
                (Some(s), Some(x), Some(w)) => Some(s + x * w),
                _ => None,
            };
            a.advice(AdvCol::DotAcc(lane), self.acc, row, wit.map(acc));
            a.enable(if i == 0 { &self.s0 } else { &self.s1 }, row)?;
        }
        Ok(())
    }
}
