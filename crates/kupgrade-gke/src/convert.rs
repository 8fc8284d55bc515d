//! GKE SDK types <-> kupgrade core types. Pure functions, unit tested; nothing here calls the API.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDate;
use google_cloud_container_v1::model;
use google_cloud_container_v1::model::node_pool::UpgradeSettings;
use google_cloud_wkt as wkt;
use kupgrade_core::{
    ClusterSnapshot, Error, KubeVersion, NodePool, Operation, OperationId, OperationKind, OperationState,
    Provider, ResourceStatus, Result, RolloutSettings, SupportWindow, Taint,
};

/// How GKE replaces a pool's nodes during an upgrade.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PoolUpgradeStrategy {
    /// Surge upgrade: `max_surge` extra nodes, `max_unavailable` down at once (GKE `SURGE`).
    #[default]
    Surge,
    /// GKE's native blue/green upgrade (GKE `BLUE_GREEN`).
    BlueGreen(BlueGreen),
}

/// GKE native blue/green settings (`BlueGreenSettings` with a standard rollout policy).
#[derive(Debug, Clone, PartialEq)]
pub struct BlueGreen {
    /// How many blue nodes are drained at once.
    pub batch: BlueGreenBatch,
    /// Wait after each batch is drained.
    pub batch_soak: Duration,
    /// Wait after the whole blue pool is drained, before it is deleted; the window in which a
    /// failed gate can still roll back ([`crate::GkeCluster::rollback_node_pool_upgrade`]) and a
    /// passed gate can skip ahead ([`crate::GkeCluster::complete_node_pool_upgrade`]).
    pub pool_soak: Duration,
}

impl Default for BlueGreen {
    fn default() -> Self {
        Self {
            batch: BlueGreenBatch::Percentage(1.0),
            batch_soak: Duration::ZERO,
            pool_soak: Duration::from_secs(60 * 60),
        }
    }
}

/// The size of one blue/green drain batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BlueGreenBatch {
    /// A fraction of the pool in (0, 1].
    Percentage(f32),
    /// A number of nodes.
    Nodes(u32),
}

/// Parses a GKE version string (`1.30.5-gke.1014001`, `1.31`), naming what it came from.
pub fn version(value: &str, what: &str) -> Result<KubeVersion> {
    KubeVersion::parse(value).map_err(|e| Error::provider(format!("{what}: {e}")))
}

/// A cluster's lifecycle state.
pub fn cluster_status(status: &model::cluster::Status) -> ResourceStatus {
    use model::cluster::Status as S;
    match status {
        S::Provisioning => ResourceStatus::Creating,
        S::Reconciling => ResourceStatus::Updating,
        S::Stopping => ResourceStatus::Deleting,
        S::Error | S::Degraded => ResourceStatus::Failed,
        _ => ResourceStatus::Ready,
    }
}

/// A node pool's lifecycle state.
pub fn pool_status(status: &model::node_pool::Status) -> ResourceStatus {
    use model::node_pool::Status as S;
    match status {
        S::Provisioning => ResourceStatus::Creating,
        S::Reconciling => ResourceStatus::Updating,
        S::Stopping => ResourceStatus::Deleting,
        S::Error | S::RunningWithError => ResourceStatus::Failed,
        _ => ResourceStatus::Ready,
    }
}

/// A GKE taint in Kubernetes spelling.
pub fn taint(t: &model::NodeTaint) -> Taint {
    use model::node_taint::Effect as E;
    let effect = match &t.effect {
        E::PreferNoSchedule => "PreferNoSchedule",
        E::NoExecute => "NoExecute",
        _ => "NoSchedule",
    };
    Taint {
        key: t.key.clone(),
        value: (!t.value.is_empty()).then(|| t.value.clone()),
        effect: effect.to_string(),
    }
}

/// A Kubernetes taint in GKE spelling.
pub fn taint_to_gke(t: &Taint) -> model::NodeTaint {
    use model::node_taint::Effect as E;
    let effect = match t.effect.as_str() {
        "PreferNoSchedule" => E::PreferNoSchedule,
        "NoExecute" => E::NoExecute,
        _ => E::NoSchedule,
    };
    model::NodeTaint::new()
        .set_key(t.key.clone())
        .set_value(t.value.clone().unwrap_or_default())
        .set_effect(effect)
}

