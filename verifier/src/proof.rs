//! The proof file (`PROOF.json`) written by `zkinfer prove`.

use crate::error::VerifyError;
use crate::instances::{self, PublicValues};
use crate::key::VkHash;
use halo2_proofs::halo2curves::ff::PrimeField;
use serde::{Deserialize, Serialize};
use zkinfer_circuits::compiled::{IoSpec, IoTensor, ModelDigest};

/// Current proof file version.
pub const PROOF_VERSION: u32 = 1;
/// Proof system, for humans and tools.
pub const PROTOCOL: &str = "halo2-plonk/kzg-shplonk/bn254";
/// Transcript, for humans and tools.
pub const TRANSCRIPT: &str = "keccak256 (EVM-compatible)";

/// A proof and the public values it proves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofFile {
    /// Format version.
    pub version: u32,
    /// Proof system.
    pub protocol: String,
    /// Fiat–Shamir transcript.
    pub transcript: String,
    /// Digest of the compiled model (hex).
    pub model_digest: ModelDigest,
    /// SHA-256 of the verifying key used (hex).
    pub vk_sha256: VkHash,
    /// Dequantized inputs, one flat list per graph input.
    pub inputs: Vec<Vec<f64>>,
    /// Input shapes.
    pub input_shapes: Vec<Vec<usize>>,
    /// Dequantized outputs, one flat list per graph output, in graph order.
    pub outputs: Vec<Vec<f64>>,
    /// Output shapes.
    pub output_shapes: Vec<Vec<usize>>,
    /// Public instances per instance column: 32-byte big-endian hex field elements
    /// (quantized inputs, then quantized outputs).
    pub instances: Vec<Vec<String>>,
    /// The proof bytes (hex, `0x`-prefixed).
    pub proof: String,
}

impl ProofFile {
    /// The proof file of `proof` for the public values `public` of the model `digest` under the
    /// verifying key `vk` (the values are listed dequantized, as `io` says).
    pub fn new(
        digest: ModelDigest,
        vk: VkHash,
        io: &IoSpec,
        public: &PublicValues,
        proof: &[u8],
    ) -> Self {
        let shapes = |t: &[IoTensor]| t.iter().map(|x| x.shape.clone()).collect();
        ProofFile {
            version: PROOF_VERSION,
            protocol: PROTOCOL.into(),
            transcript: TRANSCRIPT.into(),
            model_digest: digest,
            vk_sha256: vk,
            inputs: public.real_inputs(io),
            input_shapes: shapes(&io.inputs),
            outputs: public.real_outputs(io),
            output_shapes: shapes(&io.outputs),
            instances: vec![instances::encode(&public.field)],
            proof: format!("0x{}", hex::encode(proof)),
        }
    }

    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, VerifyError> {
        serde_json::from_str(text).map_err(|e| VerifyError::Format(format!("{e}")))
    }

    /// Serializes to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Decodes the proof bytes.
    pub fn proof_bytes(&self) -> Result<Vec<u8>, VerifyError> {
        let h = self.proof.strip_prefix("0x").unwrap_or(&self.proof);
        hex::decode(h).map_err(|e| VerifyError::Format(format!("'proof' is not hex: {e}")))
    }

    /// EVM calldata for a generated verifier: every public value as a 32-byte big-endian word,
    /// then the proof bytes.
    pub fn calldata(&self) -> Result<Vec<u8>, VerifyError> {
        let mut out = Vec::new();
        for (i, h) in self.instances.iter().flatten().enumerate() {
            let x = zkinfer_circuits::field::from_hex(h).ok_or_else(|| {
                VerifyError::Format(format!("instance #{i} is not a canonical field element"))
            })?;
            let mut be = x.to_repr();
            be.as_mut().reverse();
            out.extend_from_slice(be.as_ref());
        }
        out.extend(self.proof_bytes()?);
        Ok(out)
    }

    /// Reads a proof file.
    pub fn load(path: &std::path::Path) -> Result<Self, VerifyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| VerifyError::Format(format!("{}: {e}", path.display())))?;
        Self::from_json(&text).map_err(|e| match e {
            VerifyError::Format(m) => VerifyError::Format(format!("{}: {m}", path.display())),
            other => other,
        })
    }
}
