//! A deployable verifier contract for a verifying key: generated, compiled with the pinned
//! solcjs and checked against the EVM's code-size limits before anyone ships it.

use crate::error::ContractError;
use crate::evm::{MAX_INITCODE_BYTES, MAX_RUNTIME_BYTES};
use crate::generate::{verifier_solidity, wrapper_solidity, VERIFIER_CONTRACT};
use crate::solc::{Bytecode, Solc};
use zkinfer_circuits::public_io::PublicIo;
use zkinfer_verifier::VerifierKey;
use zkinfer_wrap::WrapVerifierKey;

/// A generated verifier: its Solidity source and bytecode.
#[derive(Clone, Debug)]
pub struct VerifierContract {
    /// Solidity source (contract [`VERIFIER_CONTRACT`]).
    pub source: String,
    /// Compiled bytecode.
    pub bytecode: Bytecode,
}

/// Generates and compiles the verifier of `key`; fails unless it deploys on Ethereum
/// (runtime ≤ 24,576 bytes, EIP-170; creation code ≤ 49,152 bytes, EIP-3860), saying what
/// could shrink it.
pub fn build_verifier(key: &VerifierKey, solc: &Solc) -> Result<VerifierContract, ContractError> {
    let source = verifier_solidity(key)?;
    let bytecode = solc.compile(&source, VERIFIER_CONTRACT)?;
    let advice = shrink_advice(key.shape.public_io, key.io.instance_count());
    check_size(VERIFIER_CONTRACT, &bytecode).map_err(|e| match e {
        ContractError::TooLarge { contract, detail } => ContractError::TooLarge {
            contract,
            detail: format!("{detail}; {advice}"),
        },
        other => other,
    })?;
    Ok(VerifierContract { source, bytecode })
}

/// Generates and compiles a wrapper's verifier; fails unless it deploys on Ethereum.
pub fn build_wrapper_verifier(
    key: &WrapVerifierKey,
    solc: &Solc,
) -> Result<VerifierContract, ContractError> {
    let source = wrapper_solidity(key)?;
    let bytecode = solc.compile(&source, VERIFIER_CONTRACT)?;
    check_size(VERIFIER_CONTRACT, &bytecode).map_err(|e| match e {
        ContractError::TooLarge { contract, detail } => ContractError::TooLarge {
            contract,
            detail: format!("{detail}; a wrapper of larger k has fewer columns (`zkinfer setup --wrap --wrap-k`)"),
        },
        other => other,
    })?;
    Ok(VerifierContract { source, bytecode })
}

/// What may make a model's verifier smaller, given its public I/O encoding and instance count.
pub fn shrink_advice(public_io: PublicIo, instances: usize) -> String {
    match public_io {
        PublicIo::Plain | PublicIo::Packed if instances > 2 => format!(
            "recompile the model with `zkinfer compile --optimize verify-gas --public-io hashed` (fewer columns; 2 public words instead of {instances})"
        ),
        _ => "recompile the model with `zkinfer compile --optimize verify-gas` (fewer columns) if it was not; or verify a wrapper proof on-chain instead (`zkinfer setup --wrap`, `prove --wrap`, `export-verifier --wrap`), or off-chain with `zkinfer verify`".into(),
    }
}

/// Rejects bytecode above the deployment limits.
pub fn check_size(name: &str, code: &Bytecode) -> Result<(), ContractError> {
    if code.runtime.len() > MAX_RUNTIME_BYTES {
        return Err(ContractError::TooLarge {
            contract: name.into(),
            detail: format!(
                "its runtime code is {} bytes, the limit is {MAX_RUNTIME_BYTES} (EIP-170)",
                code.runtime.len()
            ),
        });
    }
    if code.creation.len() > MAX_INITCODE_BYTES {
        return Err(ContractError::TooLarge {
            contract: name.into(),
            detail: format!(
                "its creation code is {} bytes, the limit is {MAX_INITCODE_BYTES} (EIP-3860)",
                code.creation.len()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_what_was_not_done_yet() {
        let many = shrink_advice(PublicIo::Packed, 432);
        assert!(
            many.contains("--public-io hashed") && many.contains("432"),
            "{many}"
        );
        let plain = shrink_advice(PublicIo::Plain, 200);
        assert!(plain.contains("--public-io hashed"), "{plain}");
        for (io, n) in [(PublicIo::Hashed, 2), (PublicIo::Packed, 2)] {
            let done = shrink_advice(io, n);
            assert!(
                !done.contains("--public-io") && done.contains("zkinfer verify"),
                "{done}"
            );
        }
    }
}
