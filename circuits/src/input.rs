//! `INPUT.json`: `{"input_data": [[flat floats], ...]}`, one list per graph input (other keys,
//! such as `input_shapes` or `output_data`, are ignored). Parsing is strict: bare `NaN` and
//! `Infinity` tokens (which Python's `json` writes) and non-finite numbers are rejected with
//! their position, as are wrong counts and lengths.

use crate::compiled::IoSpec;
use serde_json::Value;
use std::path::Path;
use thiserror::Error;

/// Problems with an input file.
#[derive(Debug, Error, PartialEq)]
pub enum InputError {
    /// Filesystem error.
    #[error("{path}: {detail}")]
    Io { path: String, detail: String },
    /// Not valid JSON.
    #[error("{path}: malformed JSON at line {line}, column {column}: {detail}")]
    Json {
        path: String,
        line: usize,
        column: usize,
        detail: String,
    },
    /// A NaN or infinite value.
    #[error("{path}: line {line}, column {column}: '{token}' is not a finite number; inputs must be finite")]
    NonFinite {
        path: String,
        token: String,
        line: usize,
        column: usize,
    },
    /// No `input_data` key.
    #[error("{path}: missing key 'input_data' (expected {{\"input_data\": [[...], ...]}})")]
    MissingInputData { path: String },
    /// `input_data` is not a list of lists of numbers.
    #[error("{path}: 'input_data' {detail}")]
    Structure { path: String, detail: String },
    /// Wrong number of input tensors.
    #[error("{path}: the model takes {expected} input tensor(s), 'input_data' has {got}")]
    Count {
        path: String,
        expected: usize,
        got: usize,
    },
    /// Wrong number of values for one input.
    #[error(
        "{path}: input #{index} ('{name}') needs {expected} values for shape {shape:?}, got {got}"
    )]
    Length {
        path: String,
        index: usize,
        name: String,
        expected: usize,
        got: usize,
        shape: Vec<usize>,
    },
    /// A fractional value for an integer input.
    #[error("{path}: input #{index} ('{name}') value #{position} = {} is not an integer; this input takes integers", number_text(*.value))]
    NotInteger {
        path: String,
        index: usize,
        name: String,
        position: usize,
        value: f64,
    },
    /// An integer outside the ones an integer input takes.
    #[error("{path}: input #{index} ('{name}') value #{position} = {} is outside the integers this input takes, [{lo}, {hi}]", number_text(*.value))]
    IntegerRange {
        path: String,
        index: usize,
        name: String,
        position: usize,
        value: f64,
        lo: i64,
        hi: i64,
    },
    /// A value outside what the compiled model can represent.
    #[error("{path}: input #{index} ('{name}') value #{position} = {} is outside the calibrated range [{lo}, {hi}]; recompile with a calibration input that covers it, or a larger --range-margin", number_text(*.value))]
    OutOfRange {
        path: String,
        index: usize,
        name: String,
        position: usize,
        value: f64,
        lo: f64,
        hi: f64,
    },
}

