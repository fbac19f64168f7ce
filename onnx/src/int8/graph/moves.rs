//! Views of int8 tensors (see `int8::views`), requantization between two scales, and Concat of
//! inputs with different scales (QLinearConcat, DQ → Concat → Q).

use super::*;

/// A Concat of DequantizeLinear outputs with different parameters.
pub(super) struct PendingConcat {
    pub(super) node: pb::NodeProto,
    pub(super) name: String,
    pub(super) inputs: Vec<Act>,
}

impl Importer {
    /// A view (see `views`) of int8 tensors, or of their DequantizeLinear in a QDQ model: the
    /// moved inputs must share one scale and zero point, which the output keeps.
    pub(super) fn view(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let n_data = views::data_inputs(&np.op_type, np.input.len());
        let consts = self.view_consts(np, n_data, name)?;
        // (Only a one-input view can move a float graph input; a Concat of none is refused below.)
        let float_input = match n_data {
            1 => match self.val(np, 0, name)? {
                Val::FloatInput(f) => Some(f.clone()),
                _ => None,
            },
            _ => None,
        };
        if let Some(f) = float_input {
            let (shape, map) =
                views::view_map(np, name, self.opset, &[f.shape().to_vec()], &consts)?;
            let elements = map.iter().map(|&(_, e)| f.element(e)).collect();
            return Ok(Val::FloatInput(FloatInput {
                view: Some((shape, elements)),
                ..f
            }));
        }
        // An int8 tensor whose readers say its parameters (rows of a QOperator embedding) moves
        // as such.
        if let (1, Ok(Val::IntInput(t))) = (n_data, self.val(np, 0, name)) {
            let t = t.clone();
            let (shape, map) = views::view_map(
                np,
                name,
                self.opset,
                std::slice::from_ref(&t.shape),
                &consts,
            )?;
            let id = self.tensor(
                &output(np, name)?,
                shape.clone(),
                TensorKind::Activation,
                None,
            )?;
            self.g.ops.push(QOp::View(ViewOp {
                name: name.to_string(),
                inputs: vec![t.id],
                output: id,
                map,
            }));
            return Ok(Val::IntInput(IntInput { id, shape, ..t }));
        }
        let acts = (0..n_data)
            .map(|i| self.int_or_dq(np, i, name))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(dq) = acts.first().map(|(_, d)| *d) else {
            return Err(ImportError::at(name, "a view of no input"));
        };
        if acts.iter().any(|(_, d)| *d != dq) {
            return Err(ImportError::at(
                name,
                "a Concat of int8 tensors and DequantizeLinear outputs together",
            ));
        }
        let acts: Vec<Act> = acts.into_iter().map(|(a, _)| a).collect();
        if acts.iter().any(|a| a.q != acts[0].q) {
            if dq {
                // DQ → Concat → Q: each input is requantized to the QuantizeLinear's parameters.
                return Ok(Val::PendingConcat(Box::new(PendingConcat {
                    node: np.clone(),
                    name: name.to_string(),
                    inputs: acts,
                })));
            }
            return Err(ImportError::at(
                name,
                "the int8 inputs of a Concat must share one scale and zero point",
            ));
        }
        let shapes: Vec<Vec<usize>> = acts.iter().map(|a| a.shape.clone()).collect();
        let moved = views::view_map(np, name, self.opset, &shapes, &consts)?;
        let act = self.moved(name, &acts, moved, &output(np, name)?)?;
        Ok(if dq { Val::Dq(act) } else { Val::Q(act) })
    }

    /// A view's inputs from `from` on (shapes, axes, indices): initializers, `None` where
    /// omitted.
    pub(super) fn view_consts(
        &self,
        np: &pb::NodeProto,
        from: usize,
        name: &str,
    ) -> Result<Vec<Option<&crate::tensor::Tensor>>, ImportError> {
        (from..np.input.len())
            .map(|i| {
                arg(np, i)
                    .map(|_| self.konst(np, i, name).map(|c| &c.t))
                    .transpose()
            })
            .collect()
    }

