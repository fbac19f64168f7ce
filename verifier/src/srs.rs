//! The development SRS: `zkinfer setup` without `--srs` derives the KZG secret from a public
//! seed, so anyone can forge proofs that verify under a key made with it. The verifier
//! recognises such keys by their `s·G2` point and says so. Degenerate parameters (a point at
//! infinity, or `s = ±1`), under which every proof verifies or the secret is known, are
//! refused outright.

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine, G2Affine};
use halo2_proofs::halo2curves::ff::Field;
use rand_core::SeedableRng;

/// Seed of the development SRS. Public on purpose: this SRS is insecure.
pub const DEVELOPMENT_SEED: [u8; 32] = *b"zkinfer insecure development SRS";

/// The development SRS's secret: the first field element drawn from ChaCha20 seeded with
/// [`DEVELOPMENT_SEED`], as halo2's `ParamsKZG::setup` draws it (whatever the size `k`).
pub fn development_secret() -> Fr {
    Fr::random(rand_chacha::ChaCha20Rng::from_seed(DEVELOPMENT_SEED))
}

/// Whether `s_g2` is the development SRS's `s·G2` (with halo2's G2 generator).
pub fn is_development_s_g2(s_g2: &G2Affine) -> bool {
    let dev: G2Affine = (G2Affine::generator() * development_secret()).into();
    *s_g2 == dev
}

/// Why the KZG points a verifier uses (`g`, `g2`, `s·g2`) are degenerate, if they are: a point
/// at infinity (an all-zero parameter file makes every pairing check pass) or `s = ±1`.
pub fn degenerate(g: &G1Affine, g2: &G2Affine, s_g2: &G2Affine) -> Option<&'static str> {
    use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
    if bool::from(g.is_identity()) || bool::from(g2.is_identity()) {
        return Some("a generator is the point at infinity");
    }
    if bool::from(s_g2.is_identity()) {
        return Some("s·G2 is the point at infinity (s = 0)");
    }
    if s_g2 == g2 || *s_g2 == -*g2 {
        return Some("s·G2 is ±G2 (s = ±1)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_points_are_named() {
        let (g, g2) = (G1Affine::generator(), G2Affine::generator());
        let s_g2: G2Affine = (g2 * development_secret()).into();
        assert_eq!(degenerate(&g, &g2, &s_g2), None);
        assert!(degenerate(&G1Affine::default(), &g2, &s_g2).is_some());
        assert!(degenerate(&g, &G2Affine::default(), &s_g2).is_some());
        assert!(degenerate(&g, &g2, &G2Affine::default()).is_some());
        assert!(degenerate(&g, &g2, &g2).is_some());
        assert!(degenerate(&g, &g2, &-g2).is_some());
    }

    #[test]
    fn is_development_srs() {
        let dev: G2Affine = (G2Affine::generator() * development_secret()).into();
        assert!(is_development_s_g2(&dev));
        let other: G2Affine = (G2Affine::generator() * (development_secret() + Fr::ONE)).into();
        assert!(!is_development_s_g2(&other));
        assert!(!is_development_s_g2(&G2Affine::generator()));
    }
}
