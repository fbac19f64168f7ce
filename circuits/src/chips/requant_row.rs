//! Requantization in one row per element: the same rule as [`super::requant`]
//! (`clamp(round(acc·M / 2^n) + zp, qmin, qmax)`, halves up or to even), with the clamp and the
//! quotient's bound taken from one lookup into the *clamp table* instead of range-checked
//! differences:
//!
//! ```text
//! (acc + off)·M·2^(N−n) + 2^(N−1) = 2^N·q + r,  r = Σ r_i·2^(B·i),  r_i ∈ [0, 2^B)   // N = L·B ≥ n
//! z = 1 − r·inv,  r·z = 0,  inv·z = 0               // z = [r = 0]: acc·M / 2^n is a half
//! t·(1 − t) = 0,  t·(1 − even·z) = 0                // t = 1 only on a half of a rule to even
//! u = q − t + (zp − qmin + D)
//! (u, y − qmin, par) ∈ {(x, clamp(x − D, 0, W), x mod 2) : x ∈ [0, 2D)}    // the clamp table
//! even·z·(par ⊕ pz) = 0                            // pz = (zp − qmin + D) mod 2: q − t is even
//! ```
//!
//! `W = qmax − qmin` is the same for every rule of the graph (the table's clamp width) and `D`
//! is [`clamp_reach`]. `M·2^(N−n)`, `off·M·2^(N−n) + 2^(N−1)`, `zp − qmin + D`, `qmin`, `even`
//! and `even·pz` are fixed cells of the element's row.
//!
//! **One witness.** The lookup puts `u` in `[0, 2D)`, so `q` lies within `2D + 1` of a
//! constant, far below the field's size: the first line is an equation between integers, which
//! fixes `q` and `r` (the limbs are base-`2^B` digits). `z` is then `[r = 0]` and `inv` is
//! `1/r` or 0 (`inv·z = 0` is there for that uniqueness only: `r·z = 0` alone fixes `z`). Off a half of a rule to even `t = 0`; on one, `par ⊕ pz` is the parity of
//! `q − t`, so exactly one of `t ∈ {0, 1}` makes `q − t` even — the rounding to even. The
//! lookup then fixes `y = qmin + clamp(q − t + zp − qmin, 0, W) = clamp(q − t + zp, qmin,
//! qmax)` and `par`. A witness needs `u ∈ [0, 2D)` ([`RowCells::honest`] says when not).
//!
//! **Layout.** One row per element: `acc` and `y` (both equality-enabled), `q`, `inv`, `t`,
//! `par`, then the `L` limbs, one range-checked column each. Every column is queried at the
//! current row only. Against [`super::requant`]'s three rows of five columns and two lookups,
//! a lane holds three times the elements for `L + 6` columns and `L + 1` lookups.

use super::requant::{CellWriter, RequantChipError, RequantDims};
use super::requant_segment::ElementLane;
use super::table::TableConfig;
use super::AdvCol;
use crate::field::{fe, pow2, F};
use crate::graph::requant::{Dyadic, Rounding};
use halo2_proofs::circuit::{Cell, Value};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;

/// Rows per element.
pub const ROWS: u32 = 1;

/// The clamp table's reach `D` for a `bits`-bit range table: `u = v − qmin + D` spans
/// `[0, 2D)`, `2D = 3·2^(bits−1)` rows (within the `2^(bits+1)` rows a circuit with the range
/// table has).
pub fn clamp_reach(bits: u32) -> i128 {
    3i128 << bits.saturating_sub(2)
}

/// A cell of an element, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowSlot {
    /// The accumulator (copied in).
    Acc,
    /// The output (copied out).
    Y,
    /// The half-up quotient.
    Q,
    /// The inverse of the remainder (0 at a half).
    Inv,
    /// The half-to-even correction.
    Tie,
    /// The parity of `u`, from the clamp table.
    Par,
    /// Remainder limb `i`.
    Limb(u32),
}

impl RowSlot {
    /// The slot's column: the six free ones, then the limbs.
    fn column(self) -> usize {
        match self {
            RowSlot::Acc => 0,
            RowSlot::Y => 1,
            RowSlot::Q => 2,
            RowSlot::Inv => 3,
            RowSlot::Tie => 4,
            RowSlot::Par => 5,
            RowSlot::Limb(i) => 6 + i as usize,
        }
    }
}

/// Free (not range-checked) advice columns of a lane.
pub const FREE_COLUMNS: usize = 6;

/// The witness of one element: every cell's value, by column.
#[derive(Clone, Debug, PartialEq)]
pub struct RowCells {
    cells: Vec<F>,
}

/// The fixed cells of one element's row.
struct RowRule {
    mult: F,
    offset: F,
    /// `zp − qmin + D`.
    shift: i128,
    qmin: i128,
    even: bool,
}

