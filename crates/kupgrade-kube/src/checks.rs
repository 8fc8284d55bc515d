//! Pre-upgrade checks inside the cluster (`KUP-KUBE-NNN`, and the deprecated-API gate
//! `KUP-API-NNN` of [`crate::api_gate`]), each with a stable id, a severity and the hops it
//! applies to.
//!
//! The cluster is read once into [`ClusterFacts`]; each check is a plain function of the facts
//! and the [`Hop`] (with the plan's versions at that hop when there is a plan: node skew is
//! judged on the nodes the plan leaves there, not on today's), so the same checks run from `kupgrade check` ([`run_checks`]) and from core's
//! `CheckRegistry` ([`register`]), and are tested without a cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node as KNode, PersistentVolume, Pod as KPod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::{CSIDriver, StorageClass};
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use kupgrade_core::checks::{Check, CheckContext, CheckRegistry, Finding, Severity, Subject, sort_findings};
use kupgrade_core::{
    Hint, KubeVersion, ManagedCluster, NodeConfigSource, Result, Setting, Step, UpgradePlan, VersionState,
};
use serde::de::DeserializeOwned;

use crate::api_gate::{self, ApiUsage};
use crate::kube_error;
use crate::kubelet_flags::{self, KubeletFlagTable};
use crate::workloads::{node_ready, pdb_block_reason, pdb_selects, pod_failing, selector_matches};

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
    /// The live deprecated-API scan (`KUP-API-*`); `None` when the facts come from a file, so
    /// no cluster was scanned.
    #[serde(skip)]
    pub api_usage: Option<ApiUsage>,
}

async fn list_all<K>(client: &Client) -> Result<Vec<K>>
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
        Ok(Self {
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
            api_usage: Some(ApiUsage::gather(client).await),
        })
    }
}

/// A check over [`ClusterFacts`].
#[derive(Debug, Clone)]
pub struct KubeCheck {
    /// Stable id.
    pub id: &'static str,
    /// What it looks for.
    pub description: &'static str,
    /// The severity of its findings (some findings of a check may be milder; see the README).
    pub severity: Severity,
    /// Whether it runs once per hop.
    pub per_hop: bool,
    /// The oldest hop it applies to, if it applies only from some release on.
    pub from: Option<KubeVersion>,
    /// Whether `register` adds it to core's registry (false where a core check already covers
    /// it through `ClusterWorkloads`).
    pub in_registry: bool,
    run: fn(&ClusterFacts, &Hop<'_>) -> Vec<Finding>,
}

/// What a check judges: the control-plane version of one hop and, inside a plan, the versions
/// the plan gives the node pools by then.
#[derive(Debug, Clone, Copy)]
pub struct Hop<'a> {
    /// The control-plane version the hop reaches (the target for once-per-plan checks).
    pub version: &'a KubeVersion,
    /// The plan, when the checks run for one (`kupgrade check --provider`, `upgrade`); `None`
    /// for the kubeconfig-only `kupgrade check`, which judges the nodes as they are today.
    pub plan: Option<&'a UpgradePlan>,
    /// The versions the plan gives the cluster right after the control plane reaches
    /// `version` (pools it moves before the hop included); with `plan` only.
    pub at_hop: Option<&'a VersionState>,
}

impl<'a> Hop<'a> {
    /// A hop outside any plan: nodes are judged as they are today.
    pub fn unplanned(version: &'a KubeVersion) -> Self {
        Self {
            version,
            plan: None,
            at_hop: None,
        }
    }

