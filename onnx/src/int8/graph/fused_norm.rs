//! LayerNormalization (opset 17) between DequantizeLinear and QuantizeLinear, as ONNX Runtime's
//! quantizer leaves it (`quantize_static`, QDQ): one f32 op over the rows of an int8 tensor `x`
//! (scale `s_x`, rows of `n`: the axes from `axis` on), its scale `γ` and bias `β` constants
//! (the DequantizeLinear of initializers, or float initializers). With the deviations
//! `c_i = n·q_i − Σ_j q_j` (the zero point cancels) and `V = Σ_i c_i²`, the normalised value
//! is `(x_i − mean) / sqrt(σ² + ε) = c_i·√n / sqrt(W)` with `W = V + E`, `E = ε·n³ / s_x²`
//! (rounded: `c_ε`). At `B` activation bits:
//!
//! 1. `c` and `V` exactly, as for the written-out form (`layer_norm.rs`, steps 1 and 2);
//! 2. the row's band `e ≤ E_top`, so that `x = round(W / 4^e)` lies below `2^(B−1)`: a table
//!    of the coarse argument `round(W / 2^t)` gives `2^(E_top − e)` (the finest band whose `x`
//!    fits for every `W` that rounds there); `Q = 2^(S − 2e)` is its square, scaled; then
//!    `R = RSQRT[round(W·Q / 2^S)]`, `round(2^s_r / sqrt(max(x, 1) / n))`, a wide value. Rows of
//!    small variance stay in band 0, where `x = W` exactly: every row's argument keeps at least
//!    `B − 4` bits, however small its variance;
//! 3. `c' = ±c·2^(E_top − e)` (an activation: `|c| ≤ √W`), then
//!    `z_i = round(c'_i·R / 2^s1) = round(±normalised·2^zs)`, `zs` the finest scale at which
//!    Samuelson's bound `|z| ≤ √(1.5·(n − 1))·2^zs` (the `1.5` for the argument's rounding) is
//!    an activation, the sign that of `γ_j`;
//! 4. ONNX Runtime's requantization rule per column `j`: `clamp(rhe((z_i + o_j)·m_j) + z_y)`
//!    with `m_j = |γ_j| / (s_y·2^zs)` (an f32, as the rule takes) and `o_j = round(β_j·2^zs / |γ_j|)`.
//!
//! Every step has one witness (exact sums and products, roundings with their remainders
//! range-checked, lookups). ONNX Runtime computes the op in f32: the proven integer differs
//! from its own only where the output lies within the steps' error of a rounding tie (the
//! argument's rounding, a relative `2^−(B−3)` at worst, and `z`'s): on the shared layernorm
//! (rows of 10, `B = 14`), 66 of 10,100 outputs, each by one level. A column whose `γ` is 0 is
//! refused (its output would not depend on the row); a constant row with `ε = 0` (ONNX
//! Runtime: 0/0) gives `Q(β)`.

use super::layer_norm::{row_shape, PendingNorm, Stage};
use super::*;

/// The constants of a LayerNormalization, one per element of a row.
#[derive(Clone, Debug)]
pub(super) struct NormAffine {
    pub gamma: Vec<f64>,
    pub beta: Vec<f64>,
    pub epsilon: f64,
}

/// The shifts, scales and table of steps 2 and 3 for rows of `n` at `bits` (`B`).
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    bits: u32,
    /// `ε` in the units of `V`.
    c_eps: i64,
    /// The coarse argument is `round(W / 2^t)`.
    t: u32,
    /// Per coarse argument, `2^(E − e)`: `e` the band whose `round(W / 4^e)` is below `2^(B−1)`.
    bands: Vec<i64>,
    /// The widest band `E` and the argument's shift `S`.
    e_top: u32,
    s: u32,
    /// `R`'s scale and step 3's shift.
    s_r: i32,
    s1: u32,
    /// The largest `|z|`.
    z_top: i64,
}

