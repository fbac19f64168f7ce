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
//!
//! **Constant weights.** A constant-weight linear op applied to `n` rows (a MatMul or Gemm over
//! `T` tokens: `Y = X·Wᵀ + b`, see [`LinearOp::shared_product`]) is the same check with
//! `A = X`, `B = Wᵀ` and `C = Y − b`, except that `B` is constant: each `B` run is
//! `⌈m / w⌉` *weight rows* holding `w` weights each in the lane's fixed weight columns
//! `w_0 … w_{w-1}` (`j` descending across the run, zeros above `m`), and the bias sits in
//! `w_0` on `C` rows:
//!
//! ```text
//! weight rows: acc = H (first of a run, carry = acc_prev)   acc = acc_prev·r^w + H (carry = carry_prev)
//!              H = Σ_u r^(w-1-u) w_u
//! C rows:      x − w_0 in place of x (w_0 is 0 on C rows of a product of computed matrices)
//! ```
//!
//! So each weight is placed once (rows `t·(n + ⌈m/w⌉) + n·m`), where matvec regions repeat the
//! weights for every row of `X`. The weights are fixed cells, bound by the verifying key.

use super::{AdvCol, Assigner, Wit};
use crate::field::{fe, F};
use crate::graph::{LinearGroup, LinearOp, MatMulOp, TensorId};
use crate::plan::{Col, Pos, RunRegion};
use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{
    Advice, Challenge, Column, ConstraintSystem, Error, Expression, Fixed, SecondPhase, Selector,
};
use halo2_proofs::poly::Rotation;

/// Selectors of a matmul lane (see the module documentation).
#[derive(Clone, Debug)]
struct Selectors {
    a0: Selector,
    a: Selector,
    b0: Selector,
    b: Selector,
    w0: Selector,
    w: Selector,
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
    /// Weight columns (constant `B`; bias on `C` rows).
    pub w: Vec<Column<Fixed>>,
    q: Selectors,
}

