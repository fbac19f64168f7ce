//! Dynamic quantization, as ONNX Runtime's `quantize_dynamic` writes it: DynamicQuantizeLinear
//! of a float activation, MatMulInteger of the uint8 result by constant int8 weights, then the
//! float ops around them (Cast, the product of the two scales, Mul, Add), and DequantizeLinear
//! of gathered int8 embeddings. The float ops are the float front end's; this file lowers the
//! three quantization ops into existing families, every step with exactly one witness.
//!
//! DynamicQuantizeLinear of `x` (at scale `2^-f`, integers `X`), ONNX's definition being
//! `s = (max(x, 0) - min(x, 0)) / 255`, `z = round(-min(x, 0) / s)`,
//! `y = clamp(round(x / s) + z, 0, 255)`:
//!
//! 1. `hi = relu(max X)`, `lo = relu(max -X)`: max pools over the whole tensor (the max chip pins
//!    the maxima), so `R = hi + lo` is the range in integers and `x / s = 255·X / R`;
//! 2. a normalising multiplier `P = RECIP[M]` (`round(2^(B-2) / M)`) of `M = max(hi, lo)`, so
//!    that `X·P`, `hi·P`, `lo·P` stay activations and `N = round((hi·P + lo·P) / 2)` lies in
//!    `[2^(B-4), 2^(B-1))` whatever the input's range (the quotient does not depend on `P`);
//! 3. `V = RECIP[N]` (`round(2^(2B-6) / N)`, at least `2^(B-5)`: relative error `2^-(B-4)`),
//!    a table never interpolated between knots (so these graphs keep whole tables: a quotient
//!    interpolated on coarse limbs is off by levels);
//! 4. `u = round(X·P·V / 2^(B-3))` (`≈ 2^(B-2)·X / R`), `Q = round(255·u / 2^(B-2))`
//!    (`≈ round(x / s)`), the same two steps for `z` from `lo·P` (clamped to `[0, 255]`), and
//!    `y = clamp(Q + z, 0, 255)`;
//! 5. `s` itself, `round(c·(hi + lo) / 2^B)` with `c = round(2^(σ-f+B) / 255)`, at the scale `σ`
//!    calibrated for it, or `f + 6` where that is finer (it holds every range).
//!
//! The quotients are ONNX's up to the reciprocal's and the input's own precision (a few
//! hundredths of a level at 16 bits): an element whose `x / s` lies that close to a half may
//! take the neighbouring integer (ONNX Runtime computes in f32, whose roundings differ again).
//! All tables are fixed and every rounding's remainder is range-checked, so the prover has no
//! choice; an all-zero input gives `y = 0`, `z = 0`, `s = 0` (ONNX Runtime: `s = 1`, which
//! multiplies only zeros).
//!
//! MatMulInteger `(A - a_zp)·(B - b_zp)` with `A` computed integers and `B` constant: a
//! constant-weight linear map of `A - a_zp` with the integer weights `B - b_zp` (per column),
//! whose exact accumulator is the int32 result; the Cast to float and the Mul by the scales that
//! follow rescale it as any accumulator.

use super::conv::Conv;
use super::linear::batched;
use super::{input, shape_err, OnnxOp};
use crate::proto::Attrs;
use crate::quantize::{Lin, NewTensor, QRef, QuantCtx};
use crate::tensor::Tensor;
use crate::FrontendError;
use std::any::Any;
use zkinfer_circuits::graph::{
    Coef, FnKind, Geometry, MaxOp, Operand, QOp, TensorId, TensorKind, WeightSet,
};

/// The fewest activation bits the DynamicQuantizeLinear lowering takes: its input must resolve
/// a level (`x / s` moves by `127.5 / R` per half step of `x`, `R` its range in steps), and
/// the uint8 quotients keep ONNX's values but for ties only from about 14 bits (at 11, the
/// shared 1l_mlp's are up to two levels off).
const MIN_BITS: u32 = 14;

/// DynamicQuantizeLinear (opset 11): uint8 outputs with a scale and zero point computed from
/// the input's range.
#[derive(Debug)]
pub struct DynamicQuantize;

