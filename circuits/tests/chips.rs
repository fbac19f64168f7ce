//! Every chip on hand-built quantized graphs: the honest witness satisfies the circuit, and a
//! witness that breaks the chip's relation does not (MockProver).

// Test code: clippy.toml's allow-*-in-tests exempts only #[test] functions, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::all_zero_lookups;
use halo2_proofs::dev::MockProver;
use std::sync::Arc;
use zkinfer_circuits::chips::AdvCol;
use zkinfer_circuits::field::{fe, F};
use zkinfer_circuits::graph::*;
use zkinfer_circuits::plan::{
    choose_shape, CircuitPlan, CircuitShape, LayoutError, MatvecCheck, Objective, RunRegion,
    SearchOptions, Target, TargetError,
};
use zkinfer_circuits::public_io::{instances, PublicIo};
use zkinfer_circuits::ModelCircuit;

const BITS: u32 = 8;

/// A target like the CUDA prover's (`zkinfer_gpu::CUDA_TARGET`): single phase, `2^14` rows.
const GPU: Target = Target {
    name: "the GPU prover",
    min_k: 14,
    single_phase: true,
};
const GPU_MIN_K: u32 = GPU.min_k;

struct Builder {
    g: QuantizedGraph,
}

impl Builder {
    fn new() -> Self {
        Builder {
            g: QuantizedGraph::empty(BITS),
        }
    }

    fn tensor(&mut self, name: &str, shape: &[usize], scale: i32, kind: TensorKind) -> TensorId {
        self.g.tensors.push(QTensor {
            name: name.into(),
            shape: shape.to_vec(),
            scale,
            kind,
            affine: None,
        });
        self.g.tensors.len() - 1
    }

    fn func(&mut self, f: FnKind) -> u32 {
        self.g.functions.push(f);
        (self.g.functions.len() - 1) as u32
    }

    /// `out = func(round(qa·a + qb·b + qm·a·b) / 2^shift)`.
    #[allow(clippy::too_many_arguments)]
    fn elem(
        &mut self,
        name: &str,
        a: Option<TensorId>,
        b: Option<TensorId>,
        qa: i64,
        qb: i64,
        qm: i64,
        shift: u32,
        func: u32,
        scale: i32,
    ) -> TensorId {
        let shape = self.g.tensors[a.or(b).unwrap()].shape.clone();
        let out = self.tensor(name, &shape, scale, TensorKind::Activation);
        let op = |t: Option<TensorId>| {
            t.map(|tensor| Operand {
                tensor,
                index: None,
            })
        };
        self.g.ops.push(QOp::Elementwise(ElemOp {
            name: name.into(),
            output: out,
            a: op(a),
            b: op(b),
            qa: Coef::Const(qa),
            qb: Coef::Const(qb),
            qm: Coef::Const(qm),
            qc: Coef::Const(0),
            shift,
            func,
        }));
        out
    }

    /// Inputs `a [2, 3]` and `m [3, 2]` and their product (an accumulator at scale 8).
    fn product_2x3x2(&mut self) -> TensorId {
        let a = self.input("a", &[2, 3]);
        let m = self.input("m", &[3, 2]);
        self.product((a, m), [2, 3, 2])
    }

    /// The product `a · m` of one batch of `[n, t, m]` (an accumulator at scale 8).
    fn product(&mut self, (a, m): (TensorId, TensorId), ikj: [usize; 3]) -> TensorId {
        let acc = self.tensor("prod", &[ikj[0], ikj[2]], 8, TensorKind::Accumulator);
        self.g.ops.push(QOp::MatMul(MatMulOp {
            name: "matmul".into(),
            a,
            b: m,
            output: acc,
            ikj,
            batches: vec![[0, 0, 0]],
            a_zeros: Vec::new(),
        }));
        acc
    }

    fn input(&mut self, name: &str, shape: &[usize]) -> TensorId {
        let raw = self.tensor(name, shape, 4, TensorKind::Activation);
        self.g.inputs.push(raw);
        self.elem(
            &format!("{name} checked"),
            Some(raw),
            None,
            1,
            0,
            0,
            0,
            0,
            4,
        )
    }
}

/// Lays out, evaluates and returns the circuit and its public values (plain public I/O, so
/// tests can address single values in the instance column).
fn build(g: QuantizedGraph, inputs: Vec<Vec<i128>>) -> (ModelCircuit, Vec<F>, u32) {
    build_shaped(g, inputs, |s| s.public_io = PublicIo::Plain)
}

/// Like [`build`], with the chosen shape adjusted by `adjust` first.
fn build_shaped(
    g: QuantizedGraph,
    inputs: Vec<Vec<i128>>,
    adjust: impl FnOnce(&mut CircuitShape),
) -> (ModelCircuit, Vec<F>, u32) {
    g.validate().unwrap();
    let vals = g.eval(&inputs).unwrap();
    let mut shape = choose_shape(&g, &SearchOptions::default()).unwrap().shape;
    // Tests pick the table layout they exercise; remainder rows, split function tables and
    // limbs only when they ask (with a taller circuit where one table needs it).
    shape.remainder_rows = false;
    shape.fn_tables = 0;
    shape.limb_bits = 0;
    adjust(&mut shape);
    while g.lookup_table_rows(&shape) > shape.usable_rows() {
        shape.k += 1;
    }
    let k = shape.k;
    let plan = CircuitPlan::new(&g, shape).unwrap();
    let c = ModelCircuit::with_witness(Arc::new(g), Arc::new(plan), vals);
    let inst = c.instances();
    (c, inst, k)
}

fn satisfied(c: &ModelCircuit, inst: &[F], k: u32) -> bool {
    MockProver::run(k, c, vec![inst.to_vec()])
        .unwrap()
        .verify()
        .is_ok()
}

/// Value currently in an advice cell (recomputed from the witness through the layout).
fn assert_rejects(c: &ModelCircuit, inst: &[F], k: u32, cells: &[(AdvCol, u32, F)], what: &str) {
    let mut t = c.clone();
    for &(col, row, v) in cells {
        t = t.tampered(col, row, v);
    }
    assert!(!satisfied(&t, inst, k), "tampering {what} was accepted");
}

/// Dense layer + ReLU rescale: input [4] → W (3×4) → relu(round(acc / 2^4)).
fn dense() -> (ModelCircuit, Vec<F>, u32) {
    let (g, x) = dense_graph();
    build(g, x)
}

fn dense_graph() -> (QuantizedGraph, Vec<Vec<i128>>) {
    let mut b = Builder::new();
    let x = b.input("x", &[4]);
    let acc = b.tensor("acc", &[3], 8, TensorKind::Accumulator);
    b.g.ops.push(QOp::Linear(LinearOp {
        name: "dense".into(),
        input: x,
        output: acc,
        sets: vec![WeightSet {
            m: 3,
            k: 4,
            w: vec![3, -1, 2, 0, -4, 5, 1, 1, 2, 2, -2, 7],
            b: vec![5, -9, 0],
        }],
        geometry: Geometry::Dense {
            outer: 1,
            inner: 1,
            xs: [0, 4, 1],
            ys: [0, 3, 1],
            sets: None,
        },
    }));
    let relu = b.func(FnKind::Relu);
    let out = b.elem("relu", Some(acc), None, 1, 0, 0, 4, relu, 4);
    b.g.outputs.push(out);
    (b.g, vec![vec![7, -3, 12, 5]])
}

#[test]
fn pack_rejects_wrong_words_and_unpacked_values() {
    let (g, x) = dense_graph();
    let (c, inst, k) = build_shaped(g, x, |s| s.public_io = PublicIo::Packed);
    assert_eq!(inst.len(), 2, "one input word, one output word");
    assert!(satisfied(&c, &inst, k));
    let words = c.plan.layout.words.clone();
    let out_word = words[1];
    let last_row = out_word.start + out_word.len - 1;
    // A wrong running word breaks the pack gate.
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::PackAcc, out_word.start, fe(3))],
        "a packed word",
    );
    // A packed output that is not the computed output breaks its copy constraint.
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::PackV, last_row, fe(2))],
        "a packed output",
    );
    // A public word that is not the packing of the values is rejected.
    let mut bad = inst.clone();
    bad[1] += fe(1);
    assert!(!satisfied(&c, &bad, k));
}

/// Grows `k` until the hashed-I/O rows fit.
fn fit_hashed(g: &QuantizedGraph) -> impl FnOnce(&mut CircuitShape) + '_ {
    move |s: &mut CircuitShape| {
        s.public_io = PublicIo::Hashed;
        let n = |ts: &[usize]| ts.iter().map(|&t| g.tensors[t].len()).sum::<usize>();
        let rows = PublicIo::Hashed.rows(g.bits, n(&g.inputs), n(&g.outputs));
        while s.usable_rows() < rows.max(g.table_rows(s.identity_table)) {
            s.k += 1;
        }
    }
}

#[test]
fn hashed_io_proves_the_poseidon_sponge_and_rejects_broken_rounds() {
    let (g, x) = dense_graph();
    let g2 = g.clone();
    let (c, inst, k) = build_shaped(g, x, fit_hashed(&g2));
    assert_eq!(inst.len(), 2, "one input hash, one output hash");
    let vals = c.witness.as_ref().unwrap();
    let flat = |ts: &[usize]| ts.iter().flat_map(|&t| vals[t].clone()).collect::<Vec<_>>();
    assert_eq!(
        inst,
        instances(
            PublicIo::Hashed,
            BITS,
            &flat(&c.graph.inputs),
            &flat(&c.graph.outputs)
        )
    );
    assert!(satisfied(&c, &inst, k));
    let sp = c.plan.layout.sponges.clone();
    assert_eq!(sp.len(), 2);
    let s0 = sp[0].start;
    // The initial capacity must be the domain tag.
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::HashCap, s0, fe(99))],
        "the domain tag",
    );
    // The absorbed word must be the packed word (copy constraint into the word row).
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::PackAcc, s0 + 1, fe(1))],
        "an absorbed word",
    );
    // A state element after a full round (round 0), its S-box square, and one after a
    // partial round (round 10).
    let full = s0 + 2;
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::PackV, full + 2, fe(5))],
        "a full-round output",
    );
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::PackAcc, full + 1, fe(5))],
        "an S-box square",
    );
    let part = s0 + 2 + 2 * 10;
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::HashCap, part + 2, fe(5))],
        "a partial-round output",
    );
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::HashCap, part + 1, fe(5))],
        "a partial S-box square",
    );
    // The final state element holding the hash.
    let end = sp[1].start - 1;
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::PackAcc, end, fe(5))],
        "the input hash",
    );
    // Public hashes that are not the hashes of the values are rejected.
    for i in 0..2 {
        let mut bad = inst.clone();
        bad[i] += fe(1);
        assert!(!satisfied(&c, &bad, k), "a wrong hash #{i} was accepted");
    }
    // Hashes of other values (consistent everywhere else) are rejected too.
    let other = instances(
        PublicIo::Hashed,
        BITS,
        &[7, -3, 12, 6],
        &flat(&c.graph.outputs),
    );
    assert!(!satisfied(&c, &other, k));
}

#[test]
fn hashed_io_absorbs_an_odd_last_word() {
    // 60 input values of 8 bits: 31 per word, so two input words; 60 outputs likewise; and a
    // 3-word input needs a lone final word.
    for n in [60usize, 70] {
        let mut b = Builder::new();
        let x = b.input("x", &[n]);
        b.g.outputs.push(x);
        let g = b.g;
        let xs: Vec<i128> = (0..n as i128).map(|i| i * 5 % 256 - 128).collect();
        let g2 = g.clone();
        let (c, inst, k) = build_shaped(g, vec![xs.clone()], fit_hashed(&g2));
        assert_eq!(inst, instances(PublicIo::Hashed, BITS, &xs, &xs));
        assert!(satisfied(&c, &inst, k), "{n} values");
        let words = c.plan.layout.sponges[0].words.len();
        assert_eq!(words, n.div_ceil(31));
        if words % 2 == 1 {
            // The lone word's partner slot must be zero.
            let row = c.plan.layout.sponges[0].start + 132 * (words as u32 / 2) + 1;
            assert_rejects(
                &c,
                &inst,
                k,
                &[(AdvCol::PackV, row, fe(123))],
                "a padding word",
            );
        }
    }
}

/// `y = x` through the input's range check only, so one input value can be changed
/// consistently everywhere without touching anything downstream.
fn echo_graph() -> (QuantizedGraph, Vec<Vec<i128>>) {
    let mut b = Builder::new();
    let x = b.input("x", &[3]);
    b.g.outputs.push(x);
    (b.g, vec![vec![5, -7, 100]])
}

