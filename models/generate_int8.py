#!/usr/bin/env python3
"""Generates models/int8/: the shared CNN models (../shared/models) and twelve float models of this
repository (tiny_cnn, leaky_steep, opset10 and matmul of models/ops, and concat_cnn, residual_cnn,
pooled_cnn, gated_cnn, gelu_mlp, token_mixer, mobile_cnn and embed_mlp written here: MaxPool,
LeakyRelu, Unsqueeze, Concat of different scales, Transpose, Add, GlobalAveragePool, Mul,
AveragePool, float GELU and Tanh, MatMul of two computed tensors, depthwise and grouped
convolutions, token-id embeddings)
quantized by ONNX Runtime's own quantization tool, with ONNX Runtime's outputs for each, under ORT_ENABLE_ALL and ORT_DISABLE_ALL,
on the shipped input and on 100 seeded random inputs. These are the fixtures of the int8 issue
(16): the proven outputs must equal these. CI uses the committed files and needs no Python.

    pip install onnx==1.23.2 onnxruntime==1.32.0 numpy
    python3 models/generate_int8.py            # everything
    python3 models/generate_int8.py dynamic    # only the dynamic CNNs and transformers
    python3 models/generate_int8.py transformers  # only the QDQ transformers (nanoGPT)
    python3 models/generate_int8.py only M...  # only models M... (e.g. 1l_softmax)

ONNX Runtime's uint8/int8 kernels differ between CPUs (saturating pairs without VNNI):
regenerating everything on another machine rewrites recorded outputs the tests compare
bit for bit; regenerate only what changed.

Per model, eight static variants: QDQ and QOperator format, per-tensor and per-channel weights,
s8s8 (int8 activations and weights) and u8s8 (uint8 activations, int8 weights), calibrated by
MinMax on the shipped input and 16 random inputs; plus 1l_mlp, 1l_conv and 4l_relu_conv_fc
quantized dynamically (`quantize_dynamic`: DynamicQuantizeLinear + MatMulInteger/ConvInteger,
at opset 13: below 11 the tool writes DynamicQuantizeLinear out), and nanoGPT quantized
dynamically (`dynamic_transformers`, its outputs on the shipped input and two random token
inputs). The random inputs are not stored:
`case_input(model, i)` below is an xorshift64* sequence that the Rust tests reproduce (for a
second graph input, `case_input(model@1, i)`), with
values on a 2^-10 grid in [-1, 1) (exact in f32). A variant ONNX Runtime's tool cannot write is
listed in the manifest with its error instead of files.

`refused/`: tiny Q → DQ models with the quantizations zkinfer refuses by name (int4, uint4, int2,
float8, int16, blocked scales), and the shared 1l_conv quantized dynamically at its opset 10.

`requant.json`: ONNX Runtime's requantization alone (QLinearMatMul of random matrices, per-column
scales, some of them powers of two so that products land on halves), as exact accumulators and
outputs, for the Rust emulation of its rule (`circuits/src/graph/requant.rs`).
"""
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper, version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "int8")
SHARED_MODELS = [
    "1l_mlp", "1l_conv", "2l_relu_sigmoid_conv", "4l_relu_conv_fc", "variable_cnn", "1l_softmax", "layernorm", "lstm",
]
# Float models of this repository whose quantized forms use more ops (MaxPool, LeakyRelu,
# Unsqueeze): (network, input) relative to the repository root.
REPO_MODELS = {
    "tiny_cnn": ("models/tiny_cnn/network.onnx", "models/tiny_cnn/input.json"),
    "leaky_steep": ("models/ops/leaky_steep.onnx", "models/ops/leaky_steep.json"),
    "opset10": ("models/ops/opset10.onnx", "models/ops/opset10.json"),
    # Written by `concat_cnn()` below: two branches with different scales concatenated
    # (QLinearConcat / DQ → Concat → Q requantize), a Transpose, a MaxPool.
    "concat_cnn": ("models/int8/sources/concat_cnn.onnx", "models/int8/sources/concat_cnn.json"),
    # Written by `residual_cnn()`: a residual Add of two convolutions, an Add of a constant
    # (QLinearAdd / DQ → Add → Q), a max pool, a dense layer.
    "residual_cnn": ("models/int8/sources/residual_cnn.onnx", "models/int8/sources/residual_cnn.json"),
    # Written by `pooled_cnn()`: convolutions, a Clip, an Add, a global average pool, a dense layer.
    "pooled_cnn": ("models/int8/sources/pooled_cnn.onnx", "models/int8/sources/pooled_cnn.json"),
    # Written by `gated_cnn()`: a channel gate (a sigmoid of a global average pool multiplying
    # the activation it pooled: QLinearMul / DQ → Mul → Q of two tensors, broadcast), a Mul by
    # a per-channel constant, a padded average pool (QLinearAveragePool), a dense layer.
    "gated_cnn": ("models/int8/sources/gated_cnn.onnx", "models/int8/sources/gated_cnn.json"),
    # Written by `gelu_mlp()`: dense layers with activations the quantizer leaves in float
    # between DequantizeLinear and QuantizeLinear (a GELU written out with Erf, a Tanh).
    "gelu_mlp": ("models/int8/sources/gelu_mlp.onnx", "models/int8/sources/gelu_mlp.json"),
    # Written by `token_mixer()`: products of two computed tensors, as attention has (Q·Kᵀ,
    # then its product with V: QLinearMatMul / DQ → MatMul → Q of two tensors), batched.
    "token_mixer": ("models/int8/sources/token_mixer.onnx", "models/int8/sources/token_mixer.json"),
    # A constant matrix times a computed one (A·x), then a product of two inputs' tensors; two
    # graph inputs.
    "matmul": ("models/ops/matmul.onnx", "models/ops/matmul.json"),
    # Written by `mobile_cnn()`: a depthwise convolution (group = channels) and a grouped one,
    # as MobileNet-like models have.
    "mobile_cnn": ("models/int8/sources/mobile_cnn.onnx", "models/int8/sources/mobile_cnn.json"),
    # Written by `embed_mlp()`: token ids (an int64 input) through an embedding table, then
    # dense layers.
    "embed_mlp": ("models/int8/sources/embed_mlp.onnx", "models/int8/sources/embed_mlp.json"),
    # Written by `norm_attention()`: a layer normalisation written out (ReduceMean, Sub, Pow,
    # ReduceMean, Add, Sqrt, Div, Mul, Add: the quantizer leaves it as float islands), then
    # one attention head with a causal mask (Where of a constant condition) and a softmax.
    "norm_attention": ("models/int8/sources/norm_attention.onnx", "models/int8/sources/norm_attention.json"),
}
ROOT = os.path.join(HERE, "..")


