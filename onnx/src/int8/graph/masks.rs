//! Where with a constant condition between DequantizeLinear and QuantizeLinear (attention's
//! causal mask: `Where(mask, −10, DQ(x))`): each element is either `x`'s or a constant, so at
//! the QuantizeLinear it is `x`'s integer requantized to the output (ONNX Runtime's table,
//! `Q_y(DQ_x(q))`) or the constant's integer `Q_y(c)`, fixed per element: one lookup each. Views between the
//! Where and its QuantizeLinear (a Flatten) move the mask with the elements.

use super::*;

/// `Where(condition, ·, ·)` of a DequantizeLinear and constants, waiting for its QuantizeLinear.
#[derive(Clone, Debug)]
pub(super) struct Masked {
    pub name: String,
    /// The int8 tensor whose elements are kept (of the Where's shape).
    pub x: Act,
    /// Per element: `None` to keep `x`'s, or the constant it is.
    pub fill: Vec<Option<f32>>,
}

impl Importer {
    /// Where of a constant condition, a DequantizeLinear and a constant (in either order).
    pub(super) fn masked_where(
        &self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Option<Val>, ImportError> {
        let konst = |i: usize| arg(np, i).and_then(|n| self.consts.get(n));
        let dq = |i: usize| match arg(np, i).and_then(|n| self.vals.get(n)) {
            Some(Val::Dq(a)) => Some(a),
            _ => None,
        };
        let (Some(cond), kept) = (konst(0), (dq(1), dq(2))) else {
            return Ok(None);
        };
        let (x, c, keep_when) = match (kept, konst(1), konst(2)) {
            ((Some(x), None), _, Some(c)) => (x, c, true),
            ((None, Some(x)), Some(c), _) => (x, c, false),
            _ => return Ok(None),
        };
        let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
        let shape = crate::tensor::broadcast_shape(&cond.t.shape, &c.t.shape, name)
            .and_then(|s| crate::tensor::broadcast_shape(&s, &x.shape, name))
            .map_err(fe)?;
        if shape != x.shape {
            return Err(ImportError::at(
                name,
                format!(
                    "a Where that broadcasts the int8 tensor {:?} to {shape:?} is not imported",
                    x.shape
                ),
            ));
        }
        let (ic, iv) = (
            crate::tensor::broadcast_index(&cond.t.shape, &shape),
            crate::tensor::broadcast_index(&c.t.shape, &shape),
        );
        let fill = ic
            .iter()
            .zip(&iv)
            .map(|(&e, &v)| {
                let keep = (cond.t.data[e as usize] != 0.0) == keep_when;
                (!keep).then(|| c.t.data[v as usize] as f32)
            })
            .collect();
        Ok(Some(Val::Masked(Box::new(Masked {
            name: name.to_string(),
            x: x.clone(),
            fill,
        }))))
    }

    /// A view of a masked tensor: the tensor moved, its mask with it.
    pub(super) fn masked_view(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
        m: &Masked,
    ) -> Result<Val, ImportError> {
        let consts = self.view_consts(np, 1, name)?;
        let (shape, map) = views::view_map(
            np,
            name,
            self.opset,
            std::slice::from_ref(&m.x.shape),
            &consts,
        )?;
        let fill = map.iter().map(|&(_, e)| m.fill[e as usize]).collect();
        let x = self.moved(
            name,
            std::slice::from_ref(&m.x),
            (shape, map),
            &output(np, name)?,
        )?;
        Ok(Val::Masked(Box::new(Masked {
            name: m.name.clone(),
            x,
            fill,
        })))
    }

    /// The masked tensor's integers in `y`: `x`'s requantized, or the constants'. One lookup
    /// per element of `T[k_e·x_e + c_e]`: `T` is the requantization table over `x`'s range
    /// (the identity when the parameters agree), extended past it by one entry per fill that
    /// no integer of the range requantizes to; `k_e = 1`, `c_e = 0` where `x` is kept, `k_e =
    /// 0` and `c_e` an integer `T` maps to the fill's where masked.
    pub(super) fn masked(
        &mut self,
        m: &Masked,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let (ax, ay) = (m.x.q.affine(&m.name)?, y.affine(out)?);
        let (lo, mut values) = match m.x.q == *y {
            true => (m.x.q.range.0, (m.x.q.range.0..=m.x.q.range.1).collect()),
            false => Unary::Identity.table(&ax, &ay),
        };
        let mut at = |fill: i64| -> i64 {
            match values.iter().position(|&v| v == fill) {
                Some(i) => lo + i as i64,
                None => {
                    values.push(fill);
                    lo + values.len() as i64 - 1
                }
            }
        };
        let entries: Vec<Option<i64>> = (m.fill.iter())
            .map(|f| f.map(|c| at(ay.quantize(c))))
            .collect();
        let func = self.g.function_index(FnKind::Tabulated { lo, values });
        let id = self.tensor(out, m.x.shape.clone(), TensorKind::Activation, Some(y))?;
        let mut step = identity_step(m.name.clone(), (m.x.id, id), func);
        step.qa = Coef::Each(entries.iter().map(|e| i64::from(e.is_none())).collect());
        step.qc = Coef::Each(entries.iter().map(|e| e.unwrap_or(0)).collect());
        self.g.ops.push(QOp::Elementwise(step));
        Ok(Act {
            id,
            q: y.clone(),
            shape: m.x.shape.clone(),
        })
    }
}
