//! EKS managed add-ons at every hop, as a pre-flight check (`KUP-EKS-ADDON-001`).
//!
//! Each installed managed add-on (`ListAddons`, `DescribeAddon`) is judged at each hop against
//! what `DescribeAddonVersions` lists as compatible with that Kubernetes minor: none at all is a
//! blocker (the `update-addons` step after the hop would have nothing to move to), and an
//! installed version newer than every compatible one is a warning (kupgrade never moves an
//! add-on backwards, so it would stay on a version EKS does not list for the hop).

use async_trait::async_trait;
use aws_sdk_eks::Client;
use kupgrade_core::checks::CheckContext;
use kupgrade_core::{Check, Finding, KubeVersion, Result, Severity, Subject};

use crate::addons::{AddonVersion, installed_addons, pick_target, versions_for};

/// The check id of EKS managed add-on compatibility.
pub const ADDON_CHECK_ID: &str = "KUP-EKS-ADDON-001";

/// A [`Check`] of the cluster's EKS managed add-ons at every hop.
#[derive(Debug)]
pub struct EksAddonCheck {
    client: Client,
    cluster: String,
    installed: tokio::sync::OnceCell<Vec<(String, Option<AddonVersion>)>>,
}

impl EksAddonCheck {
    /// A check of cluster `cluster` through `client`.
    pub fn new(client: Client, cluster: impl Into<String>) -> Self {
        Self {
            client,
            cluster: cluster.into(),
            installed: tokio::sync::OnceCell::new(),
        }
    }

    /// The findings for the hop to `minor`.
    pub async fn findings_at(&self, minor: &KubeVersion) -> Result<Vec<Finding>> {
        let cluster = self.cluster.as_str();
        // The installed add-ons are read once per check, not once per hop.
        let installed = self
            .installed
            .get_or_try_init(|| installed_addons(&self.client, cluster))
            .await?;
        let mut out = Vec::new();
        for (name, current) in installed {
            let Some(current) = current else {
                continue;
            };
            let (compatible, default) = versions_for(&self.client, cluster, name, minor).await?;
            let subject = Subject::new("EksAddon", name.clone());
            let finding = |severity, message| Finding {
                id: ADDON_CHECK_ID.into(),
                severity,
                message,
                subject: subject.clone(),
                hop: None,
                api: None,
                hint: None,
            };
            let Some(newest) = compatible.iter().max() else {
                out.push(finding(
                    Severity::Blocker,
                    format!(
                        "EKS lists no version of managed add-on {name} compatible with Kubernetes {minor} (DescribeAddonVersions); it runs {} now. Remove the add-on or replace it before the hop",
                        current.as_str()
                    ),
                ));
                continue;
            };
            let moves = pick_target(name, current, &compatible, default.as_ref()).is_some();
            if !moves && !compatible.contains(current) {
                let why = if current > newest {
                    format!(
                        "newer than every version EKS lists as compatible with {minor} (newest {})",
                        newest.as_str()
                    )
                } else {
                    format!("not among the versions EKS lists as compatible with {minor}")
                };
                out.push(finding(
                    Severity::Warning,
                    format!(
                        "managed add-on {name} runs {}, {why}; kupgrade does not move add-ons backwards, so it stays on a version EKS does not list for {minor}",
                        current.as_str()
                    ),
                ));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Check for EksAddonCheck {
    fn id(&self) -> &'static str {
        ADDON_CHECK_ID
    }

    fn description(&self) -> &'static str {
        "EKS managed add-ons have a compatible version at every hop (DescribeAddonVersions)"
    }

    fn per_hop(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        match self.findings_at(ctx.hop).await {
            Ok(found) => Ok(found),
            Err(e) if e.is_retryable() => Err(e),
            // Said once, at the first hop.
            Err(_) if ctx.plan.hops().first().is_some_and(|first| first != ctx.hop) => Ok(Vec::new()),
            Err(e) => Ok(vec![Finding {
                id: ADDON_CHECK_ID.into(),
                severity: Severity::Warning,
                message: format!(
                    "could not read the cluster's EKS managed add-ons ({e}); check them with `aws eks describe-addon-versions --kubernetes-version {}`",
                    ctx.hop
                ),
                subject: Subject::new("Cluster", &self.cluster),
                hop: None,
                api: None,
                hint: None,
            }]),
        }
    }
}
