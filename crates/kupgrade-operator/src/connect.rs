//! Turning a [`ManagedClusterRef`] into a live cluster: the simulator, or EKS, AKS and GKE with
//! credentials from a Secret or the operator's workload identity, and the in-cluster side from a
//! kubeconfig Secret.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use kupgrade_core::{ClusterWorkloads, KubeVersion, ManagedCluster, Provider};
use kupgrade_sim::{SimCluster, SimState, SimStore};

use crate::error::{Error, Result};
use crate::resources::{ManagedClusterRef, ProviderKind};

/// A cluster ready to upgrade.
#[derive(Clone)]
pub struct Connected {
    /// The provider's side: versions, pools, operations.
    pub cluster: Arc<dyn ManagedCluster>,
    /// The Kubernetes side (nodes, pods, evictions), when there is a way in.
    pub workloads: Option<Arc<dyn ClusterWorkloads>>,
}

/// Connects `ManagedClusterRef`s to their clusters.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Connects to the cluster `reference` names.
    async fn connect(&self, reference: &ManagedClusterRef) -> Result<Connected>;
}

/// Simulated clusters, created from their `ManagedClusterRef`'s settings on first use and kept
/// for the operator's lifetime (in memory, or as state files in a folder).
#[derive(Debug, Default)]
pub struct SimClusters {
    dir: Option<PathBuf>,
    open: Mutex<HashMap<String, SimCluster>>,
}

impl SimClusters {
    /// Clusters kept in memory (lost when the process ends).
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Clusters kept as `NAMESPACE-NAME.json` state files in `dir`, so that a restarted
    /// operator finds them as it left them.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
            open: Mutex::default(),
        }
    }

    /// Uses `state` for the `ManagedClusterRef` `namespace/name` instead of one made from its
    /// settings (tests inject faults this way). Returns the simulator.
    pub fn insert(&self, namespace: &str, name: &str, state: SimState) -> SimCluster {
        let sim = SimCluster::new(state);
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{namespace}/{name}"), sim.clone());
        sim
    }

    /// The simulator of `namespace/name`, once connected.
    pub fn cluster(&self, namespace: &str, name: &str) -> Option<SimCluster> {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    fn connect(&self, reference: &ManagedClusterRef) -> Result<Connected> {
        let namespace = reference.namespace().unwrap_or_default();
        let name = reference.name_any();
        let key = format!("{namespace}/{name}");
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sim) = open.get(&key) {
            return Ok(Connected {
                cluster: Arc::new(sim.clone()),
                workloads: Some(Arc::new(sim.clone())),
            });
        }
        let invalid = |message: String| Error::Connect {
            cluster: name.clone(),
            message,
        };
        let settings = reference
            .spec
            .simulator
            .as_ref()
            .ok_or_else(|| invalid("provider Simulator needs spec.simulator".into()))?;
        let store = match &self.dir {
            Some(dir) => SimStore::File(dir.join(format!("{namespace}-{name}.json"))),
            None => SimStore::memory(),
        };
        let state = match store.load()? {
            Some(state) => state,
            None => {
                let control_plane = KubeVersion::parse(&settings.control_plane)
                    .map_err(|e| invalid(format!("spec.simulator.controlPlane: {e}")))?;
                let provider = match settings.behaves_like.as_deref().unwrap_or("eks") {
                    "eks" => Provider::Eks,
                    "aks" => Provider::Aks,
                    "gke" => Provider::Gke,
                    other => {
                        return Err(invalid(format!(
                            "spec.simulator.behavesLike '{other}' is not one of eks, aks, gke"
                        )));
                    }
                };
                let state = SimState::generate(
                    provider,
                    &name,
                    control_plane,
                    settings.node_pools as usize,
                    settings.pods,
                );
                store.save(&state)?;
                state
            }
        };
        let sim = SimCluster::with_store(state, store);
        open.insert(key, sim.clone());
        Ok(Connected {
            cluster: Arc::new(sim.clone()),
            workloads: Some(Arc::new(sim)),
        })
    }
}

/// Simulated clusters only: what the tests and the documentation run on.
#[async_trait]
impl Connector for SimClusters {
    async fn connect(&self, reference: &ManagedClusterRef) -> Result<Connected> {
        match reference.spec.provider {
            ProviderKind::Simulator => SimClusters::connect(self, reference),
            other => Err(Error::Connect {
                cluster: reference.name_any(),
                message: format!("provider {other:?} is not simulated; use CloudConnector"),
            }),
        }
    }
}

/// The operator's connector: simulated clusters from [`SimClusters`], cloud clusters through
/// kupgrade's adapters (each provider behind its Cargo feature).
pub struct CloudConnector {
    client: kube::Client,
    sims: Arc<SimClusters>,
}

impl std::fmt::Debug for CloudConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudConnector")
            .field("sims", &self.sims)
            .finish_non_exhaustive()
    }
}

impl CloudConnector {
    /// Reads Secrets through `client` (the management cluster) and keeps simulators in `sims`.
    pub fn new(client: kube::Client, sims: Arc<SimClusters>) -> Self {
        Self { client, sims }
    }

