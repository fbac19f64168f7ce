//! The int8 fixtures of `models/int8` (ONNX Runtime's quantization tool applied to the shared
//! CNNs and seven float models of `models/` by `models/generate_int8.py`, with ONNX Runtime's outputs under both optimization
//! levels): they are complete and well formed, the random inputs they were recorded on are
//! reproducible here, every variant compiles (the static ones imported, the dynamic one through
//! the float front end), the imported models compute ONNX Runtime's integers and the dynamic
//! one follows ONNX Runtime within its precision (below).

// Test code: clippy.toml's allow-*-in-tests exempts only #[test] functions, not these helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use prost::Message;
use serde_json::Value;
use std::path::PathBuf;
use tract_onnx::pb::ModelProto;
use zkinfer_circuits::input::InputData;
use zkinfer_onnx::int8::import;
use zkinfer_onnx::{compile, output_range_of, CompileOptions, FrontendError, OnnxModel};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manifest() -> Value {
    json(root().join("models/int8/manifest.json"))
}

/// The shipped input of `model` (a path in the manifest, relative to the repository root):
/// one list per graph input.
fn shipped_inputs(model: &str) -> Vec<Vec<f64>> {
    let m = manifest();
    let rel = m["sources"][model]["input"].as_str().unwrap();
    let v = json(root().join(rel));
    v["input_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// The shipped input of a model of one graph input.
fn shipped_input(model: &str) -> Vec<f64> {
    shipped_inputs(model).swap_remove(0)
}

/// The written variants of every model: `(model, variant, model file)`.
fn written_variants() -> Vec<(String, String, PathBuf)> {
    let m = manifest();
    let mut out = Vec::new();
    for (model, variants) in m["models"].as_object().unwrap() {
        for (variant, entry) in variants.as_object().unwrap() {
            if let Some(rel) = entry["model"].as_str() {
                out.push((
                    model.clone(),
                    variant.clone(),
                    root().join("models/int8").join(rel),
                ));
            }
        }
    }
    out
}

/// `n` values of random case `i` of `model`: the generator's xorshift64* sequence.
fn case_input(model: &str, i: usize, n: usize) -> Vec<f64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for c in format!("{model}#{i}").bytes() {
        state = (state ^ u64::from(c)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    state |= 1;
    (0..n)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
            ((word >> 53) as f64 - 1024.0) / 1024.0
        })
        .collect()
}

#[test]
fn the_random_inputs_are_the_generators() {
    let m = manifest();
    let checks = m["case_input_check"].as_object().unwrap();
    assert_eq!(checks.len(), m["models"].as_object().unwrap().len());
    for (model, c) in checks {
        let first: Vec<f64> = c["first_of_case_1"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(case_input(model, 1, 4), first, "{model}");
        let sum: f64 = case_input(model, 100, 784).iter().sum();
        assert_eq!(sum, c["sum_of_case_100"].as_f64().unwrap(), "{model}");
    }
}

/// Every variant the tool wrote: its outputs for the shipped input and every random case under
/// both levels, integers on the output's int8/uint8 grid where a DequantizeLinear writes it.
/// Variants ONNX Runtime's quantization tool fails to write (by model and variant prefix): it
/// writes QOperator models with the product of two computed tensors of norm_attention left
/// unquantized but its name dangling ("unknown initializers/tensors").
/// It leaves every op of the shared layernorm's QOperator forms and of the shared lstm's static
/// forms in float (LayerNormalization, LSTM): those are the float models, not written.
const TOOL_REFUSED: &[(&str, &str)] = &[
    ("norm_attention", "qoperator"),
    ("layernorm", "qoperator"),
    ("lstm", "q"),
];

#[test]
fn every_fixture_is_complete() {
    let m = manifest();
    let cases = m["random_cases"].as_u64().unwrap() as usize + 1;
    let mut written = 0;
    for (model, variants) in m["models"].as_object().unwrap() {
        let variants = variants.as_object().unwrap();
        assert!(variants.len() >= 8, "{model}: {} variants", variants.len());
        for (variant, entry) in variants {
            let Some(rel) = entry["model"].as_str() else {
                let tool_refused = TOOL_REFUSED
                    .iter()
                    .any(|(m, v)| m == model && variant.starts_with(v));
                assert!(
                    tool_refused,
                    "{model} {variant}: not written: {}",
                    entry["error"]
                );
                continue;
            };
            assert!(root().join("models/int8").join(rel).is_file());
            let fx = json(root().join(format!("models/int8/{model}/{variant}.json")));
            let grid = fx.get("output_scale").is_some();
            let (lo, hi) = match fx.get("output_zero_point").and_then(Value::as_i64) {
                // uint8 outputs have the zero point 0..=255 and values in 0..=255.
                Some(zp) if variant.contains("u8") && zp >= 0 => (0, 255),
                _ => (-128, 127),
            };
            let mut len = None;
            for level in ["enable_all", "disable_all"] {
                let outs = fx[level].as_array().unwrap();
                assert_eq!(outs.len(), cases, "{model} {variant} {level}");
                for o in outs {
                    let o = o.as_array().unwrap();
                    assert!(!o.is_empty());
                    assert_eq!(*len.get_or_insert(o.len()), o.len());
                    if grid {
                        let q = o.iter().map(|v| v.as_i64().unwrap());
                        assert!(
                            q.into_iter().all(|q| (lo..=hi).contains(&q)),
                            "{model} {variant}"
                        );
                    }
                }
            }
            assert_eq!(
                entry["levels_agree"].as_bool().unwrap(),
                fx["enable_all"] == fx["disable_all"]
            );
            written += 1;
        }
    }
    assert!(written > 8 * 8, "{written} variants");
}

#[test]
fn every_variant_compiles_static_ones_imported_and_dynamic_ones_through_the_float_front_end() {
    let m = manifest();
    let (mut imported, mut dynamic) = (0, 0);
    let variants = written_variants();
    for (model, variant, path) in &variants {
        let cal = root().join(m["sources"][model.as_str()]["input"].as_str().unwrap());
        let known = REFUSED
            .iter()
            .find(|r| (r.0, r.1) == (model.as_str(), variant.as_str()));
        if let Some((_, _, why)) = known {
            let err = compile(path, &cal, &CompileOptions::default())
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(why) && !err.contains('\n'), "{err}");
            continue;
        }
        let c = compile(path, &cal, &CompileOptions::default())
            .unwrap_or_else(|e| panic!("{model} {variant}: {e}"));
        // An imported model has no float accuracy to report; a dynamic one is calibrated.
        match (variant.starts_with("dynamic"), c.accuracy.is_some()) {
            (false, false) => imported += 1,
            (true, true) => dynamic += 1,
            _ => panic!("{model} {variant}: took the wrong front end"),
        }
    }
    let dynamics = variants
        .iter()
        .filter(|v| v.1.starts_with("dynamic"))
        .count();
    assert!(dynamics >= 3);
    assert_eq!(
        (imported, dynamic),
        (variants.len() - dynamics - REFUSED.len(), dynamics)
    );
}

#[test]
fn quantizations_zkinfer_never_imports_are_named() {
    let dir = root().join("models/int8/refused");
    let tmp = tempfile::tempdir().unwrap();
    let cal = tmp.path().join("input.json");
    std::fs::write(&cal, r#"{"input_data": [[0.1, -0.2, 0.3, 0.4]]}"#).unwrap();
    for (file, feature) in [
        ("int4", "int4/uint4 values"),
        ("uint4", "int4/uint4 values"),
        ("int2", "int2/uint2 values"),
        ("float8", "float8 values"),
        ("int16", "int16/uint16 values"),
        ("blocked", "blocked quantization"),
    ] {
        let err = compile(
            &dir.join(format!("{file}.onnx")),
            &cal,
            &CompileOptions::default(),
        )
        .err()
        .unwrap_or_else(|| panic!("{file} compiled"));
        let msg = err.to_string();
        assert!(
            matches!(err, FrontendError::QuantizationFeature { .. }),
            "{file}: {msg}"
        );
        assert!(
            msg.contains(feature) && !msg.contains('\n'),
            "{file}: {msg}"
        );
    }
}

// --- imported models against ONNX Runtime ------------------------------------------------

// Imported int8 models against ONNX Runtime 1.32 (`models/int8`, recorded on an AVX2 CPU
// without VNNI): every variant zkinfer imports evaluates, on the shipped input and the 100
// recorded random inputs, to exactly the integers of the ONNX reference semantics
// (`ORT_DISABLE_ALL`: each op as the standard defines it), and to `ORT_ENABLE_ALL`'s wherever
// ONNX Runtime's fused kernels compute exact integers. They do not where they multiply uint8
// activations by int8 weights with AVX2's `vpmaddubsw`, which saturates each pair of products
// to int16: the QOperator u8s8 variants at both levels, and (the likely cause there too, not
// emulated here) the QDQ variants of the larger models at `ORT_ENABLE_ALL`. Those outputs
// depend on the CPU; zkinfer proves the exact ones.

/// The static variants zkinfer refuses, with the reason: the QDQ per-channel forms of
/// `matmul`, whose constant left operand the tool quantizes per column (the inner axis of
/// `A·x`: one sum's products would have different scales).
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "matmul",
        "qdq_per_channel_s8s8",
        "not their output channels'",
    ),
    (
        "matmul",
        "qdq_per_channel_u8s8",
        "not their output channels'",
    ),
];

/// The variants imported today: every static one but `REFUSED` (dynamic quantization is not
/// imported yet).
/// Models with an op ONNX Runtime computes in f32 from data-dependent sums (a softmax): proven
/// within one level of its integers, not bit for bit.
const WITHIN_ONE_LEVEL: &[&str] = &["1l_softmax"];

