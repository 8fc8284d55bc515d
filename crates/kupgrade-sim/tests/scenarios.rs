//! End-to-end scenarios on paused tokio time: every strategy on EKS-, AKS- and GKE-like
//! clusters, blocking PDBs, throttling storms, failed operations, failed gates, and crashes
//! after every possible mutation followed by a resume.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use kupgrade_core::checks::Severity;
use kupgrade_core::{
    Error, Event, Executor, ExecutorConfig, Journal, KubeVersion, OperationKind, PlanOptions,
    PoolUpgradeOptions, Provider, RunReport, RunResult, StepOutcome, Strategy, plan_with,
};
use kupgrade_sim::{Budget, PlannedFailure, SimCluster, SimState, SimStore, WorkloadKind};

fn v(minor: u32) -> KubeVersion {
    KubeVersion::new(1, minor)
}

fn executor(sim: &SimCluster) -> Executor {
    Executor::new(Arc::new(sim.clone()), Arc::new(sim.clone()))
}

fn journal_for(sim: &SimCluster, to: u32, strategy: Strategy) -> Journal {
    let snapshot = sim.state().snapshot();
    Journal::new(plan_with(&snapshot, &v(to), &PlanOptions::new(snapshot.provider, strategy)).unwrap())
}

async fn upgrade(sim: &SimCluster, to: u32, strategy: Strategy) -> RunReport {
    let mut journal = journal_for(sim, to, strategy);
    executor(sim).run(&mut journal).await.unwrap()
}

/// Every (kind, pool, target) started at most once.
fn assert_no_operation_repeats(state: &SimState) {
    let mut seen = BTreeSet::new();
    for op in &state.operations {
        let key = (
            format!("{:?}", op.kind),
            op.node_pool.clone(),
            op.to.clone().map(|v| v.to_string()),
        );
        assert!(
            seen.insert(key.clone()),
            "operation started twice: {key:?} in {:#?}",
            state.operations
        );
    }
}

fn assert_at(state: &SimState, minor: u32) {
    assert_eq!(state.control_plane, v(minor));
    for pool in &state.node_pools {
        assert_eq!(pool.version, v(minor), "pool {}", pool.name);
    }
    for node in &state.nodes {
        assert_eq!(node.kubelet, v(minor), "node {}", node.name);
    }
    assert!(
        state.health(state.clock_secs + 3600).is_healthy(),
        "{:?}",
        state.health(state.clock_secs + 3600)
    );
}

