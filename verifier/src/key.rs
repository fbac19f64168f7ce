//! The verifier key bundle (`vk.bin`): everything verification needs, in one sealed file —
//! the model digest, the circuit shape (to rebuild the constraint system), the public-value
//! layout, the three SRS points a KZG verifier uses, and the halo2 verifying key.

use crate::error::VerifyError;
use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine, G2Affine};
use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zkinfer_circuits::compiled::{seal, unseal, ArtifactError, IoSpec, ModelDigest};
use zkinfer_circuits::{CircuitShape, ModelCircuit};

const KIND: [u8; 4] = *b"VKEY";
/// 2: selector compression, degree-5 circuits (keys of version 1 do not match them).
const VERSION: u32 = 2;
/// File name of the verifier key inside a model folder.
pub const VK_FILE: &str = "vk.bin";

#[derive(Serialize, Deserialize)]
struct Header {
    digest: ModelDigest,
    shape: CircuitShape,
    io: IoSpec,
}

/// SHA-256 of a halo2 verifying key's bytes: identifies one setup of one model. Written as 64
/// hex digits (either case is read).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VkHash(pub [u8; 32]);

impl VkHash {
    /// Parses the hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let v = hex::decode(s.trim()).ok()?;
        Some(VkHash(v.try_into().ok()?))
    }
}

impl std::fmt::Display for VkHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for VkHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VkHash({self})")
    }
}

impl Serialize for VkHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for VkHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        VkHash::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("verifying key hash must be 64 hex digits"))
    }
}

/// A loaded verifier key.
#[derive(Clone, Debug)]
pub struct VerifierKey {
    /// Model the key belongs to.
    pub digest: ModelDigest,
    /// Circuit shape.
    pub shape: CircuitShape,
    /// Public values layout.
    pub io: IoSpec,
    /// SHA-256 of the halo2 verifying key bytes (identifies the setup).
    pub vk_sha256: VkHash,
    pub(crate) vk: VerifyingKey<G1Affine>,
    pub(crate) params: ParamsKZG<Bn256>,
}

fn catch<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, ArtifactError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| ArtifactError::Invalid {
        what: what.to_string(),
        detail: "malformed verifying key".into(),
    })
}

impl VerifierKey {
    /// Assembles a key from a halo2 verifying key and the SRS points `g`, `g2`, `s·g2`.
    pub fn new(
        digest: ModelDigest,
        shape: CircuitShape,
        io: IoSpec,
        vk: VerifyingKey<G1Affine>,
        g: G1Affine,
        g2: G2Affine,
        s_g2: G2Affine,
    ) -> std::io::Result<Self> {
        // SHPLONK verification uses only g, g2 and s·g2 (and n = 2^k).
        let params = sized(params_from_points(g, g2, s_g2)?, shape.k);
        let vk_sha256 = VkHash(Sha256::digest(vk.to_bytes(SerdeFormat::Processed)).into());
        Ok(VerifierKey {
            digest,
            shape,
            io,
            vk_sha256,
            vk,
            params,
        })
    }

    /// Whether the key was made with the insecure development SRS (see [`crate::srs`]).
    pub fn development_srs(&self) -> bool {
        crate::srs::is_development_s_g2(&self.params.s_g2())
    }

    /// The halo2 verifying key.
    pub fn halo2(&self) -> &VerifyingKey<G1Affine> {
        &self.vk
    }

    /// Verifier-side KZG parameters (`g`, `g2`, `s·g2`, size `2^k`).
    pub fn kzg_params(&self) -> &ParamsKZG<Bn256> {
        &self.params
    }

    /// Serializes to the sealed file form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&Header {
            digest: self.digest,
            shape: self.shape.clone(),
            io: self.io.clone(),
        })
        .unwrap_or_default();
        use halo2_proofs::poly::commitment::ParamsProver;
        let params = points_bytes(self.params.get_g()[0], self.params.g2(), self.params.s_g2());
        let vk = self.vk.to_bytes(SerdeFormat::Processed);
        let mut payload = Vec::with_capacity(header.len() + params.len() + vk.len() + 24);
        for part in [&header, &params, &vk] {
            payload.extend_from_slice(&(part.len() as u64).to_le_bytes());
            payload.extend_from_slice(part);
        }
        seal(KIND, VERSION, &payload)
    }

    /// Parses and checks the sealed file form.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, VerifyError> {
        let payload = unseal(bytes, KIND, VERSION, what, "verifying key")?;
        let bad = |detail: &str| ArtifactError::Invalid {
            what: what.to_string(),
            detail: detail.to_string(),
        };
        let mut parts = Vec::new();
        let mut rest = payload;
        for _ in 0..3 {
            if rest.len() < 8 {
                return Err(bad("truncated").into());
            }
            let len =
                u64::from_le_bytes(rest[..8].try_into().map_err(|_| bad("truncated"))?) as usize;
            rest = &rest[8..];
            if rest.len() < len {
                return Err(bad("truncated").into());
            }
            parts.push(&rest[..len]);
            rest = &rest[len..];
        }
        if !rest.is_empty() {
            return Err(bad("trailing data").into());
        }
        let header: Header =
            serde_json::from_slice(parts[0]).map_err(|e| bad(&format!("bad header: {e}")))?;
        header.shape.validate().map_err(|e| bad(&e.to_string()))?;
        header
            .io
            .validate(&header.shape)
            .map_err(|e| bad(&e.to_string()))?;
        let params = catch(what, || read_points(parts[1]))?
            .map_err(|e| bad(&format!("bad SRS points: {e}")))?;
        let shape = header.shape.clone();
        let mut vk_bytes = parts[2];
        let vk = catch(what, || {
            VerifyingKey::<G1Affine>::read::<_, ModelCircuit>(
                &mut vk_bytes,
                SerdeFormat::Processed,
                shape,
            )
        })?
        .map_err(|e| bad(&format!("bad verifying key: {e}")))?;
        if !vk_bytes.is_empty() {
            return Err(bad("trailing data after the verifying key").into());
        }
        if vk.get_domain().k() != header.shape.k {
            return Err(bad("verifying key size does not match its shape").into());
        }
        let params = sized(params, header.shape.k);
        Ok(VerifierKey {
            digest: header.digest,
            shape: header.shape,
            io: header.io,
            vk_sha256: VkHash(Sha256::digest(parts[2]).into()),
            vk,
            params,
        })
    }

    /// Reads `vk.bin`.
    pub fn load(path: &std::path::Path) -> Result<Self, VerifyError> {
        let bytes = zkinfer_circuits::compiled::read_file(path)?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }
}

