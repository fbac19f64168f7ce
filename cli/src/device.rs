//! `--device`, shared by the commands that prove.

use anyhow::Result;
use clap::{Args, ValueEnum};
use zkinfer_gpu::{probe_cuda, select, Backend, DeviceChoice};

/// `--device` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DeviceValue {
    /// A usable GPU when this build can prove on it, otherwise the CPU (saying why on stderr).
    Auto,
    /// The CPU, all cores.
    Cpu,
    /// A CUDA GPU; an error when none can be used.
    Cuda,
}

/// Which device proves.
#[derive(Args)]
pub struct DeviceArg {
    /// Device to prove on. GPUs are found through the CUDA driver (`libcuda.so.1`); this build
    /// has no CUDA proving backend yet, so `auto` proves on the CPU and `cuda` is refused.
    #[arg(long, value_enum, default_value_t = DeviceValue::Auto)]
    pub device: DeviceValue,
}

impl DeviceArg {
    /// Chooses the backend; prints the fall-back note once on stderr.
    pub fn backend(&self) -> Result<Backend> {
        let choice = match self.device {
            DeviceValue::Auto => DeviceChoice::Auto,
            DeviceValue::Cpu => DeviceChoice::Cpu,
            DeviceValue::Cuda => DeviceChoice::Cuda,
        };
        // `cpu` needs no look at the driver.
        let probe = match choice {
            DeviceChoice::Cpu => zkinfer_gpu::Probe::Unavailable("not asked".into()),
            _ => probe_cuda(),
        };
        let s = select(choice, &probe)?;
        if let Some(note) = s.note {
            eprintln!("note: {note}");
        }
        Ok(s.backend)
    }
}
