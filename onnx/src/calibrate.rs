//! Calibration: the largest magnitude each tensor reaches on the calibration input, and the
//! values themselves for statistics an op needs beyond magnitudes.

use super::onnx::OnnxModel;
use super::tensor::Tensor;
use super::FrontendError;

/// Calibrated magnitudes, indexed like [`OnnxModel::tensors`].
#[derive(Clone, Debug)]
pub struct Ranges {
    /// `max |x|` per tensor (0 for tensors never computed).
    pub max_abs: Vec<f64>,
    /// The float values on the calibration input (`None` for tensors never computed).
    values: Vec<Option<Tensor>>,
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
        Ok(Ranges {
            max_abs,
            values: vals,
        })
    }

    /// `max |x_j − mean(x)|` over the rows of `n` consecutive values of tensor `t` on the
    /// calibration input (a layer normalisation's deviations), or `None` where `t` was not
    /// computed, does not split into such rows or holds a non-finite value.
    pub fn row_deviation(&self, t: usize, n: usize) -> Option<f64> {
        let data = &self.values.get(t)?.as_ref()?.data;
        if n == 0 || data.len() % n != 0 || data.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let dev = data.chunks(n).fold(0.0f64, |m, row| {
            let mean = row.iter().sum::<f64>() / n as f64;
            row.iter().fold(m, |m, x| m.max((x - mean).abs()))
        });
        Some(dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_deviation_is_the_largest_distance_from_a_row_mean() {
        let t = Tensor::float(vec![2, 3], vec![1.0, 2.0, 6.0, -1.0, -1.0, -1.0]);
        let r = Ranges {
            max_abs: vec![6.0],
            values: vec![Some(t)],
        };
        // Row 1: mean 3, largest distance 3; row 2: constant.
        assert_eq!(r.row_deviation(0, 3), Some(3.0));
        // Rows of 2: [1, 2], [6, −1], [−1, −1]: 3.5.
        assert_eq!(r.row_deviation(0, 2), Some(3.5));
        assert_eq!(r.row_deviation(0, 4), None);
        assert_eq!(r.row_deviation(1, 3), None);
    }
}
