//! GkeCluster against a scripted fake `stub::ClusterManager`, injected with `from_stub`.

use kupgrade_testkit::v;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use google_cloud_container_v1::client::ClusterManager;
use google_cloud_container_v1::model::{self, operation::Status, operation::Type};
use google_cloud_container_v1::stub;
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, Status as RpcStatus, StatusDetails};
use google_cloud_gax::options::RequestOptions;
use google_cloud_gax::response::Response;
use kupgrade_core::{
    Error, ManagedCluster, NodePoolSpec, OperationId, OperationKind, OperationState, PollPolicy,
    PoolUpgradeOptions, RequestToken, RolloutSettings, Taint,
};
use kupgrade_gke::{BlueGreen, BlueGreenBatch, GkeCluster, GkeClusterBuilder, PoolUpgradeStrategy};

type GaxResult<T> = google_cloud_container_v1::Result<Response<T>>;

const CLUSTER: &str = "projects/p/locations/europe-west1/clusters/prod";

/// A call the fake received.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Call {
    UpdateMaster(model::UpdateMasterRequest),
    UpdateNodePool(model::UpdateNodePoolRequest),
    CreateNodePool(model::CreateNodePoolRequest),
    DeleteNodePool(String),
    GetOperation(String),
    Complete(String),
    Rollback(model::RollbackNodePoolUpgradeRequest),
}

#[derive(Debug, Default)]
struct Fake {
    cluster: Mutex<Option<model::Cluster>>,
    /// What list_operations returns.
    operations: Mutex<Vec<model::Operation>>,
    /// Answers to get_operation, in order (the last one repeats).
    op_script: Mutex<VecDeque<model::Operation>>,
    /// Answers to start calls (update_master, update_node_pool, create, delete), in order;
    /// when empty a RUNNING operation named `operation-N` is returned.
    start_script: Mutex<VecDeque<Result<model::Operation, GaxError>>>,
    /// Pushed into `operations` when a start call fails: the POST landed but the answer got lost.
    land_on_failure: Mutex<Option<model::Operation>>,
    server_config: Mutex<Option<model::ServerConfig>>,
    upgrade_info: Mutex<Option<model::ClusterUpgradeInfo>>,
    calls: Mutex<Vec<Call>>,
}

fn status(code: Code, message: &str) -> GaxError {
    GaxError::service(RpcStatus::default().set_code(code).set_message(message))
}

fn busy() -> GaxError {
    GaxError::service(
        RpcStatus::default()
            .set_code(Code::FailedPrecondition)
            .set_message("Cluster is running incompatible operation operation-77.")
            .set_details([StatusDetails::ErrorInfo(
                google_cloud_rpc::model::ErrorInfo::new()
                    .set_reason("CLUSTER_ALREADY_HAS_OPERATION")
                    .set_domain("container.googleapis.com"),
            )]),
    )
}

fn op(name: &str, kind: Type, state: Status, target: &str) -> model::Operation {
    model::Operation::new()
        .set_name(name)
        .set_operation_type(kind)
        .set_status(state)
        .set_target_link(format!("https://container.googleapis.com/v1/{target}"))
}

impl Fake {
    fn with_cluster() -> Self {
        let pool = |name: &str| {
            model::NodePool::new()
                .set_name(name)
                .set_version("1.30.5-gke.1014001")
                .set_initial_node_count(2)
                .set_locations(["europe-west1-b", "europe-west1-c"])
                .set_etag(format!("etag-{name}"))
                .set_config(
                    model::NodeConfig::new()
                        .set_machine_type("e2-standard-4")
                        .set_image_type("COS_CONTAINERD")
                        .set_labels([("team", "web")]),
                )
        };
        let cluster = model::Cluster::new()
            .set_name("prod")
            .set_current_master_version("1.30.5-gke.1014001")
            .set_locations(["europe-west1-b", "europe-west1-c"])
            .set_node_pools([pool("default-pool"), pool("gpu")]);
        Self {
            cluster: Mutex::new(Some(cluster)),
            ..Self::default()
        }
    }

