//! The zkinfer ↔ zkinfer-cuda process contract: the command line and environment with which
//! `zkinfer` starts the CUDA prover, as types both executables use. `zkinfer` turns a
//! [`HelperCommand`] into arguments ([`HelperCommand::to_args`]) and a [`HelperEnv`] into
//! environment variables ([`HelperEnv::apply`]); `zkinfer-cuda` parses the same
//! [`HelperCommand`] with clap and reads the same [`HelperEnv`] back
//! ([`HelperEnv::chosen_gpu`]), so neither side spells a flag or variable the other does not.

use crate::device::GpuInfo;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// File name of the CUDA prover executable.
pub const HELPER_NAME: &str = "zkinfer-cuda";

/// Environment variable through which `zkinfer` tells `zkinfer-cuda` which GPU it chose
/// ([`GpuInfo`] as JSON), so that the CUDA prover can check it sees that GPU as its device 0.
pub const CHOSEN_GPU_ENV: &str = "ZKINFER_CUDA_GPU";

/// The CUDA runtime's variable naming the GPUs a process sees, in the order it numbers them.
pub const VISIBLE_DEVICES_ENV: &str = "CUDA_VISIBLE_DEVICES";

/// What `zkinfer-cuda` is asked to do (its subcommands).
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum HelperCommand {
    /// Prove one inference on the GPU (what `zkinfer prove --device cuda` runs).
    Prove(ProveRequest),
    /// How this build was made, as one JSON line (what `zkinfer devices` shows): version and
    /// the CUDA_ARCH its kernels were compiled for ([`HelperInfo`]).
    Info,
}

/// `zkinfer-cuda prove`: the same model folder, input and output file as `zkinfer prove`.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct ProveRequest {
    /// Folder prepared by `zkinfer compile --optimize gpu-prove-time` (or `--matvec-check
    /// direct`) and `zkinfer setup`.
    pub dir: PathBuf,
    /// Input in INPUT.json layout.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the proof (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Print only warnings.
    #[arg(long)]
    pub quiet: bool,
    /// Also prove the wrapper (`zkinfer prove --wrap`): the model proof for it on the CPU,
    /// the wrapper's levels on the GPU.
    #[arg(long)]
    pub wrap: bool,
}

impl HelperCommand {
    /// The command line (after the program name) that `zkinfer-cuda` parses back into `self`.
    pub fn to_args(&self) -> Vec<OsString> {
        match self {
            HelperCommand::Info => vec!["info".into()],
            HelperCommand::Prove(r) => {
                // `--flag=VALUE`, and `./` before a folder named like a flag: paths that look
                // like flags stay paths.
                let flag = |name: &str, value: &PathBuf| {
                    let mut a = OsString::from(format!("--{name}="));
                    a.push(value);
                    a
                };
                let dir = if r.dir.as_os_str().as_encoded_bytes().starts_with(b"-") {
                    Path::new(".").join(&r.dir)
                } else {
                    r.dir.clone()
                };
                let mut a = vec![
                    "prove".into(),
                    dir.into(),
                    flag("input", &r.input),
                    flag("out", &r.out),
                ];
                if r.quiet {
                    a.push("--quiet".into());
                }
                if r.wrap {
                    a.push("--wrap".into());
                }
                a
            }
        }
    }
}

/// What `zkinfer-cuda info` prints (one JSON line): how that build was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperInfo {
    /// Its package version (`zkinfer --version` of the same build).
    pub version: String,
    /// The `CUDA_ARCH` it was built with (empty when unset or empty: not recorded, the
    /// build then auto-detected its machine's GPU or used nvcc's default), see
    /// [`crate::KernelTargets::parse`].
    pub cuda_arch: String,
}

/// The environment of a `zkinfer-cuda prove` started for one GPU: that GPU made its device 0
/// (halo2-axiom-gpu proves on device 0) and described to it, so it can check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelperEnv {
    /// Its `CUDA_VISIBLE_DEVICES`: the chosen GPU alone.
    pub visible_devices: OsString,
    /// The GPU `zkinfer` chose, under the index `zkinfer` knows it by.
    pub chosen: GpuInfo,
}

