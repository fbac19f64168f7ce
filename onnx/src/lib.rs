//! zkinfer's ONNX front end: `OnnxModel` → `QuantizedGraph` → `CircuitPlan`.
//!
//! [`OnnxModel`] is the ONNX graph, validated, with shapes fixed (batch 1) and constant/shape
//! subgraphs folded; [`quantize()`] turns it into a [`zkinfer_circuits::QuantizedGraph`] and
//! [`compile`] also picks the circuit shape. The quantized graph, the plan, the chips and the
//! circuit live in `zkinfer-circuits`, which does not depend on this crate (nor on tract), so
//! the verifier builds without it.

mod calibrate;
mod fuse;
pub mod int8;
mod onnx;
pub mod ops;
mod proto;
mod quantize;
pub mod reference;
pub mod tensor;

pub use calibrate::{Ranges, SEEDED_SAMPLES};
pub use onnx::{Node, OnnxModel, TensorInfo};
pub use quantize::{
    accuracy, output_range as output_range_of, quantize, Accuracy, Lookups, QuantizeOptions,
    TensorAccuracy,
};
pub use tensor::{DType, Tensor};

use std::path::Path;
use thiserror::Error;
use zkinfer_circuits::compiled::{CompiledModel, Provenance};
use zkinfer_circuits::graph::{fuse_sibling_products, EvalError, FnKind, QuantizedGraph, MAX_BITS};
use zkinfer_circuits::input::{InputData, InputError};
use zkinfer_circuits::plan::{
    choose_shape, Choice, LayoutError, MatvecCheck, Objective, SearchOptions,
};
use zkinfer_circuits::public_io::PublicIo;

/// Errors of the front end, each naming what is wrong and where.
#[derive(Debug, Error)]
pub enum FrontendError {
    /// Filesystem error.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The model file is empty.
    #[error("{path}: file is empty, expected an ONNX model")]
    EmptyFile { path: String },
    /// Not a decodable ONNX protobuf.
    #[error("{path}: not an ONNX model: {detail}")]
    NotOnnx { path: String, detail: String },
    /// An op outside the supported set.
    #[error(
        "unsupported op '{op}' (domain '{domain}') in node '{node}'; supported ops: {supported}"
    )]
    UnsupportedOp {
        op: String,
        domain: String,
        node: String,
        supported: String,
    },
    /// A model already quantized by ONNX Runtime's tool, read by a step that takes float models.
    #[error("node '{node}' is '{op}': this model is already quantized ({form}); `zkinfer compile` imports QDQ and QOperator models, but this step reads float models only")]
    QuantizedModel {
        op: String,
        node: String,
        form: &'static str,
    },
    /// A model quantized dynamically below opset 11, where the tool writes DynamicQuantizeLinear
    /// out as float ops and a QuantizeLinear of a computed scale.
    #[error("node '{node}': this model was quantized dynamically at an opset below 11, where ONNX Runtime's tool writes DynamicQuantizeLinear out as ReduceMin/ReduceMax/Div/Floor and a QuantizeLinear of a computed scale, which zkinfer does not lower: convert the float model to opset 11 or later (onnx.version_converter) before quantize_dynamic")]
    OpsetTenDynamic { node: String },
    /// An int8 model zkinfer cannot import.
    #[error(transparent)]
    Import(#[from] int8::ImportError),
    /// A float model without a calibration input, whose integer input's range is unknown.
    #[error("{path} is a float model with an integer input that indexes no constant table: compiling it needs a calibration input (--calibration INPUT.json) to choose its quantization")]
    NeedsCalibration { path: String },
    /// `--bits` for an imported model, whose integers are its own.
    #[error(
        "--bits does not apply to {path}: it is already quantized, and its integers are its own"
    )]
    BitsOfImported { path: String },
    /// A quantization zkinfer does not import at all (int4, float8, blocked, ...).
    #[error("node '{node}' is '{op}' with {feature}, which zkinfer does not support: compile the float model instead")]
    QuantizationFeature {
        op: String,
        node: String,
        feature: &'static str,
    },
    /// A node reads a tensor nothing produces.
    #[error("node '{node}' ({op}) input #{index} refers to tensor '{tensor}', which no node, initializer or graph input produces")]
    DanglingTensor {
        node: String,
        op: String,
        index: usize,
        tensor: String,
    },
    /// Structural problems (cycles, duplicate names, missing outputs).
    #[error("invalid graph: {detail}")]
    Graph { detail: String },
    /// Shapes that do not fit an op.
    #[error("node '{node}': {detail}")]
    Shape { node: String, detail: String },
    /// Bad or missing attribute.
    #[error("node '{node}': attribute '{attr}': {detail}")]
    Attribute {
        node: String,
        attr: String,
        detail: String,
    },
    /// Tensor data that cannot be read.
    #[error("tensor '{name}': {detail}")]
    TensorData { name: String, detail: String },
    /// The model cannot be quantized as given.
    #[error("node '{node}': cannot quantize: {detail}")]
    Quantize { node: String, detail: String },
    /// Calibration problems.
    #[error("calibration: {0}")]
    Calibration(String),
    /// Bad calibration input.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Integer evaluation failure.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The model does not fit any circuit shape.
    #[error("cannot lay out the circuit: {0}")]
    Layout(LayoutError),
    /// The model does not fit the `--k` asked for.
    #[error("cannot lay out the circuit: k = {k} is too small for this model ({usable} rows usable there); {fits}")]
    KTooSmall {
        k: u32,
        usable: usize,
        /// Where it fits instead, in words.
        fits: String,
    },
}

