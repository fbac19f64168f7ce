//! Activations: Relu, LeakyRelu, Clip, Sigmoid, Tanh, Erf, Gelu. Each is a table function; after a linear map
//! it is fused into the rescale, otherwise it is its own elementwise op.

use super::{input, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QuantCtx};
use crate::tensor::Tensor;
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::expr::{self, Step};
use zkinfer_circuits::graph::{det_sigmoid, det_tanh, FnKind};

/// An activation: its table function at a given input scale, and the output scale.
pub trait Activation {
    /// `(function, output scale)` for quotients at scale `in_scale`.
    fn function(
        &self,
        q: &QuantCtx<'_>,
        node: usize,
        in_scale: i32,
    ) -> Result<(FnKind, i32), FrontendError>;
}

/// Lowers a standalone activation: `out = f(x)` at the input's scale, without rescaling.
pub(super) fn quantize_standalone(
    act: &dyn Activation,
    q: &mut QuantCtx<'_>,
    node: usize,
) -> Result<(), FrontendError> {
    let x = q.act_input(node, 0)?;
    let out = q.node(node).outputs[0];
    let (f, os) = q.activation_fn(act, node, x.scale)?;
    let name = q.model.tensors[out].name.clone();
    let r = q.emit(
        q.node(node).name.clone(),
        NewTensor {
            name: &name,
            shape: q.shape(out).to_vec(),
            scale: os,
        },
        Lin::of(x),
        0,
        f,
    );
    q.bind(out, r);
    Ok(())
}

pub(super) fn map(
    node: &str,
    inputs: &[Option<&Tensor>],
    f: impl Fn(f64) -> f64,
) -> Result<Vec<Tensor>, FrontendError> {
    let x = input(node, inputs, 0)?;
    Ok(vec![Tensor::float(
        x.shape.clone(),
        x.data.iter().map(|&v| f(v)).collect(),
    )])
}

macro_rules! activation_op {
    ($ty:ident) => {
        impl OnnxOp for $ty {
            fn eval(
                &self,
                node: &str,
                inputs: &[Option<&Tensor>],
            ) -> Result<Vec<Tensor>, FrontendError> {
                let (lo, hi) = self.float_bounds(inputs);
                map(node, inputs, |v| self.apply(v, lo, hi))
            }
            fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
                quantize_standalone(self, q, node)
            }
            fn activation(&self) -> Option<&dyn Activation> {
                Some(self)
            }
            fn as_any(&self) -> &dyn Any {
                self
            }
        }
    };
}
pub(super) use activation_op;

/// `max(x, 0)`.
#[derive(Debug)]
pub struct Relu;

impl Relu {
    fn float_bounds(&self, _: &[Option<&Tensor>]) -> (f64, f64) {
        (0.0, 0.0)
    }
    fn apply(&self, v: f64, _: f64, _: f64) -> f64 {
        v.max(0.0)
    }
}

impl Activation for Relu {
    fn function(&self, _: &QuantCtx<'_>, _: usize, s: i32) -> Result<(FnKind, i32), FrontendError> {
        Ok((FnKind::Relu, s))
    }
}
activation_op!(Relu);

/// `x` or `alpha·x` below zero.
#[derive(Debug)]
pub struct LeakyRelu {
    alpha: f64,
}

impl LeakyRelu {
    fn float_bounds(&self, _: &[Option<&Tensor>]) -> (f64, f64) {
        (0.0, 0.0)
    }
    fn apply(&self, v: f64, _: f64, _: f64) -> f64 {
        if v >= 0.0 {
            v
        } else {
            self.alpha * v
        }
    }
}

impl Activation for LeakyRelu {
    /// A slope steeper than 1 (or `alpha <= -1`) would leave the activation range at the input's
    /// scale: the output then gets a coarser scale, `out_shift` bits.
    fn function(
        &self,
        q: &QuantCtx<'_>,
        node: usize,
        s: i32,
    ) -> Result<(FnKind, i32), FrontendError> {
        match FnKind::leaky_relu(self.alpha, q.bits) {
            Some(f @ FnKind::LeakyRelu { out_shift, .. }) => Ok((f, s - out_shift as i32)),
            _ => Err(q.err(
                node,
                format!(
                    "LeakyRelu alpha = {} is too steep for {} activation bits",
                    self.alpha, q.bits
                ),
            )),
        }
    }
}
activation_op!(LeakyRelu);

/// `min(max(x, lo), hi)`, bounds from attributes (opset < 11) or constant inputs.
#[derive(Debug)]
pub struct Clip {
    min: Option<f64>,
    max: Option<f64>,
}

impl Clip {
    fn float_bounds(&self, inputs: &[Option<&Tensor>]) -> (f64, f64) {
        let get = |i: usize, dflt: Option<f64>| {
            inputs
                .get(i)
                .copied()
                .flatten()
                .and_then(|t| t.data.first().copied())
                .or(dflt)
        };
        (
            get(1, self.min).unwrap_or(f64::NEG_INFINITY),
            get(2, self.max).unwrap_or(f64::INFINITY),
        )
    }
    fn apply(&self, v: f64, lo: f64, hi: f64) -> f64 {
        v.max(lo).min(hi)
    }
}

