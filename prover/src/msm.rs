//! Multi-scalar multiplication backends.

mod split;

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine, G1};
use std::fmt::Debug;

/// A multi-scalar multiplication `Σ scalars[i] · bases[i]`.
pub trait Msm: Clone + Debug + Send + Sync {
    /// Scalar field element.
    type Scalar;
    /// Base point (affine).
    type Base;
    /// Result (projective).
    type Output;

    /// Backend name for logs and benchmarks.
    fn name(&self) -> &'static str;

    /// Computes the MSM. `scalars` and `bases` have equal length.
    fn msm(&self, scalars: &[Self::Scalar], bases: &[Self::Base]) -> Self::Output;
}

/// An MSM over BN254 G1, the one the prover routes its commitments through.
pub trait G1Msm: Msm<Scalar = Fr, Base = G1Affine, Output = G1> + Default {}

impl<T: Msm<Scalar = Fr, Base = G1Affine, Output = G1> + Default> G1Msm for T {}

/// The CPU's MSM: halo2curves' multithreaded Pippenger, with zero and small scalars (a
/// witness column's usual contents) taken out and summed over their own bit length
/// ([`split`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuMsm;

impl Msm for CpuMsm {
    type Scalar = Fr;
    type Base = G1Affine;
    type Output = G1;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn msm(&self, scalars: &[Fr], bases: &[G1Affine]) -> G1 {
        let n = scalars.len().min(bases.len());
        split::split_msm(&scalars[..n], &bases[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::halo2curves::ff::Field;
    use halo2_proofs::halo2curves::group::{prime::PrimeCurveAffine, Curve};
    use rand_core::SeedableRng;

    #[test]
    fn cpu_msm_matches_naive() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let g = G1Affine::generator();
        for n in [1usize, 2, 17, 300] {
            let bases: Vec<G1Affine> = (0..n)
                .map(|i| (g * Fr::from(i as u64 + 3)).to_affine())
                .collect();
            let scalars: Vec<Fr> = (0..n).map(|_| Fr::random(&mut rng)).collect();
            let naive = scalars
                .iter()
                .zip(&bases)
                .fold(G1::default(), |acc, (s, b)| acc + b.to_curve() * s);
            assert_eq!(CpuMsm.msm(&scalars, &bases).to_affine(), naive.to_affine());
        }
        // Edge scalars: zero, one, p - 1.
        let bases = vec![g; 3];
        let scalars = vec![Fr::ZERO, Fr::ONE, -Fr::ONE];
        assert_eq!(
            CpuMsm.msm(&scalars, &bases).to_affine(),
            G1::default().to_affine()
        );
    }
}