// Not `#[from]`: that would make the layout error the source too, and a chain of causes
// would print it twice.
impl From<LayoutError> for FrontendError {
    fn from(e: LayoutError) -> Self {
        FrontendError::Layout(e)
    }
}

/// Options of `zkinfer compile`.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Activation bit width; `None` picks the smallest that meets `tolerance`.
    pub bits: Option<u32>,
    /// Largest output error allowed when picking `bits`, as a fraction of the output range.
    pub tolerance: f64,
    /// Headroom multiplier on calibrated ranges.
    pub range_margin: f64,
    /// Force the circuit size.
    pub k: Option<u32>,
    /// Public input/output encoding.
    pub public_io: PublicIo,
    /// What the circuit shape minimises.
    pub objective: Objective,
    /// How matvec lanes check their outputs (`Direct` gives a single-phase circuit, which the
    /// CUDA prover needs).
    pub matvec_check: MatvecCheck,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            bits: None,
            tolerance: 0.005,
            range_margin: 2.0,
            k: None,
            public_io: PublicIo::default(),
            objective: Objective::default(),
            matvec_check: MatvecCheck::default(),
        }
    }
}

impl CompileOptions {
    /// The shape search these options ask for.
    fn search(&self) -> SearchOptions {
        SearchOptions {
            k: self.k,
            model: None,
            public_io: self.public_io,
            objective: self.objective,
            matvec_check: self.matvec_check,
        }
    }
}

/// Where a compiled model came from: the files' names, the model's SHA-256, the options.
fn provenance(
    (onnx_path, bytes): (&Path, &[u8]),
    calibration: Option<&Path>,
    opts: &CompileOptions,
) -> Provenance {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    Provenance {
        onnx_file: name(onnx_path),
        onnx_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes)),
        calibration_file: calibration.map(name).unwrap_or_default(),
        options: format!("{opts:?}"),
    }
}

