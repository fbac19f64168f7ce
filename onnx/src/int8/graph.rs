//! Walks a quantized model's nodes (in file order, which ONNX requires to be topological) and
//! builds the quantized graph.

use super::average::AverageForm;
use super::linear::{channel_rule, quotient_bound, ChannelRule, Requant, Weights};
use super::mul::MulForm;
use super::params::{int_range, Const, QParams};
use super::unary::Unary;
use super::views;

mod derived;
mod embeddings;
mod folds;
mod fused_norm;
mod integer_ops;
mod islands;
mod layer_norm;
mod linear_ops;
mod masks;
mod moves;
mod pools;
mod products;
mod softmax;
mod sums;
mod tables;

use super::{ImportError, Imported, RequantReport, TableReport};
use crate::ops::Window;
use crate::proto::{decode_tensor, Attrs};
use embeddings::TokenInput;
use islands::Island;
use layer_norm::PendingNorm;
use linear_ops::Pending;
use masks::Masked;
use moves::PendingConcat;
use pools::PendingAverage;
use softmax::PendingSoftmax;
use std::collections::HashMap;
use sums::{Binary, PendingBinary, Summand};
use tract_onnx::pb;
use zkinfer_circuits::graph::requant::Rounding;
use zkinfer_circuits::graph::{
    Coef, ElemOp, FnKind, Geometry, LinearOp, Operand, QOp, QTensor, QuantizedGraph, RequantOp,
    TensorId, TensorKind, ViewOp, WeightSet,
};

/// An int8/uint8 activation of the graph.
#[derive(Clone, Debug)]
struct Act {
    id: TensorId,
    q: QParams,
    shape: Vec<usize>,
}

/// An int8/uint8 graph input (range checked).
#[derive(Clone, Debug)]
struct IntInput {
    id: TensorId,
    shape: Vec<usize>,
    /// The element type's range.
    range: (i64, i64),
}

/// A float graph input, possibly moved by views.
#[derive(Clone, Debug)]
struct FloatInput {
    /// The graph input's name.
    input: String,
    /// Its shape.
    source: Vec<usize>,
    /// The view's shape and, per element, the input element it is (`None`: the input itself).
    view: Option<(Vec<usize>, Vec<u32>)>,
}

impl FloatInput {
    fn shape(&self) -> &[usize] {
        self.view.as_ref().map_or(&self.source, |v| &v.0)
    }

    /// The input element that element `e` of the current view is.
    fn element(&self, e: u32) -> u32 {
        self.view.as_ref().map_or(e, |v| v.1[e as usize])
    }
}

/// An accumulator to requantize: its tensor and shape, elements per rule, and the constant
/// added to each element first.
struct Accumulated {
    id: TensorId,
    shape: Vec<usize>,
    inner: usize,
    offsets: Vec<i64>,
}

/// A value of the model, by ONNX name.
enum Val {
    /// A float graph input before its QuantizeLinear, or a view of one (views commute with
    /// the elementwise quantization).
    FloatInput(FloatInput),
    /// An int8/uint8 activation.
    Q(Act),
    /// An int8/uint8 graph input (or tensor gathered from an int8 table), before an op says
    /// its scale and zero point.
    IntInput(IntInput),
    /// An int32/int64 graph input: token ids.
    Tokens(TokenInput),
    /// DequantizeLinear of an activation (its float view in a QDQ model).
    Dq(Act),
    /// DequantizeLinear of an initializer (QDQ weights and biases).
    DqConst(Const, QParams),
    /// A linear op of a QDQ pattern.
    Pending(Box<Pending>),
    /// A unary float op of a DequantizeLinear, waiting for its QuantizeLinear.
    PendingUnary(Act, Unary),
    /// A Concat of DequantizeLinear outputs with different parameters, waiting for its
    /// QuantizeLinear.
    PendingConcat(Box<PendingConcat>),
    /// An Add or Mul of DequantizeLinear outputs, waiting for its QuantizeLinear.
    PendingBinary(Box<PendingBinary>),
    /// A GlobalAveragePool (node name) of a DequantizeLinear, waiting for its QuantizeLinear.
    PendingGlobalAverage(Act, String),
    /// An AveragePool of a DequantizeLinear, waiting for its QuantizeLinear.
    PendingAverage(Box<PendingAverage>),
    /// Elementwise float ops of one DequantizeLinear, waiting for their QuantizeLinear.
    Island(Box<Island>),
    /// A Softmax of a DequantizeLinear, waiting for its QuantizeLinear.
    PendingSoftmax(Box<PendingSoftmax>),
    /// Float ops of a layer normalisation over the rows of a DequantizeLinear.
    Norm(Box<PendingNorm>),
    /// A Where choosing between a DequantizeLinear and constants, waiting for its
    /// QuantizeLinear.
    Masked(Box<Masked>),
    /// The int32 result of MatMulInteger or ConvInteger: an activation of no scale, listed as
    /// its integers.
    Integers(TensorId),
}

