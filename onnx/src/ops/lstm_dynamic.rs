//! com.microsoft DynamicQuantizeLSTM, which ONNX Runtime's `quantize_dynamic` writes for an
//! LSTM: the LSTM with int8 weights `W` `[D, I, 4H]` and `R` `[D, H, 4H]` (transposed against
//! the LSTM's; `D` directions), their scales and zero points (one per direction, or one per
//! column of `4H` of each),
//! whose input and hidden state ONNX Runtime quantizes dynamically (uint8, from each product's
//! own range) for integer products. Lowered as the LSTM (`lstm.rs`) of the dequantized
//! weights — the model's own integers times their f32 scales, as ONNX Runtime dequantizes
//! them — with this front end's calibrated fixed point in place of ONNX Runtime's uint8
//! quantization of `x` and `h` in each product: the outputs differ by that quantization's
//! rounding besides this front end's own (both within the compile tolerance; on the shared
//! lstm, ONNX Runtime's quantization alone moves the output by 0.13% of its range).

use super::lstm::{constant_inputs, lstm_op, Lstm};
use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::QuantCtx;
use crate::tensor::Tensor;
use crate::FrontendError;
use std::any::Any;

/// DynamicQuantizeLSTM: an LSTM of dequantized int8 weights.
#[derive(Debug)]
pub struct DynamicQuantizeLstm {
    lstm: Lstm,
}

/// `W` (input 1, scales at 8, zero points at 9) or `R` (input 2; 10, 11), `[D, K, 4H]` for `D`
/// directions, dequantized and transposed to the LSTM's `[D, 4H, K]`. Scales and zero points
/// are one per direction or one per column of each direction.
fn weights(
    node: &str,
    inputs: &[Option<&Tensor>],
    (w, scale, zp): (usize, usize, usize),
) -> Result<Tensor, FrontendError> {
    let q = input(node, inputs, w)?;
    let s = input(node, inputs, scale)?;
    let z = inputs.get(zp).copied().flatten();
    let [dirs @ (1 | 2), k, rows] = q.shape[..] else {
        return Err(shape_err(
            node,
            format!(
                "quantized weights {:?} are not [directions (1 or 2), K, 4·hidden]",
                q.shape
            ),
        ));
    };
    let channels = s.len() / dirs;
    if s.len() % dirs != 0
        || !(channels == 1 || channels == rows)
        || z.is_some_and(|z| z.len() != s.len())
    {
        return Err(shape_err(
            node,
            format!("{} scales for weights of {dirs} direction(s) of {rows} columns (one, or one per column, per direction)", s.len()),
        ));
    }
    let mut data = Vec::with_capacity(dirs * rows * k);
    for d in 0..dirs {
        let qd = &q.data[d * k * rows..(d + 1) * k * rows];
        for r in 0..rows {
            let c = d * channels + if channels == 1 { 0 } else { r };
            let zero = z.map_or(0.0, |z| z.data[c]);
            for kk in 0..k {
                let v = (qd[kk * rows + r] - zero) as f32 * s.data[c] as f32;
                data.push(f64::from(v));
            }
        }
    }
    Ok(Tensor::float(vec![dirs, rows, k], data))
}

impl DynamicQuantizeLstm {
    /// The LSTM's inputs: `x`, the dequantized `W` and `R`, then `B`, `sequence_lens`, the
    /// initial states and `P` as given.
    fn with_weights<'t>(
        inputs: &[Option<&'t Tensor>],
        (w, r): (&'t Tensor, &'t Tensor),
    ) -> Vec<Option<&'t Tensor>> {
        let mut out = vec![inputs.first().copied().flatten(), Some(w), Some(r)];
        out.extend((3..8).map(|k| inputs.get(k).copied().flatten()));
        out
    }
}

impl OnnxOp for DynamicQuantizeLstm {
    fn skips_unnamed_outputs(&self) -> bool {
        true
    }

    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let w = weights(node, inputs, (1, 8, 9))?;
        let r = weights(node, inputs, (2, 10, 11))?;
        self.lstm.eval(node, &Self::with_weights(inputs, (&w, &r)))
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let what =
            "the weights, their scales and zero points, B, sequence_lens and the initial states";
        let consts = constant_inputs(q, node, what)?;
        let n = q.node(node);
        let w = weights(&n.name, &consts, (1, 8, 9))?;
        let r = weights(&n.name, &consts, (2, 10, 11))?;
        let inputs = Self::with_weights(&consts, (&w, &r));
        self.lstm.lower(q, node, &inputs)
    }

    fn parameter_inputs(&self) -> &'static [usize] {
        &[4]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `DynamicQuantizeLSTM` (com.microsoft): the LSTM's attributes.
pub fn dynamic_quantize_lstm(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(DynamicQuantizeLstm { lstm: lstm_op(a)? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_dequantized_per_column_and_transposed() {
        // [1, K = 2, 4H = 4]: q[k][r].
        let q = Tensor::float(vec![1, 2, 4], vec![1., 2., 3., 4., 5., 6., 7., 8.]);
        let s = Tensor::float(vec![1, 4], vec![0.5, 1.0, 2.0, 0.25]);
        let z = Tensor::float(vec![1, 4], vec![1., 0., 0., 0.]);
        // Inputs #1 (W) and #8, #9 (its scales and zero points).
        fn with<'t>(
            q: &'t Tensor,
            s: &'t Tensor,
            z: Option<&'t Tensor>,
        ) -> Vec<Option<&'t Tensor>> {
            let mut v = vec![None; 10];
            (v[1], v[8], v[9]) = (Some(q), Some(s), z);
            v
        }
        let w = weights("n", &with(&q, &s, Some(&z)), (1, 8, 9)).unwrap();
        assert_eq!(w.shape, vec![1, 4, 2]);
        assert_eq!(w.data, vec![0.0, 2.0, 2.0, 6.0, 6.0, 14.0, 1.0, 2.0]);
        let two = Tensor::float(vec![2], vec![1.0, 1.0]);
        let bad = with(&q, &two, None);
        assert!(weights("n", &bad, (1, 8, 9)).is_err());
        // Two directions ([2, K = 1, 4H = 2]): a scale per direction, then one per column.
        let q2 = Tensor::float(vec![2, 1, 2], vec![1., 2., 3., 4.]);
        let per_dir = Tensor::float(vec![2], vec![0.5, 2.0]);
        let w = weights("n", &with(&q2, &per_dir, None), (1, 8, 9)).unwrap();
        assert_eq!(w.shape, vec![2, 2, 1]);
        assert_eq!(w.data, vec![0.5, 1.0, 6.0, 8.0]);
        let per_col = Tensor::float(vec![2, 2], vec![1.0, 0.5, 0.25, 2.0]);
        let zp = Tensor::float(vec![2, 2], vec![1., 0., 0., 2.]);
        let w = weights("n", &with(&q2, &per_col, Some(&zp)), (1, 8, 9)).unwrap();
        assert_eq!(w.data, vec![0.0, 1.0, 0.75, 4.0]);
        let three = Tensor::float(vec![3, 1, 2], vec![1.; 6]);
        assert!(weights("n", &with(&three, &per_dir, None), (1, 8, 9)).is_err());
    }
}
