//! [`ManagedClusterRef`]: one managed cluster the operator may upgrade, and where its journal is.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A cluster on EKS, AKS or GKE (or the built-in simulator): the provider's settings, where its
/// credentials come from, and a kubeconfig for its in-cluster side. Its status holds the journal
/// of the run upgrading it, so that a restarted or re-elected operator resumes exactly.
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kupgrade.io",
    version = "v1alpha1",
    kind = "ManagedClusterRef",
    namespaced,
    status = "ManagedClusterRefStatus",
    shortname = "mcr",
    category = "kupgrade",
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider"),
    printcolumn(
        name = "Run",
        type_ = "string",
        json_path = ".status.upgrade.run",
        description = "the run upgrading it"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterRefSpec {
    /// Where the cluster lives.
    pub provider: ProviderKind,
    /// Settings when `provider: Eks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks: Option<EksSettings>,
    /// Settings when `provider: Aks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aks: Option<AksSettings>,
    /// Settings when `provider: Gke`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gke: Option<GkeSettings>,
    /// Settings when `provider: Simulator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator: Option<SimulatorSettings>,
    /// A Secret (same namespace) holding the cloud credentials (keys in the README). Absent:
    /// the operator's own identity (IRSA or EKS Pod Identity, Azure workload identity, GKE
    /// Workload Identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// A Secret (same namespace) whose `kubeconfig` key reaches the cluster's API server, for
    /// drains, health and in-cluster checks. Absent: only the provider's side is used, which
    /// in-place upgrades need; blue/green and canary need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret: Option<String>,
}

/// Where a cluster lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProviderKind {
    /// Amazon EKS.
    Eks,
    /// Azure AKS.
    Aks,
    /// Google GKE.
    Gke,
    /// kupgrade's simulator (no cloud account).
    Simulator,
}

/// An EKS cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EksSettings {
    /// The cluster's name.
    pub cluster: String,
    /// Its AWS region.
    pub region: String,
    /// An EKS endpoint override (an emulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

/// An AKS cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AksSettings {
    /// The subscription id.
    pub subscription: String,
    /// The resource group.
    pub resource_group: String,
    /// The cluster's name.
    pub cluster: String,
    /// An Azure Resource Manager endpoint override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm_endpoint: Option<String>,
}

/// A GKE cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GkeSettings {
    /// The project id.
    pub project: String,
    /// A region or zone.
    pub location: String,
    /// The cluster's name.
    pub cluster: String,
    /// A GKE API endpoint override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// A simulated cluster, created on first use from these settings and kept by the operator
/// (in memory, or in `--sim-dir` so that it survives a restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulatorSettings {
    /// The control plane's version at creation (`1.29`).
    pub control_plane: String,
    /// Which provider it behaves like: `eks` (default), `aks` or `gke`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behaves_like: Option<String>,
    /// Node pools (3 nodes each).
    #[serde(default = "three")]
    pub node_pools: u32,
    /// Pods spread over Deployments and StatefulSets, some with PodDisruptionBudgets.
    #[serde(default)]
    pub pods: u32,
}

fn three() -> u32 {
    3
}

/// What the operator records on the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedClusterRefStatus {
    /// The run upgrading the cluster, with its journal (removed once the run verified the
    /// cluster at its target, when `outcome` becomes `Succeeded`). While the run holds it (not
    /// succeeded, and the run not ended or still finishing it), no other run upgrades the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<ClusterUpgradeRecord>,
}

/// The run upgrading a cluster and its journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterUpgradeRecord {
    /// The `UpgradeRun` (same namespace).
    pub run: String,
    /// The run's `metadata.uid`, so that a new run of the same name is not mistaken for it.
    pub run_uid: String,
    /// Which attempt (1 + retries) the journal belongs to.
    #[serde(default)]
    pub attempt: u32,
    /// The kupgrade journal as JSON text: the plan, each step's status, request token and
    /// operation id (`kubectl get mcr NAME -o jsonpath='{.status.upgrade.journal}' | jq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
    /// How many writes the attempt made to this record. Every write checks it and raises it
    /// (a JSON patch `test`), so a late write from a stopped worker cannot roll the journal back.
    #[serde(default)]
    pub writes: u64,
    /// How the attempt ended, once it did: `Succeeded`, or `Failed: why`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}
