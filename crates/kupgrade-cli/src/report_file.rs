//! `--report FILE`: Markdown, or JUnit XML when the file name ends in `.xml`.

use std::path::Path;

use anyhow::Context;

/// Fails unless a report can be written at `path` (its folder exists, it is not a folder),
/// so a bad `--report` path is found before anything changes, not after the upgrade ran.
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => anyhow::bail!(
            "cannot write the report {}: {} is not a folder",
            path.display(),
            dir.display()
        ),
        Err(_) => anyhow::bail!(
            "cannot write the report {}: the folder {} does not exist; create it or choose another path",
            path.display(),
            dir.display()
        ),
    }
    if path.is_dir() {
        anyhow::bail!(
            "cannot write the report {}: it is a folder; give a file name",
            path.display()
        );
    }
    Ok(())
}

/// Writes the upgrade report of a plan, its checks and (when it ran) the run.
pub fn write_upgrade_report(
    path: &Path,
    plan: &kupgrade_core::UpgradePlan,
    findings: &[kupgrade_core::Finding],
    checks: &[(&'static str, &'static str)],
    run: Option<&kupgrade_core::RunReport>,
) -> anyhow::Result<()> {
    let title = format!(
        "Upgrade of {} cluster {} to {}",
        plan.provider, plan.cluster, plan.target
    );
    let input = kupgrade_core::report::ReportInput {
        title: &title,
        plan: Some(plan),
        findings,
        checks,
        run,
    };
    write_report(path, &input, &plan.cluster)
}

/// Writes `input` as a Markdown report, or its checks as JUnit XML with `suite` as the test
/// suite's name.
pub fn write_report(
    path: &Path,
    input: &kupgrade_core::report::ReportInput<'_>,
    suite: &str,
) -> anyhow::Result<()> {
    write(
        path,
        || kupgrade_core::report::markdown(input),
        || kupgrade_core::report::junit(suite, input.checks, input.findings),
    )
}

/// Writes the report the file name asks for.
pub fn write(
    path: &Path,
    markdown: impl FnOnce() -> String,
    junit: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let text = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")) {
        junit()
    } else {
        markdown()
    };
    std::fs::write(path, text).with_context(|| format!("cannot write report {}", path.display()))?;
    eprintln!("report written to {}", path.display());
    Ok(())
}
