//! Pre-upgrade checks: a [`Check`] trait with stable ids, a severity, the versions each check
//! applies to, and a registry that runs them once per hop of a plan.

use std::fmt;

use async_trait::async_trait;
use chrono::NaiveDate;
use serde::Serialize;

use crate::calendar::{Calendar, SupportStatus};
use crate::cluster::{ClusterSnapshot, OfferedVersion, Operation, ResourceStatus};
use crate::deprecated_api::DeprecatedApi;
use crate::error::{Hint, Result};
use crate::plan::{Step, UpgradePlan, VersionState};
use crate::version::KubeVersion;
use crate::workloads::ClusterWorkloads;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Worth fixing; does not stop an upgrade.
    Warning,
    /// Stops an upgrade until fixed (or explicitly overridden).
    Blocker,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Blocker => "blocker",
        })
    }
}

/// What a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Subject {
    /// `Cluster`, `NodePool`, `Node`, `Pod`, `PodDisruptionBudget`, ...
    pub kind: String,
    /// Its namespace, for namespaced objects.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl Subject {
    /// A cluster-scoped subject.
    pub fn new(kind: &str, name: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            namespace: None,
            name: name.into(),
        }
    }
}

impl fmt::Display for Subject {
    /// `PodDisruptionBudget shop/web-pdb`, `Node ip-10-0-1-5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's stable id, e.g. `KUP-SKEW-001`.
    pub id: String,
    /// How much it matters.
    pub severity: Severity,
    /// What is wrong and how to fix it.
    pub message: String,
    /// What it is about.
    pub subject: Subject,
    /// The control-plane version of the hop it was found for, when per hop.
    pub hop: Option<KubeVersion>,
    /// The deprecated API version it is about, for findings about one: the key that merges
    /// what the cluster and the provider report about the same use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<DeprecatedApi>,
    /// What the user can do about it, for a front end to put in its own words.
    #[serde(skip)]
    pub hint: Option<Hint>,
}

/// What the provider offers for the cluster, as read before the checks.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub enum Offer<'a> {
    /// Not asked (offline plans): the offer is not checked.
    #[default]
    NotRead,
    /// The provider's list.
    Listed(&'a [OfferedVersion]),
    /// The provider could not be asked; why.
    Unreadable(&'a str),
}

/// Everything a check may look at.
pub struct CheckContext<'a> {
    /// The cluster as read before the run.
    pub snapshot: &'a ClusterSnapshot,
    /// The plan.
    pub plan: &'a UpgradePlan,
    /// The control-plane version this hop reaches (the target for pool-only plans).
    pub hop: &'a KubeVersion,
    /// The versions the plan gives the cluster right after its control plane reaches `hop`,
    /// pools the plan moves before the hop included ([`UpgradePlan::state_at_hop`]). Checks of
    /// node versions judge these, not the versions read today.
    pub at_hop: &'a VersionState,
    /// What the provider offers.
    pub offer: Offer<'a>,
    /// The user accepts a preview version as target (`--allow-preview`).
    pub allow_preview: bool,
    /// The support calendar.
    pub calendar: &'a Calendar,
    /// Today.
    pub today: NaiveDate,
    /// The in-cluster side, when reachable.
    pub workloads: Option<&'a dyn ClusterWorkloads>,
    /// Operations running before the run starts.
    pub in_flight: &'a [Operation],
    /// The user allowed forcing past PodDisruptionBudgets.
    pub force_drain: bool,
}

/// A pre-upgrade check.
#[async_trait]
pub trait Check: Send + Sync {
    /// The stable id (`KUP-AREA-NNN`).
    fn id(&self) -> &'static str;

    /// What the check looks for.
    fn description(&self) -> &'static str;

    /// Whether it runs for every hop (`true`) or once per plan (`false`).
    fn per_hop(&self) -> bool {
        false
    }

    /// Whether it applies to a hop reaching `hop` (e.g. only to targets >= 1.25).
    fn applies_to(&self, _hop: &KubeVersion) -> bool {
        true
    }

    /// Runs the check.
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>>;
}

/// The checks to run, in order.
pub struct CheckRegistry {
    checks: Vec<Box<dyn Check>>,
}

impl fmt::Debug for CheckRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.checks.iter().map(|c| c.id()))
            .finish()
    }
}

impl Default for CheckRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