    /// What the plan does before this hop with the nodes of each pool it knows, found by the
    /// provider's pool label; built once per check run (nodes x pools lookups would not scale).
    fn fates(&self) -> Fates<'a> {
        let (Some(plan), Some(at_hop)) = (self.plan, self.at_hop) else {
            return Fates {
                label: None,
                pools: HashMap::new(),
            };
        };
        let planned: HashMap<&str, &KubeVersion> = at_hop
            .node_pools
            .iter()
            .map(|p| (p.name.as_str(), &p.version))
            .collect();
        let pools = plan
            .initial
            .node_pools
            .iter()
            .map(|pool| {
                let fate = match planned.get(pool.name.as_str()) {
                    None => NodeFate::Replaced,
                    Some(v) if !v.same_minor(&pool.version) => {
                        NodeFate::Moved(pool.name.clone(), (*v).clone())
                    }
                    Some(_) => NodeFate::Stays(pool.name.clone()),
                };
                (pool.name.as_str(), fate)
            })
            .collect();
        Fates {
            label: Some(plan.provider.pool_node_label("").0),
            pools,
        }
    }

    /// How many minors a kubelet at `kubelet` may lag at this hop: the plan's skew policy (the
    /// provider's rule with its source in `kupgrade_core::skew`, or the user's `--lag-limit`),
    /// or the upstream rule outside a plan.
    pub fn kubelet_lag(&self, kubelet: &KubeVersion) -> i64 {
        match self.plan {
            Some(plan) => i64::from(plan.policy.max_lag(kubelet)),
            None => allowed_lag(kubelet),
        }
    }

    /// The version of the provider-managed add-ons (kube-proxy among them) right before the
    /// control plane reaches this hop: the last `update-addons` step the plan makes before it.
    fn addons_before(&self) -> Option<&'a KubeVersion> {
        let plan = self.plan?;
        let mut last = None;
        for step in &plan.steps {
            match step {
                Step::UpgradeControlPlane { to, .. } if to == self.version => return last,
                Step::UpdateAddons { to } => last = Some(to),
                _ => {}
            }
        }
        None
    }
}

/// What a plan does before one hop with the nodes of each pool.
struct Fates<'a> {
    /// The provider's pool label key; `None` outside a plan.
    label: Option<String>,
    /// By pool name.
    pools: HashMap<&'a str, NodeFate>,
}

impl Fates<'_> {
    /// What the plan does with `node`.
    fn of(&self, node: &KNode) -> NodeFate {
        let Some(label) = &self.label else {
            return NodeFate::Unplanned;
        };
        node.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(label))
            .and_then(|pool| self.pools.get(pool.as_str()))
            .cloned()
            .unwrap_or(NodeFate::InNoPool)
    }
}

/// What a plan does with one node before a hop.
#[derive(Clone)]
enum NodeFate {
    /// No plan: judged as it is today.
    Unplanned,
    /// In no pool the plan knows (self-managed, Karpenter, Fargate): the plan does not move it.
    InNoPool,
    /// Its pool is not moved before the hop: judged as it is today.
    Stays(String),
    /// Its pool is moved to this version before the hop: its replacement is judged.
    Moved(String, KubeVersion),
    /// Its pool is replaced by a new one and deleted before the hop (blue/green): gone.
    Replaced,
}

impl KubeCheck {
    /// Runs it for one hop.
    pub fn run(&self, facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
        if self.from.as_ref().is_some_and(|f| hop.version < f) {
            return Vec::new();
        }
        let mut found = (self.run)(facts, hop);
        if self.per_hop {
            for f in &mut found {
                f.hop = Some(hop.version.clone());
            }
        }
        found
    }
}

/// The id of the kubelet flag check.
const KUBELET_FLAG_CHECK: &str = "KUP-KUBE-014";

