//! `--device`, shared by the commands that prove.

use crate::progress::Stderr;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::time::Duration;
use zkinfer_circuits::compiled::{write_output, ModelDigest};
use zkinfer_circuits::input::InputData;
use zkinfer_gpu::{prove_on, Backend, DeviceChoice, ProveRequest, Proved};
use zkinfer_prover::CpuMsm;
use zkinfer_verifier::ProofFile;
use zkinfer_wrap::backend::CpuLevels;
use zkinfer_wrap::workflow::prove_wrapped;

/// `--device` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DeviceValue {
    /// A usable GPU when the CUDA prover can prove the model, otherwise the CPU (saying why
    /// on stderr); also the CPU when the CUDA prover fails.
    Auto,
    /// The CPU, all cores.
    Cpu,
    /// A CUDA GPU; an error when none can be used.
    Cuda,
}

/// Which device proves.
#[derive(Args)]
pub struct DeviceArg {
    /// Device to prove on. GPUs are found through the CUDA driver (`libcuda.so.1`) and prove
    /// with the CUDA prover `zkinfer-cuda` installed next to `zkinfer` (built by
    /// scripts/build-cuda), for single-phase models (`compile --optimize gpu-prove-time`, or
    /// `--matvec-check direct`).
    #[arg(long, value_enum, default_value_t = DeviceValue::Auto)]
    pub device: DeviceValue,
    /// Stop the CUDA prover after this many seconds (then `--device auto` proves on the CPU,
    /// `cuda` fails). Default: no limit. Proving on the CPU has no limit.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub gpu_timeout: Option<u64>,
    /// The GPU to prove on, as `zkinfer devices` numbers them (the CUDA prover sees it as its
    /// only device). A GPU that is not there is an error with `--device cuda`, the CPU with
    /// `auto`.
    #[arg(long, value_name = "INDEX", default_value_t = 0)]
    pub gpu: u32,
}

impl DeviceArg {
    fn choice(&self) -> DeviceChoice {
        match self.device {
            DeviceValue::Auto => DeviceChoice::Auto,
            DeviceValue::Cpu => DeviceChoice::Cpu,
            DeviceValue::Cuda => DeviceChoice::Cuda,
        }
    }

    /// Chooses the backend (`circuit`: why the CUDA prover cannot prove the circuit, if it
    /// cannot, see [`zkinfer_gpu::cuda_blocker`]); prints the fall-back note once on stderr.
    pub fn choose(&self, circuit: Option<String>) -> Result<Backend> {
        let s = zkinfer_gpu::choose(self.choice(), self.gpu, circuit)?;
        if let Some(note) = s.note {
            eprintln!("note: {note}");
        }
        Ok(s.backend)
    }

    /// Proves `input` with the model folder `dir` on `backend` and writes the proof to `out`
    /// (with `auto`, on the CPU when the CUDA prover fails). Returns the proof and the device
    /// that made it.
    pub fn prove(
        &self,
        backend: &Backend,
        request: &ProveRequest,
        digest: ModelDigest,
    ) -> Result<Proved> {
        let on_cpu = || -> Result<ProofFile> {
            let progress = Stderr::new(request.quiet);
            let data = InputData::from_path(&request.input)?;
            let prover = zkinfer_prover::load_prover(&request.dir, CpuMsm, &progress)?;
            let proof = if request.wrap {
                prove_wrapped(prover, &request.dir, &data, &CpuLevels, &progress)?
            } else {
                zkinfer_prover::prove_input(&prover, &data, &progress)?
            };
            write_output(&request.out, proof.to_json().as_bytes())
                .with_context(|| format!("writing {}", request.out.display()))?;
            Ok(proof)
        };
        let limit = self.gpu_timeout.map(Duration::from_secs);
        prove_on(
            self.choice(),
            backend,
            limit,
            request,
            digest,
            on_cpu,
            |line| eprintln!("{line}"),
        )
    }
}
