//! The user data of node groups' launch templates, where kubelet flags live
//! (`bootstrap.sh --kubelet-extra-args` on AL2, nodeadm `NodeConfig` on AL2023), so that
//! `kupgrade-kube` can find flags the target release removes before a node fails to join.

use kupgrade_core::{NodeConfigSource, NodeConfigs, Result};

use crate::cluster::EksCluster;
use crate::error::{Target, map_sdk_error};

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
            let mut call = ec2.describe_launch_template_versions();
            let template = match (spec.id(), spec.name()) {
                (Some(id), _) => {
                    call = call.launch_template_id(id);
                    id
                }
                (None, Some(name)) => {
                    call = call.launch_template_name(name);
                    name
                }
                (None, None) => continue,
            };
            // EKS records the version; `$Default` is what it uses when none was given.
            call = call.versions(spec.version().unwrap_or("$Default"));
            let target = Target::LaunchTemplate {
                cluster: self.name(),
                nodegroup,
                template,
            };
            let answer = match call.send().await {
                Ok(answer) => answer,
                Err(e) => {
                    let error = map_sdk_error("DescribeLaunchTemplateVersions", target, e);
                    out.unread.push(format!("{target}: {error}"));
                    continue;
                }
            };
            let Some(version) = answer.launch_template_versions().first() else {
                continue;
            };
            let Some(user_data) = version.launch_template_data().and_then(|d| d.user_data()) else {
                continue;
            };
            out.sources.push(NodeConfigSource {
                kind: "LaunchTemplate".into(),
                namespace: None,
                name: format!(
                    "{}:{} (node group {nodegroup})",
                    version.launch_template_name().unwrap_or(template),
                    version.version_number().unwrap_or_default()
                ),
                text: user_data.to_string(),
            });
        }
        Ok(out)
    }
}
