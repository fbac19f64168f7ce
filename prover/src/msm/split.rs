//! An MSM split by the size of its scalars.
//!
//! halo2curves' Pippenger (`best_multiexp`) runs every window of a 254-bit scalar over every
//! point: at `2^15` points a column of zeros costs a seventh of one of random scalars, and one
//! of small signed integers as much (a small negative `-v` is the 254-bit `p - v`). A
//! circuit's witness columns are mostly zeros and small signed integers, so each scalar is
//! sorted into one of three parts, and each part is summed by what suits it:
//!
//! - zero: left out;
//! - small, `v` or `p - v` with `0 < v < 2^64`: `v·B` or `v·(−B)` (`(p − v)·B = v·(−B)`),
//!   summed by a bucket method over the bit length the part needs ([`small_msm`]);
//! - full (the blinding rows, challenge-dependent columns): `best_multiexp` over that part.

use halo2_proofs::arithmetic::best_multiexp;
use halo2_proofs::halo2curves::bn256::{Fr, G1Affine, G1};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::halo2curves::group::Group;
use rayon::prelude::*;

/// What a scalar is, for the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Zero.
    Zero,
    /// `v` (`negated` false) or `p - v` (`negated` true), `0 < v < 2^64`.
    Small { v: u64, negated: bool },
    /// Anything else.
    Full,
}

/// Canonical little-endian bytes as four 64-bit limbs, least significant first.
fn limbs(x: &Fr) -> [u64; 4] {
    let repr = x.to_repr();
    let mut out = [0u64; 4];
    for (limb, bytes) in out.iter_mut().zip(repr.as_ref().chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        *limb = u64::from_le_bytes(word);
    }
    out
}

/// Sorts one scalar.
pub(crate) fn part(s: &Fr) -> Part {
    let small = |l: [u64; 4]| (l[1..] == [0, 0, 0]).then_some(l[0]);
    match small(limbs(s)) {
        Some(0) => Part::Zero,
        Some(v) => Part::Small { v, negated: false },
        None => match small(limbs(&-*s)) {
            Some(v) => Part::Small { v, negated: true },
            None => Part::Full,
        },
    }
}

/// `Σ scalars[i]·bases[i]`, split by the size of the scalars (equal lengths).
pub(crate) fn split_msm(scalars: &[Fr], bases: &[G1Affine]) -> G1 {
    let parts: Vec<Part> = scalars.par_iter().map(part).collect();
    let full = parts.iter().filter(|p| **p == Part::Full).count();
    if full == parts.len() {
        return best_multiexp(scalars, bases);
    }
    let small = parts
        .iter()
        .filter(|p| matches!(p, Part::Small { .. }))
        .count();
    let (mut full_s, mut full_b) = (Vec::with_capacity(full), Vec::with_capacity(full));
    let (mut small_v, mut small_b) = (Vec::with_capacity(small), Vec::with_capacity(small));
    for ((p, s), b) in parts.iter().zip(scalars).zip(bases) {
        match *p {
            Part::Zero => {}
            Part::Small { v, negated } => {
                small_v.push(v);
                small_b.push(if negated { -*b } else { *b });
            }
            Part::Full => {
                full_s.push(*s);
                full_b.push(*b);
            }
        }
    }
    let small = small_msm(&small_v, &small_b);
    if full_s.is_empty() {
        small
    } else {
        small + best_multiexp(&full_s, &full_b)
    }
}

/// Window width minimising `windows · (points + 2·buckets)` additions.
fn window_bits(points: usize, bits: u32) -> u32 {
    (1..=bits.clamp(1, 16))
        .min_by_key(|c| {
            let windows = bits.div_ceil(*c) as usize;
            windows * (points + (2usize << c))
        })
        .unwrap_or(1)
}

/// `Σ v[i]·bases[i]` for 64-bit `v`: buckets per window of the bits the largest `v` has, the
/// points split between threads.
pub(crate) fn small_msm(v: &[u64], bases: &[G1Affine]) -> G1 {
    let bits = 64 - v.iter().fold(0u64, |acc, x| acc | x).leading_zeros();
    if bits == 0 {
        return G1::identity();
    }
    let threads = rayon::current_num_threads().max(1);
    let chunk = v.len().div_ceil(threads).max(1);
    let c = window_bits(chunk, bits);
    v.par_chunks(chunk)
        .zip(bases.par_chunks(chunk))
        .map(|(v, bases)| windows_sum(v, bases, bits, c))
        .reduce(G1::identity, |a, b| a + b)
}

