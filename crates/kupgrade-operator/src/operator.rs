//! [`Operator`]: what every reconcile shares: the management cluster's client, the connector to
//! managed clusters, the clock, leadership, and the workers upgrading clusters right now.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kube::runtime::events::{Recorder, Reporter};
use kupgrade_core::ExecutorConfig;
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::connect::Connector;
use crate::ref_journal::JournalProgress;
use crate::worker::{Assignment, Outcome, upgrade_cluster};

/// One cluster of one run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterKey {
    /// The run's namespace (the cluster's too).
    pub namespace: String,
    /// The run's `metadata.uid`.
    pub run_uid: String,
    /// The `ManagedClusterRef`'s name.
    pub cluster: String,
}

/// What the operator knows of a cluster's current attempt beyond the run's status.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    pub(crate) attempt: u32,
    pub(crate) progress: Option<JournalProgress>,
    pub(crate) note: Option<String>,
    pub(crate) operations_started: u32,
    pub(crate) outcome: Option<Outcome>,
}

struct Worker {
    attempt: u32,
    handle: JoinHandle<()>,
}

/// Counters for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Reconciles run.
    pub reconciles: AtomicU64,
    /// `UpgradeRun` status writes.
    pub run_status_writes: AtomicU64,
}

/// The operator's shared state. Build it with [`Operator::new`], share it as `Arc<Operator>`.
pub struct Operator {
    pub(crate) client: kube::Client,
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: ExecutorConfig,
    pub(crate) recorder: Recorder,
    leader: AtomicBool,
    workers: Mutex<HashMap<ClusterKey, Worker>>,
    reports: Mutex<HashMap<ClusterKey, Report>>,
    /// Counters.
    pub stats: Stats,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("clock", &self.clock)
            .field("leader", &self.leader)
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// An operator on the management cluster `client`, reaching managed clusters through
    /// `connector`. It starts as leader; [`crate::leader`] takes leadership away and back.
    pub fn new(client: kube::Client, connector: Arc<dyn Connector>) -> Self {
        let reporter = Reporter {
            controller: "kupgrade-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            connector,
            clock: Arc::new(SystemClock),
            config: ExecutorConfig::default(),
            leader: AtomicBool::new(true),
            workers: Mutex::default(),
            reports: Mutex::default(),
            stats: Stats::default(),
        }
    }

    /// Reads the time from `clock` (tests and benchmarks use a [`crate::TokioClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs clusters with `config` (polling, drain, gate soak).
    pub fn with_executor_config(mut self, config: ExecutorConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts as a follower (`false`) or as the leader (`true`, the default: a single replica,
    /// tests). A replica that elects its leader with [`crate::leader::lead`] starts as a
    /// follower, so that nothing runs before the Lease is held.
    pub fn with_leader(self, leader: bool) -> Self {
        self.leader.store(leader, Ordering::SeqCst);
        self
    }

    /// Whether this replica leads (only the leader reconciles and runs workers).
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    /// Gains or loses leadership. Losing it stops every worker at once, as a crash would: the
    /// journals in the `ManagedClusterRef`s hold everything the next leader needs.
    pub fn set_leader(&self, leader: bool) {
        // Under the workers' lock, so that no worker starts between the flag and the stop.
        let mut workers = self.lock_workers();
        let was = self.leader.swap(leader, Ordering::SeqCst);
        if was && !leader {
            for (_, w) in workers.drain() {
                w.handle.abort();
            }
            // What this replica heard from its workers may be stale by the time it leads again.
            self.reports.lock().unwrap_or_else(|e| e.into_inner()).clear();
            tracing::warn!("leadership lost: every worker stopped");
        }
    }

    /// How many clusters are upgrading in this process now.
    pub fn workers_running(&self) -> usize {
        self.lock_workers()
            .values()
            .filter(|w| !w.handle.is_finished())
            .count()
    }

    fn lock_workers(&self) -> std::sync::MutexGuard<'_, HashMap<ClusterKey, Worker>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_report(&self, key: &ClusterKey, f: impl FnOnce(&mut Report)) {
        let mut reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        f(reports.entry(key.clone()).or_default());
    }

    pub(crate) fn report(&self, key: &ClusterKey) -> Option<Report> {
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Starts a worker for `job` unless one runs for this attempt already.
    pub(crate) fn start(self: &Arc<Self>, job: Assignment) {
        let mut workers = self.lock_workers();
        if !self.is_leader() {
            return;
        }
        if workers.get(&job.key).is_some_and(|w| w.attempt == job.attempt) {
            return;
        }
        if let Some(old) = workers.remove(&job.key) {
            old.handle.abort();
        }
        self.with_report(&job.key, |r| {
            if r.attempt != job.attempt {
                *r = Report {
                    attempt: job.attempt,
                    ..Report::default()
                };
            }
        });
        let key = job.key.clone();
        let attempt = job.attempt;
        let handle = tokio::spawn(upgrade_cluster(self.clone(), job));
        workers.insert(key, Worker { attempt, handle });
    }

    /// Whether a worker was started in this process for `key`'s attempt `attempt` (running or
    /// ended).
    pub(crate) fn has_worker(&self, key: &ClusterKey, attempt: u32) -> bool {
        self.lock_workers().get(key).is_some_and(|w| w.attempt == attempt)
    }

    /// Stops the workers of the run with `run_uid` (a `Stop`), as a crash would.
    pub(crate) fn stop_run(&self, run_uid: &str) {
        self.lock_workers().retain(|k, w| {
            if k.run_uid == run_uid {
                w.handle.abort();
                false
            } else {
                true
            }
        });
    }

    /// Forgets everything about the run with `run_uid` (it ended or was deleted).
    pub(crate) fn forget_run(&self, run_uid: &str) {
        self.stop_run(run_uid);
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| k.run_uid != run_uid);
    }

    pub(crate) fn progress(&self, key: &ClusterKey, progress: JournalProgress) {
        self.with_report(key, |r| r.progress = Some(progress));
    }

    pub(crate) fn note(&self, key: &ClusterKey, note: String) {
        self.with_report(key, |r| r.note = Some(note));
    }

    pub(crate) fn add_operations(&self, key: &ClusterKey, n: u32) {
        self.with_report(key, |r| r.operations_started += n);
    }

    pub(crate) fn finished(&self, key: &ClusterKey, attempt: u32, outcome: Outcome) {
        self.with_report(key, |r| {
            if r.attempt == attempt {
                r.outcome = Some(outcome);
            }
        });
    }
}
