#!/usr/bin/env python3
"""Generates models/conformance/: the ONNX package's own backend node tests (model, inputs,
expected outputs) for every op type zkinfer lowers, regenerated from the pip package's test
case definitions (the same ones `python -m onnx.backend.test.cmd_tools generate-data` uses).
onnx/tests/conformance.rs runs each through compile -> MockProver and checks the outputs;
docs/CONFORMANCE.md records the counts. Deterministic; requires only to regenerate:

    pip install onnx==1.23.2 numpy
    python3 models/generate_conformance.py

Each case is a folder NAME/ with model.onnx and case.json: {"op": ..., "input_data": [flat
lists], "output_data": [flat lists], "input_types": [...]} for the first data set. A case with
several inputs also gets a variant NAME__constant_inputs/ in which every input after the first
is an initializer (weights, shapes, axes, masks: what a model normally holds as constants), with
the same data.
"""
import json
import os
import shutil

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conformance")
MAX_BYTES = 300_000
OPS = [
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Conv", "Div", "Erf",
    "Exp", "Expand", "Flatten", "Gather", "Gelu", "Gemm", "GlobalAveragePool", "Identity",
    "LayerNormalization", "LeakyRelu", "LSTM", "MatMul", "MaxPool", "Mul", "Pad", "Pow",
    "Reciprocal", "ReduceMax", "ReduceMean", "ReduceSum", "Relu", "Reshape", "Sigmoid", "Slice",
    "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze", "Where",
    # Quantized models (issue 16): imported as ONNX Runtime computes them, not calibrated.
    "QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "QLinearConv", "MatMulInteger",
    "ConvInteger", "DynamicQuantizeLinear",
]


def flat(a):
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.astype(np.int64)
    return [float(v) for v in a.ravel().tolist()]


def write(name, op, model, inputs, outputs, skipped):
    """Writes one case (or records why it is left out); returns whether it was written."""
    doc = {
        "op": op,
        "input_data": [flat(x) for x in inputs],
        "input_types": [str(np.asarray(x).dtype) for x in inputs],
        "output_data": [flat(x) for x in outputs],
        "output_shapes": [list(np.asarray(x).shape) for x in outputs],
    }
    if not all(np.isfinite(v) for x in doc["input_data"] + doc["output_data"] for v in x):
        # JSON has no infinities (an empty ReduceMax's -inf): zkinfer proves finite values only.
        skipped.append(f"{name} ({op}): non-finite values")
        return False
    text = json.dumps(doc)
    if len(text) > MAX_BYTES:
        skipped.append(f"{name} ({op}): {len(text)} bytes of data")
        return False
    d = os.path.join(HERE, name)
    os.makedirs(d)
    onnx.save(model, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "case.json"), "w") as f:
        f.write(text)
    return True


def with_constant_inputs(model, inputs):
    """The model with every graph input after the first turned into an initializer."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    rest = list(g.input[1:])
    del g.input[1:]
    for vi, value in zip(rest, inputs[1:]):
        g.initializer.append(numpy_helper.from_array(np.asarray(value), vi.name))
    return m


def main():
    if os.path.exists(HERE):
        shutil.rmtree(HERE)
    os.makedirs(HERE)
    total = 0
    skipped = []
    for case in collect_testcases():
        if not case.data_sets or case.model is None:
            continue
        ops = {n.op_type for n in case.model.graph.node}
        # Expanded function bodies and multi-op graphs: test the op itself only.
        if len(ops) != 1 or not ops <= set(OPS) or case.name.endswith("_expanded"):
            continue
        op = ops.pop()
        inputs, outputs = case.data_sets[0]
        # Arrays, or numpy scalars (the quantization tests' scales and zero points).
        if not all(isinstance(x, (np.ndarray, np.generic)) for x in list(inputs) + list(outputs)):
            continue
        inputs, outputs = [np.asarray(x) for x in inputs], [np.asarray(x) for x in outputs]
        total += write(case.name, op, case.model, inputs, outputs, skipped)
        if len(inputs) > 1:
            m = with_constant_inputs(case.model, inputs)
            total += write(case.name + "__constant_inputs", op, m, inputs[:1], outputs, skipped)
    with open(os.path.join(HERE, "SKIPPED.txt"), "w") as f:
        f.write(
            "Cases left out: to keep the repository small (3-D pools, which zkinfer refuses), or "
            "for values JSON cannot hold (infinities, which zkinfer cannot prove):\n"
        )
        f.writelines(line + "\n" for line in skipped)
    print(f"{total} cases for {len(OPS)} op types, {len(skipped)} skipped, onnx {onnx.__version__}")


if __name__ == "__main__":
    main()