impl OnnxOp for DynamicQuantize {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let (y, s, z) = dynamic_quantize(&x.data);
        Ok(vec![
            Tensor::int(x.shape.clone(), y),
            Tensor::float(vec![], vec![s]),
            Tensor::int(vec![], vec![z]),
        ])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        if q.bits < MIN_BITS {
            return Err(q.err(
                node,
                format!("DynamicQuantizeLinear needs at least {MIN_BITS}-bit activations"),
            ));
        }
        let outs = q.node(node).outputs.clone();
        let [y_out, s_out, z_out] = outs[..] else {
            return Err(q.err(node, "DynamicQuantizeLinear has three outputs"));
        };
        let st = Steps::new(q, node)?;
        let (hi, lo) = st.extremes(q);
        let (p, v, lo_p) = st.normaliser(q, (hi, lo))?;
        let xp = st.emit(q, ("x·P", 0), (st.x, Some((p.id, true))), product(), 0);
        let quotient = st.divide(q, "x/s", (xp, Some((v.id, true))), FnKind::Identity);
        let zero = st.divide(q, "zero point", (lo_p, Some((v.id, false))), UINT8);
        let y = st.clamp(q, "y", (quotient, zero));
        let scale = st.scale(q, s_out, (hi, lo))?;
        q.bind(y_out, y);
        q.bind(s_out, scale);
        q.bind(z_out, zero);
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// ONNX Runtime's DynamicQuantizeLinear in f32: `(y, scale, zero point)`.
fn dynamic_quantize(x: &[f64]) -> (Vec<f64>, f64, f64) {
    let (lo, hi) = x.iter().fold((0f32, 0f32), |(lo, hi), &v| {
        (lo.min(v as f32), hi.max(v as f32))
    });
    let s = if hi == lo { 1.0 } else { (hi - lo) / 255.0 };
    let z = (-lo / s).clamp(0.0, 255.0).round_ties_even();
    let y = x
        .iter()
        .map(|&v| ((v as f32 / s).round_ties_even() + z).clamp(0.0, 255.0) as f64)
        .collect();
    (y, s as f64, z as f64)
}

/// The uint8 range, where the quantized values and the zero point are clamped.
const UINT8: FnKind = FnKind::Clip { lo: 0, hi: 255 };

/// `a·b`.
fn product() -> Lin {
    Lin {
        qm: Coef::Const(1),
        ..Lin::default()
    }
}

/// The steps of one DynamicQuantizeLinear's lowering: its node, input and output's name.
struct Steps {
    node: usize,
    op: String,
    name: String,
    x: QRef,
    bits: u32,
}

impl Steps {
    fn new(q: &QuantCtx<'_>, node: usize) -> Result<Self, FrontendError> {
        let n = q.node(node);
        let name = n
            .outputs
            .first()
            .map(|&t| q.model.tensors[t].name.clone())
            .unwrap_or_else(|| n.name.clone());
        Ok(Steps {
            node,
            op: n.name.clone(),
            name,
            x: q.act_input(node, 0)?,
            bits: q.bits,
        })
    }

    /// Appends `round(lin / 2^shift)` (see [`Self::emit_fn`]).
    fn emit(
        &self,
        q: &mut QuantCtx<'_>,
        what: (&str, i32),
        operands: (QRef, Option<(TensorId, bool)>),
        lin: Lin,
        shift: u32,
    ) -> QRef {
        self.emit_fn(q, what, operands, lin, (shift, FnKind::Identity))
    }

    /// Appends `func(round(lin / 2^shift))` as the tensor `what.0` (at scale `what.1`) of the
    /// shape of operand `a`; operand `b` is read whole or, when flagged, broadcast from a
    /// scalar.
    fn emit_fn(
        &self,
        q: &mut QuantCtx<'_>,
        (what, scale): (&str, i32),
        (a, b): (QRef, Option<(TensorId, bool)>),
        lin: Lin,
        (shift, func): (u32, FnKind),
    ) -> QRef {
        let shape = q.graph.tensors[a.id].shape.clone();
        let len: usize = shape.iter().product();
        let b = b.map(|(tensor, broadcast)| Operand {
            tensor,
            index: broadcast.then(|| vec![0; len]),
        });
        let name = format!("{} ({what})", self.name);
        let a = Some(Operand {
            tensor: a.id,
            index: None,
        });
        q.emit(
            self.op.clone(),
            NewTensor {
                name: &name,
                shape,
                scale,
            },
            Lin { a, b, ..lin },
            shift,
            func,
        )
    }

