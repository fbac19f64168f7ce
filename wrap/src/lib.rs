//! Wrapper proofs (`--wrap`): the model's proof, made with the Poseidon transcript, is verified
//! inside a second halo2 circuit — snark-verifier-sdk's aggregation circuit — whose own proof
//! (Keccak transcript) is what a chain checks. Whatever the model, that verifier has the same
//! small shape: a KZG accumulator, the model digest and the model's public values.
//!
//! - [`inner`]: the model proof for the wrapper (a [`PlonkBackend`](zkinfer_prover::PlonkBackend)
//!   with the Poseidon transcript) and its native check.
//! - [`circuit`]: the wrapper circuit and the layout of its public values.
//! - [`keys`]: the wrapper's SRS, proving and verifying keys (`setup --wrap`).
//! - [`prove`]: the wrapper proof of one model proof.
//! - [`backend`]: the seam a wrapper level is proven through ([`backend::LevelProver`]: the
//!   CPU here, the GPU in `zkinfer-cuda`).
//! - [`accumulator`]: the final pairing check of the accumulator the wrapper exposes.
//! - [`verify`]: checking a wrapped proof file (model proof, wrapper proof, and that they agree).

pub mod accumulator;
pub mod backend;
pub mod circuit;
pub mod error;
pub mod inner;
pub mod keys;
pub mod prove;
pub mod verify;
pub mod workflow;

pub use error::WrapError;
pub use keys::{WrapProvingKey, WrapVerifierKey, DEFAULT_WRAP_K};
pub use verify::verify_wrapped;
