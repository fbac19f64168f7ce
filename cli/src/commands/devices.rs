//! `zkinfer devices`: which devices `prove --device` can use here, and why not.

use anyhow::Result;
use clap::Args;
use std::process::ExitCode;
use std::time::Duration;
use zkinfer_gpu::{
    check_driver, cuda_arch_of, find_helper, helper_info, probe_cuda, GpuInfo, HelperInfo,
    KernelTargets, Probe, Runs,
};

/// List the GPUs the CUDA driver reports (numbered as `prove --gpu` takes them), whether the
/// CUDA prover is installed and whether its kernels run on each GPU.
#[derive(Args)]
pub struct Devices {}

impl Devices {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        println!("cpu: {} thread(s)", cpu_threads());
        let gpus = match probe_cuda() {
            Probe::Found(g) if !g.is_empty() => g,
            Probe::Found(_) => {
                println!("cuda: no GPU (the driver reports no device)");
                return Ok(ExitCode::SUCCESS);
            }
            Probe::Unavailable(why) => {
                println!("cuda: no usable GPU ({why})");
                return Ok(ExitCode::SUCCESS);
            }
        };
        for g in &gpus {
            println!("cuda: {g}");
        }
        if let Some(g) = gpus.first() {
            println!(
                "cuda driver: supports CUDA {}.{}",
                g.driver_cuda.0, g.driver_cuda.1
            );
        }
        let helper = match find_helper() {
            Ok(p) => p,
            Err(why) => {
                println!("cuda prover: none: {why}");
                return Ok(ExitCode::SUCCESS);
            }
        };
        println!(
            "cuda prover: {} (proves single-phase models: compile with --optimize gpu-prove-time)",
            helper.display()
        );
        // With an older driver it aborts while starting: not started.
        if let Err(why) = check_driver(&gpus) {
            println!("cuda prover: cannot start here: {why}");
            return Ok(ExitCode::SUCCESS);
        }
        // It starts the CUDA runtime: seconds at most, unless the driver hangs.
        match helper_info(&helper, Duration::from_secs(60)) {
            Ok(info) => {
                for line in describe_build(&info, &gpus) {
                    println!("{line}");
                }
            }
            Err(e) => println!("cuda prover: unusable: {e}"),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// What `zkinfer-cuda info` says about the build, and whether its kernels run on each GPU.
fn describe_build(info: &HelperInfo, gpus: &[GpuInfo]) -> Vec<String> {
    let mine = env!("CARGO_PKG_VERSION");
    let mut lines = Vec::new();
    if info.version != mine {
        lines.push(format!(
            "cuda prover: warning: version {} is not this zkinfer's ({mine}); install the pair scripts/build-cuda makes",
            info.version
        ));
    }
    let targets = match KernelTargets::parse(&info.cuda_arch) {
        Ok(Some(t)) => t,
        Ok(None) => {
            lines.push(
                "cuda prover: kernels not recorded (built without CUDA_ARCH); not checked here"
                    .into(),
            );
            return lines;
        }
        Err(e) => {
            lines.push(format!("cuda prover: unknown kernels: {e}"));
            return lines;
        }
    };
    lines.push(format!("cuda prover: kernels {targets}"));
    // `prove --gpu INDEX` picks one of them.
    for gpu in gpus {
        lines.push(match targets.check(gpu) {
            Ok(runs @ Runs::Sass(_)) => format!("cuda prover: runs on GPU {} ({runs})", gpu.index),
            Ok(runs @ Runs::Ptx(_)) => format!(
                "cuda prover: runs on GPU {} ({runs}; a build with CUDA_ARCH={} starts faster)",
                gpu.index,
                cuda_arch_of(gpu.compute)
            ),
            Err(e) => format!("cuda prover: cannot prove on GPU {}: {e}", gpu.index),
        });
    }
    lines
}

fn cpu_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
