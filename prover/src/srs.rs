//! Structured reference strings (KZG parameters).
//!
//! Without a file, `setup` makes a *development* SRS from a fixed seed: anyone can recompute its
//! secret, so proofs under it are forgeable. It is for trying zkinfer out, never for production.
//! With a file, any halo2 KZG parameter file (`ParamsKZG::write`, raw or compressed points) is
//! accepted; a larger one is downsized to the model's `k`.

use crate::error::ProverError;
use halo2_proofs::halo2curves::bn256::Bn256;
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use std::path::Path;
use zkinfer_circuits::compiled::{read_file, seal, unseal, write_atomic};
use zkinfer_circuits::plan::MAX_K;

const KIND: [u8; 4] = *b"SRS\0";
const VERSION: u32 = 1;
/// File name of the SRS inside a model folder.
pub const SRS_FILE: &str = "srs.bin";

/// KZG parameters and where they came from.
#[derive(Clone, Debug)]
pub struct Srs {
    /// The parameters, at exactly the model's size.
    pub params: ParamsKZG<Bn256>,
    /// True for the insecure development SRS.
    pub insecure: bool,
}

impl Srs {
    /// The deterministic development SRS of size `2^k`.
    pub fn development(k: u32) -> Self {
        Srs {
            params: crate::devsrs::development_params(k),
            insecure: true,
        }
    }

    /// Loads a halo2 KZG parameter file (or another model folder's `srs.bin`) and downsizes it
    /// to `2^k`.
    pub fn from_halo2_file(path: &Path, k: u32) -> Result<Self, ProverError> {
        // Read no more than the largest file its header's size allows (a device never ends).
        let failed = |e: std::io::Error| ProverError::Srs(format!("{}: {e}", path.display()));
        let mut head = [0u8; 4];
        let _ = std::io::Read::read(&mut std::fs::File::open(path).map_err(failed)?, &mut head);
        let head_k = u64::from(u32::from_le_bytes(head).min(MAX_K));
        let cap = 4 + 2 * (64u64 << head_k) + 2 * 128;
        let bytes =
            zkinfer_circuits::compiled::read_capped(path, cap.max(1 << 20)).map_err(failed)?;
        let what = path.display().to_string();
        if bytes.starts_with(b"ZKINFER\0") {
            return Self::from_folder_file(&bytes, &what, k);
        }
        if bytes.len() < 4 {
            return Err(ProverError::Srs(format!(
                "{what}: too short to be a KZG parameter file"
            )));
        }
        let file_k = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if file_k > MAX_K {
            return Err(ProverError::Srs(format!(
                "{what}: not a halo2 KZG parameter file (header says k = {file_k})"
            )));
        }
        let n = 1usize << file_k;
        let format = if bytes.len() == 4 + 2 * n * 64 + 2 * 128 {
            SerdeFormat::RawBytes
        } else if bytes.len() == 4 + 2 * n * 32 + 2 * 64 {
            SerdeFormat::Processed
        } else {
            return Err(ProverError::Srs(format!(
                "{what}: size {} does not match a KZG parameter file with k = {file_k}",
                bytes.len()
            )));
        };
        if file_k < k {
            return Err(ProverError::Srs(format!(
                "{what} has 2^{file_k} points; this model needs 2^{k}"
            )));
        }
        let read =
            std::panic::catch_unwind(|| ParamsKZG::<Bn256>::read_custom(&mut &bytes[..], format));
        let mut params = match read {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(ProverError::Srs(format!("{what}: {e}"))),
            Err(_) => {
                return Err(ProverError::Srs(format!(
                    "{what}: malformed parameter file"
                )))
            }
        };
        // Degenerate parameters first (named as such: any proof would verify under them),
        // then every point of an uncompressed file.
        check_points(&params, &what)?;
        if matches!(format, SerdeFormat::RawBytes) {
            check_raw_points(&bytes, &what)?;
        }
        if file_k > k {
            params.downsize(k);
        }
        Ok(Srs {
            params,
            insecure: false,
        })
    }

    /// Another model folder's `srs.bin` (given to `setup --srs`), downsized to `2^k`; it stays
    /// marked insecure if it is the development SRS.
    fn from_folder_file(bytes: &[u8], what: &str, k: u32) -> Result<Self, ProverError> {
        let mut srs = Self::from_bytes(bytes, what)?;
        check_points(&srs.params, what)?;
        match srs.k() {
            file_k if file_k < k => Err(ProverError::Srs(format!(
                "{what} has 2^{file_k} points; this model needs 2^{k}"
            ))),
            file_k => {
                if file_k > k {
                    srs.params.downsize(k);
                }
                Ok(srs)
            }
        }
    }

    /// Size exponent.
    pub fn k(&self) -> u32 {
        self.params.k()
    }

