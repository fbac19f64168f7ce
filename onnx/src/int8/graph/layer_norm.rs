//! Layer normalisation as ONNX Runtime's quantizer leaves it in a QDQ model: two float islands
//! over the rows of one int8 tensor `x` (scale `s_x`, rows of `n` along the trailing axes),
//!
//! ```text
//! ReduceMean(DQ(x)) → Sub(DQ(x), ·) → Pow 2 → ReduceMean → Q(v)       the variance
//! Div(Sub, f(DQ(a))) → Q(y)                                             the normalised rows
//! ```
//!
//! where `a` is an int8 tensor with one value per row (the quantized `v + ε`) and `f` a float
//! island of it (Sqrt). Both are proven on exact integers, each with one witness (and a
//! ReduceMean quantized on its own, over any axes, as its rows' sums requantized):
//!
//! 1. `S = Σ_j q_j` per row (a linear op of weight 1) and `c_i = n·q_i − S`, the deviations at
//!    scale `s_x / n` (the zero point cancels): `|c_i| ≤ (n − 1)·(qmax − qmin)`;
//! 2. the variance's integers: `V = Σ_i c_i²` per row (a product of `c` with itself), then
//!    `rhe(V · m) + z_v`, clamped, with `m = s_x² / (n³·s_v)` (the requantization rule);
//! 3. the normalised integers: `F = TABLE[a]`, `round(2^f · s_x / (n·s_y·f(DQ(a))))` (a
//!    table over the 256 values of `a`, `|F| < 2^15`, `f` the largest that fits), the products
//!    `c_i·F` (exact accumulators), then `rhe(c_i·F / 2^f) + z_y`, clamped.
//!
//! ONNX Runtime computes the islands in f32. Step 2 differs from it only where `V·m` lies within
//! f32 rounding of a tie; step 3 where `c_i·R` lies within `|y|/(2|F|)` levels of a tie (`F`'s
//! rounding): for `|F| ≥ 2^11` and `|y| ≤ 128`, 1/32 of a level. A row whose denominator is
//! zero or not a number (ONNX Runtime: an infinity or NaN before the QuantizeLinear) takes the
//! largest `F`, saturating every non-zero deviation.

use super::fused_norm::NormAffine;
use super::*;
use crate::ops::{Reduce, Reduction};
use zkinfer_circuits::graph::MatMulOp;

/// `|F| < 2^F_BITS`: the table's values are activations.
const F_BITS: u32 = 15;

/// The activation bits the deviations and the table's values need.
const NORM_BITS: u32 = F_BITS + 1;

/// How far a layer normalisation's float ops have come.
#[derive(Clone, Debug)]
pub(super) enum Stage {
    /// `ReduceMean(DQ(x))`.
    Mean,
    /// `DQ(x) − mean`.
    Deviation,
    /// Its square.
    Squared,
    /// The mean square: the variance, waiting for its QuantizeLinear.
    Variance,
    /// The deviation divided by `denominators[a − lo]`, a function of the int8 tensor `a` with
    /// one value per row, waiting for its QuantizeLinear.
    Normalized { a: Act, denominators: Vec<f64> },
    /// A LayerNormalization op with its constants, waiting for its QuantizeLinear
    /// (`fused_norm.rs`).
    Fused(Box<NormAffine>),
}

/// A layer normalisation's float ops over the rows of `x`.
#[derive(Clone, Debug)]
pub(super) struct PendingNorm {
    /// The first ReduceMean's node name.
    pub name: String,
    pub x: Act,
    /// Elements per row (the trailing axes the mean reduces).
    pub n: usize,
    pub stage: Stage,
    /// The first ReduceMean's axes (sorted) and whether it keeps them.
    pub reduced: (Vec<usize>, bool),
}

impl PendingNorm {
    /// Whether the mean is over the trailing axes, keeping them: rows a normalisation can
    /// subtract it from.
    fn rows_kept(&self) -> bool {
        let (axes, keep) = &self.reduced;
        let r = self.x.shape.len();
        *keep
            && axes
                .iter()
                .enumerate()
                .all(|(i, &d)| d == r - axes.len() + i)
    }

