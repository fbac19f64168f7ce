//! What both CUDA executables do before and around GPU work (feature `cuda`).

use crate::plonk::CudaPlonk;
use crate::wrap::CudaLevels;
use crate::CUDA_ARCH;
use anyhow::{anyhow, Result};
use std::path::Path;
use zkinfer_circuits::input::InputData;
use zkinfer_gpu::{probe_cuda, HelperEnv, KernelTargets, Probe, CHOSEN_GPU_ENV};
use zkinfer_prover::{prove_input_with, CpuMsm, Progress, Prover};
use zkinfer_verifier::{verify, ProofFile, VerifierKey, VK_FILE};
use zkinfer_wrap::verify_wrapped;
use zkinfer_wrap::workflow::{load_wrap_vk, prove_wrapped};

/// Fails when device 0 (the one halo2-axiom-gpu uses) is not the GPU `zkinfer` chose for
/// this process, or the kernels of this build cannot run on it.
pub fn check_kernels() -> Result<()> {
    let Probe::Found(gpus) = probe_cuda() else {
        // Without a GPU the CUDA runtime reports its own error.
        return Ok(());
    };
    let chosen = std::env::var(CHOSEN_GPU_ENV).ok();
    let Some(gpu) = HelperEnv::chosen_gpu(&gpus, chosen.as_deref())? else {
        return Ok(());
    };
    let targets = match KernelTargets::parse(CUDA_ARCH) {
        Ok(Some(t)) => t,
        // CUDA_ARCH unset or empty at build time: nothing recorded to check.
        Ok(None) => return Ok(()),
        // An entry this check does not know (a newer nvcc's?): let the GPU tell.
        Err(e) => {
            eprintln!("warning: not checking the GPU's architecture: {e}");
            return Ok(());
        }
    };
    targets.check(&gpu)?;
    Ok(())
}

/// Progress on stderr.
pub struct Stderr {
    /// Print only warnings.
    pub quiet: bool,
}

impl Progress for Stderr {
    fn begin(&self, step: &str) {
        if !self.quiet {
            eprintln!("{step} ...");
        }
    }
    fn end(&self, step: &str, secs: f64) {
        if !self.quiet {
            eprintln!("{step}: {secs:.2} s");
        }
    }
    fn warn(&self, msg: &str) {
        eprintln!("warning: {msg}");
    }
}

/// Proves on the GPU, checks the proof with the verifier crate, returns it.
pub fn gpu_proof(
    prover: &Prover<CpuMsm>,
    dir: &Path,
    input: &InputData,
    progress: &dyn Progress,
) -> Result<ProofFile> {
    CudaPlonk::check_circuit(prover.pk())?;
    let backend = CudaPlonk::new(prover.params().kzg())?;
    let proof = prove_input_with(prover, input, &backend, progress)?;
    // Never hand out a proof the verifier rejects.
    let key = VerifierKey::load(&dir.join(VK_FILE))?;
    verify(&key, &proof).map_err(|e| anyhow!("the GPU proof does not verify: {e}"))?;
    Ok(proof)
}

/// Proves `input` for its wrapper (the model proof on the CPU, the wrapper's levels on the
/// GPU), checks both proofs with the verifier crates, returns the proof file.
pub fn gpu_wrapped(
    prover: Prover<CpuMsm>,
    dir: &Path,
    input: &InputData,
    progress: &dyn Progress,
) -> Result<ProofFile> {
    let proof = prove_wrapped(prover, dir, input, &CudaLevels, progress)?;
    // Never hand out a proof the verifier rejects.
    let key = VerifierKey::load(&dir.join(VK_FILE))?;
    let wrap = load_wrap_vk(dir)?;
    verify_wrapped(&key, &wrap, &proof)
        .map_err(|e| anyhow!("the GPU's wrapper proof does not verify: {e}"))?;
    Ok(proof)
}
