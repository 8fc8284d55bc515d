//! The shared flow of `kupgrade upgrade` and `kupgrade demo`: plan (or resume the journal's
//! plan), pre-flight checks, confirmation, execution with progress, report.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use kupgrade_core::checks::{blockers, sort_findings};
use kupgrade_core::render::render_text;
use kupgrade_core::{
    Calendar, CheckRegistry, ClusterWorkloads, Executor, ExecutorConfig, Finding, Journal, ManagedCluster,
    RunResult, UpgradePlan, plan_with,
};

use crate::commands::plan::PlanFlags;
use crate::output::{Output, json};
use crate::report::{PoolJson, RunJson, findings_text, run_text};

/// What the user asked for.
pub struct RunSettings {
    /// Target, strategy and planner overrides.
    pub plan: PlanFlags,
    /// Change nothing.
    pub dry_run: bool,
    /// Do not ask.
    pub yes: bool,
    /// Output format.
    pub output: Output,
    /// Force evictions past PDBs.
    pub force_drain: bool,
    /// Journal file, if any.
    pub journal: Option<PathBuf>,
    /// Real time per progress update.
    pub pace: Duration,
    /// Whether the clock is simulated.
    pub simulated: bool,
    /// A function giving the simulator's virtual clock, when simulated.
    pub clock: Option<Box<dyn Fn() -> u64>>,
    /// Where to write a report (Markdown, or JUnit XML for `.xml`).
    pub report: Option<PathBuf>,
}

