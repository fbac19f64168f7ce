//! The sentinel row: the last row halo2 leaves usable ([`CircuitShape::sentinel_row`]), which
//! no chip lays values out in. There every lookup of the circuit gets an input that is in its
//! table and not zero, and no gate is enabled, so the row proves nothing and constrains
//! nothing; it only guarantees that, whatever the model and the input, no lookup's input is
//! zero on every usable row.
//!
//! Why: halo2 permutes each lookup's input and table over the usable rows and commits to the
//! permuted columns. halo2-axiom pads the rows after them with random values; halo2-axiom-gpu
//! (the CUDA prover) pads them with zeros. An input that is zero on every usable row (an
//! elementwise lane without function rows, all-zero remainders, max-pool windows of equal
//! values) then gives a permuted column that is zero everywhere, whose commitment is the point
//! at infinity, which the Keccak transcript and the EVM verifier refuse: the GPU proof would
//! fail. Tables are never all zero (the range table holds `0 .. 2^B`, every function table
//! holds `(0, 1, 1)`).
//!
//! Lookups per chip, and their sentinel input:
//!
//! | chip | lookup | at the sentinel row |
//! | --- | --- | --- |
//! | elementwise | remainder `r` (range) | `r = 1` |
//! | elementwise | `q + 2^(B-1)` (range) | `q = 1` |
//! | elementwise | `(ftag, fn·q, fn·out)` (function) | `ftag = 0, fn = 1, q = out = 1` |
//! | elementwise | `(ftag, q, out)` (identity table) | `ftag = 0, q = out = 1` |
//! | elementwise | `(s·ftag, s·q, s·out)` per function table (split tables) | `ftag = 0, s = 1, q = out = 1` |
//! | elementwise, limbs | knots of `q` and of `out`, `l`, `ρ`, `ol` | `check = 1`, tag 0, `q = out = 1`: `(1, 0, 0, 2^L)` twice, `l = ol = 1`, `ρ = 2^(L−1)` |
//! | max-pool | `step·(2m − m_prev − x) + 1 − start − step` (range) | `1` (no cell assigned) |
//! | max-pool, limbs | knot of `sh`; `sl` (range) | `sh = 0`, `sl = 1` |
//! | requant | each range-checked column (range) | `1` |
//! | requant, one row | each limb (range); `(u, y − qmin, par)` (clamp) | `1`; `q = par = 1`, so `(1, 0, 1)` |
//!
//! [`CircuitShape::sentinel_row`]: crate::plan::CircuitShape::sentinel_row

use super::{requant_segment, Assigner, ModelConfig, Wit};

/// Assigns the sentinel row of every lane that has lookups.
pub(crate) fn assign(a: &mut Assigner<'_, '_>, cfg: &ModelConfig, wit: Wit<'_>) {
    let row = cfg.shape.sentinel_row();
    for (lane, el) in cfg.el.iter().enumerate() {
        el.assign_sentinel(a, lane as u16, row, wit);
    }
    for (lane, mx) in cfg.mx.iter().enumerate() {
        mx.assign_sentinel(a, lane as u16, row, wit);
    }
    for (lane, rq) in cfg.rq.iter().enumerate() {
        requant_segment::assign_sentinel(rq, a, lane as u16, row);
    }
    for (lane, rq) in cfg.rq_row.iter().enumerate() {
        requant_segment::assign_sentinel(rq, a, lane as u16, row);
    }
}
