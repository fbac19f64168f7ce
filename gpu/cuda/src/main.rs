//! `zkinfer-cuda`: proves zkinfer model folders on an NVIDIA GPU with halo2-axiom-gpu.
//!
//! `zkinfer prove --device auto|cuda` starts `zkinfer-cuda prove` after it has found a GPU;
//! `info` says how this build was made (what `zkinfer devices` shows). The differential checks
//! and benchmarks are `zkinfer-cuda-check` (`scripts/gpu-check` runs them).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zkinfer_circuits::compiled::write_atomic;
use zkinfer_circuits::input::InputData;
use zkinfer_cuda::run::{check_kernels, gpu_proof, Stderr};
use zkinfer_cuda::CUDA_ARCH;
use zkinfer_gpu::HelperInfo;
use zkinfer_prover::{load_prover, CpuMsm};

/// zkinfer's CUDA prover.
#[derive(Parser)]
#[command(name = "zkinfer-cuda", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prove one inference on the GPU (what `zkinfer prove --device cuda` runs).
    Prove {
        /// Folder prepared by `zkinfer compile --optimize gpu-prove-time` (or `--matvec-check
        /// direct`) and `zkinfer setup`.
        dir: PathBuf,
        /// Input in INPUT.json layout.
        #[arg(long)]
        input: PathBuf,
        /// Where to write the proof (JSON).
        #[arg(long)]
        out: PathBuf,
        /// Print only warnings.
        #[arg(long)]
        quiet: bool,
    },
    /// How this build was made, as one JSON line (what `zkinfer devices` shows): version and
    /// the CUDA_ARCH its kernels were compiled for.
    Info,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Info => info(),
        Command::Prove {
            dir,
            input,
            out,
            quiet,
        } => check_kernels().and_then(|()| prove_cmd(&dir, &input, &out, quiet)),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn info() -> Result<ExitCode> {
    let info = HelperInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        cuda_arch: CUDA_ARCH.to_string(),
    };
    println!("{}", serde_json::to_string(&info)?);
    Ok(ExitCode::SUCCESS)
}

fn prove_cmd(dir: &Path, input: &Path, out: &Path, quiet: bool) -> Result<ExitCode> {
    let progress = Stderr { quiet };
    let input = InputData::from_path(input)?;
    let prover = load_prover(dir, CpuMsm, &progress)?;
    let proof = gpu_proof(&prover, dir, &input, &progress)?;
    write_atomic(out, proof.to_json().as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(ExitCode::SUCCESS)
}