    /// A Split of an int8 tensor or of its DequantizeLinear: one view per output, each kept
    /// under its output's name.
    pub(super) fn split(&mut self, np: &pb::NodeProto, name: &str) -> Result<(), ImportError> {
        let (a, dq) = self.int_or_dq(np, 0, name)?;
        let consts = self.view_consts(np, 1, name)?;
        let maps = views::view_maps(
            np,
            name,
            self.opset,
            std::slice::from_ref(&a.shape),
            &consts,
        )?;
        if maps.len() != np.output.len() {
            return Err(ImportError::at(
                name,
                format!(
                    "a Split into {} parts has {} outputs",
                    maps.len(),
                    np.output.len()
                ),
            ));
        }
        for (moved, out) in maps.into_iter().zip(&np.output) {
            let act = self.moved(name, std::slice::from_ref(&a), moved, out)?;
            self.vals
                .insert(out.clone(), if dq { Val::Dq(act) } else { Val::Q(act) });
        }
        Ok(())
    }

    /// The view `(shape, map)` of `inputs` (which share their parameters) as tensor `out`.
    pub(super) fn moved(
        &mut self,
        name: &str,
        inputs: &[Act],
        (shape, map): views::ViewMap,
        out: &str,
    ) -> Result<Act, ImportError> {
        let q = inputs[0].q.clone();
        let id = self.tensor(out, shape.clone(), TensorKind::Activation, Some(&q))?;
        self.g.ops.push(QOp::View(ViewOp {
            name: name.to_string(),
            inputs: inputs.iter().map(|a| a.id).collect(),
            output: id,
            map,
        }));
        Ok(Act { id, q, shape })
    }

    /// `x` in `y`'s parameters: itself, or ONNX Runtime's requantization table
    /// `Q_y(DQ_x(q))` (what QLinearConcat and a DequantizeLinear → QuantizeLinear pair compute).
    pub(super) fn requantized(
        &mut self,
        name: &str,
        x: Act,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        match x.q == *y {
            true => Ok(x),
            false => self.table(name, &x, (Unary::Identity, y), out),
        }
    }

    /// A Concat of DequantizeLinear outputs with different parameters, at its QuantizeLinear.
    pub(super) fn pending_concat(
        &mut self,
        p: &PendingConcat,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let mut acts = Vec::with_capacity(p.inputs.len());
        for (i, a) in p.inputs.iter().enumerate() {
            let into = format!("{} input #{i} requantized", p.name);
            acts.push(self.requantized(&p.name, a.clone(), y, &into)?);
        }
        let shapes: Vec<Vec<usize>> = acts.iter().map(|a| a.shape.clone()).collect();
        let moved = views::view_map(&p.node, &p.name, self.opset, &shapes, &[])?;
        self.moved(&p.name, &acts, moved, out)
    }

    /// com.microsoft QLinearConcat: `y_scale, y_zero_point`, then `(x, x_scale, x_zero_point)`
    /// per input; each input is requantized to `y` with its declared parameters, as ONNX
    /// Runtime does, and the results concatenated.
    pub(super) fn qlinear_concat(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let n = np.input.len();
        if n < 5 || !(n - 2).is_multiple_of(3) {
            return Err(ImportError::at(
                name,
                "QLinearConcat needs y_scale, y_zero_point and (x, scale, zero point) triples",
            ));
        }
        let y = self.params(np, (0, 1), name)?;
        let mut acts = Vec::with_capacity((n - 2) / 3);
        for t in 0..(n - 2) / 3 {
            let i = 2 + 3 * t;
            let x = self.qlinear_act(np, i, name)?;
            acts.push(self.requantized(name, x, &y, &format!("{name} input #{t} requantized"))?);
        }
        let concat = pb::NodeProto {
            op_type: "Concat".into(),
            attribute: np.attribute.clone(),
            ..Default::default()
        };
        let shapes: Vec<Vec<usize>> = acts.iter().map(|a| a.shape.clone()).collect();
        let moved = views::view_map(&concat, name, self.opset, &shapes, &[])?;
        self.moved(name, &acts, moved, &output(np, name)?)
            .map(Val::Q)
    }
}
