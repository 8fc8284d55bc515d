//! `--provider gke` end to end: the real binary against a wiremock GKE API on 127.0.0.1 with
//! `--endpoint` and `--no-auth`.

mod common;

use common::{assert_one_line_failure, kupgrade, kupgrade_async as run};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn gke_args(cmd: &str, server: &MockServer, cluster: &str, extra: &[&str]) -> Vec<String> {
    let uri = server.uri();
    let mut a: Vec<String> = [
        cmd,
        "--provider",
        "gke",
        "--project",
        "p",
        "--location",
        "europe-west1",
        "--cluster",
        cluster,
        "--endpoint",
        &uri,
        "--no-auth",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

async fn server_with_prod() -> MockServer {
    let server = MockServer::start().await;
    let pool = |name: &str, version: &str, nodes: u32| {
        json!({
            "name": name, "version": version, "initialNodeCount": nodes, "status": "RUNNING",
            "config": {"imageType": "COS_CONTAINERD", "machineType": "e2-standard-4"},
            "upgradeSettings": {"maxSurge": 1, "maxUnavailable": 0}
        })
    };
    Mock::given(method("GET"))
        .and(path("/v1/projects/p/locations/europe-west1/clusters/prod"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "prod",
            "currentMasterVersion": "1.30.5-gke.1014001",
            "status": "RUNNING",
            "locations": ["europe-west1-b"],
            "releaseChannel": {"channel": "REGULAR"},
            "nodePools": [pool("default-pool", "1.30.5-gke.1014001", 3), pool("batch", "1.29.8-gke.1211000", 2)]
        })))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_a_live_gke_cluster_and_only_reads() {
    let server = server_with_prod().await;
    let out = run(gke_args(
        "plan",
        &server,
        "prod",
        &["--to", "1.32", "--output", "json"],
    ))
    .await;
    common::assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "upgrade-control-plane").count(),
        2,
        "{actions:?}"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.method.as_str() == "GET"),
        "planning writes nothing"
    );
    assert!(
        requests.iter().all(|r| !r.headers.contains_key("authorization")),
        "--no-auth sends no credentials"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_cluster_exits_1_naming_it() {
    let server = server_with_prod().await;
    let out = run(gke_args("plan", &server, "ghost", &["--to", "1.31"])).await;
    assert_one_line_failure(&out, "'ghost'");
}

#[test]
fn no_auth_needs_an_endpoint() {
    let out = kupgrade(&[
        "plan",
        "--provider",
        "gke",
        "--project",
        "p",
        "--location",
        "europe-west1",
        "--cluster",
        "prod",
        "--no-auth",
        "--to",
        "1.31",
    ]);
    assert_one_line_failure(&out, "--no-auth only works with --endpoint");
}

#[test]
fn missing_flags_are_named() {
    let out = kupgrade(&[
        "plan",
        "--provider",
        "gke",
        "--location",
        "europe-west1",
        "--cluster",
        "prod",
        "--to",
        "1.31",
    ]);
    assert_one_line_failure(&out, "--project");
}

/// `kupgrade check --provider gke`: the plan's pre-flight checks (the provider's own included)
/// plus the in-cluster checks through the kubeconfig, and kubelet flags in node configuration
/// files; only reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_runs_provider_and_in_cluster_checks_and_only_reads() {
    let server = server_with_prod().await;
    Mock::given(method("GET"))
        .and(path("/v1/projects/p/locations/europe-west1/operations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"operations": []})))
        .mount(&server)
        .await;
    common::mount_kube_api(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = common::write_kubeconfig(dir.path(), &server.uri());
    let out = run(gke_args(
        "check",
        &server,
        "prod",
        &["--kubeconfig", &kubeconfig, "--to", "1.32", "--output", "json"],
    ))
    .await;
    common::assert_exit(&out, 0);
    let ids = common::finding_ids(&out);
    assert!(
        ids.iter().any(|id| id == "KUP-AUTO-001"),
        "GKE's own check ran: {ids:?}"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.method.as_str() == "GET"),
        "check writes nothing"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.url.path() == "/apis/storage.k8s.io/v1/csidrivers"),
        "the in-cluster checks read the cluster"
    );

    let user_data = dir.path().join("kubelet.env");
    std::fs::write(&user_data, "KUBELET_EXTRA_ARGS=--keep-terminated-pod-volumes\n").unwrap();
    let report = dir.path().join("check.md");
    let out = run(gke_args(
        "check",
        &server,
        "prod",
        &[
            "--kubeconfig",
            &kubeconfig,
            "--to",
            "1.32",
            "--node-config",
            user_data.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    ))
    .await;
    common::assert_exit(&out, 3);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Cluster prod (gke) at 1.30"), "{text}");
    assert!(text.contains("KUP-KUBE-014"), "{text}");
    let report = std::fs::read_to_string(report).unwrap();
    assert!(report.contains("KUP-KUBE-014"), "{report}");
}

/// The deprecated-API gate runs in `kupgrade check --provider` and before a live `kupgrade
/// upgrade`: requests to flowcontrol.apiserver.k8s.io/v1beta3 (removed in 1.32) reported by the
/// API server block the 1.32 hop, and the upgrade changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_upgrade_are_blocked_by_an_api_the_target_removes() {
    let server = server_with_prod().await;
    Mock::given(method("GET"))
        .and(path("/v1/projects/p/locations/europe-west1/operations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"operations": []})))
        .mount(&server)
        .await;
    common::mount_kube_api_with_metrics(
        &server,
        "apiserver_requested_deprecated_apis{group=\"flowcontrol.apiserver.k8s.io\",removed_release=\"1.32\",resource=\"flowschemas\",subresource=\"\",version=\"v1beta3\"} 1\n",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = common::write_kubeconfig(dir.path(), &server.uri());
    let out = run(gke_args(
        "check",
        &server,
        "prod",
        &["--kubeconfig", &kubeconfig, "--to", "1.32", "--output", "json"],
    ))
    .await;
    common::assert_exit(&out, 3);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gate: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "KUP-API-001")
        .collect();
    assert_eq!(gate.len(), 1, "{v}");
    assert_eq!(gate[0]["hop"], "1.32");
    assert!(
        gate[0]["message"]
            .as_str()
            .unwrap()
            .contains("flowcontrol.apiserver.k8s.io/v1beta3/flowschemas is removed in 1.32"),
        "{}",
        gate[0]
    );

    let journal = dir.path().join("run.journal.json");
    let out = run(gke_args(
        "upgrade",
        &server,
        "prod",
        &[
            "--kubeconfig",
            &kubeconfig,
            "--to",
            "1.32",
            "--yes",
            "--journal",
            journal.to_str().unwrap(),
        ],
    ))
    .await;
    common::assert_exit(&out, 3);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("KUP-API-001") && text.contains("flowcontrol.apiserver.k8s.io/v1beta3"),
        "{text}"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.method.as_str() == "GET"),
        "a blocked upgrade writes nothing"
    );
}
