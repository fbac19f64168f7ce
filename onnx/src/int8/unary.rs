//! Unary float ops between DequantizeLinear and QuantizeLinear (and ONNX Runtime's QLinear
//! lookup ops, which tabulate the same thing): over an int8/uint8 input they are a table of
//! at most 256 entries, `T[q] = Q_y(f(DQ_x(q)))`, computed here with the f32 arithmetic
//! ONNX Runtime's CPU kernels use, so the table is ORT's.

use super::ImportError;
use crate::proto::Attrs;
use tract_onnx::pb;
use zkinfer_circuits::graph::requant::AffineScale;

/// A unary float op zkinfer tabulates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    /// `x` itself: a requantization from one scale and zero point to another (a
    /// DequantizeLinear → QuantizeLinear pair, QLinearConcat's inputs).
    Identity,
    /// `max(x, 0)` (a Relu the quantizer could not fold into its producer's range).
    Relu,
    /// `min(max(x, lo), hi)` (a Clip, likewise).
    Clip {
        /// The lower bound (f32; `-inf` where absent).
        lo: f32,
        /// The upper bound (f32; `+inf` where absent).
        hi: f32,
    },
    /// The logistic function (Sigmoid, QLinearSigmoid).
    Sigmoid,
    /// `x` where `x ≥ 0`, else `alpha · x` (LeakyRelu, QLinearLeakyRelu).
    LeakyRelu {
        /// The slope below zero, as ONNX Runtime reads it (f32).
        alpha: f32,
    },
}

impl Unary {
    /// LeakyRelu with `np`'s `alpha` (0.01 where absent, as ONNX says).
    pub fn leaky_relu(np: &pb::NodeProto, name: &str) -> Result<Self, ImportError> {
        let alpha = Attrs::new(np, name)
            .float("alpha")
            .map_err(|e| ImportError::at(name, e.to_string()))?
            .map_or(0.01, |a| a as f32);
        if !alpha.is_finite() {
            return Err(ImportError::at(
                name,
                format!("alpha {alpha} is not finite"),
            ));
        }
        Ok(Unary::LeakyRelu { alpha })
    }

    /// `f(x)` as ONNX Runtime computes it in f32.
    pub fn eval(self, x: f32) -> f32 {
        match self {
            Unary::Identity => x,
            Unary::Relu => x.max(0.0),
            Unary::Clip { lo, hi } => x.max(lo).min(hi),
            Unary::Sigmoid => logistic(x),
            Unary::LeakyRelu { alpha } => match x >= 0.0 {
                true => x,
                false => alpha * x,
            },
        }
    }

    /// The table over the input's integer range: `Q_y(f(DQ_x(q)))` for `q = qmin ..= qmax`.
    pub fn table(self, x: &AffineScale, y: &AffineScale) -> (i64, Vec<i64>) {
        let (lo, hi) = x.range();
        let values = (lo..=hi)
            .map(|q| y.quantize(self.eval(x.dequantize(q))))
            .collect();
        (lo, values)
    }
}

/// ONNX Runtime's logistic (MLAS, x86-64 with FMA3): the input clamped to `[-18, 18]`, an odd
/// degree-9 numerator over an even degree-10 denominator in `x²` (Eigen's coefficients), each
/// Horner step one fused multiply-add, then `p / q + 0.5` clamped to `[0, 1]`. NaN stays NaN.
pub fn logistic(x: f32) -> f32 {
    // The published decimals (Eigen's), as the f32 values a C++ compiler makes of them.
    let alpha = [
        0x2e40_3551u32,
        0x33f8_4ecb,
        0x387f_413b,
        0x3c0b_7d58,
        0x3e7e_3f32,
    ]
    .map(f32::from_bits);
    let beta = [
        0x2b2b_c4f5u32,
        0x31c5_f27b,
        0x36d3_17dd,
        0x3adf_153f,
        0x3def_3e18,
        0x3f7e_3f34,
    ]
    .map(f32::from_bits);
    if x.is_nan() {
        return x;
    }
    let v = x.clamp(-18.0, 18.0);
    let v2 = v * v;
    let p = alpha[1..]
        .iter()
        .fold(alpha[0], |acc, &a| acc.mul_add(v2, a))
        * v;
    let q = beta[1..].iter().fold(beta[0], |acc, &b| acc.mul_add(v2, b));
    (p / q + 0.5).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logistic_is_close_to_the_exact_one() {
        // (Not monotone in the far tails, where its values are ~1e-8: ORT's isn't either.)
        for i in -4000..=4000 {
            let x = i as f32 / 100.0;
            let y = logistic(x);
            let exact = 1.0 / (1.0 + (-f64::from(x)).exp());
            assert!((f64::from(y) - exact).abs() < 1e-6, "{x}: {y} vs {exact}");
            assert!((0.0..=1.0).contains(&y));
        }
        assert_eq!(
            (logistic(-100.0), logistic(100.0)),
            (logistic(-18.0), logistic(18.0))
        );
        assert!(logistic(f32::NAN).is_nan());
    }
}
