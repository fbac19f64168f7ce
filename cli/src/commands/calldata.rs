//! `zkinfer calldata PROOF.json`

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_verifier::ProofFile;

/// Print the EVM calldata of a proof (instances as 32-byte words, then the proof bytes).
#[derive(Args)]
pub struct Calldata {
    /// Proof file written by `zkinfer prove`.
    pub proof: PathBuf,
}

impl Calldata {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let proof = ProofFile::load(&self.proof)?;
        println!("0x{}", hex::encode(proof.calldata()?));
        Ok(ExitCode::SUCCESS)
    }
}
