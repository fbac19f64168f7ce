//! Float islands: elementwise float ops between a DequantizeLinear and the next QuantizeLinear,
//! which ONNX Runtime's quantizer leaves in float (a GELU written out as Div, Erf, Add and Mul;
//! Tanh; a Swish `x·sigmoid(x)`; a Pow or Sqrt). Where every op reads one int8 tensor (its
//! DequantizeLinear, or values computed from it) or scalar constants, the island is a function
//! of that tensor's integer alone: a table of at most 256 entries, `T[q] = Q_y(f(DQ_x(q)))`.
//!
//! `f` is evaluated by the float front end's own ops (deterministic f64 arithmetic, no libm),
//! not by ONNX Runtime's f32 kernels, which round each step and approximate tanh and erf. The
//! two agree on an entry unless `f`'s value lies within their difference of a quantization
//! level's boundary: each entry is checked against a margin of `2^−16` relative plus `2^−20`
//! absolute (hundreds of f32 roundings), and `compile` reports the entries that come closer
//! (ONNX Runtime's integer may differ from the proven one by 1 LSB there).

use zkinfer_circuits::graph::requant::AffineScale;

/// The ops an island may hold: elementwise, with the float front end's semantics.
pub const ISLAND_OPS: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "LeakyRelu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "Erf",
    "Gelu",
    "Pow",
    "Sqrt",
];

/// The relative part of the margin.
const RELATIVE: f64 = 1.0 / 65536.0;
/// The absolute part of the margin (cancellation in `1 + erf(x)` and the like).
const ABSOLUTE: f64 = 1.0 / 1_048_576.0;

/// An island's table over its input's integers, and how many entries are near a level's
/// boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IslandTable {
    /// `Q_y(v)` per value, in order.
    pub values: Vec<i64>,
    /// Entries whose value is within the margin of a boundary between two levels.
    pub uncertain: usize,
}

/// `Q_y` of each value (ONNX Runtime's QuantizeLinear of the value as an f32), with the entries
/// a value within the margin could quantize differently.
pub fn table(values: &[f64], y: &AffineScale) -> IslandTable {
    let mut out = IslandTable {
        values: Vec::with_capacity(values.len()),
        uncertain: 0,
    };
    for &v in values {
        let q = y.quantize(v as f32);
        let margin = v.abs() * RELATIVE + ABSOLUTE;
        let (lo, hi) = (
            y.quantize((v - margin) as f32),
            y.quantize((v + margin) as f32),
        );
        out.uncertain += usize::from(lo != q || hi != q);
        out.values.push(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_near_a_boundary_are_counted_and_others_are_not() {
        let y = AffineScale::new(0.1, 3, (-128, 127)).unwrap();
        // 0.25 is 2.5 steps: a boundary; 0.3 is 3 steps: a level; 100 saturates either way.
        let t = table(&[0.25, 0.3, 100.0, 0.25 + 1e-4], &y);
        assert!([5, 6].contains(&t.values[0]));
        assert_eq!(t.values[1..], [6, 127, 6]);
        assert_eq!(t.uncertain, 1);
        // Just outside the margin.
        let t = table(&[0.25 + 3e-5 * 0.25 + 2e-6], &y);
        assert_eq!(t.uncertain, 0);
    }
}
