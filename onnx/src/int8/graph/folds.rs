//! Compile-time values of an imported model: nodes whose inputs are all constants
//! (initializers, Constant nodes, earlier folds), and Shape of any value (its shape is known),
//! evaluated by the float front end's own op — the shape subgraphs an exporter writes before a
//! Reshape (Shape → Gather → Unsqueeze → Concat), as the float front end folds them.

use super::*;
use crate::tensor::{DType, Tensor};

impl Importer {
    /// Folds `np` into constants if it can run now; whether it did.
    pub(super) fn fold_constants(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<bool, ImportError> {
        if !np.domain.is_empty() {
            return Ok(false);
        }
        let Some(spec) = crate::ops::REGISTRY.iter().find(|s| s.name == np.op_type) else {
            return Ok(false);
        };
        // The quantization ops are the importer's own, never a float fold.
        if crate::ops::quantized_form(&np.op_type).is_some() {
            return Ok(false);
        }
        if np.input.iter().all(String::is_empty) {
            return Ok(false); // (Not a computation: the op's own code says what is wrong.)
        }
        // A view of a quantized constant (its DequantizeLinear) is that constant moved, with
        // the same parameters (a slice of a position-embedding table).
        let mut quantized: Option<(i32, QParams)> = None;
        let mut inputs: Vec<Option<Tensor>> = Vec::with_capacity(np.input.len());
        for (i, n) in np.input.iter().enumerate() {
            let t = match (n.is_empty(), self.consts.get(n)) {
                (true, _) => None,
                (false, Some(c)) => Some(c.t.clone()),
                (false, None) => match (np.op_type.as_str(), i, self.vals.get(n)) {
                    // Shape reads its input's shape only.
                    ("Shape", 0, _) => match self.shape_of(n) {
                        Some(shape) => Some(Tensor::float(shape.to_vec(), Vec::new())),
                        None => return Ok(false),
                    },
                    (op, _, Some(Val::DqConst(c, p)))
                        if views::VIEW_OPS.contains(&op)
                            && i < views::data_inputs(op, np.input.len())
                            && p.scales.len() == 1
                            && quantized.as_ref().is_none_or(|q| *q == (c.elem, p.clone())) =>
                    {
                        quantized = Some((c.elem, p.clone()));
                        Some(c.t.clone())
                    }
                    _ => return Ok(false),
                },
            };
            inputs.push(t);
        }
        // A view's data inputs are all quantized constants of one quantization, or none is
        // (an initializer among them would be read as integers of that quantization).
        let data = views::data_inputs(&np.op_type, np.input.len());
        let mixed = quantized.is_some()
            && np.input[..data.min(np.input.len())]
                .iter()
                .any(|n| self.consts.contains_key(n));
        if mixed {
            return Ok(false);
        }
        let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
        let op = (spec.build)(&Attrs::new(np, name), self.opset).map_err(fe)?;
        let refs: Vec<Option<&Tensor>> = inputs.iter().map(Option::as_ref).collect();
        let outs = op.eval(name, &refs).map_err(fe)?;
        if let Some((elem, p)) = quantized {
            for (out, t) in np.output.iter().zip(outs) {
                self.vals
                    .insert(out.clone(), Val::DqConst(Const { t, elem }, p.clone()));
            }
            return Ok(true);
        }
        for (out, t) in np.output.iter().zip(outs) {
            let elem = match t.dtype {
                DType::Int => pb::tensor_proto::DataType::Int64,
                _ => pb::tensor_proto::DataType::Float,
            };
            self.consts.insert(
                out.clone(),
                Const {
                    t,
                    elem: elem as i32,
                },
            );
        }
        Ok(true)
    }

    /// The shape of a value of the model, where it has one.
    fn shape_of(&self, n: &str) -> Option<&[usize]> {
        match self.vals.get(n)? {
            Val::Q(a) | Val::Dq(a) => Some(&a.shape),
            Val::FloatInput(f) => Some(f.shape()),
            Val::IntInput(t) => Some(&t.shape),
            Val::Tokens(t) => Some(&t.shape),
            Val::Masked(m) => Some(&m.x.shape),
            _ => None,
        }
    }

    /// QuantizeLinear of a quantized constant's DequantizeLinear (a constant requantized, as the
    /// tool writes for a position-embedding slice): the constant's new integers, computed now
    /// as ONNX Runtime's QuantizeLinear does. Whether it applies.
    pub(super) fn quantize_constant(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<bool, ImportError> {
        let Some(Val::DqConst(c, p)) = arg(np, 0).and_then(|n| self.vals.get(n)) else {
            return Ok(false);
        };
        let (c, p) = (c.clone(), p.clone());
        let y = self.params(np, (1, 2), name)?;
        let (ax, ay) = (p.affine(name)?, y.affine(name)?);
        let zp = self.opt_konst(np, 2, name)?;
        let values =
            c.t.data
                .iter()
                .map(|&q| ay.quantize(ax.dequantize(q as i64)) as f64)
                .collect();
        let elem = zp.map_or(pb::tensor_proto::DataType::Uint8 as i32, |z| z.elem);
        self.consts.insert(
            output(np, name)?,
            Const {
                t: Tensor::int(c.t.shape.clone(), values),
                elem,
            },
        );
        Ok(true)
    }
}
