//! Why a proof or key was rejected.

use thiserror::Error;
use zkinfer_circuits::compiled::ArtifactError;

/// Verification failures. Every rejection is one of these; verification never panics.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The verifying key file is unreadable or corrupted.
    #[error(transparent)]
    Key(#[from] ArtifactError),
    /// The proof file is not a well-formed zkinfer proof.
    #[error("proof file: {0}")]
    Format(String),
    /// The proof is for another compiled model.
    #[error("the proof is for model {proof}, but this verifying key is for model {key}")]
    DigestMismatch { proof: String, key: String },
    /// The proof was made with keys from another setup.
    #[error("the proof was made with a different verifying key (vk sha256 {proof}, this key {key}); run verify with the model folder the proof came from")]
    VkMismatch { proof: String, key: String },
    /// Wrong number of public values.
    #[error("the proof has {got} public values, the model has {expected}")]
    InstanceCount { expected: usize, got: usize },
    /// A listed input or output that the model cannot produce (not on its fixed-point grid, or
    /// out of range).
    #[error("{field} tensor #{tensor} value #{index} ({value}) is not a value of this model (wrong scale or out of range)")]
    NotAValue {
        field: &'static str,
        tensor: usize,
        index: usize,
        value: f64,
    },
    /// The listed outputs or inputs disagree with the proven public values.
    #[error("'{field}' does not match the proven public values ({detail})")]
    ValuesMismatch { field: &'static str, detail: String },
    /// The key was made with the development SRS and a trusted one was required.
    #[error("the verifying key was made with the insecure development SRS (its secret is public: anyone can forge proofs for it); run `zkinfer setup` with --srs FILE from a trusted ceremony")]
    UntrustedSrs,
    /// The cryptographic check failed.
    #[error("the proof is invalid: {0}")]
    Invalid(String),
}
