//! The wrapper's keys (`zkinfer setup DIR --wrap`): `wrap_srs_K.bin` (KZG parameters of each
//! level's size K, the same secret as the model's `srs.bin`),
//! `wrap_pk.bin` (per level: proving key, circuit configuration and break points) and
//! `wrap_vk.bin` (the last level's verifying key and configuration, and the model it wraps).

use crate::circuit::{
    accumulator_indices, build_first, build_outer, guarded, initial_config, MODEL_WORDS_START,
};
use crate::WrapError;
use halo2_base::gates::circuit::CircuitBuilderStage;
use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine, G2Affine};
use halo2_proofs::plonk::{keygen_pk, keygen_vk, ProvingKey, VerifyingKey};
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use snark_verifier_sdk::halo2::aggregation::{AggregationCircuit, AggregationConfigParams};
use snark_verifier_sdk::halo2::gen_dummy_snark_from_vk;
use snark_verifier_sdk::{Snark, SHPLONK};
use std::path::Path;
use zkinfer_circuits::compiled::{
    read_file, seal, seal_in_place, unseal, write_atomic, ArtifactError, ModelDigest,
    SEAL_HEADER_BYTES,
};
use zkinfer_prover::pk_codec::{read_compact, write_compact};
use zkinfer_prover::workflow::step;
use zkinfer_prover::Progress;
use zkinfer_verifier::key::{decode_verifier_points, encode_verifier_points};
use zkinfer_verifier::{VerifierKey, VkHash};

/// File of a wrapper level's SRS (of size `2^k`) inside a model folder.
pub fn wrap_srs_file(k: u32) -> String {
    format!("wrap_srs_{k}.bin")
}
/// File of the wrapper's proving key.
pub const WRAP_PK_FILE: &str = "wrap_pk.bin";
/// File of the wrapper's verifying key.
pub const WRAP_VK_FILE: &str = "wrap_vk.bin";
/// Size exponent of the last wrapper level unless `setup --wrap-k` says otherwise: at 2^22
/// rows the sdk lays a level over the one below in one advice column, the fewest commitments.
pub const DEFAULT_WRAP_K: u32 = 22;
/// Fewest levels `setup --wrap` makes unless `--wrap-levels` says how many: the first verifies
/// the model proof, whatever its size; the second verifies the first.
pub const DEFAULT_WRAP_LEVELS: usize = 2;
/// Most levels a wrapper has. Left to choose, `setup --wrap` adds a level of the last level's
/// size over the one below until the top fits one advice column: a larger model proof makes a
/// wider first level, and a level verifies a wide level only with more columns (more gas).
pub const MAX_WRAP_LEVELS: usize = 4;
/// Smallest wrapper that fits a model proof's verifier (its range table needs `2^(k−1)` rows).
pub const MIN_WRAP_K: u32 = 18;
/// Largest wrapper `setup` makes.
pub const MAX_WRAP_K: u32 = 24;

const VK_KIND: [u8; 4] = *b"WVK\0";
const PK_KIND: [u8; 4] = *b"WPK\0";
/// 2: proving keys in the compact form of `zkinfer_prover::pk_codec`.
const VERSION: u32 = 2;
/// Rows the sdk keeps free at the bottom of each column (blinding).
const MINIMUM_ROWS: usize = 20;

#[derive(Serialize, Deserialize)]
struct VkHeader {
    config: AggregationConfigParams,
    level_ks: Vec<u32>,
    digest: ModelDigest,
    inner_vk_sha256: VkHash,
    model_words: usize,
}

#[derive(Serialize, Deserialize)]
struct LevelHeader {
    config: AggregationConfigParams,
    break_points: Vec<Vec<usize>>,
}

#[derive(Serialize, Deserialize)]
struct PkHeader {
    levels: Vec<LevelHeader>,
    vk_sha256: VkHash,
    digest: ModelDigest,
    inner_vk_sha256: VkHash,
}

