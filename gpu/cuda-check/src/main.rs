//! `zkinfer-cuda-check`: the CUDA prover checked and benchmarked against the CPU one.
//!
//! `selftest` runs the differential checks (MSM and NTT on random and edge inputs, proofs of
//! the shared models that must verify with the CPU proof's public values), `bench` the
//! benchmarks; `scripts/gpu-check` runs both. It compiles the models itself, so it links the
//! ONNX front end, which the production prover `zkinfer-cuda` does not.

use anyhow::{anyhow, Result};
use clap::{Parser, Subcommand};
use halo2_proofs::halo2curves::bn256::{Fr, G1Affine};
use halo2_proofs::halo2curves::group::Curve;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::plan::{MatvecCheck, Objective, MAX_K};
use zkinfer_cuda::plonk::CudaPlonk;
use zkinfer_cuda::run::check_kernels;
use zkinfer_cuda_check::cases::{self, ScalarKind};
use zkinfer_cuda_check::Checks;
use zkinfer_gpu::{probe_cuda, Probe, CUDA_TARGET};
use zkinfer_onnx::{CompileOptions, Compiled};
use zkinfer_prover::conformance::check_backend;
use zkinfer_prover::{
    load_prover, prove_input, prove_input_with, setup, CpuMsm, Msm, Prover, Silent,
};
use zkinfer_verifier::{VerifierKey, VK_FILE};

/// zkinfer's CUDA prover, checked against the CPU one.
#[derive(Parser)]
#[command(name = "zkinfer-cuda-check", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CPU-vs-GPU differential checks: MSM and NTT on random and edge inputs, and proofs of
    /// every model under `--models` (each must verify, with the CPU proof's public values).
    Selftest {
        /// Folder of model folders, each with `network.onnx` and `input.json`.
        #[arg(long)]
        models: PathBuf,
        /// Models (folder names under --models) to prove.
        #[arg(long = "model", default_values = MODELS)]
        names: Vec<String>,
        /// Largest MSM / NTT size, as a power of two.
        #[arg(long, default_value_t = 22, value_parser = clap::value_parser!(u32).range(1..=24))]
        max_log: u32,
    },
    /// Benchmarks: MSM and NTT 2^16..2^max-log, CPU vs GPU, and `prove` of every model under
    /// `--models` on the CPU (all cores) and the GPU. Prints a markdown table.
    Bench {
        /// Folder of model folders, each with `network.onnx` and `input.json`.
        #[arg(long)]
        models: PathBuf,
        /// Models (folder names under --models) to prove.
        #[arg(long = "model", default_values = MODELS)]
        names: Vec<String>,
        /// Largest MSM / NTT size, as a power of two.
        #[arg(long, default_value_t = 22, value_parser = clap::value_parser!(u32).range(16..=24))]
        max_log: u32,
        /// Proofs per model and device (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any work: on a GPU these kernels cannot run on, every kernel launch fails.
    let r = check_kernels().and_then(|()| match cli.command {
        Command::Selftest {
            models,
            names,
            max_log,
        } => selftest(&model_dirs(&models, &names), max_log),
        Command::Bench {
            models,
            names,
            max_log,
            runs,
        } => bench(&model_dirs(&models, &names), max_log, runs.max(1)),
    });
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `f`, turning a panic into an error (halo2-axiom-gpu asserts on bad input).
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(anyhow!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    }
}

fn gpu_msm(scalars: &[Fr], bases: &[G1Affine]) -> Result<G1Affine> {
    let p = halo2_axiom_gpu::cuda::funcs::multiexp::multiexp_gpu::<G1Affine>(scalars, bases)
        .map_err(|e| anyhow!("{e:?}"))?;
    Ok(p.to_affine())
}

fn gpu_ifft(log_n: u32, values: &[Fr]) -> Result<Vec<Fr>> {
    use halo2_axiom_gpu::poly::{DevicePolyExt, EvaluationDomain, LagrangeCoeff, Polynomial};
    let cpu_domain = halo2_proofs::poly::EvaluationDomain::<Fr>::new(5, log_n);
    let domain = EvaluationDomain::from_host_domain(&cpu_domain);
    let out = domain
        .lagrange_to_coeff_device(Polynomial::<Fr, LagrangeCoeff>::new(values.to_vec()))
        .map_err(|e| anyhow!("{e:?}"))?;
    Ok(out.to_host().values().to_vec())
}