/// Every in-cluster check, in id order.
pub fn all() -> Vec<KubeCheck> {
    let c = |id, description, severity, per_hop, in_registry, run| KubeCheck {
        id,
        description,
        severity,
        per_hop,
        from: None,
        in_registry,
        run,
    };
    vec![
        c(
            api_gate::REMOVED_CHECK,
            "no API version still in use (API server metric, managedFields, last-applied, Helm releases) is removed at the hop",
            Severity::Blocker,
            true,
            true,
            api_removed,
        ),
        c(
            api_gate::DEPRECATED_CHECK,
            "no API version still in use is deprecated at the hop or was removed before the plan",
            Severity::Warning,
            true,
            true,
            api_deprecated,
        ),
        c(
            api_gate::UNREAD_CHECK,
            "the deprecated-API scan could read every source (or says which permission is missing)",
            Severity::Warning,
            false,
            true,
            api_unread,
        ),
        c(
            "KUP-KUBE-001",
            "every node reports Ready",
            Severity::Blocker,
            false,
            false,
            nodes_not_ready,
        ),
        c(
            "KUP-KUBE-002",
            "kubelets are within skew of the control plane at each hop",
            Severity::Blocker,
            true,
            true,
            kubelet_skew,
        ),
        c(
            "KUP-KUBE-003",
            "kube-proxy is within skew of the control plane at each hop",
            Severity::Blocker,
            true,
            true,
            kube_proxy_skew,
        ),
        c(
            "KUP-KUBE-004",
            "no pods are failing (not Running or Succeeded, crash loops)",
            Severity::Warning,
            false,
            false,
            pods_failing,
        ),
        c(
            "KUP-KUBE-005",
            "no PodDisruptionBudget blocks a drain (names the PDB and its pods)",
            Severity::Blocker,
            false,
            false,
            blocking_pdbs,
        ),
        c(
            "KUP-KUBE-006",
            "multi-replica workloads have a PodDisruptionBudget",
            Severity::Warning,
            false,
            true,
            no_pdb,
        ),
        c(
            "KUP-KUBE-007",
            "workloads with a single replica (down during their node's drain)",
            Severity::Warning,
            false,
            true,
            single_replica,
        ),
        c(
            "KUP-KUBE-008",
            "pods without a controller (deleted by a drain, never recreated)",
            Severity::Warning,
            false,
            true,
            bare_pods,
        ),
        c(
            "KUP-KUBE-009",
            "pods with emptyDir data or local PersistentVolumes (lost or stuck on drain)",
            Severity::Warning,
            false,
            true,
            local_data,
        ),
        c(
            "KUP-KUBE-010",
            "HorizontalPodAutoscalers with no headroom during node rotation",
            Severity::Info,
            false,
            true,
            hpas,
        ),
        c(
            "KUP-KUBE-011",
            "no node runs a container runtime the hop removes (dockershim, 1.24)",
            Severity::Blocker,
            true,
            true,
            removed_runtime,
        ),
        c(
            "KUP-KUBE-012",
            "in-tree volume plugins in use have their CSI driver installed",
            Severity::Blocker,
            true,
            true,
            in_tree_volumes,
        ),
        c(
            "KUP-KUBE-013",
            "exactly one default StorageClass",
            Severity::Warning,
            false,
            true,
            default_storage_class,
        ),
        c(
            KUBELET_FLAG_CHECK,
            "node configuration passes no kubelet flag the target deprecates or removes",
            Severity::Blocker,
            false,
            true,
            kubelet_flags,
        ),
    ]
}

/// Runs every check: per-hop checks for each minor from `current` (exclusive) to `target`, the
/// others once. Findings come sorted by severity (blockers first), then id.
pub fn run_checks(facts: &ClusterFacts, current: &KubeVersion, target: &KubeVersion) -> Vec<Finding> {
    let mut hops = Vec::new();
    let mut hop = current.minor_version().next_minor();
    while hop <= target.minor_version() {
        hops.push(hop.clone());
        hop = hop.next_minor();
    }
    if hops.is_empty() {
        hops.push(target.minor_version());
    }
    let mut out = Vec::new();
    let target = target.minor_version();
    for check in all() {
        if check.per_hop {
            for hop in &hops {
                out.extend(check.run(facts, &Hop::unplanned(hop)));
            }
        } else {
            out.extend(check.run(facts, &Hop::unplanned(&target)));
        }
    }
    sort_findings(&mut out);
    out
}

/// Adds the in-cluster checks that core's built-in checks do not already cover to `registry`;
/// they read the cluster through `client` once, on first use.
pub fn register(registry: &mut CheckRegistry, client: Client) {
    register_with_node_configs(registry, client, Vec::new(), None);
}

/// [`register`], with more node configuration searched for kubelet flags along with what the
/// cluster holds: `files` (`kupgrade check --node-config`) and what `provider` holds (EKS
/// launch templates, read on first use; if that fails, the check says so as a warning).
pub fn register_with_node_configs(
    registry: &mut CheckRegistry,
    client: Client,
    files: Vec<NodeConfigSource>,
    provider: Option<Arc<dyn ManagedCluster>>,
) {
    let shared = SharedFacts::new(Some(client), files, provider);
    register_where(registry, &shared, |c| c.in_registry);
}

/// Adds only the kubelet flag check (KUP-KUBE-014) over `files`, for a cluster with no
/// Kubernetes API to read (the simulator).
pub fn register_kubelet_flag_check(registry: &mut CheckRegistry, files: Vec<NodeConfigSource>) {
    let shared = SharedFacts::new(None, files, None);
    register_where(registry, &shared, |c| c.id == KUBELET_FLAG_CHECK);
}

/// Registers the checks `keep` selects, all reading the facts through `shared`.
fn register_where(
    registry: &mut CheckRegistry,
    shared: &Arc<SharedFacts>,
    keep: impl Fn(&KubeCheck) -> bool,
) {
    for check in all().into_iter().filter(|c| keep(c)) {
        registry.register(RegistryCheck {
            check,
            shared: shared.clone(),
        });
    }
}

