//! The plan as a dependency graph: what each step waits for.
//!
//! The graph follows from the ordered steps and the strategy, so a plan read from an older
//! journal gets the same graph:
//!
//! - control-plane hops (and the managed add-on update after each) form a chain, and each one
//!   waits for every step before it: no pool move may still run when the control plane moves,
//!   and none may start before the hop that allows it;
//! - the steps that move one pool (a blue/green pool's create, cordon, drain, gate and delete;
//!   or its in-place upgrade) form a chain; a step joins the chain of any pool it names
//!   (`node_pool`, `clone_of`, `replaced_by`) since the last hop;
//! - in a canary round, the pools after the canary wait for its gate.
//!
//! Everything else may overlap; the executor adds the provider's concurrency rules and the
//! limit on pools in flight ([`crate::schedule`]).

use std::collections::HashMap;

use crate::plan::{Step, Strategy, UpgradePlan};

/// What each step of a plan waits for, and which pool chain it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanGraph {
    after: Vec<Vec<usize>>,
    chain: Vec<Option<usize>>,
}

impl PlanGraph {
    /// The graph of `plan`.
    pub fn of(plan: &UpgradePlan) -> Self {
        Self::build(&plan.steps, plan.strategy)
    }

    /// The graph of `steps` planned with `strategy`.
    pub fn build(steps: &[Step], strategy: Strategy) -> Self {
        let mut after = Vec::with_capacity(steps.len());
        let mut chain = Vec::with_capacity(steps.len());
        let mut next_chain = 0;
        // Where a new pool chain starts: after the last hop, or after a canary round's gate.
        let mut chain_roots: Vec<usize> = Vec::new();
        let mut tails: HashMap<usize, usize> = HashMap::new();
        let mut pool_chain: HashMap<&str, usize> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            let pools = pools_named(step);
            if pools.is_empty() {
                // A hop (or anything cluster-wide): after every open chain, or the last hop.
                let mut deps: Vec<usize> = tails.values().copied().collect();
                if deps.is_empty() {
                    deps.clone_from(&chain_roots);
                }
                deps.sort_unstable();
                after.push(deps);
                chain.push(None);
                tails.clear();
                pool_chain.clear();
                chain_roots = vec![i];
                continue;
            }
            let c = match pools.iter().find_map(|p| pool_chain.get(p).copied()) {
                Some(c) => {
                    after.push(vec![tails[&c]]);
                    c
                }
                None => {
                    after.push(chain_roots.clone());
                    next_chain += 1;
                    next_chain - 1
                }
            };
            chain.push(Some(c));
            tails.insert(c, i);
            for p in pools {
                pool_chain.insert(p, c);
            }
            if strategy == Strategy::Canary && matches!(step, Step::Gate { .. }) {
                chain_roots = vec![i];
            }
        }
        Self { after, chain }
    }

    /// The steps `step` waits for (direct dependencies, ascending).
    pub fn after(&self, step: usize) -> &[usize] {
        &self.after[step]
    }

    /// The pool chain `step` belongs to, or `None` for a hop.
    pub fn chain(&self, step: usize) -> Option<usize> {
        self.chain[step]
    }

    /// How many steps the graph has.
    pub fn len(&self) -> usize {
        self.after.len()
    }

    /// Whether the graph has no steps.
    pub fn is_empty(&self) -> bool {
        self.after.is_empty()
    }
}

