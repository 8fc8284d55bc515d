//! The upgrade path planner: a pure function from a cluster snapshot and a target to an
//! ordered list of steps that keeps every intermediate state legal and replaces nodes as few
//! times as possible.
//!
//! The rule that minimises rollouts: the control plane climbs one minor at a time; a pool is
//! moved only when the next control-plane hop would break skew for it, and then as far as the
//! control plane allows (to the control plane's current minor). Every pool ends at the target.
//! A policy with `pools_match_before_hop` (`--lag-limit 0`) also moves every pool not at the
//! control plane's minor before each hop.
//! Moving a pool further never shrinks its future slack, so postponing and moving as far as
//! possible is optimal (checked against brute force in the tests).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::cluster::{ClusterSnapshot, NodePool, Taint};
use crate::concurrency::{OperationConcurrency, default_max_parallel_pools};
use crate::error::{Error, Result};
use crate::estimate::{Durations, Estimate, PoolFacts, estimate};
use crate::graph::PlanGraph;
use crate::provider::Provider;
use crate::skew::SkewPolicy;
use crate::version::KubeVersion;

/// How node pools are moved to a new version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Strategy {
    /// The provider's rolling/surge upgrade of each pool.
    #[default]
    InPlace,
    /// A new pool at the new version per old pool; cordon, drain, gate, delete the old one.
    BlueGreen,
    /// One pool first, then a health gate, then the rest (in place).
    Canary,
}

impl Strategy {
    /// The flag spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::InPlace => "in-place",
            Strategy::BlueGreen => "blue-green",
            Strategy::Canary => "canary",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "in-place" => Ok(Strategy::InPlace),
            "blue-green" => Ok(Strategy::BlueGreen),
            "canary" => Ok(Strategy::Canary),
            other => Err(Error::invalid_input(format!(
                "unknown strategy '{other}': expected in-place, blue-green or canary"
            ))),
        }
    }
}

/// One step of a plan. Serialised with an `action` tag, as the CLI's JSON contract says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Step {
    /// Move the control plane one minor.
    UpgradeControlPlane {
        /// Its version before.
        from: KubeVersion,
        /// Its version after.
        to: KubeVersion,
    },
    /// Update the provider-managed add-ons (EKS: kube-proxy, coredns, vpc-cni, ...) to the
    /// default versions for the control plane's new minor. Only in plans made with
    /// [`PlanOptions::with_managed_addons`].
    UpdateAddons {
        /// The control-plane minor the add-ons must match.
        to: KubeVersion,
    },
    /// Install a self-managed add-on's release around a hop, as the add-on catalog says
    /// ([`crate::addons::moves`]). Informational: kupgrade names the release, the user installs it.
    Addon {
        /// The add-on (`Karpenter`).
        addon: String,
        /// The release to install (`1.9.x`).
        install: String,
        /// The hop.
        hop: KubeVersion,
        /// Before or after the control plane reaches the hop.
        timing: crate::addons::AddonTiming,
        /// Why, in the vendor's terms.
        reason: String,
    },
    /// Move a pool in place (provider rolling/surge upgrade).
    UpgradeNodePool {
        /// The pool.
        node_pool: String,
        /// Its version before.
        from: KubeVersion,
        /// Its version after.
        to: KubeVersion,
        /// Nodes replaced.
        nodes: u32,
        /// Why now.
        reason: String,
    },
    /// Create a pool at a new version as a copy of an old one.
    CreateNodePool {
        /// The new pool.
        node_pool: String,
        /// The pool it replaces (configuration, size, labels and taints are copied).
        clone_of: String,
        /// Its version.
        to: KubeVersion,
        /// Its size (the old pool's).
        nodes: u32,
        /// Labels copied from the old pool.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        labels: std::collections::BTreeMap<String, String>,
        /// Taints copied from the old pool.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        taints: Vec<Taint>,
        /// Why now.
        reason: String,
    },
    /// Mark every node of a pool unschedulable.
    CordonNodePool {
        /// The pool.
        node_pool: String,
    },
    /// Evict every pod from a pool, honouring PodDisruptionBudgets.
    DrainNodePool {
        /// The pool.
        node_pool: String,
    },
    /// Delete a drained pool.
    DeleteNodePool {
        /// The pool.
        node_pool: String,
        /// The pool that took over its workloads.
        replaced_by: String,
    },
    /// Stop until the cluster passes its health checks (and a soak time) before going on.
    Gate {
        /// The pool whose upgrade is being verified, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node_pool: Option<String>,
        /// What must hold.
        check: String,
    },
}