/// Replaces input 0 by `v` in every cell and word that holds it.
fn with_input0(c: &ModelCircuit, v: i128) -> (ModelCircuit, Vec<F>) {
    let mode = c.plan.shape.public_io;
    let mut xs = c.witness.as_ref().unwrap()[c.graph.inputs[0]].clone();
    xs[0] = v;
    let seg = c.plan.layout.el[0].clone();
    let mut t = c.clone();
    for col in [
        AdvCol::ElA(seg.lane),
        AdvCol::ElQ(seg.lane),
        AdvCol::ElOut(seg.lane),
    ] {
        t = t.tampered(col, seg.start, fe(v));
    }
    if mode == PublicIo::Packed {
        let n = xs.len() as u32;
        let half = 1i128 << (BITS - 1);
        // Input values at pack rows 0..n, the same values as outputs at rows n..2n.
        for base in [0, n] {
            t = t.tampered(AdvCol::PackV, base, fe(v));
            let mut acc = F::zero();
            for (i, &x) in xs.iter().enumerate() {
                acc = acc * fe(1 << BITS) + fe(x + half);
                t = t.tampered(AdvCol::PackAcc, base + i as u32, acc);
            }
        }
    }
    (t, instances(mode, BITS, &xs, &xs))
}

#[test]
fn public_inputs_are_range_checked_in_every_encoding() {
    let big = 1i128 << (BITS - 1);
    for (mode, identity) in [
        (PublicIo::Plain, false),
        (PublicIo::Packed, false),
        (PublicIo::Packed, true),
    ] {
        let (g, x) = echo_graph();
        let rows = g.table_rows(identity);
        let (c, inst, k) = build_shaped(g, x, |s| {
            s.public_io = mode;
            s.identity_table = identity;
            while s.usable_rows() < rows + 16 {
                s.k += 1;
            }
        });
        assert!(satisfied(&c, &inst, k), "{mode:?}");
        // The consistent rewrite itself is sound: an in-range value is accepted ...
        let (t, i2) = with_input0(&c, big - 1);
        assert!(satisfied(&t, &i2, k), "{mode:?}: in-range rewrite rejected");
        // ... and an out-of-range one is not, though every cell and word agrees with it.
        for v in [big, -big - 1] {
            let (t, i2) = with_input0(&c, v);
            assert!(
                !satisfied(&t, &i2, k),
                "{mode:?} identity={identity}: input {v} accepted"
            );
        }
    }
}

#[test]
fn hashed_public_inputs_are_range_checked() {
    let big = 1i128 << (BITS - 1);
    let (g, x) = echo_graph();
    let g2 = g.clone();
    let (c, inst, k) = build_shaped(g, x, fit_hashed(&g2));
    assert!(satisfied(&c, &inst, k));
    // Rewrite input 0 in the witness itself: every chip, the packing and the sponge then
    // agree with it, and the hashes are recomputed; only the range check can object.
    let rewrite = |v: i128| {
        let mut vals = (**c.witness.as_ref().unwrap()).clone();
        for t in vals.iter_mut() {
            if t.len() == 3 {
                t[0] = v;
            }
        }
        let t = ModelCircuit::with_witness(c.graph.clone(), c.plan.clone(), vals);
        let i = t.instances();
        (t, i)
    };
    let (t, i2) = rewrite(big - 1);
    assert!(satisfied(&t, &i2, k), "in-range rewrite rejected");
    for v in [big, -big - 1] {
        let (t, i2) = rewrite(v);
        assert!(!satisfied(&t, &i2, k), "input {v} accepted");
    }
}

#[test]
fn identity_table_checks_range_and_identity_by_lookup() {
    let (g, x) = dense_graph();
    let rows = g.table_rows(true);
    let (c, inst, k) = build_shaped(g, x, |s| {
        s.public_io = PublicIo::Plain;
        s.identity_table = true;
        while s.usable_rows() < rows + 16 {
            s.k += 1;
        }
    });
    assert!(satisfied(&c, &inst, k));
    assert_eq!(c.plan.shape.lookups(), 2);
    // The input's range-check op is an identity: out must equal q.
    let in_seg = c.plan.layout.el.iter().find(|s| s.op == 0).unwrap().clone();
    let vals = c.witness.as_ref().unwrap();
    let x0 = vals[c.graph.inputs[0]][0];
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::ElOut(in_seg.lane), in_seg.start, fe(x0 + 1))],
        "an identity output",
    );
    // Out-of-range inputs: see public_inputs_are_range_checked_in_every_encoding.
}

#[test]
fn matvec_accepts_honest_and_rejects_broken_witnesses() {
    let (c, inst, k) = dense();
    assert!(satisfied(&c, &inst, k));
    let reg = c.plan.layout.mv[0].clone();
    let (lane, start) = (reg.lane, reg.start);
    // A wrong output (Horner row) breaks the random-linear-combination check.
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::MvX(lane), start, fe(1234))],
        "a matvec output",
    );
    // A wrong input copy breaks the copy constraint.
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::MvX(lane), start + reg.c, fe(99))],
        "a matvec input copy",
    );
    // A wrong running check breaks the gate.
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::MvAcc(lane), start + 1, fe(5))],
        "the matvec accumulator",
    );
}

/// Dense graph laid out with the direct (single-phase) matvec check, optionally in lanes wider
/// than the op (so a region covers fewer outputs than the lane has registers).
fn dense_direct(width: Option<u32>) -> (ModelCircuit, Vec<F>, u32) {
    let (g, x) = dense_graph();
    build_shaped(g, x, |s| {
        s.public_io = PublicIo::Plain;
        s.matvec_check = MatvecCheck::Direct;
        if let Some(w) = width {
            s.matvec = vec![w];
        }
    })
}

/// Phases (challenges, second-phase columns) of a circuit's constraint system.
/// The planner's options for the CUDA prover (single phase).
fn gpu_options() -> SearchOptions {
    SearchOptions {
        objective: Objective::ProveTimeOn(GPU),
        matvec_check: MatvecCheck::Direct,
        ..SearchOptions::default()
    }
}

/// The shape the planner picks for the CUDA prover.
fn gpu_shape(g: &QuantizedGraph) -> CircuitShape {
    choose_shape(g, &gpu_options()).unwrap().shape
}

fn has_second_phase(c: &ModelCircuit) -> bool {
    use halo2_proofs::plonk::{Circuit, ConstraintSystem};
    let mut cs = ConstraintSystem::default();
    let _ = ModelCircuit::configure_with_params(&mut cs, c.plan.shape.clone());
    cs.num_challenges() > 0 || cs.advice_column_phase().iter().any(|&p| p > 0)
}

#[test]
fn direct_matvec_is_single_phase_and_rejects_broken_witnesses() {
    let (freivalds, _, _) = dense();
    assert!(has_second_phase(&freivalds));
    for width in [None, Some(2), Some(3), Some(4), Some(5)] {
        let (c, inst, k) = dense_direct(width);
        assert!(!has_second_phase(&c), "direct check must be single-phase");
        assert!(
            satisfied(&c, &inst, k),
            "honest witness, lane width {width:?}"
        );
        eprintln!("direct check, lanes {:?}", c.plan.shape.matvec);
        let reg = c.plan.layout.mv[0].clone();
        let (lane, start) = (reg.lane, reg.start);
        let top = c.plan.shape.matvec[lane as usize] as u16 - 1;
        let last = start + reg.rows() - 1;
        let mut cases: Vec<(AdvCol, u32, &str)> = vec![
            (AdvCol::MvX(lane), start, "a matvec output"),
            (
                AdvCol::MvX(lane),
                start + reg.c - 1,
                "the last matvec output",
            ),
            (AdvCol::MvX(lane), start + reg.c, "a matvec input copy"),
            (AdvCol::MvReg(lane, top), start, "the register entry"),
            (
                AdvCol::MvReg(lane, top),
                start + reg.c,
                "an accumulator on a dot row",
            ),
            (AdvCol::MvReg(lane, 0), last, "the final accumulator"),
        ];
        if top > 0 && reg.c > 1 {
            cases.push((
                AdvCol::MvReg(lane, top - 1),
                start + 1,
                "a shifted register value",
            ));
        }
        for (col, row, what) in cases {
            assert_rejects(&c, &inst, k, &[(col, row, fe(77))], what);
        }
        // A register column that holds no output of this region must stay zero.
        if reg.c < top as u32 + 1 {
            assert_rejects(
                &c,
                &inst,
                k,
                &[(AdvCol::MvReg(lane, 0), start + reg.c, fe(1))],
                "an unused register",
            );
        }
    }
}

#[test]
fn direct_matvec_proves_convolutions_with_the_same_outputs() {
    let (c, inst, k) = conv_pool();
    let g = (*c.graph).clone();
    let x = vec![(0..16).map(|i| (i * 7 % 23) - 11).collect()];
    let (d, dinst, dk) = build_shaped(g, x, |s| {
        s.public_io = PublicIo::Plain;
        s.matvec_check = MatvecCheck::Direct;
    });
    assert_eq!((inst, k), (dinst.clone(), dk));
    assert!(satisfied(&d, &dinst, dk));
    let reg = d.plan.layout.mv[3].clone();
    assert_rejects(
        &d,
        &dinst,
        dk,
        &[(AdvCol::MvX(reg.lane), reg.start, fe(-7))],
        "a conv output (direct check)",
    );
}

#[test]
fn gpu_layout_is_single_phase_with_at_least_2_pow_14_rows_and_rejects_broken_witnesses() {
    let (c, _, _) = conv_pool();
    let g = (*c.graph).clone();
    let x = vec![(0..16).map(|i| (i * 7 % 23) - 11).collect()];
    let cpu = choose_shape(&g, &SearchOptions::default()).unwrap().shape;
    assert!(cpu.k < GPU_MIN_K, "the CPU shape is small (k = {})", cpu.k);
    let gpu_opts = gpu_options();
    let gpu = gpu_shape(&g);
    assert!(
        (GPU_MIN_K..=GPU_MIN_K + 2).contains(&gpu.k),
        "k = {}",
        gpu.k
    );
    assert!(!gpu.multi_phase());
    let (d, inst, k) = build_shaped(g.clone(), x, |s| *s = gpu.clone());
    assert_eq!(k, gpu.k);
    assert!(!has_second_phase(&d));
    assert!(satisfied(&d, &inst, k));
    let reg = d.plan.layout.mv[3].clone();
    assert_rejects(
        &d,
        &inst,
        k,
        &[(AdvCol::MvX(reg.lane), reg.start, fe(-7))],
        "a conv output (GPU layout)",
    );
    // A model that needs more than 2^14 rows by itself (a 2^14-value lookup table) gets at
    // least its own size, as on the CPU.
    let mut big = g.clone();
    big.bits = 14;
    let cpu_k = choose_shape(&big, &SearchOptions::default())
        .unwrap()
        .shape
        .k;
    let gpu_big = choose_shape(&big, &gpu_opts).unwrap().shape;
    assert!(
        cpu_k > GPU_MIN_K && gpu_big.k >= cpu_k,
        "{cpu_k} / {}",
        gpu_big.k
    );
    assert!(!gpu_big.multi_phase());
    // A forced k is kept (the CLI warns below GPU_MIN_K).
    let forced = SearchOptions {
        k: Some(cpu.k),
        ..gpu_opts.clone()
    };
    assert_eq!(choose_shape(&g, &forced).unwrap().shape.k, cpu.k);
    // The CUDA prover cannot prove two-phase circuits: no GPU layout for Freivalds.
    let two_phase = SearchOptions {
        matvec_check: MatvecCheck::Freivalds,
        ..gpu_opts
    };
    let err = choose_shape(&g, &two_phase).unwrap_err();
    assert!(
        matches!(err, LayoutError::Target(TargetError::TwoPhases { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("--matvec-check direct"), "{err}");
}

/// The last op of `c`'s graph, and the lane and first row of its first elementwise segment.
fn last_op_segment(c: &ModelCircuit) -> (u32, u16, u32) {
    let op = (c.graph.ops.len() - 1) as u32;
    let seg = c.plan.layout.el.iter().find(|s| s.op == op).unwrap();
    (op, seg.lane, seg.start)
}

#[test]
fn elementwise_rejects_wrong_function_rounding_and_range() {
    let (c, inst, k) = dense();
    let g = &c.graph;
    // The relu op is the last op; find its segment.
    let (relu_op, lane, row) = last_op_segment(&c);
    let vals = c.witness.as_ref().unwrap();
    let QOp::Elementwise(op) = &g.ops[relu_op as usize] else {
        panic!()
    };
    let lin = op.lin(0, vals);
    let rq = op.round(lin, g.bits);
    // out != relu(q).
    let out = FnKind::Relu.eval(rq.q as i64) as i128;
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::ElOut(lane), row, fe(out + 1))],
        "a function output",
    );
    // q off by one with the remainder moved to compensate: the remainder leaves [0, 2^B).
    assert_rejects(
        &c,
        &inst,
        k,
        &[
            (AdvCol::ElQ(lane), row, fe(rq.q + 1)),
            (AdvCol::ElR(lane), row, fe(rq.r - (1 << BITS))),
            (
                AdvCol::ElOut(lane),
                row,
                fe(FnKind::Relu.eval(rq.q as i64 + 1) as i128),
            ),
        ],
        "rounding",
    );
    // Out-of-range inputs: see public_inputs_are_range_checked_in_every_encoding.
    // A wrong public output is rejected.
    let mut inst3 = inst.clone();
    let last = inst3.len() - 1;
    inst3[last] += fe(1);
    assert!(!satisfied(&c, &inst3, k));
}