/// What verifying a wrapper proof needs.
#[derive(Clone, Debug)]
pub struct WrapVerifierKey {
    /// The last level's configuration (columns, size).
    pub config: AggregationConfigParams,
    /// Size exponent of each level, the first (over the model proof) first.
    pub level_ks: Vec<u32>,
    /// The model it wraps.
    pub digest: ModelDigest,
    /// The model's verifying key (its hash): the one built into the wrapper circuit.
    pub inner_vk_sha256: VkHash,
    /// Public values of the model proof (the wrapper's last words).
    pub model_words: usize,
    /// SHA-256 of the wrapper's halo2 verifying key.
    pub vk_sha256: VkHash,
    vk: VerifyingKey<G1Affine>,
    params: ParamsKZG<Bn256>,
}

/// One level of a wrapper, for proving. Its halo2 proving key is kept in the compact form of
/// `zkinfer_prover::pk_codec` and decoded when the level is proven ([`LevelKey::proving_key`]):
/// only one level's full key is in memory at a time.
pub struct LevelKey {
    /// The level's circuit configuration.
    pub config: AggregationConfigParams,
    /// Where the sdk breaks its virtual columns into rows (fixed at keygen).
    pub break_points: Vec<Vec<usize>>,
    compact: Vec<u8>,
}

impl LevelKey {
    fn new(
        config: AggregationConfigParams,
        break_points: Vec<Vec<usize>>,
        pk: &ProvingKey<G1Affine>,
    ) -> Result<Self, WrapError> {
        let mut compact = Vec::new();
        write_compact(pk, &mut compact).map_err(|e| WrapError::Keygen(e.to_string()))?;
        Ok(Self {
            config,
            break_points,
            compact,
        })
    }

    /// The level's halo2 proving key (decoding recomputes its derived parts).
    pub fn proving_key(&self) -> Result<ProvingKey<G1Affine>, WrapError> {
        let config = self.config;
        let bad = |d: String| WrapError::Keys(format!("wrap_pk.bin: {d}"));
        guarded(|| read_compact::<AggregationCircuit>(&self.compact, config.degree, config))
            .map_err(|_| bad("malformed proving key".into()))?
            .map_err(|e| bad(e.to_string()))
    }
}

/// What proving a wrapper needs.
pub struct WrapProvingKey {
    /// The levels, the first (over the model proof) first.
    pub levels: Vec<LevelKey>,
    /// Hash of the last level's verifying key.
    pub vk_sha256: VkHash,
    /// The model it wraps.
    pub digest: ModelDigest,
    /// The model's verifying key it was made for.
    pub inner_vk_sha256: VkHash,
}

