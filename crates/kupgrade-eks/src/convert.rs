//! Conversions between `aws-sdk-eks` types and kupgrade's core types. Pure functions, unit
//! tested; nothing here calls the network.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_eks::types::{
    AmiTypes, ClusterStatus, ClusterVersionInformation, ErrorCode, ErrorDetail, Nodegroup, NodegroupStatus,
    Taint as EksTaint, TaintEffect, Update, UpdateParamType, UpdateStatus, UpdateType,
};
use chrono::NaiveDate;
use kupgrade_core::{
    Error, KubeVersion, NodePool, OfferedVersion, Operation, OperationId, OperationKind, OperationState,
    ResourceStatus, Result, RolloutSettings, SupportWindow, Taint,
};

/// What an [`OperationId`] of this adapter points at: enough to call `DescribeUpdate` (or
/// `DescribeNodegroup` for creations and deletions, which have no update id).
///
/// Encoded as `eks/<kind>/<cluster>/<node group or add-on or ->/<update id or ->`; EKS names
/// never contain `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpRef {
    /// A cluster update (`UpdateClusterVersion`).
    Cluster {
        /// The cluster.
        cluster: String,
        /// The update id.
        update: String,
    },
    /// A node group update (`UpdateNodegroupVersion`).
    NodeGroup {
        /// The cluster.
        cluster: String,
        /// The node group.
        nodegroup: String,
        /// The update id.
        update: String,
    },
    /// An add-on update (`UpdateAddon`).
    Addon {
        /// The cluster.
        cluster: String,
        /// The add-on.
        addon: String,
        /// The update id.
        update: String,
    },
    /// A node group being created.
    Create {
        /// The cluster.
        cluster: String,
        /// The node group.
        nodegroup: String,
    },
    /// A node group being deleted.
    Delete {
        /// The cluster.
        cluster: String,
        /// The node group.
        nodegroup: String,
    },
}

impl fmt::Display for OpRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpRef::Cluster { cluster, update } => write!(f, "eks/cluster/{cluster}/-/{update}"),
            OpRef::NodeGroup {
                cluster,
                nodegroup,
                update,
            } => write!(f, "eks/nodegroup/{cluster}/{nodegroup}/{update}"),
            OpRef::Addon {
                cluster,
                addon,
                update,
            } => write!(f, "eks/addon/{cluster}/{addon}/{update}"),
            OpRef::Create { cluster, nodegroup } => write!(f, "eks/create/{cluster}/{nodegroup}/-"),
            OpRef::Delete { cluster, nodegroup } => write!(f, "eks/delete/{cluster}/{nodegroup}/-"),
        }
    }
}

impl OpRef {
    /// The operation id kupgrade stores in its journal.
    pub(crate) fn id(&self) -> OperationId {
        OperationId(self.to_string())
    }

    /// Parses an id made by [`OpRef::id`].
    pub(crate) fn parse(id: &OperationId) -> Result<Self> {
        let bad = || {
            Error::invalid_input(format!(
                "'{id}' is not an EKS operation id (expected eks/<kind>/<cluster>/<name>/<update>)"
            ))
        };
        let parts: Vec<&str> = id.0.split('/').collect();
        let [prefix, kind, cluster, name, update] = parts.as_slice() else {
            return Err(bad());
        };
        if *prefix != "eks" || cluster.is_empty() || name.is_empty() || update.is_empty() {
            return Err(bad());
        }
        let (cluster, name, update) = (cluster.to_string(), name.to_string(), update.to_string());
        Ok(match *kind {
            "cluster" => OpRef::Cluster { cluster, update },
            "nodegroup" => OpRef::NodeGroup {
                cluster,
                nodegroup: name,
                update,
            },
            "addon" => OpRef::Addon {
                cluster,
                addon: name,
                update,
            },
            "create" => OpRef::Create {
                cluster,
                nodegroup: name,
            },
            "delete" => OpRef::Delete {
                cluster,
                nodegroup: name,
            },
            _ => return Err(bad()),
        })
    }
}

