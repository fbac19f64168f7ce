//! Max pools of int8 values and global average pools (QLinearGlobalAveragePool, DQ →
//! GlobalAveragePool → Q).

use super::*;

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
        let channels_last = Attrs::new(np, name)
            .int("channels_last")
            .map_err(|e| ImportError::at(name, e.to_string()))?
            .unwrap_or(0);
        if channels_last != 0 {
            return Err(ImportError::at(
                name,
                "channels_last QLinearGlobalAveragePool is not imported",
            ));
        }
        let x = Act {
            q: self.params(np, (1, 2), name)?,
            ..self.act(np, 0, name)?
        };
        let y = self.params(np, (3, 4), name)?;
        self.global_average(name, &x, &y, &output(np, name)?)
            .map(Val::Q)
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
        let acc = Accumulated {
            id: acc,
            shape,
            inner: c,
            offsets: vec![offset; c],
        };
        self.requantize(name, acc, &[rule], y, out)
    }
}