impl Plan {
    /// The plan for rows of `n` integers spanning `span` levels at scale `s_x`, at the fewest
    /// bits from `min_bits` on (at most 24) that fit it.
    fn new(n: usize, span: i64, s_x: f64, epsilon: f64, min_bits: u32) -> Result<Plan, String> {
        let nf = n as f64;
        // V = n²·Σ (q − mean)² ≤ n³·span²/4.
        let v_top = nf.powi(3) * (span as f64).powi(2) / 4.0;
        let e = (epsilon * nf.powi(3) / (s_x * s_x)).round();
        if !(e.is_finite() && e >= 0.0 && e < (1u64 << 60) as f64) {
            return Err(format!(
                "epsilon {epsilon} is out of reach at the input's scale {s_x}"
            ));
        }
        (min_bits.max(9)..=24)
            .find_map(|bits| Self::at(n, (v_top + e, e as i64), bits))
            .ok_or_else(|| format!("a layer normalisation over rows of {n} is not imported"))
    }

    /// The plan at `bits`, if it fits: every argument below `2^(B−1)` in some band, `z` an
    /// activation, `R` within the wide codomain.
    fn at(n: usize, (top, c_eps): (f64, i64), bits: u32) -> Option<Plan> {
        let half = (f64::from(bits) - 1.0).exp2();
        // Q = 2^(S − 2e) ≤ 2^S is an activation; x = round(W / 4^e) < 2^(B−1).
        let (s, t) = (bits - 2, bits - 2);
        let e_top = s / 2;
        let coarse = ((top / f64::from(t).exp2() + 0.5).floor() as usize).checked_add(1)?;
        // The band table is no taller than the reciprocal's (rows too long for this width
        // try the next; past 24 bits they are refused, before any table is built).
        if coarse > 1 << (bits - 1) {
            return None;
        }
        let bands = (0..coarse)
            .map(|xc| {
                // x_c = round(W / 2^t) (half up) means W < (x_c + ½)·2^t.
                let w = (xc as f64 + 0.5) * f64::from(t).exp2();
                (0..=e_top)
                    .find(|&e| w / f64::from(2 * e).exp2() + 0.5 <= half - 1.0)
                    .map(|e| 1i64 << (e_top - e))
            })
            .collect::<Option<Vec<i64>>>()?;
        let samuelson = (1.5 * (n as f64 - 1.0)).sqrt().max(1.0);
        let zs = ((half - 3.0) / samuelson).log2().floor() as i32;
        (0..=bits).rev().find_map(|s1| {
            let s_r = zs + s1 as i32 - e_top as i32;
            // |z| ≤ Samuelson's bound plus R's rounding (½) times |c'| < 2^(B − 1.5), over 2^s1,
            // plus z's own rounding.
            let slack = (f64::from(bits) - 2.5 - f64::from(s1)).exp2();
            let z_top = (samuelson * f64::from(zs).exp2() + slack).ceil() as i64 + 1;
            let fits = (z_top as f64) < half && rsqrt(n, s_r).check_image(bits).is_ok();
            fits.then(|| Plan {
                bits,
                c_eps,
                t,
                bands: bands.clone(),
                e_top,
                s,
                s_r,
                s1,
                z_top,
            })
        })
    }

    /// `z`'s scale: `c'·R = normalised·2^(E + s_r)`.
    fn zs(&self) -> i32 {
        self.e_top as i32 + self.s_r - self.s1 as i32
    }
}

/// `round(2^s_r / sqrt(max(x, 1) / n))`.
fn rsqrt(n: usize, s_r: i32) -> FnKind {
    FnKind::Rsqrt {
        unit: 1.0 / n as f64,
        out_scale: s_r,
        narrow: false,
    }
}

