//! Pre-upgrade checks inside the cluster (`KUP-KUBE-NNN`, and the deprecated-API gate
//! `KUP-API-NNN` of [`crate::api_gate`]), each a [`Check`] in core's [`CheckRegistry`], the one
//! engine that runs every check per hop of a plan.
//!
//! The cluster is read once into [`ClusterFacts`] (on first use, shared by every check); each
//! check judges the facts at one [`Hop`] with the plan's versions at that hop, so node skew is
//! judged on the nodes the plan leaves there, not on today's. Health and drain checks that go
//! through [`kupgrade_core::ClusterWorkloads`] are core's (`KUP-HEALTH-001/002`,
//! `KUP-PDB-001`); this module does not repeat them.
//!
//! | Module | Checks |
//! |---|---|
//! | `api` | `KUP-API-001..003`: deprecated and removed APIs in use |
//! | `nodes` | `KUP-KUBE-002` kubelet skew, `-003` kube-proxy skew, `-011` removed runtime |
//! | `workloads` | `KUP-KUBE-006..010`: what a drain does to workloads |
//! | `storage` | `KUP-KUBE-012` in-tree volumes, `-013` default StorageClass |
//! | `kubelet` | `KUP-KUBE-014`: kubelet flags in node configuration |

mod api;
mod facts;
mod hop;
mod kubelet;
mod nodes;
mod storage;
mod workloads;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use kube::{Client, Resource};
use kupgrade_core::checks::{
    Check, CheckContext, CheckInputs, CheckRegistry, Finding, Offer, Severity, Subject, sort_findings,
};
use kupgrade_core::{
    Calendar, ClusterSnapshot, ClusterWorkloads, KubeVersion, ManagedCluster, NodeConfigSource, PlanOptions,
    Result, Strategy, UpgradePlan, plan_with,
};

pub use facts::ClusterFacts;
pub(crate) use facts::list_all;
pub use hop::Hop;
pub use nodes::kube_proxy_version;

/// Adds the in-cluster checks to `registry`; they read the cluster through `client` once, on
/// first use.
pub fn register(registry: &mut CheckRegistry, client: Client) {
    register_with_node_configs(registry, client, Vec::new(), None);
}

/// [`register`], with more node configuration searched for kubelet flags along with what the
/// cluster holds: `files` (node configuration the user saved) and what `provider` holds through
/// its [`NodeConfigReader`](kupgrade_core::NodeConfigReader) (EKS launch templates, read on
/// first use; if that fails, the check says so as a warning).
///
/// Returns the cluster's add-ons as those facts show them (the Helm releases the deprecated-API
/// scan reads, and the workloads' images), for core's add-on checks and the plan's add-on steps,
/// so that the cluster is read once.
pub fn register_with_node_configs(
    registry: &mut CheckRegistry,
    client: Client,
    files: Vec<NodeConfigSource>,
    provider: Option<Arc<dyn ManagedCluster>>,
) -> Arc<dyn kupgrade_core::addons::AddonInventory> {
    let shared = SharedFacts::new(Source::Cluster(client), files, provider);
    register_all(registry, shared.clone());
    shared
}

/// Adds the in-cluster checks over facts already read (from a file, or by a test's fixture).
pub fn register_facts(registry: &mut CheckRegistry, facts: ClusterFacts) {
    register_all(
        registry,
        SharedFacts::new(Source::Read(Box::new(facts)), Vec::new(), None),
    );
}

/// Adds only the kubelet flag check (KUP-KUBE-014) over `files`, for a cluster with no
/// Kubernetes API to read (the simulator).
pub fn register_kubelet_flag_check(registry: &mut CheckRegistry, files: Vec<NodeConfigSource>) {
    let shared = SharedFacts::new(Source::Read(Box::default()), files, None);
    registry.register(kubelet::check().on(shared));
}

/// What `kupgrade check` runs with only a kubeconfig: plans an in-place upgrade of the cluster
/// as its nodes show it ([`ClusterFacts::snapshot`]) and runs core's built-in checks and these
/// for that plan, through one registry (`workloads`, when given, feeds core's health and
/// PodDisruptionBudget checks), with the add-on checks (`KUP-ADDON-*`) judging the facts'
/// Helm charts and workload images against `catalog`. When today's nodes already break the provider's skew, so that no
/// plan can start from them, the plan moves the control plane only and every node is judged as
/// it is. Findings come sorted, blockers first.
pub async fn check_in_place(
    facts: ClusterFacts,
    snapshot: ClusterSnapshot,
    target: &KubeVersion,
    workloads: Option<&dyn ClusterWorkloads>,
    today: NaiveDate,
    catalog: Arc<kupgrade_core::AddonCatalog>,
) -> Result<InPlaceChecks> {
    // EKS managed add-ons follow each hop in a real run (`update-addons` steps), so kube-proxy
    // is judged as the run would leave it when EKS manages it.
    let options = PlanOptions::new(snapshot.provider, Strategy::InPlace)
        .with_managed_addons(snapshot.provider == kupgrade_core::Provider::Eks);
    let (snapshot, plan) = match plan_with(&snapshot, target, &options) {
        Ok(plan) => (snapshot, plan),
        Err(_) => {
            let mut bare = snapshot;
            bare.node_pools.clear();
            let plan = plan_with(&bare, target, &options)?;
            (bare, plan)
        }
    };
    let mut registry = CheckRegistry::builtin();
    kupgrade_core::addons::register(
        &mut registry,
        catalog,
        Arc::new(crate::addons::ClusterAddons::from_facts(&facts)),
    );
    register_facts(&mut registry, facts);
    let calendar = Calendar::embedded(snapshot.provider);
    let inputs = CheckInputs {
        snapshot: &snapshot,
        calendar: &calendar,
        today,
        workloads,
        in_flight: &[],
        force_drain: false,
        offer: Offer::NotRead,
        allow_preview: false,
    };
    let mut findings = registry.run(&plan, &inputs).await?;
    sort_findings(&mut findings);
    Ok(InPlaceChecks {
        checks: registry.describe(),
        plan,
        findings,
    })
}

