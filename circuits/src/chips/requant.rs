//! Requantization chip: the int8/uint8 output ONNX Runtime computes from an integer
//! accumulator, as the integer rule [`Dyadic`] states it (`clamp(round(acc·M / 2^n) + zp, qmin,
//! qmax)`, halves up or to even), one element per three rows:
//!
//! ```text
//! (acc + off)·M·2^(N−n) + 2^(N−1) = 2^N·q + r,  r = Σ r_i·2^(B·i),  r_i ∈ [0, 2^B)   // N = L·B ≥ n
//! z = 1 − r·inv,  r·z = 0,  inv·z = 0               // z = [r = 0]: acc·M / 2^n is a half
//! p = q − 2·h,  p·(1 − p) = 0,  h + 2^(W·B−1) ∈ [0, 2^(W·B))   // q's parity
//! t = even·p·z                                      // to even: a half with q odd goes down
//! v = q − t + zp,  lo, hi ∈ {0, 1},  lo·hi = 0 (implied, kept),  mid = 1 − lo − hi
//! lo·(qmin − 1 − v) + hi·(v − qmax − 1) + mid·(v − qmin) ∈ [0, 2^(W·B))
//! mid·(qmax − v) ∈ [0, 2^B)                    // lo = [v < qmin], hi = [v > qmax]
//! y = v + lo·(qmin − v) + hi·(qmax − v)
//! ```
//!
//! `M·2^(N−n)`, `off·M·2^(N−n) + 2^(N−1)`, `zp`, `qmin`, `qmax` and `even` (1 for
//! [`Rounding::HalfEven`]) are fixed cells of the element's first row, so every channel has its
//! own rule while the remainder always has `L` limbs of the range table's `B` bits. `off` is a
//! constant added to the element's accumulator (a zero point's correction that depends on the
//! position, as at a padded convolution's border). `q = floor(((acc + off)·M + 2^(n−1)) / 2^n)`
//! is the half-up rounding, and `r = 0` exactly when `(acc + off)·M / 2^n` is a half.
//!
//! **One witness.** The range checks of the clamp and of `h` bound `v` and `q` to a few
//! `2^(W·B)`, so the first line is an equation between integers far below the field's size,
//! which fixes `q` and `r` (the `r_i` are base-`2^B` digits of `r`: unique). `z` is then
//! `[r = 0]`, and `inv` is `1/r`, or 0 at a half; `p` the parity of `q` (`h` is bounded, `p`
//! boolean), `t`, `v` and `y` follow, and `lo`, `hi` are the only booleans whose checks pass
//! (below, above and within
//! `[qmin, qmax]` exclude each other). So `y` is the rule's value, and a witness needs
//! `q ∈ [−2^(W·B), 2^(W·B))` and `v` within `2^(W·B)` of `[qmin, qmax]`
//! ([`RequantCells::honest`] says when not). The two wide checks take `W` limbs of the range
//! table's `B` bits each (base-`2^B` digits), so the table can stay at the activations' width
//! while the quotients before the clamp are wider.
//!
//! **Layout.** Three free columns (the first, equality-enabled, holds `acc`, `y`, `q`; then
//! `inv`, `lo`, `hi`; then `t`) and `⌈(L + 2W + 1) / 3⌉` range-checked columns holding
//! `r_0 … r_{L−1}`, `mid·(qmax − v)`, the `W` limbs of the other clamp difference and the `W`
//! of `h + 2^(W·B−1)` in that order, row by row within a column. Every column is queried at
//! three rotations at most, so halo2's blinding rows stay as they are
//! ([`crate::plan::RESERVED_ROWS`]).

use super::requant_segment::ElementLane;
use super::table::TableConfig;
use super::AdvCol;
use crate::field::{fe, pow2, F};
use crate::graph::requant::{Dyadic, Rounding};
use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_proofs::poly::Rotation;
use thiserror::Error;

/// Rows per element.
pub const ROWS: u32 = 3;

/// A lane or an element the chip cannot lay out.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RequantChipError {
    /// The remainder would be wider than the field allows, or the table has no bits.
    #[error("a requantization lane of {limbs} remainder and {wide} quotient limb(s) of {bits} bits is outside 1..=120 and 1..=62 bits")]
    Dims { bits: u32, limbs: u32, wide: u32 },
    /// The rule's shift is wider than the lane's remainder.
    #[error("requantization shift {shift} is wider than the lane's {width}-bit remainder")]
    Shift { shift: u32, width: u32 },
    /// The rounded value leaves what the range table can check.
    #[error("accumulator {acc} requantizes to {q}, outside what a {bits}-bit range table checks")]
    Range { acc: i128, q: i128, bits: u32 },
    /// The rule's output range is not the clamp table's width.
    #[error("requantization range of width {width} in a lane whose clamp table has width {table}")]
    Clamp { width: i64, table: i64 },
}

