//! The one-row requantization chip (`chips::requant_row`): MockProver on a circuit of
//! elements, each element's accumulator and output copied from the instance column, with the
//! range and clamp tables. Honest witnesses give the rule's output (ties both ways, both
//! clamps); each cell moved by one (on a half and off one), the forged quotient/remainder
//! pairs, a limb moved into its neighbour, the other rounding of a half, a half claimed where
//! there is none or corrected the wrong way, and each wrong clamp fail.

// Test code: clippy.toml's allow-*-in-tests exempts only #[test] functions, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use halo2_proofs::circuit::{Layouter, SimpleFloorPlanner};
use halo2_proofs::dev::MockProver;
use halo2_proofs::halo2curves::ff::Field;
use halo2_proofs::plonk::{Circuit, Column, ConstraintSystem, Error, Fixed, Instance};
use zkinfer_circuits::chips::requant::RequantDims;
use zkinfer_circuits::chips::requant_row::{clamp_reach, RowCells, RowRequantLane, RowSlot};
use zkinfer_circuits::chips::requant_segment::ElementLane;
use zkinfer_circuits::chips::table::{clamp_rows, TableConfig};
use zkinfer_circuits::field::{fe, pow2, F};
use zkinfer_circuits::graph::requant::{Dyadic, Rounding};

/// A 10-bit range table (the clamp table reaches 768 either side) and three remainder limbs.
const BITS: u32 = 10;
const LIMBS: u32 = 3;
const INT8: (i64, i64) = (-128, 127);
const WIDTH: i64 = 255;

fn dims() -> RequantDims {
    RequantDims::new(BITS, LIMBS, 1).unwrap()
}

#[derive(Clone, Debug)]
struct RowConfig {
    lane: RowRequantLane,
    range: Column<Fixed>,
    clamp: [Column<Fixed>; 3],
    instance: Column<Instance>,
}

/// Elements laid out one per row, then the sentinel row.
#[derive(Clone, Default)]
struct RowCircuit {
    elems: Vec<(Dyadic, i64, Option<RowCells>)>,
}

impl Circuit<F> for RowCircuit {
    type Config = RowConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = ();

    fn without_witnesses(&self) -> Self {
        let elems = self.elems.iter().map(|(d, o, _)| (*d, *o, None)).collect();
        RowCircuit { elems }
    }

    fn configure(cs: &mut ConstraintSystem<F>) -> RowConfig {
        let instance = cs.instance_column();
        cs.enable_equality(instance);
        let mut table = TableConfig {
            range: None,
            banks: Vec::new(),
            knots: None,
            range_bits: BITS,
            clamp: None,
        };
        let lane = RowRequantLane::configure(cs, &mut table, dims());
        RowConfig {
            lane,
            range: table.range.expect("the limbs are looked up"),
            clamp: table.clamp.expect("the clamp is looked up"),
            instance,
        }
    }

