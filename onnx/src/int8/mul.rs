//! The product of two int8 tensors (or of one and a constant) requantized to a third scale:
//! com.microsoft QLinearMul, and DequantizeLinear → Mul → QuantizeLinear. ONNX Runtime computes
//! the two forms in f32 differently:
//!
//! - QLinearMul (MLAS, on x86): `p = (a − z_a)(b − z_b)` exactly, then
//!   `rhe(fl32(fl32(p·r) + z_y))` with `r = fl32(fl32(s_a·s_b) / s_y)`, saturated;
//! - DQ → Mul → Q (the QDQ form as written, `ORT_DISABLE_ALL`): `Q_y(fl32(DQ_a(a)·DQ_b(b)))`.
//!
//! Both are functions of the pair `(a, b)`. Either is proven as the integer rule
//! `clamp(round(M·(a − z_a)(b − z_b) / 2^n) + z_y)`, whose `M` and `n` are chosen here by
//! comparing it with the f32 result on every pair of the two inputs' ranges (at most 65,536,
//! or the constant operand's values): the rule is exact when it agrees on all.

use super::add::mismatches;
use zkinfer_circuits::graph::requant::{
    fit as fit_ort, multiplier, AffineScale, Dyadic, OrtRequant, Rounding,
};

/// Which of ONNX Runtime's two computations the model's form runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MulForm {
    /// com.microsoft QLinearMul (MLAS's kernel).
    QLinear,
    /// DequantizeLinear → Mul → QuantizeLinear, each in f32.
    Qdq,
}

/// An integer rule for an int8 product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MulRule {
    /// `round(M·p / 2^n) + z_y`, clamped to `y`'s range.
    pub rule: Dyadic,
    /// Pairs on which the rule differs from ONNX Runtime's f32 result.
    pub mismatches: usize,
    /// Pairs compared.
    pub pairs: usize,
}

/// The shifts tried: past 40 the multiplier of a product of two 8-bit values gains nothing.
const SHIFTS: std::ops::RangeInclusive<u32> = 1..=40;

/// ONNX Runtime's result for the pair `(qa, qb)`.
pub fn reference(
    form: MulForm,
    (a, b, y): (&AffineScale, &AffineScale, &AffineScale),
    (qa, qb): (i64, i64),
) -> i64 {
    match form {
        MulForm::Qdq => y.quantize(a.dequantize(qa) * b.dequantize(qb)),
        MulForm::QLinear => {
            let r = multiplier(a.scale(), b.scale(), y.scale());
            // |p| ≤ 255², exact in f32; the multiply and the add round separately (no FMA).
            let p = ((qa - a.zero_point()) * (qb - b.zero_point())) as f32;
            let v = p * r + y.zero_point() as f32;
            // `cvtps2dq`: halves to even; NaN and values past i32 give i32::MIN.
            let q = if v.is_nan() || v.abs() >= 2_147_483_648.0 {
                i64::from(i32::MIN)
            } else {
                v.round_ties_even() as i64
            };
            let (lo, hi) = y.range();
            q.clamp(lo, hi)
        }
    }
}

/// The rule agreeing with [`reference`] on the most pairs `(a, b)`, `b` over `b_values`
/// (a constant operand's values) or its whole range: the exact one of smallest shift when
/// there is one. `None` for scales no rule can express (a ratio that is not a positive
/// finite number).
pub fn fit(
    form: MulForm,
    (a, b, y): (&AffineScale, &AffineScale, &AffineScale),
    b_values: Option<&[i64]>,
) -> Option<MulRule> {
    let pairs = products(form, (a, b, y), b_values);
    let ratio = f64::from(a.scale()) * f64::from(b.scale()) / f64::from(y.scale());
    if !(ratio.is_finite() && ratio > 0.0) {
        return None;
    }
    let mut best: Option<MulRule> = None;
    for rule in candidates(ratio, (a, b, y), &pairs) {
        let limit = best.map_or(usize::MAX, |b| b.mismatches);
        let mismatches = mismatches(pairs.iter().copied(), &rule, limit);
        if mismatches < limit {
            best = Some(MulRule {
                rule,
                mismatches,
                pairs: pairs.len(),
            });
            if mismatches == 0 {
                break;
            }
        }
    }
    let count = |s: &AffineScale| (s.range().1 - s.range().0 + 1) as usize;
    let all = count(a) * b_values.map_or(count(b), <[i64]>::len);
    best.map(|r| MulRule { pairs: all, ..r })
}

