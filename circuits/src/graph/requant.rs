//! ONNX Runtime's requantization rule, and the integer rule a circuit can prove in its place.
//!
//! ONNX Runtime (MLAS, `MlasRequantizeOutput`) turns the exact integer accumulator of a
//! QLinearMatMul, QLinearConv or QGemm into its int8/uint8 output with an f32 multiplier
//! `m = fl32(fl32(s_a·s_b) / s_y)` ([`multiplier`]):
//!
//! ```text
//! y = clamp(rhe(fl32(fl32(acc) · m)) + zp, qmin, qmax)          // rhe: round half to even
//! ```
//!
//! [`OrtRequant::apply`] is that rule with IEEE f32 operations (no libm), bit for bit: the
//! tests compare it with ONNX Runtime's outputs (`models/int8/requant.json`).
//!
//! A circuit rounds once from an exact integer, half up: `floor((acc·M + 2^(n-1)) / 2^n)`
//! ([`Dyadic`]). Both rules are non-decreasing step functions of `acc`, so they agree on an
//! interval of accumulators exactly when they step at the same places: for every output level
//! `k` the clamp does not hide, ORT's threshold `t_k` (the least `acc` with `y ≥ k`, found by
//! bisection on [`OrtRequant::apply`]) must be the dyadic rule's, which is a pair of linear
//! inequalities in `M` for each `n`. [`fit`] intersects them and returns the smallest `n` with
//! an integer `M`, so the proven integer equals ORT's for *every* accumulator in the interval.
//! Where ties are reachable (a power-of-two `m`: thresholds alternate as halves go down and
//! up) no half-up rule exists, and `fit` tries `m`'s exact value rounded half to even
//! ([`Rounding::HalfEven`]); where the f32 product itself rounds onto or off a half (double
//! rounding), neither exists and `fit` says so.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The f32 multiplier ONNX Runtime computes from the scales, left to right.
pub fn multiplier(a_scale: f32, b_scale: f32, y_scale: f32) -> f32 {
    (a_scale * b_scale) / y_scale
}

/// A requantization ONNX Runtime's rule cannot describe.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RequantError {
    /// The multiplier is not a finite positive f32.
    #[error("requantization multiplier {0} is not a finite positive number")]
    Multiplier(f32),
    /// The output range is empty or wider than 16 bits either side of zero.
    #[error("requantization output range [{qmin}, {qmax}] is empty or not within ±2^16")]
    Range { qmin: i64, qmax: i64 },
    /// A dyadic multiplier below 1, or a shift outside `1..=100`.
    #[error(
        "dyadic requantization needs M >= 1 and a shift in 1..=100, not M = {mult}, n = {shift}"
    )]
    Dyadic { mult: i64, shift: u32 },
}

/// ONNX Runtime's requantization of one channel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrtRequant {
    m: f32,
    zp: i64,
    qmin: i64,
    qmax: i64,
}

impl OrtRequant {
    /// The rule for multiplier `m`, zero point `zp` and output range `[qmin, qmax]`.
    pub fn new(m: f32, zp: i64, qmin: i64, qmax: i64) -> Result<Self, RequantError> {
        if !(m.is_finite() && m > 0.0) {
            return Err(RequantError::Multiplier(m));
        }
        // (Its steps are searched level by level: a range is at most a few thousand levels.)
        if qmin > qmax || qmin < -(1 << 16) || qmax > 1 << 16 {
            return Err(RequantError::Range { qmin, qmax });
        }
        Ok(Self { m, zp, qmin, qmax })
    }

    /// `clamp(rhe(fl32(fl32(acc)·m)) + zp, qmin, qmax)`. `acc as f32` and the product round to
    /// nearest, ties to even, as the SSE/NEON conversions and multiplications do.
    pub fn apply(&self, acc: i64) -> i64 {
        let v = (acc as f32) * self.m;
        // `as` saturates; the clamp below makes that harmless.
        let r = v.round_ties_even() as i64;
        r.saturating_add(self.zp).clamp(self.qmin, self.qmax)
    }
}

