//! `zkinfer export-verifier DIR --out Verifier.sol [--wrap]`

use super::evm_common::{load_key, SolcArg};
use super::verify::DEVELOPMENT_SRS_WARNING;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::compiled::write_output;
use zkinfer_contracts::{
    build_verifier, build_wrapper_verifier, verifier_stats, wrapper_stats, VERIFIER_CONTRACT,
};
use zkinfer_wrap::workflow::load_wrap_vk;

/// Generate a Solidity verifier for a model's verifying key.
#[derive(Args)]
pub struct ExportVerifier {
    /// Model folder holding vk.bin (from `zkinfer setup`).
    pub dir: PathBuf,
    /// Solidity file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The wrapper's verifier (keys from `setup --wrap`): one small contract shape for every
    /// model, called with `calldata --wrap`.
    #[arg(long)]
    pub wrap: bool,
    #[command(flatten)]
    pub solc: SolcArg,
}

impl ExportVerifier {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let key = load_key(&self.dir)?;
        let solc = self.solc.locate()?;
        let wrap = if self.wrap {
            let w = load_wrap_vk(&self.dir)?;
            w.check_wraps(&key)?;
            Some(w)
        } else {
            None
        };
        let c = match &wrap {
            Some(w) => build_wrapper_verifier(w, &solc)?,
            None => build_verifier(&key, &solc)?,
        };
        let source = if key.development_srs() {
            eprintln!("{DEVELOPMENT_SRS_WARNING}");
            format!("// WARNING: made with zkinfer's insecure development SRS: anyone can forge proofs\n// that this contract accepts. Regenerate after `zkinfer setup --srs FILE`.\n{}", c.source)
        } else {
            c.source.clone()
        };
        write_output(&self.out, source.as_bytes())
            .with_context(|| format!("writing {}", self.out.display()))?;
        println!(
            "wrote {} (contract {VERIFIER_CONTRACT}, {}model {})",
            self.out.display(),
            if wrap.is_some() { "wrapper of " } else { "" },
            key.digest
        );
        println!(
            "  size:     runtime {} bytes, creation {} bytes (solc 0.8.19, optimizer off)",
            c.bytecode.runtime.len(),
            c.bytecode.creation.len()
        );
        let (instances, st, calldata) = match &wrap {
            Some(w) => (w.instance_count(), wrapper_stats(w)?, "calldata --wrap"),
            None => (key.io.instance_count(), verifier_stats(&key)?, "calldata"),
        };
        println!(
            "  calldata: {instances} public instance(s) of 32 bytes, then the proof (`zkinfer {calldata} PROOF.json`)"
        );
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
