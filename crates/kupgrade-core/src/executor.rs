//! The executor: runs an [`UpgradePlan`] against a [`ManagedCluster`] and its
//! [`ClusterWorkloads`], each step once the steps it waits for are done, in parallel where the
//! provider allows ([`crate::schedule`]), re-reading the real state before every step so that a
//! rerun after a crash skips what is done and waits on what is running instead of starting it
//! again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;

use crate::cluster::{
    ClusterSnapshot, OperationId, OperationKind, OperationState, PoolUpgradeOptions, ResourceStatus,
};
use crate::drain::{DrainClock, drain_nodes};
use crate::error::{Error, Result};
use crate::events::{Event, EventSink, discard};
use crate::journal::{FileJournal, Journal, JournalStore, StepStatus};
use crate::managed::ManagedCluster;
use crate::plan::{Step, UpgradePlan};
use crate::poll::PollPolicy;
use crate::schedule::Scheduler;
use crate::workloads::{ClusterWorkloads, DrainOptions};

/// How the executor waits, drains and gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// Retries and polling.
    pub poll: PollPolicy,
    /// Drains in blue/green steps; `force` also goes to in-place pool upgrades.
    pub drain: DrainOptions,
    /// How long a gate watches the cluster before judging it.
    pub gate_soak: Duration,
    /// How long a gate waits for the cluster to become healthy.
    pub gate_timeout: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            poll: PollPolicy::default(),
            drain: DrainOptions::default(),
            gate_soak: Duration::from_secs(5 * 60),
            gate_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RunResult {
    /// Every step is done.
    Succeeded,
    /// A step failed; the cluster is as the report's final state says.
    Failed,
    /// A gate failed and its changes were undone.
    RolledBack,
}

impl RunResult {
    /// The word reports and JSON use: `succeeded`, `failed`, `rolled-back`.
    pub fn label(self) -> &'static str {
        match self {
            RunResult::Succeeded => "succeeded",
            RunResult::Failed => "failed",
            RunResult::RolledBack => "rolled-back",
        }
    }
}

/// How one step ended in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StepOutcome {
    /// Done by this run.
    Done,
    /// Found already done (by an earlier run or by hand).
    Skipped,
    /// Failed.
    Failed,
    /// Undone after a failed gate.
    RolledBack,
    /// Not reached.
    NotRun,
}

impl StepOutcome {
    /// The word reports use: `done`, `skipped`, `failed`, `rolled back`, `not run`.
    pub fn label(self) -> &'static str {
        match self {
            StepOutcome::Done => "done",
            StepOutcome::Skipped => "skipped",
            StepOutcome::Failed => "failed",
            StepOutcome::RolledBack => "rolled back",
            StepOutcome::NotRun => "not run",
        }
    }
}

/// One step in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// The contract action name.
    pub action: &'static str,
    /// A human description.
    pub description: String,
    /// How it ended.
    pub outcome: StepOutcome,
    /// How long it took, in seconds (virtual on the simulator).
    pub seconds: u64,
    /// The provider operation it ran, if any.
    pub operation: Option<OperationId>,
    /// Why it was skipped or how it failed.
    pub note: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// How it ended.
    pub result: RunResult,
    /// One entry per plan step.
    pub steps: Vec<StepReport>,
    /// The error that ended the run, if any, as one line.
    pub error: Option<String>,
    /// The typed error behind `error` when a step failed ([`Error::hint`] says what to do).
    #[serde(skip)]
    pub failure: Option<Arc<Error>>,
    /// Provider operations this run started (resumed ones not counted).
    pub operations_started: u32,
    /// Time the run took, in seconds (virtual on the simulator).
    pub seconds: u64,
    /// The cluster as read at the end.
    pub final_state: Option<ClusterSnapshot>,
}

enum Done {
    Ran,
    /// Ran, with something the report must say (pods deleted past their PDB).
    RanWithNote(String),
    Skipped(String),
}

/// Runs plans.
#[derive(Clone)]
pub struct Executor {
    cluster: Arc<dyn ManagedCluster>,
    workloads: Arc<dyn ClusterWorkloads>,
    config: ExecutorConfig,
    events: EventSink,
    journal: Option<Arc<dyn JournalStore>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("cluster", &self.cluster)
            .field("config", &self.config)
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor with default settings, no events and no journal file.
    pub fn new(cluster: Arc<dyn ManagedCluster>, workloads: Arc<dyn ClusterWorkloads>) -> Self {
        Self {
            cluster,
            workloads,
            config: ExecutorConfig::default(),
            events: discard(),
            journal: None,
        }
    }

