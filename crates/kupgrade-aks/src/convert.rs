//! ARM shapes <-> core types. Pure functions, unit tested.

use std::time::Duration;

use kupgrade_core::{
    ClusterSnapshot, Error, KubeVersion, NodePool, OperationState, Provider, ResourceStatus, Result,
    RolloutSettings, Taint,
};

use crate::models::{AgentPoolModel, AsyncOperationModel, ManagedClusterModel, UpgradeSettingsModel};

/// What AKS does with a node whose drain is blocked (`undrainableNodeBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndrainableNodeBehavior {
    /// Cordon and label the node `kubernetes.azure.com/upgrade-status=Quarantined`, replace it
    /// with a surge node, and let the upgrade go on.
    Cordon,
    /// Leave the node un-upgraded and fail the operation.
    Schedule,
}

impl UndrainableNodeBehavior {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            UndrainableNodeBehavior::Cordon => "Cordon",
            UndrainableNodeBehavior::Schedule => "Schedule",
        }
    }
}

/// Whether a `provisioningState` is final (no operation running).
pub(crate) fn is_terminal_state(state: Option<&str>) -> bool {
    matches!(
        state.map(str::to_ascii_lowercase).as_deref(),
        None | Some("succeeded") | Some("failed") | Some("canceled") | Some("cancelled")
    )
}

/// `provisioningState` -> [`ResourceStatus`]. `Canceled` (after an abort) is idle: the next PUT
/// resumes.
pub(crate) fn resource_status(state: Option<&str>) -> ResourceStatus {
    match state.map(str::to_ascii_lowercase).as_deref() {
        None | Some("succeeded") | Some("canceled") | Some("cancelled") => ResourceStatus::Ready,
        Some("creating") => ResourceStatus::Creating,
        Some("deleting") => ResourceStatus::Deleting,
        Some("failed") => ResourceStatus::Failed,
        Some(_) => ResourceStatus::Updating,
    }
}

/// The version string ARM takes: `x.y` (AKS picks the latest GA patch) or `x.y.z`.
pub(crate) fn wire_version(v: &KubeVersion) -> String {
    match v.patch() {
        Some(p) => format!("{}.{}.{p}", v.major(), v.minor()),
        None => format!("{}.{}", v.major(), v.minor()),
    }
}

/// Whether `have` (an ARM version string) satisfies the requested `to`: same minor when `to`
/// names no patch, the same patch otherwise.
pub(crate) fn version_matches(have: Option<&str>, to: &KubeVersion) -> bool {
    let Some(have) = have.and_then(|h| KubeVersion::parse(h).ok()) else {
        return false;
    };
    have.same_minor(to) && (to.patch().is_none() || have.patch() == to.patch())
}

fn parse_version(what: &str, primary: Option<&str>, fallback: Option<&str>) -> Result<KubeVersion> {
    let raw = primary
        .or(fallback)
        .ok_or_else(|| Error::provider(format!("{what} has no Kubernetes version")))?;
    KubeVersion::parse(raw)
}

/// `key=value:Effect` (or `key:Effect`) -> [`Taint`].
pub(crate) fn parse_taint(raw: &str) -> Option<Taint> {
    let (kv, effect) = raw.rsplit_once(':')?;
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (kv, None),
    };
    (!key.is_empty()).then(|| Taint {
        key: key.to_string(),
        value,
        effect: effect.to_string(),
    })
}

/// [`Taint`] -> `key=value:Effect`.
pub(crate) fn format_taint(t: &Taint) -> String {
    match &t.value {
        Some(v) => format!("{}={v}:{}", t.key, t.effect),
        None => format!("{}:{}", t.key, t.effect),
    }
}

/// `"3"` or `"33%"` of a pool of `nodes` -> a node count (percentages round up, as AKS does).
fn count_or_percent(raw: Option<&str>, nodes: u32) -> Option<u32> {
    let raw = raw?.trim();
    match raw.strip_suffix('%') {
        Some(p) => {
            let p: u32 = p.trim().parse().ok()?;
            Some((nodes * p).div_ceil(100))
        }
        None => raw.parse().ok(),
    }
}

/// AKS upgrade settings -> core rollout settings, with AKS's documented defaults where unset.
pub(crate) fn rollout_settings(s: Option<&UpgradeSettingsModel>, nodes: u32) -> RolloutSettings {
    let s = s.cloned().unwrap_or_default();
    RolloutSettings {
        max_surge: count_or_percent(s.max_surge.as_deref(), nodes).unwrap_or(1),
        max_unavailable: count_or_percent(s.max_unavailable.as_deref(), nodes).unwrap_or(0),
        drain_timeout: Duration::from_secs(60 * u64::from(s.drain_timeout_in_minutes.unwrap_or(30))),
        soak: Duration::from_secs(60 * u64::from(s.node_soak_duration_in_minutes.unwrap_or(0))),
    }
}

