//! Which steps of a plan may start now: the plan's graph, the provider's concurrency rules and
//! the limit on pools in flight. Pure bookkeeping, shared by the executor (which runs the
//! steps) and the estimator (which times them), so the estimate is the schedule the run keeps.

use std::collections::{BTreeSet, HashMap};

use crate::concurrency::OperationConcurrency;
use crate::graph::PlanGraph;
use crate::plan::Step;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Waiting,
    Running,
    Finished,
}

/// The state of a run's schedule.
///
/// Steps whose dependencies are all finished wait in four ordered sets, by whether they start
/// a provider operation and whether they open a new pool chain, so that finding the next step
/// skips a whole set the provider or the pool limit holds back: scheduling a plan of 10,000
/// pools stays near-linear.
#[derive(Debug, Clone)]
pub struct Scheduler {
    graph: PlanGraph,
    provider_steps: Vec<bool>,
    opens_chain: Vec<bool>,
    slots: Vec<Slot>,
    concurrency: OperationConcurrency,
    max_parallel_pools: usize,
    /// Unfinished dependencies per step, and who depends on each step.
    waiting_on: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    ready: [BTreeSet<usize>; 4],
    /// Steps per chain not yet finished, for chains that have started.
    open_chains: HashMap<usize, usize>,
    chains_in_flight: usize,
    chain_len: HashMap<usize, usize>,
    provider_busy: usize,
}

impl Scheduler {
    /// A schedule for `steps` (whose graph is `graph`) under `concurrency`, moving at most
    /// `max_parallel_pools` pools at once (at least 1).
    pub fn new(
        graph: PlanGraph,
        steps: &[Step],
        concurrency: OperationConcurrency,
        max_parallel_pools: usize,
    ) -> Self {
        let n = graph.len();
        let mut chain_len = HashMap::new();
        let mut opens_chain = vec![false; n];
        let mut dependents = vec![Vec::new(); n];
        let mut waiting_on = vec![0; n];
        for i in 0..n {
            if let Some(c) = graph.chain(i) {
                let len = chain_len.entry(c).or_insert(0);
                opens_chain[i] = *len == 0;
                *len += 1;
            }
            for &d in graph.after(i) {
                dependents[d].push(i);
            }
            waiting_on[i] = graph.after(i).len();
        }
        let mut scheduler = Self {
            provider_steps: steps.iter().map(starts_provider_operation).collect(),
            opens_chain,
            slots: vec![Slot::Waiting; n],
            graph,
            concurrency,
            max_parallel_pools: max_parallel_pools.max(1),
            waiting_on,
            dependents,
            ready: Default::default(),
            open_chains: HashMap::new(),
            chains_in_flight: 0,
            chain_len,
            provider_busy: 0,
        };
        for i in 0..n {
            if scheduler.waiting_on[i] == 0 {
                scheduler.make_ready(i);
            }
        }
        scheduler
    }

    fn set_of(&self, i: usize) -> usize {
        usize::from(self.provider_steps[i]) * 2 + usize::from(self.opens_chain[i])
    }

    fn make_ready(&mut self, i: usize) {
        let set = self.set_of(i);
        self.ready[set].insert(i);
    }

    /// The first step (in plan order) that may start now, if any.
    pub fn next_startable(&self) -> Option<usize> {
        let provider_free = self.provider_busy == 0 || self.concurrency.pools_in_parallel();
        let chain_free = self.chains_in_flight < self.max_parallel_pools;
        (0..4)
            .filter(|set| (set / 2 == 0 || provider_free) && (set % 2 == 0 || chain_free))
            .filter_map(|set| self.ready[set].iter().copied().find(|&i| self.can_start(i)))
            .min()
    }

    fn can_start(&self, i: usize) -> bool {
        if self.slots[i] != Slot::Waiting || self.waiting_on[i] > 0 {
            return false;
        }
        if self.provider_steps[i] && self.provider_busy > 0 {
            let parallel_ok = self.concurrency.pools_in_parallel() && self.graph.chain(i).is_some();
            if !parallel_ok {
                return false;
            }
        }
        match self.graph.chain(i) {
            Some(c) if !self.open_chains.contains_key(&c) => self.chains_in_flight < self.max_parallel_pools,
            _ => true,
        }
    }

    fn open_chain(&mut self, i: usize) {
        if let Some(c) = self.graph.chain(i)
            && !self.open_chains.contains_key(&c)
        {
            self.open_chains.insert(c, self.chain_len[&c]);
            self.chains_in_flight += 1;
        }
    }

    /// Marks `i` running.
    pub fn start(&mut self, i: usize) {
        debug_assert!(self.can_start(i), "step {i} may not start now");
        let set = self.set_of(i);
        self.ready[set].remove(&i);
        self.slots[i] = Slot::Running;
        if self.provider_steps[i] {
            self.provider_busy += 1;
        }
        self.open_chain(i);
    }