/// An ONNX Runtime quantization of a tensor: `real = (q − zero_point)·scale` with `scale` an
/// f32 (kept as its bits, so the model digest covers it exactly) and `q ∈ [qmin, qmax]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "AffineFields")]
pub struct AffineScale {
    scale_bits: u32,
    zero_point: i64,
    qmin: i64,
    qmax: i64,
}

/// [`AffineScale`] as stored, before its checks.
#[derive(Deserialize)]
struct AffineFields {
    scale_bits: u32,
    zero_point: i64,
    qmin: i64,
    qmax: i64,
}

impl TryFrom<AffineFields> for AffineScale {
    type Error = RequantError;

    fn try_from(f: AffineFields) -> Result<Self, RequantError> {
        AffineScale::new(f32::from_bits(f.scale_bits), f.zero_point, (f.qmin, f.qmax))
    }
}

impl AffineScale {
    /// The quantization with `scale` (finite, positive), `zero_point` and range `[qmin, qmax]`
    /// (the zero point inside it, 16 bits at most).
    pub fn new(
        scale: f32,
        zero_point: i64,
        (qmin, qmax): (i64, i64),
    ) -> Result<Self, RequantError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(RequantError::Multiplier(scale));
        }
        if qmin > qmax
            || qmin < -(1 << 16)
            || qmax > 1 << 16
            || !(qmin..=qmax).contains(&zero_point)
        {
            return Err(RequantError::Range { qmin, qmax });
        }
        Ok(AffineScale {
            scale_bits: scale.to_bits(),
            zero_point,
            qmin,
            qmax,
        })
    }

    /// The scale.
    pub fn scale(&self) -> f32 {
        f32::from_bits(self.scale_bits)
    }

    /// The zero point.
    pub fn zero_point(&self) -> i64 {
        self.zero_point
    }

    /// The integer range `[qmin, qmax]`.
    pub fn range(&self) -> (i64, i64) {
        (self.qmin, self.qmax)
    }

    /// ONNX Runtime's QuantizeLinear of an f32 (MLAS): `x / scale` in f32, clamped to
    /// `[qmin − zp, qmax − zp]`, rounded half to even, plus the zero point. NaN gives the zero
    /// point.
    pub fn quantize(&self, x: f32) -> i64 {
        let v = x / self.scale();
        let (lo, hi) = (
            (self.qmin - self.zero_point) as f32,
            (self.qmax - self.zero_point) as f32,
        );
        let v = if v.is_nan() { 0.0 } else { v.clamp(lo, hi) };
        v.round_ties_even() as i64 + self.zero_point
    }

    /// ONNX Runtime's DequantizeLinear: `(q − zp)` as an f32 times the scale, in f32.
    pub fn dequantize(&self, q: i64) -> f32 {
        (q - self.zero_point) as f32 * self.scale()
    }

    /// The integer `q ∈ [qmin, qmax]` whose [`AffineScale::dequantize`] is exactly `x`, if any
    /// (a listed value off the grid, or outside the range, has none).
    pub fn from_real(&self, x: f64) -> Option<i64> {
        let steps = (x / f64::from(self.scale())).round();
        if !steps.is_finite() || steps.abs() > f64::from(1u32 << 18) {
            return None;
        }
        let q = steps as i64 + self.zero_point;
        let on_grid = f64::from(self.dequantize(q)) == x;
        (on_grid && (self.qmin..=self.qmax).contains(&q)).then_some(q)
    }
}

/// How [`Dyadic`] rounds `acc·M / 2^n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rounding {
    /// Halves up: `floor((acc·M + 2^(n-1)) / 2^n)`, what the elementwise chip proves.
    HalfUp,
    /// Halves to the even neighbour, as ORT rounds an f32 product that is exactly a half.
    HalfEven,
}

