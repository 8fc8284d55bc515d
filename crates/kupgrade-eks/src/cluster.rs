//! [`EksCluster`]: the [`ManagedCluster`] implementation on `aws-sdk-eks`. Thin: every method
//! is one or a few EKS calls; waiting and retrying belong to the core executor.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    Cluster, LaunchTemplateSpecification, Nodegroup, NodegroupScalingConfig, NodegroupStatus,
    NodegroupUpdateConfig, Update, UpdateStatus,
};
use kupgrade_core::{
    AddonUpdates, Capabilities, ClusterSnapshot, Error, KubeVersion, ManagedCluster, NodeConfigReader,
    NodePoolSpec, OfferedVersion, Operation, OperationId, OperationKind, OperationState, PoolUpgradeOptions,
    Provider, ProviderChecks, RequestToken, ResourceStatus, Result, RolloutSettings, SupportWindow,
};

use crate::convert::{self, OpRef};
use crate::ec2::Ec2Client;
use crate::error::{Target, map_sdk_error};
use crate::insights::EksInsightsCheck;
use crate::recent_reads::RecentReads;

/// An EKS cluster reached through the EKS API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EksCluster {
    client: Client,
    ec2: Option<Ec2Client>,
    cluster: String,
    recent: Arc<RecentReads>,
}

/// A token for a second call made on behalf of one logical change (`<token>-<suffix>`), kept
/// within 64 characters.
pub(crate) fn derived_token(token: &RequestToken, suffix: &str) -> String {
    let full = format!("{}-{suffix}", token.0);
    if full.len() <= 64 {
        return full;
    }
    // FNV-1a: stable across runs and platforms.
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}-{hash:016x}", &full[..47])
}

fn minor_text(v: &KubeVersion) -> String {
    format!("{}.{}", v.major(), v.minor())
}

impl EksCluster {
    /// A handle on cluster `cluster` through `client` (see [`crate::EksClusterBuilder`] for
    /// the usual way to make one).
    pub fn new(client: Client, cluster: impl Into<String>) -> Self {
        Self {
            client,
            ec2: None,
            cluster: cluster.into(),
            recent: Arc::default(),
        }
    }

    /// Reads node groups' launch templates through this EC2 client (for
    /// [`NodeConfigReader::node_configs`](kupgrade_core::NodeConfigReader::node_configs)); without one, launch templates are not read.
    pub fn with_ec2_client(mut self, ec2: Ec2Client) -> Self {
        self.ec2 = Some(ec2);
        self
    }

    /// The EC2 client launch templates are read with, if any.
    pub(crate) fn ec2_client(&self) -> Option<&Ec2Client> {
        self.ec2.as_ref()
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.cluster
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The EKS upgrade-insights pre-flight check for this cluster.
    pub fn insights_check(&self) -> EksInsightsCheck {
        EksInsightsCheck::new(self.client.clone(), &self.cluster)
    }

    /// The live support windows from `DescribeClusterVersions`, to pass to
    /// `Calendar::with_override`.
    pub async fn support_windows(&self) -> Result<Vec<SupportWindow>> {
        Ok(self
            .offered_versions()
            .await?
            .into_iter()
            .filter_map(|o| o.support)
            .collect())
    }

    fn target(&self) -> Target<'_> {
        Target::Cluster(&self.cluster)
    }

    fn ng_target<'a>(&'a self, nodegroup: &'a str) -> Target<'a> {
        Target::NodeGroup {
            cluster: &self.cluster,
            nodegroup,
        }
    }

    async fn describe_cluster(&self) -> Result<Cluster> {
        let out = self
            .client
            .describe_cluster()
            .name(&self.cluster)
            .send()
            .await
            .map_err(|e| map_sdk_error("DescribeCluster", self.target(), e))?;
        out.cluster.ok_or_else(|| {
            Error::provider(format!(
                "DescribeCluster returned no cluster for {}",
                self.cluster
            ))
        })
    }

