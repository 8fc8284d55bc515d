//! [`UpgradeStrategy`]: how a fleet moves, stage by stage.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Ordered stages, each selecting clusters by label, with its concurrency, failure threshold,
/// soak and gates. A run freezes the strategy into its status when it starts, so editing a
/// strategy never changes a run in progress.
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "kupgrade.io",
    version = "v1alpha1",
    kind = "UpgradeStrategy",
    namespaced,
    shortname = "ustrat",
    category = "kupgrade",
    printcolumn(
        name = "Stages",
        type_ = "integer",
        json_path = ".spec.stages.length()",
        description = "how many stages"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategySpec {
    /// The stages, in order: a stage starts once the one before it passed its after-gates and soak.
    #[x_kube(validation = Rule::new("size(self) > 0").message("a strategy needs at least one stage"))]
    pub stages: Vec<Stage>,
    /// How each cluster is upgraded.
    #[serde(default)]
    pub upgrade: ClusterUpgradeSettings,
}

/// One stage of a strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Its name (`dev`, `staging`, `production`).
    pub name: String,
    /// The labels a `ManagedClusterRef` must carry to belong to this stage (all of them). A
    /// cluster two stages select belongs to the first. Empty selects every cluster no earlier
    /// stage took.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// How many of its clusters upgrade at once.
    #[serde(default = "one")]
    pub max_concurrent: u32,
    /// How many of its clusters may fail before the run stops starting clusters (0: the first
    /// failure stops the run). Failed clusters within the threshold are reported and can be
    /// retried; the run goes on.
    #[serde(default)]
    pub max_failures: u32,
    /// How long to wait after its last cluster finished, before its after-gates (`30m`, `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<String>,
    /// Gates that must pass before its first cluster starts.
    #[serde(default)]
    pub before: Vec<Gate>,
    /// Gates that must pass (after the soak) before the next stage starts.
    #[serde(default)]
    pub after: Vec<Gate>,
}

fn one() -> u32 {
    1
}

/// A gate: exactly one of `wait`, `postChecks` or `approval`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    /// Wait this long (`10m`) from when the gate is reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// Judge every cluster of the stage that upgraded: each named check must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_checks: Option<Vec<PostCheck>>,
    /// Hold until an `UpgradeApproval` names this run, stage and side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRequest>,
}

/// What an approval gate asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    /// Shown to the approver in the run's condition and event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A check a post-check gate runs on each upgraded cluster of the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub enum PostCheck {
    /// The control plane and every node pool at the run's target minor.
    Versions,
    /// Every node Ready.
    NodesReady,
    /// Every Deployment, StatefulSet and DaemonSet available.
    WorkloadsAvailable,
}

/// How each cluster of the run is upgraded: the `kupgrade upgrade` options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterUpgradeSettings {
    /// `in-place` (default), `blue-green` or `canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Node pools in flight at once (default: what the provider allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel_pools: Option<u32>,
    /// Destructive: drains delete pods a PodDisruptionBudget protects.
    #[serde(default)]
    pub force_drain: bool,
}

impl Gate {
    /// What the gate waits for, in a few words; an error when it is not exactly one thing.
    pub fn validate(&self) -> Result<(), String> {
        let set = [
            self.wait.is_some(),
            self.post_checks.is_some(),
            self.approval.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if set != 1 {
            return Err(format!(
                "a gate needs exactly one of wait, postChecks or approval; this one has {set}"
            ));
        }
        if let Some(w) = &self.wait {
            parse_duration(w)?;
        }
        Ok(())
    }
}

impl UpgradeStrategySpec {
    /// Checks what the schema cannot: stage names unique, gates well-formed, durations
    /// readable, concurrency at least 1, the upgrade strategy known.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for stage in &self.stages {
            if !seen.insert(stage.name.as_str()) {
                return Err(format!("stage '{}' appears twice", stage.name));
            }
            if stage.max_concurrent == 0 {
                return Err(format!(
                    "stage '{}': maxConcurrent must be at least 1",
                    stage.name
                ));
            }
            if let Some(s) = &stage.soak {
                parse_duration(s).map_err(|e| format!("stage '{}': soak: {e}", stage.name))?;
            }
            for (side, gates) in [("before", &stage.before), ("after", &stage.after)] {
                for (i, gate) in gates.iter().enumerate() {
                    gate.validate()
                        .map_err(|e| format!("stage '{}' {side} gate {}: {e}", stage.name, i + 1))?;
                    if side == "before" && gate.post_checks.is_some() {
                        return Err(format!(
                            "stage '{}' before gate {}: postChecks judge upgraded clusters; put them in `after`",
                            stage.name,
                            i + 1
                        ));
                    }
                }
            }
        }
        self.upgrade.core_strategy()?;
        Ok(())
    }
}

impl ClusterUpgradeSettings {
    /// The core strategy named by `strategy`.
    pub fn core_strategy(&self) -> Result<kupgrade_core::Strategy, String> {
        match self.strategy.as_deref().unwrap_or("in-place") {
            "in-place" => Ok(kupgrade_core::Strategy::InPlace),
            "blue-green" => Ok(kupgrade_core::Strategy::BlueGreen),
            "canary" => Ok(kupgrade_core::Strategy::Canary),
            other => Err(format!(
                "upgrade.strategy '{other}' is not one of in-place, blue-green, canary"
            )),
        }
    }
}

/// Reads `90s`, `10m`, `1h`, `1h30m` or `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("'{text}' is not a duration like 90s, 10m, 1h30m or 2d");
    let mut total = 0u64;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || text.trim().is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}