/// The dense graph with its rescale split into an exact step and a bias add (per-element
/// constants, read through a broadcast), then composed back into one op.
#[test]
fn composed_affine_steps_prove_and_reject_broken_witnesses() {
    let (g, x) = dense_graph();
    let mut b = Builder { g };
    let QOp::Elementwise(relu) = b.g.ops.pop().unwrap() else {
        panic!()
    };
    let acc = relu.a.as_ref().unwrap().tensor;
    let t = b.tensor("rescaled", &[3], 6, TensorKind::Activation);
    let mut g = b.g;
    g.ops.push(QOp::Elementwise(ElemOp {
        name: "rescale".into(),
        output: t,
        a: Some(Operand {
            tensor: acc,
            index: None,
        }),
        qa: Coef::Const(1),
        shift: 2,
        func: 0,
        ..relu.clone()
    }));
    g.ops.push(QOp::Elementwise(ElemOp {
        a: Some(Operand {
            tensor: t,
            index: Some(vec![2, 1, 0]),
        }),
        qc: Coef::Each(vec![3, -2, 1]),
        ..relu
    }));
    let before = g.ops.len();
    assert_eq!(compose_affine(&mut g), 1);
    assert_eq!(g.ops.len(), before - 1);
    let (c, inst, k) = build(g, x);
    assert!(satisfied(&c, &inst, k));
    let (_, lane, row) = last_op_segment(&c);
    let vals = c.witness.as_ref().unwrap();
    let QOp::Elementwise(op) = &c.graph.ops[c.graph.ops.len() - 1] else {
        panic!()
    };
    let rq = op.round(op.lin(0, vals), c.graph.bits);
    assert_rejects(
        &c,
        &inst,
        k,
        &[
            (AdvCol::ElQ(lane), row, fe(rq.q + 1)),
            (AdvCol::ElR(lane), row, fe(rq.r - (1 << BITS))),
        ],
        "a composed rounding",
    );
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::ElR(lane), row, fe(rq.r + 1))],
        "a remainder",
    );
}

#[test]
fn remainder_rows_range_check_the_remainder_through_the_identity() {
    let (g, x) = dense_graph();
    let rows = 2 * g.table_rows(true);
    let (c, inst, k) = build_shaped(g, x, |s| {
        s.public_io = PublicIo::Plain;
        s.identity_table = true;
        s.remainder_rows = true;
        while s.usable_rows() < rows + 16 {
            s.k += 1;
        }
    });
    assert!(satisfied(&c, &inst, k));
    assert_eq!(
        c.plan.shape.lookups(),
        1,
        "one lookup per lane, no range table"
    );
    assert!(!c.plan.shape.needs_range_table());
    let g = &c.graph;
    let (relu_op, lane, row) = last_op_segment(&c);
    // The second element sits two rows down.
    assert_eq!(c.plan.layout.homes[g.outputs[0]][1].row, row + 2);
    let QOp::Elementwise(op) = &g.ops[relu_op as usize] else {
        panic!()
    };
    let vals = c.witness.as_ref().unwrap();
    let rq = op.round(op.lin(0, vals), g.bits);
    let half = 1i128 << (BITS - 1);
    // A wrong remainder breaks the gate.
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::ElQ(lane), row + 1, fe(rq.r - half + 1))],
        "a remainder",
    );
    // q one lower with the remainder 2^B higher satisfies the gate, and the function output
    // is kept consistent: only the lookup of the remainder row can object.
    let relu = |q: i128| FnKind::Relu.eval(q as i64) as i128;
    let r2 = rq.r + (1 << BITS) - half;
    let t = c
        .tampered(AdvCol::ElQ(lane), row, fe(rq.q - 1))
        .tampered(AdvCol::ElOut(lane), row, fe(relu(rq.q - 1)))
        .tampered(AdvCol::ElQ(lane), row + 1, fe(r2))
        .tampered(AdvCol::ElOut(lane), row + 1, fe(r2));
    let mut inst2 = inst.clone();
    let out_row = inst.len() - 3;
    inst2[out_row] = fe(relu(rq.q - 1));
    let errs = MockProver::run(k, &t, vec![inst2])
        .unwrap()
        .verify()
        .unwrap_err();
    assert!(
        errs.iter()
            .all(|e| matches!(e, halo2_proofs::dev::VerifyFailure::Lookup { .. })),
        "{errs:?}"
    );
}

/// Conv 2×2 on a 4×4 image, ReLU, then 2×2 max pool with stride 1.
fn conv_pool() -> (ModelCircuit, Vec<F>, u32) {
    conv_pool_on((0..16).map(|i| (i * 7 % 23) - 11).collect())
}

fn conv_pool_on(img: Vec<i128>) -> (ModelCircuit, Vec<F>, u32) {
    let (g, x) = conv_pool_graph(img);
    build(g, x)
}

fn conv_pool_graph(img: Vec<i128>) -> (QuantizedGraph, Vec<Vec<i128>>) {
    let mut b = Builder::new();
    let x = b.input("img", &[1, 1, 4, 4]);
    let acc = b.tensor("conv acc", &[1, 2, 3, 3], 8, TensorKind::Accumulator);
    b.g.ops.push(QOp::Linear(LinearOp {
        name: "conv".into(),
        input: x,
        output: acc,
        sets: vec![WeightSet {
            m: 2,
            k: 4,
            w: vec![2, -1, 3, 1, -2, 4, 1, -3],
            b: vec![10, -20],
        }],
        geometry: Geometry::Conv2d {
            c: 1,
            h: 4,
            w: 4,
            kernel: [2, 2],
            stride: [1, 1],
            pad: [0, 0],
            dilation: [1, 1],
            out: [3, 3],
            groups: 1,
        },
    }));
    let relu = b.func(FnKind::Relu);
    let r = b.elem("relu", Some(acc), None, 1, 0, 0, 4, relu, 4);
    let pooled = b.tensor("pool", &[1, 2, 2, 2], 4, TensorKind::Activation);
    b.g.ops.push(QOp::MaxPool(MaxOp {
        name: "pool".into(),
        input: r,
        output: pooled,
        chw: [2, 3, 3],
        kernel: [2, 2],
        stride: [1, 1],
        pad: [0, 0],
        dilation: [1, 1],
        out: [2, 2],
        runs: None,
    }));
    b.g.outputs.push(pooled);
    (b.g, vec![img])
}

#[test]
fn every_lookup_has_a_non_zero_input_row_whatever_the_input() {
    // Identity-only graph on zeros: no function rows, zero remainders, and a function table of
    // just (0, 0, 0) and (0, 1, 1); in every table layout.
    let (g, _) = echo_graph();
    for (identity_table, remainder_rows) in [(false, false), (true, false), (true, true)] {
        let (c, inst, k) = build_shaped(g.clone(), vec![vec![0, 0, 0]], |s| {
            s.public_io = PublicIo::Plain;
            s.identity_table = identity_table;
            s.remainder_rows = remainder_rows;
        });
        let p = MockProver::run(k, &c, vec![inst]).unwrap();
        p.assert_satisfied();
        let bad = all_zero_lookups(&p, &c.plan.shape);
        assert!(bad.is_empty(), "identity table {identity_table}: {bad:?}");
    }
    // Max pool over an all-zero image: every window's values are equal, every step's
    // differences are zero.
    let (c, inst, k) = conv_pool_on(vec![0; 16]);
    let p = MockProver::run(k, &c, vec![inst.clone()]).unwrap();
    p.assert_satisfied();
    assert_eq!(all_zero_lookups(&p, &c.plan.shape), Vec::<String>::new());
    assert_degree_and_columns(&c);
    // The sentinel row constrains nothing: the max lane's cells there can hold anything.
    let row = c.plan.shape.sentinel_row();
    let t = c
        .tampered(AdvCol::MxX(0), row, F::from(7))
        .tampered(AdvCol::MxM(0), row, F::from(3));
    let p = MockProver::run(k, &t, vec![inst]).unwrap();
    p.assert_satisfied();
    assert_eq!(all_zero_lookups(&p, &t.plan.shape), Vec::<String>::new());
}

/// The max lane keeps the model circuit's degree, and its columns and lookups are those the
/// planner counts.
fn assert_degree_and_columns(c: &ModelCircuit) {
    use halo2_proofs::plonk::{Circuit, ConstraintSystem};
    let mut cs = ConstraintSystem::<F>::default();
    ModelCircuit::configure_with_params(&mut cs, c.params());
    let s = &c.plan.shape;
    assert!(s.max_lanes > 0);
    assert!(
        cs.degree() <= zkinfer_circuits::chips::CONSTRAINT_DEGREE,
        "{}",
        cs.degree()
    );
    assert_eq!(cs.num_advice_columns(), s.advice_columns());
    assert_eq!(cs.lookups().len(), s.lookups());
}

/// The first max-pool region of more than one row, and its window's values.
fn first_window(c: &ModelCircuit) -> (RunRegion, Vec<i128>) {
    let reg = c.plan.layout.mx.iter().find(|r| r.len > 1).unwrap().clone();
    let vals = c.witness.as_ref().unwrap();
    let QOp::MaxPool(op) = &c.graph.ops[reg.op as usize] else {
        panic!()
    };
    let window = op
        .window(reg.item as usize)
        .iter()
        .map(|&i| vals[op.input][i as usize])
        .collect();
    (reg, window)
}

#[test]
fn maxpool_rejects_a_non_maximum() {
    let (c, inst, k) = conv_pool();
    assert!(satisfied(&c, &inst, k));
    let (reg, window) = first_window(&c);
    let last = reg.start + reg.len - 1;
    let max = *window.iter().max().unwrap();
    let min = *window.iter().min().unwrap();
    assert!(min < max, "test window must have distinct values");
    // Claim the minimum is the maximum, with differences consistent with that claim.
    let prev_max = *window[..window.len() - 1].iter().max().unwrap();
    let xl = *window.last().unwrap();
    assert!(min < prev_max || min < xl, "the claim is below an element");
    let cells = [(AdvCol::MxM(reg.lane), last, fe(min))];
    assert_rejects(&c, &inst, k, &cells, "a max-pool output");
    // Claim a value above the maximum: both differences positive, their product not zero.
    let cells = [(AdvCol::MxM(reg.lane), last, fe(max + 1))];
    assert_rejects(
        &c,
        &inst,
        k,
        &cells,
        "a max-pool output above every element",
    );
    // A wrong window element copy.
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::MxX(reg.lane), reg.start, fe(window[0] + 1))],
        "a max-pool input",
    );
}

/// Maxima of runs of consecutive elements (a masked softmax's kept scores): `[6]` in runs
/// `[0, 1)`, `[1, 3)`, `[3, 6)`.
fn run_maxima() -> (ModelCircuit, Vec<F>, u32) {
    let mut b = Builder::new();
    let x = b.input("x", &[6]);
    let m = b.tensor("max", &[3], 4, TensorKind::Activation);
    b.g.ops.push(QOp::MaxPool(MaxOp::run_maxima(
        "runs",
        (x, m),
        vec![1, 3, 6],
    )));
    b.g.outputs.push(m);
    build(b.g, vec![vec![-5, 9, 2, 4, 7, -1]])
}

#[test]
fn run_maxima_prove_each_runs_maximum_and_nothing_else() {
    let (c, inst, k) = run_maxima();
    assert!(satisfied(&c, &inst, k));
    let vals = c.witness.as_ref().unwrap();
    let QOp::MaxPool(op) = &c.graph.ops[1] else {
        panic!("the max op")
    };
    assert_eq!(vals[op.output], vec![-5, 9, 7]);
    let regs = &c.plan.layout.mx;
    assert_eq!(
        regs.iter().map(|r| r.len).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // The last run's maximum claimed as the middle run's (9, from the run before it): above
    // every element of its run, and equal to neither the running maximum nor the element.
    let reg = &regs[2];
    let last = reg.start + reg.len - 1;
    let cells = [(AdvCol::MxM(reg.lane), last, fe(9))];
    assert_rejects(&c, &inst, k, &cells, "a run's maximum from another run");
    // A one-element run's maximum is its element.
    let reg = &regs[0];
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::MxM(reg.lane), reg.start, fe(-4))],
        "a one-element run's maximum",
    );
}

