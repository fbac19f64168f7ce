//! Op coverage: small models in `models/ops` (and the bundled `models/tiny_cnn`) exercise every
//! supported op family and attribute form. For each: our float interpreter agrees with tract,
//! the quantized model is within 1% of the output range, and the circuit is satisfied.

// Test code: clippy.toml's allow-*-in-tests exempts only #[test] functions, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use halo2_proofs::dev::MockProver;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zkinfer_circuits::input::InputData;
use zkinfer_circuits::{CompiledModel, ModelCircuit};
use zkinfer_onnx::{output_range_of, reference, CompileOptions, OnnxModel};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn check(onnx: &Path, input: &Path) {
    let name = onnx.display().to_string();
    let bytes = std::fs::read(onnx).unwrap();
    let om = OnnxModel::from_bytes(&bytes, &name).unwrap();
    let data = InputData::from_path(input).unwrap();
    let inputs = om.input_tensors(&data).unwrap();
    let float = reference::tract_outputs(onnx, &inputs).unwrap();
    check_against(onnx, input, &float);
}

/// [`check`] against the outputs `float` of another reference (tract computes some ops
/// differently from ONNX Runtime: a reverse LSTM).
fn check_against(onnx: &Path, input: &Path, float: &[Vec<f64>]) {
    let name = onnx.display().to_string();
    let bytes = std::fs::read(onnx).unwrap();
    let om = OnnxModel::from_bytes(&bytes, &name).unwrap();
    let data = InputData::from_path(input).unwrap();
    let inputs = om.input_tensors(&data).unwrap();
    // Our float interpreter against the reference.
    let ours = om.run(&inputs).unwrap();
    for (&o, f) in om.outputs.iter().zip(float) {
        let v = &ours[o].as_ref().unwrap().data;
        assert_eq!(v.len(), f.len(), "{name}: output length");
        for (a, b) in v.iter().zip(f) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{name}: float interpreter {a} vs reference {b}"
            );
        }
    }
    let c = zkinfer_onnx::compile(onnx, input, &CompileOptions::default()).unwrap();
    let m = &c.model;
    let vals = m.graph.eval(&data.quantize(&m.io()).unwrap()).unwrap();
    for (&o, f) in m.graph.outputs.iter().zip(float) {
        let q: Vec<f64> = vals[o].iter().map(|&v| m.graph.dequantize(o, v)).collect();
        let err = q
            .iter()
            .zip(f)
            .fold(0.0f64, |e, (a, b)| e.max((a - b).abs()));
        assert!(
            err <= 0.01 * output_range_of(f),
            "{name}: error {err} > 1% of {}",
            output_range_of(f)
        );
    }
    let circuit =
        ModelCircuit::with_witness(Arc::new(m.graph.clone()), Arc::new(m.plan().unwrap()), vals);
    let inst = circuit.instances();
    MockProver::run(m.shape.k, &circuit, vec![inst])
        .unwrap()
        .assert_satisfied();
}

#[test]
fn gemm_leaky_relu() {
    check(
        &models().join("ops/gemm_leaky.onnx"),
        &models().join("ops/gemm_leaky.json"),
    );
}

/// A depthwise convolution (group = channels) and a grouped one (group = 2), in float: the
/// source of the int8 fixture `mobile_cnn`.
#[test]
fn grouped_and_depthwise_convolutions() {
    check(
        &models().join("int8/sources/mobile_cnn.onnx"),
        &models().join("int8/sources/mobile_cnn.json"),
    );
}

#[test]
fn matmul_constant_and_computed_and_clip() {
    check(
        &models().join("ops/matmul.onnx"),
        &models().join("ops/matmul.json"),
    );
}

#[test]
fn broadcast_arithmetic_and_sigmoid() {
    check(
        &models().join("ops/arith.onnx"),
        &models().join("ops/arith.json"),
    );
}

#[test]
fn convolutions_and_pools() {
    check(
        &models().join("ops/pools.onnx"),
        &models().join("ops/pools.json"),
    );
}

/// 1-D Conv (padded, strided, dilated, grouped), MaxPool, AveragePool and GlobalAveragePool
/// over `[1, C, L]`, as 2-D ones of height 1; a pooled `[1, C, L]` tensor is an output.
#[test]
fn one_dimensional_convolutions_and_pools() {
    check(
        &models().join("ops/conv1d.onnx"),
        &models().join("ops/conv1d.json"),
    );
}

#[test]
fn views_shape_subgraph_concat_batchnorm() {
    check(
        &models().join("ops/views.onnx"),
        &models().join("ops/views.json"),
    );
}

#[test]
fn opset10_attribute_forms() {
    check(
        &models().join("ops/opset10.onnx"),
        &models().join("ops/opset10.json"),
    );
}