/// The inputs of [`CheckRegistry::run`] that are not the plan.
pub struct CheckInputs<'a> {
    /// The cluster as read before the run.
    pub snapshot: &'a ClusterSnapshot,
    /// The support calendar.
    pub calendar: &'a Calendar,
    /// Today.
    pub today: NaiveDate,
    /// The in-cluster side, when reachable.
    pub workloads: Option<&'a dyn ClusterWorkloads>,
    /// Operations running before the run starts.
    pub in_flight: &'a [Operation],
    /// The user allowed forcing past PodDisruptionBudgets.
    pub force_drain: bool,
    /// What the provider offers.
    pub offer: Offer<'a>,
    /// The user accepts a preview version as target (`--allow-preview`).
    pub allow_preview: bool,
}

impl<'a> CheckInputs<'a> {
    /// What an offline run of the checks knows: the cluster as read (or declared), the
    /// calendar and the date. No in-cluster side, no operations in flight, the provider's
    /// offer not read, no forced drains, no preview accepted.
    pub fn offline(snapshot: &'a ClusterSnapshot, calendar: &'a Calendar, today: NaiveDate) -> Self {
        Self {
            snapshot,
            calendar,
            today,
            workloads: None,
            in_flight: &[],
            force_drain: false,
            offer: Offer::NotRead,
            allow_preview: false,
        }
    }
}

impl CheckRegistry {
    /// No checks.
    pub fn empty() -> Self {
        Self { checks: Vec::new() }
    }

    /// The built-in checks.
    pub fn builtin() -> Self {
        let mut r = Self::empty();
        r.register(SkewAtEveryHop);
        r.register(SupportWindowCheck);
        r.register(OfferedByProvider);
        r.register(NodesReady);
        r.register(PodsFailing);
        r.register(DrainBlockingPdbs);
        r.register(ClusterBusy);
        r.register(AutoUpgradeRace);
        r
    }

    /// The built-in checks that need no access to the cluster: skew at every hop, the support
    /// calendar, the provider's offer (when one was read), auto-upgrade races. For offline plans.
    pub fn offline() -> Self {
        let mut r = Self::empty();
        r.register(SkewAtEveryHop);
        r.register(SupportWindowCheck);
        r.register(OfferedByProvider);
        r.register(AutoUpgradeRace);
        r
    }

    /// Adds a check.
    pub fn register(&mut self, check: impl Check + 'static) -> &mut Self {
        self.checks.push(Box::new(check));
        self
    }

    /// Adds checks that are already boxed (e.g. a provider's [`ProviderChecks::checks`](crate::ProviderChecks::checks)).
    pub fn extend(&mut self, checks: impl IntoIterator<Item = Box<dyn Check>>) -> &mut Self {
        self.checks.extend(checks);
        self
    }

    /// The ids and descriptions of the registered checks.
    pub fn describe(&self) -> Vec<(&'static str, &'static str)> {
        self.checks.iter().map(|c| (c.id(), c.description())).collect()
    }

    /// Runs every check: per-hop checks once for each control-plane hop of the plan (or once
    /// for the target when the plan moves pools only), the others once.
    pub async fn run(&self, plan: &UpgradePlan, inputs: &CheckInputs<'_>) -> Result<Vec<Finding>> {
        let mut hops = plan.hops();
        if hops.is_empty() {
            hops.push(plan.target.clone());
        }
        // The plan's versions at each hop (and at the target), computed once.
        let mut at: Vec<(KubeVersion, VersionState)> =
            hops.iter().map(|h| (h.clone(), plan.state_at_hop(h))).collect();
        if !hops.contains(&plan.target) {
            at.push((plan.target.clone(), plan.state_at_hop(&plan.target)));
        }
        let mut findings = Vec::new();
        for check in &self.checks {
            let hops_for_check: Vec<&KubeVersion> = if check.per_hop() {
                hops.iter().collect()
            } else {
                vec![&plan.target]
            };
            for hop in hops_for_check {
                if !check.applies_to(hop) {
                    continue;
                }
                let at_hop = &at.iter().find(|(h, _)| h == hop).expect("computed above").1;
                let ctx = CheckContext {
                    snapshot: inputs.snapshot,
                    plan,
                    hop,
                    at_hop,
                    offer: inputs.offer,
                    allow_preview: inputs.allow_preview,
                    calendar: inputs.calendar,
                    today: inputs.today,
                    workloads: inputs.workloads,
                    in_flight: inputs.in_flight,
                    force_drain: inputs.force_drain,
                };
                let mut found = check.run(&ctx).await?;
                if check.per_hop() {
                    for f in &mut found {
                        f.hop = Some(hop.clone());
                    }
                }
                findings.extend(found);
            }
        }
        Ok(merge_api_findings(findings))
    }
}

