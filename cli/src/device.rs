//! `--device`, shared by the commands that prove.

use crate::progress::Stderr;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::Path;
use std::time::Duration;
use zkinfer_circuits::compiled::{write_atomic, ModelDigest};
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::CircuitShape;
use zkinfer_gpu::{
    check_driver, find_helper, probe_cuda, prove_with_helper, select, Backend, CudaReadiness,
    DeviceChoice, GpuInfo, Probe, CUDA_TARGET,
};
use zkinfer_prover::CpuMsm;
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

/// Why the CUDA prover cannot prove a circuit of this shape, if it cannot.
pub fn cuda_blocker(shape: &CircuitShape) -> Option<String> {
    CUDA_TARGET.check_shape(shape).err().map(|e| e.to_string())
}

/// What the user should know before the CUDA prover proves a circuit of this shape, if
/// anything: below `2^min_k` rows it computes the commitments on the CPU.
pub fn cuda_hint(shape: &CircuitShape) -> Option<String> {
    let min = CUDA_TARGET.min_k;
    (!CUDA_TARGET.fills(shape.k)).then(|| {
        format!(
            "this circuit has 2^{} rows; below 2^{min} the CUDA prover computes the commitments on the CPU, which leaves the GPU less to do: `zkinfer compile --optimize gpu-prove-time` lays a model out for the GPU (or add `--k {min}` to the options it was compiled with)",
            shape.k
        )
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

    /// Chooses the backend (`circuit`: why the CUDA prover cannot prove the circuit, if it
    /// cannot, see [`cuda_blocker`]); prints the fall-back note once on stderr.
    pub fn choose(&self, circuit: Option<String>) -> Result<Backend> {
        // `cpu` needs no look at the driver.
        let probe = match self.choice() {
            DeviceChoice::Cpu => Probe::Unavailable("not asked".into()),
            _ => probe_cuda(),
        };
        let ready = CudaReadiness {
            helper: match &probe {
                Probe::Found(gpus) => check_driver(gpus).and_then(|()| find_helper()),
                Probe::Unavailable(_) => Err("no GPU".into()),
            },
            circuit,
        };
        let s = select(self.choice(), self.gpu, &probe, &ready)?;
        if let Some(note) = s.note {
            eprintln!("note: {note}");
        }
        Ok(s.backend)
    }

    /// Proves `input` with the model folder `dir` on `backend` and writes the proof to `out`;
    /// with `auto`, a failing CUDA prover is followed by the CPU (saying why). Returns the
    /// proof and the device that made it.
    pub fn prove(
        &self,
        backend: &Backend,
        dir: &Path,
        input: &Path,
        out: &Path,
        quiet: bool,
        digest: ModelDigest,
    ) -> Result<(ProofFile, String)> {
        let on_cpu = || -> Result<(ProofFile, String)> {
            let progress = Stderr::new(quiet);
            let data = InputData::from_path(input)?;
            let prover = zkinfer_prover::load_prover(dir, CpuMsm, &progress)?;
            let proof = zkinfer_prover::prove_input(&prover, &data, &progress)?;
            write_atomic(out, proof.to_json().as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            Ok((proof, "CPU".into()))
        };
        match backend {
            Backend::Cpu => on_cpu(),
            Backend::Cuda { helper, gpu: info } => {
                let gpu = Gpu {
                    helper,
                    gpu: info,
                    limit: self.gpu_timeout.map(Duration::from_secs),
                };
                match gpu.prove(dir, input, out, quiet, digest) {
                    Ok(p) => Ok((p, info.to_string())),
                    // `auto` still owes the user a proof.
                    Err(e) if self.choice() == DeviceChoice::Auto => {
                        eprintln!("note: proving on the CPU: the CUDA prover failed ({e:#})");
                        on_cpu()
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// The CUDA prover, the GPU it will use and its time limit.
struct Gpu<'a> {
    helper: &'a Path,
    gpu: &'a GpuInfo,
    limit: Option<Duration>,
}

impl Gpu<'_> {
    /// Proves with the CUDA prover: it writes to a fresh file beside `out`, which is checked
    /// to be a proof of the model (`digest`) and only then moved to `out` (a failure leaves
    /// `out` as it was).
    fn prove(
        &self,
        dir: &Path,
        input: &Path,
        out: &Path,
        quiet: bool,
        digest: ModelDigest,
    ) -> Result<ProofFile> {
        let Gpu { helper, gpu, limit } = *self;
        if !quiet {
            eprintln!("proving on {gpu} with {}", helper.display());
        }
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(".zkinfer-cuda.partial");
        let partial = out.with_file_name(name);
        let _ = std::fs::remove_file(&partial);
        let result = (|| -> Result<ProofFile> {
            prove_with_helper(helper, gpu, dir, input, &partial, quiet, limit)?;
            let text = std::fs::read_to_string(&partial).with_context(|| {
                format!(
                    "reading the proof the CUDA prover wrote to {}",
                    partial.display()
                )
            })?;
            let proof = ProofFile::from_json(&text)?;
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
        if result.is_err() {
            remove_temporaries(&partial);
        }
        result
    }
}

/// Removes what a stopped CUDA prover may have left of its atomic write of `path`
/// (`.NAME.tmp-PID` beside it).
fn remove_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
