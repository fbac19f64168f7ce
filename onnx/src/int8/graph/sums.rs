//! Sums of two int8 tensors, or of one and a constant (QLinearAdd, DQ → Add → Q; see `int8::add`
//! for the rule), and the operands of binary ops (products: `products`).

use super::*;
use zkinfer_circuits::graph::requant::AffineScale;

/// An operand of an int8 Add or Mul: an activation, or a constant's integers with their
/// parameters.
#[derive(Clone)]
pub(super) enum Summand {
    Act(Act),
    Const(Const, QParams),
}

/// The binary float ops between DequantizeLinear and QuantizeLinear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Binary {
    Add,
    Mul,
    MatMul,
}

/// An Add or Mul of DequantizeLinear outputs (or of one and a constant's).
pub(super) struct PendingBinary {
    pub(super) op: Binary,
    pub(super) name: String,
    pub(super) a: Act,
    pub(super) b: Summand,
}

/// A binary op's operands with the activation first (an op of two constants is not an int8
/// op).
pub(super) fn ordered(
    name: &str,
    op: Binary,
    a: Summand,
    b: Summand,
) -> Result<(Act, Summand), ImportError> {
    match (op, a, b) {
        // (A matrix product does not commute: its operands stay in place.)
        (Binary::MatMul, Summand::Act(a), b) => Ok((a, b)),
        (Binary::MatMul, ..) => Err(ImportError::at(
            name,
            "a MatMul of a constant by an int8 tensor is not imported",
        )),
        (_, Summand::Act(a), b) | (_, b, Summand::Act(a)) => Ok((a, b)),
        _ => Err(ImportError::at(
            name,
            match op {
                Binary::Add => "an Add of two constants",
                _ => "a Mul of two constants",
            },
        )),
    }
}

/// A binary op's operands, broadcast: the output shape, each output element's element of `a`
/// and of `b`, the three quantizations, and a constant `b`'s integers (per element, and
/// distinct sorted).
pub(super) struct Operands {
    pub(super) shape: Vec<usize>,
    pub(super) ia: Vec<u32>,
    pub(super) ib: Vec<u32>,
    pub(super) affine: (AffineScale, AffineScale, AffineScale),
    pub(super) consts: Option<Vec<i64>>,
    pub(super) values: Option<Vec<i64>>,
}

pub(super) fn operands(
    name: &str,
    (a, b): (&Act, &Summand),
    y: &QParams,
    what: &str,
) -> Result<Operands, ImportError> {
    let (b_shape, b_q) = match b {
        Summand::Act(b) => (b.shape.clone(), &b.q),
        Summand::Const(c, q) => (c.t.shape.clone(), q),
    };
    let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
    let shape = crate::tensor::broadcast_shape(&a.shape, &b_shape, name).map_err(fe)?;
    let (ia, ib) = (
        crate::tensor::broadcast_index(&a.shape, &shape),
        crate::tensor::broadcast_index(&b_shape, &shape),
    );
    let affine = (a.q.affine(name)?, b_q.affine(name)?, y.affine(name)?);
    let consts: Option<Vec<i64>> = match b {
        Summand::Const(c, q) => {
            let v = ints(c, name, what)?;
            if v.iter().any(|x| !(q.range.0..=q.range.1).contains(x)) {
                return Err(ImportError::at(
                    name,
                    format!("{what} has values outside its zero point's type"),
                ));
            }
            Some(v)
        }
        Summand::Act(_) => None,
    };
    let mut values = consts.clone();
    if let Some(v) = values.as_mut() {
        v.sort_unstable();
        v.dedup();
    }
    Ok(Operands {
        shape,
        ia,
        ib,
        affine,
        consts,
        values,
    })
}

impl Importer {
    /// Input `i` of an Add: an activation (as `dq` says: int8 or its DequantizeLinear) or a
    /// constant with its parameters (for QLinearAdd at `params`).
    pub(super) fn summand(
        &self,
        np: &pb::NodeProto,
        (i, dq, params): (usize, bool, Option<(usize, usize)>),
        name: &str,
    ) -> Result<Summand, ImportError> {
        if let Some(c) = arg(np, i).and_then(|n| self.consts.get(n)) {
            let q = match params {
                Some(p) => self.params(np, p, name)?,
                None => {
                    return Err(ImportError::at(
                        name,
                        format!("input #{i} is a float constant"),
                    ))
                }
            };
            return Ok(Summand::Const(c.clone(), q));
        }
        if let (true, Val::DqConst(c, q)) = (dq, self.val(np, i, name)?) {
            return Ok(Summand::Const(c.clone(), q.clone()));
        }
        let mut a = self.act_of(np, (i, dq), name)?;
        if params.is_some() {
            a.q = self.declared(np, i, &a, name)?; // ONNX Runtime computes with the declared ones
        }
        Ok(Summand::Act(a))
    }

