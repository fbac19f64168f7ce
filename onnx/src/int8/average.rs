//! Windowed average pools of int8 values (com.microsoft QLinearAveragePool, and
//! DequantizeLinear → AveragePool → QuantizeLinear). ONNX Runtime computes them in f32: each
//! window element dequantized (`(x − z_x)·s_x`), summed, divided by the window's divisor `d`,
//! quantized to `y`. That is the exact value `v = S·s_x / (d·s_y)` of the integer sum
//! `S = Σ (x − z_x)`, up to the f32 rounding of the products, the sum and the divisions, which
//! depends on the elements and not on `S` alone, so no rule over `S` can be checked against
//! every input by enumeration. Instead the rounding error is bounded: it is below
//! `E = (d + 6)·2^−24·(V + |z_y| + 1)` output steps, `V` the largest `|v|`, whatever the order
//! of the sum. For each `S` whose `v` is farther than `E` from a half, every f32 computation
//! rounds to the integer nearest `v`, and so does the rule `round(S·M_d / 2^n) + z_y` with
//! `M_d` the divisor's exact ratio to `n` bits (its own error kept below a quarter of `E`).
//! The sums that come within `E` of a half are counted: there the rule may be 1 LSB from
//! ONNX Runtime (`compile` reports the pool as within 1 LSB). With the input's scale (what
//! ONNX Runtime's quantizer gives a QDQ pool's output) and an odd divisor, `v` is never within
//! `1/(2d)` of a half and the rule is exact for every input; an even divisor makes exact
//! halves, which the two forms round differently when f32 computes them exactly:
//! QLinearAveragePool adds `z_y` before rounding half to even, QuantizeLinear after.

use zkinfer_circuits::graph::requant::{AffineScale, Dyadic, Rounding};

/// Where the output's zero point is added: before rounding (com.microsoft
/// QLinearAveragePool) or after (DequantizeLinear → AveragePool → QuantizeLinear).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AverageForm {
    /// `rhe(v + z_y)`.
    QLinear,
    /// `rhe(v) + z_y`.
    Qdq,
}

/// f32's unit roundoff.
const U: f64 = 1.0 / (1u64 << 24) as f64;

/// An average pool's integer rule: per divisor, `M_d`; the common shift, zero point and
/// clamp (multiplier 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AverageRule {
    /// `M_d` per divisor, in the order given.
    pub mults: Vec<i64>,
    /// `clamp(round(acc / 2^n) + z)`, `acc = M_d·S + offset`.
    pub rule: Dyadic,
    /// The constant added to every accumulator: `z_y·2^n` where the zero point is added
    /// before rounding (then `z = 0`), else 0 (then `z = z_y`).
    pub offset: i64,
    /// Sums whose value comes within the f32 error of a half (the rule may be 1 LSB off there).
    pub ambiguous: usize,
    /// Sums considered (every `S` each divisor allows).
    pub sums: usize,
}

