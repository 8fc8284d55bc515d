//! The shared conformance suite (kupgrade-core, feature `conformance`) against `GkeCluster`,
//! wired with `ClusterManager::from_stub` to a stateful fake GKE API.
//!
//! The fake speaks GKE's request and response types and keeps the cluster's state machine in
//! the simulator (virtual-time operations, one operation per cluster, GKE skew rules, nodes
//! replaced by rollouts). It translates the other way from the adapter: GKE requests into
//! simulator calls, simulator state into GKE `Cluster`/`NodePool`/`Operation` messages, and the
//! simulator's refusals into the status codes GKE sends (`FAILED_PRECONDITION` with
//! `CLUSTER_ALREADY_HAS_OPERATION`, `NOT_FOUND`, `RESOURCE_EXHAUSTED`, ...). The fake drops
//! idempotency tokens (GKE has none), so `same_token_starts_one_operation` tests the adapter's
//! own idempotency. It counts the calls it serves and can refuse the next calls of a method
//! with a status code (429 `RESOURCE_EXHAUSTED`, 409 `ABORTED`, `CLUSTER_ALREADY_HAS_OPERATION`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use google_cloud_container_v1::client::ClusterManager;
use google_cloud_container_v1::model::{self, operation::Status, operation::Type};
use google_cloud_container_v1::stub;
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, Status as RpcStatus, StatusDetails};
use google_cloud_gax::options::RequestOptions;
use google_cloud_gax::response::Response;
use kupgrade_core::conformance::{self, Fixture};
use kupgrade_core::{
    ClusterSnapshot, ClusterWorkloads, Error, Executor, Journal, KubeVersion, ManagedCluster, NodePoolSpec,
    OperationId, OperationKind, OperationState, PlanOptions, PoolUpgradeOptions, Provider, RequestToken,
    Result, RolloutSettings, RunReport, RunResult, Strategy, Taint, UpgradePlan, plan_with,
};
use kupgrade_gke::{GkeCluster, GkeClusterBuilder};
use kupgrade_sim::{Budget, SimCluster, SimState, WorkloadKind};

type GaxResult<T> = google_cloud_container_v1::Result<Response<T>>;

const PARENT: &str = "projects/p/locations/europe-west1";
const ZONE: &str = "europe-west1-b";

/// A refusal queued for the next calls of a method: its code, GKE's reason, how many times.
type Fault = (Code, Option<&'static str>, u32);

/// The calls a fake served, per method, and the refusals queued for the next calls.
#[derive(Debug, Default)]
struct CallLog {
    calls: Mutex<BTreeMap<&'static str, u64>>,
    faults: Mutex<HashMap<&'static str, Fault>>,
}

impl CallLog {
    /// The next `times` calls of `method` fail with `code` (and GKE's `reason`, if any).
    fn fail(&self, method: &'static str, code: Code, reason: Option<&'static str>, times: u32) {
        self.faults.lock().unwrap().insert(method, (code, reason, times));
    }

    fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.calls.lock().unwrap().clone()
    }

    fn count(&self, method: &str) -> u64 {
        self.calls().get(method).copied().unwrap_or(0)
    }
}

/// A GKE API for one cluster, backed by the simulator.
#[derive(Debug)]
struct SimGke {
    sim: SimCluster,
    cluster: String,
    tokens: AtomicU64,
    log: Arc<CallLog>,
}

impl SimGke {
    /// Counts a call of `method`, and refuses it when a fault is queued for it.
    fn enter(&self, method: &'static str) -> std::result::Result<(), GaxError> {
        *self.log.calls.lock().unwrap().entry(method).or_default() += 1;
        let mut faults = self.log.faults.lock().unwrap();
        match faults.get_mut(method) {
            Some((code, reason, times)) if *times > 0 => {
                *times -= 1;
                Err(gke_error(
                    *code,
                    format!("injected by the test: {method} refused"),
                    *reason,
                ))
            }
            _ => Ok(()),
        }
    }

    fn cluster_path(&self) -> String {
        format!("{PARENT}/clusters/{}", self.cluster)
    }

