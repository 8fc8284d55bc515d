//! [`DeprecatedApi`]: an API version in use that Kubernetes deprecates or removes, named the
//! same way whoever saw it, so that one use reported by the cluster itself (the
//! `apiserver_requested_deprecated_apis` metric, `managedFields`, Helm releases) and by the
//! provider (EKS upgrade insights, GKE deprecation insights, AKS's upgrade block) becomes one
//! finding: [`merge_api_findings`].

use std::fmt;

use serde::Serialize;

use crate::checks::Finding;
use crate::version::KubeVersion;

/// Which API version of which resource, and the release that stops serving it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DeprecatedApi {
    /// The API group; empty for the core group.
    pub group: String,
    /// The version, e.g. `v1beta1`.
    pub version: String,
    /// The resource, lowercase plural, e.g. `poddisruptionbudgets`.
    pub resource: String,
    /// The minor that removes it, when one is scheduled.
    pub removed_in: Option<KubeVersion>,
}

impl DeprecatedApi {
    /// `group`, `version` and `resource` as a request names them (`resource` is lowercased).
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        resource: impl Into<String>,
        removed_in: Option<KubeVersion>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            resource: resource.into().to_ascii_lowercase(),
            removed_in: removed_in.map(|v| v.minor_version()),
        }
    }

    /// From a request path: `/apis/{group}/{version}[/namespaces/{ns}]/{resource}[/...]` or
    /// `/api/{version}[/namespaces/{ns}]/{resource}[/...]`; `None` for anything else.
    pub fn from_path(path: &str, removed_in: Option<KubeVersion>) -> Option<Self> {
        let path = path.split(['?', '#']).next()?;
        let mut parts = path.trim_start_matches('/').split('/');
        let group = match parts.next()? {
            "apis" => parts.next()?.to_string(),
            "api" => String::new(),
            _ => return None,
        };
        let version = parts.next()?.to_string();
        let rest: Vec<&str> = parts.collect();
        let resource = match rest.as_slice() {
            ["namespaces", _, resource, ..] => *resource,
            [resource, ..] => *resource,
            [] => return None,
        };
        (!version.is_empty() && !resource.is_empty() && !group.contains(' '))
            .then(|| Self::new(group, version, resource, removed_in))
    }

    /// `group/version/resource`, or `version/resource` for the core group.
    pub fn group_version_resource(&self) -> String {
        if self.group.is_empty() {
            format!("{}/{}", self.version, self.resource)
        } else {
            format!("{}/{}/{}", self.group, self.version, self.resource)
        }
    }

    /// Whether `other` names the same API version of the same resource with the same
    /// removal (a source that does not know the removal matches any).
    fn same_use(&self, other: &Self) -> bool {
        self.group == other.group
            && self.version == other.version
            && self.resource == other.resource
            && (self.removed_in.is_none()
                || other.removed_in.is_none()
                || self.removed_in == other.removed_in)
    }
}

impl fmt::Display for DeprecatedApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.group_version_resource())?;
        match &self.removed_in {
            Some(r) => write!(f, " (removed in {r})"),
            None => Ok(()),
        }
    }
}

/// The id prefix of the in-cluster deprecated-API checks (`KUP-API-001`...), whose findings
/// carry the evidence (objects, Helm releases, metric samples) the others are folded into.
const IN_CLUSTER: &str = "KUP-API-";

