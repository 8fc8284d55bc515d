//! Workload checks: what a drain does to workloads without a PodDisruptionBudget
//! (`KUP-KUBE-006`), with one replica (`-007`), without a controller (`-008`), with local data
//! (`-009`), and to HorizontalPodAutoscalers (`-010`). PDBs that block a drain are core's
//! `KUP-PDB-001`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Resource;
use kupgrade_core::checks::{Finding, Severity};

use super::{ClusterFacts, FactCheck, Hop, finding, meta_name};
use crate::workloads::selector_matches;

/// The workload checks.
pub(super) fn checks() -> [FactCheck; 5] {
    [
        FactCheck::once(
            "KUP-KUBE-006",
            "multi-replica workloads have a PodDisruptionBudget",
            no_pdb,
        ),
        FactCheck::once(
            "KUP-KUBE-007",
            "workloads with a single replica (down during their node's drain)",
            single_replica,
        ),
        FactCheck::once(
            "KUP-KUBE-008",
            "pods without a controller (deleted by a drain, never recreated)",
            bare_pods,
        ),
        FactCheck::once(
            "KUP-KUBE-009",
            "pods with emptyDir data or local PersistentVolumes (lost or stuck on drain)",
            local_data,
        ),
        FactCheck::once(
            "KUP-KUBE-010",
            "HorizontalPodAutoscalers with no headroom during node rotation",
            hpas,
        ),
    ]
}

struct Workload<'a> {
    kind: &'static str,
    namespace: Option<&'a str>,
    name: &'a str,
    replicas: i32,
    labels: BTreeMap<String, String>,
}

fn workloads(facts: &ClusterFacts) -> Vec<Workload<'_>> {
    let deployments = facts
        .deployments
        .iter()
        .map(|d| workload("Deployment", d, d.spec.replicas, &d.spec.template));
    let statefulsets = facts
        .statefulsets
        .iter()
        .map(|s| workload("StatefulSet", s, s.spec.replicas, &s.spec.template));
    deployments.chain(statefulsets).collect()
}

/// A controller of `kind`, with its replica count (1 when unset) and its pod template's labels.
fn workload<'a, K: Resource>(
    kind: &'static str,
    object: &'a K,
    replicas: Option<i32>,
    template: &PodTemplateSpec,
) -> Workload<'a> {
    let (namespace, name) = meta_name(object);
    Workload {
        kind,
        namespace,
        name,
        replicas: replicas.unwrap_or(1),
        labels: template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
    }
}

fn covered_by_pdb(facts: &ClusterFacts, w: &Workload<'_>) -> bool {
    facts.pdbs.iter().any(|pdb| {
        pdb.metadata.namespace.as_deref() == w.namespace
            && pdb
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .is_some_and(|sel| selector_matches(sel, &w.labels))
    })
}

fn no_pdb(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    workloads(facts)
        .into_iter()
        .filter(|w| w.replicas > 1 && !covered_by_pdb(facts, w))
        .map(|w| {
            finding("KUP-KUBE-006", Severity::Warning, w.kind, w.namespace, w.name, format!(
                "{} replicas and no PodDisruptionBudget: a drain may evict them all at once; add a PDB with maxUnavailable: 1",
                w.replicas
            ))
        })
        .collect()
}

fn single_replica(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    workloads(facts)
        .into_iter()
        .filter(|w| w.replicas == 1)
        .map(|w| {
            finding("KUP-KUBE-007", Severity::Warning, w.kind, w.namespace, w.name, 
                "a single replica: it is down while its node drains; run 2 or more replicas if it must stay up".into())
        })
        .collect()
}

fn bare_pods(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    facts
        .pods
        .iter()
        .filter(|p| {
            p.metadata.owner_references.as_ref().is_none_or(|o| o.is_empty())
                && !p.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
                && !matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
        })
        .map(|p| {
            let (ns, name) = meta_name(p);
            finding("KUP-KUBE-008", Severity::Warning, "Pod", ns, name,
                "no controller owns this pod: a drain deletes it and nothing recreates it; run it from a Deployment or Job".into())
        })
        .collect()
}

fn local_data(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    let local_pvs: BTreeMap<&str, &str> = facts
        .pvs
        .iter()
        .filter(|pv| {
            pv.spec
                .as_ref()
                .is_some_and(|s| s.local.is_some() || s.host_path.is_some())
        })
        .filter_map(|pv| {
            let claim = pv.spec.as_ref()?.claim_ref.as_ref()?;
            Some((claim.name.as_deref()?, pv.metadata.name.as_deref()?))
        })
        .collect();
    let mut out = Vec::new();
    for p in &facts.pods {
        let (ns, name) = meta_name(p);
        let Some(spec) = p.spec.as_ref() else { continue };
        let is_daemon = p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "DaemonSet");
        for v in spec.volumes.iter().flatten() {
            if v.empty_dir.is_some() && !is_daemon {
                out.push(finding("KUP-KUBE-009", Severity::Info, "Pod", ns, name, format!(
                    "emptyDir volume '{}' is lost when the pod is evicted; make sure it holds nothing that matters",
                    v.name
                )));
            }
            if let Some(pvc) = &v.persistent_volume_claim
                && let Some(pv) = local_pvs.get(pvc.claim_name.as_str())
            {
                out.push(finding("KUP-KUBE-009", Severity::Warning, "Pod", ns, name, format!(
                    "uses local PersistentVolume {pv} (claim {}): the pod cannot move to a new node and its data stays on the old one",
                    pvc.claim_name
                )));
            }
        }
    }
    out
}

fn hpas(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    facts
        .hpas
        .iter()
        .map(|h| {
            let (ns, name) = meta_name(h);
            let max = h.spec.max_replicas;
            let min = h.spec.min_replicas.unwrap_or(1);
            let current = h.status.as_ref().and_then(|s| s.current_replicas).unwrap_or(0);
            let target = format!("{} {}", h.spec.scale_target_ref.kind, h.spec.scale_target_ref.name);
            if current >= max {
                finding("KUP-KUBE-010", Severity::Warning, "HorizontalPodAutoscaler", ns, name, format!(
                    "scales {target} and is at its maximum ({current}/{max}): no headroom while nodes rotate; raise maxReplicas for the upgrade"
                ))
            } else {
                finding("KUP-KUBE-010", Severity::Info, "HorizontalPodAutoscaler", ns, name, format!(
                    "scales {target} between {min} and {max} (now {current}); replicas evicted during drains come back through it"
                ))
            }
        })
        .collect()
}
