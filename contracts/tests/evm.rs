//! Generated verifiers on a real in-process EVM (revm), compiled with the pinned solcjs:
//! valid proofs are accepted; flipped proof bytes, changed instances and other models' proofs
//! are rejected; the consumer contract records only accepted results (with the hashes of their
//! inputs and outputs) and registers models only for its owner. Single-phase (`direct`
//! matvec check, what the CUDA prover proves) circuits are among them.
//!
//! Needs `npm ci --prefix contracts` (the README test command runs it).

// Test code: clippy.toml's allow-*-in-tests exempts only #[test] functions, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{read, reverted_with, selector, shared, solc, submit_call, word};
use revm::primitives::{keccak256, Address};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::plan::{MatvecCheck, Objective};
use zkinfer_circuits::public_io::PublicIo;
use zkinfer_circuits::CompiledModel;
use zkinfer_contracts::evm::CALLER;
use zkinfer_contracts::{build_verifier, check_size, ContractError, Evm, Solc, REGISTRY_SOURCE};
use zkinfer_onnx::CompileOptions;
use zkinfer_prover::CpuMsm;
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
    let c =
        zkinfer_onnx::compile(&src.join("network.onnx"), &src.join("input.json"), &opts).unwrap();
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

fn digest(p: &Prepared) -> [u8; 32] {
    let d = hex::decode(p.key.digest.to_string()).unwrap();
    word(&d)
}

fn register_call(p: &Prepared, verifier: Address) -> Vec<u8> {
    register_raw(
        digest(p),
        verifier,
        p.key.io.input_instances() as u32,
        p.key.io.output_instances() as u32,
    )
}

fn register_raw(d: [u8; 32], verifier: Address, input_words: u32, output_words: u32) -> Vec<u8> {
    let mut data = selector("register(bytes32,address,uint32,uint32)");
    data.extend(d);
    data.extend(word(verifier.as_slice()));
    data.extend(word(&input_words.to_be_bytes()));
    data.extend(word(&output_words.to_be_bytes()));
    data
}

fn transfer_ownership_call(new_owner: Address) -> Vec<u8> {
    let mut data = selector("transferOwnership(address)");
    data.extend(word(new_owner.as_slice()));
    data
}

