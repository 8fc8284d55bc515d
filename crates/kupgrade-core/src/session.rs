//! [`Upgrade`]: one upgrade of one cluster, the way the `kupgrade` CLI runs it, for embedders.
//!
//! An upgrade session reads the cluster, plans the path to the target (or resumes the plan its
//! journal recorded, after checking the journal belongs to this cluster, target, strategy and
//! options), reads what the provider offers, and runs every pre-flight check before anything
//! changes: [`Upgrade::prepare`] returns a [`Prepared`] upgrade holding the plan and the
//! findings. [`Prepared::run`] then executes it, journaling every step, and reports green only
//! once the cluster, read again, is at the target.
//!
//! ```
//! use std::sync::Arc;
//! use kupgrade_core::session::{PrepareOptions, Upgrade};
//! use kupgrade_core::{KubeVersion, ManagedCluster, RunResult, Strategy};
//!
//! /// Upgrades `cluster` (EKS, AKS, GKE or the simulator) to 1.31 in place, journaled.
//! async fn upgrade(cluster: Arc<dyn ManagedCluster>) -> kupgrade_core::Result<()> {
//!     let mut prepared = Upgrade::new(cluster)
//!         .with_journal_until_done("prod.journal.json")
//!         .prepare(&KubeVersion::new(1, 31), &PrepareOptions::new(Strategy::InPlace))
//!         .await?;
//!     for finding in prepared.findings() {
//!         println!("{} {}: {}", finding.severity, finding.id, finding.message);
//!     }
//!     let report = prepared.run().await?; // refused while a check blocks
//!     assert_eq!(report.result, RunResult::Succeeded);
//!     Ok(())
//! }
//! ```
//!
//! `kupgrade_sim`'s crate documentation runs a session on the simulator.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::calendar::Calendar;
use crate::checks::{CheckInputs, CheckRegistry, Finding, Offer, blockers, sort_findings};
use crate::cluster::{ClusterSnapshot, OfferedVersion};
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::executor::{Executor, ExecutorConfig, RunReport, RunResult};
use crate::journal::{FileJournal, Journal, JournalStore, RunOptions};
use crate::lock::FileLock;
use crate::managed::ManagedCluster;
use crate::plan::{PlanOptions, Strategy, UpgradePlan, plan_with};
use crate::skew::SkewPolicy;
use crate::version::KubeVersion;
use crate::workloads::{ClusterWorkloads, DrainBlocker, Eviction, HealthSnapshot, Node, Pod, PodRef};

/// How to plan and run: the strategy, planner overrides, and what the user allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrepareOptions {
    /// How node pools are moved.
    pub strategy: Strategy,
    /// How many minors nodes may lag the control plane, overriding the provider's rule
    /// (`Some(0)`: pools match the control plane before each hop).
    pub lag_limit: Option<u32>,
    /// For canary: the pool moved first.
    pub canary_pool: Option<String>,
    /// For canary: try the version on a new one-node copy of the canary pool first.
    pub canary_new_pool: bool,
    /// Drains delete pods past their PodDisruptionBudgets once the drain timeout passes.
    pub force_drain: bool,
    /// The most node pools moved at the same time (`None`: the strategy's default,
    /// [`crate::default_max_parallel_pools`]).
    pub max_parallel_pools: Option<usize>,
    /// A target the provider offers only as a preview is a warning, not a blocker.
    pub allow_preview: bool,
    /// Plan again from the cluster as it is now instead of resuming the journal's plan.
    pub replan: bool,
    /// Read and check only: the journal is read but not locked, and [`Prepared::run`] refuses.
    pub dry_run: bool,
    /// The add-on catalog and what is installed, for `addon` steps in the plan.
    pub addons: Option<crate::addons::AddonPlanInput>,
}

impl PrepareOptions {
    /// Options for `strategy`, everything else as the provider's rules have it.
    pub fn new(strategy: Strategy) -> Self {
        Self {
            strategy,
            ..Self::default()
        }
    }

    /// Overrides the node lag limit.
    pub fn with_lag_limit(mut self, lag_limit: Option<u32>) -> Self {
        self.lag_limit = lag_limit;
        self
    }