#[test]
fn malformed_runs_are_refused() {
    let (c, _, _) = run_maxima();
    for ends in [vec![1, 1, 6], vec![0, 3, 6], vec![1, 3, 5], vec![3, 1, 6]] {
        let mut g = (*c.graph).clone();
        let QOp::MaxPool(op) = &mut g.ops[1] else {
            panic!("the max op")
        };
        let (input, output) = (op.input, op.output);
        let mut bad = MaxOp::run_maxima("runs", (input, output), ends.clone());
        // Keep the declared geometry of six inputs: only the runs are wrong.
        bad.chw = [1, 1, 6];
        *op = bad;
        let err = g.validate().unwrap_err().to_string();
        assert!(err.contains("runs"), "{ends:?}: {err}");
    }
}

#[test]
fn conv_matvec_rejects_a_wrong_output() {
    let (c, inst, k) = conv_pool();
    let reg = c.plan.layout.mv[3].clone();
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::MvX(reg.lane), reg.start, fe(-7))],
        "a conv output",
    );
}

/// A depthwise convolution (two channels in two groups, 2×2 kernels on a 3×3 image): output
/// channel `g` reads input channel `g` only, with weight set `g`. The graph computes that, the
/// circuit proves it, and a tampered matvec cell is rejected.
#[test]
fn grouped_convolutions_read_their_groups_channels_only() {
    let mut b = Builder::new();
    let x = b.input("img", &[1, 2, 3, 3]);
    let acc = b.tensor("dw acc", &[1, 2, 2, 2], 4, TensorKind::Accumulator);
    let (w0, w1) = ([1, 2, 3, 4], [-1, 0, 2, -3]);
    b.g.ops.push(QOp::Linear(LinearOp {
        name: "depthwise".into(),
        input: x,
        output: acc,
        sets: vec![
            WeightSet {
                m: 1,
                k: 4,
                w: w0.to_vec(),
                b: vec![5],
            },
            WeightSet {
                m: 1,
                k: 4,
                w: w1.to_vec(),
                b: vec![0],
            },
        ],
        geometry: Geometry::Conv2d {
            c: 2,
            h: 3,
            w: 3,
            kernel: [2, 2],
            stride: [1, 1],
            pad: [0, 0],
            dilation: [1, 1],
            out: [2, 2],
            groups: 2,
        },
    }));
    let out = b.elem("out", Some(acc), None, 1, 0, 0, 0, 0, 4);
    b.g.outputs.push(out);
    let img: Vec<i128> = (0..18).map(|i| (i * 5 % 11) - 5).collect();
    let vals = b.g.eval(std::slice::from_ref(&img)).unwrap();
    let want: Vec<i128> = (0..2)
        .flat_map(|ch| (0..4).map(move |p| (ch, p / 2, p % 2)))
        .map(|(ch, oh, ow)| {
            let (w, bias) = if ch == 0 { (w0, 5) } else { (w1, 0) };
            let at = |i: usize, j: usize| img[ch * 9 + (oh + i) * 3 + ow + j];
            let w = w.map(i128::from);
            bias + w[0] * at(0, 0) + w[1] * at(0, 1) + w[2] * at(1, 0) + w[3] * at(1, 1)
        })
        .collect();
    assert_eq!(vals[out], want);
    let (c, inst, k) = build(b.g, vec![img]);
    assert!(satisfied(&c, &inst, k));
    let reg = c.plan.layout.mv[1].clone();
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::MvX(reg.lane), reg.start, fe(-7))],
        "a depthwise conv cell",
    );
    // Zero groups, or channels the groups do not divide, are refused when the graph loads.
    for (groups, c_in) in [(0, 2), (2, 3)] {
        let mut g = QuantizedGraph::clone(&c.graph);
        if let QOp::Linear(op) = &mut g.ops[1] {
            if let Geometry::Conv2d { groups: gr, c, .. } = &mut op.geometry {
                *gr = groups;
                *c = c_in;
            }
        }
        assert!(g.validate().is_err(), "{groups} groups of {c_in} channels");
    }
}

/// Two computed matrices multiplied (dot chip with the direct check, matmul chip with the
/// Freivalds one), rescaled, added (binary elementwise) and passed through a sigmoid.
fn products(check: MatvecCheck) -> (ModelCircuit, Vec<F>, u32) {
    let mut b = Builder::new();
    let acc = b.product_2x3x2();
    let p = b.elem("rescale", Some(acc), None, 1, 0, 0, 4, 0, 4);
    let s = b.elem("add", Some(p), Some(p), 1, 1, 0, 0, 0, 4);
    let sig = b.func(FnKind::Sigmoid {
        in_scale: 4,
        out_scale: 6,
    });
    let out = b.elem("sigmoid", Some(s), None, 1, 0, 0, 0, sig, 6);
    let sq = b.elem("square", Some(s), Some(s), 0, 0, 1, 4, 0, 4);
    b.g.outputs.push(out);
    b.g.outputs.push(sq);
    build_shaped(b.g, product_inputs(), |s| {
        s.public_io = PublicIo::Plain;
        s.matvec_check = check;
        s.matmul_lanes = check == MatvecCheck::Freivalds;
    })
}

#[test]
fn dot_and_binary_ops_reject_broken_witnesses() {
    let (c, inst, k) = products(MatvecCheck::Direct);
    assert!(!c.plan.shape.multi_phase());
    assert!(satisfied(&c, &inst, k));
    let reg = c.plan.layout.dot[0].clone();
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::DotAcc(reg.lane), reg.start + reg.len - 1, fe(1))],
        "a dot product",
    );
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::DotW(reg.lane), reg.start, fe(42))],
        "a dot factor copy",
    );
    let add = c
        .plan
        .layout
        .el
        .iter()
        .find(|s| c.graph.ops[s.op as usize].family().name() == "add")
        .unwrap()
        .clone();
    assert_rejects(
        &c,
        &inst,
        k,
        &[(AdvCol::ElB(add.lane), add.start, fe(0))],
        "a binary operand",
    );
    let sq = c
        .plan
        .layout
        .el
        .iter()
        .find(|s| c.graph.ops[s.op as usize].family().name() == "square")
        .unwrap()
        .clone();
    let vals = c.witness.as_ref().unwrap();
    let QOp::Elementwise(op) = &c.graph.ops[sq.op as usize] else {
        panic!()
    };
    let rq = op.round(op.lin(0, vals), BITS);
    assert_rejects(
        &c,
        &inst,
        k,
        &[
            (AdvCol::ElQ(sq.lane), sq.start, fe(rq.q + 1)),
            (AdvCol::ElOut(sq.lane), sq.start, fe(rq.q + 1)),
        ],
        "a product",
    );
}

#[test]
fn public_inputs_must_be_copied_by_a_range_check_first() {
    let shape = |g: &QuantizedGraph| {
        let mut s = choose_shape(g, &SearchOptions::default()).map(|c| c.shape);
        if let Ok(s) = &mut s {
            s.remainder_rows = false;
        }
        s
    };
    // An op that scales a raw input (2·x is in range for x = (p + 1) / 2) is no range check.
    let mut b = Builder::new();
    let raw = b.tensor("x", &[3], 4, TensorKind::Activation);
    b.g.inputs.push(raw);
    let y = b.elem("double", Some(raw), None, 2, 0, 0, 0, 0, 4);
    b.g.outputs.push(y);
    let err = shape(&b.g).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("before it is range-checked"), "{err}");
    // A raw input published as an output is never checked either.
    let mut b = Builder::new();
    let raw = b.tensor("x", &[3], 4, TensorKind::Activation);
    b.g.inputs.push(raw);
    b.g.outputs.push(raw);
    let err = shape(&b.g).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("never range-checked"), "{err}");
    // The builder's inputs (an identity copy first) are fine.
    let (g, _) = echo_graph();
    assert!(shape(&g).is_ok());
    // So is a table of x ↦ x over a sub-range (an int8 input's range check); a table that is not
    // the identity, or one reaching past the activation domain, is no range check.
    let half = 1i64 << (BITS - 1);
    for (lo, values, ok) in [
        (-128, (-128..=127).collect::<Vec<i64>>(), true),
        (0, (1..=256).collect(), false),
        (half - 4, (half - 4..half + 4).collect(), false),
    ] {
        let mut b = Builder::new();
        let raw = b.tensor("x", &[3], 0, TensorKind::Activation);
        b.g.inputs.push(raw);
        let f = b.func(FnKind::Tabulated { lo, values });
        let y = b.elem("check", Some(raw), None, 1, 0, 0, 0, f, 0);
        b.g.outputs.push(y);
        let err = shape(&b.g).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err.is_empty(), ok, "table from {lo}: {err}");
        if !ok {
            assert!(err.contains("before it is range-checked"), "{err}");
        }
    }
}

#[test]
fn graphs_out_of_range_fail_to_evaluate() {
    let mut b = Builder::new();
    let x = b.input("x", &[2]);
    let out = b.elem("double", Some(x), None, 64, 0, 0, 0, 0, 4);
    b.g.outputs.push(out);
    let err = b.g.eval(&[vec![1, 3]]).unwrap_err();
    assert!(matches!(err, EvalError::OutOfRange { .. }), "{err}");
    let err = b.g.eval(&[vec![1]]).unwrap_err();
    assert!(matches!(err, EvalError::InputLength { .. }));
}

/// `x [4]` (scale 4) → a standalone function `f` (no rescale) → output.
fn function_graph(f: FnKind) -> (QuantizedGraph, Vec<Vec<i128>>) {
    let mut b = Builder::new();
    let x = b.input("x", &[4]);
    let func = b.func(f);
    let y = b.elem("leaky", Some(x), None, 1, 0, 0, 0, func, 4);
    b.g.outputs.push(y);
    (b.g, vec![vec![16, -48, 32, 8]])
}

#[test]
fn out_of_range_function_refused() {
    let steep = FnKind::LeakyRelu {
        alpha: 4.0,
        out_shift: 0,
    };
    // The graph, its evaluation and the circuit's table all refuse a function leaving the
    // activation range (-48 · 4 = -192 < -128).
    let (g, x) = function_graph(steep.clone());
    let err = g.validate().unwrap_err();
    assert!(
        matches!(&err, GraphError::Image { op: Some(op), .. } if op == "leaky"),
        "{err:?}"
    );
    assert!(err.to_string().contains("outside its codomain"), "{err}");
    let err = g.eval(&x).unwrap_err();
    assert!(
        matches!(err, EvalError::OutOfCodomain { y: -192, .. }),
        "{err}"
    );
    let (fit, x) = function_graph(FnKind::leaky_relu(4.0, BITS).unwrap());
    let (c, inst, k) = build(fit, x);
    assert!(satisfied(&c, &inst, k));
    let mut swapped = (*c.graph).clone();
    let tag = swapped.functions.len() - 1;
    swapped.functions[tag] = steep;
    let witness = (**c.witness.as_ref().unwrap()).clone();
    let t = ModelCircuit::with_witness(Arc::new(swapped), c.plan.clone(), witness);
    assert!(MockProver::run(k, &t, vec![inst.clone()]).is_err());
    // A prover claiming the unshifted output (-192 for -48) fails the function lookup, with
    // the public output changed to match (plain I/O: outputs follow the 4 inputs).
    let (_, lane, row) = last_op_segment(&c);
    let mut forged = inst.clone();
    forged[4 + 1] = fe(-192);
    let stride = c.plan.shape.elem_stride();
    assert_rejects(
        &c,
        &forged,
        k,
        &[(AdvCol::ElOut(lane), row + stride, fe(-192))],
        "an output outside the activation range",
    );
}

#[test]
fn input_copy_skipping_an_element_refused() {
    let mut b = Builder::new();
    let raw = b.tensor("x", &[3], 4, TensorKind::Activation);
    b.g.inputs.push(raw);
    let y = b.elem("copy", Some(raw), None, 1, 0, 0, 0, 0, 4);
    // The copy reads element 0 twice and element 1 never: element 1 is packed unbounded.
    if let Some(QOp::Elementwise(e)) = b.g.ops.last_mut() {
        e.a.as_mut().unwrap().index = Some(vec![0, 0, 2]);
    }
    b.g.outputs.push(y);
    b.g.validate().unwrap();
    let err = choose_shape(&b.g, &SearchOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("element #1 of public input 'x' is never range-checked"),
        "{err}"
    );
    // Two copies that together read every element are enough.
    let extra = b.elem("copy 2", Some(raw), None, 1, 0, 0, 0, 0, 4);
    if let Some(QOp::Elementwise(e)) = b.g.ops.last_mut() {
        e.a.as_mut().unwrap().index = Some(vec![1, 1, 1]);
    }
    b.g.outputs.push(extra);
    assert!(choose_shape(&b.g, &SearchOptions::default()).is_ok());
}

#[test]
fn duplicate_graph_input_refused() {
    let (mut g, _) = echo_graph();
    let shape = choose_shape(&g, &SearchOptions::default()).unwrap().shape;
    g.inputs.push(g.inputs[0]);
    let err = g.validate().unwrap_err();
    assert_eq!(err, GraphError::InputTwice("x".into()));
    // The layout refuses it on its own, whatever the caller validated.
    let err = CircuitPlan::new(&g, shape).err().unwrap().to_string();
    assert!(err.contains("public input 'x' is listed twice"), "{err}");
}

