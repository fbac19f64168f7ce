//! Elementwise family: `y = f(round((qa·a + qb·b + qm·a·b + qc) / 2^d))`.
//!
//! Rounding is half-up: `q = floor((lin + 2^(d-1)) / 2^d)`. In the circuit the linear part is
//! pre-multiplied by `2^(bits-d)` so every remainder is checked against the same
//! `[0, 2^bits)` range, and `q` itself is range-checked by the lookup of `f`.

use super::{
    check_index, EvalError, GraphError, IntOp, OpDefect, QuantizedGraph, TensorId, TensorKind,
};
use serde::{Deserialize, Serialize};

/// One input of an elementwise op, with optional broadcasting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Operand {
    /// Tensor read.
    pub tensor: TensorId,
    /// For each output element, the input element read; `None` means the same index.
    pub index: Option<Vec<u32>>,
}

impl Operand {
    /// Input element read for output element `e`.
    pub fn at(&self, e: usize) -> usize {
        match &self.index {
            Some(ix) => ix[e] as usize,
            None => e,
        }
    }
}

/// A coefficient that is either shared or per output element.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Coef {
    /// Same for every element.
    Const(i64),
    /// One per output element.
    Each(Vec<i64>),
}

impl Coef {
    /// Coefficient of element `e`.
    pub fn at(&self, e: usize) -> i64 {
        match self {
            Coef::Const(c) => *c,
            Coef::Each(v) => v[e],
        }
    }

    /// True when the coefficient is zero everywhere.
    pub fn is_zero(&self) -> bool {
        match self {
            Coef::Const(c) => *c == 0,
            Coef::Each(v) => v.iter().all(|&c| c == 0),
        }
    }

    fn max_abs(&self) -> u64 {
        match self {
            Coef::Const(c) => c.unsigned_abs(),
            Coef::Each(v) => v.iter().map(|c| c.unsigned_abs()).max().unwrap_or(0),
        }
    }
}

/// Elementwise affine/product, rescale and lookup function.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ElemOp {
    /// Source node.
    pub name: String,
    /// Tensor written (an activation).
    pub output: TensorId,
    /// First operand.
    pub a: Option<Operand>,
    /// Second operand.
    pub b: Option<Operand>,
    /// Coefficient of `a`.
    pub qa: Coef,
    /// Coefficient of `b`.
    pub qb: Coef,
    /// Coefficient of `a·b`.
    pub qm: Coef,
    /// Constant term.
    pub qc: Coef,
    /// Rounding shift `d` in `0..=bits`.
    pub shift: u32,
    /// Index into [`QuantizedGraph::functions`].
    pub func: u32,
}

/// Result of the rounding step for one element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounded {
    /// Quotient (input of the function lookup).
    pub q: i128,
    /// Remainder in `[0, 2^bits)` (zero when `shift == 0`).
    pub r: i128,
}

impl ElemOp {
    /// `output = func(input)`: one operand read whole, no coefficients but `qa = 1`, no
    /// rounding (function 0, the identity, makes it a range check; callers set the rest).
    pub fn lookup(name: String, (input, output): (TensorId, TensorId), func: u32) -> ElemOp {
        ElemOp {
            name,
            output,
            a: Some(Operand {
                tensor: input,
                index: None,
            }),
            b: None,
            qa: Coef::Const(1),
            qb: Coef::Const(0),
            qm: Coef::Const(0),
            qc: Coef::Const(0),
            shift: 0,
            func,
        }
    }

    /// The linear/product part for output element `e`.
    pub fn lin(&self, e: usize, vals: &[Vec<i128>]) -> i128 {
        let a = self
            .a
            .as_ref()
            .map(|o| vals[o.tensor][o.at(e)])
            .unwrap_or(0);
        let b = self
            .b
            .as_ref()
            .map(|o| vals[o.tensor][o.at(e)])
            .unwrap_or(0);
        self.qa.at(e) as i128 * a
            + self.qb.at(e) as i128 * b
            + self.qm.at(e) as i128 * a * b
            + self.qc.at(e) as i128
    }

    /// Element `e` of an op that reads no operand (a constant), whatever the input; `None`
    /// for an op with operands or a constant outside its function's domain.
    pub fn constant(&self, g: &QuantizedGraph, e: usize) -> Option<i64> {
        if self.a.is_some() || self.b.is_some() || self.shift > g.bits {
            return None;
        }
        let c = match &self.qc {
            Coef::Const(c) => *c,
            Coef::Each(v) => *v.get(e)?,
        };
        let q = self.round(c as i128, g.bits).q;
        let f = g.functions.get(self.func as usize)?;
        let q = i64::try_from(q)
            .ok()
            .filter(|q| f.domain(g.bits).contains(q))?;
        Some(f.eval(q))
    }

    /// Multiplier applied to the linear part in the circuit (`2^(bits-d)`, or 1 without shift).
    pub fn premul(&self, bits: u32) -> i128 {
        if self.shift == 0 {
            1
        } else {
            1i128 << (bits - self.shift)
        }
    }

    /// Rounds `lin / 2^shift` half-up, as the circuit does.
    pub fn round(&self, lin: i128, bits: u32) -> Rounded {
        if self.shift == 0 {
            return Rounded { q: lin, r: 0 };
        }
        let pre = lin * self.premul(bits) + (1i128 << (bits - 1));
        let q = pre.div_euclid(1i128 << bits);
        let r = pre.rem_euclid(1i128 << bits);
        Rounded { q, r }
    }

