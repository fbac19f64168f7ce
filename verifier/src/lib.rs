//! zkinfer's verifier: small and verify-only. It owns the proof format ([`ProofFile`]), the
//! public-input encoding ([`instances`]), the verifier key bundle ([`VerifierKey`]) and the
//! transcript ([`transcript::KeccakTranscript`], EVM-compatible). Verification never panics:
//! every rejection is a [`VerifyError`].

pub mod error;
pub mod instances;
pub mod key;
pub mod proof;
pub mod srs;
pub mod transcript;
mod verify;

pub use error::VerifyError;
pub use key::{VerifierKey, VkHash, VK_FILE};
pub use proof::{ProofFile, WrapperProof, PROOF_VERSION, PROTOCOL, TRANSCRIPT, WRAPPED_TRANSCRIPT};
pub use verify::{check_statement, verify, verify_keccak, verify_raw, Verified};