#[test]
fn bundled_tiny_cnn() {
    check(
        &models().join("tiny_cnn/network.onnx"),
        &models().join("tiny_cnn/input.json"),
    );
}

#[test]
fn leaky_relu_steeper_than_one_gets_a_coarser_output_scale() {
    use zkinfer_circuits::graph::FnKind;
    check(
        &models().join("ops/leaky_steep.onnx"),
        &models().join("ops/leaky_steep.json"),
    );
    // Each output's scale is coarser than the input's by the bits its slope adds.
    let c = zkinfer_onnx::compile(
        &models().join("ops/leaky_steep.onnx"),
        &models().join("ops/leaky_steep.json"),
        &CompileOptions::default(),
    )
    .unwrap();
    let g = &c.model.graph;
    // Interpolated or not (on limbs, `compile` may interpolate them between knots).
    let shifts: Vec<u32> = g
        .functions
        .iter()
        .map(|f| match f {
            FnKind::Interpolated { inner, .. } => inner.as_ref(),
            f => f,
        })
        .filter_map(|f| match f {
            FnKind::LeakyRelu { out_shift, .. } => Some(*out_shift),
            _ => None,
        })
        .collect();
    assert_eq!(shifts, vec![2, 1], "{:?}", g.functions);
}

#[test]
fn softmax_over_a_middle_axis_and_after_a_gemm() {
    check(
        &models().join("ops/softmax.onnx"),
        &models().join("ops/softmax.json"),
    );
}

#[test]
fn softmax_coerced_to_2d_and_clip_with_min_above_max() {
    let (onnx, input) = (
        models().join("ops/softmax_opset11.onnx"),
        models().join("ops/softmax_opset11.json"),
    );
    check(&onnx, &input);
    // ONNX's Clip is min(max(x, lo), hi): with lo > hi every element is hi.
    let c = zkinfer_onnx::compile(&onnx, &input, &CompileOptions::default()).unwrap();
    let m = &c.model;
    let data = InputData::from_path(&input).unwrap();
    let vals = m.graph.eval(&data.quantize(&m.io()).unwrap()).unwrap();
    let clip = m.graph.outputs[1];
    for &v in &vals[clip] {
        assert_eq!(m.graph.dequantize(clip, v), -0.25);
    }
}

/// Softmax's witness is unique: moving any of its values (row maximum, exponentials, row sum,
/// reciprocal, output) by one, or taking another element as the maximum, breaks the circuit.
#[test]
fn softmax_witness_is_unique() {
    assert_unique_witness(
        &models().join("ops/softmax_opset11.onnx"),
        &models().join("ops/softmax_opset11.json"),
        &["(max)", "(exp)", "(sum)", "(1/sum)"],
        |m, honest| another_maximum(m, honest, m.graph.inputs[0]),
    );
}

#[test]
fn layer_normalization_over_two_axes_and_after_a_gemm() {
    check(
        &models().join("ops/layernorm.onnx"),
        &models().join("ops/layernorm.json"),
    );
}

/// The honest witness with the first "(max)" tensor's first value replaced by another element
/// of `x` (the tensor it is the maximum of).
fn another_maximum(m: &CompiledModel, honest: &[Vec<i128>], x: usize) -> Vec<Vec<Vec<i128>>> {
    let mx = tensor(m, "(max)");
    let other = honest[x].iter().copied().find(|&v| v != honest[mx][0]);
    let mut vals = honest.to_vec();
    vals[mx][0] = other.unwrap();
    vec![vals]
}

/// The first tensor whose name ends with `suffix`.
fn tensor(m: &CompiledModel, suffix: &str) -> usize {
    m.graph
        .tensors
        .iter()
        .position(|t| t.name.ends_with(suffix))
        .unwrap_or_else(|| panic!("no tensor named *{suffix}"))
}

/// Moves element 0 of each tensor whose name ends with one of `suffixes` (and of the first
/// output) by ±1, and tries the witnesses `more` makes from the honest one: each must break
/// the circuit. (A tensor is assigned where an op reads it: name tensors that an op reads
/// directly, not only through a view.)
fn assert_unique_witness(
    onnx: &Path,
    input: &Path,
    suffixes: &[&str],
    more: impl Fn(&CompiledModel, &[Vec<i128>]) -> Vec<Vec<Vec<i128>>>,
) {
    let c = zkinfer_onnx::compile(onnx, input, &CompileOptions::default()).unwrap();
    let m = &c.model;
    let data = InputData::from_path(input).unwrap();
    let honest = m.graph.eval(&data.quantize(&m.io()).unwrap()).unwrap();
    let plan = Arc::new(m.plan().unwrap());
    let graph = Arc::new(m.graph.clone());
    let satisfied = |vals: Vec<Vec<i128>>| {
        let circuit = ModelCircuit::with_witness(graph.clone(), plan.clone(), vals);
        let inst = circuit.instances();
        MockProver::run(m.shape.k, &circuit, vec![inst])
            .unwrap()
            .verify()
            .is_ok()
    };
    assert!(satisfied(honest.clone()));
    let mut ids: Vec<usize> = suffixes.iter().map(|sfx| tensor(m, sfx)).collect();
    ids.push(m.graph.outputs[0]);
    for t in ids {
        for delta in [1, -1] {
            let mut vals = honest.clone();
            vals[t][0] += delta;
            assert!(
                !satisfied(vals),
                "'{}' moved by {delta} still verifies",
                m.graph.tensors[t].name
            );
        }
    }
    for vals in more(m, &honest) {
        assert!(!satisfied(vals), "a crafted witness still verifies");
    }
}