#[tokio::test(start_paused = true)]
async fn every_strategy_on_every_provider_1_29_to_1_32() {
    for provider in Provider::ALL {
        for strategy in [Strategy::InPlace, Strategy::BlueGreen, Strategy::Canary] {
            let sim = SimCluster::new(SimState::generate(provider, "c", v(29), 3, 24));
            let report = upgrade(&sim, 32, strategy).await;
            assert_eq!(
                report.result,
                RunResult::Succeeded,
                "{provider} {strategy}: {:?}",
                report.error
            );
            let state = sim.state();
            assert_at(&state, 32);
            assert_no_operation_repeats(&state);
            assert_eq!(report.operations_started as usize, state.operations.len());
            let app_pods = state.pods.iter().filter(|p| p.workload != "kube-proxy").count();
            assert_eq!(app_pods, 24, "no pod lost");
            // GKE nodes may lag 2 minors, so 1.29 -> 1.32 costs a second rollout per pool there.
            let rollouts = if provider == Provider::Gke { 6 } else { 3 };
            let expected_ops = 3 + rollouts * if strategy == Strategy::BlueGreen { 2 } else { 1 };
            assert_eq!(state.operations.len(), expected_ops, "{provider} {strategy}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn simulated_time_is_close_to_real_life() {
    let sim = SimCluster::new(SimState::demo());
    let report = upgrade(&sim, 32, Strategy::InPlace).await;
    assert_eq!(report.result, RunResult::Succeeded);
    // Three 15-minute hops, then the three pools at once (EKS runs node-group updates of one
    // cluster side by side): the longest is 4 node replacements of 4 minutes.
    let lower_bound = 3 * 900 + 4 * 240;
    assert!(report.seconds >= lower_bound, "{}", report.seconds);
    assert!(
        report.seconds <= lower_bound * 105 / 100,
        "{} vs {lower_bound}",
        report.seconds
    );
}

fn blocking_cluster(provider: Provider) -> SimState {
    let mut s = SimState::generate(provider, "c", v(31), 2, 9);
    s.add_workload(
        WorkloadKind::Deployment,
        "billing",
        "invoicer",
        2,
        Some(Budget::MinAvailable(2)),
    );
    s
}

#[tokio::test(start_paused = true)]
async fn a_blocking_pdb_is_named_before_anything_changes() {
    let sim = SimCluster::new(blocking_cluster(Provider::Eks));
    let prepared = kupgrade_core::Upgrade::new(Arc::new(sim.clone()))
        .with_workloads(Arc::new(sim.clone()))
        .with_today(chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap())
        .prepare(&v(32), &kupgrade_core::PrepareOptions::new(Strategy::InPlace))
        .await
        .unwrap();
    let findings = prepared.findings();
    let pdb: Vec<_> = findings.iter().filter(|f| f.id == "KUP-PDB-001").collect();
    assert_eq!(pdb.len(), 2, "both invoicer pods: {findings:#?}");
    assert!(pdb.iter().all(|f| f.severity == Severity::Blocker));
    assert!(
        pdb[0].message.contains("billing/invoicer-pdb") && pdb[0].message.contains("billing/invoicer-"),
        "{}",
        pdb[0].message
    );
    assert!(sim.state().operations.is_empty(), "preflight changes nothing");
}

#[tokio::test(start_paused = true)]
async fn an_in_place_upgrade_through_a_blocking_pdb_fails_with_the_pod_and_pdb() {
    let sim = SimCluster::new(blocking_cluster(Provider::Eks));
    let report = upgrade(&sim, 32, Strategy::InPlace).await;
    assert_eq!(report.result, RunResult::Failed);
    let err = report.error.unwrap();
    assert!(
        err.contains("PodEvictionFailure") && err.contains("billing/invoicer-pdb"),
        "{err}"
    );
    let state = report.final_state.unwrap();
    assert_eq!(state.control_plane, v(32), "the report says where the cluster is");
}

#[tokio::test(start_paused = true)]
async fn a_blue_green_drain_stops_at_the_pdb_and_evicts_nothing_it_protects() {
    let sim = SimCluster::new(blocking_cluster(Provider::Gke));
    let report = upgrade(&sim, 32, Strategy::BlueGreen).await;
    assert_eq!(report.result, RunResult::Failed);
    let err = report.error.unwrap();
    assert!(err.starts_with("drain blocked: pod billing/invoicer-"), "{err}");
    assert!(err.contains("PodDisruptionBudget billing/invoicer-pdb"), "{err}");
    let state = sim.state();
    let ready = state
        .pods
        .iter()
        .filter(|p| p.workload == "invoicer" && p.node.is_some())
        .count();
    assert_eq!(ready, 2, "no protected pod was evicted");
    assert!(state.health(sim.now() + 60).workloads_unavailable.is_empty());
}

#[tokio::test(start_paused = true)]
async fn force_drain_goes_past_the_pdb_only_when_asked() {
    let sim = SimCluster::new(blocking_cluster(Provider::Gke));
    let mut journal = journal_for(&sim, 32, Strategy::BlueGreen);
    let mut config = ExecutorConfig::default();
    config.drain.force = true;
    let report = executor(&sim)
        .with_config(config)
        .run(&mut journal)
        .await
        .unwrap();
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    assert_at(&sim.state(), 32);
}

#[tokio::test(start_paused = true)]
async fn a_throttling_storm_is_ridden_out() {
    let sim = SimCluster::new(SimState::generate(Provider::Aks, "c", v(30), 2, 6));
    sim.edit(|s| s.faults.throttle_next = 25).unwrap();
    let retries = Arc::new(Mutex::new(0));
    let r = retries.clone();
    let mut journal = journal_for(&sim, 31, Strategy::InPlace);
    let report = executor(&sim)
        .with_events(Arc::new(move |e| {
            if let Event::Retrying { .. } = e {
                *r.lock().unwrap() += 1;
            }
        }))
        .run(&mut journal)
        .await
        .unwrap();
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    assert!(*retries.lock().unwrap() >= 25);
    assert_no_operation_repeats(&sim.state());
}

#[tokio::test(start_paused = true)]
async fn an_operation_failure_mid_way_is_reported_and_a_rerun_finishes() {
    let sim = SimCluster::new(SimState::generate(Provider::Eks, "c", v(29), 2, 6));
    sim.edit(|s| {
        s.faults.fail_operations.push(PlannedFailure {
            kind: OperationKind::UpgradeNodePool,
            node_pool: Some("general".into()),
            message: "NodeCreationFailure: Instances failed to join the kubernetes cluster".into(),
        })
    })
    .unwrap();
    let mut journal = journal_for(&sim, 32, Strategy::InPlace);
    let report = executor(&sim).run(&mut journal).await.unwrap();
    assert_eq!(report.result, RunResult::Failed);
    assert!(
        report.error.as_deref().unwrap().contains("NodeCreationFailure"),
        "{:?}",
        report.error
    );
    let failed = report
        .steps
        .iter()
        .position(|s| s.outcome == StepOutcome::Failed)
        .unwrap();
    assert!(report.steps[failed].description.contains("general"));
    let state = report.final_state.unwrap();
    assert_eq!(state.control_plane, v(32));
    assert_eq!(state.pool("general").unwrap().version, v(29));
    assert_eq!(state.pool("system").unwrap().version, v(32));

    let again = executor(&sim).run(&mut journal).await.unwrap();
    assert_eq!(again.result, RunResult::Succeeded, "{:?}", again.error);
    assert_eq!(again.operations_started, 1, "only the failed step runs again");
    assert_at(&sim.state(), 32);
}

#[tokio::test(start_paused = true)]
async fn a_failed_blue_green_gate_rolls_back_to_the_old_pool() {
    // Workloads without PDBs drain freely onto the new pool, then crash there.
    let mut state = SimState::new(Provider::Eks, "c", v(31));
    state.add_pool("system", v(31), 3);
    state.add_workload(WorkloadKind::Deployment, "shop", "web", 4, None);
    state.add_workload(WorkloadKind::StatefulSet, "shop", "db", 2, None);
    state.faults.crash_pods_from = Some(v(32));
    let sim = SimCluster::new(state);
    let report = upgrade(&sim, 32, Strategy::BlueGreen).await;
    assert_eq!(report.result, RunResult::RolledBack, "{:?}", report.error);
    assert!(report.error.as_deref().unwrap().contains("gate failed"));
    let state = sim.state();
    let names: Vec<&str> = state.node_pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["system"], "the new pool is deleted");
    assert!(
        state.nodes.iter().all(|n| !n.unschedulable),
        "the old pool is uncordoned"
    );
    assert!(
        state.health(state.clock_secs + 600).is_healthy(),
        "{:?}",
        state.health(state.clock_secs + 600)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_canary_gate_stops_before_the_other_pools() {
    let sim = SimCluster::new(SimState::generate(Provider::Aks, "c", v(31), 3, 9));
    sim.edit(|s| {
        s.faults.crash_pods_from = Some(v(32));
        s.node_pools[2].nodes = 1;
    })
    .unwrap();
    let report = upgrade(&sim, 32, Strategy::Canary).await;
    assert_eq!(report.result, RunResult::Failed);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("gate failed: canary user2"),
        "{:?}",
        report.error
    );
    let state = sim.state();
    assert_eq!(
        state.node_pools.iter().filter(|p| p.version == v(32)).count(),
        1,
        "only the canary moved"
    );
}

#[tokio::test(start_paused = true)]
async fn an_operation_in_progress_is_waited_for() {
    let sim = SimCluster::new(SimState::generate(Provider::Gke, "c", v(31), 1, 3));
    // Someone else started the control-plane upgrade already.
    let other = kupgrade_core::RequestToken("someone-else".into());
    kupgrade_core::ManagedCluster::upgrade_control_plane(&sim, &v(32), &other)
        .await
        .unwrap();
    let report = upgrade(&sim, 32, Strategy::InPlace).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    assert_eq!(
        report.operations_started, 1,
        "the running control-plane upgrade was resumed, not repeated"
    );
    assert_no_operation_repeats(&sim.state());
}

#[tokio::test(start_paused = true)]
async fn the_simulator_enforces_provider_rules() {
    let sim = SimCluster::new(SimState::generate(Provider::Eks, "c", v(29), 1, 3));
    let t = |s: &str| kupgrade_core::RequestToken(s.into());
    use kupgrade_core::ManagedCluster;
    let err = sim.upgrade_control_plane(&v(31), &t("a")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidTransition { .. }) && !err.is_retryable());
    assert!(
        err.to_string().contains(
            "InvalidParameterException: Unsupported Kubernetes minor version update from 1.29 to 1.31"
        ),
        "{err}"
    );
    let err = sim
        .upgrade_node_pool(
            "system",
            &v(30),
            &PoolUpgradeOptions::new(Default::default()),
            &t("b"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("newer than the control plane"), "{err}");
    let err = sim
        .upgrade_node_pool(
            "nope",
            &v(29),
            &PoolUpgradeOptions::new(Default::default()),
            &t("c"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node pool 'nope' not found; cluster c has no such pool"
    );
    let first = sim.upgrade_control_plane(&v(30), &t("d")).await.unwrap();
    assert_eq!(
        sim.upgrade_control_plane(&v(30), &t("d")).await.unwrap(),
        first,
        "same token, same operation"
    );
    let busy = sim
        .upgrade_node_pool(
            "system",
            &v(29),
            &PoolUpgradeOptions::new(Default::default()),
            &t("e"),
        )
        .await
        .unwrap_err();
    assert!(busy.is_retryable() || matches!(busy, Error::InvalidTransition { .. }));
    let busy = sim.upgrade_control_plane(&v(31), &t("f")).await.unwrap_err();
    assert!(matches!(busy, Error::OperationInProgress { .. }), "{busy}");
    assert!(busy.to_string().contains("ResourceInUseException"), "{busy}");
}

#[tokio::test(start_paused = true)]
async fn a_strict_pool_rule_refuses_the_guide_plan_half_way_and_a_lag_0_replan_finishes() {
    let sim = SimCluster::new(SimState::generate(Provider::Eks, "c", v(29), 2, 6));
    sim.edit(|s| s.rules.pools_must_match_before_hop = true).unwrap();
    // The default plan follows the EKS user guide: pools wait at 1.29 until the end.
    let report = upgrade(&sim, 32, Strategy::InPlace).await;
    assert_eq!(report.result, RunResult::Failed);
    let error = report.error.as_deref().unwrap();
    assert!(
        error.contains("to 1.31") && error.contains("1.30") && error.contains("node lag limit of 0"),
        "{error}"
    );
    let state = report.final_state.unwrap();
    assert_eq!(state.control_plane, v(30), "the first hop went through");
    // Re-planned from the cluster as it is, with every pool moved before each hop.
    let snapshot = sim.state().snapshot();
    let options = PlanOptions::new(Provider::Eks, Strategy::InPlace)
        .with_policy(kupgrade_core::SkewPolicy::for_provider(Provider::Eks).with_lag_limit(0));
    let mut journal = Journal::new(plan_with(&snapshot, &v(32), &options).unwrap());
    let again = executor(&sim).run(&mut journal).await.unwrap();
    assert_eq!(again.result, RunResult::Succeeded, "{:?}", again.error);
    assert_at(&sim.state(), 32);
}

#[tokio::test(start_paused = true)]
async fn the_offer_is_the_calendar_or_the_state_list_with_previews_marked() {
    use kupgrade_core::ManagedCluster;
    let sim = SimCluster::new(SimState::generate(Provider::Aks, "c", v(29), 1, 3));
    let calendar = sim.offered_versions().await.unwrap();
    assert!(calendar.iter().all(|o| !o.preview && o.support.is_some()));
    assert!(calendar.iter().any(|o| o.version == v(32)));
    sim.edit(|s| {
        s.rules.offered = vec![v(30), v(31), v(32)];
        s.rules.preview = vec![v(32)];
    })
    .unwrap();
    let listed = sim.offered_versions().await.unwrap();
    let minors: Vec<(u32, bool)> = listed.iter().map(|o| (o.version.minor(), o.preview)).collect();
    assert_eq!(minors, [(30, false), (31, false), (32, true)]);
}

/// Runs the demo upgrade with a crash after mutation `n`; returns whether it crashed.
async fn crash_at(
    state: SimState,
    store: SimStore,
    n: u64,
    journal_path: &std::path::Path,
    strategy: Strategy,
) -> bool {
    let sim = SimCluster::crash_after(state, store, n, Arc::new(|| panic!("simulated crash")));
    let path = journal_path.to_path_buf();
    let task = tokio::spawn(async move {
        let mut journal = match Journal::load(&path).unwrap() {
            Some(j) => j,
            None => journal_for(&sim, 32, strategy),
        };
        executor(&sim)
            .with_journal_path(&path)
            .run(&mut journal)
            .await
            .unwrap()
    });
    match task.await {
        Ok(report) => {
            assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
            false
        }
        Err(e) if e.is_panic() => true,
        Err(e) => panic!("{e}"),
    }
}

async fn crash_and_resume_at_every_mutation(strategy: Strategy) {
    let initial = SimState::generate(Provider::Eks, "c", v(29), 2, 6);
    // A clean run counts the mutations.
    let clean = SimCluster::new(initial.clone());
    upgrade(&clean, 32, strategy).await;
    let total = clean.mutations();
    let expected_ops = clean.state().operations.len();
    assert!(total >= 10, "{total}");
    // The run is parallel: EKS runs the two node groups' operations side by side.
    let ops = clean.state().operations;
    let side_by_side = ops.iter().enumerate().any(|(i, a)| {
        ops[i + 1..].iter().any(|b| {
            a.node_pool.is_some()
                && b.node_pool.is_some()
                && a.started_at < b.ends_at
                && b.started_at < a.ends_at
        })
    });
    assert!(
        side_by_side,
        "{strategy}: pool operations overlap in the clean run"
    );
    for n in 1..=total {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.json");
        let store = SimStore::memory();
        store.save(&initial).unwrap();
        let crashed = crash_at(initial.clone(), store.clone(), n, &journal, strategy).await;
        assert!(crashed, "mutation {n} of {total} should crash");
        // Restart: reload what was persisted, rerun the same command.
        let resumed = store.load().unwrap().unwrap();
        let crashed_again = crash_at(resumed, store.clone(), u64::MAX, &journal, strategy).await;
        assert!(!crashed_again);
        let state = store.load().unwrap().unwrap();
        assert_at(&state, 32);
        assert_no_operation_repeats(&state);
        assert_eq!(
            state.operations.len(),
            expected_ops,
            "crash at {n}: {:#?}",
            state.operations
        );
    }
}

#[tokio::test(start_paused = true)]
async fn crash_after_every_mutation_then_resume_in_place() {
    crash_and_resume_at_every_mutation(Strategy::InPlace).await;
}

#[tokio::test(start_paused = true)]
async fn crash_after_every_mutation_then_resume_blue_green() {
    crash_and_resume_at_every_mutation(Strategy::BlueGreen).await;
}

fn canary_pool_journal(sim: &SimCluster) -> Journal {
    let snapshot = sim.state().snapshot();
    let opts = PlanOptions::new(snapshot.provider, Strategy::Canary).with_canary_new_pool(true);
    Journal::new(plan_with(&snapshot, &v(32), &opts).unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_canary_pool_proves_the_version_then_goes() {
    let sim = SimCluster::new(SimState::generate(Provider::Eks, "c", v(31), 2, 9));
    let report = executor(&sim).run(&mut canary_pool_journal(&sim)).await.unwrap();
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let state = sim.state();
    assert_at(&state, 32);
    let names: Vec<&str> = state.node_pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["system", "general"], "the canary pool is gone");
    assert_no_operation_repeats(&state);
}

#[tokio::test(start_paused = true)]
async fn a_failed_canary_pool_gate_is_rolled_back_and_no_real_pool_moves() {
    let sim = SimCluster::new(SimState::generate(Provider::Eks, "c", v(31), 2, 9));
    sim.edit(|s| s.faults.unstable_nodes_from = Some(v(32))).unwrap();
    let report = executor(&sim).run(&mut canary_pool_journal(&sim)).await.unwrap();
    assert_eq!(report.result, RunResult::RolledBack, "{:?}", report.error);
    assert!(
        report.error.as_deref().unwrap().contains("NotReady"),
        "{:?}",
        report.error
    );
    let state = sim.state();
    let pools: Vec<(&str, u32)> = state
        .node_pools
        .iter()
        .map(|p| (p.name.as_str(), p.version.minor()))
        .collect();
    assert_eq!(
        pools,
        [("system", 31), ("general", 31)],
        "canary pool deleted, real pools untouched"
    );
    assert!(
        state.health(sim.now()).is_healthy(),
        "{:?}",
        state.health(sim.now())
    );
}
