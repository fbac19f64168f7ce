//! `zkinfer calldata PROOF.json [--wrap]`

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
    /// The calldata of the wrapper proof (`prove --wrap`), for `export-verifier --wrap`'s
    /// contract.
    #[arg(long)]
    pub wrap: bool,
}

impl Calldata {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let proof = ProofFile::load(&self.proof)?;
        let bytes = if self.wrap {
            proof
                .wrapper
                .as_ref()
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} has no wrapper proof (prove with --wrap)",
                        self.proof.display()
                    )
                })?
                .calldata()?
        } else {
            proof.calldata()?
        };
        println!("0x{}", hex::encode(bytes));
        Ok(ExitCode::SUCCESS)
    }
}
