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
        for &t in &self.inputs {
            let (a, b) = (&g.tensors[t], out);
            if a.kind != b.kind || a.scale != b.scale || a.affine != b.affine {
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
