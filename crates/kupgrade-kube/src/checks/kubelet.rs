//! `KUP-KUBE-014`: kubelet flags in node configuration that the target deprecates or removes.

use kupgrade_core::checks::{Finding, Severity};
use kupgrade_core::{Hint, Setting};

use super::{ClusterFacts, FactCheck, Hop, finding};
use crate::kubelet_flags::{self, KubeletFlagTable};

/// The id of the kubelet flag check.
pub(super) const KUBELET_FLAG_CHECK: &str = "KUP-KUBE-014";

/// The kubelet flag check.
pub(super) fn check() -> FactCheck {
    FactCheck::once(
        KUBELET_FLAG_CHECK,
        "node configuration passes no kubelet flag the target deprecates or removes",
        kubelet_flags,
    )
}

/// Kubelet flags in node configuration that the target release removes (the kubelet exits with
/// `unknown flag`: blocker) or deprecates (warning); the message names the release. Node
/// configuration that could not be read is a warning.
fn kubelet_flags(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    let target = hop.version;
    let table = KubeletFlagTable::builtin();
    let mut out: Vec<Finding> = facts
        .unread_node_configs
        .iter()
        .map(|unread| {
            let what = unread.split(": ").next().unwrap_or(unread);
            let mut f = finding(
                KUBELET_FLAG_CHECK,
                Severity::Warning,
                "NodeConfig",
                None,
                what,
                format!("kubelet flags not checked in {unread}; save it to a file and check that file"),
            );
            f.hint = Some(Hint::Settings(vec![Setting::NodeConfigFile]));
            f
        })
        .collect();
    for source in &facts.node_configs {
        let place = if source.kind == "File" {
            source.name.clone()
        } else {
            format!("{} {}", source.kind, source.name)
        };
        for (flag, line) in kubelet_flags::flags_in(source) {
            let Some(entry) = table.get(&flag) else {
                continue;
            };
            let (severity, verdict) = match &entry.removed_in {
                Some(removed) if entry.removed_at(target) => (
                    Severity::Blocker,
                    format!(
                        "removed in {removed}: a kubelet at {removed} or later exits with \"unknown flag\" and the node never joins"
                    ),
                ),
                _ if entry.deprecated_at(target) => (
                    Severity::Warning,
                    match &entry.removed_in {
                        Some(removed) => {
                            format!("deprecated since {}, removed in {removed}", entry.deprecated_in)
                        }
                        None => format!("deprecated since {}", entry.deprecated_in),
                    },
                ),
                _ => continue,
            };
            out.push(finding(
                KUBELET_FLAG_CHECK,
                severity,
                &source.kind,
                source.namespace.as_deref(),
                &source.name,
                format!(
                    "{place} (line {line}) passes kubelet flag --{flag}, {verdict}; {}",
                    entry.advice
                ),
            ));
        }
    }
    out
}