fn vk_hash(vk: &VerifyingKey<G1Affine>) -> VkHash {
    VkHash(Sha256::digest(vk.to_bytes(SerdeFormat::Processed)).into())
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

impl WrapLevels {
    /// Size exponent of level `index` (0: the one over the model proof) of a wrapper whose
    /// last level has size `2^k`: the first is one size smaller (its proof is verified above
    /// in about half its rows), the others have the last's size, so that each verifies the
    /// one below in fewer columns; a single level has size `2^k`.
    pub fn level_k(self, k: u32, index: usize) -> u32 {
        if index == 0 && self != Self::Exactly(1) {
            k.saturating_sub(1)
        } else {
            k
        }
    }

    /// Whether a level goes above the `built` ones, the top of which has `advice` advice
    /// columns.
    pub fn wants_another(self, built: usize, advice: usize) -> bool {
        match self {
            Self::Auto => built < DEFAULT_WRAP_LEVELS || (advice > 1 && built < MAX_WRAP_LEVELS),
            Self::Exactly(n) => built < n,
        }
    }

    /// The distinct level sizes a wrapper may use (their SRSs), smallest first.
    pub fn sizes(self, k: u32) -> Vec<u32> {
        let mut ks = vec![self.level_k(k, 0), k];
        ks.dedup();
        ks
    }
}

/// Refuses sizes and SRSs a wrapper cannot use.
fn check_keygen(inner: &VerifierKey, params: &[ParamsKZG<Bn256>]) -> Result<(), WrapError> {
    let ks: Vec<u32> = params.iter().map(|p| p.k()).collect();
    if ks.is_empty() || ks.iter().any(|k| !(MIN_WRAP_K..=MAX_WRAP_K).contains(k)) {
        return Err(WrapError::Keygen(format!(
            "every wrapper level needs {MIN_WRAP_K} <= k <= {MAX_WRAP_K}, got {ks:?}"
        )));
    }
    if params.iter().any(|p| p.s_g2() != inner.kzg_params().s_g2()) {
        return Err(WrapError::Keygen(
            "the wrapper's SRS and the model's come from different setups (their [s]G2 differ); use one parameter file for both".into(),
        ));
    }
    Ok(())
}

/// One level's keys, from a snark of the right shape (a dummy: keygen needs no witness).
fn level_keygen(
    params: &ParamsKZG<Bn256>,
    k: u32,
    snark: Snark,
    first: Option<&ModelDigest>,
) -> Result<(LevelKey, VerifyingKey<G1Affine>), WrapError> {
    let made = guarded(|| -> Result<_, String> {
        let mut circuit = match first {
            Some(digest) => build_first(
                CircuitBuilderStage::Keygen,
                initial_config(k),
                params,
                snark,
                digest,
            ),
            None => build_outer(
                CircuitBuilderStage::Keygen,
                initial_config(k),
                params,
                snark,
            ),
        };
        let config = circuit.calculate_params(Some(MINIMUM_ROWS));
        let vk = keygen_vk(params, &circuit).map_err(|e| format!("{e:?}"))?;
        let pk = keygen_pk(params, vk.clone(), &circuit).map_err(|e| format!("{e:?}"))?;
        Ok((config, circuit.break_points(), vk, pk))
    })
    .map_err(WrapError::Keygen)?;
    let (config, break_points, vk, pk) = made.map_err(WrapError::Keygen)?;
    Ok((LevelKey::new(config, break_points, &pk)?, vk))
}

/// Makes the wrapper's keys for the model whose key is `inner`, level by level as `levels`
/// asks (`WrapLevels::level_k`, `WrapLevels::wants_another`): each level with the SRS of its
/// size from `params` (their secret must be the model SRS's). Each level is a step of
/// `progress`; a level added because the one below is wide is said as a warning.
pub fn keygen(
    inner: &VerifierKey,
    params: &[ParamsKZG<Bn256>],
    k: u32,
    levels: WrapLevels,
    progress: &dyn Progress,
) -> Result<(WrapProvingKey, WrapVerifierKey), WrapError> {
    check_keygen(inner, params)?;
    let model_words = inner.io.instance_count();
    let mut snark = guarded(|| {
        gen_dummy_snark_from_vk::<SHPLONK>(
            inner.kzg_params(),
            inner.halo2(),
            vec![model_words],
            None,
        )
    })
    .map_err(WrapError::Keygen)?;
    let mut built: Vec<LevelKey> = Vec::new();
    let mut last = None;
    while levels.wants_another(built.len(), built.last().map_or(0, |l| l.config.num_advice)) {
        let i = built.len();
        let lk = levels.level_k(k, i);
        let p = params
            .iter()
            .find(|p| p.k() == lk)
            .ok_or_else(|| WrapError::Keygen(format!("no wrapper SRS of size 2^{lk} was given")))?;
        if let Some(below) = built.last().filter(|_| i >= DEFAULT_WRAP_LEVELS) {
            progress.warn(&format!(
                "wrapper level {i} needs {} advice columns; adding level {} over it",
                below.config.num_advice,
                i + 1
            ));
        }
        let first = (i == 0).then_some(&inner.digest);
        let name = format!("wrapper level {} (k = {lk})", i + 1);
        let (made, _) = step(progress, &name, || level_keygen(p, lk, snark, first));
        let (level, vk) = made?;
        let words = MODEL_WORDS_START + model_words;
        snark = guarded(|| {
            gen_dummy_snark_from_vk::<SHPLONK>(p, &vk, vec![words], Some(accumulator_indices()))
        })
        .map_err(WrapError::Keygen)?;
        built.push(level);
        last = Some((vk, p));
    }
    let (vk, p) = last.ok_or_else(|| WrapError::Keygen("no wrapper level".into()))?;
    let vk_sha256 = vk_hash(&vk);
    let config = built.last().map(|l| l.config).unwrap_or_default();
    let level_ks = built.iter().map(|l| l.config.degree).collect();
    let verifier_params = decode_verifier_points(&encode_verifier_points(p), p.k())
        .map_err(|e| WrapError::Keygen(e.to_string()))?;
    Ok((
        WrapProvingKey {
            levels: built,
            vk_sha256,
            digest: inner.digest,
            inner_vk_sha256: inner.vk_sha256,
        },
        WrapVerifierKey {
            config,
            level_ks,
            digest: inner.digest,
            inner_vk_sha256: inner.vk_sha256,
            model_words,
            vk_sha256,
            vk,
            params: verifier_params,
        },
    ))
}

/// Appends a length-prefixed part written by `write`.
fn push_part(buf: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = buf.len();
    buf.extend_from_slice(&[0; 8]);
    write(buf);
    let len = (buf.len() - at - 8) as u64;
    buf[at..at + 8].copy_from_slice(&len.to_le_bytes());
}

/// The first length-prefixed part of `payload`.
fn first_part<'a>(
    payload: &'a [u8],
    bad: &dyn Fn(&str) -> ArtifactError,
) -> Result<&'a [u8], ArtifactError> {
    let len = payload
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| bad("truncated"))?;
    let len = usize::try_from(len).map_err(|_| bad("truncated"))?;
    payload
        .get(8..)
        .and_then(|r| r.get(..len))
        .ok_or_else(|| bad("truncated"))
}