/// A Kubernetes version EKS reported, with an error naming what reported it.
pub(crate) fn version(text: Option<&str>, what: &str) -> Result<KubeVersion> {
    let text =
        text.ok_or_else(|| Error::provider(format!("EKS reported no Kubernetes version for {what}")))?;
    KubeVersion::parse(text)
        .map_err(|e| Error::provider(format!("EKS reported an unreadable version for {what}: {e}")))
}

/// The normalised state of a cluster.
pub(crate) fn cluster_status(status: Option<&ClusterStatus>) -> ResourceStatus {
    match status {
        Some(ClusterStatus::Updating) => ResourceStatus::Updating,
        Some(ClusterStatus::Creating | ClusterStatus::Pending) => ResourceStatus::Creating,
        Some(ClusterStatus::Deleting) => ResourceStatus::Deleting,
        Some(ClusterStatus::Failed) => ResourceStatus::Failed,
        _ => ResourceStatus::Ready,
    }
}

/// The normalised state of a node group.
pub(crate) fn nodegroup_status(status: Option<&NodegroupStatus>) -> ResourceStatus {
    match status {
        Some(NodegroupStatus::Updating) => ResourceStatus::Updating,
        Some(NodegroupStatus::Creating) => ResourceStatus::Creating,
        Some(NodegroupStatus::Deleting) => ResourceStatus::Deleting,
        Some(NodegroupStatus::CreateFailed | NodegroupStatus::DeleteFailed | NodegroupStatus::Degraded) => {
            ResourceStatus::Failed
        }
        _ => ResourceStatus::Ready,
    }
}

/// An EKS taint as a Kubernetes taint (`NO_SCHEDULE` -> `NoSchedule`).
pub(crate) fn taint_from_eks(t: &EksTaint) -> Taint {
    let effect = match t.effect() {
        Some(TaintEffect::NoSchedule) => "NoSchedule",
        Some(TaintEffect::NoExecute) => "NoExecute",
        Some(TaintEffect::PreferNoSchedule) => "PreferNoSchedule",
        Some(other) => other.as_str(),
        None => "NoSchedule",
    };
    Taint {
        key: t.key().unwrap_or_default().to_string(),
        value: t.value().map(str::to_string),
        effect: effect.to_string(),
    }
}

/// A Kubernetes taint as an EKS taint; an unknown effect is refused with a message naming it.
pub(crate) fn taint_to_eks(t: &Taint) -> Result<EksTaint> {
    let effect = match t.effect.as_str() {
        "NoSchedule" | "NO_SCHEDULE" => TaintEffect::NoSchedule,
        "NoExecute" | "NO_EXECUTE" => TaintEffect::NoExecute,
        "PreferNoSchedule" | "PREFER_NO_SCHEDULE" => TaintEffect::PreferNoSchedule,
        other => {
            return Err(Error::invalid_input(format!(
                "taint {} has effect '{other}'; EKS accepts NoSchedule, NoExecute, PreferNoSchedule",
                t.key
            )));
        }
    };
    Ok(EksTaint::builder()
        .key(&t.key)
        .set_value(t.value.clone())
        .effect(effect)
        .build())
}

/// How many nodes a node group takes down at once: `maxUnavailable`, or
/// `maxUnavailablePercentage` of its desired size (at least one), or EKS's default of one.
pub(crate) fn max_unavailable(ng: &Nodegroup) -> u32 {
    let desired = ng
        .scaling_config()
        .and_then(|s| s.desired_size())
        .unwrap_or(0)
        .max(0) as u32;
    match ng.update_config() {
        Some(c) if c.max_unavailable().is_some() => c.max_unavailable().unwrap_or(1).max(1) as u32,
        Some(c) if c.max_unavailable_percentage().is_some() => {
            let pct = c.max_unavailable_percentage().unwrap_or(0).clamp(0, 100) as u32;
            (desired * pct).div_ceil(100).max(1)
        }
        _ => 1,
    }
}