/// One thread's share of [`small_msm`]: windows of `c` bits from the top, Horner's rule between.
fn windows_sum(v: &[u64], bases: &[G1Affine], bits: u32, c: u32) -> G1 {
    let mask = (1u64 << c) - 1;
    let mut buckets = vec![G1::identity(); (1usize << c) - 1];
    let mut acc = G1::identity();
    for w in (0..bits.div_ceil(c)).rev() {
        for _ in 0..c {
            acc = acc.double();
        }
        buckets.iter_mut().for_each(|b| *b = G1::identity());
        for (x, base) in v.iter().zip(bases) {
            let digit = (x >> (w * c)) & mask;
            if digit != 0 {
                buckets[digit as usize - 1] += base;
            }
        }
        // Σ d·bucket[d] as a running sum from the top bucket down.
        let mut running = G1::identity();
        for b in buckets.iter().rev() {
            running += b;
            acc += running;
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::halo2curves::ff::Field;
    use halo2_proofs::halo2curves::group::{prime::PrimeCurveAffine, Curve};
    use rand::Rng;
    use rand_core::SeedableRng;

    /// A way to draw the `i`-th scalar.
    type Mix = dyn Fn(&mut rand_chacha::ChaCha20Rng, usize) -> Fr;

    fn naive(scalars: &[Fr], bases: &[G1Affine]) -> G1 {
        scalars
            .iter()
            .zip(bases)
            .fold(G1::identity(), |acc, (s, b)| acc + b.to_curve() * s)
    }

    #[test]
    fn scalars_are_sorted_by_size() {
        assert_eq!(part(&Fr::ZERO), Part::Zero);
        assert_eq!(
            part(&Fr::from(7)),
            Part::Small {
                v: 7,
                negated: false
            }
        );
        assert_eq!(
            part(&Fr::from(u64::MAX)),
            Part::Small {
                v: u64::MAX,
                negated: false
            }
        );
        assert_eq!(
            part(&-Fr::ONE),
            Part::Small {
                v: 1,
                negated: true
            }
        );
        let most = -Fr::from(u64::MAX);
        assert_eq!(
            part(&most),
            Part::Small {
                v: u64::MAX,
                negated: true
            }
        );
        assert_eq!(part(&(most - Fr::ONE)), Part::Full);
        assert_eq!(part(&Fr::from_u128(1 << 64)), Part::Full);
    }

    #[test]
    fn split_msm_matches_naive_on_every_mix() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let g = G1Affine::generator();
        for n in [1usize, 2, 3, 40, 257] {
            let bases: Vec<G1Affine> = (0..n)
                .map(|_| (g * Fr::random(&mut rng)).to_affine())
                .collect();
            let mixes: [&Mix; 5] = [
                &|_, _| Fr::ZERO,
                &|r, _| Fr::from(r.gen_range(0u64..1 << 12)),
                &|r, _| -Fr::from(r.gen_range(1u64..1 << 20)),
                &|r, _| Fr::random(r),
                &|r, i| match i % 5 {
                    0 => Fr::ZERO,
                    1 => Fr::from(r.gen::<u64>()),
                    2 => -Fr::from(r.gen::<u64>()),
                    3 => -Fr::from(u64::MAX) - Fr::ONE,
                    _ => Fr::random(r),
                },
            ];
            for mix in mixes {
                let scalars: Vec<Fr> = (0..n).map(|i| mix(&mut rng, i)).collect();
                assert_eq!(
                    split_msm(&scalars, &bases).to_affine(),
                    naive(&scalars, &bases).to_affine(),
                    "n = {n}"
                );
            }
        }
    }

    /// At the sizes of a circuit's columns the windows are wider (8-16 bits) and the points
    /// split between threads: the split sum equals halo2's.
    #[test]
    fn split_msm_matches_halo2_at_column_sizes() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(12);
        let n = 1 << 12;
        let g = G1Affine::generator();
        let step = (g * Fr::random(&mut rng)).to_affine();
        // Distinct bases cheaply: g, g + h, g + 2h, ...
        let mut bases = Vec::with_capacity(n);
        let mut at = g.to_curve();
        for _ in 0..n {
            bases.push(at.to_affine());
            at += step;
        }
        let draws: [&Mix; 3] = [
            &|r, _| -Fr::from(r.gen_range(0u64..1 << 16)),
            &|r, i| match i % 3 {
                0 => Fr::from(r.gen::<u64>()),
                1 => -Fr::from(r.gen_range(0u64..1 << 9)),
                _ => Fr::ZERO,
            },
            &|r, i| {
                if i % 97 == 0 {
                    Fr::random(r)
                } else {
                    Fr::from(r.gen_range(0u64..1 << 12))
                }
            },
        ];
        for draw in draws {
            let scalars: Vec<Fr> = (0..n).map(|i| draw(&mut rng, i)).collect();
            assert_eq!(split_msm(&scalars, &bases), best_multiexp(&scalars, &bases));
        }
    }

    #[test]
    fn window_width_fits_the_bits() {
        assert_eq!(window_bits(1, 1), 1);
        assert!(window_bits(16_000, 16) <= 16);
        assert!(window_bits(16_000, 16) >= 6);
    }
}
