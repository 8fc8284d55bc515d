//! Version-skew rules: how far node pools may lag the control plane, how far the control
//! plane may move in one step, and whether pools must catch up before each step. Policies are
//! data; users may override the lag limit.
//!
//! Every provider's rule below names its source and the date it was read. Where a provider's
//! own pages disagree, the one the planner follows is said, with why:
//!
//! | Provider | Rule the planner follows | Source (read) | Disagreeing source |
//! |---|---|---|---|
//! | upstream | kubelet/kube-proxy never newer, <= 3 minors older (< 1.25: 2); API server one minor per upgrade | <https://kubernetes.io/releases/version-skew-policy/> (kubernetes/website @01bc097, read 2026-11-25) | its own prerequisite bullet still says 2 |
//! | EKS | as upstream: kubelet >= 1.25 may lag 3 minors, older 2; one minor per control-plane update | EKS user guide <https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html> (awsdocs @7b9bf3d, read 2026-11-25); AWS lifted the "must match" restriction (<https://github.com/aws/containers-roadmap/issues/1473>) | `UpdateClusterVersion` API reference <https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateClusterVersion.html> (aws-sdk-eks 1.160.0 docs, read 2026-11-25): managed node groups must match the cluster's version before an update |
//! | AKS | from 1.28 the control plane may be 3 minors ahead of pools; one minor per step (non-LTS) | <https://learn.microsoft.com/azure/aks/upgrade-aks-control-plane> (MicrosoftDocs/azure-aks-docs, ms.date 2026-07-30, read 2026-12-02) | `orchestratorVersion` description in the 2026-08-01 REST spec (Azure/azure-rest-api-specs `aks/stable/2026-08-01/managedClusters.json` @10c8868, read 2026-12-02): "within two minor versions" |
//! | GKE | nodes up to 2 minors older; control plane one minor at a time | <https://cloud.google.com/kubernetes-engine/versioning> (stored snapshot, read 2026-11-25) | none found; n-3 on GKE is unverified |
//!
//! Why the guide over the reference on EKS: the user guide is the newer, versioned statement,
//! AWS confirmed the restriction was lifted (containers-roadmap #1473), and a lagging pool costs
//! one rollout fewer per skipped move. A cluster that still enforces the reference's rule
//! answers `InvalidParameterException: Nodegroups ... must be updated to match cluster version`;
//! the EKS adapter maps that to [`crate::Error::PoolsMustMatch`], which tells the user to re-plan
//! with `--lag-limit 0` ([`SkewPolicy::with_lag_limit`]: pools match the control plane before
//! every hop).
//!
//! Why the docs over the spec on AKS: the spec's sentence predates 1.28 (SDKs generated from
//! older API versions carry it word for word) and is documentation text, not a validated
//! constraint (`orchestratorVersion` is a free string); the AKS upgrade page is dated
//! 2026-07-30 and states the 1.28 change with an example. Should AKS ever enforce the spec's 2,
//! the hop is refused in AKS's own words (passed through by the AKS adapter) and
//! `--lag-limit 2 --replan` plans for it.

use serde::{Deserialize, Serialize};

use crate::provider::Provider;
use crate::version::KubeVersion;

/// The skew rules of one provider (or of upstream Kubernetes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkewPolicy {
    /// Where the rules come from, for reports.
    pub name: String,
    /// How many minors the control plane may move in one upgrade (1 everywhere today).
    pub max_control_plane_step: u32,
    /// How many minors a kubelet at or above `modern_kubelet_minor` may lag the control plane.
    pub node_lag: u32,
    /// How many minors an older kubelet may lag the control plane.
    pub legacy_node_lag: u32,
    /// The first kubelet minor that gets `node_lag` rather than `legacy_node_lag`.
    pub modern_kubelet_minor: u32,
    /// Every pool must be at the control plane's minor before the control plane moves (the
    /// strict rule of EKS's `UpdateClusterVersion` reference; the user's `--lag-limit 0`).
    /// Lagging states between hops stay judged by `node_lag`.
    #[serde(default)]
    pub pools_match_before_hop: bool,
}

/// A broken skew rule, described for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkewViolation(pub String);

