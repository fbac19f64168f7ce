//! With the `cuda` feature, `zkinfer-cuda-check` looks for the CUDA runtime
//! (`libcudart.so.13`, shipped beside it by scripts/build-cuda) in its own folder first.
fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_CUDA");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN");
    }
}
