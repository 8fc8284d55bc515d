//! Version-skew rules: how far node pools may lag the control plane, how far the control
//! plane may move in one step. Policies are data; users may override the lag limit.

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
        }
    }

    /// The rules of `provider`.
    ///
    /// - EKS: one minor per control-plane update [EKS-UPD]; nodes with kubelet >= 1.25 may lag 3
    ///   minors, older ones 2 [EKS-UPD @7b9bf3d]; never newer than the control plane [EKS-MNG-U].
    /// - AKS: one minor per step for supported non-LTS versions [AKS-VERS]; from 1.28 the control
    ///   plane may be 3 minors ahead of pools [AKS-CP]. LTS-to-LTS jumps are not modelled yet.
    /// - GKE: nodes up to 2 minors older [GKE-VER-OLD]; control plane one minor at a time
    ///   [K8S-SKEW].
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
    pub fn with_lag_limit(mut self, minors: u32) -> Self {
        self.node_lag = minors;
        self.legacy_node_lag = minors;
        self.name = format!("{} (lag limit {minors})", self.name);
        self
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
    fn user_override_replaces_both_lag_limits() {
        let p = SkewPolicy::for_provider(Provider::Eks).with_lag_limit(1);
        assert!(p.check_node(&v("1.30"), "a", &v("1.29")).is_ok());
        let err = p.check_node(&v("1.30"), "a", &v("1.28")).unwrap_err();
        assert!(err.0.contains("allows 1"), "{err}");
    }
}
