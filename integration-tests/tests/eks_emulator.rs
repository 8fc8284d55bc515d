//! Whole EKS upgrades on moto extended with the calls it lacks (`UpdateClusterVersion`,
//! `UpdateNodegroupVersion`, `DescribeUpdate`, `ListUpdates`, `DescribeClusterVersions`):
//! `integration-tests/moto/eks_server.py`. Every request is checked against the botocore EKS
//! service model moto ships with (an unknown or mistyped field is refused) and responses are
//! serialised through it, so these runs also check kupgrade's requests against AWS's own
//! definition of the API. The executor runs on a real clock with short poll delays.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use kupgrade_core::conformance::{self, Fixture};
use kupgrade_core::{
    ClusterSnapshot, ClusterWorkloads, Executor, ExecutorConfig, Journal, KubeVersion, ManagedCluster,
    PlanOptions, PollPolicy, Provider, Result, RunResult, SkewPolicy, Strategy, UpgradePlan, plan_with,
};
use kupgrade_eks::EksCluster;
use kupgrade_testkit::FakeWorkloads;
use kupgrade_testkit::moto::{Moto, Server, client, create, start_moto};
use serde_json::Value;

/// Short delays: the emulator answers at once and finishes an update on its second poll.
fn fast() -> ExecutorConfig {
    ExecutorConfig {
        poll: PollPolicy {
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            max_retries: 12,
            timeout: Duration::from_secs(60),
        },
        gate_soak: Duration::ZERO,
        gate_timeout: Duration::from_secs(30),
        ..ExecutorConfig::default()
    }
}

/// The in-cluster side: each node group's nodes, Ready at the group's version, read from the
/// emulator's uncounted control (a stand-in for the nodes a Kubernetes API would list); no pods.
fn emulated_nodes(moto: Arc<Moto>, cluster: String) -> FakeWorkloads {
    FakeWorkloads::new(move |pool| {
        let groups: Value =
            serde_json::from_str(&moto.control("GET", &format!("nodegroups?cluster={cluster}"), ""))
                .expect("JSON");
        let group = groups.get(pool).filter(|g| g["status"] != "CREATING")?;
        let kubelet = KubeVersion::parse(group["version"].as_str().unwrap_or_default()).ok()?;
        Some((kubelet, group["desiredSize"].as_u64().unwrap_or(0) as u32))
    })
}

/// A fresh cluster on the emulator per scenario.
struct Emulator {
    moto: Arc<Moto>,
    made: AtomicU32,
}

impl Emulator {
    fn start(test: &str, lag_rule: &'static str) -> Option<Self> {
        Some(Self {
            moto: Arc::new(start_moto(test, Server::Eks { lag_rule })?),
            made: AtomicU32::new(0),
        })
    }

    /// Makes `spec` under its own name; returns the adapter and the in-cluster side.
    async fn make(&self, spec: &ClusterSnapshot) -> (Arc<EksCluster>, Arc<FakeWorkloads>) {
        let name = format!("{}-{}", spec.name, self.made.fetch_add(1, Ordering::SeqCst));
        let client = client(&self.moto);
        create(&client, &name, spec).await;
        let nodes = emulated_nodes(self.moto.clone(), name.clone());
        (Arc::new(EksCluster::new(client, name)), Arc::new(nodes))
    }

    /// EKS calls served so far, per operation.
    fn calls(&self) -> BTreeMap<String, u64> {
        serde_json::from_str(&self.moto.control("GET", "calls", "")).expect("JSON")
    }