/// LayerNorm's witness is unique: its row sum, deviations, sum of squares, reciprocal
/// standard deviation, normalised values and outputs cannot move.
#[test]
fn layer_normalization_witness_is_unique() {
    assert_unique_witness(
        &models().join("ops/layernorm.onnx"),
        &models().join("ops/layernorm.json"),
        &[
            "(sum)",
            "(deviation)",
            "(n·variance)",
            "(1/(n·std))",
            "(normalized)",
        ],
        |_, _| Vec::new(),
    );
}

#[test]
fn lstm_over_three_steps_with_initial_states_and_tanh() {
    check(
        &models().join("ops/lstm.onnx"),
        &models().join("ops/lstm.json"),
    );
}

/// Reverse and bidirectional LSTMs with initial states, every output named, and a
/// bidirectional one in layout 1 (batch first), against the expected outputs their generator
/// computed with numpy (tract 0.23 walks a reverse LSTM differently from ONNX). The
/// generator's outputs agree with ONNX Runtime 1.32.0 to 1e-7; layout 1, which ONNX Runtime
/// does not run, with onnx 1.23.2's reference evaluator.
#[test]
fn lstms_walking_backwards_both_ways_and_batch_first() {
    for name in ["lstm_reverse", "lstm_bidirectional", "lstm_batch_first"] {
        let input = models().join(format!("ops/{name}.json"));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        let expected: Vec<Vec<f64>> = serde_json::from_value(doc["output_data"].clone()).unwrap();
        assert_eq!(expected.len(), 3, "{name}: Y, Y_h, Y_c");
        check_against(
            &models().join(format!("ops/{name}.onnx")),
            &input,
            &expected,
        );
    }
}

/// A bidirectional LSTM's reverse direction cannot move either: its input projection, `R·h`,
/// a gate, a cell, `tanh(c)` and `h` at steps it walks backwards.
#[test]
fn bidirectional_lstm_witness_is_unique() {
    assert_unique_witness(
        &models().join("ops/lstm_bidirectional.onnx"),
        &models().join("ops/lstm_bidirectional.json"),
        &[
            "(reverse) (W·x + b)",
            "(reverse) (R·h)[1]",
            "(reverse) f[0]",
            "(reverse) i·c~[1]",
            "(reverse) c[0]",
            "(reverse) tanh(c)[0]",
            "(reverse) h[1]",
        ],
        |_, _| Vec::new(),
    );
}

/// The LSTM's gates, cell and hidden states cannot move.
#[test]
fn lstm_witness_is_unique() {
    assert_unique_witness(
        &models().join("ops/lstm.onnx"),
        &models().join("ops/lstm.json"),
        &[
            "(W·x + b)",
            "(R·h)[1]",
            "f[1]",
            "c~[1]",
            "c[2]",
            "tanh(c)[2]",
            "h[1]",
        ],
        |_, _| Vec::new(),
    );
}

#[test]
fn decomposed_layer_norm_split_where_div_pow_and_reductions() {
    let (onnx, input) = (
        models().join("ops/transformer_ops.onnx"),
        models().join("ops/transformer_ops.json"),
    );
    check(&onnx, &input);
    // The decomposed layer normalisation is one LayerNorm: its reciprocal standard deviation
    // is a table, and no Sqrt or Div of computed tensors is left.
    let c = zkinfer_onnx::compile(&onnx, &input, &CompileOptions::default()).unwrap();
    let names: Vec<&str> = c
        .model
        .graph
        .tensors
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("(1/(n·std))")),
        "{names:?}"
    );
    assert!(!names.contains(&"sd") && !names.contains(&"n"), "{names:?}");
}

