//! Errors of on-chain verification tooling.

use thiserror::Error;

/// What can go wrong generating, compiling or running a verifier contract.
#[derive(Debug, Error)]
pub enum ContractError {
    /// The Solidity generator failed.
    #[error("cannot generate the Solidity verifier: {0}")]
    Generate(String),
    /// solcjs is missing or failed.
    #[error("solidity compiler: {0}")]
    Solc(String),
    /// The EVM rejected a deployment or call setup.
    #[error("EVM: {0}")]
    Evm(String),
    /// A contract exceeds the deployable size limits.
    #[error("{contract} does not deploy: {detail}")]
    TooLarge { contract: String, detail: String },
}
