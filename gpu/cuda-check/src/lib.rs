//! `zkinfer-cuda-check`: the CPU-vs-GPU differential checks and benchmarks of the CUDA prover
//! (`src/main.rs`, feature `cuda`), a separate executable so that the production prover
//! `zkinfer-cuda` does not link the ONNX front end the checks need.
//!
//! This library part needs no CUDA: the inputs the differential checks use ([`cases`]) and
//! their bookkeeping ([`Checks`]), tested on the CPU by the default test suite.

pub mod cases;

use std::fmt::Write as _;

/// Results of named checks, printed as a table; any failure fails the run.
#[derive(Debug, Default)]
pub struct Checks {
    rows: Vec<(String, bool, String)>,
}

impl Checks {
    /// Records one check.
    pub fn record(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        let (name, detail) = (name.into(), detail.into());
        eprintln!("{} {name}: {detail}", if ok { "PASS" } else { "FAIL" });
        self.rows.push((name, ok, detail));
    }

    /// Number of failed checks.
    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| !r.1).count()
    }

    /// Number of checks.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing was checked.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Markdown table of all checks.
    pub fn table(&self) -> String {
        let mut s = String::from("| check | result | detail |\n|---|---|---|\n");
        for (name, ok, detail) in &self.rows {
            let _ = writeln!(
                s,
                "| {name} | {} | {detail} |",
                if *ok { "pass" } else { "FAIL" }
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_and_tabulated() {
        let mut c = Checks::default();
        assert!(c.is_empty());
        c.record("msm 2^4 random", true, "equal");
        c.record("msm 2^4 zero", false, "differs");
        assert_eq!((c.len(), c.failures()), (2, 1));
        let t = c.table();
        assert!(t.contains("| msm 2^4 zero | FAIL | differs |"), "{t}");
    }
}