    /// A fresh token per call: GKE has no idempotency key, so the simulator must not dedupe.
    fn token(&self) -> RequestToken {
        RequestToken(format!(
            "gke-call-{}",
            self.tokens.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn check_cluster(&self, name: &str) -> std::result::Result<(), GaxError> {
        if name == self.cluster_path() || name.starts_with(&format!("{}/", self.cluster_path())) {
            Ok(())
        } else {
            Err(gke_error(Code::NotFound, format!("Not found: {name}."), None))
        }
    }

    fn pool_name<'a>(&self, name: &'a str) -> std::result::Result<&'a str, GaxError> {
        self.check_cluster(name)?;
        name.rsplit_once("/nodePools/")
            .map(|(_, pool)| pool)
            .ok_or_else(|| {
                gke_error(
                    Code::InvalidArgument,
                    format!("not a node pool name: {name}"),
                    None,
                )
            })
    }

    fn operation(&self, op: &kupgrade_core::Operation) -> model::Operation {
        let (status, error) = match &op.state {
            OperationState::Pending => (Status::Pending, None),
            OperationState::Running => (Status::Running, None),
            OperationState::Succeeded => (Status::Done, None),
            OperationState::Failed(message) => (
                Status::Done,
                Some(
                    google_cloud_rpc::model::Status::new()
                        .set_code(13)
                        .set_message(message.clone()),
                ),
            ),
            OperationState::Cancelled => (
                Status::Done,
                Some(
                    google_cloud_rpc::model::Status::new()
                        .set_code(1)
                        .set_message("cancelled"),
                ),
            ),
            other => panic!("the simulator reported an unexpected {other:?}"),
        };
        let kind = match op.kind {
            OperationKind::UpgradeControlPlane => Type::UpgradeMaster,
            OperationKind::UpgradeNodePool => Type::UpgradeNodes,
            OperationKind::CreateNodePool => Type::CreateNodePool,
            OperationKind::DeleteNodePool => Type::DeleteNodePool,
            other => panic!("the simulator started an unexpected {other:?}"),
        };
        let target = match &op.node_pool {
            Some(pool) => format!("{}/nodePools/{pool}", self.cluster_path()),
            None => self.cluster_path(),
        };
        let mut out = model::Operation::new()
            .set_name(op.id.0.clone())
            .set_operation_type(kind)
            .set_status(status)
            .set_location("europe-west1")
            .set_target_link(format!("https://container.googleapis.com/v1/{target}"));
        out.error = error;
        out
    }

    async fn started(&self, result: Result<OperationId>) -> GaxResult<model::Operation> {
        let id = result.map_err(to_gke)?;
        let op = self.sim.operation(&id).await.map_err(to_gke)?;
        Ok(Response::from(self.operation(&op)))
    }

    fn pool_message(pool: &kupgrade_core::NodePool) -> model::NodePool {
        let status = match pool.status {
            kupgrade_core::ResourceStatus::Ready => model::node_pool::Status::Running,
            kupgrade_core::ResourceStatus::Updating => model::node_pool::Status::Reconciling,
            kupgrade_core::ResourceStatus::Creating => model::node_pool::Status::Provisioning,
            kupgrade_core::ResourceStatus::Deleting => model::node_pool::Status::Stopping,
            kupgrade_core::ResourceStatus::Failed => model::node_pool::Status::Error,
            _ => model::node_pool::Status::Unspecified,
        };
        let taints = pool.taints.iter().map(|t| {
            let effect = match t.effect.as_str() {
                "NoExecute" => model::node_taint::Effect::NoExecute,
                "PreferNoSchedule" => model::node_taint::Effect::PreferNoSchedule,
                _ => model::node_taint::Effect::NoSchedule,
            };
            model::NodeTaint::new()
                .set_key(t.key.clone())
                .set_value(t.value.clone().unwrap_or_default())
                .set_effect(effect)
        });
        model::NodePool::new()
            .set_name(pool.name.clone())
            .set_version(gke_version(&pool.version))
            .set_initial_node_count(pool.nodes as i32)
            .set_locations([ZONE])
            .set_status(status)
            .set_etag(format!("{}-{}", pool.name, pool.version))
            .set_config(
                model::NodeConfig::new()
                    .set_machine_type("e2-standard-4")
                    .set_image_type("COS_CONTAINERD")
                    .set_labels(pool.labels.clone())
                    .set_taints(taints),
            )
            .set_upgrade_settings(
                model::node_pool::UpgradeSettings::new()
                    .set_strategy(model::NodePoolUpdateStrategy::Surge)
                    .set_max_surge(pool.rollout.max_surge as i32)
                    .set_max_unavailable(pool.rollout.max_unavailable as i32),
            )
    }
}

/// GKE spells versions with a patch and a `-gke.N` build.
fn gke_version(v: &KubeVersion) -> String {
    format!("{}.{}.{}-gke.1000", v.major(), v.minor(), v.patch().unwrap_or(0))
}

fn gke_error(code: Code, message: String, reason: Option<&str>) -> GaxError {
    let mut status = RpcStatus::default().set_code(code).set_message(message);
    if let Some(reason) = reason {
        status = status.set_details([StatusDetails::ErrorInfo(
            google_cloud_rpc::model::ErrorInfo::new()
                .set_reason(reason)
                .set_domain("container.googleapis.com"),
        )]);
    }
    GaxError::service(status)
}

/// The status GKE answers with for what the simulator refused.
fn to_gke(e: Error) -> GaxError {
    let message = e.to_string();
    match e {
        Error::NotFound { .. } => gke_error(Code::NotFound, message, None),
        Error::OperationInProgress { .. } => gke_error(
            Code::FailedPrecondition,
            format!("Cluster is running incompatible operation: {message}"),
            Some("CLUSTER_ALREADY_HAS_OPERATION"),
        ),
        Error::Throttled { .. } => gke_error(Code::ResourceExhausted, message, None),
        Error::Transient { .. } => gke_error(Code::Unavailable, message, None),
        Error::InvalidVersion { .. } | Error::InvalidInput { .. } => {
            gke_error(Code::InvalidArgument, message, None)
        }
        _ => gke_error(Code::FailedPrecondition, message, None),
    }
}

fn parse_version(s: &str) -> std::result::Result<KubeVersion, GaxError> {
    KubeVersion::parse(s).map_err(to_gke)
}

impl stub::ClusterManager for SimGke {
    async fn get_cluster(
        &self,
        req: model::GetClusterRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Cluster> {
        self.enter("GetCluster")?;
        self.check_cluster(&req.name)?;
        let snap = self.sim.describe().await.map_err(to_gke)?;
        let status = match snap.status {
            kupgrade_core::ResourceStatus::Updating => model::cluster::Status::Reconciling,
            _ => model::cluster::Status::Running,
        };
        Ok(Response::from(
            model::Cluster::new()
                .set_name(self.cluster.clone())
                .set_current_master_version(gke_version(&snap.control_plane))
                .set_status(status)
                .set_locations([ZONE])
                .set_node_pools(snap.node_pools.iter().map(SimGke::pool_message)),
        ))
    }

    async fn get_node_pool(
        &self,
        req: model::GetNodePoolRequest,
        _: RequestOptions,
    ) -> GaxResult<model::NodePool> {
        self.enter("GetNodePool")?;
        let name = self.pool_name(&req.name)?;
        let snap = self.sim.describe().await.map_err(to_gke)?;
        snap.pool(name)
            .map(|p| Response::from(SimGke::pool_message(p)))
            .ok_or_else(|| gke_error(Code::NotFound, format!("Node pool \"{name}\" not found."), None))
    }

    async fn update_master(
        &self,
        req: model::UpdateMasterRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.enter("UpdateMaster")?;
        self.check_cluster(&req.name)?;
        let to = parse_version(&req.master_version)?;
        let result = self.sim.upgrade_control_plane(&to, &self.token()).await;
        self.started(result).await
    }

    async fn update_node_pool(
        &self,
        req: model::UpdateNodePoolRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.enter("UpdateNodePool")?;
        let pool = self.pool_name(&req.name)?;
        if req.image_type.is_empty() {
            return Err(gke_error(
                Code::InvalidArgument,
                "image_type is required".into(),
                None,
            ));
        }
        let to = parse_version(&req.node_version)?;
        let settings = req.upgrade_settings.clone().unwrap_or_default();
        let rollout = RolloutSettings {
            max_surge: settings.max_surge.max(0) as u32,
            max_unavailable: settings.max_unavailable.max(0) as u32,
            ..RolloutSettings::default()
        };
        let result = self
            .sim
            .upgrade_node_pool(
                pool,
                &to,
                &PoolUpgradeOptions::new(rollout.clone()),
                &self.token(),
            )
            .await;
        self.started(result).await
    }

    async fn create_node_pool(
        &self,
        req: model::CreateNodePoolRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.enter("CreateNodePool")?;
        self.check_cluster(&req.parent)?;
        let pool = req
            .node_pool
            .ok_or_else(|| gke_error(Code::InvalidArgument, "node_pool is required".into(), None))?;
        let snap = self.sim.describe().await.map_err(to_gke)?;
        // GKE gets a full pool config; the simulator clones an existing pool's.
        let clone_of = snap
            .node_pools
            .first()
            .map(|p| p.name.clone())
            .ok_or_else(|| gke_error(Code::FailedPrecondition, "cluster has no pool".into(), None))?;
        let config = pool.config.clone().unwrap_or_default();
        let spec = NodePoolSpec {
            name: pool.name.clone(),
            clone_of,
            version: parse_version(&pool.version)?,
            nodes: pool.initial_node_count.max(0) as u32 * pool.locations.len().max(1) as u32,
            labels: config.labels.into_iter().collect(),
            taints: config
                .taints
                .iter()
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: (!t.value.is_empty()).then(|| t.value.clone()),
                    effect: match t.effect {
                        model::node_taint::Effect::NoExecute => "NoExecute".into(),
                        model::node_taint::Effect::PreferNoSchedule => "PreferNoSchedule".into(),
                        _ => "NoSchedule".into(),
                    },
                })
                .collect(),
        };
        let result = self.sim.create_node_pool(&spec, &self.token()).await;
        self.started(result).await
    }