fn cpu_ifft(log_n: u32, values: &[Fr]) -> Vec<Fr> {
    let d = halo2_proofs::poly::EvaluationDomain::<Fr>::new(5, log_n);
    d.lagrange_to_coeff(d.lagrange_from_vec(values.to_vec()))
        .to_vec()
}

/// The shared models zkinfer supports (those of the benchmarks), smallest first.
const MODELS: [&str; 5] = [
    "1l_mlp",
    "1l_conv",
    "2l_relu_sigmoid_conv",
    "4l_relu_conv_fc",
    "variable_cnn",
];

/// The named model folders under `models` (checked when used).
fn model_dirs(models: &Path, names: &[String]) -> Vec<(String, PathBuf)> {
    names.iter().map(|n| (n.clone(), models.join(n))).collect()
}

/// Compiles one model with `check` into `work`, sets it up and loads it; returns the prover
/// and the model's sample input.
fn prepare(src: &Path, work: &Path, check: MatvecCheck) -> Result<(Prover<CpuMsm>, InputData)> {
    let opts = CompileOptions {
        matvec_check: check,
        ..CompileOptions::default()
    };
    prepare_with(src, work, &opts)
}

/// [`prepare`] with any compile options.
fn prepare_with(
    src: &Path,
    work: &Path,
    opts: &CompileOptions,
) -> Result<(Prover<CpuMsm>, InputData)> {
    let c = zkinfer_onnx::compile(&src.join("network.onnx"), &src.join("input.json"), opts)?;
    set_up(src, work, c)
}

/// Saves a compiled model into `work`, sets it up and loads it.
fn set_up(src: &Path, work: &Path, c: Compiled) -> Result<(Prover<CpuMsm>, InputData)> {
    c.model.save(work)?;
    setup(work, None, &Silent)?;
    let prover = load_prover(work, CpuMsm, &Silent)?;
    Ok((prover, InputData::from_path(&src.join("input.json"))?))
}

