//! ONNX Runtime's requantization against its own outputs: `models/int8/requant.json` holds
//! QLinearMatMul outputs of ONNX Runtime 1.32 (by `models/generate_int8.py`) with the exact
//! integer accumulators and the scales as f32 bits. The emulated rule must give every output,
//! ties to even included, and a fitted dyadic rule must give ORT's output for every accumulator
//! of the column's interval wherever one exists.

// Test code: clippy.toml's allow-*-in-tests exempts only #[test] functions, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::path::PathBuf;
use zkinfer_circuits::graph::requant::{fit, multiplier, OrtRequant, Rounding};

struct OrtColumn {
    m: f32,
    rule: OrtRequant,
    acc: Vec<i64>,
    y: Vec<i64>,
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn f32_bits(v: &Value) -> f32 {
    f32::from_bits(u32::try_from(v.as_u64().unwrap()).unwrap())
}

fn columns() -> Vec<OrtColumn> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/int8/requant.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        let (qmin, qmax) = if case["type"] == "s8s8" {
            (-128, 127)
        } else {
            (0, 255)
        };
        let a_scale = f32_bits(&case["a_scale_bits"]);
        let y_scale = f32_bits(&case["y_scale_bits"]);
        let zp = case["y_zero_point"].as_i64().unwrap();
        let b_scales = case["b_scale_bits"].as_array().unwrap();
        let accs = case["acc"].as_array().unwrap();
        let ys = case["y"].as_array().unwrap();
        for ((b, acc), y) in b_scales.iter().zip(accs).zip(ys) {
            let m = multiplier(a_scale, f32_bits(b), y_scale);
            out.push(OrtColumn {
                m,
                rule: OrtRequant::new(m, zp, qmin, qmax).unwrap(),
                acc: ints(acc),
                y: ints(y),
            });
        }
    }
    out
}

#[test]
fn the_emulated_rule_is_onnx_runtimes() {
    let cols = columns();
    assert!(cols.len() >= 80);
    let (mut n, mut ties) = (0, 0);
    for c in &cols {
        for (&acc, &y) in c.acc.iter().zip(&c.y) {
            assert_eq!(c.rule.apply(acc), y, "acc {acc}: {:?}", c.rule);
            n += 1;
            // The f32 product on a half: ORT rounded it to even (half up would differ on odd).
            let v = (acc as f32) * c.m;
            if (v - v.floor()) == 0.5 && (v.abs() as i64) < 128 {
                ties += 1;
            }
        }
    }
    assert!(n >= 5000, "{n} outputs");
    assert!(ties >= 100, "{ties} ties");
}

#[test]
fn fitted_rules_give_onnx_runtimes_output_for_every_accumulator() {
    let (mut fitted, mut even, mut refused) = (0, 0, 0);
    for c in columns() {
        // The interval the column's accumulators span, widened to a power of two.
        let reach = c.acc.iter().map(|a| a.abs()).max().unwrap_or(0);
        let bound = i64::try_from((reach as u64 + 1).next_power_of_two())
            .unwrap()
            .min(1 << 18);
        match fit(&c.rule, bound, 62, 31) {
            Some(d) => {
                for a in -bound..=bound {
                    assert_eq!(
                        d.apply(a),
                        c.rule.apply(a),
                        "acc {a}: {d:?} for {:?}",
                        c.rule
                    );
                }
                for (&acc, &y) in c.acc.iter().zip(&c.y) {
                    if acc.abs() <= bound {
                        assert_eq!(d.apply(acc), y);
                    }
                }
                fitted += 1;
                even += usize::from(d.rounding() == Rounding::HalfEven);
            }
            None => refused += 1,
        }
    }
    // The 16 columns with m = 1/8 (a quarter of their accumulators are ties) fit only with
    // halves to even; a few whose f32 product rounds onto a half (double rounding) fit neither.
    eprintln!("{fitted} fitted ({even} half to even), {refused} without a dyadic rule");
    assert!(
        fitted >= 70,
        "{fitted} fitted, {refused} without a dyadic rule"
    );
    assert!(even >= 16, "{even} half to even");
    assert!(
        refused >= 1,
        "double rounding: expected some columns without a rule"
    );
}

