//! Functions applied by lookup. Each function is tabulated over its domain: the whole activation
//! range `[-2^(bits-1), 2^(bits-1))`, or for a [`FnKind::Tabulated`] function (rows of a constant
//! table picked by an integer index) just the indices it has (an [`FnKind::ExprWithin`], the
//! part of the range it is defined on); table contents must be bit-identical on every machine, so the
//! transcendental ones use only IEEE-754 basic operations (no libm).
//!
//! Every function declares its codomain ([`FnKind::codomain`]) and its image over the whole
//! domain must lie in it ([`FnKind::check_image`]): the lookup is the only thing that bounds a
//! function's output in the circuit, and everything downstream (rescales, max pools, packing
//! of public values) relies on that bound.

use super::expr::{self, Step};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A function of one quantized activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FnKind {
    /// `y = x` (a range check).
    Identity,
    /// `y = max(x, 0)`.
    Relu,
    /// `y = round(x / 2^out_shift)` for `x >= 0`, else `round(alpha * x / 2^out_shift)`. The
    /// shift (0 for `|alpha| < 1`) makes the output's scale coarser so the image fits.
    LeakyRelu {
        alpha: f64,
        #[serde(default)]
        out_shift: u32,
    },
    /// `y = min(max(x, lo), hi)` on integers.
    Clip { lo: i64, hi: i64 },
    /// `y = round(sigmoid(x * 2^-in_scale) * 2^out_scale)`.
    Sigmoid { in_scale: i32, out_scale: i32 },
    /// `y = round(tanh(x * 2^-in_scale) * 2^out_scale)`, with `tanh(v) = 2·sigmoid(2v) − 1`.
    Tanh { in_scale: i32, out_scale: i32 },
    /// `y = round(exp((x - offset) * 2^-in_scale) * 2^out_scale)`: softmax's numerator, whose
    /// argument `x_j - max + offset` is shifted into the domain by `offset`.
    ExpShifted {
        offset: i64,
        in_scale: i32,
        out_scale: i32,
    },
    /// `y = round(2^out_scale / max(x * 2^-in_scale, 1))`, computed on integers: softmax's
    /// reciprocal of its row sum (which is at least 1: the maximum's own term). `exact`: looked
    /// up whole, never interpolated between knots (a divisor every level of whose quotient
    /// counts: dynamic quantization's), so a graph with one stays on whole tables.
    Recip {
        in_scale: i32,
        out_scale: i32,
        #[serde(default)]
        exact: bool,
    },
    /// `y = round(2^out_scale / sqrt(max(x, 1) · unit))`: LayerNorm's reciprocal standard
    /// deviation, `unit` being the real variance one step of `x` stands for (times the square
    /// of a constant factor). IEEE-754 makes the product, square root and quotient correctly
    /// rounded, so the table is the same on every machine. Its outputs are wide (see
    /// [`FnKind::codomain`]): precise where the variances usually are, and still defined for
    /// the small ones; or, `narrow`, activations (the largest, at `x = 1`, fits), which lookups
    /// on limbs need.
    Rsqrt {
        unit: f64,
        out_scale: i32,
        #[serde(default)]
        narrow: bool,
    },
    /// `y = round(f(x * 2^-in_scale) * 2^out_scale)` for the fused elementwise expression `f`
    /// (see [`super::expr`]).
    Expr {
        steps: Vec<Step>,
        in_scale: i32,
        out_scale: i32,
    },
    /// `y = values[x - lo]` for `x` in `[lo, lo + len)`: an element of a constant table picked
    /// by an integer index (token embeddings). Only this sub-domain is in the lookup table, so
    /// the lookup also proves the index is in range.
    Tabulated { lo: i64, values: Vec<i64> },
    /// `inner` interpolated linearly between knots `2^step_bits` apart: for
    /// `x = h·2^L + l` with `0 ≤ l < 2^L`, `y = t0 + floor(((t1 − t0)·l + 2^(L−1)) / 2^L)`, where
    /// `t0 = inner(h·2^L)` and `t1 = inner((h+1)·2^L)`. Its table is the knots `(h, t0, t1)`,
    /// `2^(bits−L)` rows instead of `2^bits`, for circuits whose lookups work on limbs
    /// ([`crate::plan::CircuitShape::limb_bits`]). Exact for the identity and for functions
    /// linear between knots; `inner` is neither tabulated nor interpolated itself.
    Interpolated { step_bits: u32, inner: Box<FnKind> },
    /// [`FnKind::Expr`] tabulated over `[lo, hi)` only (within the activation range): a
    /// function ONNX leaves undefined or infinite outside it (a square root below 0, a
    /// reciprocal at 0), or one kept to the calibrated inputs so its outputs keep their
    /// precision (an exponential). The lookup also proves the argument lies there: any other
    /// is a prove-time error naming the op, never a value. Never interpolated.
    ExprWithin {
        steps: Vec<Step>,
        in_scale: i32,
        out_scale: i32,
        lo: i64,
        hi: i64,
    },
}

