//! The wrapper circuits: snark-verifier-sdk's aggregation circuit, circuit-specific (the
//! verifying key of the proof inside is built in as constants). The first level verifies the
//! model proof; an outer level verifies the level below it (a proof of fixed shape whatever the
//! model, so the last level, the one a chain verifies, has the same small shape for every
//! model). Every level exposes
//!
//! | words | what |
//! |---|---|
//! | 0..12 | the KZG accumulator: `lhs.x, lhs.y, rhs.x, rhs.y`, three 88-bit limbs each |
//! | 12..14 | the model digest: its 32 bytes as two big-endian 128-bit halves (constants) |
//! | 14.. | the model proof's own public values (its instance column, as it encodes them) |

use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr};
use halo2_proofs::halo2curves::ff::PrimeField;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use snark_verifier_sdk::halo2::aggregation::{
    AggregationCircuit, AggregationConfigParams, VerifierUniversality,
};
use snark_verifier_sdk::{Snark, SHPLONK};
use zkinfer_circuits::compiled::ModelDigest;

/// Public words holding the accumulator.
pub const ACCUMULATOR_WORDS: usize = 12;
/// Public words holding the model digest.
pub const DIGEST_WORDS: usize = 2;
/// Index of the first of the model's public values among the wrapper's.
pub const MODEL_WORDS_START: usize = ACCUMULATOR_WORDS + DIGEST_WORDS;

/// The digest as two field elements: bytes 0..16 and 16..32, each read big-endian.
pub fn digest_words(d: &ModelDigest) -> [Fr; DIGEST_WORDS] {
    let half = |bytes: &[u8]| {
        let v = bytes.iter().fold(0u128, |acc, &b| (acc << 8) | b as u128);
        Fr::from_u128(v)
    };
    [half(&d.0[..16]), half(&d.0[16..])]
}

/// Where a level's accumulator sits among its public values (to verify it at the next level).
pub fn accumulator_indices() -> Vec<(usize, usize)> {
    (0..ACCUMULATOR_WORDS).map(|i| (0, i)).collect()
}

/// The first level at `stage` over `snark` (the model proof of model `digest`). Panics
/// inside snark-verifier-sdk on a proof it cannot read: call under `catch_unwind`.
pub fn build_first(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snark: Snark,
    digest: &ModelDigest,
) -> AggregationCircuit {
    let mut circuit = aggregate(stage, config, params, snark);
    let ctx = circuit.builder.main(0);
    let digest = digest_words(digest).map(|w| ctx.load_constant(w));
    circuit.builder.assigned_instances[0].extend(digest);
    circuit.expose_previous_instances(false);
    circuit
}

/// An outer level at `stage` over `snark`, a proof of the level below: it exposes its own
/// accumulator (which folds in the one below) and the lower level's other public values.
pub fn build_outer(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snark: Snark,
) -> AggregationCircuit {
    let mut circuit = aggregate(stage, config, params, snark);
    circuit.expose_previous_instances(true);
    circuit
}

/// The sdk's circuit verifying `snark` with its key built in, exposing only the accumulator.
fn aggregate(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snark: Snark,
) -> AggregationCircuit {
    AggregationCircuit::new::<SHPLONK>(stage, config, params, [snark], VerifierUniversality::None)
}

/// The first configuration of a wrapper of size `2^k`, before the sdk sizes its columns.
pub fn initial_config(k: u32) -> AggregationConfigParams {
    AggregationConfigParams {
        degree: k,
        lookup_bits: k.saturating_sub(1) as usize,
        ..Default::default()
    }
}

/// Runs `f`, turning a panic inside the sdk into `Err(message)`.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("no message")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_words_are_the_big_endian_halves() {
        let mut d = [0u8; 32];
        d[15] = 1;
        d[31] = 2;
        d[0] = 0x80;
        let w = digest_words(&ModelDigest(d));
        assert_eq!(w[0], Fr::from_u128((0x80u128 << 120) | 1));
        assert_eq!(w[1], Fr::from(2));
    }
}
