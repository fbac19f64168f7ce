//! The `zkinfer` binary end to end: the shared models compile, prove and verify; tampered
//! proofs are rejected; bad input gets a one-line error, a non-zero exit and no partial files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use zkinfer_circuits::input::InputData;
use zkinfer_onnx::{output_range_of, reference, OnnxModel};

fn zkinfer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zkinfer"))
        .args(args)
        .output()
        .expect("run zkinfer")
}

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models")
        .join(name)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Asserts a failure with exit code 1, no panic, and `needle` in the message.
#[track_caller]
fn fails(o: &Output, needle: &str) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1, got {:?}: {all}",
        o.status.code()
    );
    assert!(!all.contains("panicked"), "panic: {all}");
    assert!(all.contains(needle), "expected '{needle}' in: {all}");
}

/// `zkinfer compile ONNX --calibration INPUT --out DIR EXTRA...`; returns stdout.
fn compile(onnx: &Path, input: &Path, dir: &Path, extra: &[&str]) -> String {
    ok(&compile_output(onnx, input, dir, extra))
}

/// [`compile`], whatever the outcome.
fn compile_output(onnx: &Path, input: &Path, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "compile".to_string(),
        s(onnx),
        "--calibration".into(),
        s(input),
        "--out".into(),
        s(dir),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    zkinfer(&args)
}

/// compile → setup → prove → verify one shared model; returns (model dir, proof path).
fn full_run(name: &str, tmp: &Path) -> (PathBuf, PathBuf) {
    full_run_with(name, tmp, &[])
}

/// [`full_run`] with extra `compile` options.
fn full_run_with(name: &str, tmp: &Path, compile_args: &[&str]) -> (PathBuf, PathBuf) {
    let src = shared(name);
    let (onnx, input) = (src.join("network.onnx"), src.join("input.json"));
    let dir = tmp.join(name);
    let out = compile(&onnx, &input, &dir, compile_args);
    assert!(
        out.contains("digest:") && out.contains("rows:") && out.contains("k = "),
        "{out}"
    );
    let proof = tmp.join(format!("{name}.proof.json"));
    setup_prove_verify(&dir, &input, &proof);

    // Outputs within 1% of the output range of tract's float run; argmax kept.
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    for key in [
        "outputs",
        "output_shapes",
        "instances",
        "proof",
        "model_digest",
    ] {
        assert!(p.get(key).is_some(), "proof JSON lacks '{key}'");
    }
    let outputs: Vec<Vec<f64>> = serde_json::from_value(p["outputs"].clone()).unwrap();
    let model = OnnxModel::from_bytes(&std::fs::read(&onnx).unwrap(), name).unwrap();
    let inputs = model
        .input_tensors(&InputData::from_path(&input).unwrap())
        .unwrap();
    let float = reference::tract_outputs(&onnx, &inputs).unwrap();
    assert_eq!(outputs.len(), float.len());
    for (q, f) in outputs.iter().zip(&float) {
        let err = q
            .iter()
            .zip(f)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= 0.01 * output_range_of(f),
            "{name}: max error {err} vs range {}",
            output_range_of(f)
        );
        if f.len() > 1 && f.iter().any(|&v| v != f[0]) {
            let argmax = |v: &[f64]| {
                v.iter()
                    .enumerate()
                    .fold(0, |b, (i, &x)| if x > v[b] { i } else { b })
            };
            assert_eq!(argmax(q), argmax(f), "{name}: argmax changed");
        }
    }
    (dir, proof)
}

/// `setup`, `prove` on `input` to `proof`, and `verify` (which must say "verified").
fn setup_prove_verify(dir: &Path, input: &Path, proof: &Path) {
    ok(&zkinfer(&["setup", &s(dir)]));
    ok(&zkinfer(&[
        "prove",
        &s(dir),
        "--input",
        &s(input),
        "--out",
        &s(proof),
    ]));
    let v = ok(&zkinfer(&["verify", &s(dir), "--proof", &s(proof)]));
    assert!(v.starts_with("verified"), "{v}");
}

/// A model folder's `settings.json`.
fn settings(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("settings.json")).unwrap()).unwrap()
}

fn edit_proof(proof: &Path, out: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proof).unwrap()).unwrap();
    f(&mut p);
    std::fs::write(out, serde_json::to_string(&p).unwrap()).unwrap();
}

/// Writes `proof` to `out` with the first two values of the first tensor of `field` (which
/// must differ) swapped: still values of the model, but not the proven ones.
fn swap_first_values(proof: &Path, out: &Path, field: &str) {
    edit_proof(proof, out, |p| {
        let (a, b) = (p[field][0][0].clone(), p[field][0][1].clone());
        assert_ne!(a, b);
        p[field][0][0] = b;
        p[field][0][1] = a;
    });
}

#[test]
fn mlp_and_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, proof) = full_run("1l_mlp", tmp.path());
    let bad = tmp.path().join("bad.json");
    // Flipping proof bytes (first, middle, last) is rejected.
    let bytes = {
        let p: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
        hex::decode(p["proof"].as_str().unwrap().trim_start_matches("0x")).unwrap()
    };
    for i in [0, bytes.len() / 2, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        edit_proof(&proof, &bad, |p| {
            p["proof"] = format!("0x{}", hex::encode(&b)).into()
        });
        fails(
            &zkinfer(&["verify", &s(&dir), "--proof", &s(&bad)]),
            "rejected",
        );
    }
    // Changing a public instance is rejected.
    edit_proof(&proof, &bad, |p| {
        let v = p["instances"][0][0].as_str().unwrap().to_string();
        let last = if v.ends_with('0') { '1' } else { '0' };
        p["instances"][0][0] = format!("{}{last}", &v[..v.len() - 1]).into();
    });
    fails(
        &zkinfer(&["verify", &s(&dir), "--proof", &s(&bad)]),
        "rejected",
    );
    // Listed outputs that differ from the proven ones are rejected.
    swap_first_values(&proof, &bad, "outputs");
    fails(
        &zkinfer(&["verify", &s(&dir), "--proof", &s(&bad)]),
        "does not match the proven public values",
    );
    edit_proof(&proof, &bad, |p| p["outputs"][0][0] = 123.0.into());
    fails(
        &zkinfer(&["verify", &s(&dir), "--proof", &s(&bad)]),
        "is not a value of this model",
    );
    // Malformed proof files.
    std::fs::write(&bad, "{\"version\": 1").unwrap();
    fails(
        &zkinfer(&["verify", &s(&dir), "--proof", &s(&bad)]),
        "proof file",
    );
}

#[test]
fn shared_conv() {
    let tmp = tempfile::tempdir().unwrap();
    full_run("1l_conv", tmp.path());
}

#[test]
fn shared_relu_sigmoid_conv() {
    let tmp = tempfile::tempdir().unwrap();
    full_run("2l_relu_sigmoid_conv", tmp.path());
}

#[test]
fn shared_relu_conv_fc_and_other_models() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, proof_a) = full_run("4l_relu_conv_fc", tmp.path());
    let (dir_b, proof_b) = full_run("variable_cnn", tmp.path());
    // A proof of another model is rejected.
    fails(
        &zkinfer(&["verify", &s(&dir_b), "--proof", &s(&proof_a)]),
        "is for model",
    );
    fails(
        &zkinfer(&["verify", &s(&dir_a), "--proof", &s(&proof_b)]),
        "is for model",
    );
    // A proof relabelled as the other model's still fails cryptographically.
    let forged = tmp.path().join("forged.json");
    let pb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof_b).unwrap()).unwrap();
    edit_proof(&proof_a, &forged, |p| {
        p["model_digest"] = pb["model_digest"].clone();
        p["vk_sha256"] = pb["vk_sha256"].clone();
        p["instances"] = pb["instances"].clone();
        p["inputs"] = pb["inputs"].clone();
        p["outputs"] = pb["outputs"].clone();
        p["input_shapes"] = pb["input_shapes"].clone();
        p["output_shapes"] = pb["output_shapes"].clone();
    });
    fails(
        &zkinfer(&["verify", &s(&dir_b), "--proof", &s(&forged)]),
        "rejected",
    );
    // Another model's verifying key in the folder is rejected.
    std::fs::copy(dir_b.join("vk.bin"), dir_a.join("vk.bin")).unwrap();
    fails(
        &zkinfer(&["verify", &s(&dir_a), "--proof", &s(&proof_a)]),
        "settings.json describes model",
    );
    // Another model's proving key is refused by prove.
    std::fs::copy(dir_b.join("pk.bin"), dir_a.join("pk.bin")).unwrap();
    let out = tmp.path().join("never.json");
    fails(
        &zkinfer(&[
            "prove",
            &s(&dir_a),
            "--input",
            &s(&shared("4l_relu_conv_fc").join("input.json")),
            "--out",
            &s(&out),
        ]),
        "belongs to model",
    );
    assert!(!out.exists());
}

