//! The shared flow of `kupgrade upgrade` and `kupgrade demo`: plan (or resume the journal's
//! plan), pre-flight checks, confirmation, execution with progress, report.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use kupgrade_core::render::render_text;
use kupgrade_core::session::{JournalState, PrepareOptions, Upgrade};
use kupgrade_core::{CheckRegistry, ClusterWorkloads, Finding, ManagedCluster, RunResult, UpgradePlan};

use crate::output::{Output, json};
use crate::plan_flags::PlanFlags;
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
    /// Terraform or eksctl files that declare this cluster (`--iac`): a warning, with the
    /// edits, when they declare other versions than the run leaves.
    pub iac: Vec<PathBuf>,
    /// The add-on catalog and what is installed, for the plan's `addon` steps.
    pub addons: Option<kupgrade_core::addons::AddonPlanInput>,
}

impl RunSettings {
    /// What the session is asked to do.
    fn prepare_options(&self) -> PrepareOptions {
        self.plan
            .prepare_options()
            .with_force_drain(self.force_drain)
            .with_allow_preview(self.allow_preview)
            .with_replan(self.replan)
            .with_dry_run(self.dry_run)
            .with_addons(self.addons.clone())
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

/// Runs the flow on an already connected cluster, with `registry` (plus the cluster's own
/// checks) as the pre-flight checks.
pub async fn run(
    cluster: Arc<dyn ManagedCluster>,
    workloads: Arc<dyn ClusterWorkloads>,
    registry: CheckRegistry,
    settings: RunSettings,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = &settings.report {
        crate::report_file::check_writable(path)?;
    }
    let started_at = settings.clock.as_ref().map_or(0, |c| c());
    let session = Upgrade::new(cluster)
        .with_workloads(workloads)
        .with_checks(registry)
        .with_events(crate::progress::sink(settings.pace));
    let session = match &settings.journal {
        JournalChoice::Off => session,
        JournalChoice::Given(path) => session.with_journal(path),
        JournalChoice::Default(Some(path)) => session.with_journal_until_done(path),
        JournalChoice::Default(None) => session.with_journal_folder(journal_dir()),
    };
    let mut prepared = match session
        .prepare(&settings.plan.to, &settings.prepare_options())
        .await
    {
        Err(e @ kupgrade_core::Error::JournalNotResumable { .. }) => bail!(
            "{e}; rerun with the options it was planned with, pass --replan to plan again from the cluster as it is now, or remove the journal to start fresh"
        ),
        other => other?,
    };
    let journal_path = match prepared.journal() {
        JournalState::Resumed(path) => {
            eprintln!("Resuming the run recorded in {}.", path.display());
            Some(path.clone())
        }
        JournalState::Replanned(path) => {
            eprintln!(
                "Re-planning from the cluster as it is now; the journal {} is replaced.",
                path.display()
            );
            Some(path.clone())
        }
        JournalState::Fresh(path) => Some(path.clone()),
        _ => None,
    };
    let snapshot = prepared.snapshot().clone();
    let findings = crate::hints::findings_with_advice(prepared.findings());
    let text = settings.output == Output::Text;
    if text {
        if let Some(banner) = &settings.banner {
            println!("{banner}");
        }
        print!("{}", render_text(prepared.plan()));
        print!("{}", findings_text(&findings));
    }
    if !settings.iac.is_empty()
        && let Some(warning) = crate::commands::iac::drift_warning(&settings.iac, prepared.plan())?
    {
        eprint!("{warning}");
    }
    let blocking = prepared.blockers();
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
    let checks = prepared.checks().to_vec();
    let plan = prepared.plan().clone();
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
    if !settings.yes && !confirm(prepared.plan())? {
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
        report = prepared.run() => Ok(report),
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
                crate::hints::with_advice(
                    report.error.as_deref().unwrap_or("the run did not succeed"),
                    report.failure.as_deref()
                )
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
    registry: CheckRegistry,
    flags: &PlanFlags,
    allow_preview: bool,
    today: Option<chrono::NaiveDate>,
) -> anyhow::Result<Checked> {
    let mut upgrade = Upgrade::new(cluster)
        .with_workloads(workloads)
        .with_checks(registry);
    if let Some(today) = today {
        upgrade = upgrade.with_today(today);
    }
    let prepared = upgrade
        .prepare(
            &flags.to,
            &flags
                .prepare_options()
                .with_allow_preview(allow_preview)
                .with_dry_run(true),
        )
        .await?;
    Ok(Checked {
        plan: prepared.plan().clone(),
        findings: crate::hints::findings_with_advice(prepared.findings()),
        checks: prepared.checks().to_vec(),
    })
}

fn confirm(plan: &UpgradePlan) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to change the cluster without confirmation; review the plan (or --dry-run) and pass --yes"
        );
    }
    let destructive = plan.steps.iter().filter(|s| s.is_destructive()).count();
    let mut err = std::io::stderr();
    write!(
        err,
        "Run {} step(s) on cluster '{}'{}? [y/N] ",
        plan.steps.len(),
        plan.cluster,
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
