//! The model proof a wrapper verifies: the model's own circuit and keys, proven with the
//! Poseidon transcript that snark-verifier-sdk's in-circuit verifier replays (the Keccak
//! transcript of ordinary proofs would cost the wrapper far more).

use crate::circuit::guarded;
use crate::WrapError;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine};
use halo2_proofs::plonk::{verify_proof, ProvingKey};
use halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_proofs::poly::kzg::multiopen::VerifierSHPLONK;
use halo2_proofs::poly::kzg::strategy::SingleStrategy;
use snark_verifier_sdk::halo2::{PoseidonTranscript, POSEIDON_SPEC};
use snark_verifier_sdk::snark_verifier::loader::native::NativeLoader;
use snark_verifier_sdk::snark_verifier::system::halo2::transcript::halo2::ChallengeScalar;
use snark_verifier_sdk::snark_verifier::system::halo2::{compile, Config};
use snark_verifier_sdk::Snark;
use zkinfer_circuits::ModelCircuit;
use zkinfer_prover::{prove_into, BackendError, G1Msm, PlonkBackend, RoutedParams};
use zkinfer_verifier::VerifierKey;

/// halo2-axiom's CPU prover with the sdk's Poseidon transcript (MSMs through `M`).
pub struct PoseidonPlonk<'a, M: G1Msm>(pub &'a RoutedParams<M>);

impl<M: G1Msm> PlonkBackend for PoseidonPlonk<'_, M> {
    fn name(&self) -> &'static str {
        "cpu, Poseidon transcript"
    }

    fn create_proof(
        &self,
        pk: &ProvingKey<G1Affine>,
        circuit: ModelCircuit,
        instances: &[Fr],
    ) -> Result<Vec<u8>, BackendError> {
        let mut transcript =
            PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(vec![], POSEIDON_SPEC.clone());
        prove_into::<M, ChallengeScalar<G1Affine>, _>(
            self.0,
            pk,
            circuit,
            instances,
            &mut transcript,
        )?;
        Ok(transcript.finalize())
    }
}

/// Checks a model proof made by [`PoseidonPlonk`] (every byte must be read).
pub fn verify_model_proof(key: &VerifierKey, public: &[Fr], proof: &[u8]) -> Result<(), WrapError> {
    let run = || -> Result<usize, String> {
        let mut reader = proof;
        let mut transcript = PoseidonTranscript::<NativeLoader, &mut &[u8]>::from_spec(
            &mut reader,
            POSEIDON_SPEC.clone(),
        );
        let params = key.kzg_params();
        verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, _>(
            params,
            key.halo2(),
            SingleStrategy::new(params),
            &[&[public]],
            &mut transcript,
        )
        .map_err(|e| format!("{e:?}"))?;
        drop(transcript);
        Ok(reader.len())
    };
    match guarded(run) {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(extra)) => Err(WrapError::Invalid(format!(
            "the model proof has {extra} unread bytes"
        ))),
        Ok(Err(e)) => Err(WrapError::Invalid(format!(
            "the model proof does not verify: {e}"
        ))),
        Err(_) => Err(WrapError::Invalid("the model proof is malformed".into())),
    }
}

/// The model proof as the sdk's aggregation circuit takes it.
pub fn snark(key: &VerifierKey, public: &[Fr], proof: Vec<u8>) -> Result<Snark, WrapError> {
    let protocol = guarded(|| {
        compile(
            key.kzg_params(),
            key.halo2(),
            Config::kzg().with_num_instance(vec![public.len()]),
        )
    })
    .map_err(|e| WrapError::Prove(format!("snark-verifier cannot read the model's key: {e}")))?;
    Ok(Snark::new(protocol, vec![public.to_vec()], proof))
}
