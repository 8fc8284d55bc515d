//! [`DeprecatedApi`]: an API version in use that Kubernetes deprecates or removes, named the
//! same way whoever saw it, so that one use reported by the cluster itself (the
//! `apiserver_requested_deprecated_apis` metric, `managedFields`, Helm releases) and by the
//! provider (EKS upgrade insights, GKE deprecation insights, AKS's upgrade block) becomes one
//! finding: [`crate::checks::merge_api_findings`].

use std::fmt;

use serde::Serialize;

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
    pub(crate) fn same_use(&self, other: &Self) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
