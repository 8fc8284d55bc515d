//! Reads a write may reuse. [`EksCluster::describe`](crate::EksCluster) keeps the cluster and
//! node groups it read; a write that follows within [`REUSE_FOR`] checks its preconditions
//! (one minor at a time, no node group past the control plane, custom AMIs, the group's
//! rollout settings) on those instead of reading the same resources again, so one executor
//! step reads each resource once. `describe`, `operation` (polls) and `operations_in_flight`
//! always read afresh, and every write forgets what was kept: a write never judges by a state
//! from before an earlier write. EKS checks each write again on its side.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_eks::types::{Cluster, Nodegroup};
use tokio::time::Instant;

/// How long a `describe` stays good enough for a write's own checks.
pub(crate) const REUSE_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(crate) struct RecentReads(Mutex<Option<Reads>>);

#[derive(Debug)]
struct Reads {
    at: Instant,
    cluster: Cluster,
    nodegroups: HashMap<String, Nodegroup>,
}

impl RecentReads {
    /// Keeps what a `describe` read.
    pub(crate) fn remember(&self, cluster: &Cluster, nodegroups: &[Nodegroup]) {
        let reads = Reads {
            at: Instant::now(),
            cluster: cluster.clone(),
            nodegroups: nodegroups
                .iter()
                .map(|g| (g.nodegroup_name().unwrap_or_default().to_string(), g.clone()))
                .collect(),
        };
        *self.lock() = Some(reads);
    }

    /// The cluster as last read, if that was recent.
    pub(crate) fn cluster(&self) -> Option<Cluster> {
        self.fresh(|r| Some(r.cluster.clone()))
    }

    /// Node group `name` as last read, if that was recent.
    pub(crate) fn nodegroup(&self, name: &str) -> Option<Nodegroup> {
        self.fresh(|r| r.nodegroups.get(name).cloned())
    }

    /// Drops everything kept: called before every write.
    pub(crate) fn forget(&self) {
        *self.lock() = None;
    }

    fn fresh<T>(&self, get: impl FnOnce(&Reads) -> Option<T>) -> Option<T> {
        self.lock()
            .as_ref()
            .filter(|r| r.at.elapsed() < REUSE_FOR)
            .and_then(get)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Reads>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> Nodegroup {
        Nodegroup::builder().nodegroup_name(name).version("1.30").build()
    }

    #[tokio::test(start_paused = true)]
    async fn reads_are_reused_until_a_write_or_the_time_limit() {
        let recent = RecentReads::default();
        assert!(recent.cluster().is_none());
        let cluster = Cluster::builder().name("shop").version("1.30").build();
        recent.remember(&cluster, &[group("general")]);
        assert_eq!(recent.cluster().and_then(|c| c.version), Some("1.30".into()));
        assert!(recent.nodegroup("general").is_some());
        assert!(recent.nodegroup("batch").is_none());
        recent.forget();
        assert!(recent.cluster().is_none());

        recent.remember(&cluster, &[group("general")]);
        tokio::time::advance(REUSE_FOR).await;
        assert!(
            recent.nodegroup("general").is_none(),
            "too old to judge a write by"
        );
    }
}
