//! `zkinfer setup DIR [--srs FILE]`

use crate::progress::Stderr;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Generate keys for a compiled model.
#[derive(Args)]
pub struct Setup {
    /// Folder written by `zkinfer compile`.
    pub dir: PathBuf,
    /// halo2 KZG parameter file (BN254) with at least 2^k points; larger ones are downsized.
    /// Without it, an insecure deterministic development SRS is generated.
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// Print only warnings and the result.
    #[arg(long)]
    pub quiet: bool,
}

impl Setup {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let r = zkinfer_prover::setup(&self.dir, self.srs.as_deref(), &Stderr::new(self.quiet))?;
        println!(
            "setup done: k = {}, {} SRS, keys in {:.2} s; pk.bin {} bytes, vk.bin {} bytes",
            r.k,
            if r.insecure_srs {
                "development (INSECURE)"
            } else {
                "user-supplied"
            },
            r.keygen_s,
            r.pk_bytes,
            r.vk_bytes
        );
        Ok(ExitCode::SUCCESS)
    }
}