    /// The largest element of `t`, a scalar (shape `[]`, as DynamicQuantizeLinear's scale and
    /// zero point, which derive from it).
    fn max_of(&self, q: &mut QuantCtx<'_>, t: QRef, what: &str) -> QRef {
        let n = q.graph.tensors[t.id].len();
        let name = format!("{} ({what})", self.name);
        let id = q.new_tensor(&name, Vec::new(), t.scale, TensorKind::Activation);
        q.push(QOp::MaxPool(MaxOp::row_maxima(
            &self.op,
            (t.id, id),
            (1, n),
        )));
        QRef { id, scale: t.scale }
    }

    /// Step 1: `hi = relu(max X)` and `lo = relu(max -X)`.
    fn extremes(&self, q: &mut QuantCtx<'_>) -> (QRef, QRef) {
        let (x, f) = (self.x, self.x.scale);
        let negate = Lin {
            qa: Coef::Const(-1),
            ..Lin::default()
        };
        let neg = self.emit(q, ("-x", f), (x, None), negate, 0);
        let (hi, lo) = (self.max_of(q, x, "max"), self.max_of(q, neg, "max of -x"));
        let relu = (0, FnKind::Relu);
        let hi = self.emit_fn(q, ("max(x, 0)", f), (hi, None), Lin::of(hi), relu.clone());
        let lo = self.emit_fn(q, ("-min(x, 0)", f), (lo, None), Lin::of(lo), relu);
        (hi, lo)
    }

    /// `RECIP` from `in_scale` to `2^-(B-2)`, checked over its domain; `exact`, never
    /// interpolated.
    fn recip(&self, q: &QuantCtx<'_>, in_scale: i32, exact: bool) -> Result<FnKind, FrontendError> {
        let f = FnKind::Recip {
            in_scale,
            out_scale: self.bits as i32 - 2,
            exact,
        };
        f.check_image(self.bits)
            .map_err(|e| q.err(self.node, e.to_string()))?;
        Ok(f)
    }

    /// Steps 2 and 3: `P = RECIP[max(hi, lo)]`, `N = round((hi·P + lo·P) / 2)` and
    /// `V = RECIP[N]`; returns `(P, V, lo·P)`.
    fn normaliser(
        &self,
        q: &mut QuantCtx<'_>,
        (hi, lo): (QRef, QRef),
    ) -> Result<(QRef, QRef, QRef), FrontendError> {
        let f = self.x.scale;
        let minus = Lin {
            qa: Coef::Const(1),
            qb: Coef::Const(-1),
            ..Lin::default()
        };
        let plus = Lin {
            qa: Coef::Const(1),
            qb: Coef::Const(1),
            ..Lin::default()
        };
        let excess = (0, FnKind::Relu);
        let over = self.emit_fn(
            q,
            ("excess of -min", f),
            (lo, Some((hi.id, false))),
            minus,
            excess,
        );
        let m = self.emit(
            q,
            ("max |x|", f),
            (hi, Some((over.id, false))),
            plus.clone(),
            0,
        );
        let p_fn = (0, self.recip(q, 0, false)?);
        let p = self.emit_fn(q, ("P", 0), (m, None), Lin::of(m), p_fn);
        let hi_p = self.emit(
            q,
            ("max(x, 0)·P", f),
            (hi, Some((p.id, false))),
            product(),
            0,
        );
        let lo_p = self.emit(
            q,
            ("-min(x, 0)·P", f),
            (lo, Some((p.id, false))),
            product(),
            0,
        );
        let n = self.emit(q, ("N", f - 1), (hi_p, Some((lo_p.id, false))), plus, 1);
        let v_fn = (0, self.recip(q, self.bits as i32 - 4, true)?);
        let v = self.emit_fn(q, ("1/N", 0), (n, None), Lin::of(n), v_fn);
        Ok((p, v, lo_p))
    }

    /// Step 4: `func(round(255·round(t·V / 2^(B-3)) / 2^(B-2)))` for `t·P` and the
    /// reciprocal `V` in `operands`.
    fn divide(
        &self,
        q: &mut QuantCtx<'_>,
        what: &str,
        operands: (QRef, Option<(TensorId, bool)>),
        func: FnKind,
    ) -> QRef {
        let b = self.bits;
        let scaled = format!("{what}·2^(B-2)/255");
        let u = self.emit(q, (&scaled, 0), operands, product(), b - 3);
        let times = Lin {
            qa: Coef::Const(255),
            ..Lin::default()
        };
        self.emit_fn(q, (what, 0), (u, None), times, (b - 2, func))
    }

