#!/usr/bin/env python3
"""Generates models/ops/*: one small ONNX model per group of supported ops, used by the op
coverage tests (accuracy against tract, circuit satisfied). Deterministic; requires
`pip install onnx numpy` only to regenerate.

    python3 models/generate_ops.py
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")
rng = np.random.default_rng(7)


def w(name, shape, scale=0.5):
    return numpy_helper.from_array(np.asarray(rng.normal(0, scale, shape), dtype=np.float32), name)


def const(name, arr, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(arr, dtype=dtype), name)


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def save(name, nodes, inputs, outputs, inits, opset=13, values=None):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, producer_name="zkinfer models/generate_ops.py", opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    os.makedirs(HERE, exist_ok=True)
    onnx.save(model, os.path.join(HERE, f"{name}.onnx"))
    data = []
    for i in inputs:
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim]
        data.append([round(float(v), 5) for v in rng.uniform(-1, 1, int(np.prod(dims)))])
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump({"input_data": values or data}, f)


# Gemm with alpha/beta/transA and a per-row C, then LeakyRelu.
save(
    "gemm_leaky",
    [
        helper.make_node("Reshape", ["x", "shape"], ["x2"]),
        helper.make_node("Gemm", ["x2", "W", "C"], ["g"], alpha=0.5, beta=2.0, transA=1),
        helper.make_node("LeakyRelu", ["g"], ["y"], alpha=0.2),
    ],
    [vi("x", ["n", 15])],
    [vi("y", [3, 4])],
    [const("shape", [5, 3], np.int64), w("W", (5, 4)), w("C", (3, 1), 0.3)],
)

# MatMul with a constant left operand over a batched right operand; MatMul of two computed
# tensors; Clip with constant bounds (opset 13 inputs).
save(
    "matmul",
    [
        helper.make_node("MatMul", ["A", "x"], ["ax"]),
        helper.make_node("MatMul", ["ax", "y"], ["axy"]),
        helper.make_node("Clip", ["axy", "lo", "hi"], ["out"]),
    ],
    [vi("x", ["n", 6, 3]), vi("y", [1, 3, 2])],
    [vi("out", [1, 4, 2])],
    [w("A", (4, 6)), const("lo", -0.6), const("hi", 0.7)],
)

# Broadcast arithmetic with computed and constant operands, a square, a standalone Sigmoid.
save(
    "arith",
    [
        helper.make_node("Add", ["x", "y"], ["s"]),
        helper.make_node("Sub", ["k", "s"], ["d"]),
        helper.make_node("Mul", ["d", "m"], ["e"]),
        helper.make_node("Mul", ["e", "e"], ["sq"]),
        helper.make_node("Sub", ["sq", "x"], ["t"]),
        helper.make_node("Sigmoid", ["t"], ["out"]),
    ],
    [vi("x", ["n", 2, 3]), vi("y", [1, 1, 3])],
    [vi("out", [1, 2, 3])],
    [const("k", [[0.25], [-0.5]]), const("m", [1.5, -0.75, 2.0])],
)

# Strided, padded, dilated convolutions and every pool.
save(
    "pools",
    [
        helper.make_node("Conv", ["x", "W1"], ["c1"], strides=[2, 2], pads=[1, 0, 2, 1], dilations=[1, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("AveragePool", ["r1"], ["ap"], kernel_shape=[2, 2], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Conv", ["ap", "W2", "B2"], ["c2"], auto_pad="SAME_UPPER", strides=[2, 1]),
        helper.make_node("MaxPool", ["c2"], ["mp"], kernel_shape=[2, 2], dilations=[1, 1], pads=[0, 0, 1, 1]),
        helper.make_node("AveragePool", ["mp"], ["ap2"], kernel_shape=[2, 2], count_include_pad=1, pads=[1, 0, 0, 1]),
        helper.make_node("GlobalAveragePool", ["ap2"], ["out"]),
    ],
    [vi("x", ["n", 2, 9, 8])],
    [vi("out", [1, 3, 1, 1])],
    [w("W1", (3, 2, 3, 2)), w("W2", (3, 3, 2, 3)), w("B2", (3,), 0.2)],
)

# Views with a shape subgraph (Shape → Gather → Unsqueeze → Concat → Reshape), Concat with a
# constant, Identity, Flatten and a standalone BatchNormalization.
save(
    "views",
    [
        helper.make_node("Shape", ["x"], ["shp"]),
        helper.make_node("Gather", ["shp", "zero"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "axes0"], ["bu"]),
        helper.make_node("Concat", ["bu", "rest"], ["newshape"], axis=0),
        helper.make_node("Reshape", ["x", "newshape"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Concat", ["t", "cst"], ["cc"], axis=1),
        helper.make_node("Identity", ["cc"], ["id"]),
        helper.make_node("BatchNormalization", ["id", "s", "bb", "mean", "var"], ["bn"]),
        helper.make_node("Flatten", ["bn"], ["out"], axis=1),
    ],
    [vi("x", ["n", 3, 4])],
    [vi("out", [1, 20])],
    [
        const("zero", 0, np.int64),
        const("axes0", [0], np.int64),
        const("rest", [2, 6], np.int64),
        const("cst", rng.uniform(-1, 1, (1, 4, 2))),
        const("s", rng.uniform(0.5, 1.5, (10,))),
        const("bb", rng.uniform(-0.2, 0.2, (10,))),
        const("mean", rng.uniform(-0.2, 0.2, (10,))),
        const("var", rng.uniform(0.5, 1.5, (10,))),
    ],
)

# Opset-10 attribute forms: Clip bounds as attributes, Unsqueeze axes as an attribute.
save(
    "opset10",
    [
        helper.make_node("Gemm", ["x", "W", "B"], ["g"], transB=1),
        helper.make_node("Clip", ["g"], ["c"], min=-0.4, max=0.9),
        helper.make_node("Unsqueeze", ["c"], ["out"], axes=[1]),
    ],
    [vi("x", ["n", 6])],
    [vi("out", [1, 1, 3])],
    [w("W", (3, 6)), w("B", (3,), 0.2)],
    opset=10,
)
# LeakyRelu slopes that leave the input's range: alpha = 4 standalone on a public input (the
# forged-output reproduction of issue 13) and alpha = -1.5 fused after a Gemm. Each gets a
# coarser output scale so its values stay in the activation range.
save(
    "leaky_steep",
    [
        helper.make_node("LeakyRelu", ["x"], ["y"], alpha=4.0),
        helper.make_node("Gemm", ["x", "W"], ["g"], transB=1),
        helper.make_node("LeakyRelu", ["g"], ["z"], alpha=-1.5),
    ],
    [vi("x", [1, 4])],
    [vi("y", [1, 4]), vi("z", [1, 3])],
    [w("W", (3, 4))],
    values=[[1.0, -3.0, 2.0, 0.5]],
)
# Softmax over a middle axis (opset 13: one axis, moved last and back) and over the last
# one after a Gemm.
save(
    "softmax",
    [
        helper.make_node("Softmax", ["x"], ["y"], axis=1),
        helper.make_node("Reshape", ["x", "shape"], ["x2"]),
        helper.make_node("Gemm", ["x2", "W"], ["g"]),
        helper.make_node("Softmax", ["g"], ["z"]),
    ],
    [vi("x", [1, 3, 4])],
    [vi("y", [1, 3, 4]), vi("z", [3, 5])],
    [const("shape", [3, 4], np.int64), w("W", (4, 5), 1.0)],
)
# Opset 11: Softmax coerces its input to 2-D at `axis`; Clip with min > max gives max.
save(
    "softmax_opset11",
    [
        helper.make_node("Softmax", ["x"], ["y"], axis=1),
        helper.make_node("Clip", ["x", "lo", "hi"], ["c"]),
    ],
    [vi("x", [1, 2, 3])],
    [vi("y", [1, 2, 3]), vi("c", [1, 2, 3])],
    [const("lo", 0.5), const("hi", -0.25)],
    opset=11,
)
# A single scalar output: its own magnitude is the accuracy yardstick.
save(
    "scalar",
    [helper.make_node("Gemm", ["x", "W", "B"], ["y"])],
    [vi("x", [1, 6])],
    [vi("y", [1, 1])],
    [w("W", (6, 1)), w("B", (1,), 0.2)],
)
# LayerNormalization (opset 17) over the last two axes, with scale and bias, and over the last
# one without bias, after a Gemm.
save(
    "layernorm",
    [
        helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-2, epsilon=1e-3),
        helper.make_node("Reshape", ["x", "shape"], ["x2"]),
        helper.make_node("Gemm", ["x2", "W"], ["h"]),
        helper.make_node("LayerNormalization", ["h", "g2"], ["z"]),
    ],
    [vi("x", [1, 2, 3, 4])],
    [vi("y", [1, 2, 3, 4]), vi("z", [6, 5])],
    [
        w("g", (3, 4), 1.0),
        w("b", (3, 4), 0.3),
        const("shape", [6, 4], np.int64),
        w("W", (4, 5), 1.0),
        w("g2", (5,), 1.0),
    ],
    opset=17,
)
# LSTM over three steps with a batch of two and constant initial states, Y omitted; a
# standalone Tanh of its last hidden state.
save(
    "lstm",
    [
        helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["", "yh", "yc"], hidden_size=3),
        helper.make_node("Tanh", ["yh"], ["t"]),
    ],
    [vi("x", [3, 2, 4])],
    [vi("t", [1, 2, 3]), vi("yc", [1, 2, 3])],
    [
        w("W", (1, 12, 4), 0.6),
        w("R", (1, 12, 3), 0.6),
        w("B", (1, 24), 0.2),
        w("h0", (1, 2, 3), 0.5),
        w("c0", (1, 2, 3), 0.5),
    ],
)
# The pieces of a transformer block other than attention's products: the decomposed layer
# normalisation (recognised as one op), Split, Where with a constant mask built by Equal, Div by
# a constant, Pow 3, ReduceSum (axes input) and ReduceMean over a middle axis.
mask = np.triu(np.ones((4, 4), dtype=np.float32), 1)
save(
    "transformer_ops",
    [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]),
        helper.make_node("Sub", ["x", "m"], ["d"]),
        helper.make_node("Pow", ["d", "two"], ["d2"]),
        helper.make_node("ReduceMean", ["d2"], ["v"], axes=[-1]),
        helper.make_node("Add", ["v", "eps"], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["sd"]),
        helper.make_node("Div", ["d", "sd"], ["n"]),
        helper.make_node("Mul", ["n", "g"], ["ng"]),
        helper.make_node("Add", ["ng", "b"], ["ln"]),
        helper.make_node("Split", ["ln", "sizes"], ["s1", "s2"], axis=2),
        helper.make_node("Equal", ["mask", "zero"], ["keep"]),
        helper.make_node("Where", ["keep", "s2", "fill"], ["w"]),
        helper.make_node("Div", ["w", "two"], ["dv"]),
        helper.make_node("Pow", ["s1", "three"], ["p3"]),
        helper.make_node("ReduceSum", ["dv", "axis2"], ["rs"], keepdims=0),
        helper.make_node("ReduceMean", ["p3"], ["rm"], axes=[1]),
    ],
    [vi("x", [1, 4, 6])],
    [vi("rs", [1, 4]), vi("rm", [1, 1, 2])],
    [
        const("two", 2.0),
        const("three", 3.0),
        const("eps", 1e-5),
        w("g", (6,), 1.0),
        w("b", (6,), 0.3),
        const("sizes", [2, 4], np.int64),
        const("mask", mask),
        const("zero", 0.0),
        const("fill", -3.0),
        const("axis2", [2], np.int64),
    ],
)
# GELU written out as exporters do (tanh form, as in GPT-2; erf form, as in BERT) and a
# standalone Erf: each chain is fused into one table.
save(
    "gelu_chains",
    [
        helper.make_node("Mul", ["x", "half"], ["a"]),
        helper.make_node("Mul", ["x", "k"], ["b"]),
        helper.make_node("Mul", ["b", "x"], ["c"]),
        helper.make_node("Mul", ["c", "x"], ["d"]),
        helper.make_node("Add", ["x", "d"], ["e"]),
        helper.make_node("Mul", ["e", "s"], ["f"]),
        helper.make_node("Tanh", ["f"], ["g"]),
        helper.make_node("Add", ["g", "one"], ["h"]),
        helper.make_node("Mul", ["a", "h"], ["y"]),
        helper.make_node("Div", ["x", "sqrt2"], ["p"]),
        helper.make_node("Erf", ["p"], ["q"]),
        helper.make_node("Add", ["q", "one"], ["r"]),
        helper.make_node("Mul", ["x", "r"], ["t"]),
        helper.make_node("Mul", ["t", "half"], ["z"]),
        helper.make_node("Erf", ["x"], ["u"]),
    ],
    [vi("x", [2, 8])],
    [vi("y", [2, 8]), vi("z", [2, 8]), vi("u", [2, 8])],
    [
        const("half", 0.5),
        const("k", 0.044715),
        const("s", np.sqrt(2 / np.pi)),
        const("one", 1.0),
        const("sqrt2", np.sqrt(2.0)),
    ],
    values=[[round(float(v), 5) for v in rng.uniform(-4, 4, 16)]],
)
# Token ids (an int64 input) through an embedding table, plus positions folded from Range and
# from NonZero(ConstantOfShape); views of computed tensors (Cast, Slice, Gather at constant
# indices, Transpose, Expand); a causal -inf mask before Softmax (as nanoGPT exports it).
T = 6
causal = np.triu(np.ones((T, T), dtype=bool), 1)
save(
    "tokens",
    [
        helper.make_node("Gather", ["E", "ids"], ["emb"]),
        helper.make_node("Range", ["r0", "rT", "r1"], ["pos"]),
        helper.make_node("Gather", ["P", "pos"], ["pe"]),
        helper.make_node("ConstantOfShape", ["tshape"], ["ones"], value=numpy_helper.from_array(np.array([1], dtype=np.int64))),
        helper.make_node("NonZero", ["ones"], ["nz"]),
        helper.make_node("Squeeze", ["nz", "axis0"], ["pos2"]),
        helper.make_node("Gather", ["P2", "pos2"], ["pe2"]),
        helper.make_node("Add", ["emb", "pe"], ["h0"]),
        helper.make_node("Add", ["h0", "pe2"], ["h1"]),
        helper.make_node("Cast", ["h1"], ["h"], to=TensorProto.FLOAT),
        helper.make_node("Slice", ["h", "s0", "s3", "axis2"], ["hs"]),
        helper.make_node("Gather", ["h", "perm3"], ["hg"], axis=2),
        helper.make_node("Transpose", ["hg"], ["hgT"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["hs", "hgT"], ["scores"]),
        helper.make_node("Where", ["mask", "ninf", "scores"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["att"], axis=-1),
        helper.make_node("Slice", ["h", "s0", "s1", "axis1"], ["first"]),
        helper.make_node("Expand", ["first", "eshape"], ["firsts"]),
        helper.make_node("Sub", ["h", "firsts"], ["rel"]),
    ],
    [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, T])],
    [vi("att", [1, T, T]), vi("rel", [1, T, 4])],
    [
        w("E", (10, 4)),
        w("P", (T, 4), 0.1),
        w("P2", (T, 4), 0.1),
        const("r0", 0, np.int64),
        const("rT", T, np.int64),
        const("r1", 1, np.int64),
        const("tshape", [T], np.int64),
        const("axis0", [0], np.int64),
        const("s0", [0], np.int64),
        const("s1", [1], np.int64),
        const("s3", [3], np.int64),
        const("axis1", [1], np.int64),
        const("axis2", [2], np.int64),
        const("perm3", [3, 1, 0], np.int64),
        const("mask", causal, np.bool_),
        const("ninf", -np.inf),
        const("eshape", [1, T, 4], np.int64),
    ],
    values=[[3, 0, 9, 2, 2, 7]],
)
# A -inf mask that no Softmax removes: refused with a clear error.
save(
    "masked_relu",
    [
        helper.make_node("Where", ["mask", "ninf", "x"], ["m"]),
        helper.make_node("Relu", ["m"], ["y"]),
    ],
    [vi("x", [1, 4])],
    [vi("y", [1, 4])],
    [const("mask", [[True, False, False, True]], np.bool_), const("ninf", -np.inf)],
)
# Exp, Sqrt and Reciprocal of computed tensors (tables over where each is defined), Div by a
# positive computed tensor, Pow by 4 and by -0.5 (tables too), ReduceMax over an axis, Pad in constant mode (with a value) and in
# reflect mode.
save(
    "unary_reduce_pad",
    [
        helper.make_node("MatMul", ["x", "W"], ["a"]),
        helper.make_node("Exp", ["a"], ["y_exp"]),
        helper.make_node("Mul", ["a", "a"], ["sq"]),
        helper.make_node("Sqrt", ["sq"], ["y_sqrt"]),
        helper.make_node("Add", ["y_exp", "half"], ["d"]),
        helper.make_node("Reciprocal", ["d"], ["y_recip"]),
        helper.make_node("Div", ["a", "d"], ["y_div"]),
        helper.make_node("Pow", ["d", "four"], ["y_pow4"]),
        helper.make_node("Pow", ["d", "minus_half"], ["y_rsqrt"]),
        helper.make_node("ReduceMax", ["a"], ["y_max"], axes=[1], keepdims=0),
        helper.make_node("Pad", ["a", "pads", "value"], ["y_pad"], mode="constant"),
        helper.make_node("Pad", ["x", "pads2"], ["y_reflect"], mode="reflect"),
    ],
    [vi("x", [2, 6])],
    [
        vi("y_exp", [2, 8]),
        vi("y_sqrt", [2, 8]),
        vi("y_recip", [2, 8]),
        vi("y_div", [2, 8]),
        vi("y_pow4", [2, 8]),
        vi("y_rsqrt", [2, 8]),
        vi("y_max", [2]),
        vi("y_pad", [2, 11]),
        vi("y_reflect", [4, 10]),
    ],
    [
        w("W", (6, 8), 0.5),
        const("half", 0.5),
        const("four", 4.0),
        const("minus_half", -0.5),
        const("pads", [0, 1, 0, 2], np.int64),
        const("value", 3.0),
        const("pads2", [1, 2, 1, 2], np.int64),
    ],
)
# Sqrt of a graph input and Reciprocal of 0.6 - x: tabulated for non-negative and positive
# arguments only (tests feed a negative one to Sqrt, and calibrate Reciprocal on some).
save(
    "sqrt_recip",
    [
        helper.make_node("Sqrt", ["x"], ["y_sqrt"]),
        helper.make_node("Sub", ["c", "x"], ["d"]),
        helper.make_node("Reciprocal", ["d"], ["y_recip"]),
    ],
    [vi("x", [1, 4])],
    [vi("y_sqrt", [1, 4]), vi("y_recip", [1, 4])],
    [const("c", 0.6)],
    values=[[0.25, 0.1, 0.5, 0.3]],
)
# 1-D convolutions and pools over [1, C, L]: padded, strided, dilated and grouped Conv,
# MaxPool, AveragePool with padding, GlobalAveragePool; the pooled [1, C, L] tensor is an
# output too.
save(
    "conv1d",
    [
        helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "W2"], ["c2"], group=2, dilations=[2], strides=[2], pads=[1, 0]),
        helper.make_node("MaxPool", ["c2"], ["m"], kernel_shape=[2], strides=[2]),
        helper.make_node("AveragePool", ["m"], ["p"], kernel_shape=[3], pads=[1, 1]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "W3"], ["y"]),
    ],
    [vi("x", [1, 3, 16])],
    [vi("y", [1, 2]), vi("p", [1, 4, 4])],
    [w("W1", (4, 3, 3)), w("B1", (4,), 0.2), w("W2", (4, 2, 2)), w("W3", (4, 2))],
)


def lstm_reference(x, W, R, B, h0, c0, backwards):
    """One direction of ONNX's LSTM (gates i, o, f, c; default activations), in numpy: the
    expected outputs of the direction tests (tract 0.23 walks a reverse LSTM differently from
    ONNX and ONNX Runtime)."""
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))
    hidden = R.shape[1]
    h, c, y = h0.astype(np.float64), c0.astype(np.float64), np.zeros((x.shape[0], x.shape[1], hidden))
    steps = range(x.shape[0] - 1, -1, -1) if backwards else range(x.shape[0])
    for t in steps:
        z = x[t] @ W.T + h @ R.T + B[: 4 * hidden] + B[4 * hidden :]
        i, o, f, g = (z[:, k * hidden : (k + 1) * hidden] for k in range(4))
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        y[t] = h
    return y, h, c


def write_lstm_expected(name, params, direction, batch_first, x_shape=(3, 2, 4)):
    """Adds the expected outputs (`output_data`: Y, Y_h, Y_c by `lstm_reference`) to NAME.json;
    `x_shape` is X's, in the model's layout."""
    dirs = 2 if direction == "bidirectional" else 1
    path = os.path.join(HERE, f"{name}.json")
    doc = json.load(open(path))
    x = np.asarray(doc["input_data"][0], dtype=np.float32).astype(np.float64)
    Wt, Rt, Bt, h0t, c0t = (numpy_helper.to_array(t).astype(np.float64) for t in params)
    x = x.reshape(x_shape)
    if batch_first:  # [B, S, I] and states [B, D, H] to ONNX's layout 0
        x = x.transpose(1, 0, 2)
        h0t, c0t = h0t.transpose(1, 0, 2), c0t.transpose(1, 0, 2)
    runs = [lstm_reference(x, Wt[d], Rt[d], Bt[d], h0t[d], c0t[d], d == 1 or direction == "reverse") for d in range(dirs)]
    y = np.stack([r[0] for r in runs], axis=1)  # [S, D, B, H]
    yh = np.stack([r[1] for r in runs])  # [D, B, H]
    yc = np.stack([r[2] for r in runs])
    if batch_first:
        y, yh, yc = y.transpose(2, 0, 1, 3), yh.transpose(1, 0, 2), yc.transpose(1, 0, 2)
    doc["output_data"] = [[round(float(v), 7) for v in a.ravel()] for a in (y, yh, yc)]
    with open(path, "w") as f:
        json.dump(doc, f)


# LSTMs walking backwards and both ways, with initial states; every output named. The JSON
# also holds the expected outputs (`output_data`, numpy above).
for name, direction in [("lstm_reverse", "reverse"), ("lstm_bidirectional", "bidirectional")]:
    dirs = 2 if direction == "bidirectional" else 1
    params = [w("W", (dirs, 12, 4), 0.6), w("R", (dirs, 12, 3), 0.6), w("B", (dirs, 24), 0.2),
              w("h0", (dirs, 2, 3), 0.5), w("c0", (dirs, 2, 3), 0.5)]
    save(
        name,
        [helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y", "yh", "yc"], hidden_size=3, direction=direction)],
        [vi("x", [3, 2, 4])],
        [vi("y", [3, dirs, 2, 3]), vi("yh", [dirs, 2, 3]), vi("yc", [dirs, 2, 3])],
        params,
    )
    write_lstm_expected(name, params, direction, batch_first=False)
# A bidirectional LSTM in layout 1 (batch first: X [B, S, I], states [B, D, H]), with batch
# B = 3, S = 4 steps, I = 6 inputs, H = 5 hidden and D = 2 directions all different.
params = [w("W", (2, 20, 6), 0.5), w("R", (2, 20, 5), 0.5), w("B", (2, 40), 0.2),
          w("h0", (3, 2, 5), 0.5), w("c0", (3, 2, 5), 0.5)]
save(
    "lstm_batch_first",
    [helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["y", "yh", "yc"], hidden_size=5, direction="bidirectional", layout=1)],
    [vi("x", [3, 4, 6])],
    [vi("y", [3, 4, 2, 5]), vi("yh", [3, 2, 5]), vi("yc", [3, 2, 5])],
    params,
    opset=14,
)
write_lstm_expected("lstm_batch_first", params, "bidirectional", batch_first=True, x_shape=(3, 4, 6))
# Gemm of computed operands with transposes, alpha (0.1 and -1.7: not dyadic) and a computed C
# (broadcast [5] and [6, 1]); MatMul with constant batched operands on either side (the
# computed [3, 1, 3, 4] broadcast partly against [1, 2, 4, 2]); Pow by per-element exponents.
save(
    "gemm_products",
    [
        helper.make_node("Gemm", ["a", "b", "c"], ["g1"], alpha=0.1, beta=0.3, transA=1, transB=1),
        helper.make_node("Gemm", ["a2", "b", "c2"], ["g2"], alpha=-1.7, beta=2.5, transB=1),
        helper.make_node("MatMul", ["m", "W"], ["mm1"]),
        helper.make_node("MatMul", ["A", "n"], ["mm2"]),
        helper.make_node("Pow", ["p", "e"], ["pw"]),
    ],
    [vi("a", [4, 6]), vi("b", [5, 4]), vi("c", [5]), vi("a2", [6, 4]), vi("c2", [6, 1]),
     vi("m", [3, 1, 3, 4]), vi("n", [4, 5]), vi("p", [2, 3])],
    [vi("g1", [6, 5]), vi("g2", [6, 5]), vi("mm1", [3, 2, 3, 2]), vi("mm2", [2, 3, 5]), vi("pw", [2, 3])],
    [w("W", (1, 2, 4, 2), 0.6), w("A", (2, 3, 4), 0.6), const("e", [1.0, 2.0, 3.0])],
)
# LayerNormalization with a computed scale (constant bias; a small one, 0.01·g, beside a bias of
# 1, whose product must not be written finer than the output), a computed bias (constant scale)
# and a computed scale of one element. Expected outputs from numpy, in the JSON.
ln_consts = [w("Bc", (4,), 0.5), w("Gc", (4,), 0.8), const("ones", np.ones(4)), const("hundredth", 0.01)]
save(
    "layernorm_computed",
    [
        helper.make_node("LayerNormalization", ["x", "g", "Bc"], ["y1"], axis=-1),
        helper.make_node("LayerNormalization", ["x", "Gc", "b"], ["y2"], axis=-1),
        helper.make_node("LayerNormalization", ["x", "g1", "b"], ["y3"], axis=-1),
        helper.make_node("Mul", ["g", "hundredth"], ["gs"]),
        helper.make_node("LayerNormalization", ["x", "gs", "ones"], ["y4"], axis=-1),
    ],
    [vi("x", [2, 3, 4]), vi("g", [4]), vi("b", [4]), vi("g1", [1])],
    [vi("y1", [2, 3, 4]), vi("y2", [2, 3, 4]), vi("y3", [2, 3, 4]), vi("y4", [2, 3, 4])],
    ln_consts,
    opset=17,
)


def write_layernorm_expected(name, consts):
    path = os.path.join(HERE, f"{name}.json")
    with open(path) as f:
        doc = json.load(f)
    x, g, b, g1 = (np.asarray(v, dtype=np.float64) for v in doc["input_data"])
    x = x.reshape(2, 3, 4)
    bc, gc = (numpy_helper.to_array(t).astype(np.float64) for t in consts[:2])
    z = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    ys = [z * g + bc, z * gc + b, z * g1 + b, z * (0.01 * g) + 1.0]
    doc["output_data"] = [[round(float(v), 7) for v in y.ravel()] for y in ys]
    with open(path, "w") as f:
        json.dump(doc, f)


write_layernorm_expected("layernorm_computed", ln_consts)
print("wrote", sorted(os.listdir(HERE)))