/// Models with a layer normalisation, which ONNX Runtime leaves as f32 islands (and computes
/// differently at its two optimization levels): proven as close to `ORT_ENABLE_ALL` as its two
/// levels are to each other.
const WITHIN_LEVELS: &[&str] = &["norm_attention", "layernorm"];

fn imported(model: &str, variant: &str) -> bool {
    !variant.starts_with("dynamic") && !REFUSED.iter().any(|r| (r.0, r.1) == (model, variant))
}

#[test]
fn imported_models_compute_onnx_runtimes_integers() {
    let m = manifest();
    let cases = m["random_cases"].as_u64().unwrap() as usize;
    let mut checked = 0;
    let variants = written_variants();
    for (model, variant, path) in &variants {
        let (model, variant) = (model.as_str(), variant.as_str());
        if !imported(model, variant) {
            continue;
        }
        let shipped = shipped_inputs(model);
        let proto = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
        let opset = proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .unwrap()
            .version;
        let im = import(proto.graph.as_ref().unwrap(), opset)
            .unwrap_or_else(|e| panic!("{model} {variant}: {e}"));
        let g = &im.graph;
        let fx = json(root().join(format!("models/int8/{model}/{variant}.json")));
        let (mut differ_enable, mut differ_disable) = (0, 0);
        for i in 0..=cases {
            // Input j of random case i: the generator's `case_input(model@j, i)` (j > 0).
            let q: Vec<Vec<i128>> = (g.inputs.iter().enumerate())
                .map(|(j, &id)| {
                    let input = &g.tensors[id];
                    let x = match (i, j) {
                        (0, _) => shipped[j].clone(),
                        (_, 0) => case_input(model, i, input.len()),
                        _ => case_input(&format!("{model}@{j}"), i, input.len()),
                    };
                    match (input.affine, m["token_vocab"][model].as_f64()) {
                        (Some(a), _) => x
                            .iter()
                            .map(|&v| i128::from(a.quantize(v as f32)))
                            .collect(),
                        // Token ids: the shipped ones, or v ↦ floor((v + 1) / 2 · V).
                        (None, Some(vocab)) => x
                            .iter()
                            .map(|&v| match i {
                                0 => v as i128,
                                _ => ((v + 1.0) / 2.0 * vocab).floor() as i128,
                            })
                            .collect(),
                        (None, None) => panic!("{model}: an integer input without a vocabulary"),
                    }
                })
                .collect();
            let vals = g
                .eval(&q)
                .unwrap_or_else(|e| panic!("{model} {variant} #{i}: {e}"));
            let got = &vals[g.outputs[0]];
            let want = |level: &str| -> Vec<i128> {
                fx[level][i]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| i128::from(v.as_i64().unwrap()))
                    .collect()
            };
            differ_enable += usize::from(got != &want("enable_all"));
            differ_disable += usize::from(got != &want("disable_all"));
        }
        eprintln!(
            "{model} {variant}: bits {}, cases differing from ORT_ENABLE_ALL {differ_enable}, from ORT_DISABLE_ALL {differ_disable}",
            g.bits
        );
        checked += 1;
        // A softmax is within one level (`softmax_is_within_one_level_of_onnx_runtime`), a
        // layer normalisation within ORT's levels (`layer_norms_are_...`).
        if WITHIN_ONE_LEVEL.contains(&model) || WITHIN_LEVELS.contains(&model) {
            continue;
        }
        // The reference semantics, bit for bit (ORT's QOperator u8s8 kernels saturate at
        // both levels: no exact reference was recorded for those).
        let u8_kernels = variant.starts_with("qoperator") && variant.ends_with("u8s8");
        if !u8_kernels {
            assert_eq!(differ_disable, 0, "{model} {variant}: ORT_DISABLE_ALL");
        }
        // ORT_ENABLE_ALL too where its kernels are exact: every s8s8 QOperator model, and
        // every model too small for a saturated pair (one layer).
        if (variant.starts_with("qoperator") && variant.ends_with("s8s8") && !u8_kernels)
            || model.starts_with("1l_")
        {
            assert_eq!(differ_enable, 0, "{model} {variant}: ORT_ENABLE_ALL");
        }
    }
    let dynamic = variants
        .iter()
        .filter(|v| v.1.starts_with("dynamic"))
        .count();
    assert_eq!(
        checked,
        variants.len() - dynamic - REFUSED.len(),
        "{checked} variants"
    );
}

/// The shipped input of 1l_mlp's QOperator s8s8 variant, and ONNX Runtime's output integers.
fn mlp_case() -> (ModelProto, Vec<f64>, Vec<i128>) {
    let path = root().join("models/int8/1l_mlp/qoperator_per_tensor_s8s8.onnx");
    let proto = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let fx = json(root().join("models/int8/1l_mlp/qoperator_per_tensor_s8s8.json"));
    let want = fx["disable_all"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| i128::from(v.as_i64().unwrap()))
        .collect();
    (proto, shipped_input("1l_mlp"), want)
}

/// A model whose output is an int8 tensor itself (its last DequantizeLinear removed) lists the
/// integers: the output tensor has no scale of its own.
#[test]
fn an_int8_graph_output_is_listed_as_its_integers() {
    let (mut proto, x, want) = mlp_case();
    let graph = proto.graph.as_mut().unwrap();
    let dq = graph.node.pop().unwrap();
    assert_eq!(dq.op_type, "DequantizeLinear");
    graph.output[0].name = dq.input[0].clone();
    let g = import(graph, 13).unwrap().graph;
    let input = &g.tensors[g.inputs[0]];
    let a = input.affine.unwrap();
    let q: Vec<i128> = x
        .iter()
        .map(|&v| i128::from(a.quantize(v as f32)))
        .collect();
    let vals = g.eval(&[q]).unwrap();
    let out = g.outputs[0];
    assert!(g.tensors[out].affine.is_none() && g.tensors[out].scale == 0);
    let listed: Vec<i128> = vals[out]
        .iter()
        .map(|&v| g.dequantize(out, v) as i128)
        .collect();
    assert_eq!(listed, want);
}

/// A model whose input is int8 itself (its first QuantizeLinear removed) takes the integers,
/// proven in the type's range before any op reads them.
#[test]
fn an_int8_graph_input_takes_integers_in_its_types_range() {
    let (mut proto, x, want) = mlp_case();
    let graph = proto.graph.as_mut().unwrap();
    let q = graph.node.remove(0);
    assert_eq!(q.op_type, "QuantizeLinear");
    let original = import(
        &ModelProto::decode(
            std::fs::read(root().join("models/int8/1l_mlp/qoperator_per_tensor_s8s8.onnx"))
                .unwrap()
                .as_slice(),
        )
        .unwrap()
        .graph
        .unwrap(),
        13,
    )
    .unwrap()
    .graph;
    let a = original.tensors[original.inputs[0]].affine.unwrap();
    let ints: Vec<i128> = x
        .iter()
        .map(|&v| i128::from(a.quantize(v as f32)))
        .collect();
    // The graph input is now the QuantizeLinear's int8 output.
    let vi = &mut graph.input[0];
    vi.name = q.output[0].clone();
    if let Some(tract_onnx::pb::type_proto::Value::TensorType(tt)) =
        vi.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        tt.elem_type = tract_onnx::pb::tensor_proto::DataType::Int8 as i32;
    }
    let g = import(graph, 13).unwrap().graph;
    assert_eq!(g.integer_inputs, vec![g.inputs[0]]);
    let vals = g.eval(std::slice::from_ref(&ints)).unwrap();
    // The output's integers, as the main fixture test compares them.
    let got = vals[g.outputs[0]].clone();
    assert_eq!(got, want);
    // Outside int8's range: refused before any op reads it.
    let mut bad = ints;
    bad[0] = 128;
    assert!(g.eval(&[bad]).is_err());
}

/// A Concat without inputs (a corrupted model) is refused with an error, not a panic.
#[test]
fn a_concat_of_no_input_is_refused() {
    let (mut proto, _, _) = mlp_case();
    let graph = proto.graph.as_mut().unwrap();
    let last = graph.node.len() - 1;
    let dq = graph.node[last].clone();
    graph
        .node
        .insert(last, node("Concat", &[], "nothing", Some(0)));
    assert_eq!(dq.op_type, "DequantizeLinear");
    let err = import(graph, 13).err().unwrap().to_string();
    assert!(err.contains("no input"), "{err}");
}

/// A QGemm with `transA` reads its input transposed: 1l_mlp's Gemm given its inputs as the two
/// columns of a `[3, 2]` tensor computes, row by row, what the model computes for each.
#[test]
fn a_gemm_with_trans_a_reads_its_input_transposed() {
    let (proto, x, want) = mlp_case();
    let original = import(proto.graph.as_ref().unwrap(), 13).unwrap().graph;
    let a = original.tensors[original.inputs[0]].affine.unwrap();
    let x2: Vec<f64> = x.iter().map(|v| -v / 2.0).collect();
    let quant = |v: &[f64]| -> Vec<i128> {
        v.iter()
            .map(|&v| i128::from(a.quantize(v as f32)))
            .collect()
    };
    let second = original.eval(&[quant(&x2)]).unwrap()[original.outputs[0]].clone();
    let mut proto = proto;
    let graph = proto.graph.as_mut().unwrap();
    let dims = |shape: &mut tract_onnx::pb::ValueInfoProto, d: [i64; 2]| {
        if let Some(tract_onnx::pb::type_proto::Value::TensorType(tt)) =
            shape.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            for (dim, v) in tt.shape.as_mut().unwrap().dim.iter_mut().zip(d) {
                dim.value = Some(tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(v));
            }
        }
    };
    dims(&mut graph.input[0], [3, 2]);
    dims(&mut graph.output[0], [2, 4]);
    graph.node[1]
        .attribute
        .push(tract_onnx::pb::AttributeProto {
            name: "transA".into(),
            r#type: tract_onnx::pb::attribute_proto::AttributeType::Int as i32,
            i: 1,
            ..Default::default()
        });
    let g = import(graph, 13).unwrap().graph;
    // Element (k, m) of the [3, 2] input is x_m[k].
    let columns: Vec<f64> = (0..3).flat_map(|k| [x[k], x2[k]]).collect();
    let vals = g.eval(&[quant(&columns)]).unwrap();
    // The output's integers, as the main fixture test compares them.
    let got = vals[g.outputs[0]].clone();
    let expected: Vec<i128> = want.iter().chain(&second).copied().collect();
    assert_eq!(got, expected);
}

