//! How a model's inputs and outputs become public instances.
//!
//! - [`PublicIo::Plain`]: one instance per quantized value (inputs, then outputs).
//! - [`PublicIo::Packed`]: values packed `values_per_word(bits)` to a field element, inputs and
//!   outputs in separate words. Each value `v ∈ [-2^(B-1), 2^(B-1))` takes a `B`-bit slot
//!   holding `v + 2^(B-1)`; a word is `Σ slot_k · 2^(B·(m-1-k))` over its `m` values (first value
//!   most significant). Every packed value is range-checked in the circuit, so a word has
//!   exactly one preimage. Fewer instances make on-chain verification far cheaper.
//! - [`PublicIo::Hashed`]: the packed input words and the packed output words are each hashed
//!   with Poseidon ([`crate::poseidon::hash_words`], domain tag = number of values) in the
//!   circuit: two instances, whatever the model's size, and the values themselves are not in
//!   the calldata (they travel in the proof file, so a verifier can recompute both hashes).
//!
//! The proof file always lists the values themselves; a verifier recomputes the instances from
//! them with [`instances`].

use crate::field::{fe, pow2, F};
use crate::poseidon::hash_words;
use serde::{Deserialize, Serialize};

/// Bits of a field element used by packing: every word is below `2^253`, which is below the
/// BN254 scalar modulus (about `2^253.6`), so words never wrap.
pub const WORD_BITS: u32 = 253;

/// Public input/output encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicIo {
    /// One instance per value.
    Plain,
    /// Values packed into as few field elements as fit.
    #[default]
    Packed,
    /// One Poseidon hash of the packed inputs and one of the packed outputs.
    Hashed,
}

impl PublicIo {
    /// Name as written in settings and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PublicIo::Plain => "plain",
            PublicIo::Packed => "packed",
            PublicIo::Hashed => "hashed",
        }
    }

    /// Instances for `n` values.
    pub fn words(self, bits: u32, n: usize) -> usize {
        match self {
            PublicIo::Plain => n,
            PublicIo::Packed => n.div_ceil(values_per_word(bits)),
            PublicIo::Hashed => 1,
        }
    }

    /// Whether the pack chip is in the circuit.
    pub fn packs(self) -> bool {
        self != PublicIo::Plain
    }

    /// Rows of the public-I/O columns (pack chip, then Poseidon) for `n_in` input and `n_out`
    /// output values.
    pub fn rows(self, bits: u32, n_in: usize, n_out: usize) -> usize {
        let hash = |n: usize| {
            let words = n.div_ceil(values_per_word(bits));
            crate::poseidon::sponge_rows(crate::poseidon::permutations(words))
        };
        match self {
            PublicIo::Plain | PublicIo::Packed => n_in + n_out,
            PublicIo::Hashed => n_in + n_out + hash(n_in) + hash(n_out),
        }
    }
}

/// Values per packed word for activations of `bits` bits.
pub fn values_per_word(bits: u32) -> usize {
    (WORD_BITS / bits.max(1)) as usize
}

/// Packs values (each in `[-2^(B-1), 2^(B-1))`) into words.
pub fn pack(values: &[i128], bits: u32) -> Vec<F> {
    let half = 1i128 << (bits - 1);
    let shift = pow2(bits);
    values
        .chunks(values_per_word(bits))
        .map(|chunk| {
            chunk
                .iter()
                .fold(F::zero(), |acc, &v| acc * shift + fe(v + half))
        })
        .collect()
}

/// Public instances of a proof whose flattened quantized inputs and outputs are given.
pub fn instances(mode: PublicIo, bits: u32, inputs: &[i128], outputs: &[i128]) -> Vec<F> {
    match mode {
        PublicIo::Plain => inputs.iter().chain(outputs).map(|&v| fe(v)).collect(),
        PublicIo::Packed => {
            let mut words = pack(inputs, bits);
            words.extend(pack(outputs, bits));
            words
        }
        PublicIo::Hashed => vec![
            hash_words(inputs.len() as u64, &pack(inputs, bits)),
            hash_words(outputs.len() as u64, &pack(outputs, bits)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_is_injective_on_slots_and_splits_words() {
        let bits = 10;
        let per = values_per_word(bits);
        assert_eq!(per, 25);
        let vals: Vec<i128> = (0..52).map(|i| (i * 37 % 1024) - 512).collect();
        let words = pack(&vals, bits);
        assert_eq!(words.len(), 3);
        assert_eq!(PublicIo::Packed.words(bits, 52), 3);
        // Last word holds two values: (v50 + 512)·2^10 + (v51 + 512).
        let expect = fe(vals[50] + 512) * pow2(10) + fe(vals[51] + 512);
        assert_eq!(words[2], expect);
        let mut other = vals.clone();
        other[51] += 1;
        assert_ne!(pack(&other, bits)[2], words[2]);
        // A full word of maximal slots stays below the modulus (no wrap).
        let full = pack(&vec![511; per], bits)[0];
        assert_eq!(full, pow2(250) - F::one());
        // Extremes of the range occupy distinct slots.
        assert_eq!(pack(&[-512], bits)[0], F::zero());
        assert_eq!(pack(&[511], bits)[0], F::from(1023u64));
    }

    #[test]
    fn plain_is_one_instance_per_value() {
        let i = instances(PublicIo::Plain, 8, &[1, -2], &[3]);
        assert_eq!(i, vec![fe(1), fe(-2), fe(3)]);
        assert_eq!(instances(PublicIo::Packed, 8, &[1, -2], &[3]).len(), 2);
    }

    #[test]
    fn hashed_is_two_hashes_of_the_packed_words() {
        let (i, o) = ([1, -2], [3]);
        let h = instances(PublicIo::Hashed, 8, &i, &o);
        assert_eq!(
            h,
            vec![hash_words(2, &pack(&i, 8)), hash_words(1, &pack(&o, 8))]
        );
        assert_ne!(instances(PublicIo::Hashed, 8, &[1, -1], &o)[0], h[0]);
        assert_ne!(instances(PublicIo::Hashed, 8, &i, &[4])[1], h[1]);
        assert_eq!(PublicIo::Hashed.words(8, 1000), 1);
    }
}
