//! Judging a stage's gates: a wait, post-checks on the clusters it upgraded, an approval.

use chrono::{DateTime, Utc};
use kube::Api;
use kube::api::ListParams;
use kupgrade_core::KubeVersion;

use crate::error::Result;
use crate::operator::Operator;
use crate::resources::{
    ApprovalGateSide, ClusterPhase, Gate, ManagedClusterRef, PostCheck, UpgradeApproval, UpgradeRunStatus,
    parse_duration,
};

/// What a gate says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Passed, with what to record.
    Passed(String),
    /// Not yet: what it waits for, and when to look again (`None`: when something changes).
    Waiting {
        message: String,
        approval: bool,
        until: Option<DateTime<Utc>>,
    },
    /// Failed: why.
    Failed(String),
}

/// Where a gate sits.
pub(crate) struct GateAt<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) run: &'a str,
    pub(crate) stage: &'a str,
    pub(crate) side: ApprovalGateSide,
    /// When the gate was reached.
    pub(crate) since: DateTime<Utc>,
    /// When the run was created: an approval older than that was meant for an earlier run of
    /// the same name.
    pub(crate) run_created: Option<k8s_openapi::jiff::Timestamp>,
}

/// Judges `gate`.
pub(crate) async fn judge(
    operator: &Operator,
    gate: &Gate,
    at: &GateAt<'_>,
    status: &UpgradeRunStatus,
    target: &KubeVersion,
) -> Result<Verdict> {
    if let Some(wait) = &gate.wait {
        let length = parse_duration(wait).map_err(crate::Error::Invalid)?;
        let until = at.since + chrono::Duration::from_std(length).unwrap_or_default();
        return Ok(if operator.clock.now() >= until {
            Verdict::Passed(format!("waited {wait}"))
        } else {
            Verdict::Waiting {
                message: format!("waiting {wait} (until {})", until.to_rfc3339()),
                approval: false,
                until: Some(until),
            }
        });
    }
    if gate.approval.is_some() {
        let approvals = Api::<UpgradeApproval>::namespaced(operator.client.clone(), at.namespace)
            .list(&ListParams::default())
            .await?;
        let granted = approvals.items.iter().find(|a| {
            let fresh = match (&a.metadata.creation_timestamp, at.run_created) {
                (Some(created), Some(run)) => created.0 >= run,
                _ => true,
            };
            a.spec.run == at.run && a.spec.stage == at.stage && a.spec.gate == at.side && fresh
        });
        let side = match at.side {
            ApprovalGateSide::Before => "Before",
            ApprovalGateSide::After => "After",
        };
        return Ok(match granted {
            Some(a) => Verdict::Passed(format!(
                "approved by {}{}",
                a.spec.approved_by,
                a.spec
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )),
            None => Verdict::Waiting {
                message: format!(
                    "waiting for an UpgradeApproval with run: {}, stage: {}, gate: {side}{}",
                    at.run,
                    at.stage,
                    gate.approval
                        .as_ref()
                        .and_then(|a| a.message.as_deref())
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ),
                approval: true,
                until: None,
            },
        });
    }
    let checks = gate.post_checks.clone().unwrap_or_default();
    let refs = Api::<ManagedClusterRef>::namespaced(operator.client.clone(), at.namespace);
    let mut judged = 0;
    for cluster in status
        .clusters
        .iter()
        .filter(|c| c.stage == at.stage && c.phase == ClusterPhase::Succeeded)
    {
        let Some(reference) = refs.get_opt(&cluster.name).await? else {
            return Ok(Verdict::Failed(format!(
                "post-checks: ManagedClusterRef {} no longer exists",
                cluster.name
            )));
        };
        if let Some(problem) = post_check(operator, &reference, &checks, target).await {
            return Ok(Verdict::Failed(format!(
                "post-checks: cluster {}: {problem}",
                cluster.name
            )));
        }
        judged += 1;
    }
    if judged == 0 {
        // Every cluster of the stage failed (within its threshold): nothing upgraded to vouch for.
        return Ok(Verdict::Failed(
            "post-checks: no cluster of the stage upgraded, so none could be checked".into(),
        ));
    }
    Ok(Verdict::Passed(format!(
        "post-checks {checks:?} held on {judged} cluster(s)"
    )))
}

/// The first problem `checks` find on the cluster, or `None`.
async fn post_check(
    operator: &Operator,
    reference: &ManagedClusterRef,
    checks: &[PostCheck],
    target: &KubeVersion,
) -> Option<String> {
    let connected = match operator.connector.connect(reference).await {
        Ok(c) => c,
        Err(e) => return Some(e.to_string()),
    };
    for check in checks {
        match check {
            PostCheck::Versions => {
                let snapshot = match connected.cluster.describe().await {
                    Ok(s) => s,
                    Err(e) => return Some(e.to_string()),
                };
                if snapshot.control_plane.minor() != target.minor() {
                    return Some(format!(
                        "control plane at {}, not {}",
                        snapshot.control_plane,
                        target.minor_version()
                    ));
                }
                if let Some(pool) = snapshot
                    .node_pools
                    .iter()
                    .find(|p| p.version.minor() != target.minor())
                {
                    return Some(format!(
                        "node pool {} at {}, not {}",
                        pool.name,
                        pool.version,
                        target.minor_version()
                    ));
                }
            }
            PostCheck::NodesReady | PostCheck::WorkloadsAvailable => {
                let Some(workloads) = &connected.workloads else {
                    return Some(format!(
                        "{check:?} needs the cluster's Kubernetes API: give the ManagedClusterRef a kubeconfigSecret"
                    ));
                };
                let health = match workloads.health().await {
                    Ok(h) => h,
                    Err(e) => return Some(e.to_string()),
                };
                if *check == PostCheck::NodesReady && !health.nodes_not_ready.is_empty() {
                    return Some(format!("nodes NotReady: {}", health.nodes_not_ready.join(", ")));
                }
                if *check == PostCheck::WorkloadsAvailable && !health.workloads_unavailable.is_empty() {
                    return Some(format!(
                        "workloads unavailable: {}",
                        health.workloads_unavailable.join(", ")
                    ));
                }
            }
        }
    }
    None
}