    /// Scale of the quotient `q` (the domain of the function).
    pub fn pre_scale(&self, g: &QuantizedGraph) -> i32 {
        g.functions[self.func as usize]
            .in_scale()
            .unwrap_or(g.tensors[self.output].scale)
    }

    pub(crate) fn validate(&self, g: &QuantizedGraph) -> Result<(), GraphError> {
        let bad = |d| Err(GraphError::op(&self.name, d));
        let n = g.tensors[self.output].len();
        for (opnd, index, len) in [
            (&self.a, "operand a's index", "operand a"),
            (&self.b, "operand b's index", "operand b"),
        ] {
            let Some(o) = opnd else { continue };
            let (what, got) = match &o.index {
                Some(ix) => (index, ix.len()),
                None => (len, g.tensors[o.tensor].len()),
            };
            if got != n {
                return bad(OpDefect::Length { what, got, want: n });
            }
            for &i in o.index.iter().flatten() {
                check_index(g, o.tensor, i as usize, &self.name)?;
            }
        }
        for c in [&self.qa, &self.qb, &self.qm, &self.qc] {
            if let Coef::Each(v) = c {
                if v.len() != n {
                    return bad(OpDefect::Length {
                        what: "a coefficient list",
                        got: v.len(),
                        want: n,
                    });
                }
            }
            if c.max_abs() >= 1 << 62 {
                return bad(OpDefect::TooLarge("coefficient"));
            }
        }
        if self.a.is_none() && !(self.qa.is_zero() && self.qm.is_zero()) {
            return bad(OpDefect::MissingOperand("a"));
        }
        if self.b.is_none() && !(self.qb.is_zero() && self.qm.is_zero()) {
            return bad(OpDefect::MissingOperand("b"));
        }
        if self.shift > g.bits {
            return bad(OpDefect::Shift {
                shift: self.shift,
                bits: g.bits,
            });
        }
        if self.func as usize >= g.functions.len() {
            return bad(OpDefect::UnknownFunction(self.func as usize));
        }
        if g.tensors[self.output].kind != TensorKind::Activation {
            return bad(OpDefect::Kind("output must be an activation"));
        }
        Ok(())
    }
}

impl IntOp for ElemOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn inputs(&self) -> Vec<TensorId> {
        self.a
            .iter()
            .chain(self.b.iter())
            .map(|o| o.tensor)
            .collect()
    }

    fn output(&self) -> TensorId {
        self.output
    }

    fn describe(&self, g: &QuantizedGraph) -> String {
        let name = |o: &Option<Operand>| o.as_ref().map(|o| g.tensors[o.tensor].name.clone());
        let (a, b) = (name(&self.a), name(&self.b));
        let mut parts = Vec::new();
        if let (Some(a), false) = (&a, self.qa.is_zero()) {
            parts.push(format!("qa·[{a}]"));
        }
        if let (Some(b), false) = (&b, self.qb.is_zero()) {
            parts.push(format!("qb·[{b}]"));
        }
        if let (Some(a), Some(b), false) = (&a, &b, self.qm.is_zero()) {
            parts.push(format!("qm·[{a}]·[{b}]"));
        }
        if !self.qc.is_zero() {
            parts.push("qc".into());
        }
        format!(
            "{}(round(({}) / 2^{}))",
            g.functions[self.func as usize].key(),
            if parts.is_empty() {
                "0".into()
            } else {
                parts.join(" + ")
            },
            self.shift
        )
    }

    fn eval(&self, g: &QuantizedGraph, vals: &mut [Vec<i128>]) -> Result<(), EvalError> {
        let n = g.tensors[self.output].len();
        let half = g.half_range();
        let func = &g.functions[self.func as usize];
        let mut out = Vec::with_capacity(n);
        for e in 0..n {
            let lin = self.lin(e, vals);
            if lin.unsigned_abs() >= 1u128 << 100 {
                return Err(EvalError::Overflow {
                    op: self.name.clone(),
                });
            }
            let Rounded { q, .. } = self.round(lin, g.bits);
            if q < -half || q >= half {
                let s = (-(self.pre_scale(g) as f64)).exp2();
                return Err(EvalError::OutOfRange {
                    op: self.name.clone(),
                    what: format!("value #{e} of '{}'", g.tensors[self.output].name),
                    value: q as f64 * s,
                    lo: -half as f64 * s,
                    hi: (half - 1) as f64 * s,
                });
            }
            let domain = func.domain(g.bits);
            if !domain.contains(&(q as i64)) {
                return Err(EvalError::OutOfDomain {
                    op: self.name.clone(),
                    element: e,
                    x: q as i64,
                    lo: domain.start,
                    hi: domain.end,
                });
            }
            let y = func.eval(q as i64);
            if !func.in_codomain(y, g.bits) {
                let (lo, hi) = func.codomain(g.bits);
                return Err(EvalError::OutOfCodomain {
                    op: self.name.clone(),
                    function: func.key(),
                    x: q as i64,
                    y,
                    lo,
                    hi,
                });
            }
            out.push(y as i128);
        }
        vals[self.output] = out;
        Ok(())
    }
}
