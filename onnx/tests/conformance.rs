//! ONNX's own backend node tests (`models/conformance`, from `models/generate_conformance.py`)
//! for every op type zkinfer lowers: each case is compiled with its input as the calibration
//! input, evaluated (the witness the circuit proves) and checked with MockProver. A case passes
//! (outputs within 1% of their range, an imported int8 model's exactly; circuit satisfied), is
//! imprecise (circuit satisfied, but `compile` warned that no bit width meets the tolerance), or
//! is refused with a clear one-line error; a panic, an unsatisfied circuit or an error beyond 1% that `compile` did not warn of
//! fails the test. The counts are in
//! docs/CONFORMANCE.md (`cargo test -p zkinfer-onnx --test conformance -- --nocapture` prints
//! them).

// Test code: clippy.toml's allow-*-in-tests exempts only #[test] functions, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use halo2_proofs::dev::MockProver;
use serde_json::Value;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::ModelCircuit;
use zkinfer_onnx::{output_range_of, CompileOptions};

/// What became of one case.
#[derive(Debug)]
enum Outcome {
    Passed,
    Refused(String),
    /// Compiled, proven and correct, but `compile` warned that no bit width meets the
    /// accuracy tolerance (its outputs are then only checked against the circuit).
    Imprecise(f64),
    Wrong(String),
    Panicked,
}

