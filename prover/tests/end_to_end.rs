//! Library end to end on the shared models: compile, setup, prove, verify; and tampering.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};
use std::time::Instant;
use zkinfer_circuits::input::InputData;
use zkinfer_onnx::CompileOptions;
use zkinfer_prover::CpuMsm;
use zkinfer_prover::{load_prover, prove_input, setup, Silent};
use zkinfer_verifier::{verify, ProofFile, VerifierKey, VerifyError, VK_FILE};

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models")
        .join(name)
}

/// Compiles and sets up a shared model into `dir`; returns the proof of its sample input.
fn build(name: &str, dir: &Path) -> ProofFile {
    let src = shared(name);
    let c = zkinfer_onnx::compile(
        &src.join("network.onnx"),
        &src.join("input.json"),
        &CompileOptions::default(),
    )
    .unwrap();
    c.model.save(dir).unwrap();
    let t = Instant::now();
    setup(dir, None, &Silent).unwrap();
    let setup_s = t.elapsed().as_secs_f64();
    let prover = load_prover(dir, CpuMsm, &Silent).unwrap();
    let input = InputData::from_path(&src.join("input.json")).unwrap();
    let t = Instant::now();
    let proof = prove_input(&prover, &input, &Silent).unwrap();
    eprintln!(
        "{name}: k={} setup {setup_s:.2}s prove {:.3}s",
        c.model.shape.k,
        t.elapsed().as_secs_f64()
    );
    proof
}

fn flip_hex(h: &str, i: usize) -> String {
    let mut b = hex::decode(h.trim_start_matches("0x")).unwrap();
    b[i] ^= 1;
    format!("0x{}", hex::encode(b))
}

#[test]
fn mlp_proves_verifies_and_rejects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let proof = build("1l_mlp", dir.path());
    let key = VerifierKey::load(&dir.path().join(VK_FILE)).unwrap();
    let ok = verify(&key, &proof).unwrap();
    assert_eq!(ok.outputs, proof.outputs);

    // Flipping any proof byte is rejected (sampled across the proof).
    let len = proof.proof_bytes().unwrap().len();
    for i in (0..len).step_by(len / 23 + 1).chain([len - 1]) {
        let mut p = proof.clone();
        p.proof = flip_hex(&proof.proof, i);
        assert!(
            matches!(verify(&key, &p), Err(VerifyError::Invalid(_))),
            "byte {i}"
        );
    }
    // Changing a public value (consistently in the listed outputs too) is rejected.
    let mut p = proof.clone();
    let last = p.instances[0].len() - 1;
    let v = zkinfer_circuits::field::from_hex(&p.instances[0][last]).unwrap()
        + zkinfer_circuits::field::fe(1);
    p.instances[0][last] = zkinfer_circuits::field::to_hex(&v);
    let out_scale = key.io.outputs[0].scale;
    let n = p.outputs[0].len();
    p.outputs[0][n - 1] += (-(out_scale as f64)).exp2();
    assert!(matches!(verify(&key, &p), Err(VerifyError::Invalid(_))));
    // Changing only the listed outputs is caught before the cryptography.
    let mut p = proof.clone();
    p.outputs[0][0] += 1.0;
    assert!(matches!(
        verify(&key, &p),
        Err(VerifyError::ValuesMismatch { .. })
    ));

    // Another model's key rejects the proof, by digest and cryptographically.
    let other = tempfile::tempdir().unwrap();
    let other_proof = build("1l_conv", other.path());
    let other_key = VerifierKey::load(&other.path().join(VK_FILE)).unwrap();
    assert!(matches!(
        verify(&other_key, &proof),
        Err(VerifyError::DigestMismatch { .. })
    ));
    let mut forged = proof.clone();
    forged.model_digest = other_key.digest;
    forged.vk_sha256 = other_key.vk_sha256;
    assert!(verify(&other_key, &forged).is_err());
    assert!(verify(&other_key, &other_proof).is_ok());
}

