//! [`KubeWorkloads`]: core's `ClusterWorkloads` over kube-rs. Nodes by the provider's pool label,
//! cordon through a patch of `spec.unschedulable`, evictions through the Eviction API (a 429
//! naming a PodDisruptionBudget becomes `Eviction::Blocked`), a drain preview from the PDBs'
//! specs and status, and the cluster's health.

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node as KNode, Pod as KPod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kupgrade_core::{
    ClusterWorkloads, DrainBlocker, Error, HealthSnapshot, Hint, KubeVersion, Node, Pod, PodRef, Provider,
    Result, Setting, workloads::Eviction,
};

use crate::kube_error;

/// The pool labels of every provider kupgrade knows, for clusters opened without a provider.
const POOL_LABELS: [&str; 3] = [
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
    "cloud.google.com/gke-nodepool",
];

/// The in-cluster side of an upgrade through a kube-rs [`Client`].
#[derive(Clone)]
pub struct KubeWorkloads {
    client: Client,
    provider: Option<Provider>,
}

impl std::fmt::Debug for KubeWorkloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeWorkloads")
            .field("cluster", &self.client.default_namespace())
            .field("provider", &self.provider)
            .finish()
    }
}

impl KubeWorkloads {
    /// Wraps a client. `provider` picks the node label that names pools; without one, any of
    /// the EKS, AKS and GKE labels is accepted.
    pub fn new(client: Client, provider: Option<Provider>) -> Self {
        Self { client, provider }
    }

    /// Connects through a kubeconfig file (`None`: `$KUBECONFIG` or `~/.kube/config`) and an
    /// optional context.
    pub async fn from_kubeconfig(
        path: Option<&Path>,
        context: Option<&str>,
        provider: Option<Provider>,
    ) -> Result<Self> {
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match path {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                    Error::invalid_input(format!(
                        "kubeconfig {}: {e}; give a readable kubeconfig file",
                        path.display()
                    ))
                    .with_hint(Hint::Settings(vec![Setting::Kubeconfig]))
                })?;
                Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| {
                        Error::invalid_input(format!(
                            "kubeconfig {}: {e}; check the context against `kubectl config get-contexts`",
                            path.display()
                        ))
                        .with_hint(Hint::Settings(vec![Setting::KubeContext]))
                    })?
            }
            None => Config::from_kubeconfig(&options).await.map_err(|e| {
                Error::invalid_input(format!(
                    "no usable kubeconfig ({e}); give a kubeconfig file or set KUBECONFIG"
                ))
                .with_hint(Hint::Settings(vec![Setting::Kubeconfig, Setting::KubeContext]))
            })?,
        };
        Self::from_config(config, provider)
    }

    /// Connects with kube-rs's defaults (in-cluster service account, then the kubeconfig).
    pub async fn try_default(provider: Option<Provider>) -> Result<Self> {
        let config = Config::infer().await.map_err(|e| {
            Error::invalid_input(format!(
                "no cluster configuration found ({e}); give a kubeconfig file or set KUBECONFIG"
            ))
            .with_hint(Hint::Settings(vec![Setting::Kubeconfig]))
        })?;
        Self::from_config(config, provider)
    }

    /// Connects with a ready [`Config`].
    ///
    /// kube-rs's built-in retry of 429/503/504 is switched off: it would swallow the 429 a
    /// PodDisruptionBudget answers to an eviction (retrying it for minutes) before the drain
    /// could name the blocker. kupgrade's own poll policy retries what is worth retrying.
    pub fn from_config(mut config: Config, provider: Option<Provider>) -> Result<Self> {
        config.default_retry = false;
        let client = Client::try_from(config)
            .map_err(|e| Error::invalid_input(format!("cannot build a Kubernetes client: {e}")))?;
        Ok(Self::new(client, provider))
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The API server's version.
    pub async fn server_version(&self) -> Result<KubeVersion> {
        api_server_version(&self.client).await
    }

    fn pool_of(&self, node: &KNode) -> String {
        let labels = node.metadata.labels.as_ref();
        let keys: Vec<String> = match self.provider {
            Some(p) => vec![p.pool_node_label("").0],
            None => POOL_LABELS.iter().map(|s| s.to_string()).collect(),
        };
        keys.iter()
            .find_map(|k| labels.and_then(|l| l.get(k)).cloned())
            .unwrap_or_default()
    }

    /// Every node, as core sees them (pool from the provider's label, empty when unlabelled).
    pub async fn all_nodes(&self) -> Result<Vec<Node>> {
        let api: Api<KNode> = Api::all(self.client.clone());
        let list = api.list(&ListParams::default()).await.map_err(kube_error)?;
        Ok(list.items.iter().map(|n| self.to_node(n)).collect())
    }

    fn to_node(&self, n: &KNode) -> Node {
        let status = n.status.as_ref();
        let kubelet = status
            .and_then(|s| s.node_info.as_ref())
            .and_then(|i| KubeVersion::parse(&i.kubelet_version).ok())
            .unwrap_or(KubeVersion::new(1, 0));
        Node {
            name: n.metadata.name.clone().unwrap_or_default(),
            pool: self.pool_of(n),
            kubelet,
            ready: node_ready(n),
            unschedulable: n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
        }
    }

    async fn pdbs(&self) -> Result<Vec<PodDisruptionBudget>> {
        let api: Api<PodDisruptionBudget> = Api::all(self.client.clone());
        Ok(api.list(&ListParams::default()).await.map_err(kube_error)?.items)
    }

    async fn raw_pods_on(&self, node: &str) -> Result<Vec<KPod>> {
        let api: Api<KPod> = Api::all(self.client.clone());
        let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
        Ok(api.list(&params).await.map_err(kube_error)?.items)
    }

    /// The PDB protecting a pod, `namespace/name`, found by selector.
    async fn pdb_for(&self, pod: &PodRef) -> Result<Option<String>> {
        let pods: Api<KPod> = Api::namespaced(self.client.clone(), &pod.namespace);
        let Some(p) = pods.get_opt(&pod.name).await.map_err(kube_error)? else {
            return Ok(None);
        };
        let pdbs: Api<PodDisruptionBudget> = Api::namespaced(self.client.clone(), &pod.namespace);
        let list = pdbs.list(&ListParams::default()).await.map_err(kube_error)?;
        Ok(list.items.iter().find(|pdb| pdb_selects(pdb, &p)).map(|pdb| {
            format!(
                "{}/{}",
                pod.namespace,
                pdb.metadata.name.clone().unwrap_or_default()
            )
        }))
    }
}

