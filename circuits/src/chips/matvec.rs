//! Matvec chip: `y = W·x + b` for a constant `W` (`c × k`, in fixed columns, bound by the VK).
//!
//! Instead of one constraint per multiply-accumulate, each region checks one random linear
//! combination of its outputs (Freivalds): with `r` a challenge drawn after `x` and `y` are
//! committed,
//!
//! ```text
//! Σ_i r^i (y_i - b_i)  =  Σ_j x_j · H_j,     H_j = Σ_i r^i W[i][j]  (a Horner expression in the fixed columns)
//! ```
//!
//! A region is `c` *Horner rows* holding `y_{c-1}, …, y_0` in `x` (bias `b_i` in weight column 0)
//! followed by one *dot row* per non-padded input `x_j` (column `i` holding `W[i][j]`). The
//! second-phase column `acc` runs the check:
//!
//! ```text
//! first Horner row:  acc = x - w0
//! other Horner rows: acc = acc_prev · r + x - w0
//! dot rows:          acc = acc_prev - x · H(w)
//! last row:          acc = 0
//! ```
//!
//! If any `y_i` is wrong, both sides are polynomials in `r` of degree `< c` that differ, so
//! they agree with probability at most `c / |F|`.

use super::{AdvCol, Assigner, Wit};
use crate::field::{fe, F};
use crate::graph::{LinearOp, PAD};
use crate::plan::{Col, MvRegion, Pos};
use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{
    Advice, Challenge, Column, ConstraintSystem, Error, Expression, Fixed, SecondPhase, Selector,
};
use halo2_proofs::poly::Rotation;

/// Columns of one matvec lane.
#[derive(Clone, Debug)]
pub struct MatvecLane {
    /// Inputs (dot rows) and outputs (Horner rows), first phase, equality-enabled.
    pub x: Column<Advice>,
    /// Running check, second phase.
    pub acc: Column<Advice>,
    /// Weight (and bias) columns.
    pub w: Vec<Column<Fixed>>,
    q_h0: Selector,
    q_h: Selector,
    q_d: Selector,
    q_z: Selector,
}

impl MatvecLane {
    /// Declares the lane's gate.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        x: Column<Advice>,
        width: usize,
        r: Challenge,
    ) -> Self {
        meta.enable_equality(x);
        let acc = meta.advice_column_in(SecondPhase);
        let w: Vec<Column<Fixed>> = (0..width).map(|_| meta.fixed_column()).collect();
        let (q_h0, q_h, q_d, q_z) = (
            meta.selector(),
            meta.selector(),
            meta.selector(),
            meta.selector(),
        );
        meta.create_gate("matvec", |vc| {
            let xv = vc.query_advice(x, Rotation::cur());
            let cur = vc.query_advice(acc, Rotation::cur());
            let prev = vc.query_advice(acc, Rotation::prev());
            let r = vc.query_challenge(r);
            let ws: Vec<Expression<F>> = w
                .iter()
                .map(|c| vc.query_fixed(*c, Rotation::cur()))
                .collect();
            let mut horner = ws[width - 1].clone();
            for wi in ws[..width - 1].iter().rev() {
                horner = wi.clone() + r.clone() * horner;
            }
            let w0 = ws[0].clone();
            vec![
                vc.query_selector(q_h0) * (cur.clone() - xv.clone() + w0.clone()),
                vc.query_selector(q_h) * (cur.clone() - prev.clone() * r - xv.clone() + w0),
                vc.query_selector(q_d) * (cur.clone() - prev + xv * horner),
                vc.query_selector(q_z) * cur,
            ]
        });
        MatvecLane {
            x,
            acc,
            w,
            q_h0,
            q_h,
            q_d,
            q_z,
        }
    }

    /// First phase: weights, selectors, outputs and copied inputs of one region.
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        reg: &MvRegion,
        op: &LinearOp,
        wit: Wit<'_>,
        homes: &[Vec<Pos>],
    ) -> Result<(), Error> {
        let grp = op.group(reg.group as usize);
        let ws = &op.sets[grp.set];
        let (lane, c, m0) = (reg.lane, reg.c, reg.m0 as usize);
        for t in 0..c {
            let i = (c - 1 - t) as usize;
            let row = reg.start + t;
            a.advice(
                AdvCol::MvX(lane),
                self.x,
                row,
                wit.get(op.output, grp.out[m0 + i] as usize),
            );
            a.fixed(self.w[0], row, fe(ws.b[m0 + i] as i128));
            a.enable(if t == 0 { &self.q_h0 } else { &self.q_h }, row)?;
        }
        let taps = grp.gather.iter().enumerate().filter(|(_, &g)| g != PAD);
        for (n, (j, &src)) in taps.enumerate() {
            let row = reg.start + c + n as u32;
            a.advice(
                AdvCol::MvX(lane),
                self.x,
                row,
                wit.get(op.input, src as usize),
            );
            a.copy(
                Pos {
                    col: Col::MvX(lane),
                    row,
                },
                homes[op.input][src as usize],
            )?;
            for i in 0..c as usize {
                a.fixed(self.w[i], row, fe(ws.w[(m0 + i) * ws.k + j] as i128));
            }
            a.enable(&self.q_d, row)?;
        }
        a.enable(&self.q_z, reg.start + reg.rows() - 1)
    }

    /// Second phase: the running check, which needs the challenge.
    pub(crate) fn assign_acc(
        &self,
        a: &mut Assigner<'_, '_>,
        reg: &MvRegion,
        op: &LinearOp,
        wit: Wit<'_>,
        r: Value<F>,
    ) {
        let grp = op.group(reg.group as usize);
        let ws = &op.sets[grp.set];
        let (lane, c, m0) = (reg.lane, reg.c as usize, reg.m0 as usize);
        let mut known = None;
        r.map(|r| known = Some(r));
        let (Some(r), Some(_)) = (known, wit.vals) else {
            for row in reg.start..reg.start + reg.rows() {
                a.advice(AdvCol::MvAcc(lane), self.acc, row, Value::unknown());
            }
            return;
        };
        let mut powers = vec![F::ONE; c];
        for i in 1..c {
            powers[i] = powers[i - 1] * r;
        }
        let mut acc = F::ZERO;
        let mut row = reg.start;
        for t in 0..c {
            let i = c - 1 - t;
            let y = fe(wit.int(op.output, grp.out[m0 + i] as usize).unwrap_or(0));
            let b = fe(ws.b[m0 + i] as i128);
            acc = if t == 0 { y - b } else { acc * r + y - b };
            a.advice(AdvCol::MvAcc(lane), self.acc, row, Value::known(acc));
            row += 1;
        }
        for (j, &src) in grp.gather.iter().enumerate() {
            if src == PAD {
                continue;
            }
            let x = fe(wit.int(op.input, src as usize).unwrap_or(0));
            let h: F = (0..c)
                .map(|i| powers[i] * fe(ws.w[(m0 + i) * ws.k + j] as i128))
                .sum();
            acc -= x * h;
            a.advice(AdvCol::MvAcc(lane), self.acc, row, Value::known(acc));
            row += 1;
        }
    }
}
