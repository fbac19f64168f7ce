//! Wrapper proofs, once (one setup and one proof: minutes on two cores): a shared CNN with
//! hashed I/O wrapped in two levels, small ones (k = 19, 20) to keep the suite short; the
//! default (k = 21, 22) is the same code at larger sizes. The Rust verifier and the wrapper's Solidity verifier
//! (revm, mainnet rules) accept it and reject every tampering: a flipped byte of either proof,
//! a changed public value, another model's wrapper key; the wrapper refuses an
//! invalid model proof; the registry records a wrapped result only under its own digest.
//!
//! Needs `npm ci --prefix contracts` (the README test command runs it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use common::{read, selector, shared, solc, submit_call, word};
use revm::primitives::{keccak256, Address};
use std::path::Path;
use std::time::Instant;
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::plan::Objective;
use zkinfer_circuits::public_io::PublicIo;
use zkinfer_contracts::{build_wrapper_verifier, wrapper_stats, CallOutcome, Evm, REGISTRY_SOURCE};
use zkinfer_onnx::CompileOptions;
use zkinfer_prover::{load_prover, CpuMsm, Silent, Srs};
use zkinfer_verifier::{verify, ProofFile, VerifierKey, VK_FILE};
use zkinfer_wrap::backend::CpuLevels;
use zkinfer_wrap::keys::{wrap_srs_file, WRAP_PK_FILE};
use zkinfer_wrap::workflow::{load_wrap_vk, prove_wrapped, setup_wrapped, WrapLevels};
use zkinfer_wrap::{verify_wrapped, WrapError, WrapProvingKey, WrapVerifierKey};

/// The last level's size in this test.
const WRAP_K: u32 = 20;

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

fn rejected(inner: &VerifierKey, wrap: &WrapVerifierKey, p: &ProofFile) -> String {
    match verify_wrapped(inner, wrap, p) {
        Ok(_) => panic!("a tampered wrapped proof verified"),
        Err(e) => e.to_string(),
    }
}

/// The Rust verifier: the proof, then every tampering.
fn rust_verifier_checks(inner: &VerifierKey, wrap: &WrapVerifierKey, proof: &ProofFile) {
    let ok = verify_wrapped(inner, wrap, proof).unwrap();
    assert_eq!(ok.outputs, proof.outputs);
    let again = ProofFile::from_json(&proof.to_json()).unwrap();
    verify_wrapped(inner, wrap, &again).unwrap();
    // The model's own verifier and contract calldata refuse a wrapped proof with a reason.
    assert!(verify(inner, proof)
        .unwrap_err()
        .to_string()
        .contains("--wrap"));
    assert!(proof.calldata().is_err());
    let w = proof.wrapper.clone().unwrap();
    assert_eq!(w.instances.len(), wrap.instance_count());

    let len = w.proof_bytes().unwrap().len();
    for i in (0..len).step_by(len / 7 + 1).chain([len - 1]) {
        let mut p = proof.clone();
        p.wrapper.as_mut().unwrap().proof = flip_hex(&w.proof, i);
        rejected(inner, wrap, &p);
    }
    let mut p = proof.clone();
    p.proof = flip_hex(&proof.proof, 40);
    assert!(rejected(inner, wrap, &p).contains("model proof"));
    // Each kind of public word: accumulator, digest, the model's values.
    for i in [0, 5, 11, 12, 13, 14, w.instances.len() - 1] {
        let mut p = proof.clone();
        let words = &mut p.wrapper.as_mut().unwrap().instances;
        words[i] = flip_hex(&words[i], 31);
        rejected(inner, wrap, &p);
    }
    let mut p = proof.clone();
    p.outputs[0][0] += 1.0;
    rejected(inner, wrap, &p);
    let mut p = proof.clone();
    p.wrapper.as_mut().unwrap().proof = w.proof[..w.proof.len() - 2].to_string();
    rejected(inner, wrap, &p);
    let mut p = proof.clone();
    p.wrapper.as_mut().unwrap().proof = format!("{}00", w.proof);
    rejected(inner, wrap, &p);
    let mut p = proof.clone();
    p.wrapper = None;
    rejected(inner, wrap, &p);
    let mut p = proof.clone();
    p.wrapper.as_mut().unwrap().vk_sha256 = inner.vk_sha256;
    rejected(inner, wrap, &p);
}

fn call(evm: &mut Evm, to: Address, data: Vec<u8>) -> CallOutcome {
    evm.call(to, data).unwrap()
}

fn register_wrapped(d: [u8; 32], verifier: Address, key: &VerifierKey) -> Vec<u8> {
    let mut data = selector("registerWrapped(bytes32,address,uint32,uint32)");
    data.extend(d);
    data.extend(word(verifier.as_slice()));
    data.extend(word(&(key.io.input_instances() as u32).to_be_bytes()));
    data.extend(word(&(key.io.output_instances() as u32).to_be_bytes()));
    data
}

fn digest_word(key: &VerifierKey) -> [u8; 32] {
    word(&key.digest.0)
}