impl Importer {
    /// A LayerNormalization of a DequantizeLinear, waiting for its QuantizeLinear.
    pub(super) fn layer_normalization(
        &self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
        let x = self.dq_act(np, 0, name)?;
        if np.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(ImportError::at(
                name,
                "a LayerNormalization's Mean and InvStdDev outputs are not imported",
            ));
        }
        let attrs = Attrs::new(np, name);
        let axis = attrs.int("axis").map_err(fe)?.unwrap_or(-1);
        let epsilon = attrs.float("epsilon").map_err(fe)?.unwrap_or(1e-5);
        let rank = x.shape.len();
        let a = crate::tensor::axis(axis, rank, name).map_err(fe)?;
        let n: usize = x.shape[a..].iter().product();
        let span = x.q.range.1 - x.q.range.0;
        if n == 0 || (n as u64 - 1).saturating_mul(span as u64) >= 1 << 19 {
            return Err(ImportError::at(
                name,
                format!("a layer normalisation over rows of {n} is not imported (at least 1, at most 2048)"),
            ));
        }
        let affine = NormAffine {
            gamma: self.row_constant(np, (1, 1.0), &x.shape[a..], name)?,
            beta: self.row_constant(np, (2, 0.0), &x.shape[a..], name)?,
            epsilon,
        };
        Ok(Val::Norm(Box::new(PendingNorm {
            name: name.to_string(),
            x,
            n,
            stage: Stage::Fused(Box::new(affine)),
            reduced: ((a..rank).collect(), true),
        })))
    }

    /// Input `i` (absent: `dflt`) as one real per element of a row of `n`: a float
    /// initializer or the DequantizeLinear of one (per tensor or per axis, in f32 as ONNX
    /// Runtime computes it), of `n` values along the row's dimensions `row`, or one.
    fn row_constant(
        &self,
        np: &pb::NodeProto,
        (i, dflt): (usize, f64),
        row: &[usize],
        name: &str,
    ) -> Result<Vec<f64>, ImportError> {
        let n: usize = row.iter().product();
        let Some(input) = arg(np, i) else {
            return Ok(vec![dflt; n]);
        };
        let along = |t| {
            crate::ops::along_rows(name, t, row).map_err(|e| ImportError::at(name, e.to_string()))
        };
        let values = match (self.consts.get(input), self.vals.get(input)) {
            (Some(c), _) => {
                along(&c.t)?;
                c.t.data.clone()
            }
            (None, Some(Val::DqConst(c, p))) => {
                along(&c.t)?;
                dequantized(c, p).ok_or_else(|| {
                    ImportError::at(
                        name,
                        format!("a LayerNormalization's input #{i} has scales that are neither one nor one per element of its axis"),
                    )
                })?
            }
            _ => {
                return Err(ImportError::at(
                    name,
                    format!("a LayerNormalization's input #{i} must be a constant"),
                ))
            }
        };
        match values.len() {
            1 => Ok(vec![values[0]; n]),
            len if len == n => Ok(values),
            len => Err(ImportError::at(
                name,
                format!("a LayerNormalization's input #{i} has {len} values for rows of {n}"),
            )),
        }
    }

    /// Steps 1–4 of the module docs: `p`'s rows normalised, scaled and shifted by `f`,
    /// requantized to `y`.
    pub(super) fn fused_norm(
        &mut self,
        p: &PendingNorm,
        f: &NormAffine,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let name = p.name.as_str();
        let (ax, ay) = (p.x.q.affine(name)?, y.affine(out)?);
        if let Some(j) = f.gamma.iter().position(|&g| g == 0.0 || !g.is_finite()) {
            return Err(ImportError::at(
                name,
                format!(
                    "a LayerNormalization whose scale is {} (element {j}) is not imported",
                    f.gamma[j]
                ),
            ));
        }
        // 1. The deviations (which raise the bits to what they need) and the rows' sums of
        //    squares; the plan at those bits or more.
        let c = self.deviations(p, 0)?;
        let span = p.x.q.range.1 - p.x.q.range.0;
        let sx = f64::from(ax.scale());
        let plan = Plan::new(p.n, span, sx, f.epsilon, self.min_bits)
            .map_err(|e| ImportError::at(name, e))?;
        self.min_bits = self.min_bits.max(plan.bits);
        let v = self.row_products(p, (c, c), "sums of squares")?;
        // 2. R, from the band of the row's coarse argument.
        let (band, r) = self.reciprocal_deviations(p, v, &plan)?;
        // 3. z = round(±c·2^(E−e)·R / 2^s1).
        let z = self.normalised(p, (c, band, r), &f.gamma, plan.s1)?;
        // 4. ONNX Runtime's rule per column.
        let unit = f64::from(plan.zs()).exp2();
        let mut rules = Vec::with_capacity(p.n);
        let mut offsets = Vec::with_capacity(p.n);
        for (&g, &b) in f.gamma.iter().zip(&f.beta) {
            let o = (b * unit / g.abs()).round();
            if !o.is_finite() || o.abs() >= (1u64 << 40) as f64 {
                return Err(ImportError::at(
                    name,
                    format!("a LayerNormalization's bias {b} is out of reach of its scale {g}"),
                ));
            }
            let m = (g.abs() / (f64::from(ay.scale()) * unit)) as f32;
            let bound = plan.z_top + o.abs() as i64;
            let mut rule = channel_rule(name, m, (ay.zero_point(), ay.range()), bound)?;
            rule.exact = false;
            rules.push(rule);
            offsets.push(o as i64);
        }
        let rows = p.rows();
        let acc = Accumulated {
            id: z,
            shape: p.x.shape.clone(),
            inner: 1,
            offsets: offsets.repeat(rows),
        };
        self.requantize(name, acc, &rules, y, out)
    }

    /// Step 2: per row, the band scale `2^(E−e)` (a table of the coarse argument
    /// `round(W / 2^t)`), `Q = 2^(S−2e)` (its square, scaled) and
    /// `R = RSQRT[round(W·Q / 2^S)]`, with `W = V + c_ε`.
    fn reciprocal_deviations(
        &mut self,
        p: &PendingNorm,
        v: TensorId,
        plan: &Plan,
    ) -> Result<(TensorId, TensorId), ImportError> {
        let rows = row_shape(&p.x.shape, p.n);
        let mut row_tensor = |what: &str| {
            self.tensor(
                &format!("{} ({what})", p.name),
                rows.clone(),
                TensorKind::Activation,
                None,
            )
        };
        let (band, q, r) = (
            row_tensor("band scale")?,
            row_tensor("argument scale")?,
            row_tensor("reciprocal deviation")?,
        );
        let bands = self.g.function_index(FnKind::Tabulated {
            lo: 0,
            values: plan.bands.clone(),
        });
        let mut step = identity_step(p.name.clone(), (v, band), bands);
        step.qc = Coef::Const(plan.c_eps);
        step.shift = plan.t;
        self.g.ops.push(QOp::Elementwise(step));
        let mut step = identity_step(p.name.clone(), (band, q), 0);
        step.qa = Coef::Const(0);
        step.b = Some(Operand {
            tensor: band,
            index: None,
        });
        step.qm = Coef::Const(1 << (plan.s - 2 * plan.e_top));
        self.g.ops.push(QOp::Elementwise(step));
        let table = self.g.function_index(rsqrt(p.n, plan.s_r));
        let mut step = identity_step(p.name.clone(), (v, r), table);
        step.qa = Coef::Const(0);
        step.b = Some(Operand {
            tensor: q,
            index: None,
        });
        step.qm = Coef::Const(1);
        step.qb = Coef::Const(plan.c_eps);
        step.shift = plan.s;
        self.g.ops.push(QOp::Elementwise(step));
        Ok((band, r))
    }

    /// Step 3: `c' = ±c·2^(E−e)` (the sign of each column's `γ`), then `round(c'·R / 2^s1)`.
    fn normalised(
        &mut self,
        p: &PendingNorm,
        (c, band, r): (TensorId, TensorId, TensorId),
        gamma: &[f64],
        s1: u32,
    ) -> Result<TensorId, ImportError> {
        let (rows, n) = (p.rows(), p.n);
        let per_row = || Some((0..rows * n).map(|e| (e / n) as u32).collect());
        let mut element_tensor = |what: &str| {
            self.tensor(
                &format!("{} ({what})", p.name),
                p.x.shape.clone(),
                TensorKind::Activation,
                None,
            )
        };
        let (scaled, z) = (
            element_tensor("scaled deviations")?,
            element_tensor("normalised")?,
        );
        let signs: Vec<i64> = gamma
            .iter()
            .map(|&g| if g < 0.0 { -1 } else { 1 })
            .collect();
        let mut step = identity_step(p.name.clone(), (c, scaled), 0);
        step.qa = Coef::Const(0);
        step.b = Some(Operand {
            tensor: band,
            index: per_row(),
        });
        step.qm = match signs.iter().all(|&s| s == 1) {
            true => Coef::Const(1),
            false => Coef::Each(signs.repeat(rows)),
        };
        self.g.ops.push(QOp::Elementwise(step));
        let mut step = identity_step(p.name.clone(), (scaled, z), 0);
        step.qa = Coef::Const(0);
        step.b = Some(Operand {
            tensor: r,
            index: per_row(),
        });
        step.qm = Coef::Const(1);
        step.shift = s1;
        self.g.ops.push(QOp::Elementwise(step));
        Ok(z)
    }
}

