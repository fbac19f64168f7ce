//! Unary float ops between DequantizeLinear and QuantizeLinear (and ONNX Runtime's QLinear lookup
//! ops) as tables over the int8 input (see `int8::unary`).

use super::sums::Operands;
use super::*;

impl Importer {
    /// A Clip's bounds: attributes `min`, `max` before opset 11, constant inputs 1 and 2 after
    /// (absent: unbounded). ONNX defines `min > max` as every element `max`, which
    /// `min(max(x, lo), hi)` gives.
    pub(super) fn clip(&self, np: &pb::NodeProto, name: &str) -> Result<Unary, ImportError> {
        let bound = |i: usize, attr: &str, dflt: f32| -> Result<f32, ImportError> {
            if self.opset < 11 {
                let a = Attrs::new(np, name)
                    .float(attr)
                    .map_err(|e| ImportError::at(name, e.to_string()))?;
                return Ok(a.map_or(dflt, |v| v as f32));
            }
            match self.opt_konst(np, i, name)? {
                None => Ok(dflt),
                Some(c) if c.t.data.len() == 1 => Ok(c.t.data[0] as f32),
                Some(_) => Err(ImportError::at(
                    name,
                    format!("Clip's {attr} must be a scalar"),
                )),
            }
        };
        let (lo, hi) = (
            bound(1, "min", f32::NEG_INFINITY)?,
            bound(2, "max", f32::INFINITY)?,
        );
        if lo.is_nan() || hi.is_nan() {
            return Err(ImportError::at(name, "Clip's bounds must be numbers"));
        }
        Ok(Unary::Clip { lo, hi })
    }

    pub(super) fn qlinear_unary(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
        f: Unary,
    ) -> Result<Val, ImportError> {
        let x = self.qlinear_act(np, 0, name)?;
        let y = self.params(np, (3, 4), name)?;
        self.table(name, &x, (f, &y), &output(np, name)?)
            .map(Val::Q)
    }

    /// `f` between `x`'s DequantizeLinear and `y`'s QuantizeLinear, as a table over `x`'s
    /// integers (the lookup also proves each is in `x`'s range).
    pub(super) fn table(
        &mut self,
        name: &str,
        x: &Act,
        (f, y): (Unary, &QParams),
        out: &str,
    ) -> Result<Act, ImportError> {
        let (ax, ay) = (x.q.affine(name)?, y.affine(name)?);
        self.tabulated(name, x, f.table(&ax, &ay), y, out)
    }

    /// The table `values` (from `lo`) applied to `x`'s integers, giving `y`'s.
    pub(super) fn tabulated(
        &mut self,
        name: &str,
        x: &Act,
        (lo, values): (i64, Vec<i64>),
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        if let Some(relabelled) = self.identity_relabel(name, x, (lo, &values), y, out)? {
            let d = self.derivation(x);
            self.derive(relabelled.id, &d.source, d.values);
            return Ok(relabelled);
        }
        // A table of a function of another tensor is a table of that one (see `derived`).
        let d = self.derivation(x);
        let (x, lo, values) = match d.then((lo, &values)) {
            Some(composed) => (d.source.clone(), d.source_lo(), composed),
            None => (x.clone(), lo, values),
        };
        let whole = lo == x.q.range.0 && values.len() as i64 == x.q.range.1 - lo + 1;
        let derived = whole.then(|| values.clone());
        self.g.functions.push(FnKind::Tabulated { lo, values });
        let func = u32::try_from(self.g.functions.len() - 1).unwrap_or(u32::MAX);
        let id = self.tensor(out, x.shape.clone(), TensorKind::Activation, Some(y))?;
        self.g.ops.push(QOp::Elementwise(identity_step(
            name.to_string(),
            (x.id, id),
            func,
        )));
        if let Some(values) = derived {
            self.derive(id, &x, values);
        }
        Ok(Act {
            id,
            q: y.clone(),
            shape: x.shape.clone(),
        })
    }

    /// A table that gives every integer of `x`'s range back unchanged (a Mul by 1, a Mul by
    /// 0.5 into half the scale, LayerNorm's unit γ), with `y`'s range `x`'s: `y`'s integers
    /// are `x`'s, so a view relabels them with `y`'s scale at no cost, where the op writing
    /// `x` already proves them in that range ([`Self::proven_within`]); elsewhere (a graph
    /// input) the lookup stays, as the range check it also is.
    fn identity_relabel(
        &mut self,
        name: &str,
        x: &Act,
        (lo, values): (i64, &[i64]),
        y: &QParams,
        out: &str,
    ) -> Result<Option<Act>, ImportError> {
        let identity = (lo, lo + values.len() as i64 - 1) == x.q.range
            && values.iter().zip(lo..).all(|(&v, q)| v == q);
        if !identity || y.range != x.q.range || !self.proven_within(x.id, x.q.range) {
            return Ok(None);
        }
        let id = self.tensor(out, x.shape.clone(), TensorKind::Activation, Some(y))?;
        self.g.ops.push(QOp::View(ViewOp {
            name: format!("{name} (identity)"),
            inputs: vec![x.id],
            output: id,
            map: (0..self.g.tensors[x.id].len() as u32)
                .map(|e| (0u16, e))
                .collect(),
        }));
        Ok(Some(Act {
            id,
            q: y.clone(),
            shape: x.shape.clone(),
        }))
    }

    /// Whether the op writing tensor `t` proves each of its integers in `[lo, hi]`: a
    /// requantization clamping within it, a table whose values lie in it, a view or a max pool
    /// of such tensors.
    fn proven_within(&self, t: TensorId, (lo, hi): (i64, i64)) -> bool {
        let within = |(a, b): (i64, i64)| lo <= a && b <= hi;
        let writer = self.g.ops.iter().rev().find(|op| op.family().output() == t);
        match writer {
            Some(QOp::Requant(r)) => r.rules.iter().all(|d| within(d.range())),
            Some(QOp::Elementwise(e)) => match self.g.functions.get(e.func as usize) {
                Some(FnKind::Tabulated { values, .. }) => values.iter().all(|&v| within((v, v))),
                _ => false,
            },
            Some(QOp::View(v)) => v.inputs.iter().all(|&i| self.proven_within(i, (lo, hi))),
            Some(QOp::MaxPool(m)) => self.proven_within(m.input, (lo, hi)),
            _ => false,
        }
    }

    /// An Add or Mul of `a` and a constant of one distinct value, requantized by `rule` from
    /// the accumulator `acc(q)` of each integer `q` of `a`: a function of `a` alone, so a
    /// table of `rule` over `a`'s integers (one lookup per element instead of a linear op and
    /// a requantization), on `a` broadcast to the op's shape. Reported as the requantization.
    pub(super) fn constant_operand_table(
        &mut self,
        name: &str,
        (a, ops): (&Act, &Operands),
        (rule, acc): (ChannelRule, impl Fn(i64) -> i64),
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let (lo, hi) = a.q.range;
        let values = (lo..=hi).map(|q| rule.rule.apply(acc(q))).collect();
        self.report_requant(name, std::slice::from_ref(&rule));
        let x = Act {
            id: self.broadcast(name, a, ops)?,
            q: a.q.clone(),
            shape: ops.shape.clone(),
        };
        self.tabulated(name, &x, (lo, values), y, out)
    }
}
