//! Calibration: the largest magnitude each tensor reaches on the calibration input, and the
//! values themselves for statistics an op needs beyond magnitudes.

use super::onnx::OnnxModel;
use super::tensor::{DType, Tensor};
use super::FrontendError;
use zkinfer_circuits::input::InputData;

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

    /// Runs the float model on several calibration inputs: each tensor's largest magnitude
    /// over all of them, and its values of all of them for row statistics.
    pub fn calibrate_all(
        model: &OnnxModel,
        samples: &[Vec<Tensor>],
    ) -> Result<Self, FrontendError> {
        let mut all: Option<Ranges> = None;
        for inputs in samples {
            let r = Ranges::calibrate(model, inputs)?;
            all = Some(match all {
                None => r,
                Some(mut a) => {
                    for (m, n) in a.max_abs.iter_mut().zip(&r.max_abs) {
                        *m = m.max(*n);
                    }
                    for (v, w) in a.values.iter_mut().zip(r.values) {
                        if let (Some(v), Some(w)) = (v.as_mut(), w) {
                            v.data.extend(w.data);
                        }
                    }
                    a
                }
            });
        }
        all.ok_or_else(|| FrontendError::Calibration("no calibration input".into()))
    }

    /// The smallest value of tensor `t` on the calibration input (`None` where it was not
    /// computed or holds no value).
    pub fn min(&self, t: usize) -> Option<f64> {
        let data = &self.values.get(t)?.as_ref()?.data;
        data.iter().copied().reduce(f64::min)
    }

    /// Statistics of the rows of `n` consecutive values of tensor `t` on the calibration input
    /// (a layer normalisation's rows, `epsilon` its ε), or `None` where `t` was not computed,
    /// does not split into such rows or holds a non-finite value.
    pub fn row_stats(&self, t: usize, n: usize, epsilon: f64) -> Option<RowStats> {
        let data = &self.values.get(t)?.as_ref()?.data;
        if n == 0 || data.len() % n != 0 || data.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let mut st = RowStats {
            variance: (f64::INFINITY, 0.0),
            normalized: 0.0,
        };
        for row in data.chunks(n) {
            let mean = row.iter().sum::<f64>() / n as f64;
            let dev = row.iter().fold(0.0f64, |m, x| m.max((x - mean).abs()));
            let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            st.variance = (st.variance.0.min(var), st.variance.1.max(var));
            st.normalized = st.normalized.max(dev / (var + epsilon).sqrt());
        }
        st.normalized.is_finite().then_some(st)
    }
}

/// What a layer normalisation's rows reach on the calibration input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowStats {
    /// The smallest and the largest row variance (population).
    pub variance: (f64, f64),
    /// `max |x_j − mean| / sqrt(variance + ε)`: the largest normalised value.
    pub normalized: f64,
}

/// How many seeded inputs calibrate a model compiled without a calibration input.
pub const SEEDED_SAMPLES: usize = 8;

/// The calibration inputs used when none is given ([`SEEDED_SAMPLES`] of them): each float
/// input uniform on a `2^-10` grid in `[-1, 1)`, each integer input (token ids) uniform over
/// the rows of the smallest constant table the model gathers from with computed indices, from
/// a fixed xorshift64* seed (the same inputs every time). `None` where an integer input indexes
/// no such table (its range is then unknown).
pub fn seeded_inputs(model: &OnnxModel) -> Option<Vec<InputData>> {
    let rows = model
        .nodes
        .iter()
        .filter(|n| n.op_type == "Gather")
        .filter_map(|n| {
            let table = model.tensors[n.inputs.first().copied().flatten()?]
                .value
                .as_ref()?;
            let ids = n.inputs.get(1).copied().flatten()?;
            model.tensors[ids]
                .value
                .is_none()
                .then(|| table.shape.first().copied())?
        })
        .min();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((word >> 53) as f64 - 1024.0) / 1024.0
    };
    let mut samples = Vec::with_capacity(SEEDED_SAMPLES);
    for i in 0..SEEDED_SAMPLES {
        let mut values = Vec::with_capacity(model.inputs.len());
        for &t in &model.inputs {
            let info = &model.tensors[t];
            let n: usize = info.shape.iter().product();
            let v: Vec<f64> = match info.dtype {
                DType::Float => (0..n).map(|_| next()).collect(),
                _ => {
                    let r = rows.filter(|&r| r > 0)? as f64;
                    (0..n).map(|_| ((next() + 1.0) / 2.0 * r).floor()).collect()
                }
            };
            values.push(v);
        }
        samples.push(InputData {
            source: format!("seeded calibration input #{i}"),
            values,
        });
    }
    Some(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_stats_are_the_extremes_over_the_rows() {
        let t = Tensor::float(vec![2, 3], vec![1.0, 2.0, 6.0, -1.0, -1.0, -1.0]);
        let r = Ranges {
            max_abs: vec![6.0],
            values: vec![Some(t)],
        };
        // Row 1: mean 3, largest distance 3, variance 14/3; row 2: constant.
        let st = r.row_stats(0, 3, 1.0).unwrap();
        assert_eq!(st.variance, (0.0, 14.0 / 3.0));
        assert_eq!(st.normalized, 3.0 / (14.0f64 / 3.0 + 1.0).sqrt());
        // Rows of 2: [1, 2], [6, −1], [−1, −1]: variances 1/4, 49/4 and 0.
        let st = r.row_stats(0, 2, 0.0).unwrap();
        assert_eq!(st.variance, (0.0, 12.25));
        // Every row of 2 sits at ±1 standard deviation; the constant row adds nothing.
        assert_eq!(st.normalized, 1.0);
        assert_eq!(r.row_stats(0, 4, 1.0), None);
        assert_eq!(r.row_stats(1, 3, 1.0), None);
    }
}