fn selftest(models: &[(String, PathBuf)], max_log: u32) -> Result<ExitCode> {
    let mut checks = Checks::default();
    eprintln!("{}", describe_gpu());
    // MSM: every size up to 2^max_log (powers of two and neighbours); all scalar kinds up to
    // 2^12 and at 2^14, 2^14+1, 2^16, otherwise random, edges and a repeated base. halo2-axiom-gpu computes MSMs below 2^14
    // points on the CPU by design; those sizes check that routing.
    let bases = cases::bases(1 << max_log, 7);
    for n in cases::msm_sizes(max_log) {
        // All kinds also just above the CPU-routing threshold, where the GPU kernel runs.
        let all_kinds = n <= 1 << 12 || [1 << 14, (1 << 14) + 1, 1 << 16].contains(&n);
        let kinds: &[ScalarKind] = if all_kinds {
            &ScalarKind::ALL
        } else {
            &[
                ScalarKind::Random,
                ScalarKind::Edges,
                ScalarKind::RepeatedBase,
            ]
        };
        for &kind in kinds {
            let (s, b) = cases::msm_case(kind, n, &bases, n as u64);
            let name = format!("msm n={n} {}", kind.name());
            let want = CpuMsm.msm(&s, &b).to_affine();
            match guarded(|| gpu_msm(&s, &b)) {
                Ok(got) => checks.record(
                    name,
                    got == want,
                    if got == want { "equal" } else { "DIFFERS" },
                ),
                Err(e) => checks.record(name, false, format!("error: {e}")),
            }
        }
    }
    // NTT (inverse, Lagrange -> coefficients) on the GPU vs halo2's CPU FFT.
    for log_n in 1..=max_log {
        for (kind, v) in cases::ntt_vectors(log_n, log_n as u64) {
            let name = format!("intt 2^{log_n} {kind}");
            let want = cpu_ifft(log_n, &v);
            match guarded(|| gpu_ifft(log_n, &v)) {
                Ok(got) => checks.record(
                    name,
                    got == want,
                    if got == want { "equal" } else { "DIFFERS" },
                ),
                Err(e) => checks.record(name, false, format!("error: {e}")),
            }
        }
    }
    // Whole proofs of every model: the backend conformance checks the test suite runs for the
    // CPU backend (GPU proof verifies; tampered proofs and instances rejected; witnesses with
    // one value changed give no accepted proof), for the direct circuit at the CPU's size and
    // at the size `--optimize gpu-prove-time` chooses (when that is another shape).
    let layouts = [
        ("direct", Objective::ProveTime),
        ("gpu-prove-time", Objective::ProveTimeOn(CUDA_TARGET)),
    ];
    for (name, src) in models {
        let mut seen = Vec::new();
        for (layout, objective) in layouts {
            let work = tempfile::tempdir()?;
            let opts = CompileOptions {
                objective,
                matvec_check: MatvecCheck::Direct,
                ..CompileOptions::default()
            };
            let r = guarded(|| {
                let c = zkinfer_onnx::compile(
                    &src.join("network.onnx"),
                    &src.join("input.json"),
                    &opts,
                )?;
                let shape = c.model.shape.clone();
                if seen.contains(&shape) {
                    return Ok(None);
                }
                seen.push(shape.clone());
                let (prover, input) = set_up(src, work.path(), c)?;
                CudaPlonk::check_circuit(prover.pk())?;
                let backend = CudaPlonk::new(prover.params().kzg())?;
                let key = VerifierKey::load(&work.path().join(VK_FILE))?;
                // The sample input, and all zeros (zero remainders, equal max-pool values: the
                // lookups the sentinel row keeps from being all zero).
                let zeros = input.zeros_like();
                let mut reports = Vec::new();
                for (what, data) in [("sample", &input), ("zero", &zeros)] {
                    reports.push((what, check_backend(&prover, &key, data, &backend)?));
                }
                Ok(Some((shape.k, reports)))
            });
            match r {
                Ok(Some((k, reports))) => {
                    for (what, report) in reports {
                        for c in report.checks {
                            checks.record(
                                format!("{name} {layout} (k = {k}, {what} input): {}", c.name),
                                c.passed,
                                c.detail,
                            );
                        }
                    }
                }
                // The same circuit as the layout before.
                Ok(None) => {}
                Err(e) => {
                    checks.record(format!("prove {name} ({layout})"), false, format!("{e:#}"))
                }
            }
        }
    }
    println!("{}", checks.table());
    println!("{} checks, {} failed", checks.len(), checks.failures());
    Ok(if checks.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn describe_gpu() -> String {
    match probe_cuda() {
        Probe::Found(g) => g
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        Probe::Unavailable(why) => format!("no GPU: {why}"),
    }
}

/// Median seconds of `runs` calls of `f` after one warm-up call.
fn time<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
    f()?;
    let mut t: Vec<f64> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(|a, b| a.total_cmp(b));
    Ok(t[t.len() / 2])
}

/// Median seconds to prove `input` on the CPU and on the GPU.
fn time_both(p: &Prover<CpuMsm>, input: &InputData, runs: usize) -> Result<(f64, f64)> {
    let cpu = time(runs, || Ok(prove_input(p, input, &Silent)?))?;
    let backend = CudaPlonk::new(p.params().kzg())?;
    let gpu = time(runs, || Ok(prove_input_with(p, input, &backend, &Silent)?))?;
    Ok((cpu, gpu))
}

fn bench(models: &[(String, PathBuf)], max_log: u32, runs: usize) -> Result<ExitCode> {
    use halo2_axiom_gpu::cuda::utils::HALO2_GPU_CTX;
    use openvm_cuda_common::copy::MemCopyH2D;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("device: {}; CPU: {cores} threads\n", describe_gpu());
    println!("| MSM size | CPU ms | GPU ms (host data) | GPU ms (scalars and bases resident) |");
    println!("|---|---|---|---|");
    let bases = cases::bases(1 << max_log, 11);
    let d_bases = bases
        .to_device_on(&HALO2_GPU_CTX)
        .map_err(|e| anyhow!("{e:?}"))?;
    // A failing size (e.g. out of device memory) is reported in its row; the others still run.
    for log in 16..=max_log {
        let row = guarded(|| {
            let n = 1usize << log;
            let s = cases::scalars(ScalarKind::Random, n, log as u64);
            let cpu = time(runs, || Ok(CpuMsm.msm(&s, &bases[..n])))?;
            let gpu = time(runs, || gpu_msm(&s, &bases[..n]))?;
            let d_s = s
                .to_device_on(&HALO2_GPU_CTX)
                .map_err(|e| anyhow!("{e:?}"))?;
            let resident = time(runs, || {
                halo2_axiom_gpu::cuda::funcs::multiexp::multiexp_gpu_device_scalars_device_bases_chunked::<G1Affine>(
                    &d_s, &d_bases, n,
                )
                .map_err(|e| anyhow!("{e:?}"))
            })?;
            Ok(format!(
                "| 2^{log} | {:.1} | {:.2} | {:.2} |",
                cpu * 1e3,
                gpu * 1e3,
                resident * 1e3
            ))
        });
        println!(
            "{}",
            row.unwrap_or_else(|e| format!("| 2^{log} | error: {e:#} | | |"))
        );
    }
    println!("\n| iNTT size | CPU ms | GPU ms (incl. transfers) |\n|---|---|---|");
    for log in 16..=max_log {
        let row = guarded(|| {
            let v = cases::scalars(ScalarKind::Random, 1 << log, log as u64);
            let cpu = time(runs, || Ok(cpu_ifft(log, &v)))?;
            let gpu = time(runs, || gpu_ifft(log, &v))?;
            Ok(format!("| 2^{log} | {:.1} | {:.2} |", cpu * 1e3, gpu * 1e3))
        });
        println!(
            "{}",
            row.unwrap_or_else(|e| format!("| 2^{log} | error: {e:#} | |"))
        );
    }
    // The CPU's best (the default compile) against the GPU on the same direct circuit and on
    // the layout `--optimize gpu-prove-time` chooses.
    println!("\n| model | k | CPU s (Freivalds, default) | CPU s (direct) | GPU s (direct) | k (gpu-prove-time) | GPU s (gpu-prove-time) | speed-up: default CPU / best GPU |\n|---|---|---|---|---|---|---|---|");
    for (name, src) in models {
        let r = guarded(|| {
            let fre = tempfile::tempdir()?;
            let (p_fre, input) = prepare(src, fre.path(), MatvecCheck::Freivalds)?;
            let cpu_fre = time(runs, || Ok(prove_input(&p_fre, &input, &Silent)?))?;
            let work = tempfile::tempdir()?;
            let (p, _) = prepare(src, work.path(), MatvecCheck::Direct)?;
            let (cpu, gpu) = time_both(&p, &input, runs)?;
            // Its own cell on failure: the figures above still stand.
            let tall = guarded(|| {
                let work = tempfile::tempdir()?;
                let opts = CompileOptions {
                    objective: Objective::ProveTimeOn(CUDA_TARGET),
                    matvec_check: MatvecCheck::Direct,
                    ..CompileOptions::default()
                };
                let (p_gpu, _) = prepare_with(src, work.path(), &opts)?;
                let backend = CudaPlonk::new(p_gpu.params().kzg())?;
                let secs = time(runs, || {
                    Ok(prove_input_with(&p_gpu, &input, &backend, &Silent)?)
                })?;
                Ok((p_gpu.model().shape.k, secs))
            });
            let (tall_k, tall_s, best) = match tall {
                Ok((k, secs)) => (k.to_string(), format!("{secs:.3}"), gpu.min(secs)),
                Err(e) => (String::new(), format!("error: {e:#}"), gpu),
            };
            Ok(format!(
                "| {name} | {} | {cpu_fre:.3} | {cpu:.3} | {gpu:.3} | {tall_k} | {tall_s} | {:.1}x |",
                p.model().shape.k,
                cpu_fre / best
            ))
        });
        match r {
            Ok(row) => println!("{row}"),
            Err(e) => println!("| {name} | error: {e:#} | | | | | | |"),
        }
    }
    // Larger circuits for the model with the most direct-check columns: fewer, taller lanes,
    // and at 2^14 rows and more halo2-axiom-gpu moves the MSMs to the GPU too.
    if let Some((name, src)) = models.iter().find(|(n, _)| n == "variable_cnn") {
        println!("\n| {name} direct, k (chosen, then forced) | advice columns | CPU s | GPU s | CPU/GPU |\n|---|---|---|---|---|");
        // The shape search's own k first, then up to three sizes above it.
        let mut k = None;
        for _ in 0..4 {
            let r = guarded(|| {
                let work = tempfile::tempdir()?;
                let opts = CompileOptions {
                    matvec_check: MatvecCheck::Direct,
                    k,
                    ..CompileOptions::default()
                };
                let (p, input) = prepare_with(src, work.path(), &opts)?;
                let (cpu, gpu) = time_both(&p, &input, runs)?;
                let shape = &p.model().shape;
                Ok((
                    shape.k,
                    format!(
                        "| {} | {} | {cpu:.3} | {gpu:.3} | {:.1}x |",
                        shape.k,
                        shape.advice_columns(),
                        cpu / gpu
                    ),
                ))
            });
            match r {
                Ok((done, row)) => {
                    println!("{row}");
                    if done >= MAX_K {
                        break;
                    }
                    k = Some(done + 1);
                }
                Err(e) => {
                    let k = k.map_or("chosen".to_string(), |k| k.to_string());
                    println!("| {k} | error: {e:#} | | | |");
                    break;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
