//! The user data of node groups' launch templates, where kubelet flags live
//! (`bootstrap.sh --kubelet-extra-args` on AL2, nodeadm `NodeConfig` on AL2023), so that
//! `kupgrade-kube` can find flags the target release removes before a node fails to join.

use kupgrade_core::{NodeConfigSource, NodeConfigs, Result};

use crate::cluster::EksCluster;
use crate::ec2::TemplateRef;
use crate::error::Target;

impl EksCluster {
    /// The user data (base64, as EC2 returns it) of the launch-template version each node group
    /// boots from, one source per node group that has a launch template with user data; a
    /// template that cannot be read (deleted, no `ec2:DescribeLaunchTemplateVersions`) is listed
    /// as unread and the others are still read. Returns nothing when the cluster has no EC2
    /// client.
    pub async fn launch_template_user_data(&self) -> Result<NodeConfigs> {
        let mut out = NodeConfigs::default();
        let Some(ec2) = self.ec2_client() else {
            tracing::debug!("no EC2 client; node groups' launch templates are not read");
            return Ok(out);
        };
        for group in self.nodegroups().await? {
            let Some(spec) = group.launch_template() else {
                continue;
            };
            let nodegroup = group.nodegroup_name().unwrap_or_default();
            let (template, by) = match (spec.id(), spec.name()) {
                (Some(id), _) => (id, TemplateRef::Id(id)),
                (None, Some(name)) => (name, TemplateRef::Name(name)),
                (None, None) => continue,
            };
            // EKS records the version; `$Default` is what it uses when none was given.
            let wanted = spec.version().unwrap_or("$Default");
            let target = Target::LaunchTemplate {
                cluster: self.name(),
                nodegroup,
                template,
            };
            let version = match ec2.launch_template_version(by, wanted, target).await {
                Ok(Some(version)) => version,
                Ok(None) => continue,
                Err(error) => {
                    out.unread.push(format!("{target}: {error}"));
                    continue;
                }
            };
            let Some(user_data) = version.user_data else {
                continue;
            };
            out.sources.push(NodeConfigSource {
                kind: "LaunchTemplate".into(),
                namespace: None,
                name: format!(
                    "{}:{} (node group {nodegroup})",
                    version.name.as_deref().unwrap_or(template),
                    version.version_number.unwrap_or_default()
                ),
                text: user_data,
            });
        }
        Ok(out)
    }
}