/// One knot of an [`FnKind::Interpolated`] function: `(h, t0, t1)`.
pub type Knot = (i64, i64, i64);

/// A function whose image leaves its codomain.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("function {function} maps {x} to {y}, outside its codomain [{lo}, {hi}] at {bits} bits")]
pub struct ImageError {
    /// The function's key.
    pub function: String,
    /// First domain value whose image is outside.
    pub x: i64,
    /// Its image.
    pub y: i64,
    /// Codomain, inclusive.
    pub lo: i64,
    /// Codomain, inclusive.
    pub hi: i64,
    /// Activation bit width.
    pub bits: u32,
}

impl FnKind {
    /// `y = x` wherever the function is defined: the identity, or a table of `x ↦ x` over a
    /// sub-domain (whose lookup also bounds `x` to it: an int8 input's range check).
    pub fn is_identity(&self) -> bool {
        match self {
            FnKind::Identity => true,
            FnKind::Tabulated { lo, values } => values
                .iter()
                .enumerate()
                .all(|(i, &v)| i64::try_from(i).is_ok_and(|i| lo.checked_add(i) == Some(v))),
            _ => false,
        }
    }

    /// Evaluates the function on an integer of the domain.
    pub fn eval(&self, x: i64) -> i64 {
        match self {
            FnKind::Identity => x,
            FnKind::Relu => x.max(0),
            FnKind::LeakyRelu { alpha, out_shift } => {
                let slope = if x >= 0 { 1.0 } else { *alpha };
                // Exact: `slope · x` is one rounding of a product, `2^-s` is a power of two.
                let shift = (*out_shift).min(1000) as i32;
                (slope * x as f64 * exp2i(-shift)).round() as i64
            }
            // ONNX: `min(max(x, lo), hi)`, so `hi` wins when `lo > hi`.
            FnKind::Clip { lo, hi } => x.max(*lo).min(*hi),
            FnKind::Sigmoid {
                in_scale,
                out_scale,
            } => {
                let real = x as f64 * exp2i(in_scale.saturating_neg());
                (det_sigmoid(real) * exp2i(*out_scale)).round() as i64
            }
            FnKind::Tanh {
                in_scale,
                out_scale,
            } => {
                let real = x as f64 * exp2i(in_scale.saturating_neg());
                (det_tanh(real) * exp2i(*out_scale)).round() as i64
            }
            FnKind::ExpShifted {
                offset,
                in_scale,
                out_scale,
            } => {
                let real = x.saturating_sub(*offset) as f64 * exp2i(in_scale.saturating_neg());
                (det_exp(real) * exp2i(*out_scale)).round() as i64
            }
            FnKind::Recip {
                in_scale,
                out_scale,
                ..
            } => recip(x, *in_scale, *out_scale),
            FnKind::Rsqrt {
                unit, out_scale, ..
            } => {
                let v = x.max(1) as f64 * unit;
                let y = (exp2i(*out_scale) / v.sqrt()).round();
                // A unit that is not a positive finite number: no meaningful table.
                if y.is_finite() && *unit > 0.0 {
                    y as i64
                } else {
                    i64::MAX
                }
            }
            FnKind::Expr {
                steps,
                in_scale,
                out_scale,
            }
            | FnKind::ExprWithin {
                steps,
                in_scale,
                out_scale,
                ..
            } => {
                let real = x as f64 * exp2i(in_scale.saturating_neg());
                // An invalid program or a non-finite value: outside any codomain.
                expr::run(steps, real)
                    .map(|y| (y * exp2i(*out_scale)).round())
                    .filter(|y| y.abs() < 9.0e18)
                    .map_or(i64::MAX, |y| y as i64)
            }
            // Outside the domain: outside any codomain too (callers check the domain first).
            FnKind::Tabulated { lo, values } => x
                .checked_sub(*lo)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| values.get(i).copied())
                .unwrap_or(i64::MAX),
            FnKind::Interpolated { step_bits, inner } => interpolate(inner, *step_bits, x),
        }
    }

    /// The knots `(h, inner(h·2^L), inner((h+1)·2^L))` of an interpolated function over its
    /// domain at `bits` (empty for any other function).
    pub fn knots(&self, bits: u32) -> Vec<Knot> {
        let FnKind::Interpolated { step_bits, inner } = self else {
            return Vec::new();
        };
        let step = *step_bits;
        if step == 0 || step >= bits {
            return Vec::new();
        }
        let d = self.domain(bits);
        (d.start >> step..d.end >> step)
            .map(|h| (h, inner.eval(h << step), inner.eval((h + 1) << step)))
            .collect()
    }

    /// The integers the function is tabulated over: the activation range at `bits`, its
    /// non-negative half for the reciprocal and reciprocal square root, a tabulated
    /// function's own indices, or an [`FnKind::ExprWithin`]'s range.
    pub fn domain(&self, bits: u32) -> std::ops::Range<i64> {
        match self {
            FnKind::Tabulated { lo, values } => *lo..lo.saturating_add(values.len() as i64),
            // Arguments that are never negative (a softmax's row sum, a variance): the lookup
            // also proves that, and the table is half as tall.
            FnKind::Recip { .. } | FnKind::Rsqrt { .. } => 0..1i64 << (bits - 1),
            FnKind::Interpolated { inner, .. } => inner.domain(bits),
            FnKind::ExprWithin { lo, hi, .. } => {
                let half = 1i64 << (bits - 1);
                let lo = (*lo).clamp(-half, half);
                lo..(*hi).clamp(lo, half)
            }
            _ => {
                let half = 1i64 << (bits - 1);
                -half..half
            }
        }
    }

    /// `LeakyRelu` with the smallest output shift whose image fits the codomain at `bits`, or
    /// `None` when no shift up to `bits` does (a slope too steep for the bit width).
    pub fn leaky_relu(alpha: f64, bits: u32) -> Option<FnKind> {
        (0..=bits)
            .map(|out_shift| FnKind::LeakyRelu { alpha, out_shift })
            .find(|f| f.check_image(bits).is_ok())
    }

    /// The declared codomain `[lo, hi]` at `bits`: where the circuit takes the function's outputs
    /// to lie. Every function here produces an activation (the activation range), except the
    /// reciprocal square root, whose outputs are [`wide`](Self::wide): `[0, 2^(2·bits − 2))`.
    pub fn codomain(&self, bits: u32) -> (i64, i64) {
        let half = 1i64 << (bits - 1);
        match self.wide() {
            true => (0, (1i64 << (2 * bits - 2)) - 1),
            false => (-half, half - 1),
        }
    }

    /// Whether the outputs may leave the activation range (the reciprocal square root, unless
    /// narrow): such a tensor is only an operand of elementwise ops, whose products and
    /// roundings are exact for it (`QuantizedGraph::validate` checks that), never an output or
    /// the input of a chip that takes activations. Not interpolated: lookups on limbs
    /// range-check a function's outputs as activations.
    pub fn wide(&self) -> bool {
        matches!(self, FnKind::Rsqrt { narrow: false, .. })
    }

    /// Whether `y` lies in the codomain at `bits`.
    pub fn in_codomain(&self, y: i64, bits: u32) -> bool {
        let (lo, hi) = self.codomain(bits);
        (lo..=hi).contains(&y)
    }

    /// Evaluates the function over its whole domain and checks that every image lies in the
    /// codomain.
    pub fn check_image(&self, bits: u32) -> Result<(), ImageError> {
        match self
            .domain(bits)
            .find(|&x| !self.in_codomain(self.eval(x), bits))
        {
            None => Ok(()),
            Some(x) => {
                let (lo, hi) = self.codomain(bits);
                Err(ImageError {
                    function: self.key(),
                    x,
                    y: self.eval(x),
                    lo,
                    hi,
                    bits,
                })
            }
        }
    }

    /// A stable text key used in digests and descriptions.
    pub fn key(&self) -> String {
        match self {
            FnKind::Identity => "identity".into(),
            FnKind::Relu => "relu".into(),
            FnKind::LeakyRelu { alpha, out_shift } => {
                let shift = match out_shift {
                    0 => String::new(),
                    s => format!(",out_shift={s}"),
                };
                format!("leaky_relu(alpha_bits={:#x}{shift})", alpha.to_bits())
            }
            FnKind::Clip { lo, hi } => format!("clip({lo},{hi})"),
            FnKind::Sigmoid {
                in_scale,
                out_scale,
            } => format!("sigmoid(in=2^-{in_scale},out=2^-{out_scale})"),
            FnKind::Tanh {
                in_scale,
                out_scale,
            } => format!("tanh(in=2^-{in_scale},out=2^-{out_scale})"),
            FnKind::ExpShifted {
                offset,
                in_scale,
                out_scale,
            } => format!("exp(offset={offset},in=2^-{in_scale},out=2^-{out_scale})"),
            FnKind::Recip {
                in_scale,
                out_scale,
                exact,
            } => {
                let whole = if *exact { ",exact" } else { "" };
                format!("recip(in=2^-{in_scale},out=2^-{out_scale}{whole})")
            }
            FnKind::Rsqrt {
                unit,
                out_scale,
                narrow,
            } => {
                let narrow = if *narrow { ",narrow" } else { "" };
                format!(
                    "rsqrt(unit_bits={:#x},out=2^-{out_scale}{narrow})",
                    unit.to_bits()
                )
            }
            FnKind::Expr {
                steps,
                in_scale,
                out_scale,
            } => format!(
                "expr(in=2^-{in_scale},out=2^-{out_scale},[{}])",
                expr::key(steps)
            ),
            FnKind::Tabulated { lo, values } => {
                let list: Vec<String> = values.iter().map(i64::to_string).collect();
                format!("table(lo={lo},[{}])", list.join(","))
            }
            FnKind::Interpolated { step_bits, inner } => {
                format!("interp(step=2^{step_bits},{})", inner.key())
            }
            FnKind::ExprWithin {
                steps,
                in_scale,
                out_scale,
                lo,
                hi,
            } => format!(
                "expr(in=2^-{in_scale},out=2^-{out_scale},[{}],within={lo}..{hi})",
                expr::key(steps)
            ),
        }
    }

    /// The scale of the function's input, for functions of a real argument (`None`: the input
    /// has the output tensor's scale).
    pub fn in_scale(&self) -> Option<i32> {
        match self {
            FnKind::Sigmoid { in_scale, .. }
            | FnKind::Tanh { in_scale, .. }
            | FnKind::ExpShifted { in_scale, .. }
            | FnKind::Recip { in_scale, .. }
            | FnKind::Expr { in_scale, .. }
            | FnKind::ExprWithin { in_scale, .. } => Some(*in_scale),
            FnKind::Interpolated { inner, .. } => inner.in_scale(),
            _ => None,
        }
    }

    /// Whether the function can be interpolated between knots (neither tabulated, nor already
    /// interpolated, nor the identity, which limbs check exactly without knots of its own, nor
    /// [`wide`](Self::wide), whose outputs limbs would range-check as activations).
    pub fn interpolable(&self) -> bool {
        !self.wide()
            && !matches!(
                self,
                FnKind::Identity
                    | FnKind::Tabulated { .. }
                    | FnKind::Interpolated { .. }
                    | FnKind::ExprWithin { .. }
                    | FnKind::Recip { exact: true, .. }
            )
    }
}

