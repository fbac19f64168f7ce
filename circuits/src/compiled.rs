//! The compiled model (`model.zkm`), its digest, and the checksummed container every binary
//! artifact uses (model, keys, SRS).

use crate::graph::requant::AffineScale;
use crate::graph::{QOp, QuantizedGraph};
use crate::plan::{CircuitPlan, CircuitShape, LayoutError};
use crate::public_io::PublicIo;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use thiserror::Error;

/// Problems with an artifact file.
#[derive(Debug, Error)]
pub enum ArtifactError {
    /// Filesystem error.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// Not an artifact of the expected kind.
    #[error("{what}: not a zkinfer {expected} file (bad header)")]
    WrongKind {
        what: String,
        expected: &'static str,
    },
    /// Written by an incompatible version.
    #[error("{what}: format version {found} is not supported (expected {expected})")]
    Version {
        what: String,
        found: u32,
        expected: u32,
    },
    /// Checksum mismatch: truncated or corrupted.
    #[error("{what}: file is truncated or corrupted (checksum mismatch)")]
    Corrupt { what: String },
    /// Payload does not decode.
    #[error("{what}: cannot decode contents: {detail}")]
    Decode { what: String, detail: String },
    /// Decodes, but is inconsistent.
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
}

const MAGIC: &[u8; 8] = b"ZKINFER\0";

/// Wraps a payload: magic, kind tag, version, length, SHA-256 of the payload, payload.
pub fn seal(kind: [u8; 4], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 56);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&kind);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(payload);
    out
}

/// Bytes of [`seal`]'s header.
pub const SEAL_HEADER_BYTES: usize = 56;

/// [`seal`] without copying a large payload: `buf` holds [`SEAL_HEADER_BYTES`] bytes of any
/// value, then the payload; the header is written over them.
pub fn seal_in_place(kind: [u8; 4], version: u32, mut buf: Vec<u8>) -> Vec<u8> {
    if buf.len() < SEAL_HEADER_BYTES {
        buf.resize(SEAL_HEADER_BYTES, 0);
    }
    let (head, payload) = buf.split_at_mut(SEAL_HEADER_BYTES);
    head[..8].copy_from_slice(MAGIC);
    head[8..12].copy_from_slice(&kind);
    head[12..16].copy_from_slice(&version.to_le_bytes());
    head[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    head[24..56].copy_from_slice(&Sha256::digest(payload));
    buf
}

/// Checks and strips the container written by [`seal`].
pub fn unseal<'a>(
    bytes: &'a [u8],
    kind: [u8; 4],
    version: u32,
    what: &str,
    expected: &'static str,
) -> Result<&'a [u8], ArtifactError> {
    let wrong = || ArtifactError::WrongKind {
        what: what.to_string(),
        expected,
    };
    if bytes.len() < 56 || &bytes[..8] != MAGIC || bytes[8..12] != kind {
        return Err(wrong());
    }
    let found = u32::from_le_bytes(bytes[12..16].try_into().map_err(|_| wrong())?);
    if found != version {
        return Err(ArtifactError::Version {
            what: what.to_string(),
            found,
            expected: version,
        });
    }
    let len = u64::from_le_bytes(bytes[16..24].try_into().map_err(|_| wrong())?) as usize;
    let payload = &bytes[56..];
    if payload.len() != len || Sha256::digest(payload).as_slice() != &bytes[24..56] {
        return Err(ArtifactError::Corrupt {
            what: what.to_string(),
        });
    }
    Ok(payload)
}

/// Writes a file the user named (`--out`): through a symbolic link (its target replaced, as a
/// shell's redirection would), otherwise as [`write_atomic`].
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::canonicalize(path).map_err(|source| ArtifactError::Io {
                path: format!(
                    "{} (a symbolic link whose target is missing)",
                    path.display()
                ),
                source,
            })?;
            write_atomic(&target, bytes)
        }
        _ => write_atomic(path, bytes),
    }
}

