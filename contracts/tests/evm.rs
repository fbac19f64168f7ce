//! Generated verifiers on a real in-process EVM (revm), compiled with the pinned solcjs:
//! valid proofs are accepted; flipped proof bytes, changed instances and other models' proofs
//! are rejected; the consumer contract records only accepted results. Single-phase (`direct`
//! matvec check, what the CUDA prover proves) circuits are among them.
//!
//! Needs `npm ci --prefix contracts` (the README test command runs it).

use revm::primitives::{keccak256, Address};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use zkinfer_circuits::frontend::{self, CompileOptions};
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::plan::{MatvecCheck, Objective};
use zkinfer_circuits::public_io::PublicIo;
use zkinfer_contracts::{build_verifier, check_size, ContractError, Evm, Solc, REGISTRY_SOURCE};
use zkinfer_gpu::CpuMsm;
use zkinfer_prover::{load_prover, prove_input, setup, Silent};
use zkinfer_verifier::{ProofFile, VerifierKey, VK_FILE};

/// Models tested on the EVM, with their public I/O encoding and matvec check: small enough to
/// set up and prove quickly in a debug test build.
const MODELS: [(&str, PublicIo, MatvecCheck); 4] = [
    ("1l_mlp", PublicIo::Packed, MatvecCheck::Freivalds),
    (
        "2l_relu_sigmoid_conv",
        PublicIo::Packed,
        MatvecCheck::Freivalds,
    ),
    (
        "2l_relu_sigmoid_conv",
        PublicIo::Hashed,
        MatvecCheck::Freivalds,
    ),
    (
        "2l_relu_sigmoid_conv",
        PublicIo::Packed,
        MatvecCheck::Direct,
    ),
];

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models")
        .join(name)
}

struct Prepared {
    _dir: tempfile::TempDir,
    key: VerifierKey,
    proof: ProofFile,
    creation: Vec<u8>,
}

fn prepare(
    (name, public_io, matvec_check): (&str, PublicIo, MatvecCheck),
    dir: tempfile::TempDir,
) -> Prepared {
    let src = shared(name);
    let opts = CompileOptions {
        objective: Objective::VerifyGas,
        public_io,
        matvec_check,
        ..Default::default()
    };
    let c = frontend::compile(&src.join("network.onnx"), &src.join("input.json"), &opts).unwrap();
    c.model.save(dir.path()).unwrap();
    setup(dir.path(), None, &Silent).unwrap();
    let prover = load_prover(dir.path(), CpuMsm, &Silent).unwrap();
    let input = InputData::from_path(&src.join("input.json")).unwrap();
    let proof = prove_input(&prover, &input, &Silent).unwrap();
    let key = VerifierKey::load(&dir.path().join(VK_FILE)).unwrap();
    let contract = build_verifier(&key, &solc()).unwrap();
    assert_eq!(
        c.model.shape.multi_phase(),
        matvec_check == MatvecCheck::Freivalds,
        "{name}: phases"
    );
    eprintln!(
        "{name} ({}, {matvec_check:?}): k={} runtime {} bytes, {:?}",
        public_io.name(),
        c.model.shape.k,
        contract.bytecode.runtime.len(),
        zkinfer_contracts::verifier_stats(&key).unwrap()
    );
    Prepared {
        _dir: dir,
        key,
        proof,
        creation: contract.bytecode.creation,
    }
}

fn solc() -> Solc {
    Solc::locate(None).expect("run `npm ci --prefix contracts` first")
}

/// Every model, prepared once for all tests of this file.
fn models() -> &'static [Prepared] {
    static CELL: OnceLock<Vec<Prepared>> = OnceLock::new();
    CELL.get_or_init(|| {
        MODELS
            .iter()
            .map(|&m| prepare(m, tempfile::tempdir().unwrap()))
            .collect()
    })
}

fn name(i: usize) -> String {
    format!(
        "{} ({}, {:?})",
        MODELS[i].0,
        MODELS[i].1.name(),
        MODELS[i].2
    )
}

fn deploy(evm: &mut Evm, p: &Prepared) -> Address {
    evm.deploy(p.creation.clone()).unwrap().address
}

#[test]
fn valid_proofs_are_accepted_and_tampered_ones_rejected() {
    let all = models();
    let mut evm = Evm::new();
    let addrs: Vec<Address> = all.iter().map(|p| deploy(&mut evm, p)).collect();
    for (i, (p, &addr)) in all.iter().zip(&addrs).enumerate() {
        let calldata = p.proof.calldata().unwrap();
        let ok = evm.call(addr, calldata.clone()).unwrap();
        assert!(ok.success, "{}: valid proof rejected", name(i));
        eprintln!("{}: verify gas {}", name(i), ok.gas_used);

        let n_inst = 32 * p.key.io.instance_count();
        let proof_len = calldata.len() - n_inst;
        // Flipped proof bytes: in the first commitment, an evaluation, the last byte.
        for at in [n_inst + 5, n_inst + proof_len / 2, calldata.len() - 1] {
            let mut bad = calldata.clone();
            bad[at] ^= 1;
            assert!(
                !evm.call(addr, bad).unwrap().success,
                "{}: flipped byte {at} accepted",
                name(i)
            );
        }
        // A changed instance (first input word, last output word).
        for word in [0, p.key.io.instance_count() - 1] {
            let mut bad = calldata.clone();
            bad[32 * word + 31] ^= 1;
            assert!(
                !evm.call(addr, bad).unwrap().success,
                "{}: changed instance {word} accepted",
                name(i)
            );
        }
        // Truncated calldata.
        assert!(
            !evm.call(addr, calldata[..calldata.len() - 32].to_vec())
                .unwrap()
                .success
        );
        // Another model's proof.
        let other = &all[(i + 1) % all.len()];
        assert!(
            !evm.call(addr, other.proof.calldata().unwrap())
                .unwrap()
                .success,
            "{}: another model's proof accepted",
            name(i)
        );
    }
}