#[test]
fn bad_input_gets_clear_errors_and_no_partial_files() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let src = shared("1l_mlp");
    let (onnx, input) = (src.join("network.onnx"), src.join("input.json"));
    let compile = |model: &Path, cal: &Path, out: &Path| {
        zkinfer(&[
            "compile",
            &s(model),
            "--calibration",
            &s(cal),
            "--out",
            &s(out),
        ])
    };

    // Model files: empty, truncated, not ONNX, dangling reference, unsupported op.
    let empty = t.join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    fails(&compile(&empty, &input, &t.join("o1")), "file is empty");
    let bytes = std::fs::read(&onnx).unwrap();
    let trunc = t.join("trunc.onnx");
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
    fails(&compile(&trunc, &input, &t.join("o2")), "not an ONNX model");
    let text = t.join("text.onnx");
    std::fs::write(&text, b"this is not a model\n").unwrap();
    fails(&compile(&text, &input, &t.join("o3")), "not an ONNX model");
    let dangling = t.join("dangling.onnx");
    {
        use prost::Message;
        let mut m = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
        m.graph.as_mut().unwrap().node[1].input[0] = "no_such_tensor".into();
        std::fs::write(&dangling, m.encode_to_vec()).unwrap();
    }
    fails(
        &compile(&dangling, &input, &t.join("o4")),
        "refers to tensor 'no_such_tensor'",
    );
    // An op zkinfer does not prove (Hardmax) in place of the model's first node.
    let unsupported = t.join("hardmax.onnx");
    {
        use prost::Message;
        let mut m = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
        m.graph.as_mut().unwrap().node[0].op_type = "Hardmax".into();
        std::fs::write(&unsupported, m.encode_to_vec()).unwrap();
    }
    fails(
        &compile(&unsupported, &input, &t.join("o5")),
        "unsupported op 'Hardmax'",
    );
    for o in ["o1", "o2", "o3", "o4", "o5"] {
        assert!(!t.join(o).join("model.zkm").exists(), "partial output {o}");
    }
    fails(
        &compile(&t.join("missing.onnx"), &input, &t.join("o6")),
        "missing.onnx",
    );

    // A working model folder for the input checks.
    let dir = t.join("mlp");
    ok(&compile(&onnx, &input, &dir));
    ok(&zkinfer(&["setup", &s(&dir)]));
    let proof = t.join("p.json");
    let prove = |inp: &str| {
        let f = t.join("in.json");
        std::fs::write(&f, inp).unwrap();
        zkinfer(&["prove", &s(&dir), "--input", &s(&f), "--out", &s(&proof)])
    };
    fails(&prove("{\"input_data\": [[0.5, 1.0]]}"), "needs 3 values");
    fails(
        &prove("{\"input_data\": [[0.5, 1.0, 1.5], [1]]}"),
        "takes 1 input tensor(s)",
    );
    fails(
        &prove("{\"input_data\": [[0.5, NaN, 1.5]]}"),
        "'NaN' is not a finite number",
    );
    fails(
        &prove("{\"input_data\": [[0.5, Infinity, 1.5]]}"),
        "'Infinity' is not a finite number",
    );
    fails(
        &prove("{\"input_data\": [[0.5, 1e6, 1.5]]}"),
        "outside the calibrated range",
    );
    fails(
        &prove("{\"input_data\": [[0.5, 1.0, 1.5]"),
        "malformed JSON",
    );
    fails(
        &prove("{\"data\": [[0.5, 1.0, 1.5]]}"),
        "missing key 'input_data'",
    );
    fails(
        &prove("{\"input_data\": [[0.5, \"x\", 1.5]]}"),
        "is not a number",
    );
    assert!(!proof.exists(), "a failed prove left a proof file");
    // Calibration input errors surface at compile time too.
    let nan = t.join("nan.json");
    std::fs::write(&nan, "{\"input_data\": [[NaN, 1, 2]]}").unwrap();
    fails(&compile(&onnx, &nan, &t.join("o7")), "not a finite number");

    // Corrupted keys.
    ok(&prove("{\"input_data\": [[0.5, 1.0, 1.5]]}"));
    let flip = |f: &Path| {
        let mut b = std::fs::read(f).unwrap();
        let i = b.len() / 2;
        b[i] ^= 0xff;
        std::fs::write(f, b).unwrap();
    };
    let vk_backup = std::fs::read(dir.join("vk.bin")).unwrap();
    flip(&dir.join("vk.bin"));
    fails(
        &zkinfer(&["verify", &s(&dir), "--proof", &s(&proof)]),
        "truncated or corrupted",
    );
    std::fs::write(dir.join("vk.bin"), vk_backup).unwrap();
    ok(&zkinfer(&["verify", &s(&dir), "--proof", &s(&proof)]));
    flip(&dir.join("pk.bin"));
    let p2 = t.join("p2.json");
    fails(
        &zkinfer(&["prove", &s(&dir), "--input", &s(&input), "--out", &s(&p2)]),
        "truncated or corrupted",
    );
    std::fs::write(dir.join("model.zkm"), b"garbage").unwrap();
    fails(
        &zkinfer(&["setup", &s(&dir)]),
        "not a zkinfer compiled model file",
    );
    assert!(!p2.exists());
}

#[test]
fn demo_proves_and_verifies() {
    let out = ok(&zkinfer(&["demo"]));
    for step in [
        "1. compile",
        "2. setup",
        "3. prove",
        "4. verify",
        "verified output #0",
    ] {
        assert!(out.contains(step), "{out}");
    }
}

