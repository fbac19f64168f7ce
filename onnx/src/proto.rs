//! Reading ONNX protobuf pieces: tensors (initializers, `Constant` values) and attributes.

use super::tensor::{DType, Tensor};
use super::FrontendError;
use tract_onnx::pb::{self, tensor_proto::DataType, AttributeProto, NodeProto, TensorProto};

fn bad(name: &str, detail: impl Into<String>) -> FrontendError {
    FrontendError::TensorData {
        name: name.to_string(),
        detail: detail.into(),
    }
}

fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let frac = (bits & 0x3ff) as f64;
    match exp {
        0 => sign * frac * (-24f64).exp2(),
        31 => {
            if frac == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => sign * (1.0 + frac / 1024.0) * ((e - 15) as f64).exp2(),
    }
}

/// Decodes a `TensorProto` (raw or typed storage). External data is not supported.
pub fn decode_tensor(t: &TensorProto) -> Result<Tensor, FrontendError> {
    let name = if t.name.is_empty() {
        "<unnamed>"
    } else {
        t.name.as_str()
    };
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32)
        || !t.external_data.is_empty()
    {
        return Err(bad(name, "external tensor data is not supported; save the model with its weights inside the .onnx file"));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if !(0..=(1 << 31)).contains(&d) {
            return Err(bad(name, format!("invalid dimension {d}")));
        }
        shape.push(d as usize);
    }
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(name, "too many elements"))?;
    if n > 1 << 30 {
        return Err(bad(name, "too many elements"));
    }
    let dt = DataType::try_from(t.data_type)
        .map_err(|_| bad(name, format!("unknown data type {}", t.data_type)))?;
    let (dtype, width): (DType, usize) = match dt {
        DataType::Float => (DType::Float, 4),
        DataType::Double => (DType::Float, 8),
        DataType::Float16 => (DType::Float, 2),
        DataType::Int64 => (DType::Int, 8),
        DataType::Int32 => (DType::Int, 4),
        DataType::Int16 => (DType::Int, 2),
        DataType::Int8 => (DType::Int, 1),
        DataType::Uint8 => (DType::Int, 1),
        DataType::Uint16 => (DType::Int, 2),
        DataType::Uint32 => (DType::Int, 4),
        DataType::Uint64 => (DType::Int, 8),
        DataType::Bool => (DType::Bool, 1),
        other => return Err(bad(name, format!("data type {other:?} is not supported"))),
    };
    let data: Vec<f64> = if !t.raw_data.is_empty() {
        let raw = &t.raw_data;
        if raw.len() != n * width {
            return Err(bad(
                name,
                format!(
                    "raw data has {} bytes, expected {} for shape {shape:?}",
                    raw.len(),
                    n * width
                ),
            ));
        }
        raw.chunks_exact(width)
            .map(|c| match dt {
                DataType::Float => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DataType::Double => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
                DataType::Float16 => f16_to_f64(u16::from_le_bytes([c[0], c[1]])),
                DataType::Int64 => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
                DataType::Int32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                DataType::Int16 => i16::from_le_bytes([c[0], c[1]]) as f64,
                DataType::Int8 => c[0] as i8 as f64,
                DataType::Uint8 | DataType::Bool => c[0] as f64,
                DataType::Uint16 => u16::from_le_bytes([c[0], c[1]]) as f64,
                DataType::Uint32 => u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                _ => u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            })
            .collect()
    } else {
        let v: Vec<f64> = match dt {
            DataType::Float => t.float_data.iter().map(|&x| x as f64).collect(),
            DataType::Double => t.double_data.clone(),
            DataType::Float16 => t.int32_data.iter().map(|&x| f16_to_f64(x as u16)).collect(),
            DataType::Int64 => t.int64_data.iter().map(|&x| x as f64).collect(),
            DataType::Uint64 | DataType::Uint32 => {
                t.int64_data.iter().map(|&x| x as u64 as f64).collect()
            }
            _ => t.int32_data.iter().map(|&x| x as f64).collect(),
        };
        if v.len() != n {
            return Err(bad(
                name,
                format!("has {} values, expected {n} for shape {shape:?}", v.len()),
            ));
        }
        v
    };
    // -inf is a mask value (before a Softmax); lowering refuses it anywhere else.
    if dtype == DType::Float && data.iter().any(|x| x.is_nan() || *x == f64::INFINITY) {
        return Err(bad(name, "contains NaN or +infinity"));
    }
    Ok(Tensor { shape, data, dtype })
}

/// Typed access to a node's attributes.
pub struct Attrs<'a> {
    node: &'a NodeProto,
    name: String,
}

impl<'a> Attrs<'a> {
    /// Wraps a node.
    pub fn new(node: &'a NodeProto, name: &str) -> Self {
        Attrs {
            node,
            name: name.to_string(),
        }
    }