/// The cluster read once for every registered check.
struct SharedFacts {
    /// The cluster to read, if there is one; without it the facts are the files alone.
    client: Option<Client>,
    files: Vec<NodeConfigSource>,
    provider: Option<Arc<dyn ManagedCluster>>,
    facts: tokio::sync::OnceCell<ClusterFacts>,
}

impl SharedFacts {
    fn new(
        client: Option<Client>,
        files: Vec<NodeConfigSource>,
        provider: Option<Arc<dyn ManagedCluster>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            files,
            provider,
            facts: tokio::sync::OnceCell::new(),
        })
    }

    async fn get(&self) -> Result<&ClusterFacts> {
        self.facts
            .get_or_try_init(|| async {
                let mut facts = match &self.client {
                    Some(client) => ClusterFacts::gather(client).await?,
                    None => ClusterFacts::default(),
                };
                facts.node_configs.extend(self.files.iter().cloned());
                if let Some(provider) = &self.provider {
                    match provider.node_configs().await {
                        Ok(found) => {
                            facts.node_configs.extend(found.sources);
                            facts.unread_node_configs.extend(found.unread);
                        }
                        Err(e) => facts.unread_node_configs.push(format!(
                            "the {} node configuration (launch templates): {e}",
                            provider.provider()
                        )),
                    }
                }
                Ok(facts)
            })
            .await
    }
}

struct RegistryCheck {
    check: KubeCheck,
    shared: Arc<SharedFacts>,
}

#[async_trait]
impl Check for RegistryCheck {
    fn id(&self) -> &'static str {
        self.check.id
    }
    fn description(&self) -> &'static str {
        self.check.description
    }
    fn per_hop(&self) -> bool {
        self.check.per_hop
    }
    fn applies_to(&self, hop: &KubeVersion) -> bool {
        self.check.from.as_ref().is_none_or(|f| hop >= f)
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let hop = Hop {
            version: ctx.hop,
            plan: Some(ctx.plan),
            at_hop: Some(ctx.at_hop),
        };
        Ok(self.check.run(self.shared.get().await?, &hop))
    }
}

fn finding(
    id: &str,
    severity: Severity,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    message: String,
) -> Finding {
    Finding {
        id: id.into(),
        severity,
        message,
        subject: Subject {
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
        },
        hop: None,
        api: None,
        hint: None,
    }
}

fn meta_name<K: Resource>(k: &K) -> (Option<&str>, &str) {
    let m = k.meta();
    (m.namespace.as_deref(), m.name.as_deref().unwrap_or(""))
}

fn api_removed(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    facts
        .api_usage
        .as_ref()
        .map(|u| api_gate::removed_at_hop(u, hop.version, hop.plan.map(|p| p.provider)))
        .unwrap_or_default()
}

fn api_deprecated(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    facts
        .api_usage
        .as_ref()
        .map(|u| api_gate::deprecated_at_hop(u, hop.version))
        .unwrap_or_default()
}

fn api_unread(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    facts.api_usage.as_ref().map(api_gate::unread).unwrap_or_default()
}

fn nodes_not_ready(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    facts
        .nodes
        .iter()
        .filter(|n| !node_ready(n))
        .map(|n| {
            let (_, name) = meta_name(n);
            finding("KUP-KUBE-001", Severity::Blocker, "Node", None, name, format!(
                "node {name} is NotReady; fix or replace it before upgrading (a drain cannot move its pods safely)"
            ))
        })
        .collect()
}

/// How many minors older than the API server a kubelet or kube-proxy may be, by the upstream
/// rule (<https://kubernetes.io/releases/version-skew-policy/>, read 2026-11-25: 3, or 2 below
/// 1.25). Inside a plan a kubelet is judged by the plan's policy instead ([`Hop::kubelet_lag`]).
fn allowed_lag(component: &KubeVersion) -> i64 {
    if component.minor() >= 25 { 3 } else { 2 }
}