    /// The string values of Secret `name` in `namespace`. Values are never logged.
    async fn secret(&self, namespace: &str, name: &str) -> Result<BTreeMap<String, String>> {
        let secret = Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get(name)
            .await
            .map_err(|e| Error::Invalid(format!("Secret {namespace}/{name}: {e}")))?;
        let mut out = BTreeMap::new();
        for (k, v) in secret.data.unwrap_or_default() {
            let text = String::from_utf8(v.0).map_err(|_| {
                Error::Invalid(format!("Secret {namespace}/{name}: key {k} is not UTF-8 text"))
            })?;
            out.insert(k, text);
        }
        for (k, v) in secret.string_data.unwrap_or_default() {
            out.insert(k, v);
        }
        Ok(out)
    }

    async fn workloads(
        &self,
        reference: &ManagedClusterRef,
        provider: Provider,
    ) -> Result<Option<Arc<dyn ClusterWorkloads>>> {
        let Some(secret) = &reference.spec.kubeconfig_secret else {
            return Ok(None);
        };
        let namespace = reference.namespace().unwrap_or_default();
        let data = self.secret(&namespace, secret).await?;
        let yaml = data
            .get("kubeconfig")
            .ok_or_else(|| Error::Invalid(format!("Secret {namespace}/{secret} has no `kubeconfig` key")))?;
        // The parser's and loader's messages may quote the Secret's content: say only where.
        let unusable =
            |what: &str| Error::Invalid(format!("Secret {namespace}/{secret}: the kubeconfig {what}"));
        let kubeconfig = kube::config::Kubeconfig::from_yaml(yaml)
            .map_err(|_| unusable("is not valid kubeconfig YAML"))?;
        inline_only(&kubeconfig).map_err(|field| unusable(&format!("uses `{field}`; {INLINE_ONLY}")))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|_| unusable("cannot be loaded (check its current context, server and credentials)"))?;
        let client = kube::Client::try_from(config)?;
        Ok(Some(Arc::new(kupgrade_kube::KubeWorkloads::new(
            client,
            Some(provider),
        ))))
    }

    async fn credentials(&self, reference: &ManagedClusterRef) -> Result<Option<BTreeMap<String, String>>> {
        match &reference.spec.credentials_secret {
            Some(name) => Ok(Some(
                self.secret(&reference.namespace().unwrap_or_default(), name)
                    .await?,
            )),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Connector for CloudConnector {
    async fn connect(&self, reference: &ManagedClusterRef) -> Result<Connected> {
        let name = reference.name_any();
        let missing = |what: &str| Error::Connect {
            cluster: name.clone(),
            message: format!("provider {what} needs spec.{}", what.to_lowercase()),
        };
        let (cluster, provider): (Arc<dyn ManagedCluster>, Provider) = match reference.spec.provider {
            ProviderKind::Simulator => return SimClusters::connect(&self.sims, reference),
            ProviderKind::Eks => {
                let settings = reference.spec.eks.as_ref().ok_or_else(|| missing("Eks"))?;
                let credentials = self.credentials(reference).await?;
                (providers::eks(settings, credentials).await?, Provider::Eks)
            }
            ProviderKind::Aks => {
                let settings = reference.spec.aks.as_ref().ok_or_else(|| missing("Aks"))?;
                let credentials = self.credentials(reference).await?;
                (providers::aks(settings, credentials).await?, Provider::Aks)
            }
            ProviderKind::Gke => {
                let settings = reference.spec.gke.as_ref().ok_or_else(|| missing("Gke"))?;
                let credentials = self.credentials(reference).await?;
                (providers::gke(settings, credentials).await?, Provider::Gke)
            }
        };
        Ok(Connected {
            cluster,
            workloads: self.workloads(reference, provider).await?,
        })
    }
}

mod providers;

const INLINE_ONLY: &str = "only inline credentials are accepted (token, client-certificate-data and client-key-data, certificate-authority-data)";

/// The first field of `kubeconfig` that would make the operator read a file, run a program or
/// call an auth plugin in its own pod: a Secret's author could otherwise point `tokenFile` at
/// the operator's service-account token and `server` at their own host.
fn inline_only(kubeconfig: &kube::config::Kubeconfig) -> std::result::Result<(), &'static str> {
    for user in kubeconfig.auth_infos.iter().filter_map(|u| u.auth_info.as_ref()) {
        let refused = [
            (user.exec.is_some(), "exec"),
            (user.auth_provider.is_some(), "auth-provider"),
            (user.token_file.is_some(), "tokenFile"),
            (user.client_certificate.is_some(), "client-certificate"),
            (user.client_key.is_some(), "client-key"),
        ];
        if let Some((_, field)) = refused.into_iter().find(|(set, _)| *set) {
            return Err(field);
        }
    }
    for cluster in kubeconfig.clusters.iter().filter_map(|c| c.cluster.as_ref()) {
        if cluster.certificate_authority.is_some() {
            return Err("certificate-authority");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(user: &str) -> kube::config::Kubeconfig {
        kube::config::Kubeconfig::from_yaml(&format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'https://10.0.0.1'}}\nusers:\n- name: u\n  user: {user}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ))
        .unwrap()
    }

    #[test]
    fn kubeconfigs_that_reach_into_the_operator_pod_are_refused() {
        assert_eq!(inline_only(&config("{token: abc}")), Ok(()));
        assert_eq!(
            inline_only(&config(
                "{tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}"
            )),
            Err("tokenFile")
        );
        assert_eq!(
            inline_only(&config(
                "{exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1}}"
            )),
            Err("exec")
        );
        assert_eq!(
            inline_only(&config("{client-certificate: /etc/cert.pem}")),
            Err("client-certificate")
        );
    }
}