/// Range-checked columns of a lane with `limbs` remainder limbs and `wide` quotient limbs:
/// the remainder's limbs, the clamp's narrow difference, the wide one's and `h + 2^(W·B−1)`'s
/// limbs, three per column.
pub fn range_columns(limbs: u32, wide: u32) -> usize {
    (limbs + 2 * wide + 1).div_ceil(ROWS) as usize
}

/// A lane's remainder: `limbs` limbs of the range table's `bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequantDims {
    bits: u32,
    limbs: u32,
    wide: u32,
}

impl RequantDims {
    /// `limbs` remainder limbs and `wide` quotient limbs of `bits` bits: at most 120 and 62
    /// bits.
    pub fn new(bits: u32, limbs: u32, wide: u32) -> Result<Self, RequantChipError> {
        let fits = |n: u32, max| n >= 1 && bits.checked_mul(n).is_some_and(|w| w <= max);
        match bits >= 2 && fits(limbs, 120) && fits(wide, 62) {
            true => Ok(RequantDims { bits, limbs, wide }),
            false => Err(RequantChipError::Dims { bits, limbs, wide }),
        }
    }

    /// The quotients' span: they lie in `[−2^span, 2^span)`.
    pub fn span(&self) -> u32 {
        self.bits * self.wide
    }

    /// The remainder's width `N = L·B`.
    pub fn width(&self) -> u32 {
        self.bits * self.limbs
    }

    /// The range table's bits `B`.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Remainder limbs `L`.
    pub fn limbs(&self) -> u32 {
        self.limbs
    }

    /// Range-checked columns.
    pub fn range_columns(&self) -> usize {
        range_columns(self.limbs, self.wide)
    }
}

/// A cell of an element, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The accumulator (copied in).
    Acc,
    /// The output (copied out).
    Y,
    /// The half-up quotient.
    Q,
    /// The inverse of the remainder (0 at a half).
    Inv,
    /// `v < qmin`.
    Lo,
    /// `v > qmax`.
    Hi,
    /// The half-to-even correction.
    Tie,
    /// Remainder limb `i`.
    Limb(u32),
    /// Limb `j` of the clamp's distance past the nearer bound, or to `qmin` within the range.
    Below(u32),
    /// The clamp's distance to `qmax` within the range (0 outside).
    Above,
    /// Limb `j` of `h + 2^(W·B−1)`, half of `q` rounded down and offset.
    Half(u32),
}

/// Where a slot lives: free column or range column, and row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Free(usize, u32),
    Range(usize, u32),
}

impl Slot {
    fn place(self, dims: RequantDims) -> Place {
        let range = |s: u32| Place::Range((s / ROWS) as usize, s % ROWS);
        match self {
            Slot::Acc => Place::Free(0, 0),
            Slot::Y => Place::Free(0, 1),
            Slot::Q => Place::Free(0, 2),
            Slot::Inv => Place::Free(1, 0),
            Slot::Lo => Place::Free(1, 1),
            Slot::Hi => Place::Free(1, 2),
            Slot::Tie => Place::Free(2, 0),
            Slot::Limb(i) => range(i),
            Slot::Above => range(dims.limbs),
            Slot::Below(j) => range(dims.limbs + 1 + j),
            Slot::Half(j) => range(dims.limbs + 1 + dims.wide + j),
        }
    }
}

/// The witness of one element: every cell's value.
#[derive(Clone, Debug, PartialEq)]
pub struct RequantCells {
    free: [[F; ROWS as usize]; 3],
    range: Vec<[F; ROWS as usize]>,
    dims: RequantDims,
}

impl RequantCells {
    /// The one witness of `rule` at `acc + offset` (the `acc` cell holds `acc`), or why the
    /// lane cannot hold it.
    pub fn honest(
        rule: &Dyadic,
        (acc, offset): (i64, i64),
        dims: RequantDims,
    ) -> Result<Self, RequantChipError> {
        let n = rule.shift();
        if n > dims.width() {
            return Err(RequantChipError::Shift {
                shift: n,
                width: dims.width(),
            });
        }
        let biased = i128::from(acc) + i128::from(offset);
        let out_of_range = |q| RequantChipError::Range {
            acc: biased,
            q,
            bits: dims.bits,
        };
        let (q, r) = rule.divide(biased).ok_or(out_of_range(0))?;
        if !rule.checkable(biased, dims.span()) {
            return Err(out_of_range(q));
        }
        Ok(Self::with_quotient(
            rule,
            acc,
            (q, r << (dims.width() - n)),
            dims,
        ))
    }