/// The encoded verifier points of `params` (`g`, `g2`, `s·g2`), as key files store them.
pub fn encode_verifier_points(params: &ParamsKZG<Bn256>) -> Vec<u8> {
    use halo2_proofs::poly::commitment::ParamsProver;
    points_bytes(params.get_g()[0], params.g2(), params.s_g2())
}

/// Verifier parameters of size `2^k` from [`encode_verifier_points`]'s bytes.
pub fn decode_verifier_points(bytes: &[u8], k: u32) -> std::io::Result<ParamsKZG<Bn256>> {
    let p = std::panic::catch_unwind(|| read_points(bytes)).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed SRS points")
    })??;
    Ok(sized(p, k))
}

/// Verifier-only KZG parameters (`k = 0`: the single point `g`, plus `g2` and `s·g2`).
fn params_from_points(
    g: G1Affine,
    g2: G2Affine,
    s_g2: G2Affine,
) -> std::io::Result<ParamsKZG<Bn256>> {
    read_points(&points_bytes(g, g2, s_g2))
}

/// halo2's `Processed` encoding of a `k = 0` parameter set: `k`, `g` (as both bases), `g2`, `s·g2`.
fn points_bytes(g: G1Affine, g2: G2Affine, s_g2: G2Affine) -> Vec<u8> {
    use halo2_proofs::halo2curves::group::GroupEncoding;
    let mut bytes = 0u32.to_le_bytes().to_vec();
    for p in [
        g.to_bytes().as_ref().to_vec(),
        g.to_bytes().as_ref().to_vec(),
        g2.to_bytes().as_ref().to_vec(),
        s_g2.to_bytes().as_ref().to_vec(),
    ] {
        bytes.extend_from_slice(&p);
    }
    bytes
}

/// The one-point parameters, reporting `n = 2^k` (the verifier evaluates `x^n`).
fn sized(p: ParamsKZG<Bn256>, k: u32) -> ParamsKZG<Bn256> {
    use halo2_proofs::poly::commitment::ParamsProver;
    let g = p.get_g()[0];
    p.from_parts(k, vec![g], Some(vec![g]), p.g2(), p.s_g2())
}

/// Reads verifier parameters, refusing anything but `k = 0` before halo2 allocates `2^k` points,
/// and degenerate points ([`crate::srs::degenerate`]), under which every proof verifies.
fn read_points(bytes: &[u8]) -> std::io::Result<ParamsKZG<Bn256>> {
    use halo2_proofs::poly::commitment::ParamsProver;
    if bytes.len() < 4 || bytes[..4] != [0, 0, 0, 0] {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "expected a one-point parameter set",
        ));
    }
    let p = ParamsKZG::<Bn256>::read_custom(&mut &bytes[..], SerdeFormat::Processed)?;
    let g = p.get_g().first().copied().unwrap_or_default();
    if let Some(why) = crate::srs::degenerate(&g, &p.g2(), &p.s_g2()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("degenerate KZG parameters ({why}): every proof would verify"),
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::halo2curves::bn256::G2Affine;
    use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;

    /// Points as a key file stores them: read back when sound, refused when degenerate (an
    /// all-zero parameter file's points at infinity, or `s = 1`), whatever the size.
    #[test]
    fn degenerate_key_points_are_refused() {
        let (g, g2) = (G1Affine::generator(), G2Affine::generator());
        let s_g2: G2Affine = (g2 * crate::srs::development_secret()).into();
        assert!(decode_verifier_points(&points_bytes(g, g2, s_g2), 10).is_ok());
        let zero = (
            G1Affine::identity(),
            G2Affine::identity(),
            G2Affine::identity(),
        );
        for (g, g2, s_g2) in [zero, (g, g2, G2Affine::identity()), (g, g2, g2)] {
            let err = decode_verifier_points(&points_bytes(g, g2, s_g2), 10).unwrap_err();
            assert!(err.to_string().contains("degenerate"), "{err}");
        }
    }
}
