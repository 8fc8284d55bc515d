//! Helpers shared by the CLI tests.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the real binary, optionally with `KUPGRADE_SIM_CRASH_AFTER=N`.
pub fn kupgrade_crashing(args: &[&str], crash_after: Option<u64>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kupgrade"));
    cmd.args(args).env_remove("KUPGRADE_SIM_CRASH_AFTER");
    if let Some(n) = crash_after {
        cmd.env("KUPGRADE_SIM_CRASH_AFTER", n.to_string());
    }
    cmd.output().unwrap()
}

/// Runs the real binary.
pub fn kupgrade(args: &[&str]) -> Output {
    kupgrade_crashing(args, None)
}

/// Runs the real binary from an async test, off the runtime's threads, so that the test's
/// wiremock servers keep answering while it runs.
pub async fn kupgrade_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        kupgrade(&refs)
    })
    .await
    .unwrap()
}

/// Asserts the exit code, showing stderr when it differs.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The ids of the findings in JSON output on stdout (`check`, `verify`, `upgrade`).
pub fn finding_ids(out: &Output) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Asserts exit code 1, nothing on stdout, one line on stderr containing `needle`.
pub fn assert_one_line_failure(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stdout.is_empty(),
        "stdout must be empty: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{err}");
}

/// Serves a Kubernetes API on `server` at version 1.30 whose lists come from the "healthy"
/// fixture of kupgrade-kube (nodes, pods, PDBs, workloads, storage), with no deprecated API in
/// use (`/metrics` without deprecated requests, no Helm release, no CRD); anything else is 404.
pub async fn mount_kube_api(server: &wiremock::MockServer) {
    mount_kube_api_with_metrics(server, "apiserver_request_total{code=\"200\"} 5\n").await;
}

/// [`mount_kube_api`], with `metrics` as the API server's `/metrics` text (e.g. samples of
/// `apiserver_requested_deprecated_apis`).
pub async fn mount_kube_api_with_metrics(server: &wiremock::MockServer, metrics: &str) {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let facts: serde_json::Value =
        serde_json::from_str(include_str!("../../../kupgrade-kube/tests/fixtures/healthy.json")).unwrap();
    Mock::given(method("GET"))
        .and(path("/version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "major": "1", "minor": "30", "gitVersion": "v1.30.4-eks-a737599", "gitCommit": "", "gitTreeState": "",
            "buildDate": "", "goVersion": "", "compiler": "", "platform": ""
        })))
        .mount(server)
        .await;
    let lists = [
        ("/api/v1/nodes", "nodes"),
        ("/api/v1/pods", "pods"),
        ("/apis/policy/v1/poddisruptionbudgets", "pdbs"),
        ("/apis/apps/v1/deployments", "deployments"),
        ("/apis/apps/v1/statefulsets", "statefulsets"),
        ("/apis/apps/v1/daemonsets", "daemonsets"),
        ("/apis/autoscaling/v2/horizontalpodautoscalers", "hpas"),
        ("/apis/storage.k8s.io/v1/storageclasses", "storage_classes"),
        ("/apis/storage.k8s.io/v1/csidrivers", "csi_drivers"),
        ("/api/v1/persistentvolumes", "pvs"),
        ("/api/v1/secrets", "helm_release_secrets"),
        ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "crds"),
    ];
    for (p, key) in lists {
        let items = facts.get(key).cloned().unwrap_or(json!([]));
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"metadata": {}, "items": items})))
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/metrics"))
        .respond_with(ResponseTemplate::new(200).set_body_string(metrics))
        .mount(server)
        .await;
}

/// Writes a kubeconfig whose context `stub` reaches `server_uri` with no credentials.
pub fn write_kubeconfig(dir: &Path, server_uri: &str) -> String {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster: {{server: \"{server_uri}\"}}\nusers:\n- name: anon\n  user: {{}}\ncontexts:\n- name: stub\n  context: {{cluster: stub, user: anon}}\ncurrent-context: stub\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}