#[test]
fn inspect_shows_each_stage() {
    let src = shared("4l_relu_conv_fc");
    let onnx = s(&src.join("network.onnx"));
    let cal = s(&src.join("input.json"));
    assert!(ok(&zkinfer(&["inspect", &onnx, "--stage", "onnx"])).contains("Conv"));
    assert!(ok(&zkinfer(&[
        "inspect",
        &onnx,
        "--stage",
        "quantized",
        "--calibration",
        &cal
    ]))
    .contains("quantized graph"));
    assert!(ok(&zkinfer(&[
        "inspect",
        &onnx,
        "--stage",
        "plan",
        "--calibration",
        &cal
    ]))
    .contains("circuit plan"));
    // Without a calibration input: the seeded inputs, as `compile`.
    assert!(ok(&zkinfer(&["inspect", &onnx, "--stage", "plan"])).contains("circuit plan"));
    // A calibration input where it cannot apply is refused, not ignored.
    fails(
        &zkinfer(&["inspect", &onnx, "--stage", "onnx", "--calibration", &cal]),
        "the onnx stage is the float graph",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    compile(
        &src.join("network.onnx"),
        &src.join("input.json"),
        &dir,
        &[],
    );
    fails(
        &zkinfer(&["inspect", &s(&dir), "--calibration", &cal]),
        "was quantized when it was compiled",
    );
    // A statically quantized model carries its scales: the file is noted as unused, as
    // `compile` notes it.
    let int8 = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/int8/1l_mlp/qdq_per_tensor_s8s8.onnx");
    let o = zkinfer(&["inspect", &s(&int8), "--calibration", &cal]);
    assert!(ok(&o).contains("circuit plan"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is not used: a statically quantized model"),
        "{err}"
    );
}

/// 1l_mlp compiled for on-chain use with `--public-io io`, set up and proven: (model dir,
/// proof path, compile output).
fn on_chain_mlp(tmp: &Path, io: &str) -> (PathBuf, PathBuf, String) {
    let src = shared("1l_mlp");
    let (onnx, input) = (src.join("network.onnx"), src.join("input.json"));
    let dir = tmp.join(io);
    let out = compile(
        &onnx,
        &input,
        &dir,
        &["--optimize", "verify-gas", "--public-io", io],
    );
    ok(&zkinfer(&["setup", &s(&dir)]));
    let proof = tmp.join("proof.json");
    ok(&zkinfer(&[
        "prove",
        &s(&dir),
        "--input",
        &s(&input),
        "--out",
        &s(&proof),
    ]));
    (dir, proof, out)
}

#[test]
fn evm_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, proof, out) = on_chain_mlp(tmp.path(), "packed");
    assert!(out.contains("packed"), "{out}");

    // calldata: instances (32 bytes each) then the proof.
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    let n_inst = p["instances"][0].as_array().unwrap().len();
    let proof_hex = p["proof"].as_str().unwrap().trim_start_matches("0x");
    let cd = ok(&zkinfer(&["calldata", &s(&proof)]));
    let cd = cd.trim().trim_start_matches("0x");
    assert_eq!(cd.len(), 64 * n_inst + proof_hex.len());
    assert!(cd.ends_with(proof_hex));

    // export-verifier writes a Solidity contract that fits the EVM limits.
    let sol = tmp.path().join("Verifier.sol");
    let out = ok(&zkinfer(&["export-verifier", &s(&dir), "--out", &s(&sol)]));
    assert!(
        out.contains("runtime") && out.contains("commitments"),
        "{out}"
    );
    assert!(std::fs::read_to_string(&sol)
        .unwrap()
        .contains("contract Halo2Verifier"));

    // verify-evm: accepted; a flipped proof byte is rejected with exit 1.
    let out = ok(&zkinfer(&["verify-evm", &s(&dir), "--proof", &s(&proof)]));
    assert!(out.starts_with("accepted") && out.contains("gas"), "{out}");
    let bad = tmp.path().join("bad.json");
    let mut b = hex::decode(proof_hex).unwrap();
    let last = b.len() - 1;
    b[last] ^= 1;
    edit_proof(&proof, &bad, |p| {
        p["proof"] = format!("0x{}", hex::encode(&b)).into()
    });
    fails(
        &zkinfer(&["verify-evm", &s(&dir), "--proof", &s(&bad)]),
        "rejected",
    );
    // The wrapper's commands explain what is missing (the wrapped flow itself:
    // contracts/tests/wrap.rs).
    fails(
        &zkinfer(&["calldata", &s(&proof), "--wrap"]),
        "no wrapper proof",
    );
    let wsol = tmp.path().join("W.sol");
    fails(
        &zkinfer(&["export-verifier", &s(&dir), "--wrap", "--out", &s(&wsol)]),
        "setup --wrap",
    );
    assert!(!wsol.exists());
    let input = shared("1l_mlp").join("input.json");
    let wproof = tmp.path().join("wrapped.json");
    let prove_wrap = |extra: &[&str]| {
        let mut args = vec![
            "prove",
            &s(&dir),
            "--input",
            &s(&input),
            "--out",
            &s(&wproof),
            "--wrap",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|a| a.to_string()));
        zkinfer(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    fails(&prove_wrap(&[]), "setup --wrap");
    // The wrapper's keys are looked for before any GPU.
    fails(&prove_wrap(&["--device", "cuda"]), "setup --wrap");
    assert!(!wproof.exists());
    // Flags the parser refuses (exit 2, usage on stderr).
    for args in [
        vec!["--wrap-k", "22"],
        vec!["--wrap", "--wrap-k", "30"],
        vec!["--wrap", "--wrap-levels", "0"],
    ] {
        let mut all = vec!["setup".to_string(), s(&dir)];
        all.extend(args.iter().map(|a| a.to_string()));
        let o = zkinfer(&all.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    }

    // No solcjs where pointed: a clear error.
    fails(
        &zkinfer(&[
            "export-verifier",
            &s(&dir),
            "--out",
            &s(&tmp.path().join("x.sol")),
            "--solcjs",
            "/nonexistent",
        ]),
        "solcjs 0.8.19 not found",
    );
}

#[test]
fn hashed_public_io_end_to_end() {
    // Two public instances (input hash, output hash); the proof file still lists the values,
    // verify recomputes the hashes from them, and the contract accepts the same proof.
    let tmp = tempfile::tempdir().unwrap();
    let (dir, proof, out) = on_chain_mlp(tmp.path(), "hashed");
    assert!(
        out.contains("2 instance(s)") && out.contains("hashed"),
        "{out}"
    );
    let v = ok(&zkinfer(&["verify", &s(&dir), "--proof", &s(&proof)]));
    assert!(v.starts_with("verified"), "{v}");
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    assert_eq!(p["instances"][0].as_array().unwrap().len(), 2);
    assert!(!p["outputs"][0].as_array().unwrap().is_empty());

    // Other listed outputs (valid model values) no longer match the proven hash.
    let bad = tmp.path().join("bad.json");
    swap_first_values(&proof, &bad, "outputs");
    fails(
        &zkinfer(&["verify", &s(&dir), "--proof", &s(&bad)]),
        "does not match the proven public values",
    );
    // So do other listed inputs.
    swap_first_values(&proof, &bad, "inputs");
    fails(
        &zkinfer(&["verify", &s(&dir), "--proof", &s(&bad)]),
        "rejected",
    );

    // On-chain: accepted, and the calldata is just the two hashes and the proof.
    let out = ok(&zkinfer(&["verify-evm", &s(&dir), "--proof", &s(&proof)]));
    assert!(out.starts_with("accepted"), "{out}");
    let cd = ok(&zkinfer(&["calldata", &s(&proof)]));
    let proof_hex = p["proof"].as_str().unwrap().trim_start_matches("0x");
    assert_eq!(
        cd.trim().trim_start_matches("0x").len(),
        64 * 2 + proof_hex.len()
    );
}

#[test]
fn direct_matvec_check_proves_single_phase_circuits() {
    // `--matvec-check direct` (the single-phase circuits the CUDA prover needs) proves and
    // verifies with the unchanged verifier, and a changed output is still rejected.
    let tmp = tempfile::tempdir().unwrap();
    let (dir, proof) = full_run_with("1l_conv", tmp.path(), &["--matvec-check", "direct"]);
    let plan = ok(&zkinfer(&["inspect", &s(&dir), "--stage", "plan"]));
    assert!(plan.contains("direct check"), "{plan}");
    let bad = tmp.path().join("bad.json");
    edit_proof(&proof, &bad, |p| {
        let out = p["outputs"][0].as_array().unwrap().clone();
        let other = out.iter().find(|v| **v != out[0]).unwrap().clone();
        p["outputs"][0][0] = other;
    });
    fails(
        &zkinfer(&["verify", &s(&dir), "--proof", &s(&bad)]),
        "does not match the proven public values",
    );
    edit_proof(&proof, &bad, |p| {
        let mut hex = p["proof"].as_str().unwrap().to_string();
        let mid = hex.len() / 2;
        let flipped = if &hex[mid..mid + 1] == "0" { "1" } else { "0" };
        hex.replace_range(mid..mid + 1, flipped);
        p["proof"] = hex.into();
    });
    fails(
        &zkinfer(&["verify", &s(&dir), "--proof", &s(&bad)]),
        "rejected",
    );
}

#[test]
fn gpu_layout_is_single_phase_of_at_least_2_pow_14_rows_and_proves_on_the_cpu_too() {
    // 1l_mlp's CPU layout has k = 11; `--optimize gpu-prove-time` gives the direct check and
    // 2^14 rows or more (where the CUDA prover computes the commitments on the GPU).
    let tmp = tempfile::tempdir().unwrap();
    let (dir, proof) = full_run_with("1l_mlp", tmp.path(), &["--optimize", "gpu-prove-time"]);
    let plan = ok(&zkinfer(&["inspect", &s(&dir), "--stage", "plan"]));
    assert!(plan.contains("direct check"), "{plan}");
    let settings = settings(&dir);
    let k = settings["shape"]["k"].as_u64().unwrap();
    assert!((14..=16).contains(&k), "k = {k}");
    let v = ok(&zkinfer(&["verify", &s(&dir), "--proof", &s(&proof)]));
    assert!(v.starts_with("verified"), "{v}");
    let src = shared("1l_mlp");
    let gpu_compile = |out: &Path, extra: &[&str]| {
        let args = [&["--optimize", "gpu-prove-time"], extra].concat();
        compile_output(
            &src.join("network.onnx"),
            &src.join("input.json"),
            out,
            &args,
        )
    };
    // The CUDA prover proves single-phase circuits only: an explicit Freivalds check is
    // refused, and nothing is written.
    let refused = tmp.path().join("refused");
    fails(
        &gpu_compile(&refused, &["--matvec-check", "freivalds"]),
        "--matvec-check direct",
    );
    assert!(!refused.join("settings.json").exists());
    // A forced k below 14 is kept, with a warning.
    let small = tmp.path().join("small");
    let o = gpu_compile(&small, &["--k", "12"]);
    let out = ok(&o);
    assert!(out.contains("(k = 12)"), "{out}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: --k 12 is below 14") && err.contains("on the CPU"),
        "{err}"
    );
}

#[test]
fn device_choice() {
    // No CUDA proving backend in this build: `auto` proves on the CPU and says why on stderr,
    // `cpu` is silent, `cuda` is refused with the reason (no GPU, or no backend for it) before
    // any work and without writing a proof.
    let tmp = tempfile::tempdir().unwrap();
    let (dir, proof, _) = on_chain_mlp(tmp.path(), "packed");
    let input = s(&shared("1l_mlp").join("input.json"));
    let out = tmp.path().join("p.json");
    let run = |device: &str| {
        zkinfer(&[
            "prove",
            &s(&dir),
            "--input",
            &input,
            "--out",
            &s(&out),
            "--quiet",
            "--device",
            device,
        ])
    };
    let o = run("auto");
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("proving on the CPU").count(), 1, "{err}");
    let o = run("cpu");
    ok(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("proving on the CPU"));
    std::fs::remove_file(&out).unwrap();
    fails(&run("cuda"), "--device cuda");
    assert!(!out.exists());
    assert!(proof.exists());
    // `demo --device cuda` is refused before it compiles anything (no model folder made).
    let demo_dir = tmp.path().join("demo");
    fails(
        &zkinfer(&["demo", "--device", "cuda", "--out", &s(&demo_dir)]),
        "--device cuda",
    );
    assert!(!demo_dir.exists());
    let d = ok(&zkinfer(&["devices"]));
    assert!(d.starts_with("cpu: ") && d.contains("cuda: "), "{d}");
}

