//! The real `ClusterManager` client, pointed with `with_endpoint` at a local wiremock server on
//! 127.0.0.1 with anonymous credentials: REST paths and JSON bodies on the wire, and cluster
//! JSON shaped like the GKE v1 REST API's.

use std::time::Duration;

use kupgrade_core::{
    Error, KubeVersion, ManagedCluster, OperationState, PoolUpgradeOptions, RequestToken, RolloutSettings,
};
use kupgrade_gke::{BlueGreen, BlueGreenBatch, GkeCluster, GkeClusterBuilder, PoolUpgradeStrategy};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLUSTER: &str = "/v1/projects/p/locations/europe-west1/clusters/prod";
const OPERATIONS: &str = "/v1/projects/p/locations/europe-west1/operations";

async fn gke(server: &MockServer, strategy: PoolUpgradeStrategy) -> GkeCluster {
    GkeClusterBuilder::new()
        .with_project("p")
        .with_location("europe-west1")
        .with_cluster("prod")
        .with_endpoint(server.uri())
        .with_anonymous_credentials(true)
        .with_node_pool_strategy(strategy)
        .build()
        .await
        .unwrap()
}

/// A cluster as `GET /v1/projects/*/locations/*/clusters/*` returns it (trimmed).
fn cluster_json() -> Value {
    json!({
        "name": "prod",
        "location": "europe-west1",
        "locations": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
        "currentMasterVersion": "1.30.5-gke.1014001",
        "currentNodeVersion": "1.29.8-gke.1211000",
        "currentNodeCount": 9,
        "status": "RUNNING",
        "releaseChannel": {"channel": "STABLE"},
        "selfLink": "https://container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/prod",
        "nodePools": [
            {
                "name": "default-pool",
                "version": "1.29.8-gke.1211000",
                "initialNodeCount": 3,
                "status": "RUNNING",
                "etag": "e-default",
                "config": {
                    "machineType": "e2-standard-4",
                    "diskSizeGb": 100,
                    "imageType": "COS_CONTAINERD",
                    "labels": {"tier": "general"}
                },
                "management": {"autoUpgrade": true, "autoRepair": true},
                "upgradeSettings": {"maxSurge": 1, "strategy": "SURGE"},
                "selfLink": "https://container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/prod/nodePools/default-pool"
            }
        ]
    })
}

fn no_operations() -> Mock {
    Mock::given(method("GET"))
        .and(path(OPERATIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"operations": []})))
}

#[tokio::test]
async fn describe_reads_rest_cluster_json_without_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CLUSTER))
        .respond_with(ResponseTemplate::new(200).set_body_json(cluster_json()))
        .expect(1)
        .mount(&server)
        .await;
    let snap = gke(&server, PoolUpgradeStrategy::Surge)
        .await
        .describe()
        .await
        .unwrap();
    assert_eq!(snap.control_plane.to_string(), "1.30.5-gke.1014001");
    let pool = snap.pool("default-pool").unwrap();
    assert_eq!(pool.version.to_string(), "1.29.8-gke.1211000");
    assert_eq!(pool.nodes, 9, "3 per zone in 3 zones");
    assert_eq!(pool.labels["tier"], "general");
    assert!(snap.auto_upgrade.unwrap().contains("STABLE"));
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| !r.headers.contains_key("authorization")),
        "anonymous credentials send no Authorization header"
    );
}

#[tokio::test]
async fn update_master_posts_the_version_and_a_cancelled_operation_reads_as_cancelled() {
    let server = MockServer::start().await;
    no_operations().mount(&server).await;
    Mock::given(method("POST"))
        .and(path(format!("{CLUSTER}:updateMaster")))
        .and(body_json(json!({"masterVersion": "1.31"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "operation-1700000000000-abc",
            "operationType": "UPGRADE_MASTER",
            "status": "RUNNING",
            "targetLink": "https://container.googleapis.com/v1/projects/123/locations/europe-west1/clusters/prod"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{OPERATIONS}/operation-1700000000000-abc")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "operation-1700000000000-abc",
            "operationType": "UPGRADE_MASTER",
            "status": "DONE",
            "error": {"code": 1, "message": "Operation was cancelled by the user."},
            "targetLink": "https://container.googleapis.com/v1/projects/123/locations/europe-west1/clusters/prod"
        })))
        .mount(&server)
        .await;
    let gke = gke(&server, PoolUpgradeStrategy::Surge).await;
    let id = gke
        .upgrade_control_plane(&KubeVersion::new(1, 31), &RequestToken("t".into()))
        .await
        .unwrap();
    assert_eq!(id.0, "operation-1700000000000-abc");
    let op = gke.operation(&id).await.unwrap();
    assert_eq!(op.state, OperationState::Cancelled);
}

