//! Data movement on int8/uint8 tensors: Flatten, Reshape, Identity, Transpose, Squeeze,
//! Unsqueeze, Concat, Slice, Expand, Gather with constant indices and Split (one view per
//! output). Each moves elements
//! without arithmetic, so its output is, element by element, one of its inputs' elements (the
//! same cells in the circuit, under the same scale and zero point).
//!
//! Which element goes where is not reimplemented here: the float front end's own op (the one a
//! float model uses, `crate::ops`) is run on tensors whose values are element numbers, and its
//! output lists, per output element, the input element it is.

use super::ImportError;
use crate::ops;
use crate::proto::Attrs;
use crate::tensor::{DType, Tensor};
use tract_onnx::pb;

/// The ops imported as views.
pub const VIEW_OPS: &[&str] = &[
    "Flatten",
    "Reshape",
    "Identity",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Slice",
    "Expand",
    "Gather",
    "Split",
];

/// Concat's inputs are all moved data; every other view moves input 0 and reads the rest
/// (shapes, axes, indices) as constants.
pub fn data_inputs(op_type: &str, inputs: usize) -> usize {
    match op_type {
        "Concat" => inputs,
        _ => 1,
    }
}

/// Element numbers are encoded as `input · 2^32 + element`, exact in an f64.
const PART: f64 = 4_294_967_296.0;

/// A view's output shape and, per output element, `(data input, element)`.
pub type ViewMap = (Vec<usize>, Vec<(u16, u32)>);

/// Runs `np`'s float semantics on element numbers: `data` are the shapes of the moved inputs,
/// `consts` the other inputs (by position; `None` where omitted). The first output's map.
pub fn view_map(
    np: &pb::NodeProto,
    name: &str,
    opset: i64,
    data: &[Vec<usize>],
    consts: &[Option<&Tensor>],
) -> Result<ViewMap, ImportError> {
    view_maps(np, name, opset, data, consts)?
        .into_iter()
        .next()
        .ok_or_else(|| ImportError::at(name, "the view has no output"))
}

/// [`view_map`] of every output (Split has several).
pub fn view_maps(
    np: &pb::NodeProto,
    name: &str,
    opset: i64,
    data: &[Vec<usize>],
    consts: &[Option<&Tensor>],
) -> Result<Vec<ViewMap>, ImportError> {
    let fe = |e: crate::FrontendError| ImportError::at(name, e.to_string());
    let spec = ops::lookup(&np.op_type)
        .filter(|s| VIEW_OPS.contains(&s.name))
        .ok_or_else(|| ImportError::at(name, format!("'{}' is not a view", np.op_type)))?;
    let op = (spec.build)(&Attrs::new(np, name), opset).map_err(fe)?;
    let too_big = data.len() > usize::from(u16::MAX) + 1
        || data
            .iter()
            .any(|s| s.iter().product::<usize>() as f64 >= PART);
    if too_big {
        return Err(ImportError::at(
            name,
            "a view of more than 2^16 inputs or 2^32 elements",
        ));
    }
    let numbered: Vec<Tensor> = data
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let n: usize = shape.iter().product();
            Tensor {
                shape: shape.clone(),
                data: (0..n).map(|e| i as f64 * PART + e as f64).collect(),
                dtype: DType::Float,
            }
        })
        .collect();
    let inputs: Vec<Option<&Tensor>> = numbered
        .iter()
        .map(Some)
        .chain(consts.iter().copied())
        .collect();
    let out = op.eval(name, &inputs).map_err(fe)?;
    out.iter()
        .map(|y| {
            let map = y
                .data
                .iter()
                .map(|&v| decode(v, data))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ImportError::at(name, "the op does not only move elements"))?;
            Ok((y.shape.clone(), map))
        })
        .collect()
}

/// The `(input, element)` that `v` numbers, if it numbers one.
fn decode(v: f64, data: &[Vec<usize>]) -> Option<(u16, u32)> {
    if !(v >= 0.0 && v.fract() == 0.0) {
        return None;
    }
    let (i, e) = ((v / PART).floor(), v % PART);
    let n: usize = data.get(i as usize)?.iter().product();
    ((e as usize) < n).then_some((i as u16, e as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.to_string(),
            attribute: attrs,
            ..Default::default()
        }
    }

    #[test]
    fn a_transpose_lists_the_elements_it_moves() {
        let perm = pb::AttributeProto {
            name: "perm".into(),
            r#type: pb::attribute_proto::AttributeType::Ints as i32,
            ints: vec![1, 0],
            ..Default::default()
        };
        let (shape, map) =
            view_map(&node("Transpose", vec![perm]), "t", 13, &[vec![2, 3]], &[]).unwrap();
        assert_eq!(shape, vec![3, 2]);
        let elems: Vec<u32> = map.iter().map(|&(_, e)| e).collect();
        assert_eq!(elems, vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn a_concat_names_the_input_of_each_element() {
        let axis = pb::AttributeProto {
            name: "axis".into(),
            r#type: pb::attribute_proto::AttributeType::Int as i32,
            i: 1,
            ..Default::default()
        };
        let (shape, map) = view_map(
            &node("Concat", vec![axis]),
            "c",
            13,
            &[vec![1, 2], vec![1, 1]],
            &[],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 3]);
        assert_eq!(map, vec![(0, 0), (0, 1), (1, 0)]);
    }

    #[test]
    fn arithmetic_is_not_a_view() {
        assert!(view_map(&node("Relu", vec![]), "r", 13, &[vec![2]], &[]).is_err());
        assert_eq!(decode(-1.0, &[vec![4]]), None);
        assert_eq!(decode(0.5, &[vec![4]]), None);
        assert_eq!(decode(4.0, &[vec![4]]), None);
        assert_eq!(decode(PART + 1.0, &[vec![4], vec![2]]), Some((1, 1)));
    }
}