/// A CUDA driver stand-in that reports two GPUs ("Simulated GPU" and "Simulated GPU B",
/// compute 9.0; it ignores CUDA_VISIBLE_DEVICES) and supports
/// CUDA `cuda` (as cuDriverGetVersion encodes it, e.g. 13000), compiled with `cc`.
fn simulated_driver(dir: &Path, cuda: u32) {
    let c = dir.join("fake_cuda.c");
    std::fs::write(
        &c,
        r#"#include <string.h>
#include <stddef.h>
int cuInit(unsigned f) { return 0; }
int cuDriverGetVersion(int *v) { *v = CUDA_VERSION; return 0; }
int cuDeviceGetCount(int *n) { *n = 2; return 0; }
int cuDeviceGet(int *d, int i) { *d = i; return 0; }
int cuDeviceGetName(char *b, int len, int d) { strncpy(b, d ? "Simulated GPU B" : "Simulated GPU", len); return 0; }
int cuDeviceTotalMem_v2(size_t *b, int d) { *b = (size_t)1 << 30; return 0; }
int cuDeviceGetAttribute(int *v, int a, int d) { *v = a == 75 ? 9 : 0; return 0; }
"#,
    )
    .unwrap();
    let st = Command::new("cc")
        .arg(format!("-DCUDA_VERSION={cuda}"))
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.join("libcuda.so.1"))
        .arg(&c)
        .status()
        .expect("a C compiler (cc) to build the simulated CUDA driver");
    assert!(st.success());
}

/// The first line of a file.
fn first_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().next().unwrap_or_default().to_string()
}

/// Writes an executable `#!/bin/sh` script, through `sh`, so this process never holds the
/// file open for writing (a process forked meanwhile by a parallel test would inherit the
/// handle: "text file busy").
fn write_script(path: &Path, body: &str) {
    use std::io::Write;
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg("cat > \"$0\" && chmod 755 \"$0\"")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = sh.stdin.take().unwrap();
    stdin
        .write_all(format!("#!/bin/sh\n{body}\n").as_bytes())
        .unwrap();
    drop(stdin);
    assert!(sh.wait().unwrap().success());
}

/// A folder like scripts/build-cuda's output: `zkinfer` (this build) and stand-ins for
/// `zkinfer-cuda` and `zkinfer-cuda-check` running `body`.
fn bin_with_helper(t: &Path, body: &str) -> PathBuf {
    let bin = t.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let exe = bin.join("zkinfer");
    std::fs::hard_link(env!("CARGO_BIN_EXE_zkinfer"), &exe)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_zkinfer"), &exe).map(|_| ()))
        .unwrap();
    write_script(&bin.join("zkinfer-cuda"), body);
    write_script(&bin.join("zkinfer-cuda-check"), body);
    bin
}

/// The shell command with which a stand-in `zkinfer-cuda info` answers (zkinfer `version`,
/// kernels for `arch`).
fn info_echo(version: &str, arch: &str) -> String {
    format!("echo '{{\"version\":\"{version}\",\"cuda_arch\":\"{arch}\"}}'")
}

/// A fresh folder (beside the test binaries) with the simulated driver (CUDA 13.0) and
/// [`bin_with_helper`]`(body)`: the folder and its `bin`.
fn simulated_gpu_machine(body: &str) -> (tempfile::TempDir, PathBuf) {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let tmp = tempfile::tempdir_in(&base).unwrap();
    simulated_driver(tmp.path(), 13000);
    let bin = bin_with_helper(tmp.path(), body);
    (tmp, bin)
}

#[test]
fn gpu_check_script_with_a_simulated_gpu() {
    // scripts/gpu-check is what a GPU session runs, with little device time: rehearse it here
    // with the simulated driver and a stand-in CUDA prover (proves on the CPU; selftest and
    // bench print a line; one sequence model). Its output must be the seven flat files the remote runner returns,
    // and the kept on-chain key and proof must pass `verify-evm` on this machine.
    let (tmp, bin) = simulated_gpu_machine(&format!(
        "case \"$1\" in\n\
             info) {} ;;\n\
             prove) shift; exec '{}' prove \"$@\" --device cpu ;;\n\
             selftest) echo '| check | result | detail |'; echo 'simulated: 0 of 1 checks failed' ;;\n\
             bench) echo '| MSM size | CPU ms |'; echo 'simulated bench' ;;\n\
             *) exit 2 ;;\n\
             esac",
        info_echo(env!("CARGO_PKG_VERSION"), "90"),
        env!("CARGO_BIN_EXE_zkinfer")
    ));
    let t = tmp.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let models = shared("1l_conv").parent().unwrap().to_path_buf();
    // The script on `models` into `out`, with the simulated driver.
    let gpu_check = |models: &Path, out: &Path| {
        Command::new("bash")
            .arg(root.join("scripts/gpu-check"))
            .args([&bin, models, out])
            .env("LD_LIBRARY_PATH", t)
            .env_remove("VPMM_VA_SIZE")
            // One small sequence model (the default list takes minutes on this CPU).
            .env("GPU_CHECK_SEQUENCE", "1l_softmax")
            .output()
            .unwrap()
    };
    let out = t.join("out");
    let o = gpu_check(&models, &out);
    let log = ok(&o);
    assert!(log.contains("simulated bench"), "{log}");
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| {
            assert!(
                e.file_type().unwrap().is_file(),
                "{:?} is not a file",
                e.path()
            );
            e.file_name().to_string_lossy().to_string()
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "bench.log",
            "bench.md",
            "cli.log",
            "devices.txt",
            "onchain.tar",
            "selftest.log",
            "selftest.md"
        ]
    );
    let devices = std::fs::read_to_string(out.join("devices.txt")).unwrap();
    for want in [
        "cuda: GPU 0 Simulated GPU",
        "runs on GPU 0",
        "step selftest:",
        "step cli:",
        "step onchain:",
        "step sequence:",
        "step bench: ",
        "(status so far 0)",
    ] {
        assert!(devices.contains(want), "{want}: {devices}");
    }
    let cli_log = std::fs::read_to_string(out.join("cli.log")).unwrap();
    assert_eq!(cli_log.matches("verified").count(), 3, "{cli_log}");
    assert!(
        cli_log.contains("prove --device cuda (1l_softmax, --optimize gpu-prove-time)"),
        "{cli_log}"
    );
    // Afterwards, here: the GPU proof on the EVM.
    let kept = t.join("kept");
    std::fs::create_dir(&kept).unwrap();
    let st = Command::new("tar")
        .arg("xf")
        .arg(out.join("onchain.tar"))
        .arg("-C")
        .arg(&kept)
        .status()
        .unwrap();
    assert!(st.success());
    let v = ok(&zkinfer(&[
        "verify-evm",
        &s(&kept.join("model")),
        "--proof",
        &s(&kept.join("proof.json")),
    ]));
    assert!(v.starts_with("accepted"), "{v}");
    // A GPU the prover's kernels cannot run on stops the script at once, before any work.
    write_script(
        &bin.join("zkinfer-cuda"),
        &format!(
            "[ \"$1\" = info ] && {}\nexit 0",
            info_echo(env!("CARGO_PKG_VERSION"), "100")
        ),
    );
    let o = gpu_check(&models, &t.join("out2"));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the CUDA prover cannot run here"), "{err}");
    assert!(!t.join("out2/selftest.md").exists());
    // A CUDA prover that aborts at start unless its address-space reservation is smaller: the
    // script tries once with VPMM_VA_SIZE and goes on (here into models that do not exist).
    write_script(
        &bin.join("zkinfer-cuda"),
        &format!(
            "[ -n \"$VPMM_VA_SIZE\" ] || {{ echo 'CudaError {{ name: \"cudaErrorMemoryAllocation\" }}' >&2; exit 134; }}\n\
             [ \"$1\" = info ] && {}\n\
             exit 0",
            info_echo(env!("CARGO_PKG_VERSION"), "90")
        ),
    );
    let out3 = t.join("out3");
    let o = gpu_check(&t.join("no-models"), &out3);
    assert!(!o.status.success(), "the CLI steps had no models");
    let devices = std::fs::read_to_string(out3.join("devices.txt")).unwrap();
    for want in [
        "does not start",
        "cudaErrorMemoryAllocation",
        "again with VPMM_VA_SIZE=274877906944",
        "runs on GPU 0",
        "step bench: ",
    ] {
        assert!(devices.contains(want), "{want}: {devices}");
    }
    // The selftest (first step) ran with the smaller reservation too.
    let selftest = devices.lines().find(|l| l.starts_with("step selftest:"));
    assert!(
        selftest.is_some_and(|l| l.ends_with("(status so far 0)")),
        "{devices}"
    );
}