/// `inner` at `x`, linearly interpolated between the knots around it (see
/// [`FnKind::Interpolated`]); out of range steps or knots give `i64::MAX` (outside every
/// codomain).
fn interpolate(inner: &FnKind, step: u32, x: i64) -> i64 {
    if step == 0 || step > 40 || !inner.interpolable() {
        return i64::MAX;
    }
    let h = x >> step;
    let l = (x - (h << step)) as i128;
    let (t0, t1) = (
        inner.eval(h << step) as i128,
        inner.eval((h + 1) << step) as i128,
    );
    if t0.abs() > 1 << 62 || t1.abs() > 1 << 62 {
        return i64::MAX;
    }
    let num = (t1 - t0) * l + (1i128 << (step - 1));
    (t0 + num.div_euclid(1i128 << step)) as i64
}

/// `round(2^out_scale / max(x · 2^-in_scale, 1))`, half up, in integers: with `x` at least
/// `2^in_scale`, `round(2^(out_scale + in_scale) / x)`; below, `2^out_scale`. Scales whose
/// numerator does not fit 126 bits give 0 (and fail the codomain check if that matters).
fn recip(x: i64, in_scale: i32, out_scale: i32) -> i64 {
    let e = out_scale
        .checked_add(in_scale)
        .and_then(|e| u32::try_from(e).ok());
    let (Some(e), Ok(o)) = (e, u32::try_from(out_scale)) else {
        return 0;
    };
    if e > 125 || o > 62 {
        return 0;
    }
    // `2^in_scale` rounded up to an integer: the smallest `x` whose real value is at least 1.
    let one = 1i128 << in_scale.clamp(0, 125);
    let x = x as i128;
    if x < one {
        return 1i64 << o;
    }
    let num = 1i128 << e;
    // round(num / x) = floor((2·num + x) / (2·x)).
    ((2 * num + x) / (2 * x)) as i64
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

/// ln 2 split for Cody–Waite reduction: `LN2_HI` (the high bits, exact in `n·LN2_HI`) plus
/// `LN2_LO`. Table constants: their bits are pinned by a test.
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// `exp(x)` using only basic IEEE operations: Cody–Waite range reduction and a Taylor series.
/// Accurate to a few ulps, and identical on every conforming platform.
pub fn det_exp(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
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

/// `tanh(x) = 2·sigmoid(2x) − 1`, deterministic across platforms (absolute error a few ulps
/// of 1).
pub fn det_tanh(x: f64) -> f64 {
    2.0 * det_sigmoid(2.0 * x) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_exact_between_linear_knots_and_close_elsewhere() {
        let interp = |step_bits, inner: FnKind| FnKind::Interpolated {
            step_bits,
            inner: Box::new(inner),
        };
        let bits = 12;
        // Piecewise linear with its break on a knot: exact.
        let relu = interp(4, FnKind::Relu);
        for x in FnKind::Relu.domain(bits) {
            assert_eq!(relu.eval(x), x.max(0), "relu at {x}");
        }
        // Smooth: within the interpolation error (h²/8·max|f''| = 2^-8/8·0.1 in real units,
        // under one output step at 2^10) plus the rounding.
        let exact = FnKind::Sigmoid {
            in_scale: 8,
            out_scale: 10,
        };
        let sig = interp(4, exact.clone());
        for x in exact.domain(bits) {
            assert!((sig.eval(x) - exact.eval(x)).abs() <= 1, "sigmoid at {x}");
        }
        assert!(sig.check_image(bits).is_ok());
        assert_eq!(sig.knots(bits).len(), 1 << (bits - 4));
        assert_eq!(sig.in_scale(), Some(8));
        // Knots at h·16: the interpolation goes through them.
        for (h, t0, _) in sig.knots(bits) {
            assert_eq!(sig.eval(h * 16), t0);
        }
        // Nothing to interpolate over: refused (outside every codomain).
        assert_eq!(interp(4, sig.clone()).eval(3), i64::MAX);
        assert_eq!(interp(0, exact).eval(3), i64::MAX);
    }

    #[test]
    fn ln2_split_bits_are_pinned() {
        // The sigmoid table (fixed columns: the verifying key) is computed with these.
        assert_eq!(LN2_HI.to_bits(), 0x3FE6_2E42_FEE0_0000);
        assert_eq!(LN2_LO.to_bits(), 0x3DEA_39EF_3579_3C76);
    }

    #[test]
    fn det_exp_is_accurate() {
        for i in -200..=200 {
            let x = i as f64 * 0.173;
            let rel = (det_exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-14, "x={x} rel={rel}");
        }
    }

    /// Whether `v` is within `1e-9` of a rounding boundary (`k + 0.5`), where a last-ulp
    /// difference between two exp implementations may round either way.
    fn near_tie(v: f64) -> bool {
        ((v - v.floor()) - 0.5).abs() < 1e-9
    }

    #[test]
    fn softmax_tables_are_correctly_rounded_over_the_whole_domain() {
        for bits in [8u32, 11, 16] {
            let half = 1i64 << (bits - 1);
            let s_e = bits as i32 - 2;
            for in_scale in [-3, 0, 5, bits as i32 + 1] {
                let exp = FnKind::ExpShifted {
                    offset: half - 1,
                    in_scale,
                    out_scale: s_e,
                };
                exp.check_image(bits).unwrap();
                // The row maximum's own term is exactly 2^s_e.
                assert_eq!(exp.eval(half - 1), 1 << s_e);
                for x in -half..half {
                    let real = ((x - half + 1) as f64 * (-in_scale as f64).exp2()).exp();
                    let want = real * (s_e as f64).exp2();
                    if !near_tie(want) {
                        assert_eq!(exp.eval(x), want.round() as i64, "exp at {x}");
                    }
                }
            }
            for t in [0i32, 2, 6] {
                let recip = FnKind::Recip {
                    in_scale: s_e - t,
                    out_scale: s_e,
                    exact: false,
                };
                recip.check_image(bits).unwrap();
                for x in -half..half {
                    let real = (x as f64 * ((t - s_e) as f64).exp2()).max(1.0);
                    let want = (s_e as f64).exp2() / real;
                    if !near_tie(want) {
                        assert_eq!(recip.eval(x), want.round() as i64, "recip at {x}");
                    }
                }
            }
        }
    }

    #[test]
    fn rsqrt_table_is_a_monotone_correctly_rounded_reciprocal_square_root() {
        let bits = 12;
        let unit = 3.0e-4;
        // The rule LayerNorm uses: the largest value (at x = 1) just fits.
        let s_r = ((2047.0 * f64::sqrt(unit)).log2().floor()) as i32 - 1;
        let f = FnKind::Rsqrt {
            unit,
            out_scale: s_r,
            narrow: false,
        };
        f.check_image(bits).unwrap();
        let half = 1i64 << (bits - 1);
        for x in -half..half {
            let want = (s_r as f64).exp2() / (x.max(1) as f64 * unit).sqrt();
            if !near_tie(want) {
                assert_eq!(f.eval(x), want.round() as i64, "rsqrt at {x}");
            }
            if x > -half {
                assert!(f.eval(x) <= f.eval(x - 1), "not monotone at {x}");
            }
        }
        // Its outputs are wide: 2^4 finer still fits its codomain, [0, 2^(2·bits − 2)) ...
        assert!(f.wide() && !FnKind::Relu.wide());
        let finer = FnKind::Rsqrt {
            unit,
            out_scale: s_r + 4,
            narrow: false,
        };
        finer.check_image(bits).unwrap();
        assert!(finer.eval(1) >= half);
        // ... 2^14 finer does not.
        let too_fine = FnKind::Rsqrt {
            unit,
            out_scale: s_r + 14,
            narrow: false,
        };
        assert!(too_fine.check_image(bits).is_err());
        // Narrow, the largest value (at x = 1) must be an activation, and it interpolates.
        let narrow = |out_scale| FnKind::Rsqrt {
            unit,
            out_scale,
            narrow: true,
        };
        assert!(!narrow(s_r).wide() && narrow(s_r).interpolable());
        narrow(s_r + 1).check_image(bits).unwrap();
        assert!(narrow(s_r + 2).check_image(bits).is_err());
        assert_ne!(narrow(s_r).key(), f.key());
        // Tabulated over the non-negative half only: a negative argument is outside the
        // domain. Not interpolated: its outputs are wide.
        assert_eq!(f.domain(bits), 0..half);
        assert!(!f.interpolable());
        // The reciprocal too, and its knot table is half as tall.
        let recip = FnKind::Recip {
            in_scale: 2,
            out_scale: 8,
            exact: false,
        };
        assert_eq!(recip.domain(bits), 0..half);
        // Unless it is asked to stay whole.
        let whole = FnKind::Recip {
            in_scale: 2,
            out_scale: 8,
            exact: true,
        };
        assert!(recip.interpolable() && !whole.interpolable());
        assert_ne!(recip.key(), whole.key());
        let interp = FnKind::Interpolated {
            step_bits: 4,
            inner: Box::new(recip),
        };
        assert_eq!(interp.domain(bits), 0..half);
        let knots = interp.knots(bits);
        assert_eq!(knots.len(), (half >> 4) as usize);
        assert_eq!(knots.first().map(|k| k.0), Some(0));
        // A unit that is not positive gives no table.
        let bad = FnKind::Rsqrt {
            unit: 0.0,
            out_scale: 4,
            narrow: false,
        };
        assert!(bad.check_image(bits).is_err());
    }

    #[test]
    fn functions() {
        assert_eq!(FnKind::Relu.eval(-5), 0);
        assert_eq!(FnKind::Relu.eval(5), 5);
        let leaky = |alpha, out_shift| FnKind::LeakyRelu { alpha, out_shift };
        assert_eq!(leaky(0.1, 0).eval(-25), -3);
        assert_eq!(leaky(4.0, 2).eval(-3), -3);
        assert_eq!(leaky(4.0, 2).eval(6), 2);
        assert_eq!(FnKind::Clip { lo: -2, hi: 3 }.eval(9), 3);
        // ONNX's min(max(x, lo), hi): `hi` when the bounds cross.
        for x in [-9, 0, 9] {
            assert_eq!(FnKind::Clip { lo: 5, hi: -1 }.eval(x), -1);
        }
        let s = FnKind::Sigmoid {
            in_scale: 4,
            out_scale: 8,
        };
        assert_eq!(s.eval(0), 128);
        assert_eq!(s.eval(1 << 10), 256);
        assert_eq!(s.eval(-(1 << 10)), 0);
        let t = FnKind::Tanh {
            in_scale: 4,
            out_scale: 8,
        };
        assert_eq!(t.eval(0), 0);
        assert_eq!(t.eval(1 << 10), 256);
        assert_eq!(t.eval(-(1 << 10)), -256);
        for x in -200..200 {
            let want = ((x as f64 / 16.0).tanh() * 256.0).round() as i64;
            assert!((t.eval(x) - want).abs() <= 1, "tanh at {x}");
        }
    }

    /// The functions the front end makes, over a range of parameters and bit widths: each
    /// image lies in the declared codomain, and the ones that would not fit are refused.
    #[test]
    fn function_images_lie_in_codomain() {
        for bits in 4..=12u32 {
            let half = 1i64 << (bits - 1);
            let mut made = vec![FnKind::Identity, FnKind::Relu];
            for alpha in [
                -8.0, -1.5, -1.0, -0.999, -0.3, 0.0, 0.01, 0.5, 0.999, 1.0, 1.001,
            ] {
                made.push(FnKind::leaky_relu(alpha, bits).expect("a shift fits"));
            }
            for alpha in [1.0 + 1.0 / half as f64, 2.0, 4.0, 100.0, 1000.0] {
                match FnKind::leaky_relu(alpha, bits) {
                    Some(f) => made.push(f),
                    None => assert!(alpha * half as f64 > (half << bits) as f64, "{alpha}"),
                }
                let unshifted = FnKind::LeakyRelu {
                    alpha,
                    out_shift: 0,
                };
                assert!(
                    unshifted.check_image(bits).is_err(),
                    "alpha {alpha} bits {bits}"
                );
            }
            for (lo, hi) in [(-half, half - 1), (0, 6), (-1, 1), (3, 3)] {
                made.push(FnKind::Clip { lo, hi });
            }
            for in_scale in [-3, 0, 2, bits as i32, 2 * bits as i32] {
                made.push(FnKind::Tanh {
                    in_scale,
                    out_scale: bits as i32 - 2,
                });
                made.push(FnKind::Sigmoid {
                    in_scale,
                    out_scale: bits as i32 - 2,
                });
            }
            for f in &made {
                f.check_image(bits)
                    .unwrap_or_else(|e| panic!("{e} (bits {bits})"));
                let (lo, hi) = f.codomain(bits);
                assert!((-half..half).all(|x| (lo..=hi).contains(&f.eval(x))));
            }
            // Out of range: a clip beyond the domain, a sigmoid reaching 2^(bits-1).
            let wide_clip = FnKind::Clip {
                lo: -half - 1,
                hi: half,
            };
            assert!(
                wide_clip.check_image(bits).is_ok(),
                "clip stays within its input"
            );
            let sig = FnKind::Sigmoid {
                in_scale: 0,
                out_scale: bits as i32 - 1,
            };
            let err = sig.check_image(bits).unwrap_err();
            assert_eq!(err.y, half);
        }
    }

    #[test]
    fn leaky_relu_shift_is_the_smallest_that_fits() {
        let f = FnKind::leaky_relu(4.0, 8).unwrap();
        assert_eq!(
            f,
            FnKind::LeakyRelu {
                alpha: 4.0,
                out_shift: 2
            }
        );
        assert_eq!(f.eval(-128), -128);
        assert_eq!(
            FnKind::leaky_relu(0.01, 8).unwrap(),
            FnKind::LeakyRelu {
                alpha: 0.01,
                out_shift: 0
            }
        );
        // -1 maps -128 to 128: one bit coarser.
        assert_eq!(
            FnKind::leaky_relu(-1.0, 8).unwrap(),
            FnKind::LeakyRelu {
                alpha: -1.0,
                out_shift: 1
            }
        );
        assert_eq!(FnKind::leaky_relu(1e6, 8), None);
        assert!(FnKind::LeakyRelu {
            alpha: 4.0,
            out_shift: 0
        }
        .check_image(8)
        .is_err());
    }
}