    /// Names the canary pool.
    pub fn with_canary_pool(mut self, pool: Option<String>) -> Self {
        self.canary_pool = pool;
        self
    }

    /// Starts canary rounds on a new one-node pool.
    pub fn with_canary_new_pool(mut self, canary_new_pool: bool) -> Self {
        self.canary_new_pool = canary_new_pool;
        self
    }

    /// Moves at most `n` node pools at the same time (`None`: the strategy's default).
    pub fn with_max_parallel_pools(mut self, n: Option<usize>) -> Self {
        self.max_parallel_pools = n;
        self
    }

    /// Forces drains past PodDisruptionBudgets (destructive: only on the user's word).
    pub fn with_force_drain(mut self, force_drain: bool) -> Self {
        self.force_drain = force_drain;
        self
    }

    /// Accepts a preview target (a warning instead of a blocker).
    pub fn with_allow_preview(mut self, allow_preview: bool) -> Self {
        self.allow_preview = allow_preview;
        self
    }

    /// Plans again instead of resuming the journal.
    pub fn with_replan(mut self, replan: bool) -> Self {
        self.replan = replan;
        self
    }

    /// Reads and checks only.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Plans `addon` steps for what `addons` says is installed.
    pub fn with_addons(mut self, addons: Option<crate::addons::AddonPlanInput>) -> Self {
        self.addons = addons;
        self
    }

    /// The planner's options for `provider`.
    pub fn plan_options(&self, provider: crate::Provider) -> PlanOptions {
        let mut policy = SkewPolicy::for_provider(provider);
        if let Some(limit) = self.lag_limit {
            policy = policy.with_lag_limit(limit);
        }
        let options = PlanOptions::new(provider, self.strategy)
            .with_policy(policy)
            .with_canary_new_pool(self.canary_new_pool)
            .with_max_parallel_pools(self.max_parallel_pools)
            .with_installed_addons(self.addons.clone());
        match &self.canary_pool {
            Some(pool) => options.with_canary_pool(pool.clone()),
            None => options,
        }
    }

    /// The options a journal records, so that a rerun with other options is refused.
    fn run_options(&self) -> RunOptions {
        RunOptions::default()
            .with_lag_limit(self.lag_limit)
            .with_canary_pool(self.canary_pool.clone())
            .with_canary_new_pool(self.canary_new_pool)
            .with_force_drain(self.force_drain)
            .with_max_parallel_pools(self.max_parallel_pools)
    }
}

/// Where the prepared plan came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalState {
    /// No journal: nothing is saved between runs.
    None,
    /// A new plan; the journal at this path records it from the first step.
    Fresh(PathBuf),
    /// The plan an earlier run recorded at this path, resumed from its first unfinished step.
    Resumed(PathBuf),
    /// A new plan replacing the one recorded at this path ([`PrepareOptions::replan`]).
    Replanned(PathBuf),
    /// The journal is kept in the [`JournalStore`] given with [`Upgrade::with_journal_store`];
    /// `resumed` when the plan is the one it recorded.
    Stored {
        /// Whether an earlier run's plan is resumed.
        resumed: bool,
    },
}

/// Where a session keeps its journal.
enum JournalAt {
    Nowhere,
    /// This file; kept after a verified run when `keep`.
    File {
        path: PathBuf,
        keep: bool,
    },
    /// The cluster's default file ([`crate::journal::default_file_name`]) in this folder,
    /// removed after a verified run.
    Folder(PathBuf),
    /// This store; emptied after a verified run when not `keep`.
    Store {
        store: Arc<dyn JournalStore>,
        keep: bool,
    },
}

/// One upgrade of one cluster: what to check, where to journal, how to report. Build it, then
/// [`prepare`](Self::prepare).
pub struct Upgrade {
    cluster: Arc<dyn ManagedCluster>,
    workloads: Option<Arc<dyn ClusterWorkloads>>,
    checks: CheckRegistry,
    journal: JournalAt,
    events: EventSink,
    config: ExecutorConfig,
    today: Option<NaiveDate>,
}

impl Upgrade {
    /// A session on `cluster`, with the built-in checks, no journal and no in-cluster access.
    pub fn new(cluster: Arc<dyn ManagedCluster>) -> Self {
        Self {
            cluster,
            workloads: None,
            checks: CheckRegistry::builtin(),
            journal: JournalAt::Nowhere,
            events: crate::events::discard(),
            config: ExecutorConfig::default(),
            today: None,
        }
    }

