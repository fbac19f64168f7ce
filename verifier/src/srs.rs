//! The development SRS: `zkinfer setup` without `--srs` derives the KZG secret from a public
//! seed, so anyone can forge proofs that verify under a key made with it. The verifier
//! recognises such keys by their `s·G2` point and says so.

use halo2_proofs::halo2curves::bn256::{Fr, G2Affine};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_development_srs() {
        let dev: G2Affine = (G2Affine::generator() * development_secret()).into();
        assert!(is_development_s_g2(&dev));
        let other: G2Affine = (G2Affine::generator() * (development_secret() + Fr::ONE)).into();
        assert!(!is_development_s_g2(&other));
        assert!(!is_development_s_g2(&G2Affine::generator()));
    }
}
