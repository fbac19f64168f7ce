//! Walks a quantized model's nodes (in file order, which ONNX requires to be topological) and
//! builds the quantized graph.

use super::linear::{channel_rule, quotient_bound, ChannelRule, Requant, Weights};
use super::params::{int_range, Const, QParams};
use super::unary::Unary;
use super::views;
use super::{ImportError, Imported, RequantReport};
use crate::ops::Window;
use crate::proto::{decode_tensor, Attrs};
use std::collections::HashMap;
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

/// Where a linear op's outputs go: its geometry, output shape and elements per channel.
struct Layout {
    geometry: Geometry,
    shape: Vec<usize>,
    inner: usize,
}

/// A Conv/Gemm/MatMul of a QDQ pattern, waiting for its QuantizeLinear.
struct Pending {
    node: String,
    acc: TensorId,
    weights: Weights,
    x: QParams,
    alpha: f32,
    inner: usize,
    offsets: Vec<i64>,
    shape: Vec<usize>,
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
    /// An Add of DequantizeLinear outputs, waiting for its QuantizeLinear.
    PendingAdd(Box<PendingAdd>),
    /// A GlobalAveragePool (node name) of a DequantizeLinear, waiting for its QuantizeLinear.
    PendingGlobalAverage(Act, String),
}

/// An operand of an int8 Add: an activation, or a constant's integers with their parameters.
#[derive(Clone)]
enum Summand {
    Act(Act),
    Const(Const, QParams),
}

/// An Add of DequantizeLinear outputs (or of one and a constant's).
struct PendingAdd {
    name: String,
    a: Act,
    b: Summand,
}

/// A Concat of DequantizeLinear outputs with different parameters.
struct PendingConcat {
    node: pb::NodeProto,
    name: String,
    inputs: Vec<Act>,
}

struct Importer {
    consts: HashMap<String, Const>,
    vals: HashMap<String, Val>,
    g: QuantizedGraph,
    requants: Vec<RequantReport>,
    /// The widest `quotient_bits` of the requantizations.
    q_bits: u32,
    /// The model's default-domain opset.
    opset: i64,
}

