//! Add-on detection through a local Kubernetes API stub (wiremock on 127.0.0.1): Helm release
//! Secrets and workload images read as the API serves them, judged per hop by core's add-on
//! checks.

use std::sync::Arc;

use kupgrade_core::addons::AddonCatalog;
use kupgrade_core::checks::{CheckInputs, CheckRegistry, Finding, Offer, Severity};
use kupgrade_core::{
    Calendar, ClusterSnapshot, KubeVersion, NodePool, PlanOptions, Provider, Strategy, plan_with,
};
use kupgrade_kube::addons::ClusterAddons;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn v(s: &str) -> KubeVersion {
    s.parse().unwrap()
}

fn release_secret(
    name: &str,
    ns: &str,
    chart: &str,
    version: &str,
    app: &str,
    kube_version: Option<&str>,
) -> Value {
    let mut metadata = json!({"name": chart, "version": version, "appVersion": app});
    if let Some(k) = kube_version {
        metadata["kubeVersion"] = json!(k);
    }
    let release = json!({"name": name, "namespace": ns, "version": 2, "info": {"status": "deployed"},
        "chart": {"metadata": metadata}, "manifest": ""});
    json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": format!("sh.helm.release.v1.{name}.v2"), "namespace": ns, "labels": {"owner": "helm"}},
        "data": {"release": kupgrade_kube::helm::encode_secret_data(&release.to_string())}})
}

fn deployment(ns: &str, name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": image}]}}}})
}

async fn serve(server: &MockServer, path_: &str, kind: &str, items: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path(path_))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items}),
        ))
        .mount(server)
        .await;
}

/// A cluster at 1.29 on EKS running cluster-autoscaler 1.29 (plain manifests), a retired
/// ingress-nginx, Karpenter 1.5 from its chart, an operator whose chart allows Kubernetes
/// below 1.31 only, and an add-on nobody catalogued.
async fn cluster() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/secrets"))
        .and(query_param("labelSelector", "owner=helm"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "apiVersion": "v1", "kind": "SecretList", "metadata": {}, "items": [
            release_secret("karpenter", "karpenter", "karpenter", "1.5.0", "1.5.0", Some(">= 1.26.0-0")),
            release_secret("batch", "jobs", "batch-operator", "0.9.0", "0.9.0", Some("<1.31.0-0")),
            release_secret("acme", "acme", "acme-operator", "2.3.4", "2.3.4", None),
        ]})))
        .mount(&server)
        .await;
    serve(
        &server,
        "/apis/apps/v1/deployments",
        "DeploymentList",
        vec![
            deployment(
                "kube-system",
                "cluster-autoscaler",
                "registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.3",
            ),
            deployment(
                "ingress-nginx",
                "ingress-nginx-controller",
                "registry.k8s.io/ingress-nginx/controller:v1.13.2@sha256:1234",
            ),
            deployment(
                "karpenter",
                "karpenter",
                "public.ecr.aws/karpenter/controller:1.5.0",
            ),
            deployment("shop", "web", "nginx:1.27"),
        ],
    )
    .await;
    serve(&server, "/apis/apps/v1/daemonsets", "DaemonSetList", vec![]).await;
    serve(&server, "/apis/apps/v1/statefulsets", "StatefulSetList", vec![]).await;
    server
}

async fn judge(server: &MockServer, from: &str, to: &str) -> Vec<Finding> {
    let client = kube::Client::try_from(kube::Config::new(server.uri().parse().unwrap())).unwrap();
    let snapshot = ClusterSnapshot {
        provider: Provider::Eks,
        name: "prod".into(),
        control_plane: v(from),
        status: Default::default(),
        node_pools: vec![NodePool::new("general", v(from), 3)],
        auto_upgrade: None,
        id: None,
    };
    let plan = plan_with(
        &snapshot,
        &v(to),
        &PlanOptions::new(Provider::Eks, Strategy::InPlace),
    )
    .unwrap();
    let mut registry = CheckRegistry::empty();
    kupgrade_core::addons::register(
        &mut registry,
        Arc::new(AddonCatalog::embedded()),
        Arc::new(ClusterAddons::live(client)),
    );
    let calendar = Calendar::embedded(Provider::Eks);
    let inputs = CheckInputs {
        snapshot: &snapshot,
        calendar: &calendar,
        today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        workloads: None,
        in_flight: &[],
        force_drain: false,
        offer: Offer::NotRead,
        allow_preview: false,
    };
    registry.run(&plan, &inputs).await.unwrap()
}

fn find<'a>(found: &'a [Finding], id: &str, subject: &str) -> &'a Finding {
    found
        .iter()
        .find(|f| f.id == id && f.subject.name == subject)
        .unwrap_or_else(|| panic!("no {id} for {subject} in {found:#?}"))
}

#[tokio::test]
async fn every_verdict_from_what_the_api_serves() {
    let server = cluster().await;
    let found = judge(&server, "1.29", "1.31").await;

    let ca = find(&found, "KUP-ADDON-001", "cluster-autoscaler");
    assert_eq!(
        (ca.severity, ca.hop.clone()),
        (Severity::Blocker, Some(v("1.31")))
    );
    assert!(
        ca.message
            .contains("install 1.30.x right after the hop to 1.30, 1.31.x right after the hop to 1.31")
    );
    let step = find(&found, "KUP-ADDON-007", "cluster-autoscaler");
    assert_eq!(step.hop, Some(v("1.30")));

    let nginx = find(&found, "KUP-ADDON-004", "ingress-nginx-controller");
    assert_eq!(nginx.severity, Severity::Warning);
    assert!(nginx.message.contains("Gateway API"), "{}", nginx.message);

    let helm = find(&found, "KUP-ADDON-006", "batch");
    assert_eq!(
        (helm.severity, helm.hop.clone()),
        (Severity::Blocker, Some(v("1.31")))
    );
    assert_eq!(helm.subject.namespace.as_deref(), Some("jobs"));
    assert!(
        helm.message.contains("declares kubeVersion \"<1.31.0-0\""),
        "{}",
        helm.message
    );

    // Charts the catalog does not know are named once, as information.
    for release in ["acme", "batch"] {
        assert_eq!(find(&found, "KUP-ADDON-003", release).severity, Severity::Info);
    }

    // Karpenter 1.5 runs on 1.26-1.33 and its chart says >= 1.26.0-0: no finding. Neither
    // for the web Deployment (no add-on) nor twice for Karpenter (chart and image).
    assert!(
        found
            .iter()
            .all(|f| f.subject.name != "karpenter" && f.subject.name != "web"),
        "{found:#?}"
    );
    assert_eq!(found.len(), 6, "{found:#?}");
}

#[tokio::test]
async fn karpenter_blocks_a_hop_past_its_range() {
    let server = cluster().await;
    let found = judge(&server, "1.33", "1.34").await;
    let k = find(&found, "KUP-ADDON-001", "karpenter");
    assert_eq!(k.subject.kind, "HelmRelease");
    assert!(
        k.message
            .contains("install Karpenter 1.6.x (1.26–1.34) before the hop to 1.34"),
        "{}",
        k.message
    );
}