    async fn delete_node_pool(
        &self,
        req: model::DeleteNodePoolRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.enter("DeleteNodePool")?;
        let pool = self.pool_name(&req.name)?;
        let result = self.sim.delete_node_pool(pool, &self.token()).await;
        self.started(result).await
    }

    async fn get_operation(
        &self,
        req: model::GetOperationRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.enter("GetOperation")?;
        let id = req
            .name
            .strip_prefix(&format!("{PARENT}/operations/"))
            .ok_or_else(|| {
                gke_error(
                    Code::InvalidArgument,
                    format!("bad operation name {}", req.name),
                    None,
                )
            })?;
        let op = self
            .sim
            .operation(&OperationId(id.to_string()))
            .await
            .map_err(to_gke)?;
        Ok(Response::from(self.operation(&op)))
    }

    async fn list_operations(
        &self,
        req: model::ListOperationsRequest,
        _: RequestOptions,
    ) -> GaxResult<model::ListOperationsResponse> {
        self.enter("ListOperations")?;
        assert_eq!(req.parent, PARENT);
        let ops = self.sim.operations_in_flight().await.map_err(to_gke)?;
        Ok(Response::from(
            model::ListOperationsResponse::new().set_operations(ops.iter().map(|o| self.operation(o))),
        ))
    }
}

