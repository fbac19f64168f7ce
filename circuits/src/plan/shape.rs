//! The circuit's shape: everything `configure` needs (the halo2 `Circuit::Params`). The verifier
//! rebuilds the constraint system from this alone, so it lives beside the verifying key.

use crate::graph::{LinearOp, MAX_BITS, MIN_BITS};
use crate::public_io::PublicIo;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Rows halo2 reserves at the end of every column (blinding factors plus the last-row check):
/// `blinding_factors = max(3, max advice queries per column) + 2 = 5`, plus one.
pub const RESERVED_ROWS: usize = 6;

/// Largest supported `k`.
pub const MAX_K: u32 = 26;

/// A circuit shape no circuit can be configured with.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ShapeError {
    /// `k` is out of range.
    #[error("k = {0} is outside 4..={MAX_K}")]
    K(u32),
    /// The bit width is out of range.
    #[error("bits = {0} is outside {MIN_BITS}..={MAX_BITS}")]
    Bits(u32),
    /// Too many matrix-vector lanes, or one too wide.
    #[error("matvec lanes: at most 64, widths 1..=256")]
    MatvecLanes,
    /// No elementwise lane.
    #[error("at least one elementwise lane is required")]
    NoElementwiseLane,
    /// Too many lanes of one chip.
    #[error("at most 64 lanes per chip")]
    TooManyLanes,
    /// Remainder rows without the identity table.
    #[error("remainder rows need the identity in the function table")]
    RemainderWithoutIdentity,
    /// Matmul lanes need the second phase.
    #[error("matmul lanes need the Freivalds check (a second phase)")]
    MatmulSinglePhase,
    /// Matmul weight columns without matmul lanes, or too many.
    #[error("{0} weight columns per matmul lane: at most 64, only with matmul lanes, and on no more lanes than there are")]
    MatmulWeights(u32),
    /// Too many function tables.
    #[error("{0} function tables: at most {MAX_FN_TABLES}")]
    FnTables(u32),
    /// Requantization lanes with no limbs, too wide a remainder, or with lookups on limbs.
    #[error("requantization lanes need 1 to 120 remainder bits in limbs of the activation width, and no lookups on limbs")]
    Requant,
    /// Limbs outside `1..bits`, or with options they replace.
    #[error("limbs of {0} bits: need 1 ≤ limb < bits, the identity in the table, remainder rows and one table")]
    Limbs(u32),
}

/// The most function tables a shape may split its functions over.
pub const MAX_FN_TABLES: u32 = 8;