    /// The cells for a chosen quotient `q` and remainder `r`, everything after them computed
    /// as an honest prover would (for tests: `(q − 1, r + 2^N)` satisfies the first line).
    /// `r`'s limbs are its base-`2^B` digits, the top limb taking what is left.
    pub fn with_quotient(rule: &Dyadic, acc: i64, (q, r): (i128, i128), dims: RequantDims) -> Self {
        let parts = Parts::new(rule, (q, r), dims);
        let mut cells = RequantCells {
            free: [[F::ZERO; ROWS as usize]; 3],
            range: vec![[F::ZERO; ROWS as usize]; dims.range_columns()],
            dims,
        };
        cells.set(Slot::Acc, fe(i128::from(acc)));
        cells.set(Slot::Y, fe(parts.y));
        cells.set(Slot::Q, fe(q));
        cells.set(Slot::Inv, fe(r).invert().unwrap_or(F::ZERO));
        cells.set(Slot::Lo, fe(i128::from(parts.lo)));
        cells.set(Slot::Hi, fe(i128::from(parts.hi)));
        cells.set(Slot::Tie, fe(i128::from(parts.tie)));
        for (i, &l) in parts.limbs.iter().enumerate() {
            cells.set(Slot::Limb(i as u32), fe(l));
        }
        let digits = |v| digits(v, dims.bits, dims.wide);
        for (j, (b, h)) in digits(parts.below)
            .into_iter()
            .zip(digits(parts.half))
            .enumerate()
        {
            cells.set(Slot::Below(j as u32), fe(b));
            cells.set(Slot::Half(j as u32), fe(h));
        }
        cells.set(Slot::Above, fe(parts.above));
        cells
    }

    /// The value in `slot`.
    pub fn get(&self, slot: Slot) -> F {
        match slot.place(self.dims) {
            Place::Free(c, r) => self.free[c][r as usize],
            Place::Range(c, r) => self.range[c][r as usize],
        }
    }

    /// Overwrites `slot` (for tests: a witness that breaks the relation).
    pub fn set(&mut self, slot: Slot, v: F) {
        match slot.place(self.dims) {
            Place::Free(c, r) => self.free[c][r as usize] = v,
            Place::Range(c, r) => self.range[c][r as usize] = v,
        }
    }
}

/// `n` base-`2^bits` digits of `v`, the top one taking what is left (negative, or `2^bits`
/// and more, when `v` is out of range: test witnesses).
fn digits(v: i128, bits: u32, n: u32) -> Vec<i128> {
    let base = 1i128 << bits;
    let mut rest = v;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 1..n {
        out.push(rest.rem_euclid(base));
        rest = rest.div_euclid(base);
    }
    out.push(rest);
    out
}

/// The integers of one element after `q` and `r`.
struct Parts {
    limbs: Vec<i128>,
    /// `h + 2^(W·B−1)`.
    half: i128,
    tie: bool,
    lo: bool,
    hi: bool,
    below: i128,
    above: i128,
    y: i128,
}

impl Parts {
    fn new(rule: &Dyadic, (q, r): (i128, i128), dims: RequantDims) -> Parts {
        let limbs = digits(r, dims.bits, dims.limbs);
        let h = q.div_euclid(2);
        let v = rule.unclamped((q, r));
        let tie = v != q + i128::from(rule.zp());
        let (qmin, qmax) = rule.range();
        let (qmin, qmax) = (i128::from(qmin), i128::from(qmax));
        let (lo, hi) = (v < qmin, v > qmax);
        Parts {
            limbs,
            half: h + (1i128 << (dims.span() - 1)),
            tie,
            lo,
            hi,
            below: match (lo, hi) {
                (true, _) => qmin - 1 - v,
                (_, true) => v - qmax - 1,
                _ => v - qmin,
            },
            above: if lo || hi { 0 } else { qmax - v },
            y: v.clamp(qmin, qmax),
        }
    }
}

/// Where a chip writes its cells: a halo2 region, or a wrapper that applies test overrides.
pub trait CellWriter {
    /// Assigns an advice cell.
    fn advice(&mut self, col: Column<Advice>, row: u32, v: Value<F>) -> Cell;
    /// Assigns a fixed cell.
    fn fixed(&mut self, col: Column<Fixed>, row: u32, v: F);
    /// Enables a selector.
    fn enable(&mut self, s: &Selector, row: u32) -> Result<(), Error>;
}