/// What [`check_in_place`] found.
#[derive(Debug)]
#[non_exhaustive]
pub struct InPlaceChecks {
    /// The in-place plan the checks judged.
    pub plan: UpgradePlan,
    /// Every finding, blockers first.
    pub findings: Vec<Finding>,
    /// The ids and descriptions of the checks that ran.
    pub checks: Vec<(&'static str, &'static str)>,
}

fn register_all(registry: &mut CheckRegistry, shared: Arc<SharedFacts>) {
    let checks = api::checks()
        .into_iter()
        .chain(nodes::checks())
        .chain(workloads::checks())
        .chain(storage::checks())
        .chain([kubelet::check()]);
    for check in checks {
        registry.register(check.on(shared.clone()));
    }
}

/// Where the facts come from.
enum Source {
    /// Read from the cluster on first use.
    Cluster(Client),
    /// Already read.
    Read(Box<ClusterFacts>),
}

/// The cluster read once for every registered check.
struct SharedFacts {
    source: Source,
    files: Vec<NodeConfigSource>,
    provider: Option<Arc<dyn ManagedCluster>>,
    facts: tokio::sync::OnceCell<ClusterFacts>,
}

impl SharedFacts {
    fn new(
        source: Source,
        files: Vec<NodeConfigSource>,
        provider: Option<Arc<dyn ManagedCluster>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            source,
            files,
            provider,
            facts: tokio::sync::OnceCell::new(),
        })
    }

    async fn get(&self) -> Result<&ClusterFacts> {
        self.facts
            .get_or_try_init(|| async {
                let mut facts = match &self.source {
                    Source::Cluster(client) => ClusterFacts::gather(client).await?,
                    Source::Read(facts) => (**facts).clone(),
                };
                facts.node_configs.extend(self.files.iter().cloned());
                if let Some(provider) = &self.provider
                    && let Some(reader) = provider.node_config_reader()
                {
                    match reader.node_configs().await {
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

/// The add-ons the facts show.
#[async_trait]
impl kupgrade_core::addons::AddonInventory for SharedFacts {
    async fn installed(
        &self,
        catalog: &kupgrade_core::AddonCatalog,
    ) -> Result<Vec<kupgrade_core::InstalledAddon>> {
        let facts = self.get().await?;
        Ok(kupgrade_core::addons::detect(
            catalog,
            &facts.helm_charts,
            &crate::addons::workload_images(facts),
        ))
    }
}

/// One in-cluster check: its id, what it looks for, its severity, whether it runs per hop, and
/// how it judges the facts. [`FactCheck::on`] makes it a core [`Check`].
struct FactCheck {
    id: &'static str,
    description: &'static str,
    per_hop: bool,
    judge: fn(&ClusterFacts, &Hop<'_>) -> Vec<Finding>,
}

impl FactCheck {
    /// A check run for every hop of the plan.
    fn per_hop(
        id: &'static str,
        description: &'static str,
        judge: fn(&ClusterFacts, &Hop<'_>) -> Vec<Finding>,
    ) -> Self {
        Self {
            id,
            description,
            per_hop: true,
            judge,
        }
    }

    /// A check run once per plan (at its target).
    fn once(
        id: &'static str,
        description: &'static str,
        judge: fn(&ClusterFacts, &Hop<'_>) -> Vec<Finding>,
    ) -> Self {
        Self {
            per_hop: false,
            ..Self::per_hop(id, description, judge)
        }
    }

    /// The check over the facts `shared` reads.
    fn on(self, shared: Arc<SharedFacts>) -> OnFacts {
        OnFacts { check: self, shared }
    }
}

/// A [`FactCheck`] with the facts it reads: what core's registry runs.
struct OnFacts {
    check: FactCheck,
    shared: Arc<SharedFacts>,
}

#[async_trait]
impl Check for OnFacts {
    fn id(&self) -> &'static str {
        self.check.id
    }
    fn description(&self) -> &'static str {
        self.check.description
    }
    fn per_hop(&self) -> bool {
        self.check.per_hop
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let facts = self.shared.get().await?;
        Ok((self.check.judge)(facts, &Hop::of(ctx)))
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
