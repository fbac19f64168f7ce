//! Generated verifiers on a real in-process EVM.

use std::path::PathBuf;
use zkinfer_circuits::frontend::{self, CompileOptions};
use zkinfer_circuits::input::InputData;
use zkinfer_contracts::{verifier_solidity, Evm, Solc};
use zkinfer_gpu::CpuMsm;
use zkinfer_prover::{load_prover, prove_input, setup, Silent};
use zkinfer_verifier::{VerifierKey, VK_FILE};

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models").join(name)
}

#[test]
fn generated_verifier_accepts_and_rejects() {
    let name = std::env::var("ZKINFER_EVM_MODEL").unwrap_or("1l_mlp".into());
    let dir = tempfile::tempdir().unwrap();
    let src = shared(&name);
    let c = frontend::compile(&src.join("network.onnx"), &src.join("input.json"), &CompileOptions::default()).unwrap();
    c.model.save(dir.path()).unwrap();
    setup(dir.path(), None, &Silent).unwrap();
    let prover = load_prover(dir.path(), CpuMsm, &Silent).unwrap();
    let proof = prove_input(&prover, &InputData::from_path(&src.join("input.json")).unwrap(), &Silent).unwrap();
    let key = VerifierKey::load(&dir.path().join(VK_FILE)).unwrap();
    let t = std::time::Instant::now();
    let sol = verifier_solidity(&key).unwrap();
    eprintln!("generated {} bytes of Solidity in {:.2}s", sol.len(), t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let code = Solc::locate(None).unwrap().compile(&sol, "Halo2Verifier").unwrap();
    eprintln!("solcjs {:.2}s: creation {} bytes, runtime {} bytes", t.elapsed().as_secs_f64(), code.creation.len(), code.runtime.len());
    let mut evm = Evm::new();
    let d = evm.deploy(code.creation.clone()).unwrap();
    let calldata = proof.calldata().unwrap();
    let ok = evm.call(d.address, calldata.clone()).unwrap();
    eprintln!("deploy gas {}, verify gas {}, success {}", d.gas_used, ok.gas_used, ok.success);
    assert!(ok.success);
    let mut bad = calldata.clone();
    let n = bad.len();
    bad[n - 40] ^= 1;
    assert!(!evm.call(d.address, bad).unwrap().success);
}
