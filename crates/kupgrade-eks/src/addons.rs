//! EKS managed add-ons (`vpc-cni`, `coredns`, `kube-proxy`, ...): after each control-plane hop,
//! every installed add-on moves to EKS's default version for the new minor.

use std::cmp::Ordering;

use aws_sdk_eks::Client;
use aws_sdk_eks::types::{AddonInfo, ResolveConflicts};
use kupgrade_core::{KubeVersion, OperationId, RequestToken, Result};

use crate::cluster::{EksCluster, derived_token};
use crate::convert::OpRef;
use crate::error::{Target, map_sdk_error};

/// An add-on version such as `v1.19.2-eksbuild.5`, ordered by (major, minor, patch, build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonVersion {
    text: String,
    key: (u64, u64, u64, u64),
}

impl AddonVersion {
    /// Parses `v1.19.2-eksbuild.5` (the `v`, patch and build are optional).
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.trim().trim_start_matches(['v', 'V']);
        let (numbers, build) = match body.split_once('-') {
            Some((n, b)) => (n, Some(b)),
            None => (body, None),
        };
        let mut parts = numbers.split('.').map(|p| p.parse::<u64>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().flatten().unwrap_or(0);
        let build = build
            .and_then(|b| b.rsplit('.').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Some(Self {
            text: text.trim().to_string(),
            key: (major, minor, patch, build),
        })
    }

    /// The version as EKS spells it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The add-on's own minor line (`1.19` in `v1.19.2-eksbuild.5`).
    pub fn minor_line(&self) -> (u64, u64) {
        (self.key.0, self.key.1)
    }
}

impl PartialOrd for AddonVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AddonVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// The versions of one add-on EKS lists as compatible with a cluster minor, and which of them
/// is the default there.
pub(crate) fn compatible_versions(
    info: &[AddonInfo],
    minor: &KubeVersion,
) -> (Vec<AddonVersion>, Option<AddonVersion>) {
    let want = format!("{}.{}", minor.major(), minor.minor());
    let mut all = Vec::new();
    let mut default = None;
    for addon in info {
        for v in addon.addon_versions() {
            let Some(version) = v.addon_version().and_then(AddonVersion::parse) else {
                continue;
            };
            let compat = v
                .compatibilities()
                .iter()
                .find(|c| c.cluster_version() == Some(want.as_str()));
            let Some(compat) = compat else { continue };
            if compat.default_version() && default.as_ref().is_none_or(|d| &version > d) {
                default = Some(version.clone());
            }
            all.push(version);
        }
    }
    all.sort();
    all.dedup();
    (all, default)
}

/// The version to move add-on `name` to from `current`, or `None` to leave it.
///
/// The target is EKS's default for the minor (the newest compatible version when none is
/// marked default). Add-ons never move backwards. `vpc-cni` moves one of its own minors at a
/// time, as EKS asks: to the newest compatible version on the next minor line.
pub fn pick_target(
    name: &str,
    current: &AddonVersion,
    compatible: &[AddonVersion],
    default: Option<&AddonVersion>,
) -> Option<AddonVersion> {
    let target = default.or_else(|| compatible.iter().max())?;
    if target <= current {
        return None;
    }
    if name == "vpc-cni" {
        let (major, minor) = current.minor_line();
        if target.minor_line() > (major, minor + 1) {
            return compatible
                .iter()
                .filter(|v| *v > current && v.minor_line() <= (major, minor + 1))
                .max()
                .cloned();
        }
    }
    Some(target.clone())
}

/// Every add-on installed in `cluster` with its version (`ListAddons`, then `DescribeAddon`
/// each); `None` when EKS reports no readable version.
pub(crate) async fn installed_addons(
    client: &Client,
    cluster: &str,
) -> Result<Vec<(String, Option<AddonVersion>)>> {
    let names: Vec<String> = client
        .list_addons()
        .cluster_name(cluster)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| map_sdk_error("ListAddons", Target::Cluster(cluster), e))?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let target = Target::Addon {
            cluster,
            addon: &name,
        };
        let described = client
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(&name)
            .send()
            .await
            .map_err(|e| map_sdk_error("DescribeAddon", target, e))?;
        let current = described
            .addon()
            .and_then(|a| a.addon_version())
            .and_then(AddonVersion::parse);
        out.push((name, current));
    }
    Ok(out)
}

