//! zkinfer's prover: SRS handling ([`srs`]), key generation ([`keys`]), witness and proving
//! ([`prove`]), the model-folder workflow ([`workflow`]) and the checks every proving backend
//! must pass ([`conformance`]). Proving goes through one seam, [`PlonkBackend`]: the CPU
//! prover here ([`CpuPlonk`], its commitments routed through an [`Msm`] by [`kzg`]), the CUDA
//! prover in `zkinfer-cuda` (crate `gpu/cuda`).

pub mod conformance;
mod devsrs;
pub mod error;
pub mod keys;
pub mod kzg;
pub mod msm;
pub mod pk_codec;
pub mod prove;
pub mod srs;
pub mod workflow;

pub use error::{BackendError, ProverError};
pub use kzg::{RoutedKzg, RoutedParams, RoutedShplonk};
pub use msm::{CpuMsm, G1Msm, Msm};
pub use prove::{prove_into, CpuPlonk, PlonkBackend, Prover, Witness};
pub use srs::Srs;
pub use workflow::{
    load_prover, prove_input, prove_input_with, setup, Progress, SetupReport, Silent,
};