/// A `GkeCluster` on a fresh fake shaped like `spec`, its in-cluster side, and the fake's log.
async fn fake_gke(spec: &ClusterSnapshot) -> Result<(GkeCluster, SimCluster, Arc<CallLog>)> {
    let mut state = SimState::new(Provider::Gke, &spec.name, spec.control_plane.clone());
    for pool in &spec.node_pools {
        state.add_pool(&pool.name, pool.version.clone(), pool.nodes);
    }
    state.add_workload(
        WorkloadKind::Deployment,
        "app",
        "web",
        3,
        Some(Budget::MaxUnavailable(1)),
    );
    let sim = SimCluster::new(state);
    let log = Arc::new(CallLog::default());
    let fake = SimGke {
        sim: sim.clone(),
        cluster: spec.name.clone(),
        tokens: AtomicU64::new(0),
        log: log.clone(),
    };
    let gke = GkeClusterBuilder::new()
        .with_project("p")
        .with_location("europe-west1")
        .with_cluster(spec.name.clone())
        .with_client(ClusterManager::from_stub::<SimGke>(fake))
        .build()
        .await?;
    Ok((gke, sim, log))
}

struct GkeFixture;

#[async_trait]
impl Fixture for GkeFixture {
    async fn cluster(
        &self,
        spec: &ClusterSnapshot,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)> {
        let (gke, sim, _) = fake_gke(spec).await?;
        Ok((Arc::new(gke), Arc::new(sim)))
    }
}

