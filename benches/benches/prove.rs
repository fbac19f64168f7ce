//! Criterion: proving time per shared model (keys in memory, witness included).

// A benchmark binary, not library code: it stops on the first failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion};
use zkinfer_benches::{prepare, shared_model, MODELS};
use zkinfer_circuits::input::InputData;
use zkinfer_prover::CpuMsm;
use zkinfer_prover::{load_prover, Silent};

fn prove(c: &mut Criterion) {
    let mut group = c.benchmark_group("prove");
    group.sample_size(10);
    for name in MODELS {
        let dir = tempfile::tempdir().expect("temp dir");
        if let Err(e) = prepare(name, dir.path()) {
            eprintln!("skipping {name}: {e}");
            continue;
        }
        let prover = load_prover(dir.path(), CpuMsm, &Silent).expect("prover");
        let input = InputData::from_path(&shared_model(name).join("input.json")).expect("input");
        group.bench_function(*name, |b| {
            b.iter(|| {
                prover
                    .prove(prover.witness(&input).expect("witness"))
                    .expect("proof")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, prove);
criterion_main!(benches);
