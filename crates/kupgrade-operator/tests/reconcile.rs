//! The `UpgradeRun` reconciler against an in-memory Kubernetes API server behind `kube::Client`
//! (the transport is the mock seam) and simulated managed clusters, on a paused tokio clock.
//! Each test drives the reconciler as the controller would (a pass, then time passes) and
//! checks the invariants at every pass: stages in order, concurrency per stage, and no provider
//! operation started twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kupgrade_core::{KubeVersion, OperationKind, Provider};
use kupgrade_operator::fake_api::FakeApi;
use kupgrade_operator::resources::{ClusterPhase, RunPhase, StagePhase, UpgradeRunStatus};
use kupgrade_operator::{Operator, SimClusters, TokioClock, reconcile_named, run_status};
use kupgrade_sim::{PlannedFailure, SimOperation, SimState};
use serde_json::{Value, json};

const NS: &str = "fleet";
const GROUP: &str = "apis/kupgrade.io/v1alpha1";

fn v(minor: u32) -> KubeVersion {
    KubeVersion::new(1, minor)
}

/// A fleet: an API server with clusters, and their simulators.
struct Fleet {
    api: FakeApi,
    sims: Arc<SimClusters>,
}

impl Fleet {
    fn new() -> Self {
        Self {
            api: FakeApi::new(),
            sims: Arc::new(SimClusters::in_memory()),
        }
    }

    /// A simulated EKS-like cluster at 1.29 with two pools of 3 nodes and 6 pods, labelled.
    fn cluster(&self, name: &str, env: &str) -> kupgrade_sim::SimCluster {
        self.api.insert(
            GROUP,
            "managedclusterrefs",
            Some(NS),
            json!({
                "apiVersion": "kupgrade.io/v1alpha1", "kind": "ManagedClusterRef",
                "metadata": {"name": name, "namespace": NS, "labels": {"env": env}},
                "spec": {"provider": "Simulator", "simulator": {"controlPlane": "1.29", "nodePools": 2, "pods": 6}},
            }),
        );
        self.sims
            .insert(NS, name, SimState::generate(Provider::Eks, name, v(29), 2, 6))
    }

