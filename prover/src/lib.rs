//! zkinfer's prover: SRS handling ([`srs`]), key generation ([`keys`]), witness and proving
//! ([`prove`]), and the model-folder workflow ([`workflow`]). With the `cuda` feature, the
//! CUDA prover `cuda::CudaPlonk` (halo2-axiom-gpu), used by the `zkinfer-cuda` executable.

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