/// Runs the flow on an already connected cluster, with `registry` (plus the cluster's own
/// checks) as the pre-flight checks.
pub async fn run(
    cluster: Arc<dyn ManagedCluster>,
    workloads: Arc<dyn ClusterWorkloads>,
    mut registry: CheckRegistry,
    settings: RunSettings,
) -> anyhow::Result<ExitCode> {
    let started_at = settings.clock.as_ref().map_or(0, |c| c());
    let snapshot = cluster.describe().await?;
    let recorded = match &settings.journal {
        Some(path) => Journal::load(path)?.map(|j| (path, j)),
        None => None,
    };
    let mut journal = match recorded {
        Some((path, j)) => {
            let p = &j.plan;
            if p.cluster != snapshot.name
                || p.target != settings.plan.to.minor_version()
                || p.strategy != settings.plan.strategy
            {
                bail!(
                    "journal {} belongs to another run (cluster {}, target {}, strategy {}); rerun with those flags or remove the journal",
                    path.display(),
                    p.cluster,
                    p.target,
                    p.strategy
                );
            }
            eprintln!("Resuming the run recorded in {}.", path.display());
            j
        }
        None => Journal::new(plan_for(cluster.as_ref(), &snapshot, &settings.plan)?),
    };
    let mut config = ExecutorConfig::default();
    config.drain.force = settings.force_drain;
    let executor = Executor::new(cluster.clone(), workloads)
        .with_config(config)
        .with_events(crate::progress::sink(settings.pace));
    let executor = match &settings.journal {
        Some(path) => executor.with_journal_path(path),
        None => executor,
    };
    let today = chrono::Utc::now().date_naive();
    let calendar = calendar(cluster.as_ref(), snapshot.provider).await;
    registry.extend(cluster.extra_checks());
    let findings = executor
        .preflight(&journal.plan, &registry, &calendar, today)
        .await?;
    let text = settings.output == Output::Text;
    if text {
        print!("{}", render_text(&journal.plan));
        print!("{}", findings_text(&findings));
    }
    let blocking = blockers(&findings);
    let json_out =
        |result: &str, report: Option<&kupgrade_core::RunReport>, error: Option<&str>, now: u64| {
            let state = report
                .and_then(|r| r.final_state.clone())
                .unwrap_or_else(|| snapshot.clone());
            json(&RunJson {
                result,
                control_plane: Some(state.control_plane.to_string()),
                node_pools: state
                    .node_pools
                    .iter()
                    .map(|p| PoolJson {
                        name: p.name.clone(),
                        version: p.version.to_string(),
                        nodes: p.nodes,
                    })
                    .collect(),
                operations_started: report.map_or(0, |r| r.operations_started),
                simulated_seconds: now.saturating_sub(started_at),
                findings: &findings,
                steps: report.map(|r| r.steps.as_slice()),
                error,
            })
        };
    let now = || settings.clock.as_ref().map_or(0, |c| c());
    let checks = registry.describe();
    let plan = journal.plan.clone();
    let write_report = |run: Option<&kupgrade_core::RunReport>| match &settings.report {
        Some(path) => crate::report_file::write_upgrade_report(path, &plan, &findings, &checks, run),
        None => Ok(()),
    };
    if settings.dry_run {
        write_report(None)?;
        if text {
            println!("Dry run: nothing was changed.");
        } else {
            print!("{}", json_out("dry-run", None, None, now())?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if blocking > 0 {
        write_report(None)?;
        let message = format!(
            "pre-flight checks found {blocking} blocker(s); nothing was changed. Fix them (or see --force-drain for PDBs) and rerun"
        );
        if !text {
            print!("{}", json_out("blocked", None, Some(&message), now())?);
        }
        eprintln!("error: {message}");
        return Ok(ExitCode::from(3));
    }
    if !settings.yes && !confirm(&journal)? {
        bail!("aborted: nothing was changed");
    }
    let report = executor.run(&mut journal).await?;
    write_report(Some(&report))?;
    let end = now();
    if text {
        print!("{}", run_text(&report, settings.simulated));
        if settings.simulated {
            println!(
                "Simulated time: {}.",
                crate::progress::duration(end.saturating_sub(started_at))
            );
        }
    } else {
        let result = report.result.label();
        print!(
            "{}",
            json_out(result, Some(&report), report.error.as_deref(), end)?
        );
    }
    match report.result {
        RunResult::Succeeded => Ok(ExitCode::SUCCESS),
        _ => {
            eprintln!(
                "error: {}",
                report.error.as_deref().unwrap_or("the run did not succeed")
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// The plan the flags ask for; live clusters whose provider manages add-ons (EKS) get an
/// add-on step after each hop.
fn plan_for(
    cluster: &dyn ManagedCluster,
    snapshot: &kupgrade_core::ClusterSnapshot,
    flags: &PlanFlags,
) -> kupgrade_core::Result<UpgradePlan> {
    plan_with(
        snapshot,
        &flags.to,
        &flags
            .options(snapshot.provider)
            .with_managed_addons(cluster.capabilities().managed_addons),
    )
}

/// The support calendar: live support dates (EKS DescribeClusterVersions, ...) override the
/// embedded one.
async fn calendar(cluster: &dyn ManagedCluster, provider: kupgrade_core::Provider) -> Calendar {
    let live_windows = match cluster.offered_versions().await {
        Ok(offered) => offered.into_iter().filter_map(|o| o.support).collect(),
        Err(e) => {
            tracing::debug!(%e, "no live support dates; using the embedded calendar");
            Vec::new()
        }
    };
    Calendar::embedded(provider).with_override(live_windows)
}

/// What `kupgrade check --provider` found: the plan it checked and the findings.
pub struct Checked {
    /// The plan to the target.
    pub plan: UpgradePlan,
    /// Every finding, blockers first.
    pub findings: Vec<Finding>,
    /// The ids and descriptions of the checks that ran.
    pub checks: Vec<(&'static str, &'static str)>,
}

/// Plans the upgrade and runs the pre-flight checks of `registry` (plus the cluster's own)
/// for every hop; changes nothing.
pub async fn check(
    cluster: Arc<dyn ManagedCluster>,
    workloads: Arc<dyn ClusterWorkloads>,
    mut registry: CheckRegistry,
    flags: &PlanFlags,
) -> anyhow::Result<Checked> {
    let snapshot = cluster.describe().await?;
    let plan = plan_for(cluster.as_ref(), &snapshot, flags)?;
    let calendar = calendar(cluster.as_ref(), snapshot.provider).await;
    registry.extend(cluster.extra_checks());
    let today = chrono::Utc::now().date_naive();
    let mut findings = Executor::new(cluster, workloads)
        .preflight(&plan, &registry, &calendar, today)
        .await?;
    sort_findings(&mut findings);
    Ok(Checked {
        plan,
        findings,
        checks: registry.describe(),
    })
}

fn confirm(journal: &Journal) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to change the cluster without confirmation; review the plan (or --dry-run) and pass --yes"
        );
    }
    let destructive = journal.plan.steps.iter().filter(|s| s.is_destructive()).count();
    let mut err = std::io::stderr();
    write!(
        err,
        "Run {} step(s) on cluster '{}'{}? [y/N] ",
        journal.plan.steps.len(),
        journal.plan.cluster,
        if destructive > 0 {
            format!(", deleting {destructive} node pool(s) after they are drained")
        } else {
            String::new()
        }
    )?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The runtime for live clouds.
pub fn live_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// A current-thread runtime whose clock is paused: simulated operations finish at once.
pub fn simulated_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?)
}