/// Imports a quantized model's graph (see the module docs).
pub fn import(graph: &pb::GraphProto, opset: i64) -> Result<Imported, ImportError> {
    let mut im = Importer::new(graph, opset)?;
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
        let mut vals = HashMap::new();
        for vi in graph
            .input
            .iter()
            .filter(|vi| !consts.contains_key(&vi.name))
        {
            let (shape, _) = crate::onnx::input_shape(vi)
                .map_err(|e| ImportError::at(&vi.name, e.to_string()))?;
            let input = FloatInput {
                input: vi.name.clone(),
                source: shape,
                view: None,
            };
            vals.insert(vi.name.clone(), Val::FloatInput(input));
        }
        let g = QuantizedGraph {
            bits: 9,
            tensors: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            ops: Vec::new(),
            functions: vec![FnKind::Identity],
            integer_inputs: Vec::new(),
        };
        Ok(Importer {
            consts,
            vals,
            g,
            requants: Vec::new(),
            q_bits: 0,
            opset,
        })
    }

    fn node(&mut self, np: &pb::NodeProto, name: &str) -> Result<(), ImportError> {
        let out = output(np, name)?;
        if (np.domain.as_str(), np.op_type.as_str()) == ("", "Constant") {
            let c = constant(np, name, self.opset)?;
            self.consts.insert(out, c);
            return Ok(());
        }
        let val = match (np.domain.as_str(), np.op_type.as_str()) {
            (_, "QuantizeLinear") => self.quantize_linear(np, name)?,
            (_, "DequantizeLinear") => self.dequantize_linear(np, name)?,
            ("", "QLinearConv") => self.qlinear_conv(np, name)?,
            ("com.microsoft", "QGemm") => self.qgemm(np, name)?,
            ("", "QLinearMatMul") => self.qlinear_matmul(np, name)?,
            ("", "Conv") => self.qdq_conv(np, name)?,
            ("", "Gemm") => self.qdq_gemm(np, name)?,
            ("", "MatMul") => self.qdq_matmul(np, name)?,
            ("", op) if views::VIEW_OPS.contains(&op) => self.view(np, name)?,
            ("", "MaxPool") => self.max_pool(np, name)?,
            ("", "Sigmoid") => Val::PendingUnary(self.dq_act(np, 0, name)?, Unary::Sigmoid),
            ("", "Relu") => Val::PendingUnary(self.dq_act(np, 0, name)?, Unary::Relu),
            ("", "LeakyRelu") => {
                Val::PendingUnary(self.dq_act(np, 0, name)?, Unary::leaky_relu(np, name)?)
            }
            ("com.microsoft", "QLinearSigmoid") => self.qlinear_unary(np, name, Unary::Sigmoid)?,
            ("com.microsoft", "QLinearConcat") => self.qlinear_concat(np, name)?,
            ("com.microsoft", "QLinearAdd") => self.qlinear_add(np, name)?,
            ("", "Add") => self.qdq_add(np, name)?,
            ("com.microsoft", "QLinearGlobalAveragePool") => self.qlinear_global_average(np, name)?,
            ("", "GlobalAveragePool") => {
                Val::PendingGlobalAverage(self.dq_act(np, 0, name)?, name.to_string())
            }
            ("com.microsoft", "QLinearLeakyRelu") => {
                self.qlinear_unary(np, name, Unary::leaky_relu(np, name)?)?
            }
            (d, op) => {
                return Err(ImportError::at(name, format!(
                    "'{op}'{} is not imported from quantized models yet (imported: QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, com.microsoft QGemm, QLinearSigmoid, QLinearLeakyRelu, QLinearConcat, QLinearAdd and QLinearGlobalAveragePool; Conv, Gemm, MatMul, Add, GlobalAveragePool, Relu, Sigmoid, LeakyRelu between DequantizeLinear and QuantizeLinear; MaxPool; {})",
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

    /// Input `i` as an int8/uint8 tensor, or (`dq`) as its DequantizeLinear.
    fn act_of(
        &self,
        np: &pb::NodeProto,
        (i, dq): (usize, bool),
        name: &str,
    ) -> Result<Act, ImportError> {
        match (self.val(np, i, name)?, dq) {
            (Val::Q(a), false) | (Val::Dq(a), true) => Ok(a.clone()),
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
            Val::PendingGlobalAverage(ref a, ref node) => {
                self.global_average(node, a, &y, &output(np, name)?).map(Val::Q)
            }
            Val::PendingAdd(ref p) => {
                self.add(&p.name, (&p.a, &p.b), &y, &output(np, name)?).map(Val::Q)
            }
            Val::PendingUnary(ref a, f) => self.table(name, a, (f, &y), &output(np, name)?).map(Val::Q),
            _ => Err(ImportError::at(name, "QuantizeLinear of a float op other than Conv, Gemm, MatMul, Add, GlobalAveragePool, Relu, Sigmoid, LeakyRelu or a view is not imported yet")),
        };
        self.vals.insert(x, v);
        result
    }

    /// A float graph input quantized by the model: its integers are the public input, range
    /// checked once (an identity elementwise step) before any op reads them, then moved by the
    /// views between the input and its QuantizeLinear.
    fn graph_input(&mut self, f: &FloatInput, y: &QParams) -> Result<Act, ImportError> {
        let x = &f.input;
        let raw = self.tensor(x, f.source.clone(), TensorKind::Activation, Some(y))?;
        self.g.inputs.push(raw);
        let checked = self.tensor(
            &format!("{x} (checked)"),
            f.source.clone(),
            TensorKind::Activation,
            Some(y),
        )?;
        self.g.ops.push(QOp::Elementwise(identity_step(
            format!("{x} range check"),
            (raw, checked),
            0,
        )));
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

    fn dequantize_linear(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let p = self.params(np, (1, 2), name)?;
        if let Some(c) = arg(np, 0).and_then(|n| self.consts.get(n)) {
            return Ok(Val::DqConst(c.clone(), p));
        }
        let a = self.act(np, 0, name)?;
        if a.q != p {
            return Err(ImportError::at(
                name,
                "DequantizeLinear with other parameters than its input's QuantizeLinear",
            ));
        }
        Ok(Val::Dq(a))
    }

    // --- linear ops ---------------------------------------------------------------------

    /// The linear op of `w` over `x`; returns the accumulator and its offsets.
    fn linear(
        &mut self,
        name: &str,
        x: &Act,
        w: &Weights,
        geometry: Geometry,
        shape: &[usize],
    ) -> Result<(TensorId, Vec<i64>), ImportError> {
        let acc = self.tensor(
            &format!("{name} (accumulator)"),
            shape.to_vec(),
            TensorKind::Accumulator,
            None,
        )?;
        let op = w.op(name, (x.id, acc), geometry);
        let n = shape.iter().product();
        let offsets = Weights::offsets(&op, x.q.zp(0), n);
        self.g.ops.push(QOp::Linear(op));
        Ok((acc, offsets))
    }

    /// The requantization of a linear op's accumulator to `y`.
    fn requant(&mut self, p: &Pending, y: &QParams, out: &str) -> Result<Act, ImportError> {
        y.affine(out)?; // an activation's parameters, checked before the fit relies on them
        let r = Requant {
            x: &p.x,
            y,
            alpha: p.alpha,
        };
        let rules: Vec<ChannelRule> = p.weights.rules(&p.node, &r)?;
        let acc = Accumulated {
            id: p.acc,
            shape: p.shape.clone(),
            inner: p.inner,
            offsets: p.offsets.clone(),
        };
        self.requantize(&p.node, acc, &rules, y, out)
    }

    /// `acc` requantized to `y` by `rules` (one per `acc.inner` elements), reported for
    /// `compile`'s summary.
    fn requantize(
        &mut self,
        node: &str,
        acc: Accumulated,
        rules: &[ChannelRule],
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let quotient_bits = self.quotient_bits(quotient_bound(rules));
        self.requants.push(RequantReport {
            node: node.to_string(),
            channels: rules.len(),
            exact: rules.iter().filter(|c| c.exact).count(),
            half_even: rules
                .iter()
                .filter(|c| c.exact && c.rule.rounding() == Rounding::HalfEven)
                .count(),
        });
        let id = self.tensor(out, acc.shape.clone(), TensorKind::Activation, Some(y))?;
        self.g.ops.push(QOp::Requant(RequantOp {
            name: node.to_string(),
            input: acc.id,
            output: id,
            rules: rules.iter().map(|c| c.rule).collect(),
            inner: u32::try_from(acc.inner).unwrap_or(u32::MAX),
            offsets: acc.offsets,
            quotient_bits,
        }));
        Ok(Act {
            id,
            q: y.clone(),
            shape: acc.shape,
        })
    }

    /// The bits of a requantization's quotients before the clamp (at most `quotient`, with the
    /// clamp's headroom), noted for the graph's width.
    fn quotient_bits(&mut self, quotient: i64) -> u32 {
        let need = u64::try_from(quotient.max(256)).unwrap_or(u64::MAX) + 2;
        let bits = (64 - need.leading_zeros() + 1).min(62);
        self.q_bits = self.q_bits.max(bits);
        bits
    }

    /// A linear op, pending its requantization.
    fn pending(
        &mut self,
        name: &str,
        x: &Act,
        w: Weights,
        layout: Layout,
        alpha: f32,
    ) -> Result<Pending, ImportError> {
        if !(w.params.scales.len() == 1 || w.params.scales.len() == w.m) {
            return Err(ImportError::at(
                name,
                "weight scales must be one per tensor or one per output channel",
            ));
        }
        let (acc, offsets) = self.linear(name, x, &w, layout.geometry, &layout.shape)?;
        Ok(Pending {
            node: name.to_string(),
            acc,
            weights: w,
            x: x.q.clone(),
            alpha,
            inner: layout.inner,
            offsets,
            shape: layout.shape,
        })
    }

    fn qlinear_conv(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let x = self.act(np, 0, name)?;
        let wp = self.params(np, (4, 5), name)?;
        let y = self.params(np, (6, 7), name)?;
        let w = self.konst(np, 3, name)?.clone();
        let bias = self.opt_konst(np, 8, name)?;
        let (w, layout) = conv_weights(np, name, &x, (&w, wp), bias.as_ref())?;
        let p = self.pending(name, &x, w, layout, 1.0)?;
        self.requant(&p, &y, &output(np, name)?).map(Val::Q)
    }

    fn qdq_conv(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let x = self.dq_act(np, 0, name)?;
        let (w, wp) = self.dq_const(np, 1, name)?;
        let bias = self.opt_dq_const(np, 2, name)?;
        let (w, layout) = conv_weights(np, name, &x, (&w, wp), bias.as_ref())?;
        Ok(Val::Pending(Box::new(
            self.pending(name, &x, w, layout, 1.0)?,
        )))
    }

    fn qgemm(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let x = self.act(np, 0, name)?;
        let wp = self.params(np, (4, 5), name)?;
        if arg(np, 7).is_none() {
            return Err(ImportError::at(
                name,
                "QGemm with a float output (no y_scale) is not imported",
            ));
        }
        let y = self.params(np, (7, 8), name)?;
        let w = self.konst(np, 3, name)?.clone();
        let bias = self.opt_konst(np, 6, name)?;
        let a = gemm_attrs(np, name)?;
        let x = self.gemm_input(x, &a, name)?;
        let (w, layout) = dense_weights(name, &x, (&w, wp), bias.as_ref(), a.trans_b)?;
        let p = self.pending(name, &x, w, layout, a.alpha)?;
        self.requant(&p, &y, &output(np, name)?).map(Val::Q)
    }

    fn qdq_gemm(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let x = self.dq_act(np, 0, name)?;
        let (w, wp) = self.dq_const(np, 1, name)?;
        let bias = self.opt_dq_const(np, 2, name)?;
        let a = gemm_attrs(np, name)?;
        if a.beta != 1.0 {
            return Err(ImportError::at(name, "Gemm with beta ≠ 1 is not imported"));
        }
        let x = self.gemm_input(x, &a, name)?;
        let (w, layout) = dense_weights(name, &x, (&w, wp), bias.as_ref(), a.trans_b)?;
        Ok(Val::Pending(Box::new(
            self.pending(name, &x, w, layout, a.alpha)?,
        )))
    }

    /// A Gemm's `A`: the input, or its transpose (a view) with `transA`.
    fn gemm_input(&mut self, x: Act, a: &GemmAttrs, name: &str) -> Result<Act, ImportError> {
        if !a.trans_a {
            return Ok(x);
        }
        let &[r, c] = x.shape.as_slice() else {
            return Err(ImportError::at(name, "Gemm's A must be a matrix"));
        };
        let shape = vec![c, r];
        let id = self.tensor(
            &format!("{name} (A transposed)"),
            shape.clone(),
            TensorKind::Activation,
            Some(&x.q),
        )?;
        let (_, idx) = crate::tensor::transpose_index(&x.shape, &[1, 0]);
        self.g.ops.push(QOp::View(ViewOp {
            name: format!("{name} transA"),
            inputs: vec![x.id],
            output: id,
            map: idx.into_iter().map(|e| (0u16, e)).collect(),
        }));
        Ok(Act { id, q: x.q, shape })
    }

    fn qlinear_matmul(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let x = self.act(np, 0, name)?;
        let wp = self.params(np, (4, 5), name)?;
        let y = self.params(np, (6, 7), name)?;
        let w = self.konst(np, 3, name)?.clone();
        let (w, layout) = dense_weights(name, &x, (&w, wp), None, false)?;
        let p = self.pending(name, &x, w, layout, 1.0)?;
        self.requant(&p, &y, &output(np, name)?).map(Val::Q)
    }

    fn qdq_matmul(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let x = self.dq_act(np, 0, name)?;
        let (w, wp) = self.dq_const(np, 1, name)?;
        let (w, layout) = dense_weights(name, &x, (&w, wp), None, false)?;
        Ok(Val::Pending(Box::new(
            self.pending(name, &x, w, layout, 1.0)?,
        )))
    }

    // --- pools ---------------------------------------------------------------------------

    /// MaxPool of an int8 tensor (QOperator), or of its DequantizeLinear (QDQ: the result is
    /// quantized again with the same parameters, which gives back the same integers).
    fn max_pool(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        if np.output.len() > 1 {
            return Err(ImportError::at(
                name,
                "MaxPool's Indices output is not imported",
            ));
        }
        let (x, dq) = self.int_or_dq(np, 0, name)?;
        let id = self.tensor(
            &output(np, name)?,
            Vec::new(),
            TensorKind::Activation,
            Some(&x.q),
        )?;
        let op = crate::ops::max_op(&Attrs::new(np, name), name, &x.shape, (x.id, id))
            .map_err(|e| ImportError::at(name, e.to_string()))?;
        let shape = vec![1, op.chw[0], op.out[0], op.out[1]];
        self.g.tensors[id].shape = shape.clone();
        self.g.ops.push(QOp::MaxPool(op));
        let act = Act { id, q: x.q, shape };
        Ok(if dq { Val::Dq(act) } else { Val::Q(act) })
    }

    // --- unary float ops as tables ------------------------------------------------------

    fn qlinear_unary(
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
    fn table(
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

    // --- views --------------------------------------------------------------------------

    /// A view (see `views`) of int8 tensors, or of their DequantizeLinear in a QDQ model: the
    /// moved inputs must share one scale and zero point, which the output keeps.
    fn view(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let n_data = views::data_inputs(&np.op_type, np.input.len());
        let consts = (n_data..np.input.len())
            .map(|i| {
                arg(np, i)
                    .map(|_| self.konst(np, i, name).map(|c| &c.t))
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let (1, Val::FloatInput(f)) = (n_data, self.val(np, 0, name)?) {
            let (shape, map) =
                views::view_map(np, name, self.opset, &[f.shape().to_vec()], &consts)?;
            let elements = map.iter().map(|&(_, e)| f.element(e)).collect();
            return Ok(Val::FloatInput(FloatInput {
                view: Some((shape, elements)),
                ..f.clone()
            }));
        }
        let acts = (0..n_data)
            .map(|i| self.int_or_dq(np, i, name))
            .collect::<Result<Vec<_>, _>>()?;
        let dq = acts[0].1;
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

    /// The view `(shape, map)` of `inputs` (which share their parameters) as tensor `out`.
    fn moved(
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
    fn requantized(
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
    fn pending_concat(
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
    fn qlinear_concat(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
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
            let declared = self.params(np, (i + 1, i + 2), name)?;
            let x = Act {
                q: declared,
                ..self.act(np, i, name)?
            };
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

    // --- global average pools -----------------------------------------------------------

    /// com.microsoft QLinearGlobalAveragePool (NCHW).
    fn qlinear_global_average(
        &mut self,
        np: &pb::NodeProto,
        name: &str,
    ) -> Result<Val, ImportError> {
        let channels_last = Attrs::new(np, name)
            .int("channels_last")
            .map_err(|e| ImportError::at(name, e.to_string()))?
            .unwrap_or(0);
        if channels_last != 0 {
            return Err(ImportError::at(
                name,
                "channels_last QLinearGlobalAveragePool is not imported",
            ));
        }
        let x = Act {
            q: self.params(np, (1, 2), name)?,
            ..self.act(np, 0, name)?
        };
        let y = self.params(np, (3, 4), name)?;
        self.global_average(name, &x, &y, &output(np, name)?)
            .map(Val::Q)
    }

    /// Each channel's mean, as ONNX Runtime's QLinearGlobalAveragePool computes it: the
    /// channel's integers summed exactly (`Σ (x − z_x)`, a linear op of weight 1), requantized
    /// with `m = fl32(s_x / fl32(s_y·N))` by ORT's usual rule (`linear::channel_rule`).
    fn global_average(
        &mut self,
        name: &str,
        x: &Act,
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
        let [_, c, h, w] = dims4(&x.shape, name)?;
        let n = h * w;
        let (ax, ay) = (x.q.affine(name)?, y.affine(out)?);
        let shape = vec![1, c, 1, 1];
        let acc = self.tensor(
            &format!("{name} (sums)"),
            shape.clone(),
            TensorKind::Accumulator,
            None,
        )?;
        self.g.ops.push(QOp::Linear(LinearOp {
            name: name.to_string(),
            input: x.id,
            output: acc,
            sets: vec![WeightSet {
                m: 1,
                k: n,
                w: vec![1; n],
                b: vec![0],
            }],
            geometry: Geometry::Dense {
                outer: 1,
                inner: c,
                xs: [0, n, 1],
                ys: [0, 1, 1],
                sets: None,
            },
        }));
        let zx = ax.zero_point();
        let (lo, hi) = ax.range();
        let bound = i64::try_from(n)
            .unwrap_or(i64::MAX)
            .saturating_mul((hi - zx).max(zx - lo));
        let m = ax.scale() / (ay.scale() * n as f32);
        let rule = channel_rule(name, m, (ay.zero_point(), ay.range()), bound)?;
        let offset = -zx * i64::try_from(n).unwrap_or(i64::MAX);
        let acc = Accumulated {
            id: acc,
            shape,
            inner: c,
            offsets: vec![offset; c],
        };
        self.requantize(name, acc, &[rule], y, out)
    }

    // --- sums ----------------------------------------------------------------------------

    /// Input `i` of an Add: an activation (as `dq` says: int8 or its DequantizeLinear) or a
    /// constant with its parameters (for QLinearAdd at `params`).
    fn summand(
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
        if let Some(p) = params {
            a.q = self.params(np, p, name)?; // ONNX Runtime computes with the declared ones
        }
        Ok(Summand::Act(a))
    }

    fn qdq_add(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let (a, b) = (
            self.summand(np, (0, true, None), name)?,
            self.summand(np, (1, true, None), name)?,
        );
        let (a, b) = ordered(name, a, b)?;
        Ok(Val::PendingAdd(Box::new(PendingAdd {
            name: name.to_string(),
            a,
            b,
        })))
    }

    fn qlinear_add(&mut self, np: &pb::NodeProto, name: &str) -> Result<Val, ImportError> {
        let a = self.summand(np, (0, false, Some((1, 2))), name)?;
        let b = self.summand(np, (3, false, Some((4, 5))), name)?;
        let y = self.params(np, (6, 7), name)?;
        let (a, b) = ordered(name, a, b)?;
        self.add(name, (&a, &b), &y, &output(np, name)?).map(Val::Q)
    }

    /// `Q_y(DQ_a(a) + DQ_b(b))` with numpy broadcasting, proven as `add::fit`'s rule: the two
    /// operands side by side (a view), `M_a·a + M_b·b` (a linear op), requantized.
    fn add(
        &mut self,
        name: &str,
        (a, b): (&Act, &Summand),
        y: &QParams,
        out: &str,
    ) -> Result<Act, ImportError> {
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
        let (aa, ab, ay) = (a.q.affine(name)?, b_q.affine(name)?, y.affine(name)?);
        let consts: Option<Vec<i64>> = match b {
            Summand::Const(c, _) => Some(ints(c, name, "an Add's constant")?),
            Summand::Act(_) => None,
        };
        let mut values = consts.clone();
        if let Some(v) = values.as_mut() {
            v.sort_unstable();
            v.dedup();
        }
        let r = super::add::fit(&aa, &ab, &ay, values.as_deref())
            .ok_or_else(|| ImportError::at(name, "no integer rule for this Add"))?;
        let n = ia.len();
        let (za, zb) = (aa.zero_point(), ab.zero_point());
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
            shape.clone(),
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
        let offsets: Vec<i64> = match &consts {
            None => vec![-(r.ma * za + r.mb * zb); n],
            Some(c) => ib
                .iter()
                .map(|&e| r.mb * (c[e as usize] - zb) - r.ma * za)
                .collect(),
        };
        let rule = ChannelRule {
            rule: r.rule,
            exact: r.mismatches == 0,
            bound: r.ma * (aa.range().1 - aa.range().0) + r.mb * (ab.range().1 - ab.range().0),
        };
        let acc = Accumulated {
            id: acc,
            shape,
            inner: n,
            offsets,
        };
        self.requantize(name, acc, &[rule], y, out)
    }

    // --- the end ------------------------------------------------------------------------

    fn finish(mut self, graph: &pb::GraphProto) -> Result<Imported, ImportError> {
        for o in &graph.output {
            match self.vals.get(&o.name) {
                Some(Val::Dq(a)) => self.g.outputs.push(a.id),
                // A proof lists an int8 output as its DequantizeLinear values: an output that is
                // the integers themselves would be listed as what the model does not output.
                Some(Val::Q(_)) => {
                    return Err(ImportError::at(
                        &o.name,
                        "an int8/uint8 graph output (without its DequantizeLinear) is not supported yet",
                    ))
                }
                _ => {
                    return Err(ImportError::at(
                        &o.name,
                        "a graph output must be the DequantizeLinear of an int8/uint8 tensor",
                    ))
                }
            }
        }
        // Activations (uint8 included) need 9 bits; the range table (2^bits rows) also checks
        // the requantizations' quotients in limbs of `bits`: half their width keeps it small
        // with two limbs.
        self.g.bits = self.q_bits.div_ceil(2).clamp(9, 20);
        self.g
            .validate()
            .map_err(|e| ImportError::at("<graph>", e.to_string()))?;
        Ok(Imported {
            graph: self.g,
            requants: self.requants,
            onnx_nodes: graph.node.len(),
        })
    }
}

/// An Add's operands with the activation first (a sum of two constants is not an int8 op).
fn ordered(name: &str, a: Summand, b: Summand) -> Result<(Act, Summand), ImportError> {
    match (a, b) {
        (Summand::Act(a), b) | (b, Summand::Act(a)) => Ok((a, b)),
        _ => Err(ImportError::at(name, "an Add of two constants")),
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
fn identity_step(name: String, (input, output): (TensorId, TensorId), func: u32) -> ElemOp {
    ElemOp {
        name,
        output,
        a: Some(Operand {
            tensor: input,
            index: None,
        }),
        b: None,
        qa: Coef::Const(1),
        qb: Coef::Const(0),
        qm: Coef::Const(0),
        qc: Coef::Const(0),
        shift: 0,
        func,
    }
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

fn bias_of(bias: Option<&Const>, m: usize, name: &str) -> Result<Vec<i64>, ImportError> {
    match bias {
        None => Ok(vec![0; m]),
        Some(b) => {
            let v = ints(b, name, "the bias")?;
            if v.len() != m {
                return Err(ImportError::at(
                    name,
                    format!("bias has {} values for {m} channels", v.len()),
                ));
            }
            Ok(v)
        }
    }
}

/// A conv's weights and its layout: geometry, output shape `[1, m, oh, ow]`, elements per
/// channel.
fn conv_weights(
    np: &pb::NodeProto,
    name: &str,
    x: &Act,
    (w, params): (&Const, QParams),
    bias: Option<&Const>,
) -> Result<(Weights, Layout), ImportError> {
    let attrs = Attrs::new(np, name);
    let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
    if attrs.int("group").map_err(fe)?.unwrap_or(1) != 1 {
        return Err(ImportError::at(
            name,
            "grouped convolutions are not imported yet",
        ));
    }
    let ([_, c, h, wd], [m, wc, kh, kw]) = (dims4(&x.shape, name)?, dims4(&w.t.shape, name)?);
    if wc != c {
        return Err(ImportError::at(name, "weights and input channels differ"));
    }
    let window = Window::parse(&attrs, true).map_err(fe)?;
    let (out, pads) = window.resolve(name, [h, wd], [kh, kw]).map_err(fe)?;
    let geometry = Geometry::Conv2d {
        c,
        h,
        w: wd,
        kernel: [kh, kw],
        stride: window.strides,
        pad: [pads[0], pads[1]],
        dilation: window.dilations,
        out,
    };
    let weights = Weights {
        w: ints(w, name, "the weights")?,
        bias: bias_of(bias, m, name)?,
        m,
        params,
    };
    let layout = Layout {
        geometry,
        shape: vec![1, m, out[0], out[1]],
        inner: out[0] * out[1],
    };
    Ok((weights, layout))
}

fn dims4(s: &[usize], name: &str) -> Result<[usize; 4], ImportError> {
    match s {
        &[a, b, c, d] => Ok([a, b, c, d]),
        _ => Err(ImportError::at(
            name,
            format!("expected a 4-D tensor, got shape {s:?}"),
        )),
    }
}

/// A dense layer's weights (`n × k` rows from `B`, transposed unless `trans_b`) and its layout
/// over an input of `rows × k`.
fn dense_weights(
    name: &str,
    x: &Act,
    (w, params): (&Const, QParams),
    bias: Option<&Const>,
    trans_b: bool,
) -> Result<(Weights, Layout), ImportError> {
    let (&k, lead) = x
        .shape
        .split_last()
        .ok_or_else(|| ImportError::at(name, "a scalar input"))?;
    let rows: usize = lead.iter().product();
    let &[b0, b1] = w.t.shape.as_slice() else {
        return Err(ImportError::at(name, "weights must be a matrix"));
    };
    let (wk, n) = if trans_b { (b1, b0) } else { (b0, b1) };
    if wk != k {
        return Err(ImportError::at(
            name,
            format!(
                "weights {:?} do not match the input {:?}",
                w.t.shape, x.shape
            ),
        ));
    }
    let raw = ints(w, name, "the weights")?;
    let rows_of_w: Vec<i64> = match trans_b {
        true => raw,
        false => (0..n)
            .flat_map(|c| (0..k).map(move |t| (c, t)))
            .map(|(c, t)| raw[t * n + c])
            .collect(),
    };
    let mut shape = lead.to_vec();
    shape.push(n);
    let geometry = Geometry::Dense {
        outer: 1,
        inner: rows,
        xs: [0, k, 1],
        ys: [0, n, 1],
        sets: None,
    };
    let weights = Weights {
        w: rows_of_w,
        bias: bias_of(bias, n, name)?,
        m: n,
        params,
    };
    Ok((
        weights,
        Layout {
            geometry,
            shape,
            inner: 1,
        },
    ))
}

struct GemmAttrs {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

fn gemm_attrs(np: &pb::NodeProto, name: &str) -> Result<GemmAttrs, ImportError> {
    let a = Attrs::new(np, name);
    let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
    Ok(GemmAttrs {
        trans_a: a.int("transA").map_err(fe)?.unwrap_or(0) != 0,
        alpha: a.float("alpha").map_err(fe)?.unwrap_or(1.0) as f32,
        beta: a.float("beta").map_err(fe)?.unwrap_or(1.0) as f32,
        trans_b: a.int("transB").map_err(fe)?.unwrap_or(0) != 0,
    })
}
