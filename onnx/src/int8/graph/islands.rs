//! Float islands (see `int8::island`): elementwise float ops of one int8 tensor between its
//! DequantizeLinear and the next QuantizeLinear, carried as their values on each of the
//! tensor's integers and tabulated at the QuantizeLinear.

use super::*;
use crate::int8::island::{table, ISLAND_OPS};
use crate::int8::TableReport;
use crate::tensor::Tensor;

const MULTI_ELEMENT: &str = "a float op between DequantizeLinear and QuantizeLinear with a constant of more than one element (a table needs one function of the int8 value)";

/// The values of a float island on each integer of its source, in order.
pub(super) struct Island {
    /// The int8 tensor the island is a function of.
    source: Act,
    /// The island's value on each of the source's integers (`qmin ..= qmax`).
    values: Tensor,
    /// The op types applied, for `compile`'s summary.
    ops: Vec<String>,
}

/// An input of an island op: the values of a function of an int8 tensor, or a constant.
enum IslandInput {
    Values(Act, Tensor, Vec<String>),
    Const(Tensor),
}

impl Island {
    /// The int8 tensor the island is a function of, and its value on each of its integers.
    pub(super) fn values_of_source(&self) -> (&Act, &[f64]) {
        (&self.source, &self.values.data)
    }
}

impl Importer {
    /// Whether `np` starts or continues a float island: an elementwise float op reading an
    /// island, or one the int8 import has no exact rule for reading a DequantizeLinear (Add and
    /// Mul of int8 tensors and quantized constants, Relu, Clip, Sigmoid and LeakyRelu have
    /// theirs).
    pub(super) fn is_island_op(&self, np: &pb::NodeProto) -> bool {
        let op = np.op_type.as_str();
        if !np.domain.is_empty() || !ISLAND_OPS.contains(&op) {
            return false;
        }
        let val = |i: usize| arg(np, i).and_then(|n| self.vals.get(n));
        let inputs = 0..np.input.len();
        if inputs
            .clone()
            .any(|i| matches!(val(i), Some(Val::Island(_))))
        {
            return true;
        }
        let float_const = |i: usize| {
            arg(np, i)
                .and_then(|n| self.consts.get(n))
                .is_some_and(|c| c.elem == pb::tensor_proto::DataType::Float as i32)
        };
        match op {
            "Add" | "Mul" => (0..2).any(float_const),
            "Relu" | "Clip" | "Sigmoid" | "LeakyRelu" => false,
            _ => inputs.clone().any(|i| matches!(val(i), Some(Val::Dq(_)))),
        }
    }

    /// The island after `np`: its op evaluated by the float front end on the island's values
    /// (constants must be scalars, so the result is again one value per integer).
    pub(super) fn island(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let mut source: Option<(Act, Vec<String>)> = None;
        let mut tensors: Vec<Option<Tensor>> = Vec::with_capacity(np.input.len());
        let mut constant_shapes = Vec::new();
        for i in 0..np.input.len() {
            let t = match self.island_input(np, i, name)? {
                None => None,
                Some(IslandInput::Const(t)) if t.data.len() == 1 => {
                    constant_shapes.push(t.shape.clone());
                    Some(t)
                }
                Some(IslandInput::Const(_)) => {
                    return Err(ImportError::at(name, MULTI_ELEMENT));
                }
                Some(IslandInput::Values(a, t, ops)) => {
                    match &source {
                        Some((s, _)) if s.id != a.id => {
                            return Err(ImportError::at(name, "a float op of two different int8 tensors between DequantizeLinear and QuantizeLinear is not imported (only functions of one tensor are: tables)"));
                        }
                        Some((_, seen)) if seen.len() >= ops.len() => {}
                        _ => source = Some((a, ops)),
                    }
                    Some(t)
                }
            };
            tensors.push(t);
        }
        let Some((source, mut ops)) = source else {
            return Err(ImportError::at(name, "a float op of constants only"));
        };
        // A one-element constant of higher rank would change the result's shape.
        let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
        for c in constant_shapes {
            if crate::tensor::broadcast_shape(&source.shape, &c, name).map_err(fe)? != source.shape
            {
                return Err(ImportError::at(
                    name,
                    format!(
                        "a constant of shape {c:?} would change the shape {:?} of the int8 tensor",
                        source.shape
                    ),
                ));
            }
        }
        let spec = crate::ops::REGISTRY
            .iter()
            .find(|s| s.name == np.op_type)
            .ok_or_else(|| ImportError::at(name, "not an island op"))?;
        let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
        let op = (spec.build)(&Attrs::new(np, name), self.opset).map_err(fe)?;
        let inputs: Vec<Option<&Tensor>> = tensors.iter().map(Option::as_ref).collect();
        let values = op
            .eval(name, &inputs)
            .map_err(fe)?
            .into_iter()
            .next()
            .ok_or_else(|| ImportError::at(name, "no output"))?;
        let count = source.q.range.1 - source.q.range.0 + 1;
        if values.data.len() as i64 != count {
            return Err(ImportError::at(name, MULTI_ELEMENT));
        }
        ops.push(np.op_type.clone());
        Ok(Val::Island(Box::new(Island {
            source,
            values,
            ops,
        })))
    }

    /// Input `i` of an island op (`None` where not given).
    fn island_input(
        &self,
        np: &pb::NodeProto,
        i: usize,
        name: &str,
    ) -> Result<Option<IslandInput>, ImportError> {
        let Some(n) = arg(np, i) else {
            return Ok(None);
        };
        if let Some(c) = self.consts.get(n) {
            return Ok(Some(IslandInput::Const(c.t.clone())));
        }
        let dq_values = |a: &Act| -> Result<Tensor, ImportError> {
            let ax = a.q.affine(name)?;
            let (lo, hi) = ax.range();
            let v: Vec<f64> = (lo..=hi).map(|q| f64::from(ax.dequantize(q))).collect();
            Ok(Tensor::float(vec![v.len()], v))
        };
        Ok(Some(match self.val(np, i, name)? {
            Val::Island(isl) => {
                IslandInput::Values(isl.source.clone(), isl.values.clone(), isl.ops.clone())
            }
            Val::Dq(a) => IslandInput::Values(a.clone(), dq_values(a)?, Vec::new()),
            Val::DqConst(c, p) => {
                let pc = p.affine(name)?;
                let v = c.t.data.iter().map(|&q| f64::from(pc.dequantize(q as i64)));
                IslandInput::Const(Tensor::float(c.t.shape.clone(), v.collect()))
            }
            _ => {
                return Err(ImportError::at(
                    name,
                    format!("input #{i} of a float op between DequantizeLinear and QuantizeLinear must be a DequantizeLinear's output, a value computed from one, or a constant"),
                ))
            }
        }))
    }

    /// The island's QuantizeLinear: a table over its source's integers, reported for
    /// `compile`'s summary.
    pub(super) fn island_table(
        &mut self,
        name: &str,
        isl: &Island,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let (ax, ay) = (isl.source.q.affine(name)?, y.affine(out)?);
        let t = table(&isl.values.data, &ay);
        self.tables.push(TableReport {
            node: name.to_string(),
            ops: isl.ops.clone(),
            entries: t.values.len(),
            uncertain: t.uncertain,
        });
        self.tabulated(name, &isl.source, (ax.range().0, t.values), y, out)
    }
}