#[test]
fn setup_accepts_halo2_srs_files_and_downsizes() {
    use halo2_proofs::halo2curves::bn256::Bn256;
    use halo2_proofs::poly::kzg::commitment::ParamsKZG;
    use halo2_proofs::SerdeFormat;
    use rand_core::SeedableRng;
    let dir = tempfile::tempdir().unwrap();
    let src = shared("1l_mlp");
    let c = zkinfer_onnx::compile(
        &src.join("network.onnx"),
        &src.join("input.json"),
        &CompileOptions::default(),
    )
    .unwrap();
    c.model.save(dir.path()).unwrap();
    let k = c.model.shape.k;
    // A larger parameter file, in both point encodings halo2 writes.
    let params = ParamsKZG::<Bn256>::setup(k + 1, rand_chacha::ChaCha20Rng::seed_from_u64(99));
    for format in [SerdeFormat::RawBytes, SerdeFormat::Processed] {
        let file = dir.path().join("params.srs");
        let mut bytes = Vec::new();
        params.write_custom(&mut bytes, format).unwrap();
        std::fs::write(&file, bytes).unwrap();
        let report = setup(dir.path(), Some(&file), &Silent).unwrap();
        assert!(!report.insecure_srs);
        let prover = load_prover(dir.path(), CpuMsm, &Silent).unwrap();
        let proof = prove_input(
            &prover,
            &InputData::from_path(&src.join("input.json")).unwrap(),
            &Silent,
        )
        .unwrap();
        let key = VerifierKey::load(&dir.path().join(VK_FILE)).unwrap();
        verify(&key, &proof).unwrap();
        assert!(
            !key.development_srs(),
            "a ceremony's key flagged as development"
        );
    }
    // The development SRS is recognised from the key alone, also when passed as a file.
    let dev_key = |srs: Option<&Path>| {
        setup(dir.path(), srs, &Silent).unwrap();
        VerifierKey::load(&dir.path().join(VK_FILE))
            .unwrap()
            .development_srs()
    };
    assert!(dev_key(None));
    let file = dir.path().join("dev.srs");
    let mut bytes = Vec::new();
    zkinfer_prover::srs::Srs::development(k + 1)
        .params
        .write_custom(&mut bytes, SerdeFormat::RawBytes)
        .unwrap();
    std::fs::write(&file, bytes).unwrap();
    assert!(dev_key(Some(&file)));
    // Another model folder's own srs.bin is taken too, and stays marked development.
    let own = dir.path().join("own.srs");
    std::fs::copy(dir.path().join("srs.bin"), &own).unwrap();
    assert!(dev_key(Some(&own)));
    // Too small, garbage, missing.
    let small = ParamsKZG::<Bn256>::setup(k - 1, rand_chacha::ChaCha20Rng::seed_from_u64(1));
    let file = dir.path().join("small.srs");
    let mut bytes = Vec::new();
    small
        .write_custom(&mut bytes, SerdeFormat::RawBytes)
        .unwrap();
    std::fs::write(&file, bytes).unwrap();
    let err = setup(dir.path(), Some(&file), &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("this model needs"), "{err}");
    std::fs::write(&file, b"\x0b\x00\x00\x00garbage").unwrap();
    let err = setup(dir.path(), Some(&file), &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match a KZG parameter file"), "{err}");
    std::fs::write(&file, [0xffu8; 100]).unwrap();
    assert!(setup(dir.path(), Some(&file), &Silent)
        .unwrap_err()
        .to_string()
        .contains("not a halo2 KZG parameter file"));
    assert!(setup(dir.path(), Some(&dir.path().join("nope")), &Silent).is_err());
    // Degenerate (all points at infinity: every proof would verify) and inconsistent (`s·G2`
    // of another secret) parameter files are refused.
    let n = 1usize << k;
    let mut zero = (k as u32).to_le_bytes().to_vec();
    zero.resize(4 + 2 * n * 64 + 2 * 128, 0);
    std::fs::write(&file, zero).unwrap();
    let err = setup(dir.path(), Some(&file), &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("degenerate"), "{err}");
    // RawBytes: k, the points, the Lagrange points, G2, then s·G2 (128 bytes each).
    let raw = |seed: u64| {
        let p = ParamsKZG::<Bn256>::setup(k, rand_chacha::ChaCha20Rng::seed_from_u64(seed));
        let mut bytes = Vec::new();
        p.write_custom(&mut bytes, SerdeFormat::RawBytes).unwrap();
        bytes
    };
    let (mut mixed, other) = (raw(99), raw(5));
    let at = mixed.len() - 128;
    mixed[at..].copy_from_slice(&other[at..]);
    std::fs::write(&file, &mixed).unwrap();
    let err = setup(dir.path(), Some(&file), &Silent)
        .unwrap_err()
        .to_string();
    assert!(err.contains("inconsistent"), "{err}");
}

/// `prove` checks its proof as a verifier will: a proof that does not verify is an error.
#[test]
fn the_prover_checks_its_own_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let proof = build("1l_mlp", dir.path());
    let prover = load_prover(dir.path(), CpuMsm, &Silent).unwrap();
    prover.check(&proof).unwrap();
    let mut bad = proof.clone();
    bad.proof = flip_hex(&proof.proof, 40);
    let err = prover.check(&bad).unwrap_err().to_string();
    assert!(err.contains("does not verify"), "{err}");
}