/// The distinct `(p, result)` of the pairs, `p = (a − z_a)(b − z_b)`, with how many pairs
/// give each.
fn products(
    form: MulForm,
    (a, b, y): (&AffineScale, &AffineScale, &AffineScale),
    b_values: Option<&[i64]>,
) -> Vec<(i64, i64, usize)> {
    let bs: Vec<i64> = match b_values {
        Some(v) => v.to_vec(),
        None => (b.range().0..=b.range().1).collect(),
    };
    let (alo, ahi) = a.range();
    let mut pairs: Vec<(i64, i64)> = (alo..=ahi)
        .flat_map(|qa| bs.iter().map(move |&qb| (qa, qb)))
        .map(|(qa, qb)| {
            let p = (qa - a.zero_point()) * (qb - b.zero_point());
            (p, reference(form, (a, b, y), (qa, qb)))
        })
        .collect();
    pairs.sort_unstable();
    let mut counted: Vec<(i64, i64, usize)> = Vec::new();
    for (p, want) in pairs {
        match counted.last_mut() {
            Some(last) if (last.0, last.1) == (p, want) => last.2 += 1,
            _ => counted.push((p, want, 1)),
        }
    }
    counted
}

/// The rules tried, most likely first: ORT's requantization rule fitted to `r` over the
/// products' range (exact unless the f32 addition of `z_y` rounds), then `M` near `r·2^n`
/// for each shift, rounding either way.
fn candidates(
    ratio: f64,
    (a, b, y): (&AffineScale, &AffineScale, &AffineScale),
    pairs: &[(i64, i64, usize)],
) -> Vec<Dyadic> {
    let (zy, range) = (y.zero_point(), y.range());
    let bound = pairs.iter().map(|p| p.0.abs()).max().unwrap_or(0);
    let mut out: Vec<Dyadic> = OrtRequant::new(
        multiplier(a.scale(), b.scale(), y.scale()),
        zy,
        range.0,
        range.1,
    )
    .ok()
    .and_then(|ort| fit_ort(&ort, bound, 62, 40))
    .into_iter()
    .collect();
    for shift in SHIFTS {
        let ideal = (ratio * 2f64.powi(shift as i32)).round();
        if !(1.0..(1u64 << 40) as f64).contains(&ideal) {
            continue;
        }
        let ideal = ideal as i64;
        for mult in [ideal, ideal - 1, ideal + 1] {
            for rounding in [Rounding::HalfEven, Rounding::HalfUp] {
                out.extend(Dyadic::new((mult, shift, rounding), zy, range).ok());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::testing::scale;

    /// Every pair of the two ranges compared with the rule directly (not through `fit`'s
    /// de-duplicated products).
    fn differing_pairs(
        form: MulForm,
        s: (&AffineScale, &AffineScale, &AffineScale),
        r: &MulRule,
    ) -> usize {
        let (a, b, _) = s;
        let mut differ = 0;
        for qa in a.range().0..=a.range().1 {
            for qb in b.range().0..=b.range().1 {
                let got = r.rule.apply((qa - a.zero_point()) * (qb - b.zero_point()));
                let want = reference(form, s, (qa, qb));
                assert!((got - want).abs() <= 1, "{qa} {qb}: {got} vs {want}");
                differ += usize::from(got != want);
            }
        }
        differ
    }

    #[test]
    fn qlinear_mul_of_the_gated_cnn_is_exact_on_every_pair() {
        // The scales of models/int8/gated_cnn's first QLinearMul (s8s8, per tensor).
        let (a, b, y) = (
            scale(0.014420242, -128, true),
            scale(0.0025953157, -128, true),
            scale(0.00896746, -128, true),
        );
        let r = fit(MulForm::QLinear, (&a, &b, &y), None).unwrap();
        assert_eq!((r.mismatches, r.pairs), (0, 65536));
        assert_eq!(differing_pairs(MulForm::QLinear, (&a, &b, &y), &r), 0);
    }

    /// Pairs on which the two forms' f32 results differ.
    fn forms_differ(s: (&AffineScale, &AffineScale, &AffineScale)) -> usize {
        (0..=255)
            .flat_map(|qa| (0..=255).map(move |qb| (qa, qb)))
            .filter(|&q| reference(MulForm::QLinear, s, q) != reference(MulForm::Qdq, s, q))
            .count()
    }

    #[test]
    fn the_two_forms_differ_on_some_pairs_and_each_gets_its_own_exact_rule() {
        let (a, b, y) = (
            scale(0.014715001, 7, false),
            scale(0.022455001, 130, false),
            scale(0.00115, 3, false),
        );
        assert_eq!(forms_differ((&a, &b, &y)), 16);
        let rules = [MulForm::QLinear, MulForm::Qdq].map(|form| {
            let r = fit(form, (&a, &b, &y), None).unwrap();
            assert_eq!(differing_pairs(form, (&a, &b, &y), &r), 0, "{form:?}");
            assert_eq!(r.mismatches, 0);
            r.rule
        });
        assert_ne!(rules[0], rules[1]);
    }

    #[test]
    fn where_no_rule_is_exact_the_differences_are_counted_and_one_lsb() {
        // Double rounding in f32 (the product, then the zero point's addition or the division
        // by the output scale) puts a few pairs on the other side of a half.
        let (a, b, y) = (
            scale(0.009640001, 7, false),
            scale(0.020375, 130, false),
            scale(0.024715, 3, false),
        );
        assert_eq!(forms_differ((&a, &b, &y)), 9);
        for (form, want) in [(MulForm::QLinear, 8), (MulForm::Qdq, 1)] {
            let r = fit(form, (&a, &b, &y), None).unwrap();
            assert_eq!(r.mismatches, want, "{form:?}");
            assert_eq!(differing_pairs(form, (&a, &b, &y), &r), want, "{form:?}");
        }
    }

    #[test]
    fn power_of_two_scales_round_halves_to_even() {
        // p / 2 exactly: every odd product is a tie, which f32 rounds to even.
        let (a, b, y) = (
            scale(0.5, 0, true),
            scale(1.0, 0, true),
            scale(1.0, 0, true),
        );
        for form in [MulForm::QLinear, MulForm::Qdq] {
            let r = fit(form, (&a, &b, &y), None).unwrap();
            assert_eq!(r.mismatches, 0, "{form:?}");
            assert_eq!(r.rule.rounding(), Rounding::HalfEven);
        }
        assert_eq!(reference(MulForm::Qdq, (&a, &b, &y), (3, 1)), 2);
        assert_eq!(reference(MulForm::QLinear, (&a, &b, &y), (5, 1)), 2);
    }

    #[test]
    fn a_constant_operand_is_fitted_on_its_values_only() {
        let (a, b, y) = (
            scale(0.013, -128, true),
            scale(0.0099, 0, true),
            scale(0.0154, 22, true),
        );
        let r = fit(MulForm::QLinear, (&a, &b, &y), Some(&[-127, 71, 38, -8])).unwrap();
        assert_eq!((r.mismatches, r.pairs), (0, 256 * 4));
    }

    #[test]
    fn a_saturating_product_is_clamped_as_orts_kernel_does() {
        let (a, b, y) = (
            scale(1.0, 0, true),
            scale(1.0, 0, true),
            scale(1.0, 0, true),
        );
        assert_eq!(reference(MulForm::QLinear, (&a, &b, &y), (100, 100)), 127);
        assert_eq!(reference(MulForm::QLinear, (&a, &b, &y), (-100, 100)), -128);
        let r = fit(MulForm::QLinear, (&a, &b, &y), None).unwrap();
        assert_eq!(r.mismatches, 0);
    }
}
