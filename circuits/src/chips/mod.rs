//! halo2 chips: one per op family that needs constraints, plus the shared lookup table.
//!
//! | chip | file | relation |
//! | --- | --- | --- |
//! | matvec | `matvec.rs` | `y = W·x + b` for constant `W`, by a random-linear-combination (Freivalds) check, or directly (single phase) |
//! | elementwise | `elementwise.rs` | `out = f(q)`, `premul·lin + 2^(B-1) = 2^B·q + r`, `r ∈ [0, 2^B)`, `q` in range |
//! | maxpool | `maxpool.rs` | running maximum with range-checked differences |
//! | dot | `dot.rs` | running sums of products of two computed values (single phase) |
//! | matmul | `matmul.rs` | `C = A·B` for two computed matrices, by a matrix-level Freivalds check |
//! | pack | `pack.rs` | public values packed into instance words, `acc = acc_prev·2^B + v + 2^(B-1)` |
//! | poseidon | `poseidon.rs` | the Poseidon sponge over packed words (hashed public I/O) |
//! | limbs | `limbs.rs` | `q = h·2^L + l`, `out` = the interpolation between the knots at `h`, `out`'s limbs (lookups on limbs) |
//! | requant | `requant.rs` | `y = clamp(round((acc + off)·M / 2^n) + zp, qmin, qmax)` (halves up or to even), three rows per element, the clamp by range-checked differences |
//! | requant, one row | `requant_row.rs` | the same rule in one row, the clamp and the quotient's bound by a lookup into the clamp table |
//! | table | `table.rs` | the range table `[0, 2^B)`, the tagged `(tag, x, f(x))` function table or the knot table |
//! | sentinel | `sentinel.rs` | nothing: one reserved row where every lookup input is non-zero |
//!
//! Chips never depend on the ONNX front end: they read the quantized graph and the layout.

pub mod dot;
pub mod elementwise;
pub mod limbs;
pub mod matmul;
pub mod matvec;
pub mod maxpool;
pub mod pack;
pub mod poseidon;
pub mod requant;
pub mod requant_row;
pub mod requant_segment;
pub mod sentinel;
pub mod table;

use crate::field::F;
use crate::plan::{CircuitShape, Col, MatvecCheck, Pos};
use crate::public_io::PublicIo;
use halo2_proofs::circuit::{Cell, Region, Value};
use halo2_proofs::plonk::{
    Advice, Any, Challenge, Column, ConstraintSystem, FirstPhase, Fixed, Instance, Selector,
};
use std::collections::HashMap;

/// The constraint degree every model circuit is given (gates and lookups need at most 4).
/// Degree 5 keeps the same extended domain (`4n`) as 4, while halo2's selector compression can
/// then merge more selectors into one fixed column and each permutation product covers three
/// columns instead of two: fewer commitments for a verifier, for one more quotient piece.
pub const CONSTRAINT_DEGREE: usize = 5;

/// Every advice column of the circuit, by role (used to address cells in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdvCol {
    /// Matvec inputs/outputs.
    MvX(u16),
    /// Matvec running check (second phase, Freivalds check).
    MvAcc(u16),
    /// Matvec shift register / accumulator `s_j` (direct check): lane, `j`.
    MvReg(u16, u16),
    /// Elementwise operand a.
    ElA(u16),
    /// Elementwise operand b.
    ElB(u16),
    /// Elementwise quotient.
    ElQ(u16),
    /// Elementwise remainder.
    ElR(u16),
    /// Elementwise output.
    ElOut(u16),
    /// Elementwise limb cells (lookups on limbs).
    ElLimb(u16, limbs::Limb),
    /// Max-pool inputs.
    MxX(u16),
    /// Max-pool running maximum.
    MxM(u16),
    /// Max-pool limbs of a step's sum of differences (lookups on limbs): lane, `[sh, sl]`
    /// index.
    MxLimb(u16, u8),
    /// Dot-product left factors.
    DotX(u16),
    /// Dot-product right factors.
    DotW(u16),
    /// Dot-product running sums (matmul lanes: the Horner sums).
    DotAcc(u16),
    /// Matmul lanes: the Horner sum of the `γ_i`, less the `α_k β_k` of the runs so far.
    DotCarry(u16),
    /// Requantization lane: free column `j` (`[acc, y, q]`, `[inv, lo, hi]`, `[t]`).
    RqFree(u16, u8),
    /// Requantization lane: range-checked column `j`.
    RqRange(u16, u8),
    /// One-row requantization lane: column `j` (`acc, y, q, inv, t, par`, then the limbs).
    RqRow(u16, u8),
    /// Packed public values.
    PackV,
    /// Running packed words (and Poseidon state element 1).
    PackAcc,
    /// Poseidon state element 0 (element 2 is `PackV`).
    HashCap,
}