/// gated_cnn's variant `variant` with `attrs` set on its (QLinear)AveragePool node.
fn gated_pool_with(variant: &str, attrs: &[(&str, i64)]) -> ModelProto {
    use tract_onnx::pb::{attribute_proto::AttributeType, AttributeProto};
    let path = root().join(format!("models/int8/gated_cnn/{variant}.onnx"));
    let mut proto = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let pool = graph
        .node
        .iter_mut()
        .find(|n| n.op_type.ends_with("AveragePool") && !n.op_type.contains("Global"))
        .unwrap();
    for &(name, i) in attrs {
        pool.attribute.retain(|a| a.name != name);
        pool.attribute.push(AttributeProto {
            name: name.into(),
            r#type: AttributeType::Int as i32,
            i,
            ..Default::default()
        });
    }
    proto
}

/// Without the padding counted, gated_cnn's QDQ pool divides by 4, 6 and 9 at its input's
/// scale (the quantizer's QDQ form keeps it): a mean of an even divisor can be exactly a half,
/// which ONNX Runtime's f32 arithmetic may round either way, so `compile` reports the pool as
/// within 1 LSB (and still proves it).
#[test]
fn an_average_pool_whose_mean_can_be_a_half_is_reported_within_one_lsb() {
    let node = "AveragePool";
    for variant in ["qdq_per_tensor_s8s8", "qdq_per_tensor_u8s8"] {
        let proto = gated_pool_with(variant, &[("count_include_pad", 0)]);
        let im = import(proto.graph.as_ref().unwrap(), 13).unwrap();
        let pool: Vec<_> = im
            .requants
            .iter()
            .filter(|r| r.node.starts_with(node))
            .collect();
        assert_eq!(pool.len(), 1, "{variant}");
        assert_eq!((pool[0].channels, pool[0].exact), (1, 0), "{variant}");
        let g = &im.graph;
        let a = g.tensors[g.inputs[0]].affine.unwrap();
        let q: Vec<i128> = shipped_input("gated_cnn")
            .iter()
            .map(|&v| i128::from(a.quantize(v as f32)))
            .collect();
        assert_eq!(g.eval(&[q]).unwrap()[g.outputs[0]].len(), 6);
        // As the quantizer wrote it (padding counted: every divisor 9), exact.
        let proto = gated_pool_with(variant, &[]);
        let im = import(proto.graph.as_ref().unwrap(), 13).unwrap();
        let pool = im
            .requants
            .iter()
            .find(|r| r.node.starts_with(node))
            .unwrap();
        assert_eq!((pool.channels, pool.exact), (1, 1), "{variant}");
    }
}

/// With `ceil_mode`, the last window runs past the padded border; where the padding counts,
/// ONNX's divisor there is not the kernel's size that ONNX Runtime's kernels use: refused.
#[test]
fn a_counted_padding_with_windows_past_it_is_refused() {
    let proto = gated_pool_with("qoperator_per_tensor_s8s8", &[("ceil_mode", 1)]);
    let err = refusal(&proto);
    assert!(
        err.contains("count_include_pad") && err.contains("ceil_mode"),
        "{err}"
    );
}

/// A node of type `op` reading `inputs`, writing `out`, with an `axis` attribute if given.
fn node(op: &str, inputs: &[&str], out: &str, axis: Option<i64>) -> tract_onnx::pb::NodeProto {
    use tract_onnx::pb::{attribute_proto::AttributeType, AttributeProto, NodeProto};
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![out.into()],
        attribute: axis
            .map(|i| AttributeProto {
                name: "axis".into(),
                r#type: AttributeType::Int as i32,
                i,
                ..Default::default()
            })
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

/// The output integers of `p` (imported) on the float input `x` (its one graph input).
fn outputs_on(p: &ModelProto, x: &[f64]) -> Vec<i128> {
    let g = import(p.graph.as_ref().unwrap(), 13).unwrap().graph;
    let a = g.tensors[g.inputs[0]].affine.unwrap();
    let q: Vec<i128> = x
        .iter()
        .map(|&v| i128::from(a.quantize(v as f32)))
        .collect();
    g.eval(&[q]).unwrap()[g.outputs[0]].clone()
}

/// Initializer `name` of `g`, for editing.
fn initializer<'g>(
    g: &'g mut tract_onnx::pb::GraphProto,
    name: &str,
) -> &'g mut tract_onnx::pb::TensorProto {
    g.initializer
        .iter_mut()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no initializer {name}"))
}

/// The one-line error importing `p` gives (it must be refused).
fn refusal(p: &ModelProto) -> String {
    import(p.graph.as_ref().unwrap(), 13)
        .expect_err("refused")
        .to_string()
}

/// gelu_mlp's QDQ s8s8 variant, with `edit` applied to its graph.
fn gelu_with(edit: impl FnOnce(&mut tract_onnx::pb::GraphProto)) -> ModelProto {
    let path = root().join("models/int8/gelu_mlp/qdq_per_tensor_s8s8.onnx");
    let mut proto = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    edit(proto.graph.as_mut().unwrap());
    proto
}

/// The float ops the quantizer leaves between DequantizeLinear and QuantizeLinear (Div → Erf,
/// Tanh) are tables over their int8 input, reported with the entries near a level's boundary.
#[test]
fn float_islands_are_tables_over_their_int8_input() {
    let im = import(gelu_with(|_| {}).graph.as_ref().unwrap(), 13).unwrap();
    let ops: Vec<String> = im.tables.iter().map(|t| t.ops.join(" ")).collect();
    assert_eq!(ops, ["Div Erf", "Tanh"]);
    assert!(im
        .tables
        .iter()
        .all(|t| t.entries == 256 && t.uncertain <= 2));
}

#[test]
fn float_islands_that_are_not_one_function_of_one_int8_tensor_are_refused() {
    // Div of the first layer's output by the model's input (two int8 tensors).
    let proto = gelu_with(|g| {
        let div = g.node.iter_mut().find(|n| n.op_type == "Div").unwrap();
        div.input[1] = "x_DequantizeLinear_Output".into();
    });
    let err = refusal(&proto);
    assert!(err.contains("two different int8 tensors"), "{err}");
    // A constant of more than one element makes the function depend on the position.
    let proto = gelu_with(|g| {
        let c = initializer(g, "sqrt2");
        c.dims = vec![2];
        c.float_data = vec![1.4, 1.5];
        c.raw_data.clear();
    });
    let err = refusal(&proto);
    assert!(err.contains("more than one element"), "{err}");
}

/// token_mixer's two products of computed tensors (`Q·Kᵀ`, then by `V`, two heads each) are
/// matrix products of the centred int8 operands, batched by head.
#[test]
fn products_of_two_int8_tensors_are_batched_matrix_products() {
    use zkinfer_circuits::graph::QOp;
    let path = root().join("models/int8/token_mixer/qdq_per_tensor_u8s8.onnx");
    let proto = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let im = import(proto.graph.as_ref().unwrap(), 13).unwrap();
    let shapes: Vec<([usize; 3], usize)> = im
        .graph
        .ops
        .iter()
        .filter_map(|op| match op {
            QOp::MatMul(m) => Some((m.ikj, m.batches.len())),
            _ => None,
        })
        .collect();
    assert_eq!(shapes, [([4, 3, 4], 2), ([4, 4, 3], 2)]);
}

/// A QLinear op computes with the scale it declares for its input, not the one its producer
/// wrote: 1l_mlp's QGemm declaring twice the input's scale gives what twice the weights' scale
/// gives (the same multiplier), and not the original's.
#[test]
fn a_qlinear_op_computes_with_the_scale_it_declares_for_its_input() {
    let (proto, x, want) = mlp_case();
    let doubled = |input: usize| {
        let mut p = proto.clone();
        let g = p.graph.as_mut().unwrap();
        let gemm = g.node.iter().position(|n| n.op_type == "QGemm").unwrap();
        let source = g.node[gemm].input[input].clone();
        let mut t = g
            .initializer
            .iter()
            .find(|t| t.name == source)
            .unwrap()
            .clone();
        let bytes: [u8; 4] = t
            .raw_data
            .as_slice()
            .try_into()
            .unwrap_or_else(|_| t.float_data[0].to_le_bytes());
        let doubled = 2.0 * f32::from_le_bytes(bytes);
        t.raw_data = doubled.to_le_bytes().to_vec();
        t.float_data.clear();
        t.name = format!("{source} (doubled)");
        g.node[gemm].input[input] = t.name.clone();
        g.initializer.push(t);
        p
    };
    let run = |p: &ModelProto| outputs_on(p, &x);
    assert_eq!(run(&proto), want);
    let (by_input, by_weights) = (run(&doubled(1)), run(&doubled(4)));
    assert_eq!(by_input, by_weights);
    assert_ne!(by_input, want);
}

