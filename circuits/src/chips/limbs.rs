//! Limbs: an elementwise row's function applied through `2^L`-row tables instead of `2^B`-row
//! ones (`CircuitShape::limb_bits = L`). On each checked row (`check = 1`):
//!
//! ```text
//! q   = h·2^L + l                                   // the input's limbs
//! (tag + 1, h, t0, t1) ∈ knot table                 // the knots around q
//! l ∈ [0, 2^L)                                      // range table
//! out·2^L + ρ = t0·2^L + (t1 − t0)·l + 2^(L−1)      // linear interpolation, rounded down
//! ρ ∈ [0, 2^L)                                      // range table
//! out = oh·2^L + ol,  (1, oh, oh·2^L, (oh+1)·2^L) ∈ knot table,  ol ∈ [0, 2^L)
//! ```
//!
//! The knot table holds the zero row and, for function `tag` (the identity is tag 0, whose
//! knots are `(h·2^L, (h+1)·2^L)`), one row per `h` of its domain: so `h` is in range, `q` is
//! an activation and its limbs are unique; `(t0, t1)` are the function's knots at `h`; the
//! output's own limbs bound it to the activation range, so with `ρ` in range the rounding has
//! one solution: `out = f(q)` for `f` the [interpolated function](crate::graph::FnKind::Interpolated)
//! (for the identity, `out = q`). Lookup inputs are multiplied by `check`, and the tags are
//! shifted by one, so unused rows look up the zero row and checked rows never can.

use super::{AdvCol, Assigner, Wit};
use crate::field::{fe, pow2, F};
use crate::graph::FnKind;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Column, ConstraintSystem, Expression, Fixed};
use halo2_proofs::poly::Rotation;

use super::table::TableConfig;

/// The limb cells of a row, by role (for [`AdvCol::ElLimb`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limb {
    /// High limb of `q`.
    H,
    /// Low limb of `q`.
    L,
    /// Knot at `h`.
    T0,
    /// Knot at `h + 1`.
    T1,
    /// Rounding remainder of the interpolation.
    Rho,
    /// High limb of `out`.
    OutHi,
    /// Low limb of `out`.
    OutLo,
}

/// The limb columns of one elementwise lane.
#[derive(Clone, Debug)]
pub struct LimbCols {
    cols: [Column<Advice>; 7],
    /// 1 on checked rows (an op's rows, remainder rows, the sentinel).
    check: Column<Fixed>,
    bits: u32,
}

/// The values of one checked row's limb cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimbValues {
    /// `[h, l, t0, t1, ρ, oh, ol]`.
    pub cells: [i128; 7],
}

impl LimbValues {
    /// The honest cells for input `q` of function `f` (tag `func`), output `out`.
    pub fn of(f: &FnKind, q: i128, out: i128, bits: u32) -> LimbValues {
        let step = 1i128 << bits;
        let h = q.div_euclid(step);
        let l = q - h * step;
        let (t0, t1) = match f {
            FnKind::Interpolated { inner, .. } => (
                inner.eval((h * step) as i64) as i128,
                inner.eval(((h + 1) * step) as i64) as i128,
            ),
            // The identity (the only other function of graphs that fit limbs).
            _ => (h * step, (h + 1) * step),
        };
        let rho = t0 * step + (t1 - t0) * l + step / 2 - out * step;
        let oh = out.div_euclid(step);
        LimbValues {
            cells: [h, l, t0, t1, rho, oh, out - oh * step],
        }
    }
}

