//! Per-model benchmark table: k, rows, columns, setup s, prove s, verify ms, peak RSS, proof and
//! VK bytes, max error against a float (tract) run.
//!
//! `cargo run --release -p zkinfer-benches --bin zkinfer-bench [MODEL...] [--repeat N]`
//!
//! Proving runs in a child process per model, so peak RSS is that of loading keys and proving
//! one model (what a compute provider's prover process holds).

// A benchmark binary, not library code: it stops on the first failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;
use zkinfer_benches::{peak_rss, prepare, shared_model, MODELS};
use zkinfer_circuits::input::InputData;
use zkinfer_onnx::{reference, OnnxModel};
use zkinfer_prover::CpuMsm;
use zkinfer_prover::{load_prover, Silent};
use zkinfer_verifier::{verify, VerifierKey, VK_FILE};

/// Child: load keys, prove `repeat` times, verify; print one JSON line.
fn child(name: &str, dir: &Path, repeat: usize) -> Result<(), String> {
    let input =
        InputData::from_path(&shared_model(name).join("input.json")).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let prover = load_prover(dir, CpuMsm, &Silent).map_err(|e| e.to_string())?;
    let load_s = t.elapsed().as_secs_f64();
    let mut times = Vec::new();
    let mut proof = None;
    for _ in 0..repeat {
        let t = Instant::now();
        let w = prover.witness(&input).map_err(|e| e.to_string())?;
        let p = prover.prove(w).map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64());
        proof = Some(p);
    }
    let proof = proof.ok_or("no proof")?;
    times.sort_by(|a, b| a.total_cmp(b));
    let rss = peak_rss().unwrap_or(0);
    let key = VerifierKey::load(&dir.join(VK_FILE)).map_err(|e| e.to_string())?;
    let mut vt = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        verify(&key, &proof).map_err(|e| e.to_string())?;
        vt.push(t.elapsed().as_secs_f64() * 1e3);
    }
    vt.sort_by(|a, b| a.total_cmp(b));
    let out = serde_json::json!({
        "load_s": load_s,
        "prove_s": times[times.len() / 2],
        "prove_min_s": times[0],
        "verify_ms": vt[vt.len() / 2],
        "peak_rss": rss,
        "proof_bytes": proof.proof_bytes().map(|b| b.len()).unwrap_or(0),
        "outputs": proof.outputs,
    });
    println!("{out}");
    Ok(())
}

const USAGE: &str = "usage: zkinfer-bench [--repeat N] [MODEL...]  (models of ../shared/models; default: the five CNN models)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let (name, dir, repeat) = (&args[1], Path::new(&args[2]), args[3].parse().unwrap_or(3));
        if let Err(e) = child(name, dir, repeat) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let mut repeat = 5;
    let mut models: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repeat" => repeat = it.next().and_then(|r| r.parse().ok()).unwrap_or(5),
            "--bench" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            f if f.starts_with('-') => {
                eprintln!("error: unknown option '{f}'\n{USAGE}");
                std::process::exit(2);
            }
            m => models.push(m.to_string()),
        }
    }
    if models.is_empty() {
        models = MODELS.iter().map(|s| s.to_string()).collect();
    }
    let exe = std::env::current_exe().expect("benchmark executable path");
    println!("| model | k | rows used | advice | fixed | lookups | bits | compile s | setup s | prove s (median of {repeat}) | prove incl. key load s | verify ms | peak RSS MB | proof bytes | VK bytes | max error / output range |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for name in &models {
        let dir = tempfile::tempdir().expect("temp dir");
        let (compile_s, setup_s, c) = match prepare(name, dir.path()) {
            Ok(x) => x,
            Err(e) => {
                println!("| {name} | error: {e} |");
                continue;
            }
        };
        let out = Command::new(&exe)
            .args([
                "--child",
                name,
                &dir.path().display().to_string(),
                &repeat.to_string(),
            ])
            .output()
            .expect("child");
        if !out.status.success() {
            println!(
                "| {name} | prove failed: {} |",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            continue;
        }
        let r: serde_json::Value =
            serde_json::from_slice(out.stdout.trim_ascii()).expect("child json");
        // Accuracy against tract on the same input.
        let src = shared_model(name);
        let om = OnnxModel::from_bytes(
            &std::fs::read(src.join("network.onnx")).unwrap_or_default(),
            name,
        )
        .expect("onnx");
        let input = InputData::from_path(&src.join("input.json")).expect("input");
        let float = reference::tract_outputs(
            &src.join("network.onnx"),
            &om.input_tensors(&input).expect("inputs"),
        )
        .expect("tract");
        let outs: Vec<Vec<f64>> = serde_json::from_value(r["outputs"].clone()).unwrap_or_default();
        let rel = outs
            .iter()
            .zip(&float)
            .map(|(q, f)| {
                q.iter()
                    .zip(f)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
                    / zkinfer_onnx::output_range_of(f)
            })
            .fold(0.0f64, f64::max);
        let plan = c.model.plan().expect("plan");
        let vk_bytes = std::fs::metadata(dir.path().join(VK_FILE))
            .map(|m| m.len())
            .unwrap_or(0);
        let s = &c.model.shape;
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {compile_s:.2} | {setup_s:.2} | {:.3} | {:.3} | {:.1} | {:.0} | {} | {vk_bytes} | {:.3}% |",
            s.k,
            plan.layout.rows_used(),
            s.advice_columns(),
            s.fixed_columns(),
            s.lookups(),
            s.bits,
            r["prove_s"].as_f64().unwrap_or(0.0),
            r["prove_s"].as_f64().unwrap_or(0.0) + r["load_s"].as_f64().unwrap_or(0.0),
            r["verify_ms"].as_f64().unwrap_or(0.0),
            r["peak_rss"].as_f64().unwrap_or(0.0) / 1e6,
            r["proof_bytes"],
            100.0 * rel,
        );
    }
}
