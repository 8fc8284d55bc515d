//! The `ClusterWorkloads` trait: what strategies need from inside the cluster (nodes, pods,
//! PodDisruptionBudgets, evictions), with the drain logic itself in [`crate::drain`].

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
pub use crate::pod::{DrainBlocker, PodRef};
use crate::version::KubeVersion;

/// A node as the strategies see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The node's name.
    pub name: String,
    /// The pool it belongs to (from the provider's pool label).
    pub pool: String,
    /// Its kubelet version.
    pub kubelet: KubeVersion,
    /// Whether it reports Ready.
    pub ready: bool,
    /// Whether it is cordoned.
    pub unschedulable: bool,
}

/// A pod on a node about to be drained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    /// Which pod.
    pub pod: PodRef,
    /// The kind of its controller (`ReplicaSet`, `StatefulSet`, `DaemonSet`), if any.
    pub owner_kind: Option<String>,
    /// Whether it is a static (mirror) pod.
    pub mirror: bool,
}

/// The answer to one eviction request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Eviction {
    /// The pod was evicted.
    Evicted,
    /// A PodDisruptionBudget refused (HTTP 429).
    Blocked {
        /// The PDB's name, `namespace/name`.
        pdb: String,
        /// The API server's reason.
        reason: String,
    },
    /// The pod was already gone.
    Gone,
}

/// The cluster's health at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSnapshot {
    /// Nodes in the cluster.
    pub nodes: u32,
    /// Nodes not reporting Ready.
    pub nodes_not_ready: Vec<String>,
    /// Pods in the cluster.
    pub pods: u32,
    /// Pods not Running or Succeeded (Pending, CrashLoopBackOff, Failed...).
    pub pods_failing: Vec<PodRef>,
    /// Workloads (`Kind namespace/name`) with fewer available replicas than desired.
    pub workloads_unavailable: Vec<String>,
}

impl HealthSnapshot {
    /// Whether nothing is wrong.
    pub fn is_healthy(&self) -> bool {
        self.nodes_not_ready.is_empty()
            && self.pods_failing.is_empty()
            && self.workloads_unavailable.is_empty()
    }
}

/// How a drain may behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainOptions {
    /// How long to keep retrying evictions a PDB refuses.
    pub timeout: Duration,
    /// Delete pods a PDB protects once the timeout passes. Only on the user's explicit flag.
    pub force: bool,
}

impl Default for DrainOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15 * 60),
            force: false,
        }
    }
}

/// The in-cluster side of an upgrade.
#[async_trait]
pub trait ClusterWorkloads: Debug + Send + Sync {
    /// The nodes of pool `pool`.
    async fn nodes(&self, pool: &str) -> Result<Vec<Node>>;

    /// Marks a node unschedulable (or schedulable again with `false`).
    async fn set_unschedulable(&self, node: &str, unschedulable: bool) -> Result<()>;

    /// The pods on a node.
    async fn pods_on(&self, node: &str) -> Result<Vec<Pod>>;

    /// Asks the Eviction API to evict a pod. Never deletes.
    async fn evict(&self, pod: &PodRef) -> Result<Eviction>;

    /// Deletes a pod regardless of its PDB. Only for an explicit force.
    async fn delete_pod(&self, pod: &PodRef) -> Result<()>;

    /// The pods on these nodes whose PodDisruptionBudget would block a drain: one that allows
    /// no disruption even with every selected pod Ready (`minAvailable` >= replicas,
    /// `maxUnavailable: 0`). Changes nothing.
    async fn drain_preview(&self, nodes: &[String]) -> Result<Vec<DrainBlocker>>;

    /// The cluster's health.
    async fn health(&self) -> Result<HealthSnapshot>;
}