/// 1l_mlp (QOperator s8s8) with `edit` applied to its graph.
fn mlp_with(edit: impl FnOnce(&mut tract_onnx::pb::GraphProto)) -> ModelProto {
    let (mut proto, _, _) = mlp_case();
    edit(proto.graph.as_mut().unwrap());
    proto
}

/// A float input is one public tensor however many QuantizeLinear nodes read it; the public
/// inputs follow the graph's order, not the order the nodes quantize them in; a float input
/// nothing quantizes, or one quantized with two sets of parameters, is refused.
#[test]
fn float_inputs_are_public_once_in_the_graphs_order() {
    use tract_onnx::pb::NodeProto;
    let q = |input: &str, out: &str| NodeProto {
        op_type: "QuantizeLinear".into(),
        input: vec![
            input.into(),
            "input_scale".into(),
            "input_zero_point".into(),
        ],
        output: vec![out.into()],
        ..Default::default()
    };
    // A second QuantizeLinear of the input, read by the QGemm.
    let twice = mlp_with(|g| {
        g.node.insert(1, q("input", "again"));
        g.node
            .iter_mut()
            .find(|n| n.op_type == "QGemm")
            .unwrap()
            .input[0] = "again".into();
    });
    let im = import(twice.graph.as_ref().unwrap(), 13).unwrap();
    assert_eq!(im.graph.inputs.len(), 1);
    // A first graph input, quantized after the second.
    let two = mlp_with(|g| {
        let mut first = g.input[0].clone();
        first.name = "first".into();
        g.input.insert(0, first);
        g.node.insert(1, q("first", "first_quantized"));
    });
    let im = import(two.graph.as_ref().unwrap(), 13).unwrap();
    let names: Vec<&str> = im
        .graph
        .inputs
        .iter()
        .map(|&t| im.graph.tensors[t].name.as_str())
        .collect();
    assert_eq!(names, ["first", "input"]);
    // Read by nothing.
    let unread = mlp_with(|g| {
        let mut extra = g.input[0].clone();
        extra.name = "extra".into();
        g.input.push(extra);
    });
    let err = refusal(&unread);
    assert!(
        err.contains("'extra'") && err.contains("no QuantizeLinear reads"),
        "{err}"
    );
    // Quantized with two scales.
    let two_scales = mlp_with(|g| {
        let mut other = q("input", "again");
        other.input[1] = "input.1_scale".into();
        g.node.insert(1, other);
    });
    let err = refusal(&two_scales);
    assert!(err.contains("different parameters"), "{err}");
}

/// A Gemm's `C` need not be one value per output channel: any shape that broadcasts to the
/// output is added element by element. 1l_mlp's QGemm with its bias replaced by one value
/// given as `[4]` (per channel), `[]` and `[1, 1]` (broadcast) computes the same integers.
#[test]
fn a_gemm_bias_of_any_broadcastable_shape_is_added_element_by_element() {
    let (proto, x, _) = mlp_case();
    let with_bias = |dims: Vec<i64>, values: Vec<i32>| {
        let mut p = proto.clone();
        let g = p.graph.as_mut().unwrap();
        let b = initializer(g, "dense.bias_quantized");
        b.dims = dims;
        b.int32_data = values;
        b.raw_data.clear();
        outputs_on(&p, &x)
    };
    let per_channel = with_bias(vec![4], vec![5000; 4]);
    assert_eq!(with_bias(vec![], vec![5000]), per_channel);
    assert_eq!(with_bias(vec![1, 1], vec![5000]), per_channel);
    assert_ne!(with_bias(vec![], vec![-5000]), per_channel);
    // Two values for four channels do not broadcast.
    let mut p = proto.clone();
    let g = p.graph.as_mut().unwrap();
    let b = initializer(g, "dense.bias_quantized");
    b.dims = vec![2];
    b.int32_data = vec![1, 2];
    b.raw_data.clear();
    let err = import(g, 13).err().unwrap().to_string();
    assert!(err.contains("broadcast"), "{err}");
}

/// Shape computations (Shape of any value, then ops of constants) are folded at import, as the
/// float front end folds them: token_mixer's last Reshape given its target shape as
/// `Concat(Gather(Shape(o), [0]), [-1])` imports to the same ops as with the constant.
#[test]
fn shape_computations_are_folded_at_import() {
    use tract_onnx::pb::TensorProto;
    let path = root().join("models/int8/token_mixer/qdq_per_tensor_s8s8.onnx");
    let proto = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let int64 = |name: &str, v: Vec<i64>| TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: 7,
        int64_data: v,
        ..Default::default()
    };
    let mut computed = proto.clone();
    let g = computed.graph.as_mut().unwrap();
    let at = g
        .node
        .iter()
        .position(|n| n.op_type == "Reshape" && n.input[1] == "flat")
        .unwrap();
    g.node[at].input[1] = "computed".into();
    let steps = [
        node("Shape", &["o_DequantizeLinear_Output"], "so", None),
        node("Gather", &["so", "zero"], "batch", Some(0)),
        node("Concat", &["batch", "rest"], "computed", Some(0)),
    ];
    for (i, n) in steps.into_iter().enumerate() {
        g.node.insert(at + i, n);
    }
    g.initializer
        .extend([int64("zero", vec![0]), int64("rest", vec![-1])]);
    let (a, b) = (
        import(proto.graph.as_ref().unwrap(), 13).unwrap().graph,
        import(computed.graph.as_ref().unwrap(), 13).unwrap().graph,
    );
    // The same graph but for the nodes' names (an unnamed node is named by its position).
    assert_eq!(a.ops.len(), b.ops.len());
    let q: Vec<i128> = case_input("token_mixer", 1, 24)
        .iter()
        .map(|&v| i128::from(a.tensors[a.inputs[0]].affine.unwrap().quantize(v as f32)))
        .collect();
    let run = |g: &zkinfer_circuits::QuantizedGraph| {
        g.eval(std::slice::from_ref(&q)).unwrap()[g.outputs[0]].clone()
    };
    assert_eq!(run(&a), run(&b));
}

/// Token ids are an integer input taking the rows of the table they index; a quantized
/// constant moved by a view and quantized again (a position-embedding slice, as the tool writes
/// it for nanoGPT) is a constant, added to the token embeddings as an int8 Add of a constant.
#[test]
fn token_embeddings_and_position_embedding_constants() {
    use tract_onnx::pb::TensorProto;
    let path = root().join("models/int8/embed_mlp/qdq_per_tensor_s8s8.onnx");
    let proto = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let cal = root().join("models/int8/sources/embed_mlp.json");
    let io = compile(
        &root().join("models/int8/embed_mlp/qdq_per_tensor_s8s8.onnx"),
        &cal,
        &CompileOptions::default(),
    )
    .unwrap()
    .model
    .io();
    assert_eq!(
        (io.inputs[0].integer, io.inputs[0].range),
        (true, Some((0, 19)))
    );
    let mut with_positions = proto.clone();
    let g = with_positions.graph.as_mut().unwrap();
    let at = g.node.iter().position(|n| n.op_type == "Reshape").unwrap();
    g.node[at].input[0] = "s_dq".into();
    let params = ["E_scale", "E_zero_point"];
    let steps = [
        node(
            "Gather",
            &["E_DequantizeLinear_Output", "positions"],
            "p",
            None,
        ),
        node("QuantizeLinear", &["p", params[0], params[1]], "p_q", None),
        node(
            "DequantizeLinear",
            &["p_q", params[0], params[1]],
            "p_dq",
            None,
        ),
        node("Add", &["e_DequantizeLinear_Output", "p_dq"], "s", None),
        node("QuantizeLinear", &["s", params[0], params[1]], "s_q", None),
        node(
            "DequantizeLinear",
            &["s_q", params[0], params[1]],
            "s_dq",
            None,
        ),
    ];
    for (i, n) in steps.into_iter().enumerate() {
        g.node.insert(at + i, n);
    }
    g.initializer.push(TensorProto {
        name: "positions".into(),
        dims: vec![1, 6],
        data_type: 7,
        int64_data: (0..6).collect(),
        ..Default::default()
    });
    let run = |p: &ModelProto| -> Vec<i128> {
        let g = import(p.graph.as_ref().unwrap(), 13).unwrap().graph;
        let ids: Vec<i128> = shipped_input("embed_mlp")
            .iter()
            .map(|&v| v as i128)
            .collect();
        g.eval(&[ids]).unwrap()[g.outputs[0]].clone()
    };
    let (plain, shifted) = (run(&proto), run(&with_positions));
    assert_eq!(plain.len(), shifted.len());
    assert_ne!(plain, shifted);
}