/// Orders findings for people: blockers first, then warnings, then info; by id within each.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
}

/// Whether any finding blocks.
pub fn blockers(findings: &[Finding]) -> usize {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .count()
}

fn finding(id: &str, severity: Severity, subject: Subject, message: String) -> Finding {
    Finding {
        id: id.into(),
        severity,
        message,
        subject,
        hop: None,
        api: None,
        hint: None,
    }
}

/// KUP-SKEW-001: every state of the plan around this hop is legal, and every live node's
/// kubelet is within skew of the hop's control plane once the plan's pool moves are done.
struct SkewAtEveryHop;

#[async_trait]
impl Check for SkewAtEveryHop {
    fn id(&self) -> &'static str {
        "KUP-SKEW-001"
    }
    fn description(&self) -> &'static str {
        "node kubelets stay within the provider's skew of the control plane at every hop"
    }
    fn per_hop(&self) -> bool {
        true
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let mut out = Vec::new();
        let plan = ctx.plan;
        let after_hop = ctx.at_hop;
        if let Err(err) = after_hop.check(&plan.policy) {
            out.push(finding(
                self.id(),
                Severity::Blocker,
                Subject::new("Cluster", &plan.cluster),
                err.to_string(),
            ));
        }
        let Some(workloads) = ctx.workloads else {
            return Ok(out);
        };
        for pool in &after_hop.node_pools {
            let Some(live) = ctx.snapshot.pool(&pool.name) else {
                continue;
            };
            // Pools the plan replaces before this hop are not checked with their old nodes.
            if !live.version.same_minor(&pool.version) {
                continue;
            }
            for node in workloads.nodes(&pool.name).await? {
                if let Err(v) = plan.policy.check_node(ctx.hop, &pool.name, &node.kubelet) {
                    out.push(finding(
                        self.id(),
                        Severity::Blocker,
                        Subject::new("Node", &node.name),
                        format!("node {} (kubelet {}): {v}", node.name, node.kubelet),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// KUP-VER-001: every control-plane version the plan reaches is one the provider offers for
/// this cluster, and none is a preview unless the user allowed it.
struct OfferedByProvider;

#[async_trait]
impl Check for OfferedByProvider {
    fn id(&self) -> &'static str {
        "KUP-VER-001"
    }
    fn description(&self) -> &'static str {
        "the target (and every hop to it) is a version the provider offers for this cluster, not a preview"
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let subject = || Subject::new("Cluster", &ctx.plan.cluster);
        let provider = ctx.plan.provider.display_name();
        let offered = match ctx.offer {
            Offer::NotRead => return Ok(Vec::new()),
            Offer::Unreadable(why) => {
                return Ok(vec![finding(
                    self.id(),
                    Severity::Warning,
                    subject(),
                    format!(
                        "could not read the versions {provider} offers ({why}); the target {} is not checked against them",
                        ctx.plan.target
                    ),
                )]);
            }
            Offer::Listed(offered) => offered,
        };
        let mut hops = ctx.plan.hops();
        if hops.is_empty() {
            hops.push(ctx.plan.target.clone());
        }
        let mut out = Vec::new();
        for hop in &hops {
            let same: Vec<&OfferedVersion> = offered.iter().filter(|o| o.version.same_minor(hop)).collect();
            let what = if hop.same_minor(&ctx.plan.target) {
                format!("target {hop}")
            } else {
                format!("{hop}, a hop on the way to {},", ctx.plan.target)
            };
            let mut f = if same.is_empty() {
                finding(
                    self.id(),
                    Severity::Blocker,
                    subject(),
                    format!(
                        "{what} is not offered by {provider} for this cluster (offered: {}); pick an offered target",
                        describe_offer(offered)
                    ),
                )
            } else if same.iter().all(|o| o.preview) {
                if ctx.allow_preview {
                    finding(
                        self.id(),
                        Severity::Warning,
                        subject(),
                        format!(
                            "{what} is a preview on {provider}: not supported for production; going ahead because previews are allowed for this run"
                        ),
                    )
                } else {
                    Finding {
                        hint: Some(Hint::AllowPreview),
                        ..finding(
                            self.id(),
                            Severity::Blocker,
                            subject(),
                            format!(
                                "{what} is a preview on {provider}, not supported for production; pick a generally available version (offered: {}) or allow a preview target explicitly",
                                describe_offer(offered)
                            ),
                        )
                    }
                }
            } else {
                continue;
            };
            f.hop = Some(hop.clone());
            out.push(f);
        }
        Ok(out)
    }
}

/// `1.30, 1.31, 1.32 (preview)`: the offered minors, each once, oldest first.
fn describe_offer(offered: &[OfferedVersion]) -> String {
    let mut minors: Vec<(KubeVersion, bool)> = Vec::new();
    for o in offered {
        let minor = o.version.minor_version();
        match minors.iter_mut().find(|(m, _)| *m == minor) {
            Some((_, preview)) => *preview &= o.preview,
            None => minors.push((minor, o.preview)),
        }
    }
    if minors.is_empty() {
        return "none".into();
    }
    minors.sort();
    minors
        .iter()
        .map(|(m, preview)| {
            if *preview {
                format!("{m} (preview)")
            } else {
                m.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// KUP-EOS-001: the current version and the target against the support calendar.
struct SupportWindowCheck;

#[async_trait]
impl Check for SupportWindowCheck {
    fn id(&self) -> &'static str {
        "KUP-EOS-001"
    }
    fn description(&self) -> &'static str {
        "the running version and the target are inside the provider's support window"
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let mut out = Vec::new();
        let subject = || Subject::new("Cluster", &ctx.plan.cluster);
        let ext = ctx.calendar.extended_name;
        match ctx.calendar.window(&ctx.plan.target).map(|w| (w, w.status(ctx.today))) {
            None => out.push(finding(
                self.id(),
                Severity::Warning,
                subject(),
                format!("no support dates known for {}; check the provider's calendar", ctx.plan.target),
            )),
            Some((w, SupportStatus::Standard { days_left })) if days_left < 90 => out.push(finding(
                self.id(),
                Severity::Warning,
                subject(),
                format!(
                    "target {} leaves standard support in {days_left} days ({}); consider a newer target",
                    w.version, w.end_of_standard
                ),
            )),
            Some((w, SupportStatus::Extended { days_left })) => out.push(finding(
                self.id(),
                Severity::Warning,
                subject(),
                format!("target {} is already in {ext} support ({days_left} days left); it costs more and ends {}", w.version, w.end_of_extended.map(|d| d.to_string()).unwrap_or_default()),
            )),
            Some((w, SupportStatus::PastStandard)) => out.push(finding(
                self.id(),
                Severity::Warning,
                subject(),
                format!("target {} is past standard support (ended {})", w.version, w.end_of_standard),
            )),
            Some((w, SupportStatus::Unsupported)) => out.push(finding(
                self.id(),
                Severity::Warning,
                subject(),
                format!("target {} is past every support window; pick a newer target", w.version),
            )),
            Some((w, SupportStatus::NotReleased)) => out.push(finding(
                self.id(),
                Severity::Blocker,
                subject(),
                format!("target {} is not released on this provider until {}", w.version, w.release),
            )),
            Some(_) => {}
        }
        if let Some(w) = ctx.calendar.window(&ctx.snapshot.control_plane)
            && !w.is_supported(ctx.today)
            && !w.version.same_minor(&ctx.plan.target)
        {
            out.push(finding(
                self.id(),
                Severity::Info,
                subject(),
                format!(
                    "the running control plane {} left standard support on {}; this upgrade is overdue",
                    ctx.snapshot.control_plane, w.end_of_standard
                ),
            ));
        }
        Ok(out)
    }
}

/// KUP-HEALTH-001: every node Ready before we start replacing nodes.
struct NodesReady;

#[async_trait]
impl Check for NodesReady {
    fn id(&self) -> &'static str {
        "KUP-HEALTH-001"
    }
    fn description(&self) -> &'static str {
        "every node reports Ready"
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let Some(workloads) = ctx.workloads else {
            return Ok(Vec::new());
        };
        let health = workloads.health().await?;
        Ok(health
            .nodes_not_ready
            .into_iter()
            .map(|node| {
                finding(
                    self.id(),
                    Severity::Blocker,
                    Subject::new("Node", &node),
                    format!("node {node} is NotReady; fix or replace it before upgrading"),
                )
            })
            .collect())
    }
}

/// KUP-HEALTH-002: pods failing before the upgrade (so they are not blamed on it).
struct PodsFailing;

#[async_trait]
impl Check for PodsFailing {
    fn id(&self) -> &'static str {
        "KUP-HEALTH-002"
    }
    fn description(&self) -> &'static str {
        "no pods are failing before the upgrade"
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let Some(workloads) = ctx.workloads else {
            return Ok(Vec::new());
        };
        let health = workloads.health().await?;
        Ok(health
            .pods_failing
            .into_iter()
            .map(|pod| Finding {
                id: self.id().into(),
                severity: Severity::Warning,
                message: format!("pod {pod} is not Running; it will look like an upgrade failure"),
                subject: Subject {
                    kind: "Pod".into(),
                    namespace: Some(pod.namespace.clone()),
                    name: pod.name,
                },
                hop: None,
                api: None,
                hint: None,
            })
            .collect())
    }
}

/// KUP-PDB-001: PodDisruptionBudgets that would block draining the pools the plan replaces.
struct DrainBlockingPdbs;

#[async_trait]
impl Check for DrainBlockingPdbs {
    fn id(&self) -> &'static str {
        "KUP-PDB-001"
    }
    fn description(&self) -> &'static str {
        "no PodDisruptionBudget blocks draining a pool the plan replaces (names the pod and the PDB)"
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let Some(workloads) = ctx.workloads else {
            return Ok(Vec::new());
        };
        let mut pools: Vec<&str> = ctx
            .plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::UpgradeNodePool { node_pool, .. } | Step::DrainNodePool { node_pool } => {
                    Some(node_pool.as_str())
                }
                _ => None,
            })
            .filter(|p| ctx.snapshot.pool(p).is_some())
            .collect();
        pools.sort_unstable();
        pools.dedup();
        let mut nodes = Vec::new();
        for pool in pools {
            nodes.extend(workloads.nodes(pool).await?.into_iter().map(|n| n.name));
        }
        let severity = if ctx.force_drain {
            Severity::Warning
        } else {
            Severity::Blocker
        };
        Ok(workloads
            .drain_preview(&nodes)
            .await?
            .into_iter()
            .map(|b| Finding {
                id: self.id().into(),
                severity,
                message: format!(
                    "PodDisruptionBudget {} blocks evicting pod {} from node {} ({}); scale the workload or relax the PDB{}",
                    b.pdb,
                    b.pod,
                    b.node,
                    b.reason,
                    if ctx.force_drain { " (the forced drain asked for will delete it anyway)" } else { "" }
                ),
                subject: Subject {
                    kind: "PodDisruptionBudget".into(),
                    namespace: Some(b.pod.namespace.clone()),
                    name: b.pdb.rsplit('/').next().unwrap_or(&b.pdb).to_string(),
                },
                hop: None,
                api: None,
                hint: None,
            })
            .collect())
    }
}

