//! `OnnxModel`: the first front-end stage. A validated ONNX graph in topological order, with
//! every tensor's shape known (batch fixed to 1) and constant/shape subgraphs folded.

use super::ops::{self, OnnxOp};
use super::proto::{decode_tensor, Attrs};
use super::tensor::{DType, Tensor};
use super::FrontendError;
use prost::Message;
use std::collections::HashMap;
use tract_onnx::pb::{self, type_proto, ModelProto};
use zkinfer_circuits::input::{InputData, InputError};

/// A tensor of the ONNX graph.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    /// ONNX name.
    pub name: String,
    /// Shape with batch 1.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Value, for constants (initializers and folded subgraphs).
    pub value: Option<Tensor>,
    /// Producing node.
    pub producer: Option<usize>,
}

/// A node of the ONNX graph.
#[derive(Debug)]
pub struct Node {
    /// Node name (or `<op>#<index>` when unnamed).
    pub name: String,
    /// ONNX op type.
    pub op_type: String,
    /// Parsed op.
    pub op: Box<dyn OnnxOp>,
    /// Input tensors (`None` for omitted optional inputs).
    pub inputs: Vec<Option<usize>>,
    /// Output tensors.
    pub outputs: Vec<usize>,
    /// Folded at compile time.
    pub constant: bool,
}

impl Node {
    /// Float semantics on the current tensor values; checks the output count.
    fn eval(&self, vals: &[Option<Tensor>]) -> Result<Vec<Tensor>, FrontendError> {
        let args: Vec<Option<&Tensor>> = self
            .inputs
            .iter()
            .map(|i| i.and_then(|t| vals[t].as_ref()))
            .collect();
        let outs = self.op.eval(&self.name, &args)?;
        if outs.len() < self.outputs.len() {
            return Err(FrontendError::Shape {
                node: self.name.clone(),
                detail: "produces fewer outputs than declared".into(),
            });
        }
        Ok(outs)
    }
}

/// A loaded and checked ONNX model.
#[derive(Debug)]
pub struct OnnxModel {
    /// Default-domain opset.
    pub opset: i64,
    /// Producer recorded in the file.
    pub producer: String,
    /// All tensors.
    pub tensors: Vec<TensorInfo>,
    /// All nodes, in topological order.
    pub nodes: Vec<Node>,
    /// Nodes that compute on the input (the rest were folded), in order.
    pub compute: Vec<usize>,
    /// Graph inputs (not initializers).
    pub inputs: Vec<usize>,
    /// Graph outputs.
    pub outputs: Vec<usize>,
    /// Compute nodes reading each tensor.
    pub consumers: Vec<Vec<usize>>,
}

fn not_onnx(path: &str, detail: impl Into<String>) -> FrontendError {
    FrontendError::NotOnnx {
        path: path.to_string(),
        detail: detail.into(),
    }
}

fn graph_err(detail: impl Into<String>) -> FrontendError {
    FrontendError::Graph {
        detail: detail.into(),
    }
}

/// Reads a graph input's element type (float, or int32/int64 for token ids) and shape, fixing a
/// symbolic first dimension to 1.
pub(crate) fn input_shape(vi: &pb::ValueInfoProto) -> Result<(Vec<usize>, DType), FrontendError> {
    let (shape, elem) = input_tensor(vi)?;
    let float_types = [
        pb::tensor_proto::DataType::Float as i32,
        pb::tensor_proto::DataType::Double as i32,
        pb::tensor_proto::DataType::Float16 as i32,
    ];
    let int_types = [
        pb::tensor_proto::DataType::Int64 as i32,
        pb::tensor_proto::DataType::Int32 as i32,
    ];
    let dtype = if int_types.contains(&elem) {
        DType::Int
    } else if float_types.contains(&elem) {
        DType::Float
    } else {
        return Err(graph_err(format!(
            "graph input '{}' has element type {}; zkinfer proves models with float inputs, or int32/int64 token ids",
            vi.name,
            elem_name(elem)
        )));
    };
    Ok((shape, dtype))
}

/// The name of an ONNX element type code.
pub(crate) fn elem_name(elem: i32) -> String {
    pb::tensor_proto::DataType::try_from(elem)
        .map(|d| format!("{d:?}"))
        .unwrap_or_else(|_| elem.to_string())
}

