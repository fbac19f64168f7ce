//! `zkinfer export-verifier DIR --out Verifier.sol`

use super::evm_common::{load_key, SolcArg};
use super::verify::DEVELOPMENT_SRS_WARNING;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::compiled::write_atomic;
use zkinfer_contracts::{build_verifier, verifier_stats, VERIFIER_CONTRACT};

/// Generate a Solidity verifier for a model's verifying key.
#[derive(Args)]
pub struct ExportVerifier {
    /// Model folder holding vk.bin (from `zkinfer setup`).
    pub dir: PathBuf,
    /// Solidity file to write.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub solc: SolcArg,
}

impl ExportVerifier {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let key = load_key(&self.dir)?;
        let solc = self.solc.locate()?;
        let c = build_verifier(&key, &solc)?;
        let source = if key.development_srs() {
            eprintln!("{DEVELOPMENT_SRS_WARNING}");
            format!("// WARNING: made with zkinfer's insecure development SRS: anyone can forge proofs\n// that this contract accepts. Regenerate after `zkinfer setup --srs FILE`.\n{}", c.source)
        } else {
            c.source.clone()
        };
        write_atomic(&self.out, source.as_bytes())
            .with_context(|| format!("writing {}", self.out.display()))?;
        println!(
            "wrote {} (contract {VERIFIER_CONTRACT}, model {})",
            self.out.display(),
            key.digest
        );
        println!(
            "  size:     runtime {} bytes, creation {} bytes (solc 0.8.19, optimizer off)",
            c.bytecode.runtime.len(),
            c.bytecode.creation.len()
        );
        println!(
            "  calldata: {} public instance(s) of 32 bytes, then the proof (`zkinfer calldata PROOF.json`)",
            key.io.instance_count()
        );
        let st = verifier_stats(&key)?;
        println!(
            "  work:     {} commitments ({} in the key, {} in the proof; one ecMul each), {} evaluations",
            st.key_commitments + st.proof_commitments,
            st.key_commitments,
            st.proof_commitments,
            st.evaluations
        );
        Ok(ExitCode::SUCCESS)
    }
}
