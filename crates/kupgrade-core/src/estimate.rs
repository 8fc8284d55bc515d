//! How long a plan will take: each step's typical duration, scheduled the way the executor
//! will run it ([`Scheduler`]), giving the window and its critical path.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::cluster::{NodePool, RolloutSettings};
use crate::concurrency::OperationConcurrency;
use crate::graph::PlanGraph;
use crate::plan::Step;
use crate::provider::Provider;
use crate::schedule::Scheduler;

/// Typical durations of the steps, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Durations {
    /// One control-plane minor upgrade.
    pub control_plane: u64,
    /// Updating the managed add-ons after a hop.
    pub addons: u64,
    /// Replacing one batch of nodes (max surge + max unavailable nodes) in a pool upgrade.
    pub node_batch: u64,
    /// Creating a node pool until its nodes are Ready.
    pub pool_create: u64,
    /// Deleting a node pool.
    pub pool_delete: u64,
    /// Draining one node (evictions, then the pods starting elsewhere).
    pub drain_per_node: u64,
    /// A gate's soak and check.
    pub gate: u64,
    /// Where the figures come from.
    pub basis: String,
}

impl Durations {
    /// The figures we use for a provider. The providers publish few numbers; where one does
    /// not, the figure is ours (and says so in `basis`), the same as the simulator's defaults.
    ///
    /// - EKS: "a control plane update ... can take up to" tens of minutes in practice; AWS
    ///   states no figure, so 15 minutes (the simulator's default) is used. Managed node group
    ///   updates replace `maxUnavailable` nodes per batch.
    /// - GKE and AKS: no published control-plane figure; 15 minutes. Node batches: 4 minutes.
    pub fn for_provider(provider: Provider) -> Self {
        let _ = provider;
        Self {
            control_plane: 15 * 60,
            addons: 2 * 60,
            node_batch: 4 * 60,
            pool_create: 6 * 60,
            pool_delete: 5 * 60,
            drain_per_node: 30,
            gate: 5 * 60,
            basis: "kupgrade's typical durations, as providers publish none: 15m per control-plane minor, 4m per node batch, 6m to create a pool, 5m to delete one, 30s of drain per node, 5m gate soak".into(),
        }
    }

    /// The time `step` takes; `pools` has each pool's surge settings and size.
    pub fn of(&self, step: &Step, pools: &PoolFacts) -> u64 {
        match step {
            Step::UpgradeControlPlane { .. } => self.control_plane,
            Step::UpdateAddons { .. } => self.addons,
            // The user installs it; the plan does not wait for it.
            Step::Addon { .. } => 0,
            Step::UpgradeNodePool { node_pool, nodes, .. } => {
                let rollout = pools.rollout(node_pool);
                let batch = (rollout.max_surge + rollout.max_unavailable).max(1);
                u64::from(nodes.div_ceil(batch).max(1)) * self.node_batch
            }
            Step::CreateNodePool { .. } => self.pool_create,
            Step::CordonNodePool { .. } => 0,
            Step::DrainNodePool { node_pool } => {
                u64::from(pools.nodes(node_pool).max(1)) * self.drain_per_node
            }
            Step::Gate { .. } => self.gate,
            Step::DeleteNodePool { .. } => self.pool_delete,
        }
    }
}

/// The surge settings and size of every pool a plan touches: the cluster's, and the ones it
/// creates (which copy the pool they replace).
#[derive(Debug, Clone, Default)]
pub struct PoolFacts(HashMap<String, (RolloutSettings, u32)>);

impl PoolFacts {
    /// The facts of `pools` and of the pools `steps` create.
    pub fn new(pools: &[NodePool], steps: &[Step]) -> Self {
        let mut facts: HashMap<String, (RolloutSettings, u32)> = pools
            .iter()
            .map(|p| (p.name.clone(), (p.rollout.clone(), p.nodes)))
            .collect();
        for step in steps {
            if let Step::CreateNodePool {
                node_pool,
                clone_of,
                nodes,
                ..
            } = step
            {
                let rollout = facts.get(clone_of).map(|f| f.0.clone()).unwrap_or_default();
                facts.insert(node_pool.clone(), (rollout, *nodes));
            }
        }
        Self(facts)
    }

    fn rollout(&self, pool: &str) -> RolloutSettings {
        self.0.get(pool).map(|f| f.0.clone()).unwrap_or_default()
    }

    fn nodes(&self, pool: &str) -> u32 {
        self.0.get(pool).map_or(1, |f| f.1)
    }
}