/// The largest dimension of a graph input zkinfer takes.
const MAX_DIM: i64 = 1 << 24;

/// A graph input's shape (a symbolic first dimension fixed to 1) and element type code.
pub(crate) fn input_tensor(vi: &pb::ValueInfoProto) -> Result<(Vec<usize>, i32), FrontendError> {
    let name = &vi.name;
    let Some(type_proto::Value::TensorType(tt)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(graph_err(format!("graph input '{name}' is not a tensor")));
    };
    let Some(shape) = &tt.shape else {
        return Err(graph_err(format!("graph input '{name}' has no shape")));
    };
    let mut out = Vec::with_capacity(shape.dim.len());
    for (i, d) in shape.dim.iter().enumerate() {
        use pb::tensor_shape_proto::dimension::Value;
        match &d.value {
            Some(Value::DimValue(v)) if *v > 0 && *v <= MAX_DIM => out.push(*v as usize),
            Some(Value::DimValue(v)) if *v > MAX_DIM => {
                return Err(graph_err(format!(
                    "graph input '{name}' dimension #{i} is {v}, larger than the 2^24 zkinfer takes"
                )))
            }
            // A vector of no elements (an empty `axes` list, say) has no batch dimension.
            Some(Value::DimValue(0)) if shape.dim.len() == 1 => {
                return Err(graph_err(format!(
                    "graph input '{name}' is empty (its one dimension is 0); zkinfer proves tensors with elements, so make an empty list of axes or sizes a constant"
                )))
            }
            // An unknown batch dimension (no size, a name, or a non-positive size some
            // exporters write for "dynamic") is proven at 1.
            _ if i == 0 => out.push(1),
            Some(Value::DimParam(p)) => {
                return Err(graph_err(format!(
                    "graph input '{name}' dimension #{i} is symbolic ('{p}'); only the first (batch) dimension may be symbolic"
                )))
            }
            Some(Value::DimValue(v)) => {
                return Err(graph_err(format!(
                    "graph input '{name}' dimension #{i} is {v}, not a size (only the first, batch, dimension may be left unknown)"
                )))
            }
            None => {
                return Err(graph_err(format!(
                    "graph input '{name}' dimension #{i} has no size (only the first, batch, dimension may be left unknown)"
                )))
            }
        }
    }
    // Shape inference holds a tensor of this shape: at most 2^26 elements.
    crate::tensor::checked_len(&out, name).map_err(|_| {
        graph_err(format!(
            "graph input '{name}' of shape {out:?} has more than 2^26 elements"
        ))
    })?;
    Ok((out, tt.elem_type))
}

/// The tensors read so far, with their index by name (each name may be defined once).
#[derive(Default)]
struct TensorTable {
    list: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
}

impl TensorTable {
    /// Registers a tensor; returns its index.
    fn add(&mut self, info: TensorInfo) -> Result<usize, FrontendError> {
        if self.by_name.contains_key(&info.name) {
            return Err(graph_err(format!(
                "tensor '{}' is defined twice",
                info.name
            )));
        }
        self.by_name.insert(info.name.clone(), self.list.len());
        self.list.push(info);
        Ok(self.list.len() - 1)
    }
}

impl OnnxModel {
    /// Parses and checks an ONNX file's bytes (`path` names it in messages).
    pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Self, FrontendError> {
        let proto = decode_model(bytes, path)?;
        let (graph, opset) = check_model(&proto, path)?;
        // Before the initializers: an int4 or float8 zero point would be refused as a bare
        // data type there.
        refuse_quantized(graph)?;
        let mut table = TensorTable::default();
        add_initializers(graph, &mut table)?;
        let inputs = add_inputs(graph, &mut table)?;
        let mut nodes = resolve_nodes(graph, opset, &mut table)?;
        connect_inputs(&mut nodes, graph, &table)?;
        let outputs = graph_outputs(graph, &table)?;
        let mut tensors = table.list;
        let mut nodes = topological_order(nodes, &mut tensors)?;
        let constant = fold_constants(&mut nodes, &mut tensors, &inputs)?;
        for &o in &outputs {
            if constant[o] {
                return Err(graph_err(format!(
                    "graph output '{}' does not depend on the input",
                    tensors[o].name
                )));
            }
        }
        let compute: Vec<usize> = (0..nodes.len()).filter(|&i| !nodes[i].constant).collect();
        let consumers = compute_consumers(&nodes, &compute, tensors.len());
        Ok(OnnxModel {
            opset,
            producer: proto.producer_name.clone(),
            tensors,
            nodes,
            compute,
            inputs,
            outputs,
            consumers,
        })
    }

