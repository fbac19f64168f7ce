//! Exp, Sqrt and Reciprocal of a computed tensor: one table lookup each
//! (`FnKind::ExprWithin`), over the part of the activation range where the function is
//! defined and its outputs keep their precision:
//!
//! - Sqrt from 0 (ONNX's square root of a negative number is NaN);
//! - Reciprocal from the calibrated smallest input over the range margin (positive inputs
//!   only: at 0 ONNX's is infinite, and a table reaching down to one quantum would leave its
//!   outputs no precision);
//! - Exp up to where its output reaches the output's calibrated bound (the margin applied
//!   to the output, as for every tensor), for the same reason; likewise a Pow by a constant
//!   integer exponent 4 to 8 (or 0), over the arguments whose power stays within it; a Pow by
//!   0.5, -0.5 or -1 is a square root, its reciprocal or a reciprocal.
//!
//! The lookup proves the argument lies in that part: an input outside it is a prove-time
//! error naming the op and the range, never a wrong value. After a linear map the table is
//! applied in its rescale, as other activations are.

use super::activation::{activation_op, map, quantize_standalone, Activation};
use super::OnnxOp;
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QRef, QuantCtx};
use crate::tensor::Tensor;
use crate::FrontendError;
use std::any::Any;
use std::ops::Range;
use zkinfer_circuits::graph::expr::{self, Step};
use zkinfer_circuits::graph::FnKind;

/// Which function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Exp,
    Sqrt,
    Reciprocal,
    /// `x^-0.5`.
    RSqrt,
    /// `x^n` for a Pow with an integer exponent `n` in `0..=8` beyond those proven as
    /// products (`power.rs`).
    PowI(u32),
}

/// A unary function tabulated where it is defined.
#[derive(Debug)]
pub struct Unary {
    kind: Kind,
}

impl Unary {
    /// The table's program.
    fn steps(&self) -> Vec<Step> {
        match self.kind {
            Kind::Exp => vec![Step::X, Step::Exp],
            Kind::Sqrt => vec![Step::X, Step::Sqrt],
            Kind::Reciprocal => vec![Step::Const(1.0), Step::X, Step::Div],
            Kind::RSqrt => vec![Step::Const(1.0), Step::X, Step::Sqrt, Step::Div],
            Kind::PowI(n) => vec![Step::X, Step::PowI(n)],
        }
    }

    /// The table of a Pow by the constant exponent `e`, where one stands for it: 0 to 8,
    /// 0.5, -0.5 and -1.
    pub(super) fn power(e: f64) -> Option<Unary> {
        let kind = match e {
            0.5 => Kind::Sqrt,
            -0.5 => Kind::RSqrt,
            -1.0 => Kind::Reciprocal,
            e if e.fract() == 0.0 && (0.0..=8.0).contains(&e) => Kind::PowI(e as u32),
            _ => return None,
        };
        Some(Unary { kind })
    }

    /// The quotients at `in_scale` the table covers (clamped to the activation range by the
    /// table itself).
    fn within(
        &self,
        q: &QuantCtx<'_>,
        node: usize,
        in_scale: i32,
    ) -> Result<Range<i64>, FrontendError> {
        let half = 1i64 << (q.bits - 1);
        let unit = f64::from(in_scale).exp2();
        let x = q.input_id(node, 0).unwrap_or(usize::MAX);
        Ok(match self.kind {
            Kind::Sqrt => 0..half,
            Kind::Exp => {
                // Outputs up to their calibrated bound (the margin applied to the output, as
                // for every tensor), not up to the exponential of the input's.
                let out = q.node(node).outputs[0];
                let top = q.bound(x).min(q.bound(out).ln());
                let top = (top * unit).floor().clamp(-(half as f64), half as f64);
                -half..(top as i64).saturating_add(1)
            }
            Kind::Reciprocal => positive_part(q, (node, 0), in_scale, "Reciprocal of")?,
            Kind::RSqrt => positive_part(q, (node, 0), in_scale, "Pow -0.5 of")?,
            Kind::PowI(0) => -half..half,
            Kind::PowI(n) => {
                // Arguments whose power stays within the output's calibrated bound.
                let out = q.node(node).outputs[0];
                let reach = q.bound(out).powf(1.0 / f64::from(n.max(1)));
                let top = (q.bound(x).min(reach) * unit)
                    .floor()
                    .clamp(0.0, half as f64) as i64;
                -top..top.saturating_add(1)
            }
        })
    }
}