/// Writes a file atomically: a temporary file in the same folder, then a rename, so a failed or
/// interrupted write never leaves a partial artifact behind. Something in the way that is not
/// a regular file or a link (a device, a pipe, a folder) is refused rather than replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    let io = |source| ArtifactError::Io {
        path: path.display().to_string(),
        source,
    };
    let kind = std::fs::symlink_metadata(path).map(|m| m.file_type());
    if kind.is_ok_and(|t| !t.is_file() && !t.is_symlink()) {
        return Err(io(std::io::Error::other(
            "not a regular file: not replaced",
        )));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "artifact".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // A fresh file: never through something already at the temporary name.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io)?;
    std::io::Write::write_all(&mut file, bytes).map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Reads a file of at most `cap` bytes (an input, a proof, a model): a device or a pipe that
/// never ends is cut off there.
pub fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB", cap >> 20),
        ));
    }
    Ok(bytes)
}

/// Largest input or proof file read (JSON).
pub const MAX_JSON_BYTES: u64 = 1 << 30;

/// Largest ONNX file read (protobuf's own limit is 2 GiB).
pub const MAX_ONNX_BYTES: u64 = 1 << 31;

/// Reads a whole file with a path-bearing error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ArtifactError> {
    std::fs::read(path).map_err(|source| ArtifactError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// SHA-256 digest of the compiled model: graph structure, quantization settings, quantized
/// weights and circuit shape. Printed by `compile`, stored in keys and proofs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelDigest(pub [u8; 32]);

impl fmt::Display for ModelDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ModelDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelDigest({self})")
    }
}

impl ModelDigest {
    /// Parses the hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let v = hex::decode(s.trim()).ok()?;
        Some(ModelDigest(v.try_into().ok()?))
    }

    /// Computes the digest of a graph and shape.
    pub fn of(graph: &QuantizedGraph, shape: &CircuitShape) -> Self {
        let mut h = Sha256::new();
        h.update(b"zkinfer/model-digest/v1\0");
        // bincode of these types is deterministic: no maps, fixed-width integers, float bits.
        h.update(bincode::serialize(graph).unwrap_or_default());
        h.update(bincode::serialize(shape).unwrap_or_default());
        ModelDigest(h.finalize().into())
    }
}

impl Serialize for ModelDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ModelDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ModelDigest::from_hex(&s)
            .ok_or_else(|| serde::de::Error::custom("model digest must be 64 hex digits"))
    }
}

/// Name, shape and scale of a public tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IoTensor {
    /// ONNX name.
    pub name: String,
    /// Shape (batch 1).
    pub shape: Vec<usize>,
    /// Power-of-two scale of its integers.
    pub scale: i32,
    /// Takes integers only (token ids, an int8 input): a fractional value is refused, not
    /// rounded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub integer: bool,
    /// An integer input's range, where the circuit's first lookup on it bounds it (the rows
    /// of an embedding, an int8 type's range): a value outside is refused before proving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(i64, i64)>,
    /// An imported int8/uint8 tensor's own quantization: inputs are quantized as ONNX Runtime's
    /// QuantizeLinear does, listed values are `(q − zero_point)·scale` in f32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affine: Option<AffineScale>,
}

impl IoTensor {
    /// The real value a proof lists for the integer `q`.
    pub fn real(&self, q: i128) -> f64 {
        match &self.affine {
            Some(a) => f64::from(a.dequantize(q.clamp(-(1 << 20), 1 << 20) as i64)),
            None => q as f64 * (-(self.scale as f64)).exp2(),
        }
    }

    /// The integer behind a listed real value: `x·2^scale` for an integer in
    /// `[-2^(bits-1), 2^(bits-1))`, or (affine) the grid point in `[qmin, qmax]` that is exactly
    /// `x`; `None` for anything else.
    pub fn integer_of(&self, x: f64, bits: u32) -> Option<i128> {
        if let Some(a) = &self.affine {
            return a.from_real(x).map(i128::from);
        }
        let half = 1i128 << (bits - 1);
        let v = x * (self.scale as f64).exp2();
        let ok = v.is_finite() && v.fract() == 0.0 && v >= -(half as f64) && v < half as f64;
        ok.then_some(v as i128)
    }
}

/// How public values map to tensors: the instance column holds the inputs, then the outputs,
/// encoded as `public_io` says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IoSpec {
    /// Activation bit width: every public value lies in `[-2^(bits-1), 2^(bits-1))`.
    pub bits: u32,
    /// Instance encoding.
    #[serde(default)]
    pub public_io: PublicIo,
    /// Graph inputs.
    pub inputs: Vec<IoTensor>,
    /// Graph outputs.
    pub outputs: Vec<IoTensor>,
}