/// Column configuration of a model circuit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CircuitShape {
    /// Rows are `2^k`.
    pub k: u32,
    /// Signed bit width of activations (sizes the lookup tables and rescale checks).
    pub bits: u32,
    /// Weight columns of each matvec lane.
    pub matvec: Vec<u32>,
    /// Elementwise lanes.
    pub elem_lanes: u32,
    /// Whether elementwise lanes have a second operand column.
    pub elem_binary: bool,
    /// Max-pool lanes.
    pub max_lanes: u32,
    /// Dot-product lanes (products of computed tensors).
    pub dot_lanes: u32,
    /// How inputs and outputs become public instances (packed adds the pack chip).
    #[serde(default)]
    pub public_io: PublicIo,
    /// The function table also holds the identity, so one lookup range-checks `q` and applies
    /// the function: one lookup and one fixed column fewer per elementwise lane, a table
    /// `2^bits` rows taller.
    #[serde(default)]
    pub identity_table: bool,
    /// Each elementwise element takes two rows: its rounding remainder sits in the `q` column
    /// of the row below, shifted into the activation domain, so the function lookup (through
    /// the identity) range-checks it. One advice column and one lookup fewer per elementwise
    /// lane, twice the rows. Needs `identity_table`.
    #[serde(default)]
    pub remainder_rows: bool,
    /// How matvec lanes check `y = W·x + b`.
    #[serde(default)]
    pub matvec_check: MatvecCheck,
    /// Products of computed matrices in matmul lanes (the Freivalds check, which needs the
    /// second phase of `matvec_check = freivalds`) rather than dot lanes.
    #[serde(default)]
    pub matmul_lanes: bool,
    /// Weight columns of each matmul lane (0: none). With them, a constant-weight product of
    /// several rows (a MatMul or Gemm applied to each of `T` tokens) is checked at the matrix
    /// level in a matmul lane, each weight placed once, `matmul_weights` per row, instead of
    /// once per row of the input in matvec lanes; see [`CircuitShape::shared_product`].
    #[serde(default)]
    pub matmul_weights: u32,
    /// How many matmul lanes (the first ones) have the weight columns; shared products go
    /// only there.
    #[serde(default)]
    pub matmul_weight_lanes: u32,
    /// Function tables (0 and 1: one). With more, the functions are split over that many
    /// tables ([`QuantizedGraph::function_banks`]), each elementwise lane looks up in each
    /// (under a fixed per-table selector), and the tallest table, not their sum, bounds `k`.
    ///
    /// [`QuantizedGraph::function_banks`]: crate::graph::QuantizedGraph::function_banks
    #[serde(default)]
    pub fn_tables: u32,
    /// Lookups on limbs of `limb_bits` bits (0: off). Each elementwise row splits its `q` and
    /// `out` into a high limb, looked up in the knot table, and a low one in the range table
    /// `[0, 2^limb_bits)`, and applies its function by interpolating between two knots
    /// (every function but the identity is then an [`FnKind::Interpolated`] one): tables of
    /// `2^(bits - limb_bits)` rows per function and `2^limb_bits` for the range instead of
    /// `2^bits`, for seven advice columns and four lookups more per lane. Needs
    /// `identity_table` and `remainder_rows` and one table. Max-pool lanes split their
    /// differences into limbs too (four advice columns and two lookups more per lane).
    ///
    /// [`FnKind::Interpolated`]: crate::graph::FnKind::Interpolated
    #[serde(default)]
    pub limb_bits: u32,
    /// Requantization lanes (`chips::requant`, imported int8 models), three rows per element.
    #[serde(default)]
    pub requant_lanes: u32,
    /// Remainder limbs of `bits` bits in each requantization lane
    /// ([`QuantizedGraph::requant_limbs`]).
    ///
    /// [`QuantizedGraph::requant_limbs`]: crate::graph::QuantizedGraph::requant_limbs
    #[serde(default)]
    pub requant_limbs: u32,
    /// Quotient limbs of `bits` bits in each requantization lane (0 or 1: one;
    /// [`QuantizedGraph::requant_wide`]).
    ///
    /// [`QuantizedGraph::requant_wide`]: crate::graph::QuantizedGraph::requant_wide
    #[serde(default)]
    pub requant_wide: u32,
    /// Requantization lanes of one row per element (`chips::requant_row`: the clamp by a
    /// lookup into the clamp table) instead of three; for graphs whose rules share one output
    /// width and fit the table ([`QuantizedGraph::requant_clamp_width`]).
    ///
    /// [`QuantizedGraph::requant_clamp_width`]: crate::graph::QuantizedGraph::requant_clamp_width
    #[serde(default)]
    pub requant_row: bool,
}

/// How the matvec chip checks its outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatvecCheck {
    /// One random linear combination of each region's outputs, with a challenge drawn after
    /// the first phase: one second-phase column per lane.
    #[default]
    Freivalds,
    /// Every output is accumulated in its own first-phase column (a shift register down the
    /// region): `width` columns per lane, no challenge, so the circuit has a single phase
    /// (what halo2-axiom-gpu's prover requires).
    Direct,
}

impl MatvecCheck {
    /// Name as written in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            MatvecCheck::Freivalds => "freivalds",
            MatvecCheck::Direct => "direct",
        }
    }

    /// Advice columns of a lane of `width` weight columns (besides its `x` column).
    pub fn check_columns(self, width: u32) -> usize {
        match self {
            MatvecCheck::Freivalds => 1,
            MatvecCheck::Direct => width as usize,
        }
    }
}

/// Whether a shared product `[n, k, m]` goes to matmul lanes of `w` weight columns: its
/// outputs span at least two weight rows (with fewer, matvec regions take no more rows).
pub fn shared_fits([_, _, m]: [usize; 3], w: u32) -> bool {
    w > 0 && m.div_ceil(w as usize) >= 2
}