/// The API server's version (`/version`): `gitVersion`, or `major.minor` when that does not parse.
pub(crate) async fn api_server_version(client: &Client) -> Result<KubeVersion> {
    let info = client.apiserver_version().await.map_err(kube_error)?;
    KubeVersion::parse(&info.git_version)
        .or_else(|_| KubeVersion::parse(&format!("{}.{}", info.major, info.minor.trim_end_matches('+'))))
}

/// Whether a node reports `Ready=True`.
pub fn node_ready(n: &KNode) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A pod as core sees it.
pub fn to_pod(p: &KPod) -> Pod {
    let owner_kind = p
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.iter().find(|o| o.controller == Some(true)).or(o.first()))
        .map(|o| o.kind.clone());
    let mirror = p
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    Pod {
        pod: pod_ref(p),
        owner_kind,
        mirror,
    }
}

/// `namespace/name` of a pod.
pub fn pod_ref(p: &KPod) -> PodRef {
    PodRef {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
    }
}

/// Whether a label selector matches labels (`matchLabels` and `matchExpressions`; an empty
/// selector matches everything, as for `policy/v1` PDBs).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    if let Some(ml) = &selector.match_labels
        && !ml.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    })
}

/// Whether a PDB selects a pod (same namespace, selector matches).
pub fn pdb_selects(pdb: &PodDisruptionBudget, pod: &KPod) -> bool {
    if pdb.metadata.namespace != pod.metadata.namespace {
        return false;
    }
    let empty = BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    match pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        Some(sel) => selector_matches(sel, labels),
        None => false,
    }
}