/// KUP-KUBE-002 judges each node as the plan leaves it at the hop: a node whose pool the plan
/// moves (or replaces) before the hop is no blocker for its kubelet today; nodes in pools the
/// plan does not move before the hop, and nodes in no pool it knows, are judged as they are.
fn kubelet_skew(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    let control_plane = hop.version;
    let fates = hop.fates();
    facts
        .nodes
        .iter()
        .filter_map(|n| {
            let (_, name) = meta_name(n);
            let raw = n.status.as_ref()?.node_info.as_ref()?.kubelet_version.clone();
            let live = KubeVersion::parse(&raw).ok()?;
            let (kubelet, advice) = match fates.of(n) {
                NodeFate::Replaced => return None,
                NodeFate::Moved(pool, to) => (
                    to.clone(),
                    format!("its pool {pool} is moved to {to} before this hop, and that is still too far behind; re-plan with a lower node lag limit"),
                ),
                NodeFate::Stays(pool) => (
                    live,
                    format!("the plan does not move its pool {pool} before this hop; upgrade or replace the node"),
                ),
                NodeFate::InNoPool => (
                    live,
                    "it is in no node pool the plan moves (self-managed, Karpenter or Fargate?); replace it before this hop".to_string(),
                ),
                NodeFate::Unplanned => (
                    live,
                    "upgrade or replace its pool before this hop".to_string(),
                ),
            };
            let lag = control_plane.minors_ahead_of(&kubelet);
            let allowed = hop.kubelet_lag(&kubelet);
            (lag > allowed).then(|| {
                finding("KUP-KUBE-002", Severity::Blocker, "Node", None, name, format!(
                    "node {name} runs kubelet {kubelet}, {lag} minors behind a {control_plane} control plane (at most {allowed} allowed); {advice}"
                ))
            })
        })
        .collect()
}

/// The `kube-system/kube-proxy` DaemonSet.
fn kube_proxy_daemonset(facts: &ClusterFacts) -> Option<&DaemonSet> {
    facts.daemonsets.iter().find(|d| {
        d.metadata.namespace.as_deref() == Some("kube-system")
            && d.metadata.name.as_deref() == Some("kube-proxy")
    })
}

/// kube-proxy's version from the `kube-system/kube-proxy` DaemonSet image tag
/// (`...kube-proxy:v1.29.3-eksbuild.2` -> 1.29.3).
pub fn kube_proxy_version(facts: &ClusterFacts) -> Option<KubeVersion> {
    let ds = kube_proxy_daemonset(facts)?;
    let image = ds
        .spec
        .template
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == "kube-proxy")?
        .image
        .clone()?;
    let tag = image.rsplit_once(':')?.1;
    KubeVersion::parse(tag.split('@').next()?).ok()
}

/// The field manager of EKS managed add-ons: a DaemonSet it manages is one the plan's
/// `update-addons` steps move ("Both types of fields are tagged with manager: eks",
/// <https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-field-management.html>).
const EKS_ADDON_MANAGER: &str = "eks";

/// KUP-KUBE-003 judges kube-proxy as the plan leaves it at the hop: when it is an EKS managed
/// add-on and the plan updates the add-ons after an earlier hop, at that version.
fn kube_proxy_skew(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    let Some(live) = kube_proxy_version(facts) else {
        return Vec::new();
    };
    let control_plane = hop.version;
    let managed = kube_proxy_daemonset(facts)
        .and_then(|d| d.metadata.managed_fields.as_ref())
        .is_some_and(|fields| {
            fields
                .iter()
                .any(|f| f.manager.as_deref() == Some(EKS_ADDON_MANAGER))
        });
    let proxy = match hop.addons_before() {
        Some(updated) if managed && updated.minor_version() > live.minor_version() => updated.clone(),
        _ => live,
    };
    let lag = control_plane.minors_ahead_of(&proxy);
    if lag > allowed_lag(&proxy) {
        vec![finding(
            "KUP-KUBE-003",
            Severity::Blocker,
            "DaemonSet",
            Some("kube-system"),
            "kube-proxy",
            format!(
                "kube-proxy {proxy} is {lag} minors behind a {control_plane} control plane (at most {} allowed); update the kube-proxy add-on before this hop",
                allowed_lag(&proxy)
            ),
        )]
    } else {
        Vec::new()
    }
}

fn pods_failing(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    facts
        .pods
        .iter()
        .filter(|p| pod_failing(p))
        .map(|p| {
            let (ns, name) = meta_name(p);
            let phase = p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into());
            finding("KUP-KUBE-004", Severity::Warning, "Pod", ns, name, format!(
                "pod is {phase} or crash-looping before the upgrade; fix it first or it will look like an upgrade failure"
            ))
        })
        .collect()
}

