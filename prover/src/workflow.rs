//! The model-folder workflow behind `zkinfer setup` and `zkinfer prove`.
//!
//! A model folder holds `model.zkm` and `settings.json` (from `compile`), then `srs.bin`,
//! `pk.bin` and `vk.bin` (from `setup`).

use crate::error::ProverError;
use crate::keys::{keygen, load_pk, save_pk, PK_FILE};
use crate::kzg::RoutedParams;
use crate::msm::G1Msm;
use crate::prove::{CpuPlonk, PlonkBackend, Prover};
use crate::srs::{Srs, SRS_FILE};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use zkinfer_circuits::compiled::{write_atomic, CompiledModel};
use zkinfer_circuits::input::InputData;
use zkinfer_verifier::{ProofFile, VK_FILE};

/// Receives progress of long steps.
pub trait Progress {
    /// A step starts.
    fn begin(&self, step: &str);
    /// A step ended after `secs`.
    fn end(&self, step: &str, secs: f64);
    /// Something the user should know.
    fn warn(&self, msg: &str);
}

/// Discards progress.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str) {}
    fn end(&self, _: &str, _: f64) {}
    fn warn(&self, _: &str) {}
}

/// Runs `f` as a named step.
pub fn step<T>(p: &dyn Progress, name: &str, f: impl FnOnce() -> T) -> (T, f64) {
    p.begin(name);
    let t = Instant::now();
    let out = f();
    let secs = t.elapsed().as_secs_f64();
    p.end(name, secs);
    (out, secs)
}

/// What `setup` did.
#[derive(Clone, Debug)]
pub struct SetupReport {
    /// Circuit size exponent.
    pub k: u32,
    /// Whether the development SRS was used.
    pub insecure_srs: bool,
    /// Seconds to make or load the SRS.
    pub srs_s: f64,
    /// Seconds of key generation.
    pub keygen_s: f64,
    /// Proving key file size.
    pub pk_bytes: usize,
    /// Verifier key file size.
    pub vk_bytes: usize,
}

/// Warning printed whenever the development SRS is used.
pub const INSECURE_SRS_WARNING: &str =
    "using the deterministic development SRS: its secret is public, so proofs under it can be forged; pass --srs with a trusted KZG parameter file for production";

/// Generates the SRS (or loads `srs_file`) and the keys for the compiled model in `dir`.
pub fn setup(
    dir: &Path,
    srs_file: Option<&Path>,
    progress: &dyn Progress,
) -> Result<SetupReport, ProverError> {
    let model = CompiledModel::load(dir)?;
    let k = model.shape.k;
    let (srs, srs_s) = match srs_file {
        Some(f) => {
            let (s, t) = step(progress, "loading SRS", || Srs::from_halo2_file(f, k));
            (s?, t)
        }
        None => {
            progress.warn(INSECURE_SRS_WARNING);
            step(
                progress,
                &format!("generating development SRS (2^{k} points)"),
                || Srs::development(k),
            )
        }
    };
    let (keys, keygen_s) = step(progress, "generating proving and verifying keys", || {
        keygen(&model, &srs)
    });
    let keys = keys?;
    let vk_bytes = keys.vk.to_bytes();
    let ((), _) = step(progress, "writing keys", || ());
    srs.save(&dir.join(SRS_FILE))?;
    save_pk(&dir.join(PK_FILE), &keys.pk, &model, &keys.vk)?;
    write_atomic(&dir.join(VK_FILE), &vk_bytes)?;
    let pk_bytes = std::fs::metadata(dir.join(PK_FILE))
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    Ok(SetupReport {
        k,
        insecure_srs: srs.insecure,
        srs_s,
        keygen_s,
        pk_bytes,
        vk_bytes: vk_bytes.len(),
    })
}

/// Loads a model folder for proving, with the given MSM backend.
pub fn load_prover<M: G1Msm>(
    dir: &Path,
    msm: M,
    progress: &dyn Progress,
) -> Result<Prover<M>, ProverError> {
    let (r, _) = step(
        progress,
        "loading model and keys",
        || -> Result<Prover<M>, ProverError> {
            let model = Arc::new(CompiledModel::load(dir)?);
            let srs = Srs::load(&dir.join(SRS_FILE)).map_err(|e| match e {
                ProverError::Artifact(a) => {
                    ProverError::Srs(format!("{a} (run `zkinfer setup` first)"))
                }
                other => other,
            })?;
            if srs.insecure {
                progress.warn(INSECURE_SRS_WARNING);
            }
            let loaded = load_pk(&dir.join(PK_FILE), &model)?;
            let params =
                RoutedParams::new(srs.params, msm).map_err(|e| ProverError::Srs(e.to_string()))?;
            Prover::new(model, loaded.pk, loaded.vk_sha256, params)
        },
    );
    r
}

/// Proves `input` with the model folder `dir`.
pub fn prove_input<M: G1Msm>(
    prover: &Prover<M>,
    input: &InputData,
    progress: &dyn Progress,
) -> Result<ProofFile, ProverError> {
    prove_input_with(prover, input, &CpuPlonk(prover.params()), progress)
}

/// Proves `input` with another PLONK backend (the CUDA prover uses this), and checks the proof
/// as a verifier will before returning it.
pub fn prove_input_with<M: G1Msm>(
    prover: &Prover<M>,
    input: &InputData,
    backend: &dyn PlonkBackend,
    progress: &dyn Progress,
) -> Result<ProofFile, ProverError> {
    let (w, _) = step(progress, "computing the witness", || prover.witness(input));
    let (proof, _) = step(
        progress,
        &format!(
            "proving (k = {}, {})",
            prover.model().shape.k,
            backend.name()
        ),
        || prover.prove_with(w?, backend),
    );
    let proof = proof?;
    let (checked, _) = step(progress, "checking the proof", || prover.check(&proof));
    checked?;
    Ok(proof)
}
