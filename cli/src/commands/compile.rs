//! `zkinfer compile MODEL.onnx [--calibration INPUT.json] --out DIR`

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use zkinfer_circuits::plan::{MatvecCheck, Objective};
use zkinfer_circuits::public_io::PublicIo;
use zkinfer_gpu::CUDA_TARGET;
use zkinfer_onnx::{CompileOptions, Compiled};

/// Compile an ONNX model.
#[derive(Args)]
pub struct Compile {
    /// ONNX model file: a float model (batch dimension may be symbolic), or one ONNX Runtime's
    /// quantizer already quantized (QDQ or QOperator format), which is imported as it is.
    pub model: PathBuf,
    /// Calibration input in INPUT.json layout: {"input_data": [[...], ...]} (float models,
    /// dynamically quantized ones included; without it, eight seeded random inputs: floats in
    /// [-1, 1), token ids over their table). A statically quantized model needs none.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
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
    /// Force the circuit size 2^k (default: chosen by the shape search for `--optimize`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(4..=26))]
    pub k: Option<u32>,
    /// How inputs and outputs become public instances: `packed` puts many values in one field
    /// element (cheap to verify on-chain), `plain` one value per instance, `hashed` one
    /// Poseidon hash of the inputs and one of the outputs (two instances; the values stay off
    /// the calldata).
    #[arg(long, value_enum, default_value_t = PublicIoArg::Packed)]
    pub public_io: PublicIoArg,
    /// What the circuit layout minimises: proving time on the CPU, verifier work (fewer
    /// columns: smaller, cheaper on-chain verifiers, at some proving time), or proving time on
    /// the CUDA prover (`gpu-prove-time`: a single-phase circuit of at least 2^14 rows).
    #[arg(long, value_enum, default_value_t = OptimizeArg::ProveTime)]
    pub optimize: OptimizeArg,
    /// How matrix-vector products (Gemm, MatMul with constants, Conv) are checked: `freivalds`
    /// checks a random combination of each block's outputs (fewest columns; the circuit has
    /// two phases), `direct` accumulates every output in its own column (one phase: what the
    /// CUDA prover, `prove --device cuda`, needs). Default: `direct` with `--optimize
    /// gpu-prove-time`, else `freivalds`.
    #[arg(long, value_enum)]
    pub matvec_check: Option<MatvecCheckArg>,
}

/// `--matvec-check` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MatvecCheckArg {
    /// Random linear combination (two-phase circuit).
    Freivalds,
    /// One accumulator per output (single-phase circuit).
    Direct,
}

impl From<MatvecCheckArg> for MatvecCheck {
    fn from(a: MatvecCheckArg) -> Self {
        match a {
            MatvecCheckArg::Freivalds => MatvecCheck::Freivalds,
            MatvecCheckArg::Direct => MatvecCheck::Direct,
        }
    }
}

/// `--optimize` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizeArg {
    /// Fastest proving on the CPU.
    ProveTime,
    /// Fewest verifier commitments (on-chain gas and contract size).
    VerifyGas,
    /// Fastest proving on the CUDA prover (`prove --device cuda`): single phase, at least
    /// 2^14 rows, where it computes the commitments on the GPU.
    GpuProveTime,
}

/// `--public-io` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PublicIoArg {
    /// One public instance per value.
    Plain,
    /// Values packed into as few field elements as fit.
    Packed,
    /// A Poseidon hash of the inputs and one of the outputs, computed in the circuit.
    Hashed,
}

impl From<PublicIoArg> for PublicIo {
    fn from(a: PublicIoArg) -> Self {
        match a {
            PublicIoArg::Plain => PublicIo::Plain,
            PublicIoArg::Packed => PublicIo::Packed,
            PublicIoArg::Hashed => PublicIo::Hashed,
        }
    }
}

/// When the tolerance is missed: the tensors that lose the most accuracy (largest error
/// relative to their float range on the calibration input), with the ops that write them.
fn print_lossy_ops(c: &Compiled) {
    let mut worst: Vec<_> = c.tensor_accuracy.iter().collect();
    worst.sort_by(|a, b| b.rel_error.total_cmp(&a.rel_error));
    for (i, t) in worst.iter().take(5).enumerate() {
        println!(
            "  {} '{}' (op '{}'): {:.3}% of its range",
            if i == 0 { "lossiest:" } else { "         " },
            t.tensor,
            t.op,
            100.0 * t.rel_error
        );
    }
}

