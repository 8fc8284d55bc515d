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

/// Cordons `nodes`, then evicts every pod but DaemonSet and mirror pods. Evictions a PDB
/// refuses are retried until `options.timeout` passes with no eviction; then, unless
/// `options.force`, the drain stops with [`Error::DrainBlocked`] naming every blocked pod and
/// its PDB. The timeout counts from the last eviction this drain made, so a budget that another
/// drain running at the same time holds for a while (its pods restarting elsewhere) does not
/// end this one early: only a budget that lets nothing through for the whole timeout does.
pub async fn drain_nodes(
    workloads: &dyn ClusterWorkloads,
    nodes: &[String],
    options: DrainOptions,
    poll: &PollPolicy,
    events: &EventSink,
    step: usize,
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
    let mut last_eviction = tokio::time::Instant::now();
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
                    last_eviction = tokio::time::Instant::now();
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
        if last_eviction.elapsed() >= options.timeout {
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
            let waited = last_eviction.elapsed().as_secs();
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
                .min(options.timeout.saturating_sub(last_eviction.elapsed()))
                .max(std::time::Duration::from_secs(1)),
        )
        .await;
    }
}