fn std_duration(d: Option<&wkt::Duration>) -> Option<Duration> {
    d.and_then(|d| Duration::try_from(*d).ok())
}

/// A std duration as a protobuf duration (saturating).
pub fn wkt_duration(d: Duration) -> wkt::Duration {
    wkt::Duration::clamp(
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        d.subsec_nanos() as i32,
    )
}

/// The rollout settings of a pool's `upgrade_settings` (and drain config).
pub fn rollout(pool: &model::NodePool) -> RolloutSettings {
    let mut out = RolloutSettings::default();
    if let Some(us) = &pool.upgrade_settings {
        out.max_surge = us.max_surge.max(0) as u32;
        out.max_unavailable = us.max_unavailable.max(0) as u32;
        if let Some(soak) = us
            .blue_green_settings
            .as_ref()
            .and_then(|bg| bg.standard_rollout_policy())
            .and_then(|p| std_duration(p.batch_soak_duration.as_ref()))
        {
            out.soak = soak;
        }
    }
    if let Some(t) = pool
        .node_drain_config
        .as_ref()
        .and_then(|c| std_duration(c.pdb_timeout_duration.as_ref()))
    {
        out.drain_timeout = t;
    }
    out
}

/// The upgrade strategy a pool is configured with (the tests read back what is sent).
#[cfg(test)]
fn pool_strategy(pool: &model::NodePool) -> PoolUpgradeStrategy {
    let Some(us) = &pool.upgrade_settings else {
        return PoolUpgradeStrategy::Surge;
    };
    if us.strategy != Some(model::NodePoolUpdateStrategy::BlueGreen) {
        return PoolUpgradeStrategy::Surge;
    }
    let mut bg = BlueGreen::default();
    if let Some(settings) = &us.blue_green_settings {
        if let Some(soak) = std_duration(settings.node_pool_soak_duration.as_ref()) {
            bg.pool_soak = soak;
        }
        if let Some(p) = settings.standard_rollout_policy() {
            bg.batch_soak = std_duration(p.batch_soak_duration.as_ref()).unwrap_or_default();
            if let Some(n) = p.batch_node_count() {
                bg.batch = BlueGreenBatch::Nodes((*n).max(0) as u32);
            } else if let Some(f) = p.batch_percentage() {
                bg.batch = BlueGreenBatch::Percentage(*f);
            }
        }
    }
    PoolUpgradeStrategy::BlueGreen(bg)
}

/// The `upgrade_settings` to send for an upgrade with `rollout` and `strategy`.
pub fn upgrade_settings(rollout: &RolloutSettings, strategy: &PoolUpgradeStrategy) -> UpgradeSettings {
    match strategy {
        PoolUpgradeStrategy::Surge => {
            // GKE needs surge + unavailable > 0.
            let surge = if rollout.max_surge == 0 && rollout.max_unavailable == 0 {
                1
            } else {
                rollout.max_surge
            };
            UpgradeSettings::new()
                .set_strategy(model::NodePoolUpdateStrategy::Surge)
                .set_max_surge(i32::try_from(surge).unwrap_or(i32::MAX))
                .set_max_unavailable(i32::try_from(rollout.max_unavailable).unwrap_or(i32::MAX))
        }
        PoolUpgradeStrategy::BlueGreen(bg) => {
            let mut policy = model::blue_green_settings::StandardRolloutPolicy::new()
                .set_batch_soak_duration(wkt_duration(if bg.batch_soak.is_zero() {
                    rollout.soak
                } else {
                    bg.batch_soak
                }));
            policy = match bg.batch {
                BlueGreenBatch::Percentage(p) => policy.set_batch_percentage(p.clamp(0.01, 1.0)),
                BlueGreenBatch::Nodes(n) => policy.set_batch_node_count(i32::try_from(n.max(1)).unwrap_or(1)),
            };
            UpgradeSettings::new()
                .set_strategy(model::NodePoolUpdateStrategy::BlueGreen)
                .set_blue_green_settings(
                    model::BlueGreenSettings::new()
                        .set_node_pool_soak_duration(wkt_duration(bg.pool_soak))
                        .set_standard_rollout_policy(policy),
                )
        }
    }
}