/// How a public tensor's integers stand for reals.
fn encoding(t: &zkinfer_circuits::compiled::IoTensor) -> String {
    match &t.affine {
        Some(a) => {
            let (lo, hi) = a.range();
            format!(
                "int{} in [{lo}, {hi}], scale {:e}, zero point {}",
                if lo < 0 { "8" } else { "8 (unsigned)" },
                a.scale(),
                a.zero_point()
            )
        }
        None if t.integer => match t.range {
            Some((lo, hi)) => format!("integers in [{lo}, {hi}]"),
            None => "integers".to_string(),
        },
        None => format!("at scale {}", zkinfer_circuits::graph::scale_text(t.scale)),
    }
}

/// An imported model's requantizations: per op, whether the proven integers are ONNX
/// Runtime's for every input.
fn print_requants(c: &Compiled) {
    for r in &c.requants {
        let inexact = r.channels - r.exact;
        println!(
            "  requant:  '{}': {} of {} channel(s) exactly ONNX Runtime's rule for every input{}{}",
            r.node,
            r.exact,
            r.channels,
            match r.half_even {
                0 => String::new(),
                n => format!(" ({n} rounding halves to even)"),
            },
            match inexact {
                0 => String::new(),
                n => format!("; {n} within 1 LSB (its f32 arithmetic rounds onto or off a half)"),
            }
        );
    }
}

/// An imported model's float islands: which ops each table stands for, and whether any entry
/// is close enough to a level's boundary for ONNX Runtime's f32 kernels to round it the other
/// way.
fn print_tables(c: &Compiled) {
    for t in &c.tables {
        println!(
            "  table:    '{}': {} of an int8 value, {} entries: {}",
            t.node,
            t.ops.join(" → "),
            t.entries,
            match t.uncertain {
                0 => "every one farther from a level's boundary than f32's error (ONNX Runtime's integers)".to_string(),
                n => format!("{n} within f32's error of a level's boundary (within 1 LSB of ONNX Runtime there)"),
            }
        );
    }
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
        println!("  input:    '{}' {:?} {}", t.name, t.shape, encoding(&t));
    }
    for t in m.io().outputs {
        println!("  output:   '{}' {:?} {}", t.name, t.shape, encoding(&t));
    }
    match &c.accuracy {
        Some(a) => println!(
            "  accuracy: max error {:.3e} ({:.3}% of the output range) on the calibration input{}",
            a.max_abs_error,
            100.0 * a.rel_error,
            if a.met_tolerance {
                ""
            } else {
                " -- ABOVE the requested tolerance"
            }
        ),
        None => {
            print_requants(c);
            print_tables(c);
        }
    }
    print_lossy_ops(c);
    println!(
        "  estimate: ~{:.2} s to prove on a 2-core CPU",
        m.estimate_s
    );
    let io = m.io();
    println!(
        "  public:   {} instance(s) for {} input and {} output value(s) ({})",
        io.instance_count(),
        io.input_values(),
        io.output_values(),
        io.public_io.name()
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
            public_io: self.public_io.into(),
            objective: match self.optimize {
                OptimizeArg::ProveTime => Objective::ProveTime,
                OptimizeArg::VerifyGas => Objective::VerifyGas,
                OptimizeArg::GpuProveTime => Objective::ProveTimeOn(CUDA_TARGET),
            },
            matvec_check: match (self.matvec_check, self.optimize) {
                (Some(m), _) => m.into(),
                (None, OptimizeArg::GpuProveTime) => MatvecCheck::Direct,
                (None, _) => MatvecCheck::Freivalds,
            },
        };
        if let (OptimizeArg::GpuProveTime, Some(k)) = (self.optimize, self.k) {
            if !CUDA_TARGET.fills(k) {
                let min = CUDA_TARGET.min_k;
                eprintln!(
                    "warning: --k {k} is below {min}: on circuits of fewer than 2^{min} rows the CUDA prover computes the commitments on the CPU"
                );
            }
        }
        let c = zkinfer_onnx::compile_from(&self.model, self.calibration.as_deref(), &opts)?;
        if self.calibration.is_none() && c.accuracy.is_some() {
            eprintln!(
                "note: a float model compiled without --calibration: its ranges come from {} seeded random inputs (floats in [-1, 1), token ids over their table); pass --calibration INPUT.json with representative inputs if yours reach further",
                zkinfer_onnx::SEEDED_SAMPLES
            );
        }
        if let (Some(path), None) = (&self.calibration, &c.accuracy) {
            note_unused_calibration(path);
        }
        if c.accuracy.as_ref().is_some_and(|a| !a.met_tolerance) {
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

/// Says on stderr that a calibration input given for a statically quantized model is not read.
pub fn note_unused_calibration(path: &std::path::Path) {
    eprintln!(
        "note: --calibration {} is not used: a statically quantized model carries its own scales and zero points",
        path.display()
    );
}