    fn synthesize(&self, cfg: RowConfig, mut layouter: impl Layouter<F>) -> Result<(), Error> {
        let cells = layouter.assign_region(
            || "requant rows",
            |mut region| {
                for v in 0..1usize << BITS {
                    region.assign_fixed(cfg.range, v, F::from(v as u64));
                }
                for (row, entry) in clamp_rows(BITS, WIDTH).enumerate() {
                    for (&c, v) in cfg.clamp.iter().zip(entry) {
                        region.assign_fixed(c, row, v);
                    }
                }
                let mut out = Vec::new();
                for (row, (rule, offset, cells)) in self.elems.iter().enumerate() {
                    let at = (rule, *offset);
                    out.push(cfg.lane.assign_element(
                        &mut region,
                        row as u32,
                        at,
                        cells.as_ref(),
                    )?);
                }
                cfg.lane.sentinel(&mut region, self.elems.len() as u32);
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

/// MockProver on the elements, the instance read off their own cells (so a changed output
/// breaks the chip's relation, not a copy).
fn verifies(elems: Vec<(Dyadic, i64, RowCells)>) -> bool {
    let inst: Vec<F> = elems
        .iter()
        .flat_map(|(_, _, c)| [c.get(RowSlot::Acc), c.get(RowSlot::Y)])
        .collect();
    let rows = (elems.len() + 1).max(2 * clamp_reach(BITS) as usize) + 10;
    let k = rows.next_power_of_two().trailing_zeros();
    let circuit = RowCircuit {
        elems: elems.into_iter().map(|(d, o, c)| (d, o, Some(c))).collect(),
    };
    MockProver::run(k, &circuit, vec![inst])
        .unwrap()
        .verify()
        .is_ok()
}

/// The rule `clamp(round(acc·mult / 2^shift) + zp)` with halves up.
fn up(mult: i64, shift: u32, zp: i64, range: (i64, i64)) -> Dyadic {
    Dyadic::new((mult, shift, Rounding::HalfUp), zp, range).unwrap()
}

/// The same with halves to even.
fn even(mult: i64, shift: u32, zp: i64, range: (i64, i64)) -> Dyadic {
    Dyadic::new((mult, shift, Rounding::HalfEven), zp, range).unwrap()
}

fn honest(d: &Dyadic, acc: i64, off: i64) -> RowCells {
    RowCells::honest(d, (acc, off), dims(), WIDTH).unwrap()
}

/// Rules of every kind the lane holds: halves up and to even (ties reachable with `M` = 1),
/// int8 and uint8, zero points of both parities, a range moved by centring, three limbs.
fn rules() -> Vec<Dyadic> {
    vec![
        even(1, 3, 0, INT8),
        even(5, 4, 3, INT8),
        even(3, 2, -7, (-123, 132)),
        up(12_345, 21, 0, INT8),
        up(12_345, 21, 128, (0, 255)),
        even(8_388_607, 24, 0, INT8),
    ]
}

#[test]
fn the_witness_is_the_rule_wherever_the_table_reaches() {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let (mut accepted, mut refused) = (0, 0);
    for d in rules() {
        for i in 0..3000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let acc = match i % 2 {
                0 => (s % 4001) as i64 - 2000,
                _ => (s % (1 << 24)) as i64 - (1 << 23),
            };
            let qr = d.divide(i128::from(acc)).unwrap();
            // u = q − t + zp − qmin + D.
            let u = d.unclamped(qr) - i128::from(d.range().0) + clamp_reach(BITS);
            match RowCells::honest(&d, (acc, 0), dims(), WIDTH) {
                Ok(c) => {
                    assert_eq!(
                        c.get(RowSlot::Y),
                        fe(i128::from(d.apply(acc))),
                        "{d:?} {acc}"
                    );
                    accepted += 1;
                }
                // Refused exactly where u leaves the table, [0, 2D).
                Err(_) => {
                    assert!(!(0..2 * clamp_reach(BITS)).contains(&u), "{d:?} {acc}");
                    refused += 1;
                }
            }
        }
    }
    assert!(
        accepted >= 7_000 && refused >= 100,
        "{accepted} / {refused}"
    );
    // A shift wider than the lane, and a range of another width, are refused.
    assert!(RowCells::honest(&up(1, 31, 0, INT8), (1, 0), dims(), WIDTH).is_err());
    assert!(RowCells::honest(&up(1, 3, 0, (-10, 127)), (1, 0), dims(), WIDTH).is_err());
}

/// Honest elements of every rule: ties both ways, both clamps, offsets.
fn honest_elements() -> Vec<(Dyadic, i64, RowCells)> {
    let mut out = Vec::new();
    for d in rules() {
        let step = 1i64 << d.shift();
        let ties = [-12, -4, 4, 12, 20].map(|k| k * step / (8 * d.mult()).max(1));
        for acc in ties
            .into_iter()
            .chain([0, 1, -1, 300, -300, 1500, -1500, 40_000, -40_000])
        {
            for off in [0, 7] {
                if let Ok(c) = RowCells::honest(&d, (acc, off), dims(), WIDTH) {
                    out.push((d, off, c));
                }
            }
        }
    }
    out
}

#[test]
fn honest_elements_verify() {
    let elems = honest_elements();
    assert!(elems.len() >= 80, "{} elements", elems.len());
    let ys: Vec<F> = elems.iter().map(|e| e.2.get(RowSlot::Y)).collect();
    assert!(ys.contains(&fe(-128)) && ys.contains(&fe(127)) && ys.contains(&fe(255)));
    assert!(elems.iter().any(|e| e.2.get(RowSlot::Tie) == F::ONE));
    assert!(verifies(elems));
}

/// One element (rule `d`, accumulator `acc`) broken by `edit`, between honest neighbours:
/// the honest three verify, the broken ones do not.
fn breaks(d: Dyadic, acc: i64, edit: impl FnOnce(&mut RowCells)) -> bool {
    let three = |mid: RowCells| {
        vec![
            (d, 0, honest(&d, acc - 1, 0)),
            (d, 0, mid),
            (d, 0, honest(&d, acc + 1, 0)),
        ]
    };
    assert!(verifies(three(honest(&d, acc, 0))));
    let mut bad = honest(&d, acc, 0);
    edit(&mut bad);
    !verifies(three(bad))
}

#[test]
fn a_changed_cell_fails() {
    let slots = [
        RowSlot::Acc,
        RowSlot::Y,
        RowSlot::Q,
        RowSlot::Inv,
        RowSlot::Tie,
        RowSlot::Par,
        RowSlot::Limb(0),
        RowSlot::Limb(1),
        RowSlot::Limb(2),
    ];
    // Off a half (a rule up), and on one (20/8 = 2.5 → 2 to even: t = 1, r = 0, inv = 0).
    for (d, acc) in [(up(12_345, 21, 5, INT8), 4321), (even(1, 3, 0, INT8), 20)] {
        for slot in slots {
            for delta in [F::ONE, -F::ONE] {
                assert!(
                    breaks(d, acc, |c| c.set(slot, c.get(slot) + delta)),
                    "{d:?} {acc} {slot:?}"
                );
            }
        }
    }
}

#[test]
fn a_remainder_shifted_by_the_divisor_or_a_moved_limb_fails() {
    let d = up(12_345, 21, 5, INT8);
    let (acc, width) = (4321, dims().width());
    let (q, r) = d.divide(acc.into()).unwrap();
    let r = r << (width - d.shift());
    for (q2, r2) in [(q - 1, r + (1 << width)), (q + 1, r - (1 << width))] {
        let forged = RowCells::with_quotient(&d, acc, (q2, r2, false), dims());
        assert_ne!(forged.get(RowSlot::Y), fe(i128::from(d.apply(acc))));
        assert!(breaks(d, acc, |c| *c = forged));
    }
    // r_0 + 2^B and r_1 − 1: the same remainder, a limb out of range.
    assert!(breaks(d, acc, |c| {
        c.set(RowSlot::Limb(0), c.get(RowSlot::Limb(0)) + pow2(BITS));
        c.set(RowSlot::Limb(1), c.get(RowSlot::Limb(1)) - F::ONE);
    }));
}

#[test]
fn wrong_rounding_of_a_half_fails() {
    let to_even = even(1, 3, 0, INT8);
    let half_up = up(1, 3, 0, INT8);
    // 20/8 = 2.5 → 2 to even, 3 up; -12/8 = -1.5 → -2 to even, -1 up; 4/8 → 0 to even, 1 up.
    for acc in [20, -12, 4] {
        assert_ne!(to_even.apply(acc), half_up.apply(acc));
        // The half-up witness under the rule to even, and the other way round.
        assert!(breaks(to_even, acc, |c| *c = honest(&half_up, acc, 0)));
        assert!(breaks(half_up, acc, |c| *c = honest(&to_even, acc, 0)));
    }
    // At a half the inverse is 0.
    assert!(breaks(to_even, 20, |c| c.set(RowSlot::Inv, F::from(5))));
    // A half claimed where there is none: the correction without r = 0.
    assert!(breaks(to_even, 21, |c| {
        let (q, r) = to_even.divide(21).unwrap();
        *c = RowCells::with_quotient(&to_even, 21, (q, r << (dims().width() - 3), true), dims());
    }));
    // A half corrected the wrong way: 12/8 = 1.5, q = 2 is even, t = 1 claimed anyway (the
    // lookup is consistent with it; only `q − t` even fails), for an odd `zp − qmin + D` too.
    for d in [even(1, 3, 0, INT8), even(1, 3, 3, INT8)] {
        let (q, r) = d.divide(12).unwrap();
        assert_eq!((q, r), (2, 0));
        let forged = RowCells::with_quotient(&d, 12, (q, 0, true), dims());
        assert!(breaks(d, 12, |c| *c = forged), "{d:?}");
    }
    // A rule whose zero point makes `zp − qmin + D` odd (the table's parity is of u, not q).
    let odd = even(1, 3, 3, INT8);
    for acc in [20, -12, 4, 12] {
        let other = honest(&up(1, 3, 3, INT8), acc, 0);
        if other.get(RowSlot::Y) != honest(&odd, acc, 0).get(RowSlot::Y) {
            assert!(breaks(odd, acc, |c| *c = other));
        }
    }
}

#[test]
fn a_wrong_clamp_fails() {
    let d = up(1, 3, 0, INT8);
    // acc = 1200 → v = 150: y = 150 or 126 instead of 127; acc = -1200 → -150 instead of -128;
    // acc = 80 → 10, within: y = qmin or qmax instead.
    for (acc, y) in [
        (1200, 150),
        (1200, 126),
        (-1200, -150),
        (80, -128),
        (80, 127),
    ] {
        assert!(breaks(d, acc, |c| c.set(RowSlot::Y, fe(y))), "{acc} {y}");
    }
}

#[test]
fn an_offset_is_part_of_the_statement() {
    let d = up(12_345, 21, 5, INT8);
    let elems = vec![(d, 0, honest(&d, 4321, 0)), (d, 900, honest(&d, 4321, 900))];
    assert_ne!(elems[0].2.get(RowSlot::Y), elems[1].2.get(RowSlot::Y));
    assert!(verifies(elems.clone()));
    let mut swapped = elems;
    swapped[1].1 = 0;
    assert!(!verifies(swapped));
}

#[test]
fn the_lane_keeps_the_model_circuits_degree_and_blinding_rows() {
    let mut cs = ConstraintSystem::<F>::default();
    RowCircuit::configure(&mut cs);
    assert!(
        cs.degree() <= zkinfer_circuits::chips::CONSTRAINT_DEGREE,
        "{}",
        cs.degree()
    );
    assert_eq!(
        cs.blinding_factors() + 1,
        zkinfer_circuits::plan::RESERVED_ROWS
    );
}