/// The circuit's rule: `clamp(round(acc·mult / 2^shift) + zp, qmin, qmax)`, rounding as
/// `rounding` says. Loading one checks it as [`Dyadic::new`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DyadicFields")]
pub struct Dyadic {
    /// Integer multiplier `M ≥ 1`.
    mult: i64,
    /// Rounding shift `n` in `1..=100`.
    shift: u32,
    /// How halves round.
    rounding: Rounding,
    zp: i64,
    qmin: i64,
    qmax: i64,
}

/// [`Dyadic`] as stored, before its checks.
#[derive(Deserialize)]
struct DyadicFields {
    mult: i64,
    shift: u32,
    rounding: Rounding,
    zp: i64,
    qmin: i64,
    qmax: i64,
}

impl TryFrom<DyadicFields> for Dyadic {
    type Error = RequantError;

    fn try_from(f: DyadicFields) -> Result<Self, RequantError> {
        Dyadic::new((f.mult, f.shift, f.rounding), f.zp, (f.qmin, f.qmax))
    }
}

impl Dyadic {
    /// The rule `clamp(round(acc·mult / 2^shift) + zp, qmin, qmax)`, for `mult ≥ 1` and `shift`
    /// in `1..=100`.
    pub fn new(
        (mult, shift, rounding): (i64, u32, Rounding),
        zp: i64,
        (qmin, qmax): (i64, i64),
    ) -> Result<Self, RequantError> {
        if mult < 1 || !(1..=100).contains(&shift) {
            return Err(RequantError::Dyadic { mult, shift });
        }
        if qmin > qmax {
            return Err(RequantError::Range { qmin, qmax });
        }
        Ok(Dyadic {
            mult,
            shift,
            rounding,
            zp,
            qmin,
            qmax,
        })
    }

    /// The zero point added after rounding.
    pub fn zp(&self) -> i64 {
        self.zp
    }

    /// The output range `[qmin, qmax]`.
    pub fn range(&self) -> (i64, i64) {
        (self.qmin, self.qmax)
    }

    /// The integer multiplier `M`.
    pub fn mult(&self) -> i64 {
        self.mult
    }

    /// The rounding shift `n`.
    pub fn shift(&self) -> u32 {
        self.shift
    }

    /// How halves round.
    pub fn rounding(&self) -> Rounding {
        self.rounding
    }

    /// The half-up quotient `floor((acc·M + 2^(n−1)) / 2^n)` and its remainder in
    /// `[0, 2^n)`, which is 0 exactly when `acc·M / 2^n` is a half. `None` past `|acc| ≥ 2^64`.
    pub fn divide(&self, acc: i128) -> Option<(i128, i128)> {
        if acc.unsigned_abs() >= 1 << 64 {
            return None;
        }
        let x = acc * i128::from(self.mult) + (1i128 << (self.shift - 1));
        let q = x >> self.shift;
        Some((q, x - (q << self.shift)))
    }

    /// The rounded value before the clamp, `q − t + zp` (`t = 1` for a half rounded down to
    /// even), from [`Dyadic::divide`]'s quotient and remainder.
    pub fn unclamped(&self, (q, r): (i128, i128)) -> i128 {
        let down = self.rounding == Rounding::HalfEven && r == 0 && q.rem_euclid(2) == 1;
        q - i128::from(down) + i128::from(self.zp)
    }

    /// Whether the requantization chip, with a `bits`-bit range table, holds `acc`: the
    /// quotient in `[−2^bits, 2^bits)` and the unclamped value within `2^bits` of the range.
    pub fn checkable(&self, acc: i128, bits: u32) -> bool {
        let Some(qr) = self.divide(acc) else {
            return false;
        };
        let (span, v) = (1i128 << bits, self.unclamped(qr));
        (-span..span).contains(&qr.0)
            && v >= i128::from(self.qmin) - span
            && v <= i128::from(self.qmax) + span
    }

