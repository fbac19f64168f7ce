//! Products of two int8 tensors, or of one and a constant (com.microsoft QLinearMul,
//! DQ → Mul → Q; see `int8::mul` for the rule), and matrix products of two int8 tensors
//! (QLinearMatMul, DQ → MatMul → Q with both operands computed: attention's `Q·Kᵀ`, `A·V`).

use super::sums::{operands, Binary, Operands, Summand};
use super::*;
use crate::int8::mul::{fit, MulForm};
use zkinfer_circuits::graph::requant::{multiplier, AffineScale};
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
        if ops.values.as_ref().is_some_and(|v| v.len() > 4096) {
            return Err(ImportError::at(
                name,
                "a Mul's constant of more than 4096 distinct values",
            ));
        }
        let (aa, ab, ay) = &ops.affine;
        let r = fit(form, (aa, ab, ay), ops.values.as_deref())
            .ok_or_else(|| ImportError::at(name, "no integer rule for this Mul"))?;
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
        if let Some(pair) = self.same_source(a, b, &ops) {
            let (za, zb) = (aa.zero_point(), ab.zero_point());
            let acc = move |p: i64, q: i64| (p - za) * (q - zb);
            return self.pairwise_table(name, pair, (rule, acc), y, out);
        }
        let (acc, offsets) = match (b, ops.values.as_deref()) {
            (Summand::Const(..), Some(&[c])) => {
                let (za, w) = (aa.zero_point(), c - ab.zero_point());
                return self.constant_operand_table(
                    name,
                    (a, &ops),
                    (rule, |q| (q - za) * w),
                    y,
                    out,
                );
            }
            (Summand::Act(b), _) => (self.product(name, (a, b), &ops)?, Vec::new()),
            (Summand::Const(..), _) => self.scaled(name, a, &ops)?,
        };
        self.requantize_all(name, (acc, ops.shape, offsets), rule, y, out)
    }

    /// QLinearMatMul of two int8 tensors (`a` at 0 with its parameters at 1, 2; `b` at 3, 4, 5;
    /// the output's at 6, 7).
    pub(super) fn qlinear_matmul_of_acts(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let (a, b) = (
            self.qlinear_act(np, 0, name)?,
            self.qlinear_act(np, 3, name)?,
        );
        let y = self.params(np, (6, 7), name)?;
        self.matmul_of_acts(name, (&a, &b), &y, &output(np, name)?)
            .map(Val::Q)
    }

    /// `Σ_t (a − z_a)(b − z_b)` over the last axis of `a` and the one before last of `b`, the
    /// leading (batch) axes broadcast as numpy does, exact (the centred operands' matrix
    /// product), requantized by ONNX Runtime's rule with `m = fl32(fl32(s_a·s_b)/s_y)`.
    pub(super) fn matmul_of_acts(
        &mut self,
        name: &str,
        (a, b): (&Act, &Act),
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let MatrixLayout {
            ikj,
            batches,
            shape,
        } = matrix_layout(name, &a.shape, &b.shape)?;
        let acc = self.centred_product(name, (a, b), (ikj, batches), &shape)?;
        let (aa, ab, ay) = (a.q.affine(name)?, b.q.affine(name)?, y.affine(out)?);
        let span =
            |s: &AffineScale| (s.range().1 - s.zero_point()).max(s.zero_point() - s.range().0);
        let bound = i64::try_from(ikj[1])
            .unwrap_or(i64::MAX)
            .saturating_mul(span(&aa))
            .saturating_mul(span(&ab));
        let rule = channel_rule(
            name,
            multiplier(aa.scale(), ab.scale(), ay.scale()),
            (ay.zero_point(), ay.range()),
            bound,
        )?;
        self.requantize_all(name, (acc, shape, Vec::new()), rule, y, out)
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
        let batches = (ops.ia.iter().zip(&ops.ib).enumerate())
            .map(|(e, (&i, &j))| [i as usize, j as usize, e])
            .collect();
        self.centred_product(name, (a, b), ([1, 1, 1], batches), &ops.shape)
    }

    /// The matrix product of the centred operands `a − z_a` and `b − z_b` in `ikj` blocks at
    /// `batches`' offsets: an accumulator of `shape`.
    fn centred_product(
        &mut self,
        name: &str,
        (a, b): (&Act, &Act),
        (ikj, batches): ([usize; 3], Vec<[usize; 3]>),
        shape: &[usize],
    ) -> Result<TensorId, ImportError> {
        let (ca, cb) = (self.centred(name, a)?, self.centred(name, b)?);
        let acc = self.tensor(
            &format!("{name} (products)"),
            shape.to_vec(),
            TensorKind::Accumulator,
            None,
        )?;
        self.g.ops.push(QOp::MatMul(MatMulOp {
            name: name.to_string(),
            a: ca,
            b: cb,
            output: acc,
            ikj,
            batches,
            a_zeros: Vec::new(),
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
    pub(super) fn broadcast(
        &mut self,
        name: &str,
        a: &Act,
        ops: &Operands,
    ) -> Result<TensorId, ImportError> {
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

/// A batched matrix product's blocks.
struct MatrixLayout {
    /// Rows, inner dimension, columns.
    ikj: [usize; 3],
    /// Per batch, the offsets of its blocks in `a`, `b` and the result.
    batches: Vec<[usize; 3]>,
    /// The result's shape.
    shape: Vec<usize>,
}

/// The layout of `a`·`b` (leading axes broadcast as numpy does).
fn matrix_layout(name: &str, a: &[usize], b: &[usize]) -> Result<MatrixLayout, ImportError> {
    let (Some((&[m, k], a_lead)), Some((&[kb, n], b_lead))) = (split_matrix(a), split_matrix(b))
    else {
        return Err(ImportError::at(
            name,
            "a MatMul of two int8 tensors needs both of rank 2 or more",
        ));
    };
    if k != kb {
        return Err(ImportError::at(
            name,
            format!("shapes {a:?} and {b:?} do not multiply"),
        ));
    }
    let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
    let lead = crate::tensor::broadcast_shape(a_lead, b_lead, name).map_err(fe)?;
    let (ia, ib) = (
        crate::tensor::broadcast_index(a_lead, &lead),
        crate::tensor::broadcast_index(b_lead, &lead),
    );
    let batches = (ia.iter().zip(&ib).enumerate())
        .map(|(c, (&i, &j))| [i as usize * m * k, j as usize * k * n, c * m * n])
        .collect();
    let mut shape = lead;
    shape.extend([m, n]);
    Ok(MatrixLayout {
        ikj: [m, k, n],
        batches,
        shape,
    })
}

/// A shape's last two axes and the ones before them.
fn split_matrix(shape: &[usize]) -> Option<(&[usize; 2], &[usize])> {
    let lead = shape.len().checked_sub(2)?;
    let (head, tail) = shape.split_at(lead);
    Some((tail.try_into().ok()?, head))
}