    /// `y = clamp(Q + z, 0, 255)`, `z` broadcast.
    fn clamp(&self, q: &mut QuantCtx<'_>, what: &str, (quotient, zero): (QRef, QRef)) -> QRef {
        let sum = Lin {
            qa: Coef::Const(1),
            qb: Coef::Const(1),
            ..Lin::default()
        };
        let operands = (quotient, Some((zero.id, true)));
        self.emit_fn(q, (what, 0), operands, sum, (0, UINT8))
    }

    /// Step 5: the scale `s = round(c·(hi + lo) / 2^B)` at the scale calibrated for the ONNX
    /// output `out`.
    fn scale(
        &self,
        q: &mut QuantCtx<'_>,
        out: usize,
        (hi, lo): (QRef, QRef),
    ) -> Result<QRef, FrontendError> {
        // `σ = f + 6` holds every range (`(hi + lo)·2^6 / 255 < 2^(B-2)`); a finer calibrated
        // scale keeps more bits (a dead input calibrates `s` to ONNX Runtime's 1: not finer).
        let sigma = q.scale_for(out).max(self.x.scale + 6);
        let c = q.fixed(
            self.node,
            1.0 / 255.0,
            sigma - self.x.scale + self.bits as i32,
        )?;
        let lin = Lin {
            qa: Coef::Const(c),
            qb: Coef::Const(c),
            ..Lin::default()
        };
        Ok(self.emit(
            q,
            ("scale", sigma),
            (hi, Some((lo.id, false))),
            lin,
            self.bits,
        ))
    }
}

/// MatMulInteger: `(A - a_zero_point)·(B - b_zero_point)` in int32.
#[derive(Debug)]
pub struct MatMulInteger;

/// A zero point input (`i`) as one value per `n` elements along its axis (a scalar repeated).
fn zero_points(
    node: &str,
    inputs: &[Option<&Tensor>],
    i: usize,
    n: usize,
) -> Result<Vec<f64>, FrontendError> {
    match inputs.get(i).copied().flatten() {
        None => Ok(vec![0.0; n]),
        Some(z) if z.len() == 1 => Ok(vec![z.data[0]; n]),
        Some(z) if z.len() == n && z.rank() == 1 => Ok(z.data.clone()),
        Some(z) => Err(shape_err(
            node,
            format!(
                "zero point #{i} of shape {:?} for {n} rows/columns",
                z.shape
            ),
        )),
    }
}

impl OnnxOp for MatMulInteger {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (a, b) = (input(node, inputs, 0)?, input(node, inputs, 1)?);
        let g = batched(node, &a.shape, &b.shape)?;
        let (za, zb) = (
            zero_points(node, inputs, 2, g.i)?,
            zero_points(node, inputs, 3, g.j)?,
        );
        // A's rows are its second-to-last axis (a vector A is one row); B's columns its last.
        let a_rows = if a.rank() >= 2 { g.i } else { 1 };
        let ac: Vec<f64> = (a.data.iter().enumerate())
            .map(|(e, v)| v - za[(e / g.k) % a_rows])
            .collect();
        let bc: Vec<f64> = (b.data.iter().enumerate())
            .map(|(e, v)| v - zb[e % g.j])
            .collect();
        let data = super::linear::float_matmul(&g, &ac, &bc);
        Ok(vec![Tensor::int(g.out_shape, data)])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let (Some(ai), Some(bi)) = (q.input_id(node, 0), q.input_id(node, 1)) else {
            return Err(q.err(node, "MatMulInteger needs two inputs"));
        };
        let b = q
            .const_input(node, 1)
            .ok_or_else(|| q.err(node, "MatMulInteger needs constant weights (input B)"))?;
        let g = batched(&q.node(node).name, q.shape(ai), q.shape(bi))?;
        if g.b_batched {
            return Err(q.err(
                node,
                "MatMulInteger weights with batch dimensions are not supported",
            ));
        }
        let a = centred(q, node)?;
        let zb = match q.input_id(node, 3) {
            None => vec![0.0; g.j],
            Some(_) => {
                let z = q
                    .const_input(node, 3)
                    .ok_or_else(|| q.err(node, "b_zero_point must be a constant"))?;
                zero_points(&q.node(node).name, &[Some(z)], 0, g.j)?
            }
        };
        // W[c][t] = B[t][c] - zb[c], one group per row of A (all batches).
        let w: Vec<i64> = (0..g.j)
            .flat_map(|c| (0..g.k).map(move |t| (c, t)))
            .map(|(c, t)| (b.data[t * g.j + c] - zb[c]) as i64)
            .collect();
        let set = WeightSet {
            m: g.j,
            k: g.k,
            w,
            b: vec![0; g.j],
        };
        let geometry = Geometry::Dense {
            outer: 1,
            inner: g.batches.len() * g.i,
            xs: [0, g.k, 1],
            ys: [0, g.j, 1],
            sets: None,
        };
        let out = q.node(node).outputs[0];
        q.integer_linear(node, a, out, vec![set], geometry);
        Ok(())
    }