fn blocking_pdbs(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    facts
        .pdbs
        .iter()
        .filter_map(|pdb| {
            let reason = pdb_block_reason(pdb)?;
            let (ns, name) = meta_name(pdb);
            let pods: Vec<String> = facts
                .pods
                .iter()
                .filter(|p| pdb_selects(pdb, p))
                .map(|p| p.metadata.name.clone().unwrap_or_default())
                .collect();
            if pods.is_empty() {
                return None;
            }
            Some(finding("KUP-KUBE-005", Severity::Blocker, "PodDisruptionBudget", ns, name, format!(
                "PodDisruptionBudget {}/{name} would block draining pod(s) {}: {reason}; scale the workload up or relax the PDB before the upgrade",
                ns.unwrap_or(""),
                pods.join(", ")
            )))
        })
        .collect()
}

struct Workload<'a> {
    kind: &'static str,
    namespace: Option<&'a str>,
    name: &'a str,
    replicas: i32,
    labels: BTreeMap<String, String>,
}

fn workloads(facts: &ClusterFacts) -> Vec<Workload<'_>> {
    let mut out = Vec::new();
    for d in &facts.deployments {
        let (namespace, name) = meta_name(d);
        out.push(Workload {
            kind: "Deployment",
            namespace,
            name,
            replicas: d.spec.replicas.unwrap_or(1),
            labels: d
                .spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default(),
        });
    }
    for s in &facts.statefulsets {
        let (namespace, name) = meta_name(s);
        out.push(Workload {
            kind: "StatefulSet",
            namespace,
            name,
            replicas: s.spec.replicas.unwrap_or(1),
            labels: s
                .spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default(),
        });
    }
    out
}

fn covered_by_pdb(facts: &ClusterFacts, w: &Workload<'_>) -> bool {
    facts.pdbs.iter().any(|pdb| {
        pdb.metadata.namespace.as_deref() == w.namespace
            && pdb
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .is_some_and(|sel| selector_matches(sel, &w.labels))
    })
}

fn no_pdb(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    workloads(facts)
        .into_iter()
        .filter(|w| w.replicas > 1 && !covered_by_pdb(facts, w))
        .map(|w| {
            finding("KUP-KUBE-006", Severity::Warning, w.kind, w.namespace, w.name, format!(
                "{} replicas and no PodDisruptionBudget: a drain may evict them all at once; add a PDB with maxUnavailable: 1",
                w.replicas
            ))
        })
        .collect()
}

fn single_replica(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    workloads(facts)
        .into_iter()
        .filter(|w| w.replicas == 1)
        .map(|w| {
            finding("KUP-KUBE-007", Severity::Warning, w.kind, w.namespace, w.name, 
                "a single replica: it is down while its node drains; run 2 or more replicas if it must stay up".into())
        })
        .collect()
}

fn bare_pods(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    facts
        .pods
        .iter()
        .filter(|p| {
            p.metadata.owner_references.as_ref().is_none_or(|o| o.is_empty())
                && !p.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
                && !matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
        })
        .map(|p| {
            let (ns, name) = meta_name(p);
            finding("KUP-KUBE-008", Severity::Warning, "Pod", ns, name,
                "no controller owns this pod: a drain deletes it and nothing recreates it; run it from a Deployment or Job".into())
        })
        .collect()
}

fn local_data(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    let local_pvs: BTreeMap<&str, &str> = facts
        .pvs
        .iter()
        .filter(|pv| {
            pv.spec
                .as_ref()
                .is_some_and(|s| s.local.is_some() || s.host_path.is_some())
        })
        .filter_map(|pv| {
            let claim = pv.spec.as_ref()?.claim_ref.as_ref()?;
            Some((claim.name.as_deref()?, pv.metadata.name.as_deref()?))
        })
        .collect();
    let mut out = Vec::new();
    for p in &facts.pods {
        let (ns, name) = meta_name(p);
        let Some(spec) = p.spec.as_ref() else { continue };
        let is_daemon = p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.kind == "DaemonSet");
        for v in spec.volumes.iter().flatten() {
            if v.empty_dir.is_some() && !is_daemon {
                out.push(finding("KUP-KUBE-009", Severity::Info, "Pod", ns, name, format!(
                    "emptyDir volume '{}' is lost when the pod is evicted; make sure it holds nothing that matters",
                    v.name
                )));
            }
            if let Some(pvc) = &v.persistent_volume_claim
                && let Some(pv) = local_pvs.get(pvc.claim_name.as_str())
            {
                out.push(finding("KUP-KUBE-009", Severity::Warning, "Pod", ns, name, format!(
                    "uses local PersistentVolume {pv} (claim {}): the pod cannot move to a new node and its data stays on the old one",
                    pvc.claim_name
                )));
            }
        }
    }
    out
}