/// Crafted variations of the fixtures ONNX Runtime would refuse or compute otherwise: each is
/// refused with one line, none panics or hangs.
#[test]
fn crafted_variations_are_refused_with_one_line() {
    use tract_onnx::pb::TensorProto;
    let refused = |p: &ModelProto, why: &str| {
        let err = import(p.graph.as_ref().unwrap(), 13)
            .err()
            .unwrap_or_else(|| panic!("accepted ({why})"))
            .to_string();
        assert!(err.contains(why) && !err.contains('\n'), "{err}");
    };
    // A Gemm bias of a higher rank than the output (it would broadcast beyond it).
    refused(
        &mlp_with(|g| {
            let b = initializer(g, "dense.bias_quantized");
            b.dims = vec![2, 1, 4];
            b.int32_data = vec![1; 8];
            b.raw_data.clear();
        }),
        "does not broadcast to the output",
    );
    // A one-element constant of a higher rank in a float island (it would change the shape).
    refused(
        &gelu_with(|g| {
            let c = initializer(g, "sqrt2");
            c.dims = vec![1, 1, 1];
        }),
        "would change the shape",
    );
    // A QLinear op declaring a vector of scales for its input.
    refused(
        &mlp_with(|g| {
            let gemm = g.node.iter_mut().find(|n| n.op_type == "QGemm").unwrap();
            gemm.input[1] = "two scales".into();
            g.initializer.push(TensorProto {
                name: "two scales".into(),
                dims: vec![2],
                data_type: 1,
                float_data: vec![0.01, 0.02],
                ..Default::default()
            });
            let zp = g.node.iter().position(|n| n.op_type == "QGemm").unwrap();
            g.node[zp].input[2] = "two zero points".into();
            g.initializer.push(TensorProto {
                name: "two zero points".into(),
                dims: vec![2],
                data_type: 3,
                int32_data: vec![0, 0],
                ..Default::default()
            });
        }),
        "must be scalars",
    );
    // A Mul constant outside its zero point's type (int32 values for an int8 zero point).
    let path = root().join("models/int8/gated_cnn/qoperator_per_tensor_s8s8.onnx");
    let mut gated = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let g = gated.graph.as_mut().unwrap();
    let k = initializer(g, "K_quantized");
    k.data_type = 6;
    k.int32_data = vec![1000, 1, 2, 3];
    k.raw_data.clear();
    refused(&gated, "outside its zero point's type");
    // A Concat of a quantized constant and a float initializer: not folded (the float values
    // would be read as the constant's integers), refused.
    let path = root().join("models/int8/embed_mlp/qdq_per_tensor_s8s8.onnx");
    let mut embed = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let g = embed.graph.as_mut().unwrap();
    let at = g.node.iter().position(|n| n.op_type == "Gather").unwrap();
    g.node.insert(
        at,
        node(
            "Concat",
            &["E_DequantizeLinear_Output", "extra row"],
            "rows",
            Some(0),
        ),
    );
    g.initializer.push(TensorProto {
        name: "extra row".into(),
        dims: vec![1, 8],
        data_type: 1,
        float_data: vec![0.5; 8],
        ..Default::default()
    });
    refused(&embed, "input #0");
    // An average pool kernel far larger than any input (its windows would take hours).
    refused(
        &gated_pool_with("qdq_per_tensor_s8s8", &[("count_include_pad", 0)])
            .clone()
            .tap(|p| {
                let g = p.graph.as_mut().unwrap();
                let pool = g
                    .node
                    .iter_mut()
                    .find(|n| n.op_type == "AveragePool")
                    .unwrap();
                for a in pool.attribute.iter_mut() {
                    match a.name.as_str() {
                        "kernel_shape" => a.ints = vec![4096, 4096],
                        "pads" => a.ints = vec![4095, 4095, 4095, 4095],
                        _ => {}
                    }
                }
            }),
        "too large",
    );
}

/// `f(&mut x); x`, for building variations inline.
trait Tap: Sized {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}
impl Tap for ModelProto {}

/// Dynamic quantization (DynamicQuantizeLinear + MatMulInteger, `ops::dynamic`) calibrated on
/// the shipped input: on it and on every random case, the quantized graph's outputs (what the
/// circuit proves) are within 1% of their range (over the cases) of ONNX's definition (the
/// float interpreter, which quantizes in f32 as ONNX Runtime does), and of ONNX Runtime's own
/// outputs wherever its u8×s8 kernel did not saturate (AVX2 without VNNI adds pairs of products
/// in int16: cases 8, 39 and 55 here, where activations near 255 meet weights near -118); its uint8
/// activations are ONNX's but for a few elements one level away, whose `x / scale` lies within
/// the circuit's precision of a rounding tie.
#[test]
fn dynamic_quantization_follows_onnx_runtime_within_its_precision() {
    let (model, variant) = ("1l_mlp", "dynamic_u8s8");
    let path = root().join(format!("models/int8/{model}/{variant}.onnx"));
    let rel = manifest()["sources"][model]["input"]
        .as_str()
        .unwrap()
        .to_string();
    let c = compile(&path, &root().join(rel), &CompileOptions::default()).unwrap();
    let (g, io) = (&c.model.graph, c.model.io());
    let om = OnnxModel::from_bytes(&std::fs::read(&path).unwrap(), "dynamic").unwrap();
    let onnx = |name: &str| om.tensors.iter().position(|t| t.name == name).unwrap();
    let (y_onnx, z_onnx) = (onnx("input_quantized"), onnx("input_zero_point"));
    // `y - z`, what the product reads.
    let centred = g
        .tensors
        .iter()
        .position(|t| t.name.ends_with("(y) - zero point"));
    let centred = centred.unwrap();
    let fx = json(root().join(format!("models/int8/{model}/{variant}.json")));
    let cases = manifest()["random_cases"].as_u64().unwrap() as usize;
    let ort = |level: &str, i: usize| -> Vec<f64> {
        serde_json::from_value(fx[level][i].clone()).unwrap()
    };
    let all: Vec<f64> = (0..=cases).flat_map(|i| ort("enable_all", i)).collect();
    let range = output_range_of(&all);
    let error = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    };
    let weights = om.tensors[onnx("dense.weight_Transposed_quantized")]
        .value
        .as_ref();
    let w = &weights.unwrap().data;
    let cols = om.tensors[onnx("dense.weight_Transposed_quantized")].shape[1];
    let (mut elements, mut off_by_one, mut worst, mut saturated) = (0, 0, 0.0f64, Vec::new());
    for i in 0..=cases {
        let Case { vals, ours, float } = run_case((g, &io), &om, model, i);
        let defined = &float[om.outputs[0]].as_ref().unwrap().data;
        let err = error(&ours, defined);
        assert!(
            err <= 0.01 * range,
            "case {i}: {err} from ONNX's definition"
        );
        worst = worst.max(err);
        let z = float[z_onnx].as_ref().unwrap().data[0];
        let onnx_y = &float[y_onnx].as_ref().unwrap().data;
        if ["enable_all", "disable_all"]
            .iter()
            .any(|l| error(&ours, &ort(l, i)) > 0.01 * range)
        {
            assert!(
                saturates(onnx_y, w, cols),
                "case {i}: off ONNX Runtime's outputs"
            );
            saturated.push(i);
        }
        for (&a, &b) in vals[centred].iter().zip(onnx_y) {
            let d = (a as f64 - (b - z)).abs();
            assert!(d <= 1.0, "case {i}: y - z = {a}, ONNX {}", b - z);
            elements += 1;
            off_by_one += usize::from(d > 0.0);
        }
    }
    assert!(
        saturated.len() * 20 <= cases,
        "off ONNX Runtime's: {saturated:?}"
    );
    assert!(
        off_by_one * 20 <= elements,
        "{off_by_one} of {elements} one level away"
    );
    println!(
        "dynamic {model}: outputs within {:.3}% of their range of ONNX's definition; {off_by_one} of {elements} uint8 activations one level from ONNX's; off ONNX Runtime's (its saturating kernel): cases {saturated:?}",
        100.0 * worst / range
    );
}

/// A float (dynamic) model's case `i` run by the quantized graph and the float interpreter.
struct Case {
    /// Every tensor of the quantized graph.
    vals: Vec<Vec<i128>>,
    /// Its output, dequantized.
    ours: Vec<f64>,
    /// Every ONNX tensor of the float interpreter.
    float: Vec<Option<zkinfer_onnx::Tensor>>,
}

fn run_case(
    (g, io): (
        &zkinfer_circuits::graph::QuantizedGraph,
        &zkinfer_circuits::compiled::IoSpec,
    ),
    om: &OnnxModel,
    model: &str,
    i: usize,
) -> Case {
    let x = match i {
        0 => shipped_input(model),
        _ => case_input(model, i, g.tensors[g.inputs[0]].len()),
    };
    let data = InputData {
        source: format!("case {i}"),
        values: vec![x],
    };
    let vals = g.eval(&data.quantize(io).unwrap()).unwrap();
    let o = g.outputs[0];
    let ours = vals[o].iter().map(|&v| g.dequantize(o, v)).collect();
    let float = om.run(&om.input_tensors(&data).unwrap()).unwrap();
    Case { vals, ours, float }
}

/// Whether ONNX Runtime's u8×s8 kernel (AVX2 without VNNI) saturates on `y` times the
/// `k × cols` weights `w`: it adds the products of consecutive pairs along `k` in int16.
fn saturates(y: &[f64], w: &[f64], cols: usize) -> bool {
    (0..cols).any(|c| {
        y.chunks(2).enumerate().any(|(p, pair)| {
            let sum: f64 = (pair.iter().enumerate())
                .map(|(t, v)| v * w[(2 * p + t) * cols + c])
                .sum();
            sum.abs() > 32767.0
        })
    })
}