/// The versions of add-on `name` EKS lists as compatible with `minor`
/// (`DescribeAddonVersions`), and its default there.
pub(crate) async fn versions_for(
    client: &Client,
    cluster: &str,
    name: &str,
    minor: &KubeVersion,
) -> Result<(Vec<AddonVersion>, Option<AddonVersion>)> {
    let info: Vec<AddonInfo> = client
        .describe_addon_versions()
        .addon_name(name)
        .kubernetes_version(format!("{}.{}", minor.major(), minor.minor()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| map_sdk_error("DescribeAddonVersions", Target::Addon { cluster, addon: name }, e))?;
    Ok(compatible_versions(&info, minor))
}

impl EksCluster {
    /// Starts an update of every installed add-on that is behind its target for `minor`.
    pub(crate) async fn start_addon_updates(
        &self,
        minor: &KubeVersion,
        token: &RequestToken,
    ) -> Result<Vec<OperationId>> {
        let cluster = self.name();
        let mut started = Vec::new();
        for (name, current) in installed_addons(self.client(), cluster).await? {
            let Some(current) = current else {
                tracing::warn!(addon = %name, "add-on reports no readable version; leaving it");
                continue;
            };
            let (compatible, default) = versions_for(self.client(), cluster, &name, minor).await?;
            let Some(to) = pick_target(&name, &current, &compatible, default.as_ref()) else {
                tracing::debug!(addon = %name, current = current.as_str(), "add-on is current");
                continue;
            };
            tracing::info!(addon = %name, from = current.as_str(), to = to.as_str(), "updating add-on");
            let target = Target::Addon {
                cluster,
                addon: &name,
            };
            let out = self
                .client()
                .update_addon()
                .cluster_name(cluster)
                .addon_name(&name)
                .addon_version(to.as_str())
                .resolve_conflicts(ResolveConflicts::Preserve)
                .client_request_token(derived_token(token, &name))
                .send()
                .await
                .map_err(|e| map_sdk_error("UpdateAddon", target, e))?;
            let update = out.update().and_then(|u| u.id()).unwrap_or_default().to_string();
            started.push(
                OpRef::Addon {
                    cluster: cluster.to_string(),
                    addon: name.clone(),
                    update,
                }
                .id(),
            );
        }
        Ok(started)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_eks::types::{AddonVersionInfo, Compatibility};

    use super::*;

    fn v(s: &str) -> AddonVersion {
        AddonVersion::parse(s).unwrap()
    }

    #[test]
    fn versions_order_by_numbers_and_build() {
        assert!(v("v1.11.4-eksbuild.2") > v("v1.11.4-eksbuild.1"));
        assert!(v("v1.11.10-eksbuild.1") > v("v1.11.9-eksbuild.9"));
        assert!(v("v1.32.3-eksbuild.7") > v("v1.31.10-eksbuild.2"));
        assert_eq!(v("v1.19.2-eksbuild.5").minor_line(), (1, 19));
        assert!(AddonVersion::parse("latest").is_none());
    }

    #[test]
    fn default_for_the_minor_wins_and_nothing_moves_back() {
        let info = AddonInfo::builder()
            .addon_name("kube-proxy")
            .addon_versions(
                AddonVersionInfo::builder()
                    .addon_version("v1.31.2-eksbuild.3")
                    .compatibilities(
                        Compatibility::builder()
                            .cluster_version("1.31")
                            .default_version(true)
                            .build(),
                    )
                    .build(),
            )
            .addon_versions(
                AddonVersionInfo::builder()
                    .addon_version("v1.31.3-eksbuild.1")
                    .compatibilities(
                        Compatibility::builder()
                            .cluster_version("1.31")
                            .default_version(false)
                            .build(),
                    )
                    .build(),
            )
            .addon_versions(
                AddonVersionInfo::builder()
                    .addon_version("v1.32.0-eksbuild.1")
                    .compatibilities(
                        Compatibility::builder()
                            .cluster_version("1.32")
                            .default_version(true)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let (all, default) = compatible_versions(&[info], &KubeVersion::new(1, 31));
        assert_eq!(all.len(), 2);
        assert_eq!(
            default.as_ref().map(AddonVersion::as_str),
            Some("v1.31.2-eksbuild.3")
        );
        let to = pick_target("kube-proxy", &v("v1.30.6-eksbuild.3"), &all, default.as_ref());
        assert_eq!(to.map(|t| t.text), Some("v1.31.2-eksbuild.3".into()));
        assert_eq!(
            pick_target("kube-proxy", &v("v1.31.3-eksbuild.1"), &all, default.as_ref()),
            None
        );
    }

    #[test]
    fn vpc_cni_moves_one_minor_at_a_time() {
        let all = vec![
            v("v1.18.5-eksbuild.1"),
            v("v1.18.6-eksbuild.2"),
            v("v1.19.2-eksbuild.5"),
        ];
        let to = pick_target(
            "vpc-cni",
            &v("v1.17.1-eksbuild.1"),
            &all,
            Some(&v("v1.19.2-eksbuild.5")),
        );
        assert_eq!(to.map(|t| t.text), Some("v1.18.6-eksbuild.2".into()));
        let to = pick_target(
            "coredns",
            &v("v1.10.1-eksbuild.1"),
            &[v("v1.11.4-eksbuild.2")],
            None,
        );
        assert_eq!(to.map(|t| t.text), Some("v1.11.4-eksbuild.2".into()));
    }
}
