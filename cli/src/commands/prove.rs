//! `zkinfer prove DIR --input INPUT.json --out PROOF.json`

use crate::device::{prove_on_gpu, DeviceArg};
use crate::progress::Stderr;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::compiled::{write_atomic, CompiledModel};
use zkinfer_circuits::input::InputData;
use zkinfer_gpu::{Backend, CpuMsm};
use zkinfer_verifier::ProofFile;

/// Prove one inference.
#[derive(Args)]
pub struct Prove {
    /// Folder prepared by `zkinfer compile` and `zkinfer setup`.
    pub dir: PathBuf,
    /// Input in INPUT.json layout: {"input_data": [[...], ...]}, one flat list per graph input.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the proof (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Print only warnings and the result.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub device: DeviceArg,
}

impl Prove {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        // The device is chosen from the compiled shape alone, before any heavy loading.
        let shape = CompiledModel::load(&self.dir)?.shape;
        let on_cpu = || -> Result<ProofFile> {
            let progress = Stderr::new(self.quiet);
            let input = InputData::from_path(&self.input)?;
            let prover = zkinfer_prover::load_prover(&self.dir, CpuMsm, &progress)?;
            let proof = zkinfer_prover::prove_input(&prover, &input, &progress)?;
            write_atomic(&self.out, proof.to_json().as_bytes())
                .with_context(|| format!("writing {}", self.out.display()))?;
            Ok(proof)
        };
        let proof = match self.device.backend(&shape)? {
            Backend::Cpu => on_cpu()?,
            Backend::Cuda { helper, gpus } => {
                let gpu = prove_on_gpu(
                    &helper,
                    &gpus,
                    &self.dir,
                    &self.input,
                    &self.out,
                    self.quiet,
                );
                match gpu {
                    Ok(p) => p,
                    // `auto` still owes the user a proof.
                    Err(e) if self.device.is_auto() => {
                        eprintln!("note: proving on the CPU: the CUDA prover failed ({e:#})");
                        on_cpu()?
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        println!(
            "proved {} output tensor(s) of model {} -> {}",
            proof.outputs.len(),
            proof.model_digest,
            self.out.display()
        );
        for (i, (o, s)) in proof.outputs.iter().zip(&proof.output_shapes).enumerate() {
            println!(
                "  output #{i} {s:?}: {}",
                crate::commands::verify::preview(o)
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