    /// Checks an input file against the graph inputs and converts it to tensors.
    pub fn input_tensors(&self, data: &InputData) -> Result<Vec<Tensor>, FrontendError> {
        if data.values.len() != self.inputs.len() {
            return Err(InputError::Count {
                path: data.source.clone(),
                expected: self.inputs.len(),
                got: data.values.len(),
            }
            .into());
        }
        let mut out = Vec::new();
        for (i, (vals, &t)) in data.values.iter().zip(&self.inputs).enumerate() {
            let info = &self.tensors[t];
            let n: usize = info.shape.iter().product();
            if vals.len() != n {
                return Err(InputError::Length {
                    path: data.source.clone(),
                    index: i,
                    name: info.name.clone(),
                    expected: n,
                    got: vals.len(),
                    shape: info.shape.clone(),
                }
                .into());
            }
            if info.dtype == DType::Int {
                if let Some(j) = vals.iter().position(|v| v.fract() != 0.0) {
                    return Err(InputError::NotInteger {
                        path: data.source.clone(),
                        index: i,
                        name: info.name.clone(),
                        position: j,
                        value: vals[j],
                    }
                    .into());
                }
            }
            out.push(Tensor {
                shape: info.shape.clone(),
                data: vals.clone(),
                dtype: info.dtype,
            });
        }
        Ok(out)
    }

    /// Float interpreter: the value of every tensor for these inputs.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Option<Tensor>>, FrontendError> {
        let mut vals: Vec<Option<Tensor>> = self.tensors.iter().map(|t| t.value.clone()).collect();
        for (&i, t) in self.inputs.iter().zip(inputs) {
            vals[i] = Some(t.clone());
        }
        for &ni in &self.compute {
            let node = &self.nodes[ni];
            let outs = node.eval(&vals)?;
            for (&o, v) in node.outputs.iter().zip(outs) {
                vals[o] = Some(v);
            }
        }
        Ok(vals)
    }

    /// Text description for `zkinfer inspect --stage onnx`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "ONNX model: opset {}, producer '{}', {} node(s), {} folded at compile time\n",
            self.opset,
            self.producer,
            self.nodes.len(),
            self.nodes.len() - self.compute.len()
        );
        for &i in &self.inputs {
            s += &format!(
                "  input  {} {:?}\n",
                self.tensors[i].name, self.tensors[i].shape
            );
        }
        for node in &self.nodes {
            let ins: Vec<String> = node
                .inputs
                .iter()
                .map(|i| match i {
                    Some(t) if self.tensors[*t].value.is_some() => format!(
                        "{}(const {:?})",
                        self.tensors[*t].name, self.tensors[*t].shape
                    ),
                    Some(t) => format!("{}{:?}", self.tensors[*t].name, self.tensors[*t].shape),
                    None => "-".into(),
                })
                .collect();
            let outs: Vec<String> = node
                .outputs
                .iter()
                .map(|&t| format!("{}{:?}", self.tensors[t].name, self.tensors[t].shape))
                .collect();
            s += &format!(
                "  {} {:<18} {:<28} ({}) -> {}\n",
                if node.constant { "fold" } else { "node" },
                node.op_type,
                node.name,
                ins.join(", "),
                outs.join(", ")
            );
        }
        for &o in &self.outputs {
            s += &format!(
                "  output {} {:?}\n",
                self.tensors[o].name, self.tensors[o].shape
            );
        }
        s
    }
}

/// Decodes the protobuf of a non-empty file.
pub(crate) fn decode_model(bytes: &[u8], path: &str) -> Result<ModelProto, FrontendError> {
    if bytes.is_empty() {
        return Err(FrontendError::EmptyFile {
            path: path.to_string(),
        });
    }
    ModelProto::decode(bytes).map_err(|e| not_onnx(path, format!("protobuf decoding failed ({e})")))
}