    /// An Add or Mul of two DequantizeLinear outputs (or of one and a constant's), waiting
    /// for its QuantizeLinear.
    pub(super) fn qdq_binary(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
        op: Binary,
    ) -> Result<Val, ImportError> {
        let (a, b) = (
            self.summand(np, (0, true, None), name)?,
            self.summand(np, (1, true, None), name)?,
        );
        let (a, b) = ordered(name, op, a, b)?;
        Ok(Val::PendingBinary(Box::new(PendingBinary {
            op,
            name: name.to_string(),
            a,
            b,
        })))
    }

    /// A QLinearAdd's or QLinearMul's operands: `a` (0, its parameters at 1, 2), `b` (3, its
    /// at 4, 5), and the output's parameters (6, 7).
    pub(super) fn qlinear_binary(
        &self,
        np: &pb::NodeProto,
        name: &str,
        op: Binary,
    ) -> Result<(Act, Summand, QParams), ImportError> {
        let a = self.summand(np, (0, false, Some((1, 2))), name)?;
        let b = self.summand(np, (3, false, Some((4, 5))), name)?;
        let y = self.params(np, (6, 7), name)?;
        let (a, b) = ordered(name, op, a, b)?;
        Ok((a, b, y))
    }

    pub(super) fn qlinear_add(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let (a, b, y) = self.qlinear_binary(np, name, Binary::Add)?;
        self.add(name, (&a, &b), &y, &output(np, name)?).map(Val::Q)
    }

    /// `Q_y(DQ_a(a) + DQ_b(b))` with numpy broadcasting, proven as `add::fit`'s rule: the two
    /// operands side by side (a view), `M_a·a + M_b·b` (a linear op), requantized.
    pub(super) fn add(
        &mut self,
        name: &str,
        (a, b): (&Act, &Summand),
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let ops = operands(name, (a, b), y, "an Add's constant")?;
        let (aa, ab, ay) = &ops.affine;
        let r = crate::int8::add::fit(aa, ab, ay, ops.values.as_deref())
            .ok_or_else(|| ImportError::at(name, "no integer rule for this Add"))?;
        let rule = ChannelRule {
            rule: r.rule,
            exact: r.mismatches == 0,
            bound: r.ma * (aa.range().1 - aa.range().0) + r.mb * (ab.range().1 - ab.range().0),
        };
        let (za, zb) = (aa.zero_point(), ab.zero_point());
        if let Some(pair) = self.same_source(a, b, &ops) {
            let acc = move |p: i64, q: i64| r.ma * (p - za) + r.mb * (q - zb);
            return self.pairwise_table(name, pair, (rule, acc), y, out);
        }
        if let Some(&[c]) = ops.values.as_deref() {
            let acc = |q: i64| r.ma * (q - za) + r.mb * (c - zb);
            return self.constant_operand_table(name, (a, &ops), (rule, acc), y, out);
        }
        let (ia, ib, n) = (&ops.ia, &ops.ib, ops.ia.len());
        // The operands side by side: `[a; b]` (or `a` alone beside a constant).
        let mut map: Vec<(u16, u32)> = ia.iter().map(|&e| (0, e)).collect();
        let mut inputs = vec![a.clone()];
        if let Summand::Act(b) = b {
            map.extend(ib.iter().map(|&e| (1, e)));
            inputs.push(b.clone());
        }
        let k = inputs.len();
        // (No int8 scale of its own: the two operands may have different ones.)
        let side = self.tensor(
            &format!("{name} (operands)"),
            vec![k, n],
            TensorKind::Activation,
            None,
        )?;
        self.g.ops.push(QOp::View(ViewOp {
            name: format!("{name} operands"),
            inputs: inputs.iter().map(|a| a.id).collect(),
            output: side,
            map,
        }));
        let acc = self.tensor(
            &format!("{name} (sum)"),
            ops.shape.clone(),
            TensorKind::Accumulator,
            None,
        )?;
        let w = if k == 2 { vec![r.ma, r.mb] } else { vec![r.ma] };
        self.g.ops.push(QOp::Linear(LinearOp {
            name: name.to_string(),
            input: side,
            output: acc,
            sets: vec![WeightSet {
                m: 1,
                k,
                w,
                b: vec![0],
            }],
            geometry: Geometry::Dense {
                outer: 1,
                inner: n,
                xs: [0, 1, n],
                ys: [0, 1, 1],
                sets: None,
            },
        }));
        let offsets: Vec<i64> = match &ops.consts {
            None => vec![-(r.ma * za + r.mb * zb); n],
            Some(c) => ib
                .iter()
                .map(|&e| r.mb * (c[e as usize] - zb) - r.ma * za)
                .collect(),
        };
        self.requantize_all(name, (acc, ops.shape.clone(), offsets), rule, y, out)
    }
}
