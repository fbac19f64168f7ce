//! The quantization parameters of an imported model: scales (f32), zero points and their
//! integer type, read from initializers as ONNX Runtime's quantizer writes them.

use super::ImportError;
use crate::tensor::Tensor;
use tract_onnx::pb;
use zkinfer_circuits::graph::requant::AffineScale;

/// An initializer with its ONNX element type.
#[derive(Clone, Debug)]
pub struct Const {
    /// Values (integers exact in `f64`).
    pub t: Tensor,
    /// `TensorProto.DataType` code.
    pub elem: i32,
}

/// The integer range of an ONNX element type zkinfer imports (int8, uint8).
pub fn int_range(elem: i32) -> Option<(i64, i64)> {
    match pb::tensor_proto::DataType::try_from(elem).ok()? {
        pb::tensor_proto::DataType::Int8 => Some((-128, 127)),
        pb::tensor_proto::DataType::Uint8 => Some((0, 255)),
        _ => None,
    }
}

/// Scales and zero points, one each (per tensor) or one per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct QParams {
    /// Scales as ONNX Runtime reads them (f32).
    pub scales: Vec<f32>,
    /// Zero points.
    pub zps: Vec<i64>,
    /// The integer range of the zero point's type.
    pub range: (i64, i64),
    /// The axis per-axis parameters run along, where a DequantizeLinear of a constant says it
    /// (`None`: per tensor, or the axis the reading op implies, as QLinearConv's weights).
    pub axis: Option<usize>,
}

impl QParams {
    /// Reads `scale` and `zero_point` initializers (a missing zero point is uint8 0, as ONNX
    /// says).
    pub fn read(node: &str, scale: &Const, zp: Option<&Const>) -> Result<Self, ImportError> {
        let scales: Vec<f32> = scale.t.data.iter().map(|&v| v as f32).collect();
        let (zps, range) = match zp {
            Some(z) => {
                // int32 zero points are those of biases (never of an activation: `affine`
                // refuses their range).
                let int32 = (z.elem == pb::tensor_proto::DataType::Int32 as i32)
                    .then_some((i64::from(i32::MIN), i64::from(i32::MAX)));
                let range = int_range(z.elem).or(int32).ok_or_else(|| {
                    ImportError::at(
                        node,
                        "zero points must be int8, uint8 (or int32 for a bias)",
                    )
                })?;
                (z.t.data.iter().map(|&v| v as i64).collect(), range)
            }
            None => (vec![0], (0, 255)),
        };
        if scales.is_empty() || !(zps.len() == scales.len() || zps.len() == 1) {
            return Err(ImportError::at(node, "scale and zero point sizes differ"));
        }
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(ImportError::at(
                node,
                format!("scale {s} is not a positive number"),
            ));
        }
        Ok(QParams {
            scales,
            zps,
            range,
            axis: None,
        })
    }

    /// Refuses per-axis parameters along another axis than a weight tensor's output channels
    /// (the scales would then differ between the terms of one sum).
    pub fn check_axis(&self, node: &str, channels: usize) -> Result<(), ImportError> {
        match self.axis {
            Some(a) if self.scales.len() > 1 && a != channels => Err(ImportError::at(
                node,
                format!("weights quantized per axis along axis {a}, not their output channels' (axis {channels}): the products of one sum would have different scales"),
            )),
            _ => Ok(()),
        }
    }

    /// Channel `c`'s scale (one scale: every channel's).
    pub fn scale(&self, c: usize) -> f32 {
        self.scales[if self.scales.len() == 1 { 0 } else { c }]
    }

    /// Channel `c`'s zero point.
    pub fn zp(&self, c: usize) -> i64 {
        self.zps[if self.zps.len() == 1 { 0 } else { c }]
    }

    /// The per-tensor quantization of an activation.
    pub fn affine(&self, node: &str) -> Result<AffineScale, ImportError> {
        if self.scales.len() != 1 || self.zps.len() != 1 {
            return Err(ImportError::at(
                node,
                "an activation's scale and zero point must be scalars",
            ));
        }
        AffineScale::new(self.scales[0], self.zps[0], self.range)
            .map_err(|e| ImportError::at(node, e.to_string()))
    }
}