/// A plan's estimated timing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    /// The whole window, in seconds.
    pub seconds: u64,
    /// Each step's estimated start (seconds from the beginning) and duration.
    pub steps: Vec<StepTiming>,
    /// The steps whose durations add up to the window, in order.
    pub critical_path: Vec<usize>,
    /// Where the durations come from.
    pub basis: String,
}

/// One step's place in an estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTiming {
    /// Seconds from the start of the run.
    pub starts_at: u64,
    /// How long it takes.
    pub seconds: u64,
}

/// `1h 02m`, `15m 00s`, `42s`.
pub fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Times `steps` when each takes `durations[i]` seconds, scheduled as the executor does.
pub fn schedule_times(
    graph: PlanGraph,
    steps: &[Step],
    durations: &[u64],
    concurrency: OperationConcurrency,
    max_parallel_pools: usize,
) -> (u64, Vec<StepTiming>, Vec<usize>) {
    let mut scheduler = Scheduler::new(graph, steps, concurrency, max_parallel_pools);
    let mut timing = vec![StepTiming::default(); steps.len()];
    // The step whose end let each step start (its last dependency, or what freed a resource).
    let mut enabled_by: Vec<Option<usize>> = vec![None; steps.len()];
    let mut running: Vec<(u64, usize)> = Vec::new();
    let mut now = 0;
    let mut last_finished: Option<usize> = None;
    loop {
        while let Some(i) = scheduler.next_startable() {
            scheduler.start(i);
            timing[i] = StepTiming {
                starts_at: now,
                seconds: durations[i],
            };
            enabled_by[i] = last_finished;
            running.push((now + durations[i], i));
        }
        let Some(pos) = running
            .iter()
            .enumerate()
            .min_by_key(|(_, (end, i))| (*end, *i))
            .map(|(pos, _)| pos)
        else {
            break;
        };
        let (end, i) = running.swap_remove(pos);
        now = end;
        scheduler.finish(i);
        last_finished = Some(i);
    }
    let mut path = Vec::new();
    let last = (0..steps.len()).max_by_key(|&i| (timing[i].starts_at + timing[i].seconds, i));
    let mut at = last;
    while let Some(i) = at {
        path.push(i);
        at = enabled_by[i].filter(|&j| timing[j].starts_at + timing[j].seconds == timing[i].starts_at);
    }
    path.reverse();
    (now, timing, path)
}

/// Estimates `steps` with `durations`, for the pools in `pools`.
pub fn estimate(
    steps: &[Step],
    graph: PlanGraph,
    pools: &PoolFacts,
    durations: &Durations,
    concurrency: OperationConcurrency,
    max_parallel_pools: usize,
) -> Estimate {
    let each: Vec<u64> = steps.iter().map(|s| durations.of(s, pools)).collect();
    let (seconds, steps, critical_path) =
        schedule_times(graph, steps, &each, concurrency, max_parallel_pools);
    Estimate {
        seconds,
        steps,
        critical_path,
        basis: durations.basis.clone(),
    }
}

