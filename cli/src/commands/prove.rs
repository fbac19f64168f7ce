//! `zkinfer prove DIR --input INPUT.json --out PROOF.json`

use crate::device::DeviceArg;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::compiled::CompiledModel;
use zkinfer_gpu::{cuda_blocker, cuda_hint, Backend, ProveRequest};

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
        // The device is chosen from the compiled model alone, before any heavy loading.
        let model = CompiledModel::load(&self.dir)?;
        let backend = self.device.choose(cuda_blocker(&model.shape))?;
        if let (Backend::Cuda { .. }, false, Some(hint)) =
            (&backend, self.quiet, cuda_hint(&model.shape))
        {
            eprintln!("note: {hint}");
        }
        let request = ProveRequest {
            dir: self.dir.clone(),
            input: self.input.clone(),
            out: self.out.clone(),
            quiet: self.quiet,
        };
        let proof = self.device.prove(&backend, &request, model.digest)?.proof;
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