impl CellWriter for Region<'_, F> {
    fn advice(&mut self, col: Column<Advice>, row: u32, v: Value<F>) -> Cell {
        self.assign_advice(col, row as usize, v).cell()
    }

    fn fixed(&mut self, col: Column<Fixed>, row: u32, v: F) {
        self.assign_fixed(col, row as usize, v);
    }

    fn enable(&mut self, s: &Selector, row: u32) -> Result<(), Error> {
        s.enable(self, row as usize)
    }
}

/// The columns of one requantization lane.
#[derive(Clone, Debug)]
pub struct RequantLane {
    /// `[acc, y, q]`, `[inv, lo, hi]`, `[t]` by rows; the first is equality-enabled.
    pub free: [Column<Advice>; 3],
    /// The range-checked cells.
    pub range: Vec<Column<Advice>>,
    /// `M·2^(N−n)`.
    mult: Column<Fixed>,
    /// `off·M·2^(N−n) + 2^(N−1)`.
    offset: Column<Fixed>,
    /// `[zp, qmin, qmax, even]`.
    rule: [Column<Fixed>; 4],
    enable: Selector,
    dims: RequantDims,
}

/// The queried cells of one element, as expressions.
struct Cells {
    at: Vec<(Slot, Expression<F>)>,
}

impl Cells {
    fn get(&self, slot: Slot) -> Expression<F> {
        self.at
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, e)| e.clone())
            .unwrap_or(Expression::Constant(F::ZERO))
    }
}

impl RequantLane {
    /// Declares the lane; `dims.bits()` must be the range table's width.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        table: &mut TableConfig,
        dims: RequantDims,
    ) -> Self {
        let free = [(); 3].map(|_| meta.advice_column());
        meta.enable_equality(free[0]);
        let range: Vec<Column<Advice>> = (0..dims.range_columns())
            .map(|_| meta.advice_column())
            .collect();
        for &c in &range {
            table.range_lookup(meta, "requant range", |vc| {
                vc.query_advice(c, Rotation::cur())
            });
        }
        let lane = RequantLane {
            free,
            range,
            mult: meta.fixed_column(),
            offset: meta.fixed_column(),
            rule: [(); 4].map(|_| meta.fixed_column()),
            enable: meta.selector(),
            dims,
        };
        meta.create_gate("requant", |vc| {
            let at = lane
                .slots()
                .map(|slot| {
                    let (col, r) = lane.column(slot);
                    (slot, vc.query_advice(col, Rotation(r as i32)))
                })
                .collect();
            let rule = lane.rule.map(|c| vc.query_fixed(c, Rotation::cur()));
            let mult = vc.query_fixed(lane.mult, Rotation::cur());
            let offset = vc.query_fixed(lane.offset, Rotation::cur());
            let en = vc.query_selector(lane.enable);
            lane.constraints(&Cells { at }, (mult, offset), rule)
                .into_iter()
                .map(|c| en.clone() * c)
                .collect::<Vec<_>>()
        });
        lane
    }

    /// The constraints of one element (before the selector).
    fn constraints(
        &self,
        c: &Cells,
        (mult, offset): (Expression<F>, Expression<F>),
        [zp, qmin, qmax, even]: [Expression<F>; 4],
    ) -> Vec<Expression<F>> {
        let k = |v: F| Expression::Constant(v);
        let (bits, width) = (self.dims.bits, self.dims.width());
        let one = k(F::ONE);
        // Division: acc·M' + (off·M' + 2^(N−1)) = 2^N·q + r.
        let r = (0..self.dims.limbs)
            .map(|i| c.get(Slot::Limb(i)) * k(pow2(bits * i)))
            .fold(k(F::ZERO), |s, t| s + t);
        let q = c.get(Slot::Q);
        let division = c.get(Slot::Acc) * mult + offset - k(pow2(width)) * q.clone() - r.clone();
        // Halves: z = [r = 0]; p = q − 2h is q's parity; t = even·p·z.
        let z = one.clone() - r.clone() * c.get(Slot::Inv);
        let limbs = |slot: fn(u32) -> Slot| {
            (0..self.dims.wide)
                .map(|j| c.get(slot(j)) * k(pow2(bits * j)))
                .fold(k(F::ZERO), |s, t| s + t)
        };
        let half = limbs(Slot::Half) - k(pow2(self.dims.span() - 1));
        let p = q.clone() - k(F::from(2)) * half;
        let t = c.get(Slot::Tie);
        // The clamp.
        let v = q - t.clone() + zp;
        let (lo, hi) = (c.get(Slot::Lo), c.get(Slot::Hi));
        let bool_check = |b: &Expression<F>| b.clone() * (one.clone() - b.clone());
        let mid = one.clone() - lo.clone() - hi.clone();
        let below = lo.clone() * (qmin.clone() - one.clone() - v.clone())
            + hi.clone() * (v.clone() - qmax.clone() - one.clone())
            + mid.clone() * (v.clone() - qmin.clone());
        let above = mid * (qmax.clone() - v.clone());
        let y = v.clone() + lo.clone() * (qmin - v.clone()) + hi.clone() * (qmax - v);
        vec![
            division,
            r * z.clone(),
            c.get(Slot::Inv) * z.clone(),
            bool_check(&p),
            t - even * p * z,
            bool_check(&lo),
            bool_check(&hi),
            lo * hi,
            limbs(Slot::Below) - below,
            c.get(Slot::Above) - above,
            c.get(Slot::Y) - y,
        ]
    }

    /// The lane's remainder.
    pub fn dims(&self) -> RequantDims {
        self.dims
    }

    /// The column and row offset of `slot`.
    fn column(&self, slot: Slot) -> (Column<Advice>, u32) {
        match slot.place(self.dims) {
            Place::Free(c, r) => (self.free[c], r),
            Place::Range(c, r) => (self.range[c], r),
        }
    }

    /// Every slot of an element.
    fn slots(&self) -> impl Iterator<Item = Slot> {
        let fixed = [
            Slot::Acc,
            Slot::Y,
            Slot::Q,
            Slot::Inv,
            Slot::Lo,
            Slot::Hi,
            Slot::Tie,
            Slot::Above,
        ];
        let wide = 0..self.dims.wide;
        fixed
            .into_iter()
            .chain((0..self.dims.limbs).map(Slot::Limb))
            .chain(wide.clone().map(Slot::Below))
            .chain(wide.map(Slot::Half))
    }
}

