//! Corrupted models (flipped bits, truncations of shared, repository and int8 models) compile
//! or fail with a one-line error: never a panic, never an allocation the model's shapes ask
//! for without bound. Runs of 1,500-3,000 corruptions per model passed locally; the first ones
//! found a 64 GB allocation in the int8 import (an int32 zero point on an activation) and a
//! 32 GB one in Expand (a corrupted target shape), both now refused.

// Test code: clippy.toml's allow-*-in-tests exempts only #[test] functions, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use zkinfer_onnx::{compile, CompileOptions};

/// Corruptions per model.
const MUTATIONS: usize = 60;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiles `MUTATIONS` corruptions of `model` with calibration `cal`; returns how many were
/// refused (each with a one-line error).
fn corrupt_and_compile(model: &Path, cal: &Path, seed: u64) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(model).unwrap();
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut refused = 0;
    for i in 0..MUTATIONS {
        let mut b = bytes.clone();
        match i % 3 {
            0 => b.truncate((next() % bytes.len() as u64) as usize),
            _ => {
                for _ in 0..1 + i % 4 {
                    let at = (next() % b.len() as u64) as usize;
                    b[at] ^= 1 << (next() % 8);
                }
            }
        }
        let path = tmp.path().join("m.onnx");
        std::fs::write(&path, &b).unwrap();
        if let Err(e) = compile(&path, cal, &CompileOptions::default()) {
            assert!(!e.to_string().contains('\n'), "{}: {e}", model.display());
            refused += 1;
        }
    }
    refused
}

#[test]
fn corrupted_float_models_fail_with_an_error_not_a_panic() {
    let mut refused = 0;
    for (i, (model, input)) in [
        ("models/tiny_cnn/network.onnx", "models/tiny_cnn/input.json"),
        (
            "../shared/models/1l_softmax/network.onnx",
            "../shared/models/1l_softmax/input.json",
        ),
        ("models/ops/views.onnx", "models/ops/views.json"),
        ("models/ops/tokens.onnx", "models/ops/tokens.json"),
        (
            "models/ops/transformer_ops.onnx",
            "models/ops/transformer_ops.json",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        refused += corrupt_and_compile(&root().join(model), &root().join(input), 0x1234 + i as u64);
    }
    assert!(refused > 0);
}

#[test]
fn corrupted_int8_models_fail_with_an_error_not_a_panic() {
    let cal = root().join("models/tiny_cnn/input.json");
    let mut refused = 0;
    for (i, (model, variant)) in [
        ("tiny_cnn", "qdq_per_channel_u8s8"),
        ("tiny_cnn", "qoperator_per_tensor_s8s8"),
        ("2l_relu_sigmoid_conv", "qoperator_per_channel_u8s8"),
        ("leaky_steep", "qdq_per_tensor_s8s8"),
        ("opset10", "qdq_per_channel_s8s8"),
    ]
    .into_iter()
    .enumerate()
    {
        let path = root().join(format!("models/int8/{model}/{variant}.onnx"));
        refused += corrupt_and_compile(&path, &cal, 0x2545 + i as u64);
    }
    assert!(refused > 0);
}