    fn record(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn starts(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| {
                matches!(
                    c,
                    Call::UpdateMaster(_)
                        | Call::UpdateNodePool(_)
                        | Call::CreateNodePool(_)
                        | Call::DeleteNodePool(_)
                )
            })
            .count()
    }

    fn next_start(&self, kind: Type, target: &str) -> GaxResult<model::Operation> {
        let scripted = self.start_script.lock().unwrap().pop_front();
        match scripted {
            Some(Ok(op)) => Ok(Response::from(op)),
            Some(Err(e)) => {
                if let Some(landed) = self.land_on_failure.lock().unwrap().take() {
                    self.operations.lock().unwrap().push(landed);
                }
                Err(e)
            }
            None => {
                let n = self.calls.lock().unwrap().len();
                Ok(Response::from(op(
                    &format!("operation-{n}"),
                    kind,
                    Status::Running,
                    target,
                )))
            }
        }
    }
}

impl stub::ClusterManager for Fake {
    async fn get_cluster(
        &self,
        req: model::GetClusterRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Cluster> {
        assert_eq!(req.name, CLUSTER);
        match self.cluster.lock().unwrap().clone() {
            Some(c) => Ok(Response::from(c)),
            None => Err(status(
                Code::NotFound,
                "Not found: projects/p/locations/europe-west1/clusters/prod.",
            )),
        }
    }

    async fn get_node_pool(
        &self,
        req: model::GetNodePoolRequest,
        _: RequestOptions,
    ) -> GaxResult<model::NodePool> {
        let name = req.name.rsplit('/').next().unwrap().to_string();
        let cluster = self.cluster.lock().unwrap().clone().unwrap();
        cluster
            .node_pools
            .into_iter()
            .find(|p| p.name == name)
            .map(Response::from)
            .ok_or_else(|| status(Code::NotFound, &format!("Node pool \"{name}\" not found.")))
    }

    async fn update_master(
        &self,
        req: model::UpdateMasterRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.record(Call::UpdateMaster(req.clone()));
        self.next_start(Type::UpgradeMaster, &req.name)
    }

    async fn update_node_pool(
        &self,
        req: model::UpdateNodePoolRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.record(Call::UpdateNodePool(req.clone()));
        self.next_start(Type::UpgradeNodes, &req.name)
    }

    async fn create_node_pool(
        &self,
        req: model::CreateNodePoolRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.record(Call::CreateNodePool(req.clone()));
        let target = format!(
            "{}/nodePools/{}",
            req.parent,
            req.node_pool.as_ref().unwrap().name
        );
        self.next_start(Type::CreateNodePool, &target)
    }

    async fn delete_node_pool(
        &self,
        req: model::DeleteNodePoolRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.record(Call::DeleteNodePool(req.name.clone()));
        self.next_start(Type::DeleteNodePool, &req.name)
    }

    async fn get_operation(
        &self,
        req: model::GetOperationRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.record(Call::GetOperation(req.name.clone()));
        let mut script = self.op_script.lock().unwrap();
        let next = if script.len() > 1 {
            script.pop_front()
        } else {
            script.front().cloned()
        };
        next.map(Response::from)
            .ok_or_else(|| status(Code::NotFound, "operation not found"))
    }

    async fn list_operations(
        &self,
        req: model::ListOperationsRequest,
        _: RequestOptions,
    ) -> GaxResult<model::ListOperationsResponse> {
        assert_eq!(req.parent, "projects/p/locations/europe-west1");
        Ok(Response::from(
            model::ListOperationsResponse::new().set_operations(self.operations.lock().unwrap().clone()),
        ))
    }

    async fn get_server_config(
        &self,
        req: model::GetServerConfigRequest,
        _: RequestOptions,
    ) -> GaxResult<model::ServerConfig> {
        assert_eq!(req.name, "projects/p/locations/europe-west1");
        Ok(Response::from(
            self.server_config.lock().unwrap().clone().unwrap_or_default(),
        ))
    }

    async fn fetch_cluster_upgrade_info(
        &self,
        _: model::FetchClusterUpgradeInfoRequest,
        _: RequestOptions,
    ) -> GaxResult<model::ClusterUpgradeInfo> {
        match self.upgrade_info.lock().unwrap().clone() {
            Some(info) => Ok(Response::from(info)),
            None => Err(status(Code::Unimplemented, "not in this location")),
        }
    }

    async fn complete_node_pool_upgrade(
        &self,
        req: model::CompleteNodePoolUpgradeRequest,
        _: RequestOptions,
    ) -> GaxResult<()> {
        self.record(Call::Complete(req.name));
        Ok(Response::from(()))
    }

    async fn rollback_node_pool_upgrade(
        &self,
        req: model::RollbackNodePoolUpgradeRequest,
        _: RequestOptions,
    ) -> GaxResult<model::Operation> {
        self.record(Call::Rollback(req.clone()));
        Ok(Response::from(op(
            "operation-rb",
            Type::UpgradeNodes,
            Status::Running,
            &req.name,
        )))
    }
}

async fn gke(fake: Arc<Fake>) -> GkeCluster {
    gke_with(fake, PoolUpgradeStrategy::Surge).await
}

async fn gke_with(fake: Arc<Fake>, strategy: PoolUpgradeStrategy) -> GkeCluster {
    GkeClusterBuilder::new()
        .with_project("p")
        .with_location("europe-west1")
        .with_cluster("prod")
        .with_node_pool_strategy(strategy)
        .with_client(ClusterManager::from_stub::<Fake>(fake))
        .build()
        .await
        .unwrap()
}

fn token(s: &str) -> RequestToken {
    RequestToken(s.into())
}

#[tokio::test]
async fn control_plane_upgrade_goes_pending_running_done() {
    let fake = Arc::new(Fake::with_cluster());
    let target = CLUSTER;
    fake.op_script.lock().unwrap().extend([
        op("operation-1", Type::UpgradeMaster, Status::Pending, target),
        op("operation-1", Type::UpgradeMaster, Status::Running, target),
        op("operation-1", Type::UpgradeMaster, Status::Done, target),
    ]);
    fake.start_script.lock().unwrap().push_back(Ok(op(
        "operation-1",
        Type::UpgradeMaster,
        Status::Pending,
        target,
    )));
    let gke = gke(fake.clone()).await;
    let id = gke.upgrade_control_plane(&v("1.31"), &token("t")).await.unwrap();
    assert_eq!(id, OperationId("operation-1".into()));
    let Call::UpdateMaster(req) = &fake.calls()[0] else {
        panic!("{:?}", fake.calls())
    };
    assert_eq!(
        (req.name.as_str(), req.master_version.as_str()),
        (CLUSTER, "1.31")
    );

    let mut states = Vec::new();
    for _ in 0..3 {
        let op = gke.operation(&id).await.unwrap();
        assert_eq!(op.kind, OperationKind::UpgradeControlPlane);
        assert_eq!(op.to, Some(v("1.31")));
        states.push(op.state);
    }
    assert_eq!(
        states,
        vec![
            OperationState::Pending,
            OperationState::Running,
            OperationState::Succeeded
        ]
    );
    assert!(matches!(
        &fake.calls()[1],
        Call::GetOperation(name) if name == "projects/p/locations/europe-west1/operations/operation-1"
    ));
}

#[tokio::test]
async fn done_with_an_error_is_failed_or_cancelled() {
    let fake = Arc::new(Fake::with_cluster());
    let mut failed = op("operation-2", Type::UpgradeNodes, Status::Done, CLUSTER);
    failed.error = Some(
        google_cloud_rpc::model::Status::new()
            .set_code(13)
            .set_message("Node pool upgrade failed: PDB prevented eviction"),
    );
    let mut cancelled = op("operation-3", Type::UpgradeNodes, Status::Done, CLUSTER);
    cancelled.error = Some(
        google_cloud_rpc::model::Status::new()
            .set_code(1)
            .set_message("Operation cancelled"),
    );
    let gke = gke(fake.clone()).await;
    fake.op_script.lock().unwrap().push_back(failed);
    let state = gke
        .operation(&OperationId("operation-2".into()))
        .await
        .unwrap()
        .state;
    assert_eq!(
        state,
        OperationState::Failed("Node pool upgrade failed: PDB prevented eviction".into())
    );
    fake.op_script.lock().unwrap().clear();
    fake.op_script.lock().unwrap().push_back(cancelled);
    let state = gke
        .operation(&OperationId("operation-3".into()))
        .await
        .unwrap()
        .state;
    assert_eq!(state, OperationState::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn busy_cluster_is_retried_after_the_running_operation_ends() {
    let fake = Arc::new(Fake::with_cluster());
    // Another kind of operation (a cluster update) is running: ours is refused twice.
    fake.operations
        .lock()
        .unwrap()
        .push(op("operation-77", Type::UpdateCluster, Status::Running, CLUSTER));
    fake.start_script
        .lock()
        .unwrap()
        .extend([Err(busy()), Err(busy())]);
    let gke = gke(fake.clone()).await;

    let first = gke.upgrade_control_plane(&v("1.31"), &token("t")).await;
    let err = first.unwrap_err();
    assert!(matches!(err, Error::OperationInProgress { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("prod"), "{err}");

    // The executor's retry loop waits and tries again; the third attempt starts.
    let events = kupgrade_core::events::discard();
    let (to, t) = (v("1.31"), token("t"));
    let id = PollPolicy::default()
        .retry("upgrade control plane", &events, || {
            gke.upgrade_control_plane(&to, &t)
        })
        .await
        .unwrap();
    assert_eq!(fake.starts(), 3);
    assert!(id.0.starts_with("operation-"), "{id}");
    // The busy operation is not one kupgrade tracks, so it was never adopted.
    assert_ne!(id.0, "operation-77");
}

#[tokio::test]
async fn the_same_token_starts_one_operation() {
    let fake = Arc::new(Fake::with_cluster());
    let gke = gke(fake.clone()).await;
    let a = gke
        .upgrade_control_plane(&v("1.31"), &token("same"))
        .await
        .unwrap();
    let b = gke
        .upgrade_control_plane(&v("1.31"), &token("same"))
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(fake.starts(), 1);
}

#[tokio::test]
async fn a_running_operation_of_the_same_kind_is_adopted_not_duplicated() {
    let fake = Arc::new(Fake::with_cluster());
    fake.operations.lock().unwrap().extend([
        // Another cluster's upgrade in the same location is ignored.
        op(
            "operation-other",
            Type::UpgradeMaster,
            Status::Running,
            "projects/p/locations/europe-west1/clusters/staging",
        ),
        op("operation-9", Type::UpgradeMaster, Status::Running, CLUSTER),
    ]);
    let gke = gke(fake.clone()).await;
    let id = gke
        .upgrade_control_plane(&v("1.31"), &token("resumed"))
        .await
        .unwrap();
    assert_eq!(id.0, "operation-9");
    assert_eq!(fake.starts(), 0);
    let in_flight = gke.operations_in_flight().await.unwrap();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(in_flight[0].id.0, "operation-9");
}

#[tokio::test]
async fn a_lost_answer_to_a_start_is_found_again_instead_of_starting_twice() {
    let fake = Arc::new(Fake::with_cluster());
    fake.start_script
        .lock()
        .unwrap()
        .push_back(Err(status(Code::Unavailable, "connection reset")));
    *fake.land_on_failure.lock().unwrap() = Some(op(
        "operation-landed",
        Type::UpgradeNodes,
        Status::Running,
        &format!("{CLUSTER}/nodePools/gpu"),
    ));
    let gke = gke(fake.clone()).await;
    let id = gke
        .upgrade_node_pool(
            "gpu",
            &v("1.31"),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &token("np"),
        )
        .await
        .unwrap();
    assert_eq!(id.0, "operation-landed");
    assert_eq!(fake.starts(), 1);
}

#[tokio::test]
async fn surge_upgrade_sends_version_image_type_etag_and_settings() {
    let fake = Arc::new(Fake::with_cluster());
    let gke = gke(fake.clone()).await;
    let rollout = RolloutSettings {
        max_surge: 2,
        max_unavailable: 1,
        ..Default::default()
    };
    gke.upgrade_node_pool(
        "gpu",
        &v("1.31.2-gke.1200"),
        &PoolUpgradeOptions::new(rollout.clone()),
        &token("np"),
    )
    .await
    .unwrap();
    let Call::UpdateNodePool(req) = fake.calls().pop().unwrap() else {
        panic!()
    };
    assert_eq!(req.name, format!("{CLUSTER}/nodePools/gpu"));
    assert_eq!(req.node_version, "1.31.2-gke.1200");
    assert_eq!(req.image_type, "COS_CONTAINERD");
    assert_eq!(req.etag, "etag-gpu");
    let us = req.upgrade_settings.unwrap();
    assert_eq!(us.strategy, Some(model::NodePoolUpdateStrategy::Surge));
    assert_eq!((us.max_surge, us.max_unavailable), (2, 1));
}

#[tokio::test]
async fn native_blue_green_sends_blue_green_settings_then_completes_or_rolls_back() {
    let fake = Arc::new(Fake::with_cluster());
    let bg = BlueGreen {
        batch: BlueGreenBatch::Percentage(0.25),
        batch_soak: Duration::from_secs(120),
        pool_soak: Duration::from_secs(3600),
    };
    let gke = gke_with(fake.clone(), PoolUpgradeStrategy::BlueGreen(bg)).await;
    assert!(gke.capabilities().native_blue_green);
    gke.upgrade_node_pool(
        "default-pool",
        &v("1.31"),
        &PoolUpgradeOptions::new(RolloutSettings::default()),
        &token("bg"),
    )
    .await
    .unwrap();
    let Call::UpdateNodePool(req) = fake.calls().pop().unwrap() else {
        panic!()
    };
    let us = req.upgrade_settings.unwrap();
    assert_eq!(us.strategy, Some(model::NodePoolUpdateStrategy::BlueGreen));
    let settings = us.blue_green_settings.unwrap();
    assert_eq!(settings.node_pool_soak_duration.unwrap().seconds(), 3600);
    let policy = settings.standard_rollout_policy().unwrap();
    assert_eq!(policy.batch_percentage(), Some(&0.25));
    assert_eq!(policy.batch_soak_duration.as_ref().unwrap().seconds(), 120);

    gke.complete_node_pool_upgrade("default-pool").await.unwrap();
    assert!(
        matches!(fake.calls().pop(), Some(Call::Complete(n)) if n == format!("{CLUSTER}/nodePools/default-pool"))
    );
    let rb = gke
        .rollback_node_pool_upgrade("default-pool", true)
        .await
        .unwrap();
    assert_eq!(rb.0, "operation-rb");
    let Some(Call::Rollback(req)) = fake.calls().pop() else {
        panic!()
    };
    assert!(req.respect_pdb);
    assert_eq!(req.name, format!("{CLUSTER}/nodePools/default-pool"));
}

#[tokio::test]
async fn unknown_pool_and_unknown_cluster_are_not_found_by_name() {
    let fake = Arc::new(Fake::with_cluster());
    let gke = gke(fake.clone()).await;
    let err = gke
        .upgrade_node_pool(
            "ghost",
            &v("1.31"),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &token("g"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("node pool 'ghost' not found"), "{err}");
    assert_eq!(fake.starts(), 0);

    *fake.cluster.lock().unwrap() = None;
    let err = gke.describe().await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(err.to_string().starts_with("cluster 'prod' not found"), "{err}");
}

#[tokio::test]
async fn create_node_pool_clones_the_source_pool() {
    let fake = Arc::new(Fake::with_cluster());
    let gke = gke(fake.clone()).await;
    let spec = NodePoolSpec {
        name: "default-pool-green".into(),
        clone_of: "default-pool".into(),
        version: v("1.31"),
        nodes: 3,
        labels: [("kupgrade.io/color".to_string(), "green".to_string())].into(),
        taints: vec![Taint {
            key: "kupgrade".into(),
            value: Some("canary".into()),
            effect: "NoSchedule".into(),
        }],
    };
    gke.create_node_pool(&spec, &token("c")).await.unwrap();
    let Call::CreateNodePool(req) = fake.calls().pop().unwrap() else {
        panic!()
    };
    assert_eq!(req.parent, CLUSTER);
    let pool = req.node_pool.unwrap();
    assert_eq!(pool.name, "default-pool-green");
    assert_eq!(pool.version, "1.31");
    // 3 nodes over two zones: two per zone.
    assert_eq!(pool.initial_node_count, 2);
    let config = pool.config.unwrap();
    assert_eq!(config.machine_type, "e2-standard-4");
    assert_eq!(config.labels.get("team").map(String::as_str), Some("web"));
    assert_eq!(
        config.labels.get("kupgrade.io/color").map(String::as_str),
        Some("green")
    );
    assert_eq!(config.taints.len(), 1);

    let missing = NodePoolSpec {
        clone_of: "nope".into(),
        ..spec
    };
    let err = gke.create_node_pool(&missing, &token("c2")).await.unwrap_err();
    assert!(err.to_string().contains("node pool 'nope' not found"), "{err}");
}

#[tokio::test]
async fn delete_node_pool_names_the_pool() {
    let fake = Arc::new(Fake::with_cluster());
    let gke = gke(fake.clone()).await;
    gke.delete_node_pool("gpu", &token("d")).await.unwrap();
    assert!(
        matches!(fake.calls().pop(), Some(Call::DeleteNodePool(n)) if n == format!("{CLUSTER}/nodePools/gpu"))
    );
}

#[tokio::test]
async fn offered_versions_follow_the_release_channel_and_live_support_dates() {
    let fake = Arc::new(Fake::with_cluster());
    {
        let mut cluster = fake.cluster.lock().unwrap();
        let c = cluster.as_mut().unwrap();
        c.release_channel =
            Some(model::ReleaseChannel::new().set_channel(model::release_channel::Channel::Regular));
    }
    *fake.server_config.lock().unwrap() = Some(serde_json::from_value(serde_json::json!({
        "defaultClusterVersion": "1.32.1-gke.100",
        "validMasterVersions": ["1.33.0-gke.1", "1.32.1-gke.100", "1.31.4-gke.1", "1.30.9-gke.2"],
        "channels": [
            {"channel": "RAPID", "defaultVersion": "1.33.0-gke.1", "validVersions": ["1.33.0-gke.1"]},
            {"channel": "REGULAR", "defaultVersion": "1.31.4-gke.1", "validVersions": ["1.31.4-gke.1", "1.30.9-gke.2"]}
        ]
    }))
    .unwrap());
    *fake.upgrade_info.lock().unwrap() = Some(
        serde_json::from_value(serde_json::json!({
            "endOfStandardSupportTimestamp": "2025-09-30T00:00:00Z",
            "endOfExtendedSupportTimestamp": "2026-07-31T00:00:00Z"
        }))
        .unwrap(),
    );
    let gke = gke(fake.clone()).await;
    let offered = gke.offered_versions().await.unwrap();
    let names: Vec<String> = offered.iter().map(|o| o.version.to_string()).collect();
    assert_eq!(names, ["1.31.4-gke.1", "1.30.9-gke.2"]);
    assert!(offered[0].is_default && !offered[1].is_default);
    let live = offered[1].support.as_ref().unwrap();
    assert_eq!(live.source, "live:fetchClusterUpgradeInfo");
    assert_eq!(live.end_of_standard.to_string(), "2025-09-30");
    assert_ne!(
        offered[0].support.as_ref().unwrap().source,
        "live:fetchClusterUpgradeInfo"
    );
}

#[tokio::test]
async fn builder_refuses_incomplete_or_unsafe_settings() {
    let err = GkeClusterBuilder::new()
        .with_location("europe-west1")
        .with_cluster("prod")
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: GKE project is not set; give it with `with_project` or GOOGLE_CLOUD_PROJECT"
    );
    assert_eq!(
        err.hint(),
        Some(kupgrade_core::Hint::Settings(vec![
            kupgrade_core::Setting::Project
        ]))
    );
    let err = GkeClusterBuilder::new()
        .with_project("p")
        .with_location("europe-west1")
        .with_cluster("prod")
        .with_anonymous_credentials(true)
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("with_endpoint"), "{err}");
    let err = GkeClusterBuilder::new()
        .with_project("p")
        .with_location("europe-west1")
        .with_cluster("projects/p/locations/x/clusters/prod")
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("plain name"), "{err}");
}