fn floats(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn run(dir: &Path, tmp: &Path) -> Outcome {
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let input = tmp.join("input.json");
    let doc = serde_json::json!({ "input_data": case["input_data"] });
    std::fs::write(&input, doc.to_string()).unwrap();
    let model = dir.join("model.onnx");
    let compiled = catch_unwind(AssertUnwindSafe(|| {
        zkinfer_onnx::compile(&model, &input, &CompileOptions::default())
    }));
    let c = match compiled {
        Err(_) => return Outcome::Panicked,
        Ok(Err(e)) => return Outcome::Refused(e.to_string()),
        Ok(Ok(c)) => c,
    };
    let warned = c
        .accuracy
        .as_ref()
        .filter(|a| !a.met_tolerance)
        .map(|a| a.rel_error);
    let check = || -> Result<(), String> {
        let m = &c.model;
        let data = InputData::from_path(&input).map_err(|e| e.to_string())?;
        let q = data.quantize(&m.io()).map_err(|e| e.to_string())?;
        let vals = m.graph.eval(&q).map_err(|e| e.to_string())?;
        let want = floats(&case["output_data"]);
        if want.len() != m.graph.outputs.len() {
            return Err(format!(
                "{} outputs, expected {}",
                m.graph.outputs.len(),
                want.len()
            ));
        }
        for (i, (&o, f)) in m.graph.outputs.iter().zip(&want).enumerate() {
            let got: Vec<f64> = vals[o].iter().map(|&v| m.graph.dequantize(o, v)).collect();
            if got.len() != f.len() {
                return Err(format!(
                    "output {i}: {} values, expected {}",
                    got.len(),
                    f.len()
                ));
            }
            let err = got
                .iter()
                .zip(f)
                .fold(0.0f64, |e, (a, b)| e.max((a - b).abs()));
            let range = output_range_of(f);
            // An imported (already quantized) model is not calibrated: ONNX's values exactly.
            if c.accuracy.is_none() && err > 0.0 {
                return Err(format!(
                    "output {i}: error {err:.3e}, an imported model is exact"
                ));
            }
            if err > 0.01 * range && warned.is_none() {
                return Err(format!("output {i}: error {err:.3e} > 1% of {range:.3e}"));
            }
        }
        let plan = Arc::new(m.plan().map_err(|e| e.to_string())?);
        let circuit = ModelCircuit::with_witness(Arc::new(m.graph.clone()), plan, vals);
        let prover = MockProver::run(m.shape.k, &circuit, vec![circuit.instances()])
            .map_err(|e| format!("{e:?}"))?;
        prover
            .verify()
            .map_err(|e| format!("circuit not satisfied: {} failure(s)", e.len()))
    };
    match catch_unwind(AssertUnwindSafe(check)) {
        Err(_) => Outcome::Panicked,
        Ok(Err(why)) => Outcome::Wrong(why),
        Ok(Ok(())) => warned.map_or(Outcome::Passed, Outcome::Imprecise),
    }
}

#[test]
fn onnx_backend_node_tests() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/conformance");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() > 200, "{} cases", dirs.len());
    let tmp = tempfile::tempdir().unwrap();
    // Per op: passed, imprecise, refused, wrong, panicked.
    let mut table: BTreeMap<String, [usize; 5]> = BTreeMap::new();
    let mut bad = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let op = case["op"].as_str().unwrap().to_string();
        let row = table.entry(op).or_default();
        match run(dir, tmp.path()) {
            Outcome::Passed => row[0] += 1,
            Outcome::Imprecise(rel) => {
                row[1] += 1;
                eprintln!("imprecise {name}: {:.2}% of the output range", 100.0 * rel);
            }
            Outcome::Refused(why) => {
                row[2] += 1;
                eprintln!("refused {name}: {why}");
                if why.trim().is_empty() || why.contains('\n') {
                    bad.push(format!("{name}: refusal is not one line: {why:?}"));
                }
            }
            Outcome::Wrong(why) => {
                row[3] += 1;
                bad.push(format!("{name}: {why}"));
            }
            Outcome::Panicked => {
                row[4] += 1;
                bad.push(format!("{name}: panicked"));
            }
        }
    }
    println!("| op | cases | passed | imprecise | refused | wrong | panicked |");
    println!("|---|---|---|---|---|---|---|");
    let mut total = [0usize; 5];
    for (op, r) in &table {
        let n = r.iter().sum::<usize>();
        let [p, i, rf, w, x] = *r;
        println!("| {op} | {n} | {p} | {i} | {rf} | {w} | {x} |");
        for (t, v) in total.iter_mut().zip(r) {
            *t += v;
        }
    }
    let n = total.iter().sum::<usize>();
    let [p, i, r, w, x] = total;
    println!("| all | {n} | {p} | {i} | {r} | {w} | {x} |");
    assert!(
        bad.is_empty(),
        "{} case(s) wrong or panicking:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// An op whose sizes, shape or steps are graph inputs is refused by naming that input (shape
/// inference runs on zeros in its place, which used to be what the error described), and a
/// Slice stepping backwards passes.
#[test]
fn parameters_from_graph_inputs_are_named_and_steps_slice() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/conformance");
    let tmp = tempfile::tempdir().unwrap();
    for (case, input) in [
        (
            "test_split_variable_parts_1d_opset13",
            "input #1 ('split') of Split",
        ),
        ("test_slice_neg_steps", "input #1 ('starts') of Slice"),
        ("test_reshape_zero_dim", "input #1 ('shape') of Reshape"),
        ("test_unsqueeze_axis_0", "input #1 ('axes') of Unsqueeze"),
        ("test_gather_0", "input #1 ('indices') of Gather"),
    ] {
        match run(&root.join(case), tmp.path()) {
            Outcome::Refused(why) => assert!(
                why.contains(&format!(
                    "{input} must be constant, and it is computed from a graph input"
                )),
                "{case}: {why}"
            ),
            _ => panic!("{case} was not refused"),
        }
    }
    // An empty list of axes given as a graph input is named as such (it was taken for a
    // batch dimension of 1, and the input file's zero values were then "too few").
    let case = "test_reduce_sum_empty_axes_input_noop";
    match run(&root.join(case), tmp.path()) {
        Outcome::Refused(why) => assert!(why.contains("graph input 'axes' is empty"), "{why}"),
        other => panic!("{case}: {other:?}"),
    }
    let case = "test_slice_neg_steps__constant_inputs";
    assert!(
        matches!(run(&root.join(case), tmp.path()), Outcome::Passed),
        "{case}"
    );
}

