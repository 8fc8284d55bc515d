//! Blue/green cluster swaps and fleet rollouts on the simulator, on paused tokio time.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use kupgrade_core::cluster_swap::{ClusterHandle, ClusterSwap, SwapOptions};
use kupgrade_core::fleet::{FleetRunner, FleetSpec};
use kupgrade_core::{KubeVersion, OperationKind, Provider, RunResult, StepOutcome};
use kupgrade_sim::{CrashPlan, PlannedFailure, SimCluster, SimFleetConnector, SimState, SimStore};

fn v(minor: u32) -> KubeVersion {
    KubeVersion::new(1, minor)
}

fn blue() -> SimCluster {
    SimCluster::new(SimState::demo())
}

fn handle(sim: &SimCluster) -> ClusterHandle {
    ClusterHandle {
        name: sim.state().name,
        cluster: Arc::new(sim.clone()),
        workloads: Arc::new(sim.clone()),
    }
}

fn app_pods(state: &SimState) -> usize {
    state
        .pods
        .iter()
        .filter(|p| p.workload != "kube-proxy" && p.node.is_some())
        .count()
}

#[tokio::test(start_paused = true)]
async fn blue_green_cluster_swap_moves_all_traffic_to_a_new_cluster() {
    let blue = blue();
    let hooks = kupgrade_sim::SimSwap::new(blue.clone());
    let options = SwapOptions {
        decommission_blue: true,
        ..SwapOptions::default()
    };
    let report = ClusterSwap::new(handle(&blue), &hooks, options)
        .run(&v(32))
        .await
        .unwrap();
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    assert_eq!(hooks.green_percent(), 100);
    let green = hooks.green().unwrap().state();
    assert_eq!(green.name, "demo-eks-v1-32");
    assert_eq!(green.control_plane, v(32));
    assert!(green.node_pools.iter().all(|p| p.version == v(32)));
    assert_eq!(app_pods(&green), app_pods(&blue.state()));
    assert_eq!(hooks.decommissioned(), ["demo-eks"]);
    assert!(
        blue.state().operations.is_empty(),
        "blue itself was never changed"
    );
}

