//! Prover errors.

use thiserror::Error;
use zkinfer_circuits::compiled::ArtifactError;
use zkinfer_circuits::graph::EvalError;
use zkinfer_circuits::input::InputError;
use zkinfer_circuits::plan::LayoutError;
use zkinfer_verifier::VerifyError;

/// Why a [`crate::PlonkBackend`] made no proof.
#[derive(Debug, Error)]
pub enum BackendError {
    /// The backend cannot prove a circuit of this kind (e.g. two phases on the CUDA prover).
    #[error("{0}")]
    Unsupported(String),
    /// The proving system failed (its own message, e.g. an unsatisfied constraint).
    #[error("{0}")]
    Failed(String),
}

/// Everything that can go wrong in setup and proving.
#[derive(Debug, Error)]
pub enum ProverError {
    /// Reading or writing an artifact.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// A bad input file.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The input leaves the compiled model's range.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The compiled model does not lay out.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A problem with the structured reference string.
    #[error("SRS: {0}")]
    Srs(String),
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    Keygen(String),
    /// A key file belongs to another model.
    #[error("{what} belongs to model {found}, but the compiled model is {expected}; run `zkinfer setup` again")]
    KeyMismatch {
        what: String,
        found: String,
        expected: String,
    },
    /// A proving key written for an older circuit layout of the same model.
    #[error("{what}: made by an older zkinfer for a different circuit layout (key format {found}, this version uses {expected}); run `zkinfer setup` again")]
    StaleKey {
        what: String,
        found: u32,
        expected: u32,
    },
    /// Proof generation failed.
    #[error("proving failed: {0}")]
    Prove(String),
    /// The proving backend failed.
    #[error("proving failed: {0}")]
    Backend(BackendError),
    /// Self-check of a fresh proof failed.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

// Not `#[from]`: that would make the backend error the source too, and a chain of causes
// would print it twice.
impl From<BackendError> for ProverError {
    fn from(e: BackendError) -> Self {
        ProverError::Backend(e)
    }
}
