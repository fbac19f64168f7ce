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

struct Column {
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

fn columns() -> Vec<Column> {
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
            out.push(Column {
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
