//! Where CPU proving time goes: the share of wall time during which a multi-scalar
//! multiplication (a commitment) runs, per shared model and layout, and how many of the MSMs
//! reach `2^CUDA_TARGET.min_k` points, the size from which the CUDA prover computes them on the GPU.
//!
//! `cargo run --release -p zkinfer-benches --bin zkinfer-msm [MODEL...] [--repeat N]`
//!
//! Layouts: the default compile (Freivalds, `--optimize prove-time`), `--matvec-check direct`
//! (what the CUDA prover needs) at the CPU's shape, and `--optimize gpu-prove-time`.

// A benchmark binary, not library code: it stops on the first failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;
use std::time::{Duration, Instant};
use zkinfer_benches::{prepare_with, shared_model, MODELS};
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::plan::{MatvecCheck, Objective};
use zkinfer_gpu::CUDA_TARGET;
use zkinfer_onnx::CompileOptions;
use zkinfer_prover::{load_prover, Silent};
use zkinfer_prover::{CpuMsm, Msm};

/// What the timed MSMs did since the last [`take`]: wall time during which at least one
/// ran (halo2-axiom commits columns in parallel, so summing each call's time would count
/// overlaps twice), how many ran, and how many had at least `2^CUDA_TARGET.min_k` points.
#[derive(Clone, Copy, Default)]
struct Tally {
    busy: Duration,
    msms: u64,
    large: u64,
}

/// MSMs running now, since when, and the tally.
struct InMsm {
    running: usize,
    since: Option<Instant>,
    tally: Tally,
}

static IN_MSM: Mutex<InMsm> = Mutex::new(InMsm {
    running: 0,
    since: None,
    tally: Tally {
        busy: Duration::ZERO,
        msms: 0,
        large: 0,
    },
});

fn in_msm() -> std::sync::MutexGuard<'static, InMsm> {
    IN_MSM.lock().unwrap_or_else(|e| e.into_inner())
}

/// The CPU MSM, timed.
#[derive(Clone, Copy, Debug, Default)]
struct TimedMsm;

impl Msm for TimedMsm {
    type Scalar = <CpuMsm as Msm>::Scalar;
    type Base = <CpuMsm as Msm>::Base;
    type Output = <CpuMsm as Msm>::Output;

    fn name(&self) -> &'static str {
        "cpu (timed)"
    }

    fn msm(&self, scalars: &[Self::Scalar], bases: &[Self::Base]) -> Self::Output {
        {
            let mut m = in_msm();
            if m.running == 0 {
                m.since = Some(Instant::now());
            }
            m.running += 1;
            m.tally.msms += 1;
            m.tally.large += u64::from(scalars.len() >= 1 << CUDA_TARGET.min_k);
        }
        let r = CpuMsm.msm(scalars, bases);
        let mut m = in_msm();
        m.running = m.running.saturating_sub(1);
        if m.running == 0 {
            if let Some(t) = m.since.take() {
                m.tally.busy += t.elapsed();
            }
        }
        r
    }
}

/// The tally since the last call.
fn take() -> Tally {
    std::mem::take(&mut in_msm().tally)
}

/// One table row: compile with `opts`, set up, prove `repeat` times (the median run).
fn row(name: &str, layout: &str, opts: &CompileOptions, repeat: usize) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    prepare_with(name, dir.path(), opts).map_err(|e| e.to_string())?;
    let input =
        InputData::from_path(&shared_model(name).join("input.json")).map_err(|e| e.to_string())?;
    let prover = load_prover(dir.path(), TimedMsm, &Silent).map_err(|e| e.to_string())?;
    let mut runs = Vec::new();
    for _ in 0..repeat {
        take();
        let t = Instant::now();
        let w = prover.witness(&input).map_err(|e| e.to_string())?;
        prover.prove(w).map_err(|e| e.to_string())?;
        let total = t.elapsed().as_secs_f64();
        runs.push((total, take()));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (total, tally) = runs[runs.len() / 2];
    let msm_s = tally.busy.as_secs_f64();
    let shape = &prover.model().shape;
    Ok(format!(
        "| {name} | {layout} | {} | {} | {total:.3} | {msm_s:.3} | {:.0}% | {} | {} |",
        shape.k,
        shape.advice_columns(),
        100.0 * msm_s / total,
        tally.msms,
        tally.large
    ))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut repeat = 3usize;
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--repeat" {
            match it.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => repeat = n,
                _ => {
                    eprintln!("error: --repeat needs a positive number");
                    std::process::exit(2);
                }
            }
        } else {
            names.push(a.clone());
        }
    }
    if names.is_empty() {
        names = MODELS.iter().map(|s| s.to_string()).collect();
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let min_k = CUDA_TARGET.min_k;
    println!(
        "CPU: {threads} threads; median of {repeat} proofs; MSMs of at least 2^{min_k} points run on the GPU in the CUDA prover\n"
    );
    println!("| model | layout | k | advice columns | prove s | MSM s | MSM share | MSMs | MSMs >= 2^{min_k} |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let layouts = [
        ("default (Freivalds)", CompileOptions::default()),
        (
            "direct",
            CompileOptions {
                matvec_check: MatvecCheck::Direct,
                ..CompileOptions::default()
            },
        ),
        (
            "gpu-prove-time",
            CompileOptions {
                matvec_check: MatvecCheck::Direct,
                objective: Objective::ProveTimeOn(CUDA_TARGET),
                ..CompileOptions::default()
            },
        ),
    ];
    let mut failed = false;
    for name in &names {
        for (layout, opts) in &layouts {
            match row(name, layout, opts, repeat) {
                Ok(r) => println!("{r}"),
                Err(e) => {
                    failed = true;
                    println!("| {name} | {layout} | error: {e} | | | | | | |");
                }
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
