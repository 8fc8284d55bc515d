//! One cluster of a run, upgraded by the same engine as `kupgrade upgrade`: the core
//! [`Upgrade`] session (pre-flight checks, plan, executor), journaled in the cluster's
//! `ManagedClusterRef` status so a restarted or re-elected operator resumes it exactly.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use kube::api::PostParams;
use kube::{Api, ResourceExt};
use kupgrade_core::session::{PrepareOptions, Upgrade};
use kupgrade_core::{Event, KubeVersion, RunResult};
use serde_json::json;

use crate::error::{Error, Result};
use crate::operator::{ClusterKey, Operator};
use crate::ref_journal::{Fence, RefJournal};
use crate::resources::{
    ClusterPhase, ClusterUpgradeRecord, ClusterUpgradeSettings, ManagedClusterRef, ManagedClusterRefStatus,
    RunPhase, UpgradeRun,
};

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// At the target, verified by reading the cluster again.
    Succeeded,
    /// Failed, with why.
    Failed(String),
}

impl Outcome {
    /// The text recorded in `ManagedClusterRef.status.upgrade.outcome`.
    fn record(&self) -> String {
        match self {
            Outcome::Succeeded => "Succeeded".into(),
            Outcome::Failed(why) => format!("Failed: {why}"),
        }
    }

    fn from_record(text: &str) -> Self {
        match text.strip_prefix("Failed: ") {
            Some(why) => Outcome::Failed(why.to_string()),
            None if text == "Succeeded" => Outcome::Succeeded,
            None => Outcome::Failed(text.to_string()),
        }
    }
}

/// What a worker upgrades.
#[derive(Debug, Clone)]
pub(crate) struct Assignment {
    pub(crate) key: ClusterKey,
    pub(crate) run_name: String,
    pub(crate) attempt: u32,
    pub(crate) target: KubeVersion,
    pub(crate) settings: ClusterUpgradeSettings,
}

/// Upgrades one cluster and records how it ended, on the cluster's resource (when this run
/// holds it) and in the operator's reports.
pub(crate) async fn upgrade_cluster(operator: Arc<Operator>, job: Assignment) {
    let outcome = attempt(&operator, &job)
        .await
        .unwrap_or_else(|e| Outcome::Failed(e.to_string()));
    operator.finished(&job.key, job.attempt, outcome);
}

async fn attempt(operator: &Arc<Operator>, job: &Assignment) -> Result<Outcome> {
    let api = Api::<ManagedClusterRef>::namespaced(operator.client.clone(), &job.key.namespace);
    let reference = api.get_opt(&job.key.cluster).await?.ok_or_else(|| {
        Error::Invalid(format!(
            "ManagedClusterRef {}/{} no longer exists",
            job.key.namespace, job.key.cluster
        ))
    })?;
    if let Some(record) = reference.status.as_ref().and_then(|s| s.upgrade.as_ref())
        && record.run_uid == job.key.run_uid
        && record.attempt == job.attempt
        && let Some(outcome) = &record.outcome
    {
        // Ended before a restart, and recorded: nothing to do again.
        return Ok(Outcome::from_record(outcome));
    }
    let (reference, writes) = claim(operator, &api, reference, job).await?;
    let fence = Fence {
        api,
        cluster: job.key.cluster.clone(),
        run_uid: job.key.run_uid.clone(),
        attempt: job.attempt,
        writes: Arc::new(AtomicU64::new(writes)),
    };
    let outcome = upgrade(operator, job, &reference, fence.clone())
        .await
        .unwrap_or_else(|e| Outcome::Failed(e.to_string()));
    if let Err(e) = fence.write(&[("outcome", json!(outcome.record()))]).await {
        tracing::warn!(cluster = %job.key.cluster, %e, "could not record the outcome on the ManagedClusterRef");
    }
    Ok(outcome)
}

