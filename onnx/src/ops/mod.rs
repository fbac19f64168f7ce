//! ONNX ops: one file per family, all registered in [`REGISTRY`].
//!
//! Each op has float semantics ([`OnnxOp::eval`], used for shape inference, constant folding,
//! calibration and the float interpreter) and a lowering into the quantized graph
//! ([`OnnxOp::quantize`]). Ops registered with `compute: false` only run at compile time, on
//! constant inputs (shape subgraphs).

mod activation;
mod arith;
mod batchnorm;
mod conv;
mod dynamic;
mod embed;
mod fold;
mod layernorm;
mod linear;
mod lstm;
mod lstm_dynamic;
mod pad;
mod pool;
mod power;
mod reduce;
mod reshape;
mod rows;
mod select;
mod softmax;
mod split;
mod unary;

pub use activation::Activation;
pub use batchnorm::BatchNorm;
pub(crate) use conv::batch_of_one;
pub(crate) use layernorm::along_rows;
pub(crate) use pool::{average_geometry, max_op, Window};
pub(crate) use reduce::{Reduce, Reduction};

use super::proto::Attrs;
use super::quantize::QuantCtx;
use super::tensor::Tensor;
use super::FrontendError;
use std::any::Any;
use std::fmt::Debug;

/// An ONNX op with parsed attributes.
pub trait OnnxOp: Debug + Send + Sync {
    /// Float semantics. `inputs[i]` is `None` for an omitted optional input.
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError>;

    /// Lowers node `node` (an index into the model's nodes) into the quantized graph.
    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let n = q.node(node);
        Err(FrontendError::Quantize {
            node: n.name.clone(),
            detail: format!(
                "{} is only supported on constant inputs (shape computations)",
                n.op_type
            ),
        })
    }

    /// Whether the op may read integer tensors (token ids from an int32/int64 input): views,
    /// Cast and Gather do; arithmetic, with integer semantics ONNX defines differently (truncating
    /// division, wrapping), does not.
    fn reads_integers(&self) -> bool {
        false
    }

    /// The inputs that must be constants: sizes, shapes, axes, pads, steps. Shape inference
    /// runs on zeros in place of the graph inputs, so where one of these is computed from
    /// them, the error names that input rather than what the zeros made of the op.
    fn parameter_inputs(&self) -> &'static [usize] {
        &[]
    }

    /// Whether the op reads which of its output slots are named and returns only those (an
    /// empty name omits an optional output). Other ops return every output in order, so a
    /// node of theirs must name its first output.
    fn skips_unnamed_outputs(&self) -> bool {
        false
    }

    /// The activation this op applies, if it can be fused into a preceding rescale.
    fn activation(&self) -> Option<&dyn Activation> {
        None
    }

    /// Downcasting (for fusions that read another op's parameters).
    fn as_any(&self) -> &dyn Any;
}