/// Every dynamic variant (`quantize_dynamic` of the shared 1l_mlp, 1l_conv and 4l_relu_conv_fc:
/// MatMulInteger and ConvInteger; of the shared lstm: com.microsoft DynamicQuantizeLSTM),
/// compiled without a calibration input (seeded inputs): on
/// the shipped input and every random case, the outputs are within 1% of their range of
/// ONNX's definition (the float interpreter), and within it of ONNX Runtime's on all but a few
/// cases (its u8×s8 kernels saturate pairs of products to int16 on x86 without VNNI).
#[test]
fn dynamic_variants_compile_without_calibration_and_follow_onnx() {
    let cases = manifest()["random_cases"].as_u64().unwrap() as usize;
    let dynamic: Vec<_> = (written_variants().into_iter())
        .filter(|(_, v, _)| v.starts_with("dynamic"))
        .collect();
    assert!(dynamic.len() >= 3, "{dynamic:?}");
    for (model, variant, path) in &dynamic {
        let c = zkinfer_onnx::compile_from(path, None, &CompileOptions::default()).unwrap();
        let (g, io) = (&c.model.graph, c.model.io());
        let om = OnnxModel::from_bytes(&std::fs::read(path).unwrap(), model).unwrap();
        let fx = json(root().join(format!("models/int8/{model}/{variant}.json")));
        let ort = |level: &str, i: usize| -> Vec<f64> {
            serde_json::from_value(fx[level][i].clone()).unwrap()
        };
        let all: Vec<f64> = (0..=cases).flat_map(|i| ort("enable_all", i)).collect();
        let range = output_range_of(&all);
        let (mut worst, mut worst_ort, mut off) = (0.0f64, 0.0f64, 0);
        for i in 0..=cases {
            let Case { ours, float, .. } = run_case((g, &io), &om, model, i);
            let defined = &float[om.outputs[0]].as_ref().unwrap().data;
            let err = (ours.iter().zip(defined))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err <= 0.01 * range, "{model} case {i}: {err} of {range}");
            worst = worst.max(err);
            let from_ort = (ours.iter().zip(ort("disable_all", i)))
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            off += usize::from(from_ort > 0.01 * range);
            worst_ort = worst_ort.max(from_ort);
        }
        assert!(off * 10 <= cases, "{model}: {off} cases off ONNX Runtime's");
        println!(
            "{model} {variant}: within {:.3}% of ONNX's definition; {off} of {} cases off ONNX Runtime's by more than 1% (at most {:.3}%)",
            100.0 * worst / range,
            cases + 1,
            100.0 * worst_ort / range
        );
    }
}

/// `quantize_dynamic` of an opset-10 model writes DynamicQuantizeLinear out as float ops and a
/// QuantizeLinear of a computed scale: refused with one line that says how to get a model
/// zkinfer compiles.
#[test]
fn a_model_quantized_dynamically_below_opset_11_is_refused_with_the_way_out() {
    let path = root().join("models/int8/refused/dynamic_opset10.onnx");
    let err = zkinfer_onnx::compile_from(&path, None, &CompileOptions::default())
        .err()
        .unwrap();
    assert!(
        matches!(err, FrontendError::OpsetTenDynamic { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("opset 11 or later") && !msg.contains('\n'),
        "{msg}"
    );
}

/// An imported softmax (DequantizeLinear → Softmax → QuantizeLinear and com.microsoft
/// QLinearSoftmax; `int8/graph/softmax.rs`): on the shipped input and every random case, each
/// output is at most one level from ONNX Runtime's at both levels (which differ from each
/// other by one level in the QDQ forms), and equal to `ORT_DISABLE_ALL`'s in at least 95% of
/// the elements.
#[test]
fn softmax_is_within_one_level_of_onnx_runtime() {
    let cases = manifest()["random_cases"].as_u64().unwrap() as usize;
    let mut seen = 0;
    for (model, variant, path) in written_variants() {
        if !WITHIN_ONE_LEVEL.contains(&model.as_str()) || !imported(&model, &variant) {
            continue;
        }
        let proto = ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
        let opset = (proto.opset_import.iter())
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .unwrap()
            .version;
        let g = import(proto.graph.as_ref().unwrap(), opset).unwrap().graph;
        let fx = json(root().join(format!("models/int8/{model}/{variant}.json")));
        let input = &g.tensors[g.inputs[0]];
        let a = input.affine.unwrap();
        let (mut elements, mut equal) = (0, [0usize; 2]);
        for i in 0..=cases {
            let x = match i {
                0 => shipped_input(&model),
                _ => case_input(&model, i, input.len()),
            };
            let q = vec![x
                .iter()
                .map(|&v| i128::from(a.quantize(v as f32)))
                .collect()];
            let vals = g.eval(&q).unwrap();
            let got = &vals[g.outputs[0]];
            for (l, level) in ["disable_all", "enable_all"].iter().enumerate() {
                let want: Vec<i128> = serde_json::from_value(fx[level][i].clone()).unwrap();
                for (a, b) in got.iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= 1,
                        "{model} {variant} #{i} {level}: {a} vs {b}"
                    );
                    equal[l] += usize::from(a == b);
                }
            }
            elements += got.len();
        }
        assert!(
            equal[0] * 20 >= elements * 19,
            "{variant}: {equal:?} of {elements}"
        );
        println!(
            "{model} {variant}: equal to ORT_DISABLE_ALL {} and ORT_ENABLE_ALL {} of {elements}",
            equal[0], equal[1]
        );
        seen += 1;
    }
    assert_eq!(seen, 8);
}

/// The graph's output integers on `model`'s shipped input (case 0) or random case `i`.
fn int8_outputs(g: &zkinfer_circuits::graph::QuantizedGraph, model: &str, i: usize) -> Vec<i128> {
    let input = &g.tensors[g.inputs[0]];
    let a = input.affine.unwrap();
    let x = match i {
        0 => shipped_input(model),
        _ => case_input(model, i, input.len()),
    };
    let q = vec![x
        .iter()
        .map(|&v| i128::from(a.quantize(v as f32)))
        .collect()];
    let vals = g.eval(&q).unwrap();
    vals[g.outputs[0]].clone()
}

/// QDQ models with a layer normalisation (norm_attention: LayerNorm islands, a causal mask, a
/// softmax; layernorm: one LayerNormalization op between DequantizeLinear and QuantizeLinear): on the shipped and 100 random inputs, no output farther from ORT_ENABLE_ALL than
/// ORT's two levels are from each other anywhere (recorded `max_lsb`), and most outputs equal.
#[test]
fn layer_norms_are_as_close_to_onnx_runtime_as_its_two_levels() {
    let m = manifest();
    let cases = m["random_cases"].as_u64().unwrap() as usize;
    let mut seen = 0;
    for (model, variant, path) in written_variants() {
        if !WITHIN_LEVELS.contains(&model.as_str()) || !imported(&model, &variant) {
            continue;
        }
        let apart = m["models"][&model][&variant]["levels_differ"]["max_lsb"]
            .as_i64()
            .map_or(0, i128::from);
        let proto = ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
        let g = import(proto.graph.as_ref().unwrap(), 13).unwrap().graph;
        let fx = json(root().join(format!("models/int8/{model}/{variant}.json")));
        // Elements equal to ORT_ENABLE_ALL: ours, and ORT_DISABLE_ALL's.
        let (mut elements, mut equal, mut levels_equal, mut worst) = (0, 0, 0, 0);
        let (mut as_disable, mut worst_disable) = (0, 0);
        for i in 0..=cases {
            let got = int8_outputs(&g, &model, i);
            let level =
                |l: &str| -> Vec<i128> { serde_json::from_value(fx[l][i].clone()).unwrap() };
            let (enable, disable) = (level("enable_all"), level("disable_all"));
            for ((a, b), c) in got.iter().zip(&enable).zip(&disable) {
                worst = worst.max((a - b).abs());
                equal += usize::from(a == b);
                levels_equal += usize::from(c == b);
                as_disable += usize::from(a == c);
                worst_disable = worst_disable.max((a - c).abs());
            }
            elements += got.len();
        }
        println!("{model} {variant}: {equal} of {elements} equal to ORT_ENABLE_ALL, at most {worst} apart (ORT_DISABLE_ALL: {levels_equal} equal, at most {apart} apart); {as_disable} equal to ORT_DISABLE_ALL, at most {worst_disable} apart");
        assert!(
            worst <= apart.max(1),
            "{variant}: {worst} LSB from ORT_ENABLE_ALL, its levels {apart} apart"
        );
        assert!(
            as_disable * 50 >= elements * 49,
            "{variant}: {as_disable} of {elements} equal to ORT_DISABLE_ALL"
        );
        seen += 1;
    }
    assert_eq!(seen, 8);
}

/// Layer normalisations and masks the import does not prove are refused with one line naming
/// what is missing: a Pow other than a square, a mean over a leading axis, a Where whose mask
/// would broadcast the int8 tensor.
#[test]
fn crafted_layer_norms_and_masks_are_refused_with_one_line() {
    let with = |edit: &dyn Fn(&mut tract_onnx::pb::GraphProto)| {
        let path = root().join("models/int8/norm_attention/qdq_per_tensor_s8s8.onnx");
        let mut p = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
        edit(p.graph.as_mut().unwrap());
        import(p.graph.as_ref().unwrap(), 13)
            .map(|_| "accepted".to_string())
            .unwrap_or_else(|e| e.to_string())
    };
    let cube = with(&|g| initializer(g, "two").raw_data = 3f32.to_le_bytes().to_vec());
    assert!(
        cube.contains("must square it") && !cube.contains('\n'),
        "{cube}"
    );
    let leading = with(&|g| {
        let mean = g
            .node
            .iter_mut()
            .find(|n| n.op_type == "ReduceMean")
            .unwrap();
        mean.attribute
            .iter_mut()
            .find(|a| a.name == "axes")
            .unwrap()
            .ints = vec![1];
    });
    assert!(leading.contains("over the trailing axes"), "{leading}");
    let wide = with(&|g| {
        let mask = initializer(g, "mask");
        mask.dims = vec![2, 4, 4];
        mask.raw_data = vec![0; 32];
    });
    assert!(wide.contains("broadcasts the int8 tensor"), "{wide}");
}