#[test]
fn gpu_dispatch_with_a_simulated_driver() {
    // The path `--device auto|cuda` takes once the driver reports a GPU, with a stand-in for
    // `zkinfer-cuda` (a script that proves with `zkinfer --device cpu` and leaves a mark):
    // the helper beside the executable is used for single-phase models, refused with the
    // reason for two-phase ones or when it is missing, and its failure is a clean error.
    let (tmp, bin) = simulated_gpu_machine("exit 2");
    let t = tmp.path();
    let exe = bin.join("zkinfer");
    let mark = t.join("helper-ran");
    let helper = bin.join("zkinfer-cuda");
    let write_helper = |body: &str| write_script(&helper, body);
    // `info` as scripts/build-cuda's default build answers it (kernels for compute 9.0).
    let info = |arch: &str| {
        format!(
            "if [ \"$1\" = info ]; then {}; exit 0; fi",
            info_echo(env!("CARGO_PKG_VERSION"), arch)
        )
    };
    let proving_helper = format!(
        "{}\n[ \"$1\" = prove ] || exit 2\nshift\nprintf '%s\\n%s\\n' \"$CUDA_VISIBLE_DEVICES\" \"$ZKINFER_CUDA_GPU\" > '{}'\nexec '{}' prove \"$@\" --device cpu",
        info("90"),
        mark.display(),
        env!("CARGO_BIN_EXE_zkinfer")
    );
    write_helper(&proving_helper);
    // `visible`: zkinfer's own CUDA_VISIBLE_DEVICES.
    let run_with = |args: &[&str], visible: Option<&str>| {
        let mut c = Command::new(&exe);
        c.args(args).env("LD_LIBRARY_PATH", t);
        match visible {
            Some(v) => c.env("CUDA_VISIBLE_DEVICES", v),
            None => c.env_remove("CUDA_VISIBLE_DEVICES"),
        };
        c.output().unwrap()
    };
    let run = |args: &[&str]| run_with(args, None);
    let src = shared("1l_conv");
    let (onnx, input) = (src.join("network.onnx"), src.join("input.json"));
    let (direct, freivalds) = (t.join("direct"), t.join("freivalds"));
    // At 2^14 rows (left alone, 1l_conv takes 2^8 with lookups on limbs).
    compile(
        &onnx,
        &input,
        &direct,
        &["--matvec-check", "direct", "--k", "14"],
    );
    compile(&onnx, &input, &freivalds, &[]);
    for d in [&direct, &freivalds] {
        ok(&zkinfer(&["setup", &s(d)]));
    }
    let proof = t.join("p.json");
    let prove = |dir: &Path, device: &str| {
        run(&[
            "prove",
            &s(dir),
            "--input",
            &s(&input),
            "--out",
            &s(&proof),
            "--device",
            device,
        ])
    };
    let d = ok(&run(&["devices"]));
    assert!(
        d.contains("cuda: GPU 0 Simulated GPU") && d.contains("cuda prover: "),
        "{d}"
    );
    assert!(d.contains(&helper.display().to_string()), "{d}");
    assert!(
        d.contains("kernels sm_90 + PTX compute_90")
            && d.contains("runs on GPU 0 (sm_90 machine code)")
            && d.contains("runs on GPU 1 (sm_90 machine code)"),
        "{d}"
    );
    assert!(!d.contains("warning"), "{d}");
    // A build for compute 10.0 cannot run on the simulated 9.0 GPU: said, with the fix.
    write_helper(&format!("{}\nexit 2", info("100")));
    let d = ok(&run(&["devices"]));
    assert!(
        d.contains("cannot prove on GPU 0")
            && d.contains("cannot prove on GPU 1")
            && d.contains("CUDA_ARCH=90 scripts/build-cuda"),
        "{d}"
    );
    // One from another zkinfer version is named as such.
    write_helper(&info_echo("0.0.1", "90"));
    let d = ok(&run(&["devices"]));
    assert!(
        d.contains("warning: version 0.0.1 is not this zkinfer's"),
        "{d}"
    );
    // One for 8.0 runs through its PTX, compiled by the driver.
    write_helper(&format!("{}\nexit 2", info("80")));
    let d = ok(&run(&["devices"]));
    assert!(
        d.contains("runs on GPU 0 (PTX compute_80") && d.contains("CUDA_ARCH=90 starts faster"),
        "{d}"
    );
    // A helper that does not answer `info` (another program, or one that fails to start).
    write_helper("echo 'CUDA driver version is insufficient' >&2\nexit 1");
    let d = ok(&run(&["devices"]));
    assert!(
        d.contains("cuda prover: unusable: ")
            && d.contains("does not start")
            && d.contains("insufficient"),
        "{d}"
    );
    write_helper(&proving_helper);
    // Single-phase model: both `auto` and `cuda` go through the helper.
    for device in ["auto", "cuda"] {
        let _ = std::fs::remove_file(&mark);
        let o = prove(&direct, device);
        let out = ok(&o);
        assert!(mark.exists(), "{device}: the helper was not started");
        // GPU 0 is the helper's only device.
        assert_eq!(first_line(&mark), "0");
        assert!(out.contains("proved 1 output tensor"), "{out}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("proving on GPU 0 Simulated GPU ("), "{err}");
        // 1l_conv has 2^14 rows: the GPU computes its commitments, no hint.
        assert!(!err.contains("gpu-prove-time"), "{err}");
        let v = ok(&zkinfer(&["verify", &s(&direct), "--proof", &s(&proof)]));
        assert!(v.starts_with("verified"), "{v}");
    }
    // A direct circuit of fewer than 2^14 rows proves on the GPU with a hint at the layout
    // for it (not with --quiet).
    let mlp = shared("1l_mlp");
    let small = t.join("small");
    compile(
        &mlp.join("network.onnx"),
        &mlp.join("input.json"),
        &small,
        &["--matvec-check", "direct"],
    );
    ok(&zkinfer(&["setup", &s(&small)]));
    let (small_dir, mlp_input, proof_out) = (s(&small), s(&mlp.join("input.json")), s(&proof));
    let prove_small = |extra: &[&str]| {
        let base = [
            "prove", &small_dir, "--input", &mlp_input, "--out", &proof_out, "--device", "cuda",
        ];
        run(&[&base[..], extra].concat())
    };
    let o = prove_small(&[]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("note: this circuit has 2^")
            && err.contains(" rows; below 2^14 the CUDA prover")
            && err.contains("--optimize gpu-prove-time"),
        "{err}"
    );
    let o = prove_small(&["--quiet"]);
    ok(&o);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("note:"));
    // `--gpu 1`: that GPU becomes the helper's device 0, also through an existing
    // CUDA_VISIBLE_DEVICES; a GPU that is not there is refused by `cuda`, the CPU for `auto`.
    let on_gpu = |gpu: &str, device: &str, visible: Option<&str>| {
        let _ = std::fs::remove_file(&mark);
        let args = [
            "prove",
            &s(&direct),
            "--input",
            &s(&input),
            "--out",
            &s(&proof),
            "--device",
            device,
            "--gpu",
            gpu,
        ];
        run_with(&args, visible)
    };
    let o = on_gpu("1", "cuda", None);
    ok(&o);
    assert_eq!(first_line(&mark), "1");
    // ... and is named to it, so it can check it sees that GPU as its device 0.
    let told = std::fs::read_to_string(&mark).unwrap();
    assert!(
        told.contains("\"index\":1") && told.contains("Simulated GPU B"),
        "{told}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("proving on GPU 1 Simulated GPU B"), "{err}");
    let o = on_gpu("1", "cuda", Some("4,6"));
    ok(&o);
    assert_eq!(first_line(&mark), "6");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("proving on GPU 1 Simulated GPU B"), "{err}");
    // A list the driver's GPU 1 is not in (only possible with a driver that ignores it, as
    // this stand-in does): refused, never some GPU outside the list.
    fails(
        &on_gpu("1", "cuda", Some("4")),
        "GPU 1 has no entry in CUDA_VISIBLE_DEVICES=4",
    );
    assert!(!mark.exists());
    fails(&on_gpu("2", "cuda", None), "there is no GPU 2");
    assert!(!mark.exists());
    let o = on_gpu("2", "auto", None);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("there is no GPU 2"));
    assert!(!mark.exists());
    // Two-phase model: `auto` falls back to the CPU and says why; `cuda` is refused.
    let _ = std::fs::remove_file(&mark);
    let o = prove(&freivalds, "auto");
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("proving on the CPU") && err.contains("--optimize gpu-prove-time"),
        "{err}"
    );
    fails(&prove(&freivalds, "cuda"), "--optimize gpu-prove-time");
    assert!(!mark.exists());
    // With --wrap the model proof is made on the CPU and only the wrapper's levels on the
    // GPU, so a two-phase model goes to the CUDA prover too, told to wrap (here a stand-in
    // that records its arguments and fails). The wrapper's key files are looked for first.
    let prove_wrapped = |device: &str| {
        run(&[
            "prove",
            &s(&freivalds),
            "--input",
            &s(&input),
            "--out",
            &s(&proof),
            "--wrap",
            "--device",
            device,
        ])
    };
    fails(&prove_wrapped("cuda"), "setup --wrap");
    assert!(!mark.exists());
    for f in ["wrap_vk.bin", "wrap_pk.bin"] {
        std::fs::write(freivalds.join(f), b"not a key").unwrap();
    }
    write_helper(&format!(
        "{}\nprintf '%s\\n' \"$@\" > '{}'\necho 'error: simulated' >&2\nexit 1",
        info("90"),
        mark.display()
    ));
    fails(&prove_wrapped("cuda"), "CUDA prover");
    let args = std::fs::read_to_string(&mark).unwrap();
    assert!(
        args.starts_with("prove\n") && args.lines().any(|l| l == "--wrap"),
        "{args}"
    );
    // `auto` then proves on the CPU, which reads the keys: one clean error.
    let o = prove_wrapped("auto");
    fails(&o, "wrap_vk.bin");
    assert!(String::from_utf8_lossy(&o.stderr).contains("simulated"));
    for f in ["wrap_vk.bin", "wrap_pk.bin"] {
        std::fs::remove_file(freivalds.join(f)).unwrap();
    }
    std::fs::remove_file(&mark).unwrap();
    write_helper(&proving_helper);
    // A helper that hands back a proof of another model is refused; the old proof stays.
    let before = std::fs::read(&proof).unwrap();
    write_helper(&format!(
        "shift; shift\nexec '{}' prove '{}' \"$@\" --device cpu",
        env!("CARGO_BIN_EXE_zkinfer"),
        freivalds.display()
    ));
    fails(
        &prove(&direct, "cuda"),
        "the CUDA prover wrote a proof for model",
    );
    assert_eq!(std::fs::read(&proof).unwrap(), before);
    // A failing helper is an error with `cuda`, not a panic, and leaves no proof; `auto`
    // then proves on the CPU and says why.
    std::fs::remove_file(&proof).unwrap();
    write_helper("echo 'error: out of GPU memory' >&2\nexit 1");
    fails(&prove(&direct, "cuda"), "CUDA prover");
    assert!(!proof.exists());
    let o = prove(&direct, "auto");
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("out of GPU memory") && err.contains("the CUDA prover failed"),
        "{err}"
    );
    let v = ok(&zkinfer(&["verify", &s(&direct), "--proof", &s(&proof)]));
    assert!(v.starts_with("verified"), "{v}");
    // A hung helper is stopped at --gpu-timeout: an error with `cuda` (no proof), the CPU
    // with `auto`.
    std::fs::remove_file(&proof).unwrap();
    // It starts an atomic write of its --out (the sixth argument), then hangs.
    write_helper("touch \"$(dirname \"$6\")/.$(basename \"$6\").tmp-1\"\nexec sleep 60");
    let hung = |device: &str| {
        run(&[
            "prove",
            &s(&direct),
            "--input",
            &s(&input),
            "--out",
            &s(&proof),
            "--gpu-timeout",
            "1",
            "--device",
            device,
        ])
    };
    fails(&hung("cuda"), "stopped after 1 s");
    assert!(!proof.exists());
    let left: Vec<_> = std::fs::read_dir(t)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let o = hung("auto");
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("stopped after 1 s"));
    let v = ok(&zkinfer(&["verify", &s(&direct), "--proof", &s(&proof)]));
    assert!(v.starts_with("verified"), "{v}");
    let o = run(&[
        "prove",
        &s(&direct),
        "--input",
        &s(&input),
        "--gpu-timeout",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--gpu-timeout"));
    // A driver older than the CUDA runtime the helper ships: the helper is not started
    // (it would abort while starting), `cuda` is refused with the reason, `auto` uses the CPU.
    write_helper(&proving_helper);
    simulated_driver(t, 12040);
    let d = ok(&run(&["devices"]));
    assert!(
        d.contains("cuda driver: supports CUDA 12.4")
            && d.contains("cannot start here")
            && d.contains("needs CUDA 13.0"),
        "{d}"
    );
    let _ = std::fs::remove_file(&mark);
    fails(&prove(&direct, "cuda"), "supports CUDA 12.4");
    let o = prove(&direct, "auto");
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs CUDA 13.0"));
    assert!(!mark.exists(), "the helper was started");
    simulated_driver(t, 13000);
    // No helper beside the executable: the reason names it.
    std::fs::remove_file(&helper).unwrap();
    assert!(ok(&run(&["devices"])).contains("cuda prover: none"));
    fails(&prove(&direct, "cuda"), "zkinfer-cuda");
    let o = prove(&direct, "auto");
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not installed"));
}

#[test]
fn undeployable_verifiers_are_refused() {
    // A circuit laid out for proving speed (many weight columns) gives a verifier above the
    // EVM's code-size limit: export-verifier refuses it, says what to do, and writes nothing.
    let tmp = tempfile::tempdir().unwrap();
    let src = shared("4l_relu_conv_fc");
    let dir = tmp.path().join("wide");
    compile(
        &src.join("network.onnx"),
        &src.join("input.json"),
        &dir,
        &[],
    );
    ok(&zkinfer(&["setup", &s(&dir)]));
    let sol = tmp.path().join("Verifier.sol");
    fails(
        &zkinfer(&["export-verifier", &s(&dir), "--out", &s(&sol)]),
        "--optimize verify-gas",
    );
    assert!(!sol.exists());
}

/// compile → setup → prove `models/ops/leaky_steep` (LeakyRelu alpha = 4 on the input, whose
/// true output `[1, -12, 2, 0.5]` leaves the input's range); returns (model dir, proof path).
fn steep_run(tmp: &Path, io: &str) -> (PathBuf, PathBuf) {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/ops");
    let (onnx, input) = (
        models.join("leaky_steep.onnx"),
        models.join("leaky_steep.json"),
    );
    let dir = tmp.join(io);
    compile(&onnx, &input, &dir, &["--public-io", io]);
    ok(&zkinfer(&["setup", &s(&dir)]));
    let proof = dir.join("proof.json");
    ok(&zkinfer(&[
        "prove",
        &s(&dir),
        "--input",
        &s(&input),
        "--out",
        &s(&proof),
    ]));
    (dir, proof)
}

/// Issue 13's reproduction: the honest proof verifies with the true outputs; a proof file whose
/// listed outputs borrow a unit between neighbouring packed slots (proof bytes and instances
/// kept) is refused, in both packed encodings.
#[test]
fn forged_output_borrowing_a_unit_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // A slope no output scale can hold at the bit width is a compile error naming the node.
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/ops");
    let steeper = tmp.path().join("steeper.onnx");
    {
        use prost::Message;
        let bytes = std::fs::read(models.join("leaky_steep.onnx")).unwrap();
        let mut m = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
        let node = &mut m.graph.as_mut().unwrap().node[0];
        node.name = "steep".into();
        node.attribute[0].f = 1e6;
        std::fs::write(&steeper, m.encode_to_vec()).unwrap();
    }
    fails(
        &compile_output(
            &steeper,
            &models.join("leaky_steep.json"),
            &tmp.path().join("steeper"),
            &[],
        ),
        "node 'steep': cannot quantize: LeakyRelu alpha = 1000000 is too steep",
    );
    for io in ["packed", "hashed"] {
        let (dir, proof) = steep_run(tmp.path(), io);
        let v = ok(&zkinfer(&["verify", &s(&dir), "--proof", &s(&proof)]));
        assert!(v.starts_with("verified"), "{v}");
        let p: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
        let y: Vec<f64> = serde_json::from_value(p["outputs"][0].clone()).unwrap();
        assert_eq!(y, vec![1.0, -12.0, 2.0, 0.5], "{io}");
        // One unit of output 0 (its scale) borrowed by a neighbouring slot (2^bits units).
        let settings = settings(&dir);
        let unit = (-settings["io"]["outputs"][0]["scale"].as_f64().unwrap()).exp2();
        let slot = unit * settings["io"]["bits"].as_f64().unwrap().exp2();
        let forged = dir.join("forged.json");
        for edit in [
            vec![0.9375, 4.0, 2.0, 0.5],
            vec![1.0 - unit, -12.0 + slot, 2.0, 0.5],
            vec![1.0, -12.0, 2.0 - unit, 0.5 + slot],
        ] {
            edit_proof(&proof, &forged, |p| p["outputs"][0] = edit.clone().into());
            fails(
                &zkinfer(&["verify", &s(&dir), "--proof", &s(&forged)]),
                "rejected",
            );
        }
    }
}