def sources(model):
    """(network, input) of `model`, relative to the repository root."""
    if model in REPO_MODELS:
        return REPO_MODELS[model]
    base = os.path.join("..", "shared", "models", model)
    return os.path.join(base, "network.onnx"), os.path.join(base, "input.json")


MODELS = SHARED_MODELS + list(REPO_MODELS)
RANDOM_CASES = 100
CALIBRATION_CASES = 16
LEVELS = {
    "enable_all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


def case_input(model, i, n):
    """n values of random case i (i >= 1) of `model`: xorshift64* seeded by the model's name and
    i, each value the top 11 bits mapped to k / 1024 for k in [-1024, 1024)."""
    state = 0x9E3779B97F4A7C15
    for c in model.encode() + b"#" + str(i).encode():
        state = ((state ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    state |= 1
    out = []
    for _ in range(n):
        state ^= state >> 12
        state ^= (state << 25) & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 27
        word = (state * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF
        out.append(((word >> 53) - 1024) / 1024.0)
    return out


def shipped_inputs(model):
    """The shipped input of `model`: one flat list per graph input."""
    with open(os.path.join(ROOT, sources(model)[1])) as f:
        return json.load(f)["input_data"]


# Models whose graph input 0 is token ids, with their vocabulary: a random value v in [-1, 1)
# becomes the id floor((v + 1) / 2 * V).
TOKEN_VOCAB = {"embed_mlp": 20}


def case_inputs(model, i, sizes):
    """Random case i of `model`, one flat list per graph input (of `sizes` values): input 0's is
    case_input(model, i), input j's case_input(model@j, i); token ids as TOKEN_VOCAB says."""
    base = model.split("/")[0]
    out = [case_input(model if j == 0 else f"{model}@{j}", i, n) for j, n in enumerate(sizes)]
    if base in TOKEN_VOCAB:
        v = TOKEN_VOCAB[base]
        out[0] = [int(np.floor((x + 1) / 2 * v)) for x in out[0]]
    return out


def input_metas(path):
    """(name, shape, numpy type) of each graph input, batch 1."""
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return [meta_of(m) for m in sess.get_inputs()]


def meta_of(m):
    kind = np.int64 if m.type == "tensor(int64)" else np.float32
    return m.name, [d if isinstance(d, int) else 1 for d in m.shape], kind


def feed(metas, flats):
    return {
        name: np.asarray(x, dtype=kind).reshape(shape)
        for (name, shape, kind), x in zip(metas, flats)
    }


class Reader(CalibrationDataReader):
    def __init__(self, model, metas):
        sizes = [int(np.prod(shape)) for _, shape, _ in metas]
        cases = [shipped_inputs(model)] + [
            case_inputs(model + "/calibration", i, sizes) for i in range(1, CALIBRATION_CASES + 1)
        ]
        self.feeds = iter([feed(metas, flats) for flats in cases])

    def get_next(self):
        return next(self.feeds, None)


def opset_of(model):
    """The default domain's opset of `model`."""
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def static_variants():
    for fmt in ["qdq", "qoperator"]:
        for granularity in ["per_tensor", "per_channel"]:
            for types in ["s8s8", "u8s8"]:
                yield f"{fmt}_{granularity}_{types}", fmt, granularity == "per_channel", types


def quantize(model, src, fmt, per_channel, types, dst):
    if fmt == "qdq" and per_channel:
        # Per-axis QuantizeLinear/DequantizeLinear need opset 13; the tool does not raise it
        # (a model at a later opset is kept: LayerNormalization has no version before 17).
        m = onnx.load(src)
        if opset_of(m) < 13:
            raised = dst + ".opset13.onnx"
            onnx.save(version_converter.convert_version(m, 13), raised)
            src = raised
    quantize_static(
        src,
        dst,
        Reader(model, input_metas(src)),
        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
        per_channel=per_channel,
        activation_type=QuantType.QInt8 if types == "s8s8" else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


def run(path, level, flats):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = LEVELS[level]
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    metas = [meta_of(m) for m in sess.get_inputs()]
    return [o.astype(np.float64).ravel().tolist() for o in sess.run(None, feed(metas, flats))]


def output_grid(path):
    """(scale, zero point) of the DequantizeLinear that writes the (single) graph output, if
    one does with per-tensor parameters: the output is then an integer on that grid."""
    m = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    out = m.graph.output[0].name
    node = next((n for n in m.graph.node if out in n.output), None)
    if node is None or node.op_type != "DequantizeLinear" or len(node.input) < 3:
        return None
    scale, zp = inits.get(node.input[1]), inits.get(node.input[2])
    if scale is None or zp is None or scale.size != 1 or zp.size != 1:
        return None
    return float(scale.ravel()[0]), int(zp.ravel()[0])


def as_integers(outputs, grid):
    """The integers q with (q - zp)·scale (in f32) equal to each output, checked."""
    scale, zp = grid
    q = np.rint(np.asarray(outputs, dtype=np.float64) / scale).astype(np.int64) + zp
    back = ((q - zp).astype(np.float32) * np.float32(scale)).astype(np.float64)
    assert np.array_equal(back, np.asarray(outputs)), "output off the DequantizeLinear grid"
    return q.tolist()


def record(model, path):
    """Outputs under both optimization levels on the shipped input and the random cases: the
    output tensor's integers (with its scale and zero point) where a DequantizeLinear writes it,
    else its float values."""
    sizes = [len(x) for x in shipped_inputs(model)]
    inputs = [shipped_inputs(model)] + [case_inputs(model, i, sizes) for i in range(1, RANDOM_CASES + 1)]
    grid = output_grid(path)
    rec = {"output_scale": grid[0], "output_zero_point": grid[1]} if grid else {}
    for level in LEVELS:
        outs = [run(path, level, x)[0] for x in inputs]
        rec[level] = [as_integers(o, grid) for o in outs] if grid else outs
    return rec


def requant_cases(rng):
    """ONNX Runtime's requantization on its own: QLinearMatMul of random int8/uint8 matrices with
    per-column scales, recorded as (exact integer accumulator, output) pairs per column, with the
    scales as f32 bits, for the Rust emulation of its rule (tests in circuits' graph/requant.rs)."""
    cases = []
    specs = [(256, "s8s8"), (256, "u8s8"), (64, "s8s8"), (1024, "u8s8"), (4, "s8s8")]
    for i, (k, types) in enumerate(specs):
        rows, cols = 64, 16
        lo, hi = (-128, 127) if types == "s8s8" else (0, 255)
        a = rng.integers(lo, hi + 1, (rows, k))
        if i == 4:
            a = rng.integers(-16, 16, (rows, k))  # small sums: many land on halves below
        # uint8 x int8 on x86 without VNNI (AVX2's vpmaddubsw) saturates each pair of products to
        # int16, so ORT's u8s8 accumulators are not the integer product when |a·b + a'·b'| can
        # pass 32767; 7-bit weights (what the tool's reduce_range gives) keep them exact.
        b = rng.integers(-128, 128, (k, cols)) if types == "s8s8" else rng.integers(-64, 64, (k, cols))
        za = 0 if types == "s8s8" else int(rng.integers(100, 156))
        zy = int(rng.integers(-20, 21)) if types == "s8s8" else int(rng.integers(100, 156))
        acc = (a - za) @ b
        a_scale = np.float32(rng.uniform(0.001, 0.05))
        b_scale = rng.uniform(0.001, 0.05, cols).astype(np.float32)
        if i == 0:
            # Power-of-two scales: acc·m lands on halves, where the rule rounds to even.
            a_scale = np.float32(2.0 ** -6)
            b_scale[:4] = [2.0 ** -7, 2.0 ** -8, 0.5 ** 10, 0.5 ** 12]
        # y_scale so that the outputs span about the type's range.
        y_scale = np.float32(3 * np.abs(acc).std() * a_scale * b_scale.mean() / 127)
        if i == 0:
            y_scale = np.float32(2.0 ** -3)
        if i == 4:
            # m = 2^-3 for every column: a quarter of the accumulators is a tie.
            b = rng.integers(-16, 16, (k, cols))
            acc = (a - za) @ b
            a_scale, b_scale[:] = np.float32(2.0 ** -4), 2.0 ** -4
            y_scale = np.float32(2.0 ** -5)
        dt = onnx.TensorProto.INT8 if types == "s8s8" else onnx.TensorProto.UINT8
        npdt = np.int8 if types == "s8s8" else np.uint8
        init = [
            onnx.helper.make_tensor("a_scale", onnx.TensorProto.FLOAT, [], [a_scale]),
            onnx.helper.make_tensor("a_zp", dt, [], [za]),
            onnx.helper.make_tensor("b", onnx.TensorProto.INT8, [k, cols], b.ravel().tolist()),
            onnx.helper.make_tensor("b_scale", onnx.TensorProto.FLOAT, [cols], b_scale.tolist()),
            onnx.helper.make_tensor("b_zp", onnx.TensorProto.INT8, [cols], [0] * cols),
            onnx.helper.make_tensor("y_scale", onnx.TensorProto.FLOAT, [], [y_scale]),
            onnx.helper.make_tensor("y_zp", dt, [], [zy]),
        ]
        node = onnx.helper.make_node(
            "QLinearMatMul",
            ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"],
            ["y"],
        )
        graph = onnx.helper.make_graph(
            [node], "requant",
            [onnx.helper.make_tensor_value_info("a", dt, [rows, k])],
            [onnx.helper.make_tensor_value_info("y", dt, [rows, cols])],
            init,
        )
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        y = sess.run(None, {"a": a.astype(npdt)})[0].astype(np.int64)
        bits = lambda x: int(np.asarray(x, dtype=np.float32).view(np.uint32))
        cases.append({
            "type": types,
            "a_scale_bits": bits(a_scale),
            "b_scale_bits": [bits(x) for x in b_scale],
            "y_scale_bits": bits(y_scale),
            "y_zero_point": zy,
            "acc": acc.T.tolist(),
            "y": y.T.tolist(),
        })
    return cases


def refused_models():
    """Tiny Q → DQ models with the quantizations zkinfer refuses by name (int4, uint4, int2,
    float8, int16, blocked), in models/int8/refused/ (no ONNX Runtime outputs: never run)."""
    T = onnx.TensorProto
    kinds = {
        "int4": (T.INT4, 21, {}),
        "uint4": (T.UINT4, 21, {}),
        "int2": (T.INT2, 25, {}),
        "float8": (T.FLOAT8E4M3FN, 19, {}),
        "int16": (T.INT16, 21, {}),
        "blocked": (T.INT8, 21, {"axis": 1, "block_size": 2}),
    }
    os.makedirs(os.path.join(OUT, "refused"), exist_ok=True)
    for name, (dtype, opset, attrs) in kinds.items():
        blocked = "block_size" in attrs
        scale_shape = [1, 2] if blocked else []
        init = [
            onnx.helper.make_tensor("scale", T.FLOAT, scale_shape, [0.05] * (2 if blocked else 1)),
            onnx.helper.make_tensor("zp", dtype, scale_shape, [0] * (2 if blocked else 1)),
        ]
        nodes = [
            onnx.helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["q"], name="quant", **attrs),
            onnx.helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], name="dequant", **attrs),
        ]
        graph = onnx.helper.make_graph(
            nodes, name,
            [onnx.helper.make_tensor_value_info("x", T.FLOAT, [1, 4])],
            [onnx.helper.make_tensor_value_info("y", T.FLOAT, [1, 4])],
            init,
        )
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
        onnx.checker.check_model(model)
        onnx.save(model, os.path.join(OUT, "refused", name + ".onnx"))
    # quantize_dynamic of an opset-10 model: DynamicQuantizeLinear written out (ReduceMin,
    # ReduceMax, Div, Floor, a QuantizeLinear of a computed scale) before a ConvInteger.
    quantize_dynamic(
        os.path.join(ROOT, sources("1l_conv")[0]),
        os.path.join(OUT, "refused", "dynamic_opset10.onnx"),
        weight_type=QuantType.QInt8,
    )


def concat_cnn():
    """A float CNN whose quantized forms concatenate tensors of different scales: conv + relu
    and a 1x1 conv of the input, concatenated on channels, a conv, a transpose of H and W, a
    max pool, flattened. Seeded weights; its input is written beside it."""
    from onnx import helper as h, TensorProto as T
    rng = np.random.default_rng(8)
    init = [
        numpy_helper.from_array(rng.normal(0, 0.5, (3, 2, 3, 3)).astype(np.float32), "W1"),
        numpy_helper.from_array(rng.normal(0, 0.2, (2, 2, 1, 1)).astype(np.float32), "W2"),
        numpy_helper.from_array(rng.normal(0, 0.3, (4, 5, 3, 3)).astype(np.float32), "W3"),
        numpy_helper.from_array(rng.normal(0, 0.1, (4,)).astype(np.float32), "B3"),
    ]
    nodes = [
        h.make_node("Conv", ["x", "W1"], ["c1"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r1"]),
        h.make_node("Conv", ["x", "W2"], ["c2"]),
        h.make_node("Concat", ["r1", "c2"], ["cat"], axis=1),
        h.make_node("Conv", ["cat", "W3", "B3"], ["c3"], pads=[1, 1, 1, 1]),
        h.make_node("Transpose", ["c3"], ["t"], perm=[0, 1, 3, 2]),
        h.make_node("MaxPool", ["t"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Flatten", ["p"], ["y"]),
    ]
    graph = h.make_graph(
        nodes, "concat_cnn",
        [h.make_tensor_value_info("x", T.FLOAT, [1, 2, 6, 6])],
        [h.make_tensor_value_info("y", T.FLOAT, [1, 36])],
        init,
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    network, inp = (os.path.join(ROOT, p) for p in REPO_MODELS["concat_cnn"])
    os.makedirs(os.path.dirname(network), exist_ok=True)
    onnx.save(model, network)
    x = [round(float(v), 4) for v in rng.uniform(-1, 1, 72)]
    with open(inp, "w") as f:
        json.dump({"input_data": [x]}, f)
        f.write("\n")


def save_source(name, nodes, init, x_shape, y_shape, rng):
    """Writes source model `name` (opset 13) and a seeded input beside it."""
    from onnx import helper as h, TensorProto as T
    graph = h.make_graph(
        nodes, name,
        [h.make_tensor_value_info("x", T.FLOAT, x_shape)],
        [h.make_tensor_value_info("y", T.FLOAT, y_shape)],
        init,
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    network, inp = (os.path.join(ROOT, p) for p in REPO_MODELS[name])
    os.makedirs(os.path.dirname(network), exist_ok=True)
    onnx.save(model, network)
    x = [round(float(v), 4) for v in rng.uniform(-1, 1, int(np.prod(x_shape)))]
    with open(inp, "w") as f:
        json.dump({"input_data": [x]}, f)
        f.write("\n")


def residual_cnn():
    """A float CNN with a residual Add of two convolutions and an Add of a per-channel
    constant, then a max pool and a dense layer. Seeded weights."""
    from onnx import helper as h
    rng = np.random.default_rng(9)
    arr = lambda shape, sd, name: numpy_helper.from_array(rng.normal(0, sd, shape).astype(np.float32), name)
    init = [
        arr((4, 2, 3, 3), 0.5, "W1"), arr((4,), 0.1, "B1"),
        arr((4, 4, 3, 3), 0.3, "W2"), arr((1, 4, 1, 1), 0.4, "K"),
        arr((10, 36), 0.3, "W3"), arr((10,), 0.1, "B3"),
    ]
    nodes = [
        h.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r1"]),
        h.make_node("Conv", ["r1", "W2"], ["c2"], pads=[1, 1, 1, 1]),
        h.make_node("Add", ["c1", "c2"], ["s"]),
        h.make_node("Add", ["s", "K"], ["s2"]),
        h.make_node("MaxPool", ["s2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Flatten", ["p"], ["f"]),
        h.make_node("Gemm", ["f", "W3", "B3"], ["y"], transB=1),
    ]
    save_source("residual_cnn", nodes, init, [1, 2, 6, 6], [1, 10], rng)


def pooled_cnn():
    """A float CNN ending in a global average pool (the head of ResNet/MobileNet-like models):
    two convolutions with a relu, the second's output plus its Clip, GlobalAveragePool, Flatten,
    a dense layer. Seeded weights."""
    from onnx import helper as h
    rng = np.random.default_rng(10)
    arr = lambda shape, sd, name: numpy_helper.from_array(rng.normal(0, sd, shape).astype(np.float32), name)
    init = [
        arr((6, 3, 3, 3), 0.4, "W1"), arr((6,), 0.1, "B1"),
        arr((8, 6, 3, 3), 0.3, "W2"), arr((8,), 0.1, "B2"),
        arr((5, 8), 0.5, "W3"), arr((5,), 0.1, "B3"),
        numpy_helper.from_array(np.array(-0.3, dtype=np.float32), "lo"),
        numpy_helper.from_array(np.array(0.3, dtype=np.float32), "hi"),
    ]
    nodes = [
        h.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r1"]),
        h.make_node("Conv", ["r1", "W2", "B2"], ["c2"], strides=[2, 2]),
        # c2 read twice, so the quantizer keeps the Clip (a table over the int8 input).
        h.make_node("Clip", ["c2", "lo", "hi"], ["k"]),
        h.make_node("Add", ["c2", "k"], ["s"]),
        h.make_node("GlobalAveragePool", ["s"], ["g"]),
        h.make_node("Flatten", ["g"], ["f"]),
        h.make_node("Gemm", ["f", "W3", "B3"], ["y"], transB=1),
    ]
    save_source("pooled_cnn", nodes, init, [1, 3, 9, 9], [1, 5], rng)


def gated_cnn():
    """A float CNN with a squeeze-and-excitation-like gate: conv + relu, its global average pool
    through a sigmoid multiplying it channel by channel (a Mul of two computed tensors,
    broadcast), a Mul by a per-channel constant, a padded average pool and a dense layer.
    Seeded weights."""
    from onnx import helper as h
    rng = np.random.default_rng(11)
    arr = lambda shape, sd, name: numpy_helper.from_array(rng.normal(0, sd, shape).astype(np.float32), name)
    init = [
        arr((4, 2, 3, 3), 0.5, "W1"), arr((4,), 0.1, "B1"),
        arr((1, 4, 1, 1), 0.8, "K"),
        arr((6, 36), 0.3, "W2"), arr((6,), 0.1, "B2"),
    ]
    nodes = [
        h.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r1"]),
        h.make_node("GlobalAveragePool", ["r1"], ["g"]),
        h.make_node("Sigmoid", ["g"], ["s"]),
        h.make_node("Mul", ["r1", "s"], ["m"]),
        h.make_node("Mul", ["m", "K"], ["m2"]),
        # Padded positions count (count_include_pad = 1): every window divides by 9.
        h.make_node("AveragePool", ["m2"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
        h.make_node("Flatten", ["p"], ["f"]),
        h.make_node("Gemm", ["f", "W2", "B2"], ["y"], transB=1),
    ]
    save_source("gated_cnn", nodes, init, [1, 2, 6, 6], [1, 6], rng)


def gelu_mlp():
    """A float MLP whose activations ONNX Runtime's quantizer leaves in float (float islands):
    a GELU written out, x·0.5·(1 + erf(x/√2)), and a Tanh. Seeded weights."""
    from onnx import helper as h
    rng = np.random.default_rng(12)
    arr = lambda shape, sd, name: numpy_helper.from_array(rng.normal(0, sd, shape).astype(np.float32), name)
    scalar = lambda v, name: numpy_helper.from_array(np.array(v, dtype=np.float32), name)
    init = [
        arr((16, 8), 0.6, "W1"), arr((16,), 0.1, "B1"),
        arr((12, 16), 0.4, "W2"), arr((12,), 0.1, "B2"),
        arr((5, 12), 0.5, "W3"), arr((5,), 0.1, "B3"),
        scalar(1.4142135, "sqrt2"), scalar(1.0, "one"), scalar(0.5, "half"),
    ]
    nodes = [
        h.make_node("Gemm", ["x", "W1", "B1"], ["h1"], transB=1),
        h.make_node("Div", ["h1", "sqrt2"], ["d"]),
        h.make_node("Erf", ["d"], ["e"]),
        h.make_node("Add", ["e", "one"], ["e1"]),
        h.make_node("Mul", ["h1", "e1"], ["g0"]),
        h.make_node("Mul", ["g0", "half"], ["g"]),
        h.make_node("Gemm", ["g", "W2", "B2"], ["h2"], transB=1),
        h.make_node("Tanh", ["h2"], ["t"]),
        h.make_node("Gemm", ["t", "W3", "B3"], ["y"], transB=1),
    ]
    save_source("gelu_mlp", nodes, init, [1, 8], [1, 5], rng)


def token_mixer():
    """Attention's products without its softmax: for 4 tokens of 6 features, Q = X·Wq, K = X·Wk
    and V = X·Wv, S = Relu(Q·Kᵀ) (a product of two computed tensors, K transposed), then S·V, a
    dense layer. Two heads side by side as a batch axis. Seeded weights."""
    from onnx import helper as h
    rng = np.random.default_rng(13)
    arr = lambda shape, sd, name: numpy_helper.from_array(rng.normal(0, sd, shape).astype(np.float32), name)
    shape = lambda v, name: numpy_helper.from_array(np.array(v, dtype=np.int64), name)
    init = [
        arr((6, 6), 0.5, "Wq"), arr((6, 6), 0.5, "Wk"), arr((6, 6), 0.5, "Wv"),
        arr((5, 24), 0.3, "Wo"), arr((5,), 0.1, "Bo"),
        shape([1, 4, 2, 3], "heads"), shape([1, 24], "flat"),
    ]
    nodes = [
        h.make_node("MatMul", ["x", "Wq"], ["q"]),
        h.make_node("MatMul", ["x", "Wk"], ["k"]),
        h.make_node("MatMul", ["x", "Wv"], ["v"]),
        h.make_node("Reshape", ["q", "heads"], ["q4"]),
        h.make_node("Reshape", ["k", "heads"], ["k4"]),
        h.make_node("Reshape", ["v", "heads"], ["v4"]),
        h.make_node("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3]),
        h.make_node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
        h.make_node("Transpose", ["v4"], ["vh"], perm=[0, 2, 1, 3]),
        h.make_node("MatMul", ["qh", "kt"], ["s"]),
        h.make_node("Relu", ["s"], ["r"]),
        h.make_node("MatMul", ["r", "vh"], ["o"]),
        h.make_node("Reshape", ["o", "flat"], ["f"]),
        h.make_node("Gemm", ["f", "Wo", "Bo"], ["y"], transB=1),
    ]
    save_source("token_mixer", nodes, init, [1, 4, 6], [1, 5], rng)


def norm_attention():
    """A dense layer on 4 tokens of 8 features, a layer normalisation written out as GPT-2's
    export writes it (ReduceMean, Sub, Pow 2, ReduceMean, Add ε, Sqrt, Div, Mul γ, Add β), one
    attention head over the normalised tokens, S = X·Xᵀ with a causal mask (Where(mask, −10,
    S)), a softmax, its product with X, and a dense layer. Seeded weights."""
    from onnx import helper as h
    rng = np.random.default_rng(17)
    arr = lambda shape, sd, name: numpy_helper.from_array(rng.normal(0, sd, shape).astype(np.float32), name)
    scalar = lambda v, name: numpy_helper.from_array(np.array(v, dtype=np.float32), name)
    mask = numpy_helper.from_array(np.triu(np.ones((4, 4), dtype=bool), 1), "mask")
    init = [
        arr((8, 8), 0.6, "W1"), arr((8,), 0.2, "B1"),
        arr((8,), 0.3, "gamma"), arr((8,), 0.1, "beta"), arr((8, 3), 0.5, "W2"),
        scalar(2.0, "two"), scalar(1e-5, "eps"), scalar(-10.0, "fill"), mask,
    ]
    nodes = [
        h.make_node("MatMul", ["x", "W1"], ["m1"]),
        h.make_node("Add", ["m1", "B1"], ["h"]),
        h.make_node("ReduceMean", ["h"], ["mean"], axes=[-1]),
        h.make_node("Sub", ["h", "mean"], ["d"]),
        h.make_node("Pow", ["d", "two"], ["d2"]),
        h.make_node("ReduceMean", ["d2"], ["var"], axes=[-1]),
        h.make_node("Add", ["var", "eps"], ["ve"]),
        h.make_node("Sqrt", ["ve"], ["sd"]),
        h.make_node("Div", ["d", "sd"], ["n"]),
        h.make_node("Mul", ["n", "gamma"], ["g"]),
        h.make_node("Add", ["g", "beta"], ["ln"]),
        h.make_node("Transpose", ["ln"], ["lt"], perm=[0, 2, 1]),
        h.make_node("MatMul", ["ln", "lt"], ["s"]),
        h.make_node("Where", ["mask", "fill", "s"], ["sm"]),
        h.make_node("Softmax", ["sm"], ["a"], axis=-1),
        h.make_node("MatMul", ["a", "ln"], ["o"]),
        h.make_node("MatMul", ["o", "W2"], ["y"]),
    ]
    save_source("norm_attention", nodes, init, [1, 4, 8], [1, 4, 3], rng)


def mobile_cnn():
    """A float CNN with MobileNet's building blocks: a convolution, a depthwise 3x3 convolution
    (group = 8, one filter per channel) with a ReLU, a pointwise 1x1 convolution, a grouped
    convolution (group = 2), a global average pool and a dense layer. Seeded weights."""
    from onnx import helper as h
    rng = np.random.default_rng(14)
    arr = lambda shape, sd, name: numpy_helper.from_array(rng.normal(0, sd, shape).astype(np.float32), name)
    init = [
        arr((8, 3, 3, 3), 0.4, "W1"), arr((8,), 0.1, "B1"),
        arr((8, 1, 3, 3), 0.5, "Wd"), arr((8,), 0.1, "Bd"),
        arr((8, 8, 1, 1), 0.4, "Wp"),
        arr((6, 4, 3, 3), 0.3, "Wg"), arr((6,), 0.1, "Bg"),
        arr((5, 6), 0.5, "W2"), arr((5,), 0.1, "B2"),
    ]
    nodes = [
        h.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r1"]),
        h.make_node("Conv", ["r1", "Wd", "Bd"], ["d"], pads=[1, 1, 1, 1], group=8),
        h.make_node("Relu", ["d"], ["rd"]),
        h.make_node("Conv", ["rd", "Wp"], ["pw"]),
        h.make_node("Conv", ["pw", "Wg", "Bg"], ["g"], strides=[2, 2], group=2),
        h.make_node("GlobalAveragePool", ["g"], ["a"]),
        h.make_node("Flatten", ["a"], ["f"]),
        h.make_node("Gemm", ["f", "W2", "B2"], ["y"], transB=1),
    ]
    save_source("mobile_cnn", nodes, init, [1, 3, 8, 8], [1, 5], rng)


def embed_mlp():
    """Six token ids (int64) looked up in a 20 x 8 embedding table (Gather), flattened, a dense
    layer with a ReLU and another dense layer. Seeded weights and ids."""
    from onnx import helper as h, TensorProto as T
    rng = np.random.default_rng(15)
    arr = lambda shape, sd, name: numpy_helper.from_array(rng.normal(0, sd, shape).astype(np.float32), name)
    init = [
        arr((20, 8), 0.7, "E"),
        arr((12, 48), 0.3, "W1"), arr((12,), 0.1, "B1"),
        arr((5, 12), 0.4, "W2"), arr((5,), 0.1, "B2"),
        numpy_helper.from_array(np.array([1, 48], dtype=np.int64), "flat"),
    ]
    nodes = [
        h.make_node("Gather", ["E", "ids"], ["e"], axis=0),
        h.make_node("Reshape", ["e", "flat"], ["f"]),
        h.make_node("Gemm", ["f", "W1", "B1"], ["h"], transB=1),
        h.make_node("Relu", ["h"], ["r"]),
        h.make_node("Gemm", ["r", "W2", "B2"], ["y"], transB=1),
    ]
    graph = h.make_graph(
        nodes, "embed_mlp",
        [h.make_tensor_value_info("ids", T.INT64, [1, 6])],
        [h.make_tensor_value_info("y", T.FLOAT, [1, 5])],
        init,
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    network, inp = (os.path.join(ROOT, p) for p in REPO_MODELS["embed_mlp"])
    onnx.save(model, network)
    with open(inp, "w") as f:
        json.dump({"input_data": [[int(v) for v in rng.integers(0, 20, 6)]]}, f)
        f.write("\n")


# Models also quantized dynamically (DynamicQuantizeLinear with MatMulInteger or ConvInteger).
DYNAMIC_MODELS = ["1l_mlp", "1l_conv", "4l_relu_conv_fc", "lstm"]


def dynamic_variant(src, dst):
    """`quantize_dynamic` of `src` into `dst`, raised to opset 13 first where it is below 11
    (there the tool writes DynamicQuantizeLinear out as ReduceMin/ReduceMax/Div/Floor and a
    QuantizeLinear of a computed scale)."""
    model = onnx.load(src)
    opset = opset_of(model)
    with tempfile.TemporaryDirectory() as tmp:
        if opset < 11:
            src = os.path.join(tmp, "raised.onnx")
            onnx.save(version_converter.convert_version(model, 13), src)
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)


def dynamic_cnns(manifest):
    """Only the dynamic variants of DYNAMIC_MODELS (other than 1l_mlp, made with the rest),
    recorded into `manifest`."""
    with tempfile.TemporaryDirectory() as tmp:
        for model in DYNAMIC_MODELS[1:]:
            pre = os.path.join(tmp, model + ".onnx")
            quant_pre_process(os.path.join(ROOT, sources(model)[0]), pre)
            rel = os.path.join(model, "dynamic_u8s8.onnx")
            dynamic_variant(pre, os.path.join(OUT, rel))
            outputs = record(model, os.path.join(OUT, rel))
            with open(os.path.join(OUT, model, "dynamic_u8s8.json"), "w") as f:
                json.dump(outputs, f, separators=(",", ":"))
            same = outputs["enable_all"] == outputs["disable_all"]
            manifest["models"][model]["dynamic_u8s8"] = {"model": rel, "levels_agree": same}
            print(f"{model} dynamic_u8s8: ok (levels agree: {same})")
    if os.path.exists("sym_shape_infer_temp.onnx"):
        os.remove("sym_shape_infer_temp.onnx")


# Transformers quantized dynamically (`quantize_dynamic`, the usual path for them): their
# outputs on the shipped input and DYNAMIC_CASES random token inputs, under both levels.
DYNAMIC_TRANSFORMERS = {"nanoGPT": 65}
DYNAMIC_CASES = 2


def dynamic_transformers():
    """models/int8/<model>/dynamic_u8s8.onnx and .json for DYNAMIC_TRANSFORMERS; returns their
    manifest entries. The shared nanoGPT applies Equal to float tensors, which its opset (10)
    does not allow: it is converted to opset 13 first (ONNX Runtime then loads it)."""
    entries = {}
    for model, vocab in DYNAMIC_TRANSFORMERS.items():
        os.makedirs(os.path.join(OUT, model), exist_ok=True)
        rel = os.path.join(model, "dynamic_u8s8.onnx")
        dst = os.path.join(OUT, rel)
        with tempfile.TemporaryDirectory() as tmp:
            raised = os.path.join(tmp, "raised.onnx")
            src = onnx.load(os.path.join(ROOT, sources(model)[0]))
            onnx.save(version_converter.convert_version(src, 13), raised)
            quantize_dynamic(raised, dst, weight_type=QuantType.QInt8)
        shipped = shipped_inputs(model)
        n = len(shipped[0])
        inputs = [shipped] + [
            [[int(np.floor((x + 1) / 2 * vocab)) for x in case_input(model, i, n)]]
            for i in range(1, DYNAMIC_CASES + 1)
        ]
        rec = {level: [run(dst, level, x)[0] for x in inputs] for level in LEVELS}
        with open(os.path.join(OUT, model, "dynamic_u8s8.json"), "w") as f:
            json.dump(rec, f, separators=(",", ":"))
        entries[model] = {"model": rel, "cases": DYNAMIC_CASES, "vocab": vocab}
        print(f"{model} dynamic_u8s8: ok")
    return entries


# Transformers quantized statically (QDQ, per-channel weights, s8s8), as the int8 issue asks
# for nanoGPT: outputs on the shipped input and DYNAMIC_CASES random inputs under both
# levels, as integers, and ONNX Runtime's integers of every QuantizeLinear before the first
# float island (a layer normalisation's ReduceMean or a Softmax), which must be bit-identical.
# Token-id models name their vocabulary; the others take random floats (`case_input`).
QDQ_TRANSFORMERS = {"nanoGPT": 65, "self_attention": None, "multihead_attention": None}


def before_first_island(path):
    """The QuantizeLinear outputs that come before the first float island (a layer
    normalisation's ReduceMean, or a Softmax, which ONNX Runtime computes in f32), in node
    order."""
    names = []
    for n in onnx.load(path).graph.node:
        if n.op_type in ("ReduceMean", "Softmax"):
            return names
        if n.op_type == "QuantizeLinear":
            names.append(n.output[0])
    return names


def run_with(path, level, flats, extra):
    """`run`, with the tensors `extra` as graph outputs too (after the model's own)."""
    model = onnx.load(path)
    for name in extra:
        model.graph.output.append(onnx.helper.make_value_info(name, onnx.TypeProto()))
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "m.onnx")
        onnx.save(model, p)
        return run(p, level, flats)


def qdq_transformers():
    """models/int8/<model>/qdq_per_channel_s8s8.onnx and .json for QDQ_TRANSFORMERS; returns
    their manifest entries (with how far ORT's two levels are apart, in output levels)."""
    entries = {}
    for model, vocab in QDQ_TRANSFORMERS.items():
        os.makedirs(os.path.join(OUT, model), exist_ok=True)
        rel = os.path.join(model, "qdq_per_channel_s8s8.onnx")
        dst = os.path.join(OUT, rel)
        if vocab:
            TOKEN_VOCAB[model] = vocab
        with tempfile.TemporaryDirectory() as tmp:
            raised, pre = os.path.join(tmp, "raised.onnx"), os.path.join(tmp, "pre.onnx")
            src = onnx.load(os.path.join(ROOT, sources(model)[0]))
            onnx.save(version_converter.convert_version(src, 13), raised)
            quant_pre_process(raised, pre)
            quantize(model, pre, "qdq", True, "s8s8", dst)
        if os.path.exists(dst + ".opset13.onnx"):
            os.remove(dst + ".opset13.onnx")
        shipped = shipped_inputs(model)
        sizes = [len(x) for x in shipped]
        inputs = [shipped] + [case_inputs(model, i, sizes) for i in range(1, DYNAMIC_CASES + 1)]
        grid = output_grid(dst)
        rec = {"output_scale": grid[0], "output_zero_point": grid[1]}
        for level in LEVELS:
            rec[level] = [as_integers(run(dst, level, x)[0], grid) for x in inputs]
        # A layer normalisation of a constant row (self_attention's shipped input is all ones)
        # divides f32 rounding noise by a zero square root: ONNX Runtime's output there is
        # that noise times infinity, not a reference. Noted per case.
        roots = [n.output[0] for n in onnx.load(dst).graph.node if n.op_type == "Sqrt"]
        rec["zero_denominator"] = [
            any(float(np.min(np.abs(t))) == 0.0 for t in run_with(dst, "disable_all", x, roots)[1:])
            for x in inputs
        ]
        names = before_first_island(dst)
        rec["before_first_island"] = [
            dict(zip(names, (np.asarray(t).astype(np.int64).tolist() for t in run_with(dst, "disable_all", x, names)[1:])))
            for x in inputs
        ]
        with open(os.path.join(OUT, model, "qdq_per_channel_s8s8.json"), "w") as f:
            json.dump(rec, f, separators=(",", ":"))
        apart = max(
            int(np.abs(np.asarray(a) - np.asarray(b)).max())
            for a, b, z in zip(rec["enable_all"], rec["disable_all"], rec["zero_denominator"])
            if not z
        )
        entries[model] = {"model": rel, "cases": DYNAMIC_CASES, "vocab": vocab, "levels_max_lsb": apart}
        print(f"{model} qdq_per_channel_s8s8: ok (levels at most {apart} apart)")
    return entries


def quantizes(path):
    """Whether the tool quantized anything in `path` (QOperator leaves LayerNormalization, for
    one, in float: such a variant is the float model)."""
    return any(
        n.op_type == "QuantizeLinear" or n.op_type.startswith(("QLinear", "DynamicQuantize"))
        or n.op_type in ("QGemm", "MatMulInteger", "ConvInteger")
        for n in onnx.load(path).graph.node
    )


def model_variants(model, tmp):
    """Writes every variant of `model` (quantized by the tool, with ONNX Runtime's outputs);
    returns its manifest entries."""
    pre = os.path.join(tmp, model + ".onnx")
    quant_pre_process(os.path.join(ROOT, sources(model)[0]), pre)
    os.makedirs(os.path.join(OUT, model), exist_ok=True)
    entries = {}
    jobs = [
        (variant, lambda dst, a=(fmt, pc, types): quantize(model, pre, *a, dst))
        for variant, fmt, pc, types in static_variants()
    ]
    if model in DYNAMIC_MODELS:
        jobs.append(("dynamic_u8s8", lambda dst, p=pre: dynamic_variant(p, dst)))
    for variant, make in jobs:
        rel = os.path.join(model, variant + ".onnx")
        dst = os.path.join(OUT, rel)
        try:
            make(dst)
            if os.path.exists(dst + ".opset13.onnx"):
                os.remove(dst + ".opset13.onnx")
            if not quantizes(dst):
                raise RuntimeError("the tool quantized no op (the model is left in float)")
            outputs = record(model, dst)
        except Exception as e:  # the tool's own refusal, recorded
            if os.path.exists(dst):
                os.remove(dst)
            entries[variant] = {"error": str(e).splitlines()[0][:200]}
            print(f"{model} {variant}: not written: {entries[variant]['error']}")
            continue
        same = outputs["enable_all"] == outputs["disable_all"]
        entries[variant] = {"model": rel, "levels_agree": same}
        if not same and "output_scale" in outputs:
            diff = np.abs(np.asarray(outputs["enable_all"]) - outputs["disable_all"])
            entries[variant]["levels_differ"] = {
                "elements": int((diff > 0).sum()),
                "of": int(diff.size),
                "max_lsb": int(diff.max()),
            }
        with open(os.path.join(OUT, model, variant + ".json"), "w") as f:
            json.dump(outputs, f, separators=(",", ":"))
        print(f"{model} {variant}: ok (levels agree: {same})")
    return entries


def only(models):
    """Regenerates `models` alone into the existing manifest (ONNX Runtime's uint8/int8
    kernels differ between CPUs: regenerating everything elsewhere rewrites the other models'
    recorded outputs)."""
    path = os.path.join(OUT, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            manifest["models"][model] = model_variants(model, tmp)
            manifest["sources"][model] = dict(zip(["network", "input"], sources(model)))
            manifest["case_input_check"][model] = {
                "first_of_case_1": case_input(model, 1, 4),
                "sum_of_case_100": sum(case_input(model, 100, 784)),
            }
    if os.path.exists("sym_shape_infer_temp.onnx"):
        os.remove("sym_shape_infer_temp.onnx")
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def main():
    if sys.argv[1:2] == ["only"]:
        only(sys.argv[2:])
        return
    if sys.argv[1:] == ["transformers"]:
        # Only the statically quantized transformers, into the existing manifest.
        path = os.path.join(OUT, "manifest.json")
        with open(path) as f:
            manifest = json.load(f)
        manifest["qdq_transformers"] = qdq_transformers()
        with open(path, "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
        return
    if sys.argv[1:] == ["dynamic"]:
        # Only the dynamically quantized transformers, into the existing manifest.
        path = os.path.join(OUT, "manifest.json")
        with open(path) as f:
            manifest = json.load(f)
        dynamic_cnns(manifest)
        manifest["dynamic_transformers"] = dynamic_transformers()
        with open(path, "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
        return
    os.makedirs(OUT, exist_ok=True)
    concat_cnn()
    residual_cnn()
    pooled_cnn()
    gated_cnn()
    gelu_mlp()
    token_mixer()
    mobile_cnn()
    embed_mlp()
    norm_attention()
    refused_models()
    with open(os.path.join(OUT, "requant.json"), "w") as f:
        json.dump({"cases": requant_cases(np.random.default_rng(16))}, f, separators=(",", ":"))
    manifest = {
        "generator": "models/generate_int8.py",
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "random_cases": RANDOM_CASES,
        # For the Rust tests' copy of case_input: values of random case 1 and 100.
        "case_input_check": {
            m: {"first_of_case_1": case_input(m, 1, 4), "sum_of_case_100": sum(case_input(m, 100, 784))}
            for m in MODELS
        },
        "sources": {m: dict(zip(["network", "input"], sources(m))) for m in MODELS},
        "token_vocab": TOKEN_VOCAB,
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            manifest["models"][model] = model_variants(model, tmp)
    manifest["dynamic_transformers"] = dynamic_transformers()
    manifest["qdq_transformers"] = qdq_transformers()
    # quant_pre_process leaves its symbolic shape inference's file in the working directory.
    if os.path.exists("sym_shape_infer_temp.onnx"):
        os.remove("sym_shape_infer_temp.onnx")
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