/// When the tolerance is missed, `compile` says which ops lose the accuracy: every quantized
/// tensor named after an ONNX tensor, with its error against the float model.
#[test]
fn missed_tolerance_reports_the_error_of_each_op() {
    let (onnx, input) = (
        models().join("ops/transformer_ops.onnx"),
        models().join("ops/transformer_ops.json"),
    );
    let loose = zkinfer_onnx::compile(&onnx, &input, &CompileOptions::default()).unwrap();
    assert!(loose.accuracy.as_ref().unwrap().met_tolerance);
    assert!(loose.tensor_accuracy.is_empty());
    let opts = CompileOptions {
        bits: Some(8),
        tolerance: 1e-6,
        ..CompileOptions::default()
    };
    let c = zkinfer_onnx::compile(&onnx, &input, &opts).unwrap();
    assert!(!c.accuracy.as_ref().unwrap().met_tolerance);
    let names: Vec<&str> = c
        .tensor_accuracy
        .iter()
        .map(|t| t.tensor.as_str())
        .collect();
    for t in ["ln", "dv", "p3", "rs", "rm"] {
        assert!(names.contains(&t), "{t} not in {names:?}");
    }
    // The Where `w` only feeds the Div by two: composed into `dv`, it has no tensor of its own.
    assert!(!names.contains(&"w"), "{names:?}");
    let ln = c.tensor_accuracy.iter().find(|t| t.tensor == "ln").unwrap();
    assert!(ln.rel_error > 0.0 && ln.rel_error < 1.0, "{ln:?}");
    assert!(ln.op.contains("ReduceMean"), "{ln:?}");
}

/// GELU chains (tanh and erf forms) and Erf: each chain is one elementwise op with a fused
/// table, within 1% of tract.
#[test]
fn gelu_chains_are_fused_into_one_table_each() {
    let (onnx, input) = (
        models().join("ops/gelu_chains.onnx"),
        models().join("ops/gelu_chains.json"),
    );
    check(&onnx, &input);
    let c = zkinfer_onnx::compile(&onnx, &input, &CompileOptions::default()).unwrap();
    let g = &c.model.graph;
    // The input's range check, one op per chain, and Erf.
    assert_eq!(
        g.ops.len(),
        4,
        "{:?}",
        g.ops
            .iter()
            .map(|o| o.family().name().to_string())
            .collect::<Vec<_>>()
    );
    let fused = g
        .functions
        .iter()
        .filter(|f| f.key().starts_with("expr("))
        .count();
    assert_eq!(fused, 3, "{:?}", g.functions);
}

/// Token ids (an int64 input) through an embedding lookup, positions folded from Range and
/// NonZero, views of computed tensors (Cast, Slice, Gather, Transpose, Expand) and a causal
/// softmax whose masked elements are exactly zero.
#[test]
fn token_embeddings_index_views_and_a_causal_softmax() {
    let (onnx, input) = (
        models().join("ops/tokens.onnx"),
        models().join("ops/tokens.json"),
    );
    check(&onnx, &input);
    let c = zkinfer_onnx::compile(&onnx, &input, &CompileOptions::default()).unwrap();
    let m = &c.model;
    assert_eq!(m.graph.tensors[m.graph.inputs[0]].scale, 0);
    assert!(m.io().inputs[0].integer);
    let data = InputData::from_path(&input).unwrap();
    let vals = m.graph.eval(&data.quantize(&m.io()).unwrap()).unwrap();
    // Above the diagonal: exactly zero.
    let att = &vals[m.graph.outputs[0]];
    for (e, &v) in att.iter().enumerate() {
        if e % 6 > e / 6 {
            assert_eq!(v, 0, "masked element {e}");
        }
    }
    // A token past the table, or not an integer: one clear error each.
    let mut ids = data.clone();
    ids.values[0][2] = 10.0;
    let err = m.graph.eval(&ids.quantize(&m.io()).unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("outside the table's rows [0, 10)"),
        "{err}"
    );
    ids.values[0][2] = 2.5;
    let err = ids.quantize(&m.io()).unwrap_err();
    assert!(err.to_string().contains("is not an integer"), "{err}");
}

/// The masked softmax's witness is unique, the constant zeros of the masked elements included.
#[test]
fn masked_softmax_and_embedding_witness_is_unique() {
    assert_unique_witness(
        &models().join("ops/tokens.onnx"),
        &models().join("ops/tokens.json"),
        &["emb", "(max)", "(exp)", "(exp, all)", "(sum)", "(1/sum)"],
        |m, honest| {
            // A masked element (row 0, column 1) made non-zero in the row sum's operand.
            let all = tensor(m, "(exp, all)");
            [1, -1]
                .map(|d| {
                    let mut vals = honest.to_vec();
                    vals[all][1] += d;
                    vals
                })
                .to_vec()
        },
    );
}

/// A -inf constant is accepted only as a mask that a Softmax removes.
#[test]
fn infinite_constant_outside_a_softmax_mask_refused() {
    let err = zkinfer_onnx::compile(
        &models().join("ops/masked_relu.onnx"),
        &models().join("ops/masked_relu.json"),
        &CompileOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("only supported as the input of a Softmax"),
        "{err}"
    );
}

