//! The transformer and sequence models against ONNX Runtime: the values the circuit proves
//! (the quantized graph's witness, which MockProver checks in `shared_models.rs`) are within
//! 0.5% of the output range of ONNX Runtime's float outputs, committed in `models/references`
//! by `models/generate_references.py` (which names its onnx and onnxruntime versions). Each
//! case is compiled with its own input as the calibration input; argmax agrees at every
//! position where the reference's top-2 gap exceeds twice the measured error.

// Test code: clippy.toml's allow-*-in-tests exempts only #[test] functions, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::PathBuf;
use zkinfer_circuits::input::InputData;
use zkinfer_onnx::{output_range_of, CompileOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `(input_data, output_data)` of every case of `models/references/NAME.json`.
fn cases(name: &str) -> Vec<(Value, Vec<Vec<f64>>)> {
    let path = root().join(format!("models/references/{name}.json"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let outs = c["output_data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    o.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect()
                })
                .collect();
            (c["input_data"].clone(), outs)
        })
        .collect()
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// The two largest values of `v`, largest first.
fn top2(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::NEG_INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            if x > a {
                (x, a)
            } else {
                (a, b.max(x))
            }
        })
}

/// `tolerance`: the largest error allowed, as a fraction of each output's range.
fn check(name: &str, tolerance: f64) {
    let onnx = root()
        .join("../shared/models")
        .join(name)
        .join("network.onnx");
    let tmp = tempfile::tempdir().unwrap();
    for (k, (input, want)) in cases(name).into_iter().enumerate() {
        let path = tmp.path().join(format!("case{k}.json"));
        let doc = serde_json::json!({ "input_data": input });
        std::fs::write(&path, doc.to_string()).unwrap();
        let c = zkinfer_onnx::compile(&onnx, &path, &CompileOptions::default()).unwrap();
        let m = &c.model;
        let data = InputData::from_path(&path).unwrap();
        let vals = m.graph.eval(&data.quantize(&m.io()).unwrap()).unwrap();
        let io = m.io();
        for (i, (&o, f)) in m.graph.outputs.iter().zip(&want).enumerate() {
            let got: Vec<f64> = vals[o].iter().map(|&v| m.graph.dequantize(o, v)).collect();
            assert_eq!(got.len(), f.len(), "{name} case {k} output {i}: length");
            let err = got
                .iter()
                .zip(f)
                .fold(0.0f64, |e, (a, b)| e.max((a - b).abs()));
            let range = output_range_of(f);
            eprintln!(
                "{name} case {k} output {i}: {} bits, max error {err:.3e} = {:.3}% of {range:.3e}",
                m.graph.bits,
                100.0 * err / range
            );
            assert!(
                err <= tolerance * range,
                "{name} case {k} output {i}: {err} > {tolerance} of {range}"
            );
            let row = io.outputs[i].shape.last().copied().unwrap_or(1).max(1);
            for (p, (g, r)) in got.chunks(row).zip(f.chunks(row)).enumerate() {
                let (a, b) = top2(r);
                if row > 1 && a - b > 2.0 * err {
                    assert_eq!(
                        argmax(g),
                        argmax(r),
                        "{name} case {k} output {i} position {p}"
                    );
                }
            }
        }
    }
}

#[test]
fn softmax_matches_onnx_runtime() {
    check("1l_softmax", 0.005);
}

#[test]
fn layernorm_matches_onnx_runtime() {
    check("layernorm", 0.005);
}

#[test]
fn lstm_matches_onnx_runtime() {
    check("lstm", 0.005);
}

#[test]
fn self_attention_matches_onnx_runtime_on_its_input_and_random_ones() {
    check("self_attention", 0.005);
}

#[test]
fn multihead_attention_matches_onnx_runtime() {
    check("multihead_attention", 0.005);
}

/// Token ids in (an int64 input: the embedding is a lookup that proves each id is a row of the
/// table), logits out; a causal mask before each softmax.
#[test]
fn nanogpt_matches_onnx_runtime_on_its_tokens_and_random_ones() {
    check("nanoGPT", 0.005);
}
