//! `zkinfer setup DIR [--srs FILE] [--wrap [--wrap-k K]]`

use crate::progress::Stderr;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_wrap::workflow::WrapLevels;

/// Generate keys for a compiled model.
#[derive(Args)]
pub struct Setup {
    /// Folder written by `zkinfer compile`.
    pub dir: PathBuf,
    /// halo2 KZG parameter file (BN254) with at least 2^k points; larger ones are downsized.
    /// Without it, an insecure deterministic development SRS is generated.
    #[arg(long)]
    pub srs: Option<PathBuf>,
    /// Also make the keys of a wrapper proof (`prove --wrap`), whose Solidity verifier has the
    /// same small shape for every model (`export-verifier --wrap`). Its SRS is larger
    /// (2^WRAP_K points): the development one, or --srs downsized.
    #[arg(long)]
    pub wrap: bool,
    /// Size exponent of the wrapper's last level, the one verified on-chain: larger means
    /// fewer columns, so less gas, but a slower wrapper proof and more memory.
    #[arg(long, value_name = "WRAP_K", default_value_t = zkinfer_wrap::DEFAULT_WRAP_K,
          value_parser = clap::value_parser!(u32).range(zkinfer_wrap::keys::MIN_WRAP_K as i64..=zkinfer_wrap::keys::MAX_WRAP_K as i64),
          requires = "wrap")]
    pub wrap_k: u32,
    /// Wrapper levels (1 to 4). Without it: 2, or 3 or 4 where the model proof is large
    /// enough that the last level would otherwise need more than one advice column; the first
    /// verifies the model proof, each next the one below, so the on-chain verifier has the same
    /// shape and gas for every model. 1 is faster; its verifier grows with the model. The
    /// first level is one size smaller than the last; the others have the last's size.
    #[arg(long, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=zkinfer_wrap::keys::MAX_WRAP_LEVELS as u64),
          requires = "wrap")]
    pub wrap_levels: Option<usize>,
    /// Print only warnings and the result.
    #[arg(long)]
    pub quiet: bool,
}

impl Setup {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        let progress = Stderr::new(self.quiet);
        if self.wrap {
            let w = zkinfer_wrap::workflow::setup_wrapped(
                &self.dir,
                self.srs.as_deref(),
                self.wrap_k,
                self.wrap_levels
                    .map_or(WrapLevels::Auto, WrapLevels::Exactly),
                &progress,
            )?;
            report(&w.model);
            println!(
                "wrapper: {} level(s), k = {:?}, {} advice column(s) in the last, keys in {:.2} s; wrap_pk.bin {} bytes",
                w.level_ks.len(),
                w.level_ks,
                w.advice_columns,
                w.keygen_s,
                w.pk_bytes
            );
            return Ok(ExitCode::SUCCESS);
        }
        let r = zkinfer_prover::setup(&self.dir, self.srs.as_deref(), &progress)?;
        report(&r);
        Ok(ExitCode::SUCCESS)
    }
}

/// Prints the model's setup summary.
fn report(r: &zkinfer_prover::SetupReport) {
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
}