/// DynamicQuantizeLinear's witness is unique (`ops::dynamic`): its maxima, normaliser,
/// reciprocal, quotients, zero point, clamps, uint8 outputs and scale cannot move, nor can
/// another element stand for the maximum.
#[test]
fn dynamic_quantization_witness_is_unique() {
    assert_unique_witness(
        &models().join("int8/1l_mlp/dynamic_u8s8.onnx"),
        &models().join("../../shared/models/1l_mlp/input.json"),
        &[
            "(-x)",
            "(max)",
            "(max of -x)",
            "(max(x, 0))",
            "(-min(x, 0))",
            "(max |x|)",
            "(P)",
            "(N)",
            "(1/N)",
            "(x·P)",
            "(x/s·2^(B-2)/255)",
            "(zero point)",
            "(y)",
            "(scale)",
            "(y) - zero point",
        ],
        |m, honest| another_maximum(m, honest, tensor(m, "input (range-checked)")),
    );
}

/// An imported int8 softmax's witness is unique (`onnx/src/int8/graph/softmax.rs`): its row
/// maximum, exponentials, reciprocal and outputs (the probabilities' requantization table)
/// cannot move, nor can another element stand for the maximum.
#[test]
fn int8_softmax_witness_is_unique() {
    assert_unique_witness(
        &models().join("int8/1l_softmax/qdq_per_tensor_u8s8.onnx"),
        &models().join("../../shared/models/1l_softmax/input.json"),
        &["(max)", "(exp)", "(1/sum)", "output_QuantizeLinear_Output"],
        |m, honest| another_maximum(m, honest, m.graph.inputs[0]),
    );
}

/// GELU written out by ONNX Runtime's quantizer (`onnx/src/int8/graph/derived.rs`) is one table
/// of the first layer's int8 outputs: an output moved by ±1, with everything after it
/// recomputed from the moved value (so only the table's lookup can object), does not verify.
#[test]
fn int8_gelu_as_one_table_witness_is_unique() {
    use zkinfer_circuits::graph::QOp;
    assert_unique_witness(
        &models().join("int8/gelu_mlp/qdq_per_tensor_s8s8.onnx"),
        &models().join("int8/sources/gelu_mlp.json"),
        &["h1_QuantizeLinear_Output", "g_QuantizeLinear_Output"],
        |m, honest| {
            let g = &m.graph;
            let (h1, g0) = (
                tensor(m, "h1_QuantizeLinear_Output"),
                tensor(m, "g0_QuantizeLinear_Output"),
            );
            let at = (g.ops.iter())
                .position(|op| op.family().output() == g0)
                .unwrap();
            let QOp::Elementwise(gelu) = &g.ops[at] else {
                panic!("GELU is not one elementwise op: {:?}", g.ops[at]);
            };
            assert_eq!(gelu.a.as_ref().unwrap().tensor, h1);
            [1, -1]
                .map(|d| {
                    let mut vals = honest.to_vec();
                    vals[g0][0] += d;
                    for op in &g.ops[at + 1..] {
                        op.family().eval(g, &mut vals).unwrap();
                    }
                    assert_ne!(vals[g.outputs[0]], honest[g.outputs[0]]);
                    vals
                })
                .to_vec()
        },
    );
}

/// An imported layer normalisation's and causal mask's witness is unique
/// (`onnx/src/int8/graph/{layer_norm,masks}.rs`): the row sums, deviations, sums of squares,
/// variance, tabulated reciprocal denominators, scaled deviations and normalised integers
/// cannot move, nor can the masked scores; a masked score cannot take the score it hides.
#[test]
fn int8_layer_norm_and_mask_witness_is_unique() {
    assert_unique_witness(
        &models().join("int8/norm_attention/qdq_per_tensor_s8s8.onnx"),
        &models().join("int8/sources/norm_attention.json"),
        &[
            "(row sums)",
            "(deviations)",
            "(sums of squares)",
            // `v + ε`: a table giving every integer back here, so a view of the variance's
            // integers, which the reciprocal's lookup reads.
            "ve_QuantizeLinear_Output",
            "(1/denominator)",
            "(scaled deviations)",
            "n_QuantizeLinear_Output",
            "sm_QuantizeLinear_Output",
        ],
        |m, honest| {
            // Element (0, 1) is masked (a later token): give it the score it hides, the
            // mask's table at the score's integer (one lookup `T[k·x + c]` per element).
            let out = tensor(m, "sm_QuantizeLinear_Output");
            let Some(zkinfer_circuits::graph::QOp::Elementwise(mask)) =
                m.graph.ops.iter().find(|op| op.family().output() == out)
            else {
                panic!("the mask is not one elementwise op");
            };
            let x = mask.a.as_ref().unwrap().tensor;
            assert_eq!((mask.qa.at(1), mask.qa.at(0)), (0, 1));
            let hidden = m.graph.functions[mask.func as usize].eval(honest[x][1] as i64);
            assert_ne!(i128::from(hidden), honest[out][1]);
            let mut vals = honest.to_vec();
            vals[out][1] = i128::from(hidden);
            vec![vals]
        },
    );
}

