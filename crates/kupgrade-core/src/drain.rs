//! Draining nodes through the Eviction API, honouring PodDisruptionBudgets, with a report of
//! exactly which pod and which PDB blocked and for how long.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::poll::PollPolicy;
use crate::workloads::{ClusterWorkloads, DrainBlocker, DrainOptions, Eviction, PodRef};

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// Pods evicted.
    pub evicted: u32,
    /// DaemonSet and mirror pods left alone.
    pub skipped: u32,
    /// Pods deleted past their PDB because the user forced it, each with that PDB.
    pub forced: Vec<(PodRef, String)>,
}

impl DrainReport {
    /// `deleted 2 pod(s) past their PodDisruptionBudget: shop/web-1 (pdb web), ...`, when any.
    pub fn forced_note(&self) -> Option<String> {
        (!self.forced.is_empty()).then(|| {
            let pods: Vec<String> = self
                .forced
                .iter()
                .map(|(pod, pdb)| format!("{pod} (PodDisruptionBudget {pdb})"))
                .collect();
            format!(
                "the forced drain deleted {} pod(s) past their PodDisruptionBudget: {}",
                pods.len(),
                pods.join(", ")
            )
        })
    }
}

/// When a drain of one run last evicted a pod, shared by the drains that run at the same time.
#[derive(Debug)]
pub struct DrainClock(std::sync::Mutex<tokio::time::Instant>);

impl Default for DrainClock {
    fn default() -> Self {
        Self(std::sync::Mutex::new(tokio::time::Instant::now()))
    }
}

impl DrainClock {
    fn lock(&self) -> std::sync::MutexGuard<'_, tokio::time::Instant> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an eviction now.
    fn tick(&self) {
        *self.lock() = tokio::time::Instant::now();
    }

    /// The time since the last eviction by any drain sharing this clock (or since `since`,
    /// this drain's start, if later).
    fn idle_since(&self, since: tokio::time::Instant) -> std::time::Duration {
        let last = (*self.lock()).max(since);
        last.elapsed()
    }
}

/// Cordons `nodes`, then evicts every pod but DaemonSet and mirror pods. Evictions a PDB
/// refuses are retried until `options.timeout` passes with no eviction by this drain or any
/// other sharing `clock`; then, unless `options.force`, the drain stops with
/// [`Error::DrainBlocked`] naming every blocked pod and its PDB. Drains of pools that run at
/// the same time share one budget: while one evicts, the budget moves and the other waits its
/// turn instead of giving up; only when no drain gets anything through for the whole timeout
/// is the budget stuck.
pub async fn drain_nodes(
    workloads: &dyn ClusterWorkloads,
    nodes: &[String],
    options: DrainOptions,
    poll: &PollPolicy,
    events: &EventSink,
    step: usize,
    clock: &DrainClock,
) -> Result<DrainReport> {
    let mut report = DrainReport::default();
    for node in nodes {
        poll.retry("cordon", events, || workloads.set_unschedulable(node, true))
            .await?;
    }
    let mut pending: Vec<(String, PodRef)> = Vec::new();
    for node in nodes {
        for pod in poll
            .retry("list pods", events, || workloads.pods_on(node))
            .await?
        {
            if pod.mirror || pod.owner_kind.as_deref() == Some("DaemonSet") {
                report.skipped += 1;
            } else {
                pending.push((node.clone(), pod.pod));
            }
        }
    }
    let total = pending.len() as u32;
    let started = tokio::time::Instant::now();
    let mut blocked: BTreeMap<PodRef, (String, String, String)> = BTreeMap::new();
    let mut delays = backon::BackoffBuilder::build(
        backon::ExponentialBuilder::default()
            .with_min_delay(poll.min_delay)
            .with_max_delay(poll.max_delay)
            .with_jitter()
            .without_max_times(),
    );
    loop {
        let mut still = Vec::new();
        for (node, pod) in pending {
            match poll.retry("evict", events, || workloads.evict(&pod)).await? {
                Eviction::Evicted | Eviction::Gone => {
                    report.evicted += 1;
                    clock.tick();
                    blocked.remove(&pod);
                }
                Eviction::Blocked { pdb, reason } => {
                    blocked.insert(pod.clone(), (node.clone(), pdb, reason));
                    still.push((node, pod));
                }
            }
        }
        events(&Event::Progress {
            index: step,
            done: total - still.len() as u32,
            total,
        });
        if still.is_empty() {
            return Ok(report);
        }
        if clock.idle_since(started) >= options.timeout {
            if options.force {
                for (_, pod) in &still {
                    workloads.delete_pod(pod).await?;
                    let pdb = blocked
                        .get(pod)
                        .map(|(_, pdb, _)| pdb.clone())
                        .unwrap_or_default();
                    events(&Event::PodDeletedPastPdb {
                        index: step,
                        pod: pod.clone(),
                        pdb: pdb.clone(),
                    });
                    report.forced.push((pod.clone(), pdb));
                }
                return Ok(report);
            }
            let waited = clock.idle_since(started).as_secs();
            return Err(Error::DrainBlocked(
                still
                    .into_iter()
                    .map(|(_, pod)| {
                        let (node, pdb, reason) = blocked.remove(&pod).unwrap_or_default();
                        DrainBlocker {
                            node,
                            pod,
                            pdb,
                            reason,
                            blocked_for_secs: waited,
                        }
                    })
                    .collect(),
            ));
        }
        pending = still;
        let delay = delays.next().unwrap_or(poll.max_delay);
        tokio::time::sleep(
            delay
                .min(options.timeout.saturating_sub(clock.idle_since(started)))
                .max(std::time::Duration::from_secs(1)),
        )
        .await;
    }
}
