//! Verifying a proof file against a verifier key.

use crate::error::VerifyError;
use crate::instances::{self, PublicValues};
use crate::key::VerifierKey;
use crate::proof::{ProofFile, PROOF_VERSION};
use crate::transcript::KeccakTranscript;
use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::plonk::verify_proof;
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::poly::kzg::multiopen::VerifierSHPLONK;
use halo2_proofs::poly::kzg::strategy::SingleStrategy;

/// What a valid proof establishes.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The proven public values.
    pub public: PublicValues,
    /// Dequantized inputs.
    pub inputs: Vec<Vec<f64>>,
    /// Dequantized outputs, per graph output.
    pub outputs: Vec<Vec<f64>>,
}

/// Checks the cryptographic proof for raw public values.
pub fn verify_raw(
    key: &VerifierKey,
    public: &[halo2_proofs::halo2curves::bn256::Fr],
    proof: &[u8],
) -> Result<(), VerifyError> {
    verify_keccak(&key.params, &key.vk, public, proof)
}

/// Checks a SHPLONK proof with the Keccak transcript (every byte must be read) against any
/// halo2 verifying key with one instance column: the model's, or a wrapper's.
pub fn verify_keccak(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    public: &[halo2_proofs::halo2curves::bn256::Fr],
    proof: &[u8],
) -> Result<(), VerifyError> {
    let run = || -> Result<usize, VerifyError> {
        let mut reader = proof;
        let mut transcript = KeccakTranscript::new(&mut reader);
        let strategy = SingleStrategy::new(params);
        verify_proof::<KZGCommitmentScheme<Bn256>, VerifierSHPLONK<'_, Bn256>, _, _, _>(
            params,
            vk,
            strategy,
            &[&[public]],
            &mut transcript,
        )
        .map_err(|e| VerifyError::Invalid(why_invalid(&e)))?;
        drop(transcript);
        Ok(reader.len())
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(extra)) => Err(VerifyError::Invalid(format!(
            "{extra} unread bytes after the proof"
        ))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(VerifyError::Invalid("malformed proof".into())),
    }
}

/// halo2's verification error in words.
fn why_invalid(e: &halo2_proofs::plonk::Error) -> String {
    use halo2_proofs::plonk::Error;
    match e {
        Error::ConstraintSystemFailure => {
            "its evaluations do not satisfy the circuit's constraints".into()
        }
        Error::Opening => "its polynomial openings do not check out".into(),
        Error::Transcript(io) => format!("its bytes do not read as a proof ({io})"),
        Error::InstanceTooLarge | Error::InvalidInstances => {
            "its public values do not fit the circuit".into()
        }
        other => format!("{other:?}"),
    }
}

/// Verifies a proof file: model and key identity, public values, listed inputs/outputs, and the
/// proof itself.
pub fn verify(key: &VerifierKey, proof: &ProofFile) -> Result<Verified, VerifyError> {
    if proof.is_wrapped() {
        return Err(VerifyError::Format(
            "this proof was made with --wrap (its model proof uses the wrapper's Poseidon transcript): verify it with the wrapper's key (`zkinfer verify` does when the model folder has one)".into(),
        ));
    }
    let verified = check_statement(key, proof)?;
    verify_raw(key, &verified.public.field, &proof.proof_bytes()?)?;
    Ok(verified)
}

/// Everything [`verify`] checks but the cryptographic proof: the format version, model digest
/// and key hash, that the listed inputs and outputs are values of the model, and that they
/// encode to the listed instances (what an on-chain verifier is called with).
pub fn check_statement(key: &VerifierKey, proof: &ProofFile) -> Result<Verified, VerifyError> {
    if proof.version != PROOF_VERSION {
        return Err(VerifyError::Format(format!(
            "version {} is not supported (expected {PROOF_VERSION})",
            proof.version
        )));
    }
    if proof.model_digest != key.digest {
        return Err(VerifyError::DigestMismatch {
            proof: proof.model_digest.to_string(),
            key: key.digest.to_string(),
        });
    }
    if proof.vk_sha256 != key.vk_sha256 {
        return Err(VerifyError::VkMismatch {
            proof: proof.vk_sha256.to_string(),
            key: key.vk_sha256.to_string(),
        });
    }
    let public = instances::from_listed(&key.io, &proof.inputs, &proof.outputs)?;
    instances::check(&public.field, &proof.instances)?;
    let (inputs, outputs) = (public.real_inputs(&key.io), public.real_outputs(&key.io));
    let shapes = |t: &[zkinfer_circuits::compiled::IoTensor]| {
        t.iter().map(|x| x.shape.clone()).collect::<Vec<_>>()
    };
    if proof.output_shapes != shapes(&key.io.outputs)
        || proof.input_shapes != shapes(&key.io.inputs)
    {
        return Err(VerifyError::ValuesMismatch {
            field: "output_shapes",
            detail: "shapes differ from the model".into(),
        });
    }
    Ok(Verified {
        public,
        inputs,
        outputs,
    })
}
