//! Serde shapes of the ARM resources kupgrade reads (api-version 2026-08-01), limited to the
//! fields it uses. Writes are built from the JSON document read back from ARM (`writes.rs`), so
//! writable fields this crate does not model survive a GET-modify-PUT untouched.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `Microsoft.ContainerService/managedClusters`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManagedClusterModel {
    /// The ARM resource id (`/subscriptions/.../managedClusters/NAME`).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub properties: ClusterProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterProperties {
    pub kubernetes_version: Option<String>,
    pub current_kubernetes_version: Option<String>,
    pub provisioning_state: Option<String>,
    pub max_agent_pools: Option<u32>,
    #[serde(default)]
    pub agent_pool_profiles: Vec<AgentPoolProfileModel>,
    pub auto_upgrade_profile: Option<AutoUpgradeProfile>,
}

/// The inline pool entries of a managed cluster (only used for the legacy-cluster check).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentPoolProfileModel {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type")]
    pub pool_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AutoUpgradeProfile {
    pub upgrade_channel: Option<String>,
}

/// `.../managedClusters/{name}/agentPools/{pool}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentPoolModel {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub properties: AgentPoolProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentPoolProperties {
    pub count: Option<u32>,
    pub vm_size: Option<String>,
    pub mode: Option<String>,
    pub orchestrator_version: Option<String>,
    pub current_orchestrator_version: Option<String>,
    pub provisioning_state: Option<String>,
    pub upgrade_settings: Option<UpgradeSettingsModel>,
    pub node_labels: Option<BTreeMap<String, String>>,
    pub node_taints: Option<Vec<String>>,
}

/// `AgentPoolUpgradeSettings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpgradeSettingsModel {
    pub max_surge: Option<String>,
    pub max_unavailable: Option<String>,
    pub drain_timeout_in_minutes: Option<u32>,
    pub node_soak_duration_in_minutes: Option<u32>,
    pub undrainable_node_behavior: Option<String>,
}

/// A list page: `value` plus `nextLink`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentPoolList {
    #[serde(default)]
    pub value: Vec<serde_json::Value>,
    pub next_link: Option<String>,
}

/// `locations/{loc}/kubernetesVersions` (note: the list key is `values`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct KubernetesVersionList {
    #[serde(default)]
    pub values: Vec<KubernetesVersionModel>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KubernetesVersionModel {
    pub version: String,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub is_preview: bool,
    pub capabilities: Option<VersionCapabilities>,
    #[serde(default)]
    pub patch_versions: BTreeMap<String, PatchVersionModel>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VersionCapabilities {
    #[serde(default)]
    pub support_plan: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PatchVersionModel {}

/// `managedClusters/{name}/upgradeProfiles/default`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct UpgradeProfileModel {
    #[serde(default)]
    pub properties: UpgradeProfileProperties,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpgradeProfileProperties {
    #[serde(default)]
    pub control_plane_profile: PoolUpgradeProfileModel,
    #[serde(default)]
    pub agent_pool_profiles: Vec<PoolUpgradeProfileModel>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PoolUpgradeProfileModel {
    #[serde(default)]
    pub kubernetes_version: String,
    pub name: Option<String>,
    #[serde(default)]
    pub upgrades: Vec<UpgradeEntryModel>,
    /// What AKS installs per Kubernetes minor (listed by AKS Component Insights).
    #[serde(default)]
    pub components_by_releases: Vec<ComponentsByReleaseModel>,
}

/// `componentsByReleases[]`: the components of one Kubernetes minor.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ComponentsByReleaseModel {
    #[serde(default)]
    pub kubernetes_version: String,
    #[serde(default)]
    pub components: Vec<ComponentModel>,
}

/// One component of `componentsByReleases[].components`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ComponentModel {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub has_breaking_changes: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpgradeEntryModel {
    pub kubernetes_version: String,
    #[serde(default)]
    pub is_preview: bool,
}

/// The body of an `Azure-AsyncOperation` status URL.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AsyncOperationModel {
    #[serde(default)]
    pub status: String,
    pub error: Option<CloudErrorBody>,
}

/// ARM's error envelope: `{"error": {...}}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CloudError {
    pub error: Option<CloudErrorBody>,
}

/// `code`, `message` and nested `details`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CloudErrorBody {
    pub code: Option<String>,
    /// AKS's finer code beside `code` (`"code": "ValidationError", "subcode":
    /// "UpgradeBlockedOnDeprecatedAPIUsage"`, as the AKS docs show the refusal).
    #[serde(default)]
    pub subcode: Option<String>,
    pub message: Option<String>,
    #[serde(default)]
    pub details: Vec<CloudErrorBody>,
}

impl CloudErrorBody {
    /// Every code in the tree, outermost first.
    pub fn codes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .code
            .as_deref()
            .into_iter()
            .chain(self.subcode.as_deref())
            .collect();
        for d in &self.details {
            out.extend(d.codes());
        }
        out
    }

    /// `code: message` plus the details, on one line.
    pub fn one_line(&self) -> String {
        let mut s = match (&self.code, &self.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => "no error details".to_string(),
        };
        let details: Vec<String> = self.details.iter().map(CloudErrorBody::one_line).collect();
        if !details.is_empty() {
            s.push_str(" (");
            s.push_str(&details.join("; "));
            s.push(')');
        }
        s.replace(['\n', '\r'], " ")
    }
}