    fn get(&self, attr: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == attr)
    }

    fn err(&self, attr: &str, detail: impl Into<String>) -> FrontendError {
        FrontendError::Attribute {
            node: self.name.clone(),
            attr: attr.to_string(),
            detail: detail.into(),
        }
    }

    /// Refuses `attr` where the model's `opset` is `since` or later, which made it an input: the
    /// op would otherwise run without it (an axis list or sizes silently dropped).
    pub fn input_since(&self, attr: &str, opset: i64, since: i64) -> Result<(), FrontendError> {
        match opset >= since && self.get(attr).is_some() {
            true => Err(self.err(
                attr,
                format!("an attribute before opset {since}, an input from it (this model is opset {opset})"),
            )),
            false => Ok(()),
        }
    }

    /// Integer attribute.
    pub fn int(&self, attr: &str) -> Result<Option<i64>, FrontendError> {
        match self.get(attr) {
            None => Ok(None),
            Some(a)
                if a.r#type == pb::attribute_proto::AttributeType::Int as i32
                    || (a.r#type == 0 && a.ints.is_empty()) =>
            {
                Ok(Some(a.i))
            }
            Some(_) => Err(self.err(attr, "expected an integer")),
        }
    }

    /// Integer list attribute.
    pub fn ints(&self, attr: &str) -> Result<Option<Vec<i64>>, FrontendError> {
        match self.get(attr) {
            None => Ok(None),
            Some(a)
                if a.r#type == pb::attribute_proto::AttributeType::Ints as i32 || a.r#type == 0 =>
            {
                Ok(Some(a.ints.clone()))
            }
            Some(_) => Err(self.err(attr, "expected a list of integers")),
        }
    }

    /// Float attribute.
    pub fn float(&self, attr: &str) -> Result<Option<f64>, FrontendError> {
        match self.get(attr) {
            None => Ok(None),
            Some(a)
                if a.r#type == pb::attribute_proto::AttributeType::Float as i32
                    || a.r#type == 0 =>
            {
                if !a.f.is_finite() {
                    return Err(self.err(attr, "must be finite"));
                }
                Ok(Some(a.f as f64))
            }
            Some(_) => Err(self.err(attr, "expected a float")),
        }
    }

    /// Float list attribute.
    pub fn floats(&self, attr: &str) -> Result<Option<Vec<f64>>, FrontendError> {
        match self.get(attr) {
            None => Ok(None),
            Some(a) => Ok(Some(a.floats.iter().map(|&f| f as f64).collect())),
        }
    }

    /// String attribute.
    pub fn string(&self, attr: &str) -> Result<Option<String>, FrontendError> {
        match self.get(attr) {
            None => Ok(None),
            Some(a) => String::from_utf8(a.s.clone())
                .map(Some)
                .map_err(|_| self.err(attr, "not UTF-8")),
        }
    }

    /// String-list attribute.
    pub fn strings(&self, attr: &str) -> Result<Option<Vec<String>>, FrontendError> {
        match self.get(attr) {
            None => Ok(None),
            Some(a) => a
                .strings
                .iter()
                .map(|s| String::from_utf8(s.clone()).map_err(|_| self.err(attr, "not UTF-8")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }

    /// Which of the node's output slots are named (an empty name omits an optional output).
    pub fn present_outputs(&self) -> Vec<bool> {
        self.node.output.iter().map(|o| !o.is_empty()).collect()
    }

    /// Tensor attribute.
    pub fn tensor(&self, attr: &str) -> Result<Option<Tensor>, FrontendError> {
        match self.get(attr).and_then(|a| a.t.as_ref()) {
            None => Ok(None),
            Some(t) => decode_tensor(t).map(Some),
        }
    }

    /// Integer list with a length check and non-negativity.
    pub fn usizes(&self, attr: &str, len: usize) -> Result<Option<Vec<usize>>, FrontendError> {
        let Some(v) = self.ints(attr)? else {
            return Ok(None);
        };
        if v.len() != len || v.iter().any(|&x| !(0..=(1 << 24)).contains(&x)) {
            return Err(self.err(
                attr,
                format!("expected {len} non-negative values, got {v:?}"),
            ));
        }
        Ok(Some(v.into_iter().map(|x| x as usize).collect()))
    }

    /// Builds an attribute error.
    pub fn error(&self, attr: &str, detail: impl Into<String>) -> FrontendError {
        self.err(attr, detail)
    }

    /// Node name.
    pub fn node(&self) -> &str {
        &self.name
    }
}

/// A node of type `op` with the attributes `attrs` (unit tests of the op builders).
#[cfg(test)]
pub(crate) fn node_with(op: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        attribute: attrs,
        ..Default::default()
    }
}

/// An attribute `name` of type `ty`, its value set by `fill` (unit tests).
#[cfg(test)]
pub(crate) fn attr(
    name: &str,
    ty: pb::attribute_proto::AttributeType,
    fill: impl FnOnce(&mut AttributeProto),
) -> AttributeProto {
    let mut a = AttributeProto {
        name: name.into(),
        r#type: ty as i32,
        ..Default::default()
    };
    fill(&mut a);
    a
}