#[test]
fn verifying_key_binds_every_weight() {
    use zkinfer_circuits::compiled::CompiledModel;
    use zkinfer_circuits::graph::QOp;
    use zkinfer_prover::{keys::keygen, Srs};
    let src = shared("1l_mlp");
    let c = zkinfer_onnx::compile(
        &src.join("network.onnx"),
        &src.join("input.json"),
        &CompileOptions::default(),
    )
    .unwrap();
    let srs = Srs::development(c.model.shape.k);
    let base = keygen(&c.model, &srs).unwrap().vk.vk_sha256;
    let QOp::Linear(lin) = &c
        .model
        .graph
        .ops
        .iter()
        .find(|o| matches!(o, QOp::Linear(_)))
        .unwrap()
    else {
        unreachable!()
    };
    let n = lin.sets[0].w.len() + lin.sets[0].b.len();
    for i in [0, n / 2, n - 1] {
        let mut g = c.model.graph.clone();
        let QOp::Linear(l) = g
            .ops
            .iter_mut()
            .find(|o| matches!(o, QOp::Linear(_)))
            .unwrap()
        else {
            unreachable!()
        };
        let nw = l.sets[0].w.len();
        if i < nw {
            l.sets[0].w[i] += 1;
        } else {
            l.sets[0].b[i - nw] += 1;
        }
        let changed = CompiledModel::new(g, c.model.shape.clone(), 0.0, Default::default());
        assert_ne!(changed.digest, c.model.digest);
        assert_ne!(
            keygen(&changed, &srs).unwrap().vk.vk_sha256,
            base,
            "weight #{i} is not bound by the verifying key"
        );
    }
}

#[test]
fn proving_keys_of_an_older_circuit_layout_are_refused() {
    // A key written before the sentinel row (format 2) would prove against stale fixed
    // columns: loading it says to run setup again; setup again makes it usable.
    let dir = tempfile::tempdir().unwrap();
    build("1l_mlp", dir.path());
    let pk = dir.path().join("pk.bin");
    let mut bytes = std::fs::read(&pk).unwrap();
    bytes[12..16].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&pk, bytes).unwrap();
    let err = load_prover(dir.path(), CpuMsm, &Silent)
        .err()
        .expect("an old key loaded")
        .to_string();
    assert!(
        err.contains("older zkinfer") && err.contains("run `zkinfer setup` again"),
        "{err}"
    );
    setup(dir.path(), None, &Silent).unwrap();
    assert!(load_prover(dir.path(), CpuMsm, &Silent).is_ok());
}

/// The three length-prefixed parts of a verifying key's sealed payload.
fn key_parts(payload: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = payload;
    for _ in 0..3 {
        let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
        parts.push(rest[8..8 + len].to_vec());
        rest = &rest[8 + len..];
    }
    parts
}

fn seal_key(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut payload = Vec::new();
    for p in parts {
        payload.extend_from_slice(&(p.len() as u64).to_le_bytes());
        payload.extend_from_slice(p);
    }
    zkinfer_circuits::compiled::seal(*b"VKEY", 2, &payload)
}

