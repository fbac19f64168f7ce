//! Proving on the chosen backend: the CUDA prover's run (its output checked before it replaces
//! anything) and `--device auto`'s fall-back to the CPU when it fails.

use crate::contract::{ContractError, HelperEnv, ProveRequest};
use crate::device::{Backend, DeviceChoice, GpuInfo};
use crate::helper::{prove_with_helper, HelperError};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use zkinfer_circuits::compiled::ModelDigest;
use zkinfer_verifier::{ProofFile, VerifyError};

/// The CUDA prover's run failed, or what it wrote is not a proof of the model.
#[derive(Debug, Error)]
pub enum GpuProveError {
    /// The chosen GPU cannot be handed to it.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// It could not start, failed or ran past its time limit.
    #[error(transparent)]
    Helper(#[from] HelperError),
    /// Its output cannot be read.
    #[error("reading the proof the CUDA prover wrote to {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Its output is not a proof file.
    #[error("the CUDA prover wrote no proof file: {0}")]
    Proof(#[from] VerifyError),
    /// Its output proves another model.
    #[error("the CUDA prover wrote a proof for model {got}, not {want}")]
    OtherModel {
        /// The proof's model.
        got: ModelDigest,
        /// The model asked for.
        want: ModelDigest,
    },
    /// The proof cannot be moved to its place.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// One proof asked of the CUDA prover `helper` on `gpu`, stopped after `limit`.
#[derive(Clone, Copy, Debug)]
pub struct GpuJob<'a> {
    /// The `zkinfer-cuda` executable.
    pub helper: &'a Path,
    /// The GPU to prove on.
    pub gpu: &'a GpuInfo,
    /// Its time limit.
    pub limit: Option<Duration>,
}

impl GpuJob<'_> {
    /// Proves `request` with the CUDA prover: it writes to a fresh file beside `request.out`,
    /// which is checked to be a proof of the model (`digest`) and only then moved to
    /// `request.out` (a failure leaves that file as it was).
    pub fn prove(
        &self,
        request: &ProveRequest,
        digest: ModelDigest,
    ) -> Result<ProofFile, GpuProveError> {
        let out = &request.out;
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(".zkinfer-cuda.partial");
        let partial = out.with_file_name(name);
        let _ = std::fs::remove_file(&partial);
        let result = self.prove_to(request, &partial, digest);
        let _ = std::fs::remove_file(&partial);
        if result.is_err() {
            remove_temporaries(&partial);
        }
        result
    }

    /// Proves into `partial`, checks it, moves it to `request.out`.
    fn prove_to(
        &self,
        request: &ProveRequest,
        partial: &Path,
        digest: ModelDigest,
    ) -> Result<ProofFile, GpuProveError> {
        let visible = std::env::var_os(crate::contract::VISIBLE_DEVICES_ENV);
        let env = HelperEnv::for_gpu(self.gpu, visible.as_deref())?;
        let to_partial = ProveRequest {
            out: partial.to_path_buf(),
            ..request.clone()
        };
        prove_with_helper(self.helper, &env, &to_partial, self.limit)?;
        let text = std::fs::read_to_string(partial).map_err(|source| GpuProveError::Read {
            path: partial.to_path_buf(),
            source,
        })?;
        let proof = ProofFile::from_json(&text)?;
        if proof.model_digest != digest {
            return Err(GpuProveError::OtherModel {
                got: proof.model_digest,
                want: digest,
            });
        }
        std::fs::rename(partial, &request.out).map_err(|source| GpuProveError::Write {
            path: request.out.clone(),
            source,
        })?;
        Ok(proof)
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

/// A proof and the device that made it (for messages).
#[derive(Debug)]
pub struct Proved {
    /// The proof, written to the request's `out`.
    pub proof: ProofFile,
    /// `CPU`, or the GPU.
    pub device: String,
}

/// Proves `request` on `backend` (chosen for `choice`, see [`crate::device::choose`]), the
/// CPU through `on_cpu` (which writes `request.out` itself). With `auto`, a failing CUDA
/// prover is followed by the CPU, after `say` is told why (lines for stderr): `auto` still owes the user a
/// proof. With `cuda` its failure is the error.
pub fn prove_on<E: From<GpuProveError>>(
    choice: DeviceChoice,
    backend: &Backend,
    limit: Option<Duration>,
    request: &ProveRequest,
    digest: ModelDigest,
    on_cpu: impl FnOnce() -> Result<ProofFile, E>,
    say: impl Fn(&str),
) -> Result<Proved, E> {
    let cpu = |proof| Proved {
        proof,
        device: "CPU".into(),
    };
    let (helper, gpu) = match backend {
        Backend::Cpu => return on_cpu().map(cpu),
        Backend::Cuda { helper, gpu } => (helper, gpu),
    };
    if !request.quiet {
        say(&format!("proving on {gpu} with {}", helper.display()));
    }
    let job = GpuJob { helper, gpu, limit };
    match job.prove(request, digest) {
        Ok(proof) => Ok(Proved {
            proof,
            device: gpu.to_string(),
        }),
        Err(e) if choice == DeviceChoice::Auto => {
            say(&format!(
                "note: proving on the CPU: the CUDA prover failed ({e})"
            ));
            on_cpu().map(cpu)
        }
        Err(e) => Err(e.into()),
    }
}
