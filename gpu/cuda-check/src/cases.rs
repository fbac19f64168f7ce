//! Inputs of the CPU-vs-GPU differential checks: MSM scalars and bases, NTT vectors.

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine, G1};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::halo2curves::group::{prime::PrimeCurveAffine, Curve};
use rand_core::{RngCore, SeedableRng};

/// How the scalars of an MSM case are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarKind {
    /// Uniformly random.
    Random,
    /// All zero (the result is the identity).
    Zero,
    /// All one (the sum of the bases).
    One,
    /// All `p - 1`.
    MinusOne,
    /// Random, with zero, one and `p - 1` at fixed positions.
    Edges,
    /// Random scalars on one base repeated `n` times.
    RepeatedBase,
}

impl ScalarKind {
    /// Every kind.
    pub const ALL: [ScalarKind; 6] = [
        ScalarKind::Random,
        ScalarKind::Zero,
        ScalarKind::One,
        ScalarKind::MinusOne,
        ScalarKind::Edges,
        ScalarKind::RepeatedBase,
    ];

    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            ScalarKind::Random => "random",
            ScalarKind::Zero => "zero",
            ScalarKind::One => "one",
            ScalarKind::MinusOne => "p-1",
            ScalarKind::Edges => "edges",
            ScalarKind::RepeatedBase => "repeated base",
        }
    }
}

/// Sizes checked up to `2^max_log`: every power of two and its neighbours (1, 2, 3, 4, 5, 7,
/// 8, 9, ...), so chunk and bucket boundaries are crossed.
pub fn msm_sizes(max_log: u32) -> Vec<usize> {
    let mut v = vec![1usize];
    for j in 1..=max_log {
        let p = 1usize << j;
        v.extend([p - 1, p, p + 1]);
    }
    v.retain(|&n| n >= 1 && n <= 1usize << max_log);
    v.sort_unstable();
    v.dedup();
    v
}

/// `n` distinct bases `g·(r + i)`: one scalar multiplication, then additions (cheap for 2^22).
pub fn bases(n: usize, seed: u64) -> Vec<G1Affine> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let g = G1Affine::generator();
    let mut p: G1 = g * Fr::random(&mut rng);
    let mut proj = Vec::with_capacity(n);
    for _ in 0..n {
        proj.push(p);
        p += g;
    }
    let mut out = vec![G1Affine::identity(); n];
    G1::batch_normalize(&proj, &mut out);
    out
}

/// Scalars of kind `kind` for `n` points.
pub fn scalars(kind: ScalarKind, n: usize, seed: u64) -> Vec<Fr> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed ^ 0x5ca1a25);
    match kind {
        ScalarKind::Zero => vec![Fr::ZERO; n],
        ScalarKind::One => vec![Fr::ONE; n],
        ScalarKind::MinusOne => vec![-Fr::ONE; n],
        ScalarKind::Random | ScalarKind::RepeatedBase => {
            (0..n).map(|_| Fr::random(&mut rng)).collect()
        }
        ScalarKind::Edges => {
            let mut v: Vec<Fr> = (0..n).map(|_| Fr::random(&mut rng)).collect();
            for (i, e) in [Fr::ZERO, Fr::ONE, -Fr::ONE].into_iter().enumerate() {
                if let Some(s) = v.get_mut(i * n / 3) {
                    *s = e;
                }
            }
            // A few random positions too.
            for _ in 0..3.min(n) {
                let i = (rng.next_u64() as usize) % n;
                v[i] = -Fr::ONE;
            }
            v
        }
    }
}

/// One MSM case: scalars and bases (for [`ScalarKind::RepeatedBase`], one base `n` times).
pub fn msm_case(
    kind: ScalarKind,
    n: usize,
    all_bases: &[G1Affine],
    seed: u64,
) -> (Vec<Fr>, Vec<G1Affine>) {
    let s = scalars(kind, n, seed);
    let b = match kind {
        ScalarKind::RepeatedBase => vec![all_bases[0]; n],
        _ => all_bases[..n].to_vec(),
    };
    (s, b)
}

/// Vectors for NTT checks of size `2^log_n`: random, all zero, a single one (delta), `p - 1`
/// everywhere.
pub fn ntt_vectors(log_n: u32, seed: u64) -> Vec<(&'static str, Vec<Fr>)> {
    let n = 1usize << log_n;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut delta = vec![Fr::ZERO; n];
    delta[n / 2] = Fr::ONE;
    vec![
        ("random", (0..n).map(|_| Fr::random(&mut rng)).collect()),
        ("zero", vec![Fr::ZERO; n]),
        ("delta", delta),
        ("p-1", vec![-Fr::ONE; n]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkinfer_prover::{CpuMsm, Msm};

    #[test]
    fn sizes_cover_powers_and_their_neighbours() {
        assert_eq!(msm_sizes(3), vec![1, 2, 3, 4, 5, 7, 8]);
        let s = msm_sizes(22);
        assert!(s.contains(&(1 << 22)) && s.contains(&((1 << 22) - 1)));
        assert!(s.iter().all(|&n| n <= 1 << 22));
    }

    #[test]
    fn cases_have_the_edge_scalars_and_known_cpu_results() {
        let b = bases(64, 1);
        assert!(b.windows(2).all(|w| w[0] != w[1]), "bases must be distinct");
        let (s, _) = msm_case(ScalarKind::Edges, 64, &b, 2);
        for e in [Fr::ZERO, Fr::ONE, -Fr::ONE] {
            assert!(s.contains(&e));
        }
        // The CPU reference on cases whose result is known in closed form.
        let (s, bb) = msm_case(ScalarKind::Zero, 64, &b, 3);
        assert_eq!(CpuMsm.msm(&s, &bb).to_affine(), G1Affine::identity());
        let (s, bb) = msm_case(ScalarKind::RepeatedBase, 64, &b, 4);
        let total: Fr = s.iter().copied().sum();
        assert_eq!(CpuMsm.msm(&s, &bb).to_affine(), (b[0] * total).to_affine());
        let (s, bb) = msm_case(ScalarKind::MinusOne, 64, &b, 5);
        let (o, _) = msm_case(ScalarKind::One, 64, &b, 5);
        assert_eq!(
            (CpuMsm.msm(&s, &bb) + CpuMsm.msm(&o, &bb)).to_affine(),
            G1Affine::identity()
        );
    }

    #[test]
    fn ntt_vectors_have_the_requested_size() {
        for (name, v) in ntt_vectors(5, 1) {
            assert_eq!(v.len(), 32, "{name}");
        }
    }
}
