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
//!
//! With [`MatvecCheck::Direct`] (single phase, no challenge) the same rows are checked by one
//! first-phase column per weight column of the lane, `s_0 … s_top` (`top = width - 1`), that
//! form a shift register down the Horner rows, then accumulate one output each over the dot
//! rows:
//!
//! ```text
//! first Horner row:  s_top = x - w0
//! other Horner rows: s_top = x - w0,  s_j = s_{j+1, prev}  (j < top)
//! dot rows:          s_j = s_{j, prev} - x · w_{top-j}
//! last row:          s_j = 0  for every j
//! ```
//!
//! After the Horner rows `s_{top-m}` holds `y_m - b_m` for each of the region's `c` outputs.
//! The values the first row leaves in `s_0 … s_{top-1}` are shifted out, or (when `c < width`)
//! land in registers whose weight columns are zero in this region, so `q_z` forces them to 0.

use super::{AdvCol, Assigner, Wit};
use crate::field::{fe, F};
use crate::graph::{LinearOp, PAD};
use crate::plan::{Col, MatvecCheck, MvRegion, Pos};
use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{
    Advice, Challenge, Column, ConstraintSystem, Error, Expression, Fixed, SecondPhase, Selector,
};
use halo2_proofs::poly::Rotation;

/// The columns that run a lane's check.
#[derive(Clone, Debug)]
pub enum CheckColumns {
    /// One second-phase column and the challenge.
    Freivalds {
        /// Running check.
        acc: Column<Advice>,
    },
    /// One first-phase column per output of a region (`s_j`).
    Direct {
        /// The shift register / accumulators.
        s: Vec<Column<Advice>>,
    },
}

/// Columns of one matvec lane.
#[derive(Clone, Debug)]
pub struct MatvecLane {
    /// Inputs (dot rows) and outputs (Horner rows), first phase, equality-enabled.
    pub x: Column<Advice>,
    /// The check's columns.
    pub check: CheckColumns,
    /// Weight (and bias) columns.
    pub w: Vec<Column<Fixed>>,
    q_h0: Selector,
    q_h: Selector,
    q_d: Selector,
    q_z: Selector,
}