/// Splits `payload` into `n` length-prefixed parts.
fn parts<'a>(
    payload: &'a [u8],
    n: usize,
    bad: &dyn Fn(&str) -> ArtifactError,
) -> Result<Vec<&'a [u8]>, ArtifactError> {
    let mut out = Vec::with_capacity(n);
    let mut rest = payload;
    for _ in 0..n {
        let len = rest
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| bad("truncated"))?;
        let len = usize::try_from(len).map_err(|_| bad("truncated"))?;
        rest = &rest[8..];
        let part = rest.get(..len).ok_or_else(|| bad("truncated"))?;
        out.push(part);
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(bad("trailing data"));
    }
    Ok(out)
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u64).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Refuses configurations no wrapper of this version makes (before halo2 allocates columns).
fn check_config(c: &AggregationConfigParams) -> Result<(), String> {
    let sane = (MIN_WRAP_K..=MAX_WRAP_K).contains(&c.degree)
        && (1..=64).contains(&c.num_advice)
        && c.num_lookup_advice <= 16
        && (1..=16).contains(&c.num_fixed)
        && c.lookup_bits < c.degree as usize;
    if sane {
        Ok(())
    } else {
        Err(format!("implausible wrapper configuration {c:?}"))
    }
}

impl WrapVerifierKey {
    /// Public values of a wrapper proof.
    pub fn instance_count(&self) -> usize {
        MODEL_WORDS_START + self.model_words
    }

    /// The halo2 verifying key.
    pub fn halo2(&self) -> &VerifyingKey<G1Affine> {
        &self.vk
    }

    /// Verifier-side KZG parameters (`g`, `g2`, `s·g2`, size `2^k`).
    pub fn kzg_params(&self) -> &ParamsKZG<Bn256> {
        &self.params
    }

    /// `G₂` and `[s]G₂` of the setup.
    pub fn g2_points(&self) -> (G2Affine, G2Affine) {
        (self.params.g2(), self.params.s_g2())
    }