/// Result of a compilation, with the accuracy achieved on the calibration input.
#[derive(Debug)]
pub struct Compiled {
    /// The compiled model.
    pub model: CompiledModel,
    /// Accuracy of the quantized model on the calibration input against the float model (none
    /// for an imported int8 model: it is its own reference).
    pub accuracy: Option<Accuracy>,
    /// An imported int8 model's requantizations: per op, how many channels are exactly ONNX
    /// Runtime's rule for every input.
    pub requants: Vec<int8::RequantReport>,
    /// An imported int8 model's float islands (tables).
    pub tables: Vec<int8::TableReport>,
    /// When the tolerance is missed: each quantized tensor standing for an ONNX tensor, in
    /// graph order, with its error on the calibration input (which op loses the accuracy).
    pub tensor_accuracy: Vec<TensorAccuracy>,
    /// Nodes of the ONNX graph, for the summary.
    pub onnx_nodes: usize,
    /// Nodes folded at compile time.
    pub folded_nodes: usize,
}

/// Where the lookup tables, not the model's rows, set `k` (fewer than a quarter of the rows
/// used), tries the graph with its functions interpolated between knots, whose circuit looks
/// values up on limbs (`CircuitShape::limb_bits`): kept when it meets the tolerance and its
/// estimate is lower. Not for `--optimize verify-gas` (limbs add commitments).
fn with_limbs(
    model: &OnnxModel,
    (inputs, ranges): (&[Tensor], &Ranges),
    (graph, acc0, exact): (QuantizedGraph, Accuracy, Result<Choice, LayoutError>),
    opts: &CompileOptions,
    search: &SearchOptions,
) -> Result<(QuantizedGraph, Accuracy, Choice), FrontendError> {
    // Limbs add commitments: a verify-gas layout keeps the exact tables. Where the exact
    // tables do not fit at all (a `--k` below them), limbs are the only way.
    if opts.objective == Objective::VerifyGas {
        return Ok((graph, acc0, exact?));
    }
    if let Ok(c) = &exact {
        if c.layout.rows_used().saturating_mul(4) >= 1usize << c.shape.k {
            return Ok((graph, acc0, exact?));
        }
    }
    let bases = limb_bases(model, ranges, &graph, opts);
    let mut best: Option<(QuantizedGraph, Accuracy, Choice)> = None;
    for g0 in &bases {
        for limb in quantize::limb_widths(g0.bits) {
            let found = quantize::interpolated(model, inputs, g0, &acc0, limb, opts.tolerance)?;
            let Some((g, acc)) = found else { continue };
            let Ok(choice) = choose_shape(&g, search) else {
                continue;
            };
            let to_beat = best
                .as_ref()
                .map(|b| &b.2)
                .or(exact.as_ref().ok())
                .map_or(f64::INFINITY, |c| c.estimate_s);
            if choice.shape.limbed() && choice.estimate_s < to_beat {
                best = Some((g, acc, choice));
            }
        }
    }
    match best {
        Some(b) => Ok(b),
        None => Ok((graph, acc0, exact?)),
    }
}

/// The graph with its sibling products fused ([`fuse_sibling_products`]: the same integers,
/// the rows each product reads placed once), kept when its estimate is lower (and, for
/// `--optimize verify-gas`, its commitments no more).
fn with_siblings_fused(
    graph: QuantizedGraph,
    choice: Choice,
    opts: &CompileOptions,
    search: &SearchOptions,
) -> (QuantizedGraph, Choice) {
    let mut fused = graph.clone();
    if fuse_sibling_products(&mut fused) == 0 || fused.validate().is_err() {
        return (graph, choice);
    }
    match choose_shape(&fused, search) {
        Ok(c)
            if c.estimate_s < choice.estimate_s
                && (opts.objective != Objective::VerifyGas
                    || c.shape.verifier_commitments() <= choice.shape.verifier_commitments()) =>
        {
            (fused, c)
        }
        _ => (graph, choice),
    }
}

/// One of [`quantize::quantize_search`]'s graphs, its accuracy, plan, and the estimate it
/// compiles to once its sibling products are fused.
type Candidate = (QuantizedGraph, Accuracy, Result<Choice, LayoutError>, f64);