// ---------------------------------------------------------------------------------------------
// The requantization chip (`chips::requant`): MockProver on a circuit of requant elements, each
// element's accumulator and output copied from the instance column.

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Circuit, Column, ConstraintSystem, Error, Fixed, Instance};
use zkinfer_circuits::chips::requant::{RequantCells, RequantDims, RequantLane, Slot, ROWS};
use zkinfer_circuits::chips::requant_segment::ElementLane;
use zkinfer_circuits::chips::table::TableConfig;
use zkinfer_circuits::field::{fe, pow2, F};
use zkinfer_circuits::graph::requant::Dyadic;

/// The lane's range-table bits, remainder limbs and quotient limbs.
#[derive(Clone, Copy, Debug)]
struct LaneParams(u32, u32, u32);

impl Default for LaneParams {
    fn default() -> Self {
        LaneParams(8, 3, 1)
    }
}

#[derive(Clone, Debug)]
struct RqConfig {
    lane: RequantLane,
    range: Column<Fixed>,
    instance: Column<Instance>,
}

/// Elements laid out one after the other, then the sentinel row.
#[derive(Clone, Default)]
struct RqCircuit {
    params: LaneParams,
    elems: Vec<(Dyadic, i64, Option<RequantCells>)>,
}

impl Circuit<F> for RqCircuit {
    type Config = RqConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = LaneParams;

    fn without_witnesses(&self) -> Self {
        let elems = self.elems.iter().map(|(d, o, _)| (*d, *o, None)).collect();
        RqCircuit {
            params: self.params,
            elems,
        }
    }

    fn params(&self) -> LaneParams {
        self.params
    }

    fn configure_with_params(cs: &mut ConstraintSystem<F>, p: LaneParams) -> RqConfig {
        let instance = cs.instance_column();
        cs.enable_equality(instance);
        let mut table = TableConfig {
            range: None,
            banks: Vec::new(),
            knots: None,
            range_bits: p.0,
            clamp: None,
        };
        let lane = RequantLane::configure(cs, &mut table, RequantDims::new(p.0, p.1, p.2).unwrap());
        let range = table.range.expect("the lane looks values up");
        RqConfig {
            lane,
            range,
            instance,
        }
    }

    fn configure(_: &mut ConstraintSystem<F>) -> RqConfig {
        unreachable!("configured with params")
    }

    fn synthesize(&self, cfg: RqConfig, mut layouter: impl Layouter<F>) -> Result<(), Error> {
        let cells = layouter.assign_region(
            || "requant",
            |mut region| {
                for v in 0..1u64 << cfg.lane.dims().bits() {
                    region.assign_fixed(cfg.range, v as usize, F::from(v));
                }
                let mut out = Vec::new();
                for (i, (rule, offset, cells)) in self.elems.iter().enumerate() {
                    let row = ROWS * i as u32;
                    let at = (rule, *offset);
                    out.push(
                        cfg.lane
                            .assign_element(&mut region, row, at, cells.as_ref())?,
                    );
                }
                let sentinel = ROWS * self.elems.len() as u32;
                cfg.lane.sentinel(&mut region, sentinel);
                Ok(out)
            },
        )?;
        for (i, (acc, y)) in cells.into_iter().enumerate() {
            layouter.constrain_instance(acc, cfg.instance, 2 * i);
            layouter.constrain_instance(y, cfg.instance, 2 * i + 1);
        }
        Ok(())
    }
}

fn dims(p: LaneParams) -> RequantDims {
    RequantDims::new(p.0, p.1, p.2).unwrap()
}