    /// Uses `config`.
    pub fn with_config(mut self, config: ExecutorConfig) -> Self {
        self.config = config;
        self
    }

    /// Sends progress events to `events`.
    pub fn with_events(mut self, events: EventSink) -> Self {
        self.events = events;
        self
    }

    /// Saves the journal to the file at `path` after every change.
    pub fn with_journal_path(self, path: impl Into<PathBuf>) -> Self {
        self.with_journal_store(Arc::new(FileJournal(path.into())))
    }

    /// Saves the journal to `store` after every change, waiting for each save before going on.
    pub fn with_journal_store(mut self, store: Arc<dyn JournalStore>) -> Self {
        self.journal = Some(store);
        self
    }

    /// Runs the journal's plan: every step once its [`PlanGraph`](crate::PlanGraph)
    /// dependencies are done, as many at once as the provider's concurrency rule and the plan's
    /// pool limit allow. Steps done by an earlier run are not repeated. After a failure no new
    /// step starts; the steps already running are waited for.
    pub async fn run(&self, journal: &mut Journal) -> Result<RunReport> {
        let started = tokio::time::Instant::now();
        let plan = journal.plan.clone();
        let total = plan.steps.len();
        let mut steps: Vec<StepReport> = plan
            .steps
            .iter()
            .map(|s| StepReport {
                action: s.action(),
                description: s.describe(),
                outcome: StepOutcome::NotRun,
                seconds: 0,
                operation: None,
                note: None,
            })
            .collect();
        let mut scheduler = Scheduler::new(
            plan.graph(),
            &plan.steps,
            self.cluster.capabilities().concurrency,
            plan.parallel_pools(),
        );
        for (index, report) in steps.iter_mut().enumerate() {
            if matches!(
                journal.steps[index].status,
                StepStatus::Done | StepStatus::Skipped
            ) {
                report.outcome = StepOutcome::Skipped;
                report.note = Some("done in an earlier run".into());
                scheduler.finish(index);
            }
        }
        let cell = JournalCell {
            journal: Mutex::new(journal),
            store: self.journal.as_deref(),
            saves: tokio::sync::Mutex::new(()),
            operations_started: AtomicU32::new(0),
            operations_in_flight: AtomicUsize::new(0),
            drains: DrainClock::default(),
        };
        let mut result = RunResult::Succeeded;
        let mut error: Option<String> = None;
        let mut failure = None;
        let mut gate_to_roll_back: Option<(usize, String)> = None;
        let mut running = FuturesUnordered::new();
        loop {
            while error.is_none()
                && gate_to_roll_back.is_none()
                && let Some(index) = scheduler.next_startable()
            {
                scheduler.start(index);
                let step = &plan.steps[index];
                (self.events)(&Event::StepStarted {
                    index,
                    total,
                    description: step.describe(),
                });
                // A step an earlier run began may have left an operation running.
                let resumed = cell
                    .update(|j| {
                        let resumed = j.steps[index].status != StepStatus::Pending;
                        j.steps[index].status = StepStatus::Started;
                        resumed
                    })
                    .await?;
                let cell = &cell;
                running.push(async move {
                    let t0 = tokio::time::Instant::now();
                    let outcome = self.execute(index, step, resumed, cell).await;
                    (index, t0.elapsed().as_secs(), outcome)
                });
            }
            let Some((index, seconds, outcome)) = running.next().await else {
                break;
            };
            scheduler.finish(index);
            steps[index].seconds = seconds;
            steps[index].operation = cell.read(|j| j.steps[index].operation.clone());
            match outcome {
                Ok(done @ (Done::Ran | Done::RanWithNote(_))) => {
                    cell.update(|j| j.steps[index].status = StepStatus::Done).await?;
                    steps[index].outcome = StepOutcome::Done;
                    if let Done::RanWithNote(note) = done {
                        steps[index].note = Some(note);
                    }
                    (self.events)(&Event::StepFinished { index, seconds });
                }
                Ok(Done::Skipped(reason)) => {
                    cell.update(|j| j.steps[index].status = StepStatus::Skipped)
                        .await?;
                    steps[index].outcome = StepOutcome::Skipped;
                    steps[index].note = Some(reason.clone());
                    (self.events)(&Event::StepSkipped { index, reason });
                }
                Err(Error::GateFailed(why))
                    if self.rollback_target(&plan, index).is_some() && gate_to_roll_back.is_none() =>
                {
                    (self.events)(&Event::StepFailed {
                        index,
                        error: format!("gate failed: {why}"),
                    });
                    gate_to_roll_back = Some((index, why));
                }
                Err(e) => {
                    let message = e.to_string();
                    cell.update(|j| {
                        j.steps[index].status = StepStatus::Failed;
                        j.steps[index].error = Some(message.clone());
                        j.steps[index].failed_attempts += 1;
                    })
                    .await?;
                    steps[index].outcome = StepOutcome::Failed;
                    steps[index].note = Some(message.clone());
                    (self.events)(&Event::StepFailed {
                        index,
                        error: message.clone(),
                    });
                    if error.is_none() {
                        result = RunResult::Failed;
                        error = Some(message);
                        failure = Some(Arc::new(e));
                    }
                }
            }
        }
        drop(running);
        if let Some((gate, why)) = gate_to_roll_back {
            // Every other running step has ended: undo this gate's pool swap alone.
            let rolled = self.roll_back(&plan, gate, &cell, &mut steps).await;
            steps[gate].outcome = StepOutcome::RolledBack;
            steps[gate].note = Some(format!("gate failed: {why}"));
            match (rolled, &error) {
                (Ok(()), None) => {
                    result = RunResult::RolledBack;
                    error = Some(format!("gate failed: {why}; rolled back"));
                }
                (Ok(()), Some(other)) => {
                    error = Some(format!("{other}; also, gate failed: {why}; rolled back"));
                }
                (Err(e), _) => {
                    result = RunResult::Failed;
                    error = Some(format!("gate failed: {why}; rollback failed: {e}"));
                }
            }
        }
        let operations_started = cell.operations_started.load(Ordering::SeqCst);
        // Green only when the end state was re-read and every part found at the target.
        let final_state = match self.describe().await {
            Ok(state) => Some(state),
            Err(e) => {
                if result == RunResult::Succeeded {
                    result = RunResult::Failed;
                    error = Some(format!(
                        "could not re-read the cluster to verify the upgrade: {e}"
                    ));
                }
                None
            }
        };
        if result == RunResult::Succeeded
            && let Some(problem) = final_state.as_ref().and_then(|s| unmet_target(&plan, s))
        {
            result = RunResult::Failed;
            error = Some(format!(
                "every step ended, but the cluster as read now is not at {}: {problem}",
                plan.target
            ));
        }
        Ok(RunReport {
            result,
            steps,
            error,
            failure,
            operations_started,
            seconds: started.elapsed().as_secs(),
            final_state,
        })
    }