/// Folds each provider finding about a deprecated API ([`Finding::api`] set, id not
/// `KUP-API-*`) into the most severe in-cluster finding about the same use, so the use is
/// reported once: the in-cluster finding keeps its evidence, takes the higher severity, and
/// says what the provider reported. A use only the provider saw (its window is longer: 30 days
/// on EKS and GKE) stays as the provider's own finding; so does one only the cluster saw.
pub fn merge_api_findings(findings: Vec<Finding>) -> Vec<Finding> {
    let (mut out, provider): (Vec<Finding>, Vec<Finding>) = findings
        .into_iter()
        .partition(|f| f.api.is_none() || f.id.starts_with(IN_CLUSTER));
    for p in provider {
        let api = p.api.as_ref().expect("partitioned on api");
        let target = out
            .iter_mut()
            .filter(|f| f.id.starts_with(IN_CLUSTER) && f.api.as_ref().is_some_and(|a| a.same_use(api)))
            .max_by_key(|f| f.severity);
        match target {
            Some(f) => {
                f.severity = f.severity.max(p.severity);
                f.message = format!("{}; also reported by {}: {}", f.message, p.id, p.message);
            }
            None => out.push(p),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Severity, Subject};

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn request_paths_name_group_version_and_resource() {
        let api = DeprecatedApi::from_path(
            "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
            Some(v("1.32")),
        )
        .unwrap();
        assert_eq!(
            api.group_version_resource(),
            "flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"
        );
        assert_eq!(
            api.to_string(),
            "flowcontrol.apiserver.k8s.io/v1beta3/flowschemas (removed in 1.32)"
        );
        let namespaced = DeprecatedApi::from_path(
            "/apis/policy/v1beta1/namespaces/shop/poddisruptionbudgets/web?x=1",
            None,
        )
        .unwrap();
        assert_eq!(
            namespaced.group_version_resource(),
            "policy/v1beta1/poddisruptionbudgets"
        );
        let core = DeprecatedApi::from_path("/api/v1/componentstatuses", None).unwrap();
        assert_eq!(
            (core.group.as_str(), core.group_version_resource().as_str()),
            ("", "v1/componentstatuses")
        );
        assert_eq!(DeprecatedApi::from_path("/healthz", None), None);
        assert_eq!(DeprecatedApi::from_path("/apis/policy", None), None);
    }

    fn finding(id: &str, severity: Severity, api: Option<DeprecatedApi>, message: &str) -> Finding {
        Finding {
            id: id.into(),
            severity,
            message: message.into(),
            subject: Subject::new("Cluster", "shop"),
            hop: Some(v("1.32")),
            api,
            hint: None,
        }
    }

    #[test]
    fn a_use_seen_by_both_is_reported_once_with_both_sources() {
        let fs = DeprecatedApi::new(
            "flowcontrol.apiserver.k8s.io",
            "v1beta3",
            "flowschemas",
            Some(v("1.32")),
        );
        let pdb = DeprecatedApi::new("policy", "v1beta1", "poddisruptionbudgets", Some(v("1.25")));
        let merged = merge_api_findings(vec![
            finding(
                "KUP-API-001",
                Severity::Blocker,
                Some(fs.clone()),
                "in use: metric",
            ),
            finding(
                "KUP-EKS-INSIGHT-001",
                Severity::Warning,
                Some(fs.clone()),
                "client kubectl/1.28",
            ),
            finding(
                "KUP-GKE-INSIGHT-001",
                Severity::Blocker,
                Some(pdb.clone()),
                "provider only",
            ),
            finding("KUP-SKEW-001", Severity::Blocker, None, "not about APIs"),
        ]);
        assert_eq!(merged.len(), 3, "{merged:#?}");
        assert_eq!(merged[0].id, "KUP-API-001");
        assert_eq!(merged[0].severity, Severity::Blocker);
        assert_eq!(
            merged[0].message,
            "in use: metric; also reported by KUP-EKS-INSIGHT-001: client kubectl/1.28"
        );
        assert!(
            merged
                .iter()
                .any(|f| f.id == "KUP-GKE-INSIGHT-001" && f.api == Some(pdb.clone()))
        );
    }

    #[test]
    fn the_provider_can_raise_the_severity_and_an_unknown_removal_matches() {
        let known = DeprecatedApi::new("batch", "v1beta1", "cronjobs", Some(v("1.25")));
        let unknown = DeprecatedApi::new("batch", "v1beta1", "CronJobs", None);
        let merged = merge_api_findings(vec![
            finding("KUP-API-002", Severity::Warning, Some(known), "deprecated"),
            finding("KUP-AKS-001", Severity::Blocker, Some(unknown), "AKS refuses"),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].severity, Severity::Blocker);
    }
}
