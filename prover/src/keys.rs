//! Key generation and the proving-key file (`pk.bin`).

use crate::error::ProverError;
use crate::pk_codec::{read_compact, write_compact};
use crate::srs::Srs;
use halo2_proofs::halo2curves::bn256::G1Affine;
use halo2_proofs::plonk::{keygen_pk, keygen_vk_custom, ProvingKey};
use halo2_proofs::poly::commitment::ParamsProver;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use zkinfer_circuits::compiled::{
    read_file, seal, unseal, write_atomic, ArtifactError, CompiledModel, ModelDigest,
};
use zkinfer_circuits::{CircuitShape, ModelCircuit};
use zkinfer_verifier::{VerifierKey, VkHash};

const KIND: [u8; 4] = *b"PKEY";
/// 2: selector compression, degree-5 circuits (keys of version 1 do not match them).
/// 3: the sentinel row (chips lay out one row fewer; the function table gained `(0, 1, 1)`):
/// a version-2 key of the same model would prove against the old fixed columns.
/// 4: the compact key form of [`crate::pk_codec`].
const VERSION: u32 = 4;
/// File name of the proving key inside a model folder.
pub const PK_FILE: &str = "pk.bin";

/// Proving and verifier keys of one model under one SRS.
pub struct Keys {
    /// halo2 proving key.
    pub pk: ProvingKey<G1Affine>,
    /// Verifier key bundle.
    pub vk: VerifierKey,
}

#[derive(Serialize, Deserialize)]
struct PkHeader {
    digest: ModelDigest,
    shape: CircuitShape,
    vk_sha256: VkHash,
}

/// Generates keys for a compiled model.
pub fn keygen(model: &CompiledModel, srs: &Srs) -> Result<Keys, ProverError> {
    if srs.k() != model.shape.k {
        return Err(ProverError::Srs(format!(
            "SRS has k = {}, the model needs k = {}",
            srs.k(),
            model.shape.k
        )));
    }
    let plan = model.plan()?;
    let circuit = ModelCircuit::for_keygen(Arc::new(model.graph.clone()), Arc::new(plan));
    let params = &srs.params;
    let halo2 = |e: halo2_proofs::plonk::Error| ProverError::Keygen(format!("{e:?}"));
    let run = || -> Result<Keys, ProverError> {
        // Selector compression: selectors of gates on disjoint rows share one fixed column, so
        // the key (and every verifier) has fewer commitments.
        let vk = keygen_vk_custom(params, &circuit, true).map_err(halo2)?;
        let pk = keygen_pk(params, vk.clone(), &circuit).map_err(halo2)?;
        let g = params.get_g()[0];
        let vk = VerifierKey::new(
            model.digest,
            model.shape.clone(),
            model.io(),
            vk,
            g,
            params.g2(),
            params.s_g2(),
        )
        .map_err(|e| ProverError::Keygen(e.to_string()))?;
        Ok(Keys { pk, vk })
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(r) => r,
        Err(_) => Err(ProverError::Keygen(
            "internal error while generating keys".into(),
        )),
    }
}

/// Serializes a proving key with the model it belongs to (the compact form of
/// [`crate::pk_codec`]).
pub fn pk_to_bytes(
    pk: &ProvingKey<G1Affine>,
    model: &CompiledModel,
    vk: &VerifierKey,
) -> Result<Vec<u8>, ProverError> {
    let header = serde_json::to_vec(&PkHeader {
        digest: model.digest,
        shape: model.shape.clone(),
        vk_sha256: vk.vk_sha256,
    })
    .unwrap_or_default();
    let mut payload = (header.len() as u64).to_le_bytes().to_vec();
    payload.extend_from_slice(&header);
    write_compact(pk, &mut payload).map_err(|e| ProverError::Keygen(e.to_string()))?;
    Ok(seal(KIND, VERSION, &payload))
}

/// A proving key read back, with the verifying-key hash it was made with.
pub struct LoadedPk {
    /// halo2 proving key.
    pub pk: ProvingKey<G1Affine>,
    /// SHA-256 of the matching verifying key.
    pub vk_sha256: VkHash,
}

/// Parses a proving key for `model`, refusing keys of another model.
pub fn pk_from_bytes(
    bytes: &[u8],
    what: &str,
    model: &CompiledModel,
) -> Result<LoadedPk, ProverError> {
    let payload = unseal(bytes, KIND, VERSION, what, "proving key").map_err(|e| match e {
        ArtifactError::Version {
            what,
            found,
            expected,
        } if found < expected => ProverError::StaleKey {
            what,
            found,
            expected,
        },
        e => e.into(),
    })?;
    let bad = |d: &str| {
        ProverError::Artifact(ArtifactError::Invalid {
            what: what.into(),
            detail: d.into(),
        })
    };
    let len = payload
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| bad("truncated"))? as usize;
    let header_bytes = payload.get(8..8 + len).ok_or_else(|| bad("truncated"))?;
    let header: PkHeader =
        serde_json::from_slice(header_bytes).map_err(|e| bad(&format!("bad header: {e}")))?;
    if header.digest != model.digest || header.shape != model.shape {
        return Err(ProverError::KeyMismatch {
            what: what.into(),
            found: header.digest.to_string(),
            expected: model.digest.to_string(),
        });
    }
    let rest = &payload[8 + len..];
    let pk = read_compact::<ModelCircuit>(rest, model.shape.k, model.shape.clone())
        .map_err(|e| bad(&e.to_string()))?;
    Ok(LoadedPk {
        pk,
        vk_sha256: header.vk_sha256,
    })
}

/// Writes `pk.bin`.
pub fn save_pk(
    path: &Path,
    pk: &ProvingKey<G1Affine>,
    model: &CompiledModel,
    vk: &VerifierKey,
) -> Result<(), ProverError> {
    Ok(write_atomic(path, &pk_to_bytes(pk, model, vk)?)?)
}

/// Reads `pk.bin` for `model`.
pub fn load_pk(path: &Path, model: &CompiledModel) -> Result<LoadedPk, ProverError> {
    pk_from_bytes(&read_file(path)?, &path.display().to_string(), model)
}
