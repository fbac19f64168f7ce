//! The backend conformance checks (`zkinfer_prover::conformance`) for the CPU backend on shared
//! models, in both matvec checks and every public I/O encoding; and backends that misbehave
//! must fail them (so the checks can fail). `zkinfer-cuda-check selftest` runs the same checks for
//! the CUDA backend on a GPU machine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::plonk::ProvingKey;
use std::path::PathBuf;
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::plan::MatvecCheck;
use zkinfer_circuits::public_io::PublicIo;
use zkinfer_circuits::ModelCircuit;
use zkinfer_onnx::CompileOptions;
use zkinfer_prover::conformance::{check_backend, Report};
use zkinfer_prover::CpuMsm;
use zkinfer_prover::{load_prover, setup, BackendError, CpuPlonk, PlonkBackend, Prover, Silent};
use zkinfer_verifier::{VerifierKey, VK_FILE};

struct Model {
    _dir: tempfile::TempDir,
    prover: Prover<CpuMsm>,
    key: VerifierKey,
    input: InputData,
}

fn model(name: &str, matvec_check: MatvecCheck, public_io: PublicIo) -> Model {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    let opts = CompileOptions {
        matvec_check,
        public_io,
        ..CompileOptions::default()
    };
    let c =
        zkinfer_onnx::compile(&src.join("network.onnx"), &src.join("input.json"), &opts).unwrap();
    c.model.save(dir.path()).unwrap();
    setup(dir.path(), None, &Silent).unwrap();
    Model {
        prover: load_prover(dir.path(), CpuMsm, &Silent).unwrap(),
        key: VerifierKey::load(&dir.path().join(VK_FILE)).unwrap(),
        input: InputData::from_path(&src.join("input.json")).unwrap(),
        _dir: dir,
    }
}

fn run(m: &Model, backend: &dyn PlonkBackend) -> Report {
    check_backend(&m.prover, &m.key, &m.input, backend).unwrap()
}

fn failed(r: &Report) -> Vec<&'static str> {
    r.checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name)
        .collect()
}

#[test]
fn the_cpu_backend_conforms() {
    for (name, check, io) in [
        ("1l_mlp", MatvecCheck::Freivalds, PublicIo::Packed),
        (
            "2l_relu_sigmoid_conv",
            MatvecCheck::Direct,
            PublicIo::Hashed,
        ),
        ("2l_relu_sigmoid_conv", MatvecCheck::Direct, PublicIo::Plain),
    ] {
        let m = model(name, check, io);
        let r = run(&m, &CpuPlonk(m.prover.params()));
        for c in &r.checks {
            eprintln!(
                "{name} {check:?} {io:?}: {} -> {} ({})",
                c.name, c.passed, c.detail
            );
        }
        assert!(r.passed(), "{name} {check:?} {io:?}: {:?}", r.failures());
        assert_eq!(r.checks.len(), 7, "{name}: {:?}", r.checks);
    }
}

/// Returns the CPU proof with one byte flipped.
struct FlipsAByte<'a>(CpuPlonk<'a, CpuMsm>);

impl PlonkBackend for FlipsAByte<'_> {
    fn name(&self) -> &'static str {
        "flips-a-byte"
    }
    fn create_proof(
        &self,
        pk: &ProvingKey<G1Affine>,
        circuit: ModelCircuit,
        instances: &[Fr],
    ) -> Result<Vec<u8>, BackendError> {
        let mut p = self.0.create_proof(pk, circuit, instances)?;
        let mid = p.len() / 2;
        p[mid] ^= 0x80;
        Ok(p)
    }
}

/// Fails, or panics.
struct Broken {
    panics: bool,
}

impl PlonkBackend for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn create_proof(
        &self,
        _: &ProvingKey<G1Affine>,
        _: ModelCircuit,
        _: &[Fr],
    ) -> Result<Vec<u8>, BackendError> {
        if self.panics {
            panic!("kernel launch failed");
        }
        Err(BackendError::Failed("out of device memory".into()))
    }
}

#[test]
fn misbehaving_backends_fail_the_checks() {
    let m = model("1l_mlp", MatvecCheck::Direct, PublicIo::Packed);
    let r = run(&m, &FlipsAByte(CpuPlonk(m.prover.params())));
    assert!(!r.passed());
    assert_eq!(failed(&r), ["verifies"], "{:?}", r.checks);

    for panics in [false, true] {
        let r = run(&m, &Broken { panics });
        assert!(!r.passed());
        assert_eq!(failed(&r), ["proves"], "{:?}", r.checks);
        let why = &r.checks[0].detail;
        let want = if panics {
            "internal error while proving (broken backend): kernel launch failed"
        } else {
            "out of device memory"
        };
        assert!(why.contains(want), "{why}");
    }
}