impl Step {
    /// The pool the step acts on, if any.
    pub fn node_pool(&self) -> Option<&str> {
        match self {
            Step::UpgradeControlPlane { .. } | Step::UpdateAddons { .. } | Step::Addon { .. } => None,
            Step::UpgradeNodePool { node_pool, .. }
            | Step::CreateNodePool { node_pool, .. }
            | Step::CordonNodePool { node_pool }
            | Step::DrainNodePool { node_pool }
            | Step::DeleteNodePool { node_pool, .. } => Some(node_pool),
            Step::Gate { node_pool, .. } => node_pool.as_deref(),
        }
    }

    /// The contract name of the action (`upgrade-control-plane`, ...).
    pub fn action(&self) -> &'static str {
        match self {
            Step::UpgradeControlPlane { .. } => "upgrade-control-plane",
            Step::UpdateAddons { .. } => "update-addons",
            Step::Addon { .. } => "addon",
            Step::UpgradeNodePool { .. } => "upgrade-node-pool",
            Step::CreateNodePool { .. } => "create-node-pool",
            Step::CordonNodePool { .. } => "cordon-node-pool",
            Step::DrainNodePool { .. } => "drain-node-pool",
            Step::DeleteNodePool { .. } => "delete-node-pool",
            Step::Gate { .. } => "gate",
        }
    }

    /// Whether the step removes capacity for good (needs `--allow-delete` style consent in
    /// front ends that ask for it).
    pub fn is_destructive(&self) -> bool {
        matches!(self, Step::DeleteNodePool { .. })
    }

    /// Whether the executor needs the cluster's Kubernetes API for the step: to wait for new
    /// nodes, cordon, drain or watch a gate (an in-place pool upgrade is drained by the
    /// provider).
    pub fn needs_workloads(&self) -> bool {
        matches!(
            self,
            Step::CreateNodePool { .. }
                | Step::CordonNodePool { .. }
                | Step::DrainNodePool { .. }
                | Step::Gate { .. }
        )
    }

    /// A one-line human description.
    pub fn describe(&self) -> String {
        match self {
            Step::UpgradeControlPlane { from, to } => format!("upgrade control plane {from} -> {to}"),
            Step::UpdateAddons { to } => format!("update managed add-ons to their defaults for {to}"),
            Step::Addon {
                addon,
                install,
                hop,
                timing,
                ..
            } => match timing {
                crate::addons::AddonTiming::Before => format!(
                    "install {addon} {install} before the control plane reaches {hop} (self-managed: do it before you start; the run does not wait)"
                ),
                crate::addons::AddonTiming::After => format!(
                    "install {addon} {install} right after the control plane reaches {hop} (self-managed: you install it)"
                ),
            },
            Step::UpgradeNodePool {
                node_pool,
                from,
                to,
                nodes,
                ..
            } => {
                format!(
                    "upgrade node pool {node_pool} {from} -> {to} in place ({})",
                    count(*nodes, "node")
                )
            }
            Step::CreateNodePool {
                node_pool,
                clone_of,
                to,
                nodes,
                ..
            } => {
                format!(
                    "create node pool {node_pool} at {to} ({}, copy of {clone_of})",
                    count(*nodes, "node")
                )
            }
            Step::CordonNodePool { node_pool } => format!("cordon node pool {node_pool}"),
            Step::DrainNodePool { node_pool } => {
                format!(
                    "drain node pool {node_pool} (through the Eviction API, which PodDisruptionBudgets can refuse)"
                )
            }
            Step::DeleteNodePool {
                node_pool,
                replaced_by,
            } => {
                format!("delete node pool {node_pool} (workloads continue on {replaced_by})")
            }
            Step::Gate { check, .. } => format!("gate: {check}"),
        }
    }
}

/// `1 node`, `3 nodes`.
fn count(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A pool's name and version, as a plan tracks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolVersion {
    /// The pool.
    pub name: String,
    /// Its version.
    pub version: KubeVersion,
}

/// The versions of a cluster at one point of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionState {
    /// The control plane.
    pub control_plane: KubeVersion,
    /// The node pools, in snapshot order (new pools appended).
    pub node_pools: Vec<PoolVersion>,
}

impl VersionState {
    /// The versions of a snapshot.
    pub fn of(snapshot: &ClusterSnapshot) -> Self {
        Self {
            control_plane: snapshot.control_plane.clone(),
            node_pools: snapshot
                .node_pools
                .iter()
                .map(|p| PoolVersion {
                    name: p.name.clone(),
                    version: p.version.clone(),
                })
                .collect(),
        }
    }

