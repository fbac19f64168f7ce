//! Progress of long steps on stderr.

use std::cell::RefCell;
use std::collections::HashSet;
use zkinfer_prover::Progress;

/// Prints steps, their durations and warnings (each once) to stderr.
#[derive(Default)]
pub struct Stderr {
    /// Print nothing but warnings.
    pub quiet: bool,
    warned: RefCell<HashSet<String>>,
}

impl Stderr {
    /// A printer; `quiet` keeps only warnings.
    pub fn new(quiet: bool) -> Self {
        Stderr {
            quiet,
            ..Default::default()
        }
    }
}

impl Progress for Stderr {
    fn begin(&self, step: &str) {
        if !self.quiet {
            eprintln!("==> {step}");
        }
    }

    fn end(&self, step: &str, secs: f64) {
        if !self.quiet && secs >= 0.05 {
            eprintln!("    {step}: {secs:.2} s");
        }
    }

    fn warn(&self, msg: &str) {
        if self.warned.borrow_mut().insert(msg.to_string()) {
            eprintln!("warning: {msg}");
        }
    }
}