impl MatvecLane {
    /// Declares the lane's gate: the Freivalds check when `r` is given, the direct check
    /// otherwise.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        x: Column<Advice>,
        width: usize,
        r: Option<Challenge>,
    ) -> Self {
        meta.enable_equality(x);
        let w: Vec<Column<Fixed>> = (0..width).map(|_| meta.fixed_column()).collect();
        let (q_h0, q_h, q_d, q_z) = (
            meta.selector(),
            meta.selector(),
            meta.selector(),
            meta.selector(),
        );
        let check = match r {
            Some(r) => {
                let acc = meta.advice_column_in(SecondPhase);
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
                CheckColumns::Freivalds { acc }
            }
            None => {
                let s: Vec<Column<Advice>> = (0..width).map(|_| meta.advice_column()).collect();
                meta.create_gate("matvec (direct)", |vc| {
                    let xv = vc.query_advice(x, Rotation::cur());
                    let w0 = vc.query_fixed(w[0], Rotation::cur());
                    let (h0, h, d, z) = (
                        vc.query_selector(q_h0),
                        vc.query_selector(q_h),
                        vc.query_selector(q_d),
                        vc.query_selector(q_z),
                    );
                    let cur: Vec<Expression<F>> = s
                        .iter()
                        .map(|c| vc.query_advice(*c, Rotation::cur()))
                        .collect();
                    let prev: Vec<Expression<F>> = s
                        .iter()
                        .map(|c| vc.query_advice(*c, Rotation::prev()))
                        .collect();
                    let top = width - 1;
                    let entry = cur[top].clone() - xv.clone() + w0;
                    let mut out = vec![h0 * entry.clone(), h.clone() * entry];
                    for j in 0..top {
                        out.push(h.clone() * (cur[j].clone() - prev[j + 1].clone()));
                    }
                    for j in 0..width {
                        let wj = vc.query_fixed(w[top - j], Rotation::cur());
                        out.push(d.clone() * (cur[j].clone() - prev[j].clone() + xv.clone() * wj));
                        out.push(z.clone() * cur[j].clone());
                    }
                    out
                });
                CheckColumns::Direct { s }
            }
        };
        MatvecLane {
            x,
            check,
            w,
            q_h0,
            q_h,
            q_d,
            q_z,
        }
    }

    /// How this lane checks its outputs.
    pub fn kind(&self) -> MatvecCheck {
        match self.check {
            CheckColumns::Freivalds { .. } => MatvecCheck::Freivalds,
            CheckColumns::Direct { .. } => MatvecCheck::Direct,
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
        a.enable(&self.q_z, reg.start + reg.rows() - 1)?;
        if let CheckColumns::Direct { s } = &self.check {
            Self::assign_register(a, s, reg, op, wit);
        }
        Ok(())
    }

    /// Direct check: the shift register, then one accumulator per output.
    fn assign_register(
        a: &mut Assigner<'_, '_>,
        s: &[Column<Advice>],
        reg: &MvRegion,
        op: &LinearOp,
        wit: Wit<'_>,
    ) {
        let grp = op.group(reg.group as usize);
        let ws = &op.sets[grp.set];
        let (lane, c, m0) = (reg.lane, reg.c as usize, reg.m0 as usize);
        let top = s.len() - 1;
        let set = |a: &mut Assigner<'_, '_>, row: u32, vals: Option<&[i128]>| {
            for (j, col) in s.iter().enumerate() {
                let v = vals.map(|v| v[j]);
                a.advice(
                    AdvCol::MvReg(lane, j as u16),
                    *col,
                    row,
                    super::known(v.map(fe)),
                );
            }
        };
        // Entries y_i - b_i in Horner order (output c-1 first).
        let entries: Option<Vec<i128>> = (0..c)
            .map(|t| {
                let i = c - 1 - t;
                wit.int(op.output, grp.out[m0 + i] as usize)
                    .map(|y| y - ws.b[m0 + i] as i128)
            })
            .collect();
        let mut reg_vals = vec![0i128; s.len()];
        for t in 0..c {
            let vals = entries.as_ref().map(|e| {
                for (j, v) in reg_vals.iter_mut().enumerate() {
                    *v = (t + j).checked_sub(top).map_or(0, |src| e[src]);
                }
                reg_vals.as_slice()
            });
            set(a, reg.start + t as u32, vals);
        }
        let mut row = reg.start + c as u32;
        for (j, &src) in grp.gather.iter().enumerate() {
            if src == PAD {
                continue;
            }
            let x = wit.int(op.input, src as usize);
            let vals = match (entries.is_some(), x) {
                (true, Some(x)) => {
                    for (m, v) in reg_vals.iter_mut().rev().take(c).enumerate() {
                        *v -= x * ws.w[(m0 + m) * ws.k + j] as i128;
                    }
                    Some(reg_vals.as_slice())
                }
                _ => None,
            };
            set(a, row, vals);
            row += 1;
        }
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
        let CheckColumns::Freivalds { acc } = &self.check else {
            return;
        };
        let col = *acc;
        let grp = op.group(reg.group as usize);
        let ws = &op.sets[grp.set];
        let (lane, c, m0) = (reg.lane, reg.c as usize, reg.m0 as usize);
        let mut known = None;
        r.map(|r| known = Some(r));
        let (Some(r), Some(_)) = (known, wit.vals) else {
            for row in reg.start..reg.start + reg.rows() {
                a.advice(AdvCol::MvAcc(lane), col, row, Value::unknown());
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
            a.advice(AdvCol::MvAcc(lane), col, row, Value::known(acc));
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
            a.advice(AdvCol::MvAcc(lane), col, row, Value::known(acc));
            row += 1;
        }
    }
}
