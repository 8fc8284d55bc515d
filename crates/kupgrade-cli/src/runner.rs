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
    Calendar, CheckRegistry, ClusterWorkloads, Executor, ExecutorConfig, FileLock, Finding, Journal,
    ManagedCluster, Offer, OfferedVersion, RunOptions, RunResult, UpgradePlan, plan_with,
};

use crate::commands::plan::PlanFlags;
use crate::output::{Output, json};
use crate::report::{PoolJson, RunJson, findings_text, run_text};

/// Where a run keeps its journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalChoice {
    /// No journal (the demo's throwaway cluster).
    Off,
    /// The user's `--journal FILE`: kept after the run.
    Given(PathBuf),
    /// The default journal: this path, or (`None`) one per cluster in [`journal_dir`]. Removed
    /// once a run is verified at its target, so the next upgrade starts fresh.
    Default(Option<PathBuf>),
}

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
    /// Accept a target the provider offers as a preview only.
    pub allow_preview: bool,
    /// Where the journal is kept.
    pub journal: JournalChoice,
    /// Plan again from the cluster as it is now instead of resuming the journal's plan.
    pub replan: bool,
    /// Real time per progress update.
    pub pace: Duration,
    /// Whether the clock is simulated.
    pub simulated: bool,
    /// A function giving the simulator's virtual clock, when simulated.
    pub clock: Option<Box<dyn Fn() -> u64>>,
    /// Where to write a report (Markdown, or JUnit XML for `.xml`).
    pub report: Option<PathBuf>,
    /// Lines printed (text output) once the plan is known, before it.
    pub banner: Option<String>,
    /// The cluster's API, when the run takes the cluster-side Lease lock (live clusters).
    pub cluster_lock: Option<Arc<kupgrade_kube::KubeWorkloads>>,
}

impl RunSettings {
    /// The options a journal records for this run.
    fn run_options(&self) -> RunOptions {
        RunOptions::default()
            .with_lag_limit(self.plan.lag_limit)
            .with_canary_pool(self.plan.canary_pool.clone())
            .with_canary_new_pool(self.plan.canary_new_pool)
            .with_force_drain(self.force_drain)
    }
}

/// The default folder of per-cluster journals: `KUPGRADE_JOURNAL_DIR`, else
/// `$XDG_STATE_HOME/kupgrade/journals`, else `~/.local/state/kupgrade/journals`.
pub fn journal_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KUPGRADE_JOURNAL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("kupgrade").join("journals")
}

/// The default journal of a cluster: `PROVIDER-NAME[-ID HASH].json` in [`journal_dir`]; the
/// hash of the provider id keeps two clusters of one name (other regions, accounts) apart.
fn default_journal(snapshot: &kupgrade_core::ClusterSnapshot) -> PathBuf {
    let name: String = snapshot
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let file = match &snapshot.id {
        Some(id) => {
            let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            format!("{}-{name}-{:08x}.json", snapshot.provider, hash as u32)
        }
        None => format!("{}-{name}.json", snapshot.provider),
    };
    journal_dir().join(file)
}