/// Builds an op from a node's attributes and the model's default-domain opset.
pub type Builder = fn(&Attrs<'_>, i64) -> Result<Box<dyn OnnxOp>, FrontendError>;

/// A registered op type.
pub struct OpSpec {
    /// ONNX op type (default domain).
    pub name: &'static str,
    /// Attribute parser.
    pub build: Builder,
    /// Whether the op may run on computed tensors (otherwise: constant folding only).
    pub compute: bool,
}

/// Every op type zkinfer understands.
pub static REGISTRY: &[OpSpec] = &[
    OpSpec {
        name: "Gemm",
        build: linear::gemm,
        compute: true,
    },
    OpSpec {
        name: "MatMul",
        build: linear::matmul,
        compute: true,
    },
    OpSpec {
        name: "Conv",
        build: conv::conv,
        compute: true,
    },
    OpSpec {
        name: "Add",
        build: arith::add,
        compute: true,
    },
    OpSpec {
        name: "Sub",
        build: arith::sub,
        compute: true,
    },
    OpSpec {
        name: "Mul",
        build: arith::mul,
        compute: true,
    },
    OpSpec {
        name: "Relu",
        build: activation::relu,
        compute: true,
    },
    OpSpec {
        name: "LeakyRelu",
        build: activation::leaky_relu,
        compute: true,
    },
    OpSpec {
        name: "Clip",
        build: activation::clip,
        compute: true,
    },
    OpSpec {
        name: "Sigmoid",
        build: activation::sigmoid,
        compute: true,
    },
    OpSpec {
        name: "Tanh",
        build: activation::tanh,
        compute: true,
    },
    OpSpec {
        name: "Erf",
        build: activation::erf,
        compute: true,
    },
    OpSpec {
        name: "Gelu",
        build: activation::gelu,
        compute: true,
    },
    OpSpec {
        name: "MaxPool",
        build: pool::max_pool,
        compute: true,
    },
    OpSpec {
        name: "AveragePool",
        build: pool::average_pool,
        compute: true,
    },
    OpSpec {
        name: "GlobalAveragePool",
        build: pool::global_average_pool,
        compute: true,
    },
    OpSpec {
        name: "BatchNormalization",
        build: batchnorm::batchnorm,
        compute: true,
    },
    OpSpec {
        name: "Flatten",
        build: reshape::flatten,
        compute: true,
    },
    OpSpec {
        name: "Reshape",
        build: reshape::reshape,
        compute: true,
    },
    OpSpec {
        name: "Identity",
        build: reshape::identity,
        compute: true,
    },
    OpSpec {
        name: "LSTM",
        build: lstm::lstm,
        compute: true,
    },
    OpSpec {
        name: "Pow",
        build: power::pow,
        compute: true,
    },
    OpSpec {
        name: "Sqrt",
        build: unary::sqrt,
        compute: true,
    },
    OpSpec {
        name: "Exp",
        build: unary::exp,
        compute: true,
    },
    OpSpec {
        name: "Reciprocal",
        build: unary::reciprocal,
        compute: true,
    },
    OpSpec {
        name: "ReduceMean",
        build: reduce::reduce_mean,
        compute: true,
    },
    OpSpec {
        name: "ReduceSum",
        build: reduce::reduce_sum,
        compute: true,
    },
    OpSpec {
        name: "ReduceMax",
        build: reduce::reduce_max,
        compute: true,
    },
    OpSpec {
        name: "LayerNormalization",
        build: layernorm::layer_norm,
        compute: true,
    },
    OpSpec {
        name: "Softmax",
        build: softmax::softmax,
        compute: true,
    },
    OpSpec {
        name: "Split",
        build: split::split,
        compute: true,
    },
    OpSpec {
        name: "Where",
        build: select::where_,
        compute: true,
    },
    OpSpec {
        name: "Pad",
        build: pad::pad,
        compute: true,
    },
    OpSpec {
        name: "Transpose",
        build: reshape::transpose,
        compute: true,
    },
    OpSpec {
        name: "Concat",
        build: reshape::concat,
        compute: true,
    },
    OpSpec {
        name: "Constant",
        build: fold::constant,
        compute: false,
    },
    OpSpec {
        name: "Shape",
        build: fold::shape,
        compute: false,
    },
    OpSpec {
        name: "Gather",
        build: fold::gather,
        compute: true,
    },
    OpSpec {
        name: "Unsqueeze",
        build: fold::unsqueeze,
        compute: true,
    },
    OpSpec {
        name: "Squeeze",
        build: fold::squeeze,
        compute: true,
    },
    OpSpec {
        name: "Cast",
        build: fold::cast,
        compute: true,
    },
    OpSpec {
        name: "Slice",
        build: fold::slice,
        compute: true,
    },
    OpSpec {
        name: "Equal",
        build: select::equal,
        compute: false,
    },
    OpSpec {
        name: "ConstantOfShape",
        build: fold::constant_of_shape,
        compute: false,
    },
    OpSpec {
        name: "Expand",
        build: fold::expand,
        compute: true,
    },
    OpSpec {
        name: "NonZero",
        build: fold::nonzero,
        compute: false,
    },
    OpSpec {
        name: "Range",
        build: fold::range,
        compute: false,
    },
    OpSpec {
        name: "Div",
        build: arith::div,
        compute: true,
    },
    OpSpec {
        name: "DynamicQuantizeLinear",
        build: dynamic::dynamic_quantize_linear,
        compute: true,
    },
    OpSpec {
        name: "MatMulInteger",
        build: dynamic::matmul_integer,
        compute: true,
    },
    OpSpec {
        name: "ConvInteger",
        build: dynamic::conv_integer,
        compute: true,
    },
    OpSpec {
        name: "DequantizeLinear",
        build: dynamic::dequantize_linear,
        compute: true,
    },
];

/// The com.microsoft ops zkinfer understands (those ONNX Runtime's quantization tool writes
/// for ops of the default domain this front end lowers).
pub static CONTRIB: &[OpSpec] = &[OpSpec {
    name: "DynamicQuantizeLSTM",
    build: lstm_dynamic::dynamic_quantize_lstm,
    compute: true,
}];

/// Looks up an op type of the default domain.
pub fn lookup(op_type: &str) -> Option<&'static OpSpec> {
    REGISTRY.iter().find(|s| s.name == op_type)
}