/// MockProver on the elements, with the instance read off their own cells (so a changed
/// output breaks the chip's relation, not a copy).
fn check(p: LaneParams, elems: Vec<(Dyadic, RequantCells)>) -> bool {
    check_offsets(p, elems.into_iter().map(|(d, c)| (d, 0, c)).collect())
}

/// [`check`] with a constant added to each element's accumulator.
fn check_offsets(p: LaneParams, elems: Vec<(Dyadic, i64, RequantCells)>) -> bool {
    let inst: Vec<F> = elems
        .iter()
        .flat_map(|(_, _, c)| [c.get(Slot::Acc), c.get(Slot::Y)])
        .collect();
    let rows = (ROWS as usize * elems.len() + 1).max(1 << p.0) + 10;
    let k = rows.next_power_of_two().trailing_zeros();
    let circuit = RqCircuit {
        params: p,
        elems: elems.into_iter().map(|(d, o, c)| (d, o, Some(c))).collect(),
    };
    MockProver::run(k, &circuit, vec![inst])
        .unwrap()
        .verify()
        .is_ok()
}

fn rule(mult: i64, shift: u32, even: bool, zp: i64, range: (i64, i64)) -> Dyadic {
    let rounding = if even {
        Rounding::HalfEven
    } else {
        Rounding::HalfUp
    };
    Dyadic::new((mult, shift, rounding), zp, range).unwrap()
}

const INT8: (i64, i64) = (-128, 127);