/// Runs the flow on an already connected cluster, with `registry` (plus the cluster's own
/// checks) as the pre-flight checks.
pub async fn run(
    cluster: Arc<dyn ManagedCluster>,
    workloads: Arc<dyn ClusterWorkloads>,
    mut registry: CheckRegistry,
    settings: RunSettings,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = &settings.report {
        crate::report_file::check_writable(path)?;
    }
    let started_at = settings.clock.as_ref().map_or(0, |c| c());
    let snapshot = cluster.describe().await?;
    let (journal_path, keep_journal) = match &settings.journal {
        JournalChoice::Off => (None, true),
        JournalChoice::Given(path) => (Some(path.clone()), true),
        JournalChoice::Default(path) => (
            Some(path.clone().unwrap_or_else(|| default_journal(&snapshot))),
            false,
        ),
    };
    // Held until the run ends: a second run on this journal is refused at once.
    let _journal_lock = match &journal_path {
        Some(path) if !settings.dry_run => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the journal folder {}", dir.display()))?;
            }
            Some(FileLock::acquire(path)?)
        }
        _ => None,
    };
    let options = settings.run_options();
    let recorded = match &journal_path {
        Some(path) => Journal::load(path)?.map(|j| (path, j)),
        None => None,
    };
    let mut journal = match recorded {
        Some((path, _)) if settings.replan => {
            eprintln!(
                "Re-planning from the cluster as it is now; the journal {} is replaced.",
                path.display()
            );
            new_journal(cluster.as_ref(), &snapshot, &settings, options)?
        }
        Some((path, j)) => {
            if let Err(mismatch) =
                j.check_resumable(&snapshot, &settings.plan.to, settings.plan.strategy, &options)
            {
                bail!(
                    "journal {} cannot be resumed: {mismatch}; rerun with the options it was planned with, pass --replan to plan again from the cluster as it is now, or remove the journal to start fresh",
                    path.display()
                );
            }
            eprintln!("Resuming the run recorded in {}.", path.display());
            j
        }
        None => new_journal(cluster.as_ref(), &snapshot, &settings, options)?,
    };
    let mut config = ExecutorConfig::default();
    config.drain.force = settings.force_drain;
    let executor = Executor::new(cluster.clone(), workloads)
        .with_config(config)
        .with_events(crate::progress::sink(settings.pace));
    let executor = match &journal_path {
        Some(path) if !settings.dry_run => executor.with_journal_path(path),
        _ => executor,
    };
    let today = chrono::Utc::now().date_naive();
    let offer = ProviderOffer::read(cluster.as_ref(), snapshot.provider).await;
    registry.extend(cluster.extra_checks());
    let findings = executor
        .preflight(
            &journal.plan,
            &registry,
            &offer.calendar,
            today,
            offer.offer(),
            settings.allow_preview,
        )
        .await?;
    let text = settings.output == Output::Text;
    if text {
        if let Some(banner) = &settings.banner {
            println!("{banner}");
        }
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
    // Registered before the journal line, so a Ctrl-C from then on is always ours to handle.
    let mut interrupt = Interrupt::register()?;
    if let Some(path) = &journal_path {
        eprintln!(
            "Journal: {} (if the run is interrupted, rerun the same command to resume).",
            path.display()
        );
    }
    // Two machines respect this one: a file lock cannot see the other machine.
    let lease = match &settings.cluster_lock {
        Some(kube) => Some(
            kupgrade_kube::ClusterLease::acquire(
                kube.client().clone(),
                &kupgrade_core::lock::holder_description(),
            )
            .await?,
        ),
        None => None,
    };
    let outcome = tokio::select! {
        report = executor.run(&mut journal) => Ok(report),
        code = interrupt.wait() => Err(code),
    };
    if let Some(lease) = lease
        && let Err(e) = lease.release().await
    {
        eprintln!("warning: the cluster Lease was not released ({e}); it expires by itself within a minute");
    }
    let report = match outcome {
        Ok(report) => report?,
        Err(code) => {
            eprintln!("{}", interrupted_message(journal_path.as_deref()));
            return Ok(ExitCode::from(code));
        }
    };
    if report.result == RunResult::Succeeded
        && !keep_journal
        && let Some(path) = &journal_path
    {
        // Verified at the target: the next upgrade of this cluster starts a fresh journal.
        std::fs::remove_file(path)
            .with_context(|| format!("removing the finished journal {}", path.display()))?;
    }
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

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM (what CI systems and `timeout` send on cancel), caught
/// from the moment they are registered.
struct Interrupt {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn register() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).context("installing the Ctrl-C handler")?,
                terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for a signal; the exit code the shell convention gives it (130 SIGINT, 143 SIGTERM).
    async fn wait(&mut self) -> u8 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => 130,
                _ = self.terminate.recv() => 143,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            130
        }
    }
}

/// What Ctrl-C prints: what keeps running and how to resume.
fn interrupted_message(journal: Option<&std::path::Path>) -> String {
    match journal {
        Some(path) => format!(
            "interrupted: progress is saved in the journal {}; an operation already started keeps running at the provider. Rerun the same command to wait for it and resume.",
            path.display()
        ),
        None => "interrupted: nothing is saved for this run (it has no journal).".to_string(),
    }
}

/// A fresh journal for the plan the settings ask for, bound to the cluster as read.
fn new_journal(
    cluster: &dyn ManagedCluster,
    snapshot: &kupgrade_core::ClusterSnapshot,
    settings: &RunSettings,
    options: RunOptions,
) -> anyhow::Result<Journal> {
    let plan = plan_for(cluster, snapshot, &settings.plan)?;
    Ok(Journal::for_cluster(plan, snapshot, options))
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

/// What the provider offers for the cluster, read once before the checks: the versions (the
/// target is checked against them, KUP-VER-001) and the support calendar, whose live dates
/// (EKS DescribeClusterVersions, ...) override the embedded ones.
struct ProviderOffer {
    /// The offered versions, or why they could not be read.
    offered: std::result::Result<Vec<OfferedVersion>, String>,
    /// The support calendar.
    calendar: Calendar,
}

impl ProviderOffer {
    async fn read(cluster: &dyn ManagedCluster, provider: kupgrade_core::Provider) -> Self {
        let offered = cluster.offered_versions().await.map_err(|e| e.to_string());
        let live_windows = match &offered {
            Ok(offered) => offered.iter().filter_map(|o| o.support.clone()).collect(),
            Err(e) => {
                tracing::debug!(%e, "no live support dates; using the embedded calendar");
                Vec::new()
            }
        };
        Self {
            offered,
            calendar: Calendar::embedded(provider).with_override(live_windows),
        }
    }

    fn offer(&self) -> Offer<'_> {
        match &self.offered {
            Ok(list) => Offer::Listed(list),
            Err(why) => Offer::Unreadable(why),
        }
    }
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
/// for every hop, the provider's offer included (`allow_preview`: a preview target warns
/// instead of blocking); changes nothing.
pub async fn check(
    cluster: Arc<dyn ManagedCluster>,
    workloads: Arc<dyn ClusterWorkloads>,
    mut registry: CheckRegistry,
    flags: &PlanFlags,
    allow_preview: bool,
) -> anyhow::Result<Checked> {
    let snapshot = cluster.describe().await?;
    let plan = plan_for(cluster.as_ref(), &snapshot, flags)?;
    let offer = ProviderOffer::read(cluster.as_ref(), snapshot.provider).await;
    registry.extend(cluster.extra_checks());
    let today = chrono::Utc::now().date_naive();
    let mut findings = Executor::new(cluster, workloads)
        .preflight(
            &plan,
            &registry,
            &offer.calendar,
            today,
            offer.offer(),
            allow_preview,
        )
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
        .enable_io()
        .start_paused(true)
        .build()?)
}
