//! The simulator's whole world, serialisable: this is the simulator state file.

use std::collections::BTreeMap;

use kupgrade_core::{
    Durations, KubeVersion, NodePoolSpec, OperationConcurrency, OperationKind, Provider, ResourceStatus,
    RolloutSettings, Taint,
};
use serde::{Deserialize, Serialize};

/// How long simulated things take, in seconds of virtual time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    /// One control-plane minor upgrade (EKS: "10-15 minutes" observed).
    pub control_plane_secs: u64,
    /// Replacing one batch of nodes in a rolling upgrade.
    pub node_replace_secs: u64,
    /// Creating a node pool until its nodes are Ready.
    pub pool_create_secs: u64,
    /// Deleting a node pool.
    pub pool_delete_secs: u64,
    /// A rescheduled pod becoming Ready.
    pub pod_start_secs: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            control_plane_secs: 15 * 60,
            node_replace_secs: 4 * 60,
            pool_create_secs: 6 * 60,
            pool_delete_secs: 5 * 60,
            pod_start_secs: 30,
        }
    }
}

impl Timings {
    /// These timings as the estimator's durations, for plans of this simulator (a gate soaks
    /// for `gate_soak`, the executor's setting).
    pub fn durations(&self, provider: Provider, gate_soak: std::time::Duration) -> Durations {
        let mut d = Durations::for_provider(provider);
        d.control_plane = self.control_plane_secs;
        d.node_batch = self.node_replace_secs;
        d.pool_create = self.pool_create_secs;
        d.pool_delete = self.pool_delete_secs;
        d.drain_per_node = self.pod_start_secs;
        d.gate = gate_soak.as_secs();
        d.basis = "the simulator's timings".into();
        d
    }
}

/// An operation that will fail when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFailure {
    /// Which kind of operation.
    pub kind: OperationKind,
    /// On which pool (any pool when `None`).
    pub node_pool: Option<String>,
    /// The provider's error text.
    pub message: String,
}

/// Faults to inject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// The next N API calls are throttled.
    pub throttle_next: u32,
    /// Operations that will fail (each used once).
    pub fail_operations: Vec<PlannedFailure>,
    /// Pods scheduled on nodes at this version or newer crash (an app incompatible with it).
    pub crash_pods_from: Option<KubeVersion>,
    /// Nodes at this version or newer join Ready, then turn NotReady two minutes later (a bad
    /// node image).
    pub unstable_nodes_from: Option<KubeVersion>,
}

/// Where the simulated provider departs from its defaults: the stricter rules some providers'
/// pages state, and what it offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderRules {
    /// Refuse a control-plane upgrade while any pool is not at the control plane's minor, as
    /// EKS's `UpdateClusterVersion` API reference states it ("managed node groups must match
    /// the cluster's version"), with [`kupgrade_core::Error::PoolsMustMatch`].
    pub pools_must_match_before_hop: bool,
    /// The minors offered for this cluster; empty means every minor of the embedded calendar.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<KubeVersion>,
    /// Which operations may overlap; `None`: the provider's documented rule
    /// ([`OperationConcurrency::for_provider`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<OperationConcurrency>,
    /// Offered minors that are previews only (AKS `isPreview`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preview: Vec<KubeVersion>,
}

/// A simulated node pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPool {
    /// Its name.
    pub name: String,
    /// Its kubelet version.
    pub version: KubeVersion,
    /// How many nodes.
    pub nodes: u32,
    /// Node labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Node taints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// Rolling-upgrade settings.
    #[serde(default)]
    pub rollout: RolloutSettings,
    /// Lifecycle state.
    #[serde(default)]
    pub status: ResourceStatus,
    /// Bumped each time its nodes are replaced (part of node names).
    #[serde(default)]
    pub generation: u32,
}

/// A simulated node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimNode {
    /// Its name.
    pub name: String,
    /// Its pool.
    pub pool: String,
    /// Its kubelet version.
    pub kubelet: KubeVersion,
    /// Cordoned.
    #[serde(default)]
    pub unschedulable: bool,
    /// When it joined (virtual seconds).
    #[serde(default)]
    pub created_at: u64,
}

/// What owns a set of pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkloadKind {
    /// A Deployment (pods owned through a ReplicaSet).
    Deployment,
    /// A StatefulSet.
    StatefulSet,
    /// A DaemonSet: one pod per node, never evicted.
    DaemonSet,
}

impl WorkloadKind {
    /// The kind of the pods' direct owner, as the API reports it.
    pub fn owner_kind(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "ReplicaSet",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }
}

/// A simulated workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimWorkload {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Desired replicas (ignored for DaemonSets).
    pub replicas: u32,
}

/// A simulated pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPod {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The workload that owns it.
    pub workload: String,
    /// The node it runs on; `None` while Pending.
    pub node: Option<String>,
    /// When it becomes Ready (virtual seconds).
    pub ready_at: u64,
}

/// The limit a PodDisruptionBudget sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// `minAvailable: N`.
    MinAvailable(u32),
    /// `maxUnavailable: N`.
    MaxUnavailable(u32),
}

/// A simulated PodDisruptionBudget over one workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPdb {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The workload it selects.
    pub workload: String,
    /// `minAvailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<u32>,
    /// `maxUnavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<u32>,
}

/// An operation the simulator accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimOperation {
    /// Its id.
    pub id: String,
    /// What it does.
    pub kind: OperationKind,
    /// The pool it acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_pool: Option<String>,
    /// The version it moves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<KubeVersion>,
    /// The caller's idempotency token.
    pub token: String,
    /// When it started (virtual seconds).
    pub started_at: u64,
    /// When it ends.
    pub ends_at: u64,
    /// Units of work (nodes), for progress.
    pub units: u32,
    /// The failure it will end with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Whether its effects are applied (it has ended).
    pub ended: bool,
    /// The new pool, for creations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<NodePoolSpec>,
}

/// Everything the simulator knows about one cluster. This is the state file
/// `kupgrade sim init` writes and `kupgrade upgrade --provider sim` updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimState {
    /// Which provider it behaves like.
    pub provider: Provider,
    /// The cluster's name.
    pub name: String,
    /// A unique id given by `kupgrade sim init`, the simulator's resource id; `None` for
    /// clusters built in code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The control plane's version.
    pub control_plane: KubeVersion,
    /// Auto-upgrade setting that could race us, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_upgrade: Option<String>,
    /// The node pools.
    pub node_pools: Vec<SimPool>,
    /// The nodes.
    #[serde(default)]
    pub nodes: Vec<SimNode>,
    /// The workloads.
    #[serde(default)]
    pub workloads: Vec<SimWorkload>,
    /// The pods.
    #[serde(default)]
    pub pods: Vec<SimPod>,
    /// The PodDisruptionBudgets.
    #[serde(default)]
    pub pdbs: Vec<SimPdb>,
    /// Every operation accepted, in order.
    #[serde(default)]
    pub operations: Vec<SimOperation>,
    /// Virtual seconds elapsed since the state was created.
    #[serde(default)]
    pub clock_secs: u64,
    /// How long things take.
    #[serde(default)]
    pub timings: Timings,
    /// Injected faults.
    #[serde(default)]
    pub faults: Faults,
    /// Stricter rules and the offer.
    #[serde(default)]
    pub rules: ProviderRules,
}
