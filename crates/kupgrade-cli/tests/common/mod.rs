//! Helpers shared by the CLI tests.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the real binary, optionally with `KUPGRADE_SIM_CRASH_AFTER=N`.
pub fn kupgrade_crashing(args: &[&str], crash_after: Option<u64>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kupgrade"));
    cmd.args(args).env_remove("KUPGRADE_SIM_CRASH_AFTER");
    if let Some(n) = crash_after {
        cmd.env("KUPGRADE_SIM_CRASH_AFTER", n.to_string());
    }
    cmd.output().unwrap()
}

/// Runs the real binary.
pub fn kupgrade(args: &[&str]) -> Output {
    kupgrade_crashing(args, None)
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Asserts exit code 1, nothing on stdout, one line on stderr containing `needle`.
pub fn assert_one_line_failure(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stdout.is_empty(),
        "stdout must be empty: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{err}");
}