    /// The cluster's Kubernetes side: nodes, pods, evictions. Needed by plans that cordon,
    /// drain or gate (blue/green, canary) and by the in-cluster checks; an in-place plan runs
    /// without it (the provider drains).
    pub fn with_workloads(mut self, workloads: Arc<dyn ClusterWorkloads>) -> Self {
        self.workloads = Some(workloads);
        self
    }

    /// The pre-flight checks (the cluster's own, such as EKS upgrade insights, are added).
    pub fn with_checks(mut self, checks: CheckRegistry) -> Self {
        self.checks = checks;
        self
    }

    /// Journals the run at `path` and keeps the file afterwards. A journal found there is
    /// resumed when it was written for this cluster, target, strategy and options.
    pub fn with_journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = JournalAt::File {
            path: path.into(),
            keep: true,
        };
        self
    }

    /// Like [`with_journal`](Self::with_journal), but the file is removed once a run is
    /// verified at its target, so the next upgrade of the cluster starts afresh.
    pub fn with_journal_until_done(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = JournalAt::File {
            path: path.into(),
            keep: false,
        };
        self
    }

    /// Journals the run in `store` (resumed when it holds a journal written for this cluster,
    /// target, strategy and options); with `keep` false it is emptied once a run is verified
    /// at its target. Nothing guards against two runs on one store: that is the store's owner's
    /// job (a lease, a lock).
    pub fn with_journal_store(mut self, store: Arc<dyn JournalStore>, keep: bool) -> Self {
        self.journal = JournalAt::Store { store, keep };
        self
    }

    /// Journals the run in `dir`, in the cluster's own file (`PROVIDER-NAME[-ID HASH].json`,
    /// [`crate::journal::default_file_name`]), removed once a run is verified at its target.
    pub fn with_journal_folder(mut self, dir: impl Into<PathBuf>) -> Self {
        self.journal = JournalAt::Folder(dir.into());
        self
    }

    /// Where progress goes.
    pub fn with_events(mut self, events: EventSink) -> Self {
        self.events = events;
        self
    }

    /// How the executor polls, drains and gates.
    pub fn with_config(mut self, config: ExecutorConfig) -> Self {
        self.config = config;
        self
    }

    /// The date the support calendar is judged on (today by default).
    pub fn with_today(mut self, today: NaiveDate) -> Self {
        self.today = Some(today);
        self
    }

    /// Checks the cluster as it is now against `target`: the control plane and every pool at
    /// its minor, and, with [`with_workloads`](Self::with_workloads), every node Ready and every
    /// workload available. `Ok(None)` when all hold, else the first problem. The fleet's wave
    /// gates and the blue/green cluster swap judge a cluster with this.
    pub async fn verify(&self, target: &KubeVersion) -> Result<Option<String>> {
        let snapshot = self.cluster.describe().await?;
        if snapshot.control_plane.minor() != target.minor() {
            return Ok(Some(format!(
                "control plane at {}, not {}",
                snapshot.control_plane,
                target.minor_version()
            )));
        }
        if let Some(p) = snapshot
            .node_pools
            .iter()
            .find(|p| p.version.minor() != target.minor())
        {
            return Ok(Some(format!(
                "node pool {} at {}, not {}",
                p.name,
                p.version,
                target.minor_version()
            )));
        }
        let Some(workloads) = &self.workloads else {
            return Ok(None);
        };
        let health = workloads.health().await?;
        if !health.nodes_not_ready.is_empty() {
            return Ok(Some(format!(
                "nodes NotReady: {}",
                health.nodes_not_ready.join(", ")
            )));
        }
        if !health.workloads_unavailable.is_empty() {
            return Ok(Some(format!(
                "workloads unavailable: {}",
                health.workloads_unavailable.join(", ")
            )));
        }
        Ok(None)
    }

    /// Reads the cluster, plans (or resumes the journal's plan), reads the provider's offer and
    /// runs every pre-flight check. Changes nothing. A journal written for another cluster,
    /// target, strategy or option is refused with [`Error::JournalNotResumable`] naming the
    /// difference (unless `options.replan`).
    pub async fn prepare(self, target: &KubeVersion, options: &PrepareOptions) -> Result<Prepared> {
        let poll = self.config.poll;
        let snapshot = poll
            .retry("describe cluster", &self.events, || self.cluster.describe())
            .await?;
        let plan_options = options
            .plan_options(snapshot.provider)
            .with_managed_addons(self.cluster.addon_updates().is_some());
        let fresh = || -> Result<Journal> {
            let plan = plan_with(&snapshot, target, &plan_options)?;
            Ok(Journal::for_cluster(plan, &snapshot, options.run_options()))
        };
        let (journal_path, store, keep_journal) = match self.journal {
            JournalAt::Nowhere => (None, None, true),
            JournalAt::File { path, keep } => (Some(path), None, keep),
            JournalAt::Folder(dir) => (
                Some(dir.join(crate::journal::default_file_name(&snapshot))),
                None,
                false,
            ),
            JournalAt::Store { store, keep } => (None, Some(store), keep),
        };
        let store: Option<Arc<dyn JournalStore>> = match (&journal_path, store) {
            (Some(path), _) => Some(Arc::new(FileJournal(path.clone()))),
            (None, store) => store,
        };
        let mut lock = None;
        if let (Some(path), false) = (&journal_path, options.dry_run) {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            // Held until the run ends: a second run on this journal is refused at once.
            lock = Some(FileLock::acquire(path)?);
        }
        let recorded = match &store {
            Some(store) => store.load().await?,
            None => None,
        };
        let origin = |resumed: bool, replanned: bool| match &journal_path {
            None if store.is_none() => JournalState::None,
            None => JournalState::Stored { resumed },
            Some(path) if resumed => JournalState::Resumed(path.clone()),
            Some(path) if replanned => JournalState::Replanned(path.clone()),
            Some(path) => JournalState::Fresh(path.clone()),
        };
        let (journal, state) = match recorded {
            Some(_) if options.replan => (fresh()?, origin(false, true)),
            Some(recorded) => {
                recorded
                    .check_resumable(&snapshot, target, options.strategy, &options.run_options())
                    .map_err(|mismatch| match &journal_path {
                        Some(path) => Error::JournalNotResumable {
                            path: path.clone(),
                            difference: mismatch.0,
                        },
                        None => {
                            Error::Journal(format!("the stored journal cannot be resumed: {}", mismatch.0))
                        }
                    })?;
                (recorded, origin(true, false))
            }
            None => (fresh()?, origin(false, false)),
        };
        if self.workloads.is_none()
            && let Some((index, step)) = journal
                .plan
                .steps
                .iter()
                .enumerate()
                .find(|(_, s)| s.needs_workloads())
        {
            return Err(Error::invalid_input(format!(
                "step {} of the plan ({}) needs the cluster's Kubernetes API (nodes, pods, evictions); give the upgrade one with Upgrade::with_workloads",
                index + 1,
                step.describe()
            )));
        }
        let offer = ProviderOffer::read(self.cluster.as_ref(), snapshot.provider).await;
        let mut checks = self.checks;
        if let Some(provider) = self.cluster.provider_checks() {
            checks.extend(provider.checks());
        }
        let in_flight = poll
            .retry("list operations", &self.events, || {
                self.cluster.operations_in_flight()
            })
            .await?;
        let inputs = CheckInputs {
            snapshot: &snapshot,
            calendar: &offer.calendar,
            today: self.today.unwrap_or_else(|| chrono::Utc::now().date_naive()),
            workloads: self.workloads.as_deref(),
            in_flight: &in_flight,
            force_drain: options.force_drain,
            offer: offer.offer(),
            allow_preview: options.allow_preview,
        };
        let mut findings = checks.run(&journal.plan, &inputs).await?;
        sort_findings(&mut findings);
        for f in &findings {
            (self.events)(&Event::Finding(Box::new(f.clone())));
        }
        let mut config = self.config;
        config.drain.force = options.force_drain;
        let workloads = self
            .workloads
            .unwrap_or_else(|| Arc::new(NoWorkloads) as Arc<dyn ClusterWorkloads>);
        let mut executor = Executor::new(self.cluster, workloads)
            .with_config(config)
            .with_events(self.events);
        if let (Some(store), false) = (&store, options.dry_run) {
            executor = executor.with_journal_store(store.clone());
        }
        Ok(Prepared {
            remove_when_done: (!keep_journal).then_some(store).flatten(),
            checks: checks.describe(),
            snapshot,
            findings,
            journal,
            state,
            executor,
            dry_run: options.dry_run,
            _lock: lock,
        })
    }
}