impl CircuitShape {
    /// Rows chips lay values out in: all rows halo2 leaves usable but the last one, the
    /// [sentinel row](Self::sentinel_row).
    pub fn usable_rows(&self) -> usize {
        (1usize << self.k).saturating_sub(RESERVED_ROWS + 1)
    }

    /// The last row halo2 leaves usable, kept out of every chip's layout: there every lookup
    /// gets a non-zero input (see `chips::sentinel`), so no permuted lookup column is zero on
    /// all usable rows whatever the model and input (halo2-axiom-gpu pads those columns with
    /// zeros, and an all-zero column would commit to the point at infinity, which the
    /// transcript and the EVM verifier refuse).
    pub fn sentinel_row(&self) -> u32 {
        self.usable_rows() as u32
    }

    /// Checks bounds before the shape is handed to `configure`, so malformed or hostile
    /// settings fail with a message instead of exhausting memory.
    pub fn validate(&self) -> Result<(), ShapeError> {
        if !(4..=MAX_K).contains(&self.k) {
            return Err(ShapeError::K(self.k));
        }
        if !(MIN_BITS..=MAX_BITS).contains(&self.bits) {
            return Err(ShapeError::Bits(self.bits));
        }
        if self.matvec.len() > 64 || self.matvec.iter().any(|&w| !(1..=256).contains(&w)) {
            return Err(ShapeError::MatvecLanes);
        }
        if self.elem_lanes == 0 {
            return Err(ShapeError::NoElementwiseLane);
        }
        if self.elem_lanes > 64
            || self.max_lanes > 64
            || self.dot_lanes > 64
            || self.requant_lanes > 64
        {
            return Err(ShapeError::TooManyLanes);
        }
        if self.remainder_rows && !self.identity_table {
            return Err(ShapeError::RemainderWithoutIdentity);
        }
        if self.matmul_lanes && self.matvec_check == MatvecCheck::Direct {
            return Err(ShapeError::MatmulSinglePhase);
        }
        if self.matmul_weights > 64
            || (self.matmul_weights > 0 && !self.matmul_lanes)
            || self.matmul_weight_lanes > self.dot_lanes
        {
            return Err(ShapeError::MatmulWeights(self.matmul_weights));
        }
        if self.fn_tables > MAX_FN_TABLES {
            return Err(ShapeError::FnTables(self.fn_tables));
        }
        if self.limb_bits > 0
            && (self.limb_bits >= self.bits || !self.remainder_rows || self.fn_tables > 1)
        {
            return Err(ShapeError::Limbs(self.limb_bits));
        }
        let width = self.requant_limbs.saturating_mul(self.bits);
        let span = self.requant_wide.max(1).saturating_mul(self.bits);
        if self.requant_lanes > 0 && (!(1..=120).contains(&width) || span > 62 || self.limbed()) {
            return Err(ShapeError::Requant);
        }
        Ok(())
    }

    /// Function tables (at least one).
    pub fn fn_banks(&self) -> u32 {
        self.fn_tables.max(1)
    }

    /// Per elementwise lane, the fixed columns that pick a function table: one per table when
    /// there are several; otherwise `is_fn` without the identity in the table, else none.
    pub fn bank_selectors(&self) -> usize {
        match self.fn_banks() {
            1 => usize::from(!self.identity_table),
            n => n as usize,
        }
    }

    /// Rows per elementwise element.
    pub fn elem_stride(&self) -> u32 {
        if self.remainder_rows {
            2
        } else {
            1
        }
    }

    /// Whether any chip looks values up in the range table (otherwise it is left out).
    pub fn needs_range_table(&self) -> bool {
        !self.remainder_rows || self.max_lanes > 0 || self.limbed() || self.requant_lanes > 0
    }