    async fn describe_nodegroup(&self, nodegroup: &str) -> Result<Nodegroup> {
        let out = self
            .client
            .describe_nodegroup()
            .cluster_name(&self.cluster)
            .nodegroup_name(nodegroup)
            .send()
            .await
            .map_err(|e| map_sdk_error("DescribeNodegroup", self.ng_target(nodegroup), e))?;
        out.nodegroup
            .ok_or_else(|| Error::provider(format!("DescribeNodegroup returned nothing for {nodegroup}")))
    }

    /// The cluster for a write's own checks: as `describe` just read it, or read now.
    async fn cluster_before_write(&self) -> Result<Cluster> {
        match self.recent.cluster() {
            Some(cluster) => Ok(cluster),
            None => self.describe_cluster().await,
        }
    }

    /// Node group `nodegroup` for a write's own checks: as `describe` just read it, or read now.
    async fn nodegroup_before_write(&self, nodegroup: &str) -> Result<Nodegroup> {
        match self.recent.nodegroup(nodegroup) {
            Some(ng) => Ok(ng),
            None => self.describe_nodegroup(nodegroup).await,
        }
    }

    /// The node group, or `None` when EKS says it does not exist.
    async fn find_nodegroup(&self, nodegroup: &str) -> Result<Option<Nodegroup>> {
        match self.describe_nodegroup(nodegroup).await {
            Ok(ng) => Ok(Some(ng)),
            Err(Error::NotFound {
                kind: "node pool", ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn nodegroups(&self) -> Result<Vec<Nodegroup>> {
        let names: Vec<String> = self
            .client
            .list_nodegroups()
            .cluster_name(&self.cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_sdk_error("ListNodegroups", self.target(), e))?;
        let mut groups = Vec::with_capacity(names.len());
        for name in names {
            // A group deleted between the list and the describe is simply gone.
            if let Some(ng) = self.find_nodegroup(&name).await? {
                groups.push(ng);
            }
        }
        Ok(groups)
    }

    async fn describe_update(&self, op: &OpRef, update_id: &str) -> Result<Update> {
        let mut call = self
            .client
            .describe_update()
            .name(&self.cluster)
            .update_id(update_id);
        let target = match op {
            OpRef::NodeGroup { nodegroup, .. } => {
                call = call.nodegroup_name(nodegroup);
                self.ng_target(nodegroup)
            }
            OpRef::Addon { addon, .. } => {
                call = call.addon_name(addon);
                Target::Addon {
                    cluster: &self.cluster,
                    addon,
                }
            }
            _ => self.target(),
        };
        let out = call
            .send()
            .await
            .map_err(|e| match map_sdk_error("DescribeUpdate", target, e) {
                Error::NotFound { .. } => {
                    Error::not_found("operation", op.to_string(), "EKS has no such update")
                }
                other => other,
            })?;
        out.update
            .ok_or_else(|| Error::provider(format!("DescribeUpdate returned no update for {update_id}")))
    }

    /// The version updates of a cluster (`nodegroup: None`) or node group still in progress.
    async fn updates_in_progress(&self, nodegroup: Option<&str>) -> Result<Vec<Operation>> {
        let target = nodegroup.map_or(self.target(), |n| self.ng_target(n));
        let ids: Vec<String> = self
            .client
            .list_updates()
            .name(&self.cluster)
            .set_nodegroup_name(nodegroup.map(str::to_string))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_sdk_error("ListUpdates", target, e))?;
        let mut running = Vec::new();
        for id in ids {
            let op = match nodegroup {
                Some(n) => OpRef::NodeGroup {
                    cluster: self.cluster.clone(),
                    nodegroup: n.to_string(),
                    update: id.clone(),
                },
                None => OpRef::Cluster {
                    cluster: self.cluster.clone(),
                    update: id.clone(),
                },
            };
            let update = self.describe_update(&op, &id).await?;
            if update.status() == Some(&UpdateStatus::InProgress) && convert::is_version_update(&update) {
                running.push(convert::update_operation(&op, &update));
            }
        }
        Ok(running)
    }

    fn check_cluster(&self, op: &OpRef, id: &OperationId) -> Result<()> {
        let cluster = match op {
            OpRef::Cluster { cluster, .. }
            | OpRef::NodeGroup { cluster, .. }
            | OpRef::Addon { cluster, .. }
            | OpRef::Create { cluster, .. }
            | OpRef::Delete { cluster, .. } => cluster,
        };
        if cluster == &self.cluster {
            Ok(())
        } else {
            Err(Error::invalid_input(format!(
                "operation {id} belongs to cluster {cluster}, not {}",
                self.cluster
            )))
        }
    }

    /// Sets the node group's `maxUnavailable` when the rollout asks for another value. Returns
    /// `true` when a config update was started (the version update must wait for it).
    async fn apply_rollout(
        &self,
        ng: &Nodegroup,
        rollout: &RolloutSettings,
        token: &RequestToken,
    ) -> Result<bool> {
        let name = ng.nodegroup_name().unwrap_or_default();
        let wanted = rollout.max_unavailable.min(100) as i32;
        // Compare with what `describe` reports (a percentage becomes a node count there), so
        // a rollout read back from EKS never rewrites the group's own setting.
        if wanted == 0 || rollout.max_unavailable.min(100) == convert::max_unavailable(ng) {
            return Ok(false);
        }
        let mut config = NodegroupUpdateConfig::builder().max_unavailable(wanted);
        if let Some(strategy) = ng.update_config().and_then(|c| c.update_strategy()) {
            config = config.update_strategy(strategy.clone());
        }
        self.client
            .update_nodegroup_config()
            .cluster_name(&self.cluster)
            .nodegroup_name(name)
            .update_config(config.build())
            .client_request_token(derived_token(token, "config"))
            .send()
            .await
            .map_err(|e| map_sdk_error("UpdateNodegroupConfig", self.ng_target(name), e))?;
        Ok(true)
    }
}

#[async_trait]
impl ManagedCluster for EksCluster {
    fn provider(&self) -> Provider {
        Provider::Eks
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default().with_concurrency(kupgrade_core::OperationConcurrency::for_provider(
            kupgrade_core::Provider::Eks,
        ))
    }

    async fn describe(&self) -> Result<ClusterSnapshot> {
        let cluster = self.describe_cluster().await?;
        let control_plane = convert::version(cluster.version(), &format!("cluster {}", self.cluster))?;
        let groups = self.nodegroups().await?;
        self.recent.remember(&cluster, &groups);
        let node_pools = groups
            .iter()
            .map(convert::node_pool)
            .collect::<Result<Vec<_>>>()?;
        Ok(ClusterSnapshot {
            provider: Provider::Eks,
            name: self.cluster.clone(),
            control_plane,
            status: convert::cluster_status(cluster.status()),
            node_pools,
            auto_upgrade: None,
            id: cluster.arn().map(str::to_string),
        })
    }

    async fn offered_versions(&self) -> Result<Vec<OfferedVersion>> {
        let rows: Vec<_> = self
            .client
            .describe_cluster_versions()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_sdk_error("DescribeClusterVersions", self.target(), e))?;
        let today = chrono::Utc::now().date_naive();
        let mut offered = rows
            .iter()
            .map(|r| convert::offered_version(r, today))
            .collect::<Result<Vec<_>>>()?;
        offered.sort_by(|a, b| a.version.cmp(&b.version));
        offered.dedup_by(|a, b| a.version == b.version);
        Ok(offered)
    }

    async fn upgrade_control_plane(&self, to: &KubeVersion, token: &RequestToken) -> Result<OperationId> {
        let cluster = self.cluster_before_write().await?;
        let current = convert::version(cluster.version(), &format!("cluster {}", self.cluster))?;
        if to.minor() > current.minor() + 1 || to.major() != current.major() {
            return Err(Error::invalid_transition(format!(
                "EKS moves a control plane one minor at a time: cluster {} is at {current}, so {} must come before {}",
                self.cluster,
                current.next_minor(),
                to.minor_version()
            )));
        }
        if to.minor() < current.minor() {
            return Err(Error::invalid_transition(format!(
                "cluster {} is at {current}; moving to {} is a downgrade (EKS only rolls back within 7 days, with VersionRollback)",
                self.cluster,
                to.minor_version()
            )));
        }
        self.recent.forget();
        let out = self
            .client
            .update_cluster_version()
            .name(&self.cluster)
            .version(minor_text(to))
            .client_request_token(&token.0)
            .send()
            .await
            .map_err(|e| map_sdk_error("UpdateClusterVersion", self.target(), e))?;
        let update = out
            .update
            .and_then(|u| u.id)
            .ok_or_else(|| Error::provider("UpdateClusterVersion returned no update id"))?;
        Ok(OpRef::Cluster {
            cluster: self.cluster.clone(),
            update,
        }
        .id())
    }

    async fn upgrade_node_pool(
        &self,
        pool: &str,
        to: &KubeVersion,
        options: &PoolUpgradeOptions,
        token: &RequestToken,
    ) -> Result<OperationId> {
        let (rollout, force) = (&options.rollout, options.force);
        let ng = self.nodegroup_before_write(pool).await?;
        if convert::is_custom_ami(&ng) {
            return Err(Error::invalid_transition(format!(
                "node group {pool} runs a custom AMI from its launch template; EKS cannot pick its AMI for {}: publish a new launch template version with an AMI for that version",
                to.minor_version()
            )));
        }
        let cluster = self.cluster_before_write().await?;
        let control_plane = convert::version(cluster.version(), &format!("cluster {}", self.cluster))?;
        self.recent.forget();
        if to.minor() > control_plane.minor() {
            return Err(Error::invalid_transition(format!(
                "node group {pool} cannot move to {}: it would be newer than the control plane ({control_plane})",
                to.minor_version()
            )));
        }
        if self.apply_rollout(&ng, rollout, token).await? {
            return Err(Error::operation_in_progress(format!(
                "node group {pool} (setting maxUnavailable to {} first; the version update starts when that ends)",
                rollout.max_unavailable
            )));
        }
        let out = self
            .client
            .update_nodegroup_version()
            .cluster_name(&self.cluster)
            .nodegroup_name(pool)
            .version(minor_text(to))
            .force(force)
            .client_request_token(&token.0)
            .send()
            .await
            .map_err(|e| map_sdk_error("UpdateNodegroupVersion", self.ng_target(pool), e))?;
        let update = out
            .update
            .and_then(|u| u.id)
            .ok_or_else(|| Error::provider("UpdateNodegroupVersion returned no update id"))?;
        Ok(OpRef::NodeGroup {
            cluster: self.cluster.clone(),
            nodegroup: pool.to_string(),
            update,
        }
        .id())
    }

    async fn create_node_pool(&self, spec: &NodePoolSpec, token: &RequestToken) -> Result<OperationId> {
        let source = self.nodegroup_before_write(&spec.clone_of).await?;
        self.recent.forget();
        let op = OpRef::Create {
            cluster: self.cluster.clone(),
            nodegroup: spec.name.clone(),
        };
        if convert::is_custom_ami(&source) {
            return Err(Error::invalid_transition(format!(
                "node group {} runs a custom AMI; kupgrade cannot choose an AMI for {}: create {} from your AMI pipeline",
                spec.clone_of,
                spec.version.minor_version(),
                spec.name
            )));
        }
        let scaling = source.scaling_config();
        let nodes = spec.nodes as i32;
        let scaling = NodegroupScalingConfig::builder()
            .min_size(scaling.and_then(|s| s.min_size()).unwrap_or(nodes).min(nodes))
            .max_size(
                scaling
                    .and_then(|s| s.max_size())
                    .unwrap_or(nodes)
                    .max(nodes)
                    .max(1),
            )
            .desired_size(nodes)
            .build();
        let taints = spec
            .taints
            .iter()
            .map(convert::taint_to_eks)
            .collect::<Result<Vec<_>>>()?;
        let launch_template = source.launch_template().map(|lt| {
            LaunchTemplateSpecification::builder()
                .set_id(lt.id().map(str::to_string))
                .set_name(if lt.id().is_some() {
                    None
                } else {
                    lt.name().map(str::to_string)
                })
                .set_version(lt.version().map(str::to_string))
                .build()
        });
        let tags = source.tags().map(|t| {
            t.iter()
                .filter(|(k, _)| !k.starts_with("aws:"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
        let mut call = self
            .client
            .create_nodegroup()
            .cluster_name(&self.cluster)
            .nodegroup_name(&spec.name)
            .set_node_role(source.node_role().map(str::to_string))
            .set_subnets(Some(source.subnets().to_vec()))
            .scaling_config(scaling)
            .set_capacity_type(source.capacity_type().cloned())
            .set_ami_type(source.ami_type().cloned())
            .set_labels(Some(spec.labels.clone().into_iter().collect()))
            .set_taints(Some(taints))
            .set_tags(tags)
            .set_update_config(source.update_config().cloned())
            .set_node_repair_config(source.node_repair_config().cloned())
            .version(minor_text(&spec.version))
            .client_request_token(&token.0);
        match launch_template {
            Some(lt) => call = call.launch_template(lt),
            None => {
                // Disk size, instance types and remote access may only be set without a launch
                // template.
                call = call
                    .set_instance_types(Some(source.instance_types().to_vec()).filter(|t| !t.is_empty()))
                    .set_disk_size(source.disk_size())
                    .set_remote_access(source.remote_access().cloned());
            }
        }
        match call.send().await {
            Ok(_) => Ok(op.id()),
            // EKS answers a repeated create (same token, or a resumed run) with ResourceInUse
            // when the group exists: wait on it instead.
            Err(e) => match map_sdk_error("CreateNodegroup", self.ng_target(&spec.name), e) {
                Error::OperationInProgress { .. } if self.find_nodegroup(&spec.name).await?.is_some() => {
                    Ok(op.id())
                }
                other => Err(other),
            },
        }
    }

    async fn delete_node_pool(&self, pool: &str, _token: &RequestToken) -> Result<OperationId> {
        let ng = self.nodegroup_before_write(pool).await?;
        self.recent.forget();
        let op = OpRef::Delete {
            cluster: self.cluster.clone(),
            nodegroup: pool.to_string(),
        };
        if ng.status() == Some(&NodegroupStatus::Deleting) {
            return Ok(op.id());
        }
        // DeleteNodegroup takes no idempotency token; the status check above stands in for it.
        self.client
            .delete_nodegroup()
            .cluster_name(&self.cluster)
            .nodegroup_name(pool)
            .send()
            .await
            .map_err(|e| map_sdk_error("DeleteNodegroup", self.ng_target(pool), e))?;
        Ok(op.id())
    }

    async fn operation(&self, id: &OperationId) -> Result<Operation> {
        let op = OpRef::parse(id)?;
        self.check_cluster(&op, id)?;
        match &op {
            OpRef::Cluster { update, .. } | OpRef::NodeGroup { update, .. } | OpRef::Addon { update, .. } => {
                let u = self.describe_update(&op, update).await?;
                Ok(convert::update_operation(&op, &u))
            }
            OpRef::Create { nodegroup, .. } => {
                let (state, to) = match self.find_nodegroup(nodegroup).await? {
                    Some(ng) => (
                        convert::create_state(&ng),
                        ng.version().and_then(|v| KubeVersion::parse(v).ok()),
                    ),
                    None => (
                        OperationState::Failed(format!("node group {nodegroup} does not exist")),
                        None,
                    ),
                };
                Ok(Operation {
                    id: id.clone(),
                    kind: OperationKind::CreateNodePool,
                    node_pool: Some(nodegroup.clone()),
                    to,
                    state,
                    progress: None,
                    poll_after: None,
                })
            }
            OpRef::Delete { nodegroup, .. } => {
                let ng = self.find_nodegroup(nodegroup).await?;
                Ok(Operation {
                    id: id.clone(),
                    kind: OperationKind::DeleteNodePool,
                    node_pool: Some(nodegroup.clone()),
                    to: None,
                    state: convert::delete_state(ng.as_ref()),
                    progress: None,
                    poll_after: None,
                })
            }
        }
    }

    /// Version updates in progress (found with `ListUpdates` + `DescribeUpdate` on the cluster
    /// and on node groups that report `UPDATING`), and node groups being created or deleted.
    /// A resource whose status lags behind an update it just got is covered by the request
    /// token: starting the same change again returns the same update.
    async fn operations_in_flight(&self) -> Result<Vec<Operation>> {
        let cluster = self.describe_cluster().await?;
        let mut ops = Vec::new();
        if convert::cluster_status(cluster.status()) == ResourceStatus::Updating {
            ops.extend(self.updates_in_progress(None).await?);
        }
        for ng in self.nodegroups().await? {
            let name = ng.nodegroup_name().unwrap_or_default().to_string();
            let (kind, op) = match ng.status() {
                Some(NodegroupStatus::Updating) => {
                    ops.extend(self.updates_in_progress(Some(&name)).await?);
                    continue;
                }
                Some(NodegroupStatus::Creating) => (
                    OperationKind::CreateNodePool,
                    OpRef::Create {
                        cluster: self.cluster.clone(),
                        nodegroup: name.clone(),
                    },
                ),
                Some(NodegroupStatus::Deleting) => (
                    OperationKind::DeleteNodePool,
                    OpRef::Delete {
                        cluster: self.cluster.clone(),
                        nodegroup: name.clone(),
                    },
                ),
                _ => continue,
            };
            ops.push(Operation {
                id: op.id(),
                kind,
                node_pool: Some(name),
                to: ng.version().and_then(|v| KubeVersion::parse(v).ok()),
                state: OperationState::Running,
                progress: None,
                poll_after: None,
            });
        }
        Ok(ops)
    }

    fn addon_updates(&self) -> Option<&dyn AddonUpdates> {
        Some(self)
    }

    fn node_config_reader(&self) -> Option<&dyn NodeConfigReader> {
        Some(self)
    }

    fn provider_checks(&self) -> Option<&dyn ProviderChecks> {
        Some(self)
    }
}

/// EKS managed add-ons (CoreDNS, kube-proxy, VPC CNI, ...) follow each control-plane hop.
#[async_trait]
impl AddonUpdates for EksCluster {
    async fn update_addons(
        &self,
        control_plane: &KubeVersion,
        token: &RequestToken,
    ) -> Result<Vec<OperationId>> {
        self.recent.forget();
        self.start_addon_updates(control_plane, token).await
    }
}

/// The user data of node groups' launch templates.
#[async_trait]
impl NodeConfigReader for EksCluster {
    async fn node_configs(&self) -> Result<kupgrade_core::NodeConfigs> {
        self.launch_template_user_data().await
    }
}

/// EKS upgrade insights, and managed add-ons at every hop.
impl ProviderChecks for EksCluster {
    fn checks(&self) -> Vec<Box<dyn kupgrade_core::Check>> {
        vec![
            Box::new(self.insights_check()),
            Box::new(crate::addon_check::EksAddonCheck::new(
                self.client.clone(),
                &self.cluster,
            )),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_tokens_are_stable_and_bounded() {
        let t = RequestToken("kup-0123456789abcdef-3-0".into());
        assert_eq!(derived_token(&t, "vpc-cni"), "kup-0123456789abcdef-3-0-vpc-cni");
        let long = derived_token(&t, &"x".repeat(80));
        assert_eq!(long.len(), 64);
        assert_eq!(long, derived_token(&t, &"x".repeat(80)));
        assert_ne!(long, derived_token(&t, &"y".repeat(80)));
    }
}
