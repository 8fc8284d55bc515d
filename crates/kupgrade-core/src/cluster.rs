//! The types that cross the [`ManagedCluster`](crate::ManagedCluster) trait: snapshots of a
//! cluster and its pools, operations, versions offered, request tokens and options.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::calendar::SupportWindow;
use crate::provider::Provider;
use crate::version::KubeVersion;

/// The lifecycle state of a cluster or node pool, normalised across providers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ResourceStatus {
    /// Serving and idle (EKS `ACTIVE`, AKS `Succeeded`, GKE `RUNNING`).
    #[default]
    Ready,
    /// An update is running.
    Updating,
    /// Being created.
    Creating,
    /// Being deleted.
    Deleting,
    /// Degraded or failed.
    Failed,
}

/// A node taint, copied to a replacement pool in blue/green upgrades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taint {
    /// The key.
    pub key: String,
    /// The value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// How one in-place node-pool upgrade runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolUpgradeOptions {
    /// How the provider replaces the nodes (surge, unavailability, drain timeout, soak).
    pub rollout: RolloutSettings,
    /// Evict past PodDisruptionBudgets where the provider can (EKS `force`). Destructive: only
    /// on the user's explicit request.
    pub force: bool,
}

impl PoolUpgradeOptions {
    /// The pool's rollout settings, without force.
    pub fn new(rollout: RolloutSettings) -> Self {
        Self {
            rollout,
            force: false,
        }
    }

    /// Evicts past PodDisruptionBudgets.
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }
}

/// How a provider replaces a pool's nodes during an in-place upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutSettings {
    /// Extra nodes created at once (EKS computes its own; AKS `maxSurge`; GKE `max_surge`).
    pub max_surge: u32,
    /// Nodes taken down at once.
    pub max_unavailable: u32,
    /// How long one node's drain may take before the upgrade stops.
    #[serde(with = "seconds")]
    pub drain_timeout: Duration,
    /// Wait after each node's drain (AKS `nodeSoakDurationInMinutes`, GKE batch soak).
    #[serde(with = "seconds")]
    pub soak: Duration,
}

impl Default for RolloutSettings {
    fn default() -> Self {
        Self {
            max_surge: 1,
            max_unavailable: 0,
            drain_timeout: Duration::from_secs(15 * 60),
            soak: Duration::ZERO,
        }
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// One node pool (EKS managed node group, AKS agent pool, GKE node pool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePool {
    /// The pool's name.
    pub name: String,
    /// The kubelet version its nodes run.
    pub version: KubeVersion,
    /// How many nodes it has.
    pub nodes: u32,
    /// Labels on its nodes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Taints on its nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// Rollout settings for in-place upgrades.
    #[serde(default)]
    pub rollout: RolloutSettings,
    /// Its lifecycle state.
    #[serde(default)]
    pub status: ResourceStatus,
}

impl NodePool {
    /// A ready pool with default settings.
    pub fn new(name: impl Into<String>, version: KubeVersion, nodes: u32) -> Self {
        Self {
            name: name.into(),
            version,
            nodes,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            rollout: RolloutSettings::default(),
            status: ResourceStatus::Ready,
        }
    }
}

/// What kupgrade knows about a cluster at one moment. Also the offline state-file format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSnapshot {
    /// The provider.
    pub provider: Provider,
    /// The cluster's name.
    pub name: String,
    /// The control plane's version.
    pub control_plane: KubeVersion,
    /// Its lifecycle state.
    #[serde(default)]
    pub status: ResourceStatus,
    /// The node pools.
    #[serde(default)]
    pub node_pools: Vec<NodePool>,
    /// A provider auto-upgrade that could race a manual upgrade (e.g. an AKS channel or GKE
    /// release channel), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_upgrade: Option<String>,
    /// The provider's own identity of the cluster (EKS ARN, AKS resource id, GKE self link,
    /// simulator uid), when known: a journal is bound to it, so a journal written for another
    /// cluster of the same name is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ClusterSnapshot {
    /// The pool called `name`.
    pub fn pool(&self, name: &str) -> Option<&NodePool> {
        self.node_pools.iter().find(|p| p.name == name)
    }
}

/// A version the provider offers for this cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferedVersion {
    /// The version.
    pub version: KubeVersion,
    /// Whether it is the provider's default for new clusters.
    pub is_default: bool,
    /// Its live support window, when the provider publishes one.
    pub support: Option<SupportWindow>,
    /// A preview release the provider offers but does not support for production (AKS marks
    /// these `isPreview` in the location's `kubernetesVersions`); `false` where the provider
    /// has no such notion.
    pub preview: bool,
}

/// A node pool to create (blue/green, canary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePoolSpec {
    /// The new pool's name.
    pub name: String,
    /// The pool whose provider configuration (instance type, subnets, IAM) is cloned.
    pub clone_of: String,
    /// Its version.
    pub version: KubeVersion,
    /// How many nodes.
    pub nodes: u32,
    /// Labels for its nodes.
    pub labels: BTreeMap<String, String>,
    /// Taints for its nodes.
    pub taints: Vec<Taint>,
}

/// An idempotency key: the same token for the same logical change, so that a retried or
/// resumed call never starts a second operation (EKS `clientRequestToken`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestToken(pub String);

/// The provider's id for a long-running operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OperationId(pub String);

impl std::fmt::Display for OperationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an operation changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OperationKind {
    /// A control-plane version upgrade.
    UpgradeControlPlane,
    /// A node-pool version upgrade.
    UpgradeNodePool,
    /// A node-pool creation.
    CreateNodePool,
    /// A node-pool deletion.
    DeleteNodePool,
}

/// Where an operation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "message")]
#[non_exhaustive]
pub enum OperationState {
    /// Accepted, not started.
    Pending,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished unsuccessfully, with the provider's reason.
    Failed(String),
    /// Cancelled.
    Cancelled,
}

impl OperationState {
    /// Whether the operation has ended.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, OperationState::Pending | OperationState::Running)
    }
}

/// A long-running provider operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The provider's id.
    pub id: OperationId,
    /// What it changes.
    pub kind: OperationKind,
    /// The node pool it acts on, if any.
    pub node_pool: Option<String>,
    /// The version it moves to, if any.
    pub to: Option<KubeVersion>,
    /// Where it stands.
    pub state: OperationState,
    /// Units done and total (e.g. nodes replaced), when the provider reports them.
    pub progress: Option<(u32, u32)>,
    /// How long the provider asked to wait before polling again (ARM's `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_after: Option<Duration>,
}

/// How a provider runs operations, for callers that schedule them. Provider-only features
/// (add-on updates, node configurations, provider checks) are not flags here but extension
/// traits reached through [`ManagedCluster`](crate::ManagedCluster)'s accessors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// The provider runs a native blue/green node-pool upgrade (GKE).
    pub native_blue_green: bool,
    /// Which operations may run at the same time on one cluster (default: one per cluster).
    pub concurrency: crate::concurrency::OperationConcurrency,
}

impl Capabilities {
    /// Whether the provider runs a native blue/green node-pool upgrade.
    pub fn with_native_blue_green(mut self, yes: bool) -> Self {
        self.native_blue_green = yes;
        self
    }

    /// Which operations may run at the same time on one cluster.
    pub fn with_concurrency(mut self, concurrency: crate::concurrency::OperationConcurrency) -> Self {
        self.concurrency = concurrency;
        self
    }
}
