//! MatMulInteger and ConvInteger of an int8/uint8 graph input by constant int8/uint8 weights:
//! the exact int32 result `Σ (x − z_x)(w − z_w)`, listed as its integers. (Inside a dynamically
//! quantized model these ops read a DynamicQuantizeLinear and are lowered by the float front
//! end, `ops/dynamic.rs`; this is the op alone, as ONNX's own test cases use it.)
//!
//! The product is the linear op of the QLinear ops (weights `w − z_w`, the input's zero point
//! as constants per output element); its accumulator, plus those constants, is range checked
//! into an activation with no scale (an elementwise step of weight one): the int32 integers.

use super::linear_ops::{conv_weights, dense_weights, Layout};
use super::*;
use crate::tensor::Tensor;

/// Scales of one, as many as `zero_points` has values (one without it): MatMulInteger and
/// ConvInteger have none.
fn unit_scales(zero_points: Option<&Const>) -> Const {
    let n = zero_points.map_or(1, |z| z.t.data.len().max(1));
    Const {
        t: Tensor::float(vec![n], vec![1.0; n]),
        elem: pb::tensor_proto::DataType::Float as i32,
    }
}

impl Importer {
    /// MatMulInteger (`conv = false`: A, B, a_zero_point, b_zero_point) or ConvInteger (x, w,
    /// x_zero_point, w_zero_point).
    pub(super) fn integer_op(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
        conv: bool,
    ) -> Result<Val, ImportError> {
        let Ok(Val::IntInput(t)) = self.val(np, 0, name) else {
            return Err(ImportError::at(
                name,
                "a MatMulInteger or ConvInteger is imported of an int8/uint8 graph input only (in a dynamically quantized model, of a DynamicQuantizeLinear)",
            ));
        };
        let t = t.clone();
        let zx = self.opt_konst(np, 2, name)?;
        if zx.as_ref().is_some_and(|z| z.t.data.len() > 1) {
            return Err(ImportError::at(
                name,
                "a zero point per row of the input is not imported (one per tensor)",
            ));
        }
        let q = QParams::read(name, &unit_scales(zx.as_ref()), zx.as_ref())?;
        if zx.is_some() && q.range != t.range {
            return Err(ImportError::at(
                name,
                "input #2 (the input's zero point) has another type than the input",
            ));
        }
        let q = QParams {
            range: t.range,
            ..q
        };
        let x = Act {
            id: t.id,
            q,
            shape: t.shape.clone(),
        };
        let w = self.konst(np, 1, name)?.clone();
        let zw = self.opt_konst(np, 3, name)?;
        let wp = QParams::read(name, &unit_scales(zw.as_ref()), zw.as_ref())?;
        let (w, layout) = match conv {
            true => conv_weights(np, name, &x, (&w, wp), None)?,
            false => dense_weights(name, &x, (&w, wp), None, false)?,
        };
        self.integers(name, &x, w, layout, &output(np, name)?)
    }

    /// `Σ (x − z_x)(w − z_w)` as an activation of no scale, its bits noted for the graph.
    fn integers(
        &mut self,
        name: &str,
        x: &Act,
        w: Weights,
        layout: Layout,
        out: &str,
    ) -> Result<Val, ImportError> {
        let k = w.w.len() / w.m.max(1);
        let zx = x.q.zp(0);
        let dx = (x.q.range.1 - zx).abs().max((x.q.range.0 - zx).abs());
        let bound = (0..w.m)
            .map(|c| {
                let row = &w.w[c * k..(c + 1) * k];
                let s: i64 = row.iter().map(|&v| (v - w.params.zp(c)).abs()).sum();
                s.saturating_mul(dx)
            })
            .max()
            .unwrap_or(0);
        let bits = 64 - (bound.max(1) as u64).leading_zeros() + 1;
        if bits > 20 {
            return Err(ImportError::at(
                name,
                format!("products up to {bound} do not fit the circuit's 20-bit activations"),
            ));
        }
        self.min_bits = self.min_bits.max(bits);
        let p = self.pending(name, x, w, layout, 1.0)?;
        let id = self.tensor(out, p.shape.clone(), TensorKind::Activation, None)?;
        let mut step = identity_step(name.to_string(), (p.acc, id), 0);
        step.qc = Coef::Each(p.offsets.clone());
        self.g.ops.push(QOp::Elementwise(step));
        Ok(Val::Integers(id))
    }
}