/// The `upgradeSettings` fields to write so the pool rolls out as `requested`: only those whose
/// effective value differs from what the pool's own settings (`existing`, AKS defaults where
/// unset) give for `nodes` nodes, plus `undrainableNodeBehavior` when one was chosen and the pool
/// has another. Empty when the caller asked for nothing new, so a pool's `maxSurge: 33%` is
/// never rewritten as a node count. Values AKS would reject are refused.
pub(crate) fn settings_changes(
    existing: Option<&UpgradeSettingsModel>,
    nodes: u32,
    requested: &RolloutSettings,
    undrainable: Option<UndrainableNodeBehavior>,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    use serde_json::json;
    let current = rollout_settings(existing, nodes);
    let mut out = serde_json::Map::new();
    if requested.max_surge != current.max_surge {
        out.insert("maxSurge".into(), json!(requested.max_surge.to_string()));
    }
    if requested.max_unavailable != current.max_unavailable {
        out.insert(
            "maxUnavailable".into(),
            json!(requested.max_unavailable.to_string()),
        );
    }
    if requested.max_surge == 0 && requested.max_unavailable == 0 && !out.is_empty() {
        return Err(Error::invalid_input(
            "max surge and max unavailable are both 0; AKS needs one of them above 0",
        ));
    }
    let minutes = |d: Duration| d.as_secs().div_ceil(60);
    let drain = minutes(requested.drain_timeout);
    if drain != minutes(current.drain_timeout) {
        if !(5..=1440).contains(&drain) {
            return Err(Error::invalid_input(format!(
                "drain timeout of {drain} minute(s) is outside what AKS accepts (drainTimeoutInMinutes 5 to 1440)"
            )));
        }
        out.insert("drainTimeoutInMinutes".into(), json!(drain));
    }
    let soak = minutes(requested.soak);
    if soak != minutes(current.soak) {
        if soak > 30 {
            return Err(Error::invalid_input(format!(
                "soak of {soak} minutes is more than AKS accepts (nodeSoakDurationInMinutes 0 to 30)"
            )));
        }
        out.insert("nodeSoakDurationInMinutes".into(), json!(soak));
    }
    let have = existing.and_then(|e| e.undrainable_node_behavior.as_deref());
    if let Some(u) = undrainable.filter(|u| have != Some(u.as_str())) {
        out.insert("undrainableNodeBehavior".into(), json!(u.as_str()));
    }
    Ok(out)
}

/// An agent pool -> a core node pool. Versions: the running `currentOrchestratorVersion`,
/// else the requested `orchestratorVersion`.
pub(crate) fn node_pool(p: &AgentPoolModel) -> Result<NodePool> {
    let props = &p.properties;
    let version = parse_version(
        &format!("agent pool '{}'", p.name),
        props.current_orchestrator_version.as_deref(),
        props.orchestrator_version.as_deref(),
    )?;
    let nodes = props.count.unwrap_or(0);
    let mut pool = NodePool::new(p.name.clone(), version, nodes);
    pool.labels = props.node_labels.clone().unwrap_or_default();
    pool.taints = props
        .node_taints
        .iter()
        .flatten()
        .filter_map(|t| parse_taint(t))
        .collect();
    pool.rollout = rollout_settings(props.upgrade_settings.as_ref(), nodes);
    pool.status = resource_status(props.provisioning_state.as_deref());
    Ok(pool)
}

/// The cluster's auto-upgrade channel, when one is on (`none` and absent mean off).
pub(crate) fn auto_upgrade_channel(c: &ManagedClusterModel) -> Option<String> {
    c.properties
        .auto_upgrade_profile
        .as_ref()
        .and_then(|a| a.upgrade_channel.clone())
        .filter(|ch| !ch.eq_ignore_ascii_case("none") && !ch.is_empty())
}

/// A legacy cluster (`maxAgentPools < 8` or availability-set pools) upgrades its control
/// plane and pools together; control-plane-only upgrades are not possible there.
pub(crate) fn legacy_reason(c: &ManagedClusterModel) -> Option<String> {
    if let Some(max) = c.properties.max_agent_pools.filter(|m| *m < 8) {
        return Some(format!("maxAgentPools is {max} (< 8)"));
    }
    c.properties
        .agent_pool_profiles
        .iter()
        .find(|p| p.pool_type.as_deref() == Some("AvailabilitySet"))
        .map(|p| format!("agent pool '{}' uses availability sets", p.name))
}

