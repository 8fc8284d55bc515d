//! `KUP-API-001..003`: the live deprecated-API scan judged at each hop ([`crate::api_gate`]).

use kupgrade_core::checks::Finding;

use super::{ClusterFacts, FactCheck, Hop};
use crate::api_gate;

/// The deprecated-API checks.
pub(super) fn checks() -> [FactCheck; 3] {
    [
        FactCheck::per_hop(
            api_gate::REMOVED_CHECK,
            "no API version still in use (API server metric, managedFields, last-applied, Helm releases) is removed at the hop",
            removed,
        ),
        FactCheck::per_hop(
            api_gate::DEPRECATED_CHECK,
            "no API version still in use is deprecated at the hop or was removed before the plan",
            deprecated,
        ),
        FactCheck::once(
            api_gate::UNREAD_CHECK,
            "the deprecated-API scan could read every source (or says which permission is missing)",
            unread,
        ),
    ]
}

fn removed(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    facts
        .api_usage
        .as_ref()
        .map(|u| api_gate::removed_at_hop(u, hop.version, Some(hop.plan.provider)))
        .unwrap_or_default()
}

fn deprecated(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    facts
        .api_usage
        .as_ref()
        .map(|u| api_gate::deprecated_at_hop(u, hop.version))
        .unwrap_or_default()
}

fn unread(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    facts.api_usage.as_ref().map(api_gate::unread).unwrap_or_default()
}
