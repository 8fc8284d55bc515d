//! [`UpgradeApproval`]: a person's or a program's go-ahead for one approval gate.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Grants the approval gate of `run`'s stage `stage` on side `gate`. Create one per gate that
/// asks for one (`kubectl create` by a person, or a pipeline once its own checks pass); the
/// run's `WaitingForApproval` condition names the stage and side it waits for.
#[derive(CustomResource, Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kupgrade.io",
    version = "v1alpha1",
    kind = "UpgradeApproval",
    namespaced,
    shortname = "uappr",
    category = "kupgrade",
    printcolumn(name = "Run", type_ = "string", json_path = ".spec.run"),
    printcolumn(name = "Stage", type_ = "string", json_path = ".spec.stage"),
    printcolumn(name = "Gate", type_ = "string", json_path = ".spec.gate"),
    printcolumn(name = "Approved-By", type_ = "string", json_path = ".spec.approvedBy"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeApprovalSpec {
    /// The `UpgradeRun` (same namespace).
    pub run: String,
    /// The stage whose gate this approves.
    pub stage: String,
    /// `Before` the stage's clusters start, or `After` they finished.
    pub gate: ApprovalGateSide,
    /// Who approved: a person, or the automation that decided.
    pub approved_by: String,
    /// Why, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Which side of a stage an approval gate sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApprovalGateSide {
    /// Before the stage's first cluster starts.
    Before,
    /// After the stage's clusters finished and soaked.
    After,
}