/// `ids [4]` → `TABLE[id]` through a tabulated function over `[0, 3)` (an embedding column).
fn embedding_graph() -> (QuantizedGraph, Vec<Vec<i128>>) {
    let mut b = Builder::new();
    let ids = b.input("ids", &[4]);
    let func = b.func(FnKind::Tabulated {
        lo: 0,
        values: vec![5, -7, 11],
    });
    let y = b.elem("embed", Some(ids), None, 1, 0, 0, 0, func, 4);
    b.g.outputs.push(y);
    (b.g, vec![vec![0, 2, 1, 2]])
}

/// `c` with input 0 rewritten to `id` and output 0 to `out` in every cell and public value
/// (plain I/O): the input's range check, then the embedding's operand, quotient and output.
fn with_token0(c: &ModelCircuit, id: i128, out: i128) -> (ModelCircuit, Vec<F>) {
    let (mut xs, mut ys) = (
        c.witness.as_ref().unwrap()[c.graph.inputs[0]].clone(),
        c.witness.as_ref().unwrap()[c.graph.outputs[0]].clone(),
    );
    (xs[0], ys[0]) = (id, out);
    let check = c.plan.layout.el[0].clone();
    let (_, lane, row) = last_op_segment(c);
    let mut t = c.clone();
    for (col, r, v) in [
        (AdvCol::ElA(check.lane), check.start, id),
        (AdvCol::ElQ(check.lane), check.start, id),
        (AdvCol::ElOut(check.lane), check.start, id),
        (AdvCol::ElA(lane), row, id),
        (AdvCol::ElQ(lane), row, id),
        (AdvCol::ElOut(lane), row, out),
    ] {
        t = t.tampered(col, r, fe(v));
    }
    (t, instances(PublicIo::Plain, BITS, &xs, &ys))
}

#[test]
fn tabulated_function_reads_its_row_and_proves_the_index_is_one() {
    for identity in [false, true] {
        let (g, x) = embedding_graph();
        // Table rows: the function's 3 indices, not a whole domain (the range table, or the
        // identity's domain, is taller).
        let full = 1usize << BITS;
        let extra = if identity { 3 } else { 0 };
        assert_eq!(g.table_rows(identity), full + extra);
        assert_eq!(
            g.clone().eval(&x).unwrap()[g.outputs[0]],
            vec![5, 11, -7, 11]
        );
        let err = g.eval(&[vec![0, 3, 1, 2]]).unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::OutOfDomain {
                    x: 3,
                    lo: 0,
                    hi: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("outside the table's rows [0, 3)"),
            "{err}"
        );
        let rows = g.table_rows(identity);
        let (c, inst, k) = build_shaped(g, x, |s| {
            s.public_io = PublicIo::Plain;
            s.identity_table = identity;
            while s.usable_rows() < rows + 16 {
                s.k += 1;
            }
        });
        assert!(satisfied(&c, &inst, k), "identity={identity}");
        // The rewrite itself is sound: token 1 reading its own row is accepted ...
        let (t, i2) = with_token0(&c, 1, -7);
        assert!(
            satisfied(&t, &i2, k),
            "identity={identity}: honest rewrite rejected"
        );
        // ... another row's value is not ...
        let (t, i2) = with_token0(&c, 1, 11);
        assert!(
            !satisfied(&t, &i2, k),
            "identity={identity}: wrong row accepted"
        );
        // ... and an index past the table (in the activation range) reads nothing.
        for (id, out) in [(3, 0), (3, 3), (-1, 11), (3, 5)] {
            let (t, i2) = with_token0(&c, id, out);
            assert!(
                !satisfied(&t, &i2, k),
                "identity={identity}: token {id} -> {out} accepted"
            );
        }
    }
}

/// The reciprocal square root's outputs are wide (beyond the activation range): the
/// elementwise op reading them is proven exactly and a moved one fails; a graph where such a
/// tensor is an output, or is read by another chip, is refused.
#[test]
fn wide_rsqrt_outputs_feed_only_elementwise_ops() {
    // r(v) = 2^8 / sqrt(v / 16): 1024 at v = 1, far beyond the 8-bit range.
    let f = FnKind::Rsqrt {
        unit: 1.0 / 16.0,
        out_scale: 8,
        narrow: false,
    };
    assert!(f.wide() && f.eval(1) == 1024);
    f.check_image(BITS).unwrap();
    let mut b = Builder::new();
    let v = b.input("v", &[4]);
    let func = b.func(f);
    let r = b.elem("rsqrt", Some(v), None, 1, 0, 0, 0, func, 4);
    // y = round(r / 16): at most 64.
    let y = b.elem("scaled", Some(r), None, 1, 0, 0, 4, 0, 0);
    let mut g = b.g;
    g.outputs.push(y);
    let (c, inst, k) = build(g.clone(), vec![vec![1, 4, 16, 100]]);
    assert!(satisfied(&c, &inst, k));
    let honest = (**c.witness.as_ref().unwrap()).clone();
    assert_eq!(honest[r], vec![1024, 512, 256, 102]);
    for delta in [1, -1] {
        let mut vals = honest.clone();
        vals[r][0] += delta;
        let t = ModelCircuit::with_witness(c.graph.clone(), c.plan.clone(), vals);
        assert!(!satisfied(&t, &inst, k), "r moved by {delta} verifies");
    }
    let mut out = g.clone();
    out.outputs = vec![r];
    let err = out.validate().unwrap_err();
    assert_eq!(err, GraphError::WideOutput("rsqrt".into()));
    let mut pooled = g;
    let m = pooled.tensors.len();
    pooled.tensors.push(QTensor {
        name: "r·r".into(),
        shape: vec![1],
        scale: 0,
        kind: TensorKind::Accumulator,
        affine: None,
    });
    pooled.ops.push(QOp::MatMul(MatMulOp {
        name: "square".into(),
        a: r,
        b: r,
        output: m,
        ikj: [1, 1, 1],
        batches: vec![[0, 0, 0]],
        a_zeros: Vec::new(),
    }));
    let err = pooled.validate().unwrap_err().to_string();
    assert!(err.contains("may leave the activation range"), "{err}");
}

/// Values of [`Builder::product_2x3x2`]'s inputs.
fn product_inputs() -> Vec<Vec<i128>> {
    vec![vec![3, -5, 2, 7, 1, -4], vec![2, 6, -3, 1, 5, -2]]
}

/// `A [2, 3] · B [3, 2]`, output unrescaled: a graph whose product can be forged consistently.
fn matmul_graph() -> (QuantizedGraph, Vec<Vec<i128>>, TensorId, TensorId) {
    let mut b = Builder::new();
    let acc = b.product_2x3x2();
    let out = b.elem("out", Some(acc), None, 1, 0, 0, 0, 0, 8);
    b.g.outputs.push(out);
    (b.g, product_inputs(), acc, out)
}

/// Witnesses with a product element moved by ±1, the unrescaled output `out` following (so
/// the public output agrees): each must fail.
fn moved_outputs_rejected(
    c: &ModelCircuit,
    k: u32,
    (prod, out): (TensorId, TensorId),
    elems: &[usize],
) {
    let honest = (**c.witness.as_ref().unwrap()).clone();
    for &e in elems {
        for d in [1, -1] {
            let mut v = honest.clone();
            v[prod][e] += d;
            v[out][e] += d;
            let t = ModelCircuit::with_witness(c.graph.clone(), c.plan.clone(), v);
            assert!(!satisfied(&t, &t.instances(), k), "output {e} moved by {d}");
        }
    }
}

/// [`moved_outputs_rejected`], and a witness with two product elements swapped (the output
/// following): each must fail.
fn product_forgeries_rejected(
    c: &ModelCircuit,
    k: u32,
    (prod, out): (TensorId, TensorId),
    elems: &[usize],
    swap: (usize, usize),
) {
    moved_outputs_rejected(c, k, (prod, out), elems);
    let mut swapped = (**c.witness.as_ref().unwrap()).clone();
    swapped[prod].swap(swap.0, swap.1);
    swapped[out].swap(swap.0, swap.1);
    let t = ModelCircuit::with_witness(c.graph.clone(), c.plan.clone(), swapped);
    assert!(
        !satisfied(&t, &t.instances(), k),
        "two outputs swapped accepted"
    );
}

/// A matmul region's first output cell, its first copied factor (row `first_a` of the
/// region, after `C`; `None` where every factor is a known zero), and each running column on
/// every row of it, changed on its own: each must fail (both columns are set on every row).
fn matmul_cells_guarded(
    c: &ModelCircuit,
    inst: &[F],
    k: u32,
    reg: &RunRegion,
    first_a: Option<u32>,
) {
    let (l, odd) = (reg.lane, fe(0x5eed_0001));
    let out = [(AdvCol::DotX(l), reg.start, odd)];
    assert_rejects(c, inst, k, &out, "an output element");
    if let Some(a) = first_a {
        let factor = [(AdvCol::DotX(l), reg.start + a, odd)];
        assert_rejects(c, inst, k, &factor, "a copied factor");
    }
    for row in reg.start..reg.start + reg.len {
        for col in [AdvCol::DotAcc(l), AdvCol::DotCarry(l)] {
            let what = format!("{col:?} on row {} of the region", row - reg.start);
            assert_rejects(c, inst, k, &[(col, row, odd)], &what);
        }
    }
}

/// An int8 Mul of two tensors as the importer writes it (range checks, centring steps, a
/// product of 1×1×1 blocks, a requantization), after `scalar_products`: one elementwise row
/// per element, moved into the activation domain and moved back by the requantization's
/// offset. The honest witness verifies; a product moved by ±1 (its output following) or two
/// swapped does not.
#[test]
fn a_product_of_two_int8_tensors_in_one_row_rejects_any_other_product() {
    use zkinfer_circuits::graph::requant::{AffineScale, Dyadic, Rounding};
    let mut b = Builder::new();
    b.g.bits = 10;
    // a − z_a in [0, 31], b − z_b in [−24, 7]: products in [−744, 217], ±2^9 only when moved.
    let (za, zb) = (-16, 8);
    let int8 = |zp| Some(AffineScale::new(0.5, zp, (-16, 15)).unwrap());
    let (a, bb) = (b.input("a", &[4]), b.input("b", &[4]));
    b.g.tensors[a].affine = int8(za);
    b.g.tensors[bb].affine = int8(zb);
    let centre = |b: &mut Builder, x: TensorId, zp: i64| {
        let c = b.elem("centred", Some(x), None, 1, 0, 0, 0, 0, 4);
        if let Some(QOp::Elementwise(op)) = b.g.ops.last_mut() {
            op.qc = Coef::Const(-zp);
        }
        c
    };
    let (ca, cb) = (centre(&mut b, a, za), centre(&mut b, bb, zb));
    let p = b.tensor("p", &[4], 0, TensorKind::Accumulator);
    b.g.ops.push(QOp::MatMul(MatMulOp {
        name: "mul".into(),
        a: ca,
        b: cb,
        output: p,
        ikj: [1, 1, 1],
        batches: (0..4).map(|e| [e, e, e]).collect(),
        a_zeros: Vec::new(),
    }));
    let y = b.tensor("y", &[4], 4, TensorKind::Activation);
    b.g.ops.push(QOp::Requant(RequantOp {
        name: "requant".into(),
        input: p,
        output: y,
        rules: vec![Dyadic::new((5, 6, Rounding::HalfEven), 1, (-16, 15)).unwrap()],
        inner: 4,
        offsets: vec![],
        quotient_bits: 8,
    }));
    b.g.outputs.push(y);
    let mut g = b.g;
    assert_eq!(scalar_products(&mut g), 1);
    let Some(QOp::Requant(r)) = g.ops.last() else {
        panic!("{:?}", g.ops.last());
    };
    assert_eq!(r.offsets, vec![(-744 + 217) / 2 - 1; 4]);
    let (prod, out) = (r.input, g.outputs[0]);
    assert!(g.ops.iter().all(|op| !matches!(op, QOp::MatMul(_))));
    let inputs = vec![vec![15, -16, 0, 7], vec![-16, 15, 3, 8]];
    let (c, inst, k) = build(g, inputs);
    assert!(satisfied(&c, &inst, k));
    let w = c.witness.as_ref().unwrap();
    assert_eq!(w[prod][0] + (-264), 31 * -24);
    product_forgeries_rejected(&c, k, (prod, out), &[0, 3], (0, 1));
}

