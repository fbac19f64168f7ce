//! `zkinfer inspect PATH --stage onnx|quantized|plan`

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::compiled::CompiledModel;
use zkinfer_circuits::graph::{QOp, QuantizedGraph};
use zkinfer_circuits::plan::Layout;
use zkinfer_onnx::{CompileOptions, OnnxModel};

/// Compiler stage to show.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Stage {
    /// The ONNX graph after validation, shape inference and folding.
    Onnx,
    /// The fixed-point integer graph.
    Quantized,
    /// The circuit shape and row layout.
    Plan,
}

/// Show a compiler stage.
#[derive(Args)]
pub struct Inspect {
    /// An ONNX file, or a folder written by `zkinfer compile`.
    pub path: PathBuf,
    /// Stage to show.
    #[arg(long, value_enum, default_value_t = Stage::Plan)]
    pub stage: Stage,
    /// Calibration input for the quantized and plan stages of a float ONNX file (without it,
    /// eight seeded random inputs, as `compile`; a statically quantized one needs none).
    #[arg(long)]
    pub calibration: Option<PathBuf>,
}

fn quantized(m: &CompiledModel) -> String {
    let g = &m.graph;
    let mut s = format!(
        "quantized graph: {} bits, {} tensors, {} ops, functions {:?}\n",
        g.bits,
        g.tensors.len(),
        g.ops.len(),
        g.functions.iter().map(|f| f.key()).collect::<Vec<_>>()
    );
    for (i, t) in g.tensors.iter().enumerate() {
        let scale = match &t.affine {
            Some(a) => format!("scale {:e} zero point {}", a.scale(), a.zero_point()),
            None => format!("scale {}", zkinfer_circuits::graph::scale_text(t.scale)),
        };
        s += &format!(
            "  t{i:<4} {:<40} {:?} {scale} {:?}\n",
            t.name, t.shape, t.kind
        );
    }
    for op in &g.ops {
        s += &format!(
            "  {:<12} {:<28} {}\n",
            op.family_name(),
            op.family().name(),
            op.family().describe(g)
        );
    }
    s
}

fn plan(m: &CompiledModel) -> Result<String> {
    let p = m.plan()?;
    let l = &p.layout;
    let mut s = format!("circuit plan: {}\n", p.shape.summary());
    s += &format!(
        "  columns: {} advice, {} fixed, {} lookups, {} equality; table rows {}\n",
        p.shape.advice_columns(),
        p.shape.fixed_columns(),
        p.shape.lookups(),
        p.shape.equality_columns(),
        m.graph.lookup_table_rows(&p.shape)
    );
    s += &format!(
        "  rows used {} of {} usable; public values {} inputs + {} outputs\n",
        l.rows_used(),
        l.usable,
        l.n_inputs,
        l.n_outputs
    );
    s += &format!(
        "  matvec lanes rows {:?} ({} regions)\n",
        l.lane_rows.mv,
        l.mv.len()
    );
    s += &format!(
        "  elementwise lanes rows {:?} ({} segments)\n",
        l.lane_rows.el,
        l.el.len()
    );
    s += &format!(
        "  max-pool lanes rows {:?}; dot lanes rows {:?}; requant lanes rows {:?}\n",
        l.lane_rows.mx, l.lane_rows.dot, l.lane_rows.rq
    );
    if !l.words.is_empty() {
        s += &format!("  packed words: {}\n", l.words.len());
    }
    for (name, sp) in ["input", "output"].iter().zip(&l.sponges) {
        s += &format!(
            "  Poseidon sponge over the {name} words: {} words, rows {}.. (domain tag {})\n",
            sp.words.len(),
            sp.start,
            sp.domain
        );
    }
    s += &rows_by_kind(m, l, (p.shape.elem_stride(), p.shape.requant_stride()));
    s += &format!(
        "  estimated proving time on 2 cores: {:.2} s\n  digest {}\n",
        m.estimate_s, m.digest
    );
    Ok(s)
}