/// An initializer's DequantizeLinear, element by element, in f32 (per tensor, or per channel
/// along `p.axis`); `None` when the scales are neither one nor one per element of the axis.
fn dequantized(c: &Const, p: &QParams) -> Option<Vec<f64>> {
    let channels = p.scales.len();
    let inner: usize = match p.axis {
        Some(a) if c.t.shape.get(a) == Some(&channels) => c.t.shape.iter().skip(a + 1).product(),
        _ if channels == 1 => 1,
        _ => return None,
    };
    let values = (c.t.data.iter().enumerate())
        .map(|(e, &q)| {
            let ch = (e / inner.max(1)) % channels;
            f64::from((q as i64 - p.zp(ch)) as f32 * p.scale(ch))
        })
        .collect();
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_argument_lands_in_a_band_below_the_table_and_z_stays_an_activation() {
        // The shared layernorm: rows of 10 int8 values at scale 0.016, ε = 0.
        let plan = Plan::new(10, 255, 0.01605, 0.0, 13).unwrap();
        assert_eq!(plan.bits, 14, "{plan:?}");
        let half = 1i64 << 13;
        // Every W ≤ n³·span²/4 (its band from the coarse argument): round(W / 4^e) below
        // 2^(B−1), and no coarser band than needed. W's tried: every 97th, and the largest.
        let top = 1000 * 255 * 255 / 4;
        let t = 1i64 << plan.t;
        for w in (0..=top).step_by(97).chain([top]) {
            let xc = (w + t / 2) / t;
            let e = plan.e_top - plan.bands[xc as usize].trailing_zeros();
            let p = 1i64 << (2 * e);
            let x = (w + p / 2) / p;
            assert!(x < half, "W = {w}: x = {x} in band {e}");
            // The finest band whose `x` fits is at most one finer (the coarse argument's
            // uncertainty), and small rows are exact.
            assert!(
                e == 0 || (w + p / 8) / (p / 4) >= half / 2,
                "W = {w}: band {e}"
            );
            if w < 1 << 11 {
                assert_eq!((e, x), (0, w));
            }
        }
        assert!(plan.z_top < half && plan.z_top >= half / 4, "{plan:?}");
        assert!(rsqrt(10, plan.s_r).check_image(plan.bits).is_ok());
        // ε in V's units: 1e-5·1000 / 0.01² = 100.
        assert_eq!(Plan::new(10, 255, 0.01, 1e-5, 9).unwrap().c_eps, 100);
        assert!(Plan::new(10, 255, 1e-30, 1.0, 9).is_err());
        // Rows of 64 need wider arguments; rows of 2048 more than 24 bits.
        assert!(Plan::new(64, 255, 0.05, 1e-5, 9).unwrap().bits > 14);
        assert!(Plan::new(2048, 255, 0.05, 1e-5, 9).is_err());
    }

    #[test]
    fn per_axis_constants_are_dequantized_by_their_channel() {
        let c = Const {
            t: crate::tensor::Tensor::float(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
            elem: 3,
        };
        let p = QParams {
            scales: vec![0.5, 0.25],
            zps: vec![0, 1],
            range: (-128, 127),
            axis: Some(0),
        };
        assert_eq!(dequantized(&c, &p), Some(vec![0.5, 1.0, 0.5, 0.75]));
        let three = QParams {
            scales: vec![0.5, 0.25, 1.0],
            zps: vec![0, 1, 0],
            ..p
        };
        assert_eq!(dequantized(&c, &three), None);
    }
}
