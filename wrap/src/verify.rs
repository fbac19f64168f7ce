//! Checking a wrapped proof file: the statement (model, key, listed values), the model proof
//! (Poseidon transcript), the wrapper proof (Keccak transcript) with its accumulator's pairing,
//! and that the wrapper's public values are the model digest and the model proof's own.

use crate::accumulator::decide;
use crate::circuit::{digest_words, ACCUMULATOR_WORDS, MODEL_WORDS_START};
use crate::inner::verify_model_proof;
use crate::keys::WrapVerifierKey;
use crate::WrapError;
use halo2_proofs::halo2curves::bn256::Fr;
use zkinfer_verifier::{
    check_statement, verify_keccak, ProofFile, Verified, VerifierKey, WRAPPED_TRANSCRIPT,
};

/// Verifies a proof file made with `prove --wrap`.
pub fn verify_wrapped(
    inner: &VerifierKey,
    wrap: &WrapVerifierKey,
    proof: &ProofFile,
) -> Result<Verified, WrapError> {
    let (verified, words) = check_wrapper_words(inner, wrap, proof)?;
    verify_model_proof(inner, &verified.public.field, &proof.proof_bytes()?)?;
    let wrapper = proof.wrapper.as_ref().ok_or_else(no_wrapper)?;
    verify_keccak(
        wrap.kzg_params(),
        wrap.halo2(),
        &words,
        &wrapper.proof_bytes()?,
    )
    .map_err(|e| WrapError::Invalid(e.to_string()))?;
    let (g2, s_g2) = wrap.g2_points();
    decide(&words, g2, s_g2)?;
    Ok(verified)
}

fn no_wrapper() -> WrapError {
    WrapError::Invalid("the proof file has no wrapper proof (prove with --wrap)".into())
}

/// Checks that the wrapper's listed public values are what its verifier must be called with
/// for this statement: the wrapper key's shape, this model's digest and the model proof's
/// public values (recomputed from the listed inputs and outputs); also the statement checks of
/// [`check_statement`]. Returns the statement and the wrapper's public values.
pub fn check_wrapper_words(
    inner: &VerifierKey,
    wrap: &WrapVerifierKey,
    proof: &ProofFile,
) -> Result<(Verified, Vec<Fr>), WrapError> {
    let wrapper = proof.wrapper.as_ref().ok_or_else(no_wrapper)?;
    if proof.transcript != WRAPPED_TRANSCRIPT {
        return Err(WrapError::Invalid(format!(
            "the model proof's transcript is '{}', a wrapper verifies '{WRAPPED_TRANSCRIPT}'",
            proof.transcript
        )));
    }
    wrap.check_wraps(inner)?;
    if wrapper.vk_sha256 != wrap.vk_sha256 {
        return Err(WrapError::Invalid(format!(
            "made with wrapper key {}, this folder's is {}",
            wrapper.vk_sha256, wrap.vk_sha256
        )));
    }
    let verified = check_statement(inner, proof)?;
    let words = wrapper.field_instances()?;
    if words.len() != wrap.instance_count() {
        return Err(WrapError::Invalid(format!(
            "{} public values, the wrapper has {}",
            words.len(),
            wrap.instance_count()
        )));
    }
    if words[ACCUMULATOR_WORDS..MODEL_WORDS_START] != digest_words(&inner.digest) {
        return Err(WrapError::Invalid(
            "its public model digest is not this model's".into(),
        ));
    }
    if words[MODEL_WORDS_START..] != verified.public.field[..] {
        return Err(WrapError::Invalid(
            "its public values are not the model proof's".into(),
        ));
    }
    Ok((verified, words))
}