    pub(super) fn rows(&self) -> usize {
        self.x.shape.iter().product::<usize>() / self.n.max(1)
    }

    fn at(&self, stage: Stage) -> Val {
        Val::Norm(Box::new(PendingNorm {
            stage,
            ..self.clone()
        }))
    }
}

impl Importer {
    /// `np` as a step of a layer normalisation (`None` when it is not one).
    pub(super) fn norm_step(
        &self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Option<Val>, ImportError> {
        let norm = |i: usize| match arg(np, i).and_then(|n| self.vals.get(n)) {
            Some(Val::Norm(p)) => Some(p.as_ref()),
            _ => None,
        };
        let dq = |i: usize| match arg(np, i).and_then(|n| self.vals.get(n)) {
            Some(Val::Dq(a)) => Some(a),
            _ => None,
        };
        Ok(match (np.domain.as_str(), np.op_type.as_str()) {
            ("", "ReduceMean") => {
                match (dq(0), norm(0)) {
                    (Some(x), _) => {
                        let reduced = self.reduced_axes(np, name, &x.shape)?;
                        Some(Val::Norm(Box::new(PendingNorm {
                            name: name.to_string(),
                            x: x.clone(),
                            n: reduced.0.iter().map(|&d| x.shape[d]).product(),
                            stage: Stage::Mean,
                            reduced,
                        })))
                    }
                    (_, Some(p)) if matches!(p.stage, Stage::Squared) => {
                        if self.reduced_axes(np, name, &p.x.shape)? != p.reduced {
                            return Err(ImportError::at(name, "a layer normalisation's variance must average the rows its mean did"));
                        }
                        Some(p.at(Stage::Variance))
                    }
                    _ => None,
                }
            }
            ("", "Sub") => match (dq(0), norm(1)) {
                (Some(x), Some(p)) if matches!(p.stage, Stage::Mean) && x.id == p.x.id => {
                    if !p.rows_kept() {
                        return Err(ImportError::at(name, "a deviation from a mean is imported as a layer normalisation's only (the mean over the trailing axes, keeping them)"));
                    }
                    Some(p.at(Stage::Deviation))
                }
                _ => None,
            },
            ("", "Pow") => match norm(0) {
                Some(p) if matches!(p.stage, Stage::Deviation) => {
                    let two = arg(np, 1)
                        .and_then(|n| self.consts.get(n))
                        .is_some_and(|c| c.t.data.len() == 1 && c.t.data[0] == 2.0);
                    if !two {
                        return Err(ImportError::at(name, "a Pow of a layer normalisation's deviation must square it (a constant exponent 2)"));
                    }
                    Some(p.at(Stage::Squared))
                }
                _ => None,
            },
            ("", "Mul") => match (norm(0), norm(1)) {
                (Some(p), Some(q))
                    if matches!((&p.stage, &q.stage), (Stage::Deviation, Stage::Deviation))
                        && p.x.id == q.x.id =>
                {
                    Some(p.at(Stage::Squared))
                }
                _ => None,
            },
            ("", "Div") => match norm(0) {
                Some(p) if matches!(p.stage, Stage::Deviation) => {
                    let (a, denominators) = self.denominators(np, name, p)?;
                    Some(p.at(Stage::Normalized { a, denominators }))
                }
                _ => None,
            },
            _ => None,
        })
    }

    /// The axes a ReduceMean of a tensor of `shape` reduces (sorted), and whether it keeps
    /// them.
    fn reduced_axes(
        &self,
        np: &pb::NodeProto,
        name: &str,
        shape: &[usize],
    ) -> Result<(Vec<usize>, bool), ImportError> {
        let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
        let attrs = Attrs::new(np, name);
        let reduce = Reduce {
            kind: Reduction::Mean,
            axes: match self.opset < 18 {
                true => attrs.ints("axes").map_err(fe)?,
                false => None,
            },
            keepdims: attrs.int("keepdims").map_err(fe)?.unwrap_or(1) != 0,
            noop_with_empty_axes: attrs.int("noop_with_empty_axes").map_err(fe)?.unwrap_or(0) != 0,
        };
        let given = arg(np, 1)
            .map(|_| self.konst(np, 1, name).map(|c| &c.t))
            .transpose()?;
        match reduce.axes(name, shape.len(), given).map_err(fe)? {
            Some(a) if !a.is_empty() => Ok((a, reduce.keepdims)),
            _ => Err(ImportError::at(name, "a ReduceMean that reduces nothing")),
        }
    }

    /// The denominator of a normalisation's Div: a function of an int8 tensor `a` with one
    /// value per row of `p` (a float island of it, or its DequantizeLinear), on each integer.
    fn denominators(
        &self,
        np: &pb::NodeProto,
        name: &str,
        p: &PendingNorm,
    ) -> Result<(Act, Vec<f64>), ImportError> {
        let (a, values) = match self.val(np, 1, name)? {
            Val::Island(isl) => {
                let (a, values) = isl.values_of_source();
                (a.clone(), values.to_vec())
            }
            Val::Dq(a) => {
                let aa = a.q.affine(name)?;
                let (lo, hi) = aa.range();
                let v = (lo..=hi).map(|q| f64::from(aa.dequantize(q))).collect();
                (a.clone(), v)
            }
            _ => return Err(ImportError::at(name, "a layer normalisation's deviation must be divided by a function of an int8 tensor (the quantized variance)")),
        };
        if a.shape != row_shape(&p.x.shape, p.n) {
            return Err(ImportError::at(
                name,
                format!(
                    "a layer normalisation's denominator of shape {:?} is not one value per row of {:?}",
                    a.shape, p.x.shape
                ),
            ));
        }
        Ok((a, values))
    }

    /// A layer normalisation's island at its QuantizeLinear (steps 2 and 3 of the module docs).
    pub(super) fn norm_quantized(
        &mut self,
        p: &PendingNorm,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        match &p.stage {
            Stage::Mean => self.mean(p, y, out),
            Stage::Variance => self.variance(p, y, out),
            Stage::Normalized { a, denominators } => self.normalized(p, (a, denominators), y, out),
            Stage::Fused(f) => self.fused_norm(p, f, y, out),
            _ => Err(ImportError::at(
                &p.name,
                "a QuantizeLinear of part of a layer normalisation (imported: a mean, a variance, and deviations divided by a function of the quantized variance)",
            )),
        }
    }

    /// The deviations `c_i = n·q_i − Σ_j q_j` of `p.x`'s rows (step 1), made once per tensor,
    /// with activations of at least `floor` bits.
    pub(super) fn deviations(
        &mut self,
        p: &PendingNorm,
        floor: u32,
    ) -> Result<TensorId, ImportError> {
        if let Some(&c) = self.deviations.get(&(p.x.id, p.n)) {
            return Ok(c);
        }
        let (name, rows, n) = (p.name.as_str(), p.rows(), p.n);
        let span = p.x.q.range.1 - p.x.q.range.0;
        let need = i64::try_from(n.saturating_sub(1))
            .unwrap_or(i64::MAX)
            .saturating_mul(span);
        if need >= 1 << 19 {
            return Err(ImportError::at(
                name,
                format!("a layer normalisation over rows of {n} is not imported (at most 2048)"),
            ));
        }
        let bits = 64 - need.leading_zeros() + 1;
        self.min_bits = self.min_bits.max(floor).max(bits);
        let sum = self.row_sums((name, "row sums"), p.x.id, (rows, n))?;
        let c = self.tensor(
            &format!("{name} (deviations)"),
            p.x.shape.clone(),
            TensorKind::Activation,
            None,
        )?;
        let mut step = identity_step(name.to_string(), (p.x.id, c), 0);
        step.qa = Coef::Const(n as i64);
        step.b = Some(Operand {
            tensor: sum,
            index: Some((0..rows * n).map(|e| (e / n) as u32).collect()),
        });
        step.qb = Coef::Const(-1);
        self.g.ops.push(QOp::Elementwise(step));
        self.deviations.insert((p.x.id, p.n), c);
        Ok(c)
    }

    /// `c ⊙ b` row by row: `b` has one value per row (`b == c`: the rows' sums of squares).
    pub(super) fn row_products(
        &mut self,
        p: &PendingNorm,
        (c, b): (TensorId, TensorId),
        what: &str,
    ) -> Result<TensorId, ImportError> {
        let (rows, n) = (p.rows(), p.n);
        let squares = b == c;
        let shape = match squares {
            true => vec![rows],
            false => p.x.shape.clone(),
        };
        let acc = self.tensor(
            &format!("{} ({what})", p.name),
            shape,
            TensorKind::Accumulator,
            None,
        )?;
        let (ikj, batches) = match squares {
            true => ([1, n, 1], (0..rows).map(|r| [r * n, r * n, r]).collect()),
            false => ([n, 1, 1], (0..rows).map(|r| [r * n, r, r * n]).collect()),
        };
        self.g.ops.push(QOp::MatMul(MatMulOp {
            name: p.name.clone(),
            a: c,
            b,
            output: acc,
            ikj,
            batches,
            a_zeros: Vec::new(),
        }));
        Ok(acc)
    }

    /// A ReduceMean on its own: the reduced axes moved last (a view, where they are not),
    /// the sums of their rows, requantized with `m = s_x / (n·s_y)` after adding `−n·z_x`.
    fn mean(&mut self, p: &PendingNorm, y: &QParams, out: &str) -> Result<Act, ImportError> {
        let (axes, keep) = &p.reduced;
        let rank = p.x.shape.len();
        let mut order: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
        order.extend_from_slice(axes);
        let (rows, n, name) = (p.rows(), p.n, p.name.as_str());
        let rows_of = match order.iter().enumerate().all(|(i, &d)| i == d) {
            true => p.x.id,
            false => {
                let (shape, map) = crate::tensor::transpose_index(&p.x.shape, &order);
                let moved = (shape, map.into_iter().map(|e| (0u16, e)).collect());
                let into = format!("{name} (reduced axes last)");
                self.moved(name, std::slice::from_ref(&p.x), moved, &into)?
                    .id
            }
        };
        let sum = self.row_sums((name, "sums"), rows_of, (rows, n))?;
        let (ax, ay) = (p.x.q.affine(name)?, y.affine(out)?);
        let m = (f64::from(ax.scale()) / (n as f64 * f64::from(ay.scale()))) as f32;
        let span = (p.x.q.range.1 - p.x.q.range.0) * n as i64;
        let mut rule = channel_rule(name, m, (ay.zero_point(), ay.range()), span)?;
        rule.exact = false;
        let shape: Vec<usize> = (0..rank)
            .filter_map(|d| match (axes.contains(&d), keep) {
                (false, _) => Some(p.x.shape[d]),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        let offsets = vec![-(n as i64) * ax.zero_point(); rows];
        self.requantize_all(name, (sum, shape, offsets), rule, y, out)
    }

    /// Step 2: the rows' variance requantized to `y`.
    fn variance(&mut self, p: &PendingNorm, y: &QParams, out: &str) -> Result<Act, ImportError> {
        let c = self.deviations(p, NORM_BITS)?;
        let v = self.row_products(p, (c, c), "sums of squares")?;
        let (ax, ay) = (p.x.q.affine(&p.name)?, y.affine(out)?);
        let n = p.n as f64;
        let sx = f64::from(ax.scale());
        let m = (sx * sx / (n * n * n * f64::from(ay.scale()))) as f32;
        let span = (p.x.q.range.1 - p.x.q.range.0) * (p.n as i64 - 1);
        let bound = (p.n as i64).saturating_mul(span).saturating_mul(span);
        let mut rule = channel_rule(&p.name, m, (ay.zero_point(), ay.range()), bound)?;
        rule.exact = false;
        let shape = row_shape(&p.x.shape, p.n);
        self.requantize_all(&p.name, (v, shape, Vec::new()), rule, y, out)
    }

    /// Step 3: the deviations divided by the rows' denominators, requantized to `y`.
    fn normalized(
        &mut self,
        p: &PendingNorm,
        (a, denominators): (&Act, &[f64]),
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let c = self.deviations(p, NORM_BITS)?;
        let (ax, ay) = (p.x.q.affine(&p.name)?, y.affine(out)?);
        let unit = f64::from(ax.scale()) / (p.n as f64 * f64::from(ay.scale()));
        let (f, values) = fixed_point(denominators.iter().map(|&d| unit / d));
        let table = self.g.function_index(FnKind::Tabulated {
            lo: a.q.range.0,
            values,
        });
        let factor = self.tensor(
            &format!("{} (1/denominator)", p.name),
            a.shape.clone(),
            TensorKind::Activation,
            None,
        )?;
        self.g.ops.push(QOp::Elementwise(identity_step(
            p.name.clone(),
            (a.id, factor),
            table,
        )));
        let acc = self.row_products(p, (c, factor), "scaled deviations")?;
        let span = (p.x.q.range.1 - p.x.q.range.0) * (p.n as i64 - 1);
        let m = (-f64::from(f)).exp2() as f32;
        let mut rule = channel_rule(&p.name, m, (ay.zero_point(), ay.range()), span << F_BITS)?;
        rule.exact = false;
        self.requantize_all(&p.name, (acc, p.x.shape.clone(), Vec::new()), rule, y, out)
    }
}

/// The shape of one value per row of a tensor of `shape` whose trailing axes make rows of `n`.
pub(super) fn row_shape(shape: &[usize], n: usize) -> Vec<usize> {
    let mut out = shape.to_vec();
    let mut left = n;
    for d in out.iter_mut().rev() {
        if left <= 1 {
            break;
        }
        left /= (*d).max(1);
        *d = 1;
    }
    out
}

/// `(f, round(r·2^f))` for the largest `f` (at most 62) keeping every finite `|r·2^f|` below
/// `2^F_BITS` (clamped there if even `f = −62` does not); a value that is not finite takes the
/// largest magnitude (positive).
fn fixed_point(ratios: impl Iterator<Item = f64> + Clone) -> (i32, Vec<i64>) {
    let top = ((1i64 << F_BITS) - 1) as f64;
    let largest = ratios
        .clone()
        .filter(|r| r.is_finite())
        .fold(0.0f64, |m, r| m.max(r.abs()));
    let mut f = 62i32;
    while f > -62 && (largest * f64::from(f).exp2()).round() > top {
        f -= 1;
    }
    let scale = f64::from(f).exp2();
    let values = ratios
        .map(|r| match r.is_finite() {
            true => (r * scale).round().clamp(-top, top) as i64,
            false => top as i64,
        })
        .collect();
    (f, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reciprocal_table_keeps_fifteen_bits_of_its_largest_finite_ratio() {
        let (f, v) = fixed_point([0.5, 0.25, f64::INFINITY, f64::NAN, -0.1].into_iter());
        assert_eq!(f, 15);
        assert_eq!(v, vec![16384, 8192, 32767, 32767, -3277]);
        let (f, v) = fixed_point([1e30, 1.0].into_iter());
        assert_eq!((f, v), (-62, vec![32767, 0]));
    }

    #[test]
    fn one_value_per_row_keeps_the_leading_axes() {
        assert_eq!(row_shape(&[1, 64, 64], 64), vec![1, 64, 1]);
        assert_eq!(row_shape(&[2, 3, 4, 5], 20), vec![2, 3, 1, 1]);
    }
}