/// An imported LayerNormalization op's witness is unique (`onnx/src/int8/graph/fused_norm.rs`):
/// the row sums, deviations, sums of squares, band scales, argument scales, reciprocal
/// deviations (a wide table value), scaled deviations, normalised values and requantized
/// outputs cannot move by ±1, nor the reciprocal deviation by ±2^8, nor every row's first
/// normalised value at once.
#[test]
fn int8_layer_normalization_op_witness_is_unique() {
    assert_unique_witness(
        &models().join("int8/layernorm/qdq_per_channel_s8s8.onnx"),
        &models().join("../../shared/models/layernorm/input.json"),
        &[
            "(row sums)",
            "(deviations)",
            "(sums of squares)",
            "(band scale)",
            "(argument scale)",
            "(reciprocal deviation)",
            "(scaled deviations)",
            "(normalised)",
        ],
        |m, honest| {
            let r = tensor(m, "(reciprocal deviation)");
            let z = tensor(m, "(normalised)");
            let mut out = Vec::new();
            for d in [256, -256] {
                let mut vals = honest.to_vec();
                vals[r][0] += d;
                out.push(vals);
            }
            let mut vals = honest.to_vec();
            for e in (0..vals[z].len()).step_by(10) {
                vals[z][e] += 1;
            }
            out.push(vals);
            out
        },
    );
}

