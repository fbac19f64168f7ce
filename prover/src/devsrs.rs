//! A faster construction of the development SRS: the same points as halo2's
//! `ParamsKZG::setup` with the development seed (`[sⁱ]G₁`, `[Lᵢ(s)]G₁`, `G₂`, `[s]G₂`), computed
//! with fixed-base window tables and one batch inversion instead of a full scalar
//! multiplication and an inversion per point (k = 21: seconds instead of minutes).

use halo2_proofs::arithmetic::parallelize;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine, G2Affine, G1};
use halo2_proofs::halo2curves::ff::{BatchInvert, Field, PrimeField};
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::group::{Curve, Group};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use rand_core::SeedableRng;
use zkinfer_verifier::srs::development_secret;

/// Window width of the fixed-base tables (bits per window).
const WINDOW: usize = 8;
/// Windows per 256-bit scalar.
const WINDOWS: usize = 256 / WINDOW;

/// `table[w][d] = [d · 2^(8w)]G₁`: a scalar multiple of G₁ is one addition per window.
struct FixedBase(Vec<Vec<G1Affine>>);

impl FixedBase {
    fn generator() -> Self {
        let mut base = G1::generator();
        let mut table = Vec::with_capacity(WINDOWS);
        for _ in 0..WINDOWS {
            let mut row = vec![G1::identity(); 1 << WINDOW];
            for d in 1..row.len() {
                row[d] = row[d - 1] + base;
            }
            let mut affine = vec![G1Affine::identity(); row.len()];
            G1::batch_normalize(&row, &mut affine);
            table.push(affine);
            for _ in 0..WINDOW {
                base = base.double();
            }
        }
        FixedBase(table)
    }

    fn mul(&self, s: &Fr) -> G1 {
        let repr = s.to_repr();
        let mut acc = G1::identity();
        for (row, &byte) in self.0.iter().zip(repr.as_ref()) {
            if byte != 0 {
                acc += row[byte as usize];
            }
        }
        acc
    }

    /// `[sᵢ]G₁` for every scalar, in affine form.
    fn mul_all(&self, scalars: &[Fr]) -> Vec<G1Affine> {
        let mut projective = vec![G1::identity(); scalars.len()];
        parallelize(&mut projective, |out, start| {
            for (o, s) in out.iter_mut().zip(&scalars[start..]) {
                *o = self.mul(s);
            }
        });
        let mut affine = vec![G1Affine::identity(); scalars.len()];
        parallelize(&mut affine, |out, start| {
            G1::batch_normalize(&projective[start..start + out.len()], out);
        });
        affine
    }
}

/// `[1, s, s², …]` (n of them).
fn powers(s: Fr, n: usize) -> Vec<Fr> {
    let mut out = vec![Fr::ONE; n];
    parallelize(&mut out, |chunk, start| {
        let mut cur = s.pow_vartime([start as u64]);
        for x in chunk.iter_mut() {
            *x = cur;
            cur *= s;
        }
    });
    out
}

/// The Lagrange basis polynomials of the size-n domain at `s`:
/// `Lᵢ(s) = (sⁿ − 1)/n · ωⁱ/(s − ωⁱ)`.
fn lagrange_at(s: Fr, k: u32) -> Vec<Fr> {
    let n = 1usize << k;
    let mut omega = Fr::ROOT_OF_UNITY;
    for _ in k..Fr::S {
        omega = omega.square();
    }
    let roots = powers(omega, n);
    let mut inv: Vec<Fr> = roots.iter().map(|r| s - r).collect();
    inv.batch_invert();
    let n_inv = Fr::from(n as u64).invert().unwrap_or(Fr::ZERO);
    let multiplier = (s.pow_vartime([n as u64]) - Fr::ONE) * n_inv;
    roots
        .iter()
        .zip(&inv)
        .map(|(r, i)| multiplier * r * i)
        .collect()
}

/// The development SRS of size `2^k`: equal to `ParamsKZG::setup(k, ChaCha20(seed))`.
pub fn development_params(k: u32) -> ParamsKZG<Bn256> {
    let s = development_secret();
    let n = 1usize << k;
    let table = FixedBase::generator();
    let g = table.mul_all(&powers(s, n));
    let g_lagrange = table.mul_all(&lagrange_at(s, k));
    let g2 = G2Affine::generator();
    let s_g2: G2Affine = (g2 * s).to_affine();
    // `from_parts` reads only its arguments; its receiver is any parameter set.
    let tiny = ParamsKZG::<Bn256>::setup(1, rand_chacha::ChaCha20Rng::from_seed([0; 32]));
    tiny.from_parts(k, g, Some(g_lagrange), g2, s_g2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::SerdeFormat;
    use zkinfer_verifier::srs::DEVELOPMENT_SEED;

    fn bytes(p: &ParamsKZG<Bn256>) -> Vec<u8> {
        let mut out = Vec::new();
        p.write_custom(&mut out, SerdeFormat::RawBytesUnchecked)
            .unwrap();
        out
    }

    #[test]
    fn equals_halo2s_setup_with_the_development_seed() {
        for k in [1, 4, 7] {
            let halo2 =
                ParamsKZG::<Bn256>::setup(k, rand_chacha::ChaCha20Rng::from_seed(DEVELOPMENT_SEED));
            assert!(bytes(&development_params(k)) == bytes(&halo2), "k = {k}");
        }
    }

    #[test]
    fn fixed_base_multiplication_matches_the_group_law() {
        let table = FixedBase::generator();
        for s in [
            Fr::ZERO,
            Fr::ONE,
            -Fr::ONE,
            Fr::from(255),
            Fr::from(256),
            development_secret(),
        ] {
            assert_eq!(table.mul(&s).to_affine(), (G1::generator() * s).to_affine());
        }
    }
}