    /// The state after `step`.
    pub fn apply(&mut self, step: &Step) {
        match step {
            Step::UpgradeControlPlane { to, .. } => self.control_plane = to.clone(),
            Step::UpgradeNodePool { node_pool, to, .. } => {
                if let Some(p) = self.node_pools.iter_mut().find(|p| &p.name == node_pool) {
                    p.version = to.clone();
                }
            }
            Step::CreateNodePool { node_pool, to, .. } => {
                self.node_pools.push(PoolVersion {
                    name: node_pool.clone(),
                    version: to.clone(),
                });
            }
            Step::DeleteNodePool { node_pool, .. } => self.node_pools.retain(|p| &p.name != node_pool),
            Step::CordonNodePool { .. }
            | Step::DrainNodePool { .. }
            | Step::Gate { .. }
            | Step::UpdateAddons { .. }
            | Step::Addon { .. } => {}
        }
    }

    /// Checks every pool against the control plane.
    pub fn check(&self, policy: &SkewPolicy) -> Result<()> {
        for pool in &self.node_pools {
            policy
                .check_node(&self.control_plane, &pool.name, &pool.version)
                .map_err(|v| Error::Skew(v.0))?;
        }
        Ok(())
    }
}

/// A plan's state, advanced one step at a time in constant time per step (pools found through
/// a name index, deleted pools left as holes), with a count of pools per minor: what lets a
/// plan of 10,000 pools be rendered and checked in linear time.
pub(crate) struct StateWalk {
    control_plane: KubeVersion,
    pools: Vec<Option<PoolVersion>>,
    index: HashMap<String, usize>,
    minors: BTreeMap<u32, usize>,
}

impl StateWalk {
    pub(crate) fn new(initial: &VersionState) -> Self {
        let mut walk = Self {
            control_plane: initial.control_plane.clone(),
            pools: Vec::with_capacity(initial.node_pools.len()),
            index: HashMap::with_capacity(initial.node_pools.len()),
            minors: BTreeMap::new(),
        };
        for pool in &initial.node_pools {
            walk.add(pool.clone());
        }
        walk
    }

    fn add(&mut self, pool: PoolVersion) {
        *self.minors.entry(pool.version.minor()).or_default() += 1;
        self.index.insert(pool.name.clone(), self.pools.len());
        self.pools.push(Some(pool));
    }

    fn count_out(&mut self, minor: u32) {
        if let Some(n) = self.minors.get_mut(&minor) {
            *n -= 1;
            if *n == 0 {
                self.minors.remove(&minor);
            }
        }
    }

    /// Advances past `step`, as [`VersionState::apply`] does.
    pub(crate) fn apply(&mut self, step: &Step) {
        match step {
            Step::UpgradeControlPlane { to, .. } => self.control_plane = to.clone(),
            Step::UpgradeNodePool { node_pool, to, .. } => {
                if let Some(&i) = self.index.get(node_pool)
                    && let Some(pool) = self.pools[i].as_mut()
                {
                    let old = pool.version.minor();
                    pool.version = to.clone();
                    self.count_out(old);
                    *self.minors.entry(to.minor()).or_default() += 1;
                }
            }
            Step::CreateNodePool { node_pool, to, .. } => self.add(PoolVersion {
                name: node_pool.clone(),
                version: to.clone(),
            }),
            Step::DeleteNodePool { node_pool, .. } => {
                if let Some(i) = self.index.remove(node_pool)
                    && let Some(pool) = self.pools[i].take()
                {
                    self.count_out(pool.version.minor());
                }
            }
            Step::CordonNodePool { .. }
            | Step::DrainNodePool { .. }
            | Step::Gate { .. }
            | Step::UpdateAddons { .. }
            | Step::Addon { .. } => {}
        }
    }

    pub(crate) fn control_plane(&self) -> &KubeVersion {
        &self.control_plane
    }

    pub(crate) fn pool(&self, name: &str) -> Option<&PoolVersion> {
        self.index.get(name).and_then(|&i| self.pools[i].as_ref())
    }

    /// The pools, in snapshot order (new pools appended).
    pub(crate) fn pools(&self) -> impl Iterator<Item = &PoolVersion> {
        self.pools.iter().flatten()
    }

    /// How many pools there are.
    pub(crate) fn pool_count(&self) -> usize {
        self.index.len()
    }

    /// How many pools sit at each minor, oldest first.
    pub(crate) fn minors(&self) -> &BTreeMap<u32, usize> {
        &self.minors
    }

    /// The state as a [`VersionState`].
    pub(crate) fn state(&self) -> VersionState {
        VersionState {
            control_plane: self.control_plane.clone(),
            node_pools: self.pools().cloned().collect(),
        }
    }
}