    async fn describe(&self) -> Result<ClusterSnapshot> {
        self.config
            .poll
            .retry("describe cluster", &self.events, || self.cluster.describe())
            .await
    }

    /// Runs one step. The operations in flight are listed only where one may be running: on a
    /// step an earlier run began (`resumed`), or on a resource the snapshot shows busy (someone
    /// else's change); a fresh step on an idle resource starts its change at once, and a lagging
    /// status is covered by the request token (the same change returns the same operation).
    async fn execute(
        &self,
        index: usize,
        step: &Step,
        resumed: bool,
        journal: &JournalCell<'_>,
    ) -> Result<Done> {
        let poll = &self.config.poll;
        let ev = &self.events;
        match step {
            Step::UpgradeControlPlane { to, .. } => {
                let snap = self.describe().await?;
                if snap.control_plane.minor() >= to.minor() {
                    return Ok(Done::Skipped(format!(
                        "control plane already at {}",
                        snap.control_plane
                    )));
                }
                let maybe_running = resumed || snap.status != ResourceStatus::Ready;
                if maybe_running
                    && let Some(op) = self
                        .running(OperationKind::UpgradeControlPlane, None, index)
                        .await?
                {
                    return self.finish(index, op, journal).await;
                }
                let token = journal.read(|j| j.token(index));
                let op = poll
                    .retry("upgrade control plane", ev, || {
                        self.cluster.upgrade_control_plane(to, &token)
                    })
                    .await?;
                self.started(index, &op, journal).await?;
                self.finish(index, op, journal).await
            }
            Step::UpdateAddons { to } => {
                let Some(addons) = self.cluster.addon_updates() else {
                    return Ok(Done::Skipped(format!(
                        "{} updates its add-ons itself",
                        self.cluster.provider().display_name()
                    )));
                };
                let token = journal.read(|j| j.token(index));
                let ops = poll
                    .retry("update add-ons", ev, || addons.update_addons(to, &token))
                    .await?;
                if ops.is_empty() {
                    return Ok(Done::Skipped(format!("managed add-ons already current for {to}")));
                }
                for op in ops {
                    self.started(index, &op, journal).await?;
                    self.finish(index, op, journal).await?;
                }
                Ok(Done::Ran)
            }
            Step::Addon {
                addon,
                install,
                reason,
                ..
            } => Ok(Done::Skipped(format!(
                "self-managed add-on: install {addon} {install} yourself ({reason})"
            ))),
            Step::UpgradeNodePool { node_pool, to, .. } => {
                let snap = self.describe().await?;
                let pool = snap
                    .pool(node_pool)
                    .ok_or_else(|| missing_pool(node_pool, &snap))?;
                if pool.version.minor() >= to.minor() {
                    return Ok(Done::Skipped(format!(
                        "node pool {node_pool} already at {}",
                        pool.version
                    )));
                }
                let maybe_running = resumed || pool.status != ResourceStatus::Ready;
                if maybe_running
                    && let Some(op) = self
                        .running(OperationKind::UpgradeNodePool, Some(node_pool), index)
                        .await?
                {
                    return self.finish(index, op, journal).await;
                }
                let token = journal.read(|j| j.token(index));
                let options =
                    PoolUpgradeOptions::new(pool.rollout.clone()).with_force(self.config.drain.force);
                let op = self
                    .start_operation(journal, "upgrade node pool", || {
                        self.cluster.upgrade_node_pool(node_pool, to, &options, &token)
                    })
                    .await?;
                self.started(index, &op, journal).await?;
                self.finish(index, op, journal).await
            }
            Step::CreateNodePool {
                node_pool,
                clone_of,
                to,
                nodes,
                labels,
                taints,
                ..
            } => {
                let snap = self.describe().await?;
                let op = if let Some(existing) = snap.pool(node_pool) {
                    if existing.status == ResourceStatus::Creating {
                        self.running(OperationKind::CreateNodePool, Some(node_pool), index)
                            .await?
                    } else {
                        None
                    }
                } else {
                    if snap.pool(clone_of).is_none() {
                        return Err(missing_pool(clone_of, &snap));
                    }
                    let spec = crate::cluster::NodePoolSpec {
                        name: node_pool.clone(),
                        clone_of: clone_of.clone(),
                        version: to.clone(),
                        nodes: *nodes,
                        labels: labels.clone(),
                        taints: taints.clone(),
                    };
                    let token = journal.read(|j| j.token(index));
                    let op = self
                        .start_operation(journal, "create node pool", || {
                            self.cluster.create_node_pool(&spec, &token)
                        })
                        .await?;
                    self.started(index, &op, journal).await?;
                    Some(op)
                };
                let ran = op.is_some();
                if let Some(op) = op {
                    self.finish(index, op, journal).await?;
                }
                self.wait_nodes_ready(node_pool, *nodes).await?;
                Ok(if ran {
                    Done::Ran
                } else {
                    Done::Skipped(format!("node pool {node_pool} exists"))
                })
            }
            Step::CordonNodePool { node_pool } => {
                let snap = self.describe().await?;
                if snap.pool(node_pool).is_none() {
                    return Ok(Done::Skipped(format!("node pool {node_pool} is gone")));
                }
                let nodes = poll
                    .retry("list nodes", ev, || self.workloads.nodes(node_pool))
                    .await?;
                let mut changed = 0;
                for node in nodes.iter().filter(|n| !n.unschedulable) {
                    poll.retry("cordon", ev, || {
                        self.workloads.set_unschedulable(&node.name, true)
                    })
                    .await?;
                    changed += 1;
                }
                Ok(if changed > 0 {
                    Done::Ran
                } else {
                    Done::Skipped(format!("every node of {node_pool} already cordoned"))
                })
            }
            Step::DrainNodePool { node_pool } => {
                let snap = self.describe().await?;
                if snap.pool(node_pool).is_none() {
                    return Ok(Done::Skipped(format!("node pool {node_pool} is gone")));
                }
                let nodes: Vec<String> = poll
                    .retry("list nodes", ev, || self.workloads.nodes(node_pool))
                    .await?
                    .into_iter()
                    .map(|n| n.name)
                    .collect();
                let drain_poll = PollPolicy {
                    timeout: self.config.drain.timeout,
                    ..*poll
                };
                let report = drain_nodes(
                    self.workloads.as_ref(),
                    &nodes,
                    self.config.drain,
                    &drain_poll,
                    ev,
                    index,
                    &journal.drains,
                )
                .await?;
                Ok(report.forced_note().map_or(Done::Ran, Done::RanWithNote))
            }
            Step::Gate { node_pool, check } => {
                tokio::time::sleep(self.config.gate_soak).await;
                let gate_poll = PollPolicy {
                    timeout: self.config.gate_timeout,
                    ..*poll
                };
                let last_problem = std::sync::Mutex::new(String::new());
                let outcome = gate_poll
                    .wait_for("gate", ev, || {
                        let problem = &last_problem;
                        async move {
                            let verdict = self.gate_problem(node_pool.as_deref()).await?;
                            Ok(match verdict {
                                None => Some(()),
                                Some(p) => {
                                    *problem.lock().unwrap_or_else(|e| e.into_inner()) = p;
                                    None
                                }
                            })
                        }
                    })
                    .await;
                let last_problem = last_problem.into_inner().unwrap_or_else(|e| e.into_inner());
                match outcome {
                    Ok(()) => Ok(Done::Ran),
                    Err(Error::Timeout { .. }) => Err(Error::GateFailed(format!("{check}: {last_problem}"))),
                    Err(e) => Err(e),
                }
            }
            Step::DeleteNodePool {
                node_pool,
                replaced_by,
            } => {
                let snap = self.describe().await?;
                if snap.pool(node_pool).is_none() {
                    return Ok(Done::Skipped(format!("node pool {node_pool} is already deleted")));
                }
                if snap.pool(replaced_by).is_none() {
                    return Err(Error::invalid_input(format!(
                        "refusing to delete node pool {node_pool}: its replacement {replaced_by} does not exist"
                    )));
                }
                if let Some(op) = self
                    .running(OperationKind::DeleteNodePool, Some(node_pool), index)
                    .await?
                {
                    return self.finish(index, op, journal).await;
                }
                let token = journal.read(|j| j.token(index));
                let op = self
                    .start_operation(journal, "delete node pool", || {
                        self.cluster.delete_node_pool(node_pool, &token)
                    })
                    .await?;
                self.started(index, &op, journal).await?;
                self.finish(index, op, journal).await
            }
        }
    }

