//! The conformance suite against `AksCluster` wired to the stateful mock ARM server
//! (`kupgrade-aks` feature `mock-arm`). Requests go through the real azure_core pipeline and
//! reach the mock through an injected in-process `HttpClient`, so the executor's hours of
//! polling and gate soaks run on a paused tokio clock (the socket path is covered by the
//! crate's own wiremock tests and by the first test here). The mock keeps clusters and agent
//! pools, runs each change as a long-running operation behind `Azure-AsyncOperation` or
//! `Location`, answers 409 while one runs and rejects illegal version changes like AKS. Its
//! bodies are the official 2026-08-01 examples, and it refuses (and records) any write that
//! lacks `If-Match` with the current eTag or sends a property the spec lacks or marks
//! read-only, so every run here also checks kupgrade's writes against the spec.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use kupgrade_core::conformance::{self, Fixture};
use kupgrade_core::{
    ClusterSnapshot, ClusterWorkloads, Executor, Journal, KubeVersion, ManagedCluster, PlanOptions, Provider,
    Result, RunResult, Strategy, plan_with,
};
use kupgrade_testkit::arm_mock::{self, MockArm};

struct ArmFixture {
    arm: Arc<MockArm>,
    next: AtomicUsize,
}

impl ArmFixture {
    async fn new() -> Self {
        Self {
            arm: Arc::new(MockArm::start().await),
            next: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Fixture for ArmFixture {
    async fn cluster(
        &self,
        spec: &ClusterSnapshot,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)> {
        // A fresh cluster per scenario, on the same server.
        let name = format!("{}-{}", spec.name, self.next.fetch_add(1, Ordering::Relaxed));
        self.arm
            .add_cluster(&name, &format!("1.{}", spec.control_plane.minor()));
        for pool in &spec.node_pools {
            self.arm.add_pool(
                &name,
                &pool.name,
                &format!("1.{}", pool.version.minor()),
                pool.nodes,
            );
        }
        let cluster = self.arm.in_process_builder(&name).build()?;
        let workloads = arm_mock::nodes(self.arm.clone(), &name);
        Ok((Arc::new(cluster), Arc::new(workloads)))
    }
}

#[tokio::test]
async fn the_socket_path_describes_and_refuses_like_aks() {
    let f = ArmFixture::new().await;
    let spec = conformance::spec(Provider::Aks, 30, &[("alpha", 30, 1)]);
    let name = "socket";
    f.arm.add_cluster(name, "1.30");
    f.arm.add_pool(name, "alpha", "1.30", 1);
    let cluster = f.arm.builder(name).build().unwrap();
    let snap = cluster.describe().await.unwrap();
    assert_eq!(
        (snap.control_plane.minor(), snap.node_pools.len()),
        (30, spec.node_pools.len())
    );
    let err = cluster
        .upgrade_control_plane(
            &KubeVersion::new(1, 32),
            &kupgrade_core::RequestToken("skip".into()),
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
}

#[tokio::test(start_paused = true)]
async fn aks_on_the_mock_arm_server_passes_the_suite() {
    let f = ArmFixture::new().await;
    conformance::run_all(&f, Provider::Aks).await.unwrap();
    assert!(f.arm.violations().is_empty(), "{:?}", f.arm.violations());
    let updates = f
        .arm
        .write_preconditions()
        .into_iter()
        .filter(|(path, _)| path.contains("/managedClusters/"))
        .count();
    assert!(updates > 0, "the suite wrote to the mock");
}

#[tokio::test(start_paused = true)]
async fn blue_green_on_the_mock_arm_server_replaces_every_pool() {
    let f = ArmFixture::new().await;
    conformance::full_upgrade(&f, Provider::Aks, Strategy::BlueGreen)
        .await
        .unwrap();
    let requests = f.arm.requests().await;
    let created = requests
        .iter()
        .filter(|(m, p, _)| {
            m == "PUT" && p.contains("/agentPools/") && !p.ends_with("/alpha") && !p.ends_with("/beta")
        })
        .count();
    let deleted = requests.iter().filter(|(m, _, _)| m == "DELETE").count();
    assert_eq!(
        (created, deleted),
        (2, 2),
        "one new pool per old pool, old pools deleted"
    );
    assert!(f.arm.violations().is_empty(), "{:?}", f.arm.violations());
}

/// ARM requests of an in-place 1.29 -> 1.32 upgrade with two agent pools (pre-flight's
/// operation listing and the run), by method and resource kind, printed for BENCHMARKS.md.
/// Polls of long-running operations are counted apart from reads of the cluster and pools.
#[tokio::test(start_paused = true)]
async fn calls_per_in_place_upgrade() {
    let f = ArmFixture::new().await;
    let spec = conformance::spec(Provider::Aks, 29, &[("alpha", 29, 2), ("beta", 29, 1)]);
    let (cluster, workloads) = f.cluster(&spec).await.unwrap();
    let plan = plan_with(
        &cluster.describe().await.unwrap(),
        &KubeVersion::new(1, 32),
        &PlanOptions::new(Provider::Aks, Strategy::InPlace),
    )
    .unwrap();
    assert!(cluster.operations_in_flight().await.unwrap().is_empty());
    let mut journal = Journal::new(plan);
    let report = Executor::new(cluster, workloads).run(&mut journal).await.unwrap();
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let mut calls: std::collections::BTreeMap<String, u32> = Default::default();
    for (method, path, _) in f.arm.requests().await {
        let path = path.split('?').next().unwrap_or_default();
        let kind = if path.contains("/operations/") || path.contains("Operations/") {
            "operation poll"
        } else if path.ends_with("/agentPools") {
            "agent pools"
        } else if path.contains("/agentPools/") {
            "agent pool"
        } else {
            "cluster"
        };
        *calls.entry(format!("{method} {kind}")).or_default() += 1;
    }
    let total: u32 = calls.values().sum();
    println!("calls for an in-place 1.29 -> 1.32 upgrade, 2 pools: {total} {calls:?}");
    assert!(f.arm.violations().is_empty(), "{:?}", f.arm.violations());
    // Every read belongs to one snapshot (the cluster and its pool list): each PUT sends the
    // eTag and body its step's snapshot read (46 calls in all before).
    let count = |k: &str| calls.get(k).copied().unwrap_or(0);
    assert_eq!(count("GET cluster"), count("GET agent pools"), "{calls:?}");
    assert_eq!(count("GET agent pool"), 0, "{calls:?}");
    assert_eq!((count("PUT cluster"), count("PUT agent pool")), (3, 2));
}
