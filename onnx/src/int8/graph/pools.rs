//! Max pools of int8 values, global average pools (QLinearGlobalAveragePool, DQ →
//! GlobalAveragePool → Q) and windowed ones (QLinearAveragePool, DQ → AveragePool → Q; see
//! `int8::average` for the rule).

use super::*;
use crate::int8::average::AverageForm;

impl Importer {
    // --- max pools -----------------------------------------------------------------------

    /// MaxPool of an int8 tensor (QOperator), or of its DequantizeLinear (QDQ: the result is
    /// quantized again with the same parameters, which gives back the same integers).
    pub(super) fn max_pool(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        if np.output.len() > 1 {
            return Err(ImportError::at(
                name,
                "MaxPool's Indices output is not imported",
            ));
        }
        let (x, dq) = self.int_or_dq(np, 0, name)?;
        super::dims4(&x.shape, name)?;
        let id = self.tensor(
            &output(np, name)?,
            Vec::new(),
            TensorKind::Activation,
            Some(&x.q),
        )?;
        let op = crate::ops::max_op(&Attrs::new(np, name), name, &x.shape, (x.id, id))
            .map_err(|e| ImportError::at(name, e.to_string()))?;
        let shape = vec![1, op.chw[0], op.out[0], op.out[1]];
        self.g.tensors[id].shape = shape.clone();
        self.g.ops.push(QOp::MaxPool(op));
        let act = Act { id, q: x.q, shape };
        Ok(if dq { Val::Dq(act) } else { Val::Q(act) })
    }

    // --- global average pools -----------------------------------------------------------

    /// com.microsoft QLinearGlobalAveragePool (NCHW).
    pub(super) fn qlinear_global_average(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let (x, y) = self.qlinear_pool_operands(np, name)?;
        self.global_average(name, &x, &y, &output(np, name)?)
            .map(Val::Q)
    }

