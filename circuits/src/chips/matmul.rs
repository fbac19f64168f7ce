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
//! One region per product (per batch) holds each element once in the first-phase column `x`
//! (equality-enabled: `A` and `B` are copied in, `C` lives here): first `C`, row by row (`j`
//! descending within a row); then for each `k`, column `k` of `A` and row `k` of `B` (`j`
//! ascending). The rows `i` of `A` and `C` go in one order, and the first row in that order
//! carries the highest power of `s` (relabel `i` by position: the identity above is unchanged).
//! Two second-phase columns run the check, `acc` and `carry`, whose last value must be zero:
//!
//! ```text
//! C rows:  first of the region:        acc = x, carry = 0
//!          first of a later row of C:  acc = x, carry = carry_prev·s + acc_prev
//!          other rows:                 acc = acc_prev·r + x, carry = carry_prev
//! A rows:  first of the region's first run: acc = x, carry = carry_prev·s + acc_prev
//!          first of a later run:       acc = x, carry = carry_prev
//!          other rows:                 acc = acc_prev·s + x, carry = carry_prev        → α_k
//! B rows:  first: acc = acc_prev (α_k), others: acc = acc_prev·r;  carry = carry_prev − acc·x
//! last:    carry = 0
//! ```
//!
//! `C` rows give `γ_i = Σ_j r^j C[i][j]` in `acc`, and `carry` runs the Horner sum
//! `G = Σ_i s^i γ_i` (complete on the first `A` row). Along a `B` run `acc` is `α_k·r^j`, so
//! the run takes `α_k β_k` off `carry`: the last row holds `G − Σ_k α_k β_k`, which is zero.
//! Every row of a region sets both columns from its own cells and the row above, so they have
//! one value for given `x`, `r` and `s`. (The running total needs no column of its own: it
//! rides in `carry` while `acc` runs the Horner sums.)
//!
//! **Known zeros.** A product of computed matrices places `A` and `C` with `i` ascending
//! (`A[0][k]` carries `s^(n−1)`), so the first rows of a column of `A` are the first of its
//! Horner run. Where they are known zeros whatever the input ([`MatMulOp::a_zeros`]: a causal
//! attention's masked probabilities, a constant op's zeros read through views), the run starts
//! after them: a Horner sum's leading zeros add nothing, so `α_k` is unchanged. A column that
//! is all known zeros (`α_k = 0`) leaves out its `B` run too; where every column is, the
//! region is `C` alone and its last row checks `carry·s + acc = G = 0`. Causal attention's
//! `A·V` places about half of `A`.
//!
//! Single-phase circuits (the CUDA prover's) use the dot chip instead.
//!
//! **Constant weights.** A constant-weight linear op applied to `n` rows (a MatMul or Gemm over
//! `T` tokens: `Y = X·Wᵀ + b`, see [`LinearOp::shared_product`]) is the same check with
//! `A = X`, `B = Wᵀ` and `C = Y − b`, except that `B` is constant: each `B` run is
//! `⌈m / w⌉` *weight rows* holding `w` weights each in the lane's fixed weight columns
//! `w_0 … w_{w-1}` (weight row `q` holds `B[k][j]` for `j` from `(q+1)·w − 1` down to `q·w`,
//! zeros from `m`), and the bias sits in `w_0` on `C` rows:
//!
//! ```text
//! weight rows: first: acc = acc_prev, others: acc = acc_prev·r^w;  carry = carry_prev − acc·H
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
    a00: Selector,
    a0: Selector,
    a: Selector,
    b0: Selector,
    b: Selector,
    w0: Selector,
    w: Selector,
    c00: Selector,
    c0: Selector,
    c: Selector,
    /// The region's last row, a `B` or weight row: `carry = 0`.
    last: Selector,
    /// The last row of a region with no `A·B` term (`C` alone): `carry·s + acc = 0`.
    last_c: Selector,
}

/// Columns of one matmul lane.
#[derive(Clone, Debug)]
pub struct MatmulLane {
    /// Elements of `A`, `B` and `C` (first phase, equality-enabled).
    pub x: Column<Advice>,
    /// Horner sums (second phase).
    pub acc: Column<Advice>,
    /// The Horner sum of the `γ_i`, less the `α_k β_k` of the runs so far (second phase).
    pub carry: Column<Advice>,
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

/// A product's dimensions: `C`, then per `k` the `A` run and the `B` run (`b_rows` rows: `m`,
/// or `⌈m/w⌉` weight rows).
#[derive(Clone, Copy)]
struct Geometry<'a> {
    n: u32,
    t: u32,
    m: u32,
    b_rows: u32,
    /// Weights per row (0: `B` is computed).
    w: u32,
    /// Known zeros of `A` per column (see [`MatMulOp::a_zeros`]).
    zeros: &'a [u32],
}