/// A public-I/O description that does not fit the circuit it claims to describe.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum IoSpecError {
    /// Another bit width or encoding than the circuit's.
    #[error("public values of {bits} bits ({public_io:?}) for a circuit of {circuit_bits} bits ({circuit_public_io:?})")]
    Circuit {
        /// The spec's bit width.
        bits: u32,
        /// The spec's encoding.
        public_io: PublicIo,
        /// The circuit's bit width.
        circuit_bits: u32,
        /// The circuit's encoding.
        circuit_public_io: PublicIo,
    },
    /// A scale no compiler produces (or an integer range wider than the public values').
    #[error("tensor '{tensor}': scale {scale} or integer range out of range")]
    Scale {
        /// The tensor.
        tensor: String,
        /// Its scale.
        scale: i32,
    },
    /// More public values than the circuit has rows.
    #[error("tensor '{tensor}': more public values than the circuit's {rows} rows")]
    TooManyValues {
        /// The tensor that goes past.
        tensor: String,
        /// The circuit's rows.
        rows: usize,
    },
}

/// The integers the lookups reading tensor `id` as they are (`f(x)`, no rescale) accept: the
/// intersection of their functions' domains, if any does.
fn integer_range(g: &QuantizedGraph, id: usize) -> Option<(i64, i64)> {
    use crate::graph::{Coef, QOp};
    let direct = |e: &&crate::graph::ElemOp| {
        e.a.as_ref().is_some_and(|o| o.tensor == id)
            && e.b.is_none()
            && e.shift == 0
            && e.qa == Coef::Const(1)
            && e.qc == Coef::Const(0)
            && e.qm == Coef::Const(0)
    };
    g.ops
        .iter()
        .filter_map(|op| match op {
            QOp::Elementwise(e) => Some(e),
            _ => None,
        })
        .filter(direct)
        .filter_map(|e| g.functions.get(e.func as usize))
        .map(|f| f.domain(g.bits))
        .map(|d| (d.start, d.end - 1))
        .reduce(|a, b| (a.0.max(b.0), a.1.min(b.1)))
}

impl IoSpec {
    /// Reads the public tensors off a graph.
    pub fn of(g: &QuantizedGraph, public_io: PublicIo) -> Self {
        let t = |&id: &usize| IoTensor {
            name: g.tensors[id].name.clone(),
            shape: g.tensors[id].shape.clone(),
            scale: g.tensors[id].scale,
            integer: g.integer_inputs.contains(&id),
            range: g
                .integer_inputs
                .contains(&id)
                .then(|| integer_range(g, id))
                .flatten(),
            affine: g.tensors[id].affine,
        };
        IoSpec {
            bits: g.bits,
            public_io,
            inputs: g.inputs.iter().map(t).collect(),
            outputs: g.outputs.iter().map(t).collect(),
        }
    }

    /// Checks a loaded spec against the circuit it describes, before anything is sized from
    /// it: the same bit width and encoding, scales a compiler can produce, and at most `2^k`
    /// public values in all (each one needs a row).
    pub fn validate(&self, shape: &CircuitShape) -> Result<(), IoSpecError> {
        if self.bits != shape.bits || self.public_io != shape.public_io {
            return Err(IoSpecError::Circuit {
                bits: self.bits,
                public_io: self.public_io,
                circuit_bits: shape.bits,
                circuit_public_io: shape.public_io,
            });
        }
        let rows = 1usize << shape.k;
        let mut total = 0usize;
        for t in self.inputs.iter().chain(&self.outputs) {
            let half = 1i64 << (self.bits.clamp(1, 62) - 1);
            let affine_fits = t.affine.is_none_or(|a| {
                let (qmin, qmax) = a.range();
                qmin >= -half && qmax < half
            });
            if t.scale.unsigned_abs() > MAX_SCALE || !affine_fits {
                return Err(IoSpecError::Scale {
                    tensor: t.name.clone(),
                    scale: t.scale,
                });
            }
            let n = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            total = n
                .and_then(|n| total.checked_add(n))
                .filter(|&t| t <= rows)
                .ok_or_else(|| IoSpecError::TooManyValues {
                    tensor: t.name.clone(),
                    rows,
                })?;
        }
        Ok(())
    }

