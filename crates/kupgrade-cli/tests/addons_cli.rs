//! `kupgrade addons`: the catalog, and a cluster's add-ons judged per hop through a Kubernetes
//! API stub on 127.0.0.1.

mod common;

use common::{assert_exit, assert_one_line_failure, kupgrade, kupgrade_async, write_kubeconfig};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[test]
fn the_catalog_lists_every_entry_with_its_source_and_date() {
    let out = kupgrade(&["addons"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Karpenter (karpenter): ranges are enforced; source https://"),
        "{text}"
    );
    assert!(text.contains("  1.5.x    Kubernetes 1.26–1.33"), "{text}");
    assert!(text.contains("retired since 2026-03"), "{text}");

    let out = kupgrade(&["addons", "--output", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = v["addons"].as_array().unwrap();
    assert!(entries.len() >= 13);
    for e in entries {
        assert!(e["source"].as_str().unwrap().starts_with("https://"), "{e}");
        assert!(e["as_of"].as_str().unwrap().starts_with("2026-"), "{e}");
    }
}

#[test]
fn a_wrong_catalog_file_is_one_line_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addons.yaml");
    std::fs::write(
        &file,
        "addons:\n  - name: ours\n    title: Ours\n    source: https://example.com\n    as_of: 2026-11-01\n    meaning: tested\n    detect: {images: [acme/ours]}\n    releases: [{release: \"2.x\", min: \"1.34\", max: \"1.31\"}]\n",
    )
    .unwrap();
    let out = kupgrade(&["addons", "--addons", file.to_str().unwrap()]);
    assert_one_line_failure(&out, "entry 'ours' release '2.x': min 1.34 is above max 1.31");
}

fn release_secret(name: &str, chart: &str, version: &str, kube_version: &str) -> Value {
    let release = json!({"name": name, "namespace": "platform", "version": 1, "info": {"status": "deployed"},
        "chart": {"metadata": {"name": chart, "version": version, "appVersion": version, "kubeVersion": kube_version}},
        "manifest": ""});
    json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": format!("sh.helm.release.v1.{name}.v1"), "namespace": "platform", "labels": {"owner": "helm"}},
        "data": {"release": kupgrade_kube::helm::encode_secret_data(&release.to_string())}})
}

async fn stub_cluster() -> MockServer {
    let server = MockServer::start().await;
    let serve = |p: &'static str, body: Value| {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
    };
    serve(
        "/version",
        json!({"major": "1", "minor": "29", "gitVersion": "v1.29.8-eks-a737599", "gitCommit": "", "gitTreeState": "",
               "buildDate": "", "goVersion": "", "compiler": "", "platform": ""}),
    )
    .mount(&server)
    .await;
    serve(
        "/api/v1/secrets",
        json!({"metadata": {}, "items": [
            release_secret("karpenter", "karpenter", "1.5.0", ">= 1.26.0-0"),
            release_secret("reports", "reports", "0.3.0", ">=1.21.0"),
        ]}),
    )
    .mount(&server)
    .await;
    serve(
        "/apis/apps/v1/deployments",
        json!({"metadata": {}, "items": [
            {"metadata": {"name": "cluster-autoscaler", "namespace": "kube-system"},
             "spec": {"selector": {}, "template": {"spec": {"containers": [
                 {"name": "ca", "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.3"}]}}}}
        ]}),
    )
    .mount(&server)
    .await;
    serve("/apis/apps/v1/daemonsets", json!({"metadata": {}, "items": []}))
        .mount(&server)
        .await;
    serve("/apis/apps/v1/statefulsets", json!({"metadata": {}, "items": []}))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_judged_per_hop_with_its_add_on_steps() {
    let server = stub_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &server.uri());
    let out = kupgrade_async(
        ["addons", "--kubeconfig", &kubeconfig, "--to", "1.31"]
            .map(String::from)
            .to_vec(),
    )
    .await;
    // The cluster autoscaler two minors behind at 1.31 blocks.
    assert_exit(&out, 3);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Amazon EKS cluster at 1.29.8-eks-a737599; add-ons judged up to 1.31."),
        "{text}"
    );
    assert!(text.contains("cluster-autoscaler"), "{text}");
    assert!(text.contains("KUP-ADDON-001"), "{text}");
    // `>=1.21.0` without `-0` refuses EKS's versions in Helm's rules.
    assert!(text.contains("KUP-ADDON-006"), "{text}");
    assert!(
        text.contains("only because Amazon EKS's version suffix is a pre-release"),
        "{text}"
    );
    assert!(
        text.contains("install Cluster Autoscaler 1.30.x right after the control plane reaches 1.30"),
        "{text}"
    );

    let out = kupgrade_async(
        [
            "addons",
            "--kubeconfig",
            &kubeconfig,
            "--to",
            "1.31",
            "--output",
            "json",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["provider"], "eks");
    let names: Vec<&str> = v["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["karpenter", "reports", "cluster-autoscaler"]);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{v}");
    assert_eq!(steps[1]["install"], "1.31.x");
    assert_eq!(steps[1]["timing"], "after");
}
