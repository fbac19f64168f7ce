//! `zkinfer compile MODEL.onnx --calibration INPUT.json --out DIR`

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::frontend::{self, CompileOptions, Compiled};

/// Compile an ONNX model.
#[derive(Args)]
pub struct Compile {
    /// ONNX model file (float, batch dimension may be symbolic).
    pub model: PathBuf,
    /// Calibration input in INPUT.json layout: {"input_data": [[...], ...]}.
    #[arg(long)]
    pub calibration: PathBuf,
    /// Output folder for the compiled model (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Activation bit width (4-24). Default: the smallest meeting --tolerance.
    #[arg(long, value_parser = clap::value_parser!(u32).range(4..=24))]
    pub bits: Option<u32>,
    /// Largest output error allowed when choosing --bits, as a fraction of the output range.
    #[arg(long, default_value_t = 0.005)]
    pub tolerance: f64,
    /// Headroom on calibrated ranges: inputs may reach this multiple of the calibration's.
    #[arg(long, default_value_t = 2.0)]
    pub range_margin: f64,
    /// Force the circuit size 2^k (default: chosen to minimise proving time).
    #[arg(long, value_parser = clap::value_parser!(u32).range(4..=26))]
    pub k: Option<u32>,
}

/// Prints the compile summary.
pub fn summary(c: &Compiled, dir: &std::path::Path) {
    let m = &c.model;
    let g = &m.graph;
    let plan = m.plan().ok();
    let half = 1i64 << (g.bits - 1);
    println!("compiled -> {}", dir.display());
    println!(
        "  ops:      {} (from {} ONNX nodes, {} folded at compile time)",
        m.op_summary(),
        c.onnx_nodes,
        c.folded_nodes
    );
    if let Some(p) = &plan {
        println!(
            "  rows:     {} of {} usable (k = {})",
            p.layout.rows_used(),
            p.layout.usable,
            m.shape.k
        );
    }
    println!(
        "  columns:  {} advice, {} fixed, {} lookups ({})",
        m.shape.advice_columns(),
        m.shape.fixed_columns(),
        m.shape.lookups(),
        m.shape.summary()
    );
    println!(
        "  bits:     {} (activations in [{}, {}])",
        g.bits,
        -half,
        half - 1
    );
    for t in m.io().inputs {
        println!(
            "  input:    '{}' {:?} at scale 2^-{}",
            t.name, t.shape, t.scale
        );
    }
    for t in m.io().outputs {
        println!(
            "  output:   '{}' {:?} at scale 2^-{}",
            t.name, t.shape, t.scale
        );
    }
    let a = &c.accuracy;
    println!(
        "  accuracy: max error {:.3e} ({:.3}% of the output range) on the calibration input{}",
        a.max_abs_error,
        100.0 * a.rel_error,
        if a.met_tolerance {
            ""
        } else {
            " -- ABOVE the requested tolerance"
        }
    );
    println!(
        "  estimate: ~{:.2} s to prove on a 2-core machine",
        m.estimate_s
    );
    println!("  digest:   {}", m.digest);
}

impl Compile {
    /// Runs the command.
    pub fn run(self) -> Result<ExitCode> {
        if !(self.tolerance > 0.0 && self.tolerance < 1.0) {
            bail!("--tolerance must be in (0, 1), got {}", self.tolerance);
        }
        if !(self.range_margin >= 1.0 && self.range_margin <= 1e6) {
            bail!(
                "--range-margin must be at least 1, got {}",
                self.range_margin
            );
        }
        let opts = CompileOptions {
            bits: self.bits,
            tolerance: self.tolerance,
            range_margin: self.range_margin,
            k: self.k,
        };
        let c = frontend::compile(&self.model, &self.calibration, &opts)?;
        if !c.accuracy.met_tolerance {
            eprintln!(
                "warning: no bit width up to {} meets --tolerance {}; using the most accurate ({} bits)",
                c.model.graph.bits, self.tolerance, c.model.graph.bits
            );
        }
        c.model
            .save(&self.out)
            .with_context(|| format!("writing {}", self.out.display()))?;
        summary(&c, &self.out);
        Ok(ExitCode::SUCCESS)
    }
}
