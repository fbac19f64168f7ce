//! Import of models ONNX Runtime's quantizer wrote (QOperator and QDQ formats): the model's own
//! integer weights, biases, scales and zero points, proven as ONNX Runtime computes them with
//! its graph optimizations on (`ORT_ENABLE_ALL` runs each DQ → op → Q pattern as the fused
//! integer op; see `linear` for the arithmetic), except DQ → Mul → Q and DQ → AveragePool → Q,
//! proven as the unfused f32 computation they are written as (`ORT_DISABLE_ALL`): fused into
//! QLinearMul / QLinearAveragePool they can round a few inputs differently (`mul`, `average`);
//! the fixtures compare both levels.
//!
//! Supported: QuantizeLinear of the float inputs, QLinearConv, QLinearMatMul and
//! com.microsoft QGemm, their QDQ forms (Conv, Gemm, MatMul between DequantizeLinear and
//! QuantizeLinear), com.microsoft QLinearAdd and an Add between DequantizeLinear and
//! QuantizeLinear (see `add`), com.microsoft QLinearMul and a Mul between DequantizeLinear and
//! QuantizeLinear, of two tensors or of a tensor and a constant (see `mul`), com.microsoft QLinearGlobalAveragePool and a GlobalAveragePool
//! between DequantizeLinear and QuantizeLinear (exact sums, ORT's requantization),
//! com.microsoft QLinearAveragePool and an AveragePool between DequantizeLinear and
//! QuantizeLinear (window sums, a rule within f32's error of ORT's; see `average`), com.microsoft QLinearSigmoid and QLinearLeakyRelu and a Relu,
//! Sigmoid or LeakyRelu between DequantizeLinear and QuantizeLinear (a table over the int8
//! values, see `unary`), MaxPool, the views of `views` (Reshape, Transpose, Concat, ...) of int8 tensors,
//! float islands (elementwise float ops of one int8 tensor between DequantizeLinear and
//! QuantizeLinear: a table, see `island`), requantizations between two scales (a DequantizeLinear → QuantizeLinear pair,
//! com.microsoft QLinearConcat, a Concat of DequantizeLinear outputs with different scales: a
//! table, like a unary op's), and DequantizeLinear of the outputs.
//! Every other op is refused by name.

mod add;
mod average;
mod graph;
mod island;
mod linear;
mod mul;
mod params;
mod unary;
mod views;

pub use graph::import;

use thiserror::Error;

/// Helpers of the int8 unit tests.
#[cfg(test)]
mod testing {
    use zkinfer_circuits::graph::requant::AffineScale;

    /// An int8 (`signed`) or uint8 quantization.
    pub fn scale(s: f32, zp: i64, signed: bool) -> AffineScale {
        let range = if signed { (-128, 127) } else { (0, 255) };
        AffineScale::new(s, zp, range).unwrap()
    }
}

/// Why an int8 model cannot be imported.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("int8 import: node '{node}': {detail}")]
pub struct ImportError {
    /// The node (or tensor) at fault.
    pub node: String,
    /// What is wrong.
    pub detail: String,
}

impl ImportError {
    fn at(node: &str, detail: impl Into<String>) -> Self {
        ImportError {
            node: node.to_string(),
            detail: detail.into(),
        }
    }
}

/// One requantization of an imported model, for `compile`'s summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequantReport {
    /// The node.
    pub node: String,
    /// Output channels (rules).
    pub channels: usize,
    /// Channels whose rule is ONNX Runtime's for every accumulator the weights allow.
    pub exact: usize,
    /// Of those, channels that round halves to even.
    pub half_even: usize,
}

/// A float island of an imported model (elementwise float ops between a DequantizeLinear and
/// a QuantizeLinear, proven as a table), for `compile`'s summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableReport {
    /// The QuantizeLinear ending the island.
    pub node: String,
    /// The island's op types, in order.
    pub ops: Vec<String>,
    /// Table entries (the input type's integers).
    pub entries: usize,
    /// Entries whose value lies within f32's error of a level's boundary (ONNX Runtime's
    /// integer may be 1 LSB away there).
    pub uncertain: usize,
}

/// An imported model.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The quantized graph.
    pub graph: zkinfer_circuits::QuantizedGraph,
    /// Its requantizations.
    pub requants: Vec<RequantReport>,
    /// Its float islands.
    pub tables: Vec<TableReport>,
    /// Nodes of the ONNX graph.
    pub onnx_nodes: usize,
}
