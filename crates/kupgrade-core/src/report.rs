//! Upgrade reports: a Markdown report (plan, checks per hop, timeline, results, what to do
//! next) and JUnit XML of the checks for CI systems.

use std::fmt::Write;

use crate::checks::{Finding, Severity};
use crate::executor::{RunReport, RunResult, StepOutcome};
use crate::plan::UpgradePlan;

/// What a report is made of. Everything but the plan is optional: a `plan` report has no run,
/// a `check` report may have no plan.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The title (usually the cluster and the command).
    pub title: &'a str,
    /// The plan, if any.
    pub plan: Option<&'a UpgradePlan>,
    /// The pre-flight findings.
    pub findings: &'a [Finding],
    /// The ids and descriptions of every check that ran.
    pub checks: &'a [(&'static str, &'static str)],
    /// The run, if one happened.
    pub run: Option<&'a RunReport>,
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Blocker => "**blocker**",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// The Markdown report.
pub fn markdown(input: &ReportInput<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", input.title);
    if let Some(plan) = input.plan {
        let _ = writeln!(
            out,
            "{} cluster `{}`: control plane {} -> {}, {} strategy, {} control-plane hop(s), {} node rollout(s).\n",
            plan.provider.display_name(),
            plan.cluster,
            plan.initial.control_plane,
            plan.target,
            plan.strategy,
            plan.hops().len(),
            plan.node_rollouts
        );
        let _ = writeln!(out, "## Plan\n\n| # | Step | Action |\n|---|---|---|");
        for (i, step) in plan.steps.iter().enumerate() {
            let _ = writeln!(out, "| {} | {} | `{}` |", i + 1, step.describe(), step.action());
        }
        if plan.steps.is_empty() {
            let _ = writeln!(out, "| | nothing to do | |");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Checks\n");
    if input.findings.is_empty() {
        let _ = writeln!(out, "All {} checks passed.\n", input.checks.len());
    } else {
        let mut hops: Vec<Option<String>> = input
            .findings
            .iter()
            .map(|f| f.hop.as_ref().map(ToString::to_string))
            .collect();
        hops.sort();
        hops.dedup();
        for hop in hops {
            match &hop {
                Some(h) => {
                    let _ = writeln!(out, "### Hop to {h}\n");
                }
                None => {
                    let _ = writeln!(out, "### Whole plan\n");
                }
            }
            let _ = writeln!(out, "| Severity | Check | Subject | Finding |\n|---|---|---|---|");
            for f in input
                .findings
                .iter()
                .filter(|f| f.hop.as_ref().map(ToString::to_string) == hop)
            {
                let subject = f.subject.to_string();
                let _ = writeln!(
                    out,
                    "| {} | {} | {subject} | {} |",
                    severity_word(f.severity),
                    f.id,
                    f.message.replace('|', "\\|")
                );
            }
            let _ = writeln!(out);
        }
    }
    if let Some(run) = input.run {
        let _ = writeln!(
            out,
            "## Timeline\n\n| Start | Step | Took | Outcome | Note |\n|---|---|---|---|---|"
        );
        let mut at = 0;
        for step in &run.steps {
            let outcome = match step.outcome {
                StepOutcome::Failed => "**failed**",
                other => other.label(),
            };
            let _ = writeln!(
                out,
                "| +{} | {} | {} | {outcome} | {} |",
                clock(at),
                step.description,
                clock(step.seconds),
                step.note.as_deref().unwrap_or("").replace('|', "\\|")
            );
            at += step.seconds;
        }
        let result = run.result.label();
        let _ = writeln!(
            out,
            "\n## Result\n\n**{result}** after {}; {} provider operation(s) started.",
            clock(run.seconds),
            run.operations_started
        );
        if let Some(state) = &run.final_state {
            let pools: Vec<String> = state
                .node_pools
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
                .collect();
            let _ = writeln!(
                out,
                "\nCluster now: control plane {}; pools {}.",
                state.control_plane,
                pools.join(", ")
            );
        }
        if let Some(err) = &run.error {
            let _ = writeln!(out, "\nStopped because: {err}");
        }
    }
    let _ = writeln!(out, "\n## What to do next\n");
    for item in next_steps(input) {
        let _ = writeln!(out, "- {item}");
    }
    out
}

fn next_steps(input: &ReportInput<'_>) -> Vec<String> {
    let blockers: Vec<&Finding> = input
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .collect();
    let mut steps = Vec::new();
    match input.run.map(|r| r.result) {
        Some(RunResult::Succeeded) => {
            steps.push(
                "Watch error rates and latency for a day; keep the report with the change ticket.".into(),
            );
            steps.push("Update the version pinned in your infrastructure code (Terraform, eksctl, Bicep) so it does not drift back.".into());
            if let Some(plan) = input.plan {
                steps.push(format!("Put the next upgrade after {} on the calendar: `kupgrade versions --provider {}` shows the days left.", plan.target, plan.provider));
            }
        }
        Some(RunResult::Failed) => {
            steps.push("Fix the cause named above, then rerun the same command: finished steps are skipped and running operations awaited.".into());
        }
        Some(RunResult::RolledBack) => {
            steps.push("The gate failed and the change was undone: find out why the new nodes were unhealthy before trying again.".into());
        }
        None if !blockers.is_empty() => {
            steps.push(format!(
                "Resolve the {} blocker(s) above; nothing was changed.",
                blockers.len()
            ));
        }
        None => {
            steps.push("Review the plan, then run it with `kupgrade upgrade` (add `--dry-run` to see the checks again first).".into());
        }
    }
    steps
}

fn clock(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// JUnit XML of the checks: one test case per check that found nothing, one per finding;
/// blockers are failures, warnings and infos pass with their message in `system-out`.
pub fn junit(suite: &str, checks: &[(&'static str, &'static str)], findings: &[Finding]) -> String {
    let failures = findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .count();
    let mut cases = String::new();
    for (id, description) in checks {
        let mine: Vec<&Finding> = findings.iter().filter(|f| f.id == *id).collect();
        if mine.is_empty() {
            let _ = writeln!(
                cases,
                "    <testcase classname=\"{id}\" name=\"{}\"/>",
                xml_escape(description)
            );
        }
    }
    for f in findings {
        let subject = f.subject.to_string();
        let hop = f
            .hop
            .as_ref()
            .map(|h| format!(" (hop to {h})"))
            .unwrap_or_default();
        let name = xml_escape(&format!("{subject}{hop}"));
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"{name}\">",
            xml_escape(&f.id)
        );
        if f.severity == Severity::Blocker {
            let _ = write!(
                cases,
                "<failure type=\"blocker\" message=\"{}\"/>",
                xml_escape(&f.message)
            );
        } else {
            let _ = write!(
                cases,
                "<system-out>{}: {}</system-out>",
                f.severity,
                xml_escape(&f.message)
            );
        }
        let _ = writeln!(cases, "</testcase>");
    }
    let tests = cases.lines().count();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\">\n{cases}  </testsuite>\n</testsuites>\n",
        xml_escape(suite)
    )
}

/// The Markdown report of a fleet run.
pub fn fleet_markdown(spec: &crate::fleet::FleetSpec, report: &crate::fleet::FleetReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Fleet upgrade: {}\n", spec.name);
    let verdict = if report.succeeded {
        "**succeeded**".to_string()
    } else {
        format!("**halted**: {}", report.halted.as_deref().unwrap_or(""))
    };
    let _ = writeln!(out, "Result: {verdict}\n");
    for wave in &report.waves {
        let _ = writeln!(
            out,
            "## Wave {} ({})\n\n| Cluster | Result | Operations | Took | Error |\n|---|---|---|---|---|",
            wave.wave, wave.status
        );
        for c in &wave.clusters {
            let result = match c.result {
                Some(RunResult::Succeeded) => "succeeded",
                Some(RunResult::Failed) => "**failed**",
                Some(RunResult::RolledBack) => "rolled back",
                None => "not started",
            };
            let _ = writeln!(
                out,
                "| {} | {result} | {} | {} | {} |",
                c.cluster,
                c.operations_started,
                clock(c.seconds),
                c.error.as_deref().unwrap_or("").replace('|', "\\|")
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## What to do next\n");
    if report.succeeded {
        let _ = writeln!(
            out,
            "- Every wave passed its gate. Update the versions pinned in your infrastructure code."
        );
    } else {
        let _ = writeln!(
            out,
            "- Fix the failing cluster named above, then rerun the same command: finished waves and steps are skipped, and later waves start only after the failed one passes."
        );
    }
    out
}

/// JUnit XML of a fleet run: a test suite per wave, a test case per cluster.
pub fn fleet_junit(report: &crate::fleet::FleetReport) -> String {
    let mut suites = String::new();
    for wave in &report.waves {
        let failures = wave
            .clusters
            .iter()
            .filter(|c| c.result.is_some_and(|r| r != RunResult::Succeeded))
            .count();
        let _ = writeln!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
            xml_escape(&wave.wave),
            wave.clusters.len()
        );
        for c in &wave.clusters {
            let _ = write!(
                suites,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\">",
                xml_escape(&wave.wave),
                xml_escape(&c.cluster),
                c.seconds
            );
            match c.result {
                Some(RunResult::Succeeded) => {}
                None => {
                    let _ = write!(suites, "<skipped message=\"not started\"/>");
                }
                Some(_) => {
                    let _ = write!(
                        suites,
                        "<failure message=\"{}\"/>",
                        xml_escape(c.error.as_deref().unwrap_or("failed"))
                    );
                }
            }
            let _ = writeln!(suites, "</testcase>");
        }
        let _ = writeln!(suites, "  </testsuite>");
    }
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n{suites}</testsuites>\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Subject;

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding {
            id: id.into(),
            severity,
            message: "a <b> & \"c\"".into(),
            subject: Subject {
                kind: "PodDisruptionBudget".into(),
                namespace: Some("shop".into()),
                name: "web-pdb".into(),
            },
            hop: None,
            api: None,
            hint: None,
        }
    }

    #[test]
    fn junit_has_a_case_per_clean_check_and_per_finding() {
        let checks = [("KUP-A", "a"), ("KUP-PDB-001", "pdbs")];
        let xml = junit(
            "prod",
            &checks,
            &[
                finding("KUP-PDB-001", Severity::Blocker),
                finding("KUP-PDB-001", Severity::Warning),
            ],
        );
        assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
        assert!(xml.contains("<testcase classname=\"KUP-A\" name=\"a\"/>"));
        assert!(xml.contains("message=\"a &lt;b&gt; &amp; &quot;c&quot;\""));
        assert!(xml.contains("<system-out>warning: "));
    }

    #[test]
    fn markdown_without_a_run_says_what_to_do() {
        let md = markdown(&ReportInput {
            title: "Check of prod",
            plan: None,
            findings: &[finding("KUP-PDB-001", Severity::Blocker)],
            checks: &[("KUP-PDB-001", "pdbs")],
            run: None,
        });
        assert!(md.contains("### Whole plan"));
        assert!(md.contains("| **blocker** | KUP-PDB-001 | PodDisruptionBudget shop/web-pdb |"));
        assert!(md.contains("Resolve the 1 blocker(s) above; nothing was changed."));
    }
}
