//! The `UpgradeRun` reconciler: freeze the strategy, walk the stages (before-gates, clusters up
//! to the stage's concurrency, failure threshold, soak, after-gates), honour `Stop`/`Run` and
//! retries, and write the run's status. Each cluster is upgraded by a worker (a task running the
//! core `Upgrade` session) started only after the status saying so is stored, so a restarted
//! operator knows every cluster that may have begun.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, Resource, ResourceExt};
use kupgrade_core::KubeVersion;
use serde_json::json;

use crate::error::{Error, Result};
use crate::gates::{GateAt, Verdict, judge};
use crate::operator::{ClusterKey, Operator};
use crate::resources::conditions::set_condition;
use crate::resources::{
    ApprovalGateSide, ClusterPhase, ClusterProgress, ManagedClusterRef, RunPhase, RunState, Stage,
    StagePhase, StageProgress, UpgradeRun, UpgradeRunStatus, UpgradeStrategy, parse_duration,
};
use crate::worker::{Assignment, Outcome};

/// The finalizer that lets a deleted run stop its workers and free its clusters.
pub const FINALIZER: &str = "kupgrade.io/release-clusters";

/// How long to wait before looking at a running run again when nothing wakes it sooner.
const IDLE_REQUEUE: Duration = Duration::from_secs(60);

/// Reconciles one `UpgradeRun` (the controller's entry point): adds the finalizer, advances
/// the run, or cleans up after a deletion.
pub async fn reconcile(run: Arc<UpgradeRun>, operator: Arc<Operator>) -> Result<Action> {
    operator
        .stats
        .reconciles
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if !operator.is_leader() {
        return Ok(Action::requeue(Duration::from_secs(5)));
    }
    let namespace = run
        .namespace()
        .ok_or_else(|| Error::Invalid("an UpgradeRun must be namespaced".into()))?;
    let api = Api::<UpgradeRun>::namespaced(operator.client.clone(), &namespace);
    finalizer(&api, FINALIZER, run, |event| async {
        match event {
            Finalizer::Apply(run) => advance_run(&operator, &api, &run).await,
            Finalizer::Cleanup(run) => release(&operator, &run).await,
        }
    })
    .await
    .map_err(|e| Error::Invalid(format!("UpgradeRun finalizer: {e}")))
}

/// What to publish as a Kubernetes event once the status is stored.
struct Note {
    warning: bool,
    reason: &'static str,
    message: String,
}

/// The status changes of one reconcile, and what follows from them.
struct Pass<'a> {
    operator: &'a Arc<Operator>,
    run: &'a UpgradeRun,
    namespace: String,
    uid: String,
    now: DateTime<Utc>,
    status: UpgradeRunStatus,
    notes: Vec<Note>,
    start: Vec<Assignment>,
    wake_at: Option<DateTime<Utc>>,
    awaiting_approval: Option<String>,
}

impl Pass<'_> {
    fn note(&mut self, warning: bool, reason: &'static str, message: impl Into<String>) {
        self.notes.push(Note {
            warning,
            reason,
            message: message.into(),
        });
    }

    fn wake(&mut self, at: DateTime<Utc>) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    fn key(&self, cluster: &str) -> ClusterKey {
        ClusterKey {
            namespace: self.namespace.clone(),
            run_uid: self.uid.clone(),
            cluster: cluster.to_string(),
        }
    }

    /// What a worker for attempt `attempt` on `cluster` runs: the run's target and its frozen
    /// upgrade settings.
    fn assignment(&self, cluster: &str, attempt: u32) -> Result<Assignment> {
        Ok(Assignment {
            key: self.key(cluster),
            run_name: self.run.name_any(),
            attempt,
            target: self.target()?,
            settings: self
                .status
                .strategy
                .as_ref()
                .map(|s| s.upgrade.clone())
                .unwrap_or_default(),
        })
    }

    /// Stage `index` of the frozen strategy.
    fn stage_spec(&self, index: usize) -> Result<Stage> {
        self.status
            .strategy
            .as_ref()
            .and_then(|s| s.stages.get(index).cloned())
            .ok_or_else(|| Error::Invalid("the run's status lost its frozen strategy".into()))
    }

    /// Sets condition `type_` of the run, as of this pass.
    fn condition(&mut self, type_: &str, status: bool, reason: &str, message: &str) {
        set_condition(
            &mut self.status.conditions,
            type_,
            status,
            reason,
            message,
            self.now,
            self.run.metadata.generation,
        );
    }

    fn target(&self) -> Result<KubeVersion> {
        KubeVersion::parse(&self.run.spec.target_version)
            .map_err(|e| Error::Invalid(format!("spec.targetVersion: {e}")))
    }
}