/// KUP-OP-001: the cluster is busy with an operation we did not start.
struct ClusterBusy;

#[async_trait]
impl Check for ClusterBusy {
    fn id(&self) -> &'static str {
        "KUP-OP-001"
    }
    fn description(&self) -> &'static str {
        "no provider operation is already running on the cluster"
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let mut out: Vec<Finding> = ctx
            .in_flight
            .iter()
            .map(|op| {
                finding(
                    self.id(),
                    Severity::Info,
                    Subject::new("Operation", &op.id.0),
                    format!(
                        "operation {} ({:?}) is running; kupgrade will wait for it",
                        op.id, op.kind
                    ),
                )
            })
            .collect();
        if ctx.snapshot.status == ResourceStatus::Failed {
            out.push(finding(
                self.id(),
                Severity::Blocker,
                Subject::new("Cluster", &ctx.snapshot.name),
                "the cluster is in a failed state; repair it before upgrading".into(),
            ));
        }
        Ok(out)
    }
}

/// KUP-AUTO-001: a provider auto-upgrade could race the plan.
struct AutoUpgradeRace;

#[async_trait]
impl Check for AutoUpgradeRace {
    fn id(&self) -> &'static str {
        "KUP-AUTO-001"
    }
    fn description(&self) -> &'static str {
        "no provider auto-upgrade can race the plan"
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        Ok(ctx
            .snapshot
            .auto_upgrade
            .iter()
            .map(|auto| {
                finding(
                    self.id(),
                    Severity::Warning,
                    Subject::new("Cluster", &ctx.snapshot.name),
                    format!("auto-upgrade is on ({auto}); pause it or set a maintenance exclusion during the upgrade"),
                )
            })
            .collect())
    }
}