    /// What keeps a gate closed, or `None` when it may open.
    async fn gate_problem(&self, pool: Option<&str>) -> Result<Option<String>> {
        let health = self.workloads.health().await?;
        if let Some(pool) = pool {
            let nodes = self.workloads.nodes(pool).await?;
            if let Some(n) = nodes.iter().find(|n| !n.ready) {
                return Ok(Some(format!("node {} of {pool} is NotReady", n.name)));
            }
        }
        if !health.is_healthy() {
            let mut parts = Vec::new();
            if !health.nodes_not_ready.is_empty() {
                parts.push(format!("nodes NotReady: {}", health.nodes_not_ready.join(", ")));
            }
            if !health.workloads_unavailable.is_empty() {
                parts.push(format!(
                    "workloads unavailable: {}",
                    health.workloads_unavailable.join(", ")
                ));
            }
            if !health.pods_failing.is_empty() {
                let pods: Vec<String> = health
                    .pods_failing
                    .iter()
                    .take(5)
                    .map(ToString::to_string)
                    .collect();
                parts.push(format!(
                    "{} pods not running (e.g. {})",
                    health.pods_failing.len(),
                    pods.join(", ")
                ));
            }
            return Ok(Some(parts.join("; ")));
        }
        Ok(None)
    }

    /// An operation of this kind on this pool that is still running (a resumed run waits on it).
    async fn running(
        &self,
        kind: OperationKind,
        pool: Option<&str>,
        index: usize,
    ) -> Result<Option<OperationId>> {
        let ops = self
            .config
            .poll
            .retry("list operations", &self.events, || {
                self.cluster.operations_in_flight()
            })
            .await?;
        let op = ops
            .into_iter()
            .find(|op| op.kind == kind && op.node_pool.as_deref() == pool);
        Ok(op.map(|op| {
            (self.events)(&Event::OperationResumed {
                index,
                operation: op.id.clone(),
            });
            op.id
        }))
    }

