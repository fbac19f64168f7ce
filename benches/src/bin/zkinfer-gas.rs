//! On-chain verification cost per shared model: each model is compiled for on-chain use
//! (`--optimize verify-gas`) with every public I/O encoding, set up, proven; its Solidity
//! verifier is generated, compiled with the pinned solcjs (optimizer off), deployed in revm
//! and called with the proof. Prints a markdown table (see `benches/RESULTS.md`).
//!
//! `cargo run --release -p zkinfer-benches --bin zkinfer-gas [--io plain|packed|hashed ...]
//! [MODEL ...]` (after `npm ci --prefix contracts`); `--io` (repeatable) measures only those
//! encodings. `--wrap` measures wrapper proofs instead (`setup --wrap` with its defaults,
//! hashed I/O unless `--io` says otherwise): the wrapper's setup and proving time, peak memory
//! and its verifier's size and gas.

// A benchmark binary, not library code: it stops on the first failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;
use zkinfer_benches::{prepare_with, shared_model, MODELS};
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::plan::Objective;
use zkinfer_circuits::public_io::PublicIo;
use zkinfer_contracts::{
    build_verifier, build_wrapper_verifier, verifier_stats, wrapper_stats, Evm, Solc,
};
use zkinfer_onnx::CompileOptions;
use zkinfer_prover::CpuMsm;
use zkinfer_prover::{load_prover, prove_input, Silent};
use zkinfer_verifier::{VerifierKey, VK_FILE};
use zkinfer_wrap::backend::CpuLevels;
use zkinfer_wrap::workflow::{load_wrap_vk, prove_wrapped, setup_wrapped, WrapLevels};
use zkinfer_wrap::DEFAULT_WRAP_K;

/// One row of the table.
fn measure(name: &str, public_io: PublicIo, solc: &Solc) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let opts = CompileOptions {
        objective: Objective::VerifyGas,
        public_io,
        ..Default::default()
    };
    let (_, _, c) = prepare_with(name, dir.path(), &opts).map_err(|e| e.to_string())?;
    let prover = load_prover(dir.path(), CpuMsm, &Silent).map_err(|e| e.to_string())?;
    let input =
        InputData::from_path(&shared_model(name).join("input.json")).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let proof = prove_input(&prover, &input, &Silent).map_err(|e| e.to_string())?;
    let prove_s = t.elapsed().as_secs_f64();
    let key = VerifierKey::load(&dir.path().join(VK_FILE)).map_err(|e| e.to_string())?;
    let s = &c.model.shape;
    let st = verifier_stats(&key).map_err(|e| e.to_string())?;
    let head = format!(
        "| {name} | {} | {} | {} | {} adv / {} fix / {} lookups | {} + {} | {} | {prove_s:.2} |",
        public_io.name(),
        key.io.instance_count(),
        s.k,
        s.advice_columns(),
        s.fixed_columns(),
        s.lookups(),
        st.key_commitments,
        st.proof_commitments,
        st.evaluations,
    );
    let contract = match build_verifier(&key, solc) {
        Ok(c) => c,
        Err(e) => return Ok(format!("{head} {e} | | | |")),
    };
    let mut evm = Evm::new();
    let d = evm
        .deploy(contract.bytecode.creation.clone())
        .map_err(|e| e.to_string())?;
    let call = evm
        .call(d.address, proof.calldata().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    if !call.success {
        return Err(format!("{name}: the verifier rejected a valid proof"));
    }
    Ok(format!(
        "{head} {} | {} | {} | {} |",
        contract.bytecode.runtime.len(),
        contract.bytecode.creation.len(),
        d.gas_used,
        call.gas_used
    ))
}

