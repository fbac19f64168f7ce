//! zkinfer's prover: SRS handling ([`srs`]), key generation ([`keys`]), witness and proving
//! ([`prove`]), and the model-folder workflow ([`workflow`]).

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