#[test]
fn development_srs_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, proof) = steep_run(tmp.path(), "plain");
    let o = zkinfer(&["verify", &s(&dir), "--proof", &s(&proof)]);
    assert!(ok(&o).starts_with("verified"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: this verifying key was made with the insecure development SRS"),
        "{err}"
    );
    fails(
        &zkinfer(&[
            "verify",
            &s(&dir),
            "--proof",
            &s(&proof),
            "--require-trusted-srs",
        ]),
        "rejected: the verifying key was made with the insecure development SRS",
    );
    // Keys from another parameter file pass, with no warning.
    use halo2_proofs::halo2curves::bn256::Bn256;
    use halo2_proofs::poly::kzg::commitment::ParamsKZG;
    use rand_core::SeedableRng;
    let settings = settings(&dir);
    let k = settings["shape"]["k"].as_u64().unwrap() as u32;
    let params = ParamsKZG::<Bn256>::setup(k, rand_chacha::ChaCha20Rng::seed_from_u64(5));
    let file = tmp.path().join("ceremony.srs");
    let mut bytes = Vec::new();
    params
        .write_custom(&mut bytes, halo2_proofs::SerdeFormat::RawBytes)
        .unwrap();
    std::fs::write(&file, bytes).unwrap();
    ok(&zkinfer(&["setup", &s(&dir), "--srs", &s(&file)]));
    let input = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/ops/leaky_steep.json");
    ok(&zkinfer(&[
        "prove",
        &s(&dir),
        "--input",
        &s(&input),
        "--out",
        &s(&proof),
    ]));
    let o = zkinfer(&[
        "verify",
        &s(&dir),
        "--proof",
        &s(&proof),
        "--require-trusted-srs",
    ]);
    assert!(ok(&o).starts_with("verified"));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("development SRS"));
    // An srs.bin cut short and sealed again (its checksum matches) makes halo2's reader panic;
    // the panic is caught: one line, no panic report printed before it, its place on the line.
    let srs = std::fs::read(dir.join("srs.bin")).unwrap();
    let kind: [u8; 4] = srs[8..12].try_into().unwrap();
    let version = u32::from_le_bytes(srs[12..16].try_into().unwrap());
    let payload = &srs[zkinfer_circuits::compiled::SEAL_HEADER_BYTES..];
    let prove = || {
        zkinfer(&[
            "prove",
            &s(&dir),
            "--input",
            &s(&input),
            "--out",
            &s(&proof),
        ])
    };
    // A point of it altered and sealed again: named when the file is read.
    let mut altered = payload.to_vec();
    altered[1 + 4 + 64 * 3 + 5] ^= 4;
    let altered = zkinfer_circuits::compiled::seal(kind, version, &altered);
    std::fs::write(dir.join("srs.bin"), altered).unwrap();
    fails(
        &prove(),
        "srs.bin: monomial point 3 is not on the curve (the file is damaged or was altered)",
    );
    let cut = zkinfer_circuits::compiled::seal(kind, version, &payload[..payload.len() / 2]);
    std::fs::write(dir.join("srs.bin"), cut).unwrap();
    let o = prove();
    fails(&o, "srs.bin: malformed (after a caught panic at ");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{err}"
    );
}

