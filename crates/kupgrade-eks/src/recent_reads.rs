//! The cluster and node groups [`EksCluster::describe`](crate::EksCluster) read, kept (in a
//! [`RecentRead`]) for the write that follows: `UpdateClusterVersion`,
//! `UpdateNodegroupVersion`, `CreateNodegroup` and `DeleteNodegroup` check their preconditions
//! (one minor at a time, no node group past the control plane, custom AMIs, the group's rollout
//! settings, a group already deleting) on it instead of reading the same resources again.

use std::collections::HashMap;

use aws_sdk_eks::types::{Cluster, Nodegroup};
use kupgrade_core::RecentRead;

#[derive(Debug, Default)]
pub(crate) struct RecentReads(RecentRead<Reads>);

#[derive(Debug)]
struct Reads {
    cluster: Cluster,
    nodegroups: HashMap<String, Nodegroup>,
}

impl RecentReads {
    /// Keeps what a `describe` read.
    pub(crate) fn remember(&self, cluster: &Cluster, nodegroups: &[Nodegroup]) {
        self.0.remember(Reads {
            cluster: cluster.clone(),
            nodegroups: nodegroups
                .iter()
                .map(|g| (g.nodegroup_name().unwrap_or_default().to_string(), g.clone()))
                .collect(),
        });
    }

    /// The cluster as last read, if that was recent.
    pub(crate) fn cluster(&self) -> Option<Cluster> {
        self.0.with(|r| Some(r.cluster.clone()))
    }

    /// Node group `name` as last read, if that was recent.
    pub(crate) fn nodegroup(&self, name: &str) -> Option<Nodegroup> {
        self.0.with(|r| r.nodegroups.get(name).cloned())
    }

    /// Drops everything kept: called before every write.
    pub(crate) fn forget(&self) {
        self.0.forget();
    }
}
