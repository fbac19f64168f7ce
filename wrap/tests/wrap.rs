//! One full wrapper run on a shared model (setup, prove, verify) and every way of tampering
//! with the result. The wrapper is the small k = 18 one (fast); `setup --wrap` defaults to a
//! larger k, which is cheaper to verify on-chain and proven the same way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};
use std::time::Instant;
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::plan::Objective;
use zkinfer_circuits::public_io::PublicIo;
use zkinfer_onnx::CompileOptions;
use zkinfer_prover::{load_prover, CpuMsm, Silent};
use zkinfer_verifier::{verify, ProofFile, VerifierKey, VK_FILE};
use zkinfer_wrap::workflow::{load_wrap_vk, prove_wrapped, setup_wrapped};
use zkinfer_wrap::{verify_wrapped, WrapError};

const WRAP_K: u32 = 18;

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models")
        .join(name)
}

fn compile(name: &str, dir: &Path, public_io: PublicIo) {
    let src = shared(name);
    let options = CompileOptions {
        objective: Objective::VerifyGas,
        public_io,
        ..CompileOptions::default()
    };
    let c = zkinfer_onnx::compile(&src.join("network.onnx"), &src.join("input.json"), &options)
        .unwrap();
    c.model.save(dir).unwrap();
}

fn flip_hex(h: &str, i: usize) -> String {
    let mut b = hex::decode(h.trim_start_matches("0x")).unwrap();
    b[i] ^= 1;
    format!("0x{}", hex::encode(b))
}

fn rejected(inner: &VerifierKey, wrap: &zkinfer_wrap::WrapVerifierKey, p: &ProofFile) -> String {
    match verify_wrapped(inner, wrap, p) {
        Ok(_) => panic!("a tampered wrapped proof verified"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_wrapped_proof_verifies_and_every_tampering_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    compile("1l_mlp", dir, PublicIo::Hashed);
    let t = Instant::now();
    let report = setup_wrapped(dir, None, WRAP_K, &Silent).unwrap();
    eprintln!(
        "setup --wrap: model k = {}, wrapper k = {} with {} advice columns, {:.1} s (wrapper SRS {:.1} s, keys {:.1} s), wrap_pk.bin {} bytes",
        report.model.k,
        report.k,
        report.advice_columns,
        t.elapsed().as_secs_f64(),
        report.srs_s,
        report.keygen_s,
        report.pk_bytes
    );
    let prover = load_prover(dir, CpuMsm, &Silent).unwrap();
    let input = InputData::from_path(&shared("1l_mlp").join("input.json")).unwrap();
    let t = Instant::now();
    let proof = prove_wrapped(&prover, dir, &input, &Silent).unwrap();
    eprintln!("prove --wrap: {:.1} s", t.elapsed().as_secs_f64());

    let inner = VerifierKey::load(&dir.join(VK_FILE)).unwrap();
    let wrap = load_wrap_vk(dir).unwrap();
    let ok = verify_wrapped(&inner, &wrap, &proof).unwrap();
    assert_eq!(ok.outputs, proof.outputs);
    // The proof file round-trips, and the plain verifier refuses it with a reason.
    let proof = ProofFile::from_json(&proof.to_json()).unwrap();
    verify_wrapped(&inner, &wrap, &proof).unwrap();
    let plain = verify(&inner, &proof).unwrap_err().to_string();
    assert!(plain.contains("--wrap"), "{plain}");
    assert!(proof.calldata().is_err());
    let w = proof.wrapper.clone().unwrap();
    assert_eq!(w.instances.len(), wrap.instance_count());

    // A flipped byte of the wrapper proof, sampled across it.
    let len = w.proof_bytes().unwrap().len();
    for i in (0..len).step_by(len / 7 + 1).chain([len - 1]) {
        let mut p = proof.clone();
        p.wrapper.as_mut().unwrap().proof = flip_hex(&w.proof, i);
        rejected(&inner, &wrap, &p);
    }
    // A flipped byte of the model proof inside.
    let mut p = proof.clone();
    p.proof = flip_hex(&proof.proof, 40);
    assert!(rejected(&inner, &wrap, &p).contains("model proof"));
    // Each public word of the wrapper changed: accumulator, digest, the model's values.
    for i in [0, 5, 11, 12, 13, 14, w.instances.len() - 1] {
        let mut p = proof.clone();
        let words = &mut p.wrapper.as_mut().unwrap().instances;
        words[i] = flip_hex(&words[i], 31);
        rejected(&inner, &wrap, &p);
    }
    // A changed output value (the statement no longer matches either proof).
    let mut p = proof.clone();
    p.outputs[0][0] += 1.0;
    rejected(&inner, &wrap, &p);
    // Truncated or extended wrapper proof.
    let mut p = proof.clone();
    p.wrapper.as_mut().unwrap().proof = w.proof[..w.proof.len() - 2].to_string();
    rejected(&inner, &wrap, &p);
    let mut p = proof.clone();
    p.wrapper.as_mut().unwrap().proof = format!("{}00", w.proof);
    rejected(&inner, &wrap, &p);
    // Without its wrapper, or claimed under another wrapper key.
    let mut p = proof.clone();
    p.wrapper = None;
    rejected(&inner, &wrap, &p);
    let mut p = proof.clone();
    p.wrapper.as_mut().unwrap().vk_sha256 = inner.vk_sha256;
    rejected(&inner, &wrap, &p);

    // Another model's wrapper key does not take this model's proof (and vice versa).
    let other = tempfile::tempdir().unwrap();
    compile("1l_conv", other.path(), PublicIo::Hashed);
    setup_wrapped(other.path(), None, WRAP_K, &Silent).unwrap();
    let other_inner = VerifierKey::load(&other.path().join(VK_FILE)).unwrap();
    let other_wrap = load_wrap_vk(other.path()).unwrap();
    assert!(matches!(
        verify_wrapped(&inner, &other_wrap, &proof),
        Err(WrapError::Keys(_))
    ));
    assert!(verify_wrapped(&other_inner, &other_wrap, &proof).is_err());

    // The wrapper refuses to wrap a model proof that does not verify.
    let pk = zkinfer_wrap::WrapProvingKey::load(&dir.join("wrap_pk.bin")).unwrap();
    let srs = zkinfer_prover::Srs::load(&dir.join("wrap_srs.bin")).unwrap();
    let mut bad = proof.clone();
    bad.proof = flip_hex(&proof.proof, 100);
    let e = zkinfer_wrap::prove::wrap(&pk, &srs.params, &inner, &bad).unwrap_err();
    assert!(e.to_string().contains("model proof"), "{e}");
}