/// An ordered, legal path from a cluster's versions to a target.
///
/// In JSON each step also carries `after` (the steps it waits for, from [`PlanGraph`]) and,
/// when the plan was estimated, `estimated_seconds` and `starts_at_seconds`; the plan carries
/// `estimated_seconds`, `critical_path` and `estimate_basis`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "wire::PlanIn")]
pub struct UpgradePlan {
    /// The provider.
    pub provider: Provider,
    /// The cluster.
    pub cluster: String,
    /// The strategy that shaped the steps.
    pub strategy: Strategy,
    /// The skew policy every state was checked against.
    pub policy: SkewPolicy,
    /// The target minor.
    pub target: KubeVersion,
    /// The versions before the first step.
    pub initial: VersionState,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// How many times nodes get replaced, summed over pools.
    pub node_rollouts: u32,
    /// Things the operator should know (auto-upgrade races, versions past support).
    pub warnings: Vec<String>,
    /// The most node pools moved at the same time, when the user set it (else
    /// [`default_max_parallel_pools`] of the strategy).
    pub max_parallel_pools: Option<usize>,
    /// The estimated window, when the planner had durations (every plan from [`plan_with`]).
    pub estimate: Option<Estimate>,
}

impl UpgradePlan {
    /// The state after each step (one entry per step). This holds steps x pools versions;
    /// for one point of a large plan use [`UpgradePlan::state_after`].
    pub fn states(&self) -> Vec<VersionState> {
        let mut walk = StateWalk::new(&self.initial);
        self.steps
            .iter()
            .map(|step| {
                walk.apply(step);
                walk.state()
            })
            .collect()
    }

    /// The state after step `index` (0-based), in time linear in steps and pools.
    pub fn state_after(&self, index: usize) -> VersionState {
        let mut walk = StateWalk::new(&self.initial);
        for step in self.steps.iter().take(index + 1) {
            walk.apply(step);
        }
        walk.state()
    }

    /// The versions right after the control plane reaches `hop`, with every pool move the plan
    /// makes before it; the initial versions when no step reaches `hop` (pool-only plans). In
    /// time linear in steps and pools.
    pub fn state_at_hop(&self, hop: &KubeVersion) -> VersionState {
        let mut walk = StateWalk::new(&self.initial);
        for step in &self.steps {
            walk.apply(step);
            if matches!(step, Step::UpgradeControlPlane { to, .. } if to == hop) {
                return walk.state();
            }
        }
        self.initial.clone()
    }

    /// The control-plane minors the plan passes through (the hops), in order.
    pub fn hops(&self) -> Vec<KubeVersion> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::UpgradeControlPlane { to, .. } => Some(to.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// What each step waits for.
    pub fn graph(&self) -> PlanGraph {
        PlanGraph::of(self)
    }

    /// The most node pools this plan moves at the same time.
    pub fn parallel_pools(&self) -> usize {
        self.max_parallel_pools
            .unwrap_or_else(|| default_max_parallel_pools(self.provider, self.strategy))
            .max(1)
    }
}

/// Everything the planner may be told beyond the snapshot and target.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The strategy.
    pub strategy: Strategy,
    /// The skew policy (defaults to the provider's).
    pub policy: SkewPolicy,
    /// The support calendar (defaults to the embedded one); the target must be in it.
    pub calendar: Calendar,
    /// For canary: the pool to move first (defaults to the smallest pool of each round).
    pub canary_pool: Option<String>,
    /// Add an `update-addons` step after every control-plane hop (providers with managed
    /// add-ons, such as EKS).
    pub managed_addons: bool,
    /// For canary: try the new version on a new one-node pool (a copy of the canary pool),
    /// gate, delete it, and only then move the real pools. A failed gate is undone by deleting
    /// the small pool; nothing else was touched.
    pub canary_new_pool: bool,
    /// The most node pools moved at the same time (`None`: the strategy's default).
    pub max_parallel_pools: Option<usize>,
    /// The durations the estimate uses (defaults to [`Durations::for_provider`]).
    pub durations: Option<Durations>,
    /// Self-managed add-on releases to install around hops (`addon` steps), from
    /// [`crate::addons::moves`].
    pub addon_moves: Vec<crate::addons::AddonMove>,
    /// The catalog and the installed add-ons, from which the planner adds the
    /// [`crate::addons::moves`] of this plan's hops.
    pub installed_addons: Option<crate::addons::AddonPlanInput>,
}