#[test]
fn wrapped_proofs_verify_natively_and_on_the_evm_and_tampering_is_rejected() {
    // Model A: a CNN with hashed I/O, proven and wrapped. Model B: keys only.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    compile("1l_conv", a.path(), PublicIo::Hashed);
    compile("1l_mlp", b.path(), PublicIo::Packed);
    let t = Instant::now();
    let report = setup_wrapped(a.path(), None, WRAP_K, WrapLevels::Exactly(2), &Silent).unwrap();
    eprintln!(
        "setup --wrap: {:.1} s (wrapper k = {:?}, {} advice columns, keys {:.1} s, wrap_pk.bin {} bytes)",
        t.elapsed().as_secs_f64(),
        report.level_ks,
        report.advice_columns,
        report.keygen_s,
        report.pk_bytes
    );
    // B's wrapper only has to exist (its key): the smallest, one level.
    setup_wrapped(b.path(), None, 18, WrapLevels::Exactly(1), &Silent).unwrap();
    let prover = load_prover(a.path(), CpuMsm, &Silent).unwrap();
    let input = InputData::from_path(&shared("1l_conv").join("input.json")).unwrap();
    let t = Instant::now();
    let proof = prove_wrapped(prover, a.path(), &input, &CpuLevels, &Silent).unwrap();
    eprintln!("prove --wrap: {:.1} s", t.elapsed().as_secs_f64());
    let inner = VerifierKey::load(&a.path().join(VK_FILE)).unwrap();
    let wrap = load_wrap_vk(a.path()).unwrap();
    let inner_b = VerifierKey::load(&b.path().join(VK_FILE)).unwrap();
    let wrap_b = load_wrap_vk(b.path()).unwrap();

    rust_verifier_checks(&inner, &wrap, &proof);
    // Another model's wrapper key takes neither this proof nor this model.
    assert!(matches!(
        verify_wrapped(&inner, &wrap_b, &proof),
        Err(WrapError::Keys(_))
    ));
    assert!(verify_wrapped(&inner_b, &wrap_b, &proof).is_err());
    // The wrapper refuses to wrap a model proof that does not verify.
    let pk = WrapProvingKey::load(&a.path().join(WRAP_PK_FILE)).unwrap();
    let params: Vec<_> = report
        .level_ks
        .iter()
        .map(|k| Srs::load(&a.path().join(wrap_srs_file(*k))).unwrap().params)
        .collect();
    let mut bad = proof.clone();
    bad.proof = flip_hex(&proof.proof, 100);
    let e = zkinfer_wrap::prove::wrap(&pk, &params, &inner, &bad, &CpuLevels, &Silent).unwrap_err();
    assert!(e.to_string().contains("model proof"), "{e}");
    drop((pk, params));

    // The EVM: the wrapper's verifier deploys and accepts A's proof, and nothing else.
    let contract = build_wrapper_verifier(&wrap, &solc()).unwrap();
    let mut evm = Evm::new();
    let deployed = evm.deploy(contract.bytecode.creation.clone()).unwrap();
    let verifier = deployed.address;
    let calldata = proof.wrapper.as_ref().unwrap().calldata().unwrap();
    let ok = call(&mut evm, verifier, calldata.clone());
    assert!(ok.success, "{ok:?}");
    eprintln!(
        "wrapper verifier: {} gas (transaction), runtime {} bytes, deploy {} gas, {:?}",
        ok.gas_used,
        contract.bytecode.runtime.len(),
        deployed.gas_used,
        wrapper_stats(&wrap).unwrap(),
    );
    let n = calldata.len();
    for i in [32 * wrap.instance_count() + 5, n / 2, n - 1] {
        let mut bad = calldata.clone();
        bad[i] ^= 1;
        assert!(!call(&mut evm, verifier, bad).success, "proof byte {i}");
    }
    for w in [0, 7, 12, 13, 14, wrap.instance_count() - 1] {
        let mut bad = calldata.clone();
        bad[32 * w + 31] ^= 1;
        assert!(!call(&mut evm, verifier, bad).success, "public word {w}");
    }

    // The registry: a wrapped result is recorded only under the digest it carries.
    let code = solc()
        .compile(REGISTRY_SOURCE, "InferenceRegistry")
        .unwrap();
    let registry = evm.deploy(code.creation).unwrap().address;
    let (da, db) = (digest_word(&inner), digest_word(&inner_b));
    assert!(call(&mut evm, registry, register_wrapped(da, verifier, &inner)).success);
    // B's digest bound (by mistake) to A's wrapper verifier: A's proof carries A's digest.
    assert!(call(&mut evm, registry, register_wrapped(db, verifier, &inner_b)).success);
    let r = call(&mut evm, registry, submit_call(db, &calldata));
    assert!(
        !r.success && r.output.starts_with(&selector("WrongModel(bytes32)")),
        "{r:?}"
    );
    let mut tampered = calldata.clone();
    tampered[n - 9] ^= 1;
    let r = call(&mut evm, registry, submit_call(da, &tampered));
    assert!(
        !r.success && r.output == selector("ProofRejected()"),
        "{r:?}"
    );
    assert_eq!(
        read(&mut evm, registry, "acceptedCount(bytes32)", &[da]),
        word(&[0])
    );
    let r = call(&mut evm, registry, submit_call(da, &calldata));
    assert!(r.success, "{r:?}");
    let start = 32 * (14 + inner.io.input_instances());
    let end = start + 32 * inner.io.output_instances();
    assert_eq!(
        read(&mut evm, registry, "acceptedCount(bytes32)", &[da]),
        word(&[1])
    );
    assert_eq!(
        read(&mut evm, registry, "acceptedInput(bytes32)", &[da]),
        keccak256(&calldata[32 * 14..start]).0
    );
    assert_eq!(
        read(&mut evm, registry, "acceptedOutput(bytes32)", &[da]),
        keccak256(&calldata[start..end]).0
    );
    assert_eq!(
        read(&mut evm, registry, "acceptedCount(bytes32)", &[db]),
        word(&[0])
    );
}
