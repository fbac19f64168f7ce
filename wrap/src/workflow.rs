//! The model-folder workflow behind `setup --wrap` and `prove --wrap`: the wrapper's files sit
//! next to the model's (`wrap_srs_K.bin` per level, `wrap_pk.bin`, `wrap_vk.bin`).

use crate::backend::LevelProver;
use crate::inner::PoseidonPlonk;
pub use crate::keys::WrapLevels;
use crate::keys::{
    keygen, wrap_srs_file, WrapProvingKey, WrapVerifierKey, WRAP_PK_FILE, WRAP_VK_FILE,
};
use crate::prove::wrap;
use crate::WrapError;
use halo2_proofs::halo2curves::bn256::Bn256;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use std::collections::{BTreeMap, BTreeSet};
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

/// `setup` for the model in `dir`, then the keys of a wrapper whose last level has size `2^k`
/// (one SRS for all levels: `srs_file` downsized, or the development SRS).
pub fn setup_wrapped(
    dir: &Path,
    srs_file: Option<&Path>,
    k: u32,
    levels: WrapLevels,
    progress: &dyn Progress,
) -> Result<WrapSetupReport, WrapError> {
    let model = setup(dir, srs_file, progress)?;
    let inner = VerifierKey::load(&dir.join(VK_FILE))?;
    let mut srs = WrapSrs::new(srs_file);
    let params = srs.params(&levels.sizes(k), progress)?;
    let (keys, keygen_s) = step(progress, "generating the wrapper's keys", || {
        keygen(&inner, &params, k, levels, progress)
    });
    drop(params);
    let (pk, vk) = keys?;
    save_wrapper(dir, &srs, model, &pk, &vk, keygen_s)
}

/// Writes the SRS of each of the wrapper's levels and its keys; what `setup --wrap` did.
fn save_wrapper(
    dir: &Path,
    srs: &WrapSrs,
    model: SetupReport,
    pk: &WrapProvingKey,
    vk: &WrapVerifierKey,
    keygen_s: f64,
) -> Result<WrapSetupReport, WrapError> {
    for k in vk.level_ks.iter().collect::<BTreeSet<_>>() {
        srs.save(*k, &dir.join(wrap_srs_file(*k)))?;
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
        srs_s: srs.secs,
        keygen_s,
        pk_bytes,
    })
}

/// The wrapper levels' SRSs, each made (or loaded from the user's file) once.
struct WrapSrs<'a> {
    file: Option<&'a Path>,
    made: BTreeMap<u32, Srs>,
    secs: f64,
}

impl<'a> WrapSrs<'a> {
    fn new(file: Option<&'a Path>) -> Self {
        Self {
            file,
            made: BTreeMap::new(),
            secs: 0.0,
        }
    }

    /// KZG parameters of sizes `ks`, making those not made yet.
    fn params(
        &mut self,
        ks: &[u32],
        progress: &dyn Progress,
    ) -> Result<Vec<ParamsKZG<Bn256>>, WrapError> {
        let mut out = Vec::with_capacity(ks.len());
        for &k in ks {
            if !self.made.contains_key(&k) {
                let (s, t) = self.make(k, progress);
                self.secs += t;
                self.made.insert(k, s?);
            }
            if let Some(s) = self.made.get(&k) {
                out.push(s.params.clone());
            }
        }
        Ok(out)
    }

    fn make(&self, k: u32, progress: &dyn Progress) -> (Result<Srs, WrapError>, f64) {
        // `setup` has warned about the development SRS already.
        match self.file {
            Some(f) => {
                let (s, t) = step(
                    progress,
                    &format!("loading the wrapper's SRS (2^{k} points)"),
                    || Srs::from_halo2_file(f, k),
                );
                (s.map_err(WrapError::from), t)
            }
            None => {
                let (s, t) = step(
                    progress,
                    &format!("generating the wrapper's development SRS (2^{k} points)"),
                    || Srs::development(k),
                );
                (Ok(s), t)
            }
        }
    }

