//! `zkinfer prove DIR --input INPUT.json --out PROOF.json [--wrap]`

use crate::device::DeviceArg;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::compiled::CompiledModel;
use zkinfer_gpu::{cuda_blocker, cuda_hint, Backend, ProveRequest};
use zkinfer_verifier::ProofFile;
use zkinfer_wrap::workflow::wrap_keys_present;

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
    /// Also prove the wrapper (keys from `setup --wrap`): the model proof is made for it
    /// (Poseidon transcript, on the CPU), then the wrapper proof on the device; the proof file
    /// carries both.
    #[arg(long)]
    pub wrap: bool,
    #[command(flatten)]
    pub device: DeviceArg,
}

impl Prove {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        // The device is chosen from the compiled model alone, before any heavy loading.
        let model = CompiledModel::load(&self.dir)?;
        let proof = self.prove(&model)?;
        println!(
            "proved {} output tensor(s) of model {}{} -> {}",
            proof.outputs.len(),
            proof.model_digest,
            if self.wrap { ", wrapped" } else { "" },
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

    /// The proof on the chosen device. With `--wrap` the model proof for the wrapper is made
    /// on the CPU and the wrapper's levels (single-phase circuits of at least 2^18 rows, which
    /// the CUDA prover proves whatever the model) on the device.
    fn prove(&self, model: &CompiledModel) -> Result<ProofFile> {
        let blocker = if self.wrap {
            wrap_keys_present(&self.dir)?;
            None
        } else {
            cuda_blocker(&model.shape)
        };
        let backend = self.device.choose(blocker)?;
        if let (Backend::Cuda { .. }, false, false, Some(hint)) =
            (&backend, self.quiet, self.wrap, cuda_hint(&model.shape))
        {
            eprintln!("note: {hint}");
        }
        let request = ProveRequest {
            dir: self.dir.clone(),
            input: self.input.clone(),
            out: self.out.clone(),
            quiet: self.quiet,
            wrap: self.wrap,
        };
        Ok(self.device.prove(&backend, &request, model.digest)?.proof)
    }
}