fn hpas(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    facts
        .hpas
        .iter()
        .map(|h| {
            let (ns, name) = meta_name(h);
            let max = h.spec.max_replicas;
            let min = h.spec.min_replicas.unwrap_or(1);
            let current = h.status.as_ref().and_then(|s| s.current_replicas).unwrap_or(0);
            let target = format!("{} {}", h.spec.scale_target_ref.kind, h.spec.scale_target_ref.name);
            if current >= max {
                finding("KUP-KUBE-010", Severity::Warning, "HorizontalPodAutoscaler", ns, name, format!(
                    "scales {target} and is at its maximum ({current}/{max}): no headroom while nodes rotate; raise maxReplicas for the upgrade"
                ))
            } else {
                finding("KUP-KUBE-010", Severity::Info, "HorizontalPodAutoscaler", ns, name, format!(
                    "scales {target} between {min} and {max} (now {current}); replicas evicted during drains come back through it"
                ))
            }
        })
        .collect()
}

fn removed_runtime(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    if hop.version.minor() < 24 {
        return Vec::new();
    }
    facts
        .nodes
        .iter()
        .filter_map(|n| {
            let runtime = n.status.as_ref()?.node_info.as_ref()?.container_runtime_version.clone();
            runtime.starts_with("docker://").then(|| {
                let (_, name) = meta_name(n);
                finding("KUP-KUBE-011", Severity::Blocker, "Node", None, name, format!(
                    "runs {runtime} through dockershim, removed in 1.24; move the pool to containerd before this hop"
                ))
            })
        })
        .collect()
}

/// Kubelet flags in node configuration that the target release removes (the kubelet exits with
/// `unknown flag`: blocker) or deprecates (warning); the message names the release. Node
/// configuration that could not be read is a warning.
fn kubelet_flags(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    let target = hop.version;
    let table = KubeletFlagTable::builtin();
    let mut out: Vec<Finding> = facts
        .unread_node_configs
        .iter()
        .map(|unread| {
            let what = unread.split(": ").next().unwrap_or(unread);
            let mut f = finding(
                KUBELET_FLAG_CHECK,
                Severity::Warning,
                "NodeConfig",
                None,
                what,
                format!("kubelet flags not checked in {unread}; save it to a file and check that file"),
            );
            f.hint = Some(Hint::Settings(vec![Setting::NodeConfigFile]));
            f
        })
        .collect();
    for source in &facts.node_configs {
        let place = if source.kind == "File" {
            source.name.clone()
        } else {
            format!("{} {}", source.kind, source.name)
        };
        for (flag, line) in kubelet_flags::flags_in(source) {
            let Some(entry) = table.get(&flag) else {
                continue;
            };
            let (severity, verdict) = match &entry.removed_in {
                Some(removed) if entry.removed_at(target) => (
                    Severity::Blocker,
                    format!(
                        "removed in {removed}: a kubelet at {removed} or later exits with \"unknown flag\" and the node never joins"
                    ),
                ),
                _ if entry.deprecated_at(target) => (
                    Severity::Warning,
                    match &entry.removed_in {
                        Some(removed) => {
                            format!("deprecated since {}, removed in {removed}", entry.deprecated_in)
                        }
                        None => format!("deprecated since {}", entry.deprecated_in),
                    },
                ),
                _ => continue,
            };
            out.push(finding(
                KUBELET_FLAG_CHECK,
                severity,
                &source.kind,
                source.namespace.as_deref(),
                &source.name,
                format!(
                    "{place} (line {line}) passes kubelet flag --{flag}, {verdict}; {}",
                    entry.advice
                ),
            ));
        }
    }
    out
}

