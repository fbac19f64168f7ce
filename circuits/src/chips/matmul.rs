//! Matmul chip: a product of two computed matrices, `C = A·B` (`A` is `n × t`, `B` is `t × m`),
//! checked at the matrix level (Freivalds) instead of one row per multiply-accumulate.
//!
//! With challenges `r` and `s` drawn after `A`, `B` and `C` are committed,
//!
//! ```text
//! Σ_i Σ_j s^i r^j C[i][j]  =  Σ_k α_k · β_k,     α_k = Σ_i s^i A[i][k],  β_k = Σ_j r^j B[k][j]
//! ```
//!
//! If `C ≠ A·B`, the two sides are distinct polynomials in `(s, r)` of degree `< n + m`, so they
//! agree with probability at most `(n + m) / |F|`. `A` and `B` are range-checked activations, so
//! their integer product is far below the field size and `C` is exactly the integer product.
//!
//! One region per product (per batch) holds every element once in the first-phase column `x`
//! (equality-enabled: `A` and `B` are copied in, `C` lives here): for each `k`, column `k` of
//! `A` (`i` descending) then row `k` of `B` (`j` descending); then `C` row by row (`i`
//! descending, `j` descending within a row). Three second-phase columns run the check:
//!
//! ```text
//! A rows:  acc = x (first of a run)           acc = acc_prev·s + x        → α_k
//! B rows:  acc = x, carry = acc_prev (first)  acc = acc_prev·r + x, carry = carry_prev → β_k, α_k
//! tot:     0 on the region's first row; tot_prev + carry·acc on the last row of each B run
//!          (adds α_k·β_k); tot_prev on every other row
//! C rows:  first row of a C row: acc = x, carry = carry_prev·s + acc_prev (0 for the first C row)
//!          other rows: acc = acc_prev·r + x, carry = carry_prev
//! last:    tot = carry·s + acc
//! ```
//!
//! `C` rows give `γ_i = Σ_j r^j C[i][j]` in `acc`, and `carry` runs the Horner sum of the
//! `γ`s over `s`, so the last row compares `Σ_i s^i γ_i` with `Σ_k α_k β_k`.
//!
//! Single-phase circuits (the CUDA prover's) use the dot chip instead.

use super::{AdvCol, Assigner, Wit};
use crate::field::{fe, F};
use crate::graph::MatMulOp;
use crate::plan::{Col, Pos, RunRegion};
use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{
    Advice, Challenge, Column, ConstraintSystem, Error, Expression, SecondPhase, Selector,
};
use halo2_proofs::poly::Rotation;

/// Selectors of a matmul lane (see the module documentation).
#[derive(Clone, Debug)]
struct Selectors {
    a0: Selector,
    a: Selector,
    b0: Selector,
    b: Selector,
    zero: Selector,
    keep: Selector,
    add: Selector,
    c00: Selector,
    c0: Selector,
    c: Selector,
    last: Selector,
}

/// Columns of one matmul lane.
#[derive(Clone, Debug)]
pub struct MatmulLane {
    /// Elements of `A`, `B` and `C` (first phase, equality-enabled).
    pub x: Column<Advice>,
    /// Horner sums (second phase).
    pub acc: Column<Advice>,
    /// `α_k` along a `B` run; the Horner sum of the `γ_i` along `C` (second phase).
    pub carry: Column<Advice>,
    /// Running `Σ α_k β_k` (second phase).
    pub tot: Column<Advice>,
    q: Selectors,
}

/// Where a product's rows are: per `k`, the `A` run then the `B` run; then `C`.
#[derive(Clone, Copy)]
struct Geometry {
    n: u32,
    t: u32,
    m: u32,
}

impl Geometry {
    fn of(op: &MatMulOp) -> Self {
        let [n, t, m] = op.ikj.map(|d| d as u32);
        Geometry { n, t, m }
    }

    /// First row of `C`, relative to the region.
    fn c_start(&self) -> u32 {
        self.t * (self.n + self.m)
    }

    /// Rows of one product.
    pub(crate) fn rows(&self) -> u32 {
        self.c_start() + self.n * self.m
    }
}

/// Rows of one batch of `op` in a matmul lane.
pub fn region_rows(op: &MatMulOp) -> u32 {
    Geometry::of(op).rows()
}