#[test]
fn verify_evm_refuses_edited_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, proof) = steep_run(tmp.path(), "packed");
    let o = zkinfer(&["verify-evm", &s(&dir), "--proof", &s(&proof)]);
    assert!(ok(&o).starts_with("accepted"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("development SRS"));
    // The contract sees only the instances; the listed values must agree with them too.
    let edited = tmp.path().join("edited.json");
    swap_first_values(&proof, &edited, "outputs");
    fails(
        &zkinfer(&["verify-evm", &s(&dir), "--proof", &s(&edited)]),
        "rejected: 'instances' does not match the proven public values",
    );
    edit_proof(&proof, &edited, |p| {
        p["model_digest"] = "00".repeat(32).into()
    });
    fails(
        &zkinfer(&["verify-evm", &s(&dir), "--proof", &s(&edited)]),
        "rejected: the proof is for model",
    );
    edit_proof(&proof, &edited, |p| p["vk_sha256"] = "11".repeat(32).into());
    fails(
        &zkinfer(&["verify-evm", &s(&dir), "--proof", &s(&edited)]),
        "rejected: the proof was made with a different verifying key",
    );
    // export-verifier marks a development-SRS contract in its source.
    let sol = tmp.path().join("Verifier.sol");
    let o = zkinfer(&["export-verifier", &s(&dir), "--out", &s(&sol)]);
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("development SRS"));
    assert!(std::fs::read_to_string(&sol)
        .unwrap()
        .starts_with("// WARNING: made with zkinfer's insecure development SRS"));
}

/// A fixture of `models/int8` (ONNX Runtime's quantizer applied to a shared model).
/// An int8 fixture of `models/int8`: the model, its recorded outputs and the float model's
/// shipped input (its path is in the manifest, relative to the repository root).
fn int8_fixture(model: &str, variant: &str) -> (PathBuf, serde_json::Value, PathBuf) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("models/int8").join(model);
    let fx = std::fs::read_to_string(dir.join(format!("{variant}.json"))).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("models/int8/manifest.json")).unwrap(),
    )
    .unwrap();
    let input = root.join(manifest["sources"][model]["input"].as_str().unwrap());
    (
        dir.join(format!("{variant}.onnx")),
        serde_json::from_str(&fx).unwrap(),
        input,
    )
}

/// ONNX Runtime's integers for the shipped input (`ORT_DISABLE_ALL`) of an int8 fixture.
fn int8_expected(fx: &serde_json::Value) -> Vec<i64> {
    fx["disable_all"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

/// The proven outputs of an int8 proof as integers on the output's grid.
fn int8_outputs(proof: &Path, fx: &serde_json::Value) -> Vec<i64> {
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proof).unwrap()).unwrap();
    let (scale, zp) = (
        fx["output_scale"].as_f64().unwrap(),
        fx["output_zero_point"].as_i64().unwrap(),
    );
    p["outputs"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| (y.as_f64().unwrap() / scale).round() as i64 + zp)
        .collect()
}