    /// A com.microsoft QLinear pool's input (0, its parameters at 1, 2) and output parameters
    /// (3, 4), for NCHW tensors.
    fn qlinear_pool_operands(
        &self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<(Act, QParams), ImportError> {
        let channels_last = Attrs::new(np, name)
            .int("channels_last")
            .map_err(|e| ImportError::at(name, e.to_string()))?
            .unwrap_or(0);
        if channels_last != 0 {
            return Err(ImportError::at(
                name,
                format!("channels_last {} is not imported", np.op_type),
            ));
        }
        let x = self.qlinear_act(np, 0, name)?;
        Ok((x, self.params(np, (3, 4), name)?))
    }

    /// Each channel's mean, as ONNX Runtime's QLinearGlobalAveragePool computes it: the
    /// channel's integers summed exactly (`Σ (x − z_x)`, a linear op of weight 1), requantized
    /// with `m = fl32(s_x / fl32(s_y·N))` by ORT's usual rule (`linear::channel_rule`).
    pub(super) fn global_average(
        &mut self,
        name: &str,
        x: &Act,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let [_, c, h, w] = dims4(&x.shape, name)?;
        crate::ops::batch_of_one(name, &x.shape)
            .map_err(|e| ImportError::at(name, e.to_string()))?;
        let n = h * w;
        let (ax, ay) = (x.q.affine(name)?, y.affine(out)?);
        let shape = vec![1, c, 1, 1];
        let acc = self.tensor(
            &format!("{name} (sums)"),
            shape.clone(),
            TensorKind::Accumulator,
            None,
        )?;
        self.g
            .ops
            .push(QOp::Linear(LinearOp::row_sums(name, (x.id, acc), (c, n))));
        let zx = ax.zero_point();
        let (lo, hi) = ax.range();
        let bound = i64::try_from(n)
            .unwrap_or(i64::MAX)
            .saturating_mul((hi - zx).max(zx - lo));
        let m = ax.scale() / (ay.scale() * n as f32);
        let rule = channel_rule(name, m, (ay.zero_point(), ay.range()), bound)?;
        let offset = -zx * i64::try_from(n).unwrap_or(i64::MAX);
        self.requantize_all(name, (acc, shape, vec![offset; c]), rule, y, out)
    }

    // --- windowed average pools ---------------------------------------------------------

    /// com.microsoft QLinearAveragePool (NCHW).
    pub(super) fn qlinear_average(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let (x, y) = self.qlinear_pool_operands(np, name)?;
        let pool = self.average_window(np, name, &x)?;
        self.average(&pool, (&y, AverageForm::QLinear), &output(np, name)?)
            .map(Val::Q)
    }

    /// The window of an average pool of `x`, as a linear op's geometry, with its divisors.
    pub(super) fn average_window(
        &self,
        np: &pb::NodeProto,
        name: &str,
        x: &Act,
    ) -> Result<PendingAverage, ImportError> {
        let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
        super::dims4(&x.shape, name)?;
        let (geometry, divisors, include_pad) =
            crate::ops::average_geometry(&Attrs::new(np, name), name, &x.shape).map_err(fe)?;
        let taps = geometry.avg_window(0).0.len();
        if include_pad && divisors.iter().any(|&d| d as usize != taps) {
            return Err(ImportError::at(
                name,
                "count_include_pad with windows past the padding (ceil_mode): ONNX Runtime's divisor there is not imported",
            ));
        }
        Ok(PendingAverage {
            name: name.to_string(),
            x: x.clone(),
            geometry,
            divisors,
        })
    }

    /// The windows' means as ONNX Runtime computes them, proven as `average::fit`'s rule: the
    /// window sums times each divisor's multiplier (a linear op), requantized.
    pub(super) fn average(
        &mut self,
        p: &PendingAverage,
        (y, form): (&QParams, AverageForm),
        out: &str,
    ) -> Result<Act, ImportError> {
        let name = p.name.as_str();
        let (ax, ay) = (p.x.q.affine(name)?, y.affine(out)?);
        let r = crate::int8::average::fit(form, (&ax, &ay), &p.divisors).ok_or_else(|| {
            ImportError::at(name, "no integer rule for this AveragePool's scales")
        })?;
        let Geometry::AvgPool2d { c, out: hw, .. } = p.geometry else {
            return Err(ImportError::at(name, "an average pool without its window"));
        };
        let shape = vec![1, c, hw[0], hw[1]];
        let taps = p.geometry.avg_window(0).0.len();
        let acc = self.tensor(
            &format!("{name} (sums)"),
            shape.clone(),
            TensorKind::Accumulator,
            None,
        )?;
        let op = LinearOp {
            name: name.to_string(),
            input: p.x.id,
            output: acc,
            sets: r
                .mults
                .iter()
                .map(|&m| WeightSet {
                    m: 1,
                    k: taps,
                    w: vec![m; taps],
                    b: vec![0],
                })
                .collect(),
            geometry: p.geometry.clone(),
        };
        let n = c * hw[0] * hw[1];
        let offsets = Weights::offsets(&op, ax.zero_point(), n)
            .into_iter()
            .map(|o| o + r.offset)
            .collect();
        self.g.ops.push(QOp::Linear(op));
        let (lo, hi) = ax.range();
        let dev = (hi - ax.zero_point()).max(ax.zero_point() - lo);
        let bound = (r.mults.iter().zip(&p.divisors))
            .map(|(&m, &d)| m.saturating_mul(i64::from(d)).saturating_mul(dev))
            .max()
            .unwrap_or(0)
            .saturating_add(r.offset.abs());
        let rule = ChannelRule {
            rule: r.rule,
            exact: r.ambiguous == 0,
            bound,
        };
        self.requantize_all(name, (acc, shape, offsets), rule, y, out)
    }
}

/// An average pool's input and window, waiting for its QuantizeLinear (QDQ).
pub(super) struct PendingAverage {
    name: String,
    x: Act,
    geometry: Geometry,
    divisors: Vec<u32>,
}
