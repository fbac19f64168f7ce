//! With the `cuda` feature, the `zkinfer-cuda` executable looks for the CUDA runtime
//! (`libcudart.so.13`, shipped beside it by scripts/build-cuda) in its own folder first.
//!
//! It also records the `CUDA_ARCH` halo2-axiom-gpu's kernels are compiled for (the same
//! variable its build reads; unset or empty: not recorded), so that `zkinfer-cuda` can
//! tell before proving whether they run on the GPU it finds.
fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_CUDA");
    println!("cargo:rerun-if-env-changed=CUDA_ARCH");
    let arch = std::env::var("CUDA_ARCH").unwrap_or_default();
    println!("cargo:rustc-env=ZKINFER_CUDA_ARCH={arch}");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN");
    }
}