/// The model's graph and default-domain opset, once the header says it is an ONNX model.
pub(crate) fn check_model<'p>(
    proto: &'p ModelProto,
    path: &str,
) -> Result<(&'p pb::GraphProto, i64), FrontendError> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| not_onnx(path, "it contains no graph"))?;
    if proto.ir_version <= 0 {
        return Err(not_onnx(path, "missing IR version"));
    }
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| not_onnx(path, "no default-domain opset import"))?;
    if graph.node.is_empty() {
        return Err(not_onnx(path, "the graph has no nodes"));
    }
    if opset < 7 {
        // Before opset 7 Add, Mul, Pow, ... broadcast by `broadcast`/`axis` attributes and
        // BatchNormalization has `is_test` and `spatial`, which zkinfer does not read.
        return Err(graph_err(format!(
            "{path}: opset {opset}; zkinfer reads opset 7 and later"
        )));
    }
    Ok((graph, opset))
}

/// Registers the initializers (constants, with their values).
fn add_initializers(graph: &pb::GraphProto, table: &mut TensorTable) -> Result<(), FrontendError> {
    for init in &graph.initializer {
        let t = decode_tensor(init)?;
        table.add(TensorInfo {
            name: init.name.clone(),
            shape: t.shape.clone(),
            dtype: t.dtype,
            value: Some(t),
            producer: None,
        })?;
    }
    Ok(())
}

/// Registers the graph inputs that are not initializers; there must be at least one.
fn add_inputs(
    graph: &pb::GraphProto,
    table: &mut TensorTable,
) -> Result<Vec<usize>, FrontendError> {
    let init_names: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|i| i.name.as_str()).collect();
    let mut inputs = Vec::new();
    for vi in &graph.input {
        if init_names.contains(vi.name.as_str()) {
            continue;
        }
        let (shape, dtype) = input_shape(vi)?;
        inputs.push(table.add(TensorInfo {
            name: vi.name.clone(),
            shape,
            dtype,
            value: None,
            producer: None,
        })?);
    }
    if inputs.is_empty() {
        return Err(graph_err("the graph has no (non-constant) inputs"));
    }
    Ok(inputs)
}

/// Nodes: resolve ops, register outputs. The nodes' inputs are left empty.
fn resolve_nodes(
    graph: &pb::GraphProto,
    opset: i64,
    table: &mut TensorTable,
) -> Result<Vec<Node>, FrontendError> {
    let mut nodes: Vec<Node> = Vec::with_capacity(graph.node.len());
    for (i, np) in graph.node.iter().enumerate() {
        let (name, op) = resolve_op(np, i, opset)?;
        let named = |o: &String| !o.is_empty();
        let outputs_ok = match op.skips_unnamed_outputs() {
            true => np.output.iter().any(named),
            false => np.output.first().is_some_and(named),
        };
        if !outputs_ok {
            return Err(graph_err(format!(
                "node '{name}' ({}) does not name its first output",
                np.op_type
            )));
        }
        let mut outputs = Vec::new();
        for o in &np.output {
            if o.is_empty() {
                continue;
            }
            let id = table.add(TensorInfo {
                name: o.clone(),
                shape: vec![],
                dtype: DType::Float,
                value: None,
                producer: Some(nodes.len()),
            })?;
            outputs.push(id);
        }
        nodes.push(Node {
            name,
            op_type: np.op_type.clone(),
            op,
            inputs: vec![],
            outputs,
            constant: false,
        });
    }
    Ok(nodes)
}

