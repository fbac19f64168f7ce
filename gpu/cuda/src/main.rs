//! `zkinfer-cuda`: proves zkinfer model folders on an NVIDIA GPU with halo2-axiom-gpu.
//!
//! `zkinfer prove --device auto|cuda` starts `zkinfer-cuda prove` after it has found a GPU;
//! `info` says how this build was made (what `zkinfer devices` shows). The differential checks
//! and benchmarks are `zkinfer-cuda-check` (`scripts/gpu-check` runs them).

use anyhow::{Context, Result};
use clap::Parser;
use std::process::ExitCode;
use zkinfer_circuits::compiled::write_output;
use zkinfer_circuits::input::InputData;
use zkinfer_cuda::run::{check_kernels, gpu_proof, gpu_wrapped, Stderr};
use zkinfer_cuda::CUDA_ARCH;
use zkinfer_gpu::{HelperCommand, HelperInfo, ProveRequest};
use zkinfer_prover::{load_prover, CpuMsm};

/// zkinfer's CUDA prover.
#[derive(Parser)]
#[command(name = "zkinfer-cuda", version)]
struct Cli {
    /// The subcommands `zkinfer` starts it with (`zkinfer_gpu::contract`).
    #[command(subcommand)]
    command: HelperCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        HelperCommand::Info => info(),
        HelperCommand::Prove(request) => check_kernels().and_then(|()| prove_cmd(&request)),
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

fn prove_cmd(request: &ProveRequest) -> Result<ExitCode> {
    let ProveRequest {
        dir,
        input,
        out,
        quiet,
        wrap,
    } = request;
    let progress = Stderr { quiet: *quiet };
    let input = InputData::from_path(input)?;
    let prover = load_prover(dir, CpuMsm, &progress)?;
    let proof = if *wrap {
        gpu_wrapped(prover, dir, &input, &progress)?
    } else {
        gpu_proof(&prover, dir, &input, &progress)?
    };
    write_output(out, proof.to_json().as_bytes())
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(ExitCode::SUCCESS)
}