    /// Advice columns and lookups of one requantization lane: three free columns and the
    /// range-checked ones (one lookup each), or in one-row lanes six free columns and a limb
    /// column each, with the clamp lookup.
    fn requant_columns(&self) -> (usize, usize) {
        if self.requant_row {
            let limbs = self.requant_limbs as usize;
            return (crate::chips::requant_row::FREE_COLUMNS + limbs, limbs + 1);
        }
        let range =
            crate::chips::requant::range_columns(self.requant_limbs, self.requant_wide.max(1));
        (3 + range, range)
    }

    /// Rows per requantized element.
    pub fn requant_stride(&self) -> u32 {
        match self.requant_row {
            true => crate::chips::requant_row::ROWS,
            false => crate::chips::requant::ROWS,
        }
    }

    /// The clamp table's fixed columns (one-row requantization lanes).
    fn clamp_table_columns(&self) -> usize {
        match self.requant_row && self.requant_lanes > 0 {
            true => 3,
            false => 0,
        }
    }

    /// Whether lookups work on limbs ([`Self::limb_bits`]).
    pub fn limbed(&self) -> bool {
        self.limb_bits > 0
    }

    /// Extra advice columns, fixed columns and lookups of one elementwise lane with limbs:
    /// `h, l, t0, t1, ρ` and the output's two limbs; the `check` column; the knot lookups of
    /// `q` and `out` and the range lookups of `l`, `ρ` and the output's low limb, for the one
    /// function lookup.
    fn limb_extra(&self) -> (usize, usize, usize) {
        if self.limbed() {
            (7, 1, 4)
        } else {
            (0, 0, 0)
        }
    }

    /// Number of advice columns.
    pub fn advice_columns(&self) -> usize {
        self.matvec
            .iter()
            .map(|&w| 1 + self.matvec_check.check_columns(w))
            .sum::<usize>()
            + self.elem_lanes as usize
                * (if self.elem_binary { 5 } else { 4 } - usize::from(self.remainder_rows)
                    + self.limb_extra().0)
            + (2 + 2 * usize::from(self.limbed())) * self.max_lanes as usize
            + self.dot_columns().0 * self.dot_lanes as usize
            + self.requant_columns().0 * self.requant_lanes as usize
            + self.pack_columns()
    }

    /// Advice columns of the pack and Poseidon chips.
    fn pack_columns(&self) -> usize {
        match self.public_io {
            PublicIo::Plain => 0,
            PublicIo::Packed => 2,
            PublicIo::Hashed => 3,
        }
    }

    /// Equality-enabled columns of the pack chip.
    fn pack_equality(&self) -> usize {
        if self.public_io.packs() {
            2
        } else {
            0
        }
    }

    /// Fixed columns of the Poseidon chip: its two round selectors, counted because their
    /// degree-4 gates leave selector compression little room to merge them with others (the
    /// other chips' selectors are not counted). Its round constants borrow elementwise lane
    /// 0's columns.
    fn hash_fixed(&self) -> usize {
        match self.public_io {
            PublicIo::Hashed => 2,
            PublicIo::Plain | PublicIo::Packed => 0,
        }
    }

    /// Number of fixed columns before selector compression (weights, coefficients, tables).
    pub fn fixed_columns(&self) -> usize {
        self.matvec.iter().map(|&w| w as usize + 4).sum::<usize>()
            + self.elem_lanes as usize
                * (if self.elem_binary { 6 } else { 4 }
                    + self.bank_selectors()
                    + self.limb_extra().1)
            + 2 * self.max_lanes as usize
            + 2 * self.dot_lanes as usize
            + self.matmul_weight_columns() * self.matmul_weight_lanes as usize
            + (3 + usize::from(self.limbed())) * self.fn_banks() as usize
            + usize::from(self.needs_range_table())
            + 6 * self.requant_lanes as usize
            + self.clamp_table_columns()
            + self.hash_fixed()
    }

    /// Number of lookup arguments.
    pub fn lookups(&self) -> usize {
        (2 + self.fn_banks() as usize
            - usize::from(self.identity_table)
            - usize::from(self.remainder_rows)
            + self.limb_extra().2)
            * self.elem_lanes as usize
            + (1 + usize::from(self.limbed())) * self.max_lanes as usize
            + self.requant_columns().1 * self.requant_lanes as usize
    }