/// All columns, gates and lookups of a model circuit.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The shape this configuration was built from.
    pub shape: CircuitShape,
    /// Public inputs then outputs.
    pub instance: Column<Instance>,
    /// The lookup table.
    pub table: table::TableConfig,
    /// The challenge of the Freivalds checks (present when the circuit has a second phase).
    pub challenge: Option<Challenge>,
    /// The second challenge of the matmul lanes (rows of `A` and `C`).
    pub challenge_s: Option<Challenge>,
    /// Matvec lanes.
    pub mv: Vec<matvec::MatvecLane>,
    /// Elementwise lanes.
    pub el: Vec<elementwise::ElemLane>,
    /// Max-pool lanes.
    pub mx: Vec<maxpool::MaxLane>,
    /// Dot-product lanes (single phase).
    pub dot: Vec<dot::DotLane>,
    /// Matmul lanes (the Freivalds check of products of computed matrices).
    pub mm: Vec<matmul::MatmulLane>,
    /// Requantization lanes.
    pub rq: Vec<requant::RequantLane>,
    /// One-row requantization lanes (instead of `rq`, `CircuitShape::requant_row`).
    pub rq_row: Vec<requant_row::RowRequantLane>,
    /// The pack chip (packed and hashed public I/O).
    pub pack: Option<pack::PackConfig>,
    /// The Poseidon chip (hashed public I/O).
    pub poseidon: Option<poseidon::PoseidonConfig>,
}

impl ModelConfig {
    /// Allocates columns and declares constraints. `shape` must have passed
    /// [`CircuitShape::validate`].
    pub fn configure(meta: &mut ConstraintSystem<F>, shape: &CircuitShape) -> ModelConfig {
        meta.set_minimum_degree(CONSTRAINT_DEGREE);
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let mut table = table::TableConfig::configure(meta, shape);
        let mut mv = Vec::new();
        let mut challenge = None;
        if !shape.matvec.is_empty() {
            let xs: Vec<Column<Advice>> = shape
                .matvec
                .iter()
                .map(|_| meta.advice_column_in(FirstPhase))
                .collect();
            // Challenges are drawn after first-phase columns exist.
            let r = match shape.matvec_check {
                MatvecCheck::Freivalds => Some(meta.challenge_usable_after(FirstPhase)),
                MatvecCheck::Direct => None,
            };
            challenge = r;
            for (x, &w) in xs.into_iter().zip(&shape.matvec) {
                mv.push(matvec::MatvecLane::configure(meta, x, w as usize, r));
            }
        }
        let el: Vec<elementwise::ElemLane> = (0..shape.elem_lanes)
            .map(|_| elementwise::ElemLane::configure(meta, &mut table, shape))
            .collect();
        let mx = (0..shape.max_lanes)
            .map(|_| maxpool::MaxLane::configure(meta, &mut table, shape))
            .collect();
        if shape.multi_phase() && challenge.is_none() {
            challenge = Some(meta.challenge_usable_after(FirstPhase));
        }
        let challenge_s = match (challenge, shape.dot_freivalds() && shape.dot_lanes > 0) {
            (Some(_), true) => Some(meta.challenge_usable_after(FirstPhase)),
            _ => None,
        };
        let (mut dot, mut mm) = (Vec::new(), Vec::new());
        for lane in 0..shape.dot_lanes {
            let weights = match lane < shape.matmul_weight_lanes {
                true => shape.matmul_weight_columns() as u32,
                false => 0,
            };
            match (challenge, challenge_s) {
                (Some(r), Some(s)) => mm.push(matmul::MatmulLane::configure(meta, (r, s), weights)),
                _ => dot.push(dot::DotLane::configure(meta)),
            }
        }
        // Validated shapes have a requantization width the chip accepts.
        let wide = shape.requant_wide.max(1);
        let (mut rq, mut rq_row) = (Vec::new(), Vec::new());
        if let Ok(dims) = requant::RequantDims::new(table.range_bits, shape.requant_limbs, wide) {
            for _ in 0..shape.requant_lanes {
                match shape.requant_row {
                    true => rq_row.push(requant_row::RowRequantLane::configure(
                        meta, &mut table, dims,
                    )),
                    false => rq.push(requant::RequantLane::configure(meta, &mut table, dims)),
                }
            }
        }
        let pack = shape
            .public_io
            .packs()
            .then(|| pack::PackConfig::configure(meta, shape.bits));
        // Shapes always have an elementwise lane (`CircuitShape::validate`).
        let poseidon =
            match (&pack, el.first(), shape.public_io) {
                (Some(p), Some(lane0), PublicIo::Hashed) => Some(
                    poseidon::PoseidonConfig::configure(meta, p, lane0.free_fixed()),
                ),
                _ => None,
            };
        ModelConfig {
            pack,
            poseidon,
            shape: shape.clone(),
            instance,
            table,
            challenge,
            challenge_s,
            mv,
            el,
            mx,
            dot,
            mm,
            rq,
            rq_row,
        }
    }