/// The candidate (from [`quantize::quantize_search`]) whose plan has the lowest estimate
/// (sibling products fused, as [`compile_from`] does next); the first one's layout error where
/// none can be laid out.
fn cheapest(
    candidates: Vec<(QuantizedGraph, Accuracy)>,
    opts: &CompileOptions,
    search: &SearchOptions,
) -> Result<(QuantizedGraph, Accuracy, Result<Choice, LayoutError>), FrontendError> {
    let single = candidates.len() == 1;
    let mut best: Option<Candidate> = None;
    for (g, acc) in candidates {
        let choice = choose_shape(&g, search);
        let cost = match &choice {
            Ok(c) if !single => {
                with_siblings_fused(g.clone(), c.clone(), opts, search)
                    .1
                    .estimate_s
            }
            Ok(c) => c.estimate_s,
            Err(_) => f64::INFINITY,
        };
        if best.as_ref().is_none_or(|b| cost < b.3) {
            best = Some((g, acc, choice, cost));
        }
    }
    let (g, acc, choice, _) =
        best.ok_or_else(|| FrontendError::Calibration("no bit width could be evaluated".into()))?;
    Ok((g, acc, choice))
}

/// The graphs whose functions [`with_limbs`] interpolates: `exact` itself, or where it has wide
/// functions (which limbs cannot check), the model lowered again with narrow ones at its width
/// and, unless `--bits` fixed it, up to two bits wider (a narrow reciprocal square root keeps
/// fewer bits).
fn limb_bases(
    model: &OnnxModel,
    ranges: &Ranges,
    exact: &QuantizedGraph,
    opts: &CompileOptions,
) -> Vec<QuantizedGraph> {
    if !exact.functions.iter().any(FnKind::wide) {
        return vec![exact.clone()];
    }
    let widest = match opts.bits {
        Some(_) => exact.bits,
        None => (exact.bits + 2).min(MAX_BITS),
    };
    (exact.bits..=widest)
        .filter_map(|b| {
            quantize::quantize(model, ranges, b, opts.range_margin, Lookups::Limbs).ok()
        })
        .collect()
}

/// Compiles an ONNX file with a calibration input (see [`compile_from`]).
pub fn compile(
    onnx_path: &Path,
    calibration: &Path,
    opts: &CompileOptions,
) -> Result<Compiled, FrontendError> {
    compile_from(onnx_path, Some(calibration), opts)
}

/// Compiles an ONNX file: a float model (dynamically quantized ones included) is quantized
/// with the calibration input, or without one with [`calibrate::seeded_inputs`]; a model ONNX
/// Runtime's tool quantized statically (QDQ or QOperator) is imported as it is, and needs none.
pub fn compile_from(
    onnx_path: &Path,
    calibration: Option<&Path>,
    opts: &CompileOptions,
) -> Result<Compiled, FrontendError> {
    match compile_once(onnx_path, calibration, opts) {
        // The rows a forced `k` lacked are those of the layout it tried last, which can be
        // far from what another `k` needs (whole tables where a larger `k` looks up on limbs):
        // say where the model fits instead.
        Err(FrontendError::Layout(LayoutError::TooFewRows { k, usable, .. }))
            if opts.k.is_some() =>
        {
            let free = CompileOptions {
                k: None,
                ..opts.clone()
            };
            let fits = match compile_once(onnx_path, calibration, &free) {
                Ok(c) => format!(
                    "without --k, compile lays it out at k = {}",
                    c.model.shape.k
                ),
                Err(e) => format!("without --k it does not compile either ({e})"),
            };
            Err(FrontendError::KTooSmall { k, usable, fits })
        }
        other => other,
    }
}

