//! `zkinfer`: compile ONNX models into halo2 circuits, prove inference, verify proofs.

mod commands;
mod device;
mod progress;

use clap::{Parser, Subcommand};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Mutex;

/// Prove that an output came from exactly the committed weights applied to a given input.
#[derive(Parser)]
#[command(name = "zkinfer", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile an ONNX model into a circuit (quantize with a calibration input, choose the layout).
    Compile(commands::compile::Compile),
    /// Generate the SRS (or load one) and the proving/verifying keys of a compiled model.
    Setup(commands::setup::Setup),
    /// Run the model on an input and prove the result.
    Prove(commands::prove::Prove),
    /// Verify a proof against a compiled model's verifying key.
    Verify(commands::verify::Verify),
    /// Compile, set up, prove and verify the bundled demo model.
    Demo(commands::demo::Demo),
    /// Generate a deployable Solidity verifier for a model's verifying key.
    ExportVerifier(commands::export_verifier::ExportVerifier),
    /// Print a proof's EVM calldata (hex): public instances, then the proof.
    Calldata(commands::calldata::Calldata),
    /// Verify a proof with the model's Solidity verifier in an in-process EVM.
    VerifyEvm(commands::verify_evm::VerifyEvm),
    /// Show a stage of the compiler: the ONNX graph, the quantized graph or the circuit plan.
    Inspect(commands::inspect::Inspect),
    /// List the devices `prove --device` can use (CPU threads, CUDA GPUs, the CUDA prover).
    Devices(commands::devices::Devices),
}

/// The last panic's message and place. The libraries catch the panics halo2, snark-verifier
/// and tract raise on malformed input and return errors for them, so the panic hook keeps the
/// message here instead of printing it: an error that follows a caught panic carries the
/// panic's words on its line, and a panic that reaches `main` (a bug) is printed on one line.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

fn main() -> ExitCode {
    panic::set_hook(Box::new(|info| {
        let text = info.to_string();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(text);
        }
    }));
    let cli = Cli::parse();
    let result = panic::catch_unwind(AssertUnwindSafe(|| run(cli)));
    let caught = LAST_PANIC.lock().ok().and_then(|mut last| last.take());
    match result {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            let inside = caught.map(|p| format!(" (after a caught panic {})", panic_line(&p)));
            eprintln!("error: {}{}", one_line(&e), inside.unwrap_or_default());
            ExitCode::FAILURE
        }
        Err(payload) => {
            let what = caught
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            // `print!` panics when stdout is closed (`zkinfer inspect ... | head`): not a bug.
            if what.contains("failed printing to stdout") {
                return ExitCode::FAILURE;
            }
            eprintln!(
                "error: internal error, a bug in zkinfer (please report it): {}",
                panic_line(&what)
            );
            ExitCode::from(101)
        }
    }
}

/// A panic's report (`panicked at FILE:LINE:COL:` and its message on the next line) as one
/// line: `at FILE:LINE:COL: message`.
fn panic_line(report: &str) -> String {
    let report = report.strip_prefix("panicked ").unwrap_or(report);
    one_line(&anyhow::anyhow!(report.replace('\n', " ")))
}

/// Runs the command line's subcommand.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Compile(c) => c.run(),
        Command::Setup(c) => c.run(),
        Command::Prove(c) => c.run(),
        Command::Verify(c) => c.run(),
        Command::Demo(c) => c.run(),
        Command::Inspect(c) => c.run(),
        Command::ExportVerifier(c) => c.run(),
        Command::Calldata(c) => c.run(),
        Command::VerifyEvm(c) => c.run(),
        Command::Devices(c) => c.run(),
    }
}

/// The error and its causes on one line, leaving out a cause its message already ends with
/// (errors that print their source, `"{path}: {source}"`), and with control characters (from
/// names in a model file) escaped.
fn one_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text.chars()
        .flat_map(
            |c| match c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c) {
                true => c.escape_default().collect::<Vec<_>>(),
                false => vec![c],
            },
        )
        .collect()
}