/// The pools a step names.
fn pools_named(step: &Step) -> Vec<&str> {
    match step {
        Step::UpgradeControlPlane { .. } | Step::UpdateAddons { .. } | Step::Addon { .. } => Vec::new(),
        Step::CreateNodePool {
            node_pool, clone_of, ..
        } => vec![node_pool, clone_of],
        Step::DeleteNodePool {
            node_pool,
            replaced_by,
        } => vec![node_pool, replaced_by],
        Step::Gate { node_pool, .. } => node_pool.iter().map(String::as_str).collect(),
        Step::UpgradeNodePool { node_pool, .. }
        | Step::CordonNodePool { node_pool }
        | Step::DrainNodePool { node_pool } => vec![node_pool],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterSnapshot, KubeVersion, NodePool, PlanOptions, Provider, plan_with};

    fn snapshot(provider: Provider, pools: &[(&str, u32)]) -> ClusterSnapshot {
        ClusterSnapshot {
            provider,
            name: "prod".into(),
            control_plane: KubeVersion::new(1, 29),
            status: Default::default(),
            node_pools: pools
                .iter()
                .map(|(n, v)| NodePool::new(*n, KubeVersion::new(1, *v), 3))
                .collect(),
            auto_upgrade: None,
            id: None,
        }
    }

    /// Every step that transitively precedes `i`.
    fn ancestors(graph: &PlanGraph, i: usize) -> Vec<bool> {
        let mut seen = vec![false; graph.len()];
        let mut stack = graph.after(i).to_vec();
        while let Some(j) = stack.pop() {
            if !seen[j] {
                seen[j] = true;
                stack.extend_from_slice(graph.after(j));
            }
        }
        seen
    }

    /// The two promises: a hop waits for every step before it, and every step waits for the
    /// last hop before it (so no pool moves further than the control plane allows).
    fn assert_hops_are_barriers(plan: &UpgradePlan) {
        let graph = PlanGraph::of(plan);
        let mut last_hop = None;
        for (i, step) in plan.steps.iter().enumerate() {
            let before = ancestors(&graph, i);
            if graph.chain(i).is_none() {
                assert!(
                    before[..i].iter().all(|&b| b),
                    "hop {i} ({step:?}) must wait for all"
                );
                last_hop = Some(i);
            } else if let Some(h) = last_hop {
                assert!(before[h], "step {i} ({step:?}) must wait for hop {h}");
            }
            assert!(graph.after(i).iter().all(|&j| j < i), "edges point backwards");
        }
    }

    #[test]
    fn every_strategy_keeps_hops_as_barriers() {
        for provider in [Provider::Eks, Provider::Gke, Provider::Aks] {
            for strategy in [Strategy::InPlace, Strategy::BlueGreen, Strategy::Canary] {
                let snap = snapshot(provider, &[("a", 29), ("b", 28), ("c", 27), ("d", 29)]);
                for new_pool in [false, true] {
                    let options = PlanOptions::new(provider, strategy)
                        .with_managed_addons(provider == Provider::Eks)
                        .with_canary_new_pool(new_pool && strategy == Strategy::Canary);
                    let plan = plan_with(&snap, &KubeVersion::new(1, 32), &options).unwrap();
                    assert_hops_are_barriers(&plan);
                }
            }
        }
    }

    #[test]
    fn pools_in_place_overlap_between_hops() {
        let snap = snapshot(Provider::Eks, &[("a", 29), ("b", 29), ("c", 29)]);
        let plan = plan_with(
            &snap,
            &KubeVersion::new(1, 30),
            &PlanOptions::new(Provider::Eks, Strategy::InPlace),
        )
        .unwrap();
        let graph = PlanGraph::of(&plan);
        // 0: hop; 1..=3: one upgrade per pool, each after the hop only.
        assert_eq!(graph.after(0), &[] as &[usize]);
        for i in 1..=3 {
            assert_eq!(graph.after(i), &[0]);
        }
        assert_eq!(
            [1, 2, 3].map(|i| graph.chain(i)).iter().flatten().count(),
            3,
            "one chain per pool"
        );
    }

    #[test]
    fn blue_green_steps_of_one_pool_form_one_chain() {
        let snap = snapshot(Provider::Gke, &[("a", 29), ("b", 29)]);
        let plan = plan_with(
            &snap,
            &KubeVersion::new(1, 30),
            &PlanOptions::new(Provider::Gke, Strategy::BlueGreen),
        )
        .unwrap();
        let graph = PlanGraph::of(&plan);
        // 0: hop; a: create, cordon, drain, gate, delete (1..=5); b: the same (6..=10).
        for i in 2..=5 {
            assert_eq!(graph.after(i), &[i - 1]);
        }
        assert_eq!(graph.after(1), &[0]);
        assert_eq!(graph.after(6), &[0], "b does not wait for a");
        assert_ne!(graph.chain(1), graph.chain(6));
    }

    #[test]
    fn canary_pools_wait_for_the_canary_gate() {
        let snap = snapshot(Provider::Eks, &[("big", 29), ("small", 29), ("other", 29)]);
        let plan = plan_with(
            &snap,
            &KubeVersion::new(1, 30),
            &PlanOptions::new(Provider::Eks, Strategy::Canary).with_canary_pool("small"),
        )
        .unwrap();
        let graph = PlanGraph::of(&plan);
        // 0: hop; 1: the canary; 2: its gate; 3, 4: the other pools.
        assert!(matches!(&plan.steps[2], Step::Gate { .. }));
        assert_eq!(graph.after(1), &[0]);
        assert_eq!(graph.after(3), &[2]);
        assert_eq!(graph.after(4), &[2]);
    }
}
