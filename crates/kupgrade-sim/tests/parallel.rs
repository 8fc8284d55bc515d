//! The plan run as a graph on paused tokio time: pool operations side by side where the
//! provider allows it (EKS), one at a time where it does not (GKE, AKS) with drains and gates
//! overlapping the next operation, a blocked drain that does not hold back another pool, and
//! drains of pools running at once that share one PodDisruptionBudget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kupgrade_core::estimate::lower_bound;
use kupgrade_core::workloads::DrainOptions;
use kupgrade_core::{
    Capabilities, ClusterSnapshot, Error, Event, Executor, ExecutorConfig, Journal, KubeVersion,
    ManagedCluster, NodePoolSpec, OfferedVersion, Operation, OperationConcurrency, OperationId,
    OperationKind, PlanOptions, PoolUpgradeOptions, Provider, RequestToken, RunReport, RunResult, Step,
    StepOutcome, Strategy, plan_with,
};
use kupgrade_sim::{Budget, SimCluster, SimState, WorkloadKind};

fn v(minor: u32) -> KubeVersion {
    KubeVersion::new(1, minor)
}

/// Each step's (start, end) in virtual seconds, from the executor's events.
type Intervals = Arc<Mutex<Vec<(Option<u64>, Option<u64>)>>>;

fn recording(config: ExecutorConfig, sim: &SimCluster, steps: usize) -> (Executor, Intervals) {
    let intervals: Intervals = Arc::new(Mutex::new(vec![(None, None); steps]));
    let origin = tokio::time::Instant::now();
    let log = intervals.clone();
    let executor = Executor::new(Arc::new(sim.clone()), Arc::new(sim.clone()))
        .with_config(config)
        .with_events(Arc::new(move |event: &Event| {
            let now = origin.elapsed().as_secs();
            let mut log = log.lock().unwrap();
            match event {
                Event::StepStarted { index, .. } => log[*index].0 = Some(now),
                Event::StepFinished { index, .. }
                | Event::StepSkipped { index, .. }
                | Event::StepFailed { index, .. } => log[*index].1 = Some(now),
                _ => {}
            }
        }));
    (executor, intervals)
}