/// The rule for an average pool of `x` to `y` with window divisors `divisors`, each window
/// summing at most its divisor's count of elements. `None` for scales too far apart for an
/// integer rule (a ratio below 2^−30 or above 2^30).
pub fn fit(
    form: AverageForm,
    (x, y): (&AffineScale, &AffineScale),
    divisors: &[u32],
) -> Option<AverageRule> {
    let (lo, hi) = x.range();
    let zx = x.zero_point();
    let dev = (hi - zx).max(zx - lo);
    let ratio = f64::from(x.scale()) / f64::from(y.scale());
    if !(2f64.powi(-30)..2f64.powi(30)).contains(&ratio) {
        return None;
    }
    let zy = y.zero_point();
    let bound = |d: u32| {
        let v = dev as f64 * ratio;
        (f64::from(d) + 6.0) * U * (v + zy.abs() as f64 + 1.0)
    };
    // The shift: each M_d's own error, |S|·2^−(n+1), at most a quarter of E.
    let shift = divisors
        .iter()
        .map(|&d| {
            let most = (i64::from(d) * dev).max(1) as f64;
            (8.0 * most / bound(d)).log2().ceil() as u32
        })
        .max()?
        .clamp(1, 62);
    let (z, offset) = match form {
        AverageForm::Qdq => (zy, 0),
        AverageForm::QLinear => (0, zy << shift),
    };
    let rule = Dyadic::new((1, shift, Rounding::HalfEven), z, y.range()).ok()?;
    let mut out = AverageRule {
        mults: Vec::with_capacity(divisors.len()),
        rule,
        offset,
        ambiguous: 0,
        sums: 0,
    };
    for &d in divisors {
        let r = ratio / f64::from(d.max(1));
        let mult = (r * 2f64.powi(shift as i32)).round() as i64;
        if mult < 1 {
            return None;
        }
        let d64 = i64::from(d);
        let margin = bound(d) * 1.25;
        for s in d64 * (lo - zx)..=d64 * (hi - zx) {
            let v = s as f64 * r + zy as f64;
            let candidates = [
                clamp_round(v - margin, y),
                clamp_round(v + margin, y),
                rule.apply(s * mult + offset),
            ];
            out.ambiguous += usize::from(candidates.iter().any(|&c| c != candidates[0]));
            out.sums += 1;
        }
        out.mults.push(mult);
    }
    Some(out)
}