/// An imported LayerNormalization op is as precise on rows of almost no variance as on any
/// other (the argument of its reciprocal square root is scaled by the row's own band): rows
/// one level apart in one element, two levels apart, constant (only ε left), spread over the
/// whole int8 range, and alternating extremes, each within one level of the exact real layer normalisation
/// requantized to the output's grid.
#[test]
fn an_imported_layer_normalization_is_as_precise_on_nearly_constant_rows() {
    let path = root().join("models/int8/layernorm/qdq_per_tensor_s8s8.onnx");
    let p = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    layer_normalization_within_one_level(p.clone());
    // With a scale of both signs (every other column's γ negated).
    let mut p = p;
    let g = p.graph.as_mut().unwrap();
    let gamma = initializer(g, "ln.weight_quantized");
    assert_eq!(gamma.raw_data.len(), 10);
    for (j, b) in gamma.raw_data.iter_mut().enumerate() {
        if j % 2 == 1 {
            *b = (-(*b as i8)) as u8;
        }
    }
    layer_normalization_within_one_level(p);
}

/// An imported LayerNormalization whose scale has a row's number of values laid along another
/// axis (`[10, 1]` for rows of 10: one value per row in ONNX's broadcast) is refused, not read
/// per position.
#[test]
fn an_imported_layer_normalization_scale_along_another_axis_is_refused() {
    let path = root().join("models/int8/layernorm/qdq_per_tensor_s8s8.onnx");
    let mut p = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let g = p.graph.as_mut().unwrap();
    initializer(g, "ln.weight_quantized").dims = vec![10, 1];
    let err = refusal(&p);
    assert!(err.contains("does not lie along"), "{err}");
}