async fn run(
    sim: &SimCluster,
    options: PlanOptions,
    to: u32,
    config: ExecutorConfig,
) -> (Journal, RunReport, Vec<(Option<u64>, Option<u64>)>) {
    let snapshot = sim.state().snapshot();
    let plan = plan_with(&snapshot, &v(to), &options).unwrap();
    let mut journal = Journal::new(plan);
    let (executor, intervals) = recording(config, sim, journal.plan.steps.len());
    let report = executor.run(&mut journal).await.unwrap();
    let intervals = intervals.lock().unwrap().clone();
    (journal, report, intervals)
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The provider operations the simulator ran, as (kind, pool, start, end).
fn operations(sim: &SimCluster) -> Vec<(OperationKind, Option<String>, u64, u64)> {
    sim.state()
        .operations
        .iter()
        .map(|o| (o.kind, o.node_pool.clone(), o.started_at, o.ends_at))
        .collect()
}

/// The window divided by the shortest any schedule of the same steps could take, with the
/// durations the run measured.
fn window_over_bound(journal: &Journal, report: &RunReport, concurrency: OperationConcurrency) -> f64 {
    let durations: Vec<u64> = report.steps.iter().map(|s| s.seconds).collect();
    let bound = lower_bound(
        &journal.plan.graph(),
        &journal.plan.steps,
        &durations,
        concurrency,
        journal.plan.parallel_pools(),
    );
    report.seconds as f64 / bound as f64
}

#[tokio::test(start_paused = true)]
async fn eks_pool_operations_overlap_but_never_a_control_plane_hop() {
    let sim = SimCluster::new(SimState::generate(Provider::Eks, "c", v(29), 6, 18));
    let options = PlanOptions::new(Provider::Eks, Strategy::InPlace);
    let (journal, report, _) = run(&sim, options, 32, ExecutorConfig::default()).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let ops = operations(&sim);
    let hops: Vec<_> = ops
        .iter()
        .filter(|o| o.0 == OperationKind::UpgradeControlPlane)
        .collect();
    let pools: Vec<_> = ops
        .iter()
        .filter(|o| o.0 == OperationKind::UpgradeNodePool)
        .collect();
    assert_eq!((hops.len(), pools.len()), (3, 6));
    for p in &pools {
        for h in &hops {
            assert!(!overlaps((p.2, p.3), (h.2, h.3)), "{p:?} ran during hop {h:?}");
        }
    }
    assert!(
        pools.iter().all(|p| p.2 == pools[0].2),
        "all six node groups start together: {pools:?}"
    );
    let ratio = window_over_bound(&journal, &report, OperationConcurrency::PoolsInParallel);
    assert!(ratio <= 1.05, "window / critical path = {ratio:.3}");
}

/// A provider that runs one operation per cluster (the premise for GKE, which Google's
/// current pages contradict; kept as the model of any provider that serializes).
#[tokio::test(start_paused = true)]
async fn one_operation_per_cluster_still_overlaps_drains_with_operations() {
    let mut state = SimState::generate(Provider::Gke, "c", v(31), 6, 18);
    state.rules.concurrency = Some(OperationConcurrency::OnePerCluster);
    let sim = SimCluster::new(state);
    let options = PlanOptions::new(Provider::Gke, Strategy::BlueGreen);
    let (journal, report, intervals) = run(&sim, options, 32, ExecutorConfig::default()).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let ops = operations(&sim);
    for (i, a) in ops.iter().enumerate() {
        for b in &ops[i + 1..] {
            assert!(!overlaps((a.2, a.3), (b.2, b.3)), "{a:?} and {b:?} overlap");
        }
    }
    let drains: Vec<(u64, u64)> = journal
        .plan
        .steps
        .iter()
        .zip(&intervals)
        .filter(|(s, _)| matches!(s, Step::DrainNodePool { .. } | Step::Gate { .. }))
        .map(|(_, (a, b))| (a.unwrap(), b.unwrap()))
        .collect();
    let overlapped = drains
        .iter()
        .any(|d| ops.iter().any(|o| overlaps(*d, (o.2, o.3))));
    assert!(
        overlapped,
        "a drain or gate runs while another pool's operation does"
    );
    let sequential: u64 = report.steps.iter().map(|s| s.seconds).sum();
    assert!(
        report.seconds * 10 < sequential * 9,
        "{} vs {sequential}",
        report.seconds
    );
}

#[tokio::test(start_paused = true)]
async fn every_strategy_on_every_provider_keeps_the_provider_rule() {
    for provider in [Provider::Eks, Provider::Gke, Provider::Aks] {
        for strategy in [Strategy::InPlace, Strategy::BlueGreen, Strategy::Canary] {
            let sim = SimCluster::new(SimState::generate(provider, "c", v(29), 6, 18));
            let options = PlanOptions::new(provider, strategy);
            let (journal, report, _) = run(&sim, options, 32, ExecutorConfig::default()).await;
            assert_eq!(
                report.result,
                RunResult::Succeeded,
                "{provider} {strategy}: {:?}",
                report.error
            );
            let ops = operations(&sim);
            let mut overlapped = false;
            for (i, a) in ops.iter().enumerate() {
                // Never beside a control-plane hop, never two on one pool, never more than
                // the pool limit at one moment.
                let running_at_start: Vec<_> = ops.iter().filter(|b| b.2 <= a.2 && a.2 < b.3).collect();
                for b in &running_at_start {
                    let one_hop = a.1.is_none() || b.1.is_none();
                    assert!(
                        running_at_start.len() == 1 || (!one_hop && a.1 != b.1) || std::ptr::eq(*b, a),
                        "{provider} {strategy}: {a:?} beside {b:?}"
                    );
                }
                assert!(
                    running_at_start.len() <= journal.plan.parallel_pools(),
                    "{provider} {strategy}: {} at once",
                    running_at_start.len()
                );
                overlapped |= ops[i + 1..].iter().any(|b| overlaps((a.2, a.3), (b.2, b.3)));
            }
            assert!(overlapped, "{provider} {strategy}: pools side by side");
            let ratio = window_over_bound(&journal, &report, OperationConcurrency::PoolsInParallel);
            assert!(ratio <= 1.10, "{provider} {strategy}: window / bound {ratio:.3}");
        }
    }
}

/// A cluster that claims pools may run side by side but refuses a second operation: the run
/// waits for its own operation instead of failing.
#[derive(Debug)]
struct Overclaiming(SimCluster);

#[async_trait::async_trait]
impl ManagedCluster for Overclaiming {
    fn provider(&self) -> Provider {
        self.0.provider()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default().with_concurrency(OperationConcurrency::PoolsInParallel)
    }
    async fn describe(&self) -> kupgrade_core::Result<ClusterSnapshot> {
        self.0.describe().await
    }
    async fn offered_versions(&self) -> kupgrade_core::Result<Vec<OfferedVersion>> {
        self.0.offered_versions().await
    }
    async fn upgrade_control_plane(
        &self,
        to: &KubeVersion,
        token: &RequestToken,
    ) -> kupgrade_core::Result<OperationId> {
        self.0.upgrade_control_plane(to, token).await
    }
    async fn upgrade_node_pool(
        &self,
        pool: &str,
        to: &KubeVersion,
        options: &PoolUpgradeOptions,
        token: &RequestToken,
    ) -> kupgrade_core::Result<OperationId> {
        self.0.upgrade_node_pool(pool, to, options, token).await
    }
    async fn create_node_pool(
        &self,
        spec: &NodePoolSpec,
        token: &RequestToken,
    ) -> kupgrade_core::Result<OperationId> {
        self.0.create_node_pool(spec, token).await
    }
    async fn delete_node_pool(&self, pool: &str, token: &RequestToken) -> kupgrade_core::Result<OperationId> {
        self.0.delete_node_pool(pool, token).await
    }
    async fn operation(&self, id: &OperationId) -> kupgrade_core::Result<Operation> {
        self.0.operation(id).await
    }
    async fn operations_in_flight(&self) -> kupgrade_core::Result<Vec<Operation>> {
        self.0.operations_in_flight().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_provider_stricter_than_its_rule_makes_the_run_wait_not_fail() {
    let mut state = SimState::generate(Provider::Aks, "c", v(30), 4, 12);
    state.rules.concurrency = Some(OperationConcurrency::OnePerCluster);
    let sim = SimCluster::new(state);
    let snapshot = sim.state().snapshot();
    let plan = plan_with(
        &snapshot,
        &v(31),
        &PlanOptions::new(Provider::Aks, Strategy::InPlace),
    )
    .unwrap();
    let mut journal = Journal::new(plan);
    let waits = Arc::new(Mutex::new(0));
    let seen = waits.clone();
    let report = Executor::new(Arc::new(Overclaiming(sim.clone())), Arc::new(sim.clone()))
        .with_events(Arc::new(move |event: &Event| {
            if let Event::Retrying { error, .. } = event
                && error.contains("waiting for this run's other operations")
            {
                *seen.lock().unwrap() += 1;
            }
        }))
        .run(&mut journal)
        .await
        .unwrap();
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    assert!(*waits.lock().unwrap() > 0, "the refused starts waited");
    let ops = operations(&sim);
    for (i, a) in ops.iter().enumerate() {
        for b in &ops[i + 1..] {
            assert!(!overlaps((a.2, a.3), (b.2, b.3)), "{a:?} and {b:?} overlap");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn gke_keeps_under_its_concurrent_operations_quota() {
    let sim = SimCluster::new(SimState::generate(Provider::Gke, "c", v(30), 8, 12));
    let options = PlanOptions::new(Provider::Gke, Strategy::InPlace);
    let (_, report, _) = run(&sim, options, 31, ExecutorConfig::default()).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let ops = operations(&sim);
    let most = ops
        .iter()
        .map(|a| ops.iter().filter(|b| b.2 <= a.2 && a.2 < b.3).count())
        .max()
        .unwrap();
    assert_eq!(most, 5, "GKE's quota of 5 concurrent operations per cluster");
}

#[tokio::test(start_paused = true)]
async fn a_blocked_drain_fails_its_pool_while_another_pool_finishes() {
    // `locked` runs on pool a only and its budget never allows a disruption.
    let mut state = SimState::new(Provider::Eks, "c", v(30));
    state.add_pool("a", v(29), 2);
    state.add_workload(
        WorkloadKind::Deployment,
        "shop",
        "locked",
        2,
        Some(Budget::MinAvailable(2)),
    );
    state.add_pool("b", v(29), 2);
    let sim = SimCluster::new(state);
    let config = ExecutorConfig {
        drain: DrainOptions {
            timeout: Duration::from_secs(30 * 60),
            force: false,
        },
        ..ExecutorConfig::default()
    };
    let options = PlanOptions::new(Provider::Eks, Strategy::BlueGreen);
    let (journal, report, _) = run(&sim, options, 30, config).await;
    assert_eq!(report.result, RunResult::Failed);
    let Some(Error::DrainBlocked(blockers)) = report.failure.as_deref() else {
        panic!("{:?}", report.failure);
    };
    assert!(
        blockers.iter().all(|b| b.pdb == "shop/locked-pdb"),
        "{blockers:?}"
    );
    let pools: Vec<String> = sim.state().node_pools.iter().map(|p| p.name.clone()).collect();
    assert!(
        pools.contains(&"b-v1-30".to_string()) && !pools.contains(&"b".to_string()),
        "{pools:?}"
    );
    assert!(
        pools.contains(&"a".to_string()),
        "a keeps its workloads: {pools:?}"
    );
    for (step, outcome) in journal.plan.steps.iter().zip(&report.steps) {
        if step.describe().contains(" b ") || step.node_pool() == Some("b-v1-30") {
            assert_eq!(outcome.outcome, StepOutcome::Done, "{}", outcome.description);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn drains_running_at_once_share_a_budget_without_giving_up() {
    // `web` has pods on both pools and lets one pod go at a time; each eviction holds the
    // budget until the pod is Ready elsewhere (30 s), so the two drains take turns.
    let mut state = SimState::new(Provider::Eks, "c", v(30));
    state.add_pool("a", v(29), 2);
    state.add_pool("b", v(29), 2);
    state.add_workload(
        WorkloadKind::Deployment,
        "shop",
        "web",
        8,
        Some(Budget::MaxUnavailable(1)),
    );
    let sim = SimCluster::new(state);
    let timeout = Duration::from_secs(150);
    let config = ExecutorConfig {
        drain: DrainOptions {
            timeout,
            force: false,
        },
        ..ExecutorConfig::default()
    };
    let options = PlanOptions::new(Provider::Eks, Strategy::BlueGreen);
    let (journal, report, intervals) = run(&sim, options, 30, config).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let drains: Vec<(u64, u64)> = journal
        .plan
        .steps
        .iter()
        .zip(&intervals)
        .filter(|(s, _)| matches!(s, Step::DrainNodePool { .. }))
        .map(|(_, (a, b))| (a.unwrap(), b.unwrap()))
        .collect();
    assert_eq!(drains.len(), 2);
    assert!(
        overlaps(drains[0], drains[1]),
        "the drains ran at once: {drains:?}"
    );
    let longest = drains.iter().map(|d| d.1 - d.0).max().unwrap();
    assert!(
        longest > timeout.as_secs(),
        "a drain took {longest}s, longer than the {}s timeout, without failing",
        timeout.as_secs()
    );
}