impl std::fmt::Display for SkewViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl SkewPolicy {
    /// Upstream Kubernetes: kubelet never newer than the API server, up to 3 minors older when
    /// the kubelet is >= 1.25, else 2; the API server never skips a minor.
    /// Source: [K8S-SKEW], [KEP-3935].
    pub fn upstream() -> Self {
        Self {
            name: "upstream Kubernetes".into(),
            max_control_plane_step: 1,
            node_lag: 3,
            legacy_node_lag: 2,
            modern_kubelet_minor: 25,
            pools_match_before_hop: false,
        }
    }

    /// The rules of `provider` (sources and dates in the module documentation).
    ///
    /// - EKS: one minor per control-plane update; nodes with kubelet >= 1.25 may lag 3 minors,
    ///   older ones 2 (EKS user guide, update-cluster, read 2026-11-25); never newer than the
    ///   control plane. The API reference's stricter "node groups must match" is not followed
    ///   by default; `with_lag_limit(0)` follows it.
    /// - AKS: one minor per step for supported non-LTS versions; from 1.28 the control plane may
    ///   be 3 minors ahead of pools (AKS upgrade-aks-control-plane, ms.date 2026-07-30), not the
    ///   2 of the 2026-08-01 spec's `orchestratorVersion` text. LTS-to-LTS jumps are not modelled.
    /// - GKE: nodes up to 2 minors older (GKE versioning page); control plane one minor at a
    ///   time (upstream).
    pub fn for_provider(provider: Provider) -> Self {
        match provider {
            Provider::Eks => Self {
                name: "Amazon EKS".into(),
                ..Self::upstream()
            },
            Provider::Aks => Self {
                name: "Azure AKS".into(),
                ..Self::upstream()
            },
            Provider::Gke => Self {
                name: "Google GKE".into(),
                node_lag: 2,
                legacy_node_lag: 2,
                ..Self::upstream()
            },
        }
    }

    /// The same policy with one lag limit for every kubelet version (a user override).
    ///
    /// `0` means the pools may not lag when the control plane moves: every pool is brought to
    /// the control plane's minor before each hop (EKS's strict `UpdateClusterVersion` rule), and
    /// lags 1 minor only until its own move after the hop. The lag limits stay the provider's.
    pub fn with_lag_limit(mut self, minors: u32) -> Self {
        if minors == 0 {
            self.pools_match_before_hop = true;
            self.name = format!("{} (pools match the control plane before each hop)", self.name);
            return self;
        }
        self.node_lag = minors;
        self.legacy_node_lag = minors;
        self.name = format!("{} (lag limit {minors})", self.name);
        self
    }

    /// Whether a pool at `node` must move before the control plane goes from `control_plane`
    /// to `next`: it would break skew there, or this policy wants pools to match first.
    pub fn must_move_before(
        &self,
        control_plane: &KubeVersion,
        next: &KubeVersion,
        node: &KubeVersion,
    ) -> bool {
        (self.pools_match_before_hop && !node.same_minor(control_plane))
            || self.check_node(next, "", node).is_err()
    }

    /// How many minors a kubelet at `node` may lag the control plane.
    pub fn max_lag(&self, node: &KubeVersion) -> u32 {
        if node.minor() >= self.modern_kubelet_minor {
            self.node_lag
        } else {
            self.legacy_node_lag
        }
    }

    /// Whether a pool at `node` may run under a control plane at `control_plane`.
    pub fn check_node(
        &self,
        control_plane: &KubeVersion,
        pool: &str,
        node: &KubeVersion,
    ) -> Result<(), SkewViolation> {
        if node.major() != control_plane.major() {
            return Err(SkewViolation(format!(
                "node pool '{pool}' is at {node}, a different major than the control plane ({control_plane})"
            )));
        }
        let lag = control_plane.minors_ahead_of(node);
        if lag < 0 {
            return Err(SkewViolation(format!(
                "node pool '{pool}' at {node} is newer than the control plane at {control_plane}; nodes may never be newer"
            )));
        }
        let limit = self.max_lag(node);
        if lag > i64::from(limit) {
            return Err(SkewViolation(format!(
                "node pool '{pool}' at {node} lags the control plane at {control_plane} by {lag} minors; {} allows {limit}",
                self.name
            )));
        }
        Ok(())
    }