impl<'a> Geometry<'a> {
    fn of(p: Product<'a>) -> Self {
        match p {
            Product::Computed(op, _) => {
                let [n, t, m] = op.ikj.map(|d| d as u32);
                Geometry {
                    n,
                    t,
                    m,
                    b_rows: m,
                    w: 0,
                    zeros: &op.a_zeros,
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
                    zeros: &[],
                }
            }
        }
    }

    /// Rows of `A`'s run `k`: its column less its known zeros.
    fn a_rows(&self, k: u32) -> u32 {
        let z = self.zeros.get(k as usize).copied().unwrap_or(0);
        self.n - z.min(self.n)
    }

    /// Rows of one product: `C`, then a term per column of `A` that is not all zeros.
    fn rows(&self) -> u32 {
        let term = |k| match self.a_rows(k) {
            0 => 0,
            a => a + self.b_rows,
        };
        (0..self.t).map(term).sum::<u32>() + self.n * self.m
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

/// A row's step in the Horner sums (see the module documentation): the first rows of the
/// region's first `A` run and of the later ones, and its other rows; the first and the other
/// rows of a computed `B` run and of a weight run; the first row of `C`, the first row of each
/// later row of `C`, and its other rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    A00,
    A0,
    A,
    B0,
    B,
    W0,
    W,
    C00,
    C0,
    C,
}

/// One row of a region and what the check does on it.
#[derive(Clone, Copy)]
struct Line {
    row: Row,
    step: Step,
}

/// The rows of one region, in order, as they are built, and whether an `A` run has begun.
struct Lines(Vec<Line>, bool);

impl Lines {
    fn run(&mut self, rows: impl Iterator<Item = Row>, (first, rest): (Step, Step)) {
        for (u, row) in rows.enumerate() {
            let step = if u == 0 { first } else { rest };
            self.0.push(Line { row, step });
        }
    }

    /// The rows of `C`, one iterator per row: the region's first rows.
    fn outputs<R: Iterator<Item = Row>>(&mut self, rows: impl Iterator<Item = R>) {
        for (i, r) in rows.enumerate() {
            let first = if i == 0 { Step::C00 } else { Step::C0 };
            self.run(r, (first, Step::C));
        }
    }

