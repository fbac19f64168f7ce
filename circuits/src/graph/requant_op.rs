//! Requantization family: an int8/uint8 activation from an integer accumulator, by ONNX
//! Runtime's rule in the exact integer form [`Dyadic`] states it (see [`super::requant`]).
//! Element `e` follows rule `(e / inner) % rules.len()`: one rule for the tensor, or one per
//! channel of `inner` consecutive elements; a constant `offsets[e]` may be added to its
//! accumulator first (a zero point's correction that depends on the position, such as at a
//! padded convolution's border, where ONNX Runtime pads with the input's zero point).

use super::requant::{Dyadic, Rounding};
use super::{EvalError, GraphError, IntOp, OpDefect, QuantizedGraph, TensorId, TensorKind};
use serde::{Deserialize, Serialize};

/// The most bits `M·2^(N−n)` may have in the chip's division line: with accumulators below
/// `2^100` (every linear op checks) the line stays below the field's size, so it is an
/// equation between integers.
pub const MAX_PREMUL_BITS: u32 = 150;

/// `y = clamp(round(acc·M / 2^n) + zp, qmin, qmax)` element by element.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequantOp {
    /// Source node.
    pub name: String,
    /// The accumulator read.
    pub input: TensorId,
    /// The activation written.
    pub output: TensorId,
    /// The rules, one per channel (or one).
    pub rules: Vec<Dyadic>,
    /// Consecutive elements per channel.
    pub inner: u32,
    /// Constants added to the accumulators, one per element (none: empty).
    #[serde(default)]
    pub offsets: Vec<i64>,
    /// The rounded values before the clamp lie in `[−2^quotient_bits, 2^quotient_bits)` (at
    /// most 62; below the graph's bits, those): the requantization lanes check them in limbs
    /// of the range table ([`QuantizedGraph::requant_wide`]).
    #[serde(default)]
    pub quotient_bits: u32,
}

impl RequantOp {
    /// The rule of element `e`.
    pub fn rule(&self, e: usize) -> Option<&Dyadic> {
        let n = self.rules.len().max(1);
        self.rules.get((e / self.inner.max(1) as usize) % n)
    }

    /// The constant added to element `e`'s accumulator.
    pub fn offset(&self, e: usize) -> i64 {
        self.offsets.get(e).copied().unwrap_or(0)
    }

    pub(crate) fn validate(&self, g: &QuantizedGraph) -> Result<(), GraphError> {
        let bad = |d| Err(GraphError::op(&self.name, d));
        let n = g.tensors[self.output].len();
        if g.tensors[self.input].len() != n {
            return bad(OpDefect::Length {
                what: "the accumulator",
                got: g.tensors[self.input].len(),
                want: n,
            });
        }
        if g.tensors[self.output].kind != TensorKind::Activation {
            return bad(OpDefect::Kind("output must be an activation"));
        }
        if !(self.offsets.is_empty() || self.offsets.len() == n) {
            return bad(OpDefect::Length {
                what: "the offsets",
                got: self.offsets.len(),
                want: n,
            });
        }
        if self.offsets.iter().any(|o| o.unsigned_abs() >= 1 << 62) {
            return bad(OpDefect::TooLarge("requantization offset"));
        }
        if self.quotient_bits > 62 {
            return bad(OpDefect::TooLarge("requantization quotient"));
        }
        if self.rules.is_empty() || self.inner == 0 {
            return bad(OpDefect::Kind(
                "a requantization needs a rule and a channel size",
            ));
        }
        let half = i64::try_from(g.half_range()).unwrap_or(i64::MAX);
        let width = g.requant_limbs() * g.bits;
        for d in &self.rules {
            let (qmin, qmax) = d.range();
            if qmin < -half || qmax >= half {
                return bad(OpDefect::Kind(
                    "a requantized range leaves the activation range",
                ));
            }
            let premul = 64 - d.mult().leading_zeros() + width - d.shift();
            if premul > MAX_PREMUL_BITS {
                return bad(OpDefect::TooLarge("requantization multiplier"));
            }
        }
        Ok(())
    }
}

impl IntOp for RequantOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn inputs(&self) -> Vec<TensorId> {
        vec![self.input]
    }

    fn output(&self) -> TensorId {
        self.output
    }

    fn describe(&self, g: &QuantizedGraph) -> String {
        let even = self
            .rules
            .iter()
            .filter(|d| d.rounding() == Rounding::HalfEven)
            .count();
        let per = match self.rules.len() {
            1 => "one rule".to_string(),
            n => format!("{n} rules, one per {} element(s)", self.inner),
        };
        format!(
            "requant [{}] -> [{}]: {per}, {even} rounding halves to even",
            g.tensors[self.input].name, g.tensors[self.output].name
        )
    }

    fn eval(&self, g: &QuantizedGraph, vals: &mut [Vec<i128>]) -> Result<(), EvalError> {
        let acc = &vals[self.input];
        let span = g.requant_wide() * g.bits;
        // A declared width (0: none) bounds the quotients too: the lanes are sized by it.
        let declared = |q: i128| {
            let reach = 1i128 << self.quotient_bits.min(62);
            self.quotient_bits == 0 || (-reach..reach).contains(&q)
        };
        let mut out = Vec::with_capacity(acc.len());
        for (e, &a) in acc.iter().enumerate() {
            let a = a + i128::from(self.offset(e));
            let rule = self.rule(e).filter(|d| d.checkable(a, span));
            let divided = rule.and_then(|d| Some((d, d.divide(a)?)));
            let refused = |bits| EvalError::Requant {
                op: self.name.clone(),
                element: e,
                acc: a,
                bits,
            };
            let (d, qr) = divided.ok_or_else(|| refused(span))?;
            if !declared(qr.0) {
                return Err(refused(self.quotient_bits));
            }
            let (qmin, qmax) = d.range();
            out.push(d.unclamped(qr).clamp(i128::from(qmin), i128::from(qmax)));
        }
        vals[self.output] = out;
        Ok(())
    }
}