/// The id prefix of the in-cluster deprecated-API checks (`KUP-API-001`...), whose findings
/// carry the evidence (objects, Helm releases, metric samples) the others are folded into.
const IN_CLUSTER: &str = "KUP-API-";

/// Folds each provider finding about a deprecated API ([`Finding::api`] set, id not
/// `KUP-API-*`) into the most severe in-cluster finding about the same use, so the use is
/// reported once: the in-cluster finding keeps its evidence, takes the higher severity, and
/// says what the provider reported. A use only the provider saw (its window is longer: 30 days
/// on EKS and GKE) stays as the provider's own finding; so does one only the cluster saw.
pub fn merge_api_findings(findings: Vec<Finding>) -> Vec<Finding> {
    let (mut out, provider): (Vec<Finding>, Vec<Finding>) = findings
        .into_iter()
        .partition(|f| f.api.is_none() || f.id.starts_with(IN_CLUSTER));
    for p in provider {
        let api = p.api.as_ref().expect("partitioned on api");
        let target = out
            .iter_mut()
            .filter(|f| f.id.starts_with(IN_CLUSTER) && f.api.as_ref().is_some_and(|a| a.same_use(api)))
            .max_by_key(|f| f.severity);
        match target {
            Some(f) => {
                f.severity = f.severity.max(p.severity);
                f.message = format!("{}; also reported by {}: {}", f.message, p.id, p.message);
            }
            None => out.push(p),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::NodePool;
    use crate::plan::{Strategy, plan};
    use crate::provider::Provider;
    use crate::skew::SkewPolicy;

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    fn aks_1_29() -> ClusterSnapshot {
        ClusterSnapshot {
            provider: Provider::Aks,
            name: "prod".into(),
            control_plane: v("1.29"),
            status: ResourceStatus::Ready,
            node_pools: vec![
                NodePool::new("system", v("1.29"), 3),
                NodePool::new("user", v("1.29"), 3),
            ],
            auto_upgrade: None,
            id: None,
        }
    }

    fn offered(versions: &[(&str, bool)]) -> Vec<OfferedVersion> {
        versions
            .iter()
            .map(|(s, preview)| OfferedVersion {
                version: v(s),
                is_default: false,
                support: None,
                preview: *preview,
            })
            .collect()
    }

    async fn run_offer_check(to: &str, offer: Offer<'_>, allow_preview: bool) -> Vec<Finding> {
        let snapshot = aks_1_29();
        let plan = plan(
            &snapshot,
            &v(to),
            &SkewPolicy::for_provider(Provider::Aks),
            Strategy::InPlace,
        )
        .unwrap();
        let mut registry = CheckRegistry::empty();
        registry.register(OfferedByProvider);
        let calendar = Calendar::embedded(Provider::Aks);
        let inputs = CheckInputs {
            snapshot: &snapshot,
            calendar: &calendar,
            today: NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
            workloads: None,
            in_flight: &[],
            force_drain: false,
            offer,
            allow_preview,
        };
        registry.run(&plan, &inputs).await.unwrap()
    }

    #[tokio::test]
    async fn a_target_the_provider_does_not_offer_blocks_naming_the_offer() {
        let list = offered(&[("1.30.5", false), ("1.31.2", false), ("1.32.0", true)]);
        let found = run_offer_check("1.31", Offer::Listed(&list), false).await;
        assert!(found.is_empty(), "{found:?}");
        let found = run_offer_check("1.33", Offer::Listed(&list), false).await;
        let target: Vec<_> = found.iter().filter(|f| f.hop == Some(v("1.33"))).collect();
        assert_eq!(target.len(), 1, "{found:?}");
        assert_eq!(target[0].severity, Severity::Blocker);
        assert!(
            target[0].message.contains("offered: 1.30, 1.31, 1.32 (preview)"),
            "{}",
            target[0].message
        );
    }

    #[tokio::test]
    async fn a_preview_target_blocks_unless_allowed_then_warns() {
        let list = offered(&[("1.30", false), ("1.31", false), ("1.32", true)]);
        let found = run_offer_check("1.32", Offer::Listed(&list), false).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Blocker);
        assert!(
            found[0].message.contains("allow a preview target") && !found[0].message.contains("--"),
            "{}",
            found[0].message
        );
        assert_eq!(found[0].hint, Some(Hint::AllowPreview));
        let found = run_offer_check("1.32", Offer::Listed(&list), true).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Warning);
        // A minor with one generally available patch is not a preview.
        let list = offered(&[
            ("1.30", false),
            ("1.31", false),
            ("1.32.1", true),
            ("1.32.0", false),
        ]);
        assert!(
            run_offer_check("1.32", Offer::Listed(&list), false)
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn an_unreadable_offer_warns_once_and_offline_plans_are_not_checked() {
        let found = run_offer_check("1.32", Offer::Unreadable("HTTP 403"), false).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].severity, Severity::Warning);
        assert!(found[0].message.contains("HTTP 403"));
        assert!(run_offer_check("1.32", Offer::NotRead, false).await.is_empty());
    }

    #[test]
    fn state_at_a_hop_includes_the_pool_moves_made_before_it() {
        let plan = plan(
            &aks_1_29(),
            &v("1.33"),
            &SkewPolicy::for_provider(Provider::Aks),
            Strategy::InPlace,
        )
        .unwrap();
        let at_1_32 = plan.state_at_hop(&v("1.32"));
        assert_eq!(at_1_32.control_plane, v("1.32"));
        assert!(at_1_32.node_pools.iter().all(|p| p.version == v("1.29")));
        let at_1_33 = plan.state_at_hop(&v("1.33"));
        assert_eq!(at_1_33.control_plane, v("1.33"));
        assert!(
            at_1_33.node_pools.iter().all(|p| p.version == v("1.32")),
            "{at_1_33:?}"
        );
        assert_eq!(plan.state_at_hop(&v("1.40")), plan.initial);
    }

    fn api_finding(id: &str, severity: Severity, api: Option<DeprecatedApi>, message: &str) -> Finding {
        Finding {
            id: id.into(),
            severity,
            message: message.into(),
            subject: Subject::new("Cluster", "shop"),
            hop: Some(v("1.32")),
            api,
            hint: None,
        }
    }

    #[test]
    fn a_use_seen_by_both_is_reported_once_with_both_sources() {
        let fs = DeprecatedApi::new(
            "flowcontrol.apiserver.k8s.io",
            "v1beta3",
            "flowschemas",
            Some(v("1.32")),
        );
        let pdb = DeprecatedApi::new("policy", "v1beta1", "poddisruptionbudgets", Some(v("1.25")));
        let merged = merge_api_findings(vec![
            api_finding(
                "KUP-API-001",
                Severity::Blocker,
                Some(fs.clone()),
                "in use: metric",
            ),
            api_finding(
                "KUP-EKS-INSIGHT-001",
                Severity::Warning,
                Some(fs.clone()),
                "client kubectl/1.28",
            ),
            api_finding(
                "KUP-GKE-INSIGHT-001",
                Severity::Blocker,
                Some(pdb.clone()),
                "provider only",
            ),
            api_finding("KUP-SKEW-001", Severity::Blocker, None, "not about APIs"),
        ]);
        assert_eq!(merged.len(), 3, "{merged:#?}");
        assert_eq!(merged[0].id, "KUP-API-001");
        assert_eq!(merged[0].severity, Severity::Blocker);
        assert_eq!(
            merged[0].message,
            "in use: metric; also reported by KUP-EKS-INSIGHT-001: client kubectl/1.28"
        );
        assert!(
            merged
                .iter()
                .any(|f| f.id == "KUP-GKE-INSIGHT-001" && f.api == Some(pdb.clone()))
        );
    }

    #[test]
    fn the_provider_can_raise_the_severity_and_an_unknown_removal_matches() {
        let known = DeprecatedApi::new("batch", "v1beta1", "cronjobs", Some(v("1.25")));
        let unknown = DeprecatedApi::new("batch", "v1beta1", "CronJobs", None);
        let merged = merge_api_findings(vec![
            api_finding("KUP-API-002", Severity::Warning, Some(known), "deprecated"),
            api_finding("KUP-AKS-001", Severity::Blocker, Some(unknown), "AKS refuses"),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].severity, Severity::Blocker);
    }
}
