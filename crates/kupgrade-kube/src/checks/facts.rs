//! [`ClusterFacts`]: everything the in-cluster checks look at, read once.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node as KNode, PersistentVolume, Pod as KPod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::{CSIDriver, StorageClass};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use kupgrade_core::{ClusterSnapshot, KubeVersion, NodeConfigSource, NodePool, Provider, Result};
use serde::de::DeserializeOwned;

use crate::api_gate::ApiUsage;
use crate::kube_error;
use crate::kubelet_flags;

/// Everything the checks look at, read once. Also loadable from JSON (each field a list of
/// objects as the API returns them) for offline runs and tests.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ClusterFacts {
    /// Nodes.
    pub nodes: Vec<KNode>,
    /// Pods in every namespace.
    pub pods: Vec<KPod>,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<PodDisruptionBudget>,
    /// Deployments.
    pub deployments: Vec<Deployment>,
    /// StatefulSets.
    pub statefulsets: Vec<StatefulSet>,
    /// DaemonSets (kube-proxy's version comes from its image).
    pub daemonsets: Vec<DaemonSet>,
    /// HorizontalPodAutoscalers (`autoscaling/v2`).
    pub hpas: Vec<HorizontalPodAutoscaler>,
    /// StorageClasses.
    pub storage_classes: Vec<StorageClass>,
    /// Installed CSI drivers.
    pub csi_drivers: Vec<CSIDriver>,
    /// PersistentVolumes.
    pub pvs: Vec<PersistentVolume>,
    /// Node bootstrap configuration to search for kubelet flags: objects read from the cluster
    /// (Karpenter `EC2NodeClass` user data, Cluster API kubeadm configs) plus files the user
    /// names (`kupgrade check --node-config`).
    pub node_configs: Vec<NodeConfigSource>,
    /// Node configuration that could not be read (what, and why), reported so that "no
    /// finding" is never mistaken for "nothing read".
    pub unread_node_configs: Vec<String>,
    /// The charts of the deployed Helm releases (for the add-on checks).
    pub helm_charts: Vec<kupgrade_core::addons::DeployedChart>,
    /// The live deprecated-API scan (`KUP-API-*`); `None` when the facts come from a file, so
    /// no cluster was scanned.
    #[serde(skip)]
    pub api_usage: Option<ApiUsage>,
}

/// Every object of kind `K` in every namespace, page by page.
pub(crate) async fn list_all<K>(client: &Client) -> Result<Vec<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    let mut out = Vec::new();
    let mut params = ListParams::default().limit(500);
    loop {
        let list = api.list(&params).await.map_err(kube_error)?;
        out.extend(list.items);
        match list.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

impl ClusterFacts {
    /// Reads the cluster (read-only: lists, `/version` and `/metrics`), including the live
    /// deprecated-API scan.
    pub async fn gather(client: &Client) -> Result<Self> {
        let node_configs = kubelet_flags::gather(client).await;
        let api_usage = ApiUsage::gather(client).await;
        Ok(Self {
            helm_charts: api_usage.charts.clone(),
            nodes: list_all(client).await?,
            pods: list_all(client).await?,
            pdbs: list_all(client).await?,
            deployments: list_all(client).await?,
            statefulsets: list_all(client).await?,
            daemonsets: list_all(client).await?,
            hpas: list_all(client).await?,
            storage_classes: list_all(client).await?,
            csi_drivers: list_all(client).await?,
            pvs: list_all(client).await?,
            node_configs: node_configs.sources,
            unread_node_configs: node_configs.unread,
            api_usage: Some(api_usage),
        })
    }
}

impl ClusterFacts {
    /// The provider whose nodes these are, from the nodes' `spec.providerID` (`aws://`,
    /// `azure://`, `gce://`), when every node that has one agrees.
    pub fn provider(&self) -> Option<Provider> {
        let mut found = None;
        for node in &self.nodes {
            let Some(id) = node.spec.as_ref().and_then(|s| s.provider_id.as_deref()) else {
                continue;
            };
            let provider = match id.split_once("://").map(|(scheme, _)| scheme) {
                Some("aws") => Provider::Eks,
                Some("azure") => Provider::Aks,
                Some("gce") => Provider::Gke,
                _ => return None,
            };
            if found.is_some_and(|f| f != provider) {
                return None;
            }
            found = Some(provider);
        }
        found
    }

    /// The cluster as its nodes show it, for planning without the provider's API: the control
    /// plane at `control_plane`, and one node pool per value of `provider`'s node-pool label,
    /// at the oldest kubelet minor among its nodes. Nodes without the label belong to no pool
    /// (self-managed, Karpenter, Fargate): the checks judge them as they are.
    pub fn snapshot(&self, name: &str, control_plane: KubeVersion, provider: Provider) -> ClusterSnapshot {
        let label = provider.pool_node_label("").0;
        let mut pools: BTreeMap<&str, (KubeVersion, u32)> = BTreeMap::new();
        for node in &self.nodes {
            let Some(pool) = node.metadata.labels.as_ref().and_then(|l| l.get(&label)) else {
                continue;
            };
            let Some(kubelet) = node
                .status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .and_then(|i| KubeVersion::parse(&i.kubelet_version).ok())
            else {
                continue;
            };
            let kubelet = kubelet.minor_version();
            pools
                .entry(pool.as_str())
                .and_modify(|(oldest, nodes)| {
                    if kubelet < *oldest {
                        *oldest = kubelet.clone();
                    }
                    *nodes += 1;
                })
                .or_insert((kubelet, 1));
        }
        ClusterSnapshot {
            provider,
            name: name.to_string(),
            control_plane,
            status: Default::default(),
            node_pools: pools
                .into_iter()
                .map(|(pool, (version, nodes))| NodePool::new(pool, version, nodes))
                .collect(),
            auto_upgrade: None,
            id: None,
        }
    }
}