/// Whether an op of this type (of any domain zkinfer reads) may run on computed tensors.
pub fn computes(op_type: &str) -> bool {
    REGISTRY
        .iter()
        .chain(CONTRIB)
        .any(|s| s.name == op_type && s.compute)
}

/// Looks up an op type of `domain` (the default domain: `""` or `"ai.onnx"`).
pub fn lookup_in(domain: &str, op_type: &str) -> Option<&'static OpSpec> {
    match domain {
        "" | "ai.onnx" => lookup(op_type),
        "com.microsoft" => CONTRIB.iter().find(|s| s.name == op_type),
        _ => None,
    }
}

/// The form of quantization an op of ONNX Runtime's quantization tool belongs to: it routes a
/// model to the int8 importer (QDQ, QOperator) or keeps it in this front end (dynamic).
pub fn quantized_form(op_type: &str) -> Option<&'static str> {
    match op_type {
        "QuantizeLinear" | "DequantizeLinear" => Some("QDQ format"),
        "DynamicQuantizeLinear"
        | "DynamicQuantizeMatMul"
        | "MatMulIntegerToFloat"
        | "DynamicQuantizeLSTM" => Some("dynamic quantization"),
        "QLinearConv"
        | "QLinearMatMul"
        | "MatMulInteger"
        | "ConvInteger"
        | "QGemm"
        | "QLinearAdd"
        | "QLinearMul"
        | "QLinearSigmoid"
        | "QLinearLeakyRelu"
        | "QLinearSoftmax"
        | "QLinearConcat"
        | "QLinearAveragePool"
        | "QLinearGlobalAveragePool"
        | "QLinearWhere" => Some("QOperator format"),
        _ => None,
    }
}

/// The ops a model may apply to computed tensors, for error messages.
pub fn supported_list() -> String {
    let contrib = CONTRIB.iter().map(|s| format!("com.microsoft {}", s.name));
    REGISTRY
        .iter()
        .filter(|s| s.compute)
        .map(|s| s.name.to_string())
        .chain(contrib)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Shorthand for a shape error.
pub(crate) fn shape_err(node: &str, detail: impl Into<String>) -> FrontendError {
    FrontendError::Shape {
        node: node.to_string(),
        detail: detail.into(),
    }
}

/// The `i`-th input, which must be present.
pub(crate) fn input<'a>(
    node: &str,
    inputs: &[Option<&'a Tensor>],
    i: usize,
) -> Result<&'a Tensor, FrontendError> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| shape_err(node, format!("missing required input #{i}")))
}