    /// Number of equality-enabled columns (including the instance column).
    pub fn equality_columns(&self) -> usize {
        self.matvec.len()
            + self.elem_lanes as usize * if self.elem_binary { 3 } else { 2 }
            + 2 * self.max_lanes as usize
            + self.dot_columns().1 * self.dot_lanes as usize
            + (1 + usize::from(self.requant_row)) * self.requant_lanes as usize
            + self.pack_equality()
            + 1
    }

    /// Estimated commitments a verifier combines (fixed and permutation columns of the key,
    /// advice, lookup and permutation-product columns, the vanishing argument's random
    /// polynomial and the four quotient pieces of a degree-5 circuit): each is one
    /// elliptic-curve multiplication, which dominates on-chain verification gas. Selectors are
    /// not counted (compression merges most of them).
    pub fn verifier_commitments(&self) -> usize {
        let eq = self.equality_columns();
        self.fixed_columns() + eq + self.advice_columns() + 3 * self.lookups() + eq.div_ceil(3) + 5
    }

    /// Whether the circuit has a second phase (challenges): the Freivalds checks of matvec and
    /// matmul lanes need one.
    pub fn multi_phase(&self) -> bool {
        self.matvec_check == MatvecCheck::Freivalds
            && (!self.matvec.is_empty() || (self.matmul_lanes && self.dot_lanes > 0))
    }

    /// Whether products of computed matrices are checked at the matrix level (matmul lanes,
    /// with the Freivalds check) rather than one row per term (dot lanes).
    pub fn dot_freivalds(&self) -> bool {
        self.matmul_lanes && self.matvec_check == MatvecCheck::Freivalds
    }

    /// Weight columns of each matmul lane that has them (none in dot lanes, none without
    /// weight lanes).
    pub fn matmul_weight_columns(&self) -> usize {
        if self.dot_freivalds() && self.matmul_weight_lanes > 0 {
            self.matmul_weights as usize
        } else {
            0
        }
    }

    /// `[n, k, m]` when the linear op `op` goes to the matmul lanes as one matrix product: a
    /// [shared product](LinearOp::shared_product) whose outputs span at least two rows of
    /// weights (with fewer, its matvec regions take no more rows).
    pub fn shared_product(&self, op: &LinearOp) -> Option<[usize; 3]> {
        let w = self.matmul_weight_columns() as u32;
        op.shared_product().filter(|&d| shared_fits(d, w))
    }

    /// Advice and equality-enabled columns of one dot (or matmul) lane.
    fn dot_columns(&self) -> (usize, usize) {
        if self.dot_freivalds() {
            (3, 1)
        } else {
            (3, 3)
        }
    }

    /// One-line summary.
    pub fn summary(&self) -> String {
        format!(
            "k={} bits={} matvec lanes {:?}{}, {} elementwise lane(s){}, {} max lane(s), {} {} lane(s){}{}, {} public I/O{}{}{}",
            self.k,
            self.bits,
            self.matvec,
            match self.matvec_check {
                MatvecCheck::Freivalds => "",
                MatvecCheck::Direct => " (direct check)",
            },
            self.elem_lanes,
            if self.elem_binary { " (binary)" } else { "" },
            self.max_lanes,
            self.dot_lanes,
            if self.dot_freivalds() { "matmul" } else { "dot" },
            match self.matmul_weight_columns() {
                0 => String::new(),
                w => format!(" ({w} weight columns in {})", self.matmul_weight_lanes),
            },
            match self.requant_lanes {
                0 => String::new(),
                n => format!(
                    ", {n} requant lane(s) of {} limb(s){}",
                    self.requant_limbs,
                    if self.requant_row { ", one row each" } else { "" }
                ),
            },
            self.public_io.name(),
            match (self.identity_table, self.remainder_rows) {
                (true, true) => ", identity in table, remainders in rows",
                (true, false) => ", identity in table",
                _ => "",
            },
            match self.fn_banks() {
                1 => String::new(),
                n => format!(", {n} function tables"),
            },
            match self.limb_bits {
                0 => String::new(),
                l => format!(", lookups on {l}-bit limbs"),
            }
        )
    }
}