/// `v` rounded to the nearest integer and clamped to `y`'s range.
fn clamp_round(v: f64, y: &AffineScale) -> i64 {
    let (lo, hi) = y.range();
    (v.round() as i64).clamp(lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::testing::scale;

    /// ONNX Runtime's result for one window, in f32 as its kernels compute it: the dequantized
    /// elements summed in order, divided by `d`, then QLinearAveragePool's
    /// `rhe(v / s_y + z_y)` or QuantizeLinear's `rhe(v / s_y) + z_y`.
    fn ort(form: AverageForm, (x, y): (&AffineScale, &AffineScale), window: &[i64], d: u32) -> i64 {
        let mut sum = 0f32;
        for &q in window {
            sum += x.dequantize(q);
        }
        let mean = sum / d as f32;
        match form {
            AverageForm::QLinear => {
                let v = mean / y.scale() + y.zero_point() as f32;
                let (lo, hi) = y.range();
                (v.round_ties_even() as i64).clamp(lo, hi)
            }
            AverageForm::Qdq => y.quantize(mean),
        }
    }

    /// The rule's result for one window.
    fn rule(r: &AverageRule, x: &AffineScale, window: &[i64], set: usize) -> i64 {
        let s: i64 = window.iter().map(|q| q - x.zero_point()).sum();
        r.rule.apply(s * r.mults[set] + r.offset)
    }

    /// A seeded xorshift stream of window elements in `x`'s range.
    fn windows(x: &AffineScale, taps: usize, count: usize) -> Vec<Vec<i64>> {
        let (lo, hi) = x.range();
        let mut st = 0x9E37_79B9_7F4A_7C15u64;
        (0..count)
            .map(|_| {
                (0..taps)
                    .map(|_| {
                        st ^= st << 13;
                        st ^= st >> 7;
                        st ^= st << 17;
                        lo + (st % (hi - lo + 1) as u64) as i64
                    })
                    .collect()
            })
            .collect()
    }

    /// Windows (of each divisor's size) where the rule and ORT differ; each by 1 at most.
    fn differing(
        form: AverageForm,
        (x, y): (&AffineScale, &AffineScale),
        divisors: &[u32],
    ) -> usize {
        let r = fit(form, (x, y), divisors).unwrap();
        let mut differ = 0;
        for (set, &d) in divisors.iter().enumerate() {
            for w in windows(x, d as usize, 20_000) {
                let (got, want) = (rule(&r, x, &w, set), ort(form, (x, y), &w, d));
                assert!((got - want).abs() <= 1, "{form:?} {w:?}: {got} vs {want}");
                differ += usize::from(got != want);
            }
        }
        differ
    }

    #[test]
    fn the_rule_is_orts_on_random_windows_but_near_halves_and_never_more_than_one_lsb_away() {
        let (x, y) = (scale(0.0154, 22, true), scale(0.0071, -5, true));
        let r = fit(AverageForm::QLinear, (&x, &y), &[4, 6, 9]).unwrap();
        assert_eq!(r.sums, 255 * (4 + 6 + 9) + 3);
        assert!(
            r.ambiguous > 0 && r.ambiguous < r.sums / 100,
            "{} of {}",
            r.ambiguous,
            r.sums
        );
        // Only at the few sums near a half (S = 71 of 4 taps: v = 33.4999995…, which f32
        // rounds onto 33.5 and then to even).
        for form in [AverageForm::QLinear, AverageForm::Qdq] {
            let differ = differing(form, (&x, &y), &[4, 6, 9]);
            assert!(differ > 0 && differ < 60_000 / 500, "{form:?}: {differ}");
        }
    }

    #[test]
    fn a_pool_keeping_its_scale_with_an_odd_divisor_is_exact_for_every_input() {
        // What ONNX Runtime's quantizer writes (the output keeps the input's parameters): the
        // mean S/9 is never near a half.
        let x = scale(0.015411927, 21, true);
        for form in [AverageForm::QLinear, AverageForm::Qdq] {
            let r = fit(form, (&x, &x), &[9]).unwrap();
            assert_eq!((r.ambiguous, r.sums), (0, 255 * 9 + 1), "{form:?}");
            assert_eq!(differing(form, (&x, &x), &[9]), 0, "{form:?}");
        }
    }

    #[test]
    fn exact_halves_round_to_even_after_or_before_the_zero_point_as_each_form_does() {
        // Power-of-two scales and divisor: every f32 step is exact, so a window whose mean is
        // a half is a tie; the zero point is odd, so the two forms round it differently.
        let (x, y) = (scale(0.5, 0, true), scale(0.5, 3, true));
        let halves = (-512i64..=508).filter(|s| s.rem_euclid(4) == 2).count();
        let tie = [1, 1, 0, 0]; // S = 2: v = 0.5
        let mut results = Vec::new();
        for form in [AverageForm::QLinear, AverageForm::Qdq] {
            let r = fit(form, (&x, &y), &[4]).unwrap();
            // (Ties clamped to one value either way are not ambiguous.)
            assert!(
                r.ambiguous <= halves && r.ambiguous > halves - 4,
                "{}",
                r.ambiguous
            );
            assert_eq!(differing(form, (&x, &y), &[4]), 0, "{form:?}");
            results.push(rule(&r, &x, &tie, 0));
        }
        // QLinearAveragePool: rhe(0.5 + 3) = 4; QuantizeLinear: rhe(0.5) + 3 = 3.
        assert_eq!(results, [4, 3]);
    }

    #[test]
    fn a_sum_far_from_a_half_is_rounded_to_the_nearest_integer_by_the_rule() {
        let (x, y) = (scale(0.02, 0, true), scale(0.01, 0, true));
        let r = fit(AverageForm::Qdq, (&x, &y), &[9]).unwrap();
        // S = 10: v = 10·2/9 = 2.22…, far from a half: 2.
        assert_eq!(rule(&r, &x, &[10], 0), 2);
        // S = -13: v = -2.888…: -3.
        assert_eq!(rule(&r, &x, &[-13], 0), -3);
        // The clamp.
        assert_eq!(rule(&r, &x, &[127 * 9], 0), 127);
    }

    #[test]
    fn scales_too_far_apart_have_no_rule() {
        let (tiny, one) = (scale(1e-12, 0, true), scale(1.0, 0, true));
        assert!(fit(AverageForm::Qdq, (&tiny, &one), &[4]).is_none());
        assert!(fit(AverageForm::Qdq, (&one, &tiny), &[4]).is_none());
    }
}