async fn advance_run(operator: &Arc<Operator>, api: &Api<UpgradeRun>, run: &UpgradeRun) -> Result<Action> {
    let uid = run.uid().unwrap_or_default();
    let before = run.status.clone().unwrap_or_default();
    let mut pass = Pass {
        operator,
        run,
        namespace: run.namespace().unwrap_or_default(),
        uid,
        now: operator.clock.now(),
        status: before.clone(),
        notes: Vec::new(),
        start: Vec::new(),
        wake_at: None,
        awaiting_approval: None,
    };
    if pass.status.phase == RunPhase::Pending && run.spec.state == RunState::Stop {
        // Created stopped: nothing is frozen or selected until it is set to Run.
        summarize(&mut pass);
        write(api, &pass, &before).await?;
        return Ok(Action::await_change());
    }
    if pass.status.phase == RunPhase::Pending && !start(&mut pass).await? {
        summarize(&mut pass);
        write(api, &pass, &before).await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    }
    retry(&mut pass);
    match (run.spec.state, pass.status.phase) {
        (RunState::Stop, RunPhase::Running) => {
            operator.stop_run(&pass.uid);
            pass.status.phase = RunPhase::Stopped;
            pass.note(false, "Stopped", "spec.state is Stop: no cluster starts, the upgrading ones were stopped with their journals kept");
        }
        (RunState::Run, RunPhase::Stopped) => {
            pass.status.phase = RunPhase::Running;
            pass.note(
                false,
                "Resumed",
                "spec.state is Run: the upgrading clusters resume their journals",
            );
        }
        (RunState::Stop, RunPhase::Failed) => {
            // The clusters a failed run was still finishing stop too (journals kept).
            operator.stop_run(&pass.uid);
        }
        (RunState::Stop, RunPhase::Succeeded) => {
            tracing::debug!("Stop on a succeeded run changes nothing");
        }
        _ => {}
    }
    if pass.status.phase != RunPhase::Pending {
        apply_reports(&mut pass)?;
    }
    if pass.status.phase == RunPhase::Running {
        walk_stages(&mut pass).await?;
    }
    summarize(&mut pass);
    if !write(api, &pass, &before).await? {
        return Ok(Action::requeue(Duration::from_millis(200)));
    }
    for job in std::mem::take(&mut pass.start) {
        operator.start(job);
    }
    let reference = run.object_ref(&());
    for note in &pass.notes {
        let event = KubeEvent {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.into(),
            note: Some(truncate(&note.message, 1000)),
            action: "Upgrade".into(),
            secondary: None,
        };
        if let Err(e) = operator.recorder.publish(&event, &reference).await {
            tracing::warn!(%e, reason = note.reason, "could not publish an event");
        }
    }
    Ok(match pass.status.phase {
        RunPhase::Running => {
            let wait = pass
                .wake_at
                .and_then(|at| (at - pass.now).to_std().ok())
                .unwrap_or(IDLE_REQUEUE)
                .min(IDLE_REQUEUE);
            Action::requeue(wait.max(Duration::from_millis(100)))
        }
        RunPhase::Succeeded => {
            operator.forget_run(&pass.uid);
            Action::await_change()
        }
        _ => Action::await_change(),
    })
}

