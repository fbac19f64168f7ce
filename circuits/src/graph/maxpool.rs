//! Max-pool family: each output is the maximum of a window of input elements (padding is
//! excluded from windows, as ONNX pads max pools with negative infinity). Windows are those of
//! a 2-D pool, or consecutive runs of varying length (the rows of a masked softmax's kept
//! elements).

use super::{
    EvalError, GraphError, IntOp, OpDefect, QuantizedGraph, TensorId, TensorKind, Window2d,
};
use serde::{Deserialize, Serialize};

/// 2-D max pool over an `(c, h, w)` activation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MaxOp {
    /// Source node.
    pub name: String,
    /// Input tensor.
    pub input: TensorId,
    /// Output tensor.
    pub output: TensorId,
    /// Channels, height, width of the input.
    pub chw: [usize; 3],
    /// Kernel size.
    pub kernel: [usize; 2],
    /// Strides.
    pub stride: [usize; 2],
    /// Top, left padding.
    pub pad: [usize; 2],
    /// Dilations.
    pub dilation: [usize; 2],
    /// Output height, width.
    pub out: [usize; 2],
    /// When set, the windows are consecutive runs instead: output `o` is the maximum of input
    /// elements `ends[o-1]..ends[o]` (from 0 for the first), and the pool geometry above is
    /// that of a `1 × len` input with one `1 × 1` output per run.
    pub runs: Option<Vec<u32>>,
}

impl MaxOp {
    /// The maximum of each row of the `rows × n` tensor `input`, into `output` (`rows`).
    pub fn row_maxima(
        name: &str,
        (input, output): (TensorId, TensorId),
        (rows, n): (usize, usize),
    ) -> Self {
        MaxOp {
            name: name.to_string(),
            input,
            output,
            chw: [1, rows, n],
            kernel: [1, n],
            stride: [1, n],
            pad: [0, 0],
            dilation: [1, 1],
            out: [rows, 1],
            runs: None,
        }
    }

    /// The maximum of each run of consecutive elements of `input`, into `output`: run `o`
    /// ends (exclusively) at `ends[o]`, and `ends` is strictly increasing up to the input's
    /// length.
    pub fn run_maxima(name: &str, (input, output): (TensorId, TensorId), ends: Vec<u32>) -> Self {
        let len = ends.last().map_or(0, |&e| e as usize);
        MaxOp {
            name: name.to_string(),
            input,
            output,
            chw: [1, 1, len],
            kernel: [1, 1],
            stride: [1, 1],
            pad: [0, 0],
            dilation: [1, 1],
            out: [ends.len(), 1],
            runs: Some(ends),
        }
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.chw[0] * self.out[0] * self.out[1]
    }

    /// Input elements of the window of output `o`.
    pub fn window(&self, o: usize) -> Vec<u32> {
        if let Some(ends) = &self.runs {
            let start = o.checked_sub(1).map_or(0, |p| ends[p]);
            return (start..ends[o]).collect();
        }
        let [_, h, w] = self.chw;
        let plane = self.out[0] * self.out[1];
        let (ch, q) = (o / plane, o % plane);
        let (oh, ow) = (q / self.out[1], q % self.out[1]);
        let win = Window2d {
            hw: [h, w],
            kernel: self.kernel,
            stride: self.stride,
            pad: self.pad,
            dilation: self.dilation,
        };
        win.taps(oh, ow)
            .flatten()
            .map(|i| (ch * h * w + i) as u32)
            .collect()
    }

    pub(crate) fn validate(&self, g: &QuantizedGraph) -> Result<(), GraphError> {
        let bad = |d| Err(GraphError::op(&self.name, d));
        let [c, h, w] = self.chw;
        if g.tensors[self.input].len() != c * h * w
            || g.tensors[self.output].len() != self.outputs()
        {
            return bad(OpDefect::Geometric("shapes do not match the pool geometry"));
        }
        if let Some(ends) = &self.runs {
            let rising = ends.windows(2).all(|p| p[0] < p[1]);
            if !rising || ends.len() != self.out[0] || ends.first() == Some(&0) {
                return bad(OpDefect::Geometric(
                    "runs must be non-empty and consecutive",
                ));
            }
            if (c, h, self.out[1]) != (1, 1, 1) || ends.last().map(|&e| e as usize) != Some(w) {
                return bad(OpDefect::Geometric("runs must cover the input"));
            }
        }
        if g.tensors[self.input].kind != TensorKind::Activation
            || g.tensors[self.output].kind != TensorKind::Activation
        {
            return bad(OpDefect::Kind("max pool reads and writes activations"));
        }
        for o in 0..self.outputs() {
            if self.window(o).is_empty() {
                return bad(OpDefect::EmptyWindow(o));
            }
        }
        Ok(())
    }
}

impl IntOp for MaxOp {
    fn name(&self) -> &str {
        &self.name
    }

    fn inputs(&self) -> Vec<TensorId> {
        vec![self.input]
    }

    fn output(&self) -> TensorId {
        self.output
    }

    fn describe(&self, g: &QuantizedGraph) -> String {
        if let Some(ends) = &self.runs {
            return format!(
                "max over {} runs of consecutive elements [{}] -> [{}]",
                ends.len(),
                g.tensors[self.input].name,
                g.tensors[self.output].name
            );
        }
        format!(
            "max over {}x{} windows [{}] -> [{}]",
            self.kernel[0], self.kernel[1], g.tensors[self.input].name, g.tensors[self.output].name
        )
    }

    fn eval(&self, _g: &QuantizedGraph, vals: &mut [Vec<i128>]) -> Result<(), EvalError> {
        let x = &vals[self.input];
        let out = (0..self.outputs())
            .map(|o| {
                self.window(o)
                    .iter()
                    .map(|&i| x[i as usize])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        vals[self.output] = out;
        Ok(())
    }
}
