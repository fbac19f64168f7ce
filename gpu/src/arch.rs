//! Which GPUs a CUDA build's kernels run on.
//!
//! `zkinfer-cuda` is compiled for the architectures listed in `CUDA_ARCH` when it is built
//! (scripts/build-cuda, default `90`). halo2-axiom-gpu's build (openvm-cuda-builder 2.0.1)
//! puts in machine code (SASS) for each listed architecture and PTX for the greatest entry,
//! compared as text, as that builder does. A GPU can run the kernels when
//! - some SASS entry has the GPU's major version and a minor version not above the GPU's
//!   (`sm_90a`, arch-specific, only the exact version), or
//! - the PTX entry (when it has no `a`/`f` suffix) is not above the GPU's compute capability:
//!   the driver then compiles it on first use.
//!
//! Elsewhere every kernel launch fails ("no kernel image is available"); knowing this before
//! proving lets the error say which `CUDA_ARCH` to rebuild with.

use crate::device::GpuInfo;
use std::fmt;
use thiserror::Error;

/// One `CUDA_ARCH` entry, e.g. `90` (compute 9.0), `89`, `120`, `90a`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaArch {
    text: String,
    major: i32,
    minor: i32,
    /// `a` (arch-specific) or `f` (family-specific) builds.
    suffix: Option<char>,
}

/// A `CUDA_ARCH` value that is not a list of architectures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("`{0}` is not a CUDA architecture list (expected e.g. `90` or `80,90`)")]
pub struct ArchParseError(pub String);

impl CudaArch {
    fn parse(s: &str) -> Result<Self, ArchParseError> {
        let bad = || ArchParseError(s.to_string());
        let (digits, suffix) = match s.strip_suffix(['a', 'f']) {
            Some(d) => (d, s.chars().last()),
            None => (s, None),
        };
        if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: i32 = digits.parse().map_err(|_| bad())?;
        Ok(CudaArch {
            text: s.to_string(),
            major: n / 10,
            minor: n % 10,
            suffix,
        })
    }

    fn sass_runs_on(&self, (major, minor): (i32, i32)) -> bool {
        match self.suffix {
            Some('a') => (major, minor) == (self.major, self.minor),
            _ => major == self.major && minor >= self.minor,
        }
    }

    fn ptx_runs_on(&self, compute: (i32, i32)) -> bool {
        self.suffix.is_none() && compute >= (self.major, self.minor)
    }
}

/// The `CUDA_ARCH` entry for compute capability `compute`: major and minor digits, e.g. `89`
/// for 8.9.
pub fn cuda_arch_of((major, minor): (i32, i32)) -> String {
    format!("{major}{minor}")
}

/// The kernels a build carries: SASS per `CUDA_ARCH` entry, PTX for the greatest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelTargets {
    sass: Vec<CudaArch>,
    ptx: CudaArch,
}

/// How a GPU runs a build's kernels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Runs {
    /// Machine code built for it.
    Sass(String),
    /// PTX compiled by the driver on first use (a slower first proof).
    Ptx(String),
}

impl fmt::Display for Runs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runs::Sass(a) => write!(f, "sm_{a} machine code"),
            Runs::Ptx(a) => write!(f, "PTX compute_{a}, compiled by the driver at first use"),
        }
    }
}

/// A GPU the build's kernels cannot run on.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error(
    "the CUDA prover was built with kernels for {targets}, which cannot run on {gpu}; rebuild it with `CUDA_ARCH={want} scripts/build-cuda` (see docs/gpu.md)"
)]
pub struct ArchMismatch {
    /// What the build has.
    pub targets: String,
    /// The GPU.
    pub gpu: String,
    /// The `CUDA_ARCH` value that would work.
    pub want: String,
}

impl KernelTargets {
    /// Parses a `CUDA_ARCH` value (comma-separated entries, as the build reads it). `None`
    /// for an empty value (unset or empty at build time: the build then auto-detected its
    /// machine's GPU or left the target to nvcc, and nothing was recorded).
    pub fn parse(cuda_arch: &str) -> Result<Option<Self>, ArchParseError> {
        let entries: Vec<&str> = cuda_arch
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        // The build's choice of PTX: the greatest entry as text.
        let Some(greatest) = entries.iter().max() else {
            return Ok(None);
        };
        Ok(Some(KernelTargets {
            ptx: CudaArch::parse(greatest)?,
            sass: entries
                .iter()
                .map(|e| CudaArch::parse(e))
                .collect::<Result<_, _>>()?,
        }))
    }

    /// How a GPU of compute capability `compute` runs these kernels, if it can.
    pub fn runs_on(&self, compute: (i32, i32)) -> Option<Runs> {
        if let Some(a) = self.sass.iter().find(|a| a.sass_runs_on(compute)) {
            return Some(Runs::Sass(a.text.clone()));
        }
        self.ptx
            .ptx_runs_on(compute)
            .then(|| Runs::Ptx(self.ptx.text.clone()))
    }

