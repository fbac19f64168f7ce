//! zkinfer's prover: SRS handling ([`srs`]), key generation ([`keys`]), witness and proving
//! ([`prove`]), the model-folder workflow ([`workflow`]) and the checks every proving backend
//! must pass ([`conformance`]). With the `cuda` feature, the
//! CUDA prover `cuda::CudaPlonk` (halo2-axiom-gpu), used by the `zkinfer-cuda` executable.

pub mod conformance;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod error;
pub mod keys;
pub mod prove;
pub mod srs;
pub mod workflow;

pub use error::ProverError;
pub use prove::{CpuPlonk, PlonkBackend, Prover, Witness};
pub use srs::Srs;
pub use workflow::{
    load_prover, prove_input, prove_input_with, setup, Progress, SetupReport, Silent,
};