struct Importer {
    consts: HashMap<String, Const>,
    vals: HashMap<String, Val>,
    g: QuantizedGraph,
    requants: Vec<RequantReport>,
    tables: Vec<TableReport>,
    /// Float graph inputs already quantized: their parameters and range-checked integers.
    quantized_inputs: HashMap<String, (QParams, TensorId)>,
    /// Token ids checked against a table's rows: per (ids, rows), the checked tensor.
    token_checks: HashMap<(TensorId, usize), TensorId>,
    /// The deviations of a layer normalisation's rows, per (tensor, row length).
    deviations: HashMap<(TensorId, usize), TensorId>,
    /// int8 tensors that are functions of another, element by element (`derived`).
    derived: HashMap<TensorId, derived::Derived>,
    /// The fewest activation bits the graph needs (token ids of a large table).
    min_bits: u32,
    /// The widest `quotient_bits` of the requantizations.
    q_bits: u32,
    /// The model's default-domain opset.
    opset: i64,
}

/// Imports a quantized model's graph (see the module docs).
pub fn import(graph: &pb::GraphProto, opset: i64) -> Result<Imported, ImportError> {
    let mut im = Importer::new(graph, opset)?;
    for vi in &graph.input {
        im.graph_input_value(vi)?;
    }
    for (i, np) in graph.node.iter().enumerate() {
        let name = match np.name.is_empty() {
            true => format!("{}#{i}", np.op_type),
            false => np.name.clone(),
        };
        im.node(np, &name)?;
    }
    im.finish(graph)
}