#[tokio::test]
async fn busy_cluster_json_error_is_operation_in_progress() {
    let server = MockServer::start().await;
    no_operations().mount(&server).await;
    Mock::given(method("POST"))
        .and(path(format!("{CLUSTER}:updateMaster")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": 400,
            "message": "Cluster is running incompatible operation operation-1700000000000-xyz.",
            "status": "FAILED_PRECONDITION",
            "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "CLUSTER_ALREADY_HAS_OPERATION",
                "domain": "container.googleapis.com"
            }]
        }})))
        .expect(1)
        .mount(&server)
        .await;
    let err = gke(&server, PoolUpgradeStrategy::Surge)
        .await
        .upgrade_control_plane(&KubeVersion::new(1, 31), &RequestToken("t".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OperationInProgress { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn unknown_cluster_is_not_found_by_name() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(CLUSTER))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "code": 404,
            "message": "Not found: projects/p/locations/europe-west1/clusters/prod.",
            "status": "NOT_FOUND"
        }})))
        .mount(&server)
        .await;
    let err = gke(&server, PoolUpgradeStrategy::Surge)
        .await
        .describe()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cluster 'prod' not found; check the project"),
        "{err}"
    );
    // The cause names the call and keeps the client's own error.
    let cause = err.cause().expect("the client's error is kept");
    assert_eq!(cause.to_string(), "GKE GetCluster");
    assert!(cause.downcast_ref::<google_cloud_gax::error::Error>().is_some());
}

#[tokio::test]
async fn blue_green_node_pool_upgrade_puts_the_pool_with_settings_on_the_wire() {
    let server = MockServer::start().await;
    no_operations().mount(&server).await;
    let pool_path = format!("{CLUSTER}/nodePools/default-pool");
    Mock::given(method("GET"))
        .and(path(pool_path.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(cluster_json()["nodePools"][0].clone()))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(pool_path.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "operation-2",
            "operationType": "UPGRADE_NODES",
            "status": "PENDING",
            "targetLink": format!("https://container.googleapis.com{pool_path}")
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{pool_path}:completeUpgrade")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{pool_path}:rollback")))
        .and(body_json(json!({"respectPdb": true})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "operation-3", "operationType": "UPGRADE_NODES", "status": "RUNNING"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let bg = BlueGreen {
        batch: BlueGreenBatch::Nodes(1),
        batch_soak: Duration::from_secs(60),
        pool_soak: Duration::from_secs(1800),
    };
    let gke = gke(&server, PoolUpgradeStrategy::BlueGreen(bg)).await;
    let id = gke
        .upgrade_node_pool(
            "default-pool",
            &KubeVersion::parse("1.30.5-gke.1014001").unwrap(),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &RequestToken("np".into()),
        )
        .await
        .unwrap();
    assert_eq!(id.0, "operation-2");
    let put = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.method.as_str() == "PUT")
        .unwrap();
    let body: Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(body["nodeVersion"], "1.30.5-gke.1014001");
    assert_eq!(body["imageType"], "COS_CONTAINERD");
    assert_eq!(body["etag"], "e-default");
    // The client writes enums as their numbers (valid proto3 JSON): BLUE_GREEN = 2.
    assert_eq!(body["upgradeSettings"]["strategy"], 2);
    let bgs = &body["upgradeSettings"]["blueGreenSettings"];
    assert_eq!(bgs["nodePoolSoakDuration"], "1800s");
    assert_eq!(bgs["standardRolloutPolicy"]["batchNodeCount"], 1);
    assert_eq!(bgs["standardRolloutPolicy"]["batchSoakDuration"], "60s");

    gke.complete_node_pool_upgrade("default-pool").await.unwrap();
    assert_eq!(
        gke.rollback_node_pool_upgrade("default-pool", true)
            .await
            .unwrap()
            .0,
        "operation-3"
    );
}

#[tokio::test]
async fn operations_in_flight_keeps_this_clusters_running_operations() {
    let server = MockServer::start().await;
    let link =
        |c: &str| format!("https://container.googleapis.com/v1/projects/123/zones/europe-west1/clusters/{c}");
    Mock::given(method("GET"))
        .and(path(OPERATIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"operations": [
            {"name": "operation-a", "operationType": "UPGRADE_NODES", "status": "RUNNING",
             "targetLink": format!("{}/nodePools/gpu", link("prod")),
             "progress": {"metrics": [{"name": "NODES_TOTAL", "intValue": "6"}, {"name": "NODES_DONE", "intValue": "2"}]}},
            {"name": "operation-b", "operationType": "UPGRADE_MASTER", "status": "DONE", "targetLink": link("prod")},
            {"name": "operation-c", "operationType": "UPGRADE_MASTER", "status": "RUNNING", "targetLink": link("staging")}
        ]})))
        .mount(&server)
        .await;
    let ops = gke(&server, PoolUpgradeStrategy::Surge)
        .await
        .operations_in_flight()
        .await
        .unwrap();
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0].id.0, "operation-a");
    assert_eq!(ops[0].node_pool.as_deref(), Some("gpu"));
    assert_eq!(ops[0].progress, Some((2, 6)));
}
