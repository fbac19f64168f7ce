//! The model-folder workflow behind `setup --wrap` and `prove --wrap`: the wrapper's files sit
//! next to the model's (`wrap_srs_K.bin` per level, `wrap_pk.bin`, `wrap_vk.bin`).

use crate::inner::PoseidonPlonk;
use crate::keys::{
    keygen, level_sizes, wrap_srs_file, WrapProvingKey, WrapVerifierKey, WRAP_PK_FILE, WRAP_VK_FILE,
};
use crate::prove::wrap;
use crate::WrapError;
use std::path::Path;
use zkinfer_circuits::input::InputData;
use zkinfer_prover::workflow::step;
use zkinfer_prover::{setup, G1Msm, Progress, Prover, SetupReport, Srs};
use zkinfer_verifier::{ProofFile, VerifierKey, VK_FILE, WRAPPED_TRANSCRIPT};

/// What `setup --wrap` did.
#[derive(Clone, Debug)]
pub struct WrapSetupReport {
    /// The model's own setup.
    pub model: SetupReport,
    /// Size exponent of each wrapper level (the last is verified on-chain).
    pub level_ks: Vec<u32>,
    /// Advice columns of the last level (fewer: cheaper to verify on-chain).
    pub advice_columns: usize,
    /// Seconds to make or load the wrapper's SRS.
    pub srs_s: f64,
    /// Seconds of wrapper key generation.
    pub keygen_s: f64,
    /// Bytes of `wrap_pk.bin`.
    pub pk_bytes: usize,
}

/// `setup` for the model in `dir`, then the keys of a wrapper of `levels` levels, the last of
/// size `2^k` (one SRS for all: `srs_file` downsized, or the development SRS).
pub fn setup_wrapped(
    dir: &Path,
    srs_file: Option<&Path>,
    k: u32,
    levels: usize,
    progress: &dyn Progress,
) -> Result<WrapSetupReport, WrapError> {
    let model = setup(dir, srs_file, progress)?;
    let ks = level_sizes(k, levels);
    let mut srs = Vec::with_capacity(ks.len());
    let mut srs_s = 0.0;
    for &k in &ks {
        // `setup` above has warned about the development SRS already.
        let (s, t) = match srs_file {
            Some(f) => step(
                progress,
                &format!("loading the wrapper's SRS (2^{k} points)"),
                || Srs::from_halo2_file(f, k),
            ),
            None => {
                let (s, t) = step(
                    progress,
                    &format!("generating the wrapper's development SRS (2^{k} points)"),
                    || Srs::development(k),
                );
                (Ok(s), t)
            }
        };
        srs.push(s?);
        srs_s += t;
    }
    let inner = VerifierKey::load(&dir.join(VK_FILE))?;
    let params: Vec<_> = srs.iter().map(|s| s.params.clone()).collect();
    let (keys, keygen_s) = step(
        progress,
        &format!(
            "generating the wrapper's keys ({} level(s), k = {ks:?})",
            ks.len()
        ),
        || {
            keygen(&inner, &params, &|i, k| {
                progress.begin(&format!(
                    "wrapper level {} of {} (k = {k})",
                    i + 1,
                    ks.len()
                ))
            })
        },
    );
    drop(params);
    let (pk, vk) = keys?;
    for s in &srs {
        s.save(&dir.join(wrap_srs_file(s.k())))?;
    }
    pk.save(&dir.join(WRAP_PK_FILE))?;
    vk.save(&dir.join(WRAP_VK_FILE))?;
    let pk_bytes = std::fs::metadata(dir.join(WRAP_PK_FILE))
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    Ok(WrapSetupReport {
        model,
        level_ks: vk.level_ks.clone(),
        advice_columns: vk.config.num_advice,
        srs_s,
        keygen_s,
        pk_bytes,
    })
}

/// Proves `input` with the model folder `dir` for its wrapper: the model proof (Poseidon
/// transcript), then the wrapper proof; the proof file carries both.
pub fn prove_wrapped<M: G1Msm>(
    prover: &Prover<M>,
    dir: &Path,
    input: &InputData,
    progress: &dyn Progress,
) -> Result<ProofFile, WrapError> {
    let loaded = || -> Result<_, WrapError> {
        let pk = WrapProvingKey::load(&dir.join(WRAP_PK_FILE))?;
        let params = pk
            .levels
            .iter()
            .map(|l| Ok(Srs::load(&dir.join(wrap_srs_file(l.config.degree)))?.params))
            .collect::<Result<Vec<_>, WrapError>>()?;
        let inner = VerifierKey::load(&dir.join(VK_FILE))?;
        Ok((pk, params, inner))
    };
    // The keys first: a folder without them fails before any proving.
    let (keys, _) = step(progress, "loading the wrapper's keys", loaded);
    let (pk, params, inner) = keys.map_err(|e| match e {
        WrapError::Artifact(a) => {
            WrapError::Keys(format!("{a} (run `zkinfer setup --wrap` first)"))
        }
        other => other,
    })?;
    let (w, _) = step(progress, "computing the witness", || prover.witness(input));
    let (proof, _) = step(
        progress,
        &format!(
            "proving the model (k = {}, Poseidon transcript for the wrapper)",
            prover.model().shape.k
        ),
        || prover.prove_with(w?, &PoseidonPlonk(prover.params())),
    );
    let mut proof = proof?;
    proof.transcript = WRAPPED_TRANSCRIPT.into();
    let levels = pk.levels.len();
    let (wrapper, _) = step(
        progress,
        &format!("proving the wrapper ({levels} level(s))"),
        || {
            wrap(&pk, &params, &inner, &proof, &|i, k| {
                progress.begin(&format!("wrapper level {} of {levels} (k = {k})", i + 1))
            })
        },
    );
    proof.wrapper = Some(wrapper?);
    Ok(proof)
}

/// Loads the wrapper's verifying key of `dir`.
pub fn load_wrap_vk(dir: &Path) -> Result<WrapVerifierKey, WrapError> {
    WrapVerifierKey::load(&dir.join(WRAP_VK_FILE)).map_err(|e| match e {
        WrapError::Artifact(a) => {
            WrapError::Keys(format!("{a} (run `zkinfer setup --wrap` first)"))
        }
        other => other,
    })
}