impl ElementLane for RequantLane {
    type Cells = RequantCells;
    const ROWS: u32 = ROWS;

    /// Lays out one element (its rule, and the constant `offset` added to its accumulator) at
    /// `row .. row + 3` (`cells` is `None` during key generation) and returns its `acc` and
    /// `y` cells, for the caller's copy constraints.
    fn assign_element(
        &self,
        w: &mut impl CellWriter,
        row: u32,
        (rule, offset): (&Dyadic, i64),
        cells: Option<&RequantCells>,
    ) -> Result<(Cell, Cell), Error> {
        let n = rule.shift();
        let width = self.dims.width();
        if n > width {
            return Err(Error::Synthesis);
        }
        let mult = fe(i128::from(rule.mult())) * pow2(width - n);
        w.fixed(self.mult, row, mult);
        w.fixed(
            self.offset,
            row,
            fe(i128::from(offset)) * mult + pow2(width - 1),
        );
        let (qmin, qmax) = rule.range();
        let even = rule.rounding() == Rounding::HalfEven;
        let values = [rule.zp(), qmin, qmax, i64::from(even)];
        for (&col, v) in self.rule.iter().zip(values) {
            w.fixed(col, row, fe(i128::from(v)));
        }
        w.enable(&self.enable, row)?;
        let value = |slot| match cells {
            Some(c) => Value::known(c.get(slot)),
            None => Value::unknown(),
        };
        let (mut acc, mut y) = (None, None);
        for slot in self.slots() {
            let (col, r) = self.column(slot);
            let cell = w.advice(col, row + r, value(slot));
            match slot {
                Slot::Acc => acc = Some(cell),
                Slot::Y => y = Some(cell),
                _ => {}
            }
        }
        acc.zip(y).ok_or(Error::Synthesis)
    }

    /// The sentinel row (see [`super::sentinel`]): 1 in every range column, no gate.
    fn sentinel(&self, w: &mut impl CellWriter, row: u32) {
        for &c in &self.range {
            w.advice(c, row, Value::known(F::ONE));
        }
    }

    fn role(&self, col: Column<Advice>, index: u16) -> AdvCol {
        match self.free.iter().position(|&c| c == col) {
            Some(j) => AdvCol::RqFree(index, j as u8),
            None => {
                let j = self.range.iter().position(|&c| c == col).unwrap_or(0);
                AdvCol::RqRange(index, j as u8)
            }
        }
    }
}