/// How many nodes a pool has: GKE counts `initial_node_count` per zone; with autoscaling the
/// count is kept inside the autoscaler's bounds.
pub fn pool_nodes(pool: &model::NodePool, cluster_locations: &[String]) -> u32 {
    let zones = if pool.locations.is_empty() {
        cluster_locations.len().max(1)
    } else {
        pool.locations.len()
    } as u32;
    let mut nodes = pool.initial_node_count.max(0) as u32 * zones;
    if let Some(a) = pool.autoscaling.as_ref().filter(|a| a.enabled) {
        let (min, max) = if a.total_max_node_count > 0 {
            (
                a.total_min_node_count.max(0) as u32,
                a.total_max_node_count as u32,
            )
        } else {
            (
                a.min_node_count.max(0) as u32 * zones,
                a.max_node_count.max(0) as u32 * zones,
            )
        };
        nodes = nodes.clamp(min, max.max(min));
    }
    nodes
}

/// One node pool in core terms.
pub fn node_pool(pool: &model::NodePool, cluster_locations: &[String]) -> Result<NodePool> {
    let version = version(&pool.version, &format!("node pool {} version", pool.name))?;
    let mut out = NodePool::new(pool.name.clone(), version, pool_nodes(pool, cluster_locations));
    if let Some(config) = &pool.config {
        out.labels = config
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.taints = config.taints.iter().map(taint).collect();
    }
    out.rollout = rollout(pool);
    out.status = pool_status(&pool.status);
    Ok(out)
}

/// The release channel's name, `None` when the cluster has none (a static version).
pub fn release_channel(cluster: &model::Cluster) -> Option<&'static str> {
    use model::release_channel::Channel as C;
    match cluster.release_channel.as_ref().map(|r| &r.channel) {
        Some(C::Rapid) => Some("RAPID"),
        Some(C::Regular) => Some("REGULAR"),
        Some(C::Stable) => Some("STABLE"),
        Some(C::Extended) => Some("EXTENDED"),
        _ => None,
    }
}

/// What GKE may upgrade on its own, for the plan: release channel, pools with node
/// auto-upgrade, maintenance exclusions. GKE's control-plane auto-upgrades cannot be turned off
/// (a maintenance exclusion only defers them), so this is never empty.
pub fn auto_upgrade(cluster: &model::Cluster) -> String {
    let mut parts = vec![match release_channel(cluster) {
        Some(channel) => {
            format!("GKE release channel {channel}: GKE upgrades the control plane automatically")
        }
        None => "no release channel: GKE control-plane auto-upgrades cannot be turned off".to_string(),
    }];
    let auto: Vec<&str> = cluster
        .node_pools
        .iter()
        .filter(|p| p.management.as_ref().is_some_and(|m| m.auto_upgrade))
        .map(|p| p.name.as_str())
        .collect();
    if !auto.is_empty() {
        parts.push(format!("node auto-upgrade on: {}", auto.join(", ")));
    }
    let mut exclusions: Vec<String> = cluster
        .maintenance_policy
        .as_ref()
        .and_then(|p| p.window.as_ref())
        .map(|w| {
            w.maintenance_exclusions
                .iter()
                .map(
                    |(name, window)| match window.end_time.as_ref().and_then(timestamp_date) {
                        Some(end) => format!("{name} (until {end})"),
                        None => name.clone(),
                    },
                )
                .collect()
        })
        .unwrap_or_default();
    exclusions.sort();
    if !exclusions.is_empty() {
        parts.push(format!("maintenance exclusions: {}", exclusions.join(", ")));
    }
    parts.join("; ")
}

fn timestamp_date(ts: &wkt::Timestamp) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp(ts.seconds(), 0).map(|d| d.date_naive())
}

/// A cluster (with its node pools) as a core snapshot.
pub fn snapshot(cluster: &model::Cluster) -> Result<ClusterSnapshot> {
    let control_plane = version(
        &cluster.current_master_version,
        &format!("cluster {} master version", cluster.name),
    )?;
    let node_pools = cluster
        .node_pools
        .iter()
        .map(|p| node_pool(p, &cluster.locations))
        .collect::<Result<Vec<_>>>()?;
    Ok(ClusterSnapshot {
        provider: Provider::Gke,
        name: cluster.name.clone(),
        control_plane,
        status: cluster_status(&cluster.status),
        node_pools,
        auto_upgrade: Some(auto_upgrade(cluster)),
        id: (!cluster.self_link.is_empty()).then(|| cluster.self_link.clone()),
    })
}