    /// Marks `i` finished (done, skipped, or done by an earlier run).
    pub fn finish(&mut self, i: usize) {
        match self.slots[i] {
            Slot::Finished => return,
            Slot::Running if self.provider_steps[i] => self.provider_busy -= 1,
            Slot::Waiting => {
                let set = self.set_of(i);
                self.ready[set].remove(&i);
            }
            Slot::Running => {}
        }
        self.slots[i] = Slot::Finished;
        self.open_chain(i);
        if let Some(c) = self.graph.chain(i)
            && let Some(left) = self.open_chains.get_mut(&c)
        {
            *left -= 1;
            if *left == 0 {
                self.chains_in_flight -= 1;
            }
        }
        for k in 0..self.dependents[i].len() {
            let j = self.dependents[i][k];
            self.waiting_on[j] -= 1;
            if self.waiting_on[j] == 0 && self.slots[j] == Slot::Waiting {
                self.make_ready(j);
            }
        }
    }

    /// Whether every step has finished.
    pub fn is_complete(&self) -> bool {
        self.slots.iter().all(|s| *s == Slot::Finished)
    }
}

/// Whether a step starts a provider operation (and so counts against the provider's
/// concurrency rule).
pub fn starts_provider_operation(step: &Step) -> bool {
    matches!(
        step,
        Step::UpgradeControlPlane { .. }
            | Step::UpdateAddons { .. }
            | Step::UpgradeNodePool { .. }
            | Step::CreateNodePool { .. }
            | Step::DeleteNodePool { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterSnapshot, KubeVersion, NodePool, PlanOptions, Provider, Strategy, plan_with};

    fn plan(provider: Provider, strategy: Strategy, pools: usize) -> crate::UpgradePlan {
        let snap = ClusterSnapshot {
            provider,
            name: "prod".into(),
            control_plane: KubeVersion::new(1, 29),
            status: Default::default(),
            node_pools: (0..pools)
                .map(|i| NodePool::new(format!("p{i}"), KubeVersion::new(1, 29), 3))
                .collect(),
            auto_upgrade: None,
            id: None,
        };
        plan_with(
            &snap,
            &KubeVersion::new(1, 30),
            &PlanOptions::new(provider, strategy),
        )
        .unwrap()
    }

    fn start_all(s: &mut Scheduler) -> Vec<usize> {
        let mut started = Vec::new();
        while let Some(i) = s.next_startable() {
            s.start(i);
            started.push(i);
        }
        started
    }

    #[test]
    fn eks_pools_start_together_after_the_hop() {
        let p = plan(Provider::Eks, Strategy::InPlace, 3);
        let mut s = Scheduler::new(
            PlanGraph::of(&p),
            &p.steps,
            OperationConcurrency::PoolsInParallel,
            10,
        );
        assert_eq!(start_all(&mut s), vec![0]);
        s.finish(0);
        assert_eq!(start_all(&mut s), vec![1, 2, 3]);
    }

    #[test]
    fn one_operation_per_cluster_runs_pool_operations_one_by_one() {
        let p = plan(Provider::Gke, Strategy::InPlace, 3);
        let mut s = Scheduler::new(
            PlanGraph::of(&p),
            &p.steps,
            OperationConcurrency::OnePerCluster,
            10,
        );
        start_all(&mut s);
        s.finish(0);
        assert_eq!(start_all(&mut s), vec![1]);
        s.finish(1);
        assert_eq!(start_all(&mut s), vec![2]);
    }

    #[test]
    fn drains_overlap_the_next_pool_operation_on_gke() {
        // 0 hop; p0: create 1, cordon 2, drain 3, gate 4, delete 5; p1: create 6, ...
        let p = plan(Provider::Gke, Strategy::BlueGreen, 2);
        let mut s = Scheduler::new(
            PlanGraph::of(&p),
            &p.steps,
            OperationConcurrency::OnePerCluster,
            2,
        );
        start_all(&mut s);
        s.finish(0);
        assert_eq!(start_all(&mut s), vec![1], "one create at a time");
        s.finish(1);
        assert_eq!(
            start_all(&mut s),
            vec![2, 6],
            "p0 cordons while p1's pool is created"
        );
        s.finish(2);
        assert_eq!(start_all(&mut s), vec![3]);
    }

    #[test]
    fn the_pool_limit_holds_back_new_chains() {
        let p = plan(Provider::Eks, Strategy::InPlace, 3);
        let mut s = Scheduler::new(
            PlanGraph::of(&p),
            &p.steps,
            OperationConcurrency::PoolsInParallel,
            2,
        );
        start_all(&mut s);
        s.finish(0);
        assert_eq!(start_all(&mut s), vec![1, 2]);
        s.finish(2);
        assert_eq!(start_all(&mut s), vec![3]);
        s.finish(1);
        s.finish(3);
        assert!(s.is_complete());
    }
}
