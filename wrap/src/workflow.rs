//! The model-folder workflow behind `setup --wrap` and `prove --wrap`: the wrapper's files sit
//! next to the model's (`wrap_srs_K.bin` per level, `wrap_pk.bin`, `wrap_vk.bin`).

use crate::backend::LevelProver;
use crate::inner::PoseidonPlonk;
use crate::keys::{
    keygen, level_sizes, wrap_srs_file, WrapProvingKey, WrapVerifierKey, DEFAULT_WRAP_LEVELS,
    MAX_WRAP_LEVELS, MIN_WRAP_K, WRAP_PK_FILE, WRAP_VK_FILE,
};
use crate::prove::wrap;
use crate::WrapError;
use halo2_proofs::halo2curves::bn256::Bn256;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use std::collections::BTreeMap;
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

/// How many levels `setup --wrap` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapLevels {
    /// From `DEFAULT_WRAP_LEVELS` up to `MAX_WRAP_LEVELS`: the fewest whose last level fits
    /// one advice column (the smallest, cheapest on-chain verifier).
    Auto,
    /// Exactly this many, however wide the last level.
    Exactly(usize),
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
    let counts = level_counts(levels, k);
    let mut srs = WrapSrs::new(srs_file);
    let mut keygen_s = 0.0;
    for (attempt, &n) in counts.iter().enumerate() {
        let ks = level_sizes(k, n);
        let params = srs.params(&ks, progress)?;
        let narrow_last = attempt + 1 < counts.len();
        let (keys, t) = step(
            progress,
            &format!("generating the wrapper's keys ({n} level(s), k = {ks:?})"),
            || keygen(&inner, &params, narrow_last, progress),
        );
        keygen_s += t;
        drop(params);
        match keys {
            Err(WrapError::LastLevelWide { advice, .. }) if narrow_last => progress.warn(&format!(
                "with {n} level(s) the last would need {advice} advice columns; adding a level"
            )),
            other => {
                let (pk, vk) = other?;
                return save_wrapper(dir, &srs, model, &pk, &vk, keygen_s);
            }
        }
    }
    Err(WrapError::Keygen("no wrapper level count to try".into()))
}

/// The level counts `setup --wrap` tries, in order, for a last level of size `2^k`: left to
/// choose, those whose lowest level is no smaller than `MIN_WRAP_K` (at least one, which key
/// generation then refuses with a clear error where it is too small).
fn level_counts(levels: WrapLevels, k: u32) -> Vec<usize> {
    match levels {
        WrapLevels::Auto => {
            let fits = |n: &usize| level_sizes(k, *n).first().is_some_and(|&l| l >= MIN_WRAP_K);
            let counts: Vec<usize> = (DEFAULT_WRAP_LEVELS..=MAX_WRAP_LEVELS)
                .filter(fits)
                .collect();
            if counts.is_empty() {
                vec![DEFAULT_WRAP_LEVELS]
            } else {
                counts
            }
        }
        WrapLevels::Exactly(n) => vec![n],
    }
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
    for k in &vk.level_ks {
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
    Ok(proof)
}

/// The wrapper's proving key in `dir` and each level's SRS.
fn load_wrap_pk(dir: &Path) -> Result<(WrapProvingKey, Vec<ParamsKZG<Bn256>>), WrapError> {
    let loaded = || -> Result<_, WrapError> {
        let pk = WrapProvingKey::load(&dir.join(WRAP_PK_FILE))?;
        let params = pk
            .levels
            .iter()
            .map(|l| Ok(Srs::load(&dir.join(wrap_srs_file(l.config.degree)))?.params))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_levels_try_two_to_four_while_every_level_is_large_enough() {
        assert_eq!(level_counts(WrapLevels::Auto, 22), vec![2, 3, 4]);
        assert_eq!(level_counts(WrapLevels::Auto, 20), vec![2, 3]);
        assert_eq!(level_counts(WrapLevels::Auto, 19), vec![2]);
        // Too small even for two: the one try, which key generation refuses with one line.
        assert_eq!(level_counts(WrapLevels::Auto, 18), vec![2]);
        assert_eq!(level_counts(WrapLevels::Exactly(1), 18), vec![1]);
        assert_eq!(level_counts(WrapLevels::Exactly(3), 22), vec![3]);
    }
}