/// Whether the node group runs a custom AMI from its launch template, which EKS cannot move to
/// another Kubernetes version by itself.
pub(crate) fn is_custom_ami(ng: &Nodegroup) -> bool {
    ng.ami_type() == Some(&AmiTypes::Custom)
}

/// A managed node group as a core node pool.
pub(crate) fn node_pool(ng: &Nodegroup) -> Result<NodePool> {
    let name = ng.nodegroup_name().unwrap_or_default().to_string();
    let minor = version(ng.version(), &format!("node group {name}"))?;
    // `releaseVersion` (e.g. 1.30.4-20241024) carries the patch; custom AMIs report an AMI id.
    let version = ng
        .release_version()
        .and_then(|r| KubeVersion::parse(r).ok())
        .filter(|r| r.same_minor(&minor))
        .unwrap_or(minor);
    let labels: BTreeMap<String, String> = ng
        .labels()
        .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(NodePool {
        name,
        version,
        nodes: ng
            .scaling_config()
            .and_then(|s| s.desired_size())
            .unwrap_or(0)
            .max(0) as u32,
        labels,
        taints: ng.taints().iter().map(taint_from_eks).collect(),
        rollout: RolloutSettings {
            // EKS sizes its own surge (2 x AZs or maxUnavailable, whichever is larger).
            max_surge: 0,
            max_unavailable: max_unavailable(ng),
            ..RolloutSettings::default()
        },
        status: nodegroup_status(ng.status()),
    })
}

/// A date EKS sent as a timestamp.
fn date(t: Option<&aws_smithy_types::DateTime>) -> Option<NaiveDate> {
    let t = t?;
    chrono::DateTime::from_timestamp(t.secs(), 0).map(|d| d.date_naive())
}

/// The support window in a `DescribeClusterVersions` row, when EKS gave its dates.
pub(crate) fn support_window(info: &ClusterVersionInformation, today: NaiveDate) -> Option<SupportWindow> {
    let version = KubeVersion::parse(info.cluster_version()?).ok()?.minor_version();
    Some(SupportWindow {
        version,
        release: date(info.release_date())?,
        end_of_standard: date(info.end_of_standard_support_date())?,
        end_of_extended: date(info.end_of_extended_support_date()),
        source: "live:DescribeClusterVersions".into(),
        as_of: today,
    })
}

/// A `DescribeClusterVersions` row as an offered version.
pub(crate) fn offered_version(info: &ClusterVersionInformation, today: NaiveDate) -> Result<OfferedVersion> {
    Ok(OfferedVersion {
        version: version(info.cluster_version(), "a cluster version row")?.minor_version(),
        is_default: info.default_version(),
        support: support_window(info, today),
        // DescribeClusterVersions lists no preview releases.
        preview: false,
    })
}

/// The failure message of an update: every error EKS lists, with its code, message and the
/// resources it names. `PodEvictionFailure` gets advice on what to do next.
pub(crate) fn failure_message(errors: &[ErrorDetail]) -> String {
    if errors.is_empty() {
        return "EKS reported the update as Failed without details".into();
    }
    let mut parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let code = e.error_code().map_or("UnknownError", |c| c.as_str());
            let mut text = code.to_string();
            if let Some(m) = e.error_message().filter(|m| !m.is_empty()) {
                text.push_str(": ");
                text.push_str(m);
            }
            if !e.resource_ids().is_empty() {
                text.push_str(&format!(" (resources: {})", e.resource_ids().join(", ")));
            }
            text
        })
        .collect();
    if errors
        .iter()
        .any(|e| e.error_code() == Some(&ErrorCode::PodEvictionFailure))
    {
        parts.push(
            "pods could not be evicted within EKS's 15-minute drain limit: relax the PodDisruptionBudget, or upgrade the node group again with a forced drain, which ignores the budgets"
                .into(),
        );
    }
    parts.join("; ")
}