/// An upgrade planned and checked, ready to [`run`](Self::run).
pub struct Prepared {
    snapshot: ClusterSnapshot,
    findings: Vec<Finding>,
    checks: Vec<(&'static str, &'static str)>,
    journal: Journal,
    state: JournalState,
    executor: Executor,
    dry_run: bool,
    /// The store to empty once a run is verified at its target.
    remove_when_done: Option<Arc<dyn JournalStore>>,
    _lock: Option<FileLock>,
}

impl Prepared {
    /// The plan that runs (the journal's, when resumed).
    pub fn plan(&self) -> &UpgradePlan {
        &self.journal.plan
    }

    /// Every finding of the pre-flight checks, blockers first.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// How many findings block the run.
    pub fn blockers(&self) -> usize {
        blockers(&self.findings)
    }

    /// The ids and descriptions of the checks that ran.
    pub fn checks(&self) -> &[(&'static str, &'static str)] {
        &self.checks
    }

    /// The cluster as read before planning.
    pub fn snapshot(&self) -> &ClusterSnapshot {
        &self.snapshot
    }

    /// Where the plan came from, and the journal's path.
    pub fn journal(&self) -> &JournalState {
        &self.state
    }

    /// Runs the plan from its first unfinished step. Refused when the checks found blockers
    /// ([`Error::ChecksBlocked`]) or the session was prepared as a dry run. A run verified at
    /// its target removes a journal given with
    /// [`Upgrade::with_journal_until_done`].
    pub async fn run(&mut self) -> Result<RunReport> {
        if self.dry_run {
            return Err(Error::invalid_input(
                "this upgrade was prepared as a dry run; prepare it again without dry_run to run it",
            ));
        }
        match self.blockers() {
            0 => {}
            n => return Err(Error::ChecksBlocked(n)),
        }
        let report = self.executor.run(&mut self.journal).await?;
        if report.result == RunResult::Succeeded
            && let Some(store) = &self.remove_when_done
        {
            store.remove().await?;
        }
        Ok(report)
    }
}