/// What one region proves.
#[derive(Clone, Copy)]
pub enum Product<'a> {
    /// Batch `.1` of a product of two computed matrices.
    Computed(&'a MatMulOp, usize),
    /// A constant-weight linear op as one product, `.1` weights per row.
    Shared(&'a LinearOp, u32),
}

/// Where a product's rows are: per `k`, the `A` run then the `B` run (`b_rows` rows: `m`, or
/// `⌈m/w⌉` weight rows); then `C`.
#[derive(Clone, Copy)]
struct Geometry {
    n: u32,
    t: u32,
    m: u32,
    b_rows: u32,
    /// Weights per row (0: `B` is computed).
    w: u32,
}

impl Geometry {
    fn of(p: Product<'_>) -> Self {
        match p {
            Product::Computed(op, _) => {
                let [n, t, m] = op.ikj.map(|d| d as u32);
                Geometry {
                    n,
                    t,
                    m,
                    b_rows: m,
                    w: 0,
                }
            }
            Product::Shared(op, w) => {
                let [n, t, m] = op.shared_product().unwrap_or([0, 0, 0]).map(|d| d as u32);
                Geometry {
                    n,
                    t,
                    m,
                    b_rows: m.div_ceil(w.max(1)),
                    w,
                }
            }
        }
    }

    /// First row of `C`, relative to the region.
    fn c_start(&self) -> u32 {
        self.t * (self.n + self.b_rows)
    }

    /// Rows of one product.
    fn rows(&self) -> u32 {
        self.c_start() + self.n * self.m
    }
}

/// Rows of one batch of `op` in a matmul lane.
pub fn region_rows(op: &MatMulOp) -> u32 {
    Geometry::of(Product::Computed(op, 0)).rows()
}

/// Rows of a shared product `[n, k, m]` in a matmul lane with `w` weight columns.
pub fn shared_rows([n, k, m]: [usize; 3], w: u32) -> u32 {
    let (n, k, m) = (n as u32, k as u32, m as u32);
    k * (n + m.div_ceil(w.max(1))) + n * m
}

/// One row of a region.
#[derive(Clone, Copy)]
enum Row {
    /// An element of `A` or computed `B`: tensor and element.
    Elem(TensorId, usize),
    /// Weight row `q` of `B`'s row `k` (constant `B`).
    Weights { k: usize, q: usize },
    /// An element of `C`, and the bias subtracted from it.
    Out(TensorId, usize, i64),
}

/// The rows of one region, in order.
fn rows(p: Product<'_>) -> Vec<Row> {
    let g = Geometry::of(p);
    let (n, t, m) = (g.n as usize, g.t as usize, g.m as usize);
    let mut out = Vec::with_capacity(g.rows() as usize);
    match p {
        Product::Computed(op, batch) => {
            let [ao, bo, co] = op.batches[batch];
            for k in 0..t {
                out.extend((0..n).rev().map(|i| Row::Elem(op.a, ao + i * t + k)));
                out.extend((0..m).rev().map(|j| Row::Elem(op.b, bo + k * m + j)));
            }
            for i in (0..n).rev() {
                out.extend((0..m).rev().map(|j| Row::Out(op.output, co + i * m + j, 0)));
            }
        }
        Product::Shared(op, _) => {
            let groups: Vec<LinearGroup> = (0..n).map(|i| op.group(i)).collect();
            let bias = &op.sets[0].b;
            for k in 0..t {
                out.extend(
                    groups
                        .iter()
                        .rev()
                        .map(|grp| Row::Elem(op.input, grp.gather[k] as usize)),
                );
                out.extend((0..g.b_rows as usize).map(|q| Row::Weights { k, q }));
            }
            for grp in groups.iter().rev() {
                out.extend(
                    (0..m)
                        .rev()
                        .map(|j| Row::Out(op.output, grp.out[j] as usize, bias[j])),
                );
            }
        }
    }
    out
}

/// Weight row `q` of `B`'s row `k`: `B[k][j]` for `j` from `(b_rows − q)·w − 1` down, 0 past
/// `m` (`B[k][j] = W[j][k]`).
fn weights(op: &LinearOp, g: &Geometry, k: usize, q: usize) -> Vec<i64> {
    let ws = &op.sets[0];
    let top = (g.b_rows as usize - q) * g.w as usize;
    (0..g.w as usize)
        .map(|u| {
            let j = top - 1 - u;
            if j < ws.m {
                ws.w[j * ws.k + k]
            } else {
                0
            }
        })
        .collect()
}

/// The home of each output element of product `p` placed at row `start` of lane `lane`.
pub fn output_homes(p: Product<'_>, lane: u16, start: u32) -> Vec<(usize, Pos)> {
    let g = Geometry::of(p);
    rows(p)
        .into_iter()
        .enumerate()
        .skip(g.c_start() as usize)
        .filter_map(|(r, row)| match row {
            Row::Out(_, e, _) => Some((
                e,
                Pos {
                    col: Col::DotX(lane),
                    row: start + r as u32,
                },
            )),
            _ => None,
        })
        .collect()
}

/// `Σ_u z^(w-1-u) v_u` (Horner) for expressions or field values.
fn horner<T: Clone + std::ops::Mul<Output = T> + std::ops::Add<Output = T>>(
    z: &T,
    v: impl IntoIterator<Item = T>,
) -> Option<T> {
    v.into_iter().fold(None, |acc, x| {
        Some(acc.map_or(x.clone(), |a| a * z.clone() + x))
    })
}

impl MatmulLane {
    /// Declares the lane's gates over challenges `r` (columns of `B` and `C`) and `s` (rows of
    /// `A` and `C`), with `weights` fixed weight columns.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        (r, s): (Challenge, Challenge),
        weights: u32,
    ) -> Self {
        let x = meta.advice_column();
        meta.enable_equality(x);
        let acc = meta.advice_column_in(SecondPhase);
        let carry = meta.advice_column_in(SecondPhase);
        let tot = meta.advice_column_in(SecondPhase);
        let w: Vec<Column<Fixed>> = (0..weights).map(|_| meta.fixed_column()).collect();
        let mut sel = || meta.selector();
        let q = Selectors {
            a0: sel(),
            a: sel(),
            b0: sel(),
            b: sel(),
            w0: sel(),
            w: sel(),
            zero: sel(),
            keep: sel(),
            add: sel(),
            c00: sel(),
            c0: sel(),
            c: sel(),
            last: sel(),
        };
        let qs = q.clone();
        let wcols = w.clone();
        meta.create_gate("matmul (Freivalds)", |vc| {
            let (cur, prev) = (Rotation::cur(), Rotation::prev());
            let xv = vc.query_advice(x, cur);
            let (a, a_p) = (vc.query_advice(acc, cur), vc.query_advice(acc, prev));
            let (c, c_p) = (vc.query_advice(carry, cur), vc.query_advice(carry, prev));
            let (t, t_p) = (vc.query_advice(tot, cur), vc.query_advice(tot, prev));
            let (r, s) = (vc.query_challenge(r), vc.query_challenge(s));
            let wv: Vec<Expression<F>> = wcols.iter().map(|&c| vc.query_fixed(c, cur)).collect();
            // The weight row's Horner sum, `r^w` and the C rows' value less the bias.
            let nil = Expression::Constant(F::ZERO);
            let h = horner(&r, wv.iter().cloned()).unwrap_or(nil.clone());
            let r_w = (0..wv.len()).fold(Expression::Constant(F::ONE), |p, _| p * r.clone());
            let out = xv.clone() - wv.first().cloned().unwrap_or(nil);
            let [a0, qa, b0, qb, w0, qw, zero, keep, add, c00, c0, qc, last] = [
                qs.a0, qs.a, qs.b0, qs.b, qs.w0, qs.w, qs.zero, qs.keep, qs.add, qs.c00, qs.c0,
                qs.c, qs.last,
            ]
            .map(|q| vc.query_selector(q));
            let step = |z: Expression<F>, v: Expression<F>| a.clone() - a_p.clone() * z - v;
            vec![
                a0 * (a.clone() - xv.clone()),
                qa * step(s.clone(), xv.clone()),
                b0.clone() * (a.clone() - xv.clone()),
                b0 * (c.clone() - a_p.clone()),
                qb.clone() * step(r.clone(), xv.clone()),
                qb * (c.clone() - c_p.clone()),
                w0.clone() * (a.clone() - h.clone()),
                w0 * (c.clone() - a_p.clone()),
                qw.clone() * step(r_w, h),
                qw * (c.clone() - c_p.clone()),
                zero * t.clone(),
                keep * (t.clone() - t_p.clone()),
                add * (t.clone() - t_p - c.clone() * a.clone()),
                c00.clone() * (a.clone() - out.clone()),
                c00 * c.clone(),
                c0.clone() * (a.clone() - out.clone()),
                c0 * (c.clone() - c_p.clone() * s.clone() - a_p.clone()),
                qc.clone() * step(r, out),
                qc * (c.clone() - c_p),
                last * (t - c * s - a),
            ]
        });
        MatmulLane {
            x,
            acc,
            carry,
            tot,
            w,
            q,
        }
    }

    /// First phase: the elements (copied in for `A` and computed `B`), the weights and biases,
    /// and the selectors of one region.
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        reg: &RunRegion,
        p: Product<'_>,
        wit: Wit<'_>,
        homes: &[Vec<Pos>],
    ) -> Result<(), Error> {
        let lane = reg.lane;
        let g = Geometry::of(p);
        if g.w as usize > self.w.len() {
            return Err(Error::Synthesis);
        }
        for (r, row) in rows(p).into_iter().enumerate() {
            let at = reg.start + r as u32;
            let here = Pos {
                col: Col::DotX(lane),
                row: at,
            };
            match (row, p) {
                (Row::Elem(t, e), _) => {
                    a.advice(AdvCol::DotX(lane), self.x, at, wit.get(t, e));
                    a.copy(here, homes[t][e])?;
                }
                (Row::Weights { k, q }, Product::Shared(op, _)) => {
                    a.advice(AdvCol::DotX(lane), self.x, at, Value::known(F::ZERO));
                    for (col, v) in self.w.iter().zip(weights(op, &g, k, q)) {
                        a.fixed(*col, at, fe(v as i128));
                    }
                }
                (Row::Out(t, e, bias), _) => {
                    a.advice(AdvCol::DotX(lane), self.x, at, wit.get(t, e));
                    if bias != 0 {
                        let w0 = self.w.first().ok_or(Error::Synthesis)?;
                        a.fixed(*w0, at, fe(bias as i128));
                    }
                }
                (Row::Weights { .. }, Product::Computed(..)) => return Err(Error::Synthesis),
            }
            for q in self.selectors(&g, r as u32) {
                a.enable(q, at)?;
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
            let (k, u) = (r / (g.n + g.b_rows), r % (g.n + g.b_rows));
            if u < g.n {
                on.push(if u == 0 { &q.a0 } else { &q.a });
                on.push(if k == 0 && u == 0 { &q.zero } else { &q.keep });
            } else {
                on.push(match (u == g.n, g.w > 0) {
                    (true, false) => &q.b0,
                    (false, false) => &q.b,
                    (true, true) => &q.w0,
                    (false, true) => &q.w,
                });
                on.push(if u == g.n + g.b_rows - 1 {
                    &q.add
                } else {
                    &q.keep
                });
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
        p: Product<'_>,
        wit: Wit<'_>,
        (r, s): (Value<F>, Value<F>),
    ) {
        let lane = reg.lane;
        let rows = rows(p);
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
        let g = Geometry::of(p);
        let r_w = r.pow_vartime([u64::from(g.w)]);
        let (mut acc, mut carry, mut tot) = (F::ZERO, F::ZERO, F::ZERO);
        for (i, &row) in rows.iter().enumerate() {
            let i = i as u32;
            let prev_acc = acc;
            // The row's value: an element, a weight row's Horner sum, an output less its bias.
            let x = match (row, p) {
                (Row::Elem(t, e), _) => fe(wit.int(t, e).unwrap_or(0)),
                (Row::Weights { k, q }, Product::Shared(op, _)) => {
                    let v = weights(op, &g, k, q).into_iter().map(|v| fe(v as i128));
                    horner(&r, v).unwrap_or(F::ZERO)
                }
                (Row::Weights { .. }, Product::Computed(..)) => F::ZERO,
                (Row::Out(t, e, bias), _) => fe(wit.int(t, e).unwrap_or(0) - bias as i128),
            };
            if i < g.c_start() {
                let u = i % (g.n + g.b_rows);
                let z = if g.w > 0 { r_w } else { r };
                if u < g.n {
                    acc = if u == 0 { x } else { prev_acc * s + x };
                } else if u == g.n {
                    (acc, carry) = (x, prev_acc);
                } else {
                    acc = prev_acc * z + x;
                }
                if u == g.n + g.b_rows - 1 {
                    tot += carry * acc;
                }
            } else {
                let (ci, cj) = ((i - g.c_start()) / g.m, (i - g.c_start()) % g.m);
                match (ci, cj) {
                    (0, 0) => (acc, carry) = (x, F::ZERO),
                    (_, 0) => (acc, carry) = (x, carry * s + prev_acc),
                    _ => acc = prev_acc * r + x,
                }
            }
            let at = reg.start + i;
            for (role, col, v) in [
                (AdvCol::DotAcc(lane), self.acc, acc),
                (AdvCol::DotCarry(lane), self.carry, carry),
                (AdvCol::DotTot(lane), self.tot, tot),
            ] {
                a.advice(role, col, at, Value::known(v));
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
