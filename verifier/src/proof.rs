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
/// Transcript of a model proof made to be wrapped (`prove --wrap`): the wrapper circuit hashes
/// it with Poseidon, as snark-verifier-sdk's in-circuit verifier reads it.
pub const WRAPPED_TRANSCRIPT: &str = "poseidon (snark-verifier-sdk, t = 3, rate 2, 8 + 57 rounds)";

/// A wrapper proof (`prove --wrap`): a second proof, of a circuit that verifies the model proof
/// and exposes its public values, checked on-chain by a small verifier of fixed shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrapperProof {
    /// SHA-256 of the wrapper's verifying key (hex).
    pub vk_sha256: VkHash,
    /// The wrapper's public values (32-byte big-endian hex): the 12 limbs of the KZG
    /// accumulator, the model digest as two 128-bit halves, then the model proof's instances.
    pub instances: Vec<String>,
    /// The wrapper proof's bytes (hex, `0x`-prefixed; Keccak transcript).
    pub proof: String,
}

impl WrapperProof {
    /// Decodes the proof bytes.
    pub fn proof_bytes(&self) -> Result<Vec<u8>, VerifyError> {
        decode_hex("wrapper.proof", &self.proof)
    }

    /// Decodes the public values.
    pub fn field_instances(
        &self,
    ) -> Result<Vec<halo2_proofs::halo2curves::bn256::Fr>, VerifyError> {
        self.instances
            .iter()
            .enumerate()
            .map(|(i, h)| {
                zkinfer_circuits::field::from_hex(h).ok_or_else(|| {
                    VerifyError::Format(format!(
                        "wrapper instance #{i} is not a canonical field element"
                    ))
                })
            })
            .collect()
    }

    /// EVM calldata for the wrapper's Solidity verifier: every public value as a 32-byte
    /// big-endian word, then the proof bytes.
    pub fn calldata(&self) -> Result<Vec<u8>, VerifyError> {
        let mut out = words(&self.field_instances()?);
        out.extend(self.proof_bytes()?);
        Ok(out)
    }
}

fn decode_hex(field: &str, h: &str) -> Result<Vec<u8>, VerifyError> {
    let h = h.strip_prefix("0x").unwrap_or(h);
    hex::decode(h).map_err(|e| VerifyError::Format(format!("'{field}' is not hex: {e}")))
}

fn words(xs: &[halo2_proofs::halo2curves::bn256::Fr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 * xs.len());
    for x in xs {
        let mut be = x.to_repr();
        be.as_mut().reverse();
        out.extend_from_slice(be.as_ref());
    }
    out
}

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
    /// The wrapper proof, when made with `prove --wrap` (then `transcript` is
    /// [`WRAPPED_TRANSCRIPT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapper: Option<WrapperProof>,
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
            wrapper: None,
        }
    }

    /// Parses JSON.
    pub fn from_json(text: &str) -> Result<Self, VerifyError> {
        let p: ProofFile =
            serde_json::from_str(text).map_err(|e| VerifyError::Format(format!("{e}")))?;
        if p.protocol != PROTOCOL {
            return Err(VerifyError::Format(format!(
                "protocol '{}' is not '{PROTOCOL}', the only one zkinfer proves",
                p.protocol
            )));
        }
        if p.transcript != TRANSCRIPT && p.transcript != WRAPPED_TRANSCRIPT {
            return Err(VerifyError::Format(format!(
                "transcript '{}' is neither '{TRANSCRIPT}' nor the wrapper's",
                p.transcript
            )));
        }
        Ok(p)
    }

    /// Serializes to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Decodes the proof bytes.
    pub fn proof_bytes(&self) -> Result<Vec<u8>, VerifyError> {
        decode_hex("proof", &self.proof)
    }

    /// Whether this is a wrapped proof (`prove --wrap`).
    pub fn is_wrapped(&self) -> bool {
        self.wrapper.is_some() || self.transcript == WRAPPED_TRANSCRIPT
    }

    /// EVM calldata for a generated verifier: every public value as a 32-byte big-endian word,
    /// then the proof bytes.
    pub fn calldata(&self) -> Result<Vec<u8>, VerifyError> {
        if self.is_wrapped() {
            return Err(VerifyError::Format(
                "this proof was made with --wrap: its model proof is for the wrapper, not for the model's own verifier contract (use `calldata --wrap`)".into(),
            ));
        }
        let field = self
            .instances
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, h)| {
                zkinfer_circuits::field::from_hex(h).ok_or_else(|| {
                    VerifyError::Format(format!("instance #{i} is not a canonical field element"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = words(&field);
        out.extend(self.proof_bytes()?);
        Ok(out)
    }

    /// Reads a proof file.
    pub fn load(path: &std::path::Path) -> Result<Self, VerifyError> {
        use zkinfer_circuits::compiled::{read_capped, MAX_JSON_BYTES};
        let text = read_capped(path, MAX_JSON_BYTES)
            .and_then(|b| String::from_utf8(b).map_err(std::io::Error::other))
            .map_err(|e| VerifyError::Format(format!("{}: {e}", path.display())))?;
        Self::from_json(&text).map_err(|e| match e {
            VerifyError::Format(m) => VerifyError::Format(format!("{}: {m}", path.display())),
            other => other,
        })
    }
}
