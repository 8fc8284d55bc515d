//! What add-ons a cluster runs, for core's add-on checks (`KUP-ADDON-*`): the charts of its
//! deployed Helm releases and the images of its Deployments, DaemonSets and StatefulSets.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::PodSpec;
use kube::{Client, Resource};
use kupgrade_core::Result;
use kupgrade_core::addons::{
    AddonCatalog, AddonInventory, DeployedChart, InstalledAddon, WorkloadImage, detect,
};
use kupgrade_core::checks::Subject;

use crate::checks::ClusterFacts;
use crate::checks::list_all as list;

/// The add-ons of a cluster: read through its API on first use, or from facts already read.
pub struct ClusterAddons {
    source: Source,
    read: tokio::sync::OnceCell<(Vec<DeployedChart>, Vec<WorkloadImage>)>,
}

enum Source {
    Live(Client),
    Read,
}

impl ClusterAddons {
    /// Reads the cluster on first use: Helm release Secrets (`list` on secrets labelled
    /// `owner=helm`) and Deployments, DaemonSets and StatefulSets in every namespace.
    pub fn live(client: Client) -> Self {
        Self {
            source: Source::Live(client),
            read: tokio::sync::OnceCell::new(),
        }
    }

    /// From facts already read (`kupgrade check --kubeconfig`, fixtures).
    pub fn from_facts(facts: &ClusterFacts) -> Self {
        Self::from_parts(facts.helm_charts.clone(), workload_images(facts))
    }

    /// From charts and images given as they are.
    pub fn from_parts(charts: Vec<DeployedChart>, images: Vec<WorkloadImage>) -> Self {
        Self {
            source: Source::Read,
            read: tokio::sync::OnceCell::new_with(Some((charts, images))),
        }
    }

    /// The deployed charts and workload images.
    pub async fn parts(&self) -> Result<&(Vec<DeployedChart>, Vec<WorkloadImage>)> {
        self.read
            .get_or_try_init(|| async {
                let Source::Live(client) = &self.source else {
                    return Ok((Vec::new(), Vec::new()));
                };
                let releases = crate::helm::live_releases(client).await?;
                let charts = releases
                    .releases
                    .iter()
                    .filter(|r| r.status == "deployed")
                    .filter_map(|r| r.deployed_chart())
                    .collect();
                let facts = ClusterFacts {
                    deployments: list(client).await?,
                    daemonsets: list(client).await?,
                    statefulsets: list(client).await?,
                    ..ClusterFacts::default()
                };
                Ok((charts, workload_images(&facts)))
            })
            .await
    }
}

#[async_trait]
impl AddonInventory for ClusterAddons {
    async fn installed(&self, catalog: &AddonCatalog) -> Result<Vec<InstalledAddon>> {
        let (charts, images) = self.parts().await?;
        Ok(detect(catalog, charts, images))
    }
}

/// Every container image of the facts' Deployments, DaemonSets and StatefulSets.
pub fn workload_images(facts: &ClusterFacts) -> Vec<WorkloadImage> {
    fn of<K: Resource>(kind: &str, k: &K, spec: Option<&PodSpec>, out: &mut Vec<WorkloadImage>) {
        let meta = k.meta();
        // The providers' own components (AKS and GKE label them) are not self-managed add-ons.
        if meta.labels.as_ref().is_some_and(|l| {
            l.contains_key("addonmanager.kubernetes.io/mode")
                || l.contains_key("kubernetes.azure.com/managedby")
        }) {
            return;
        }
        let subject = Subject {
            kind: kind.into(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
        };
        for container in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
            if let Some(image) = &container.image {
                out.push(WorkloadImage {
                    workload: subject.clone(),
                    image: image.clone(),
                });
            }
        }
    }
    let mut out = Vec::new();
    for d in &facts.deployments {
        let spec = d.spec.template.spec.as_ref();
        of("Deployment", d, spec, &mut out);
    }
    for d in &facts.daemonsets {
        let spec = d.spec.template.spec.as_ref();
        of("DaemonSet", d, spec, &mut out);
    }
    for s in &facts.statefulsets {
        let spec = s.spec.template.spec.as_ref();
        of("StatefulSet", s, spec, &mut out);
    }
    out
}