/// Refuses a model quantized statically by ONNX Runtime's tool (the float front end's steps
/// do not read it; `compile` imports it), naming its form: QOperator when it has an integer
/// operator (such models also hold QuantizeLinear), else QDQ. A dynamically quantized model
/// (DynamicQuantizeLinear) passes: the float front end lowers it; one quantized dynamically
/// below opset 11 is refused with the way out.
pub(crate) fn refuse_quantized(graph: &pb::GraphProto) -> Result<(), FrontendError> {
    let found: Vec<(usize, &pb::NodeProto, &'static str)> = graph
        .node
        .iter()
        .enumerate()
        .filter_map(|(i, np)| ops::quantized_form(&np.op_type).map(|f| (i, np, f)))
        .collect();
    let name = |i: usize, np: &pb::NodeProto| {
        if np.name.is_empty() {
            format!("{}#{i}", np.op_type)
        } else {
            np.name.clone()
        }
    };
    if let Some((i, np, feature)) = found
        .iter()
        .find_map(|&(i, np, _)| quantization_feature(graph, np).map(|f| (i, np, f)))
    {
        return Err(FrontendError::QuantizationFeature {
            op: np.op_type.clone(),
            node: name(i, np),
            feature,
        });
    }
    // Dynamic quantization is lowered by the float front end (`ops::dynamic`).
    if found.iter().any(|(_, _, f)| *f == "dynamic quantization") {
        return Ok(());
    }
    // Below opset 11 the tool writes DynamicQuantizeLinear out (ReduceMin, ReduceMax, Div,
    // Floor, a QuantizeLinear of a computed scale).
    if let Some(&(i, np, _)) = found
        .iter()
        .find(|(_, np, _)| matches!(np.op_type.as_str(), "MatMulInteger" | "ConvInteger"))
    {
        if graph.node.iter().any(|q| computed_scale(graph, q)) {
            return Err(FrontendError::OpsetTenDynamic { node: name(i, np) });
        }
    }
    let pick = ["QOperator format", "QDQ format"]
        .iter()
        .find_map(|form| found.iter().find(|(_, _, f)| f == form));
    match pick {
        None => Ok(()),
        Some(&(i, np, form)) => Err(FrontendError::QuantizedModel {
            op: np.op_type.clone(),
            node: name(i, np),
            form,
        }),
    }
}

/// Whether `np` is a QuantizeLinear whose scale is computed (neither an initializer nor a
/// Constant node's output).
fn computed_scale(graph: &pb::GraphProto, np: &pb::NodeProto) -> bool {
    let Some(scale) = np.input.get(1).filter(|_| np.op_type == "QuantizeLinear") else {
        return false;
    };
    let initializer = graph.initializer.iter().any(|t| &t.name == scale);
    let constant =
        (graph.node.iter()).any(|c| c.op_type == "Constant" && c.output.iter().any(|o| o == scale));
    !initializer && !constant
}

/// What makes a QuantizeLinear/DequantizeLinear one zkinfer will not import even once int8
/// import exists: blocked scales, or values (an initializer quantized input or zero point, or
/// `output_dtype`) of a type other than int8/uint8 and the int32 of biases.
fn quantization_feature(graph: &pb::GraphProto, np: &pb::NodeProto) -> Option<&'static str> {
    if !matches!(np.op_type.as_str(), "QuantizeLinear" | "DequantizeLinear") {
        return None;
    }
    if np
        .attribute
        .iter()
        .any(|a| a.name == "block_size" && a.i > 0)
    {
        return Some("blocked quantization (block_size)");
    }
    let of_inputs = [0, 2].into_iter().filter_map(|k| {
        let n = np.input.get(k)?;
        graph
            .initializer
            .iter()
            .find(|t| &t.name == n)
            .map(|t| t.data_type)
    });
    let declared = np
        .attribute
        .iter()
        .filter(|a| a.name == "output_dtype")
        .filter_map(|a| i32::try_from(a.i).ok());
    // ONNX's TensorProto.DataType codes (tract's enum stops before the narrow types).
    of_inputs.chain(declared).find_map(|t| match t {
        4 | 5 => Some("int16/uint16 values"),
        17..=20 | 24 => Some("float8 values"),
        21 | 22 => Some("int4/uint4 values"),
        23 => Some("float4 values"),
        25 | 26 => Some("int2/uint2 values"),
        _ => None,
    })
}

/// The name of node #`i` (`<op>#<i>` when unnamed) and its parsed op.
fn resolve_op(
    np: &pb::NodeProto,
    i: usize,
    opset: i64,
) -> Result<(String, Box<dyn OnnxOp>), FrontendError> {
    let name = if np.name.is_empty() {
        format!("{}#{i}", np.op_type)
    } else {
        np.name.clone()
    };
    let spec = ops::lookup_in(&np.domain, &np.op_type);
    let Some(spec) = spec else {
        return Err(FrontendError::UnsupportedOp {
            op: np.op_type.clone(),
            domain: if np.domain.is_empty() {
                "ai.onnx".into()
            } else {
                np.domain.clone()
            },
            node: name,
            supported: ops::supported_list(),
        });
    };
    let op = (spec.build)(&Attrs::new(np, &name), opset)?;
    Ok((name, op))
}