#[tokio::test(start_paused = true)]
async fn blue_is_kept_without_the_explicit_flag() {
    let blue = blue();
    let hooks = kupgrade_sim::SimSwap::new(blue.clone());
    let report = ClusterSwap::new(handle(&blue), &hooks, SwapOptions::default())
        .run(&v(31))
        .await
        .unwrap();
    assert_eq!(report.result, RunResult::Succeeded);
    let last = report.steps.last().unwrap();
    assert_eq!(last.outcome, StepOutcome::Skipped);
    assert!(
        last.note
            .as_deref()
            .unwrap()
            .contains("deleting it was not asked for")
    );
    assert!(hooks.decommissioned().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_gate_at_half_traffic_rolls_back_to_blue_with_nothing_lost() {
    let blue = blue();
    let before = app_pods(&blue.state());
    let hooks = kupgrade_sim::SimSwap::new(blue.clone()).with_traffic_failure_at(50);
    let options = SwapOptions {
        decommission_blue: true,
        ..SwapOptions::default()
    };
    let report = ClusterSwap::new(handle(&blue), &hooks, options)
        .run(&v(32))
        .await
        .unwrap();
    assert_eq!(report.result, RunResult::RolledBack);
    assert!(
        report.error.as_deref().unwrap().contains("at 50% of traffic"),
        "{:?}",
        report.error
    );
    assert_eq!(hooks.green_percent(), 0, "all traffic back on blue");
    assert!(hooks.decommissioned().is_empty(), "blue is never touched");
    let state = blue.state();
    assert_eq!(app_pods(&state), before);
    assert!(state.health(blue.now()).is_healthy());
    let gate = report
        .steps
        .iter()
        .find(|s| s.outcome == StepOutcome::RolledBack)
        .unwrap();
    assert_eq!(gate.step.describe(), "gate: green healthy at 50% of traffic");
}

fn fleet(prod: usize) -> FleetSpec {
    let cluster = |name: String| kupgrade_core::fleet::FleetCluster {
        name,
        provider: "sim".into(),
        to: None,
        strategy: None,
        settings: Default::default(),
    };
    let wave = |name: &str, n: usize, concurrency: usize| kupgrade_core::fleet::WaveSpec {
        name: name.into(),
        concurrency,
        soak_minutes: 30,
        clusters: (0..n).map(|i| cluster(format!("{name}-{i}"))).collect(),
    };
    FleetSpec {
        name: "platform".into(),
        to: Some(v(32)),
        strategy: None,
        waves: vec![wave("dev", 2, 2), wave("staging", 2, 2), wave("prod", prod, 1)],
    }
}

fn stores(spec: &FleetSpec, edit: impl Fn(&str, &mut SimState)) -> Vec<(String, SimStore)> {
    spec.waves
        .iter()
        .flat_map(|w| &w.clusters)
        .map(|c| {
            let mut state = SimState::generate(Provider::Eks, &c.name, v(29), 2, 6);
            edit(&c.name, &mut state);
            let store = SimStore::memory();
            store.save(&state).unwrap();
            (c.name.clone(), store)
        })
        .collect()
}

fn connector(stores: &[(String, SimStore)]) -> SimFleetConnector {
    stores
        .iter()
        .fold(SimFleetConnector::new("."), |c, (name, store)| {
            c.with_store(name, store.clone())
        })
}

#[tokio::test(start_paused = true)]
async fn a_failing_production_cluster_halts_the_rollout() {
    let spec = fleet(3);
    let stores = stores(&spec, |name, s| {
        if name == "prod-0" {
            s.faults.fail_operations.push(PlannedFailure {
                kind: OperationKind::UpgradeControlPlane,
                node_pool: None,
                message: "InvalidStateException: upgrade readiness insight ERROR".into(),
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let report = FleetRunner::new(Arc::new(connector(&stores)), dir.path())
        .run(&spec)
        .await
        .unwrap();
    assert!(!report.succeeded);
    assert!(
        report
            .halted
            .as_deref()
            .unwrap()
            .contains("wave 'prod' failed its gate"),
        "{:?}",
        report.halted
    );
    let statuses: Vec<&str> = report.waves.iter().map(|w| w.status).collect();
    assert_eq!(statuses, ["passed", "passed", "failed"]);
    for (name, store) in &stores {
        let state = store.load().unwrap().unwrap();
        match name.as_str() {
            "prod-1" | "prod-2" => assert!(state.operations.is_empty(), "{name} must be untouched"),
            "prod-0" => assert_eq!(state.control_plane, v(29)),
            _ => assert_eq!(state.control_plane, v(32), "{name}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_crash_mid_fleet_resumes_without_repeating_operations() {
    let spec = fleet(2);
    // A clean run counts the fleet's mutations.
    let clean = stores(&spec, |_, _| {});
    let counter = Arc::new(AtomicU64::new(0));
    let plan = CrashPlan {
        counter: counter.clone(),
        at: u64::MAX,
        hook: Arc::new(|| {}),
    };
    let dir = tempfile::tempdir().unwrap();
    let report = FleetRunner::new(Arc::new(connector(&clean).with_crash_plan(plan)), dir.path())
        .run(&spec)
        .await
        .unwrap();
    assert!(report.succeeded);
    let total = counter.load(std::sync::atomic::Ordering::SeqCst);
    let expected: Vec<usize> = clean
        .iter()
        .map(|(_, s)| s.load().unwrap().unwrap().operations.len())
        .collect();

    for at in [1, total / 3, total / 2, total - 1] {
        let stores = stores(&spec, |_, _| {});
        let dir = tempfile::tempdir().unwrap();
        let plan = CrashPlan {
            counter: Arc::new(AtomicU64::new(0)),
            at,
            hook: Arc::new(|| panic!("simulated crash")),
        };
        let (s, d, c) = (
            spec.clone(),
            dir.path().to_path_buf(),
            connector(&stores).with_crash_plan(plan),
        );
        let crashed = tokio::spawn(async move { FleetRunner::new(Arc::new(c), d).run(&s).await }).await;
        assert!(crashed.is_err_and(|e| e.is_panic()), "crash at {at}");
        let report = FleetRunner::new(Arc::new(connector(&stores)), dir.path())
            .run(&spec)
            .await
            .unwrap();
        assert!(
            report.succeeded,
            "resume after crash at {at}: {:?}",
            report.halted
        );
        for ((name, store), want) in stores.iter().zip(&expected) {
            let state = store.load().unwrap().unwrap();
            assert_eq!(state.control_plane, v(32), "{name}");
            let keys: BTreeSet<String> = state
                .operations
                .iter()
                .map(|o| format!("{:?} {:?} {:?}", o.kind, o.node_pool, o.to))
                .collect();
            assert_eq!(
                keys.len(),
                state.operations.len(),
                "{name}: an operation repeated after crash at {at}"
            );
            assert_eq!(state.operations.len(), *want, "{name}");
        }
    }
}
