#!/usr/bin/env python3
"""Generates zkinfer's bundled models (deterministic: fixed seeds, fixed exporter settings).

Requires `pip install onnx numpy` (only to regenerate; the .onnx files are committed).

    python3 models/generate.py

tiny_cnn: [1,1,8,8] -> Conv 3x3 (1->4, pad 1) -> BatchNormalization -> Relu -> MaxPool 2x2
          -> Flatten -> Gemm 64->16 -> Relu -> Gemm 16->3 -> [1,3]
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def tiny_cnn():
    rng = np.random.default_rng(20261122)
    f32 = lambda a: np.asarray(a, dtype=np.float32)
    inits = [
        numpy_helper.from_array(f32(rng.normal(0, 0.4, (4, 1, 3, 3))), "conv.weight"),
        numpy_helper.from_array(f32(rng.normal(0, 0.1, (4,))), "conv.bias"),
        numpy_helper.from_array(f32(rng.uniform(0.8, 1.2, (4,))), "bn.scale"),
        numpy_helper.from_array(f32(rng.normal(0, 0.1, (4,))), "bn.bias"),
        numpy_helper.from_array(f32(rng.normal(0, 0.1, (4,))), "bn.mean"),
        numpy_helper.from_array(f32(rng.uniform(0.5, 1.5, (4,))), "bn.var"),
        numpy_helper.from_array(f32(rng.normal(0, 0.2, (16, 64))), "fc1.weight"),
        numpy_helper.from_array(f32(rng.normal(0, 0.1, (16,))), "fc1.bias"),
        numpy_helper.from_array(f32(rng.normal(0, 0.3, (3, 16))), "fc2.weight"),
        numpy_helper.from_array(f32(rng.normal(0, 0.1, (3,))), "fc2.bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["conv"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["conv", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["bn"], name="bn", epsilon=1e-5),
        helper.make_node("Relu", ["bn"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["fc1"], name="fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["relu2"], name="relu2"),
        helper.make_node("Gemm", ["relu2", "fc2.weight", "fc2.bias"], ["output"], name="fc2", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", 1, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch_size", 3])],
        inits,
    )
    model = helper.make_model(graph, producer_name="zkinfer models/generate.py", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out = os.path.join(HERE, "tiny_cnn")
    os.makedirs(out, exist_ok=True)
    onnx.save(model, os.path.join(out, "network.onnx"))
    # A digit-like stroke pattern in [0, 1].
    img = np.zeros((8, 8), dtype=np.float32)
    img[1:7, 3] = 1.0
    img[1, 2] = 0.8
    img[6, 2:5] = 0.9
    img += f32(rng.uniform(0, 0.05, (8, 8)))
    with open(os.path.join(out, "input.json"), "w") as f:
        json.dump({"input_data": [[round(float(v), 6) for v in img.flatten()]]}, f)


if __name__ == "__main__":
    tiny_cnn()
    print("wrote models/tiny_cnn/{network.onnx,input.json}")