    /// Rounds `acc·mult / 2^shift`, adds the zero point and clamps.
    pub fn apply(&self, acc: i64) -> i64 {
        let x = i128::from(acc) * i128::from(self.mult);
        let q = x >> self.shift; // floor division by 2^shift
        let (r, half) = (x - (q << self.shift), 1i128 << (self.shift - 1));
        let up = r > half || (r == half && (self.rounding == Rounding::HalfUp || q & 1 == 1));
        let q = q + i128::from(up);
        let q = q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        q.saturating_add(self.zp).clamp(self.qmin, self.qmax)
    }
}

/// Integer bounds on `M`, narrowed one linear inequality at a time.
struct MultRange {
    lo: i128,
    hi: i128,
}

impl MultRange {
    /// `a·M ≥ c`.
    fn at_least(&mut self, a: i128, c: i128) {
        match a.signum() {
            1 => self.lo = self.lo.max(div_ceil(c, a)),
            -1 => self.hi = self.hi.min(div_floor(c, a)),
            _ if c > 0 => self.hi = self.lo - 1, // 0 ≥ c fails
            _ => {}
        }
    }

    /// `a·M < c`, i.e. `(-a)·M ≥ 1 - c` for integers.
    fn below(&mut self, a: i128, c: i128) {
        self.at_least(-a, 1 - c);
    }
}

fn div_floor(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    -div_floor(-a, b)
}

/// A dyadic rule that equals `rule` on every accumulator in `[-bound, bound]`, with
/// `M < 2^max_mult_bits` and `n ≤ max_shift`: the half-up rule of smallest shift, else the
/// exact f32 value of `m` rounded half to even (ties of an exactly representable product, as
/// for power-of-two multipliers); `None` when neither is ORT's rule there (f32 double rounding).
pub fn fit(rule: &OrtRequant, bound: i64, max_shift: u32, max_mult_bits: u32) -> Option<Dyadic> {
    let thresholds = rule.thresholds(bound);
    fit_half_up(rule, &thresholds, bound, max_shift, max_mult_bits).or_else(|| {
        let d = exact_half_even(rule, max_shift, max_mult_bits)?;
        (d.thresholds(bound) == thresholds).then_some(d)
    })
}

impl OrtRequant {
    /// ORT's thresholds on `[-bound, bound]` for the levels the clamp lets through.
    fn thresholds(&self, bound: i64) -> Vec<(i64, i64)> {
        steps(|a| self.apply(a), self.qmin, self.qmax, bound)
    }
}

impl Dyadic {
    fn thresholds(&self, bound: i64) -> Vec<(i64, i64)> {
        steps(|a| self.apply(a), self.qmin, self.qmax, bound)
    }
}

/// For a non-decreasing `f` with values in `[qmin, qmax]`: for each level `k` above `qmin`,
/// the least `acc` in `[-bound, bound]` with `f(acc) ≥ k` (`bound + 1` when none). Two such
/// functions are equal on the interval exactly when these agree.
fn steps(f: impl Fn(i64) -> i64, qmin: i64, qmax: i64, bound: i64) -> Vec<(i64, i64)> {
    (qmin + 1..=qmax)
        .map(|k| {
            let (mut a, mut b) = (-bound, bound + 1);
            while a < b {
                let mid = a + (b - a) / 2;
                if f(mid) >= k {
                    b = mid;
                } else {
                    a = mid + 1;
                }
            }
            (k, a)
        })
        .collect()
}

