//! The Poseidon hash used by hashed public I/O, natively (the circuit's witness and every
//! verifier compute it here; [`crate::chips::poseidon`] proves it).
//!
//! Permutation: Poseidon over the BN254 scalar field with the `x^5` S-box, width 3, 8 full
//! rounds (4 before and 4 after) and 57 partial rounds, round constants and MDS matrix generated
//! by the Grain LFSR of the Poseidon paper (the standard 128-bit parameters for this field;
//! generation by the `poseidon-primitives` crate).
//!
//! Sponge ([`hash_words`]): rate 2, capacity 1. The state starts as `(n, 0, 0)` where `n` is a
//! domain tag (zkinfer uses the number of values hashed, so inputs of different lengths never
//! collide); the words are absorbed two at a time by adding them to the last two state elements
//! (a lone final word is added to the middle one), each followed by one permutation; the hash
//! is the middle state element at the end.

use crate::field::F;
use halo2_proofs::halo2curves::ff::Field;
use poseidon_primitives::poseidon::primitives::Spec;
use std::sync::OnceLock;

/// State width.
pub const WIDTH: usize = 3;
/// Full rounds (half before the partial rounds, half after).
pub const FULL_ROUNDS: usize = 8;
/// Partial rounds.
pub const PARTIAL_ROUNDS: usize = 57;
/// All rounds.
pub const ROUNDS: usize = FULL_ROUNDS + PARTIAL_ROUNDS;

/// The permutation's state.
pub type State = [F; WIDTH];

/// The parameter set, for the constant generator.
#[derive(Debug)]
struct Params;

impl Spec<F, WIDTH, 2> for Params {
    fn full_rounds() -> usize {
        FULL_ROUNDS
    }
    fn partial_rounds() -> usize {
        PARTIAL_ROUNDS
    }
    fn sbox(val: F) -> F {
        sbox(val)
    }
    fn secure_mds() -> usize {
        0
    }
}

/// Round constants (one row per round) and the MDS matrix.
#[derive(Debug)]
pub struct Constants {
    /// `rc[r][i]` is added to state element `i` at the start of round `r`.
    pub rc: Vec<State>,
    /// The MDS matrix applied at the end of every round.
    pub mds: [State; WIDTH],
}

/// The constants, generated once per process.
pub fn constants() -> &'static Constants {
    static C: OnceLock<Constants> = OnceLock::new();
    C.get_or_init(|| {
        let (rc, mds, _) = Params::constants();
        Constants { rc, mds }
    })
}

/// `x^5`.
pub fn sbox(x: F) -> F {
    let x2 = x.square();
    x2.square() * x
}

/// Whether round `r` applies the S-box to every element (otherwise only to the first).
pub fn is_full_round(r: usize) -> bool {
    !(FULL_ROUNDS / 2..FULL_ROUNDS / 2 + PARTIAL_ROUNDS).contains(&r)
}

/// One round: add constants, S-box(es), MDS.
pub fn round(state: &State, r: usize) -> State {
    let c = constants();
    let mut t = [F::ZERO; WIDTH];
    for i in 0..WIDTH {
        t[i] = state[i] + c.rc[r][i];
    }
    if is_full_round(r) {
        for x in t.iter_mut() {
            *x = sbox(*x);
        }
    } else {
        t[0] = sbox(t[0]);
    }
    let mut out = [F::ZERO; WIDTH];
    for (o, row) in out.iter_mut().zip(&c.mds) {
        *o = row.iter().zip(&t).map(|(m, x)| *m * x).sum();
    }
    out
}

/// The permutation.
pub fn permute(state: &State) -> State {
    (0..ROUNDS).fold(*state, |s, r| round(&s, r))
}

/// Words absorbed per permutation.
pub const RATE: usize = 2;

/// Rows per absorbed chunk of the Poseidon chip (one permutation): state row, word row, two
/// rows per round.
pub const CHUNK_ROWS: u32 = 2 + 2 * ROUNDS as u32;

/// Rows of the chip's sponge with `perms` permutations (chunks, then the final state row): the
/// layout sizes the sponges with it without depending on the chips.
pub fn sponge_rows(perms: usize) -> usize {
    perms * CHUNK_ROWS as usize + 1
}

/// Permutations needed to hash `n_words` words.
pub fn permutations(n_words: usize) -> usize {
    n_words.div_ceil(RATE)
}

/// The sponge hash of `words` under domain tag `domain` (see the module docs).
pub fn hash_words(domain: u64, words: &[F]) -> F {
    let mut s: State = [F::from(domain), F::ZERO, F::ZERO];
    for chunk in words.chunks(RATE) {
        for (x, w) in s[1..].iter_mut().zip(chunk) {
            *x += w;
        }
        s = permute(&s);
    }
    s[1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::from_hex;
    use poseidon_primitives::poseidon::primitives::{ConstantLength, Hash};

    #[test]
    fn permutation_matches_the_reference_implementation() {
        let reference = Hash::<F, Params, ConstantLength<2>, WIDTH, 2>::init();
        for seed in [[0u64, 0, 0], [0, 1, 2], [7, 1 << 40, u64::MAX]] {
            let s = seed.map(F::from);
            let mut want = s;
            reference.permute(&mut want);
            assert_eq!(permute(&s), want);
        }
    }

    #[test]
    fn known_answer_for_the_standard_parameters() {
        // The published test vector of Poseidon x^5, t = 3 over the BN254 scalar field:
        // permutation of (0, 1, 2).
        let out = permute(&[F::from(0), F::from(1), F::from(2)]);
        let want = [
            "0x115cc0f5e7d690413df64c6b9662e9cf2a3617f2743245519e19607a4417189a",
            "0x0fca49b798923ab0239de1c9e7a4a9a2210312b6a2f616d18b5a87f9b628ae29",
            "0x0e7ae82e40091e63cbd4f16a6d16310b3729d4b6e138fcf54110e2867045a30c",
        ]
        .map(|h| from_hex(h).expect("valid hex"));
        assert_eq!(out, want);
    }

    #[test]
    fn sponge_absorbs_pairs_and_separates_domains() {
        let w: Vec<F> = (1..=3u64).map(F::from).collect();
        let mut s = [F::from(3u64), w[0], w[1]];
        s = permute(&s);
        s[1] += w[2];
        s = permute(&s);
        assert_eq!(hash_words(3, &w), s[1]);
        assert_ne!(hash_words(4, &w), hash_words(3, &w));
        assert_ne!(hash_words(3, &w[..2]), hash_words(3, &w));
        assert_eq!(permutations(3), 2);
        assert_eq!(permutations(2), 1);
    }
}