/// The shortest any schedule of these steps could take under the same rules: the longest
/// path through the graph; between two hops, the pools' work spread over at most
/// `max_parallel_pools` at once; and, where the provider runs one operation per cluster, the
/// sum of the provider operations.
pub fn lower_bound(
    graph: &PlanGraph,
    steps: &[Step],
    durations: &[u64],
    concurrency: OperationConcurrency,
    max_parallel_pools: usize,
) -> u64 {
    let mut finish = vec![0u64; steps.len()];
    for i in 0..steps.len() {
        let start = graph.after(i).iter().map(|&d| finish[d]).max().unwrap_or(0);
        finish[i] = start + durations[i];
    }
    let longest = finish.iter().copied().max().unwrap_or(0);
    // Between hops: (work of each pool chain) per segment.
    let mut hops = 0u64;
    let mut segments: Vec<HashMap<usize, u64>> = vec![HashMap::new()];
    for (i, &duration) in durations.iter().enumerate().take(steps.len()) {
        match graph.chain(i) {
            None => {
                hops += duration;
                segments.push(HashMap::new());
            }
            Some(c) => {
                if let Some(segment) = segments.last_mut() {
                    *segment.entry(c).or_default() += duration;
                }
            }
        }
    }
    let k = max_parallel_pools.max(1) as u64;
    let pools: u64 = segments
        .iter()
        .map(|chains| {
            // Pool chains are jobs on k machines: no schedule beats the longest job, the work
            // spread evenly, or (more jobs than machines) the k-th and k+1-th longest jobs
            // sharing one machine.
            let mut jobs: Vec<u64> = chains.values().copied().collect();
            jobs.sort_unstable_by(|a, b| b.cmp(a));
            let work: u64 = jobs.iter().sum();
            let longest_job = jobs.first().copied().unwrap_or(0);
            let shared = match usize::try_from(k) {
                Ok(k) if jobs.len() > k => jobs[k - 1] + jobs[k],
                _ => 0,
            };
            longest_job.max(work.div_ceil(k)).max(shared)
        })
        .sum();
    let mut bound = longest.max(hops + pools);
    if !concurrency.pools_in_parallel() {
        let serial: u64 = steps
            .iter()
            .zip(durations)
            .filter(|(s, _)| crate::schedule::starts_provider_operation(s))
            .map(|(_, d)| d)
            .sum();
        bound = bound.max(serial);
    }
    bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterSnapshot, KubeVersion, NodePool, PlanOptions, Strategy, plan_with};

    fn six_pools(provider: Provider, strategy: Strategy) -> crate::UpgradePlan {
        let snap = ClusterSnapshot {
            provider,
            name: "prod".into(),
            control_plane: KubeVersion::new(1, 29),
            status: Default::default(),
            node_pools: (0..6)
                .map(|i| NodePool::new(format!("p{i}"), KubeVersion::new(1, 29), 3))
                .collect(),
            auto_upgrade: None,
            id: None,
        };
        plan_with(
            &snap,
            &KubeVersion::new(1, 32),
            &PlanOptions::new(provider, strategy),
        )
        .unwrap()
    }

    #[test]
    fn eks_in_place_overlaps_pools_and_meets_the_lower_bound() {
        let plan = six_pools(Provider::Eks, Strategy::InPlace);
        let est = plan.estimate.clone().expect("the planner estimates");
        // Three hops of 15m, then six pools of 3 nodes (one node per batch: 3 x 4m) at once.
        assert_eq!(est.seconds, 3 * 15 * 60 + 3 * 4 * 60);
        let durations: Vec<u64> = est.steps.iter().map(|t| t.seconds).collect();
        let bound = lower_bound(
            &PlanGraph::of(&plan),
            &plan.steps,
            &durations,
            OperationConcurrency::PoolsInParallel,
            plan.parallel_pools(),
        );
        assert_eq!(est.seconds, bound);
        // The critical path: the three hops, then one pool.
        assert_eq!(est.critical_path.len(), 4);
    }

    #[test]
    fn gke_in_place_moves_at_most_five_pools_at_once() {
        let plan = six_pools(Provider::Gke, Strategy::InPlace);
        // GKE's nodes may lag two minors: each pool moves to 1.31 before the last hop, then on.
        let pool_moves = plan
            .steps
            .iter()
            .filter(|s| matches!(s, Step::UpgradeNodePool { .. }))
            .count() as u64;
        assert_eq!(pool_moves, 12);
        let est = plan.estimate.clone().expect("the planner estimates");
        // Per round of six pools: five at once, then the sixth (3 batches of 4m each).
        assert_eq!(est.seconds, 3 * 15 * 60 + 2 * 2 * 3 * 4 * 60);
        let durations: Vec<u64> = est.steps.iter().map(|t| t.seconds).collect();
        let bound = lower_bound(
            &PlanGraph::of(&plan),
            &plan.steps,
            &durations,
            OperationConcurrency::PoolsInParallel,
            plan.parallel_pools(),
        );
        assert_eq!(est.seconds, bound, "five machines, six equal jobs: two rounds");
    }

    #[test]
    fn blue_green_on_one_operation_per_cluster_drains_while_the_next_pool_is_created() {
        let mut plan = six_pools(Provider::Gke, Strategy::BlueGreen);
        plan.estimate = Some(estimate(
            &plan.steps,
            plan.graph(),
            &PoolFacts::default(),
            &Durations::for_provider(Provider::Gke),
            OperationConcurrency::OnePerCluster,
            plan.parallel_pools(),
        ));
        let est = plan.estimate.clone().expect("the planner estimates");
        let durations: Vec<u64> = est.steps.iter().map(|t| t.seconds).collect();
        let sequential: u64 = durations.iter().sum();
        let bound = lower_bound(
            &PlanGraph::of(&plan),
            &plan.steps,
            &durations,
            OperationConcurrency::OnePerCluster,
            plan.parallel_pools(),
        );
        assert!(est.seconds < sequential, "{} < {sequential}", est.seconds);
        assert!(est.seconds >= bound);
    }
}
