//! The KZG accumulator a wrapper proof exposes: two points `lhs`, `rhs` of G₁ such that the
//! model proof is valid iff `e(lhs, G₂) = e(rhs, [s]G₂)`. The wrapper circuit proves the
//! accumulator was derived correctly; this last pairing is left to its verifier.

use crate::circuit::ACCUMULATOR_WORDS;
use crate::WrapError;
use halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fr, G1Affine, G2Affine, G2Prepared, Gt};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::halo2curves::group::Group;
use halo2_proofs::halo2curves::pairing::{MillerLoopResult, MultiMillerLoop};
use halo2_proofs::halo2curves::CurveAffine;

/// Bits per limb of a coordinate.
const LIMB_BITS: usize = 88;
/// Limbs per coordinate.
const LIMBS: usize = 3;

/// A base-field coordinate from its limbs (least significant first), each below `2^88`; the
/// value must be canonical.
fn coordinate(limbs: &[Fr]) -> Option<Fq> {
    // 3 × 88 bits = 33 bytes, little-endian.
    let mut acc = [0u8; 33];
    for (i, limb) in limbs.iter().enumerate() {
        let repr = limb.to_repr();
        let le = repr.as_ref();
        if le[LIMB_BITS / 8..].iter().any(|&b| b != 0) {
            return None;
        }
        // 88 bits = 11 bytes: limbs sit on byte boundaries.
        let at = i * LIMB_BITS / 8;
        acc[at..at + LIMB_BITS / 8].copy_from_slice(&le[..LIMB_BITS / 8]);
    }
    if acc[32] != 0 {
        return None;
    }
    let mut repr = [0u8; 32];
    repr.copy_from_slice(&acc[..32]);
    Option::from(Fq::from_repr(repr))
}

/// A point from its 6 limbs; `None` off the curve.
fn point(limbs: &[Fr]) -> Option<G1Affine> {
    let x = coordinate(&limbs[..LIMBS])?;
    let y = coordinate(&limbs[LIMBS..2 * LIMBS])?;
    Option::from(G1Affine::from_xy(x, y))
}

/// Checks `e(lhs, g2) · e(rhs, −s_g2) = 1` for the accumulator in the first 12 words.
pub fn decide(words: &[Fr], g2: G2Affine, s_g2: G2Affine) -> Result<(), WrapError> {
    let limbs = words.get(..ACCUMULATOR_WORDS).ok_or_else(|| {
        WrapError::Invalid("fewer public values than the accumulator needs".into())
    })?;
    let (lhs, rhs) = match (point(&limbs[..6]), point(&limbs[6..])) {
        (Some(l), Some(r)) => (l, r),
        _ => {
            return Err(WrapError::Invalid(
                "the accumulator's limbs are not points of the curve".into(),
            ))
        }
    };
    let terms = [
        (&lhs, &G2Prepared::from(g2)),
        (&rhs, &G2Prepared::from(-s_g2)),
    ];
    let result: Gt = Bn256::multi_miller_loop(&terms).final_exponentiation();
    if bool::from(result.is_identity()) {
        Ok(())
    } else {
        Err(WrapError::Invalid(
            "the accumulator fails its pairing check: the model proof inside is not valid".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::halo2curves::ff::Field;
    use halo2_proofs::halo2curves::group::Curve;

    fn limbs_of(p: &G1Affine) -> Vec<Fr> {
        let mut out = Vec::new();
        for c in [p.x, p.y] {
            let le = c.to_repr();
            for i in 0..LIMBS {
                let mut b = [0u8; 32];
                let lo = i * 11;
                let hi = (lo + 11).min(32);
                b[..hi - lo].copy_from_slice(&le.as_ref()[lo..hi]);
                out.push(Fr::from_repr(b).unwrap());
            }
        }
        out
    }

    #[test]
    fn a_matching_pair_passes_and_any_change_fails() {
        let s = Fr::from(7);
        let g2 = G2Affine::generator();
        let s_g2 = (g2 * s).to_affine();
        let rhs = (G1Affine::generator() * Fr::from(3)).to_affine();
        let lhs = (rhs * s).to_affine();
        let mut words = limbs_of(&lhs);
        words.extend(limbs_of(&rhs));
        decide(&words, g2, s_g2).unwrap();
        // another secret
        let other = (g2 * (s + Fr::ONE)).to_affine();
        assert!(decide(&words, g2, other).is_err());
        // a limb changed: off the curve, or another point
        let mut bad = words.clone();
        bad[0] += Fr::ONE;
        assert!(decide(&bad, g2, s_g2).is_err());
        // a limb past 88 bits
        let mut wide = words.clone();
        wide[1] += Fr::from_u128(1u128 << 100);
        assert!(decide(&wide, g2, s_g2).is_err());
        assert!(decide(&words[..11], g2, s_g2).is_err());
    }
}