    async fn started(&self, index: usize, op: &OperationId, journal: &JournalCell<'_>) -> Result<()> {
        journal.operations_started.fetch_add(1, Ordering::SeqCst);
        journal
            .update(|j| j.steps[index].operation = Some(op.clone()))
            .await?;
        (self.events)(&Event::OperationStarted {
            index,
            operation: op.clone(),
        });
        Ok(())
    }

    /// Starts a node-pool operation. When the provider refuses it because another operation
    /// is in progress while this run has operations of its own running (a provider stricter
    /// than its documented rule), it waits for those to end and tries again instead of failing.
    async fn start_operation<F, Fut>(
        &self,
        journal: &JournalCell<'_>,
        what: &str,
        mut call: F,
    ) -> Result<OperationId>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<OperationId>>,
    {
        loop {
            match self.config.poll.retry(what, &self.events, &mut call).await {
                Err(e @ Error::OperationInProgress { .. })
                    if journal.operations_in_flight.load(Ordering::SeqCst) > 0 =>
                {
                    let delay = self.config.poll.max_delay;
                    (self.events)(&Event::Retrying {
                        what: what.to_string(),
                        error: format!("{e}; waiting for this run's other operations to end"),
                        delay_secs: delay.as_secs(),
                    });
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// Waits for an operation to end; a failure carries the provider's reason.
    async fn finish(&self, index: usize, id: OperationId, journal: &JournalCell<'_>) -> Result<Done> {
        journal.update_unsaved(|j| j.steps[index].operation = Some(id.clone()));
        let events = self.events.clone();
        journal.operations_in_flight.fetch_add(1, Ordering::SeqCst);
        let waited = self
            .config
            .poll
            .wait_operation(self.cluster.as_ref(), &id, &self.events, |op| {
                if let Some((done, total)) = op.progress {
                    events(&Event::Progress { index, done, total });
                }
            })
            .await;
        journal.operations_in_flight.fetch_sub(1, Ordering::SeqCst);
        let state = waited?.state;
        match state {
            OperationState::Succeeded => Ok(Done::Ran),
            OperationState::Failed(message) => Err(Error::OperationFailed { id: id.0, message }),
            OperationState::Cancelled => Err(Error::OperationFailed {
                id: id.0,
                message: "cancelled".into(),
            }),
            OperationState::Pending | OperationState::Running => {
                unreachable!("wait_operation returns terminal states")
            }
        }
    }

    async fn wait_nodes_ready(&self, pool: &str, want: u32) -> Result<()> {
        self.config
            .poll
            .wait_for(&format!("nodes of {pool} Ready"), &self.events, || async move {
                let nodes = self.workloads.nodes(pool).await?;
                Ok((nodes.len() as u32 >= want && nodes.iter().all(|n| n.ready)).then_some(()))
            })
            .await
    }

    /// For a blue/green gate: the (new pool, old pool) pair it verifies.
    fn rollback_target(&self, plan: &UpgradePlan, gate: usize) -> Option<(String, String)> {
        let Step::Gate {
            node_pool: Some(new_pool),
            ..
        } = &plan.steps[gate]
        else {
            return None;
        };
        plan.steps[..gate].iter().rev().find_map(|s| match s {
            Step::CreateNodePool {
                node_pool, clone_of, ..
            } if node_pool == new_pool => Some((node_pool.clone(), clone_of.clone())),
            _ => None,
        })
    }

    /// Undoes a blue/green pool swap: uncordon the old pool, delete the new one.
    async fn roll_back(
        &self,
        plan: &UpgradePlan,
        gate: usize,
        journal: &JournalCell<'_>,
        steps: &mut [StepReport],
    ) -> Result<()> {
        let (new_pool, old_pool) = self.rollback_target(plan, gate).expect("checked by the caller");
        let poll = &self.config.poll;
        let ev = &self.events;
        (self.events)(&Event::RollingBack {
            index: gate,
            action: format!("uncordon node pool {old_pool}"),
        });
        for node in poll
            .retry("list nodes", ev, || self.workloads.nodes(&old_pool))
            .await?
        {
            poll.retry("uncordon", ev, || {
                self.workloads.set_unschedulable(&node.name, false)
            })
            .await?;
        }
        (self.events)(&Event::RollingBack {
            index: gate,
            action: format!("delete node pool {new_pool}"),
        });
        let token =
            crate::cluster::RequestToken(format!("{}-rollback-{gate}", journal.read(|j| j.run_id.clone())));
        let op = poll
            .retry("delete node pool", ev, || {
                self.cluster.delete_node_pool(&new_pool, &token)
            })
            .await?;
        self.finish(gate, op, journal).await?;
        journal.update(|j| {
            for (i, step) in plan.steps.iter().enumerate().take(gate + 1) {
                let involved = step.node_pool() == Some(new_pool.as_str())
                    || matches!(step, Step::CordonNodePool { node_pool } | Step::DrainNodePool { node_pool } if *node_pool == old_pool);
                if involved {
                    j.steps[i].status = StepStatus::RolledBack;
                    steps[i].outcome = StepOutcome::RolledBack;
                }
            }
        })
        .await
    }
}

/// What in `state` is not where `plan` leaves the cluster: the control plane and every pool
/// at the target minor, and the pools the plan deletes gone. `None` when all is there.
pub fn unmet_target(plan: &UpgradePlan, state: &ClusterSnapshot) -> Option<String> {
    let target = plan.target.minor();
    let mut problems = Vec::new();
    if state.control_plane.minor() != target || state.control_plane.major() != plan.target.major() {
        problems.push(format!("control plane at {}", state.control_plane));
    }
    for pool in &state.node_pools {
        let deleted = plan
            .steps
            .iter()
            .any(|s| matches!(s, Step::DeleteNodePool { node_pool, .. } if *node_pool == pool.name));
        if deleted {
            problems.push(format!("node pool {} should have been deleted", pool.name));
        } else if pool.version.minor() != target {
            problems.push(format!("node pool {} at {}", pool.name, pool.version));
        }
    }
    (!problems.is_empty()).then(|| problems.join(", "))
}

/// The journal, shared by the steps running at the same time; saved after every change.
struct JournalCell<'a> {
    journal: Mutex<&'a mut Journal>,
    store: Option<&'a dyn JournalStore>,
    /// Held through each save, so that saves land in the order of the changes they carry.
    saves: tokio::sync::Mutex<()>,
    operations_started: AtomicU32,
    /// This run's provider operations being waited on right now.
    operations_in_flight: AtomicUsize,
    /// When this run's drains last evicted a pod.
    drains: DrainClock,
}

impl<'a> JournalCell<'a> {
    fn lock(&self) -> std::sync::MutexGuard<'_, &'a mut Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read<T>(&self, f: impl FnOnce(&Journal) -> T) -> T {
        f(&self.lock())
    }

    /// Changes the journal and saves it, returning once the save is durable. Saves never
    /// interleave: each carries every change made before it.
    async fn update<T>(&self, f: impl FnOnce(&mut Journal) -> T) -> Result<T> {
        let _saving = self.saves.lock().await;
        let (out, copy) = {
            let mut journal = self.lock();
            let out = f(&mut journal);
            (out, self.store.map(|_| (**journal).clone()))
        };
        if let (Some(store), Some(copy)) = (self.store, copy) {
            store.save(&copy).await?;
        }
        Ok(out)
    }

    fn update_unsaved(&self, f: impl FnOnce(&mut Journal)) {
        f(&mut self.lock());
    }
}

fn missing_pool(name: &str, snap: &ClusterSnapshot) -> Error {
    let known: Vec<&str> = snap.node_pools.iter().map(|p| p.name.as_str()).collect();
    Error::not_found(
        "node pool",
        name,
        format!("cluster {} has: {}", snap.name, known.join(", ")),
    )
}