/// Freezes the strategy and selects the clusters. `false` when the run cannot start yet (its
/// strategy is missing); an unusable strategy or target fails the run.
async fn start(pass: &mut Pass<'_>) -> Result<bool> {
    let strategies = Api::<UpgradeStrategy>::namespaced(pass.operator.client.clone(), &pass.namespace);
    let strategy_name = pass.run.spec.strategy_ref.clone();
    let Some(strategy) = strategies.get_opt(&strategy_name).await? else {
        let message = format!(
            "UpgradeStrategy {}/{strategy_name} does not exist; create it (the run starts then)",
            pass.namespace
        );
        pass.status.stage = None;
        pass.condition("Ready", false, "StrategyNotFound", &message);
        return Ok(false);
    };
    let problem = strategy
        .spec
        .validate()
        .map_err(|e| format!("UpgradeStrategy {strategy_name}: {e}"))
        .and_then(|()| pass.target().map(|_| ()).map_err(|e| e.to_string()));
    if let Err(message) = problem {
        fail(pass, "InvalidSpec", message);
        return Ok(true);
    }
    let refs = Api::<ManagedClusterRef>::namespaced(pass.operator.client.clone(), &pass.namespace)
        .list(&ListParams::default())
        .await?;
    let mut clusters: Vec<ClusterProgress> = Vec::new();
    let mut refs = refs.items;
    refs.sort_by_key(|r| r.name_any());
    for stage in &strategy.spec.stages {
        for r in &refs {
            let labels = r.labels();
            let selected = stage.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
            if selected && !clusters.iter().any(|c| c.name == r.name_any()) {
                clusters.push(ClusterProgress {
                    name: r.name_any(),
                    stage: stage.name.clone(),
                    ..ClusterProgress::default()
                });
            }
        }
    }
    if clusters.is_empty() {
        fail(
            pass,
            "NoClusters",
            format!(
                "no ManagedClusterRef in namespace {} matches any stage's matchLabels",
                pass.namespace
            ),
        );
        return Ok(true);
    }
    let per_stage: Vec<String> = strategy
        .spec
        .stages
        .iter()
        .map(|s| {
            format!(
                "{} ({})",
                s.name,
                clusters.iter().filter(|c| c.stage == s.name).count()
            )
        })
        .collect();
    pass.status.stages = strategy
        .spec
        .stages
        .iter()
        .map(|s| StageProgress {
            name: s.name.clone(),
            ..StageProgress::default()
        })
        .collect();
    pass.status.strategy_generation = strategy.metadata.generation;
    pass.status.strategy = Some(strategy.spec);
    pass.status.started_at = Some(pass.now);
    pass.status.phase = RunPhase::Running;
    let message = format!(
        "{} cluster(s) to {} in stages {}; UpgradeStrategy {strategy_name} frozen at generation {}",
        clusters.len(),
        pass.run.spec.target_version,
        per_stage.join(", "),
        pass.status.strategy_generation.unwrap_or_default()
    );
    pass.status.clusters = clusters;
    pass.note(false, "Started", message);
    Ok(true)
}

fn fail(pass: &mut Pass<'_>, reason: &'static str, message: String) {
    pass.status.phase = RunPhase::Failed;
    pass.status.finished_at = Some(pass.now);
    pass.condition("Stalled", true, reason, &message);
    pass.note(true, reason, message);
}