/// The chosen GPU cannot be handed to the CUDA prover, or the CUDA prover does not see it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ContractError {
    /// The chosen GPU has no entry in this process's `CUDA_VISIBLE_DEVICES`.
    #[error("GPU {index} has no entry in CUDA_VISIBLE_DEVICES={visible}")]
    NotVisible {
        /// The GPU.
        index: u32,
        /// The variable's value.
        visible: String,
    },
    /// [`CHOSEN_GPU_ENV`] does not hold a GPU description.
    #[error("{CHOSEN_GPU_ENV} is not a GPU description: {0}")]
    BadChoice(String),
    /// The CUDA prover's device 0 is not the GPU `zkinfer` chose.
    #[error(
        "zkinfer chose {want} but the CUDA prover's device 0 is {seen}; check CUDA_VISIBLE_DEVICES"
    )]
    OtherDevice {
        /// The GPU chosen.
        want: Box<GpuInfo>,
        /// The CUDA prover's device 0.
        seen: Box<GpuInfo>,
    },
}

impl HelperEnv {
    /// The environment that makes `gpu` (numbered as this process's driver numbers them) the
    /// CUDA prover's device 0. `visible` is this process's own `CUDA_VISIBLE_DEVICES`: where it
    /// is set, the driver numbers only the GPUs it lists, in its order, so GPU `index` is its
    /// `index`-th entry (an index, a `GPU-...` UUID or a `MIG-...` one); never a GPU outside
    /// the list.
    pub fn for_gpu(gpu: &GpuInfo, visible: Option<&OsStr>) -> Result<Self, ContractError> {
        let not_visible = || ContractError::NotVisible {
            index: gpu.index,
            visible: visible
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let visible_devices: OsString = match visible.map(OsStr::to_str) {
            None => gpu.index.to_string().into(),
            Some(Some(list)) => visible_devices_for(gpu.index, Some(list))
                .ok_or_else(not_visible)?
                .into(),
            // Not text: its first entry is GPU 0 whatever it says; other entries cannot be told.
            Some(None) if gpu.index == 0 => visible.map(OsStr::to_os_string).unwrap_or_default(),
            Some(None) => return Err(not_visible()),
        };
        Ok(HelperEnv {
            visible_devices,
            chosen: gpu.clone(),
        })
    }

    /// Sets the variables on `cmd`.
    pub fn apply(&self, cmd: &mut Command) {
        // GpuInfo is plain data: its JSON cannot fail to serialise.
        let chosen = serde_json::to_string(&self.chosen).unwrap_or_default();
        cmd.env(VISIBLE_DEVICES_ENV, &self.visible_devices)
            .env(CHOSEN_GPU_ENV, chosen);
    }

    /// In `zkinfer-cuda`: the GPU to prove on, given the GPUs its own probe `seen` and the
    /// value of [`CHOSEN_GPU_ENV`] (`chosen`). Without that variable (started by hand) it is
    /// the first GPU seen; with it, the first GPU seen must be the one chosen (name, memory and
    /// compute capability), and it is returned under the index `zkinfer` knows it by, for
    /// messages.
    pub fn chosen_gpu(
        seen: &[GpuInfo],
        chosen: Option<&str>,
    ) -> Result<Option<GpuInfo>, ContractError> {
        let Some(first) = seen.first() else {
            return Ok(None);
        };
        let Some(chosen) = chosen else {
            return Ok(Some(first.clone()));
        };
        let want: GpuInfo =
            serde_json::from_str(chosen).map_err(|e| ContractError::BadChoice(e.to_string()))?;
        let same = (first.name.as_str(), first.memory_bytes, first.compute)
            == (want.name.as_str(), want.memory_bytes, want.compute);
        if !same {
            return Err(ContractError::OtherDevice {
                want: Box::new(want),
                seen: Box::new(first.clone()),
            });
        }
        Ok(Some(GpuInfo {
            index: want.index,
            ..first.clone()
        }))
    }
}

/// The `CUDA_VISIBLE_DEVICES` entry under which GPU `index` is the CUDA prover's device 0,
/// given this process's own `visible` list (see [`HelperEnv::for_gpu`]); `None` when the list
/// has no such entry.
pub fn visible_devices_for(index: u32, visible: Option<&str>) -> Option<String> {
    match visible {
        None => Some(index.to_string()),
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .nth(index as usize)
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_gpu as gpu;
    use clap::Parser;

    /// `zkinfer-cuda`'s command line, as its `main` declares it.
    #[derive(Parser)]
    struct Helper {
        #[command(subcommand)]
        command: HelperCommand,
    }

    fn parse_back(c: &HelperCommand) -> HelperCommand {
        let mut argv: Vec<OsString> = vec![HELPER_NAME.into()];
        argv.extend(c.to_args());
        let mut back = Helper::try_parse_from(argv).unwrap().command;
        // `./-x` names the folder `-x`.
        if let HelperCommand::Prove(r) = &mut back {
            if let Ok(d) = r.dir.strip_prefix(".") {
                if d.as_os_str().as_encoded_bytes().starts_with(b"-") {
                    r.dir = d.to_path_buf();
                }
            }
        }
        back
    }

    #[test]
    fn the_helper_parses_back_what_zkinfer_asks() {
        for (quiet, wrap) in [(false, false), (true, false), (false, true), (true, true)] {
            for dir in ["models/x", "--quiet", "--wrap", "-weird name", "a b/ü"] {
                let c = HelperCommand::Prove(ProveRequest {
                    dir: dir.into(),
                    input: "--out".into(),
                    out: "p r.json".into(),
                    quiet,
                    wrap,
                });
                assert_eq!(parse_back(&c), c, "{:?}", c.to_args());
            }
        }
        assert_eq!(parse_back(&HelperCommand::Info), HelperCommand::Info);
    }

    #[test]
    fn the_chosen_gpu_becomes_the_helpers_device_0() {
        let v = |i, l| visible_devices_for(i, l);
        assert_eq!(v(0, None).as_deref(), Some("0"));
        assert_eq!(v(3, None).as_deref(), Some("3"));
        // Already narrowed: the index-th entry of that list, whatever its form.
        assert_eq!(v(0, Some("2,5")).as_deref(), Some("2"));
        assert_eq!(v(1, Some(" 2, 5 ")).as_deref(), Some("5"));
        assert_eq!(v(1, Some("GPU-8a1b,MIG-77c0")).as_deref(), Some("MIG-77c0"));
        // An entry the list does not have: none, never a GPU outside the list.
        assert_eq!(v(4, Some("2,5")), None);
        assert_eq!(v(0, Some("")), None);
        let env = HelperEnv::for_gpu(&gpu(1, "G"), Some(OsStr::new("7,4"))).unwrap();
        assert_eq!(env.visible_devices, "4");
        let e = HelperEnv::for_gpu(&gpu(2, "G"), Some(OsStr::new("7,4"))).unwrap_err();
        assert!(
            matches!(e, ContractError::NotVisible { index: 2, .. }),
            "{e}"
        );
    }

    #[test]
    fn the_helper_reads_back_the_gpu_chosen_for_it() {
        let mut cmd = Command::new("true");
        HelperEnv::for_gpu(&gpu(3, "NVIDIA H100"), None)
            .unwrap()
            .apply(&mut cmd);
        let var = |k: &str| {
            cmd.get_envs()
                .find(|(n, _)| *n == k)
                .and_then(|(_, v)| v)
                .and_then(OsStr::to_str)
                .map(str::to_string)
        };
        assert_eq!(var(VISIBLE_DEVICES_ENV).as_deref(), Some("3"));
        let chosen = var(CHOSEN_GPU_ENV);
        // The helper sees it as its device 0.
        let seen = [gpu(0, "NVIDIA H100")];
        assert_eq!(
            HelperEnv::chosen_gpu(&seen, chosen.as_deref()),
            Ok(Some(gpu(3, "NVIDIA H100")))
        );
    }

    #[test]
    fn the_helper_checks_it_sees_the_gpu_chosen_for_it() {
        let seen = [gpu(0, "NVIDIA H100")];
        let chosen = HelperEnv::chosen_gpu;
        // Started by hand: its own first GPU.
        assert_eq!(chosen(&seen, None), Ok(Some(gpu(0, "NVIDIA H100"))));
        assert_eq!(chosen(&[], None), Ok(None));
        // Another device as its device 0: refused.
        let other = serde_json::to_string(&gpu(3, "NVIDIA A100")).unwrap();
        let why = chosen(&seen, Some(&other)).unwrap_err().to_string();
        assert!(
            why.contains("chose GPU 3 NVIDIA A100")
                && why.contains("device 0 is GPU 0 NVIDIA H100"),
            "{why}"
        );
        let e = chosen(&seen, Some("{")).unwrap_err();
        assert!(e.to_string().contains(CHOSEN_GPU_ENV), "{e}");
    }
}
