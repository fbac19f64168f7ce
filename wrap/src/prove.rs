//! Proving a wrapper: the aggregation circuit over one model proof, its own proof made with
//! the Keccak transcript (what the Solidity verifier replays).

use crate::circuit::{build, guarded};
use crate::inner::{snark, verify_model_proof};
use crate::keys::WrapProvingKey;
use crate::WrapError;
use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_proofs::halo2curves::bn256::Bn256;
use halo2_proofs::plonk::create_proof;
use halo2_proofs::poly::kzg::commitment::{KZGCommitmentScheme, ParamsKZG};
use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
use snark_verifier_sdk::CircuitExt;
use zkinfer_verifier::instances::encode;
use zkinfer_verifier::transcript::{KeccakChallenge, KeccakTranscript};
use zkinfer_verifier::{check_statement, ProofFile, VerifierKey, WrapperProof, WRAPPED_TRANSCRIPT};

/// The wrapper proof of the model proof in `proof` (made by [`crate::inner::PoseidonPlonk`]).
/// The model proof is checked first: a wrapper over an invalid one is refused, never made.
pub fn wrap(
    pk: &WrapProvingKey,
    params: &ParamsKZG<Bn256>,
    inner: &VerifierKey,
    proof: &ProofFile,
) -> Result<WrapperProof, WrapError> {
    if pk.digest != inner.digest || pk.inner_vk_sha256 != inner.vk_sha256 {
        return Err(WrapError::Keys(
            "wrap_pk.bin was made for another model or setup; run `zkinfer setup --wrap` again"
                .into(),
        ));
    }
    if proof.transcript != WRAPPED_TRANSCRIPT {
        return Err(WrapError::Prove(
            "the model proof was not made for a wrapper (prove with --wrap)".into(),
        ));
    }
    let statement = check_statement(inner, proof)?;
    let public = statement.public.field;
    let bytes = proof.proof_bytes()?;
    verify_model_proof(inner, &public, &bytes)?;
    let snark = snark(inner, &public, bytes)?;
    let circuit = guarded(|| {
        build(
            CircuitBuilderStage::Prover,
            pk.config,
            params,
            snark,
            &inner.digest,
        )
        .use_break_points(pk.break_points.clone())
    })
    .map_err(|e| WrapError::Prove(format!("building the wrapper circuit: {e}")))?;
    let instances = circuit.instances().into_iter().next().unwrap_or_default();
    let run = || -> Result<Vec<u8>, String> {
        let mut transcript = KeccakTranscript::new(Vec::new());
        create_proof::<
            KZGCommitmentScheme<Bn256>,
            ProverSHPLONK<'_, Bn256>,
            KeccakChallenge,
            _,
            _,
            _,
        >(
            params,
            &pk.pk,
            &[circuit],
            &[&[&instances]],
            rand::rngs::OsRng,
            &mut transcript,
        )
        .map_err(|e| format!("{e:?}"))?;
        Ok(transcript.into_inner())
    };
    let bytes = guarded(run)
        .map_err(WrapError::Prove)?
        .map_err(WrapError::Prove)?;
    Ok(WrapperProof {
        vk_sha256: pk.vk_sha256,
        instances: encode(&instances),
        proof: format!("0x{}", hex::encode(bytes)),
    })
}