/// [`compile_from`] with the options as they are.
fn compile_once(
    onnx_path: &Path,
    calibration: Option<&Path>,
    opts: &CompileOptions,
) -> Result<Compiled, FrontendError> {
    // Conflicting options are refused before the model is read.
    opts.objective.check(opts.matvec_check)?;
    let path = onnx_path.display().to_string();
    let bytes = zkinfer_circuits::compiled::read_capped(
        onnx_path,
        zkinfer_circuits::compiled::MAX_ONNX_BYTES,
    )
    .map_err(|source| FrontendError::Io {
        path: path.clone(),
        source,
    })?;
    if let Some(imported) = import_quantized(&bytes, &path)? {
        if opts.bits.is_some() {
            return Err(FrontendError::BitsOfImported { path });
        }
        return compile_imported(imported, (onnx_path, &bytes), opts);
    }
    let model = OnnxModel::from_bytes(&bytes, &path)?;
    let cal = match calibration {
        Some(file) => vec![InputData::from_path(file)?],
        None => calibrate::seeded_inputs(&model)
            .ok_or(FrontendError::NeedsCalibration { path: path.clone() })?,
    };
    let samples = (cal.iter())
        .map(|c| model.input_tensors(c))
        .collect::<Result<Vec<_>, _>>()?;
    let ranges = Ranges::calibrate_all(&model, &samples)?;
    // Accuracy is measured on the first (the calibration file's input).
    let inputs = samples.into_iter().next().unwrap_or_default();
    let qopts = QuantizeOptions {
        bits: opts.bits,
        tolerance: opts.tolerance,
        range_margin: opts.range_margin,
    };
    let candidates = quantize::quantize_search(&model, &ranges, &inputs, &qopts)?;
    let search = opts.search();
    let (graph, acc, choice) = cheapest(candidates, opts, &search)?;
    let (graph, acc, choice) = with_limbs(
        &model,
        (&inputs, &ranges),
        (graph, acc, choice),
        opts,
        &search,
    )?;
    let (graph, choice) = with_siblings_fused(graph, choice, opts, &search);
    let provenance = provenance((onnx_path, &bytes), calibration, opts);
    let onnx_nodes = model.nodes.len();
    let folded_nodes = model.nodes.len() - model.compute.len();
    let tensor_accuracy = match acc.met_tolerance {
        true => Vec::new(),
        false => quantize::tensor_accuracy(&model, &graph, &inputs)?,
    };
    Ok(Compiled {
        model: CompiledModel::new(graph, choice.shape, choice.estimate_s, provenance),
        accuracy: Some(acc),
        requants: Vec::new(),
        tables: Vec::new(),
        tensor_accuracy,
        onnx_nodes,
        folded_nodes,
    })
}

/// The import of a model ONNX Runtime's tool quantized (`None` for a float model).
fn import_quantized(bytes: &[u8], path: &str) -> Result<Option<int8::Imported>, FrontendError> {
    let proto = onnx::decode_model(bytes, path)?;
    let (graph, opset) = onnx::check_model(&proto, path)?;
    match onnx::refuse_quantized(graph) {
        Ok(()) => Ok(None),
        Err(FrontendError::QuantizedModel { .. }) => Ok(Some(int8::import(graph, opset)?)),
        Err(e) => Err(e),
    }
}

/// Lays out an imported int8 model.
fn compile_imported(
    imported: int8::Imported,
    (onnx_path, bytes): (&Path, &[u8]),
    opts: &CompileOptions,
) -> Result<Compiled, FrontendError> {
    let search = opts.search();
    let choice = choose_shape(&imported.graph, &search)?;
    let provenance = provenance((onnx_path, bytes), None, opts);
    let onnx_nodes = imported.onnx_nodes;
    Ok(Compiled {
        model: CompiledModel::new(imported.graph, choice.shape, choice.estimate_s, provenance),
        accuracy: None,
        requants: imported.requants,
        tables: imported.tables,
        tensor_accuracy: Vec::new(),
        onnx_nodes,
        folded_nodes: 0,
    })
}