    /// Whether the control plane may go from `from` to `to` in one upgrade.
    pub fn check_control_plane_step(
        &self,
        from: &KubeVersion,
        to: &KubeVersion,
    ) -> Result<(), SkewViolation> {
        let step = to.minors_ahead_of(from);
        if step < 0 {
            return Err(SkewViolation(format!(
                "control plane cannot go from {from} down to {to}"
            )));
        }
        if step > i64::from(self.max_control_plane_step) {
            return Err(SkewViolation(format!(
                "control plane cannot skip minors: {from} -> {to} is {step} minors, {} allows {} per upgrade",
                self.name, self.max_control_plane_step
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn upstream_allows_three_minors_from_1_25_and_two_before() {
        let p = SkewPolicy::upstream();
        assert!(p.check_node(&v("1.28"), "a", &v("1.25")).is_ok());
        assert!(p.check_node(&v("1.27"), "a", &v("1.24")).is_err());
        assert!(p.check_node(&v("1.26"), "a", &v("1.24")).is_ok());
        assert!(p.check_node(&v("1.32"), "a", &v("1.28")).is_err());
    }

    #[test]
    fn nodes_are_never_newer_than_the_control_plane() {
        for provider in Provider::ALL {
            let err = SkewPolicy::for_provider(provider)
                .check_node(&v("1.30"), "gpu", &v("1.31"))
                .unwrap_err();
            assert!(err.0.contains("'gpu'") && err.0.contains("newer"), "{err}");
        }
    }

    #[test]
    fn provider_lag_limits_match_providers_md() {
        let eks = SkewPolicy::for_provider(Provider::Eks);
        let aks = SkewPolicy::for_provider(Provider::Aks);
        let gke = SkewPolicy::for_provider(Provider::Gke);
        assert!(eks.check_node(&v("1.32"), "a", &v("1.29")).is_ok());
        assert!(aks.check_node(&v("1.32"), "a", &v("1.29")).is_ok());
        assert!(gke.check_node(&v("1.32"), "a", &v("1.29")).is_err());
        assert!(gke.check_node(&v("1.32"), "a", &v("1.30")).is_ok());
        assert!(eks.check_node(&v("1.26"), "a", &v("1.24")).is_ok());
        assert!(eks.check_node(&v("1.27"), "a", &v("1.24")).is_err());
    }

    #[test]
    fn control_plane_moves_one_minor_at_a_time() {
        for provider in Provider::ALL {
            let p = SkewPolicy::for_provider(provider);
            assert!(p.check_control_plane_step(&v("1.29"), &v("1.30")).is_ok());
            assert!(p.check_control_plane_step(&v("1.29"), &v("1.29.4")).is_ok());
            let err = p.check_control_plane_step(&v("1.29"), &v("1.31")).unwrap_err();
            assert!(err.0.contains("cannot skip minors"), "{err}");
            assert!(p.check_control_plane_step(&v("1.30"), &v("1.29")).is_err());
        }
    }

    #[test]
    fn lag_limit_0_moves_every_pool_to_the_control_plane_before_a_hop() {
        let p = SkewPolicy::for_provider(Provider::Eks).with_lag_limit(0);
        assert!(
            p.pools_match_before_hop && p.name.contains("pools match"),
            "{}",
            p.name
        );
        // A pool one minor behind may serve, but must catch up before the next hop.
        assert!(p.check_node(&v("1.30"), "a", &v("1.29")).is_ok());
        assert!(p.must_move_before(&v("1.30"), &v("1.31"), &v("1.29")));
        assert!(!p.must_move_before(&v("1.30"), &v("1.31"), &v("1.30.4")));
        let guide = SkewPolicy::for_provider(Provider::Eks);
        assert!(!guide.must_move_before(&v("1.30"), &v("1.31"), &v("1.29")));
        assert!(guide.must_move_before(&v("1.31"), &v("1.32"), &v("1.28")));
    }

    #[test]
    fn user_override_replaces_both_lag_limits() {
        let p = SkewPolicy::for_provider(Provider::Eks).with_lag_limit(1);
        assert!(p.check_node(&v("1.30"), "a", &v("1.29")).is_ok());
        let err = p.check_node(&v("1.30"), "a", &v("1.28")).unwrap_err();
        assert!(err.0.contains("allows 1"), "{err}");
    }
}
