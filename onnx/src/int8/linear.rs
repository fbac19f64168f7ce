//! Conv, Gemm and MatMul of an int8 activation by constant int8 weights, as ONNX Runtime's
//! QLinearConv / QGemm / QLinearMatMul compute them (and its fused DQ → op → Q patterns):
//!
//! ```text
//! acc = Σ (x − zx)(w − zw) + b          (exact int32)
//! y   = clamp(rhe(fl32(acc)·m) + zy)     m = fl32(fl32(fl32(α·sx)·sw) / sy), per channel
//! ```
//!
//! The weights' zero points are folded into the constant weights `w' = w − zw`; the input's
//! into a constant per output element, `−zx·Σ w'` over the taps inside the input (a padded
//! border reads ONNX Runtime's padding, the zero point itself), added to the accumulator by
//! the requantization. Each channel's rule is [`fit`] to ORT's f32 rule over every
//! accumulator the weights allow, so the proven integer is ORT's for every input; where no
//! dyadic rule is exact (double rounding of the f32 product) the exact f32 multiplier is used
//! and the channel is reported (at most 1 LSB from ORT, at the accumulators where the f32
//! product rounds onto or off a half).

use super::params::QParams;
use super::ImportError;
use zkinfer_circuits::graph::requant::{exact_multiplier, fit, Dyadic, OrtRequant};
use zkinfer_circuits::graph::{Geometry, LinearOp, WeightSet, PAD};

/// The weights of a linear op, one row of `k` per output channel, before the zero points.
pub struct Weights {
    /// `m × k`, row-major.
    pub w: Vec<i64>,
    /// Per output channel.
    pub bias: Vec<i64>,
    /// The largest `|b|` of a bias added element by element instead (a Gemm's `C` that is
    /// not one value per channel: requantization offsets), for the accumulators' bound.
    pub element_bias: i64,
    /// Output channels.
    pub m: usize,
    /// Channel groups of a grouped convolution (1 otherwise): `m / groups` rows per weight set.
    pub groups: usize,
    /// Their scales and zero points.
    pub params: QParams,
}

/// What the requantization of a linear op needs to know about its input and output.
pub struct Requant<'a> {
    /// Input quantization.
    pub x: &'a QParams,
    /// Output quantization.
    pub y: &'a QParams,
    /// Gemm's `alpha` (1 otherwise).
    pub alpha: f32,
}

/// A channel's rule, and whether it is ORT's for every accumulator.
pub struct ChannelRule {
    /// The rule.
    pub rule: Dyadic,
    /// Exact for every accumulator the weights allow.
    pub exact: bool,
    /// The largest `|acc|` the weights allow.
    pub bound: i64,
}

impl Weights {
    /// The linear op over `input` writing `output`, with `w − zw` as its weights: one weight
    /// set per channel group.
    pub fn op(&self, name: &str, (input, output): (usize, usize), geometry: Geometry) -> LinearOp {
        let k = self.w.len() / self.m.max(1);
        let per = self.m / self.groups.max(1);
        let set = |g: usize| {
            let rows = g * per..(g + 1) * per;
            WeightSet {
                m: per,
                k,
                w: rows
                    .clone()
                    .flat_map(|c| {
                        self.w[c * k..(c + 1) * k]
                            .iter()
                            .map(move |&v| v - self.params.zp(c))
                    })
                    .collect(),
                b: self.bias[rows].to_vec(),
            }
        };
        LinearOp {
            name: name.to_string(),
            input,
            output,
            sets: (0..self.groups.max(1)).map(set).collect(),
            geometry,
        }
    }

    /// `−zx·Σ w'` over each output element's taps inside the input.
    pub fn offsets(op: &LinearOp, zx: i64, outputs: usize) -> Vec<i64> {
        let mut off = vec![0i64; outputs];
        for p in 0..op.group_count() {
            let grp = op.group(p);
            let ws = &op.sets[grp.set];
            for (i, &o) in grp.out.iter().enumerate() {
                let row = &ws.w[i * ws.k..(i + 1) * ws.k];
                let inside: i64 = row
                    .iter()
                    .zip(&grp.gather)
                    .filter(|(_, &g)| g != PAD)
                    .map(|(&w, _)| w)
                    .sum();
                if let Some(slot) = off.get_mut(o as usize) {
                    *slot = -zx * inside;
                }
            }
        }
        off
    }

    /// Each channel's rule.
    pub fn rules(&self, node: &str, r: &Requant<'_>) -> Result<Vec<ChannelRule>, ImportError> {
        let k = self.w.len() / self.m.max(1);
        let zx = r.x.zp(0);
        let dx = (r.x.range.1 - zx).abs().max((r.x.range.0 - zx).abs());
        let (zy, range) = (r.y.zp(0), r.y.range);
        (0..self.m)
            .map(|c| {
                let wsum: i64 = self.w[c * k..(c + 1) * k]
                    .iter()
                    .map(|&v| (v - self.params.zp(c)).abs())
                    .sum();
                let bound = wsum
                    .saturating_mul(dx)
                    .saturating_add(self.bias[c].abs())
                    .saturating_add(self.element_bias);
                let m = ((r.alpha * r.x.scale(0)) * self.params.scale(c)) / r.y.scale(0);
                channel_rule(node, m, (zy, range), bound)
            })
            .collect()
    }
}

/// The rule for ORT's `clamp(rhe(fl32(acc)·m) + zy)` over accumulators `|acc| ≤ bound`:
/// [`fit`] where a dyadic rule is ORT's on all of them, else `m`'s exact value (not exact).
pub fn channel_rule(
    node: &str,
    m: f32,
    (zy, range): (i64, (i64, i64)),
    bound: i64,
) -> Result<ChannelRule, ImportError> {
    let ort = OrtRequant::new(m, zy, range.0, range.1)
        .map_err(|e| ImportError::at(node, e.to_string()))?;
    match fit(&ort, bound.min(1 << 40), 62, 40) {
        Some(rule) => Ok(ChannelRule {
            rule,
            exact: bound <= 1 << 40,
            bound,
        }),
        None => exact_multiplier(&ort)
            .map(|rule| ChannelRule {
                rule,
                exact: false,
                bound,
            })
            .ok_or_else(|| {
                ImportError::at(
                    node,
                    format!("requantization multiplier {m} has no integer form"),
                )
            }),
    }
}

/// The largest `|round(acc·M / 2^n)|` of the rules over their bounds (for the range table).
pub fn quotient_bound(rules: &[ChannelRule]) -> i64 {
    rules
        .iter()
        .map(|c| {
            let q = (i128::from(c.bound) * i128::from(c.rule.mult())) >> c.rule.shift();
            i64::try_from(q + 1).unwrap_or(i64::MAX)
        })
        .max()
        .unwrap_or(0)
}