#[test]
fn matmul_freivalds_check_accepts_the_product_and_rejects_any_other() {
    let (g, x, prod, out) = matmul_graph();
    // The search keeps dot lanes for so small a product (no fewer columns); ask for matmul.
    let (c, inst, k) = build_shaped(g, x, |s| {
        s.public_io = PublicIo::Plain;
        s.matmul_lanes = true;
    });
    assert!(c.plan.shape.multi_phase() && c.plan.shape.dot_freivalds());
    assert_eq!(c.witness.as_ref().unwrap()[prod], vec![31, 9, -9, 51]);
    assert!(satisfied(&c, &inst, k));
    // One region: the 4 products, then 3 × (2 + 2) rows of A and B.
    let reg = c.plan.layout.dot[0].clone();
    assert_eq!((c.plan.layout.dot.len(), reg.len), (1, 16));
    // A product moved by ±1, or two products swapped, with everything after it (the rescale,
    // the public output and the prover's Horner sums) made consistent: only the Freivalds
    // check is left to catch it.
    product_forgeries_rejected(&c, k, (prod, out), &[0, 1, 2, 3], (0, 3));
    // An output, a copied factor (after the 4 outputs) or a Horner sum changed on its own.
    matmul_cells_guarded(&c, &inst, k, &reg, Some(4));
}

/// A product with no rows or no columns (`A [0, 3] · B [3, 2]`, `A [2, 3] · B [3, 0]`) is
/// refused: its region would have no `C` rows to start the check on.
#[test]
fn an_empty_product_is_refused() {
    for ikj in [[0, 3, 2], [2, 3, 0]] {
        let mut b = Builder::new();
        let a = b.input("a", &[ikj[0], 3]);
        let m = b.input("m", &[3, ikj[2]]);
        let prod = b.product((a, m), ikj);
        b.g.outputs.push(prod);
        let err = b.g.validate().unwrap_err().to_string();
        assert!(err.contains("empty product"), "{ikj:?}: {err}");
    }
}

/// A constant op with one element, zero (an elementwise op with no operand): its element is a
/// known zero wherever a view reads it.
fn zero_constant(b: &mut Builder) -> TensorId {
    let zero = b.tensor("zero", &[1], 4, TensorKind::Activation);
    b.g.ops.push(QOp::Elementwise(ElemOp {
        name: "zero".into(),
        output: zero,
        a: None,
        b: None,
        qa: Coef::Const(0),
        qb: Coef::Const(0),
        qm: Coef::Const(0),
        qc: Coef::Const(0),
        shift: 0,
        func: 0,
    }));
    zero
}

/// `A [3, 3] · B [3, 2]` where `A = [[x0, 0, 0], [x1, x2, 0], [x3, x4, 0]]`: its zeros are a
/// constant op's read through a view, so the product skips them (one in column 1, all of
/// column 2). Output unrescaled.
fn masked_product_graph() -> (QuantizedGraph, Vec<Vec<i128>>, TensorId, TensorId) {
    let mut b = Builder::new();
    let x = b.input("x", &[5]);
    let m = b.input("m", &[3, 2]);
    let zero = zero_constant(&mut b);
    let a = b.tensor("a", &[3, 3], 4, TensorKind::Activation);
    let (z, x_at) = ((1, 0), |e| (0, e));
    b.g.ops.push(QOp::View(ViewOp {
        name: "mask".into(),
        inputs: vec![x, zero],
        output: a,
        map: vec![x_at(0), z, z, x_at(1), x_at(2), z, x_at(3), x_at(4), z],
    }));
    let acc = b.product((a, m), [3, 3, 2]);
    let out = b.elem("out", Some(acc), None, 1, 0, 0, 0, 0, 8);
    b.g.outputs.push(out);
    let inputs = vec![vec![3, -5, 2, 7, 1], vec![2, 6, -3, 1, 5, -2]];
    (b.g, inputs, acc, out)
}

#[test]
fn known_zeros_of_a_are_left_out_and_any_other_product_is_rejected() {
    let (mut g, x, prod, out) = masked_product_graph();
    // Column 0 has no zeros, column 1 one (row 0), column 2 three.
    assert_eq!(skip_known_zeros(&mut g), 4);
    let Some(QOp::MatMul(m)) = g.ops.iter().find(|op| matches!(op, QOp::MatMul(_))) else {
        panic!("no product");
    };
    assert_eq!(m.a_zeros, vec![0, 1, 3]);
    // A claim of one more zero than the graph has is refused.
    let mut wrong = g.clone();
    for op in &mut wrong.ops {
        if let QOp::MatMul(m) = op {
            m.a_zeros = vec![1, 1, 3];
        }
    }
    let err = wrong.validate().unwrap_err().to_string();
    assert!(err.contains("not known zeros"), "{err}");
    let (c, inst, k) = build_shaped(g, x, |s| {
        s.public_io = PublicIo::Plain;
        s.matmul_lanes = true;
    });
    assert!(c.plan.shape.dot_freivalds());
    // A = [[3, 0, 0], [-5, 2, 0], [7, 1, 0]], B = [[2, 6], [-3, 1], [5, -2]].
    let w = c.witness.as_ref().unwrap();
    assert_eq!(w[prod], vec![6, 18, -16, -28, 11, 43]);
    assert!(satisfied(&c, &inst, k));
    // The 6 products; then terms of (3 + 2) and (2 + 2) rows, column 2 none.
    let reg = c.plan.layout.dot[0].clone();
    assert_eq!((c.plan.layout.dot.len(), reg.len), (1, 15));
    product_forgeries_rejected(&c, k, (prod, out), &[0, 1, 2, 3, 4, 5], (0, 5));
    matmul_cells_guarded(&c, &inst, k, &reg, Some(6));
}

/// `A [2, 2] · B [2, 1]` where `A` reads input `x` (`[x_len]`) and a constant zero through
/// `map` (`(0, e)`: `x[e]`, `(1, 0)`: the zero), output unrescaled; `x` is an output too.
fn masked_2x2_graph(x_len: usize, map: Vec<(u16, u32)>) -> (QuantizedGraph, TensorId, TensorId) {
    let mut b = Builder::new();
    let x = b.input("x", &[x_len]);
    let m = b.input("m", &[2, 1]);
    let zero = zero_constant(&mut b);
    let a = b.tensor("a", &[2, 2], 4, TensorKind::Activation);
    b.g.ops.push(QOp::View(ViewOp {
        name: "mask".into(),
        inputs: vec![x, zero],
        output: a,
        map,
    }));
    let prod = b.product((a, m), [2, 2, 1]);
    let out = b.elem("out", Some(prod), None, 1, 0, 0, 0, 0, 8);
    let keep = b.elem("keep", Some(x), None, 1, 0, 0, 0, 0, 4);
    b.g.outputs.extend([out, keep]);
    (b.g, prod, out)
}

/// `A [2, 2] · B [2, 1]` with `A` all known zeros (a constant op's, read through a view): in
/// a matmul lane the region is `C` alone, whose Horner sum must be zero. The honest witness
/// verifies; an output moved by ±1 (its reader following), or a running sum changed, does
/// not.
#[test]
fn a_matmul_of_known_zeros_only_proves_zero() {
    let (mut g, prod, out) = masked_2x2_graph(1, vec![(1, 0); 4]);
    assert_eq!(skip_known_zeros(&mut g), 4);
    let (c, inst, k) = build_shaped(g, vec![vec![3], vec![2, 6]], |s| {
        s.public_io = PublicIo::Plain;
        s.matmul_lanes = true;
    });
    assert!(c.plan.shape.dot_freivalds());
    let reg = c.plan.layout.dot[0].clone();
    assert_eq!((c.plan.layout.dot.len(), reg.len), (1, 2), "C alone");
    assert!(satisfied(&c, &inst, k));
    assert_eq!(c.witness.as_ref().unwrap()[out], vec![0, 0]);
    moved_outputs_rejected(&c, k, (prod, out), &[0, 1]);
    matmul_cells_guarded(&c, &inst, k, &reg, None);
}

/// The masked product in dot lanes (one row per term, single phase), read at outputs 1, 2
/// and 5 only: the known zeros of `A` have no rows and the three unread outputs no runs. The
/// honest witness verifies; a read output moved by ±1 (its reader following), a copied factor
/// or a running sum changed does not.
#[test]
fn dot_lanes_leave_out_known_zeros_and_unread_outputs() {
    let (mut g, x, prod, out) = masked_product_graph();
    let read = vec![1u32, 2, 5];
    for op in &mut g.ops {
        if let QOp::Elementwise(e) = op {
            if e.output == out {
                e.a.as_mut().unwrap().index = Some(read.clone());
            }
        }
    }
    g.tensors[out].shape = vec![read.len()];
    assert_eq!(skip_known_zeros(&mut g), 4);
    let (c, inst, k) = build_shaped(g, x, |s| {
        s.public_io = PublicIo::Plain;
        s.matvec_check = MatvecCheck::Direct;
        s.matmul_lanes = false;
    });
    assert!(!c.plan.shape.multi_phase());
    // Output 1 is (i 0, j 1): column 0 only; outputs 2 and 5 (rows 1 and 2): columns 0 and 1.
    let mut lens: Vec<u32> = c.plan.layout.dot.iter().map(|r| r.len).collect();
    lens.sort_unstable();
    assert_eq!(lens, vec![1, 2, 2]);
    assert!(satisfied(&c, &inst, k));
    let honest = (**c.witness.as_ref().unwrap()).clone();
    assert_eq!(honest[out], vec![18, -16, 43]);
    for (n, &e) in read.iter().enumerate() {
        for d in [1, -1] {
            let mut v = honest.clone();
            v[prod][e as usize] += d;
            v[out][n] += d;
            let t = ModelCircuit::with_witness(c.graph.clone(), c.plan.clone(), v);
            assert!(!satisfied(&t, &t.instances(), k), "output {e} moved by {d}");
        }
    }
    for reg in &c.plan.layout.dot {
        let last = reg.start + reg.len - 1;
        let l = reg.lane;
        assert_rejects(&c, &inst, k, &[(AdvCol::DotX(l), last, fe(4))], "a factor");
        assert_rejects(&c, &inst, k, &[(AdvCol::DotW(l), last, fe(4))], "a factor");
        assert_rejects(&c, &inst, k, &[(AdvCol::DotAcc(l), last, fe(7))], "a sum");
    }
}

/// `A [2, 2] · B [2, 1]` with `A = [[0, 0], [x0, x1]]`, the zeros a constant op's: in dot
/// lanes, output 0's terms are all known zeros, so its run keeps one row (zero times `B`'s
/// first element); output 1 keeps both. The honest witness verifies; output 0 or 1 moved by
/// ±1 (its reader following), or the kept zero factor changed, does not.
#[test]
fn a_run_of_known_zeros_only_proves_zero() {
    let (mut g, prod, out) = masked_2x2_graph(2, vec![(1, 0), (1, 0), (0, 0), (0, 1)]);
    assert_eq!(skip_known_zeros(&mut g), 2);
    let (c, inst, k) = build_shaped(g, vec![vec![3, -5], vec![2, 6]], |s| {
        s.public_io = PublicIo::Plain;
        s.matvec_check = MatvecCheck::Direct;
        s.matmul_lanes = false;
    });
    let mut lens: Vec<u32> = c.plan.layout.dot.iter().map(|r| r.len).collect();
    lens.sort_unstable();
    assert_eq!(lens, vec![1, 2]);
    assert!(satisfied(&c, &inst, k));
    assert_eq!(c.witness.as_ref().unwrap()[out], vec![0, -24]);
    moved_outputs_rejected(&c, k, (prod, out), &[0, 1]);
    let zero_run = c.plan.layout.dot.iter().find(|r| r.len == 1).unwrap();
    let cell = [(AdvCol::DotX(zero_run.lane), zero_run.start, fe(1))];
    assert_rejects(&c, &inst, k, &cell, "the kept zero factor");
}

/// A product whose batches write the same block of its output (a hand-made model file) is
/// refused by `validate`, rather than leaving output elements that no batch writes.
#[test]
fn batches_writing_the_same_outputs_are_refused() {
    let (mut g, _, prod, _) = masked_product_graph();
    g.tensors[prod].shape = vec![2, 3, 2];
    for op in &mut g.ops {
        if let QOp::MatMul(m) = op {
            m.batches = vec![[0, 0, 0], [0, 0, 0]];
        }
    }
    let err = g.validate().unwrap_err().to_string();
    assert!(err.contains("overlap"), "{err}");
}

/// A dot product whose every term is a known zero keeps its first (a run of one row, which
/// sums to zero); the others keep the terms past each column's zeros.
#[test]
fn a_dot_product_of_known_zeros_keeps_one_term() {
    let m = MatMulOp {
        name: "m".into(),
        a: 0,
        b: 1,
        output: 2,
        ikj: [3, 2, 1],
        batches: vec![[0, 0, 0]],
        a_zeros: vec![1, 3],
    };
    assert_eq!(m.dot_terms(0), (0, vec![(0, 0)]));
    assert_eq!(m.dot_terms(1), (1, vec![(2, 0)]));
    assert_eq!(m.dot_terms(2), (2, vec![(4, 0)]));
    let all = MatMulOp {
        a_zeros: Vec::new(),
        ..m
    };
    assert_eq!(all.dot_terms(2), (2, vec![(4, 0), (5, 1)]));
}