/// The upgrade itself, once the run holds the cluster.
async fn upgrade(
    operator: &Arc<Operator>,
    job: &Assignment,
    reference: &ManagedClusterRef,
    fence: Fence,
) -> Result<Outcome> {
    let connected = operator.connector.connect(reference).await?;
    let progress_key = job.key.clone();
    let progress_operator = operator.clone();
    let store = RefJournal {
        fence,
        progress: Arc::new(move |p| progress_operator.progress(&progress_key, p)),
    };
    let events_key = job.key.clone();
    let events_operator = operator.clone();
    let mut session = Upgrade::new(connected.cluster)
        .with_config(operator.config)
        .with_today(operator.clock.now().date_naive())
        .with_journal_store(Arc::new(store), false)
        .with_events(Arc::new(move |e: &Event| {
            if let Event::StepStarted {
                index,
                total,
                description,
            } = e
            {
                events_operator.note(&events_key, format!("step {}/{total}: {description}", index + 1));
            }
        }));
    if let Some(workloads) = connected.workloads {
        session = session.with_workloads(workloads);
    }
    let strategy = job.settings.core_strategy().map_err(Error::Invalid)?;
    let options = PrepareOptions::new(strategy)
        .with_max_parallel_pools(job.settings.max_parallel_pools.map(|n| n as usize))
        .with_force_drain(job.settings.force_drain);
    let mut prepared = session.prepare(&job.target, &options).await?;
    if prepared.blockers() > 0 {
        let first = prepared
            .findings()
            .iter()
            .find(|f| f.severity == kupgrade_core::Severity::Blocker)
            .map(|f| format!("{}: {}", f.id, f.message))
            .unwrap_or_default();
        return Ok(Outcome::Failed(format!(
            "{} pre-flight blocker(s), nothing changed; first: {first}",
            prepared.blockers()
        )));
    }
    let report = prepared.run().await?;
    operator.add_operations(&job.key, report.operations_started);
    Ok(match report.result {
        RunResult::Succeeded => Outcome::Succeeded,
        other => Outcome::Failed(report.error.unwrap_or_else(|| format!("the run ended {other:?}"))),
    })
}

/// Makes the run the cluster's upgrader (compare-and-swap on the resource version), unless
/// another run holds it; returns the resource and the record's count of writes.
async fn claim(
    operator: &Operator,
    api: &Api<ManagedClusterRef>,
    mut reference: ManagedClusterRef,
    job: &Assignment,
) -> Result<(ManagedClusterRef, u64)> {
    let current = reference.status.as_ref().and_then(|s| s.upgrade.clone());
    let record = match current {
        Some(mut r) if r.run_uid == job.key.run_uid => {
            if r.attempt == job.attempt {
                return Ok((reference, r.writes));
            }
            // A retry: same run, same settings; the journal is kept and resumed.
            r.attempt = job.attempt;
            r.outcome = None;
            r.writes += 1;
            r
        }
        Some(r) if holds(operator, &job.key.namespace, &job.key.cluster, &r).await? => {
            return Err(Error::Invalid(format!(
                "cluster '{}' is being upgraded by UpgradeRun {}; retry it (spec.retryFailed) once that run ends",
                job.key.cluster, r.run
            )));
        }
        _ => ClusterUpgradeRecord {
            run: job.run_name.clone(),
            run_uid: job.key.run_uid.clone(),
            attempt: job.attempt,
            writes: 0,
            journal: None,
            outcome: None,
        },
    };
    let writes = record.writes;
    reference.status = Some(ManagedClusterRefStatus {
        upgrade: Some(record),
    });
    let claimed = api
        .replace_status(&reference.name_any(), &PostParams::default(), &reference)
        .await?;
    Ok((claimed, writes))
}

/// Whether the run in `record` still owns `cluster`: the cluster's attempt has not succeeded,
/// and the run exists (the same run, not a new one of that name) and has either not ended or
/// still lists the cluster as upgrading (a failed run finishes what it began).
async fn holds(
    operator: &Operator,
    namespace: &str,
    cluster: &str,
    record: &ClusterUpgradeRecord,
) -> Result<bool> {
    if record.outcome.as_deref() == Some("Succeeded") {
        return Ok(false);
    }
    let runs = Api::<UpgradeRun>::namespaced(operator.client.clone(), namespace);
    Ok(match runs.get_opt(&record.run).await? {
        Some(run) if run.uid().as_deref() == Some(record.run_uid.as_str()) => match run.status {
            Some(status) => {
                !matches!(status.phase, RunPhase::Succeeded | RunPhase::Failed)
                    || status
                        .cluster(cluster)
                        .is_some_and(|c| c.phase == ClusterPhase::Upgrading)
            }
            None => true,
        },
        _ => false,
    })
}
