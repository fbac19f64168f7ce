//! Helpers shared by the EVM test files: the shared models, solcjs, and ABI encoding of the
//! registry's calls.

#![allow(dead_code)] // each test file uses its own subset
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use revm::primitives::{keccak256, Address};
use std::path::PathBuf;
use zkinfer_contracts::{CallOutcome, Evm, Solc};

pub fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models")
        .join(name)
}

pub fn solc() -> Solc {
    Solc::locate(None).expect("run `npm ci --prefix contracts` first")
}

pub fn selector(sig: &str) -> Vec<u8> {
    keccak256(sig.as_bytes())[..4].to_vec()
}

pub fn word(bytes: &[u8]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[32 - bytes.len()..].copy_from_slice(bytes);
    w
}

pub fn submit_call(d: [u8; 32], calldata: &[u8]) -> Vec<u8> {
    let mut data = selector("submit(bytes32,bytes)");
    data.extend(d);
    data.extend(word(&[0x40]));
    data.extend(word(&(calldata.len() as u64).to_be_bytes()));
    data.extend(calldata);
    while !(data.len() - 4).is_multiple_of(32) {
        data.push(0);
    }
    data
}

/// Calls the view function `sig` with the 32-byte arguments `args`.
pub fn read(evm: &mut Evm, registry: Address, sig: &str, args: &[[u8; 32]]) -> Vec<u8> {
    let mut data = selector(sig);
    for a in args {
        data.extend(a);
    }
    let r = evm.call(registry, data).unwrap();
    assert!(r.success, "{sig} reverted");
    r.output
}

/// Whether the call reverted with the custom error `sig` (no arguments).
pub fn reverted_with(r: &CallOutcome, sig: &str) -> bool {
    !r.success && r.output == selector(sig)
}