    /// [`runs_on`](Self::runs_on) for `gpu`, or the error naming the `CUDA_ARCH` to use.
    pub fn check(&self, gpu: &GpuInfo) -> Result<Runs, ArchMismatch> {
        self.runs_on(gpu.compute).ok_or_else(|| ArchMismatch {
            targets: self.to_string(),
            gpu: gpu.to_string(),
            want: cuda_arch_of(gpu.compute),
        })
    }
}

impl fmt::Display for KernelTargets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sass: Vec<String> = self.sass.iter().map(|a| format!("sm_{}", a.text)).collect();
        write!(f, "{}", sass.join(", "))?;
        if self.ptx.suffix.is_none() {
            write!(f, " + PTX compute_{}", self.ptx.text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> KernelTargets {
        KernelTargets::parse(s).unwrap().unwrap()
    }

    fn gpu(name: &str, compute: (i32, i32)) -> GpuInfo {
        GpuInfo {
            index: 0,
            name: name.into(),
            memory_bytes: 24 << 30,
            compute,
            driver_cuda: (13, 0),
        }
    }

    #[test]
    fn parses_what_the_build_reads() {
        assert_eq!(KernelTargets::parse("").unwrap(), None);
        assert_eq!(KernelTargets::parse(" , ").unwrap(), None);
        assert_eq!(t("90").to_string(), "sm_90 + PTX compute_90");
        assert_eq!(t("80, 90").to_string(), "sm_80, sm_90 + PTX compute_90");
        // The PTX entry is the greatest as text, as openvm-cuda-builder picks it.
        assert_eq!(t("100,90").to_string(), "sm_100, sm_90 + PTX compute_90");
        assert_eq!(t("90a").to_string(), "sm_90a");
        // Empty entries are skipped, as the build skips them.
        assert_eq!(t("90,"), t("90"));
        for bad in ["9", "sm_90", "90x", "ab", "90,8.9", "a"] {
            let e = KernelTargets::parse(bad).unwrap_err();
            assert!(e.to_string().contains("not a CUDA architecture"), "{e}");
        }
    }

    #[test]
    fn machine_code_runs_within_its_major_version() {
        let h = t("90");
        assert_eq!(h.runs_on((9, 0)), Some(Runs::Sass("90".into())));
        // 8.0 < 9.0: neither the SASS nor the PTX.
        assert_eq!(h.runs_on((8, 0)), None);
        assert_eq!(h.runs_on((8, 9)), None);
        assert_eq!(h.runs_on((7, 5)), None);
        let a = t("80");
        assert_eq!(a.runs_on((8, 6)), Some(Runs::Sass("80".into())));
        assert_eq!(a.runs_on((8, 9)), Some(Runs::Sass("80".into())));
        // 8.6 machine code does not run on 8.0, nor does its PTX.
        assert_eq!(t("86").runs_on((8, 0)), None);
        // Arch-specific: the exact version only, and no PTX.
        let s = t("90a");
        assert_eq!(s.runs_on((9, 0)), Some(Runs::Sass("90a".into())));
        assert_eq!(s.runs_on((10, 0)), None);
        assert_eq!(t("100f").runs_on((10, 3)), Some(Runs::Sass("100f".into())));
        assert_eq!(t("100f").runs_on((12, 0)), None);
    }

    #[test]
    fn newer_gpus_compile_the_ptx() {
        let h = t("90");
        assert_eq!(h.runs_on((10, 0)), Some(Runs::Ptx("90".into())));
        assert_eq!(h.runs_on((12, 0)), Some(Runs::Ptx("90".into())));
        // SASS is preferred when there is some.
        assert_eq!(t("80,90").runs_on((8, 9)), Some(Runs::Sass("80".into())));
        // The text order of "100" < "90" leaves PTX compute_90 (not 10.0) in the build.
        assert_eq!(t("100,90").runs_on((12, 0)), Some(Runs::Ptx("90".into())));
    }

    #[test]
    fn a_mismatch_names_the_arch_to_rebuild_with() {
        let e = t("90")
            .check(&gpu("NVIDIA GeForce RTX 4090", (8, 9)))
            .unwrap_err();
        assert_eq!(e.want, "89");
        let msg = e.to_string();
        assert!(
            msg.contains("sm_90 + PTX compute_90")
                && msg.contains("RTX 4090")
                && msg.contains("compute 8.9")
                && msg.contains("CUDA_ARCH=89 scripts/build-cuda"),
            "{msg}"
        );
        let ok = t("90").check(&gpu("NVIDIA H200", (9, 0))).unwrap();
        assert_eq!(ok.to_string(), "sm_90 machine code");
        let jit = t("90").check(&gpu("NVIDIA B200", (10, 0))).unwrap();
        assert!(jit.to_string().contains("PTX compute_90"), "{jit}");
        assert_eq!(cuda_arch_of((10, 0)), "100");
    }
}