    fn reads_integers(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `A - a_zero_point` of a MatMulInteger, for a computed integer `A` and a scalar zero point,
/// constant or computed (a DynamicQuantizeLinear's).
fn centred(q: &mut QuantCtx<'_>, node: usize) -> Result<QRef, FrontendError> {
    let a = q.act_input(node, 0)?;
    if a.scale != 0 {
        return Err(q.err(
            node,
            "MatMulInteger's input A must be integers (a DynamicQuantizeLinear's output)",
        ));
    }
    let Some(zi) = q.input_id(node, 2) else {
        return Ok(a);
    };
    if q.shape(zi).iter().product::<usize>() != 1 {
        return Err(q.err(
            node,
            "a per-row a_zero_point is not supported (a scalar is)",
        ));
    }
    let lin = match (q.const_input(node, 2), q.quantized(zi)) {
        (Some(c), _) => Lin {
            qc: Coef::Const(-(c.data[0] as i64)),
            ..Lin::of(a)
        },
        (None, Some(z)) if z.scale == 0 => Lin {
            b: Some(Operand {
                tensor: z.id,
                index: Some(vec![0; q.graph.tensors[a.id].len()]),
            }),
            qb: Coef::Const(-1),
            ..Lin::of(a)
        },
        _ => return Err(q.err(node, "a_zero_point must be a constant or an integer tensor")),
    };
    let name = format!("{} - zero point", q.graph.tensors[a.id].name);
    let shape = q.graph.tensors[a.id].shape.clone();
    let op = q.node(node).name.clone();
    Ok(q.emit(
        op,
        NewTensor {
            name: &name,
            shape,
            scale: 0,
        },
        lin,
        0,
        FnKind::Identity,
    ))
}

/// ConvInteger: `conv(x - x_zero_point, w - w_zero_point)` in int32 (the padding reads the
/// zero point, i.e. centred zeros), `w_zero_point` per tensor or per output channel.
#[derive(Debug)]
pub struct ConvInteger {
    conv: Conv,
}

/// `w - w_zero_point` per output channel `m` of a constant weight (`m` blocks).
fn centred_weights(
    node: &str,
    w: &Tensor,
    zero: Option<&Tensor>,
    m: usize,
) -> Result<Vec<f64>, FrontendError> {
    let per = w.len() / m.max(1);
    let z = zero_points(node, &[zero], 0, m)?;
    Ok((w.data.iter().enumerate())
        .map(|(e, v)| v - z[e / per.max(1)])
        .collect())
}

impl OnnxOp for ConvInteger {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let (x, w) = (input(node, inputs, 0)?, input(node, inputs, 1)?);
        let zx = zero_points(node, inputs, 2, 1)?[0];
        let m = w.shape.first().copied().unwrap_or(0);
        let xc = Tensor::float(x.shape.clone(), x.data.iter().map(|v| v - zx).collect());
        let wc = Tensor::float(
            w.shape.clone(),
            centred_weights(node, w, inputs.get(3).copied().flatten(), m)?,
        );
        let y = self.conv.eval(node, &[Some(&xc), Some(&wc)])?;
        Ok(y.into_iter()
            .map(|t| Tensor::int(t.shape, t.data))
            .collect())
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let (Some(xi), Some(w)) = (q.input_id(node, 0), q.const_input(node, 1)) else {
            return Err(q.err(node, "ConvInteger needs constant weights (input w)"));
        };
        if q.input_id(node, 3).is_some() && q.const_input(node, 3).is_none() {
            return Err(q.err(node, "w_zero_point must be a constant"));
        }
        let name = q.node(node).name.clone();
        let (geometry, groups) = self.conv.geometry(&name, q.shape(xi), &w.shape)?;
        let m = w.shape[0];
        let wc = centred_weights(&name, w, q.const_input(node, 3), m)?;
        let x = centred(q, node)?;
        let (per, k) = (m / groups.max(1), w.len() / m.max(1));
        let sets = (0..groups)
            .map(|i| WeightSet {
                m: per,
                k,
                w: wc[i * per * k..(i + 1) * per * k]
                    .iter()
                    .map(|&v| v as i64)
                    .collect(),
                b: vec![0; per],
            })
            .collect();
        let out = q.node(node).outputs[0];
        q.integer_linear(node, x, out, sets, geometry);
        Ok(())
    }

    fn reads_integers(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// DequantizeLinear in a float model (dynamic quantization's int8 embeddings): `(x - zp)·s`,
/// per tensor on computed tensors, per axis on constants (folded).
#[derive(Debug)]
pub struct Dequantize {
    axis: i64,
}

impl Dequantize {
    /// A per-tensor or per-axis parameter `t`, one value per element of `x`.
    fn per_element(&self, node: &str, t: &Tensor, x: &Tensor) -> Result<Vec<f64>, FrontendError> {
        if t.len() == 1 {
            return Ok(vec![t.data[0]; x.len()]);
        }
        let a = crate::tensor::axis(self.axis, x.rank(), node)?;
        if t.rank() != 1 || t.len() != x.shape[a] {
            return Err(shape_err(
                node,
                "per-axis parameters must have one value per slice along the axis",
            ));
        }
        let inner: usize = x.shape[a + 1..].iter().product();
        let n = x.shape[a];
        Ok((0..x.len()).map(|e| t.data[(e / inner) % n]).collect())
    }
}

impl OnnxOp for Dequantize {
    fn eval(&self, node: &str, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let x = input(node, inputs, 0)?;
        let s = input(node, inputs, 1)?;
        let scale = self.per_element(node, s, x)?;
        let zero = match inputs.get(2).copied().flatten() {
            Some(z) => self.per_element(node, z, x)?,
            None => vec![0.0; x.len()],
        };
        let data = (x.data.iter().zip(scale.iter().zip(&zero)))
            .map(|(v, (s, z))| ((v - z) as f32 * *s as f32) as f64)
            .collect();
        Ok(vec![Tensor::float(x.shape.clone(), data)])
    }

    fn quantize(&self, q: &mut QuantCtx<'_>, node: usize) -> Result<(), FrontendError> {
        let x = q.act_input(node, 0)?;
        let s = q.const_input(node, 1);
        let z = match q.input_id(node, 2) {
            None => Some(0.0),
            Some(_) => q
                .const_input(node, 2)
                .filter(|z| z.len() == 1)
                .map(|z| z.data[0]),
        };
        let (Some(s), Some(z)) = (s.filter(|s| s.len() == 1).map(|s| s.data[0]), z) else {
            return Err(q.err(node, "DequantizeLinear of a computed tensor needs a constant per-tensor scale and zero point"));
        };
        let out = q.node(node).outputs[0];
        let sc = q.weight_scale(x.scale, q.scale_for(out));
        let w = q.fixed(node, s, sc)?;
        let zero = q.fixed(node, z, x.scale)?;
        let lin = Lin {
            qa: Coef::Const(w),
            qc: Coef::Const(-zero * w),
            ..Lin::of(x)
        };
        q.finish(node, lin, x.scale + sc, out)
    }

    fn reads_integers(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub fn dynamic_quantize_linear(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(DynamicQuantize))
}

pub fn matmul_integer(_: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(MatMulInteger))
}

pub fn conv_integer(a: &Attrs<'_>, opset: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    Ok(Box::new(ConvInteger {
        conv: Conv::parse(a, opset)?,
    }))
}

pub fn dequantize_linear(a: &Attrs<'_>, _: i64) -> Result<Box<dyn OnnxOp>, FrontendError> {
    if a.int("block_size")?.is_some_and(|b| b > 0) {
        return Err(a.error("block_size", "blocked quantization is not supported"));
    }
    Ok(Box::new(Dequantize {
        axis: a.int("axis")?.unwrap_or(1),
    }))
}
