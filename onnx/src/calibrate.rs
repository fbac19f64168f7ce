//! Calibration: the largest magnitude each tensor reaches on the calibration input.

use super::onnx::OnnxModel;
use super::tensor::Tensor;
use super::FrontendError;

/// Calibrated magnitudes, indexed like [`OnnxModel::tensors`].
#[derive(Clone, Debug)]
pub struct Ranges {
    /// `max |x|` per tensor (0 for tensors never computed).
    pub max_abs: Vec<f64>,
}

impl Ranges {
    /// Runs the float model on the calibration input.
    pub fn calibrate(model: &OnnxModel, inputs: &[Tensor]) -> Result<Self, FrontendError> {
        let vals = model.run(inputs)?;
        let mut max_abs = vec![0.0; model.tensors.len()];
        for (i, v) in vals.iter().enumerate() {
            if let Some(t) = v {
                // −∞ marks masked entries (a causal mask before Softmax): not part of the range;
                // lowering accepts it only where a Softmax masks it out.
                let m = t
                    .data
                    .iter()
                    .filter(|&&x| x != f64::NEG_INFINITY)
                    .fold(0.0f64, |m, &x| m.max(x.abs()));
                if !m.is_finite() || t.data.iter().any(|x| x.is_nan()) {
                    return Err(FrontendError::Calibration(format!(
                        "tensor '{}' is not finite on the calibration input",
                        model.tensors[i].name
                    )));
                }
                max_abs[i] = m;
            }
        }
        Ok(Ranges { max_abs })
    }
}