/// `Y = X·Wᵀ + b` for three rows of `X` (tokens) with one constant `W` (5 × 4): a shared
/// product, output unrescaled.
fn shared_product_graph(w: Vec<i64>) -> (QuantizedGraph, Vec<Vec<i128>>, TensorId, TensorId) {
    let mut b = Builder::new();
    let x = b.input("x", &[3, 4]);
    let acc = b.tensor("acc", &[3, 5], 8, TensorKind::Accumulator);
    b.g.ops.push(QOp::Linear(LinearOp {
        name: "tokens".into(),
        input: x,
        output: acc,
        sets: vec![WeightSet {
            m: 5,
            k: 4,
            w,
            b: vec![3, -2, 0, 1, -4],
        }],
        geometry: Geometry::Dense {
            outer: 1,
            inner: 3,
            xs: [0, 4, 1],
            ys: [0, 5, 1],
            sets: None,
        },
    }));
    let out = b.elem("out", Some(acc), None, 1, 0, 0, 0, 0, 8);
    b.g.outputs.push(out);
    let x = vec![vec![3, -5, 2, 7, 1, -4, 0, 6, -2, 5, -3, 1]];
    (b.g, x, acc, out)
}

fn shared_weights() -> Vec<i64> {
    vec![
        1, -2, 0, 3, 2, 1, -1, 0, -3, 0, 2, 1, 0, 1, 1, -2, 2, -1, 0, 1,
    ]
}

#[test]
fn shared_weights_are_placed_once_and_any_other_product_is_rejected() {
    let (g, x, acc, out) = shared_product_graph(shared_weights());
    // Two weights per row: the five outputs take three weight rows (the top slot is zero).
    let in_matmul = |s: &mut CircuitShape| {
        s.public_io = PublicIo::Plain;
        s.matvec = vec![];
        s.matmul_lanes = true;
        s.matmul_weights = 2;
        s.matmul_weight_lanes = 1;
        s.dot_lanes = 1;
    };
    let (c, inst, k) = build_shaped(g, x.clone(), in_matmul);
    assert!(
        c.plan.layout.mv.is_empty(),
        "the product left the matvec lanes"
    );
    let reg = c.plan.layout.dot[0].clone();
    // The 15 outputs; then per input column, 3 rows of X and 3 weight rows.
    assert_eq!((c.plan.layout.dot.len(), reg.len), (1, 4 * (3 + 3) + 15));
    assert_eq!(c.witness.as_ref().unwrap()[acc][..5], [37, -3, 2, -16, 14]);
    assert!(satisfied(&c, &inst, k));
    // An output moved by ±1 (the public output following it) or two outputs of different
    // tokens swapped: only the Freivalds check can catch it.
    product_forgeries_rejected(&c, k, (acc, out), &[0, 4, 7, 14], (1, 6));
    // The running sums on every row (weight rows among them), and the first copied input.
    matmul_cells_guarded(&c, &inst, k, &reg, Some(15));
    let honest = (**c.witness.as_ref().unwrap()).clone();
    // The weights are the circuit's: the honest witness fails a model with one weight changed
    // (another fixed column, another key).
    let mut other = shared_weights();
    other[9] += 1;
    let (g2, ..) = shared_product_graph(other);
    let (c2, ..) = build_shaped(g2, x, in_matmul);
    let t = ModelCircuit::with_witness(c2.graph.clone(), c2.plan.clone(), honest);
    assert!(!satisfied(&t, &inst, k), "another model's weights accepted");
}

/// `x → relu → clip[-3, 4]`: two functions that a split puts in different tables.
fn two_functions_graph() -> (QuantizedGraph, Vec<Vec<i128>>) {
    let mut b = Builder::new();
    let x = b.input("x", &[4]);
    let relu = b.func(FnKind::Relu);
    let clip = b.func(FnKind::Clip { lo: -3, hi: 4 });
    let r = b.elem("relu", Some(x), None, 1, 0, 0, 0, relu, 4);
    let c = b.elem("clip", Some(x), None, 1, 0, 0, 0, clip, 4);
    let s = b.elem("sum", Some(r), Some(c), 1, 1, 0, 0, 0, 4);
    b.g.outputs.push(s);
    (b.g, vec![vec![5, -7, 2, -1]])
}

#[test]
fn split_function_tables_check_each_row_against_its_own_function() {
    let (g, x) = two_functions_graph();
    for (identity_table, remainder_rows) in [(false, false), (true, false), (true, true)] {
        let split = g.function_banks(identity_table, 2);
        assert_ne!(
            split.bank_of[1], split.bank_of[2],
            "relu and clip share a table"
        );
        let g2 = g.clone();
        let (c, inst, k) = build_shaped(g.clone(), x.clone(), |s| {
            s.public_io = PublicIo::Plain;
            s.identity_table = identity_table;
            s.remainder_rows = remainder_rows;
            s.fn_tables = 2;
            let rows = 2 * g2.banked_table_rows(identity_table, 2);
            while s.usable_rows() < rows {
                s.k += 1;
            }
        });
        let mode = format!("identity {identity_table}, remainder rows {remainder_rows}");
        assert_eq!(c.plan.shape.fn_banks(), 2);
        let p = MockProver::run(k, &c, vec![inst.clone()]).unwrap();
        p.assert_satisfied();
        assert_eq!(
            all_zero_lookups(&p, &c.plan.shape),
            Vec::<String>::new(),
            "{mode}"
        );
        // Each function row: its output moved by one, or replaced by the other function's
        // value of the same input (which the other table holds), is rejected.
        let stride = c.plan.shape.elem_stride();
        for (op, other) in [(1usize, FnKind::Clip { lo: -3, hi: 4 }), (2, FnKind::Relu)] {
            let seg = c.plan.layout.el.iter().find(|s| s.op == op as u32).unwrap();
            let QOp::Elementwise(e) = &c.graph.ops[op] else {
                panic!()
            };
            let f = &c.graph.functions[e.func as usize];
            // Element 0 is 5 (both give 4 or 5), element 1 is -7 (relu 0, clip -3).
            let row = seg.start + stride;
            let q = -7;
            assert_ne!(f.eval(q), other.eval(q));
            for bad in [f.eval(q) + 1, other.eval(q)] {
                let t = c.tampered(AdvCol::ElOut(seg.lane), row, fe(bad as i128));
                assert!(
                    !satisfied(&t, &inst, k),
                    "{mode}: op {op} output {bad} accepted"
                );
            }
        }
    }
}

/// `x [4]` → `sig = interp(sigmoid)(x)` → `round(sig / 2)`: lookups on 4-bit limbs.
fn limbed_graph() -> (QuantizedGraph, Vec<Vec<i128>>) {
    let mut b = Builder::new();
    let x = b.input("x", &[4]);
    let sig = b.func(FnKind::Sigmoid {
        in_scale: 4,
        out_scale: 6,
    });
    let s = b.elem("sigmoid", Some(x), None, 1, 0, 0, 0, sig, 6);
    let h = b.elem("half", Some(s), None, 1, 0, 0, 1, 0, 5);
    b.g.outputs.push(h);
    let g = b.g.with_knots(4).unwrap();
    (g, vec![vec![37, -90, 0, 127]])
}

fn limbed() -> (ModelCircuit, Vec<F>, u32) {
    let (g, x) = limbed_graph();
    build_shaped(g, x, |s| {
        s.public_io = PublicIo::Plain;
        s.identity_table = true;
        s.remainder_rows = true;
        s.limb_bits = 4;
    })
}

#[test]
fn limbs_check_interpolated_functions_through_small_tables() {
    use zkinfer_circuits::chips::limbs::{Limb, LimbValues};
    let (c, inst, k) = limbed();
    assert_eq!(c.graph.knot_limb(), Some(4));
    let p = MockProver::run(k, &c, vec![inst.clone()]).unwrap();
    p.assert_satisfied();
    assert_eq!(all_zero_lookups(&p, &c.plan.shape), Vec::<String>::new());
    assert_eq!(c.plan.shape.lookups(), 5, "five lookups per lane");
    let g = &c.graph;
    let vals = c.witness.as_ref().unwrap();
    let seg = c.plan.layout.el.iter().find(|s| s.op == 1).unwrap();
    let (lane, f) = (seg.lane, &g.functions[1]);
    let QOp::Elementwise(op) = &g.ops[1] else {
        panic!()
    };
    let limb = |r: Limb| AdvCol::ElLimb(lane, r);
    for i in 0..4u32 {
        let row = seg.start + 2 * i;
        let q = op.round(op.lin(i as usize, vals), g.bits).q;
        let out = f.eval(q as i64) as i128;
        let [h, l, t0, t1, rho, oh, ol] = LimbValues::of(f, q, out, 4).cells;
        // The output moved by one: alone, with the rounding remainder compensating (leaving
        // [0, 16)) and the output's limbs following, or with the other rounding.
        assert_rejects(
            &c,
            &inst,
            k,
            &[(AdvCol::ElOut(lane), row, fe(out + 1))],
            "out + 1",
        );
        let moved = |d: i128| {
            vec![
                (AdvCol::ElOut(lane), row, fe(out + d)),
                (limb(Limb::Rho), row, fe(rho - 16 * d)),
                (limb(Limb::OutHi), row, fe((out + d).div_euclid(16))),
                (limb(Limb::OutLo), row, fe((out + d).rem_euclid(16))),
            ]
        };
        assert_rejects(&c, &inst, k, &moved(1), "out + 1, ρ − 16");
        assert_rejects(&c, &inst, k, &moved(-1), "out − 1, ρ + 16");
        // A limb moved by the base with its neighbour compensating, the knots following.
        for d in [1i128, -1] {
            let (t0b, t1b) = match f {
                FnKind::Interpolated { inner, .. } => (
                    inner.eval(((h + d) * 16) as i64) as i128,
                    inner.eval(((h + d + 1) * 16) as i64) as i128,
                ),
                _ => unreachable!(),
            };
            let lb = l - 16 * d;
            let rho_b = t0b * 16 + (t1b - t0b) * lb + 8 - out * 16;
            let cells = [
                (limb(Limb::H), row, fe(h + d)),
                (limb(Limb::L), row, fe(lb)),
                (limb(Limb::T0), row, fe(t0b)),
                (limb(Limb::T1), row, fe(t1b)),
                (limb(Limb::Rho), row, fe(rho_b)),
            ];
            assert_rejects(&c, &inst, k, &cells, "h ± 1 with l ∓ 16");
            let cells = [
                (limb(Limb::OutHi), row, fe(oh + d)),
                (limb(Limb::OutLo), row, fe(ol - 16 * d)),
            ];
            assert_rejects(&c, &inst, k, &cells, "out's limbs ± 16");
        }
        // Knots that are not the function's at h.
        for (r, v) in [(Limb::T0, t0 + 1), (Limb::T1, t1 - 1)] {
            let rho_b = match r {
                Limb::T0 => rho + 16 - l,
                _ => rho - l,
            };
            let cells = [(limb(r), row, fe(v)), (limb(Limb::Rho), row, fe(rho_b))];
            assert_rejects(&c, &inst, k, &cells, "a knot ± 1");
        }
    }
    // The rescale's remainder row: its limbs moved by the base.
    let seg = c.plan.layout.el.iter().find(|s| s.op == 2).unwrap();
    let QOp::Elementwise(op) = &g.ops[2] else {
        panic!()
    };
    let r = op.round(op.lin(0, vals), g.bits).r - (1 << (BITS - 1));
    let [h, l, ..] = LimbValues::of(&FnKind::Identity, r, r, 4).cells;
    let limb = |x: Limb| AdvCol::ElLimb(seg.lane, x);
    let row = seg.start + 1;
    assert_rejects(
        &c,
        &inst,
        k,
        &[
            (limb(Limb::H), row, fe(h + 1)),
            (limb(Limb::L), row, fe(l - 16)),
            (limb(Limb::T0), row, fe((h + 1) * 16)),
            (limb(Limb::T1), row, fe((h + 2) * 16)),
        ],
        "a remainder's limbs",
    );
}

#[test]
fn limbs_refuse_a_graph_with_exact_functions() {
    let (g, x) = limbed_graph();
    let mut exact = g.clone();
    exact.functions[1] = FnKind::Sigmoid {
        in_scale: 4,
        out_scale: 6,
    };
    assert_eq!(exact.knot_limb(), None);
    assert!(exact.with_knots(4).unwrap().fits_limbs(4));
    let shape = choose_shape(&g, &SearchOptions::default()).unwrap().shape;
    let mut limbed = shape.clone();
    (
        limbed.identity_table,
        limbed.remainder_rows,
        limbed.limb_bits,
    ) = (true, true, 4);
    assert!(CircuitPlan::new(&g, limbed.clone()).is_ok());
    let err = CircuitPlan::new(&exact, limbed.clone()).unwrap_err();
    assert!(err.to_string().contains("interpolated"), "{err}");
    limbed.remainder_rows = false;
    assert!(CircuitPlan::new(&g, limbed).is_err());
    let _ = x;
}