/// Imported int8 models prove ONNX Runtime's integers with the single-phase GPU layout and
/// hashed public I/O, and with the verify-gas layout and plain public I/O: max pool, residual
/// and constant Adds, views (residual_cnn); products of computed tensors, batched (the dot
/// chip in single-phase circuits: token_mixer); token ids and an embedding table (embed_mlp);
/// a layer normalisation, causal mask and softmax (norm_attention); and a dynamically quantized
/// CNN (4l_relu_conv_fc) within 1% of ONNX Runtime's outputs.
#[test]
fn int8_models_prove_with_the_gpu_and_verify_gas_layouts_and_every_public_io() {
    let tmp = tempfile::tempdir().unwrap();
    for (model, variant) in [
        ("residual_cnn", "qoperator_per_tensor_s8s8"),
        ("token_mixer", "qdq_per_tensor_u8s8"),
        ("embed_mlp", "qoperator_per_tensor_s8s8"),
    ] {
        int8_model_in_both_layouts(tmp.path(), model, variant);
    }
    // Layer normalisation islands, a causal mask, a softmax: ONNX Runtime computes them in f32,
    // differently at its two levels; outputs within its levels' distance (3) of ORT_DISABLE_ALL.
    let (onnx, fx, input) = int8_fixture("norm_attention", "qdq_per_tensor_s8s8");
    let want = int8_expected(&fx);
    in_both_layouts(tmp.path(), (&onnx, &input), "norm_attention", |proof| {
        let got = int8_outputs(proof, &fx);
        assert_eq!(got.len(), want.len());
        assert!(
            got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 3),
            "{got:?} vs {want:?}"
        );
    });
    // Dynamic quantization (float front end; DynamicQuantizeLinear, ConvInteger, MatMulInteger):
    // outputs within 1% of their range of ONNX Runtime's on the shipped input.
    let (onnx, fx, input) = int8_fixture("4l_relu_conv_fc", "dynamic_u8s8");
    in_both_layouts(tmp.path(), (&onnx, &input), "dynamic", |proof| {
        assert_near_onnx_runtime(proof, &fx)
    });
}

/// Float outputs of a proof within 1% of their range of ONNX Runtime's (`ORT_ENABLE_ALL`,
/// shipped input) in a fixture.
fn assert_near_onnx_runtime(proof: &Path, fx: &serde_json::Value) {
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(proof).unwrap()).unwrap();
    let got: Vec<f64> = serde_json::from_value(p["outputs"][0].clone()).unwrap();
    let ort: Vec<f64> = serde_json::from_value(fx["enable_all"][0].clone()).unwrap();
    let range = output_range_of(&ort);
    for (a, b) in got.iter().zip(&ort) {
        assert!(
            (a - b).abs() <= 0.01 * range,
            "{got:?} vs ONNX Runtime's {ort:?}"
        );
    }
}

/// Compiles `onnx` with the single-phase GPU layout and hashed public I/O, and with the
/// verify-gas layout and plain public I/O, proves `input` with each, and checks each proof.
fn in_both_layouts(tmp: &Path, (onnx, input): (&Path, &Path), name: &str, check: impl Fn(&Path)) {
    for (optimize, io) in [("gpu-prove-time", "hashed"), ("verify-gas", "plain")] {
        let dir = tmp.join(format!("{name}.{optimize}"));
        let out = ok(&zkinfer(&[
            "compile",
            &s(onnx),
            "--out",
            &s(&dir),
            "--optimize",
            optimize,
            "--public-io",
            io,
        ]));
        assert!(out.contains(io), "{out}");
        let proof = tmp.join(format!("{name}.{optimize}.proof.json"));
        setup_prove_verify(&dir, input, &proof);
        check(&proof);
    }
}

fn int8_model_in_both_layouts(tmp: &Path, model: &str, variant: &str) {
    let (onnx, fx, input) = int8_fixture(model, variant);
    let want = int8_expected(&fx);
    in_both_layouts(tmp, (&onnx, &input), model, |proof| {
        assert_eq!(int8_outputs(proof, &fx), want, "{model} {variant}");
    });
}

#[test]
fn int8_models_compile_without_calibration_and_prove_onnx_runtimes_integers() {
    let tmp = tempfile::tempdir().unwrap();
    for (model, variant) in [
        ("1l_conv", "qoperator_per_tensor_u8s8"),
        ("variable_cnn", "qdq_per_channel_s8s8"),
        // MaxPool of int8 values, a LeakyRelu table.
        ("tiny_cnn", "qoperator_per_channel_s8s8"),
        ("leaky_steep", "qdq_per_tensor_u8s8"),
        // Concat of two scales (requantization tables), Transpose.
        ("concat_cnn", "qdq_per_channel_u8s8"),
        // Residual and constant Adds (QLinearAdd), a Relu table.
        ("residual_cnn", "qoperator_per_tensor_s8s8"),
        ("residual_cnn", "qdq_per_tensor_u8s8"),
        // A global average pool (QLinearGlobalAveragePool).
        ("pooled_cnn", "qoperator_per_channel_s8s8"),
        // Products of two tensors and of a tensor and a constant (QLinearMul; DQ → Mul → Q
        // with zero points).
        ("gated_cnn", "qoperator_per_tensor_s8s8"),
        ("gated_cnn", "qdq_per_tensor_u8s8"),
        // Float islands (Div → Erf, Tanh between DequantizeLinear and QuantizeLinear): tables.
        ("gelu_mlp", "qdq_per_tensor_u8s8"),
        ("gelu_mlp", "qoperator_per_tensor_s8s8"),
        // Batched products of two computed tensors (QLinearMatMul of two int8 tensors).
        ("token_mixer", "qoperator_per_tensor_s8s8"),
        // Two graph inputs; a constant left operand of a MatMul.
        ("matmul", "qdq_per_tensor_u8s8"),
        // Depthwise and grouped convolutions.
        ("mobile_cnn", "qoperator_per_channel_s8s8"),
        // Token ids (an int64 input) through a quantized embedding table.
        ("embed_mlp", "qdq_per_tensor_u8s8"),
        // A LayerNormalization op between DequantizeLinear and QuantizeLinear (ONNX Runtime's
        // f32 island: within one level in general, equal on the shipped input).
        ("layernorm", "qdq_per_channel_s8s8"),
    ] {
        let (onnx, fx, input) = int8_fixture(model, variant);
        let dir = tmp.path().join(variant);
        let out = ok(&zkinfer(&["compile", &s(&onnx), "--out", &s(&dir)]));
        assert!(
            out.contains("requant:") && out.contains("zero point"),
            "{out}"
        );
        if model == "gelu_mlp" {
            assert!(
                out.contains("table:    ") && out.contains("Tanh of an int8 value"),
                "{out}"
            );
        }
        let proof = tmp.path().join(format!("{model}.{variant}.proof.json"));
        setup_prove_verify(&dir, &input, &proof);
        // The listed outputs are ONNX Runtime's integers (case 0: the shipped input) on the
        // output's grid.
        let (scale, zp) = (
            fx["output_scale"].as_f64().unwrap() as f32,
            fx["output_zero_point"].as_i64().unwrap(),
        );
        let got = int8_outputs(&proof, &fx);
        assert_eq!(got, int8_expected(&fx), "{model} {variant}");
        // Another value of the grid is not the proven one; a value off the grid is no value.
        let next = tmp.path().join("next.json");
        edit_proof(&proof, &next, |p| {
            // ONNX Runtime's DequantizeLinear of the next integer.
            let q = got[0] + if got[0] < 127 { 1 } else { -1 };
            p["outputs"][0][0] = serde_json::json!(f64::from((q - zp) as f32 * scale));
        });
        fails(
            &zkinfer(&["verify", &s(&dir), "--proof", &s(&next)]),
            "does not match the proven public values",
        );
        let off = tmp.path().join("off.json");
        edit_proof(&proof, &off, |p| {
            let y = p["outputs"][0][0].as_f64().unwrap();
            p["outputs"][0][0] = serde_json::json!(y + f64::from(scale) / 3.0);
        });
        fails(
            &zkinfer(&["verify", &s(&dir), "--proof", &s(&off)]),
            "is not a value of this model",
        );
        // Its bits are the model's own.
        fails(
            &zkinfer(&["compile", &s(&onnx), "--out", &s(&dir), "--bits", "12"]),
            "--bits does not apply",
        );
    }
    // A dynamically quantized model (`quantize_dynamic`) needs no flag either: the float front
    // end lowers it, calibrated on its seeded input, and says so; its proven outputs are ONNX
    // Runtime's within 1% of their range on the shipped input. So is an LSTM's (com.microsoft
    // DynamicQuantizeLSTM).
    for model in ["1l_mlp", "lstm"] {
        let (onnx, fx, input) = int8_fixture(model, "dynamic_u8s8");
        let dir = tmp.path().join(format!("{model}.dynamic"));
        let o = zkinfer(&["compile", &s(&onnx), "--out", &s(&dir)]);
        assert!(ok(&o).contains("accuracy:"));
        let note = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(note.contains("without --calibration"), "{note}");
        let proof = tmp.path().join(format!("{model}.dynamic.proof.json"));
        setup_prove_verify(&dir, &input, &proof);
        assert_near_onnx_runtime(&proof, &fx);
    }
}