    /// Number of input values.
    pub fn input_values(&self) -> usize {
        self.inputs
            .iter()
            .map(|t| t.shape.iter().product::<usize>())
            .sum()
    }

    /// Number of output values.
    pub fn output_values(&self) -> usize {
        self.outputs
            .iter()
            .map(|t| t.shape.iter().product::<usize>())
            .sum()
    }

    /// Instances holding the inputs (they come first).
    pub fn input_instances(&self) -> usize {
        self.public_io.words(self.bits, self.input_values())
    }

    /// Instances holding the outputs (after the inputs').
    pub fn output_instances(&self) -> usize {
        self.public_io.words(self.bits, self.output_values())
    }

    /// Total number of instances.
    pub fn instance_count(&self) -> usize {
        self.input_instances() + self.output_instances()
    }
}

/// The largest `|scale|` of a public tensor a loaded key or model may declare (the compiler's
/// are within `3 · 24`).
pub const MAX_SCALE: u32 = 256;

/// Where a compiled model came from (informational; not part of the digest).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Provenance {
    /// ONNX file name.
    pub onnx_file: String,
    /// SHA-256 of the ONNX file.
    pub onnx_sha256: String,
    /// Calibration file name.
    pub calibration_file: String,
    /// Compiler options, as given.
    pub options: String,
}

/// A compiled model: everything `setup` and `prove` need, and nothing from ONNX.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompiledModel {
    /// The quantized graph.
    pub graph: QuantizedGraph,
    /// The chosen circuit shape.
    pub shape: CircuitShape,
    /// Digest of `graph` and `shape`.
    pub digest: ModelDigest,
    /// Estimated proving seconds on the reference machine.
    pub estimate_s: f64,
    /// Source information.
    pub provenance: Provenance,
}

/// File name of the compiled model inside a model folder.
pub const MODEL_FILE: &str = "model.zkm";
/// File name of the human-readable settings inside a model folder.
pub const SETTINGS_FILE: &str = "settings.json";
/// The sealed compiled model's kind tag.
pub const MODEL_KIND: [u8; 4] = *b"MODL";
/// The compiled model's format version. 2: shapes gained `remainder_rows`; circuits have
/// degree 5. 3: shapes gained the
/// requantization lanes' fields (`requant_lanes` … `requant_row`). 4: max ops gained `runs`
/// (a masked softmax's row maxima over its kept elements only). 5: the max lane lost its
/// difference columns (keys made for a version 4 folder do not fit the circuit). 6: products of
/// computed matrices gained `a_zeros` and place `A` and `C` rows ascending. 7: dot lanes leave
/// out the known zeros of `A` and the outputs no op reads. 8: matmul lanes place `C` first and
/// lost their running-total column (keys made for a version 7 folder do not fit the circuit).
pub const MODEL_VERSION: u32 = 8;

impl CompiledModel {
    /// Assembles a compiled model, computing its digest.
    pub fn new(
        graph: QuantizedGraph,
        shape: CircuitShape,
        estimate_s: f64,
        provenance: Provenance,
    ) -> Self {
        let digest = ModelDigest::of(&graph, &shape);
        CompiledModel {
            graph,
            shape,
            digest,
            estimate_s,
            provenance,
        }
    }

    /// Public tensor layout.
    pub fn io(&self) -> IoSpec {
        IoSpec::of(&self.graph, self.shape.public_io)
    }

    /// Rebuilds the layout.
    pub fn plan(&self) -> Result<CircuitPlan, LayoutError> {
        CircuitPlan::new(&self.graph, self.shape.clone())
    }