/// Rules of every kind: halves up and to even (ties reachable: `M` = 1), int8 and uint8, a
/// zero point, a ReLU folded into the clamp, a shift of three limbs.
fn rules() -> Vec<Dyadic> {
    vec![
        rule(1, 3, true, 0, INT8),
        rule(5, 4, true, 3, INT8),
        rule(12_345, 21, false, 0, INT8),
        rule(12_345, 21, false, 128, (0, 255)),
        rule(1_234_567, 23, false, -10, (-10, 127)),
        rule(8_388_607, 24, true, 0, INT8),
    ]
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn the_chip_witness_is_the_rule() {
    let p = dims(LaneParams(8, 3, 1));
    let (mut s, mut accepted) = (0x9e37_79b9_7f4a_7c15, 0);
    for d in rules() {
        for i in 0..4000 {
            // Small accumulators (ties of M = 1 included) and wide ones.
            let acc = match i % 2 {
                0 => (xorshift(&mut s) % 4001) as i64 - 2000,
                _ => (xorshift(&mut s) % (1 << 24)) as i64 - (1 << 23),
            };
            // Refused exactly where the half-up quotient leaves [-2^B, 2^B) (the clamp's
            // headroom is wider for these zero points).
            let q = (i128::from(acc) * i128::from(d.mult()) + (1 << (d.shift() - 1))) >> d.shift();
            match RequantCells::honest(&d, (acc, 0), p) {
                Ok(c) => {
                    assert_eq!(c.get(Slot::Y), fe(i128::from(d.apply(acc))), "{d:?} {acc}");
                    accepted += 1;
                }
                Err(_) => assert!(!(-256..256).contains(&q), "{d:?} refused {acc}"),
            }
        }
    }
    assert!(accepted >= 8_000, "{accepted} accepted");
    // A shift wider than the lane is refused.
    let wide = rule(1, 25, false, 0, INT8);
    assert!(RequantCells::honest(&wide, (1, 0), p).is_err());
}

/// Honest elements of every rule at chosen accumulators: halves both ways, both clamps.
fn honest_elements(p: LaneParams) -> Vec<(Dyadic, RequantCells)> {
    let mut out = Vec::new();
    for d in rules() {
        let step = 1i64 << d.shift();
        let ties = [-12, -4, 4, 12, 20].map(|k| k * step / (8 * d.mult()).max(1));
        for acc in ties
            .into_iter()
            .chain([0, 1, -1, 300, -300, 40_000, -40_000])
        {
            if let Ok(c) = RequantCells::honest(&d, (acc, 0), dims(p)) {
                out.push((d, c));
            }
        }
    }
    out
}

#[test]
fn honest_requant_elements_verify() {
    let p = LaneParams(8, 3, 1);
    let elems = honest_elements(p);
    assert!(elems.len() >= 50, "{} elements", elems.len());
    // Both clamps and both roundings of a half are exercised.
    let y = |e: &(Dyadic, RequantCells)| e.1.get(Slot::Y);
    assert!(elems.iter().any(|e| y(e) == fe(-128)) && elems.iter().any(|e| y(e) == fe(127)));
    assert!(elems.iter().any(|e| e.1.get(Slot::Tie) == F::ONE));
    assert!(check(p, elems));
    // Another lane shape: one 12-bit limb... too narrow for a 21-bit shift, so two.
    let p = LaneParams(12, 2, 1);
    assert!(check(p, honest_elements(p)));
}

/// One element, broken by `edit`, with an honest neighbour on each side.
fn breaks(p: LaneParams, d: Dyadic, acc: i64, edit: impl FnOnce(&mut RequantCells)) -> bool {
    let honest = |a| (d, RequantCells::honest(&d, (a, 0), dims(p)).unwrap());
    let mut bad = honest(acc);
    edit(&mut bad.1);
    assert!(check(
        p,
        vec![honest(acc - 1), honest(acc), honest(acc + 1)]
    ));
    !check(p, vec![honest(acc - 1), bad, honest(acc + 1)])
}

#[test]
fn a_changed_result_or_quotient_fails() {
    let p = LaneParams(8, 3, 1);
    let d = rule(12_345, 21, false, 5, INT8);
    for delta in [F::ONE, -F::ONE] {
        assert!(breaks(p, d, 4321, |c| c.set(Slot::Y, c.get(Slot::Y) + delta)));
        assert!(breaks(p, d, 4321, |c| c.set(Slot::Q, c.get(Slot::Q) + delta)));
    }
}

#[test]
fn a_remainder_shifted_by_the_divisor_fails() {
    let p = LaneParams(8, 3, 1);
    let d = rule(12_345, 21, false, 5, INT8);
    let acc = 4321;
    let width = dims(p).width();
    let x = i128::from(acc) * i128::from(d.mult()) + (1 << (d.shift() - 1));
    let (q, r) = (
        x >> d.shift(),
        (x % (1 << d.shift())) << (width - d.shift()),
    );
    // Both pairs satisfy the division line; their remainders leave [0, 2^N).
    for (q2, r2) in [(q - 1, r + (1 << width)), (q + 1, r - (1 << width))] {
        let forged = RequantCells::with_quotient(&d, acc, (q2, r2), dims(p));
        assert_ne!(forged.get(Slot::Y), fe(i128::from(d.apply(acc))));
        assert!(breaks(p, d, acc, |c| *c = forged));
    }
}

#[test]
fn a_limb_moved_into_its_neighbour_fails() {
    let p = LaneParams(8, 3, 1);
    let d = rule(12_345, 21, false, 5, INT8);
    // r_0 + 2^B and r_1 − 1: the same remainder, a limb out of range.
    assert!(breaks(p, d, 4321, |c| {
        c.set(Slot::Limb(0), c.get(Slot::Limb(0)) + pow2(8));
        c.set(Slot::Limb(1), c.get(Slot::Limb(1)) - F::ONE);
    }));
    // h ± 1 makes q's "parity" ∓ 2 or ± 2 off a bit.
    for delta in [F::ONE, -F::ONE] {
        assert!(breaks(p, d, 4321, |c| c
            .set(Slot::Half(0), c.get(Slot::Half(0)) + delta)));
    }
}

#[test]
fn wrong_rounding_of_ties_fails() {
    let p = LaneParams(8, 3, 1);
    let even = rule(1, 3, true, 0, INT8);
    let up = rule(1, 3, false, 0, INT8);
    // 12/8 = 1.5 → 2 both ways; 20/8 = 2.5 → 2 to even, 3 up; -12/8 → -2 even, -1 up.
    for acc in [20, -12, 4] {
        assert_ne!(even.apply(acc), up.apply(acc));
        let cells = |d: &Dyadic| RequantCells::honest(d, (acc, 0), dims(p)).unwrap();
        // The half-up witness under the half-to-even rule, and the other way round.
        assert!(breaks(p, even, acc, |c| *c = cells(&up)));
        assert!(breaks(p, up, acc, |c| *c = cells(&even)));
    }
    // At a half the inverse is 0: nothing else is left free.
    assert!(breaks(p, even, 20, |c| c.set(Slot::Inv, F::from(5))));
    // Claiming a half where there is none (z = 1 needs r·inv = 0).
    assert!(breaks(p, even, 21, |c| {
        c.set(Slot::Inv, F::ZERO);
        c.set(Slot::Tie, F::ONE);
        c.set(Slot::Y, c.get(Slot::Y) - F::ONE);
    }));
}

#[test]
fn a_wrong_clamp_fails() {
    let p = LaneParams(8, 3, 1);
    let d = rule(1, 3, false, 0, INT8);
    // acc = 1200 → v = 150 > 127: claim "within" (y = v, qmax − v < 0).
    assert!(breaks(p, d, 1200, |c| {
        c.set(Slot::Hi, F::ZERO);
        c.set(Slot::Below(0), fe(150 + 128));
        c.set(Slot::Above, fe(127 - 150));
        c.set(Slot::Y, fe(150));
    }));
    // acc = -1200 → v = -150 < -128: claim "within".
    assert!(breaks(p, d, -1200, |c| {
        c.set(Slot::Lo, F::ZERO);
        c.set(Slot::Below(0), fe(-150 + 128));
        c.set(Slot::Above, fe(127 + 150));
        c.set(Slot::Y, fe(-150));
    }));
    // acc = 80 → v = 10, within: claim "below" (y = qmin, qmin − 1 − v < 0), and "above".
    assert!(breaks(p, d, 80, |c| {
        c.set(Slot::Lo, F::ONE);
        c.set(Slot::Below(0), fe(-128 - 1 - 10));
        c.set(Slot::Above, F::ZERO);
        c.set(Slot::Y, fe(-128));
    }));
    assert!(breaks(p, d, 80, |c| {
        c.set(Slot::Hi, F::ONE);
        c.set(Slot::Below(0), fe(10 - 127 - 1));
        c.set(Slot::Above, F::ZERO);
        c.set(Slot::Y, fe(127));
    }));
    // Both flags: mid = -1, y = qmin + qmax - v, the differences as the gate computes them
    // (2·qmin − qmax − 2 − v and v − qmax: both in range would need qmax < qmin).
    assert!(breaks(p, d, 80, |c| {
        c.set(Slot::Lo, F::ONE);
        c.set(Slot::Hi, F::ONE);
        c.set(Slot::Below(0), fe(2 * -128 - 127 - 2 - 10));
        c.set(Slot::Above, fe(10 - 127));
        c.set(Slot::Y, fe(-128 + 127 - 10));
    }));
}

#[test]
fn onnx_runtimes_outputs_through_the_chip() {
    // Every fitted column of the fixture, at its recorded accumulators: the chip's output is
    // ORT's. A 12-bit table with three limbs holds every fitted shift.
    let p = LaneParams(12, 3, 1);
    let mut elems = Vec::new();
    for c in columns() {
        let reach = c.acc.iter().map(|a| a.abs()).max().unwrap_or(0);
        let Some(d) = fit(&c.rule, reach, 36, 31) else {
            continue;
        };
        for (&acc, &y) in c.acc.iter().zip(&c.y).take(12) {
            let cells = RequantCells::honest(&d, (acc, 0), dims(p)).unwrap();
            assert_eq!(cells.get(Slot::Y), fe(i128::from(y)));
            elems.push((d, cells));
        }
    }
    assert!(elems.len() >= 800, "{} elements", elems.len());
    assert!(check(p, elems));
}

#[test]
fn the_lane_keeps_the_model_circuits_degree_and_blinding_rows() {
    for p in [
        LaneParams(8, 3, 1),
        LaneParams(12, 3, 2),
        LaneParams(16, 7, 3),
    ] {
        let mut cs = ConstraintSystem::<F>::default();
        RqCircuit::configure_with_params(&mut cs, p);
        assert!(
            cs.degree() <= zkinfer_circuits::chips::CONSTRAINT_DEGREE,
            "{p:?}: {}",
            cs.degree()
        );
        // Three rotations per column at most: halo2's blinding rows are the model circuit's.
        assert_eq!(
            cs.blinding_factors() + 1,
            zkinfer_circuits::plan::RESERVED_ROWS,
            "{p:?}"
        );
    }
}

#[test]
fn an_offset_is_added_to_the_accumulator_and_is_part_of_the_statement() {
    let p = LaneParams(8, 3, 1);
    let d = rule(12_345, 21, false, 5, INT8);
    let honest = |acc, off| RequantCells::honest(&d, (acc, off), dims(p)).unwrap();
    let elems: Vec<(Dyadic, i64, RequantCells)> = [(4321, 0), (4321, 900), (-700, -2000)]
        .into_iter()
        .map(|(acc, off)| (d, off, honest(acc, off)))
        .collect();
    for (_, off, c) in &elems {
        let acc = if *off == 900 || *off == 0 { 4321 } else { -700 };
        assert_eq!(c.get(Slot::Y), fe(i128::from(d.apply(acc + off))));
        assert_eq!(c.get(Slot::Acc), fe(i128::from(acc)));
    }
    assert_ne!(elems[0].2.get(Slot::Y), elems[1].2.get(Slot::Y));
    assert!(check_offsets(p, elems.clone()));
    // The witness for offset 900 laid out with offset 0 (or the other way round) fails.
    let mut swapped = elems.clone();
    swapped[1].1 = 0;
    assert!(!check_offsets(p, swapped));
    let mut swapped = elems;
    swapped[0].1 = 900;
    assert!(!check_offsets(p, swapped));
}

#[test]
fn wide_quotients_are_checked_in_limbs_of_the_table() {
    // One quotient limb of 8 bits holds |q| < 256; two hold |q| < 2^16.
    let d = rule(1, 1, true, 0, INT8);
    let narrow = dims(LaneParams(8, 1, 1));
    assert!(RequantCells::honest(&d, (3001, 0), narrow).is_err());
    let p = LaneParams(8, 1, 2);
    let cells = |acc| RequantCells::honest(&d, (acc, 0), dims(p)).unwrap();
    // 3001/2 = 1500.5 → 1500 to even, clamped to 127; -3001/2 → -1500 → -128; 21/2 → 10.
    assert_eq!(cells(3001).get(Slot::Y), fe(127));
    assert_eq!(cells(-3001).get(Slot::Y), fe(-128));
    let elems: Vec<(Dyadic, RequantCells)> = [3001, -3001, 21, -21, 255, 40_000]
        .map(|a| (d, cells(a)))
        .into();
    assert!(check(p, elems));
    // A limb of a wide check moved into its neighbour (the same sum) fails, and so does a
    // witness claiming "within the range" for q = 1500.
    for slot in [Slot::Below, Slot::Half] {
        assert!(breaks(p, d, 3001, |c| {
            c.set(slot(0), c.get(slot(0)) + pow2(8));
            c.set(slot(1), c.get(slot(1)) - F::ONE);
        }));
    }
    assert!(breaks(p, d, 3001, |c| {
        c.set(Slot::Hi, F::ZERO);
        c.set(Slot::Below(0), fe(1500 + 128));
        c.set(Slot::Below(1), F::ZERO);
        c.set(Slot::Above, fe(127 - 1500));
        c.set(Slot::Y, fe(1500));
    }));
}
