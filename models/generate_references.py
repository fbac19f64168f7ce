#!/usr/bin/env python3
"""Generates models/references/*.json: ONNX Runtime's float outputs for the shared transformer and
sequence models (../shared/models), on their shipped input and, for self_attention (whose
shipped input is all ones) and nanoGPT (token ids), on seeded random inputs too. The tests compare zkinfer's proven
outputs with these; CI uses the committed files and needs no Python.

    pip install onnx==1.23.2 onnxruntime==1.32.0 numpy
    python3 models/generate_references.py

self_attention and nanoGPT apply Equal to float tensors, which opset 10 does not allow: their
default-domain opset is raised to 11 in memory (nothing else changes) so ONNX Runtime loads them.
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "models")
OUT = os.path.join(HERE, "references")
MODELS = ["1l_softmax", "layernorm", "lstm", "self_attention", "multihead_attention", "nanoGPT"]
RANDOM = {"self_attention": 3, "nanoGPT": 2}
VOCAB = {"nanoGPT": 65}


def session(name):
    model = onnx.load(os.path.join(SHARED, name, "network.onnx"))
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and o.version < 11:
            o.version = 11
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run(sess, flat_inputs):
    feeds = {}
    for meta, flat in zip(sess.get_inputs(), flat_inputs):
        shape = [d if isinstance(d, int) else 1 for d in meta.shape]
        dtype = np.int64 if "int64" in meta.type else np.float32
        feeds[meta.name] = np.asarray(flat, dtype=dtype).reshape(shape)
    return [o.astype(np.float64).ravel().tolist() for o in sess.run(None, feeds)]


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(11)
    for name in MODELS:
        sess = session(name)
        with open(os.path.join(SHARED, name, "input.json")) as f:
            shipped = json.load(f)["input_data"]
        cases = [{"input_data": shipped, "output_data": run(sess, shipped)}]
        for _ in range(RANDOM.get(name, 0)):
            if name in VOCAB:
                inputs = [rng.integers(0, VOCAB[name], len(x)).astype(float).tolist() for x in shipped]
            else:
                inputs = [np.round(rng.uniform(-1, 1, len(x)), 5).tolist() for x in shipped]
            cases.append({"input_data": inputs, "output_data": run(sess, inputs)})
        doc = {
            "model": name,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "graph_optimization_level": "ORT_DISABLE_ALL",
            "cases": cases,
        }
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(doc, f)
        print(name, len(cases), "case(s)")


if __name__ == "__main__":
    main()