/// Why a PDB blocks every eviction, if it does: `maxUnavailable` of 0, `minAvailable` at or
/// above the pods it expects, or no disruption allowed right now.
pub fn pdb_block_reason(pdb: &PodDisruptionBudget) -> Option<String> {
    let spec = pdb.spec.as_ref()?;
    let status = pdb.status.as_ref();
    let expected = status.and_then(|s| s.expected_pods).unwrap_or(0);
    let healthy = status.and_then(|s| s.current_healthy).unwrap_or(0);
    let is_zero = |v: &IntOrString| match v {
        IntOrString::Int(0) => true,
        IntOrString::String(s) => s.trim() == "0%" || s.trim() == "0",
        IntOrString::Int(_) => false,
    };
    if spec.max_unavailable.as_ref().is_some_and(is_zero) {
        return Some("maxUnavailable is 0: it never allows an eviction".into());
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) if expected > 0 && *n >= expected => {
            return Some(format!(
                "minAvailable {n} >= the {expected} pod(s) it selects: it never allows an eviction"
            ));
        }
        Some(IntOrString::String(s)) if s.trim() == "100%" => {
            return Some("minAvailable is 100%: it never allows an eviction".into());
        }
        _ => {}
    }
    if status.is_some_and(|s| s.disruptions_allowed == Some(0)) && expected > 0 {
        return Some(format!(
            "allows 0 disruptions now ({healthy} of {expected} pod(s) healthy)"
        ));
    }
    None
}

#[async_trait]
impl ClusterWorkloads for KubeWorkloads {
    async fn nodes(&self, pool: &str) -> Result<Vec<Node>> {
        let api: Api<KNode> = Api::all(self.client.clone());
        let params = match self.provider {
            Some(p) => {
                let (k, v) = p.pool_node_label(pool);
                ListParams::default().labels(&format!("{k}={v}"))
            }
            None => ListParams::default(),
        };
        let list = api.list(&params).await.map_err(kube_error)?;
        Ok(list
            .items
            .iter()
            .map(|n| self.to_node(n))
            .filter(|n| n.pool == pool)
            .collect())
    }