/// In-tree volume plugins: (PV field, in-tree provisioner, CSI driver, release from which CSI
/// migration is on by default, so the driver must be installed). Sources: the Kubernetes CSI
/// changelog (https://kubernetes-csi.github.io/docs/kubernetes-changelog.html; EBS, GCE PD and
/// Azure Disk on by default in 1.23, Azure File and vSphere GA in 1.26) and KEP-625.
const IN_TREE: [(&str, &str, &str, u32); 7] = [
    (
        "awsElasticBlockStore",
        "kubernetes.io/aws-ebs",
        "ebs.csi.aws.com",
        23,
    ),
    (
        "gcePersistentDisk",
        "kubernetes.io/gce-pd",
        "pd.csi.storage.gke.io",
        23,
    ),
    ("azureDisk", "kubernetes.io/azure-disk", "disk.csi.azure.com", 23),
    ("azureFile", "kubernetes.io/azure-file", "file.csi.azure.com", 26),
    ("cinder", "kubernetes.io/cinder", "cinder.csi.openstack.org", 21),
    (
        "vsphereVolume",
        "kubernetes.io/vsphere-volume",
        "csi.vsphere.vmware.com",
        26,
    ),
    (
        "portworxVolume",
        "kubernetes.io/portworx-volume",
        "pxd.portworx.com",
        31,
    ),
];

fn pv_plugin(pv: &PersistentVolume) -> Option<&'static (&'static str, &'static str, &'static str, u32)> {
    let s = pv.spec.as_ref()?;
    let used = [
        s.aws_elastic_block_store.is_some(),
        s.gce_persistent_disk.is_some(),
        s.azure_disk.is_some(),
        s.azure_file.is_some(),
        s.cinder.is_some(),
        s.vsphere_volume.is_some(),
        s.portworx_volume.is_some(),
    ];
    used.iter().position(|u| *u).map(|i| &IN_TREE[i])
}

fn in_tree_volumes(facts: &ClusterFacts, hop: &Hop<'_>) -> Vec<Finding> {
    let hop = hop.version;
    let installed = |driver: &str| {
        facts
            .csi_drivers
            .iter()
            .any(|d| d.metadata.name.as_deref() == Some(driver))
    };
    let mut out = Vec::new();
    let mut judge = |kind: &str, name: &str, plugin: &str, driver: &str, from: u32| {
        if installed(driver) {
            out.push(finding("KUP-KUBE-012", Severity::Info, kind, None, name, format!(
                "uses the in-tree {plugin} plugin, served by CSI driver {driver} through CSI migration; consider moving to {driver} directly"
            )));
        } else if hop.minor() >= from {
            out.push(finding("KUP-KUBE-012", Severity::Blocker, kind, None, name, format!(
                "uses the in-tree {plugin} plugin, which from 1.{from} works only through CSI driver {driver}, and that driver is not installed; install it before this hop"
            )));
        }
    };
    for pv in &facts.pvs {
        if let Some((field, _, driver, from)) = pv_plugin(pv) {
            judge(
                "PersistentVolume",
                pv.metadata.name.as_deref().unwrap_or(""),
                field,
                driver,
                *from,
            );
        }
    }
    for sc in &facts.storage_classes {
        if let Some((_, prov, driver, from)) = IN_TREE.iter().find(|(_, p, _, _)| *p == sc.provisioner) {
            judge(
                "StorageClass",
                sc.metadata.name.as_deref().unwrap_or(""),
                prov,
                driver,
                *from,
            );
        }
    }
    out
}

fn is_default(sc: &StorageClass) -> bool {
    sc.metadata.annotations.as_ref().is_some_and(|a| {
        a.get("storageclass.kubernetes.io/is-default-class")
            .map(String::as_str)
            == Some("true")
            || a.get("storageclass.beta.kubernetes.io/is-default-class")
                .map(String::as_str)
                == Some("true")
    })
}

fn default_storage_class(facts: &ClusterFacts, _: &Hop<'_>) -> Vec<Finding> {
    let defaults: Vec<&str> = facts
        .storage_classes
        .iter()
        .filter(|s| is_default(s))
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    match defaults.as_slice() {
        [_] => Vec::new(),
        [] => vec![finding("KUP-KUBE-013", Severity::Warning, "Cluster", None, "storage", 
            "no default StorageClass: PVCs without storageClassName stay Pending and the post-upgrade PVC smoke test cannot run; mark one with storageclass.kubernetes.io/is-default-class=true".into())],
        many => vec![finding("KUP-KUBE-013", Severity::Warning, "Cluster", None, "storage", format!(
            "{} default StorageClasses ({}): new PVCs get the newest one; keep exactly one default",
            many.len(),
            many.join(", ")
        ))],
    }
}
