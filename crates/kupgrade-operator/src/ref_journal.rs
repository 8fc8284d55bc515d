//! [`RefJournal`]: a cluster's upgrade journal kept in its `ManagedClusterRef`'s status.
//!
//! The engine saves the journal after every change and waits for the save, so the API server
//! (etcd) holds every started step, request token and operation id before the provider is called.
//! The journal lives on the cluster's own resource, not in the run's status: a run of 1,000
//! clusters with their plans would pass etcd's 1.5 MiB object limit, and each step would rewrite
//! every other cluster's journal. The run's status carries each cluster's progress instead
//! (steps done, operations in flight with their ids).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kupgrade_core::journal::StepStatus;
use kupgrade_core::{Journal, JournalStore};
use serde_json::json;

use crate::resources::{ManagedClusterRef, OperationInFlight};

/// What a journal says of a run's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalProgress {
    /// Steps done or skipped.
    pub steps_done: u32,
    /// Steps in the plan.
    pub steps_total: u32,
    /// Operations started and not yet finished.
    pub in_flight: Vec<OperationInFlight>,
}

impl JournalProgress {
    /// Reads `journal`.
    pub fn of(journal: &Journal) -> Self {
        let done = journal
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Done | StepStatus::Skipped))
            .count();
        let in_flight = journal
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.status == StepStatus::Started)
            .filter_map(|(i, s)| {
                s.operation.as_ref().map(|op| OperationInFlight {
                    step: i as u32 + 1,
                    operation: op.0.clone(),
                })
            })
            .collect();
        Self {
            steps_done: done as u32,
            steps_total: journal.steps.len() as u32,
            in_flight,
        }
    }
}

/// Writes to one attempt's record (`ManagedClusterRef.status.upgrade`), fenced: each write
/// is a JSON patch that first tests the run's uid, the attempt and the count of writes so far,
/// so that nothing written by another run, another attempt or a stopped worker is overwritten.
#[derive(Debug, Clone)]
pub(crate) struct Fence {
    pub(crate) api: Api<ManagedClusterRef>,
    pub(crate) cluster: String,
    pub(crate) run_uid: String,
    pub(crate) attempt: u32,
    /// Writes made so far, as stored.
    pub(crate) writes: Arc<AtomicU64>,
}

impl Fence {
    /// Sets each `(field, value)` of the record, if the record is still this attempt's as this
    /// worker last left it.
    pub(crate) async fn write(&self, fields: &[(&str, serde_json::Value)]) -> Result<(), kube::Error> {
        let writes = self.writes.load(Ordering::SeqCst);
        let mut ops = vec![
            json!({"op": "test", "path": "/status/upgrade/runUid", "value": self.run_uid}),
            json!({"op": "test", "path": "/status/upgrade/attempt", "value": self.attempt}),
            json!({"op": "test", "path": "/status/upgrade/writes", "value": writes}),
            json!({"op": "replace", "path": "/status/upgrade/writes", "value": writes + 1}),
        ];
        for (field, value) in fields {
            ops.push(json!({"op": "add", "path": format!("/status/upgrade/{field}"), "value": value}));
        }
        let patch: json_patch::Patch =
            serde_json::from_value(serde_json::Value::Array(ops)).map_err(kube::Error::SerdeError)?;
        self.api
            .patch_status(&self.cluster, &PatchParams::default(), &Patch::Json::<()>(patch))
            .await?;
        self.writes.store(writes + 1, Ordering::SeqCst);
        Ok(())
    }
}

/// The journal of one attempt of one run on one cluster.
pub(crate) struct RefJournal {
    pub(crate) fence: Fence,
    /// Told of every saved journal.
    pub(crate) progress: Arc<dyn Fn(JournalProgress) + Send + Sync>,
}

impl std::fmt::Debug for RefJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefJournal")
            .field("fence", &self.fence)
            .finish_non_exhaustive()
    }
}

fn engine_error(e: impl std::fmt::Display) -> kupgrade_core::Error {
    kupgrade_core::Error::Journal(format!("journal in the ManagedClusterRef's status: {e}"))
}

#[async_trait]
impl JournalStore for RefJournal {
    async fn load(&self) -> kupgrade_core::Result<Option<Journal>> {
        let reference = self
            .fence
            .api
            .get(&self.fence.cluster)
            .await
            .map_err(engine_error)?;
        let Some(record) = reference.status.and_then(|s| s.upgrade) else {
            return Ok(None);
        };
        if record.run_uid != self.fence.run_uid {
            return Ok(None);
        }
        match record.journal {
            Some(text) => serde_json::from_str(&text).map(Some).map_err(engine_error),
            None => Ok(None),
        }
    }

    async fn save(&self, journal: &Journal) -> kupgrade_core::Result<()> {
        let text = serde_json::to_string(journal).map_err(engine_error)?;
        self.fence
            .write(&[("journal", json!(text)), ("outcome", json!(null))])
            .await
            .map_err(engine_error)?;
        (self.progress)(JournalProgress::of(journal));
        Ok(())
    }

    async fn remove(&self) -> kupgrade_core::Result<()> {
        self.fence
            .write(&[("journal", json!(null))])
            .await
            .map_err(engine_error)
    }
}
