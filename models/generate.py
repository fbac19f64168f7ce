#!/usr/bin/env python3
"""Generates zkinfer's bundled models (deterministic: fixed seeds, fixed exporter settings).

Requires `pip install onnx numpy` (only to regenerate; the .onnx files are committed).

    python3 models/generate.py

tiny_cnn: [1,1,8,8] -> Conv 3x3 (1->4, pad 1) -> BatchNormalization -> Relu -> MaxPool 2x2
          -> Flatten -> Gemm 64->16 -> Relu -> Gemm 16->3 -> [1,3]
lenet:    [1,1,28,28] -> Conv 5x5 (1->6, pad 2) -> Relu -> MaxPool 2x2 -> Conv 5x5 (6->16)
          -> Relu -> MaxPool 2x2 -> Flatten -> Gemm 400->120 -> Relu -> Gemm 120->84 -> Relu
          -> Gemm 84->10 -> [1,10]   (LeNet-5's shape, random He-scaled weights: a size
          reference for the wrapper and the verifiers, not a trained classifier)
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, nodes, inits, in_shape, out_shape, img):
    """Checks and writes models/NAME/network.onnx (opset 13) and its input.json (`img`)."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size"] + in_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch_size"] + out_shape)],
        inits,
    )
    model = helper.make_model(graph, producer_name="zkinfer models/generate.py", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out = os.path.join(HERE, name)
    os.makedirs(out, exist_ok=True)
    onnx.save(model, os.path.join(out, "network.onnx"))
    with open(os.path.join(out, "input.json"), "w") as f:
        json.dump({"input_data": [[round(float(v), 6) for v in img.flatten()]]}, f)


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
    # A digit-like stroke pattern in [0, 1].
    img = np.zeros((8, 8), dtype=np.float32)
    img[1:7, 3] = 1.0
    img[1, 2] = 0.8
    img[6, 2:5] = 0.9
    img += f32(rng.uniform(0, 0.05, (8, 8)))
    save("tiny_cnn", nodes, inits, [1, 8, 8], [3], img)


def lenet():
    rng = np.random.default_rng(20261205)
    f32 = lambda a: np.asarray(a, dtype=np.float32)

    def he(shape, fan_in):
        return f32(rng.normal(0, np.sqrt(2.0 / fan_in), shape))

    inits = [
        numpy_helper.from_array(he((6, 1, 5, 5), 25), "conv1.weight"),
        numpy_helper.from_array(f32(rng.normal(0, 0.05, (6,))), "conv1.bias"),
        numpy_helper.from_array(he((16, 6, 5, 5), 150), "conv2.weight"),
        numpy_helper.from_array(f32(rng.normal(0, 0.05, (16,))), "conv2.bias"),
        numpy_helper.from_array(he((120, 400), 400), "fc1.weight"),
        numpy_helper.from_array(f32(rng.normal(0, 0.05, (120,))), "fc1.bias"),
        numpy_helper.from_array(he((84, 120), 120), "fc2.weight"),
        numpy_helper.from_array(f32(rng.normal(0, 0.05, (84,))), "fc2.bias"),
        numpy_helper.from_array(he((10, 84), 84), "fc3.weight"),
        numpy_helper.from_array(f32(rng.normal(0, 0.05, (10,))), "fc3.bias"),
    ]
    node = helper.make_node
    nodes = [
        node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], name="conv1", kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
        node("Relu", ["c1"], ["r1"], name="relu1"),
        node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", kernel_shape=[5, 5]),
        node("Relu", ["c2"], ["r2"], name="relu2"),
        node("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        node("Flatten", ["p2"], ["flat"], name="flatten", axis=1),
        node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["f1"], name="fc1", transB=1),
        node("Relu", ["f1"], ["r3"], name="relu3"),
        node("Gemm", ["r3", "fc2.weight", "fc2.bias"], ["f2"], name="fc2", transB=1),
        node("Relu", ["f2"], ["r4"], name="relu4"),
        node("Gemm", ["r4", "fc3.weight", "fc3.bias"], ["output"], name="fc3", transB=1),
    ]
    # A "7"-like stroke on a 28x28 canvas, values in [0, 1].
    img = f32(rng.uniform(0, 0.05, (28, 28)))
    img[5, 6:22] = 0.95
    for r in range(6, 24):
        img[r, 21 - (r - 6) // 2] = 0.9
    save("lenet", nodes, inits, [1, 28, 28], [10], img)


if __name__ == "__main__":
    tiny_cnn()
    lenet()
    print("wrote models/{tiny_cnn,lenet}/{network.onnx,input.json}")
