//! One module per subcommand.

pub mod calldata;
pub mod compile;
pub mod demo;
pub mod devices;
mod evm_common;
pub mod export_verifier;
pub mod inspect;
pub mod prove;
pub mod setup;
pub mod verify;
pub mod verify_evm;