/// A number for a message: as Rust prints it where that is short, in scientific notation where
/// it would take more than a few digits (`1e300`, not 301 of them).
pub fn number_text(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && a.is_finite() && !(1e-4..1e9).contains(&a) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// Parsed input values, one flat list per graph input.
#[derive(Clone, Debug, PartialEq)]
pub struct InputData {
    /// Where the values came from (for messages).
    pub source: String,
    /// Values per input.
    pub values: Vec<Vec<f64>>,
}

/// Finds a bare NaN/Infinity token outside strings; returns (token, line, column).
fn find_non_finite(text: &str) -> Option<(String, usize, usize)> {
    let bytes = text.as_bytes();
    let (mut in_str, mut esc) = (false, false);
    let (mut line, mut col) = (1usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        col += 1;
        if c == b'\n' {
            line += 1;
            col = 0;
        }
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else {
            for tok in ["NaN", "Infinity", "-Infinity", "-NaN"] {
                if bytes[i..].starts_with(tok.as_bytes()) {
                    return Some((tok.to_string(), line, col));
                }
            }
        }
        i += 1;
    }
    None
}

impl InputData {
    /// The same tensors, every value zero (a test input: zero remainders, equal maxima).
    pub fn zeros_like(&self) -> InputData {
        InputData {
            source: format!("zeros shaped like {}", self.source),
            values: self.values.iter().map(|v| vec![0.0; v.len()]).collect(),
        }
    }

    /// Reads and parses a file.
    pub fn from_path(path: &Path) -> Result<Self, InputError> {
        let p = path.display().to_string();
        let bytes =
            crate::compiled::read_capped(path, crate::compiled::MAX_JSON_BYTES).map_err(|e| {
                InputError::Io {
                    path: p.clone(),
                    detail: e.to_string(),
                }
            })?;
        let text = String::from_utf8(bytes).map_err(|_| InputError::Json {
            path: p.clone(),
            line: 1,
            column: 1,
            detail: "file is not UTF-8 text".into(),
        })?;
        Self::from_json(&text, &p)
    }

    /// Parses JSON text (`source` names it in messages).
    pub fn from_json(text: &str, source: &str) -> Result<Self, InputError> {
        if let Some((token, line, column)) = find_non_finite(text) {
            return Err(InputError::NonFinite {
                path: source.into(),
                token,
                line,
                column,
            });
        }
        let v: Value = serde_json::from_str(text).map_err(|e| InputError::Json {
            path: source.into(),
            line: e.line(),
            column: e.column(),
            detail: e.to_string(),
        })?;
        let structure = |detail: &str| InputError::Structure {
            path: source.into(),
            detail: detail.into(),
        };
        let data = match &v {
            Value::Object(map) => map.get("input_data").ok_or(InputError::MissingInputData {
                path: source.into(),
            })?,
            _ => {
                return Err(InputError::MissingInputData {
                    path: source.into(),
                })
            }
        };
        let Value::Array(lists) = data else {
            return Err(structure("must be a list of lists of numbers"));
        };
        let mut values = Vec::with_capacity(lists.len());
        for (i, list) in lists.iter().enumerate() {
            let Value::Array(items) = list else {
                return Err(structure(&format!(
                    "entry #{i} must be a flat list of numbers"
                )));
            };
            let mut out = Vec::with_capacity(items.len());
            for (j, x) in items.iter().enumerate() {
                let f = x.as_f64().ok_or_else(|| {
                    structure(&format!("entry #{i} value #{j} is not a number ({x})"))
                })?;
                if !f.is_finite() {
                    return Err(InputError::NonFinite {
                        path: source.into(),
                        token: x.to_string(),
                        line: 0,
                        column: 0,
                    });
                }
                out.push(f);
            }
            values.push(out);
        }
        Ok(InputData {
            source: source.into(),
            values,
        })
    }

    /// Checks counts and lengths against a model's inputs.
    pub fn check_shapes(&self, io: &IoSpec) -> Result<(), InputError> {
        if self.values.len() != io.inputs.len() {
            return Err(InputError::Count {
                path: self.source.clone(),
                expected: io.inputs.len(),
                got: self.values.len(),
            });
        }
        for (i, (vals, t)) in self.values.iter().zip(&io.inputs).enumerate() {
            let n: usize = t.shape.iter().product();
            if vals.len() != n {
                return Err(InputError::Length {
                    path: self.source.clone(),
                    index: i,
                    name: t.name.clone(),
                    expected: n,
                    got: vals.len(),
                    shape: t.shape.clone(),
                });
            }
        }
        Ok(())
    }

    /// Quantizes to the model's input scales, rejecting values outside the representable range
    /// (an imported int8 model's inputs saturate, as ONNX Runtime's QuantizeLinear does).
    pub fn quantize(&self, io: &IoSpec) -> Result<Vec<Vec<i128>>, InputError> {
        self.check_shapes(io)?;
        let half = 1i128 << (io.bits - 1);
        let mut out = Vec::with_capacity(self.values.len());
        for (i, (vals, t)) in self.values.iter().zip(&io.inputs).enumerate() {
            let s = (t.scale as f64).exp2();
            let mut q = Vec::with_capacity(vals.len());
            for (j, &x) in vals.iter().enumerate() {
                if t.integer && x.fract() != 0.0 {
                    return Err(InputError::NotInteger {
                        path: self.source.clone(),
                        index: i,
                        name: t.name.clone(),
                        position: j,
                        value: x,
                    });
                }
                if let Some((lo, hi)) = t.range.filter(|_| t.integer) {
                    if !(x >= lo as f64 && x <= hi as f64) {
                        return Err(InputError::IntegerRange {
                            path: self.source.clone(),
                            index: i,
                            name: t.name.clone(),
                            position: j,
                            value: x,
                            lo,
                            hi,
                        });
                    }
                }
                if let Some(a) = &t.affine {
                    // ONNX Runtime's QuantizeLinear of the f32 input: saturates, never fails.
                    q.push(i128::from(a.quantize(x as f32)));
                    continue;
                }
                let v = (x * s).round();
                if !(v >= -(half as f64) && v < half as f64) {
                    return Err(InputError::OutOfRange {
                        path: self.source.clone(),
                        index: i,
                        name: t.name.clone(),
                        position: j,
                        value: x,
                        lo: -(half as f64) / s,
                        hi: (half - 1) as f64 / s,
                    });
                }
                q.push(v as i128);
            }
            out.push(q);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_messages_stay_short() {
        assert_eq!(number_text(1e300), "1e300");
        assert_eq!(number_text(-2.5e-7), "-2.5e-7");
        assert_eq!(number_text(1.5417295), "1.5417295");
        assert_eq!(number_text(-3.0), "-3");
        assert_eq!(number_text(0.0), "0");
        assert_eq!(number_text(f64::NAN), "NaN");
    }
    use crate::compiled::IoTensor;

    #[test]
    fn parses_and_rejects() {
        let ok = InputData::from_json(
            r#"{"input_data": [[1, 2.5, -3]], "output_data": [[0]]}"#,
            "x",
        )
        .unwrap();
        assert_eq!(ok.values, vec![vec![1.0, 2.5, -3.0]]);
        assert!(matches!(
            InputData::from_json("{\"input_data\": [[1, NaN]]}", "x"),
            Err(InputError::NonFinite { .. })
        ));
        assert!(matches!(
            InputData::from_json("{\"input_data\": [[-Infinity]]}", "x"),
            Err(InputError::NonFinite { .. })
        ));
        // Inside a string it is just text.
        assert!(InputData::from_json(r#"{"note": "NaN", "input_data": [[1]]}"#, "x").is_ok());
        assert!(matches!(
            InputData::from_json(r#"{"input_data": [[1e999]]}"#, "x"),
            Err(InputError::Json { .. })
        ));
        assert!(matches!(
            InputData::from_json(r#"{"inputs": [[1]]}"#, "x"),
            Err(InputError::MissingInputData { .. })
        ));
        assert!(matches!(
            InputData::from_json(r#"{"input_data": [1, 2]}"#, "x"),
            Err(InputError::Structure { .. })
        ));
        assert!(matches!(
            InputData::from_json(r#"{"input_data": [[1, "a"]]}"#, "x"),
            Err(InputError::Structure { .. })
        ));
        assert!(matches!(
            InputData::from_json(r#"{"input_data": [[1, 2]"#, "x"),
            Err(InputError::Json { .. })
        ));
    }

    #[test]
    fn an_integer_input_takes_integers_in_its_range() {
        let io = IoSpec {
            bits: 9,
            public_io: Default::default(),
            inputs: vec![IoTensor {
                name: "q".into(),
                shape: vec![1, 2],
                scale: 0,
                integer: true,
                range: Some((-128, 127)),
                affine: None,
            }],
            outputs: Vec::new(),
        };
        let data =
            |v: &str| InputData::from_json(&format!("{{\"input_data\": [{v}]}}"), "x").unwrap();
        assert_eq!(
            data("[-128, 127]").quantize(&io).unwrap(),
            vec![vec![-128, 127]]
        );
        assert!(matches!(
            data("[3, -129]").quantize(&io),
            Err(InputError::IntegerRange {
                position: 1,
                lo: -128,
                hi: 127,
                ..
            })
        ));
        assert!(matches!(
            data("[128, 0]").quantize(&io),
            Err(InputError::IntegerRange { position: 0, .. })
        ));
        assert!(matches!(
            data("[0.5, 0]").quantize(&io),
            Err(InputError::NotInteger { position: 0, .. })
        ));
    }
}
