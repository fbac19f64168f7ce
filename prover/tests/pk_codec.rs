//! The compact proving-key form gives back halo2's key exactly, and refuses bad bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use halo2_proofs::halo2curves::bn256::G1Affine;
use halo2_proofs::plonk::ProvingKey;
use halo2_proofs::SerdeFormat;
use std::path::PathBuf;
use zkinfer_circuits::ModelCircuit;
use zkinfer_onnx::CompileOptions;
use zkinfer_prover::keys::keygen;
use zkinfer_prover::pk_codec::{read_compact, write_compact};
use zkinfer_prover::Srs;

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models")
        .join(name)
}

fn same(a: &ProvingKey<G1Affine>, b: &ProvingKey<G1Affine>) {
    assert_eq!(
        a.get_vk().to_bytes(SerdeFormat::RawBytes),
        b.get_vk().to_bytes(SerdeFormat::RawBytes)
    );
    assert_eq!(a.l0().values(), b.l0().values());
    assert_eq!(a.l_last().values(), b.l_last().values());
    assert_eq!(a.l_active_row().values(), b.l_active_row().values());
    let pairs = a.fixed_values().iter().zip(b.fixed_values());
    assert_eq!(a.fixed_values().len(), b.fixed_values().len());
    for (x, y) in pairs {
        assert_eq!(x.values(), y.values());
    }
    for (x, y) in a.fixed_polys().iter().zip(b.fixed_polys()) {
        assert_eq!(x.values(), y.values());
    }
    let (pa, pb) = (a.permutation(), b.permutation());
    assert_eq!(pa.permutations().len(), pb.permutations().len());
    for (x, y) in pa.permutations().iter().zip(pb.permutations()) {
        assert_eq!(x.values(), y.values());
    }
    for (x, y) in pa.polys().iter().zip(pb.polys()) {
        assert_eq!(x.values(), y.values());
    }
}

#[test]
fn compact_keys_read_back_equal_and_small_and_bad_bytes_are_refused() {
    let src = shared("1l_conv");
    let c = zkinfer_onnx::compile(
        &src.join("network.onnx"),
        &src.join("input.json"),
        &CompileOptions::default(),
    )
    .unwrap();
    let shape = c.model.shape.clone();
    let keys = keygen(&c.model, &Srs::development(shape.k)).unwrap();
    let mut compact = Vec::new();
    write_compact(&keys.pk, &mut compact).unwrap();
    let full = keys.pk.to_bytes(SerdeFormat::RawBytesUnchecked);
    eprintln!(
        "k = {}: compact {} bytes, halo2's form {} bytes",
        shape.k,
        compact.len(),
        full.len()
    );
    assert!(compact.len() * 4 < full.len());
    let back = read_compact::<ModelCircuit>(&compact, shape.k, shape.clone()).unwrap();
    same(&keys.pk, &back);

    // Another size, a truncation, trailing bytes, a permutation entry naming no cell.
    assert!(read_compact::<ModelCircuit>(&compact, shape.k + 1, shape.clone()).is_err());
    for cut in [0, 7, 100, compact.len() / 2, compact.len() - 1] {
        assert!(read_compact::<ModelCircuit>(&compact[..cut], shape.k, shape.clone()).is_err());
    }
    let mut longer = compact.clone();
    longer.push(0);
    assert!(read_compact::<ModelCircuit>(&longer, shape.k, shape.clone()).is_err());
    let mut bad = compact.clone();
    let n = bad.len();
    bad[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = read_compact::<ModelCircuit>(&bad, shape.k, shape.clone()).unwrap_err();
    assert!(e.to_string().contains("names no cell"), "{e}");
    // A changed permutation entry reads, but not as the same key.
    let mut moved = compact.clone();
    moved[n - 4..].copy_from_slice(&0u32.to_le_bytes());
    let other = read_compact::<ModelCircuit>(&moved, shape.k, shape).unwrap();
    let last = other.permutation().permutations().len() - 1;
    assert_ne!(
        other.permutation().permutations()[last].values(),
        keys.pk.permutation().permutations()[last].values()
    );
}
