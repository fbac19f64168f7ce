//! An in-process EVM (revm, mainnet rules, pure-Rust precompiles) to deploy and call contracts.

use crate::error::ContractError;
use revm::context::result::{ExecutionResult, Output};
use revm::context::TxEnv;
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::{Address, Bytes, TxKind};
use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};
use std::collections::HashMap;

/// EIP-170 limit on deployed code.
pub const MAX_RUNTIME_BYTES: usize = 24_576;
/// EIP-3860 limit on creation code.
pub const MAX_INITCODE_BYTES: usize = 49_152;

/// The account that sends [`Evm::deploy`] and [`Evm::call`] transactions (so a contract's
/// deployer is this address).
pub const CALLER: Address = Address::new([0x11; 20]);
const GAS_LIMIT: u64 = 16_000_000;

/// Result of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// Whether the call returned without reverting.
    pub success: bool,
    /// Gas used by the whole transaction (including the 21,000 base and calldata).
    pub gas_used: u64,
    /// Returned (or revert) data.
    pub output: Vec<u8>,
}

/// A deployed contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deployed {
    /// Its address.
    pub address: Address,
    /// Gas used by the deployment transaction.
    pub gas_used: u64,
}

/// An empty chain (gas is free, so any account can send transactions).
pub struct Evm {
    evm: revm::handler::MainnetEvm<revm::handler::MainnetContext<CacheDB<EmptyDB>>>,
    /// Next nonce of each account that has sent a transaction.
    nonces: HashMap<Address, u64>,
}

impl Default for Evm {
    fn default() -> Self {
        Self::new()
    }
}

impl Evm {
    /// A fresh chain.
    pub fn new() -> Self {
        let evm = Context::mainnet()
            .with_db(CacheDB::<EmptyDB>::default())
            .build_mainnet();
        Evm {
            evm,
            nonces: HashMap::new(),
        }
    }

    fn send(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Vec<u8>,
    ) -> Result<ExecutionResult, ContractError> {
        let nonce = self.nonces.entry(from).or_default();
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(Bytes::from(data))
            .gas_limit(GAS_LIMIT)
            .nonce(*nonce)
            .build_fill();
        let r = self
            .evm
            .transact_commit(tx)
            .map_err(|e| ContractError::Evm(format!("{e:?}")))?;
        *nonce += 1;
        Ok(r)
    }

    /// Deploys creation code (with constructor arguments appended, if any).
    pub fn deploy(&mut self, creation: Vec<u8>) -> Result<Deployed, ContractError> {
        if creation.len() > MAX_INITCODE_BYTES {
            return Err(ContractError::TooLarge {
                contract: "contract".into(),
                detail: format!(
                    "creation code is {} bytes, the limit is {MAX_INITCODE_BYTES}",
                    creation.len()
                ),
            });
        }
        let r = self.send(CALLER, TxKind::Create, creation)?;
        let gas_used = r.tx_gas_used();
        match r {
            ExecutionResult::Success {
                output: Output::Create(_, Some(address)),
                ..
            } => Ok(Deployed { address, gas_used }),
            other => Err(ContractError::Evm(format!("deployment failed: {other:?}"))),
        }
    }

    /// Calls a contract from [`CALLER`].
    pub fn call(&mut self, to: Address, data: Vec<u8>) -> Result<CallOutcome, ContractError> {
        self.call_from(CALLER, to, data)
    }

    /// Calls a contract from the account `from` (for access-control tests).
    pub fn call_from(
        &mut self,
        from: Address,
        to: Address,
        data: Vec<u8>,
    ) -> Result<CallOutcome, ContractError> {
        let r = self.send(from, TxKind::Call(to), data)?;
        Ok(CallOutcome {
            success: r.is_success(),
            gas_used: r.tx_gas_used(),
            output: r.output().map(|b| b.to_vec()).unwrap_or_default(),
        })
    }
}