/// The quotients at `scale` of a positive ONNX tensor (input `i` of `node`) down to its
/// calibrated floor: where a reciprocal of it is tabulated. `what` names the op in the error.
fn positive_part(
    q: &QuantCtx<'_>,
    (node, i): (usize, usize),
    scale: i32,
    what: &str,
) -> Result<Range<i64>, FrontendError> {
    let half = 1i64 << (q.bits - 1);
    let x = q.input_id(node, i).unwrap_or(usize::MAX);
    let floor = q.positive_floor(x).ok_or_else(|| {
        q.err(
            node,
            format!(
                "{what} a tensor that is not positive on the calibration input (only positive \
                 divisors are supported)"
            ),
        )
    })?;
    let lo = (floor * f64::from(scale).exp2())
        .floor()
        .clamp(1.0, half as f64) as i64;
    Ok(lo..half)
}

/// `1 / b` for the divisor `b` of a Div (its input 1), as one table over its positive part
/// at the finest scale that fits: the operand the Div multiplies by.
pub(super) fn divisor_reciprocal(
    q: &mut QuantCtx<'_>,
    node: usize,
    b: QRef,
) -> Result<QRef, FrontendError> {
    let within = positive_part(q, (node, 1), b.scale, "Div by")?;
    let steps = vec![Step::Const(1.0), Step::X, Step::Div];
    let finest = 3 * q.bits as i32;
    let out_scale =
        crate::fuse::fitting_scale_on(&steps, (b.scale, within.clone()), finest, q.bits)
            .ok_or_else(|| q.err(node, "the divisor's reciprocal does not evaluate"))?;
    let f = FnKind::ExprWithin {
        steps,
        in_scale: b.scale,
        out_scale,
        lo: within.start,
        hi: within.end,
    };
    f.check_image(q.bits)
        .map_err(|e| q.err(node, e.to_string()))?;
    let name = format!("{} (1/divisor)", q.node(node).name);
    let shape = q.graph.tensors[b.id].shape.clone();
    Ok(q.emit(
        q.node(node).name.clone(),
        NewTensor {
            name: &name,
            shape,
            scale: out_scale,
        },
        Lin::of(b),
        0,
        f,
    ))
}

impl Activation for Unary {
    fn function(
        &self,
        q: &QuantCtx<'_>,
        node: usize,
        in_scale: i32,
    ) -> Result<(FnKind, i32), FrontendError> {
        self.function_at(q, node, in_scale, q.scale_for(q.node(node).outputs[0]))
    }
}

/// The tables of Pow by each of the exponents `exps` (per-element exponents), all at one
/// output scale: the finest every one of them fits at, no finer than the output's.
pub(super) fn power_tables(
    q: &QuantCtx<'_>,
    node: usize,
    in_scale: i32,
    exps: &[f64],
) -> Result<Vec<FnKind>, FrontendError> {
    let unsupported = |e: f64| {
        q.err(
            node,
            format!("exponent {e} (supported: 0 to 8, 0.5, -0.5 and -1)"),
        )
    };
    let tables: Vec<Unary> = exps
        .iter()
        .map(|&e| Unary::power(e).ok_or_else(|| unsupported(e)))
        .collect::<Result<_, _>>()?;
    let mut scale = i32::MAX;
    for t in &tables {
        scale = scale.min(t.function(q, node, in_scale)?.1);
    }
    tables
        .iter()
        .map(|t| {
            let (f, out_scale) = t.function_at(q, node, in_scale, scale)?;
            if out_scale != scale {
                return Err(q.err(node, "does not evaluate over its input range"));
            }
            f.check_image(q.bits)
                .map_err(|e| q.err(node, e.to_string()))?;
            Ok(f)
        })
        .collect()
}

impl Unary {
    /// The table at input scale `in_scale`, at the finest output scale (no finer than
    /// `wanted`) at which it evaluates over its whole input range.
    fn function_at(
        &self,
        q: &QuantCtx<'_>,
        node: usize,
        in_scale: i32,
        wanted: i32,
    ) -> Result<(FnKind, i32), FrontendError> {
        let steps = self.steps();
        let within = self.within(q, node, in_scale)?;
        let out_scale =
            crate::fuse::fitting_scale_on(&steps, (in_scale, within.clone()), wanted, q.bits)
                .ok_or_else(|| q.err(node, "does not evaluate over its input range"))?;
        let f = FnKind::ExprWithin {
            steps,
            in_scale,
            out_scale,
            lo: within.start,
            hi: within.end,
        };
        Ok((f, out_scale))
    }

    fn float_bounds(&self, _: &[Option<&Tensor>]) -> (f64, f64) {
        (0.0, 0.0)
    }
    fn apply(&self, v: f64, _: f64, _: f64) -> f64 {
        expr::run(&self.steps(), v).unwrap_or(f64::NAN)
    }
}
activation_op!(Unary);

pub fn exp(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Unary { kind: Kind::Exp }))
}

pub fn sqrt(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Unary { kind: Kind::Sqrt }))
}

pub fn reciprocal(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(Unary {
        kind: Kind::Reciprocal,
    }))
}