/// Cluster + pools -> snapshot.
pub(crate) fn snapshot(
    name: &str,
    c: &ManagedClusterModel,
    pools: &[AgentPoolModel],
) -> Result<ClusterSnapshot> {
    let props = &c.properties;
    Ok(ClusterSnapshot {
        provider: Provider::Aks,
        name: name.to_string(),
        control_plane: parse_version(
            &format!("cluster '{name}'"),
            props.current_kubernetes_version.as_deref(),
            props.kubernetes_version.as_deref(),
        )?,
        status: resource_status(props.provisioning_state.as_deref()),
        node_pools: pools.iter().map(node_pool).collect::<Result<_>>()?,
        auto_upgrade: auto_upgrade_channel(c),
        id: c.id.clone(),
    })
}

/// An `Azure-AsyncOperation` status body -> operation state.
pub(crate) fn async_state(op: &AsyncOperationModel) -> OperationState {
    match op.status.to_ascii_lowercase().as_str() {
        "succeeded" => OperationState::Succeeded,
        "failed" => OperationState::Failed(
            op.error
                .as_ref()
                .map(|e| e.one_line())
                .unwrap_or_else(|| "AKS reported Failed without details".into()),
        ),
        "canceled" | "cancelled" => OperationState::Cancelled,
        _ => OperationState::Running,
    }
}