impl PlanOptions {
    /// The defaults for a provider and strategy.
    pub fn new(provider: Provider, strategy: Strategy) -> Self {
        Self {
            strategy,
            policy: SkewPolicy::for_provider(provider),
            calendar: Calendar::embedded(provider),
            canary_pool: None,
            managed_addons: false,
            canary_new_pool: false,
            max_parallel_pools: None,
            durations: None,
            addon_moves: Vec::new(),
            installed_addons: None,
        }
    }

    /// Puts an `addon` step around each hop where an installed add-on must move
    /// ([`crate::addons::moves`] from the snapshot's control plane to the target).
    pub fn with_installed_addons(mut self, input: Option<crate::addons::AddonPlanInput>) -> Self {
        self.installed_addons = input;
        self
    }

    /// Puts an `addon` step around its hop for each of `moves`.
    pub fn with_addon_moves(mut self, moves: Vec<crate::addons::AddonMove>) -> Self {
        self.addon_moves = moves;
        self
    }

    /// Moves at most `n` node pools at the same time (`None`: the strategy's default).
    pub fn with_max_parallel_pools(mut self, n: Option<usize>) -> Self {
        self.max_parallel_pools = n;
        self
    }

    /// Estimates with `durations` instead of the provider's typical ones.
    pub fn with_durations(mut self, durations: Durations) -> Self {
        self.durations = Some(durations);
        self
    }