    /// The sealed file form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&VkHeader {
            config: self.config,
            level_ks: self.level_ks.clone(),
            digest: self.digest,
            inner_vk_sha256: self.inner_vk_sha256,
            model_words: self.model_words,
        })
        .unwrap_or_default();
        let points = encode_verifier_points(&self.params);
        let vk = self.vk.to_bytes(SerdeFormat::Processed);
        seal(VK_KIND, VERSION, &join(&[&header, &points, &vk]))
    }

    /// Parses the sealed file form.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, WrapError> {
        let payload = unseal(bytes, VK_KIND, VERSION, what, "wrapper verifying key")?;
        let bad = |d: &str| ArtifactError::Invalid {
            what: what.to_string(),
            detail: d.to_string(),
        };
        let p = parts(payload, 3, &bad)?;
        let header: VkHeader =
            serde_json::from_slice(p[0]).map_err(|e| bad(&format!("bad header: {e}")))?;
        check_config(&header.config).map_err(|e| bad(&e))?;
        if header.level_ks.last() != Some(&header.config.degree)
            || header.level_ks.len() > MAX_WRAP_LEVELS
        {
            return Err(bad("inconsistent wrapper levels").into());
        }
        if header.model_words > 1 << 20 {
            return Err(bad("implausible number of public values").into());
        }
        let params = decode_verifier_points(p[1], header.config.degree)
            .map_err(|e| bad(&format!("bad SRS points: {e}")))?;
        let config = header.config;
        let vk = guarded(|| {
            VerifyingKey::<G1Affine>::read::<_, AggregationCircuit>(
                &mut &p[2][..],
                SerdeFormat::Processed,
                config,
            )
        })
        .map_err(|_| bad("malformed verifying key"))?
        .map_err(|e| bad(&format!("malformed verifying key: {e}")))?;
        Ok(WrapVerifierKey {
            config,
            level_ks: header.level_ks,
            digest: header.digest,
            inner_vk_sha256: header.inner_vk_sha256,
            model_words: header.model_words,
            vk_sha256: VkHash(Sha256::digest(p[2]).into()),
            vk,
            params,
        })
    }

    /// Reads `wrap_vk.bin`.
    pub fn load(path: &Path) -> Result<Self, WrapError> {
        Self::from_bytes(&read_file(path)?, &path.display().to_string())
    }

    /// Writes `wrap_vk.bin`.
    pub fn save(&self, path: &Path) -> Result<(), WrapError> {
        Ok(write_atomic(path, &self.to_bytes())?)
    }

    /// Refuses a wrapper key made for another model or another setup of it.
    pub fn check_wraps(&self, inner: &VerifierKey) -> Result<(), WrapError> {
        if self.digest != inner.digest || self.inner_vk_sha256 != inner.vk_sha256 {
            return Err(WrapError::Keys(format!(
                "the wrapper key was made for model {} (key {}), not this model's key ({}, {}); run `zkinfer setup --wrap` again",
                self.digest, self.inner_vk_sha256, inner.digest, inner.vk_sha256
            )));
        }
        if self.params.s_g2() != inner.kzg_params().s_g2() {
            return Err(WrapError::Keys(
                "the wrapper key and the model key come from different setups (their [s]G2 differ)"
                    .into(),
            ));
        }
        if self.model_words != inner.io.instance_count() {
            return Err(WrapError::Keys(
                "the wrapper key expects another number of public values".into(),
            ));
        }
        Ok(())
    }
}

