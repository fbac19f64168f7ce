//! On-chain verification: a Solidity verifier per compiled model ([`generate`]), compiled with
//! the pinned solcjs ([`solc`]), deployed and called in an in-process EVM ([`evm`]), and the
//! consumer contract [`REGISTRY_SOURCE`] (`InferenceRegistry`).

pub mod build;
pub mod error;
pub mod evm;
pub mod generate;
pub mod solc;

pub use build::{build_verifier, build_wrapper_verifier, check_size, VerifierContract};
pub use error::ContractError;
pub use evm::{CallOutcome, Deployed, Evm, MAX_INITCODE_BYTES, MAX_RUNTIME_BYTES};
pub use generate::{
    verifier_solidity, verifier_stats, wrapper_solidity, wrapper_stats, VerifierStats,
    VERIFIER_CONTRACT,
};
pub use solc::{Bytecode, Solc};

/// Solidity source of `InferenceRegistry`, the consumer contract.
pub const REGISTRY_SOURCE: &str = include_str!("../sol/InferenceRegistry.sol");