impl LimbCols {
    /// Declares the limb gate and lookups of a lane whose rows hold `q`, `out` and the
    /// function tag `ftag`.
    pub fn configure(
        meta: &mut ConstraintSystem<F>,
        table: &mut TableConfig,
        (ftag, q, out): (Column<Fixed>, Column<Advice>, Column<Advice>),
        bits: u32,
    ) -> LimbCols {
        let cols = [(); 7].map(|_| meta.advice_column());
        let check = meta.fixed_column();
        let [h, l, t0, t1, rho, oh, ol] = cols;
        let step = Expression::Constant(pow2(bits));
        let half = Expression::Constant(pow2(bits - 1));
        meta.create_gate("limbs", |vc| {
            let cur = Rotation::cur();
            let c = vc.query_fixed(check, cur);
            let [hv, lv, t0v, t1v, rv, ohv, olv] = cols.map(|col| vc.query_advice(col, cur));
            let (qv, outv) = (vc.query_advice(q, cur), vc.query_advice(out, cur));
            vec![
                c.clone() * (qv - hv * step.clone() - lv.clone()),
                c.clone() * (outv.clone() - ohv * step.clone() - olv),
                c * (outv * step.clone() + rv
                    - t0v.clone() * step.clone()
                    - (t1v - t0v) * lv
                    - half.clone()),
            ]
        });
        let step2 = Expression::Constant(pow2(bits));
        table.knot_lookup(meta, "limbs: knots of q", |vc| {
            let cur = Rotation::cur();
            let c = vc.query_fixed(check, cur);
            let tag = vc.query_fixed(ftag, cur) + Expression::Constant(F::ONE);
            [
                tag,
                vc.query_advice(h, cur),
                vc.query_advice(t0, cur),
                vc.query_advice(t1, cur),
            ]
            .map(|e| c.clone() * e)
        });
        table.knot_lookup(meta, "limbs: high limb of out", |vc| {
            let cur = Rotation::cur();
            let c = vc.query_fixed(check, cur);
            let hi = vc.query_advice(oh, cur);
            [
                Expression::Constant(F::ONE),
                hi.clone(),
                hi.clone() * step2.clone(),
                (hi + Expression::Constant(F::ONE)) * step2.clone(),
            ]
            .map(|e| c.clone() * e)
        });
        for (name, col) in [
            ("limbs: low limb of q", l),
            ("limbs: interpolation remainder", rho),
            ("limbs: low limb of out", ol),
        ] {
            table.range_lookup(meta, name, |vc| vc.query_advice(col, Rotation::cur()));
        }
        LimbCols { cols, check, bits }
    }

    /// Marks `row` checked and assigns its limbs for input `q` and output `out` of `f`.
    pub(crate) fn assign(
        &self,
        a: &mut Assigner<'_, '_>,
        (lane, row): (u16, u32),
        f: &FnKind,
        (q, out): (Option<i128>, Option<i128>),
        wit: Wit<'_>,
    ) {
        let vals = q.zip(out).map(|(q, o)| LimbValues::of(f, q, o, self.bits));
        let roles = [
            Limb::H,
            Limb::L,
            Limb::T0,
            Limb::T1,
            Limb::Rho,
            Limb::OutHi,
            Limb::OutLo,
        ];
        for (i, (&col, role)) in self.cols.iter().zip(roles).enumerate() {
            let v = wit.map(vals.map(|v| v.cells[i]));
            a.advice(AdvCol::ElLimb(lane, role), col, row, v);
        }
        a.fixed(self.check, row, F::ONE);
    }

    /// The column of a limb role.
    pub fn column(&self, role: Limb) -> Column<Advice> {
        self.cols[role as usize]
    }
}

/// The knot-table entries of function `tag` (`f`; the identity's from the bit widths):
/// `(tag + 1, h, t0, t1)` as field elements.
pub(crate) fn knot_rows(f: &FnKind, tag: usize, bits: u32, limb: u32) -> Vec<[F; 4]> {
    let t = F::from(tag as u64 + 1);
    let knots = match f {
        FnKind::Identity => {
            let half = 1i64 << (bits - limb - 1);
            (-half..half)
                .map(|h| (h, h << limb, (h + 1) << limb))
                .collect()
        }
        _ => f.knots(bits),
    };
    knots
        .into_iter()
        .map(|(h, t0, t1)| [t, fe(h as i128), fe(t0 as i128), fe(t1 as i128)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_limbs_satisfy_the_relations_and_identity_is_exact() {
        let sig = FnKind::Interpolated {
            step_bits: 4,
            inner: Box::new(FnKind::Sigmoid {
                in_scale: 6,
                out_scale: 8,
            }),
        };
        for q in -512i128..512 {
            for (f, out) in [(&sig, sig.eval(q as i64) as i128), (&FnKind::Identity, q)] {
                let [h, l, t0, t1, rho, oh, ol] = LimbValues::of(f, q, out, 4).cells;
                assert_eq!(q, h * 16 + l);
                assert!((0..16).contains(&l) && (0..16).contains(&rho) && (0..16).contains(&ol));
                assert_eq!(out * 16 + rho, t0 * 16 + (t1 - t0) * l + 8);
                assert_eq!(out, oh * 16 + ol);
            }
        }
        assert_eq!(knot_rows(&FnKind::Identity, 0, 10, 4).len(), 64);
        assert_eq!(knot_rows(&sig, 1, 10, 4).len(), 64);
    }
}