/// A raised `spec.retryFailed`: failed clusters go back to Pending (each resumes its journal in
/// its next attempt, with the run's frozen settings) and failed stages upgrade again.
fn retry(pass: &mut Pass<'_>) {
    let asked = pass.run.spec.retry_failed;
    if asked <= pass.status.retries_done {
        return;
    }
    pass.status.retries_done = asked;
    if !matches!(
        pass.status.phase,
        RunPhase::Running | RunPhase::Failed | RunPhase::Stopped
    ) {
        return;
    }
    if pass.status.strategy.is_none() {
        // It failed before starting (a bad strategy, no clusters): start it again.
        pass.status = UpgradeRunStatus {
            retries_done: asked,
            ..UpgradeRunStatus::default()
        };
        pass.note(
            false,
            "Retrying",
            "the run failed before it started; starting it again",
        );
        return;
    }
    let mut retried = Vec::new();
    for c in pass
        .status
        .clusters
        .iter_mut()
        .filter(|c| c.phase == ClusterPhase::Failed)
    {
        c.phase = ClusterPhase::Pending;
        retried.push(c.name.clone());
    }
    // The earliest stage with a retried cluster (or a failed gate) upgrades again; the stages
    // after it go back to Pending, so their gates and soaks are judged again in order.
    let first = pass.status.stages.iter().position(|s| {
        s.phase == StagePhase::Failed
            || retried
                .iter()
                .any(|name| pass.status.cluster(name).is_some_and(|c| c.stage == s.name))
    });
    if let Some(first) = first {
        for (i, s) in pass.status.stages.iter_mut().enumerate().skip(first) {
            let started = s.phase != StagePhase::Pending;
            if i == first || started {
                s.phase = if i == first {
                    StagePhase::Upgrading
                } else {
                    StagePhase::Pending
                };
                s.gate = 0;
                s.message = None;
                s.since = Some(pass.now);
            }
        }
    }
    if pass.status.phase == RunPhase::Failed {
        pass.status.phase = RunPhase::Running;
        pass.status.finished_at = None;
        pass.condition("Stalled", false, "Retrying", "failed clusters are retried");
    }
    pass.note(
        false,
        "Retrying",
        format!(
            "retrying {} failed cluster(s) with the same settings: {}",
            retried.len(),
            retried.join(", ")
        ),
    );
}

/// Copies what workers reported into the status; restarts (resumes) a worker for every
/// upgrading cluster this process runs none for.
fn apply_reports(pass: &mut Pass<'_>) -> Result<()> {
    // A failed run still finishes (and resumes) the clusters it had begun, unless stopped.
    let running = matches!(pass.status.phase, RunPhase::Running | RunPhase::Failed)
        && pass.run.spec.state == RunState::Run;
    let target = pass.run.spec.target_version.clone();
    let mut notes = Vec::new();
    let mut starts = Vec::new();
    for i in 0..pass.status.clusters.len() {
        if pass.status.clusters[i].phase != ClusterPhase::Upgrading {
            continue;
        }
        let key = pass.key(&pass.status.clusters[i].name);
        let c = &mut pass.status.clusters[i];
        let report = pass.operator.report(&key).filter(|r| r.attempt == c.attempts);
        if let Some(r) = &report {
            if let Some(p) = &r.progress {
                c.steps_done = p.steps_done;
                c.steps_total = p.steps_total;
                c.operations_in_flight = p.in_flight.clone();
            }
            if let Some(n) = &r.note {
                c.message = Some(n.clone());
            }
            if let Some(outcome) = &r.outcome {
                c.operations_started += r.operations_started;
                c.operations_in_flight.clear();
                match outcome {
                    Outcome::Succeeded => {
                        c.phase = ClusterPhase::Succeeded;
                        c.steps_done = c.steps_total;
                        c.message = Some(format!("at {target}, verified"));
                        notes.push((
                            false,
                            "ClusterSucceeded",
                            format!("cluster {} is at {target}, verified", c.name),
                        ));
                    }
                    Outcome::Failed(why) => {
                        c.phase = ClusterPhase::Failed;
                        c.message = Some(why.clone());
                        notes.push((true, "ClusterFailed", format!("cluster {} failed: {why}", c.name)));
                    }
                }
                continue;
            }
        }
        if running && !pass.operator.has_worker(&key, c.attempts) {
            // Begun before a restart, a leadership change or a Stop: resume its journal.
            starts.push((c.name.clone(), c.attempts));
        }
    }
    for (warning, reason, message) in notes {
        pass.note(warning, reason, message);
    }
    for (name, attempt) in starts {
        let job = pass.assignment(&name, attempt)?;
        pass.start.push(job);
    }
    Ok(())
}

/// Where a gate side stands after judging its gates in order.
enum Gates {
    Passed,
    Waiting,
    Failed(String),
}

