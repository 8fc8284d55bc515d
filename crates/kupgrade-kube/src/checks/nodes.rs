//! Node checks: kubelet skew (`KUP-KUBE-002`), kube-proxy skew (`KUP-KUBE-003`) and a
//! removed container runtime (`KUP-KUBE-011`), each judged at every hop.

use k8s_openapi::api::apps::v1::DaemonSet;
use kupgrade_core::KubeVersion;
use kupgrade_core::checks::{Finding, Severity};

use super::hop::NodeFate;
use super::{ClusterFacts, FactCheck, Hop, finding, meta_name};

/// The node checks.
pub(super) fn checks() -> [FactCheck; 3] {
    [
        FactCheck::per_hop(
            "KUP-KUBE-002",
            "kubelets are within skew of the control plane at each hop",
            kubelet_skew,
        ),
        FactCheck::per_hop(
            "KUP-KUBE-003",
            "kube-proxy is within skew of the control plane at each hop",
            kube_proxy_skew,
        ),
        FactCheck::per_hop(
            "KUP-KUBE-011",
            "no node runs a container runtime the hop removes (dockershim, 1.24)",
            removed_runtime,
        ),
    ]
}

/// How many minors older than the API server kube-proxy may be, by the upstream rule
/// (<https://kubernetes.io/releases/version-skew-policy/>, read 2026-11-25: 3, or 2 below
/// 1.25). Kubelets are judged by the plan's policy instead ([`Hop::kubelet_lag`]).
fn allowed_lag(component: &KubeVersion) -> i64 {
    if component.minor() >= 25 { 3 } else { 2 }
}

/// KUP-KUBE-002 judges each node as the plan leaves it at the hop: a node whose pool the plan
/// moves (or replaces) before the hop is no blocker for its kubelet today; nodes in pools the
/// plan does not move before the hop, and nodes in no pool it knows, are judged as they are.
fn kubelet_skew(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    let control_plane = hop.version;
    let fates = hop.fates();
    facts
        .nodes
        .iter()
        .filter_map(|n| {
            let (_, name) = meta_name(n);
            let raw = n.status.as_ref()?.node_info.as_ref()?.kubelet_version.clone();
            let live = KubeVersion::parse(&raw).ok()?;
            let (kubelet, advice) = match fates.of(n) {
                NodeFate::Replaced => return None,
                NodeFate::Moved(pool, to) => (
                    to.clone(),
                    format!("its pool {pool} is moved to {to} before this hop, and that is still too far behind; re-plan with a lower node lag limit"),
                ),
                NodeFate::Stays(pool) => (
                    live,
                    format!("the plan does not move its pool {pool} before this hop; upgrade or replace the node"),
                ),
                NodeFate::InNoPool => (
                    live,
                    "it is in no node pool the plan moves (self-managed, Karpenter or Fargate?); replace it before this hop".to_string(),
                ),
            };
            let lag = control_plane.minors_ahead_of(&kubelet);
            let allowed = hop.kubelet_lag(&kubelet);
            (lag > allowed).then(|| {
                finding("KUP-KUBE-002", Severity::Blocker, "Node", None, name, format!(
                    "node {name} runs kubelet {kubelet}, {lag} minors behind a {control_plane} control plane (at most {allowed} allowed); {advice}"
                ))
            })
        })
        .collect()
}

/// The `kube-system/kube-proxy` DaemonSet.
fn kube_proxy_daemonset(facts: &ClusterFacts) -> Option<&DaemonSet> {
    facts.daemonsets.iter().find(|d| {
        d.metadata.namespace.as_deref() == Some("kube-system")
            && d.metadata.name.as_deref() == Some("kube-proxy")
    })
}

/// kube-proxy's version from the `kube-system/kube-proxy` DaemonSet image tag
/// (`...kube-proxy:v1.29.3-eksbuild.2` -> 1.29.3).
pub fn kube_proxy_version(facts: &ClusterFacts) -> Option<KubeVersion> {
    let ds = kube_proxy_daemonset(facts)?;
    let image = ds
        .spec
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == "kube-proxy")?
        .image
        .clone()?;
    let tag = image.rsplit_once(':')?.1;
    KubeVersion::parse(tag.split('@').next()?).ok()
}

/// The field manager of EKS managed add-ons: a DaemonSet it manages is one the plan's
/// `update-addons` steps move ("Both types of fields are tagged with manager: eks",
/// <https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-field-management.html>).
const EKS_ADDON_MANAGER: &str = "eks";

/// KUP-KUBE-003 judges kube-proxy as the plan leaves it at the hop: when it is an EKS managed
/// add-on and the plan updates the add-ons after an earlier hop, at that version.
fn kube_proxy_skew(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    let Some(live) = kube_proxy_version(facts) else {
        return Vec::new();
    };
    let control_plane = hop.version;
    let managed = kube_proxy_daemonset(facts)
        .and_then(|d| d.metadata.managed_fields.as_ref())
        .is_some_and(|fields| {
            fields
                .iter()
                .any(|f| f.manager.as_deref() == Some(EKS_ADDON_MANAGER))
        });
    let proxy = match hop.addons_before() {
        Some(updated) if managed && updated.minor_version() > live.minor_version() => updated.clone(),
        _ => live,
    };
    let lag = control_plane.minors_ahead_of(&proxy);
    if lag > allowed_lag(&proxy) {
        vec![finding(
            "KUP-KUBE-003",
            Severity::Blocker,
            "DaemonSet",
            Some("kube-system"),
            "kube-proxy",
            format!(
                "kube-proxy {proxy} is {lag} minors behind a {control_plane} control plane (at most {} allowed); update the kube-proxy add-on before this hop",
                allowed_lag(&proxy)
            ),
        )]
    } else {
        Vec::new()
    }
}

fn removed_runtime(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    if hop.version.minor() < 24 {
        return Vec::new();
    }
    facts
        .nodes
        .iter()
        .filter_map(|n| {
            let runtime = n.status.as_ref()?.node_info.as_ref()?.container_runtime_version.clone();
            runtime.starts_with("docker://").then(|| {
                let (_, name) = meta_name(n);
                finding("KUP-KUBE-011", Severity::Blocker, "Node", None, name, format!(
                    "runs {runtime} through dockershim, removed in 1.24; move the pool to containerd before this hop"
                ))
            })
        })
        .collect()
}