/// The half-up rule of smallest shift whose steps are `thresholds`: for each `n`, every level's
/// threshold is a pair of linear inequalities in `M`.
fn fit_half_up(
    rule: &OrtRequant,
    thresholds: &[(i64, i64)],
    bound: i64,
    max_shift: u32,
    max_mult_bits: u32,
) -> Option<Dyadic> {
    let (lo, hi) = (-bound, bound);
    (1..=max_shift.min(100)).find_map(|n| {
        let mut range = MultRange {
            lo: 1,
            hi: (1i128 << max_mult_bits.min(100)) - 1,
        };
        for &(k, t) in thresholds {
            // The rule reaches level k from acc ≥ ceil(c / M), c = (k - zp)·2^n - 2^(n-1).
            let c = i128::from(k - rule.zp) * (1i128 << n) - (1i128 << (n - 1));
            if t <= lo {
                range.at_least(i128::from(lo), c); // reached already at lo: c ≤ lo·M
            } else if t > hi {
                range.below(i128::from(hi), c); // never reached: hi·M < c
            } else {
                range.below(i128::from(t - 1), c); // not at t - 1 ...
                range.at_least(i128::from(t), c); // ... but at t
            }
            if range.lo > range.hi {
                return None;
            }
        }
        // The feasible M closest to m·2^n (any would do).
        let ideal = (f64::from(rule.m) * 2f64.powi(n as i32)).round() as i128;
        let mult = ideal.clamp(range.lo, range.hi);
        Some(Dyadic {
            mult: i64::try_from(mult).ok()?,
            shift: n,
            rounding: Rounding::HalfUp,
            zp: rule.zp,
            qmin: rule.qmin,
            qmax: rule.qmax,
        })
    })
}

/// `rule`'s f32 multiplier exactly, as an odd `M` over `2^n`, rounding half to even: ORT's
/// rule but for its rounding of the f32 product (within 1 LSB of it), for channels [`fit`]
/// finds no exact rule for. `None` past a shift of 100.
pub fn exact_multiplier(rule: &OrtRequant) -> Option<Dyadic> {
    exact_half_even(rule, 100, 62)
}