async fn judge_side(pass: &mut Pass<'_>, index: usize, side: ApprovalGateSide) -> Result<Gates> {
    let target = pass.target()?;
    let stage_spec = pass.stage_spec(index)?;
    let gates = match side {
        ApprovalGateSide::Before => &stage_spec.before,
        ApprovalGateSide::After => &stage_spec.after,
    };
    loop {
        let stage = &pass.status.stages[index];
        let Some(gate) = gates.get(stage.gate as usize) else {
            return Ok(Gates::Passed);
        };
        let at = GateAt {
            namespace: &pass.namespace,
            run: &pass.run.name_any(),
            stage: &stage.name,
            side,
            since: stage.since.unwrap_or(pass.now),
            run_created: pass.run.metadata.creation_timestamp.as_ref().map(|t| t.0),
        };
        let verdict = judge(pass.operator, gate, &at, &pass.status, &target).await?;
        let stage_name = stage.name.clone();
        match verdict {
            Verdict::Passed(what) => {
                let stage = &mut pass.status.stages[index];
                stage.gate += 1;
                stage.since = Some(pass.now);
                stage.message = None;
                pass.note(
                    false,
                    "GatePassed",
                    format!("stage {stage_name}, {side:?} gate: {what}"),
                );
            }
            Verdict::Waiting {
                message,
                approval,
                until,
            } => {
                if let Some(until) = until {
                    pass.wake(until);
                }
                if approval {
                    pass.awaiting_approval = Some(format!("stage {stage_name}: {message}"));
                }
                let stage = &mut pass.status.stages[index];
                if stage.message.as_deref() != Some(message.as_str()) && approval {
                    pass.note(
                        false,
                        "AwaitingApproval",
                        format!("stage {stage_name}: {message}"),
                    );
                }
                pass.status.stages[index].message = Some(message);
                return Ok(Gates::Waiting);
            }
            Verdict::Failed(why) => return Ok(Gates::Failed(why)),
        }
    }
}