/// A global average pool of a batch of two (a QDQ model with no Conv before it) is refused: it
/// averaged the first sample only.
#[test]
fn an_imported_global_average_pool_of_a_batch_of_two_is_refused() {
    use tract_onnx::pb::{
        tensor_shape_proto::{dimension::Value, Dimension},
        type_proto, GraphProto, ModelProto, TensorProto, TensorShapeProto, TypeProto,
        ValueInfoProto,
    };
    let value = |name: &str, dims: &[i64]| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let scale = |name: &str| TensorProto {
        name: name.into(),
        data_type: 1,
        float_data: vec![0.05],
        ..Default::default()
    };
    let zero = |name: &str| TensorProto {
        name: name.into(),
        data_type: 3,
        int32_data: vec![0],
        ..Default::default()
    };
    let graph = |batch: i64| GraphProto {
        node: vec![
            node("QuantizeLinear", &["x", "s", "z"], "xq", None),
            node("DequantizeLinear", &["xq", "s", "z"], "xd", None),
            node("GlobalAveragePool", &["xd"], "p", None),
            node("QuantizeLinear", &["p", "s", "z"], "pq", None),
            node("DequantizeLinear", &["pq", "s", "z"], "y", None),
        ],
        initializer: vec![scale("s"), zero("z")],
        input: vec![value("x", &[batch, 4, 3, 3])],
        output: vec![value("y", &[batch, 4, 1, 1])],
        ..Default::default()
    };
    let model = |batch| ModelProto {
        ir_version: 8,
        opset_import: vec![tract_onnx::pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(graph(batch)),
        ..Default::default()
    };
    import(model(1).graph.as_ref().unwrap(), 13).unwrap();
    let err = refusal(&model(2));
    assert!(err.contains("only a batch of 1"), "{err}");
}

/// The layernorm fixture `p` on crafted rows, each output within one level of the exact real
/// layer normalisation requantized to the output's grid.
fn layer_normalization_within_one_level(mut p: ModelProto) {
    let g = p.graph.as_mut().unwrap();
    // An initializer's DequantizeLinear (zero points 0), as ONNX Runtime computes it.
    let real = |g: &mut tract_onnx::pb::GraphProto, q: &str, s: &str| -> Vec<f64> {
        let st = initializer(g, s);
        let scale = match st.raw_data.is_empty() {
            true => st.float_data[0],
            false => f32::from_le_bytes(st.raw_data[..4].try_into().unwrap()),
        };
        let t = initializer(g, q);
        let ints: Vec<i32> = match (t.raw_data.is_empty(), t.data_type) {
            (true, _) => t.int32_data.clone(),
            (false, 3) => t.raw_data.iter().map(|&b| i32::from(b as i8)).collect(),
            (false, _) => (t.raw_data.chunks(4))
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        };
        ints.iter().map(|&v| f64::from(v as f32 * scale)).collect()
    };
    let gamma = real(g, "ln.weight_quantized", "ln.weight_scale");
    let beta = real(g, "ln.bias_quantized", "ln.bias_quantized_scale");
    let ln = (g.node.iter())
        .find(|n| n.op_type == "LayerNormalization")
        .unwrap();
    let epsilon = (ln.attribute.iter())
        .find(|a| a.name == "epsilon")
        .map_or(1e-5, |a| a.f);
    let graph = import(p.graph.as_ref().unwrap(), 17).unwrap().graph;
    let (ax, ay) = (
        graph.tensors[graph.inputs[0]].affine.unwrap(),
        graph.tensors[graph.outputs[0]].affine.unwrap(),
    );
    let rows: [[i64; 10]; 10] = [
        [5, 5, 5, 5, 5, 5, 5, 5, 5, 6],
        [-7, -7, -7, -6, -7, -7, -7, -7, -7, -7],
        [0, 0, 0, 0, 0, 2, 0, 0, 0, 0],
        [1, 0, 1, 0, 1, 0, 1, 0, 1, 0],
        [-128, 127, -128, 127, -128, 127, -128, 127, -128, 127],
        [-128, -100, -50, -20, 0, 10, 40, 80, 100, 127],
        [3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        [127, 127, 127, 127, 127, 127, 127, 127, 127, 126],
        [-128, -128, -128, -128, -128, -128, -128, -128, -127, -128],
        [42, 42, 42, 42, 42, 42, 42, 42, 42, 42],
    ];
    let q: Vec<i128> = rows.iter().flatten().map(|&v| i128::from(v)).collect();
    let vals = graph.eval(&[q]).unwrap();
    let got = &vals[graph.outputs[0]];
    for (r, row) in rows.iter().enumerate() {
        let x: Vec<f64> = row.iter().map(|&v| f64::from(ax.dequantize(v))).collect();
        let mean = x.iter().sum::<f64>() / 10.0;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 10.0;
        for j in 0..10 {
            let y = (x[j] - mean) / (var + f64::from(epsilon)).sqrt() * gamma[j] + beta[j];
            let want = i128::from(ay.quantize(y as f32));
            let have = got[r * 10 + j];
            assert!(
                (have - want).abs() <= 1,
                "row {r}, element {j}: {have} vs {want}"
            );
        }
    }
}

/// A LayerNormalization op between DequantizeLinear and QuantizeLinear that the import does
/// not prove is refused with one line: its Mean output named, a scale of 0 (the output would
/// not depend on the row), a scale of the wrong length, a scale computed from the input.
#[test]
fn crafted_layer_normalization_ops_are_refused_with_one_line() {
    let with = |edit: &dyn Fn(&mut tract_onnx::pb::GraphProto)| {
        let path = root().join("models/int8/layernorm/qdq_per_tensor_s8s8.onnx");
        let mut p = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
        edit(p.graph.as_mut().unwrap());
        let e = import(p.graph.as_ref().unwrap(), 17)
            .map(|_| "accepted".to_string())
            .unwrap_or_else(|e| e.to_string());
        assert!(!e.contains('\n'), "{e}");
        e
    };
    let ln = |g: &mut tract_onnx::pb::GraphProto| -> usize {
        (g.node.iter())
            .position(|n| n.op_type == "LayerNormalization")
            .unwrap()
    };
    assert_eq!(with(&|_| ()), "accepted");
    let mean = with(&|g| {
        let i = ln(g);
        g.node[i].output.push("mean".into());
    });
    assert!(mean.contains("Mean and InvStdDev"), "{mean}");
    let zero = with(&|g| initializer(g, "ln.weight_quantized").raw_data[3] = 0);
    assert!(zero.contains("scale is 0 (element 3)"), "{zero}");
    let short = with(&|g| {
        let w = initializer(g, "ln.weight_quantized");
        w.dims = vec![5];
        w.raw_data.truncate(5);
    });
    assert!(short.contains("5 values for rows of 10"), "{short}");
    let computed = with(&|g| {
        let i = ln(g);
        g.node[i].input[1] = "input_DequantizeLinear_Output".into();
    });
    assert!(computed.contains("must be a constant"), "{computed}");
}

/// The zero point of the QuantizeLinear writing `name` in `proto` (0 when there is none: an
/// input's own integers).
fn quantize_zero_point(proto: &ModelProto, name: &str) -> i64 {
    let g = proto.graph.as_ref().unwrap();
    let Some(q) = (g.node.iter()).find(|n| n.op_type == "QuantizeLinear" && n.output[0] == name)
    else {
        return 0;
    };
    let Some(z) = q
        .input
        .get(2)
        .and_then(|z| g.initializer.iter().find(|t| &t.name == z))
    else {
        return 0;
    };
    match (z.data_type, z.raw_data.first(), z.int32_data.first()) {
        (3, Some(&b), _) => i64::from(b as i8),
        (2, Some(&b), _) => i64::from(b),
        (_, None, Some(&v)) => i64::from(v),
        other => panic!("{name}: zero point {other:?}"),
    }
}

/// int8 nanoGPT's graph spends no rows on what is not ONNX Runtime's arithmetic: GELU's
/// eight int8 ops are one table of c_fc's integers per block (no products of two tensors, no
/// centring steps of their own), tables that give every integer back (Mul by 0.5 into half the
/// scale, LayerNorm's unit γ) are views, and each softmax's requantization is its last lookup.
#[test]
fn int8_nanogpt_spends_rows_only_on_onnx_runtimes_arithmetic() {
    use zkinfer_circuits::graph::{FnKind, QOp};
    let path = root().join("models/int8/nanoGPT/qdq_per_channel_s8s8.onnx");
    let proto = ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap();
    let g = import(proto.graph.as_ref().unwrap(), 13).unwrap().graph;
    let count = |f: &dyn Fn(&QOp) -> bool| g.ops.iter().filter(|op| f(op)).count();
    assert_eq!(
        count(&|op| matches!(op, QOp::MatMul(m) if m.ikj == [1, 1, 1])),
        0
    );
    // Centring steps only for attention's matrix products (two operands each).
    let attention = count(&|op| matches!(op, QOp::MatMul(m) if m.name.contains("/attn/")));
    let centring = count(&|op| op.family().name().ends_with("centring"));
    assert!(
        attention == 8 && centring <= 2 * attention,
        "{attention} {centring}"
    );
    let identity_table = |op: &QOp| match op {
        QOp::Elementwise(e) => {
            let f = &g.functions[e.func as usize];
            matches!(f, FnKind::Tabulated { .. })
                && f.is_identity()
                && e.a.as_ref().is_some_and(|a| !g.inputs.contains(&a.tensor))
        }
        _ => false,
    };
    assert_eq!(count(&identity_table), 0);
    // GELU written out (`x·x`, `·x`, `+ x`, `·(1 + tanh)`, requantized after each) is a
    // function of c_fc's integers alone: one table per block, nothing requantized in it.
    let gelu = |op: &QOp| {
        let name = op.family().name();
        ["Mul", "Add"]
            .iter()
            .any(|k| name.contains(&format!("/mlp/{k}")))
    };
    assert_eq!(count(&|op| gelu(op) && !matches!(op, QOp::View(_))), 4);
    assert_eq!(count(&|op| gelu(op) && matches!(op, QOp::Requant(_))), 0);
    // The only products of two computed tensors in a row are the softmaxes' `e·(1/Σe)`.
    let products = count(&|op| matches!(op, QOp::Elementwise(e) if !e.qm.is_zero()));
    assert_eq!(products, 4);
    let softmax_requant = count(&|op| matches!(op, QOp::Requant(r) if r.name.ends_with("Softmax")));
    assert_eq!(softmax_requant, 0);
}

/// The transformers quantized statically (QDQ, per-channel, s8s8: `qdq_transformers` in the
/// generator: nanoGPT, self_attention, multihead_attention), imported: on the shipped input and
/// two random inputs, every int8 tensor before the first float island (input, embeddings, their
/// sum) bit-identical to ONNX Runtime's (up to a zero point moved with the integers: centred at
/// their source), and the output integers no farther from
/// ORT_ENABLE_ALL than its two levels are from each other.
#[test]
fn qdq_transformers_are_as_close_to_onnx_runtime_as_its_two_levels() {
    let m = manifest();
    let entries = m["qdq_transformers"].as_object().unwrap();
    assert_eq!(entries.len(), 3);
    for (model, entry) in entries {
        let path = root()
            .join("models/int8")
            .join(entry["model"].as_str().unwrap());
        let apart = i128::from(entry["levels_max_lsb"].as_i64().unwrap());
        let proto = ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
        let g = import(proto.graph.as_ref().unwrap(), 13).unwrap().graph;
        let fx = json(root().join(format!("models/int8/{model}/qdq_per_channel_s8s8.json")));
        let mut outputs_compared = 0;
        let shipped = json(root().join(format!("../shared/models/{model}/input.json")));
        let shipped: Vec<Vec<f64>> = serde_json::from_value(shipped["input_data"].clone()).unwrap();
        for i in 0..=entry["cases"].as_u64().unwrap() as usize {
            let input = &g.tensors[g.inputs[0]];
            let x = match i {
                0 => shipped[0].clone(),
                _ => case_input(model, i, input.len()),
            };
            let q: Vec<i128> = match (input.affine, entry["vocab"].as_f64()) {
                (Some(a), _) => x
                    .iter()
                    .map(|&v| i128::from(a.quantize(v as f32)))
                    .collect(),
                (None, Some(_)) if i == 0 => x.iter().map(|&v| v as i128).collect(),
                (None, Some(vocab)) => (x.iter())
                    .map(|v| ((v + 1.0) / 2.0 * vocab).floor() as i128)
                    .collect(),
                (None, None) => panic!("{model}: an integer input without a vocabulary"),
            };
            let vals = g.eval(&[q]).unwrap();
            let mut compared = 0;
            for (name, want) in fx["before_first_island"][i].as_object().unwrap() {
                let want: Vec<i128> = serde_json::from_value(want.clone()).unwrap();
                // A QuantizeLinear of a DequantizeLinear with its parameters is the tensor
                // itself (the gathered embeddings); of a constant, folded (the position
                // embeddings); of a float input, the input's checked integers.
                let input = name.trim_end_matches("_QuantizeLinear_Output");
                let found = (g.tensors.iter()).position(|t| {
                    t.name == *name || t.name == input || t.name == format!("{input} (checked)")
                });
                if let Some(t) = found {
                    // Integers a graph moved to centre them at their source (attention's Q, K,
                    // V) are relabelled with the moved zero point: compare `q − z`.
                    let ort_zp = quantize_zero_point(&proto, name);
                    let zp = g.tensors[t].affine.map_or(ort_zp, |a| a.zero_point());
                    let centred = |v: &[i128], z: i64| -> Vec<i128> {
                        v.iter().map(|&q| q - i128::from(z)).collect()
                    };
                    assert_eq!(
                        centred(&vals[t], zp),
                        centred(&want, ort_zp),
                        "{model} case {i}: {name}"
                    );
                    compared += 1;
                }
            }
            assert!(compared >= 1, "{model} case {i}: no tensor compared");
            // ONNX Runtime divided f32 rounding noise by a zero square root (a layer
            // normalisation of a constant row: self_attention's all-ones input): no reference.
            if fx["zero_denominator"][i].as_bool().unwrap() {
                println!("{model} case {i}: ONNX Runtime divides by zero, output not compared");
                continue;
            }
            outputs_compared += 1;
            let got = &vals[g.outputs[0]];
            let level =
                |l: &str| -> Vec<i128> { serde_json::from_value(fx[l][i].clone()).unwrap() };
            let enable = level("enable_all");
            let worst = (got.iter().zip(&enable))
                .map(|(a, b)| (a - b).abs())
                .max()
                .unwrap();
            let equal = (got.iter().zip(&enable)).filter(|(a, b)| a == b).count();
            println!(
                "{model} case {i}: {compared} tensor(s) before the first island equal; {equal} of {} outputs equal to ORT_ENABLE_ALL, at most {worst} LSB apart (its levels: {apart})",
                got.len()
            );
            assert!(
                worst <= apart,
                "{model} case {i}: {worst} LSB, levels {apart}"
            );
        }
        assert!(
            outputs_compared >= 2,
            "{model}: {outputs_compared} cases compared"
        );
    }
}

/// nanoGPT quantized dynamically (`dynamic_transformers` in the generator), compiled with no
/// calibration input: on its shipped input and two random token inputs the quantized graph's
/// logits (what the circuit proves) are within 1% of their range of ONNX Runtime's, and agree
/// on the argmax at most positions. Slow (a transformer compiled and evaluated):
/// `cargo test --release -p zkinfer-onnx --test int8_fixtures -- --ignored dynamic_nanogpt`.
#[test]
#[ignore]
fn dynamic_nanogpt_follows_onnx_runtime() {
    let entry = &manifest()["dynamic_transformers"]["nanoGPT"];
    let path = root()
        .join("models/int8")
        .join(entry["model"].as_str().unwrap());
    let vocab = entry["vocab"].as_f64().unwrap();
    let c = zkinfer_onnx::compile_from(&path, None, &CompileOptions::default()).unwrap();
    let (g, io) = (&c.model.graph, c.model.io());
    let fx = json(root().join("models/int8/nanoGPT/dynamic_u8s8.json"));
    for i in 0..=entry["cases"].as_u64().unwrap() as usize {
        let ids: Vec<f64> = match i {
            0 => serde_json::from_value(
                json(root().join("../shared/models/nanoGPT/input.json"))["input_data"][0].clone(),
            )
            .unwrap(),
            _ => case_input("nanoGPT", i, 64)
                .iter()
                .map(|x| ((x + 1.0) / 2.0 * vocab).floor())
                .collect(),
        };
        let data = InputData {
            source: format!("case {i}"),
            values: vec![ids],
        };
        let vals = g.eval(&data.quantize(&io).unwrap()).unwrap();
        let o = g.outputs[0];
        let ours: Vec<f64> = vals[o].iter().map(|&v| g.dequantize(o, v)).collect();
        let ort: Vec<f64> = serde_json::from_value(fx["enable_all"][i].clone()).unwrap();
        let range = output_range_of(&ort);
        let err = (ours.iter().zip(&ort))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let argmax = |v: &[f64]| -> Vec<usize> {
            (v.chunks(65))
                .map(|r| (0..r.len()).fold(0, |b, j| if r[j] > r[b] { j } else { b }))
                .collect()
        };
        let same = (argmax(&ours).iter().zip(argmax(&ort)))
            .filter(|(a, b)| **a == *b)
            .count();
        println!(
            "case {i}: {:.3}% of the range, argmax equal at {same} of 64",
            100.0 * err / range
        );
        assert!(err <= 0.01 * range, "case {i}: {err} of {range}");
        assert!(same >= 60, "case {i}: argmax equal at {same} of 64");
    }
}
