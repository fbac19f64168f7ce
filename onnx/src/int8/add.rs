//! The sum of two int8 tensors requantized to a third scale (com.microsoft QLinearAdd, and
//! DequantizeLinear → Add → QuantizeLinear): ONNX's definition is
//! `y = Q_y(DQ_a(a) + DQ_b(b))` in f32, a function of the pair `(a, b)` alone. It is proven as
//! the integer rule `clamp(round((M_a·(a − z_a) + M_b·(b − z_b)) / 2^n) + z_y)`, whose
//! multipliers are chosen here by comparing it with ONNX Runtime's f32 arithmetic on every
//! pair of the two inputs' ranges (at most 65,536): the rule is exact when it agrees on all.

use zkinfer_circuits::graph::requant::{AffineScale, Dyadic, Rounding};

/// An integer rule for `Q_y(DQ_a(a) + DQ_b(b))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddRule {
    /// Multiplier of `a − z_a`.
    pub ma: i64,
    /// Multiplier of `b − z_b`.
    pub mb: i64,
    /// `round(· / 2^n) + z_y`, clamped to `y`'s range (multiplier 1).
    pub rule: Dyadic,
    /// Pairs on which the rule differs from ONNX Runtime's f32 result (by 1 LSB).
    pub mismatches: usize,
    /// Pairs compared.
    pub pairs: usize,
}

/// The shifts tried (the multipliers grow as `2^n`; past 30 the f32 reference is the limit).
const SHIFTS: std::ops::RangeInclusive<u32> = 8..=30;

/// ONNX Runtime's `Q_y(DQ_a(a) + DQ_b(b))`: each dequantized in f32, added in f32, quantized
/// as QuantizeLinear does.
pub fn reference(a: &AffineScale, b: &AffineScale, y: &AffineScale, (qa, qb): (i64, i64)) -> i64 {
    y.quantize(a.dequantize(qa) + b.dequantize(qb))
}

/// The rule agreeing with [`reference`] on the most pairs `(a, b)`, `b` over `b_values`
/// (a constant operand's values) or its whole range; the smallest shift among exact ones.
pub fn fit(
    a: &AffineScale,
    b: &AffineScale,
    y: &AffineScale,
    b_values: Option<&[i64]>,
) -> Option<AddRule> {
    let (alo, ahi) = a.range();
    let bs: Vec<i64> = match b_values {
        Some(v) => v.to_vec(),
        None => (b.range().0..=b.range().1).collect(),
    };
    let pairs: Vec<(i64, i64, i64)> = (alo..=ahi)
        .flat_map(|qa| bs.iter().map(move |&qb| (qa, qb)))
        .map(|(qa, qb)| {
            (
                qa - a.zero_point(),
                qb - b.zero_point(),
                reference(a, b, y, (qa, qb)),
            )
        })
        .collect();
    let ra = f64::from(a.scale()) / f64::from(y.scale());
    let rb = f64::from(b.scale()) / f64::from(y.scale());
    let mut best: Option<AddRule> = None;
    for shift in SHIFTS {
        let unit = f64::from(1u32 << shift);
        let (ia, ib) = ((ra * unit).round() as i64, (rb * unit).round() as i64);
        for (da, db) in [
            (0, 0),
            (-1, 0),
            (1, 0),
            (0, -1),
            (0, 1),
            (-1, -1),
            (1, 1),
            (-1, 1),
            (1, -1),
        ] {
            let (ma, mb) = (ia + da, ib + db);
            for rounding in [Rounding::HalfEven, Rounding::HalfUp] {
                let rule = Dyadic::new((1, shift, rounding), y.zero_point(), y.range()).ok()?;
                let limit = best.map_or(usize::MAX, |b| b.mismatches);
                let mismatches = count_mismatches(&pairs, (ma, mb), &rule, limit);
                if mismatches < limit {
                    let found = AddRule {
                        ma,
                        mb,
                        rule,
                        mismatches,
                        pairs: pairs.len(),
                    };
                    if mismatches == 0 {
                        return Some(found);
                    }
                    best = Some(found);
                }
            }
        }
    }
    best
}

/// Pairs where the rule differs, counted up to `limit`.
fn count_mismatches(
    pairs: &[(i64, i64, i64)],
    (ma, mb): (i64, i64),
    rule: &Dyadic,
    limit: usize,
) -> usize {
    let items = pairs
        .iter()
        .map(|&(da, db, want)| (ma * da + mb * db, want, 1));
    mismatches(items, rule, limit)
}

/// Of `(accumulator, wanted result, how many)` items, how many the rule gets wrong, counted up
/// to `limit`.
pub(super) fn mismatches(
    items: impl IntoIterator<Item = (i64, i64, usize)>,
    rule: &Dyadic,
    limit: usize,
) -> usize {
    let mut n = 0;
    for (acc, want, count) in items {
        if rule.apply(acc) != want {
            n += count;
            if n >= limit {
                break;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::testing::scale;

    #[test]
    fn an_add_of_two_scales_is_orts_within_one_lsb_on_every_pair() {
        let (a, b, y) = (
            scale(0.0213, -3, true),
            scale(0.0071, 5, true),
            scale(0.0302, 1, true),
        );
        let r = fit(&a, &b, &y, None).unwrap();
        // f32's double rounding puts a few pairs on the other side of a half: no integer rule
        // has them all (28 of 65,536 here); each is off by one.
        assert_eq!(r.pairs, 65536);
        assert!(
            r.mismatches > 0 && r.mismatches < 65536 / 1000,
            "{}",
            r.mismatches
        );
        let mut differ = 0;
        for qa in -128..=127 {
            for qb in -128..=127 {
                let got = r.rule.apply(r.ma * (qa + 3) + r.mb * (qb - 5));
                let want = reference(&a, &b, &y, (qa, qb));
                assert!((got - want).abs() <= 1, "{qa} {qb}: {got} vs {want}");
                differ += usize::from(got != want);
            }
        }
        assert_eq!(differ, r.mismatches);
    }

    #[test]
    fn scales_whose_sums_round_once_have_an_exact_rule() {
        // Power-of-two ratios: the f32 sums are exact, so only the final rounding counts.
        let (a, b, y) = (
            scale(0.25, -3, true),
            scale(0.125, 5, true),
            scale(0.5, 1, true),
        );
        let r = fit(&a, &b, &y, None).unwrap();
        assert_eq!((r.mismatches, r.pairs), (0, 65536));
    }

    #[test]
    fn equal_scales_round_halves_to_even() {
        // a + b at half the output's scale: every odd sum is a tie, which f32 rounds to even.
        let (a, b, y) = (
            scale(0.5, 0, false),
            scale(0.5, 0, false),
            scale(1.0, 0, false),
        );
        let r = fit(&a, &b, &y, None).unwrap();
        assert_eq!(r.mismatches, 0);
        assert_eq!(r.rule.rounding(), Rounding::HalfEven);
        assert_eq!(reference(&a, &b, &y, (1, 2)), 2);
    }

    #[test]
    fn a_constant_operand_is_fitted_on_its_values_only() {
        let (a, b, y) = (
            scale(0.013, 0, true),
            scale(0.002, 0, true),
            scale(0.011, -2, true),
        );
        let r = fit(&a, &b, &y, Some(&[-7, 0, 90])).unwrap();
        assert_eq!((r.mismatches, r.pairs), (0, 256 * 3));
    }
}
