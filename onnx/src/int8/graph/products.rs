//! Products of two int8 tensors, or of one and a constant (com.microsoft QLinearMul,
//! DQ → Mul → Q; see `int8::mul` for the rule).

use super::sums::{operands, Binary, Operands, Summand};
use super::*;
use crate::int8::mul::{fit, MulForm};
use zkinfer_circuits::graph::requant::AffineScale;
use zkinfer_circuits::graph::MatMulOp;

impl Importer {
    pub(super) fn qlinear_mul(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let (a, b, y) = self.qlinear_binary(np, name, Binary::Mul)?;
        self.mul(name, (&a, &b), (&y, MulForm::QLinear), &output(np, name)?)
            .map(Val::Q)
    }

    /// `y`'s integer of the product of `a` and `b` (numpy broadcasting) as ONNX Runtime computes
    /// it in `form`, proven as `mul::fit`'s rule on `p = (a − z_a)(b − z_b)`: of two tensors,
    /// `p` is a product of the two centred operands (a matrix product of 1×1 blocks); of a
    /// tensor and a constant, a linear op with one weight per element. Then requantized.
    pub(super) fn mul(
        &mut self,
        name: &str,
        (a, b): (&Act, &Summand),
        (y, form): (&QParams, MulForm),
        out: &str,
    ) -> Result<Act, ImportError> {
        let ops = operands(name, (a, b), y, "a Mul's constant")?;
        let (aa, ab, ay) = &ops.affine;
        let r = fit(form, (aa, ab, ay), ops.values.as_deref())
            .ok_or_else(|| ImportError::at(name, "no integer rule for this Mul"))?;
        let (acc, offsets) = match b {
            Summand::Act(b) => (self.product(name, (a, b), &ops)?, Vec::new()),
            Summand::Const(..) => self.scaled(name, a, &ops)?,
        };
        let span = |s: &AffineScale, vals: Option<&[i64]>| {
            let (lo, hi) = vals.map_or(s.range(), |v| {
                (
                    v.first().copied().unwrap_or(0),
                    v.last().copied().unwrap_or(0),
                )
            });
            (lo - s.zero_point()).abs().max((hi - s.zero_point()).abs())
        };
        let rule = ChannelRule {
            rule: r.rule,
            exact: r.mismatches == 0,
            bound: span(aa, None) * span(ab, ops.values.as_deref()),
        };
        let n = ops.ia.len();
        let acc = Accumulated {
            id: acc,
            shape: ops.shape,
            inner: n,
            offsets,
        };
        self.requantize(name, acc, &[rule], y, out)
    }

    /// `x − z_x` (an activation of no int8 scale; the identity when `z_x = 0`).
    fn centred(&mut self, name: &str, x: &Act) -> Result<TensorId, ImportError> {
        let zp = x.q.affine(name)?.zero_point();
        if zp == 0 {
            return Ok(x.id);
        }
        let id = self.tensor(
            &format!("{name} ({} centred)", self.g.tensors[x.id].name),
            x.shape.clone(),
            TensorKind::Activation,
            None,
        )?;
        let mut step = identity_step(format!("{name} centring"), (x.id, id), 0);
        step.qc = Coef::Const(-zp);
        self.g.ops.push(QOp::Elementwise(step));
        Ok(id)
    }

    /// `(a − z_a)(b − z_b)` element by element.
    fn product(
        &mut self,
        name: &str,
        (a, b): (&Act, &Act),
        ops: &Operands,
    ) -> Result<TensorId, ImportError> {
        let (ca, cb) = (self.centred(name, a)?, self.centred(name, b)?);
        let acc = self.tensor(
            &format!("{name} (product)"),
            ops.shape.clone(),
            TensorKind::Accumulator,
            None,
        )?;
        self.g.ops.push(QOp::MatMul(MatMulOp {
            name: name.to_string(),
            a: ca,
            b: cb,
            output: acc,
            ikj: [1, 1, 1],
            batches: (ops.ia.iter().zip(&ops.ib).enumerate())
                .map(|(e, (&i, &j))| [i as usize, j as usize, e])
                .collect(),
        }));
        Ok(acc)
    }

    /// `(c − z_c)·a` for a constant `c` (one weight set per distinct value), and the constants
    /// `−z_a·(c − z_c)` the requantization adds.
    fn scaled(
        &mut self,
        name: &str,
        a: &Act,
        ops: &Operands,
    ) -> Result<(TensorId, Vec<i64>), ImportError> {
        let (aa, ab, _) = &ops.affine;
        let (Some(consts), Some(values)) = (&ops.consts, &ops.values) else {
            return Err(ImportError::at(name, "a Mul without its constant"));
        };
        let x = self.broadcast(name, a, ops)?;
        let w: Vec<i64> = ops
            .ib
            .iter()
            .map(|&e| consts[e as usize] - ab.zero_point())
            .collect();
        let set = |c: &i64| {
            values
                .binary_search(&(c + ab.zero_point()))
                .map_or(0, |s| s as u32)
        };
        let acc = self.tensor(
            &format!("{name} (product)"),
            ops.shape.clone(),
            TensorKind::Accumulator,
            None,
        )?;
        self.g.ops.push(QOp::Linear(LinearOp {
            name: name.to_string(),
            input: x,
            output: acc,
            sets: values
                .iter()
                .map(|&v| WeightSet {
                    m: 1,
                    k: 1,
                    w: vec![v - ab.zero_point()],
                    b: vec![0],
                })
                .collect(),
            geometry: Geometry::Dense {
                outer: 1,
                inner: w.len(),
                xs: [0, 1, 0],
                ys: [0, 1, 0],
                sets: Some(w.iter().map(set).collect()),
            },
        }));
        let offsets = w.iter().map(|&c| -aa.zero_point() * c).collect();
        Ok((acc, offsets))
    }

    /// `a` broadcast to the op's output shape (a view; `a` itself when it has that shape).
    fn broadcast(&mut self, name: &str, a: &Act, ops: &Operands) -> Result<TensorId, ImportError> {
        if a.shape == ops.shape {
            return Ok(a.id);
        }
        let id = self.tensor(
            &format!("{name} (broadcast)"),
            ops.shape.clone(),
            TensorKind::Activation,
            Some(&a.q),
        )?;
        self.g.ops.push(QOp::View(ViewOp {
            name: format!("{name} broadcast"),
            inputs: vec![a.id],
            output: id,
            map: ops.ia.iter().map(|&e| (0u16, e)).collect(),
        }));
        Ok(id)
    }
}
