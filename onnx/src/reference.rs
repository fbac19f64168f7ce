//! Float reference runs with tract (an independent ONNX runtime), used to check accuracy.

use super::tensor::Tensor;
use std::path::Path;
use tract_onnx::prelude::{
    tvec, Framework, InferenceFact, InferenceModelExt, IntoRunnable, TValue,
};

/// Runs the ONNX file with tract on the given inputs; returns each graph output flattened.
/// Any tract failure (including a panic inside tract) becomes an error message.
pub fn tract_outputs(onnx: &Path, inputs: &[Tensor]) -> Result<Vec<Vec<f64>>, String> {
    let path = onnx.to_path_buf();
    let inputs = inputs.to_vec();
    std::panic::catch_unwind(move || run(&path, &inputs))
        .map_err(|_| "tract panicked".to_string())?
}

fn run(path: &Path, inputs: &[Tensor]) -> Result<Vec<Vec<f64>>, String> {
    let e = |x: tract_onnx::prelude::TractError| x.to_string();
    let mut model = tract_onnx::onnx().model_for_path(path).map_err(e)?;
    for (i, t) in inputs.iter().enumerate() {
        let fact = InferenceFact::dt_shape(f32::datum_type(), t.shape.clone());
        model = model.with_input_fact(i, fact).map_err(e)?;
    }
    let plan = model
        .into_optimized()
        .map_err(e)?
        .into_runnable()
        .map_err(e)?;
    let mut values = tvec!();
    for t in inputs {
        let data: Vec<f32> = t.data.iter().map(|&v| v as f32).collect();
        let arr = tract_onnx::prelude::tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), data)
            .map_err(|x| x.to_string())?;
        values.push(TValue::from(tract_onnx::prelude::Tensor::from(arr)));
    }
    let outs = plan.run(values).map_err(e)?;
    outs.iter()
        .map(|o| {
            o.to_plain_array_view::<f32>()
                .map(|v| v.iter().map(|&x| x as f64).collect())
                .map_err(e)
        })
        .collect()
}

use tract_onnx::prelude::Datum;