    fn save(&self, k: u32, path: &Path) -> Result<(), WrapError> {
        match self.made.get(&k) {
            Some(s) => Ok(s.save(path)?),
            None => Err(WrapError::Keygen(format!("no wrapper SRS of size 2^{k}"))),
        }
    }
}

/// Proves `input` with the model folder `dir` for its wrapper: the model proof (Poseidon
/// transcript, on the CPU), then the wrapper proof, its levels proven by `levels`; the proof
/// file carries both. The model's proving key (`prover`) is dropped before the wrapper's is
/// loaded: only one is in memory at a time.
pub fn prove_wrapped<M: G1Msm>(
    prover: Prover<M>,
    dir: &Path,
    input: &InputData,
    levels: &dyn LevelProver,
    progress: &dyn Progress,
) -> Result<ProofFile, WrapError> {
    // A folder without the wrapper's keys fails before any proving.
    wrap_keys_present(dir)?;
    let wrap_vk = load_wrap_vk(dir)?;
    let inner = VerifierKey::load(&dir.join(VK_FILE))?;
    wrap_vk.check_wraps(&inner)?;
    let (w, _) = step(progress, "computing the witness", || prover.witness(input));
    let (proof, _) = step(
        progress,
        &format!(
            "proving the model (k = {}, Poseidon transcript for the wrapper)",
            prover.model().shape.k
        ),
        || prover.prove_with(w?, &PoseidonPlonk(prover.params())),
    );
    drop(prover);
    let mut proof = proof?;
    proof.transcript = WRAPPED_TRANSCRIPT.into();
    let (keys, _) = step(progress, "loading the wrapper's keys", || load_wrap_pk(dir));
    let (pk, params) = keys?;
    let (wrapper, _) = step(
        progress,
        &format!(
            "proving the wrapper ({} level(s), {})",
            pk.levels.len(),
            levels.name()
        ),
        || wrap(&pk, &params, &inner, &proof, levels, progress),
    );
    proof.wrapper = Some(wrapper?);
    // Checked as `verify` will check it before anyone sees it (a damaged key is an error,
    // not a proof that does not verify).
    let (checked, _) = step(progress, "checking the proof", || {
        crate::verify::verify_wrapped(&inner, &wrap_vk, &proof)
    });
    checked?;
    Ok(proof)
}

/// The wrapper's proving key in `dir` and the SRS of each of its level sizes.
fn load_wrap_pk(dir: &Path) -> Result<(WrapProvingKey, Vec<ParamsKZG<Bn256>>), WrapError> {
    let loaded = || -> Result<_, WrapError> {
        let pk = WrapProvingKey::load(&dir.join(WRAP_PK_FILE))?;
        let sizes: BTreeSet<u32> = pk.levels.iter().map(|l| l.config.degree).collect();
        let params = sizes
            .into_iter()
            .map(|k| Ok(Srs::load(&dir.join(wrap_srs_file(k)))?.params))
            .collect::<Result<Vec<_>, WrapError>>()?;
        Ok((pk, params))
    };
    loaded().map_err(keys_hint)
}

/// Fails, saying what to run, where `dir` lacks the wrapper's key files (checked before
/// proving starts, on any device).
pub fn wrap_keys_present(dir: &Path) -> Result<(), WrapError> {
    match [WRAP_VK_FILE, WRAP_PK_FILE]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| !p.is_file())
    {
        Some(missing) => Err(missing_keys(&missing)),
        None => Ok(()),
    }
}

fn missing_keys(path: &Path) -> WrapError {
    WrapError::Keys(format!(
        "{} is missing (run `zkinfer setup --wrap` first)",
        path.display()
    ))
}

/// An artifact error of the wrapper's keys, with what to do about it.
fn keys_hint(e: WrapError) -> WrapError {
    match e {
        WrapError::Artifact(a) => {
            WrapError::Keys(format!("{a} (run `zkinfer setup --wrap` first)"))
        }
        other => other,
    }
}

/// Loads the wrapper's verifying key of `dir`.
pub fn load_wrap_vk(dir: &Path) -> Result<WrapVerifierKey, WrapError> {
    WrapVerifierKey::load(&dir.join(WRAP_VK_FILE)).map_err(keys_hint)
}