impl WrapProvingKey {
    /// The sealed file form: a header, then each level's proving key in the compact form of
    /// `zkinfer_prover::pk_codec` (halo2's own form is gigabytes at these sizes), written into
    /// one buffer. Levels' keys are decoded when proven, so a malformed one is reported then.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WrapError> {
        let header = serde_json::to_vec(&PkHeader {
            levels: self
                .levels
                .iter()
                .map(|l| LevelHeader {
                    config: l.config,
                    break_points: l.break_points.clone(),
                })
                .collect(),
            vk_sha256: self.vk_sha256,
            digest: self.digest,
            inner_vk_sha256: self.inner_vk_sha256,
        })
        .unwrap_or_default();
        let mut buf = vec![0u8; SEAL_HEADER_BYTES];
        push_part(&mut buf, |b| b.extend_from_slice(&header));
        for level in &self.levels {
            push_part(&mut buf, |b| b.extend_from_slice(&level.compact));
        }
        Ok(seal_in_place(PK_KIND, VERSION, buf))
    }

    /// Parses the sealed file form.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, WrapError> {
        let payload = unseal(bytes, PK_KIND, VERSION, what, "wrapper proving key")?;
        let bad = |d: &str| ArtifactError::Invalid {
            what: what.to_string(),
            detail: d.to_string(),
        };
        let header_part = first_part(payload, &bad)?;
        let header: PkHeader =
            serde_json::from_slice(header_part).map_err(|e| bad(&format!("bad header: {e}")))?;
        if header.levels.is_empty() || header.levels.len() > MAX_WRAP_LEVELS {
            return Err(bad("implausible number of wrapper levels").into());
        }
        let p = parts(payload, 1 + header.levels.len(), &bad)?;
        let mut levels = Vec::with_capacity(header.levels.len());
        for (h, bytes) in header.levels.into_iter().zip(&p[1..]) {
            check_config(&h.config).map_err(|e| bad(&e))?;
            levels.push(LevelKey {
                config: h.config,
                break_points: h.break_points,
                compact: bytes.to_vec(),
            });
        }
        Ok(WrapProvingKey {
            levels,
            vk_sha256: header.vk_sha256,
            digest: header.digest,
            inner_vk_sha256: header.inner_vk_sha256,
        })
    }

    /// Reads `wrap_pk.bin`.
    pub fn load(path: &Path) -> Result<Self, WrapError> {
        Self::from_bytes(&read_file(path)?, &path.display().to_string())
    }

    /// Writes `wrap_pk.bin`.
    pub fn save(&self, path: &Path) -> Result<(), WrapError> {
        Ok(write_atomic(path, &self.to_bytes()?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_above_the_first_keep_the_last_size() {
        let ks = |l: WrapLevels, n: usize| (0..n).map(|i| l.level_k(22, i)).collect::<Vec<_>>();
        assert_eq!(ks(WrapLevels::Exactly(2), 2), vec![21, 22]);
        assert_eq!(ks(WrapLevels::Exactly(3), 3), vec![21, 22, 22]);
        assert_eq!(ks(WrapLevels::Auto, 4), vec![21, 22, 22, 22]);
        assert_eq!(ks(WrapLevels::Exactly(1), 1), vec![22]);
        assert_eq!(WrapLevels::Auto.sizes(22), vec![21, 22]);
        assert_eq!(WrapLevels::Exactly(1).sizes(21), vec![21]);
    }

    #[test]
    fn auto_adds_levels_while_the_top_is_wide_up_to_the_most() {
        let auto = WrapLevels::Auto;
        // At least two, whatever the first's width.
        assert!(auto.wants_another(0, 0));
        assert!(auto.wants_another(1, 1));
        assert!(!auto.wants_another(2, 1));
        assert!(auto.wants_another(2, 2));
        assert!(auto.wants_another(3, 3));
        assert!(!auto.wants_another(MAX_WRAP_LEVELS, 2));
        let three = WrapLevels::Exactly(3);
        assert!(three.wants_another(2, 1));
        assert!(!three.wants_another(3, 5));
    }

    #[test]
    fn key_files_of_any_bytes_are_refused_without_a_panic() {
        for bytes in [&b""[..], b"junk", &[0u8; 100]] {
            assert!(WrapVerifierKey::from_bytes(bytes, "vk").is_err());
            assert!(WrapProvingKey::from_bytes(bytes, "pk").is_err());
        }
        // Sealed, but with payloads that do not decode or describe absurd circuits.
        let huge = AggregationConfigParams {
            degree: 22,
            num_advice: 1 << 30,
            num_lookup_advice: 1,
            num_fixed: 1,
            lookup_bits: 21,
        };
        let header = serde_json::to_vec(&VkHeader {
            config: huge,
            level_ks: vec![22],
            digest: ModelDigest([0; 32]),
            inner_vk_sha256: VkHash([0; 32]),
            model_words: 2,
        })
        .unwrap();
        for payload in [join(&[b"x"]), join(&[&header, b"", b""]), vec![0xff; 64]] {
            let sealed = seal(VK_KIND, VERSION, &payload);
            let e = WrapVerifierKey::from_bytes(&sealed, "vk").unwrap_err();
            assert!(!e.to_string().is_empty());
            let sealed = seal(PK_KIND, VERSION, &payload);
            assert!(WrapProvingKey::from_bytes(&sealed, "pk").is_err());
        }
    }
}
