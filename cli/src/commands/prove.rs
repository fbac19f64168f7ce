//! `zkinfer prove DIR --input INPUT.json --out PROOF.json [--wrap]`

use crate::device::DeviceArg;
use crate::progress::Stderr;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::compiled::{write_atomic, CompiledModel};
use zkinfer_circuits::input::InputData;
use zkinfer_gpu::{cuda_blocker, cuda_hint, Backend, ProveRequest};
use zkinfer_prover::{load_prover, CpuMsm};
use zkinfer_verifier::ProofFile;
use zkinfer_wrap::workflow::prove_wrapped;

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
    /// (Poseidon transcript), then the wrapper proof; the proof file carries both. On the CPU.
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
        let proof = if self.wrap {
            self.prove_wrapped()?
        } else {
            self.prove_model(&model)?
        };
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

    /// The wrapped proof, on the CPU.
    fn prove_wrapped(&self) -> Result<ProofFile> {
        if matches!(self.device.device, crate::device::DeviceValue::Cuda) {
            anyhow::bail!("--wrap proves on the CPU only for now (the CUDA prover does not prove the wrapper circuit yet); drop --device cuda");
        }
        let progress = Stderr::new(self.quiet);
        let input = InputData::from_path(&self.input)?;
        let prover = load_prover(&self.dir, CpuMsm, &progress)?;
        let proof = prove_wrapped(prover, &self.dir, &input, &progress)?;
        write_atomic(&self.out, proof.to_json().as_bytes())
            .with_context(|| format!("writing {}", self.out.display()))?;
        Ok(proof)
    }

    /// The model proof on the chosen device.
    fn prove_model(&self, model: &CompiledModel) -> Result<ProofFile> {
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
        Ok(self.device.prove(&backend, &request, model.digest)?.proof)
    }
}