    /// The term `α_k β_k`: the `A` run (the first of the region completes `G`), then the `B`
    /// run, which takes the product off `carry`. An empty `A` run (a column of known zeros,
    /// `α_k = 0`) leaves out the term.
    fn term(&mut self, a: impl Iterator<Item = Row>, b: impl Iterator<Item = Row>, w: bool) {
        let start = self.0.len();
        let first = if self.1 { Step::A0 } else { Step::A00 };
        self.run(a, (first, Step::A));
        if self.0.len() == start {
            return;
        }
        self.1 = true;
        let steps = match w {
            true => (Step::W0, Step::W),
            false => (Step::B0, Step::B),
        };
        self.run(b, steps);
    }
}

/// The rows of one region, in order.
fn lines(p: Product<'_>) -> Vec<Line> {
    let g = Geometry::of(p);
    let (n, t, m) = (g.n as usize, g.t as usize, g.m as usize);
    let mut out = Lines(Vec::with_capacity(g.rows() as usize), false);
    match p {
        Product::Computed(op, batch) => {
            let [ao, bo, co] = op.batches[batch];
            let c_row = |i: usize| {
                (0..m)
                    .rev()
                    .map(move |j| Row::Out(op.output, co + i * m + j, 0))
            };
            out.outputs((0..n).map(c_row));
            for k in 0..t {
                // Rows of `A` ascending, so that its known zeros (the first rows) drop out.
                let skip = n - g.a_rows(k as u32) as usize;
                let a = (skip..n).map(|i| Row::Elem(op.a, ao + i * t + k));
                let b = (0..m).map(|j| Row::Elem(op.b, bo + k * m + j));
                out.term(a, b, false);
            }
        }
        Product::Shared(op, _) => {
            let groups: Vec<LinearGroup> = (0..n).map(|i| op.group(i)).collect();
            let bias = &op.sets[0].b;
            let c_row = |grp: &LinearGroup| {
                let out: Vec<Row> = (0..m)
                    .rev()
                    .map(|j| Row::Out(op.output, grp.out[j] as usize, bias[j]))
                    .collect();
                out.into_iter()
            };
            out.outputs(groups.iter().rev().map(c_row));
            for k in 0..t {
                let a =
                    (groups.iter().rev()).map(|grp| Row::Elem(op.input, grp.gather[k] as usize));
                let b = (0..g.b_rows as usize).map(|q| Row::Weights { k, q });
                out.term(a, b, true);
            }
        }
    }
    out.0
}

/// Weight row `q` of `B`'s row `k`: `B[k][j]` for `j` from `(q + 1)·w − 1` down to `q·w`, 0
/// from `m` (`B[k][j] = W[j][k]`).
fn weights(op: &LinearOp, g: &Geometry, k: usize, q: usize) -> Vec<i64> {
    let ws = &op.sets[0];
    let top = (q + 1) * g.w as usize;
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
    lines(p)
        .into_iter()
        .enumerate()
        .filter_map(|(r, line)| match line.row {
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
        let w: Vec<Column<Fixed>> = (0..weights).map(|_| meta.fixed_column()).collect();
        let mut sel = || meta.selector();
        let q = Selectors {
            a00: sel(),
            a0: sel(),
            a: sel(),
            b0: sel(),
            b: sel(),
            w0: sel(),
            w: sel(),
            c00: sel(),
            c0: sel(),
            c: sel(),
            last: sel(),
            last_c: sel(),
        };
        let qs = q.clone();
        let wcols = w.clone();
        meta.create_gate("matmul (Freivalds)", |vc| {
            let (cur, prev) = (Rotation::cur(), Rotation::prev());
            let xv = vc.query_advice(x, cur);
            let (a, a_p) = (vc.query_advice(acc, cur), vc.query_advice(acc, prev));
            let (c, c_p) = (vc.query_advice(carry, cur), vc.query_advice(carry, prev));
            let (r, s) = (vc.query_challenge(r), vc.query_challenge(s));
            let wv: Vec<Expression<F>> = wcols.iter().map(|&c| vc.query_fixed(c, cur)).collect();
            // The weight row's Horner sum, `r^w` and the C rows' value less the bias.
            let nil = Expression::Constant(F::ZERO);
            let h = horner(&r, wv.iter().cloned()).unwrap_or(nil.clone());
            let r_w = (0..wv.len()).fold(Expression::Constant(F::ONE), |p, _| p * r.clone());
            let out = xv.clone() - wv.first().cloned().unwrap_or(nil);
            let [a00, a0, qa, b0, qb, w0, qw, c00, c0, qc, last, last_c] = [
                qs.a00, qs.a0, qs.a, qs.b0, qs.b, qs.w0, qs.w, qs.c00, qs.c0, qs.c, qs.last,
                qs.last_c,
            ]
            .map(|q| vc.query_selector(q));
            let step = |z: Expression<F>, v: Expression<F>| a.clone() - a_p.clone() * z - v;
            // `carry` kept, closing `G` (the next row of C, the first A run), or less `acc·v`.
            let keep = c.clone() - c_p.clone();
            let close = c.clone() - c_p.clone() * s.clone() - a_p.clone();
            let minus = |v: Expression<F>| c.clone() - c_p.clone() + a.clone() * v;
            vec![
                c00.clone() * (a.clone() - out.clone()),
                c00 * c.clone(),
                c0.clone() * (a.clone() - out.clone()),
                c0 * close.clone(),
                qc.clone() * step(r.clone(), out),
                qc * keep.clone(),
                a00.clone() * (a.clone() - xv.clone()),
                a00 * close,
                a0.clone() * (a.clone() - xv.clone()),
                a0 * keep.clone(),
                qa.clone() * step(s.clone(), xv.clone()),
                qa * keep,
                b0.clone() * (a.clone() - a_p.clone()),
                b0 * minus(xv.clone()),
                qb.clone() * (a.clone() - a_p.clone() * r.clone()),
                qb * minus(xv),
                w0.clone() * (a.clone() - a_p.clone()),
                w0 * minus(h.clone()),
                qw.clone() * (a.clone() - a_p.clone() * r_w),
                qw * minus(h),
                last * c.clone(),
                last_c * (c * s + a),
            ]
        });
        MatmulLane {
            x,
            acc,
            carry,
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
        // The gate's weight row reads every weight column of the lane; an empty product (no
        // `C`) would start on an `A` row, which reads the row above.
        let weights_fit = match p {
            Product::Shared(..) => g.w as usize == self.w.len(),
            Product::Computed(..) => true,
        };
        if !weights_fit || g.n == 0 || g.m == 0 {
            return Err(Error::Synthesis);
        }
        let lines = lines(p);
        let last = lines.len().saturating_sub(1);
        for (r, line) in lines.iter().enumerate() {
            let at = reg.start + r as u32;
            let here = Pos {
                col: Col::DotX(lane),
                row: at,
            };
            match (line.row, p) {
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
            for q in self.selectors(line, r == last) {
                a.enable(q, at)?;
            }
        }
        Ok(())
    }

    /// The selectors enabled on a row (`last`: the region's last row).
    fn selectors(&self, line: &Line, last: bool) -> Vec<&Selector> {
        let q = &self.q;
        let step = match line.step {
            Step::A00 => &q.a00,
            Step::A0 => &q.a0,
            Step::A => &q.a,
            Step::B0 => &q.b0,
            Step::B => &q.b,
            Step::W0 => &q.w0,
            Step::W => &q.w,
            Step::C00 => &q.c00,
            Step::C0 => &q.c0,
            Step::C => &q.c,
        };
        let mut on = vec![step];
        if last {
            on.push(match line.step {
                Step::C00 | Step::C0 | Step::C => &q.last_c,
                _ => &q.last,
            });
        }
        on
    }

    /// Second phase: the Horner sums and the running difference, which need the challenges.
    pub(crate) fn assign_acc(
        &self,
        a: &mut Assigner<'_, '_>,
        reg: &RunRegion,
        p: Product<'_>,
        wit: Wit<'_>,
        (r, s): (Value<F>, Value<F>),
    ) {
        let lane = reg.lane;
        let lines = lines(p);
        let mut known = None;
        r.zip(s).map(|rs| known = Some(rs));
        let (Some((r, s)), Some(_)) = (known, wit.vals) else {
            for row in reg.start..reg.start + lines.len() as u32 {
                for (role, col) in self.second_phase(lane) {
                    a.advice(role, col, row, Value::unknown());
                }
            }
            return;
        };
        let g = Geometry::of(p);
        let r_w = r.pow_vartime([u64::from(g.w)]);
        let (mut acc, mut carry) = (F::ZERO, F::ZERO);
        for (i, line) in lines.iter().enumerate() {
            let prev_acc = acc;
            // The row's value: an element, a weight row's Horner sum, an output less its bias.
            let x = match (line.row, p) {
                (Row::Elem(t, e), _) => fe(wit.int(t, e).unwrap_or(0)),
                (Row::Weights { k, q }, Product::Shared(op, _)) => {
                    let v = weights(op, &g, k, q).into_iter().map(|v| fe(v as i128));
                    horner(&r, v).unwrap_or(F::ZERO)
                }
                (Row::Weights { .. }, Product::Computed(..)) => F::ZERO,
                (Row::Out(t, e, bias), _) => fe(wit.int(t, e).unwrap_or(0) - bias as i128),
            };
            match line.step {
                Step::C00 => (acc, carry) = (x, F::ZERO),
                Step::C0 | Step::A00 => (acc, carry) = (x, carry * s + prev_acc),
                Step::C => acc = prev_acc * r + x,
                Step::A0 => acc = x,
                Step::A => acc = prev_acc * s + x,
                Step::B0 | Step::W0 => carry -= acc * x,
                Step::B => (acc, carry) = (prev_acc * r, carry - prev_acc * r * x),
                Step::W => (acc, carry) = (prev_acc * r_w, carry - prev_acc * r_w * x),
            }
            let at = reg.start + i as u32;
            for (role, col, v) in [
                (AdvCol::DotAcc(lane), self.acc, acc),
                (AdvCol::DotCarry(lane), self.carry, carry),
            ] {
                a.advice(role, col, at, Value::known(v));
            }
        }
    }

    fn second_phase(&self, lane: u16) -> [(AdvCol, Column<Advice>); 2] {
        [
            (AdvCol::DotAcc(lane), self.acc),
            (AdvCol::DotCarry(lane), self.carry),
        ]
    }
}