/// Peak resident memory of this process so far (`VmHWM`), in MiB.
fn peak_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// One row of the wrapper table.
fn measure_wrapped(name: &str, public_io: PublicIo, solc: &Solc) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let opts = CompileOptions {
        objective: Objective::VerifyGas,
        public_io,
        ..Default::default()
    };
    let src = shared_model(name);
    let c = zkinfer_onnx::compile(&src.join("network.onnx"), &src.join("input.json"), &opts)
        .map_err(|e| e.to_string())?;
    c.model.save(dir.path()).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let report = setup_wrapped(dir.path(), None, DEFAULT_WRAP_K, WrapLevels::Auto, &Silent)
        .map_err(|e| e.to_string())?;
    let setup_s = t.elapsed().as_secs_f64();
    let prover = load_prover(dir.path(), CpuMsm, &Silent).map_err(|e| e.to_string())?;
    let input = InputData::from_path(&src.join("input.json")).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let proof = prove_wrapped(prover, dir.path(), &input, &CpuLevels, &Silent)
        .map_err(|e| e.to_string())?;
    let prove_s = t.elapsed().as_secs_f64();
    let wrap = load_wrap_vk(dir.path()).map_err(|e| e.to_string())?;
    let st = wrapper_stats(&wrap).map_err(|e| e.to_string())?;
    let s = &c.model.shape;
    let head = format!(
        "| {name} | {} | {} | {} adv / {} fix / {} lookups | {:?} | {} | {} + {} | {setup_s:.1} | {:.0} | {prove_s:.1} | {} |",
        public_io.name(),
        s.k,
        s.advice_columns(),
        s.fixed_columns(),
        s.lookups(),
        report.level_ks,
        report.advice_columns,
        st.key_commitments,
        st.proof_commitments,
        report.pk_bytes as f64 / 1e6,
        peak_mib(),
    );
    let contract = match build_wrapper_verifier(&wrap, solc) {
        Ok(c) => c,
        Err(e) => return Ok(format!("{head} {e} | | |")),
    };
    let calldata = proof
        .wrapper
        .as_ref()
        .ok_or("no wrapper proof")?
        .calldata()
        .map_err(|e| e.to_string())?;
    let mut evm = Evm::new();
    let d = evm
        .deploy(contract.bytecode.creation.clone())
        .map_err(|e| e.to_string())?;
    let call = evm.call(d.address, calldata).map_err(|e| e.to_string())?;
    if !call.success {
        return Err(format!(
            "{name}: the wrapper's verifier rejected a valid proof"
        ));
    }
    Ok(format!(
        "{head} {} | {} | {} |",
        contract.bytecode.runtime.len(),
        d.gas_used,
        call.gas_used
    ))
}

fn main() {
    let all = [PublicIo::Packed, PublicIo::Plain, PublicIo::Hashed];
    let (mut models, mut ios) = (Vec::new(), Vec::new());
    let mut wrapped = false;
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(a) = args.next() {
        if a == "--wrap" {
            wrapped = true;
            continue;
        }
        if a != "--io" {
            models.push(a);
            continue;
        }
        let name = args.next().unwrap_or_default();
        match all.iter().find(|io| io.name() == name) {
            Some(&io) => ios.push(io),
            None => {
                eprintln!("error: --io takes plain, packed or hashed, not '{name}'");
                std::process::exit(2);
            }
        }
    }
    if ios.is_empty() {
        ios = if wrapped {
            vec![PublicIo::Hashed]
        } else {
            all.to_vec()
        };
    }
    if models.is_empty() {
        models = MODELS.iter().map(|s| s.to_string()).collect();
    }
    let solc = match Solc::locate(None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if wrapped {
        println!("| model | public I/O | model k | model columns | wrapper k per level | advice (last level) | commitments (key + proof) | setup s | wrap_pk MB | prove --wrap s | peak MiB | runtime bytes | deploy gas | verify gas (tx) |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for name in &models {
            for &io in &ios {
                match measure_wrapped(name, io, &solc) {
                    Ok(row) => println!("{row}"),
                    Err(e) => println!(
                        "| {name} | {} | error: {e} | | | | | | | | | | | |",
                        io.name()
                    ),
                }
            }
        }
        return;
    }
    println!("| model | public I/O | instances | k | columns | commitments (key + proof) | evaluations | prove s | runtime bytes | creation bytes | deploy gas | verify gas (tx) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for name in &models {
        for &io in &ios {
            match measure(name, io, &solc) {
                Ok(row) => println!("{row}"),
                Err(e) => println!("| {name} | {} | error: {e} | | | | | | | | | |", io.name()),
            }
        }
    }
}