/// The kupgrade kind of a GKE operation type, for the types kupgrade waits on.
#[allow(deprecated)] // AUTO_UPGRADE_NODES: older operations still carry it.
pub fn operation_kind(t: &model::operation::Type) -> Option<OperationKind> {
    use model::operation::Type as T;
    match t {
        T::UpgradeMaster => Some(OperationKind::UpgradeControlPlane),
        T::UpgradeNodes | T::AutoUpgradeNodes => Some(OperationKind::UpgradeNodePool),
        T::CreateNodePool => Some(OperationKind::CreateNodePool),
        T::DeleteNodePool => Some(OperationKind::DeleteNodePool),
        _ => None,
    }
}

/// Where an operation stands. `DONE` means finished *or* cancelled: `error` tells which.
pub fn operation_state(op: &model::Operation) -> OperationState {
    use model::operation::Status as S;
    match &op.status {
        S::Pending | S::Unspecified => OperationState::Pending,
        S::Running | S::Aborting => OperationState::Running,
        _ => match op.error.as_ref().filter(|e| e.code != 0) {
            // google.rpc.Code.CANCELLED
            Some(e) if e.code == 1 => OperationState::Cancelled,
            Some(e) => OperationState::Failed(if e.message.is_empty() {
                format!("error code {}", e.code)
            } else {
                e.message.clone()
            }),
            None => OperationState::Succeeded,
        },
    }
}

/// The node pool an operation's `target_link` points at, if any.
pub fn target_pool(target_link: &str) -> Option<&str> {
    target_link
        .split_once("/nodePools/")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
}

/// The cluster an operation's `target_link` points at, if any.
pub fn target_cluster(target_link: &str) -> Option<&str> {
    target_link
        .split_once("/clusters/")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
}

/// Nodes done and total, from the operation's progress metrics.
pub fn progress(op: &model::Operation) -> Option<(u32, u32)> {
    let p = op.progress.as_ref()?;
    let metric = |names: &[&str]| {
        p.metrics
            .iter()
            .find(|m| names.iter().any(|n| m.name.eq_ignore_ascii_case(n)))
            .and_then(|m| m.int_value().copied())
            .map(|v| v.max(0) as u32)
    };
    let total = metric(&["NODES_TOTAL", "nodes_total"])?;
    let done = metric(&["NODES_DONE", "NODES_COMPLETE", "nodes_done"]).unwrap_or(0);
    Some((done, total))
}

/// A GKE operation in core terms; `None` for operation types kupgrade does not wait on.
pub fn operation(op: &model::Operation, to: Option<KubeVersion>) -> Option<Operation> {
    let kind = operation_kind(&op.operation_type)?;
    Some(Operation {
        id: OperationId(op.name.clone()),
        kind,
        node_pool: target_pool(&op.target_link).map(str::to_string),
        to,
        state: operation_state(op),
        progress: progress(op),
        poll_after: None,
    })
}

/// The support window GKE reports live for `version` (from `fetch_cluster_upgrade_info`),
/// completed with the release date of the embedded calendar. `None` without an end of
/// standard support or without a known release date.
pub fn live_window(
    version: &KubeVersion,
    info: &model::ClusterUpgradeInfo,
    embedded: Option<&SupportWindow>,
    today: NaiveDate,
) -> Option<SupportWindow> {
    let date = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.date_naive())
    };
    let end_of_standard = date(&info.end_of_standard_support_timestamp)?;
    let embedded = embedded?;
    Some(SupportWindow {
        version: version.minor_version(),
        release: embedded.release,
        end_of_standard,
        end_of_extended: date(&info.end_of_extended_support_timestamp).or(embedded.end_of_extended),
        source: "live:fetchClusterUpgradeInfo".to_string(),
        as_of: today,
    })
}