/// Where an EKS update stands.
pub(crate) fn update_state(update: &Update) -> OperationState {
    match update.status() {
        Some(UpdateStatus::Successful) => OperationState::Succeeded,
        Some(UpdateStatus::Failed) => OperationState::Failed(failure_message(update.errors())),
        Some(UpdateStatus::Cancelled) => OperationState::Cancelled,
        _ => OperationState::Running,
    }
}

/// The `Version` parameter of an update, if any.
pub(crate) fn update_version(update: &Update) -> Option<KubeVersion> {
    update
        .params()
        .iter()
        .find(|p| p.r#type() == Some(&UpdateParamType::Version))
        .and_then(|p| p.value())
        .and_then(|v| KubeVersion::parse(v).ok())
}

/// Whether the update moves a Kubernetes version (an upgrade, not a config change).
pub(crate) fn is_version_update(update: &Update) -> bool {
    update.r#type() == Some(&UpdateType::VersionUpdate)
}

/// A core operation for an EKS update of a cluster, node group or add-on.
pub(crate) fn update_operation(op: &OpRef, update: &Update) -> Operation {
    let (kind, node_pool) = match op {
        OpRef::NodeGroup { nodegroup, .. } => (OperationKind::UpgradeNodePool, Some(nodegroup.clone())),
        // Add-on updates follow a control-plane hop; core has no kind of its own for them.
        _ => (OperationKind::UpgradeControlPlane, None),
    };
    Operation {
        id: op.id(),
        kind,
        node_pool,
        to: update_version(update),
        state: update_state(update),
        progress: None,
        poll_after: None,
    }
}

/// The state of a node group creation, judged from the node group.
pub(crate) fn create_state(ng: &Nodegroup) -> OperationState {
    match ng.status() {
        Some(NodegroupStatus::Active) => OperationState::Succeeded,
        Some(NodegroupStatus::Creating) => OperationState::Running,
        Some(NodegroupStatus::CreateFailed | NodegroupStatus::Degraded | NodegroupStatus::DeleteFailed) => {
            OperationState::Failed(health_message(ng))
        }
        Some(NodegroupStatus::Deleting) => {
            OperationState::Failed("the new node group is being deleted".into())
        }
        _ => OperationState::Running,
    }
}

/// The state of a node group deletion, judged from the node group (`None`: it is gone).
pub(crate) fn delete_state(ng: Option<&Nodegroup>) -> OperationState {
    match ng.map(Nodegroup::status) {
        None => OperationState::Succeeded,
        Some(Some(NodegroupStatus::Deleting)) => OperationState::Running,
        Some(Some(NodegroupStatus::DeleteFailed)) => {
            OperationState::Failed(health_message(ng.expect("some")))
        }
        Some(_) => OperationState::Pending,
    }
}

/// The node group's health issues as one line.
pub(crate) fn health_message(ng: &Nodegroup) -> String {
    let status = ng.status().map_or("unknown", |s| s.as_str());
    let issues: Vec<String> = ng
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let code = i.code().map_or("Unknown", |c| c.as_str());
            let mut text = format!("{code}: {}", i.message().unwrap_or(""));
            if !i.resource_ids().is_empty() {
                text.push_str(&format!(" (resources: {})", i.resource_ids().join(", ")));
            }
            text
        })
        .collect();
    if issues.is_empty() {
        format!("node group is {status}")
    } else {
        format!("node group is {status}: {}", issues.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_eks::types::{
        ClusterVersionInformation, ErrorDetail, Issue, NodegroupHealth, NodegroupIssueCode,
        NodegroupScalingConfig, NodegroupUpdateConfig, UpdateParam,
    };
    use aws_smithy_types::DateTime;

    use super::*;

    fn ng() -> aws_sdk_eks::types::builders::NodegroupBuilder {
        Nodegroup::builder()
            .nodegroup_name("general")
            .version("1.30")
            .release_version("1.30.4-20241024")
            .status(NodegroupStatus::Active)
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(1)
                    .max_size(10)
                    .desired_size(6)
                    .build(),
            )
            .labels("team", "web")
            .taints(
                EksTaint::builder()
                    .key("dedicated")
                    .value("gpu")
                    .effect(TaintEffect::NoSchedule)
                    .build(),
            )
    }

    #[test]
    fn operation_ids_round_trip() {
        let refs = [
            OpRef::Cluster {
                cluster: "prod".into(),
                update: "u-1".into(),
            },
            OpRef::NodeGroup {
                cluster: "prod".into(),
                nodegroup: "blue".into(),
                update: "u-2".into(),
            },
            OpRef::Addon {
                cluster: "prod".into(),
                addon: "vpc-cni".into(),
                update: "u-3".into(),
            },
            OpRef::Create {
                cluster: "prod".into(),
                nodegroup: "green".into(),
            },
            OpRef::Delete {
                cluster: "prod".into(),
                nodegroup: "blue".into(),
            },
        ];
        for r in refs {
            assert_eq!(OpRef::parse(&r.id()).unwrap(), r);
        }
        assert_eq!(
            OpRef::NodeGroup {
                cluster: "c".into(),
                nodegroup: "n".into(),
                update: "u".into()
            }
            .id()
            .0,
            "eks/nodegroup/c/n/u"
        );
        let err = OpRef::parse(&OperationId("operation-0001".into())).unwrap_err();
        assert!(err.to_string().contains("not an EKS operation id"), "{err}");
    }

    #[test]
    fn node_group_becomes_a_node_pool() {
        let pool = node_pool(
            &ng()
                .update_config(NodegroupUpdateConfig::builder().max_unavailable(2).build())
                .build(),
        )
        .unwrap();
        assert_eq!(pool.name, "general");
        assert_eq!(pool.version.to_string(), "1.30.4-20241024");
        assert_eq!(pool.version.minor(), 30);
        assert_eq!(pool.nodes, 6);
        assert_eq!(pool.labels.get("team").map(String::as_str), Some("web"));
        assert_eq!(
            pool.taints,
            vec![Taint {
                key: "dedicated".into(),
                value: Some("gpu".into()),
                effect: "NoSchedule".into()
            }]
        );
        assert_eq!(pool.rollout.max_unavailable, 2);
        assert_eq!(pool.status, ResourceStatus::Ready);
    }

    #[test]
    fn percentages_and_custom_amis() {
        let g = ng()
            .update_config(
                NodegroupUpdateConfig::builder()
                    .max_unavailable_percentage(33)
                    .build(),
            )
            .ami_type(AmiTypes::Custom)
            .release_version("ami-0123456789")
            .status(NodegroupStatus::Degraded)
            .build();
        assert_eq!(max_unavailable(&g), 2);
        assert!(is_custom_ami(&g));
        let pool = node_pool(&g).unwrap();
        assert_eq!(pool.version.to_string(), "1.30");
        assert_eq!(pool.status, ResourceStatus::Failed);
        assert_eq!(max_unavailable(&ng().build()), 1);
        let err = node_pool(&Nodegroup::builder().nodegroup_name("x").build()).unwrap_err();
        assert!(err.to_string().contains("node group x"), "{err}");
    }

    #[test]
    fn taints_convert_both_ways() {
        let t = Taint {
            key: "k".into(),
            value: None,
            effect: "PreferNoSchedule".into(),
        };
        let eks = taint_to_eks(&t).unwrap();
        assert_eq!(eks.effect(), Some(&TaintEffect::PreferNoSchedule));
        assert_eq!(taint_from_eks(&eks), t);
        let bad = Taint {
            key: "k".into(),
            value: None,
            effect: "Sometimes".into(),
        };
        assert!(
            taint_to_eks(&bad)
                .unwrap_err()
                .to_string()
                .contains("'Sometimes'")
        );
    }

    #[test]
    fn failed_updates_carry_the_pod_eviction_details() {
        let update = Update::builder()
            .id("u-9")
            .status(UpdateStatus::Failed)
            .r#type(UpdateType::VersionUpdate)
            .params(
                UpdateParam::builder()
                    .r#type(UpdateParamType::Version)
                    .value("1.31")
                    .build(),
            )
            .errors(
                ErrorDetail::builder()
                    .error_code(ErrorCode::PodEvictionFailure)
                    .error_message(
                        "Reached max retries while trying to evict pods from nodes in node group blue",
                    )
                    .resource_ids("ip-10-0-1-7.ec2.internal")
                    .build(),
            )
            .build();
        let OperationState::Failed(message) = update_state(&update) else {
            panic!("not failed");
        };
        assert!(
            message.starts_with("PodEvictionFailure: Reached max retries"),
            "{message}"
        );
        assert!(message.contains("ip-10-0-1-7.ec2.internal"), "{message}");
        assert!(message.contains("forced drain"), "{message}");
        assert_eq!(update_version(&update).unwrap().minor(), 31);
        assert!(is_version_update(&update));
        let op = update_operation(
            &OpRef::NodeGroup {
                cluster: "c".into(),
                nodegroup: "blue".into(),
                update: "u-9".into(),
            },
            &update,
        );
        assert_eq!(op.kind, OperationKind::UpgradeNodePool);
        assert_eq!(op.node_pool.as_deref(), Some("blue"));
        let running = Update::builder().status(UpdateStatus::InProgress).build();
        assert_eq!(update_state(&running), OperationState::Running);
        let cancelled = Update::builder().status(UpdateStatus::Cancelled).build();
        assert_eq!(update_state(&cancelled), OperationState::Cancelled);
    }

    #[test]
    fn cluster_versions_give_live_support_windows() {
        let day = |s: &str| {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
            DateTime::from_secs(d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp())
        };
        let info = ClusterVersionInformation::builder()
            .cluster_version("1.33")
            .default_version(true)
            .release_date(day("2025-05-29"))
            .end_of_standard_support_date(day("2026-07-29"))
            .end_of_extended_support_date(day("2027-07-29"))
            .build();
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let offered = offered_version(&info, today).unwrap();
        assert!(offered.is_default);
        assert_eq!(offered.version.to_string(), "1.33");
        let w = offered.support.unwrap();
        assert_eq!(w.end_of_standard, NaiveDate::from_ymd_opt(2026, 7, 29).unwrap());
        assert_eq!(w.end_of_extended, NaiveDate::from_ymd_opt(2027, 7, 29));
        assert_eq!(w.source, "live:DescribeClusterVersions");
        let no_dates = ClusterVersionInformation::builder()
            .cluster_version("1.36")
            .build();
        assert!(offered_version(&no_dates, today).unwrap().support.is_none());
    }

    #[test]
    fn create_and_delete_states_come_from_the_node_group() {
        let creating = ng().status(NodegroupStatus::Creating).build();
        assert_eq!(create_state(&creating), OperationState::Running);
        assert_eq!(create_state(&ng().build()), OperationState::Succeeded);
        let failed = ng()
            .status(NodegroupStatus::CreateFailed)
            .health(
                NodegroupHealth::builder()
                    .issues(
                        Issue::builder()
                            .code(NodegroupIssueCode::AsgInstanceLaunchFailures)
                            .message("Could not launch On-Demand Instances")
                            .resource_ids("eks-general-1234")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let OperationState::Failed(m) = create_state(&failed) else {
            panic!()
        };
        assert!(m.contains("AsgInstanceLaunchFailures: Could not launch"), "{m}");
        assert_eq!(delete_state(None), OperationState::Succeeded);
        let deleting = ng().status(NodegroupStatus::Deleting).build();
        assert_eq!(delete_state(Some(&deleting)), OperationState::Running);
        assert_eq!(
            cluster_status(Some(&ClusterStatus::Updating)),
            ResourceStatus::Updating
        );
    }
}
