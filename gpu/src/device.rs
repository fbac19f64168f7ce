//! Device detection and backend choice (`zkinfer prove --device auto|cpu|cuda`).
//!
//! GPUs are found through the CUDA *driver* library (`libcuda.so.1`), loaded at run time, so
//! detection needs no CUDA toolkit at build time and no GPU at run time: a machine without the
//! driver simply reports why none was found. Loading it dynamically also keeps CUDA code out of
//! the binary's start-up: CUDA proving libraries that initialise a device before `main` abort
//! the process where no GPU is usable, which would make a CPU fall-back impossible.
//!
//! The CUDA prover runs in a separate executable, `zkinfer-cuda` ([`crate::helper`]), built
//! only where CUDA is wanted. [`select`] picks it when a GPU is found, the executable is
//! installed and the circuit is one it can prove; otherwise `auto` picks the CPU (saying why,
//! once) and `cuda` is refused with the reason.

use crate::helper::{find_helper, HelperMissing};
use libloading::Library;
use serde::{Deserialize, Serialize};
use std::ffi::{c_char, c_int, CStr};
use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// The device a user asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// A usable GPU if there is one and this build can use it, else the CPU.
    #[default]
    Auto,
    /// The CPU (all cores).
    Cpu,
    /// A CUDA GPU, or an error.
    Cuda,
}

/// A CUDA device as the driver reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Device ordinal.
    pub index: u32,
    /// Marketing name, e.g. `NVIDIA H200`.
    pub name: String,
    /// Global memory in bytes.
    pub memory_bytes: u64,
    /// Compute capability (major, minor).
    pub compute: (i32, i32),
    /// The newest CUDA version the installed driver supports (major, minor); the same for
    /// every GPU of the machine.
    pub driver_cuda: (i32, i32),
}

/// An 80 GiB, compute 9.0 GPU for tests.
#[cfg(test)]
pub(crate) fn test_gpu(index: u32, name: &str) -> GpuInfo {
    GpuInfo {
        index,
        name: name.into(),
        memory_bytes: 80 << 30,
        compute: (9, 0),
        driver_cuda: (13, 0),
    }
}

/// The CUDA runtime `zkinfer-cuda` is built with and ships (scripts/build-cuda installs
/// 13.0); it runs only where the driver supports this CUDA version or a newer one.
pub const HELPER_CUDA: (i32, i32) = (13, 0);

/// The NVIDIA driver is too old for the CUDA prover's runtime.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("the NVIDIA driver supports CUDA {}.{} and the CUDA prover needs CUDA {}.{} (driver R580 or newer)", .has.0, .has.1, .needs.0, .needs.1)]
pub struct OldDriver {
    /// The CUDA version the driver supports.
    pub has: (i32, i32),
    /// The one the CUDA prover needs ([`HELPER_CUDA`]).
    pub needs: (i32, i32),
}

/// Whether the driver that reported `gpus` can run the CUDA prover's runtime
/// ([`HELPER_CUDA`]). Checked before starting it: with an older driver it aborts while
/// starting.
pub fn check_driver(gpus: &[GpuInfo]) -> Result<(), OldDriver> {
    match gpus.first() {
        Some(g) if g.driver_cuda < HELPER_CUDA => Err(OldDriver {
            has: g.driver_cuda,
            needs: HELPER_CUDA,
        }),
        _ => Ok(()),
    }
}

impl fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GPU {} {} ({} MiB, compute {}.{})",
            self.index,
            self.name,
            self.memory_bytes >> 20,
            self.compute.0,
            self.compute.1
        )
    }
}

/// What the CUDA driver says about this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// These GPUs are usable.
    Found(Vec<GpuInfo>),
    /// No GPU can be used, and why (no driver library, a driver error, no device).
    Unavailable(String),
}