/// What the provider offers for the cluster, read once before the checks: the versions (the
/// target is checked against them, KUP-VER-001) and the support calendar, whose live dates
/// (EKS `DescribeClusterVersions`, ...) override the embedded ones.
struct ProviderOffer {
    offered: std::result::Result<Vec<OfferedVersion>, String>,
    calendar: Calendar,
}

impl ProviderOffer {
    async fn read(cluster: &dyn ManagedCluster, provider: crate::Provider) -> Self {
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

/// The in-cluster side of a session given none: a step that needs it fails, saying so.
#[derive(Debug)]
struct NoWorkloads;

fn needs_workloads<T>() -> Result<T> {
    Err(Error::invalid_input(
        "this step needs the cluster's Kubernetes API (nodes, pods, evictions); give the upgrade one with Upgrade::with_workloads",
    ))
}

#[async_trait]
impl ClusterWorkloads for NoWorkloads {
    async fn nodes(&self, _pool: &str) -> Result<Vec<Node>> {
        needs_workloads()
    }
    async fn set_unschedulable(&self, _node: &str, _unschedulable: bool) -> Result<()> {
        needs_workloads()
    }
    async fn pods_on(&self, _node: &str) -> Result<Vec<Pod>> {
        needs_workloads()
    }
    async fn evict(&self, _pod: &PodRef) -> Result<Eviction> {
        needs_workloads()
    }
    async fn delete_pod(&self, _pod: &PodRef) -> Result<()> {
        needs_workloads()
    }
    async fn drain_preview(&self, _nodes: &[String]) -> Result<Vec<DrainBlocker>> {
        needs_workloads()
    }
    async fn health(&self) -> Result<HealthSnapshot> {
        needs_workloads()
    }
}
