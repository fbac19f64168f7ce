//! `--device`, shared by the commands that prove.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::Path;
use zkinfer_circuits::{CircuitShape, CompiledModel};
use zkinfer_gpu::{
    find_helper, probe_cuda, prove_with_helper, select, Backend, CudaReadiness, DeviceChoice, Probe,
};
use zkinfer_verifier::ProofFile;

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
    /// scripts/build-cuda), for models compiled with `--matvec-check direct`.
    #[arg(long, value_enum, default_value_t = DeviceValue::Auto)]
    pub device: DeviceValue,
}

/// Why the CUDA prover cannot prove a circuit of this shape, if it cannot.
pub fn cuda_blocker(shape: &CircuitShape) -> Option<String> {
    shape.multi_phase().then(|| {
        "the model was compiled with --matvec-check freivalds (a two-phase circuit) and the CUDA prover proves single-phase circuits only; compile with --matvec-check direct".to_string()
    })
}

impl DeviceArg {
    fn choice(&self) -> DeviceChoice {
        match self.device {
            DeviceValue::Auto => DeviceChoice::Auto,
            DeviceValue::Cpu => DeviceChoice::Cpu,
            DeviceValue::Cuda => DeviceChoice::Cuda,
        }
    }

    fn probe(&self) -> Probe {
        // `cpu` needs no look at the driver.
        match self.choice() {
            DeviceChoice::Cpu => Probe::Unavailable("not asked".into()),
            _ => probe_cuda(),
        }
    }

    /// Whether the user asked for the GPU (`cuda`).
    pub fn is_cuda(&self) -> bool {
        matches!(self.device, DeviceValue::Cuda)
    }

    /// Whether the user left the choice to zkinfer (`auto`).
    pub fn is_auto(&self) -> bool {
        matches!(self.device, DeviceValue::Auto)
    }

    /// Whether a GPU and the CUDA prover are there (so a model should be compiled for it).
    pub fn gpu_ready(&self) -> bool {
        let ready = CudaReadiness {
            helper: find_helper(),
            circuit: None,
        };
        matches!(
            select(self.choice(), &self.probe(), &ready),
            Ok(s) if matches!(s.backend, Backend::Cuda { .. })
        )
    }

    /// Chooses the backend for a circuit of `shape`; prints the fall-back note once on
    /// stderr.
    pub fn backend(&self, shape: &CircuitShape) -> Result<Backend> {
        let probe = self.probe();
        let ready = CudaReadiness {
            helper: match &probe {
                Probe::Found(_) => find_helper(),
                Probe::Unavailable(_) => Err("no GPU".into()),
            },
            circuit: cuda_blocker(shape),
        };
        let s = select(self.choice(), &probe, &ready)?;
        if let Some(note) = s.note {
            eprintln!("note: {note}");
        }
        Ok(s.backend)
    }
}

/// Proves with the CUDA prover: it writes to a fresh file beside `out`, which is checked to
/// be a proof of the model in `dir` and only then moved to `out` (a failure leaves `out` as
/// it was).
pub fn prove_on_gpu(
    helper: &Path,
    gpus: &str,
    dir: &Path,
    input: &Path,
    out: &Path,
    quiet: bool,
) -> Result<ProofFile> {
    if !quiet {
        eprintln!("proving on {gpus} with {}", helper.display());
    }
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".zkinfer-cuda.partial");
    let partial = out.with_file_name(name);
    let _ = std::fs::remove_file(&partial);
    let result = (|| -> Result<ProofFile> {
        prove_with_helper(helper, dir, input, &partial, quiet)?;
        let text = std::fs::read_to_string(&partial).with_context(|| {
            format!(
                "reading the proof the CUDA prover wrote to {}",
                partial.display()
            )
        })?;
        let proof = ProofFile::from_json(&text)?;
        let digest = CompiledModel::load(dir)?.digest.to_string();
        if proof.model_digest != digest {
            bail!(
                "the CUDA prover wrote a proof for model {}, not {digest}",
                proof.model_digest
            );
        }
        std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))?;
        Ok(proof)
    })();
    let _ = std::fs::remove_file(&partial);
    result
}