/// The backends zkinfer can prove with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// halo2's CPU prover (MSMs through the prover's `CpuMsm`).
    Cpu,
    /// halo2-axiom-gpu's CUDA prover, run in the `zkinfer-cuda` executable (see
    /// [`crate::helper`]).
    Cuda {
        /// The `zkinfer-cuda` executable.
        helper: PathBuf,
        /// The GPU to prove on.
        gpu: GpuInfo,
    },
}

impl Backend {
    /// Name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Cuda { .. } => "cuda",
        }
    }
}

/// Why the CUDA prover cannot be started, GPUs aside.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Unready {
    /// No GPU to start it on.
    #[error("no GPU")]
    NoGpu,
    /// It is not installed ([`crate::helper::find_helper`]).
    #[error(transparent)]
    Missing(#[from] HelperMissing),
    /// The driver is too old for it ([`check_driver`]).
    #[error(transparent)]
    OldDriver(#[from] OldDriver),
}

/// What the CUDA prover needs besides a GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaReadiness {
    /// The `zkinfer-cuda` executable, or why it cannot be started.
    pub helper: Result<PathBuf, Unready>,
    /// Why the CUDA prover cannot prove this circuit, if it cannot.
    pub circuit: Option<String>,
}

/// The backend chosen, and a note for the user (printed once) when `auto` fell back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Backend to prove with.
    pub backend: Backend,
    /// Why the CPU was used although a GPU was allowed.
    pub note: Option<String>,
}

/// `--device cuda` cannot be honoured.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DeviceError {
    /// No usable GPU.
    #[error("--device cuda: no usable GPU ({0})")]
    NoGpu(String),
    /// A GPU is there, but it cannot prove this (no CUDA prover installed, or a circuit it
    /// does not support).
    #[error("--device cuda: found {gpus}, but {why}; use --device cpu or auto")]
    Unusable {
        /// The GPUs found.
        gpus: String,
        /// What is missing.
        why: String,
    },
}

/// Chooses the backend for `choice`, proving on GPU `index` (as the driver numbers them),
/// given what the driver reported and what the CUDA prover needs.
pub fn select(
    choice: DeviceChoice,
    index: u32,
    probe: &Probe,
    cuda: &CudaReadiness,
) -> Result<Selection, DeviceError> {
    if choice == DeviceChoice::Cpu {
        return Ok(Selection {
            backend: Backend::Cpu,
            note: None,
        });
    }
    let (gpus, chosen) = match probe {
        Probe::Found(g) if !g.is_empty() => {
            (describe(g), g.iter().find(|d| d.index == index).cloned())
        }
        Probe::Found(_) => return no_gpu(choice, "the driver reports no CUDA device".into()),
        Probe::Unavailable(why) => return no_gpu(choice, why.clone()),
    };
    let (helper, chosen) = match (&cuda.helper, &cuda.circuit, chosen) {
        (Ok(helper), None, Some(chosen)) => (helper.clone(), chosen),
        (_, _, None) => {
            let why = format!("there is no GPU {index} (see `zkinfer devices`)");
            return unusable(choice, gpus, &why);
        }
        (Err(why), _, _) => return unusable(choice, gpus, &why.to_string()),
        (Ok(_), Some(why), _) => return unusable(choice, gpus, why),
    };
    Ok(Selection {
        backend: Backend::Cuda {
            helper,
            gpu: chosen,
        },
        note: None,
    })
}

/// Chooses the backend for `choice` and GPU `index` on this machine: asks the driver (unless
/// `choice` is the CPU) and looks for the CUDA prover. `circuit` says why the CUDA prover
/// cannot prove the circuit, if it cannot ([`crate::cuda_blocker`]).
pub fn choose(
    choice: DeviceChoice,
    index: u32,
    circuit: Option<String>,
) -> Result<Selection, DeviceError> {
    // `cpu` needs no look at the driver.
    let probe = match choice {
        DeviceChoice::Cpu => Probe::Unavailable("not asked".into()),
        _ => probe_cuda(),
    };
    let helper = match &probe {
        Probe::Found(gpus) => check_driver(gpus)
            .map_err(Unready::from)
            .and_then(|()| find_helper().map_err(Unready::from)),
        Probe::Unavailable(_) => Err(Unready::NoGpu),
    };
    select(choice, index, &probe, &CudaReadiness { helper, circuit })
}

