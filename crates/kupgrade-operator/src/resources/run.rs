//! [`UpgradeRun`]: one fleet upgrade to a target version under a strategy, and its progress.

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::Condition;
use super::strategy::UpgradeStrategySpec;

/// Upgrades every cluster its strategy's stages select to `targetVersion`. `state: Stop` halts
/// it (nothing new starts; the clusters upgrading are stopped at once, their journals kept) and
/// `Run` resumes it; raising `retryFailed` retries the failed clusters with the same settings.
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "kupgrade.io",
    version = "v1alpha1",
    kind = "UpgradeRun",
    namespaced,
    status = "UpgradeRunStatus",
    shortname = "urun",
    category = "kupgrade",
    printcolumn(
        name = "Target",
        type_ = "string",
        json_path = ".spec.targetVersion",
        description = "the target minor"
    ),
    printcolumn(
        name = "Stage",
        type_ = "string",
        json_path = ".status.stage",
        description = "the stage running now"
    ),
    printcolumn(
        name = "Progress",
        type_ = "string",
        json_path = ".status.progress",
        description = "clusters done / selected"
    ),
    printcolumn(
        name = "Result",
        type_ = "string",
        json_path = ".status.phase",
        description = "Pending, Running, Stopped, Succeeded or Failed"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeRunSpec {
    /// The Kubernetes minor every cluster ends at (`1.32`). Fixed once created.
    #[x_kube(validation = Rule::new("self == oldSelf").message("targetVersion cannot change; create another UpgradeRun"))]
    pub target_version: String,
    /// The `UpgradeStrategy` (same namespace) the run freezes when it starts. Fixed once created.
    #[x_kube(validation = Rule::new("self == oldSelf").message("strategyRef cannot change; create another UpgradeRun"))]
    pub strategy_ref: String,
    /// `Run` (default) or `Stop`.
    #[serde(default)]
    pub state: RunState,
    /// Raise it by one to retry every failed cluster with the same settings (each resumes its
    /// journal). Lowering it does nothing.
    #[serde(default)]
    pub retry_failed: u32,
}

/// What the user asks of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RunState {
    /// Go on.
    #[default]
    Run,
    /// Halt.
    Stop,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RunPhase {
    /// Not started: the strategy is not frozen yet.
    #[default]
    Pending,
    /// Moving.
    Running,
    /// Halted by `state: Stop`.
    Stopped,
    /// Every stage passed.
    Succeeded,
    /// A stage exceeded its failure threshold, failed a gate, or the run could not start.
    Failed,
}

/// Where a stage is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StagePhase {
    /// Earlier stages still run.
    #[default]
    Pending,
    /// Waiting on its before-gates.
    GatingBefore,
    /// Its clusters upgrade.
    Upgrading,
    /// Every cluster finished; soaking.
    Soaking,
    /// Waiting on its after-gates.
    GatingAfter,
    /// Done; the next stage may start.
    Passed,
    /// Over its failure threshold, or a gate failed.
    Failed,
}

/// Where one cluster of the run is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ClusterPhase {
    /// Not started.
    #[default]
    Pending,
    /// Upgrading (its journal is in its `ManagedClusterRef`'s status).
    Upgrading,
    /// At the target, verified by reading it again.
    Succeeded,
    /// Failed; `message` says why.
    Failed,
}

/// The run's progress, written only by the operator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeRunStatus {
    /// Where the run is.
    #[serde(default)]
    pub phase: RunPhase,
    /// The stage running now (printed by `kubectl get upgraderuns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Clusters finished / selected, e.g. `7/12` (printed by `kubectl get upgraderuns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// The strategy as it was when the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<UpgradeStrategySpec>,
    /// The strategy's `metadata.generation` when frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_generation: Option<i64>,
    /// Each stage, in order.
    #[serde(default)]
    pub stages: Vec<StageProgress>,
    /// Each selected cluster.
    #[serde(default)]
    pub clusters: Vec<ClusterProgress>,
    /// The `spec.retryFailed` last acted on.
    #[serde(default)]
    pub retries_done: u32,
    /// When the run started and ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When the run ended (succeeded or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// `Ready`, `Progressing`, `Stalled`, `WaitingForApproval`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One stage's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageProgress {
    /// The stage.
    pub name: String,
    /// Where it is.
    #[serde(default)]
    pub phase: StagePhase,
    /// When its current gate (or soak) began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Which gate of the current side it waits on (0-based).
    #[serde(default)]
    pub gate: u32,
    /// Why it failed, or what it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One cluster's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterProgress {
    /// The `ManagedClusterRef`'s name.
    pub name: String,
    /// The stage it belongs to.
    pub stage: String,
    /// Where it is.
    #[serde(default)]
    pub phase: ClusterPhase,
    /// How many times it was started (1 + retries).
    #[serde(default)]
    pub attempts: u32,
    /// Steps of its plan done or skipped.
    #[serde(default)]
    pub steps_done: u32,
    /// Steps in its plan.
    #[serde(default)]
    pub steps_total: u32,
    /// Provider operations its journal records as started and not yet finished.
    #[serde(default)]
    pub operations_in_flight: Vec<OperationInFlight>,
    /// Why it failed, or the last thing it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Provider operations its attempts started, counted as each attempt ends (an attempt
    /// cut short by a restart counts in the attempt that finishes it).
    #[serde(default)]
    pub operations_started: u32,
}

/// A provider operation a cluster's journal records as running.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationInFlight {
    /// The plan step (1-based) that started it.
    pub step: u32,
    /// The provider's operation id.
    pub operation: String,
}

impl UpgradeRunStatus {
    /// The progress of cluster `name`.
    pub fn cluster(&self, name: &str) -> Option<&ClusterProgress> {
        self.clusters.iter().find(|c| c.name == name)
    }
}
