//! The user data of node groups' launch templates, where kubelet flags live
//! (`bootstrap.sh --kubelet-extra-args` on AL2, nodeadm `NodeConfig` on AL2023), so that
//! `kupgrade-kube` can find flags the target release removes before a node fails to join.

use kupgrade_core::{NodeConfigSource, Result};

use crate::cluster::EksCluster;
use crate::error::{Target, map_sdk_error};

impl EksCluster {
    /// The user data (base64, as EC2 returns it) of the launch-template version each node group
    /// boots from, one source per node group that has a launch template with user data. Needs
    /// `ec2:DescribeLaunchTemplateVersions`; returns nothing when the cluster has no EC2 client.
    pub async fn launch_template_user_data(&self) -> Result<Vec<NodeConfigSource>> {
        let Some(ec2) = self.ec2_client() else {
            tracing::debug!("no EC2 client; node groups' launch templates are not read");
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
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
            if let Some(version) = spec.version() {
                call = call.versions(version);
            }
            let target = Target::LaunchTemplate {
                cluster: self.cluster_name(),
                nodegroup,
                template,
            };
            let answer = call
                .send()
                .await
                .map_err(|e| map_sdk_error("DescribeLaunchTemplateVersions", target, e))?;
            let Some(version) = answer.launch_template_versions().first() else {
                continue;
            };
            let Some(user_data) = version.launch_template_data().and_then(|d| d.user_data()) else {
                continue;
            };
            out.push(NodeConfigSource {
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
