//! Unary float ops between DequantizeLinear and QuantizeLinear (and ONNX Runtime's QLinear lookup
//! ops) as tables over the int8 input (see `int8::unary`).

use super::*;

impl Importer {
    pub(super) fn qlinear_unary(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
        f: Unary,
    ) -> Result<Val, ImportError> {
        let x = self.act(np, 0, name)?;
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
        let (lo, values) = f.table(&ax, &ay);
        self.g.functions.push(FnKind::Tabulated { lo, values });
        let func = u32::try_from(self.g.functions.len() - 1).unwrap_or(u32::MAX);
        let id = self.tensor(out, x.shape.clone(), TensorKind::Activation, Some(y))?;
        self.g.ops.push(QOp::Elementwise(identity_step(
            name.to_string(),
            (x.id, id),
            func,
        )));
        Ok(Act {
            id,
            q: y.clone(),
            shape: x.shape.clone(),
        })
    }
}