/// For each row of one batch's region: which tensor element it holds, as
/// `(0 = A / 1 = B / 2 = C, element index)`.
fn elements(op: &MatMulOp, batch: usize) -> Vec<(u8, usize)> {
    let Geometry { n, t, m } = Geometry::of(op);
    let (n, t, m) = (n as usize, t as usize, m as usize);
    let [ao, bo, co] = op.batches[batch];
    let mut out = Vec::with_capacity(t * (n + m) + n * m);
    for k in 0..t {
        out.extend((0..n).rev().map(|i| (0, ao + i * t + k)));
        out.extend((0..m).rev().map(|j| (1, bo + k * m + j)));
    }
    for i in (0..n).rev() {
        out.extend((0..m).rev().map(|j| (2, co + i * m + j)));
    }
    out
}

/// The home of each output element of batch `batch` placed at `start` of lane `lane`.
pub fn output_homes(op: &MatMulOp, batch: usize, lane: u16, start: u32) -> Vec<(usize, Pos)> {
    let g = Geometry::of(op);
    elements(op, batch)
        .into_iter()
        .enumerate()
        .skip(g.c_start() as usize)
        .map(|(r, (_, e))| {
            (
                e,
                Pos {
                    col: Col::DotX(lane),
                    row: start + r as u32,
                },
            )
        })
        .collect()
}

impl MatmulLane {
    /// Declares the lane's gates over challenges `r` (columns of `B` and `C`) and `s` (rows of
    /// `A` and `C`).
    pub fn configure(meta: &mut ConstraintSystem<F>, r: Challenge, s: Challenge) -> Self {
        let x = meta.advice_column();
        meta.enable_equality(x);
        let acc = meta.advice_column_in(SecondPhase);
        let carry = meta.advice_column_in(SecondPhase);
        let tot = meta.advice_column_in(SecondPhase);
        let mut sel = || meta.selector();
        let q = Selectors {
            a0: sel(),
            a: sel(),
            b0: sel(),
            b: sel(),
            zero: sel(),
            keep: sel(),
            add: sel(),
            c00: sel(),
            c0: sel(),
            c: sel(),
            last: sel(),
        };
        let qs = q.clone();
        meta.create_gate("matmul (Freivalds)", |vc| {
            let (cur, prev) = (Rotation::cur(), Rotation::prev());
            let xv = vc.query_advice(x, cur);
            let (a, a_p) = (vc.query_advice(acc, cur), vc.query_advice(acc, prev));
            let (c, c_p) = (vc.query_advice(carry, cur), vc.query_advice(carry, prev));
            let (t, t_p) = (vc.query_advice(tot, cur), vc.query_advice(tot, prev));
            let (r, s) = (vc.query_challenge(r), vc.query_challenge(s));
            let [a0, qa, b0, qb, zero, keep, add, c00, c0, qc, last] = [
                qs.a0, qs.a, qs.b0, qs.b, qs.zero, qs.keep, qs.add, qs.c00, qs.c0, qs.c, qs.last,
            ]
            .map(|q| vc.query_selector(q));
            let horner = |z: Expression<F>| a.clone() - a_p.clone() * z - xv.clone();
            vec![
                a0 * (a.clone() - xv.clone()),
                qa * horner(s.clone()),
                b0.clone() * (a.clone() - xv.clone()),
                b0 * (c.clone() - a_p.clone()),
                qb.clone() * horner(r.clone()),
                qb * (c.clone() - c_p.clone()),
                zero * t.clone(),
                keep * (t.clone() - t_p.clone()),
                add * (t.clone() - t_p - c.clone() * a.clone()),
                c00.clone() * (a.clone() - xv.clone()),
                c00 * c.clone(),
                c0.clone() * (a.clone() - xv.clone()),
                c0 * (c.clone() - c_p.clone() * s.clone() - a_p.clone()),
                qc.clone() * horner(r),
                qc * (c.clone() - c_p),
                last * (t - c * s - a),
            ]
        });
        MatmulLane {
            x,
            acc,
            carry,
            tot,
            q,
        }
    }