/// `m` exactly, as an odd `M` over `2^n`, rounding half to even.
fn exact_half_even(rule: &OrtRequant, max_shift: u32, max_mult_bits: u32) -> Option<Dyadic> {
    // A finite positive f32 is mantissa·2^exponent with a 24-bit mantissa.
    let bits = rule.m.to_bits();
    let (exp_field, frac) = (i64::from((bits >> 23) & 0xff), i64::from(bits & 0x7f_ffff));
    let (mut mant, mut exp) = if exp_field == 0 {
        (frac, -149) // subnormal
    } else {
        (frac | 0x80_0000, exp_field - 150)
    };
    while mant & 1 == 0 {
        mant >>= 1;
        exp += 1;
    }
    let shift = u32::try_from(-exp)
        .ok()
        .filter(|&n| n >= 1 && n <= max_shift.min(100))?;
    (mant < 1i64 << max_mult_bits.min(62)).then_some(Dyadic {
        mult: mant,
        shift,
        rounding: Rounding::HalfEven,
        zp: rule.zp,
        qmin: rule.qmin,
        qmax: rule.qmax,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int8(m: f32, zp: i64) -> OrtRequant {
        OrtRequant::new(m, zp, -128, 127).expect("valid rule")
    }

    #[test]
    fn the_rule_rounds_half_to_even_and_clamps() {
        let r = int8(0.125, 0);
        // 4/8 = 0.5 → 0, 12/8 = 1.5 → 2, 20/8 = 2.5 → 2, -4/8 → -0
        assert_eq!([4, 12, 20, -4, -12].map(|a| r.apply(a)), [0, 2, 2, 0, -2]);
        assert_eq!(r.apply(10_000), 127);
        assert_eq!(r.apply(-10_000), -128);
        assert_eq!(int8(0.125, 5).apply(12), 7);
    }

    #[test]
    fn exact_rules_stop_at_the_shift_cap() {
        // m = 2^-149 (the least subnormal) would need n = 149; shifts stop at 100, where apply
        // cannot overflow.
        assert_eq!(exact_half_even(&int8(f32::from_bits(1), 0), 200, 62), None);
        let d = exact_half_even(&int8(0.125, 0), 200, 62).expect("2^-3 exactly");
        assert_eq!((d.mult(), d.shift()), (1, 3));
    }

    #[test]
    fn quantize_linear_rounds_halves_to_even_and_saturates() {
        let a = AffineScale::new(0.5, 3, (-128, 127)).expect("valid");
        // x / 0.5: 0.25 → 0.5 → 0, 0.75 → 1.5 → 2, -0.25 → -0.5 → -0; plus the zero point.
        assert_eq!(
            [0.25f32, 0.75, -0.25, 1.25].map(|x| a.quantize(x)),
            [3, 5, 3, 5]
        );
        assert_eq!(
            (a.quantize(1e9), a.quantize(-1e9), a.quantize(f32::NAN)),
            (127, -128, 3)
        );
        assert_eq!(a.dequantize(5), 1.0);
        assert_eq!(
            (a.from_real(1.0), a.from_real(1.1), a.from_real(200.0)),
            (Some(5), None, None)
        );
        // Bad scales and ranges.
        assert!(AffineScale::new(0.0, 0, (-128, 127)).is_err());
        assert!(AffineScale::new(f32::INFINITY, 0, (-128, 127)).is_err());
        assert!(AffineScale::new(0.1, 300, (0, 255)).is_err());
        assert!(AffineScale::new(0.1, 0, (0, 1 << 20)).is_err());
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(OrtRequant::new(0.0, 0, -128, 127).is_err());
        assert!(OrtRequant::new(f32::NAN, 0, -128, 127).is_err());
        assert!(OrtRequant::new(-1e-3, 0, -128, 127).is_err());
        assert!(OrtRequant::new(1e-3, 0, 1, 0).is_err());
    }

    /// Exhaustive over the interval: the fitted rule is ORT's for every accumulator.
    fn agrees(rule: &OrtRequant, d: &Dyadic, bound: i64) -> bool {
        (-bound..=bound).all(|a| rule.apply(a) == d.apply(a))
    }

    #[test]
    fn a_fitted_rule_equals_ort_on_every_accumulator() {
        for (m, zp) in [(0.000_123_4_f32, 3), (0.021_7, 0), (1.0e-5, 100)] {
            let rule = int8(m, zp);
            let d = fit(&rule, 1 << 16, 48, 31).expect("a fit");
            assert!(agrees(&rule, &d, 1 << 16), "m = {m}: {d:?}");
            // One multiplier step off breaks it somewhere in the interval.
            for mult in [d.mult - 1, d.mult + 1] {
                let off = Dyadic { mult, ..d };
                assert!(
                    !agrees(&rule, &off, 1 << 16),
                    "m = {m}, M = {mult} also agrees"
                );
            }
        }
    }

    #[test]
    fn double_rounding_can_leave_no_dyadic_rule() {
        // m = fl32(0.3) is a hair above 0.3: 5·m rounds to 1.5 in f32 (→ 2) and 15·m to 4.5
        // (→ 4), so level 2 starts at 5 and level 5 at 16, which needs 0.3 ≤ M/2^n < 0.3.
        let rule = int8(0.3, 0);
        assert_eq!((rule.apply(5), rule.apply(15), rule.apply(16)), (2, 4, 5));
        assert_eq!(fit(&rule, 256, 62, 62), None);
    }

    #[test]
    fn ties_round_to_even_where_no_half_up_rule_exists() {
        // m = 1/8: 0.5 → 0 but 1.5 → 2, levels start at 5, 12, 21, 28, ...: no half-up rule.
        let rule = int8(0.125, 0);
        let d = fit(&rule, 1000, 60, 62).expect("the exact half-to-even rule");
        assert_eq!((d.mult, d.shift, d.rounding), (1, 3, Rounding::HalfEven));
        assert!(agrees(&rule, &d, 1000));
        // Rounding those ties up instead is wrong at every other tie.
        let up = Dyadic {
            rounding: Rounding::HalfUp,
            ..d
        };
        assert_eq!((up.apply(4), rule.apply(4)), (1, 0));
        assert!(!agrees(&rule, &up, 1000));
        // Below the first tie the half-up rule is found first.
        let d = fit(&rule, 3, 60, 62).expect("a fit below the first tie");
        assert_eq!(d.rounding, Rounding::HalfUp);
        assert!(agrees(&rule, &d, 3));
    }
}