/// GPUs are there but cannot be used, because of `why`.
fn unusable(choice: DeviceChoice, gpus: String, why: &str) -> Result<Selection, DeviceError> {
    match choice {
        DeviceChoice::Cuda => Err(DeviceError::Unusable {
            gpus,
            why: why.to_string(),
        }),
        _ => Ok(Selection {
            backend: Backend::Cpu,
            note: Some(format!("proving on the CPU: found {gpus}, but {why}")),
        }),
    }
}

fn no_gpu(choice: DeviceChoice, why: String) -> Result<Selection, DeviceError> {
    match choice {
        DeviceChoice::Cuda => Err(DeviceError::NoGpu(why)),
        _ => Ok(Selection {
            backend: Backend::Cpu,
            note: Some(format!("proving on the CPU: {why}")),
        }),
    }
}

fn describe(gpus: &[GpuInfo]) -> String {
    gpus.iter()
        .map(GpuInfo::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Names the driver library may have.
const DRIVER_NAMES: [&str; 2] = ["libcuda.so.1", "libcuda.so"];

type CuInit = unsafe extern "C" fn(u32) -> c_int;
type CuVersion = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuCount = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
type CuName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
type CuMem = unsafe extern "C" fn(*mut usize, c_int) -> c_int;
type CuAttr = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int;

/// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR` / `_MINOR`.
const ATTR_MAJOR: c_int = 75;
const ATTR_MINOR: c_int = 76;

/// Asks the CUDA driver, if one is installed, which GPUs are usable.
pub fn probe_cuda() -> Probe {
    let mut errors = Vec::new();
    for name in DRIVER_NAMES {
        // SAFETY: loading the CUDA driver runs its initialisers, which only register the
        // library; nothing else of this process is touched.
        match unsafe { Library::new(name) } {
            Ok(lib) => return probe_with(&lib),
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    Probe::Unavailable(format!(
        "no CUDA driver library ({})",
        errors.first().map(String::as_str).unwrap_or("not found")
    ))
}

fn probe_with(lib: &Library) -> Probe {
    match query(lib) {
        Ok(g) if g.is_empty() => Probe::Unavailable("the CUDA driver reports no device".into()),
        Ok(g) => Probe::Found(g),
        Err(e) => Probe::Unavailable(e.to_string()),
    }
}

/// A call into the CUDA driver failed.
#[derive(Debug, Error)]
enum DriverError {
    /// An entry point returned an error code.
    #[error("CUDA driver: {what} failed with error {code}")]
    Call { what: &'static str, code: c_int },
    /// An entry point is missing.
    #[error("the CUDA driver lacks {name}: {why}")]
    Symbol { name: String, why: String },
}

fn check(what: &'static str, code: c_int) -> Result<(), DriverError> {
    if code == 0 {
        Ok(())
    } else {
        Err(DriverError::Call { what, code })
    }
}

/// A driver entry point, copied out of the library (valid while `lib` is loaded).
fn sym<T: Copy>(lib: &Library, name: &[u8]) -> Result<T, DriverError> {
    // SAFETY: `T` is the C signature `cuda.h` declares for `name`.
    unsafe { lib.get::<T>(name) }
        .map(|s| *s)
        .map_err(|e| DriverError::Symbol {
            name: String::from_utf8_lossy(name.strip_suffix(b"\0").unwrap_or(name)).into_owned(),
            why: e.to_string(),
        })
}

fn query(lib: &Library) -> Result<Vec<GpuInfo>, DriverError> {
    let init: CuInit = sym(lib, b"cuInit\0")?;
    let version: CuVersion = sym(lib, b"cuDriverGetVersion\0")?;
    let count: CuCount = sym(lib, b"cuDeviceGetCount\0")?;
    let get: CuGet = sym(lib, b"cuDeviceGet\0")?;
    let name: CuName = sym(lib, b"cuDeviceGetName\0")?;
    let mem: CuMem = sym(lib, b"cuDeviceTotalMem_v2\0")?;
    let attr: CuAttr = sym(lib, b"cuDeviceGetAttribute\0")?;
    // SAFETY: every pointer passed is to a live local of the type and size the driver API
    // declares; `lib` stays loaded for the whole block.
    unsafe {
        check("cuInit", init(0))?;
        // 1000 * major + 10 * minor, e.g. 13000 for CUDA 13.0.
        let mut v: c_int = 0;
        check("cuDriverGetVersion", version(&mut v))?;
        let driver_cuda = (v / 1000, (v % 1000) / 10);
        let mut n: c_int = 0;
        check("cuDeviceGetCount", count(&mut n))?;
        let mut out = Vec::new();
        for i in 0..n.max(0) {
            let mut dev: c_int = 0;
            check("cuDeviceGet", get(&mut dev, i))?;
            let mut buf = [0 as c_char; 256];
            check(
                "cuDeviceGetName",
                name(buf.as_mut_ptr(), buf.len() as c_int - 1, dev),
            )?;
            let name = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
            let mut bytes: usize = 0;
            check("cuDeviceTotalMem", mem(&mut bytes, dev))?;
            let (mut major, mut minor) = (0, 0);
            check("cuDeviceGetAttribute", attr(&mut major, ATTR_MAJOR, dev))?;
            check("cuDeviceGetAttribute", attr(&mut minor, ATTR_MINOR, dev))?;
            out.push(GpuInfo {
                index: i as u32,
                name,
                memory_bytes: bytes as u64,
                compute: (major, minor),
                driver_cuda,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h200() -> Probe {
        Probe::Found(vec![GpuInfo {
            index: 0,
            name: "NVIDIA H200".into(),
            memory_bytes: 143_771 << 20,
            compute: (9, 0),
            driver_cuda: (13, 0),
        }])
    }

    #[test]
    fn the_driver_must_support_the_runtime_shipped() {
        let Probe::Found(mut g) = h200() else {
            unreachable!()
        };
        assert_eq!(check_driver(&g), Ok(()));
        g[0].driver_cuda = (13, 1);
        assert_eq!(check_driver(&g), Ok(()));
        g[0].driver_cuda = (12, 4);
        let why = check_driver(&g).unwrap_err().to_string();
        assert!(
            why.contains("supports CUDA 12.4") && why.contains("needs CUDA 13.0"),
            "{why}"
        );
        assert_eq!(check_driver(&[]), Ok(()));
    }

    fn ready() -> CudaReadiness {
        CudaReadiness {
            helper: Ok(PathBuf::from("/opt/zkinfer/zkinfer-cuda")),
            circuit: None,
        }
    }

    fn no_helper() -> CudaReadiness {
        CudaReadiness {
            helper: Err(Unready::Missing(HelperMissing::NotInstalled {
                dir: "/opt/zkinfer".into(),
            })),
            circuit: None,
        }
    }

    fn two_phase() -> CudaReadiness {
        CudaReadiness {
            circuit: Some("the circuit has two phases".into()),
            ..ready()
        }
    }

    #[test]
    fn cpu_is_always_the_cpu_and_silent() {
        for p in [h200(), Probe::Unavailable("no driver".into())] {
            for r in [ready(), no_helper(), two_phase()] {
                let s = select(DeviceChoice::Cpu, 0, &p, &r).unwrap();
                assert_eq!(s.backend, Backend::Cpu);
                assert_eq!(s.note, None);
            }
        }
    }

    #[test]
    fn a_ready_gpu_is_used_by_auto_and_cuda() {
        for choice in [DeviceChoice::Auto, DeviceChoice::Cuda] {
            let s = select(choice, 0, &h200(), &ready()).unwrap();
            assert_eq!(s.note, None);
            match s.backend {
                Backend::Cuda { helper, gpu } => {
                    assert!(helper.ends_with("zkinfer-cuda"));
                    assert_eq!((gpu.index, gpu.name.as_str()), (0, "NVIDIA H200"));
                }
                other => panic!("expected the CUDA backend, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_gpu_asked_for_is_chosen_or_its_absence_said() {
        let Probe::Found(mut g) = h200() else {
            unreachable!()
        };
        let mut l40 = g[0].clone();
        l40.index = 1;
        l40.name = "NVIDIA L40S".into();
        l40.compute = (8, 9);
        g.push(l40);
        let two = Probe::Found(g);
        let s = select(DeviceChoice::Cuda, 1, &two, &ready()).unwrap();
        match s.backend {
            Backend::Cuda { gpu, .. } => {
                assert_eq!((gpu.index, gpu.name.as_str()), (1, "NVIDIA L40S"));
            }
            other => panic!("expected the CUDA backend, got {other:?}"),
        }
        let e = select(DeviceChoice::Cuda, 2, &two, &ready()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("there is no GPU 2") && msg.contains("H200") && msg.contains("L40S"),
            "{msg}"
        );
        let s = select(DeviceChoice::Auto, 2, &two, &ready()).unwrap();
        assert_eq!(s.backend, Backend::Cpu);
        assert!(s.note.unwrap().contains("there is no GPU 2"));
        // Without any GPU the index does not matter: the usual reasons.
        let none = Probe::Unavailable("no CUDA driver library".into());
        let s = select(DeviceChoice::Auto, 5, &none, &ready()).unwrap();
        assert!(s.note.unwrap().contains("no CUDA driver library"));
    }

    #[test]
    fn auto_falls_back_to_the_cpu_and_says_why() {
        let s = select(
            DeviceChoice::Auto,
            0,
            &Probe::Unavailable("no CUDA driver library".into()),
            &ready(),
        )
        .unwrap();
        assert_eq!(s.backend, Backend::Cpu);
        assert!(s.note.unwrap().contains("no CUDA driver library"));
        for (r, why) in [(no_helper(), "not installed"), (two_phase(), "two phases")] {
            let s = select(DeviceChoice::Auto, 0, &h200(), &r).unwrap();
            assert_eq!(s.backend, Backend::Cpu);
            let note = s.note.unwrap();
            assert!(note.contains("NVIDIA H200") && note.contains(why), "{note}");
        }
        let s = select(DeviceChoice::Auto, 0, &Probe::Found(vec![]), &ready()).unwrap();
        assert!(s.note.unwrap().contains("no CUDA device"));
    }

    #[test]
    fn cuda_is_refused_with_the_reason() {
        let e = select(
            DeviceChoice::Cuda,
            0,
            &Probe::Unavailable("driver error 100".into()),
            &ready(),
        )
        .unwrap_err();
        assert_eq!(e, DeviceError::NoGpu("driver error 100".into()));
        for (r, why) in [(no_helper(), "not installed"), (two_phase(), "two phases")] {
            let e = select(DeviceChoice::Cuda, 0, &h200(), &r).unwrap_err();
            assert!(matches!(e, DeviceError::Unusable { ref gpus, .. } if gpus.contains("H200")));
            let msg = e.to_string();
            assert!(msg.contains(why) && msg.contains("--device cpu"), "{msg}");
        }
    }

    #[test]
    fn probing_never_panics_and_is_consistent() {
        // Whatever this machine has: a list of devices or a reason.
        match probe_cuda() {
            Probe::Found(g) => assert!(g.iter().all(|d| !d.name.is_empty())),
            Probe::Unavailable(why) => assert!(!why.is_empty()),
        }
    }
}
