//! `zkinfer verify-evm DIR --proof PROOF.json [--wrap]`

use super::evm_common::{load_key, SolcArg};
use super::verify::DEVELOPMENT_SRS_WARNING;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_contracts::{build_verifier, build_wrapper_verifier, Evm};
use zkinfer_verifier::{check_statement, ProofFile};
use zkinfer_wrap::verify::check_wrapper_words;
use zkinfer_wrap::workflow::load_wrap_vk;

/// Deploy the model's Solidity verifier in an in-process EVM and call it with a proof.
#[derive(Args)]
pub struct VerifyEvm {
    /// Model folder holding vk.bin (from `zkinfer setup`).
    pub dir: PathBuf,
    /// Proof file written by `zkinfer prove`.
    #[arg(long)]
    pub proof: PathBuf,
    /// Verify the wrapper proof (`prove --wrap`) with the wrapper's contract
    /// (`export-verifier --wrap`).
    #[arg(long)]
    pub wrap: bool,
    #[command(flatten)]
    pub solc: SolcArg,
}

impl VerifyEvm {
    /// Runs the command: exit 0 when the contract accepts, 1 when it rejects.
    pub fn run(self) -> Result<ExitCode> {
        let key = load_key(&self.dir)?;
        if key.development_srs() {
            eprintln!("{DEVELOPMENT_SRS_WARNING}");
        }
        let proof = ProofFile::load(&self.proof)?;
        // The contract sees only the instances: first check that they are what the proof file
        // lists (values of this model, its digest and key), as `zkinfer verify` does.
        if let Err(e) = check_statement(&key, &proof) {
            println!("rejected: {e}");
            return Ok(ExitCode::FAILURE);
        }
        let (calldata, c) = if self.wrap {
            let wrap = load_wrap_vk(&self.dir)?;
            // The wrapper's public values must be this model's digest and the listed values.
            if let Err(e) = check_wrapper_words(&key, &wrap, &proof) {
                println!("rejected: {e}");
                return Ok(ExitCode::FAILURE);
            }
            let w = proof.wrapper.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no wrapper proof (prove with --wrap)",
                    self.proof.display()
                )
            })?;
            (
                w.calldata()?,
                build_wrapper_verifier(&wrap, &self.solc.locate()?)?,
            )
        } else {
            (
                proof.calldata()?,
                build_verifier(&key, &self.solc.locate()?)?,
            )
        };
        let mut evm = Evm::new();
        let deployed = evm.deploy(c.bytecode.creation.clone())?;
        let call = evm.call(deployed.address, calldata)?;
        println!(
            "{}: {} gas to verify (whole transaction), contract {} bytes runtime / {} bytes creation, {} gas to deploy",
            if call.success { "accepted" } else { "rejected" },
            call.gas_used,
            c.bytecode.runtime.len(),
            c.bytecode.creation.len(),
            deployed.gas_used
        );
        Ok(if call.success {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
