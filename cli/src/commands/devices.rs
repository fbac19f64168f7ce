//! `zkinfer devices`: which devices `prove --device` can use here, and why not.

use anyhow::Result;
use clap::Args;
use std::process::ExitCode;
use zkinfer_gpu::{find_helper, probe_cuda, Probe};

/// List the GPUs the CUDA driver reports and whether the CUDA prover is installed.
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
        match find_helper() {
            Ok(p) => println!(
                "cuda prover: {} (proves models compiled with --matvec-check direct)",
                p.display()
            ),
            Err(why) => println!("cuda prover: none: {why}"),
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn cpu_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