    /// Serialized form (`srs.bin`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut payload = vec![self.insecure as u8];
        let _ = self
            .params
            .write_custom(&mut payload, SerdeFormat::RawBytesUnchecked);
        seal(KIND, VERSION, &payload)
    }

    /// Parses `srs.bin` (integrity is checked by the container checksum).
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, ProverError> {
        let payload = unseal(bytes, KIND, VERSION, what, "SRS")?;
        let (&flag, rest) = payload
            .split_first()
            .ok_or_else(|| ProverError::Srs(format!("{what}: empty")))?;
        if rest.len() < 4 || u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) > MAX_K {
            return Err(ProverError::Srs(format!("{what}: bad header")));
        }
        check_raw_points(rest, what)?;
        let params = std::panic::catch_unwind(|| {
            ParamsKZG::<Bn256>::read_custom(&mut &rest[..], SerdeFormat::RawBytesUnchecked)
        })
        .map_err(|_| ProverError::Srs(format!("{what}: malformed")))?
        .map_err(|e| ProverError::Srs(format!("{what}: {e}")))?;
        // The flag is only as good as the file: the development SRS is known by its point too.
        let insecure = flag != 0 || zkinfer_verifier::srs::is_development_s_g2(&params.s_g2());
        Ok(Srs { params, insecure })
    }

    /// Writes `srs.bin`.
    pub fn save(&self, path: &Path) -> Result<(), ProverError> {
        Ok(write_atomic(path, &self.to_bytes())?)
    }

    /// Reads `srs.bin`.
    pub fn load(path: &Path) -> Result<Self, ProverError> {
        Self::from_bytes(&read_file(path)?, &path.display().to_string())
    }
}

/// Refuses parameters whose points are not points of the curves: `raw` is the uncompressed
/// layout (`k`, `2^k` monomial and `2^k` Lagrange G1 points, `g2`, `s·g2`, coordinates in
/// Montgomery form) that `srs.bin` keeps and `RawBytes` files have, which halo2 reads without
/// checking the curve. A damaged or altered file is named here, not by a failed proof later.
/// A size that does not match is left to the parser, which refuses it.
fn check_raw_points(raw: &[u8], what: &str) -> Result<(), ProverError> {
    use halo2_proofs::halo2curves::bn256::{G1Affine, G2Affine};
    use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
    use halo2_proofs::halo2curves::serde::SerdeObject;
    use rayon::prelude::*;
    const G1: usize = 64;
    const G2: usize = 128;
    let Some(k) = raw
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return Ok(());
    };
    let n = match k {
        k if k <= MAX_K => 1usize << k,
        _ => return Ok(()),
    };
    let (Some(g1), Some(g2)) = (raw.get(4..4 + 2 * n * G1), raw.get(4 + 2 * n * G1..)) else {
        return Ok(());
    };
    let bad = |i: usize, why: &str| {
        let (set, at) = match i < n {
            true => ("monomial", i),
            false => ("Lagrange", i - n),
        };
        ProverError::Srs(format!(
            "{what}: {set} point {at} {why} (the file is damaged or was altered)"
        ))
    };
    let first_bad = g1
        .par_chunks_exact(G1)
        .position_first(|p| p.iter().all(|&b| b == 0) || G1Affine::from_raw_bytes(p).is_none());
    if let Some(i) = first_bad {
        let zero = g1[i * G1..(i + 1) * G1].iter().all(|&b| b == 0);
        return Err(bad(
            i,
            if zero {
                "is the point at infinity"
            } else {
                "is not on the curve"
            },
        ));
    }
    for (i, p) in g2.chunks_exact(G2).take(2).enumerate() {
        let why = match G2Affine::from_raw_bytes(p) {
            None => "is not on the curve",
            Some(p) if bool::from(p.is_identity()) => "is the point at infinity",
            Some(_) => continue,
        };
        let name = ["g2", "s·g2"][i];
        return Err(ProverError::Srs(format!(
            "{what}: {name} {why} (the file is damaged or was altered)"
        )));
    }
    Ok(())
}

/// Refuses parameters a verifier must not trust: degenerate points
/// ([`zkinfer_verifier::srs::degenerate`]), or a second power that is not `s` times the first
/// (`e(g_1, G2) ≠ e(g_0, s·G2)`: not a KZG parameter set at all).
fn check_points(params: &ParamsKZG<Bn256>, what: &str) -> Result<(), ProverError> {
    use halo2_proofs::halo2curves::bn256::pairing;
    use halo2_proofs::poly::commitment::ParamsProver;
    let g = params.get_g();
    let (g2, s_g2) = (params.g2(), params.s_g2());
    let g0 = g.first().copied().unwrap_or_default();
    if let Some(why) = zkinfer_verifier::srs::degenerate(&g0, &g2, &s_g2) {
        return Err(ProverError::Srs(format!(
            "{what}: degenerate parameters ({why})"
        )));
    }
    if let Some(g1) = g.get(1) {
        if pairing(g1, &g2) != pairing(&g0, &s_g2) {
            return Err(ProverError::Srs(format!(
                "{what}: inconsistent parameters (the second power is not s times the first)"
            )));
        }
    }
    Ok(())
}