impl RowRule {
    fn new(rule: &Dyadic, offset: i64, dims: RequantDims) -> Result<Self, RequantChipError> {
        let (n, width) = (rule.shift(), dims.width());
        if n > width {
            return Err(RequantChipError::Shift { shift: n, width });
        }
        let mult = fe(i128::from(rule.mult())) * pow2(width - n);
        let qmin = i128::from(rule.range().0);
        Ok(RowRule {
            mult,
            offset: fe(i128::from(offset)) * mult + pow2(width - 1),
            shift: i128::from(rule.zp()) - qmin + clamp_reach(dims.bits()),
            qmin,
            even: rule.rounding() == Rounding::HalfEven,
        })
    }

    /// `even·pz`: 1 for a rule to even whose `zp − qmin + D` is odd.
    fn even_odd_shift(&self) -> bool {
        self.even && self.shift.rem_euclid(2) == 1
    }
}

impl RowCells {
    /// The one witness of `rule` at `acc + offset` (the `acc` cell holds `acc`) with clamp
    /// width `clamp`, or why the lane cannot hold it.
    pub fn honest(
        rule: &Dyadic,
        (acc, offset): (i64, i64),
        dims: RequantDims,
        clamp: i64,
    ) -> Result<Self, RequantChipError> {
        let fixed = RowRule::new(rule, offset, dims)?;
        let (qmin, qmax) = rule.range();
        if qmax - qmin != clamp {
            return Err(RequantChipError::Clamp {
                width: qmax - qmin,
                table: clamp,
            });
        }
        let biased = i128::from(acc) + i128::from(offset);
        let out_of_range = |q| RequantChipError::Range {
            acc: biased,
            q,
            bits: dims.bits(),
        };
        let (q, r) = rule.divide(biased).ok_or(out_of_range(0))?;
        let t = rule.unclamped((q, r)) - i128::from(rule.zp()) != q;
        let u = q - i128::from(t) + fixed.shift;
        if !(0..2 * clamp_reach(dims.bits())).contains(&u) {
            return Err(out_of_range(q));
        }
        Ok(Self::with_quotient(
            rule,
            acc,
            (q, r << (dims.width() - rule.shift()), t),
            dims,
        ))
    }

    /// The cells for a chosen quotient `q`, remainder `r` (of `N` bits) and correction `t`,
    /// the output computed from them as the table would (for tests: `(q − 1, r + 2^N)`
    /// satisfies the first line). `r`'s limbs are its base-`2^B` digits, the top limb taking
    /// what is left.
    pub fn with_quotient(
        rule: &Dyadic,
        acc: i64,
        (q, r, t): (i128, i128, bool),
        dims: RequantDims,
    ) -> Self {
        let (qmin, qmax) = rule.range();
        let v = q - i128::from(t) + i128::from(rule.zp());
        let u = v - i128::from(qmin) + clamp_reach(dims.bits());
        let mut cells = vec![F::ZERO; FREE_COLUMNS + dims.limbs() as usize];
        let mut set = |s: RowSlot, x: F| cells[s.column()] = x;
        set(RowSlot::Acc, fe(i128::from(acc)));
        set(RowSlot::Y, fe(v.clamp(i128::from(qmin), i128::from(qmax))));
        set(RowSlot::Q, fe(q));
        set(RowSlot::Inv, fe(r).invert().unwrap_or(F::ZERO));
        set(RowSlot::Tie, fe(i128::from(t)));
        set(RowSlot::Par, fe(u.rem_euclid(2)));
        let base = 1i128 << dims.bits();
        let mut rest = r;
        for i in 0..dims.limbs() {
            let limb = match i + 1 == dims.limbs() {
                true => rest,
                false => rest.rem_euclid(base),
            };
            set(RowSlot::Limb(i), fe(limb));
            rest = rest.div_euclid(base);
        }
        RowCells { cells }
    }

    /// The value in `slot`.
    pub fn get(&self, slot: RowSlot) -> F {
        self.cells.get(slot.column()).copied().unwrap_or(F::ZERO)
    }

    /// Overwrites `slot` (for tests: a witness that breaks the relation).
    pub fn set(&mut self, slot: RowSlot, v: F) {
        if let Some(c) = self.cells.get_mut(slot.column()) {
            *c = v;
        }
    }
}

/// The columns of one one-row requantization lane.
#[derive(Clone, Debug)]
pub struct RowRequantLane {
    /// `acc, y, q, inv, t, par`, then the limbs (range-checked); `acc` and `y` are
    /// equality-enabled.
    pub advice: Vec<Column<Advice>>,
    /// `[M·2^(N−n), off·M·2^(N−n) + 2^(N−1), zp − qmin + D, qmin, even, even·pz]`.
    fixed: [Column<Fixed>; 6],
    enable: Selector,
    dims: RequantDims,
}

