//! BatchNormalization (inference): `y = scale·(x − mean)/sqrt(var + eps) + bias` per channel.
//! Folded into a preceding Conv when it is that Conv's only reader; otherwise a per-channel
//! affine elementwise op.

use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, QuantCtx};
use crate::tensor::Tensor;
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{Coef, Operand};

/// Batch normalization with constant statistics.
#[derive(Debug)]
pub struct BatchNorm {
    epsilon: f64,
}

impl BatchNorm {
    /// Per-channel `(a, b)` with `y = a·x + b`, from constant inputs.
    pub fn affine(
        &self,
        node: &str,
        inputs: &[Option<&Tensor>],
    ) -> Result<(Vec<f64>, Vec<f64>), FrontendError> {
        let get = |i| input(node, inputs, i);
        let (scale, bias, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
        let c = scale.len();
        if bias.len() != c || mean.len() != c || var.len() != c {
            return Err(shape_err(
                node,
                "BatchNormalization parameters differ in length",
            ));
        }
        let mut a = Vec::with_capacity(c);
        let mut b = Vec::with_capacity(c);
        for i in 0..c {
            let denom = (var.data[i] + self.epsilon).sqrt();
            // NaN (a NaN parameter, or a negative variance) is refused too.
            if denom.is_nan() || denom <= 0.0 {
                return Err(shape_err(
                    node,
                    format!("channel {i}: variance + epsilon must be positive"),
                ));
            }
            a.push(scale.data[i] / denom);
            b.push(bias.data[i] - scale.data[i] * mean.data[i] / denom);
        }
        Ok((a, b))
    }

    /// The affine parameters of a node, reading its constant inputs.
    pub fn node_affine(
        &self,
        q: &QuantCtx<'_>,
        node: usize,
    ) -> Result<(Vec<f64>, Vec<f64>), FrontendError> {
        let inputs: Vec<Option<&Tensor>> = (0..5).map(|i| q.const_input(node, i)).collect();
        if inputs[1..].iter().any(|t| t.is_none()) {
            return Err(q.err(node, "BatchNormalization statistics must be constants"));
        }
        self.affine(&q.node(node).name, &inputs)
    }
}

impl OnnxOp for BatchNorm {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let (a, b) = self.affine(node, inputs)?;
        if x.rank() < 2 || x.shape[1] != a.len() {
            return Err(shape_err(
                node,
                format!("input {:?} does not have {} channels", x.shape, a.len()),
            ));
        }
        let inner: usize = x.shape[2..].iter().product();
        let data = x.data.iter().enumerate().map(|(e, &v)| {
            let c = (e / inner) % a.len();
            a[c] * v + b[c]
        });
        Ok(vec![Tensor::float(x.shape.clone(), data.collect())])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let x = q.act_input(node, 0)?;
        let (a, b) = self.node_affine(q, node)?;
        let out = q.node(node).outputs[0];
        let shape = q.shape(out).to_vec();
        let inner: usize = shape[2..].iter().product();
        let s_c = q.weight_scale(x.scale, q.scale_for(out));
        let s_lin = x.scale + s_c;
        let n: usize = shape.iter().product();
        let mut qa = Vec::with_capacity(n);
        let mut qc = Vec::with_capacity(n);
        for e in 0..n {
            let c = (e / inner) % a.len();
            qa.push(q.fixed(node, a[c], s_c)?);
            qc.push(q.fixed(node, b[c], s_lin)?);
        }
        let lin = Lin {
            a: Some(Operand {
                tensor: x.id,
                index: None,
            }),
            qa: Coef::Each(qa),
            qc: Coef::Each(qc),
            ..Lin::default()
        };
        q.finish(node, lin, s_lin, out)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn batchnorm(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    // Training mode normalises by the batch's own statistics, and `spatial = 0` (opsets 7-8)
    // by statistics per element: neither is the inference-mode op lowered here.
    if a.int("training_mode")?.unwrap_or(0) != 0 {
        return Err(a.error("training_mode", "training mode is not supported"));
    }
    if a.int("spatial")?.unwrap_or(1) == 0 {
        return Err(a.error("spatial", "0 (statistics per element) is not supported"));
    }
    Ok(Box::new(BatchNorm {
        epsilon: a.float("epsilon")?.unwrap_or(1e-5),
    }))
}