    /// Serializes to the sealed binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        seal(
            MODEL_KIND,
            MODEL_VERSION,
            &bincode::serialize(self).unwrap_or_default(),
        )
    }

    /// Parses and fully checks the sealed binary form.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, ArtifactError> {
        let payload = unseal(bytes, MODEL_KIND, MODEL_VERSION, what, "compiled model")?;
        let m: CompiledModel = bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .with_limit(1 << 32)
            .allow_trailing_bytes()
            .deserialize(payload)
            .map_err(|e| ArtifactError::Decode {
                what: what.to_string(),
                detail: e.to_string(),
            })?;
        let invalid = |detail: String| ArtifactError::Invalid {
            what: what.to_string(),
            detail,
        };
        m.graph.validate().map_err(|e| invalid(e.to_string()))?;
        m.shape.validate().map_err(|e| invalid(e.to_string()))?;
        if ModelDigest::of(&m.graph, &m.shape) != m.digest {
            return Err(invalid("stored digest does not match the model".into()));
        }
        Ok(m)
    }

    /// Writes `model.zkm` and `settings.json` into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<(), ArtifactError> {
        std::fs::create_dir_all(dir).map_err(|source| ArtifactError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        write_atomic(&dir.join(MODEL_FILE), &self.to_bytes())?;
        let settings = serde_json::to_vec_pretty(&self.settings()).unwrap_or_default();
        write_atomic(&dir.join(SETTINGS_FILE), &settings)
    }

    /// Loads `model.zkm` from a model folder.
    pub fn load(dir: &Path) -> Result<Self, ArtifactError> {
        let path = dir.join(MODEL_FILE);
        let bytes = read_file(&path)?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// The human-readable summary written as `settings.json`.
    pub fn settings(&self) -> serde_json::Value {
        let g = &self.graph;
        let ops: Vec<serde_json::Value> = g
            .ops
            .iter()
            .map(|op| serde_json::json!({"family": op.family_name(), "node": op.family().name(), "what": op.family().describe(g)}))
            .collect();
        let mut counts = std::collections::BTreeMap::new();
        for op in &g.ops {
            *counts.entry(op.family_name()).or_insert(0usize) += 1;
        }
        let plan = self.plan().ok();
        serde_json::json!({
            "zkinfer_version": env!("CARGO_PKG_VERSION"),
            "model_digest": self.digest.to_string(),
            "bits": g.bits,
            "shape": self.shape,
            "rows_used": plan.as_ref().map(|p| p.layout.rows_used()),
            "columns": {
                "advice": self.shape.advice_columns(),
                "fixed": self.shape.fixed_columns(),
                "lookups": self.shape.lookups(),
                "equality": self.shape.equality_columns(),
            },
            "table_rows": g.banked_table_rows(self.shape.identity_table, self.shape.fn_banks()),
            "estimated_prove_seconds": self.estimate_s,
            "io": self.io(),
            "op_counts": counts,
            "ops": ops,
            "functions": g.functions.iter().map(|f| f.key()).collect::<Vec<_>>(),
            "provenance": self.provenance,
        })
    }

    /// Count of ops per family, in a stable order.
    pub fn op_summary(&self) -> String {
        let mut counts = std::collections::BTreeMap::new();
        for op in &self.graph.ops {
            if !matches!(op, QOp::View(_)) {
                *counts.entry(op.family_name()).or_insert(0usize) += 1;
            }
        }
        counts
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

use bincode::Options;

#[cfg(test)]
mod seal_tests {
    use super::*;

    #[test]
    fn sealing_in_place_equals_sealing_a_copy() {
        let payload = b"a payload of some bytes".to_vec();
        let mut buf = vec![7u8; SEAL_HEADER_BYTES];
        buf.extend_from_slice(&payload);
        let sealed = seal_in_place(*b"TEST", 3, buf);
        assert_eq!(sealed, seal(*b"TEST", 3, &payload));
        assert_eq!(
            unseal(&sealed, *b"TEST", 3, "t", "test").unwrap(),
            &payload[..]
        );
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn reads_are_capped_and_writes_replace_only_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.json");
        std::fs::write(&file, [7u8; 100]).unwrap();
        assert_eq!(read_capped(&file, 100).unwrap().len(), 100);
        let err = read_capped(&file, 99).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        // A folder in the way is refused, not replaced.
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(write_atomic(&sub, b"x").is_err());
        assert!(sub.is_dir());
        // A user's output through a symbolic link: the link stays, its target changes.
        #[cfg(unix)]
        {
            let link = dir.path().join("link.json");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            write_output(&link, b"new").unwrap();
            assert!(std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(std::fs::read(&file).unwrap(), b"new");
        }
    }
}