/// The address a model is registered with (zero if none): the first word `models(digest)`
/// returns.
fn registered_verifier(evm: &mut Evm, registry: Address, d: [u8; 32]) -> [u8; 32] {
    read(evm, registry, "models(bytes32)", &[d])[..32]
        .try_into()
        .unwrap()
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
    // Deployed from `CALLER`, its owner.
    let registry = evm.deploy(code.creation).unwrap().address;
    assert_eq!(
        read(&mut evm, registry, "owner()", &[]),
        word(CALLER.as_slice())
    );
    let d = digest(p);
    let calldata = p.proof.calldata().unwrap();
    let stranger = Address::new([0x22; 20]);

    // Unknown model: rejected.
    assert!(
        !evm.call(registry, submit_call(d, &calldata))
            .unwrap()
            .success
    );
    // Nobody but the owner registers: a stranger cannot bind the digest to any verifier.
    let r = evm
        .call_from(stranger, registry, register_call(p, verifier))
        .unwrap();
    assert!(reverted_with(&r, "NotOwner()"), "{}: {r:?}", name(i));
    assert_eq!(registered_verifier(&mut evm, registry, d), [0u8; 32]);
    // Nor the owner to an address without code (a call to it would accept every proof).
    assert!(
        !evm.call(registry, register_call(p, stranger))
            .unwrap()
            .success
    );
    assert_eq!(registered_verifier(&mut evm, registry, d), [0u8; 32]);
    assert!(
        evm.call(registry, register_call(p, verifier))
            .unwrap()
            .success
    );
    assert_eq!(
        registered_verifier(&mut evm, registry, d),
        word(verifier.as_slice())
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
    let r = evm.call(registry, submit_call(d, &bad)).unwrap();
    assert!(reverted_with(&r, "ProofRejected()"), "{}: {r:?}", name(i));
    let start = 32 * p.key.io.input_instances();
    let end = start + 32 * p.key.io.output_instances();
    let input_hash = keccak256(&calldata[..start]);
    let output_hash = keccak256(&calldata[start..end]);
    let nothing = |evm: &mut Evm| {
        assert_eq!(
            read(evm, registry, "acceptedCount(bytes32)", &[d]),
            word(&[0])
        );
        assert_eq!(
            read(evm, registry, "acceptedInput(bytes32)", &[d]),
            [0u8; 32]
        );
        assert_eq!(
            read(evm, registry, "acceptedOutput(bytes32)", &[d]),
            [0u8; 32]
        );
        assert_eq!(
            read(evm, registry, "proven(bytes32,bytes32)", &[d, input_hash.0]),
            [0u8; 32]
        );
    };
    nothing(&mut evm);
    // Another model's proof under this digest: rejected.
    let other = all[1].proof.calldata().unwrap();
    assert!(!evm.call(registry, submit_call(d, &other)).unwrap().success);
    nothing(&mut evm);

    // The valid proof (from anyone) is recorded with the hashes of its input and output words.
    let ok = evm
        .call_from(stranger, registry, submit_call(d, &calldata))
        .unwrap();
    assert!(ok.success);
    assert_eq!(ok.output, output_hash.as_slice());
    assert_eq!(
        read(&mut evm, registry, "acceptedCount(bytes32)", &[d]),
        word(&[1])
    );
    assert_eq!(
        read(&mut evm, registry, "acceptedInput(bytes32)", &[d]),
        input_hash.0
    );
    assert_eq!(
        read(&mut evm, registry, "acceptedOutput(bytes32)", &[d]),
        output_hash.0
    );
    assert_eq!(
        read(
            &mut evm,
            registry,
            "proven(bytes32,bytes32)",
            &[d, input_hash.0]
        ),
        output_hash.0
    );
    // Another input of this model: nothing proven.
    assert_eq!(
        read(
            &mut evm,
            registry,
            "proven(bytes32,bytes32)",
            &[d, output_hash.0]
        ),
        [0u8; 32]
    );
}

#[test]
fn registry_ownership_is_transferred_only_by_the_owner() {
    let mut evm = Evm::new();
    let code = solc()
        .compile(REGISTRY_SOURCE, "InferenceRegistry")
        .unwrap();
    let registry = evm.deploy(code.creation.clone()).unwrap().address;
    // Registration does not call the verifier: any contract stands in for one (no proving).
    let verifier = evm.deploy(code.creation).unwrap().address;
    let d = keccak256(b"some model").0;
    let register = || register_raw(d, verifier, 1, 1);
    let stranger = Address::new([0x22; 20]);
    let heir = Address::new([0x33; 20]);

    // A stranger cannot take ownership, nor hand it to someone else.
    for to in [stranger, heir] {
        let r = evm
            .call_from(stranger, registry, transfer_ownership_call(to))
            .unwrap();
        assert!(reverted_with(&r, "NotOwner()"), "{r:?}");
    }
    assert_eq!(
        read(&mut evm, registry, "owner()", &[]),
        word(CALLER.as_slice())
    );
    // Nor can the owner give it to the zero address.
    let r = evm
        .call(registry, transfer_ownership_call(Address::ZERO))
        .unwrap();
    assert!(reverted_with(&r, "ZeroAddress()"), "{r:?}");

    // The owner hands it over; then only the new owner registers.
    assert!(
        evm.call(registry, transfer_ownership_call(heir))
            .unwrap()
            .success
    );
    assert_eq!(
        read(&mut evm, registry, "owner()", &[]),
        word(heir.as_slice())
    );
    for from in [CALLER, stranger] {
        let r = evm.call_from(from, registry, register()).unwrap();
        assert!(reverted_with(&r, "NotOwner()"), "{r:?}");
    }
    assert_eq!(registered_verifier(&mut evm, registry, d), [0u8; 32]);
    assert!(evm.call_from(heir, registry, register()).unwrap().success);
    assert_eq!(
        registered_verifier(&mut evm, registry, d),
        word(verifier.as_slice())
    );
    // The former owner can no longer transfer ownership.
    let r = evm.call(registry, transfer_ownership_call(CALLER)).unwrap();
    assert!(reverted_with(&r, "NotOwner()"), "{r:?}");
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

/// A circuit with two challenges (matmul lanes: the Freivalds check of a product of computed
/// matrices, which the layout search picks for large products) verifies on the EVM; flipped
/// bytes and a changed instance do not.
#[test]
fn matmul_lanes_with_two_challenges_and_weight_columns_verify_on_the_evm() {
    let ops = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/ops");
    let (onnx, input) = (ops.join("matmul.onnx"), ops.join("matmul.json"));
    let opts = CompileOptions {
        objective: Objective::VerifyGas,
        ..Default::default()
    };
    let c = zkinfer_onnx::compile(&onnx, &input, &opts).unwrap();
    // `A·x` (constant `A`, one product per column of `x`) in the lane with two weight columns,
    // and `(A·x)·y` (computed operands) in the lane without.
    let mut shape = c.model.shape.clone();
    shape.matmul_lanes = true;
    shape.matmul_weights = 2;
    shape.matmul_weight_lanes = 1;
    shape.dot_lanes = 2;
    shape.matvec.clear();
    let model = CompiledModel::new(
        c.model.graph.clone(),
        shape,
        c.model.estimate_s,
        c.model.provenance.clone(),
    );
    assert!(model.shape.dot_freivalds() && model.shape.dot_lanes > 0);
    let plan = model.plan().unwrap();
    assert!(plan.layout.mv.is_empty());
    let lanes: Vec<u16> = plan.layout.dot.iter().map(|r| r.lane).collect();
    assert!(lanes.contains(&0) && lanes.contains(&1), "{lanes:?}");
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    setup(dir.path(), None, &Silent).unwrap();
    let prover = load_prover(dir.path(), CpuMsm, &Silent).unwrap();
    let proof = prove_input(&prover, &InputData::from_path(&input).unwrap(), &Silent).unwrap();
    let key = VerifierKey::load(&dir.path().join(VK_FILE)).unwrap();
    let contract = build_verifier(&key, &solc()).unwrap();
    let mut evm = Evm::new();
    let addr = evm.deploy(contract.bytecode.creation).unwrap().address;
    let calldata = proof.calldata().unwrap();
    assert!(evm.call(addr, calldata.clone()).unwrap().success);
    let n_inst = 32 * key.io.instance_count();
    for at in [n_inst + 5, calldata.len() - 1, 31] {
        let mut bad = calldata.clone();
        bad[at] ^= 1;
        assert!(!evm.call(addr, bad).unwrap().success, "byte {at} flipped");
    }
}