#[tokio::test(start_paused = true)]
async fn gke_adapter_passes_the_conformance_suite() {
    conformance::run_all(&GkeFixture, Provider::Gke).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn gke_adapter_blue_green_upgrade_end_to_end() {
    conformance::full_upgrade(&GkeFixture, Provider::Gke, Strategy::BlueGreen)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_second_start_while_one_runs_is_refused_as_busy_then_succeeds() {
    let spec = conformance::spec(Provider::Gke, 30, &[("alpha", 30, 2)]);
    let (cluster, _) = GkeFixture.cluster(&spec).await.unwrap();
    let cp = cluster
        .upgrade_control_plane(&KubeVersion::new(1, 31), &RequestToken("cp".into()))
        .await
        .unwrap();
    // A pool create while the control plane upgrades: GKE says CLUSTER_ALREADY_HAS_OPERATION.
    let create = NodePoolSpec {
        name: "beta".into(),
        clone_of: "alpha".into(),
        version: KubeVersion::new(1, 30),
        nodes: 1,
        labels: Default::default(),
        taints: vec![],
    };
    let err = cluster
        .create_node_pool(&create, &RequestToken("np".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OperationInProgress { .. }), "{err:?}");
    // Once the control plane is done the same call goes through.
    let events = kupgrade_core::events::discard();
    kupgrade_core::PollPolicy::default()
        .wait_for("cp", &events, || async {
            Ok(cluster.operation(&cp).await?.state.is_terminal().then_some(()))
        })
        .await
        .unwrap();
    cluster
        .create_node_pool(&create, &RequestToken("np".into()))
        .await
        .unwrap();
}

fn two_pools() -> ClusterSnapshot {
    conformance::spec(Provider::Gke, 29, &[("alpha", 29, 2), ("beta", 29, 1)])
}

async fn plan(gke: &GkeCluster, to: u32, strategy: Strategy) -> UpgradePlan {
    let live = gke.describe().await.unwrap();
    plan_with(
        &live,
        &KubeVersion::new(1, to),
        &PlanOptions::new(Provider::Gke, strategy),
    )
    .unwrap()
}

/// Runs `plan` in a task, stops it (as a kill would) once `killed_after` control-plane upgrades
/// were asked for, then resumes from the journal file; returns the second run's report.
async fn kill_and_resume(
    gke: GkeCluster,
    sim: SimCluster,
    log: &CallLog,
    plan: UpgradePlan,
    killed_after: u64,
) -> RunReport {
    let dir = std::env::temp_dir().join(format!(
        "kupgrade-gke-stub-{}-{}",
        std::process::id(),
        plan.strategy
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("journal.json");
    let executor = Executor::new(Arc::new(gke), Arc::new(sim)).with_journal_path(&path);
    let first = {
        let executor = executor.clone();
        let mut journal = Journal::new(plan);
        tokio::spawn(async move { executor.run(&mut journal).await })
    };
    while log.count("UpdateMaster") < killed_after {
        assert!(!first.is_finished(), "the run ended before it was killed");
        tokio::time::sleep(Duration::from_secs(1)).await;
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

/// In place and blue/green, 1.29 -> 1.32, killed during the second control-plane hop and
/// resumed: every hop and pool change is asked of GKE once (GKE has no idempotency key, so a
/// second ask would be a second operation).
#[tokio::test(start_paused = true)]
async fn killed_mid_run_and_resumed_asks_for_each_change_once() {
    for strategy in [Strategy::InPlace, Strategy::BlueGreen] {
        let (gke, sim, log) = fake_gke(&two_pools()).await.unwrap();
        let plan = plan(&gke, 32, strategy).await;
        let steps = |action: &str| plan.steps.iter().filter(|s| s.action() == action).count() as u64;
        let pool_changes = [
            ("UpdateNodePool", steps("upgrade-node-pool")),
            ("CreateNodePool", steps("create-node-pool")),
            ("DeleteNodePool", steps("delete-node-pool")),
        ];
        let end = gke.clone();
        let report = kill_and_resume(gke, sim, &log, plan, 2).await;
        assert_eq!(
            report.result,
            RunResult::Succeeded,
            "{strategy}: {:?}",
            report.error
        );
        let state = end.describe().await.unwrap();
        assert_eq!(state.control_plane.minor(), 32, "{strategy}");
        assert!(
            state.node_pools.iter().all(|p| p.version.minor() == 32),
            "{strategy}: {state:?}"
        );
        assert_eq!(log.count("UpdateMaster"), 3, "{strategy}: {:?}", log.calls());
        for (method, want) in pool_changes {
            assert_eq!(log.count(method), want, "{strategy} {method}: {:?}", log.calls());
        }
    }
}

/// 429 (`RESOURCE_EXHAUSTED`) on reads, 409 (`ABORTED`) on a start and a second operation
/// refused while one runs (`CLUSTER_ALREADY_HAS_OPERATION`) are waited out; the run ends at
/// the target.
#[tokio::test(start_paused = true)]
async fn throttling_conflicts_and_a_busy_cluster_are_waited_out() {
    let (gke, sim, log) = fake_gke(&two_pools()).await.unwrap();
    let plan = plan(&gke, 31, Strategy::InPlace).await;
    log.fail("GetCluster", Code::ResourceExhausted, None, 2);
    log.fail("UpdateMaster", Code::Aborted, None, 1);
    log.fail(
        "UpdateNodePool",
        Code::FailedPrecondition,
        Some("CLUSTER_ALREADY_HAS_OPERATION"),
        2,
    );
    log.fail("GetOperation", Code::Unavailable, None, 1);
    let mut journal = Journal::new(plan);
    let report = Executor::new(Arc::new(gke.clone()), Arc::new(sim))
        .run(&mut journal)
        .await
        .unwrap();
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    assert_eq!(
        report.operations_started, 4,
        "two hops and two pool moves, each once"
    );
    // Each refused start was asked again once it could go through.
    assert_eq!(log.count("UpdateMaster"), 2 + 1, "{:?}", log.calls());
    assert_eq!(log.count("UpdateNodePool"), 2 + 2, "{:?}", log.calls());
}

/// GKE calls of an in-place 1.29 -> 1.32 upgrade with two pools (pre-flight's operation
/// listing and the run), printed for BENCHMARKS.md.
#[tokio::test(start_paused = true)]
async fn calls_per_in_place_upgrade() {
    let (gke, sim, log) = fake_gke(&two_pools()).await.unwrap();
    let plan = plan(&gke, 32, Strategy::InPlace).await;
    assert!(gke.operations_in_flight().await.unwrap().is_empty());
    let mut journal = Journal::new(plan);
    let report = Executor::new(Arc::new(gke), Arc::new(sim))
        .run(&mut journal)
        .await
        .unwrap();
    assert_eq!(report.result, RunResult::Succeeded, "{:?}", report.error);
    let calls = log.calls();
    let total: u64 = calls.values().sum();
    println!("calls for an in-place 1.29 -> 1.32 upgrade, 2 pools: {total} {calls:?}");
    // Reads: one GetCluster per snapshot (plan, one per step, the final check); the pool
    // updates use the pools that snapshot read.
    assert_eq!(log.count("GetCluster"), 9, "{calls:?}");
    assert_eq!(log.count("GetNodePool"), 0, "{calls:?}");
}