/// Resolves every node's input names (`None` for omitted optional inputs).
fn connect_inputs(
    nodes: &mut [Node],
    graph: &pb::GraphProto,
    table: &TensorTable,
) -> Result<(), FrontendError> {
    for (node, np) in nodes.iter_mut().zip(&graph.node) {
        for (idx, inp) in np.input.iter().enumerate() {
            if inp.is_empty() {
                node.inputs.push(None);
                continue;
            }
            let id =
                table
                    .by_name
                    .get(inp)
                    .copied()
                    .ok_or_else(|| FrontendError::DanglingTensor {
                        node: node.name.clone(),
                        op: node.op_type.clone(),
                        index: idx,
                        tensor: inp.clone(),
                    })?;
            node.inputs.push(Some(id));
        }
    }
    Ok(())
}

/// Resolves the graph outputs; there must be at least one.
fn graph_outputs(graph: &pb::GraphProto, table: &TensorTable) -> Result<Vec<usize>, FrontendError> {
    let mut outputs = Vec::new();
    for o in &graph.output {
        let id = table.by_name.get(&o.name).copied().ok_or_else(|| {
            graph_err(format!(
                "graph output '{}' is not produced by any node",
                o.name
            ))
        })?;
        outputs.push(id);
    }
    if outputs.is_empty() {
        return Err(graph_err("the graph has no outputs"));
    }
    Ok(outputs)
}

/// Topological order (Kahn): the nodes reordered, with the tensors' producers renumbered.
fn topological_order(
    nodes: Vec<Node>,
    tensors: &mut [TensorInfo],
) -> Result<Vec<Node>, FrontendError> {
    let order = kahn_order(&nodes, tensors)?;
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    let nodes: Vec<Node> = order.iter().filter_map(|&i| slots[i].take()).collect();
    for (new, node) in nodes.iter().enumerate() {
        for &o in &node.outputs {
            tensors[o].producer = Some(new);
        }
    }
    Ok(nodes)
}

/// Node indices in an order where every node follows its inputs' producers; refuses a cycle.
fn kahn_order(nodes: &[Node], tensors: &[TensorInfo]) -> Result<Vec<usize>, FrontendError> {
    let n = nodes.len();
    let mut indeg = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in nodes.iter().enumerate() {
        for p in node
            .inputs
            .iter()
            .flatten()
            .filter_map(|&t| tensors[t].producer)
        {
            indeg[i] += 1;
            users[p].push(i);
        }
    }
    let mut ready: std::collections::VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.push_back(u);
            }
        }
    }
    if order.len() != n {
        let stuck = (0..n)
            .find(|&i| indeg[i] > 0)
            .map(|i| nodes[i].name.clone())
            .unwrap_or_default();
        return Err(graph_err(format!(
            "the graph has a cycle (through node '{stuck}')"
        )));
    }
    Ok(order)
}

/// Shape inference and folding: evaluate on zero inputs. Sets every computed tensor's shape
/// and type, the value of every constant one, and which nodes are constant; returns which
/// tensors are constant.
fn fold_constants(
    nodes: &mut [Node],
    tensors: &mut [TensorInfo],
    inputs: &[usize],
) -> Result<Vec<bool>, FrontendError> {
    let mut vals: Vec<Option<Tensor>> = tensors.iter().map(|t| t.value.clone()).collect();
    for &i in inputs {
        vals[i] = Some(Tensor::zeros(tensors[i].shape.clone(), tensors[i].dtype));
    }
    let mut constant: Vec<bool> = tensors.iter().map(|t| t.value.is_some()).collect();
    for node in nodes.iter_mut() {
        let outs = node
            .eval(&vals)
            .map_err(|e| computed_parameter(node, &constant, tensors).unwrap_or(e))?;
        let is_const =
            node.op_type == "Shape" || node.inputs.iter().flatten().all(|&t| constant[t]);
        check_computable(node, is_const)?;
        node.constant = is_const;
        for (&o, v) in node.outputs.iter().zip(outs) {
            tensors[o].shape = v.shape.clone();
            tensors[o].dtype = v.dtype;
            constant[o] = is_const;
            if is_const {
                tensors[o].value = Some(v.clone());
            }
            vals[o] = Some(v);
        }
    }
    Ok(constant)
}