/// `VerifierKey::from_bytes` on crafted keys (correctly sealed, so the checksum does not stop
/// them): a clean error, never a panic, for bad public-value headers and for random edits.
#[test]
fn crafted_key_headers_are_clean_errors() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    build("1l_mlp", dir.path());
    let bytes = std::fs::read(dir.path().join(VK_FILE)).unwrap();
    let payload =
        zkinfer_circuits::compiled::unseal(&bytes, *b"VKEY", 2, "vk", "verifying key").unwrap();
    let parts = key_parts(payload);
    assert!(VerifierKey::from_bytes(&seal_key(&parts), "vk").is_ok());
    let header: serde_json::Value = serde_json::from_slice(&parts[0]).unwrap();
    let load = |bytes: &[u8]| {
        std::panic::catch_unwind(|| VerifierKey::from_bytes(bytes, "vk").map(|_| ()))
            .expect("loading a crafted key panicked")
    };
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("bits 0", Box::new(|h| h["io"]["bits"] = 0.into())),
        ("bits 200", Box::new(|h| h["io"]["bits"] = 200.into())),
        (
            "other encoding",
            Box::new(|h| h["io"]["public_io"] = "hashed".into()),
        ),
        (
            "huge shape",
            Box::new(|h| {
                h["io"]["inputs"][0]["shape"] = serde_json::json!([1u64 << 40, 1u64 << 40])
            }),
        ),
        (
            "more values than rows",
            Box::new(|h| h["io"]["outputs"][0]["shape"] = serde_json::json!([1u64 << 30])),
        ),
        (
            "scale",
            Box::new(|h| h["io"]["inputs"][0]["scale"] = i32::MIN.into()),
        ),
    ];
    for (what, edit) in &edits {
        let mut h = header.clone();
        edit(&mut h);
        let mut crafted = parts.clone();
        crafted[0] = serde_json::to_vec(&h).unwrap();
        let err = load(&seal_key(&crafted)).expect_err(what).to_string();
        assert!(
            err.starts_with("vk: ") && !err.contains("bad header"),
            "{what}: {err}"
        );
    }
    // Random byte edits, truncations and extensions of each part, resealed.
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
    for case in 0..300 {
        let mut crafted = parts.clone();
        let p = &mut crafted[case % 3];
        match rng.gen_range(0..3) {
            0 => {
                for _ in 0..rng.gen_range(1..4) {
                    let i = rng.gen_range(0..p.len());
                    p[i] ^= 1 << rng.gen_range(0..8);
                }
            }
            1 => p.truncate(rng.gen_range(0..p.len())),
            _ => p.extend((0..rng.gen_range(1..64)).map(|_| rng.gen::<u8>())),
        }
        let _ = load(&seal_key(&crafted));
    }
}

/// An imported int8 model laid out with one-row requantization lanes (the clamp table's
/// lookup) proves and verifies; flipped proof bytes are rejected.
#[test]
fn one_row_requantization_lanes_prove_and_verify() {
    use zkinfer_circuits::graph::QOp;
    use zkinfer_circuits::CompiledModel;
    let onnx = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/int8/1l_mlp/qdq_per_channel_s8s8.onnx");
    let c = zkinfer_onnx::compile(
        &onnx,
        &shared("1l_mlp").join("input.json"),
        &CompileOptions::default(),
    )
    .unwrap();
    // At 9 bits the clamp table reaches ±384: the quotients' declared width is narrowed to 7
    // bits so that it holds them. Evaluation refuses any input whose quotients leave it (the
    // sample input saturates a channel past it), so the proof is of a small input.
    let mut g = c.model.graph.clone();
    for op in &mut g.ops {
        if let QOp::Requant(r) = op {
            r.quotient_bits = 7;
        }
    }
    assert_eq!(g.requant_clamp_width(), Some(255));
    let mut shape = c.model.shape.clone();
    (shape.requant_row, shape.requant_wide, shape.requant_lanes) = (true, g.requant_wide(), 1);
    while g.lookup_table_rows(&shape) > shape.usable_rows() {
        shape.k += 1;
    }
    let model = CompiledModel::new(g, shape, c.model.estimate_s, c.model.provenance.clone());
    assert!(!model.plan().unwrap().layout.rq.is_empty());
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    setup(dir.path(), None, &Silent).unwrap();
    let prover = load_prover(dir.path(), CpuMsm, &Silent).unwrap();
    let sample = InputData::from_path(&shared("1l_mlp").join("input.json")).unwrap();
    assert!(prove_input(&prover, &sample, &Silent).is_err());
    let small = InputData::from_json(r#"{"input_data": [[0.15, 0.05, 0.12]]}"#, "small").unwrap();
    let proof = prove_input(&prover, &small, &Silent).unwrap();
    let key = VerifierKey::load(&dir.path().join(VK_FILE)).unwrap();
    assert_eq!(verify(&key, &proof).unwrap().outputs, proof.outputs);
    let len = proof.proof_bytes().unwrap().len();
    for i in (0..len).step_by(len / 7 + 1) {
        let mut p = proof.clone();
        p.proof = flip_hex(&proof.proof, i);
        assert!(
            matches!(verify(&key, &p), Err(VerifyError::Invalid(_))),
            "byte {i}"
        );
    }
}

/// A proof file naming another protocol or transcript is refused before any check.
#[test]
fn proof_files_name_the_protocol_they_are_checked_with() {
    let dir = tempfile::tempdir().unwrap();
    let proof = build("1l_mlp", dir.path());
    assert!(ProofFile::from_json(&proof.to_json()).is_ok());
    for (field, other) in [
        (zkinfer_verifier::PROTOCOL, "groth16"),
        (zkinfer_verifier::TRANSCRIPT, "blake2b"),
    ] {
        let text = proof.to_json().replace(field, other);
        let err = ProofFile::from_json(&text).unwrap_err().to_string();
        assert!(err.contains(other), "{err}");
    }
}
