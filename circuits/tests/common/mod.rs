//! Helpers shared by the circuit test files.

use halo2_proofs::dev::{AdviceCellValue, CellValue, MockProver};
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Expression};
use zkinfer_circuits::field::F;
use zkinfer_circuits::plan::CircuitShape;
use zkinfer_circuits::ModelCircuit;

/// Lookups whose input tuple, or table tuple, is zero on every usable row. halo2-axiom-gpu
/// pads the permuted lookup columns with zeros instead of random blinding values, so such a
/// lookup gives a commitment at the point at infinity, which the transcript (and the EVM
/// verifier) refuses: a circuit must never have one, whatever the input.
pub fn all_zero_lookups(prover: &MockProver<F>, shape: &CircuitShape) -> Vec<String> {
    let mut cs = ConstraintSystem::<F>::default();
    ModelCircuit::configure_with_params(&mut cs, shape.clone());
    // Every row halo2 permutes: the chips' rows and the sentinel row.
    let usable = shape.sentinel_row() as usize + 1;
    assert_eq!(
        usable,
        (1usize << shape.k) - (cs.blinding_factors() + 1),
        "the sentinel row is not halo2's last usable row"
    );
    // Column handles by index (halo2 hands them out only through a constraint system).
    let mut handles = ConstraintSystem::<F>::default();
    let advice: Vec<Column<Advice>> = (0..cs.num_advice_columns())
        .map(|_| handles.advice_column())
        .collect();
    let n = 1i64 << shape.k;
    let at = |row: usize, rot: i32| ((row as i64 + rot as i64).rem_euclid(n)) as usize;
    let value = |e: &Expression<F>, row: usize| -> F {
        e.evaluate(
            &|c| c,
            &|_| panic!("selector in a lookup"),
            &|q| match prover.fixed()[q.column_index()][at(row, q.rotation().0)] {
                CellValue::Assigned(v) => v,
                _ => F::ZERO,
            },
            &|q| match &prover.advice_values(advice[q.column_index()])[at(row, q.rotation().0)] {
                AdviceCellValue::Assigned(v) => v.evaluate(),
                AdviceCellValue::Poison(_) => F::ZERO,
            },
            &|_| panic!("instance in a lookup"),
            &|_| panic!("challenge in a lookup"),
            &|a| -a,
            &|a, b| a + b,
            &|a, b| a * b,
            &|a, s| a * s,
        )
    };
    let zero_everywhere =
        |es: &[Expression<F>]| (0..usable).all(|r| es.iter().all(|e| value(e, r) == F::ZERO));
    let mut bad = Vec::new();
    for l in cs.lookups() {
        if zero_everywhere(l.input_expressions()) {
            bad.push(format!("{} (input)", l.name()));
        }
        if zero_everywhere(l.table_expressions()) {
            bad.push(format!("{} (table)", l.name()));
        }
    }
    bad
}