/// AKS agent pool names: `^[a-z][a-z0-9]{0,11}$`.
pub fn validate_pool_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 12
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "node pool name '{name}' is not valid on AKS: use 1 to 12 lower-case letters and digits, starting \
             with a letter (^[a-z][a-z0-9]{{0,11}}$)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{AgentPoolProperties, AsyncOperationModel, CloudErrorBody, ClusterProperties};

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn provisioning_states_map_to_statuses() {
        assert_eq!(resource_status(Some("Succeeded")), ResourceStatus::Ready);
        assert_eq!(resource_status(Some("Upgrading")), ResourceStatus::Updating);
        assert_eq!(resource_status(Some("Updating")), ResourceStatus::Updating);
        assert_eq!(resource_status(Some("Creating")), ResourceStatus::Creating);
        assert_eq!(resource_status(Some("Deleting")), ResourceStatus::Deleting);
        assert_eq!(resource_status(Some("Failed")), ResourceStatus::Failed);
        assert_eq!(resource_status(Some("Canceled")), ResourceStatus::Ready);
        assert!(is_terminal_state(Some("Canceled")) && !is_terminal_state(Some("Upgrading")));
    }

    #[test]
    fn versions_go_on_the_wire_without_provider_suffixes() {
        assert_eq!(wire_version(&v("1.31")), "1.31");
        assert_eq!(wire_version(&v("v1.31.2")), "1.31.2");
        assert!(version_matches(Some("1.31.4"), &v("1.31")));
        assert!(!version_matches(Some("1.31.4"), &v("1.31.2")));
        assert!(!version_matches(Some("1.30.9"), &v("1.31")));
        assert!(!version_matches(None, &v("1.31")));
    }

    #[test]
    fn taints_round_trip() {
        let t = parse_taint("sku=gpu:NoSchedule").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value.as_deref(), t.effect.as_str()),
            ("sku", Some("gpu"), "NoSchedule")
        );
        assert_eq!(format_taint(&t), "sku=gpu:NoSchedule");
        let t = parse_taint("dedicated:NoExecute").unwrap();
        assert_eq!(t.value, None);
        assert_eq!(format_taint(&t), "dedicated:NoExecute");
        assert!(parse_taint("garbage").is_none());
    }

    #[test]
    fn surge_percentages_round_up_and_defaults_apply() {
        let s = UpgradeSettingsModel {
            max_surge: Some("33%".into()),
            drain_timeout_in_minutes: Some(45),
            node_soak_duration_in_minutes: Some(5),
            ..Default::default()
        };
        let r = rollout_settings(Some(&s), 10);
        assert_eq!(r.max_surge, 4);
        assert_eq!(r.max_unavailable, 0);
        assert_eq!(r.drain_timeout, Duration::from_secs(45 * 60));
        assert_eq!(r.soak, Duration::from_secs(300));
        let d = rollout_settings(None, 3);
        assert_eq!((d.max_surge, d.drain_timeout), (1, Duration::from_secs(1800)));
    }

    #[test]
    fn unchanged_rollout_settings_leave_the_pools_own_settings_alone() {
        let own = UpgradeSettingsModel {
            max_surge: Some("33%".into()),
            ..Default::default()
        };
        let as_read = rollout_settings(Some(&own), 4);
        assert!(
            settings_changes(Some(&own), 4, &as_read, None)
                .unwrap()
                .is_empty()
        );
        let cordon =
            settings_changes(Some(&own), 4, &as_read, Some(UndrainableNodeBehavior::Cordon)).unwrap();
        assert_eq!(cordon.len(), 1);
        assert_eq!(cordon["undrainableNodeBehavior"], "Cordon");
    }

    #[test]
    fn changed_rollout_settings_are_written_within_aks_limits() {
        let own = UpgradeSettingsModel {
            max_surge: Some("33%".into()),
            ..Default::default()
        };
        let r = RolloutSettings {
            max_surge: 3,
            drain_timeout: Duration::from_secs(15 * 60 + 1),
            soak: Duration::from_secs(120),
            ..rollout_settings(Some(&own), 4)
        };
        let c = settings_changes(Some(&own), 4, &r, None).unwrap();
        assert_eq!(c["maxSurge"], "3");
        assert_eq!(c["drainTimeoutInMinutes"], 16);
        assert_eq!(c["nodeSoakDurationInMinutes"], 2);
        assert!(
            !c.contains_key("maxUnavailable"),
            "unchanged fields are not written: {c:?}"
        );
        let too_short = RolloutSettings {
            drain_timeout: Duration::from_secs(60),
            ..r.clone()
        };
        let err = settings_changes(Some(&own), 4, &too_short, None).unwrap_err();
        assert!(err.to_string().contains("5 to 1440"), "{err}");
        let long_soak = RolloutSettings {
            soak: Duration::from_secs(31 * 60),
            ..r
        };
        assert!(settings_changes(Some(&own), 4, &long_soak, None).is_err());
    }

    #[test]
    fn pools_report_the_running_version_and_their_settings() {
        let p = AgentPoolModel {
            name: "user1".into(),
            properties: AgentPoolProperties {
                count: Some(3),
                orchestrator_version: Some("1.31".into()),
                current_orchestrator_version: Some("1.30.7".into()),
                provisioning_state: Some("Upgrading".into()),
                node_taints: Some(vec!["sku=gpu:NoSchedule".into()]),
                ..Default::default()
            },
        };
        let np = node_pool(&p).unwrap();
        assert_eq!(np.version, v("1.30.7"));
        assert_eq!(np.nodes, 3);
        assert_eq!(np.status, ResourceStatus::Updating);
        assert_eq!(np.taints.len(), 1);
    }

    #[test]
    fn legacy_clusters_and_auto_upgrade_channels_are_recognised() {
        let mut c = ManagedClusterModel {
            properties: ClusterProperties {
                max_agent_pools: Some(100),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(legacy_reason(&c), None);
        assert_eq!(auto_upgrade_channel(&c), None);
        c.properties.max_agent_pools = Some(1);
        assert!(legacy_reason(&c).unwrap().contains("maxAgentPools"));
        c.properties.auto_upgrade_profile = Some(crate::models::AutoUpgradeProfile {
            upgrade_channel: Some("none".into()),
        });
        assert_eq!(auto_upgrade_channel(&c), None);
        c.properties.auto_upgrade_profile = Some(crate::models::AutoUpgradeProfile {
            upgrade_channel: Some("stable".into()),
        });
        assert_eq!(auto_upgrade_channel(&c).as_deref(), Some("stable"));
    }

    #[test]
    fn async_status_maps_to_operation_state_with_the_reason() {
        let op = |status: &str| AsyncOperationModel {
            status: status.into(),
            error: None,
        };
        assert_eq!(async_state(&op("InProgress")), OperationState::Running);
        assert_eq!(async_state(&op("Succeeded")), OperationState::Succeeded);
        assert_eq!(async_state(&op("Canceled")), OperationState::Cancelled);
        let failed = AsyncOperationModel {
            status: "Failed".into(),
            error: Some(CloudErrorBody {
                code: Some("UpgradeFailed".into()),
                subcode: None,
                message: Some("Drain node aks-user1-1 failed when evicting pod web-1 failed with Too Many Requests error. This is often caused by a restrictive Pod Disruption Budget (PDB) policy.".into()),
                details: vec![],
            }),
        };
        match async_state(&failed) {
            OperationState::Failed(m) => assert!(m.starts_with("UpgradeFailed: ") && m.contains("web-1")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pool_names_follow_the_aks_rule() {
        assert!(validate_pool_name("user131").is_ok());
        assert!(validate_pool_name("a").is_ok());
        for bad in ["", "1pool", "User", "pool-1", "abcdefghijklm"] {
            assert!(validate_pool_name(bad).is_err(), "{bad}");
        }
    }
}