    /// Uses `policy` instead of the provider's.
    pub fn with_policy(mut self, policy: SkewPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Uses `calendar` instead of the embedded one.
    pub fn with_calendar(mut self, calendar: Calendar) -> Self {
        self.calendar = calendar;
        self
    }

    /// For canary: try each round on a new one-node pool first.
    pub fn with_canary_new_pool(mut self, canary_new_pool: bool) -> Self {
        self.canary_new_pool = canary_new_pool;
        self
    }

    /// Updates managed add-ons after every control-plane hop.
    pub fn with_managed_addons(mut self, managed_addons: bool) -> Self {
        self.managed_addons = managed_addons;
        self
    }

    /// Moves `pool` first in canary rounds.
    pub fn with_canary_pool(mut self, pool: impl Into<String>) -> Self {
        self.canary_pool = Some(pool.into());
        self
    }
}

/// Plans `snapshot` to `target` under `policy` with `strategy`, using the embedded calendar.
pub fn plan(
    snapshot: &ClusterSnapshot,
    target: &KubeVersion,
    policy: &SkewPolicy,
    strategy: Strategy,
) -> Result<UpgradePlan> {
    plan_with(
        snapshot,
        target,
        &PlanOptions::new(snapshot.provider, strategy).with_policy(policy.clone()),
    )
}

/// Plans with every option spelled out.
pub fn plan_with(
    snapshot: &ClusterSnapshot,
    target: &KubeVersion,
    options: &PlanOptions,
) -> Result<UpgradePlan> {
    let policy = &options.policy;
    validate(snapshot, target, options)?;
    let target = target.minor_version();
    let mut builder = Builder {
        provider: snapshot.provider,
        options,
        pools: snapshot.node_pools.clone(),
        names: snapshot.node_pools.iter().map(|p| p.name.clone()).collect(),
        steps: Vec::new(),
        rollouts: 0,
    };
    let mut addon_moves = options.addon_moves.clone();
    if let Some(input) = &options.installed_addons {
        addon_moves.extend(crate::addons::moves(
            &input.catalog,
            &input.installed,
            &snapshot.control_plane,
            &target,
        ));
    }
    let mut control_plane = snapshot.control_plane.clone();
    while control_plane.minor() < target.minor() {
        let next = control_plane.next_minor();
        let must_move: Vec<usize> = builder
            .pools
            .iter()
            .enumerate()
            .filter(|(_, p)| policy.must_move_before(&control_plane, &next, &p.version))
            .map(|(i, _)| i)
            .collect();
        let reason = format!(
            "must move before the control plane goes to {next} ({})",
            policy.name
        );
        builder.move_pools(&must_move, &control_plane.minor_version(), &reason);
        let addon_steps = |timing: crate::addons::AddonTiming| -> Vec<Step> {
            addon_moves
                .iter()
                .filter(|m| m.hop == next && m.timing == timing)
                .map(|m| Step::Addon {
                    addon: m.addon.clone(),
                    install: m.install.clone(),
                    hop: m.hop.clone(),
                    timing,
                    reason: m.reason.clone(),
                })
                .collect()
        };
        builder
            .steps
            .extend(addon_steps(crate::addons::AddonTiming::Before));
        builder.steps.push(Step::UpgradeControlPlane {
            from: control_plane.clone(),
            to: next.clone(),
        });
        if options.managed_addons {
            builder.steps.push(Step::UpdateAddons { to: next.clone() });
        }
        builder
            .steps
            .extend(addon_steps(crate::addons::AddonTiming::After));
        control_plane = next;
    }
    let behind: Vec<usize> = builder
        .pools
        .iter()
        .enumerate()
        .filter(|(_, p)| p.version.minor() < target.minor())
        .map(|(i, _)| i)
        .collect();
    builder.move_pools(&behind, &target, &format!("reach the target {target}"));

    let node_rollouts = builder.rollouts;
    let mut warnings = Vec::new();
    if let Some(auto) = &snapshot.auto_upgrade {
        warnings.push(format!(
            "provider auto-upgrade is on ({auto}): it could race this plan; pause it or add a maintenance exclusion first"
        ));
    }
    let mut plan = UpgradePlan {
        provider: snapshot.provider,
        cluster: snapshot.name.clone(),
        strategy: options.strategy,
        policy: policy.clone(),
        target,
        initial: VersionState::of(snapshot),
        steps: builder.steps,
        node_rollouts,
        warnings,
        max_parallel_pools: options.max_parallel_pools,
        estimate: None,
    };
    let durations = options
        .durations
        .clone()
        .unwrap_or_else(|| Durations::for_provider(snapshot.provider));
    plan.estimate = Some(estimate(
        &plan.steps,
        plan.graph(),
        &PoolFacts::new(&snapshot.node_pools, &plan.steps),
        &durations,
        OperationConcurrency::for_provider(snapshot.provider),
        plan.parallel_pools(),
    ));
    Ok(plan)
}

fn validate(snapshot: &ClusterSnapshot, target: &KubeVersion, options: &PlanOptions) -> Result<()> {
    let policy = &options.policy;
    if options.max_parallel_pools == Some(0) {
        return Err(Error::invalid_input(
            "at most 0 node pools at a time leaves nothing to run: give 1 or more",
        ));
    }
    if policy.node_lag == 0 || policy.legacy_node_lag == 0 {
        return Err(Error::invalid_input(
            "a skew policy whose nodes may lag 0 minors leaves no legal control-plane upgrade (nodes lag 1 until they move); for pools that match the control plane before each hop use SkewPolicy::with_lag_limit(0)",
        ));
    }
    let mut seen = BTreeSet::new();
    for pool in &snapshot.node_pools {
        if !seen.insert(pool.name.as_str()) {
            return Err(Error::invalid_input(format!(
                "node pool '{}' is listed twice",
                pool.name
            )));
        }
    }
    if let Some(wanted) = &options.canary_pool
        && !seen.contains(wanted.as_str())
    {
        return Err(Error::not_found(
            "canary pool",
            wanted,
            format!(
                "cluster {} has: {}",
                snapshot.name,
                seen.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if target.major() != snapshot.control_plane.major() || target.minor() < snapshot.control_plane.minor() {
        return Err(Error::Downgrade {
            what: format!("the control plane of '{}'", snapshot.name),
            current: snapshot.control_plane.to_string(),
            target: target.to_string(),
        });
    }
    if let Some(newest) = options.calendar.newest()
        && target.minor() > newest.minor()
    {
        return Err(Error::UnknownTarget {
            provider: snapshot.provider.display_name().into(),
            target: target.to_string(),
            newest: newest.to_string(),
        });
    }
    VersionState::of(snapshot).check(policy).map_err(|e| match e {
        Error::Skew(msg) => Error::Skew(format!(
            "the cluster already breaks skew: {msg}; fix it before planning"
        )),
        other => other,
    })
}

struct Builder<'a> {
    provider: Provider,
    options: &'a PlanOptions,
    pools: Vec<NodePool>,
    names: BTreeSet<String>,
    steps: Vec<Step>,
    /// Pool rollouts so far (a canary pool is extra capacity, not a rollout).
    rollouts: u32,
}

impl Builder<'_> {
    /// Moves the pools at `indices` to `to`, shaped by the strategy.
    fn move_pools(&mut self, indices: &[usize], to: &KubeVersion, reason: &str) {
        if indices.is_empty() {
            return;
        }
        let mut order = indices.to_vec();
        if self.options.strategy == Strategy::Canary {
            let canary = self.canary_of(indices);
            order.retain(|&i| i != canary);
            order.insert(0, canary);
            if self.options.canary_new_pool {
                self.canary_pool_round(canary, to);
            }
        }
        for (n, &i) in order.iter().enumerate() {
            match self.options.strategy {
                Strategy::InPlace | Strategy::Canary => {
                    let pool = &mut self.pools[i];
                    self.steps.push(Step::UpgradeNodePool {
                        node_pool: pool.name.clone(),
                        from: pool.version.clone(),
                        to: to.clone(),
                        nodes: pool.nodes,
                        reason: reason.to_string(),
                    });
                    pool.version = to.clone();
                    self.rollouts += 1;
                    let gate_here = !self.options.canary_new_pool && n == 0 && order.len() > 1;
                    if self.options.strategy == Strategy::Canary && gate_here {
                        self.steps.push(Step::Gate {
                            node_pool: Some(pool.name.clone()),
                            check: format!(
                                "canary {} healthy at {to}: nodes Ready, workloads available, soak passed",
                                pool.name
                            ),
                        });
                    }
                }
                Strategy::BlueGreen => self.blue_green(i, to, reason),
            }
        }
    }

    /// A one-node copy of pool `i` at `to`, gated, then deleted: the new version meets real
    /// nodes before any existing pool moves.
    fn canary_pool_round(&mut self, i: usize, to: &KubeVersion) {
        let source = self.pools[i].clone();
        let name = successor_name(self.provider, "canary", to, &self.names);
        self.names.insert(name.clone());
        self.steps.push(Step::CreateNodePool {
            node_pool: name.clone(),
            clone_of: source.name.clone(),
            to: to.clone(),
            nodes: 1,
            labels: source.labels.clone(),
            taints: source.taints.clone(),
            reason: format!("canary: one new node at {to} before any pool moves"),
        });
        self.steps.push(Step::Gate {
            node_pool: Some(name.clone()),
            check: format!(
                "canary pool {name} healthy at {to}: node Ready, workloads available, soak passed"
            ),
        });
        self.steps.push(Step::DeleteNodePool {
            node_pool: name,
            replaced_by: source.name,
        });
    }

    fn blue_green(&mut self, i: usize, to: &KubeVersion, reason: &str) {
        self.rollouts += 1;
        let old = self.pools[i].clone();
        let new_name = successor_name(self.provider, &old.name, to, &self.names);
        self.names.insert(new_name.clone());
        self.steps.push(Step::CreateNodePool {
            node_pool: new_name.clone(),
            clone_of: old.name.clone(),
            to: to.clone(),
            nodes: old.nodes,
            labels: old.labels.clone(),
            taints: old.taints.clone(),
            reason: reason.to_string(),
        });
        self.steps.push(Step::CordonNodePool {
            node_pool: old.name.clone(),
        });
        self.steps.push(Step::DrainNodePool {
            node_pool: old.name.clone(),
        });
        self.steps.push(Step::Gate {
            node_pool: Some(new_name.clone()),
            check: format!("workloads available on {new_name} at {to}; {} empty", old.name),
        });
        self.steps.push(Step::DeleteNodePool {
            node_pool: old.name.clone(),
            replaced_by: new_name.clone(),
        });
        let pool = &mut self.pools[i];
        pool.name = new_name;
        pool.version = to.clone();
    }

    fn canary_of(&self, indices: &[usize]) -> usize {
        if let Some(wanted) = &self.options.canary_pool
            && let Some(&i) = indices.iter().find(|&&i| &self.pools[i].name == wanted)
        {
            return i;
        }
        *indices
            .iter()
            .min_by(|&&a, &&b| {
                let (pa, pb) = (&self.pools[a], &self.pools[b]);
                pa.nodes.cmp(&pb.nodes).then_with(|| pa.name.cmp(&pb.name))
            })
            .expect("indices is not empty")
    }
}

/// The name of the pool that replaces `old` at `to` in a blue/green upgrade: `general` becomes
/// `general-v1-32` (AKS: `general132`, since AKS pool names match `^[a-z][a-z0-9]{0,11}$`).
/// A previous suffix is replaced, and a name already taken gets a letter appended.
pub fn successor_name(provider: Provider, old: &str, to: &KubeVersion, taken: &BTreeSet<String>) -> String {
    let (base, suffix, max_len) = match provider {
        Provider::Aks => {
            let base = old.trim_end_matches(|c: char| c.is_ascii_digit());
            let base = if base.is_empty() { "pool" } else { base };
            (base.to_string(), format!("{}{}", to.major(), to.minor()), 12)
        }
        Provider::Eks | Provider::Gke => {
            let base = match old.rfind("-v") {
                Some(at) if old[at + 2..].chars().all(|c| c.is_ascii_digit() || c == '-') => &old[..at],
                _ => old,
            };
            // GKE pool names are at most 40 characters, EKS node groups 63.
            let max_len = if provider == Provider::Gke { 40 } else { 63 };
            (
                base.to_string(),
                format!("-v{}-{}", to.major(), to.minor()),
                max_len,
            )
        }
    };
    for extra in std::iter::once(String::new()).chain(('a'..='z').map(String::from)) {
        let room = max_len - suffix.len() - extra.len();
        let stem: String = base.chars().take(room).collect();
        let candidate = format!("{stem}{suffix}{extra}");
        if !taken.contains(&candidate) {
            return candidate;
        }
    }
    format!("{old}{suffix}")
}

/// The plan's JSON form: each step with its `after` and estimate, the estimate's totals at the
/// top.
mod wire {
    use serde::{Deserialize, Serialize};

    use super::{PlanGraph, Step, Strategy, UpgradePlan, VersionState};
    use crate::estimate::{Estimate, StepTiming};
    use crate::provider::Provider;
    use crate::skew::SkewPolicy;
    use crate::version::KubeVersion;

    #[derive(Serialize)]
    struct StepOut<'a> {
        #[serde(flatten)]
        step: &'a Step,
        after: &'a [usize],
        #[serde(skip_serializing_if = "Option::is_none")]
        estimated_seconds: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        starts_at_seconds: Option<u64>,
    }

    #[derive(Serialize)]
    struct PlanOut<'a> {
        provider: Provider,
        cluster: &'a str,
        strategy: Strategy,
        policy: &'a SkewPolicy,
        target: &'a KubeVersion,
        initial: &'a VersionState,
        steps: Vec<StepOut<'a>>,
        node_rollouts: u32,
        warnings: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        max_parallel_pools: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        estimated_seconds: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        critical_path: Option<&'a [usize]>,
        #[serde(skip_serializing_if = "Option::is_none")]
        estimate_basis: Option<&'a str>,
    }

    impl Serialize for UpgradePlan {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let graph = PlanGraph::of(self);
            let timing = |i: usize| self.estimate.as_ref().and_then(|e| e.steps.get(i).copied());
            PlanOut {
                provider: self.provider,
                cluster: &self.cluster,
                strategy: self.strategy,
                policy: &self.policy,
                target: &self.target,
                initial: &self.initial,
                steps: self
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, step)| StepOut {
                        step,
                        after: graph.after(i),
                        estimated_seconds: timing(i).map(|t| t.seconds),
                        starts_at_seconds: timing(i).map(|t| t.starts_at),
                    })
                    .collect(),
                node_rollouts: self.node_rollouts,
                warnings: &self.warnings,
                max_parallel_pools: self.max_parallel_pools,
                estimated_seconds: self.estimate.as_ref().map(|e| e.seconds),
                critical_path: self.estimate.as_ref().map(|e| e.critical_path.as_slice()),
                estimate_basis: self.estimate.as_ref().map(|e| e.basis.as_str()),
            }
            .serialize(serializer)
        }
    }

    #[derive(Deserialize)]
    struct StepIn {
        #[serde(flatten)]
        step: Step,
        #[serde(default)]
        estimated_seconds: Option<u64>,
        #[serde(default)]
        starts_at_seconds: Option<u64>,
    }

    #[derive(Deserialize)]
    pub(super) struct PlanIn {
        provider: Provider,
        cluster: String,
        strategy: Strategy,
        policy: SkewPolicy,
        target: KubeVersion,
        initial: VersionState,
        steps: Vec<StepIn>,
        node_rollouts: u32,
        warnings: Vec<String>,
        #[serde(default)]
        max_parallel_pools: Option<usize>,
        #[serde(default)]
        estimated_seconds: Option<u64>,
        #[serde(default)]
        critical_path: Vec<usize>,
        #[serde(default)]
        estimate_basis: Option<String>,
    }

    impl From<PlanIn> for UpgradePlan {
        fn from(p: PlanIn) -> Self {
            let timings: Option<Vec<StepTiming>> = p
                .steps
                .iter()
                .map(|s| {
                    Some(StepTiming {
                        starts_at: s.starts_at_seconds?,
                        seconds: s.estimated_seconds?,
                    })
                })
                .collect();
            let estimate = match (p.estimated_seconds, timings) {
                (Some(seconds), Some(steps)) => Some(Estimate {
                    seconds,
                    steps,
                    critical_path: p.critical_path,
                    basis: p.estimate_basis.unwrap_or_default(),
                }),
                _ => None,
            };
            UpgradePlan {
                provider: p.provider,
                cluster: p.cluster,
                strategy: p.strategy,
                policy: p.policy,
                target: p.target,
                initial: p.initial,
                steps: p.steps.into_iter().map(|s| s.step).collect(),
                node_rollouts: p.node_rollouts,
                warnings: p.warnings,
                max_parallel_pools: p.max_parallel_pools,
                estimate,
            }
        }
    }
}