/// Labels as a GKE map.
pub fn labels_to_gke(labels: &BTreeMap<String, String>) -> std::collections::HashMap<String, String> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use model::operation::{Status, Type};

    use super::*;

    fn pool_json() -> serde_json::Value {
        serde_json::json!({
            "name": "default-pool",
            "version": "1.30.5-gke.1014001",
            "initialNodeCount": 2,
            "locations": ["europe-west1-b", "europe-west1-c"],
            "status": "RUNNING",
            "config": {
                "machineType": "e2-standard-4",
                "imageType": "COS_CONTAINERD",
                "labels": {"team": "web"},
                "taints": [{"key": "dedicated", "value": "web", "effect": "NO_EXECUTE"}]
            },
            "autoscaling": {"enabled": true, "minNodeCount": 3, "maxNodeCount": 5},
            "management": {"autoUpgrade": true, "autoRepair": true},
            "upgradeSettings": {"maxSurge": 2, "maxUnavailable": 1, "strategy": "SURGE"}
        })
    }

    fn cluster_json() -> serde_json::Value {
        serde_json::json!({
            "name": "prod",
            "currentMasterVersion": "1.31.1-gke.1678000",
            "status": "RECONCILING",
            "locations": ["europe-west1-b", "europe-west1-c"],
            "releaseChannel": {"channel": "REGULAR"},
            "maintenancePolicy": {"window": {"maintenanceExclusions": {
                "black-friday": {"startTime": "2026-11-27T00:00:00Z", "endTime": "2026-12-01T00:00:00Z"}
            }}},
            "nodePools": [pool_json()]
        })
    }

    #[test]
    fn cluster_json_becomes_a_snapshot_with_gke_suffixes() {
        let cluster: model::Cluster = serde_json::from_value(cluster_json()).unwrap();
        let snap = snapshot(&cluster).unwrap();
        assert_eq!(snap.provider, Provider::Gke);
        assert_eq!(snap.control_plane.to_string(), "1.31.1-gke.1678000");
        assert_eq!(snap.control_plane.suffix(), Some("gke.1678000"));
        assert_eq!(snap.status, ResourceStatus::Updating);
        let pool = snap.pool("default-pool").unwrap();
        assert_eq!(pool.version.to_string(), "1.30.5-gke.1014001");
        // 2 per zone x 2 zones = 4, inside the autoscaler's 3..5 per zone (6..10): raised to 6.
        assert_eq!(pool.nodes, 6);
        assert_eq!(pool.labels.get("team").map(String::as_str), Some("web"));
        assert_eq!(
            pool.taints,
            vec![Taint {
                key: "dedicated".into(),
                value: Some("web".into()),
                effect: "NoExecute".into()
            }]
        );
        assert_eq!((pool.rollout.max_surge, pool.rollout.max_unavailable), (2, 1));
        let auto = snap.auto_upgrade.unwrap();
        assert!(auto.contains("release channel REGULAR"), "{auto}");
        assert!(auto.contains("node auto-upgrade on: default-pool"), "{auto}");
        assert!(auto.contains("black-friday (until 2026-12-01)"), "{auto}");
    }

    #[test]
    fn a_cluster_without_channel_still_warns_about_end_of_support_upgrades() {
        let mut cluster: model::Cluster = serde_json::from_value(cluster_json()).unwrap();
        cluster.release_channel = None;
        cluster.maintenance_policy = None;
        cluster.node_pools[0].management = None;
        assert_eq!(
            auto_upgrade(&cluster),
            "no release channel: GKE control-plane auto-upgrades cannot be turned off"
        );
    }

    #[test]
    fn statuses_map() {
        use model::cluster::Status as C;
        use model::node_pool::Status as P;
        assert_eq!(cluster_status(&C::Running), ResourceStatus::Ready);
        assert_eq!(cluster_status(&C::Provisioning), ResourceStatus::Creating);
        assert_eq!(cluster_status(&C::Degraded), ResourceStatus::Failed);
        assert_eq!(cluster_status(&C::Stopping), ResourceStatus::Deleting);
        assert_eq!(pool_status(&P::RunningWithError), ResourceStatus::Failed);
        assert_eq!(pool_status(&P::Reconciling), ResourceStatus::Updating);
    }

    #[test]
    fn done_means_succeeded_failed_or_cancelled() {
        let mut op = model::Operation::new()
            .set_name("operation-1")
            .set_operation_type(Type::UpgradeMaster)
            .set_status(Status::Done);
        assert_eq!(operation_state(&op), OperationState::Succeeded);
        op.error = Some(
            google_cloud_rpc::model::Status::new()
                .set_code(1)
                .set_message("cancelled"),
        );
        assert_eq!(operation_state(&op), OperationState::Cancelled);
        op.error = Some(
            google_cloud_rpc::model::Status::new()
                .set_code(9)
                .set_message("PDB blocked drain"),
        );
        assert_eq!(
            operation_state(&op),
            OperationState::Failed("PDB blocked drain".into())
        );
        op.status = Status::Running;
        assert_eq!(operation_state(&op), OperationState::Running);
        op.status = Status::Pending;
        assert_eq!(operation_state(&op), OperationState::Pending);
    }

    #[test]
    fn operations_name_their_pool_and_progress() {
        let op: model::Operation = serde_json::from_value(serde_json::json!({
            "name": "operation-42",
            "operationType": "UPGRADE_NODES",
            "status": "RUNNING",
            "targetLink": "https://container.googleapis.com/v1/projects/123/zones/europe-west1/clusters/prod/nodePools/gpu",
            "progress": {"metrics": [
                {"name": "NODES_TOTAL", "intValue": "4"},
                {"name": "NODES_DONE", "intValue": "1"}
            ]}
        }))
        .unwrap();
        let core = operation(&op, None).unwrap();
        assert_eq!(core.kind, OperationKind::UpgradeNodePool);
        assert_eq!(core.node_pool.as_deref(), Some("gpu"));
        assert_eq!(core.progress, Some((1, 4)));
        assert_eq!(target_cluster(&op.target_link), Some("prod"));
        let other = model::Operation::new().set_operation_type(Type::RepairCluster);
        assert!(operation(&other, None).is_none());
    }

    #[test]
    fn surge_and_blue_green_settings_round_trip() {
        let rollout = RolloutSettings {
            max_surge: 3,
            max_unavailable: 1,
            ..Default::default()
        };
        let us = upgrade_settings(&rollout, &PoolUpgradeStrategy::Surge);
        assert_eq!(us.strategy, Some(model::NodePoolUpdateStrategy::Surge));
        assert_eq!((us.max_surge, us.max_unavailable), (3, 1));
        // GKE refuses 0/0: a surge of one is sent instead.
        let zero = RolloutSettings {
            max_surge: 0,
            max_unavailable: 0,
            ..Default::default()
        };
        assert_eq!(upgrade_settings(&zero, &PoolUpgradeStrategy::Surge).max_surge, 1);

        let bg = BlueGreen {
            batch: BlueGreenBatch::Nodes(2),
            batch_soak: Duration::from_secs(300),
            pool_soak: Duration::from_secs(1800),
        };
        let us = upgrade_settings(&rollout, &PoolUpgradeStrategy::BlueGreen(bg.clone()));
        let pool = model::NodePool::new().set_upgrade_settings(us.clone());
        assert_eq!(pool_strategy(&pool), PoolUpgradeStrategy::BlueGreen(bg));
        let json = serde_json::to_value(&us).unwrap();
        assert_eq!(us.strategy, Some(model::NodePoolUpdateStrategy::BlueGreen));
        assert_eq!(json["blueGreenSettings"]["nodePoolSoakDuration"], "1800s");
        assert_eq!(
            json["blueGreenSettings"]["standardRolloutPolicy"]["batchNodeCount"],
            2
        );
        assert_eq!(rollout_of(&us).soak, Duration::from_secs(300));
    }

    fn rollout_of(us: &UpgradeSettings) -> RolloutSettings {
        rollout(&model::NodePool::new().set_upgrade_settings(us.clone()))
    }

    #[test]
    fn taints_round_trip() {
        let t = Taint {
            key: "gpu".into(),
            value: None,
            effect: "PreferNoSchedule".into(),
        };
        assert_eq!(taint(&taint_to_gke(&t)), t);
    }

    #[test]
    fn live_windows_take_gke_dates_and_the_embedded_release() {
        let info: model::ClusterUpgradeInfo = serde_json::from_value(serde_json::json!({
            "endOfStandardSupportTimestamp": "2026-10-01T00:00:00Z",
            "endOfExtendedSupportTimestamp": "2027-08-01T00:00:00Z"
        }))
        .unwrap();
        let v = KubeVersion::parse("1.34.1-gke.100").unwrap();
        let calendar = kupgrade_core::Calendar::embedded(Provider::Gke);
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let w = live_window(&v, &info, calendar.window(&v), today).unwrap();
        assert_eq!(w.end_of_standard, NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        assert_eq!(w.end_of_extended, NaiveDate::from_ymd_opt(2027, 8, 1));
        assert_eq!(w.source, "live:fetchClusterUpgradeInfo");
        assert!(live_window(&v, &model::ClusterUpgradeInfo::new(), calendar.window(&v), today).is_none());
    }
}