/// Moves the current stage as far as it can go now.
async fn walk_stages(pass: &mut Pass<'_>) -> Result<()> {
    loop {
        let Some(index) = pass
            .status
            .stages
            .iter()
            .position(|s| s.phase != StagePhase::Passed)
        else {
            let failed: Vec<String> = pass
                .status
                .clusters
                .iter()
                .filter(|c| c.phase == ClusterPhase::Failed)
                .map(|c| c.name.clone())
                .collect();
            if !failed.is_empty() {
                let message = format!(
                    "every stage passed, but {} cluster(s) failed within their stage's maxFailures: {}; raise spec.retryFailed to retry them",
                    failed.len(),
                    failed.join(", ")
                );
                fail(pass, "ClustersFailed", message);
                return Ok(());
            }
            pass.status.phase = RunPhase::Succeeded;
            pass.status.finished_at = Some(pass.now);
            let n = pass.status.clusters.len();
            pass.note(
                false,
                "Succeeded",
                format!(
                    "every stage passed: {n} cluster(s) at {}",
                    pass.run.spec.target_version
                ),
            );
            return Ok(());
        };
        let spec = pass.stage_spec(index)?;
        let now = pass.now;
        match pass.status.stages[index].phase {
            StagePhase::Pending => {
                let stage = &mut pass.status.stages[index];
                stage.phase = StagePhase::GatingBefore;
                stage.since = Some(now);
                stage.gate = 0;
            }
            StagePhase::GatingBefore => match judge_side(pass, index, ApprovalGateSide::Before).await? {
                Gates::Passed => {
                    let stage = &mut pass.status.stages[index];
                    stage.phase = StagePhase::Upgrading;
                    stage.since = Some(now);
                    stage.gate = 0;
                    stage.message = None;
                    pass.note(false, "StageStarted", format!("stage {} starts", spec.name));
                }
                Gates::Waiting => return Ok(()),
                Gates::Failed(why) => return fail_stage(pass, index, why),
            },
            StagePhase::Upgrading => {
                let failed: Vec<&str> = pass
                    .status
                    .clusters
                    .iter()
                    .filter(|c| c.stage == spec.name && c.phase == ClusterPhase::Failed)
                    .map(|c| c.name.as_str())
                    .collect();
                if failed.len() as u32 > spec.max_failures {
                    let message = format!(
                        "{} cluster(s) failed ({}), over the stage's maxFailures of {}; no more clusters start (raise spec.retryFailed to retry them)",
                        failed.len(),
                        failed.join(", "),
                        spec.max_failures
                    );
                    return fail_stage(pass, index, message);
                }
                let mut running = pass
                    .status
                    .clusters
                    .iter()
                    .filter(|c| c.stage == spec.name && c.phase == ClusterPhase::Upgrading)
                    .count() as u32;
                let mut starts = Vec::new();
                for c in pass.status.clusters.iter_mut().filter(|c| c.stage == spec.name) {
                    if running >= spec.max_concurrent {
                        break;
                    }
                    if c.phase != ClusterPhase::Pending {
                        continue;
                    }
                    c.phase = ClusterPhase::Upgrading;
                    c.attempts += 1;
                    c.message = Some("starting".into());
                    c.operations_in_flight.clear();
                    running += 1;
                    starts.push((c.name.clone(), c.attempts));
                }
                for (name, attempt) in starts {
                    let job = pass.assignment(&name, attempt)?;
                    pass.start.push(job);
                }
                let all_ended = pass
                    .status
                    .clusters
                    .iter()
                    .filter(|c| c.stage == spec.name)
                    .all(|c| matches!(c.phase, ClusterPhase::Succeeded | ClusterPhase::Failed));
                if !all_ended {
                    return Ok(());
                }
                let stage = &mut pass.status.stages[index];
                stage.phase = StagePhase::Soaking;
                stage.since = Some(now);
            }
            StagePhase::Soaking => {
                let soak = spec
                    .soak
                    .as_deref()
                    .map(parse_duration)
                    .transpose()
                    .map_err(Error::Invalid)?
                    .unwrap_or_default();
                let since = pass.status.stages[index].since.unwrap_or(now);
                let until = since + chrono::Duration::from_std(soak).unwrap_or_default();
                if now < until {
                    pass.status.stages[index].message = Some(format!("soaking until {}", until.to_rfc3339()));
                    pass.wake(until);
                    return Ok(());
                }
                let stage = &mut pass.status.stages[index];
                stage.phase = StagePhase::GatingAfter;
                stage.since = Some(now);
                stage.gate = 0;
                stage.message = None;
            }
            StagePhase::GatingAfter => match judge_side(pass, index, ApprovalGateSide::After).await? {
                Gates::Passed => {
                    let stage = &mut pass.status.stages[index];
                    stage.phase = StagePhase::Passed;
                    stage.since = Some(now);
                    stage.message = None;
                    pass.note(false, "StagePassed", format!("stage {} passed", spec.name));
                }
                Gates::Waiting => return Ok(()),
                Gates::Failed(why) => return fail_stage(pass, index, why),
            },
            StagePhase::Failed | StagePhase::Passed => return Ok(()),
        }
    }
}

fn fail_stage(pass: &mut Pass<'_>, index: usize, why: String) -> Result<()> {
    let stage = &mut pass.status.stages[index];
    stage.phase = StagePhase::Failed;
    stage.message = Some(why.clone());
    let message = format!("stage {}: {why}", stage.name);
    fail(pass, "StageFailed", message);
    Ok(())
}