/// Without a calibration input a float model is calibrated on seeded inputs (the same graph
/// every time); an integer input that indexes no constant table has no range to draw from,
/// and is refused with one line.
#[test]
fn float_models_compile_on_seeded_inputs_unless_an_integer_input_has_no_table() {
    let tiny = models().join("tiny_cnn/network.onnx");
    let compile = |p: &Path| zkinfer_onnx::compile_from(p, None, &CompileOptions::default());
    let (a, b) = (compile(&tiny).unwrap(), compile(&tiny).unwrap());
    assert!(a.accuracy.is_some());
    assert_eq!(a.model.digest, b.model.digest);
    let gather = models().join("conformance/test_gather_0/model.onnx");
    let err = compile(&gather).err().unwrap();
    assert!(
        matches!(err, zkinfer_onnx::FrontendError::NeedsCalibration { .. }),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'));
}

/// Exp, Sqrt and Reciprocal of computed tensors (one table each over where the function is
/// defined), Div by a positive computed tensor, Pow by 4 and by -0.5 (tables too), ReduceMax
/// over an axis, Pad with a constant value and in reflect mode.
#[test]
fn exp_sqrt_reciprocal_reduce_max_and_pad() {
    check(
        &models().join("ops/unary_reduce_pad.onnx"),
        &models().join("ops/unary_reduce_pad.json"),
    );
}

/// The tables' outputs and the row maxima cannot move, and a maximum cannot be another
/// element of its row.
#[test]
fn exp_sqrt_reciprocal_and_reduce_max_witness_is_unique() {
    assert_unique_witness(
        &models().join("ops/unary_reduce_pad.onnx"),
        &models().join("ops/unary_reduce_pad.json"),
        &[
            "y_exp",
            "y_sqrt",
            "y_recip",
            "(1/divisor)",
            "y_div",
            "y_pow4",
            "y_rsqrt",
            "y_max",
        ],
        |m, honest| {
            let (mx, a) = (tensor(m, "y_max"), tensor(m, "a"));
            let row: Vec<i128> = honest[a][..8].to_vec();
            let other = row.iter().copied().find(|&v| v != honest[mx][0]);
            let mut vals = honest.to_vec();
            vals[mx][0] = other.unwrap();
            vec![vals]
        },
    );
}

/// A square root's negative argument is not in its table: a clear error, no value. A
/// reciprocal calibrated on non-positive values (`0.6 − x` for `x` up to 2) is refused at
/// compile time.
#[test]
fn sqrt_of_a_negative_and_reciprocal_of_a_non_positive_are_refused() {
    let (onnx, input) = (
        models().join("ops/sqrt_recip.onnx"),
        models().join("ops/sqrt_recip.json"),
    );
    let c = zkinfer_onnx::compile(&onnx, &input, &CompileOptions::default()).unwrap();
    let m = &c.model;
    let negative =
        InputData::from_json(r#"{"input_data": [[-0.5, 0.1, 0.5, 0.3]]}"#, "negative").unwrap();
    let err = m
        .graph
        .eval(&negative.quantize(&m.io()).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Sqrt") && err.contains("outside the table's rows [0, "),
        "{err}"
    );
    let dir = std::env::temp_dir().join(format!("zkinfer-recip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let calib = dir.join("calibration.json");
    std::fs::write(&calib, r#"{"input_data": [[0.25, 1.0, 0.5, 2.0]]}"#).unwrap();
    let err = zkinfer_onnx::compile(&onnx, &calib, &CompileOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("Reciprocal") && err.contains("not positive"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Gemm of computed operands with transposes, non-dyadic alphas and a computed `C`; MatMul
/// with constant batched operands on either side (one computed operand broadcast partly);
/// Pow by per-element exponents.
#[test]
fn gemm_products_batched_constants_and_per_element_powers() {
    check(
        &models().join("ops/gemm_products.onnx"),
        &models().join("ops/gemm_products.json"),
    );
}

/// LayerNormalization with a computed scale (beside a constant bias; a small one, `0.01·g`,
/// beside a bias of 1), a computed bias (beside a constant scale) and a computed scale of one
/// element, against the generator's numpy outputs (which agree with ONNX Runtime 1.32.0).
#[test]
fn layer_normalization_with_computed_scale_or_bias() {
    let input = models().join("ops/layernorm_computed.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
    let expected: Vec<Vec<f64>> = serde_json::from_value(doc["output_data"].clone()).unwrap();
    assert_eq!(expected.len(), 4);
    let onnx = models().join("ops/layernorm_computed.onnx");
    check_against(&onnx, &input, &expected);
    // Every product here (γ·z of three of the four, and each normalisation's deviation times
    // its reciprocal) is the product alone: no `qa·a` or `qb·b` beside it (an extra `z` term
    // is within the tolerance above, so the outputs alone would not show one).
    use zkinfer_circuits::graph::QOp;
    let m = zkinfer_onnx::compile(&onnx, &input, &CompileOptions::default())
        .unwrap()
        .model;
    let mut products = 0;
    for op in &m.graph.ops {
        let QOp::Elementwise(e) = op else { continue };
        if !e.qm.is_zero() {
            assert!(e.qa.is_zero() && e.qb.is_zero(), "{}: {e:?}", e.name);
            products += 1;
        }
    }
    assert_eq!(products, 7);
}

/// An opset-13 model of `nodes` and float `initializers` (name, dims, values) from float input
/// `x` to output `y`, of the given shapes.
fn float_model(
    nodes: &[(&str, &[&str], &str)],
    initializers: &[(&str, &[i64], &[f32])],
    (x, y): (&[i64], &[i64]),
) -> Vec<u8> {
    use prost::Message;
    use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as Dim, type_proto};
    let value = |name: &str, dims: &[i64]| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| pb::tensor_shape_proto::Dimension {
                            value: Some(Dim::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let attribute = |op: &str| match op {
        "ReduceMean" | "ReduceSum" => vec![pb::AttributeProto {
            name: "axes".into(),
            r#type: pb::attribute_proto::AttributeType::Ints as i32,
            ints: vec![-1],
            ..Default::default()
        }],
        "BatchNormalization" => vec![pb::AttributeProto {
            name: "training_mode".into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: 1,
            ..Default::default()
        }],
        "Concat" => vec![pb::AttributeProto {
            name: "axis".into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: -1,
            ..Default::default()
        }],
        _ => vec![],
    };
    let graph = pb::GraphProto {
        node: nodes
            .iter()
            .map(|&(op, ins, out)| pb::NodeProto {
                op_type: op.into(),
                input: ins.iter().map(|s| s.to_string()).collect(),
                output: vec![out.into()],
                attribute: attribute(op),
                ..Default::default()
            })
            .collect(),
        initializer: initializers
            .iter()
            .map(|&(name, dims, v)| pb::TensorProto {
                name: name.into(),
                dims: dims.to_vec(),
                data_type: 1,
                float_data: v.to_vec(),
                ..Default::default()
            })
            .collect(),
        input: vec![value("x", x)],
        output: vec![value("y", y)],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// [`check`] of model bytes `onnx` on input `x`, in a temporary folder.
fn check_bytes(onnx: Vec<u8>, x: &[f64]) {
    let tmp = tempfile::tempdir().unwrap();
    let (path, input) = (tmp.path().join("m.onnx"), tmp.path().join("x.json"));
    std::fs::write(&path, onnx).unwrap();
    std::fs::write(&input, format!("{{\"input_data\": [{x:?}]}}")).unwrap();
    check(&path, &input);
}

/// The one-line error `compile` gives for model bytes `onnx` on input `x` (it must refuse).
fn refusal_of(onnx: Vec<u8>, x: &[f64]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let (path, input) = (tmp.path().join("m.onnx"), tmp.path().join("x.json"));
    std::fs::write(&path, onnx).unwrap();
    std::fs::write(&input, format!("{{\"input_data\": [{x:?}]}}")).unwrap();
    match zkinfer_onnx::compile(&path, &input, &CompileOptions::default()) {
        Ok(_) => panic!("compiled"),
        Err(e) => e.to_string(),
    }
}

/// A decomposed layer normalisation scaled by a constant of one value per *row* (`[4, 1]`
/// against rows of 4): the Mul is left to itself, which broadcasts it per row as ONNX does (the
/// fused LayerNorm read it per position).
#[test]
fn decomposed_layer_norm_scaled_per_row_keeps_the_broadcast() {
    let onnx = float_model(
        &[
            ("ReduceMean", &["x"], "m"),
            ("Sub", &["x", "m"], "d"),
            ("Pow", &["d", "two"], "d2"),
            ("ReduceMean", &["d2"], "v"),
            ("Add", &["v", "eps"], "ve"),
            ("Sqrt", &["ve"], "sd"),
            ("Div", &["d", "sd"], "z"),
            ("Mul", &["z", "g"], "y"),
        ],
        &[
            ("two", &[], &[2.0]),
            ("eps", &[], &[1e-5]),
            ("g", &[4, 1], &[0.5, 1.0, 2.0, 3.0]),
        ],
        (&[4, 4], &[4, 4]),
    );
    let x: Vec<f64> = (0..16).map(|i| ((i * 7) % 11) as f64 / 4.0 - 1.0).collect();
    check_bytes(onnx, &x);
}

/// A Concat of a computed tensor in [-1, 1) and a constant 4 (a class token beside patch
/// embeddings): the constant is an activation at the scale they share, which is coarsened for it
/// (at the computed part's own scale, 4 was outside the range and every proof failed).
#[test]
fn a_concat_with_a_large_constant_takes_a_scale_that_holds_it() {
    let onnx = float_model(
        &[("Concat", &["x", "c"], "y")],
        &[("c", &[1, 1], &[4.0])],
        (&[1, 2], &[1, 3]),
    );
    check_bytes(onnx, &[-0.9, 0.7]);
}

/// Refused with one line, not lowered: a Gather whose indices are a float tensor (the circuit
/// rounded them, the float interpreter truncated them), and an opset-13 ReduceSum with `axes`
/// as an attribute (an input there; it summed every element).
#[test]
fn float_gather_indices_and_an_attribute_of_an_earlier_opset_are_refused() {
    let refusal = |onnx| refusal_of(onnx, &[1.0, 2.0]);
    let w: Vec<f32> = (0..6).map(|v| v as f32).collect();
    let gather = float_model(
        &[("Gather", &["w", "x"], "y")],
        &[("w", &[3, 2], &w)],
        (&[1, 2], &[1, 2, 2]),
    );
    let err = refusal(gather);
    assert!(err.contains("Gather indices must be integers"), "{err}");
    let sum = float_model(&[("ReduceSum", &["x"], "y")], &[], (&[1, 2], &[1, 1]));
    let err = refusal(sum);
    assert!(err.contains("attribute 'axes'"), "{err}");
}

/// Refused when the model is read, not lowered: a node that names no first output (its op
/// returns every output in order; it panicked), BatchNormalization in training mode (it
/// normalised by the running statistics), and opsets before 7 (Add broadcast by attributes).
#[test]
fn unnamed_first_outputs_training_batchnorm_and_old_opsets_are_refused() {
    use prost::Message;
    let refusal = |onnx| refusal_of(onnx, &[1.0, 2.0, 3.0, 4.0]);
    let c: &[f32] = &[1.0, 2.0, 3.0, 4.0];
    let unnamed = float_model(
        &[("Add", &["x", "c"], ""), ("Relu", &["x"], "y")],
        &[("c", &[4], c)],
        (&[1, 4], &[1, 4]),
    );
    let err = refusal(unnamed);
    assert!(err.contains("does not name its first output"), "{err}");
    let one: &[f32] = &[1.0];
    let zero: &[f32] = &[0.0];
    let training = float_model(
        &[("BatchNormalization", &["x", "s", "b", "m", "v"], "y")],
        &[
            ("s", &[1], one),
            ("b", &[1], zero),
            ("m", &[1], zero),
            ("v", &[1], one),
        ],
        (&[1, 1, 4], &[1, 1, 4]),
    );
    let err = refusal(training);
    assert!(err.contains("training mode is not supported"), "{err}");
    let mut old = tract_onnx::pb::ModelProto::decode(
        float_model(&[("Relu", &["x"], "y")], &[], (&[1, 4], &[1, 4])).as_slice(),
    )
    .unwrap();
    old.opset_import[0].version = 6;
    let err = refusal(old.encode_to_vec());
    assert!(
        err.contains("opset 6; zkinfer reads opset 7 and later"),
        "{err}"
    );
}