/// Input `i` of a node, if given.
fn arg(np: &pb::NodeProto, i: usize) -> Option<&str> {
    np.input
        .get(i)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

fn output(np: &pb::NodeProto, name: &str) -> Result<String, ImportError> {
    np.output
        .first()
        .cloned()
        .ok_or_else(|| ImportError::at(name, "no output"))
}

impl Importer {
    fn new(graph: &pb::GraphProto, opset: i64) -> Result<Self, ImportError> {
        let mut consts = HashMap::new();
        for init in &graph.initializer {
            let t = decode_tensor(init).map_err(|e| ImportError::at(&init.name, e.to_string()))?;
            consts.insert(
                init.name.clone(),
                Const {
                    t,
                    elem: init.data_type,
                },
            );
        }
        let g = QuantizedGraph::empty(9);
        Ok(Importer {
            consts,
            vals: HashMap::new(),
            g,
            requants: Vec::new(),
            tables: Vec::new(),
            quantized_inputs: HashMap::new(),
            token_checks: HashMap::new(),
            deviations: HashMap::new(),
            derived: HashMap::new(),
            min_bits: 9,
            q_bits: 0,
            opset,
        })
    }

    /// A graph input (not an initializer): a float tensor, quantized later by its
    /// QuantizeLinear, or int8/uint8 integers, public as they are.
    fn graph_input_value(&mut self, vi: &pb::ValueInfoProto) -> Result<(), ImportError> {
        if self.consts.contains_key(&vi.name) {
            return Ok(());
        }
        let fe = |e: crate::FrontendError| ImportError::at(&vi.name, e.to_string());
        let (shape, elem) = crate::onnx::input_tensor(vi).map_err(fe)?;
        let tokens = [
            pb::tensor_proto::DataType::Int64,
            pb::tensor_proto::DataType::Int32,
        ]
        .iter()
        .any(|&t| t as i32 == elem);
        let val = match int_range(elem) {
            Some(range) => Val::IntInput(self.int_input(&vi.name, shape, range)?),
            None if tokens => {
                let raw = self.tensor(&vi.name, shape.clone(), TensorKind::Activation, None)?;
                self.g.inputs.push(raw);
                self.g.integer_inputs.push(raw);
                Val::Tokens(TokenInput { raw, shape })
            }
            None => {
                crate::onnx::input_shape(vi).map_err(fe)?;
                Val::FloatInput(FloatInput {
                    input: vi.name.clone(),
                    source: shape,
                    view: None,
                })
            }
        };
        self.vals.insert(vi.name.clone(), val);
        Ok(())
    }

    /// An int8/uint8 graph input: its integers are public (listed as themselves) and proven in
    /// the type's range by a table lookup before any op reads them; the ops that read it say
    /// with which scale and zero point.
    fn int_input(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        (lo, hi): (i64, i64),
    ) -> Result<IntInput, ImportError> {
        let raw = self.tensor(name, shape.clone(), TensorKind::Activation, None)?;
        self.g.inputs.push(raw);
        self.g.integer_inputs.push(raw);
        self.g.functions.push(FnKind::Tabulated {
            lo,
            values: (lo..=hi).collect(),
        });
        let func = u32::try_from(self.g.functions.len() - 1).unwrap_or(u32::MAX);
        let checked = self.tensor(
            &format!("{name} (checked)"),
            shape.clone(),
            TensorKind::Activation,
            None,
        )?;
        self.g.ops.push(QOp::Elementwise(identity_step(
            format!("{name} range check"),
            (raw, checked),
            func,
        )));
        Ok(IntInput {
            id: checked,
            shape,
            range: (lo, hi),
        })
    }

    fn node(&mut self, np: &pb::NodeProto, name: &str) -> Result<(), ImportError> {
        let out = output(np, name)?;
        if (np.domain.as_str(), np.op_type.as_str()) == ("", "Constant") {
            let c = constant(np, name, self.opset)?;
            self.consts.insert(out, c);
            return Ok(());
        }
        if self.fold_constants(np, name)? {
            return Ok(());
        }
        if np.op_type == "QuantizeLinear" && self.quantize_constant(np, name)? {
            return Ok(());
        }
        if (np.domain.as_str(), np.op_type.as_str()) == ("", "Split") {
            return self.split(np, name);
        }
        if let Some(val) = self.norm_step(np, name)? {
            self.vals.insert(out, val);
            return Ok(());
        }
        if self.is_island_op(np) {
            let val = self.island(np, name)?;
            self.vals.insert(out, val);
            return Ok(());
        }
        let val = match (np.domain.as_str(), np.op_type.as_str()) {
            (_, "QuantizeLinear") => self.quantize_linear(np, name)?,
            (_, "DequantizeLinear") => self.dequantize_linear(np, name)?,
            ("", "QLinearConv") => self.qlinear_conv(np, name)?,
            ("com.microsoft", "QGemm") => self.qgemm(np, name)?,
            ("", "QLinearMatMul")
                if [0, 3]
                    .iter()
                    .all(|&i| arg(np, i).is_some_and(|n| !self.consts.contains_key(n))) =>
            {
                self.qlinear_matmul_of_acts(np, name)?
            }
            ("", "QLinearMatMul") => self.qlinear_matmul(np, name)?,
            ("", "Conv") => self.qdq_conv(np, name)?,
            ("", "Gemm") => self.qdq_gemm(np, name)?,
            ("", "MatMul")
                if matches!(self.val(np, 0, name), Ok(Val::Dq(_)))
                    && matches!(self.val(np, 1, name), Ok(Val::Dq(_))) =>
            {
                self.qdq_binary(np, name, Binary::MatMul)?
            }
            ("", "MatMul") => self.qdq_matmul(np, name)?,
            ("", "Gather") if matches!(self.val(np, 1, name), Ok(Val::Tokens(_))) => {
                let Ok(Val::Tokens(ids)) = self.val(np, 1, name) else {
                    return Err(ImportError::at(name, "token ids"));
                };
                let ids = ids.clone();
                self.embedding(np, name, &ids)?
            }
            ("", op) if views::VIEW_OPS.contains(&op) => match self.val(np, 0, name) {
                Ok(Val::Masked(m)) => {
                    let m = m.as_ref().clone();
                    self.masked_view(np, name, &m)?
                }
                _ => self.view(np, name)?,
            },
            ("", "MatMulInteger") => self.integer_op(np, name, false)?,
            ("", "ConvInteger") => self.integer_op(np, name, true)?,
            ("", "Where") => self.masked_where(np, name)?.ok_or_else(|| {
                ImportError::at(name, "a Where is imported with a constant condition choosing between a DequantizeLinear and a constant only")
            })?,
            ("", "MaxPool") => self.max_pool(np, name)?,
            ("", "Sigmoid") => Val::PendingUnary(self.dq_act(np, 0, name)?, Unary::Sigmoid),
            ("", "Relu") => Val::PendingUnary(self.dq_act(np, 0, name)?, Unary::Relu),
            ("", "Clip") => Val::PendingUnary(self.dq_act(np, 0, name)?, self.clip(np, name)?),
            ("", "LeakyRelu") => {
                Val::PendingUnary(self.dq_act(np, 0, name)?, Unary::leaky_relu(np, name)?)
            }
            ("com.microsoft", "QLinearSigmoid") => self.qlinear_unary(np, name, Unary::Sigmoid)?,
            ("com.microsoft", "QLinearConcat") => self.qlinear_concat(np, name)?,
            ("com.microsoft", "QLinearAdd") => self.qlinear_add(np, name)?,
            ("", "Add") => self.qdq_binary(np, name, Binary::Add)?,
            ("", "Mul") => self.qdq_binary(np, name, Binary::Mul)?,
            ("com.microsoft", "QLinearMul") => self.qlinear_mul(np, name)?,
            ("com.microsoft", "QLinearGlobalAveragePool") => self.qlinear_global_average(np, name)?,
            ("com.microsoft", "QLinearAveragePool") => self.qlinear_average(np, name)?,
            ("", "AveragePool") => {
                let x = self.dq_act(np, 0, name)?;
                Val::PendingAverage(Box::new(self.average_window(np, name, &x)?))
            }
            ("", "GlobalAveragePool") => {
                Val::PendingGlobalAverage(self.dq_act(np, 0, name)?, name.to_string())
            }
            ("", "LayerNormalization") => self.layer_normalization(np, name)?,
            ("", "Softmax") => {
                let x = self.dq_act(np, 0, name)?;
                Val::PendingSoftmax(Box::new(self.pending_softmax(np, name, x, self.opset)?))
            }
            ("com.microsoft", "QLinearSoftmax") => self.qlinear_softmax(np, name)?,
            ("com.microsoft", "QLinearLeakyRelu") => {
                self.qlinear_unary(np, name, Unary::leaky_relu(np, name)?)?
            }
            (d, op) => {
                return Err(ImportError::at(name, format!(
                    "'{op}'{} is not imported from quantized models yet (imported: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, com.microsoft QGemm, QLinearSigmoid, QLinearLeakyRelu, QLinearConcat, QLinearAdd, QLinearMul, QLinearAveragePool, QLinearGlobalAveragePool and QLinearSoftmax; Conv, Gemm, MatMul, Add, Mul, AveragePool, GlobalAveragePool, Relu, Clip, Sigmoid, LeakyRelu, Softmax, LayerNormalization between DequantizeLinear and QuantizeLinear; MaxPool; {})",
                    if d.is_empty() { String::new() } else { format!(" (domain '{d}')") },
                    views::VIEW_OPS.join(", "),
                )))
            }
        };
        self.vals.insert(out, val);
        Ok(())
    }

    // --- values -------------------------------------------------------------------------

    fn konst(&self, np: &pb::NodeProto, i: usize, name: &str) -> Result<&Const, ImportError> {
        arg(np, i)
            .and_then(|n| self.consts.get(n))
            .ok_or_else(|| ImportError::at(name, format!("input #{i} must be an initializer")))
    }

    fn params(
        &self,
        np: &pb::NodeProto,
        (s, z): (usize, usize),
        name: &str,
    ) -> Result<QParams, ImportError> {
        let zp = self.opt_konst(np, z, name)?;
        QParams::read(name, self.konst(np, s, name)?, zp.as_ref())
    }

    fn val(&self, np: &pb::NodeProto, i: usize, name: &str) -> Result<&Val, ImportError> {
        arg(np, i).and_then(|n| self.vals.get(n)).ok_or_else(|| {
            ImportError::at(
                name,
                format!("input #{i} is not a value of the model (a computed float tensor?)"),
            )
        })
    }

    fn act(&self, np: &pb::NodeProto, i: usize, name: &str) -> Result<Act, ImportError> {
        self.act_of(np, (i, false), name)
    }

    fn dq_act(&self, np: &pb::NodeProto, i: usize, name: &str) -> Result<Act, ImportError> {
        self.act_of(np, (i, true), name)
    }

    /// Input `i` of a QLinear op, an int8/uint8 tensor, with the scale and zero point the op
    /// declares for it (inputs `i + 1`, `i + 2`): ONNX Runtime computes with those, whatever
    /// the tensor's producer wrote.
    fn qlinear_act(&self, np: &pb::NodeProto, i: usize, name: &str) -> Result<Act, ImportError> {
        let a = self.act(np, i, name)?;
        let q = self.declared(np, i, &a, name)?;
        Ok(Act { q, ..a })
    }

    /// The scale and zero point a QLinear op declares for its input `i` (at `i + 1`, `i + 2`),
    /// an int8 tensor `a`: one each, of `a`'s type.
    fn declared(
        &self,
        np: &pb::NodeProto,
        i: usize,
        a: &Act,
        name: &str,
    ) -> Result<QParams, ImportError> {
        let q = self.params(np, (i + 1, i + 2), name)?;
        if q.range != a.q.range {
            return Err(ImportError::at(
                name,
                format!("input #{i}'s zero point has another type than the tensor"),
            ));
        }
        if q.scales.len() != 1 || q.zps.len() != 1 {
            return Err(ImportError::at(
                name,
                format!("input #{i}'s scale and zero point must be scalars"),
            ));
        }
        Ok(q)
    }

    /// Input `i` as an int8/uint8 tensor, or (`dq`) as its DequantizeLinear.
    fn act_of(
        &self,
        np: &pb::NodeProto,
        (i, dq): (usize, bool),
        name: &str,
    ) -> Result<Act, ImportError> {
        match (self.val(np, i, name)?, dq) {
            (Val::Q(a), false) | (Val::Dq(a), true) => Ok(a.clone()),
            // A QLinear op (or DequantizeLinear) gives input `i`'s parameters at `i + 1, i + 2`.
            (Val::IntInput(t), false) => {
                let q = self.params(np, (i + 1, i + 2), name)?;
                if q.range != t.range {
                    return Err(ImportError::at(
                        name,
                        format!("input #{i}'s zero point has another type than the tensor"),
                    ));
                }
                Ok(Act {
                    id: t.id,
                    q,
                    shape: t.shape.clone(),
                })
            }
            _ => Err(ImportError::at(
                name,
                format!(
                    "input #{i} must be {}",
                    match dq {
                        true => "the DequantizeLinear of an int8/uint8 tensor",
                        false => "an int8/uint8 tensor",
                    }
                ),
            )),
        }
    }

    /// Input `i`: an int8/uint8 tensor (`false`) or its DequantizeLinear (`true`), for ops that
    /// move or pick elements and so apply to either.
    fn int_or_dq(
        &self,
        np: &pb::NodeProto,
        i: usize,
        name: &str,
    ) -> Result<(Act, bool), ImportError> {
        match self.val(np, i, name)? {
            Val::Q(a) => Ok((a.clone(), false)),
            Val::Dq(a) => Ok((a.clone(), true)),
            _ => Err(ImportError::at(
                name,
                format!("input #{i} must be an int8/uint8 tensor or its DequantizeLinear"),
            )),
        }
    }

    /// Input `i` if given: an initializer.
    fn opt_konst(
        &self,
        np: &pb::NodeProto,
        i: usize,
        name: &str,
    ) -> Result<Option<Const>, ImportError> {
        arg(np, i)
            .map(|_| self.konst(np, i, name).cloned())
            .transpose()
    }

    /// Input `i` if given: the DequantizeLinear of an initializer (its integers).
    fn opt_dq_const(
        &self,
        np: &pb::NodeProto,
        i: usize,
        name: &str,
    ) -> Result<Option<Const>, ImportError> {
        arg(np, i)
            .map(|_| self.dq_const(np, i, name).map(|c| c.0))
            .transpose()
    }

    fn dq_const(
        &self,
        np: &pb::NodeProto,
        i: usize,
        name: &str,
    ) -> Result<(Const, QParams), ImportError> {
        match self.val(np, i, name)? {
            Val::DqConst(c, p) => Ok((c.clone(), p.clone())),
            _ => Err(ImportError::at(
                name,
                format!("input #{i} must be the DequantizeLinear of an initializer"),
            )),
        }
    }

    fn tensor(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        kind: TensorKind,
        q: Option<&QParams>,
    ) -> Result<TensorId, ImportError> {
        let affine = q.map(|q| q.affine(name)).transpose()?;
        self.g.tensors.push(QTensor {
            name: name.to_string(),
            shape,
            scale: 0,
            kind,
            affine,
        });
        Ok(self.g.tensors.len() - 1)
    }

    // --- quantize / dequantize ----------------------------------------------------------

    fn quantize_linear(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let y = self.params(np, (1, 2), name)?;
        let input = arg(np, 0).and_then(|n| self.vals.remove(n).map(|v| (n.to_string(), v)));
        let Some((x, v)) = input else {
            return Err(ImportError::at(
                name,
                "QuantizeLinear of a tensor that is not a graph input or a linear op",
            ));
        };
        let result = match v {
            Val::FloatInput(ref f) => self.graph_input(f, &y).map(Val::Q),
            Val::Pending(ref p) => self.requant(p, &y, &output(np, name)?).map(Val::Q),
            Val::Dq(ref a) => {
                let a = a.clone();
                self.requantized(name, a, &y, &output(np, name)?).map(Val::Q)
            }
            Val::PendingConcat(ref p) => self.pending_concat(p, &y, &output(np, name)?).map(Val::Q),
            Val::Island(ref isl) => self
                .island_table(name, isl, &y, &output(np, name)?)
                .map(Val::Q),
            Val::PendingAverage(ref p) => self
                .average(p, (&y, AverageForm::Qdq), &output(np, name)?)
                .map(Val::Q),
            Val::PendingGlobalAverage(ref a, ref node) => {
                self.global_average(node, a, &y, &output(np, name)?).map(Val::Q)
            }
            Val::PendingBinary(ref p) => {
                let out = output(np, name)?;
                match p.op {
                    Binary::Add => self.add(&p.name, (&p.a, &p.b), &y, &out),
                    Binary::Mul => self.mul(&p.name, (&p.a, &p.b), (&y, MulForm::Qdq), &out),
                    Binary::MatMul => match &p.b {
                        Summand::Act(b) => self.matmul_of_acts(&p.name, (&p.a, b), &y, &out),
                        Summand::Const(..) => Err(ImportError::at(&p.name, "a MatMul of an int8 tensor by a constant reached its QuantizeLinear as a product of two tensors")),
                    },
                }
                .map(Val::Q)
            }
            Val::PendingUnary(ref a, f) => self.table(name, a, (f, &y), &output(np, name)?).map(Val::Q),
            Val::PendingSoftmax(ref p) => self.softmax(p, &y, &output(np, name)?).map(Val::Q),
            Val::Norm(ref p) => self.norm_quantized(p, &y, &output(np, name)?).map(Val::Q),
            Val::Masked(ref m) => self.masked(m, &y, &output(np, name)?).map(Val::Q),
            _ => Err(ImportError::at(name, "QuantizeLinear of a float op other than Conv, Gemm, MatMul, Add, Mul, AveragePool, GlobalAveragePool, Relu, Clip, Sigmoid, LeakyRelu, Softmax or a view is not imported yet")),
        };
        self.vals.insert(x, v);
        result
    }

    /// A float graph input quantized by the model: its integers are the public input, range
    /// checked once (an identity elementwise step) before any op reads them, then moved by the
    /// views between the input and its QuantizeLinear.
    fn graph_input(&mut self, f: &FloatInput, y: &QParams) -> Result<Act, ImportError> {
        let x = &f.input;
        let checked = self.quantized_input(x, &f.source, y)?;
        let Some((shape, map)) = &f.view else {
            return Ok(Act {
                id: checked,
                q: y.clone(),
                shape: f.source.clone(),
            });
        };
        let id = self.tensor(
            &format!("{x} (moved)"),
            shape.clone(),
            TensorKind::Activation,
            Some(y),
        )?;
        self.g.ops.push(QOp::View(ViewOp {
            name: format!("{x} views"),
            inputs: vec![checked],
            output: id,
            map: map.iter().map(|&e| (0u16, e)).collect(),
        }));
        Ok(Act {
            id,
            q: y.clone(),
            shape: shape.clone(),
        })
    }

    /// The public inputs in the graph's order (a float input's turn comes at its QuantizeLinear,
    /// so they were made in the nodes' order); a graph input nothing quantizes is refused.
    fn order_inputs(&mut self, graph: &pb::GraphProto) -> Result<(), ImportError> {
        let mut ordered = Vec::with_capacity(self.g.inputs.len());
        for vi in graph
            .input
            .iter()
            .filter(|vi| !self.consts.contains_key(&vi.name))
        {
            let found = self
                .g
                .inputs
                .iter()
                .find(|&&t| self.g.tensors[t].name == vi.name);
            match found {
                Some(&t) => ordered.push(t),
                None => {
                    return Err(ImportError::at(
                        &vi.name,
                        "a float graph input that no QuantizeLinear reads (zkinfer proves what the model computes from its inputs)",
                    ))
                }
            }
        }
        self.g.inputs = ordered;
        Ok(())
    }

    /// The range-checked integers of float graph input `x` quantized to `y`: made public once,
    /// however many QuantizeLinear nodes read the input (with other parameters: refused, the
    /// input would be two public tensors).
    fn quantized_input(
        &mut self,
        x: &str,
        source: &[usize],
        y: &QParams,
    ) -> Result<TensorId, ImportError> {
        if let Some((q, id)) = self.quantized_inputs.get(x) {
            return match q == y {
                true => Ok(*id),
                false => Err(ImportError::at(
                    x,
                    "a graph input quantized by QuantizeLinear nodes with different parameters (zkinfer imports one quantization per input)",
                )),
            };
        }
        let raw = self.tensor(x, source.to_vec(), TensorKind::Activation, Some(y))?;
        self.g.inputs.push(raw);
        let checked = self.tensor(
            &format!("{x} (checked)"),
            source.to_vec(),
            TensorKind::Activation,
            Some(y),
        )?;
        self.g.ops.push(QOp::Elementwise(identity_step(
            format!("{x} range check"),
            (raw, checked),
            0,
        )));
        self.quantized_inputs
            .insert(x.to_string(), (y.clone(), checked));
        Ok(checked)
    }

    fn dequantize_linear(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let mut p = self.params(np, (1, 2), name)?;
        if let Some(c) = arg(np, 0).and_then(|n| self.consts.get(n)) {
            if p.scales.len() > 1 {
                let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
                let axis = Attrs::new(np, name).int("axis").map_err(fe)?.unwrap_or(1);
                let rank = c.t.shape.len() as i64;
                let a = if axis < 0 { axis + rank } else { axis };
                if !(0..rank).contains(&a) {
                    return Err(ImportError::at(name, format!("axis {axis} out of range")));
                }
                p.axis = Some(a as usize);
            }
            return Ok(Val::DqConst(c.clone(), p));
        }
        let raw_input = matches!(self.val(np, 0, name)?, Val::IntInput(_));
        let a = self.act(np, 0, name)?;
        if a.q != p {
            return Err(ImportError::at(
                name,
                "DequantizeLinear with other parameters than its input's QuantizeLinear",
            ));
        }
        if !raw_input {
            return Ok(Val::Dq(a));
        }
        // An int8 graph input's integers, given this scale and zero point (a view).
        let n = a.shape.iter().product::<usize>() as u32;
        let moved = (a.shape.clone(), (0..n).map(|e| (0u16, e)).collect());
        let act = Act {
            id: a.id,
            q: p.clone(),
            shape: a.shape.clone(),
        };
        self.moved(name, &[act], moved, &output(np, name)?)
            .map(Val::Dq)
    }

    // --- the end ------------------------------------------------------------------------

    fn finish(mut self, graph: &pb::GraphProto) -> Result<Imported, ImportError> {
        self.order_inputs(graph)?;
        for o in &graph.output {
            match self.vals.get(&o.name) {
                Some(Val::Dq(a)) => self.g.outputs.push(a.id),
                Some(&Val::Integers(id)) => self.g.outputs.push(id),
                // The integers themselves: a tensor without a scale of its own lists them.
                Some(Val::Q(a)) => {
                    let a = a.clone();
                    let id = self.tensor(&o.name, a.shape.clone(), TensorKind::Activation, None)?;
                    self.g.ops.push(QOp::View(ViewOp {
                        name: format!("{} (integers)", o.name),
                        inputs: vec![a.id],
                        output: id,
                        map: (0..a.shape.iter().product::<usize>() as u32)
                            .map(|e| (0u16, e))
                            .collect(),
                    }));
                    self.g.outputs.push(id);
                }
                _ => {
                    return Err(ImportError::at(
                        &o.name,
                        "a graph output must be an int8/uint8 tensor, its DequantizeLinear, or a MatMulInteger's or ConvInteger's int32 result",
                    ))
                }
            }
        }
        // Activations (uint8 included) need 9 bits; the range table (2^bits rows) also checks
        // the requantizations' quotients in limbs of `bits`: half their width keeps it small
        // with two limbs.
        self.g.bits = self.q_bits.div_ceil(2).clamp(9, 20).max(self.min_bits);
        zkinfer_circuits::graph::remove_unread(&mut self.g);
        zkinfer_circuits::graph::scalar_products(&mut self.g);
        zkinfer_circuits::graph::centre_at_source(&mut self.g);
        zkinfer_circuits::graph::compose_tables(&mut self.g);
        zkinfer_circuits::graph::skip_known_zeros(&mut self.g);
        self.g
            .validate()
            .map_err(|e| ImportError::at("<graph>", e.to_string()))?;
        Ok(Imported {
            graph: self.g,
            requants: self.requants,
            tables: self.tables,
            onnx_nodes: graph.node.len(),
        })
    }
}

/// A Constant node's value (the version converter writes some initializers, e.g. Unsqueeze's
/// axes, as Constant nodes).
fn constant(np: &pb::NodeProto, name: &str, opset: i64) -> Result<Const, ImportError> {
    let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
    let spec = crate::ops::lookup("Constant")
        .ok_or_else(|| ImportError::at(name, "Constant is not registered"))?;
    let op = (spec.build)(&Attrs::new(np, name), opset).map_err(fe)?;
    let t = op
        .eval(name, &[])
        .map_err(fe)?
        .into_iter()
        .next()
        .ok_or_else(|| ImportError::at(name, "a Constant without a value"))?;
    let given = np
        .attribute
        .iter()
        .find(|a| a.name == "value")
        .and_then(|a| a.t.as_ref())
        .map(|t| t.data_type);
    let elem = given.unwrap_or(match t.dtype {
        crate::tensor::DType::Float => pb::tensor_proto::DataType::Float as i32,
        _ => pb::tensor_proto::DataType::Int64 as i32,
    });
    Ok(Const { t, elem })
}

/// The elementwise step `output = func(input)` (function 0 is the identity: a range check).
fn identity_step(name: String, io: (TensorId, TensorId), func: u32) -> ElemOp {
    ElemOp::lookup(name, io, func)
}

// --- weights and shapes ---------------------------------------------------------------------

fn ints(c: &Const, name: &str, what: &str) -> Result<Vec<i64>, ImportError> {
    let ok = int_range(c.elem).is_some() || c.elem == pb::tensor_proto::DataType::Int32 as i32;
    if !ok {
        return Err(ImportError::at(
            name,
            format!("{what} must be int8, uint8 or int32"),
        ));
    }
    Ok(c.t.data.iter().map(|&v| v as i64).collect())
}

fn dims4(s: &[usize], name: &str) -> Result<[usize; 4], ImportError> {
    match s {
        &[a, b, c, d] => Ok([a, b, c, d]),
        _ => Err(ImportError::at(
            name,
            format!("expected a 4-D tensor, got shape {s:?} (1-D convolutions and pools are imported in float models only)"),
        )),
    }
}
