//! Rendering run reports and check findings for people and tools.

use std::fmt::Write;

use kupgrade_core::checks::{Finding, Severity};
use kupgrade_core::{RunReport, RunResult, StepOutcome};
use serde::Serialize;

use crate::progress::duration;

/// Findings as lines: `blocker KUP-PDB-001 PodDisruptionBudget shop/web-pdb: message`.
pub fn findings_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        let _ = writeln!(out, "Pre-flight checks: nothing found.");
        return out;
    }
    let blockers = findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .count();
    let _ = writeln!(
        out,
        "Pre-flight checks: {} finding(s), {blockers} blocker(s)",
        findings.len()
    );
    for f in findings {
        let subject = f.subject.to_string();
        let hop = f
            .hop
            .as_ref()
            .map(|h| format!(" [hop to {h}]"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<7} {} {subject}{hop}: {}",
            f.severity.to_string(),
            f.id,
            f.message
        );
    }
    out
}

/// A run report as a table of steps with their simulated durations and results.
pub fn run_text(report: &RunReport, simulated: bool) -> String {
    let mut out = String::new();
    let clock = if simulated { " (simulated)" } else { "" };
    let _ = writeln!(out, "\nStep report{clock}:");
    for (i, step) in report.steps.iter().enumerate() {
        let outcome = match step.outcome {
            StepOutcome::Failed => "FAILED",
            other => other.label(),
        };
        let _ = writeln!(
            out,
            "{:>3}. {:<72} {:>8}  {outcome}",
            i + 1,
            step.description,
            duration(step.seconds)
        );
        if let Some(note) = &step.note {
            let _ = writeln!(out, "     {note}");
        }
    }
    let result = match report.result {
        RunResult::Succeeded => "succeeded",
        RunResult::Failed => "FAILED",
        RunResult::RolledBack => "ROLLED BACK",
        other => other.label(),
    };
    let _ = writeln!(
        out,
        "\nResult: {result} in {}{clock}; {} provider operation(s) started.",
        duration(report.seconds),
        report.operations_started
    );
    if let Some(state) = &report.final_state {
        let pools: Vec<String> = state
            .node_pools
            .iter()
            .map(|p| format!("{} {} ({} nodes)", p.name, p.version, p.nodes))
            .collect();
        let _ = writeln!(
            out,
            "Cluster now: control plane {} | {}",
            state.control_plane,
            pools.join(", ")
        );
    }
    if let Some(err) = &report.error {
        let _ = writeln!(out, "Stopped because: {err}");
        let _ = writeln!(
            out,
            "Fix the cause, then rerun the same command: finished steps are skipped, running operations awaited."
        );
    }
    out
}

/// The JSON shape of `kupgrade upgrade --output json`.
#[derive(Serialize)]
pub struct RunJson<'a> {
    /// `succeeded`, `failed`, `rolled-back` or `blocked`.
    pub result: &'a str,
    /// The final control-plane version.
    pub control_plane: Option<String>,
    /// The final pools.
    pub node_pools: Vec<PoolJson>,
    /// Operations this run started.
    pub operations_started: u32,
    /// Virtual seconds this run took.
    pub simulated_seconds: u64,
    /// The pre-flight findings.
    pub findings: &'a [Finding],
    /// The steps.
    pub steps: Option<&'a [kupgrade_core::executor::StepReport]>,
    /// The error that stopped the run.
    pub error: Option<&'a str>,
}

/// A pool in [`RunJson`].
#[derive(Serialize)]
pub struct PoolJson {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its size.
    pub nodes: u32,
}