    /// Every version update started, as `(node group or "control plane", version)`.
    fn updates(&self) -> Vec<(String, String)> {
        let all: Vec<Value> = serde_json::from_str(&self.moto.control("GET", "updates", "")).expect("JSON");
        all.iter()
            .map(|u| {
                (
                    u["nodegroup"].as_str().unwrap_or("control plane").to_string(),
                    u["version"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// The next `times` calls of `operation` are refused with HTTP `status`.
    fn fail(&self, operation: &str, status: u16, times: u32) {
        self.moto.control(
            "POST",
            "fail",
            &format!(r#"{{"operation": "{operation}", "status": {status}, "times": {times}}}"#),
        );
    }
}

#[async_trait]
impl Fixture for Emulator {
    async fn cluster(
        &self,
        spec: &ClusterSnapshot,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)> {
        let (cluster, nodes) = self.make(spec).await;
        Ok((cluster, nodes))
    }

    fn executor_config(&self) -> ExecutorConfig {
        fast()
    }
}

/// Runs `plan` from its first step with the short delays, without a journal file.
async fn run_plan(
    cluster: &Arc<EksCluster>,
    nodes: &Arc<FakeWorkloads>,
    plan: UpgradePlan,
) -> kupgrade_core::RunReport {
    Executor::new(cluster.clone(), nodes.clone())
        .with_config(fast())
        .run(&mut Journal::new(plan))
        .await
        .unwrap()
}

fn two_groups() -> ClusterSnapshot {
    conformance::spec(Provider::Eks, 29, &[("general", 29, 3), ("batch", 29, 2)])
}

async fn plan(cluster: &EksCluster, to: u32, options: PlanOptions) -> UpgradePlan {
    let live = cluster.describe().await.unwrap();
    plan_with(&live, &KubeVersion::new(1, to), &options).unwrap()
}

fn in_place() -> PlanOptions {
    PlanOptions::new(Provider::Eks, Strategy::InPlace)
}

/// The conformance suite, whole: control-plane hops, refusals, idempotency tokens, and the
/// in-place, blue/green and canary upgrades from 1.29 to 1.32.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eks_on_the_extended_emulator_passes_the_whole_suite() {
    let Some(emulator) = Emulator::start("eks_on_the_extended_emulator_passes_the_whole_suite", "guide")
    else {
        return;
    };
    conformance::run_all(&emulator, Provider::Eks).await.unwrap();
}

/// Runs `plan` in a task, stops it (as a kill would) once `killed_after` version updates were
/// started, then resumes from the journal file; returns the second run's report.
async fn kill_and_resume(
    emulator: &Emulator,
    cluster: Arc<EksCluster>,
    nodes: Arc<FakeWorkloads>,
    plan: UpgradePlan,
    killed_after: usize,
) -> kupgrade_core::RunReport {
    let dir = std::env::temp_dir().join(format!(
        "kupgrade-eks-emulator-{}-{}",
        std::process::id(),
        plan.cluster
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("journal.json");
    let executor = Executor::new(cluster, nodes)
        .with_config(fast())
        .with_journal_path(&path);
    let first = {
        let executor = executor.clone();
        let mut journal = Journal::new(plan);
        tokio::spawn(async move { executor.run(&mut journal).await })
    };
    while emulator.updates().len() < killed_after {
        assert!(!first.is_finished(), "the run ended before it was killed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    let mut journal = Journal::load(&path)
        .unwrap()
        .expect("the killed run left its journal");
    let report = executor.run(&mut journal).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_killed_mid_run_resumes_and_starts_no_update_twice() {
    let Some(emulator) = Emulator::start(
        "in_place_killed_mid_run_resumes_and_starts_no_update_twice",
        "guide",
    ) else {
        return;
    };
    let (cluster, nodes) = emulator.make(&two_groups()).await;
    let plan = plan(&cluster, 32, in_place()).await;
    // Killed while the second control-plane hop runs.
    let report = kill_and_resume(&emulator, cluster.clone(), nodes, plan, 2).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let end = cluster.describe().await.unwrap();
    assert_eq!(end.control_plane.minor(), 32);
    assert!(end.node_pools.iter().all(|p| p.version.minor() == 32), "{end:?}");
    let cp = |v: &str| ("control plane".to_string(), v.to_string());
    let ng = |n: &str| (n.to_string(), "1.32".to_string());
    let mut updates = emulator.updates();
    updates[3..].sort();
    assert_eq!(
        updates,
        [cp("1.30"), cp("1.31"), cp("1.32"), ng("batch"), ng("general")],
        "each update started once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_killed_mid_run_resumes_to_the_target() {
    let Some(emulator) = Emulator::start("blue_green_killed_mid_run_resumes_to_the_target", "guide") else {
        return;
    };
    let (cluster, nodes) = emulator.make(&two_groups()).await;
    let plan = plan(&cluster, 32, PlanOptions::new(Provider::Eks, Strategy::BlueGreen)).await;
    let report = kill_and_resume(&emulator, cluster.clone(), nodes, plan, 3).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let end = cluster.describe().await.unwrap();
    assert_eq!(end.control_plane.minor(), 32);
    let mut pools: Vec<(&str, u32)> = end
        .node_pools
        .iter()
        .map(|p| (p.name.as_str(), p.version.minor()))
        .collect();
    pools.sort_unstable();
    assert_eq!(pools.len(), 2, "the blue groups are deleted: {pools:?}");
    assert!(pools.iter().all(|(_, minor)| *minor == 32), "{pools:?}");
    assert_eq!(emulator.updates().len(), 3, "blue/green moves no group in place");
}

/// ThrottlingException (429) on reads and on a start, and ResourceInUseException (409) on a
/// node-group update, are waited out; the run still starts each update once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_conflicts_are_waited_out() {
    let Some(emulator) = Emulator::start("throttling_and_conflicts_are_waited_out", "guide") else {
        return;
    };
    let (cluster, nodes) = emulator.make(&two_groups()).await;
    let plan = plan(&cluster, 31, in_place()).await;
    emulator.fail("DescribeCluster", 429, 2);
    emulator.fail("UpdateClusterVersion", 429, 1);
    emulator.fail("UpdateNodegroupVersion", 409, 2);
    emulator.fail("DescribeUpdate", 503, 1);
    let report = run_plan(&cluster, &nodes, plan).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    assert_eq!(emulator.updates().len(), 4, "{:?}", emulator.updates());
}

/// An update someone else started is found and waited for, not started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_already_running_is_waited_for_not_started_again() {
    let Some(emulator) = Emulator::start(
        "an_update_already_running_is_waited_for_not_started_again",
        "guide",
    ) else {
        return;
    };
    let (cluster, nodes) = emulator.make(&two_groups()).await;
    let plan = plan(&cluster, 31, in_place()).await;
    client(&emulator.moto)
        .update_cluster_version()
        .name(&plan.cluster)
        .version("1.30")
        .client_request_token("someone-else")
        .send()
        .await
        .unwrap();
    let report = run_plan(&cluster, &nodes, plan).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let cp: Vec<String> = emulator
        .updates()
        .into_iter()
        .filter(|(what, _)| what == "control plane")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(cp, ["1.30", "1.31"], "1.30 was started once, by someone else");
}

/// With the API reference's strict rule, a hop while node groups lag is refused by EKS; the
/// error names the groups and the re-plan, and the plan with pools moved first succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strict_lag_rule_is_named_and_lag_limit_0_plans_around_it() {
    let Some(emulator) = Emulator::start(
        "the_strict_lag_rule_is_named_and_lag_limit_0_plans_around_it",
        "strict",
    ) else {
        return;
    };
    let (cluster, nodes) = emulator.make(&two_groups()).await;
    let guide = plan(&cluster, 31, in_place()).await;
    let report = run_plan(&cluster, &nodes, guide).await;
    assert_eq!(report.result, RunResult::Failed);
    let error = report.error.unwrap_or_default();
    assert!(
        error.contains("batch, general") && error.contains("node lag limit of 0"),
        "{error}"
    );

    let strict = in_place().with_policy(SkewPolicy::for_provider(Provider::Eks).with_lag_limit(0));
    let report = run_plan(&cluster, &nodes, plan(&cluster, 31, strict).await).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
}

/// Cloud calls of an in-place 1.29 -> 1.32 upgrade with two node groups: the plan's snapshot,
/// pre-flight (the operations in flight) and the run. Printed for BENCHMARKS.md, and pinned so
/// a change that adds reads shows here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_per_in_place_upgrade() {
    let Some(emulator) = Emulator::start("calls_per_in_place_upgrade", "guide") else {
        return;
    };
    let (cluster, nodes) = emulator.make(&two_groups()).await;
    let before = emulator.calls();
    let plan = plan(&cluster, 32, in_place()).await;
    // What a run's pre-flight reads besides the plan's snapshot.
    assert!(cluster.operations_in_flight().await.unwrap().is_empty());
    let report = run_plan(&cluster, &nodes, plan).await;
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let after = emulator.calls();
    let made: BTreeMap<&str, u64> = after
        .iter()
        .map(|(op, n)| (op.as_str(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let total: u64 = made.values().sum();
    println!("calls for an in-place 1.29 -> 1.32 upgrade, 2 node groups: {total} {made:?}");
    // Every read is part of one snapshot (cluster, group list, each group once): no step reads
    // a resource its snapshot already read.
    let count = |op: &str| made.get(op).copied().unwrap_or(0);
    assert_eq!(count("DescribeCluster"), count("ListNodegroups"), "{made:?}");
    assert_eq!(
        count("DescribeNodegroup"),
        2 * count("ListNodegroups"),
        "{made:?}"
    );
    // Starts once each; two polls per update (the emulator ends an update on its second).
    assert_eq!(
        (
            count("UpdateClusterVersion"),
            count("UpdateNodegroupVersion"),
            count("DescribeUpdate")
        ),
        (3, 2, 10)
    );
    // Snapshots: the plan's, pre-flight's, one per control-plane hop and node-group step, the
    // final verification (74 calls in all before reads were shared within a step).
    assert_eq!(count("ListNodegroups"), 8, "{made:?}");
}