#[test]
fn max_pool_differences_on_limbs_are_range_checked() {
    let (g, x) = conv_pool_graph((0..16).map(|i| (i * 7 % 23) - 11).collect());
    let (c, inst, k) = build_shaped(g.with_knots(4).unwrap(), x, |s| {
        s.public_io = PublicIo::Plain;
        (s.identity_table, s.remainder_rows, s.limb_bits) = (true, true, 4);
    });
    let p = MockProver::run(k, &c, vec![inst.clone()]).unwrap();
    p.assert_satisfied();
    assert_eq!(all_zero_lookups(&p, &c.plan.shape), Vec::<String>::new());
    assert_degree_and_columns(&c);
    let (reg, window) = first_window(&c);
    let (min, lane) = (*window.iter().min().unwrap(), reg.lane);
    let last = reg.start + reg.len - 1;
    let prev_max = *window[..window.len() - 1].iter().max().unwrap();
    let xl = *window.last().unwrap();
    let sum = 2 * min - prev_max - xl;
    assert!(
        min < prev_max || min < xl,
        "the forged maximum is below an element"
    );
    // The minimum claimed as the maximum, the sum of its differences split either way.
    for split in [|d: i128| (d >> 4, d & 15), |d: i128| (0, d)] {
        let (h, l) = split(sum);
        let cells = [
            (AdvCol::MxM(lane), last, fe(min)),
            (AdvCol::MxLimb(lane, 0), last, fe(h)),
            (AdvCol::MxLimb(lane, 1), last, fe(l)),
        ];
        assert_rejects(&c, &inst, k, &cells, "a non-maximum on limbs");
    }
    // An honest sum's limbs moved by the base.
    let max = *window.iter().max().unwrap();
    let sum = 2 * max - prev_max - xl;
    for dh in [1i128, -1] {
        let cells = [
            (AdvCol::MxLimb(lane, 0), last, fe((sum >> 4) + dh)),
            (AdvCol::MxLimb(lane, 1), last, fe((sum & 15) - 16 * dh)),
        ];
        assert_rejects(&c, &inst, k, &cells, "a sum's limbs ± 16");
    }
}

/// An imported int8 dense layer: `x [4]` → `W (3×4)` → accumulator → requantized per output
/// channel (int8 halves to even, uint8 with a zero point, int8 with a ReLU in the clamp).
fn requant_graph(x: Vec<i128>) -> (QuantizedGraph, Vec<Vec<i128>>) {
    use zkinfer_circuits::graph::requant::{Dyadic, Rounding};
    let (mut g, _) = dense_graph();
    g.bits = 10;
    g.ops.pop();
    let acc = g.ops.len() - 1;
    let QOp::Linear(l) = &g.ops[acc] else {
        unreachable!("dense_graph ends with its linear op")
    };
    let acc = l.output;
    g.tensors.push(QTensor {
        name: "y".into(),
        shape: vec![3],
        scale: 0,
        kind: TensorKind::Activation,
        affine: None,
    });
    let y = g.tensors.len() - 1;
    let rule = |m, n, r, zp, range| Dyadic::new((m, n, r), zp, range).unwrap();
    g.ops.push(QOp::Requant(RequantOp {
        name: "requant".into(),
        input: acc,
        output: y,
        rules: vec![
            rule(1, 1, Rounding::HalfEven, 0, (-128, 127)),
            rule(12_345, 17, Rounding::HalfUp, 128, (0, 255)),
            rule(3, 3, Rounding::HalfUp, -5, (-5, 127)),
        ],
        inner: 1,
        offsets: vec![0, 700, -9],
        quotient_bits: 0,
    }));
    g.outputs = vec![y];
    (g, vec![x])
}

#[test]
fn requantization_proves_onnx_runtimes_rule_and_rejects_broken_witnesses() {
    let (g, x) = requant_graph(vec![7, -3, 12, 5]);
    let vals = g.eval(&x).unwrap();
    let QOp::Requant(op) = &g.ops[g.ops.len() - 1] else {
        unreachable!()
    };
    let (acc, y) = (&vals[op.input], &vals[op.output]);
    for (e, (&a, &v)) in acc.iter().zip(y).enumerate() {
        let biased = a as i64 + op.offsets[e];
        assert_eq!(v, i128::from(op.rules[e].apply(biased)), "element {e}");
    }
    // Element 0 is a half (53/2 = 26.5 → 26 to even).
    assert_eq!((acc[0], y[0]), (53, 26));
    let (c, inst, k) = build(g.clone(), x);
    assert!(
        c.plan.shape.requant_lanes >= 1,
        "{}",
        c.plan.shape.summary()
    );
    assert!(satisfied(&c, &inst, k));
    let seg = c.plan.layout.rq[0].clone();
    let (lane, row) = (seg.lane, seg.start);
    for (cell, what) in [
        ((AdvCol::RqFree(lane, 0), row + 1), "the output"),
        ((AdvCol::RqFree(lane, 0), row + 2), "the quotient"),
        ((AdvCol::RqRange(lane, 0), row), "a remainder limb"),
        ((AdvCol::RqFree(lane, 0), row), "the accumulator's copy"),
    ] {
        let v = match cell.0 {
            AdvCol::RqFree(_, 0) if cell.1 == row + 1 => fe(y[0] + 1),
            AdvCol::RqFree(_, 0) if cell.1 == row + 2 => fe(28),
            AdvCol::RqRange(..) => F::from(3),
            _ => fe(acc[0] + 4),
        };
        assert_rejects(&c, &inst, k, &[(cell.0, cell.1, v)], what);
    }
    // Rounding the half up instead: t = 0, y = 27.
    assert_rejects(
        &c,
        &inst,
        k,
        &[
            (AdvCol::RqFree(lane, 2), row, F::zero()),
            (AdvCol::RqFree(lane, 0), row + 1, fe(27)),
        ],
        "a half rounded up",
    );
    // All-zero input: every lookup still has a non-zero row (the sentinel).
    let (c0, inst0, k0) = build(g.clone(), vec![vec![0; 4]]);
    let p = MockProver::run(k0, &c0, vec![inst0]).unwrap();
    p.assert_satisfied();
    assert_eq!(all_zero_lookups(&p, &c0.plan.shape), Vec::<String>::new());
    // The GPU layout (single phase) proves it too.
    let gpu = gpu_shape(&g);
    let (d, inst, k) = build_shaped(g, vec![vec![7, -3, 12, 5]], |s| *s = gpu.clone());
    assert!(!has_second_phase(&d) && satisfied(&d, &inst, k));
}

#[test]
fn requantization_past_the_range_checks_is_refused_at_evaluation() {
    // acc = 3072: 3072/2 leaves [-2^10, 2^10) (the first rule halves).
    let (g, x) = requant_graph(vec![511, -512, 511, 511]);
    g.validate().unwrap();
    let err = g.eval(&x).unwrap_err();
    assert!(
        matches!(err, EvalError::Requant { element: 0, .. }),
        "{err}"
    );
    // Declared wider quotients are checked in two limbs of the table: then it proves.
    let mut wide = g.clone();
    if let Some(QOp::Requant(op)) = wide.ops.last_mut() {
        op.quotient_bits = 12;
    }
    assert_eq!(wide.requant_wide(), 2);
    let (c, inst, k) = build(wide, x);
    assert_eq!(c.plan.shape.requant_wide, 2);
    assert!(satisfied(&c, &inst, k));
    let out = &c.witness.as_ref().unwrap()[*c.graph.outputs.first().unwrap()];
    assert_eq!(out[0], 127); // 3072 / 2 saturates
                             // A requantized range outside the activation range is refused by validation.
    let (mut g, _) = requant_graph(vec![0; 4]);
    g.bits = 8; // uint8 [0, 255] no longer fits [-128, 128)
    assert!(g.validate().is_err());
    // A shape whose requantization lanes have other limbs than the graph's rules need.
    let (g, _) = requant_graph(vec![0; 4]);
    let mut shape = choose_shape(&g, &SearchOptions::default()).unwrap().shape;
    shape.requant_limbs += 1;
    assert!(matches!(
        CircuitPlan::new(&g, shape),
        Err(LayoutError::RequantWidths { .. })
    ));
    // One offset per element, or none.
    let (mut g, _) = requant_graph(vec![0; 4]);
    if let Some(QOp::Requant(op)) = g.ops.last_mut() {
        op.offsets.pop();
    }
    assert!(g.validate().is_err());
}

/// [`requant_graph`] with every rule's output 255 wide (the third's ReLU range `[−5, 250]`):
/// one-row requantization lanes can hold it.
fn one_width_requant_graph(x: Vec<i128>) -> (QuantizedGraph, Vec<Vec<i128>>) {
    use zkinfer_circuits::graph::requant::{Dyadic, Rounding};
    let (mut g, x) = requant_graph(x);
    if let Some(QOp::Requant(op)) = g.ops.last_mut() {
        op.rules[2] = Dyadic::new((3, 3, Rounding::HalfUp), -5, (-5, 250)).unwrap();
        // Quotients within ±2^9: 2^9 + 128 is within the 10-bit clamp table's reach (768).
        op.quotient_bits = 9;
    }
    (g, x)
}

#[test]
fn one_row_requantization_proves_the_rule_and_rejects_broken_witnesses() {
    let (g, x) = one_width_requant_graph(vec![7, -3, 12, 5]);
    assert_eq!(g.requant_clamp_width(), Some(255));
    // An undeclared quotient width (0) gives no bound to size the table by; a declared one is
    // enforced by evaluation (acc = 1307 + 0 offset: q = 654 ≥ 2^9).
    let mut undeclared = g.clone();
    if let Some(QOp::Requant(op)) = undeclared.ops.last_mut() {
        op.quotient_bits = 0;
    }
    assert_eq!(undeclared.requant_clamp_width(), None);
    let (wide, wide_x) = one_width_requant_graph(vec![434, 0, 0, 0]);
    assert!(matches!(
        wide.eval(&wide_x),
        Err(EvalError::Requant { element: 0, .. })
    ));
    // Mixed widths (requant_graph's [−5, 127]) keep the three-row lanes, and a shape that
    // asks for one-row lanes anyway is refused.
    let (mixed, _) = requant_graph(vec![0; 4]);
    assert_eq!(mixed.requant_clamp_width(), None);
    let mut shape = choose_shape(&mixed, &SearchOptions::default())
        .unwrap()
        .shape;
    assert!(!shape.requant_row);
    shape.requant_row = true;
    assert!(matches!(
        CircuitPlan::new(&mixed, shape),
        Err(LayoutError::RequantClamp)
    ));
    let (c, inst, k) = build_shaped(g.clone(), x, |s| {
        s.public_io = PublicIo::Plain;
        s.requant_row = true;
    });
    assert!(satisfied(&c, &inst, k), "{}", c.plan.shape.summary());
    // Element 0: 53/2 = 26.5 → 26 to even (t = 1).
    let seg = c.plan.layout.rq[0].clone();
    let (lane, row) = (seg.lane, seg.start);
    let at = |j: u8, v: F| (AdvCol::RqRow(lane, j), row, v);
    for (cells, what) in [
        (vec![at(1, fe(27))], "the output"),
        (vec![at(2, fe(28))], "the quotient"),
        (vec![at(6, F::from(3))], "a remainder limb"),
        (vec![at(0, fe(57))], "the accumulator's copy"),
        (vec![at(5, F::one())], "the parity (u = 922 is even)"),
        // t = 0, y = 27 and u = 923's parity: the lookup passes, only q − t even fails.
        (
            vec![at(4, F::zero()), at(1, fe(27)), at(5, F::one())],
            "a half rounded up",
        ),
    ] {
        assert_rejects(&c, &inst, k, &cells, what);
    }
    // All-zero input: every lookup still has a non-zero row (the sentinel).
    let (c0, inst0, k0) = build_shaped(g.clone(), vec![vec![0; 4]], |s| {
        s.public_io = PublicIo::Plain;
        s.requant_row = true;
    });
    let p = MockProver::run(k0, &c0, vec![inst0]).unwrap();
    p.assert_satisfied();
    assert_eq!(all_zero_lookups(&p, &c0.plan.shape), Vec::<String>::new());
    // The GPU layout (single phase) proves it too.
    let gpu = gpu_shape(&g);
    let (d, inst, k) = build_shaped(g, vec![vec![7, -3, 12, 5]], |s| {
        *s = gpu.clone();
        s.requant_row = true;
    });
    assert!(!has_second_phase(&d) && satisfied(&d, &inst, k));
}