impl Activation for Clip {
    fn function(
        &self,
        q: &QuantCtx<'_>,
        node: usize,
        s: i32,
    ) -> Result<(FnKind, i32), FrontendError> {
        let n = q.node(node);
        for i in 1..3 {
            if q.input_id(node, i).is_some() && q.const_input(node, i).is_none() {
                return Err(q.err(node, "Clip bounds must be constants"));
            }
        }
        let inputs: Vec<Option<&Tensor>> = (0..n.inputs.len())
            .map(|i| q.const_input(node, i))
            .collect();
        let (lo, hi) = self.float_bounds(&inputs);
        let half = (1i64 << (q.bits - 1)) as f64;
        let to_int = |v: f64| (v * (s as f64).exp2()).round().clamp(-half, half - 1.0) as i64;
        Ok((
            FnKind::Clip {
                lo: to_int(lo),
                hi: to_int(hi),
            },
            s,
        ))
    }
}
activation_op!(Clip);

/// A bounded S-shaped function: Sigmoid (values in [0, 1]) or Tanh (values in [-1, 1]); the
/// output gets scale `bits - 2`.
#[derive(Debug)]
pub struct Squash {
    /// Tanh rather than Sigmoid.
    tanh: bool,
}

impl Squash {
    fn float_bounds(&self, _: &[Option<&Tensor>]) -> (f64, f64) {
        (0.0, 0.0)
    }
    fn apply(&self, v: f64, _: f64, _: f64) -> f64 {
        if self.tanh {
            det_tanh(v)
        } else {
            det_sigmoid(v)
        }
    }
}

impl Activation for Squash {
    fn function(&self, q: &QuantCtx<'_>, _: usize, s: i32) -> Result<(FnKind, i32), FrontendError> {
        let (in_scale, out_scale) = (s, q.bits as i32 - 2);
        let f = if self.tanh {
            FnKind::Tanh {
                in_scale,
                out_scale,
            }
        } else {
            FnKind::Sigmoid {
                in_scale,
                out_scale,
            }
        };
        Ok((f, out_scale))
    }
}
activation_op!(Squash);

/// `erf(x)` (values in [-1, 1], output scale `bits - 2`), and GELU (opset 20; `approximate`
/// `none` or `tanh`), tabulated as expressions (`FnKind::Expr`).
#[derive(Debug)]
pub struct ErfGelu {
    steps: Vec<Step>,
    /// GELU (whose values are unbounded above) rather than Erf.
    gelu: bool,
}

impl ErfGelu {
    fn float_bounds(&self, _: &[Option<&Tensor>]) -> (f64, f64) {
        (0.0, 0.0)
    }
    fn apply(&self, v: f64, _: f64, _: f64) -> f64 {
        expr::run(&self.steps, v).unwrap_or(f64::NAN)
    }
}

impl Activation for ErfGelu {
    fn function(
        &self,
        q: &QuantCtx<'_>,
        node: usize,
        s: i32,
    ) -> Result<(FnKind, i32), FrontendError> {
        let out = match self.gelu {
            false => q.bits as i32 - 2,
            true => {
                let wanted = q.scale_for(q.node(node).outputs[0]);
                crate::fuse::fitting_scale(&self.steps, s, wanted, q.bits)
                    .ok_or_else(|| q.err(node, "GELU does not evaluate over the input range"))?
            }
        };
        let f = FnKind::Expr {
            steps: self.steps.clone(),
            in_scale: s,
            out_scale: out,
        };
        Ok((f, out))
    }
}
activation_op!(ErfGelu);

pub fn erf(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(ErfGelu {
        steps: vec![Step::X, Step::Erf],
        gelu: false,
    }))
}

pub fn gelu(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    use Step::*;
    let steps = match a.string("approximate")?.as_deref() {
        None | Some("none") => vec![
            X,
            Const(0.5),
            Mul,
            X,
            Const(std::f64::consts::FRAC_1_SQRT_2),
            Mul,
            Erf,
            Const(1.0),
            Add,
            Mul,
        ],
        Some("tanh") => vec![
            X,
            Const(0.5),
            Mul,
            X,
            X,
            PowI(3),
            Const(0.044715),
            Mul,
            Add,
            Const((2.0 / std::f64::consts::PI).sqrt()),
            Mul,
            Tanh,
            Const(1.0),
            Add,
            Mul,
        ],
        Some(other) => {
            return Err(a.error("approximate", format!("'{other}' (none or tanh)")));
        }
    };
    Ok(Box::new(ErfGelu { steps, gelu: true }))
}

pub fn relu(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Relu))
}

pub fn leaky_relu(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(LeakyRelu {
        alpha: a.float("alpha")?.unwrap_or(0.01),
    }))
}

pub fn clip(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    // From opset 11 the bounds are inputs: attributes there were read as bounds.
    a.input_since("min", opset, 11)?;
    a.input_since("max", opset, 11)?;
    Ok(Box::new(Clip {
        min: a.float("min")?,
        max: a.float("max")?,
    }))
}

pub fn sigmoid(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Squash { tanh: false }))
}

pub fn tanh(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Squash { tanh: true }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{attr, node_with};
    use tract_onnx::pb::attribute_proto::AttributeType;

    #[test]
    fn clip_bounds_as_attributes_from_opset_11_are_refused() {
        let min = attr("min", AttributeType::Float, |a| a.f = -1.0);
        let node = node_with("Clip", vec![min]);
        let a = Attrs::new(&node, "c");
        let err = clip(&a, 11)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("an input from it"), "{err}");
        assert!(clip(&a, 6).is_ok());
    }
}
