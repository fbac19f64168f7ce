//! Functions applied by lookup. Each function is tabulated over the whole activation domain
//! `[-2^(bits-1), 2^(bits-1))`; table contents must be bit-identical on every machine, so the
//! transcendental ones use only IEEE-754 basic operations (no libm).

use serde::{Deserialize, Serialize};

/// A function of one quantized activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FnKind {
    /// `y = x` (a range check).
    Identity,
    /// `y = max(x, 0)`.
    Relu,
    /// `y = x` for `x >= 0`, else `round(alpha * x)`.
    LeakyRelu { alpha: f64 },
    /// `y = min(max(x, lo), hi)` on integers.
    Clip { lo: i64, hi: i64 },
    /// `y = round(sigmoid(x * 2^-in_scale) * 2^out_scale)`.
    Sigmoid { in_scale: i32, out_scale: i32 },
}

impl FnKind {
    /// Evaluates the function on an integer of the domain.
    pub fn eval(&self, x: i64) -> i64 {
        match self {
            FnKind::Identity => x,
            FnKind::Relu => x.max(0),
            FnKind::LeakyRelu { alpha } => {
                if x >= 0 {
                    x
                } else {
                    (alpha * x as f64).round() as i64
                }
            }
            FnKind::Clip { lo, hi } => x.clamp(*lo, *hi),
            FnKind::Sigmoid {
                in_scale,
                out_scale,
            } => {
                let real = x as f64 * exp2i(-*in_scale);
                (det_sigmoid(real) * exp2i(*out_scale)).round() as i64
            }
        }
    }

    /// A stable text key used in digests and descriptions.
    pub fn key(&self) -> String {
        match self {
            FnKind::Identity => "identity".into(),
            FnKind::Relu => "relu".into(),
            FnKind::LeakyRelu { alpha } => format!("leaky_relu(alpha_bits={:#x})", alpha.to_bits()),
            FnKind::Clip { lo, hi } => format!("clip({lo},{hi})"),
            FnKind::Sigmoid {
                in_scale,
                out_scale,
            } => format!("sigmoid(in=2^-{in_scale},out=2^-{out_scale})"),
        }
    }
}

/// `2^e` exactly, for `|e| < 1000`.
pub(crate) fn exp2i(e: i32) -> f64 {
    let e = e.clamp(-1000, 1000);
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        0.0
    }
}

/// `exp(x)` using only basic IEEE operations: Cody–Waite range reduction and a Taylor series.
/// Accurate to a few ulps, and identical on every conforming platform.
fn det_exp(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
    const LN2_HI: f64 = 6.931_471_803_691_238_2e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // 1 / ln 2 (the same double as 1.442_695_040_888_963_4).
    let n = (x * std::f64::consts::LOG2_E).round();
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // |r| <= ln2/2: 20 terms are far below one ulp.
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for i in 1..=20 {
        term = term * r / i as f64;
        sum += term;
    }
    sum * exp2i(n as i32)
}

/// `1 / (1 + exp(-x))`, deterministic across platforms.
pub fn det_sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + det_exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn det_exp_is_accurate() {
        for i in -200..=200 {
            let x = i as f64 * 0.173;
            let rel = (det_exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-14, "x={x} rel={rel}");
        }
    }

    #[test]
    fn functions() {
        assert_eq!(FnKind::Relu.eval(-5), 0);
        assert_eq!(FnKind::Relu.eval(5), 5);
        assert_eq!(FnKind::LeakyRelu { alpha: 0.1 }.eval(-25), -3);
        assert_eq!(FnKind::Clip { lo: -2, hi: 3 }.eval(9), 3);
        let s = FnKind::Sigmoid {
            in_scale: 4,
            out_scale: 8,
        };
        assert_eq!(s.eval(0), 128);
        assert_eq!(s.eval(1 << 10), 256);
        assert_eq!(s.eval(-(1 << 10)), 0);
    }
}
