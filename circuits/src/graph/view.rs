//! View family: outputs are input elements, re-indexed (Reshape, Flatten, Transpose, Concat,
//! Identity). A view costs nothing in the circuit: its output cells are its input cells.

use super::{check_index, EvalError, GraphError, IntOp, OpDefect, QuantizedGraph, TensorId};
use serde::{Deserialize, Serialize};

/// Re-indexing of one or more tensors of equal scale.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ViewOp {
    /// Source node.
    pub name: String,
    /// Tensors read.
    pub inputs: Vec<TensorId>,
    /// Tensor written.
    pub output: TensorId,
    /// For each output element: `(input number, element)`.
    pub map: Vec<(u16, u32)>,
}

impl ViewOp {
    pub(crate) fn validate(&self, g: &QuantizedGraph) -> Result<(), GraphError> {
        let bad = |d| Err(GraphError::op(&self.name, d));
        let out = &g.tensors[self.output];
        if self.map.len() != out.len() {
            return bad(OpDefect::Length {
                what: "the view map",
                got: self.map.len(),
                want: out.len(),
            });
        }
        for &(i, e) in &self.map {
            let Some(&t) = self.inputs.get(i as usize) else {
                return bad(OpDefect::NoSuchOperand);
            };
            check_index(g, t, e as usize, &self.name)?;
        }
        // An int8 output keeps its inputs' range. A view may drop their scale and zero point
        // (listing operands of different int8 scales side by side, an int8 Add's operands; an
        // int8 output listed as its integers), give integers without one theirs (an int8 graph
        // input read by its DequantizeLinear), or relabel them with another (a table that gives
        // every integer back, such as a Mul by 0.5 into half the scale).
        for &t in &self.inputs {
            let (a, b) = (&g.tensors[t], out);
            let affine_changes =
                (a.affine.zip(b.affine)).is_some_and(|(x, y)| x.range() != y.range());
            if a.kind != b.kind || a.scale != b.scale || affine_changes {
                return bad(OpDefect::ViewChanges);
            }
        }
        Ok(())
    }
}

impl IntOp for ViewOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn inputs(&self) -> Vec<TensorId> {
        self.inputs.clone()
    }

    fn output(&self) -> TensorId {
        self.output
    }

    fn describe(&self, g: &QuantizedGraph) -> String {
        let names: Vec<_> = self
            .inputs
            .iter()
            .map(|&t| g.tensors[t].name.as_str())
            .collect();
        format!(
            "view [{}] -> [{}] {:?}",
            names.join(", "),
            g.tensors[self.output].name,
            g.tensors[self.output].shape
        )
    }

    fn eval(&self, _g: &QuantizedGraph, vals: &mut [Vec<i128>]) -> Result<(), EvalError> {
        let out = self
            .map
            .iter()
            .map(|&(i, e)| vals[self.inputs[i as usize]][e as usize])
            .collect();
        vals[self.output] = out;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::requant::AffineScale;
    use super::super::{FnKind, QOp, QTensor, QuantizedGraph, TensorKind};
    use super::ViewOp;

    fn int8(name: &str, scale: f32) -> QTensor {
        QTensor {
            name: name.into(),
            shape: vec![2],
            scale: 0,
            kind: TensorKind::Activation,
            affine: Some(AffineScale::new(scale, 0, (-128, 127)).unwrap()),
        }
    }

    /// Two int8 tensors of different scales viewed side by side as `out`.
    fn side_by_side(out: QTensor) -> QuantizedGraph {
        QuantizedGraph {
            bits: 9,
            tensors: vec![
                int8("a", 0.5),
                int8("b", 0.25),
                QTensor {
                    shape: vec![4],
                    ..out
                },
            ],
            inputs: vec![0, 1],
            outputs: vec![2],
            ops: vec![QOp::View(ViewOp {
                name: "v".into(),
                inputs: vec![0, 1],
                output: 2,
                map: vec![(0, 0), (0, 1), (1, 0), (1, 1)],
            })],
            functions: vec![FnKind::Identity],
            integer_inputs: Vec::new(),
        }
    }

    #[test]
    fn a_view_keeps_its_inputs_int8_range_or_has_no_scale() {
        // An output with an int8 scale has every input's range; it may relabel the integers
        // with another scale (an identity table's output: Mul by 0.5 into half the scale).
        side_by_side(int8("out", 0.5)).validate().unwrap();
        let uint8 = QTensor {
            affine: Some(AffineScale::new(0.5, 0, (0, 255)).unwrap()),
            ..int8("out", 0.5)
        };
        assert!(side_by_side(uint8).validate().is_err());
        // Without one it may list operands of different scales (an int8 Add's operands).
        let plain = QTensor {
            affine: None,
            ..int8("out", 0.5)
        };
        side_by_side(plain).validate().unwrap();
    }
}