/// The printed columns and conditions, from the rest of the status.
fn summarize(pass: &mut Pass<'_>) {
    let s = &mut pass.status;
    s.observed_generation = pass.run.metadata.generation;
    s.stage = s
        .stages
        .iter()
        .find(|st| st.phase != StagePhase::Passed)
        .or(s.stages.last())
        .map(|st| st.name.clone());
    if !s.clusters.is_empty() {
        let done = s
            .clusters
            .iter()
            .filter(|c| c.phase == ClusterPhase::Succeeded)
            .count();
        let failed = s
            .clusters
            .iter()
            .filter(|c| c.phase == ClusterPhase::Failed)
            .count();
        s.progress = Some(match failed {
            0 => format!("{done}/{}", s.clusters.len()),
            f => format!("{done}/{} ({f} failed)", s.clusters.len()),
        });
    }
    let generation = pass.run.metadata.generation;
    let now = pass.now;
    let (ready, reason, message) = match s.phase {
        RunPhase::Succeeded => (
            true,
            "Succeeded",
            "every cluster is at the target, verified".to_string(),
        ),
        RunPhase::Pending => (false, "Pending", "the run has not started".to_string()),
        RunPhase::Running => (
            false,
            "Running",
            format!("stage {}", s.stage.clone().unwrap_or_default()),
        ),
        RunPhase::Stopped => (false, "Stopped", "spec.state is Stop".to_string()),
        RunPhase::Failed => (
            false,
            "Failed",
            s.stages
                .iter()
                .find_map(|st| {
                    (st.phase == StagePhase::Failed)
                        .then(|| st.message.clone())
                        .flatten()
                })
                .unwrap_or_else(|| "the run failed".into()),
        ),
    };
    if s.phase != RunPhase::Pending || s.conditions.iter().all(|c| c.type_ != "Ready") {
        set_condition(
            &mut s.conditions,
            "Ready",
            ready,
            reason,
            &message,
            now,
            generation,
        );
    }
    set_condition(
        &mut s.conditions,
        "Progressing",
        s.phase == RunPhase::Running,
        reason,
        &message,
        now,
        generation,
    );
    if s.phase != RunPhase::Failed {
        set_condition(&mut s.conditions, "Stalled", false, reason, "", now, generation);
    }
    match &pass.awaiting_approval {
        Some(what) => set_condition(
            &mut s.conditions,
            "WaitingForApproval",
            true,
            "ApprovalRequired",
            what,
            now,
            generation,
        ),
        None => set_condition(
            &mut s.conditions,
            "WaitingForApproval",
            false,
            "NoApprovalPending",
            "",
            now,
            generation,
        ),
    };
}

/// Stores the status when it changed (compare-and-swap on the run's resource version).
/// `false` when the run changed meanwhile: the next reconcile reads it again.
async fn write(api: &Api<UpgradeRun>, pass: &Pass<'_>, before: &UpgradeRunStatus) -> Result<bool> {
    if pass.status == *before {
        return Ok(true);
    }
    let mut run = pass.run.clone();
    run.status = Some(pass.status.clone());
    match api
        .replace_status(&run.name_any(), &PostParams::default(), &run)
        .await
    {
        Ok(_) => {
            pass.operator
                .stats
                .run_status_writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(true)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A deleted run: stop its workers and free the clusters it holds (their journals go with
/// the claim; provider operations already started finish on the provider's side).
async fn release(operator: &Arc<Operator>, run: &UpgradeRun) -> Result<Action> {
    let uid = run.uid().unwrap_or_default();
    operator.forget_run(&uid);
    let namespace = run.namespace().unwrap_or_default();
    let refs = Api::<ManagedClusterRef>::namespaced(operator.client.clone(), &namespace);
    for r in refs.list(&ListParams::default()).await?.items {
        let held = r
            .status
            .as_ref()
            .and_then(|s| s.upgrade.as_ref())
            .is_some_and(|u| u.run_uid == uid);
        if held {
            // Only if still this run's (another run may have claimed it since the list).
            let patch: json_patch::Patch = serde_json::from_value(json!([
                {"op": "test", "path": "/status/upgrade/runUid", "value": uid},
                {"op": "replace", "path": "/status/upgrade", "value": null},
            ]))
            .map_err(|e| Error::Invalid(e.to_string()))?;
            match refs
                .patch_status(&r.name_any(), &PatchParams::default(), &Patch::Json::<()>(patch))
                .await
            {
                Ok(_) | Err(kube::Error::Api(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Action::await_change())
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