    /// The column behind an advice role.
    pub fn advice(&self, c: AdvCol) -> Option<Column<Advice>> {
        let l = |i: u16| i as usize;
        Some(match c {
            AdvCol::MvX(i) => self.mv.get(l(i))?.x,
            AdvCol::MvAcc(i) => match &self.mv.get(l(i))?.check {
                matvec::CheckColumns::Freivalds { acc } => *acc,
                matvec::CheckColumns::Direct { .. } => return None,
            },
            AdvCol::MvReg(i, j) => match &self.mv.get(l(i))?.check {
                matvec::CheckColumns::Direct { s } => *s.get(l(j))?,
                matvec::CheckColumns::Freivalds { .. } => return None,
            },
            AdvCol::ElA(i) => self.el.get(l(i))?.a,
            AdvCol::ElB(i) => self.el.get(l(i))?.b?,
            AdvCol::ElQ(i) => self.el.get(l(i))?.q,
            AdvCol::ElR(i) => self.el.get(l(i))?.r?,
            AdvCol::ElOut(i) => self.el.get(l(i))?.out,
            AdvCol::ElLimb(i, role) => self.el.get(l(i))?.limbs.as_ref()?.column(role),
            AdvCol::MxX(i) => self.mx.get(l(i))?.x,
            AdvCol::MxM(i) => self.mx.get(l(i))?.m,
            AdvCol::MxLimb(i, j) => self.mx.get(l(i))?.limb(j)?,
            AdvCol::DotX(i) => match self.mm.get(l(i)) {
                Some(m) => m.x,
                None => self.dot.get(l(i))?.x,
            },
            AdvCol::DotW(i) => self.dot.get(l(i))?.w,
            AdvCol::DotAcc(i) => match self.mm.get(l(i)) {
                Some(m) => m.acc,
                None => self.dot.get(l(i))?.acc,
            },
            AdvCol::DotCarry(i) => self.mm.get(l(i))?.carry,
            AdvCol::RqFree(i, j) => *self.rq.get(l(i))?.free.get(j as usize)?,
            AdvCol::RqRange(i, j) => *self.rq.get(l(i))?.range.get(j as usize)?,
            AdvCol::RqRow(i, j) => *self.rq_row.get(l(i))?.advice.get(j as usize)?,
            AdvCol::PackV => self.pack.as_ref()?.v,
            AdvCol::PackAcc => self.pack.as_ref()?.acc,
            AdvCol::HashCap => self.poseidon.as_ref()?.cap,
        })
    }