    fn strategy(&self, name: &str, stages: Value) {
        self.api.insert(
            GROUP,
            "upgradestrategies",
            Some(NS),
            json!({
                "apiVersion": "kupgrade.io/v1alpha1", "kind": "UpgradeStrategy",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"stages": stages},
            }),
        );
    }

    fn run(&self, name: &str, strategy: &str) {
        self.api.insert(
            GROUP,
            "upgraderuns",
            Some(NS),
            json!({
                "apiVersion": "kupgrade.io/v1alpha1", "kind": "UpgradeRun",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"targetVersion": "1.32", "strategyRef": strategy},
            }),
        );
    }

    fn operator(&self) -> Arc<Operator> {
        Arc::new(
            Operator::new(self.api.client(), self.sims.clone())
                .with_clock(Arc::new(TokioClock::starting_at(chrono::Utc::now()))),
        )
    }

    fn status(&self, run: &str) -> UpgradeRunStatus {
        run_status(&self.api, NS, run).unwrap_or_default()
    }

    /// Changes the run's spec as `kubectl patch` would.
    fn patch_spec(&self, run: &str, spec: Value) {
        let mut object = self.api.get(GROUP, "upgraderuns", Some(NS), run).unwrap();
        for (k, v) in spec.as_object().unwrap() {
            object["spec"][k] = v.clone();
        }
        self.api.insert(GROUP, "upgraderuns", Some(NS), object);
    }

    /// One controller pass, then `step` of simulated time; checks the invariants.
    async fn pass(&self, operator: &Arc<Operator>, run: &str, step: Duration) -> UpgradeRunStatus {
        reconcile_named(operator, NS, run).await.unwrap();
        let status = self.status(run);
        check_invariants(&status);
        self.check_no_operation_repeated();
        tokio::time::sleep(step).await;
        status
    }

    /// Passes until the run leaves Pending/Running or `max` passes went by.
    async fn drive(&self, operator: &Arc<Operator>, run: &str, max: usize) -> UpgradeRunStatus {
        for _ in 0..max {
            let status = self.pass(operator, run, Duration::from_secs(60)).await;
            if !matches!(status.phase, RunPhase::Pending | RunPhase::Running) {
                return status;
            }
        }
        panic!("run {run} did not end in {max} passes: {:#?}", self.status(run));
    }

    /// Grants the approval gate on `gate` (`Before` or `After`) of `stage`.
    fn approve(&self, run: &str, stage: &str, gate: &str, by: &str) {
        self.api.insert(
            GROUP,
            "upgradeapprovals",
            Some(NS),
            json!({
                "apiVersion": "kupgrade.io/v1alpha1", "kind": "UpgradeApproval",
                "metadata": {"name": format!("{run}-{stage}-{}-{by}", gate.to_lowercase()), "namespace": NS},
                "spec": {"run": run, "stage": stage, "gate": gate, "approvedBy": by},
            }),
        );
    }

    /// The reasons of every Kubernetes event published so far.
    fn event_reasons(&self) -> BTreeSet<String> {
        self.api
            .list("apis/events.k8s.io/v1", "events")
            .iter()
            .filter_map(|e| e["reason"].as_str().map(String::from))
            .collect()
    }

    fn sim(&self, name: &str) -> kupgrade_sim::SimCluster {
        self.sims.cluster(NS, name).unwrap()
    }

    /// Every provider operation of the clusters `names`.
    fn operations(&self, names: &[&str]) -> Vec<SimOperation> {
        names
            .iter()
            .flat_map(|n| self.sim(n).state().operations)
            .collect()
    }

    /// No operation was started twice, except again after it failed.
    fn check_no_operation_repeated(&self) {
        let names: Vec<String> = self
            .api
            .list(GROUP, "managedclusterrefs")
            .iter()
            .filter_map(|r| r["metadata"]["name"].as_str().map(String::from))
            .collect();
        for name in names {
            let Some(sim) = self.sims.cluster(NS, &name) else {
                continue;
            };
            let mut seen: BTreeMap<String, bool> = BTreeMap::new();
            for op in sim.state().operations {
                let key = format!("{:?} {:?} {:?}", op.kind, op.node_pool, op.to);
                if let Some(failed_before) = seen.get(&key) {
                    assert!(*failed_before, "cluster {name}: {key} started twice");
                }
                seen.insert(key, op.failure.is_some());
            }
        }
    }
}

/// Stages run in order and within their concurrency; no cluster of a later stage upgrades
/// while a stage before it is open (after a retry reopens a stage, the later stages' clusters
/// that had succeeded stay so).
fn check_invariants(status: &UpgradeRunStatus) {
    let Some(strategy) = &status.strategy else { return };
    for (i, stage) in strategy.stages.iter().enumerate() {
        let upgrading = status
            .clusters
            .iter()
            .filter(|c| c.stage == stage.name && c.phase == ClusterPhase::Upgrading)
            .count() as u32;
        assert!(
            upgrading <= stage.max_concurrent,
            "stage {} runs {upgrading} clusters",
            stage.name
        );
        let earlier_open = status.stages[..i].iter().any(|s| s.phase != StagePhase::Passed);
        if earlier_open {
            assert!(
                status
                    .clusters
                    .iter()
                    .filter(|c| c.stage == stage.name)
                    .all(|c| c.phase != ClusterPhase::Upgrading),
                "stage {} upgrades before the stages before it passed: {status:#?}",
                stage.name
            );
        }
    }
}

fn three_stages() -> Value {
    json!([
        {"name": "dev", "matchLabels": {"env": "dev"}, "maxConcurrent": 2},
        {"name": "staging", "matchLabels": {"env": "staging"}, "maxConcurrent": 2, "soak": "30m",
         "after": [{"postChecks": ["Versions", "NodesReady", "WorkloadsAvailable"]}]},
        {"name": "prod", "matchLabels": {"env": "prod"}, "maxConcurrent": 2, "before": [{"wait": "10m"}]},
    ])
}

