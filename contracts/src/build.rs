//! A deployable verifier contract for a verifying key: generated, compiled with the pinned
//! solcjs and checked against the EVM's code-size limits before anyone ships it.

use crate::error::ContractError;
use crate::evm::{MAX_INITCODE_BYTES, MAX_RUNTIME_BYTES};
use crate::generate::{verifier_solidity, VERIFIER_CONTRACT};
use crate::solc::{Bytecode, Solc};
use zkinfer_verifier::VerifierKey;

/// A generated verifier: its Solidity source and bytecode.
#[derive(Clone, Debug)]
pub struct VerifierContract {
    /// Solidity source (contract [`VERIFIER_CONTRACT`]).
    pub source: String,
    /// Compiled bytecode.
    pub bytecode: Bytecode,
}

/// Generates and compiles the verifier of `key`; fails unless it deploys on Ethereum
/// (runtime ≤ 24,576 bytes, EIP-170; creation code ≤ 49,152 bytes, EIP-3860).
pub fn build_verifier(key: &VerifierKey, solc: &Solc) -> Result<VerifierContract, ContractError> {
    let source = verifier_solidity(key)?;
    let bytecode = solc.compile(&source, VERIFIER_CONTRACT)?;
    check_size(VERIFIER_CONTRACT, &bytecode)?;
    Ok(VerifierContract { source, bytecode })
}

/// Rejects bytecode above the deployment limits, saying how to shrink it.
pub fn check_size(name: &str, code: &Bytecode) -> Result<(), ContractError> {
    let advice = "recompile the model with `zkinfer compile --optimize verify-gas` (fewer columns) and `--public-io packed`";
    if code.runtime.len() > MAX_RUNTIME_BYTES {
        return Err(ContractError::TooLarge {
            contract: name.into(),
            detail: format!("its runtime code is {} bytes, the limit is {MAX_RUNTIME_BYTES} (EIP-170); {advice}", code.runtime.len()),
        });
    }
    if code.creation.len() > MAX_INITCODE_BYTES {
        return Err(ContractError::TooLarge {
            contract: name.into(),
            detail: format!("its creation code is {} bytes, the limit is {MAX_INITCODE_BYTES} (EIP-3860); {advice}", code.creation.len()),
        });
    }
    Ok(())
}