    /// First phase: the elements (copied in for `A` and `B`) and the selectors of one batch.
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        reg: &RunRegion,
        op: &MatMulOp,
        wit: Wit<'_>,
        homes: &[Vec<Pos>],
    ) -> Result<(), Error> {
        let lane = reg.lane;
        let g = Geometry::of(op);
        for (r, (src, e)) in elements(op, reg.item as usize).into_iter().enumerate() {
            let row = reg.start + r as u32;
            let tensor = [op.a, op.b, op.output][src as usize];
            a.advice(AdvCol::DotX(lane), self.x, row, wit.get(tensor, e));
            if src < 2 {
                a.copy(
                    Pos {
                        col: Col::DotX(lane),
                        row,
                    },
                    homes[tensor][e],
                )?;
            }
            for q in self.selectors(&g, r as u32) {
                a.enable(q, row)?;
            }
        }
        Ok(())
    }

    /// The selectors enabled on row `r` of a region.
    fn selectors(&self, g: &Geometry, r: u32) -> Vec<&Selector> {
        let q = &self.q;
        let mut on = Vec::with_capacity(3);
        let c_start = g.c_start();
        if r < c_start {
            let (k, u) = (r / (g.n + g.m), r % (g.n + g.m));
            if u < g.n {
                on.push(if u == 0 { &q.a0 } else { &q.a });
                on.push(if k == 0 && u == 0 { &q.zero } else { &q.keep });
            } else {
                on.push(if u == g.n { &q.b0 } else { &q.b });
                on.push(if u == g.n + g.m - 1 { &q.add } else { &q.keep });
            }
        } else {
            let (i, j) = ((r - c_start) / g.m, (r - c_start) % g.m);
            on.push(match (i, j) {
                (0, 0) => &q.c00,
                (_, 0) => &q.c0,
                _ => &q.c,
            });
            on.push(&q.keep);
            if r == g.rows() - 1 {
                on.push(&q.last);
            }
        }
        on
    }

    /// Second phase: the Horner sums and the running total, which need the challenges.
    pub(crate) fn assign_acc(
        &self,
        a: &mut Assigner<'_, '_>,
        reg: &RunRegion,
        op: &MatMulOp,
        wit: Wit<'_>,
        (r, s): (Value<F>, Value<F>),
    ) {
        let lane = reg.lane;
        let rows = elements(op, reg.item as usize);
        let mut known = None;
        r.zip(s).map(|rs| known = Some(rs));
        let (Some((r, s)), Some(_)) = (known, wit.vals) else {
            for row in reg.start..reg.start + rows.len() as u32 {
                for (role, col) in self.second_phase(lane) {
                    a.advice(role, col, row, Value::unknown());
                }
            }
            return;
        };
        let g = Geometry::of(op);
        let value = |(src, e): (u8, usize)| {
            let tensor = [op.a, op.b, op.output][src as usize];
            fe(wit.int(tensor, e).unwrap_or(0))
        };
        let (mut acc, mut carry, mut tot) = (F::ZERO, F::ZERO, F::ZERO);
        for (i, &el) in rows.iter().enumerate() {
            let x = value(el);
            let (r_, u) = (i as u32, i as u32 % (g.n + g.m));
            let prev_acc = acc;
            if r_ < g.c_start() {
                if u < g.n {
                    acc = if u == 0 { x } else { prev_acc * s + x };
                } else if u == g.n {
                    (acc, carry) = (x, prev_acc);
                } else {
                    acc = prev_acc * r + x;
                }
                if u == g.n + g.m - 1 {
                    tot += carry * acc;
                }
            } else {
                let (ci, cj) = ((r_ - g.c_start()) / g.m, (r_ - g.c_start()) % g.m);
                match (ci, cj) {
                    (0, 0) => (acc, carry) = (x, F::ZERO),
                    (_, 0) => (acc, carry) = (x, carry * s + prev_acc),
                    _ => acc = prev_acc * r + x,
                }
            }
            let row = reg.start + r_;
            for (role, col, v) in [
                (AdvCol::DotAcc(lane), self.acc, acc),
                (AdvCol::DotCarry(lane), self.carry, carry),
                (AdvCol::DotTot(lane), self.tot, tot),
            ] {
                a.advice(role, col, row, Value::known(v));
            }
        }
    }

    fn second_phase(&self, lane: u16) -> [(AdvCol, Column<Advice>); 3] {
        [
            (AdvCol::DotAcc(lane), self.acc),
            (AdvCol::DotCarry(lane), self.carry),
            (AdvCol::DotTot(lane), self.tot),
        ]
    }
}
