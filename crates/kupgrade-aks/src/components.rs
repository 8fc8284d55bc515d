//! What AKS installs at each Kubernetes minor, as a pre-flight check (`KUP-AKS-COMPONENT-001`).
//!
//! The cluster's upgrade profile (`upgradeProfiles/default`) lists, per Kubernetes minor, the
//! components AKS runs there (`controlPlaneProfile.componentsByReleases`: name, version and
//! `hasBreakingChanges`). A component AKS marks as breaking at a hop is a warning at that hop.
//! AKS documents the listing as a preview ("AKS Component Insights"); a profile without it
//! yields no finding, since nothing was said.

use async_trait::async_trait;
use kupgrade_core::checks::CheckContext;
use kupgrade_core::{Check, Finding, KubeVersion, Result, Severity, Subject};

use crate::arm::ArmClient;
use crate::cluster::AksCluster;
use crate::error::Target;
use crate::models::UpgradeProfileModel;

/// The check id of AKS components with breaking changes.
pub const COMPONENTS_CHECK_ID: &str = "KUP-AKS-COMPONENT-001";

/// One component AKS runs at a Kubernetes minor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AksComponent {
    /// Its name (`azure-policy-webhook`).
    pub name: String,
    /// The version AKS installs.
    pub version: String,
    /// Whether AKS marks this version as having breaking changes.
    pub has_breaking_changes: bool,
}

/// A [`Check`] of the components AKS lists for each hop.
pub struct AksComponentsCheck {
    arm: ArmClient,
    url: azure_core::http::Url,
    target: Target,
    cluster: String,
}

impl AksCluster {
    /// The components check of this cluster.
    pub fn components_check(&self) -> AksComponentsCheck {
        AksComponentsCheck {
            arm: self.arm.clone(),
            url: self.cluster_url(&["upgradeProfiles", "default"]),
            target: self.cluster_target(),
            cluster: self.ids.name.clone(),
        }
    }
}

impl AksComponentsCheck {
    /// The components AKS lists for Kubernetes `minor` (empty when the profile lists none).
    pub async fn components_at(&self, minor: &KubeVersion) -> Result<Vec<AksComponent>> {
        let profile: UpgradeProfileModel = self.arm.get(self.url.clone()).await?.ok(&self.target)?.json()?;
        let wanted = format!("{}.{}", minor.major(), minor.minor());
        Ok(profile
            .properties
            .control_plane_profile
            .components_by_releases
            .into_iter()
            .filter(|r| {
                KubeVersion::parse(&r.kubernetes_version)
                    .map(|v| v.same_minor(minor))
                    .unwrap_or(r.kubernetes_version == wanted)
            })
            .flat_map(|r| r.components)
            .map(|c| AksComponent {
                name: c.name,
                version: c.version,
                has_breaking_changes: c.has_breaking_changes,
            })
            .collect())
    }
}

#[async_trait]
impl Check for AksComponentsCheck {
    fn id(&self) -> &'static str {
        COMPONENTS_CHECK_ID
    }

    fn description(&self) -> &'static str {
        "components AKS installs at each hop that it marks as having breaking changes (componentsByReleases)"
    }

    fn per_hop(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let components = match self.components_at(ctx.hop).await {
            Ok(found) => found,
            Err(e) if e.is_retryable() => return Err(e),
            Err(_) if ctx.plan.hops().first().is_some_and(|first| first != ctx.hop) => return Ok(Vec::new()),
            Err(e) => {
                return Ok(vec![Finding {
                    id: COMPONENTS_CHECK_ID.into(),
                    severity: Severity::Warning,
                    message: format!(
                        "could not read the components AKS installs per version ({e}); see `az aks get-upgrades`"
                    ),
                    subject: Subject::new("Cluster", &self.cluster),
                    hop: None,
                    api: None,
                    hint: None,
                }]);
            }
        };
        Ok(components
            .into_iter()
            .filter(|c| c.has_breaking_changes)
            .map(|c| Finding {
                id: COMPONENTS_CHECK_ID.into(),
                severity: Severity::Warning,
                message: format!(
                    "AKS installs {} {} at {} and marks it as having breaking changes (componentsByReleases); read its release notes before the hop",
                    c.name, c.version, ctx.hop
                ),
                subject: Subject::new("AksComponent", c.name),
                hop: None,
                api: None,
                hint: None,
            })
            .collect())
    }
}