    /// The column behind an equality-enabled layout column.
    pub fn column(&self, c: Col) -> Option<Column<Any>> {
        let adv = match c {
            Col::Inst => return Some(self.instance.into()),
            Col::MvX(i) => AdvCol::MvX(i),
            Col::ElA(i) => AdvCol::ElA(i),
            Col::ElB(i) => AdvCol::ElB(i),
            Col::ElOut(i) => AdvCol::ElOut(i),
            Col::MxX(i) => AdvCol::MxX(i),
            Col::MxM(i) => AdvCol::MxM(i),
            Col::DotX(i) => AdvCol::DotX(i),
            Col::DotW(i) => AdvCol::DotW(i),
            Col::DotAcc(i) => AdvCol::DotAcc(i),
            Col::Rq(i) if self.shape.requant_row => AdvCol::RqRow(i, 0),
            Col::Rq(i) => AdvCol::RqFree(i, 0),
            Col::RqY(i) => AdvCol::RqRow(i, 1),
            Col::PackV => AdvCol::PackV,
            Col::PackAcc => AdvCol::PackAcc,
        };
        self.advice(adv).map(Into::into)
    }
}

/// Cell overrides applied while assigning (for negative tests: a witness that breaks a
/// relation). Empty in normal use.
pub type Tamper = HashMap<(AdvCol, u32), F>;

/// Assignment helper shared by the chips: applies overrides, skips zero fixed cells and turns
/// layout positions into halo2 cells.
pub(crate) struct Assigner<'a, 'r> {
    pub region: &'a mut Region<'r, F>,
    pub cfg: &'a ModelConfig,
    pub tamper: &'a Tamper,
}

impl Assigner<'_, '_> {
    /// Assigns an advice cell.
    pub fn advice(&mut self, role: AdvCol, col: Column<Advice>, row: u32, v: Value<F>) {
        let v = match self.tamper.get(&(role, row)) {
            Some(t) => Value::known(*t),
            None => v,
        };
        self.region.assign_advice(col, row as usize, v);
    }

    /// Assigns a fixed cell (zero cells are left unassigned: they are zero).
    pub fn fixed(&mut self, col: Column<Fixed>, row: u32, v: F) {
        if v != F::zero() {
            self.region.assign_fixed(col, row as usize, v);
        }
    }

    /// Enables a selector.
    pub fn enable(&mut self, s: &Selector, row: u32) -> Result<(), halo2_proofs::plonk::Error> {
        s.enable(self.region, row as usize)
    }

    /// Halo2 cell of a layout position.
    pub fn cell(&self, p: Pos) -> Result<Cell, halo2_proofs::plonk::Error> {
        let column = self
            .cfg
            .column(p.col)
            .ok_or(halo2_proofs::plonk::Error::Synthesis)?;
        Ok(Cell {
            row_offset: p.row as usize,
            column,
        })
    }

    /// Constrains the cell at `dst` to equal the value at `src`.
    pub fn copy(&mut self, dst: Pos, src: Pos) -> Result<(), halo2_proofs::plonk::Error> {
        let (a, b) = (self.cell(dst)?, self.cell(src)?);
        self.region.constrain_equal(a, b);
        Ok(())
    }
}

/// A witness value that may be unknown (key generation).
pub(crate) fn known(v: Option<F>) -> Value<F> {
    v.map(Value::known).unwrap_or_else(Value::unknown)
}

/// Witness access: tensor values as field elements, unknown during key generation.
#[derive(Clone, Copy)]
pub(crate) struct Wit<'a> {
    pub vals: Option<&'a [Vec<i128>]>,
}

impl Wit<'_> {
    /// Integer value, if known.
    pub fn int(&self, t: usize, e: usize) -> Option<i128> {
        self.vals.map(|v| v[t][e])
    }

    /// Field value.
    pub fn get(&self, t: usize, e: usize) -> Value<F> {
        match self.int(t, e) {
            Some(v) => Value::known(crate::field::fe(v)),
            None => Value::unknown(),
        }
    }

    /// Maps a known integer through `f`.
    pub fn map(&self, v: Option<i128>) -> Value<F> {
        match v {
            Some(v) => Value::known(crate::field::fe(v)),
            None => Value::unknown(),
        }
    }
}