    async fn set_unschedulable(&self, node: &str, unschedulable: bool) -> Result<()> {
        let api: Api<KNode> = Api::all(self.client.clone());
        let patch = serde_json::json!({"spec": {"unschedulable": unschedulable}});
        api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| match kube_error(e) {
                Error::NotFound { .. } => Error::not_found("node", node, "it may have been replaced already"),
                other => other,
            })?;
        Ok(())
    }

    async fn pods_on(&self, node: &str) -> Result<Vec<Pod>> {
        Ok(self
            .raw_pods_on(node)
            .await?
            .iter()
            .filter(|p| {
                // Finished pods hold nothing a drain must move.
                !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded") | Some("Failed")
                )
            })
            .map(to_pod)
            .collect())
    }

    async fn evict(&self, pod: &PodRef) -> Result<Eviction> {
        let api: Api<KPod> = Api::namespaced(self.client.clone(), &pod.namespace);
        match api.evict(&pod.name, &EvictParams::default()).await {
            Ok(_) => Ok(Eviction::Evicted),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(Eviction::Gone),
            Err(kube::Error::Api(status)) if status.code == 429 => {
                let causes = status
                    .details
                    .as_ref()
                    .map(|d| d.causes.as_slice())
                    .unwrap_or_default();
                let budget = causes.iter().find(|c| c.reason == "DisruptionBudget");
                if budget.is_none() && !status.message.contains("disruption budget") {
                    // API priority and fairness, not a PDB: wait and retry the call.
                    return Err(Error::throttled(None));
                }
                let named = budget.and_then(|c| {
                    c.message
                        .strip_prefix("The disruption budget ")
                        .and_then(|rest| rest.split_whitespace().next())
                        .map(|name| format!("{}/{name}", pod.namespace))
                });
                let pdb = match named {
                    Some(n) => n,
                    None => self.pdb_for(pod).await?.unwrap_or_else(|| "unknown PDB".into()),
                };
                let reason = budget
                    .map(|c| c.message.clone())
                    .unwrap_or_else(|| status.message.clone());
                Ok(Eviction::Blocked { pdb, reason })
            }
            Err(e) => Err(kube_error(e)),
        }
    }

    async fn delete_pod(&self, pod: &PodRef) -> Result<()> {
        let api: Api<KPod> = Api::namespaced(self.client.clone(), &pod.namespace);
        match api.delete(&pod.name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(kube_error(e)),
        }
    }

    async fn drain_preview(&self, nodes: &[String]) -> Result<Vec<DrainBlocker>> {
        let pdbs = self.pdbs().await?;
        let blocking: Vec<(&PodDisruptionBudget, String)> = pdbs
            .iter()
            .filter_map(|p| pdb_block_reason(p).map(|r| (p, r)))
            .collect();
        let mut out = Vec::new();
        if blocking.is_empty() {
            return Ok(out);
        }
        for node in nodes {
            for pod in self.raw_pods_on(node).await? {
                let core = to_pod(&pod);
                if core.mirror || core.owner_kind.as_deref() == Some("DaemonSet") {
                    continue;
                }
                if let Some((pdb, reason)) = blocking.iter().find(|(pdb, _)| pdb_selects(pdb, &pod)) {
                    out.push(DrainBlocker {
                        node: node.clone(),
                        pod: core.pod,
                        pdb: format!(
                            "{}/{}",
                            pdb.metadata.namespace.clone().unwrap_or_default(),
                            pdb.metadata.name.clone().unwrap_or_default()
                        ),
                        reason: reason.clone(),
                        blocked_for_secs: 0,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn health(&self) -> Result<HealthSnapshot> {
        let nodes: Api<KNode> = Api::all(self.client.clone());
        let nodes = nodes
            .list(&ListParams::default())
            .await
            .map_err(kube_error)?
            .items;
        let pods: Api<KPod> = Api::all(self.client.clone());
        let pods = pods.list(&ListParams::default()).await.map_err(kube_error)?.items;
        let mut snap = HealthSnapshot {
            nodes: nodes.len() as u32,
            nodes_not_ready: nodes
                .iter()
                .filter(|n| !node_ready(n))
                .filter_map(|n| n.metadata.name.clone())
                .collect(),
            pods: pods.len() as u32,
            pods_failing: pods.iter().filter(|p| pod_failing(p)).map(pod_ref).collect(),
            workloads_unavailable: Vec::new(),
        };
        snap.workloads_unavailable = unavailable_workloads(&self.client).await?;
        Ok(snap)
    }
}

/// Whether a pod is failing: a phase other than Running or Succeeded, or a container waiting in
/// a crash loop or on an image it cannot pull.
pub fn pod_failing(p: &KPod) -> bool {
    let status = p.status.as_ref();
    match status.and_then(|s| s.phase.as_deref()) {
        Some("Running") => status
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.as_deref())
                        .is_some_and(|r| {
                            matches!(
                                r,
                                "CrashLoopBackOff"
                                    | "ImagePullBackOff"
                                    | "ErrImagePull"
                                    | "CreateContainerConfigError"
                            )
                        })
                })
            }),
        Some("Succeeded") => false,
        _ => true,
    }
}

/// Deployments, StatefulSets and DaemonSets with fewer available pods than desired,
/// as `Kind namespace/name`.
pub async fn unavailable_workloads(client: &Client) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let name = |m: &kube::api::ObjectMeta| {
        format!(
            "{}/{}",
            m.namespace.clone().unwrap_or_default(),
            m.name.clone().unwrap_or_default()
        )
    };
    let deps: Api<Deployment> = Api::all(client.clone());
    for d in deps.list(&ListParams::default()).await.map_err(kube_error)?.items {
        let want = d.spec.replicas.unwrap_or(1);
        let have = d.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0);
        if have < want {
            out.push(format!("Deployment {}", name(&d.metadata)));
        }
    }
    let sts: Api<StatefulSet> = Api::all(client.clone());
    for s in sts.list(&ListParams::default()).await.map_err(kube_error)?.items {
        let want = s.spec.replicas.unwrap_or(1);
        let have = s.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0);
        if have < want {
            out.push(format!("StatefulSet {}", name(&s.metadata)));
        }
    }
    let ds: Api<DaemonSet> = Api::all(client.clone());
    for d in ds.list(&ListParams::default()).await.map_err(kube_error)?.items {
        let st = d.status.as_ref();
        let want = st.map(|s| s.desired_number_scheduled).unwrap_or(0);
        let have = st.and_then(|s| s.number_available).unwrap_or(0);
        if have < want {
            out.push(format!("DaemonSet {}", name(&d.metadata)));
        }
    }
    out.sort();
    Ok(out)
}