/// Shape inference runs on zeros in place of the graph inputs. Where a node fails there and one
/// of its parameter inputs ([`OnnxOp::parameter_inputs`]: sizes, shapes, axes, pads, steps)
/// is computed from them, the zeros are why: the error names that input instead.
fn computed_parameter(
    node: &Node,
    constant: &[bool],
    tensors: &[TensorInfo],
) -> Option<FrontendError> {
    let (index, t) = node.op.parameter_inputs().iter().find_map(|&i| {
        let t = node.inputs.get(i).copied().flatten()?;
        (!constant[t]).then_some((i, t))
    })?;
    Some(FrontendError::Quantize {
        node: node.name.clone(),
        detail: computed_parameter_detail(index, &tensors[t].name, &node.op_type),
    })
}

/// The reason a parameter input (sizes, shapes, axes, pads, steps, indices) computed from a
/// graph input is refused.
pub(crate) fn computed_parameter_detail(index: usize, tensor: &str, op_type: &str) -> String {
    format!(
        "input #{index} ('{tensor}') of {op_type} must be constant, and it is computed from a graph input (zkinfer fixes sizes, shapes, axes, indices, pads and steps when it compiles a model)"
    )
}

/// Refuses a fold-only op on a computed tensor.
fn check_computable(node: &Node, is_const: bool) -> Result<(), FrontendError> {
    if !is_const && !ops::computes(&node.op_type) {
        return Err(FrontendError::UnsupportedOp {
            op: format!(
                "{} (on a computed tensor; only supported in constant subgraphs)",
                node.op_type
            ),
            domain: "ai.onnx".into(),
            node: node.name.clone(),
            supported: ops::supported_list(),
        });
    }
    Ok(())
}

/// The compute nodes reading each tensor, in order, each once.
fn compute_consumers(nodes: &[Node], compute: &[usize], n_tensors: usize) -> Vec<Vec<usize>> {
    let mut consumers = vec![Vec::new(); n_tensors];
    for &i in compute {
        for &t in nodes[i].inputs.iter().flatten() {
            if !consumers[t].contains(&i) {
                consumers[t].push(i);
            }
        }
    }
    consumers
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::tensor_shape_proto::{dimension::Value, Dimension};

    /// A float graph input `x` with these dimensions.
    fn input(dims: &[Option<Value>]) -> pb::ValueInfoProto {
        let dim = dims
            .iter()
            .map(|value| Dimension {
                value: value.clone(),
                ..Default::default()
            })
            .collect();
        pb::ValueInfoProto {
            name: "x".into(),
            r#type: Some(pb::TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: 1,
                    shape: Some(pb::TensorShapeProto { dim }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn input_dimensions_are_sizes_or_a_named_error() {
        let size = |v| Some(Value::DimValue(v));
        let shape = |dims: &[Option<Value>]| input_tensor(&input(dims)).map(|(s, _)| s);
        assert_eq!(shape(&[size(-1), size(3)]).unwrap(), vec![1, 3]);
        assert_eq!(shape(&[None, size(3)]).unwrap(), vec![1, 3]);
        let err = |dims: &[Option<Value>]| shape(dims).unwrap_err().to_string();
        assert!(err(&[size(1), size(-5)]).contains("dimension #1 is -5, not a size"));
        assert!(err(&[size(1), size(0)]).contains("dimension #1 is 0, not a size"));
        assert!(err(&[size(1), None]).contains("dimension #1 has no size"));
        assert!(err(&[size(0)]).contains("graph input 'x' is empty"));
        assert_eq!(shape(&[size(0), size(3)]).unwrap(), vec![1, 3]);
        let many = err(&[size(1 << 24), size(1 << 24)]);
        assert!(many.contains("more than 2^26 elements"), "{many}");
        let huge = err(&[size(1 << 40), size(3)]);
        assert!(
            huge.contains("dimension #0 is 1099511627776, larger than the 2^24"),
            "{huge}"
        );
        let named = err(&[size(1), Some(Value::DimParam("n".into()))]);
        assert!(named.contains("symbolic ('n')"), "{named}");
    }
}
