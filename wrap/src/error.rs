//! Wrapper errors.

use thiserror::Error;
use zkinfer_circuits::compiled::ArtifactError;
use zkinfer_prover::ProverError;
use zkinfer_verifier::VerifyError;

/// Everything that can go wrong making or checking a wrapper proof.
#[derive(Debug, Error)]
pub enum WrapError {
    /// Reading or writing an artifact.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// Setting up or proving the model.
    #[error(transparent)]
    Prover(#[from] ProverError),
    /// The model proof or its statement does not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Key generation of the wrapper circuit failed.
    #[error("wrapper key generation failed: {0}")]
    Keygen(String),
    /// Proving the wrapper failed.
    #[error("wrapper proving failed: {0}")]
    Prove(String),
    /// The wrapper proof does not verify or does not match the model proof.
    #[error("wrapper proof rejected: {0}")]
    Invalid(String),
    /// The wrapper's keys are missing or belong to another model or setup.
    #[error("{0}")]
    Keys(String),
}