/// What kind of work an op is, for the plan's row breakdown.
fn op_kind(g: &QuantizedGraph, op: &QOp) -> &'static str {
    match op {
        QOp::Linear(_) => "linear (constant weights)",
        QOp::MatMul(_) => "product of computed tensors",
        QOp::MaxPool(_) => "max",
        QOp::Requant(_) => "requantization",
        QOp::View(_) => "view",
        QOp::Elementwise(e) if !e.qm.is_zero() => "elementwise product",
        QOp::Elementwise(e) => match g.functions.get(e.func as usize) {
            Some(f) if f.is_identity() => "elementwise affine",
            _ => "elementwise table",
        },
    }
}

/// Rows by kind of op (largest first), and the largest ops.
fn rows_by_kind(m: &CompiledModel, l: &Layout, strides: (u32, u32)) -> String {
    let g = &m.graph;
    let rows = l.rows_per_op(g.ops.len(), strides);
    let total: u64 = rows.iter().sum::<u64>().max(1);
    let mut kinds: Vec<(&str, u64, usize)> = Vec::new();
    for (op, &r) in g.ops.iter().zip(&rows).filter(|(_, &r)| r > 0) {
        let kind = op_kind(g, op);
        match kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some(entry) => {
                entry.1 += r;
                entry.2 += 1;
            }
            None => kinds.push((kind, r, 1)),
        }
    }
    kinds.sort_by_key(|&(_, r, _)| std::cmp::Reverse(r));
    let mut s = format!(
        "  rows by kind of op (all lanes, {total} rows):
"
    );
    for (kind, r, n) in kinds {
        let pct = 100.0 * r as f64 / total as f64;
        s += &format!("    {kind:<28} {r:>10} rows {pct:>5.1}%  ({n} ops)\n");
    }
    let mut top: Vec<usize> = (0..g.ops.len()).filter(|&i| rows[i] > 0).collect();
    top.sort_by_key(|&i| std::cmp::Reverse(rows[i]));
    s += "  largest ops:\n";
    for &i in top.iter().take(5) {
        let op = &g.ops[i];
        s += &format!(
            "    {:>10} rows  {} ({})\n",
            rows[i],
            op.family().name(),
            op_kind(g, op)
        );
    }
    s
}

impl Inspect {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        if let Some(cal) = &self.calibration {
            if self.path.is_dir() {
                bail!(
                    "--calibration {} is for an ONNX file: the compiled folder {} was quantized when it was compiled",
                    cal.display(),
                    self.path.display()
                );
            }
            if let Stage::Onnx = self.stage {
                bail!("--calibration is for the quantized and plan stages; the onnx stage is the float graph");
            }
        }
        let compiled = if self.path.is_dir() {
            if let Stage::Onnx = self.stage {
                bail!("the onnx stage needs the .onnx file, not a compiled folder");
            }
            Some(CompiledModel::load(&self.path)?)
        } else {
            match self.stage {
                Stage::Onnx => None,
                _ => {
                    let cal = self.calibration.as_deref();
                    let opts = CompileOptions::default();
                    let c = zkinfer_onnx::compile_from(&self.path, cal, &opts)?;
                    if let (Some(path), None) = (cal, &c.accuracy) {
                        super::compile::note_unused_calibration(path);
                    }
                    Some(c.model)
                }
            }
        };
        let text = match (self.stage, compiled) {
            (Stage::Onnx, _) => {
                let bytes = zkinfer_circuits::compiled::read_capped(
                    &self.path,
                    zkinfer_circuits::compiled::MAX_ONNX_BYTES,
                )
                .map_err(|e| anyhow::anyhow!("{}: {e}", self.path.display()))?;
                OnnxModel::from_bytes(&bytes, &self.path.display().to_string())?.describe()
            }
            (Stage::Quantized, Some(m)) => quantized(&m),
            (Stage::Plan, Some(m)) => plan(&m)?,
            (_, None) => bail!("nothing to show"),
        };
        print!("{text}");
        Ok(ExitCode::SUCCESS)
    }
}