fn selector(sig: &str) -> Vec<u8> {
    keccak256(sig.as_bytes())[..4].to_vec()
}

fn word(bytes: &[u8]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[32 - bytes.len()..].copy_from_slice(bytes);
    w
}

fn digest(p: &Prepared) -> [u8; 32] {
    let d = hex::decode(p.key.digest.to_string()).unwrap();
    word(&d)
}

fn register_call(p: &Prepared, verifier: Address) -> Vec<u8> {
    let mut data = selector("register(bytes32,address,uint32,uint32)");
    data.extend(digest(p));
    data.extend(word(verifier.as_slice()));
    data.extend(word(&(p.key.io.input_instances() as u32).to_be_bytes()));
    data.extend(word(&(p.key.io.output_instances() as u32).to_be_bytes()));
    data
}

fn submit_call(d: [u8; 32], calldata: &[u8]) -> Vec<u8> {
    let mut data = selector("submit(bytes32,bytes)");
    data.extend(d);
    data.extend(word(&[0x40]));
    data.extend(word(&(calldata.len() as u64).to_be_bytes()));
    data.extend(calldata);
    while !(data.len() - 4).is_multiple_of(32) {
        data.push(0);
    }
    data
}

fn read(evm: &mut Evm, registry: Address, sig: &str, d: [u8; 32]) -> Vec<u8> {
    let mut data = selector(sig);
    data.extend(d);
    let r = evm.call(registry, data).unwrap();
    assert!(r.success);
    r.output
}

#[test]
fn registry_records_only_accepted_results() {
    // Packed outputs (the registry keeps the hash of the output words) and hashed outputs
    // (it keeps the hash of the Poseidon hash).
    for i in [0, 2] {
        registry_case(i);
    }
}

fn registry_case(i: usize) {
    let all = models();
    let p = &all[i];
    let mut evm = Evm::new();
    let verifier = deploy(&mut evm, p);
    let code = solc()
        .compile(REGISTRY_SOURCE, "InferenceRegistry")
        .unwrap();
    check_size("InferenceRegistry", &code).unwrap();
    let registry = evm.deploy(code.creation).unwrap().address;
    let d = digest(p);
    let calldata = p.proof.calldata().unwrap();

    // Unknown model: rejected.
    assert!(
        !evm.call(registry, submit_call(d, &calldata))
            .unwrap()
            .success
    );
    assert!(
        evm.call(registry, register_call(p, verifier))
            .unwrap()
            .success
    );
    // Registering twice: rejected.
    assert!(
        !evm.call(registry, register_call(p, verifier))
            .unwrap()
            .success
    );

    // A tampered proof is rejected and records nothing.
    let mut bad = calldata.clone();
    let n = bad.len();
    bad[n - 7] ^= 1;
    assert!(!evm.call(registry, submit_call(d, &bad)).unwrap().success);
    assert_eq!(
        read(&mut evm, registry, "acceptedCount(bytes32)", d),
        word(&[0])
    );
    assert_eq!(
        read(&mut evm, registry, "acceptedOutput(bytes32)", d),
        [0u8; 32]
    );
    // Another model's proof under this digest: rejected.
    let other = all[1].proof.calldata().unwrap();
    assert!(!evm.call(registry, submit_call(d, &other)).unwrap().success);

    // The valid proof is recorded with the hash of its output words.
    let ok = evm.call(registry, submit_call(d, &calldata)).unwrap();
    assert!(ok.success);
    let start = 32 * p.key.io.input_instances();
    let end = start + 32 * p.key.io.output_instances();
    let expect = keccak256(&calldata[start..end]);
    assert_eq!(ok.output, expect.as_slice());
    assert_eq!(
        read(&mut evm, registry, "acceptedCount(bytes32)", d),
        word(&[1])
    );
    assert_eq!(
        read(&mut evm, registry, "acceptedOutput(bytes32)", d),
        expect.0
    );
}

#[test]
fn oversized_contracts_are_refused() {
    let code = zkinfer_contracts::Bytecode {
        creation: vec![0; 100],
        runtime: vec![0; zkinfer_contracts::MAX_RUNTIME_BYTES + 1],
    };
    assert!(matches!(
        check_size("X", &code),
        Err(ContractError::TooLarge { .. })
    ));
    let code = zkinfer_contracts::Bytecode {
        creation: vec![0; zkinfer_contracts::MAX_INITCODE_BYTES + 1],
        runtime: vec![0; 100],
    };
    assert!(matches!(
        check_size("X", &code),
        Err(ContractError::TooLarge { .. })
    ));
    assert!(Solc::locate(Some(Path::new("/nonexistent"))).is_err());
}