#[tokio::test(start_paused = true)]
async fn a_three_stage_run_completes_in_order() {
    let fleet = Fleet::new();
    let names = [
        "dev-a", "dev-b", "stg-a", "stg-b", "stg-c", "prod-a", "prod-b", "prod-c",
    ];
    for n in names {
        fleet.cluster(n, n.split('-').next().unwrap().replace("stg", "staging").as_str());
    }
    fleet.strategy("waves", three_stages());
    fleet.run("to-1-32", "waves");
    let operator = fleet.operator();
    let status = fleet.drive(&operator, "to-1-32", 500).await;

    assert_eq!(status.phase, RunPhase::Succeeded, "{status:#?}");
    assert_eq!(status.progress.as_deref(), Some("8/8"));
    assert!(status.stages.iter().all(|s| s.phase == StagePhase::Passed));
    assert_eq!(
        status.strategy.as_ref().unwrap().stages.len(),
        3,
        "strategy frozen into the status"
    );
    for n in names {
        let snapshot = fleet.sim(n).state();
        assert_eq!(snapshot.control_plane.minor(), 32, "{n}");
        assert!(snapshot.node_pools.iter().all(|p| p.version.minor() == 32), "{n}");
        let c = status.cluster(n).unwrap();
        assert_eq!((c.phase, c.attempts), (ClusterPhase::Succeeded, 1), "{n}");
        assert!(
            c.operations_started > 0 && c.operations_in_flight.is_empty(),
            "{n}: {c:?}"
        );
        // The claim is released with the journal: the cluster may join another run.
        let r = fleet.api.get(GROUP, "managedclusterrefs", Some(NS), n).unwrap();
        assert_eq!(r["status"]["upgrade"]["outcome"], "Succeeded", "{n}");
        assert!(
            r["status"]["upgrade"].get("journal").is_none_or(Value::is_null),
            "{n}"
        );
    }
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.status, "True");
    let reasons = fleet.event_reasons();
    for reason in [
        "Started",
        "StageStarted",
        "GatePassed",
        "ClusterSucceeded",
        "StagePassed",
        "Succeeded",
    ] {
        assert!(reasons.contains(reason), "no {reason} event in {reasons:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_approval_gate_holds_until_granted() {
    let fleet = Fleet::new();
    fleet.cluster("dev-a", "dev");
    fleet.cluster("prod-a", "prod");
    fleet.strategy(
        "gated",
        json!([
            {"name": "dev", "matchLabels": {"env": "dev"}},
            {"name": "prod", "matchLabels": {"env": "prod"},
             "before": [{"approval": {"message": "change ticket CHG-1 approved?"}}]},
        ]),
    );
    fleet.run("gated-run", "gated");
    let operator = fleet.operator();
    // Long enough for dev to finish; prod then waits, however long.
    let mut status = UpgradeRunStatus::default();
    for _ in 0..400 {
        status = fleet.pass(&operator, "gated-run", Duration::from_secs(30)).await;
    }
    assert_eq!(status.phase, RunPhase::Running);
    assert_eq!(status.cluster("dev-a").unwrap().phase, ClusterPhase::Succeeded);
    assert_eq!(status.cluster("prod-a").unwrap().phase, ClusterPhase::Pending);
    assert_eq!(status.stages[1].phase, StagePhase::GatingBefore);
    assert!(
        fleet.sim("prod-a").state().operations.is_empty(),
        "prod changed before approval"
    );
    let waiting = status
        .conditions
        .iter()
        .find(|c| c.type_ == "WaitingForApproval")
        .unwrap();
    assert_eq!(waiting.status, "True");
    assert!(
        waiting.message.contains("stage: prod, gate: Before"),
        "{}",
        waiting.message
    );
    assert!(waiting.message.contains("CHG-1"), "{}", waiting.message);
    assert!(fleet.event_reasons().contains("AwaitingApproval"));

    // An approval for another stage or side does not open it.
    fleet.approve("gated-run", "prod", "After", "wrong-side");
    fleet.approve("gated-run", "dev", "Before", "wrong-stage");
    let status = fleet.pass(&operator, "gated-run", Duration::from_secs(30)).await;
    assert_eq!(status.stages[1].phase, StagePhase::GatingBefore);

    fleet.approve("gated-run", "prod", "Before", "alice");
    let status = fleet.drive(&operator, "gated-run", 500).await;
    assert_eq!(status.phase, RunPhase::Succeeded, "{status:#?}");
    let waiting = status
        .conditions
        .iter()
        .find(|c| c.type_ == "WaitingForApproval")
        .unwrap();
    assert_eq!(waiting.status, "False");
}

/// A simulated cluster whose first node-pool upgrade fails when it ends.
fn failing(fleet: &Fleet, name: &str, env: &str) {
    fleet
        .cluster(name, env)
        .edit(|s| {
            s.faults.fail_operations.push(PlannedFailure {
                kind: OperationKind::UpgradeNodePool,
                node_pool: None,
                message: "simulated: instance type unavailable".into(),
            })
        })
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn failures_within_the_threshold_continue_and_beyond_it_stop() {
    // Within: one of three fails, maxFailures 1; the next stage still runs.
    let fleet = Fleet::new();
    failing(&fleet, "dev-a", "dev");
    fleet.cluster("dev-b", "dev");
    fleet.cluster("dev-c", "dev");
    fleet.cluster("prod-a", "prod");
    fleet.strategy(
        "tolerant",
        json!([
            {"name": "dev", "matchLabels": {"env": "dev"}, "maxConcurrent": 3, "maxFailures": 1},
            {"name": "prod", "matchLabels": {"env": "prod"}},
        ]),
    );
    fleet.run("tolerant-run", "tolerant");
    let operator = fleet.operator();
    let status = fleet.drive(&operator, "tolerant-run", 500).await;
    assert_eq!(status.cluster("dev-a").unwrap().phase, ClusterPhase::Failed);
    assert!(
        status
            .cluster("dev-a")
            .unwrap()
            .message
            .as_deref()
            .unwrap()
            .contains("instance type unavailable")
    );
    assert_eq!(
        status.cluster("prod-a").unwrap().phase,
        ClusterPhase::Succeeded,
        "{status:#?}"
    );
    assert!(status.stages.iter().all(|s| s.phase == StagePhase::Passed));
    // Every stage passed, but not every cluster: the run says so and waits for a retry.
    assert_eq!(status.phase, RunPhase::Failed);
    assert_eq!(status.progress.as_deref(), Some("3/4 (1 failed)"));
    // Retrying it reopens its stage (which had passed) and the stages after it.
    fleet.patch_spec("tolerant-run", json!({"retryFailed": 1}));
    let status = fleet.drive(&operator, "tolerant-run", 500).await;
    assert_eq!(status.phase, RunPhase::Succeeded, "{status:#?}");
    assert_eq!(status.cluster("dev-a").unwrap().attempts, 2);
    assert_eq!(status.cluster("dev-a").unwrap().phase, ClusterPhase::Succeeded);
    assert_eq!(fleet.sim("dev-a").state().control_plane.minor(), 32);
    assert_eq!(
        status.cluster("prod-a").unwrap().attempts,
        1,
        "a passed cluster is not redone"
    );

    // Beyond: two of three fail, maxFailures 1; the next stage never starts.
    let fleet = Fleet::new();
    failing(&fleet, "dev-a", "dev");
    failing(&fleet, "dev-b", "dev");
    fleet.cluster("dev-c", "dev");
    fleet.cluster("prod-a", "prod");
    fleet.strategy(
        "strict",
        json!([
            {"name": "dev", "matchLabels": {"env": "dev"}, "maxConcurrent": 3, "maxFailures": 1},
            {"name": "prod", "matchLabels": {"env": "prod"}},
        ]),
    );
    fleet.run("strict-run", "strict");
    let operator = fleet.operator();
    let status = fleet.drive(&operator, "strict-run", 500).await;
    assert_eq!(status.phase, RunPhase::Failed);
    assert_eq!(status.stages[0].phase, StagePhase::Failed);
    let message = status.stages[0].message.clone().unwrap();
    assert!(
        message.contains("2 cluster(s) failed (dev-a, dev-b), over the stage's maxFailures of 1"),
        "{message}"
    );
    assert_eq!(status.cluster("prod-a").unwrap().phase, ClusterPhase::Pending);
    assert!(fleet.sim("prod-a").state().operations.is_empty());
    let stalled = status.conditions.iter().find(|c| c.type_ == "Stalled").unwrap();
    assert_eq!(stalled.status, "True");
    assert!(fleet.event_reasons().contains("ClusterFailed"));

    // A retry runs the failed clusters again with the same settings, resuming their journals:
    // the failed step alone is repeated (its operation failed), nothing else.
    let before: Vec<_> = fleet.operations(&["dev-a", "dev-b"]);
    fleet.patch_spec("strict-run", json!({"retryFailed": 1}));
    let status = fleet.drive(&operator, "strict-run", 500).await;
    assert_eq!(status.phase, RunPhase::Succeeded, "{status:#?}");
    for n in ["dev-a", "dev-b"] {
        assert_eq!(status.cluster(n).unwrap().attempts, 2);
    }
    let after = fleet.operations(&["dev-a", "dev-b"]);
    let hops_before = before
        .iter()
        .filter(|o| o.kind == OperationKind::UpgradeControlPlane)
        .count();
    let hops_after = after
        .iter()
        .filter(|o| o.kind == OperationKind::UpgradeControlPlane)
        .count();
    assert_eq!(
        hops_before, hops_after,
        "a retry repeated a control-plane hop that had succeeded"
    );
}

#[tokio::test(start_paused = true)]
async fn stop_halts_and_run_resumes_without_repeating_an_operation() {
    let fleet = Fleet::new();
    for n in ["dev-a", "dev-b", "dev-c"] {
        fleet.cluster(n, "dev");
    }
    fleet.strategy(
        "one",
        json!([{"name": "dev", "matchLabels": {"env": "dev"}, "maxConcurrent": 2}]),
    );
    fleet.run("r", "one");
    let operator = fleet.operator();
    // Until some provider operation is in flight.
    let mut status = UpgradeRunStatus::default();
    for _ in 0..200 {
        status = fleet.pass(&operator, "r", Duration::from_secs(5)).await;
        if status.clusters.iter().any(|c| !c.operations_in_flight.is_empty()) {
            break;
        }
    }
    let in_flight: Vec<_> = status
        .clusters
        .iter()
        .flat_map(|c| c.operations_in_flight.clone())
        .collect();
    assert!(!in_flight.is_empty(), "no operation seen in flight: {status:#?}");

    fleet.patch_spec("r", json!({"state": "Stop"}));
    let stopped = fleet.pass(&operator, "r", Duration::from_secs(5)).await;
    assert_eq!(stopped.phase, RunPhase::Stopped);
    assert_eq!(operator.workers_running(), 0);
    let operations_at_stop = fleet.operations(&["dev-a", "dev-b", "dev-c"]).len();
    for _ in 0..100 {
        let s = fleet.pass(&operator, "r", Duration::from_secs(60)).await;
        assert_eq!(s.phase, RunPhase::Stopped);
    }
    assert_eq!(
        fleet.operations(&["dev-a", "dev-b", "dev-c"]).len(),
        operations_at_stop,
        "an operation started while stopped"
    );
    assert_eq!(
        fleet.sim("dev-c").state().operations.len(),
        0,
        "dev-c started while stopped"
    );
    assert!(fleet.event_reasons().contains("Stopped"));

    fleet.patch_spec("r", json!({"state": "Run"}));
    let status = fleet.drive(&operator, "r", 500).await;
    assert_eq!(status.phase, RunPhase::Succeeded, "{status:#?}");
    assert!(fleet.event_reasons().contains("Resumed"));
    // The operations in flight at the stop were waited for, not started again.
    let ids: BTreeSet<String> = ["dev-a", "dev-b"]
        .iter()
        .flat_map(|n| fleet.sim(n).state().operations.into_iter().map(|o| o.id))
        .collect();
    for op in in_flight {
        assert!(ids.contains(&op.operation));
    }
}

#[tokio::test(start_paused = true)]
async fn a_restarted_operator_resumes_from_the_resources_alone() {
    let fleet = Fleet::new();
    for n in ["dev-a", "dev-b", "prod-a", "prod-b"] {
        fleet.cluster(n, n.split('-').next().unwrap());
    }
    fleet.strategy(
        "two",
        json!([
            {"name": "dev", "matchLabels": {"env": "dev"}, "maxConcurrent": 2},
            {"name": "prod", "matchLabels": {"env": "prod"}, "maxConcurrent": 2},
        ]),
    );
    fleet.run("r", "two");
    let first = fleet.operator();
    let mut status = UpgradeRunStatus::default();
    for _ in 0..2000 {
        status = fleet.pass(&first, "r", Duration::from_secs(7)).await;
        let prod_in_flight = status
            .clusters
            .iter()
            .any(|c| c.stage == "prod" && !c.operations_in_flight.is_empty());
        if prod_in_flight {
            break;
        }
    }
    assert!(
        status
            .clusters
            .iter()
            .any(|c| c.stage == "prod" && !c.operations_in_flight.is_empty())
    );
    // The process dies: its workers stop where they are, its memory is gone.
    first.set_leader(false);
    drop(first);

    let second = fleet.operator();
    let status = fleet.drive(&second, "r", 500).await;
    assert_eq!(status.phase, RunPhase::Succeeded, "{status:#?}");
    for c in &status.clusters {
        assert_eq!(c.attempts, 1, "{}: a restart is not a retry", c.name);
    }
    // The same number of operations as an uninterrupted run: 3 hops + 2 pools x 3 minors... as
    // planned; none repeated (checked at every pass), all ended.
    for n in ["dev-a", "dev-b", "prod-a", "prod-b"] {
        let ops = fleet.sim(n).state().operations;
        assert!(ops.iter().all(|o| o.ended), "{n}");
        assert_eq!(
            ops.iter()
                .filter(|o| o.kind == OperationKind::UpgradeControlPlane)
                .count(),
            3,
            "{n}"
        );
    }
}

/// Whether every cluster of the run has a provider operation in flight.
fn all_in_flight(status: &UpgradeRunStatus) -> bool {
    !status.clusters.is_empty() && status.clusters.iter().all(|c| !c.operations_in_flight.is_empty())
}

#[tokio::test(start_paused = true)]
async fn leadership_lost_mid_run_passes_the_run_to_the_other_replica() {
    use kupgrade_operator::leader::{LeaseSettings, lead};

    let fleet = Fleet::new();
    for n in ["dev-a", "dev-b", "dev-c"] {
        fleet.cluster(n, "dev");
    }
    fleet.strategy(
        "one",
        json!([{"name": "dev", "matchLabels": {"env": "dev"}, "maxConcurrent": 3}]),
    );
    fleet.run("r", "one");
    let replica = |client: kube::Client| {
        Arc::new(
            Operator::new(client, fleet.sims.clone())
                .with_clock(Arc::new(TokioClock::starting_at(chrono::Utc::now()))),
        )
    };
    let (client_a, cut_a) = fleet.api.cuttable_client();
    let (client_b, _) = fleet.api.cuttable_client();
    let (a, b) = (replica(client_a.clone()), replica(client_b.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let settings = |who: &str| LeaseSettings::new("kupgrade-system", "kupgrade-operator", who);
    tokio::spawn(lead(
        client_a,
        settings("replica-a"),
        a.clone(),
        shutdown(stopped.clone()),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::spawn(lead(
        client_b,
        settings("replica-b"),
        b.clone(),
        shutdown(stopped.clone()),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(a.is_leader() && !b.is_leader());

    // Replica A works until operations are in flight on every cluster; B only watches.
    let mut status = UpgradeRunStatus::default();
    for _ in 0..200 {
        reconcile_named(&b, NS, "r").await.unwrap();
        status = fleet.pass(&a, "r", Duration::from_secs(5)).await;
        if all_in_flight(&status) {
            break;
        }
    }
    assert!(all_in_flight(&status), "{status:#?}");
    assert_eq!(fleet.operations(&["dev-a", "dev-b", "dev-c"]).len(), 3);
    assert_eq!(b.workers_running(), 0);

    // A is cut off from the API server: it cannot renew, so it steps down within its renew
    // deadline (10 s), before the lease (15 s) lets B take over. Never two leaders.
    cut_a.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut took_over = None;
    for second in 0..60 {
        let _ = reconcile_named(&a, NS, "r").await; // fails: A is cut off
        reconcile_named(&b, NS, "r").await.unwrap();
        assert!(
            !(a.is_leader() && b.is_leader()),
            "two leaders at second {second}"
        );
        if !a.is_leader() {
            assert_eq!(a.workers_running(), 0, "A stepped down but its workers run on");
        }
        if b.is_leader() && took_over.is_none() {
            took_over = Some(second);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let took_over = took_over.expect("B never took over");
    assert!((10..=25).contains(&took_over), "B took over after {took_over} s");

    // B finishes the run from the resources alone; A, reachable again, stays a follower.
    cut_a.store(false, std::sync::atomic::Ordering::SeqCst);
    let status = fleet.drive(&b, "r", 500).await;
    assert_eq!(status.phase, RunPhase::Succeeded, "{status:#?}");
    assert!(!a.is_leader());
    for c in &status.clusters {
        assert_eq!(c.phase, ClusterPhase::Succeeded, "{}", c.name);
    }
    let lease = fleet
        .api
        .get(
            "apis/coordination.k8s.io/v1",
            "leases",
            Some("kupgrade-system"),
            "kupgrade-operator",
        )
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    let _ = stop.send(true);
}

#[tokio::test(start_paused = true)]
async fn deleting_a_run_stops_its_workers_and_frees_its_clusters() {
    let fleet = Fleet::new();
    fleet.cluster("dev-a", "dev");
    fleet.cluster("dev-b", "dev");
    fleet.strategy(
        "one",
        json!([{"name": "dev", "matchLabels": {"env": "dev"}, "maxConcurrent": 2}]),
    );
    fleet.run("r", "one");
    let operator = fleet.operator();
    for _ in 0..200 {
        if all_in_flight(&fleet.pass(&operator, "r", Duration::from_secs(5)).await) {
            break;
        }
    }
    assert_eq!(operator.workers_running(), 2);
    let runs = kube::Api::<kupgrade_operator::resources::UpgradeRun>::namespaced(fleet.api.client(), NS);
    runs.delete("r", &Default::default()).await.unwrap();
    // The finalizer holds the run until the operator has cleaned up.
    assert!(fleet.api.get(GROUP, "upgraderuns", Some(NS), "r").is_some());
    reconcile_named(&operator, NS, "r").await.unwrap();
    assert!(fleet.api.get(GROUP, "upgraderuns", Some(NS), "r").is_none());
    assert_eq!(operator.workers_running(), 0);
    for n in ["dev-a", "dev-b"] {
        let r = fleet.api.get(GROUP, "managedclusterrefs", Some(NS), n).unwrap();
        assert!(r["status"]["upgrade"].is_null(), "{n} still claimed: {r}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_post_check_gate_with_nothing_upgraded_fails() {
    let fleet = Fleet::new();
    failing(&fleet, "dev-a", "dev");
    fleet.cluster("prod-a", "prod");
    fleet.strategy(
        "checked",
        json!([
            {"name": "dev", "matchLabels": {"env": "dev"}, "maxFailures": 1,
             "after": [{"postChecks": ["Versions"]}]},
            {"name": "prod", "matchLabels": {"env": "prod"}},
        ]),
    );
    fleet.run("r", "checked");
    let operator = fleet.operator();
    let status = fleet.drive(&operator, "r", 500).await;
    assert_eq!(status.phase, RunPhase::Failed);
    assert_eq!(status.stages[0].phase, StagePhase::Failed);
    let message = status.stages[0].message.clone().unwrap();
    assert!(message.contains("no cluster of the stage upgraded"), "{message}");
    assert_eq!(status.cluster("prod-a").unwrap().phase, ClusterPhase::Pending);
}