impl RowRequantLane {
    /// Declares the lane; `dims.bits()` must be the range table's width.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        table: &mut TableConfig,
        dims: RequantDims,
    ) -> Self {
        let advice: Vec<Column<Advice>> = (0..FREE_COLUMNS + dims.limbs() as usize)
            .map(|_| meta.advice_column())
            .collect();
        meta.enable_equality(advice[0]);
        meta.enable_equality(advice[1]);
        let lane = RowRequantLane {
            advice,
            fixed: [(); 6].map(|_| meta.fixed_column()),
            enable: meta.selector(),
            dims,
        };
        for &c in &lane.advice[FREE_COLUMNS..] {
            table.range_lookup(meta, "requant row range", |vc| {
                vc.query_advice(c, Rotation::cur())
            });
        }
        table.clamp_lookup(meta, "requant clamp", |vc| {
            let mut a = |s: RowSlot| vc.query_advice(lane.advice[s.column()], Rotation::cur());
            let (q, t, y, par) = (
                a(RowSlot::Q),
                a(RowSlot::Tie),
                a(RowSlot::Y),
                a(RowSlot::Par),
            );
            let shift = vc.query_fixed(lane.fixed[2], Rotation::cur());
            let qmin = vc.query_fixed(lane.fixed[3], Rotation::cur());
            [q - t + shift, y - qmin, par]
        });
        meta.create_gate("requant row", |vc| {
            let cells: Vec<Expression<F>> = lane
                .advice
                .iter()
                .map(|&c| vc.query_advice(c, Rotation::cur()))
                .collect();
            let f = lane.fixed.map(|c| vc.query_fixed(c, Rotation::cur()));
            let en = vc.query_selector(lane.enable);
            lane.constraints(&cells, f)
                .into_iter()
                .map(|c| en.clone() * c)
                .collect::<Vec<_>>()
        });
        lane
    }

    /// The constraints of one element (before the selector); the lookup carries the rest.
    fn constraints(
        &self,
        cells: &[Expression<F>],
        [mult, offset, _, _, even, even_pz]: [Expression<F>; 6],
    ) -> Vec<Expression<F>> {
        let k = |v: F| Expression::Constant(v);
        let at = |s: RowSlot| cells[s.column()].clone();
        let (bits, width) = (self.dims.bits(), self.dims.width());
        let one = k(F::ONE);
        // Division: acc·M' + (off·M' + 2^(N−1)) = 2^N·q + r.
        let r = (0..self.dims.limbs())
            .map(|i| at(RowSlot::Limb(i)) * k(pow2(bits * i)))
            .fold(k(F::ZERO), |s, t| s + t);
        let division =
            at(RowSlot::Acc) * mult + offset - k(pow2(width)) * at(RowSlot::Q) - r.clone();
        // Halves: z = [r = 0]; t only on a half of a rule to even, making q − t even.
        let z = one.clone() - r.clone() * at(RowSlot::Inv);
        let (t, par) = (at(RowSlot::Tie), at(RowSlot::Par));
        let odd = even.clone() * par.clone() + even_pz.clone() - k(F::from(2)) * even_pz * par;
        vec![
            division,
            r * z.clone(),
            at(RowSlot::Inv) * z.clone(),
            t.clone() * (one.clone() - t.clone()),
            t * (one - even * z.clone()),
            z * odd,
        ]
    }

    /// The lane's remainder.
    pub fn dims(&self) -> RequantDims {
        self.dims
    }
}

impl ElementLane for RowRequantLane {
    type Cells = RowCells;
    const ROWS: u32 = ROWS;

    /// Lays out one element (its rule, and the constant `offset` added to its accumulator) at
    /// `row` (`cells` is `None` during key generation) and returns its `acc` and `y` cells.
    fn assign_element(
        &self,
        w: &mut impl CellWriter,
        row: u32,
        (rule, offset): (&Dyadic, i64),
        cells: Option<&RowCells>,
    ) -> Result<(Cell, Cell), Error> {
        let f = RowRule::new(rule, offset, self.dims).map_err(|_| Error::Synthesis)?;
        let values = [
            f.mult,
            f.offset,
            fe(f.shift),
            fe(f.qmin),
            fe(i128::from(f.even)),
            fe(i128::from(f.even_odd_shift())),
        ];
        for (&col, v) in self.fixed.iter().zip(values) {
            w.fixed(col, row, v);
        }
        w.enable(&self.enable, row)?;
        let mut out = Vec::with_capacity(2);
        for (j, &col) in self.advice.iter().enumerate() {
            let v = match cells {
                Some(c) => Value::known(c.cells.get(j).copied().unwrap_or(F::ZERO)),
                None => Value::unknown(),
            };
            let cell = w.advice(col, row, v);
            if j < 2 {
                out.push(cell);
            }
        }
        match out[..] {
            [acc, y] => Ok((acc, y)),
            _ => Err(Error::Synthesis),
        }
    }

    /// The sentinel row (see [`super::sentinel`]): 1 in every limb column and `q = 1` (the
    /// clamp table's `(1, 0, 1)`: `clamp(1 − D, 0, W) = 0`), no gate.
    fn sentinel(&self, w: &mut impl CellWriter, row: u32) {
        for &c in &self.advice[FREE_COLUMNS..] {
            w.advice(c, row, Value::known(F::ONE));
        }
        w.advice(self.advice[RowSlot::Q.column()], row, Value::known(F::ONE));
        w.advice(
            self.advice[RowSlot::Par.column()],
            row,
            Value::known(F::ONE),
        );
    }

    fn role(&self, col: Column<Advice>, index: u16) -> AdvCol {
        let j = self.advice.iter().position(|&c| c == col).unwrap_or(0);
        AdvCol::RqRow(index, j as u8)
    }
}