/// Gemm with a computed `C` (alpha, beta and both transposes, over two computed operands),
/// and MatMul with a constant operand that has batch dimensions, broadcast partly too.
#[test]
fn gemm_with_computed_c_and_batched_constant_matmuls_pass() {
    assert_pass(&[
        "test_gemm_all_attributes",
        "test_gemm_alpha",
        "test_gemm_beta",
        "test_gemm_default_scalar_bias",
        "test_gemm_transposeA",
        "test_gemm_transposeB",
        "test_matmul_3d__constant_inputs",
        "test_matmul_4d__constant_inputs",
        "test_matmul_1d_3d__constant_inputs",
        "test_matmul_bcast__constant_inputs",
    ]);
}

/// Gemm of two computed operands with a constant `C`: `beta·C` is added (it was dropped, a
/// silent wrong answer). Each case's `C` is made an initializer, as its `__constant_inputs`
/// variant holds it, while `A` and `B` stay graph inputs.
#[test]
fn gemm_of_computed_operands_adds_a_constant_c() {
    use prost::Message;
    use tract_onnx::pb::ModelProto;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/conformance");
    let tmp = tempfile::tempdir().unwrap();
    let decode = |p: PathBuf| ModelProto::decode(std::fs::read(p).unwrap().as_slice()).unwrap();
    for case in [
        "test_gemm_all_attributes",
        "test_gemm_beta",
        "test_gemm_default_matrix_bias",
        "test_gemm_default_vector_bias",
        "test_gemm_default_scalar_bias",
    ] {
        let mut model = decode(root.join(case).join("model.onnx"));
        let constants = decode(root.join(format!("{case}__constant_inputs/model.onnx")));
        let g = model.graph.as_mut().unwrap();
        let c = g.input.remove(2);
        let init = constants.graph.unwrap().initializer;
        g.initializer
            .push(init.into_iter().find(|t| t.name == c.name).unwrap());
        let mut doc: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(case).join("case.json")).unwrap(),
        )
        .unwrap();
        for key in ["input_data", "input_types"] {
            doc[key].as_array_mut().unwrap().truncate(2);
        }
        let dir = tmp.path().join(case);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.onnx"), model.encode_to_vec()).unwrap();
        std::fs::write(dir.join("case.json"), doc.to_string()).unwrap();
        let outcome = run(&dir, tmp.path());
        assert!(matches!(outcome, Outcome::Passed), "{case}: {outcome:?}");
    }
}

/// Pow by constant exponents that differ between elements (and broadcast), one table per
/// exponent; a real exponent no table stands for is refused by name.
#[test]
fn pow_by_per_element_exponents_passes() {
    assert_pass(&[
        "test_pow_example__constant_inputs",
        "test_pow_bcast_array__constant_inputs",
        "test_pow_types_float32_int64__constant_inputs",
    ]);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/conformance");
    let tmp = tempfile::tempdir().unwrap();
    match run(&root.join("test_pow__constant_inputs"), tmp.path()) {
        Outcome::Refused(why) => assert!(why.contains("exponent 1.764"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// LayerNormalization whose scale and bias are graph inputs (computed tensors): `γ·z` a
/// product of activations, `β` an operand.
#[test]
fn layer_normalization_with_computed_scale_and_bias_passes() {
    assert_pass(&[
        "test_layer_normalization_2d_axis0",
        "test_layer_normalization_4d_axis_negative_1",
        "test_layer_normalization_default_axis",
        "test_layer_normalization_3d_axis1_epsilon",
    ]);
}

/// Asserts that each named case of `models/conformance` passes.
fn assert_pass(cases: &[&str]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/conformance");
    let tmp = tempfile::tempdir().unwrap();
    for case in cases {
        let outcome = run(&root.join(case), tmp.path());
        assert!(matches!(outcome, Outcome::Passed), "{case}: {outcome:?}");
    }
}
