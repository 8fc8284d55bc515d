//! The deprecated-API gate (`KUP-API-*`) against a local Kubernetes API stub (wiremock on
//! 127.0.0.1): the live scan of `kupgrade scan --live` read once, judged at every hop of the
//! plan by core's `CheckRegistry`, through `check_in_place` (what `kupgrade check --kubeconfig`
//! runs) and through `register` (what `kupgrade check --provider` and `kupgrade upgrade` run).

use kupgrade_core::Provider;
use kupgrade_core::checks::{Finding, Severity};
use kupgrade_kube::api_gate::ApiUsage;
use kupgrade_kube::checks::{ClusterFacts, check_in_place};
use kupgrade_testkit::v;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn get(server: &MockServer, p: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(p.to_string()))
        .respond_with(response)
        .mount(server)
        .await;
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn forbidden(message: &str) -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
        "message": message, "code": 403
    }))
}

/// A server at `version` with no CRDs; `/metrics`, the Helm secrets and the resource lists are
/// mounted by each test (anything else answers 404: not served).
async fn server_at(version: &str) -> (MockServer, kube::Client) {
    let server = MockServer::start().await;
    let minor = version.split('.').nth(1).unwrap();
    get(&server, "/version", ok(json!({
        "major": "1", "minor": minor, "gitVersion": format!("v{version}.4"), "gitCommit": "", "gitTreeState": "",
        "buildDate": "", "goVersion": "", "compiler": "", "platform": ""
    })))
    .await;
    // Every cluster serves CRDs; these tests have none.
    get(
        &server,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        ok(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinitionList", "metadata": {}, "items": []})),
    )
    .await;
    let kube =
        kupgrade_kube::KubeWorkloads::from_config(kube::Config::new(server.uri().parse().unwrap()), None)
            .unwrap();
    (server, kube.client().clone())
}

const FLOWSCHEMA_METRIC: &str = "# TYPE apiserver_requested_deprecated_apis gauge\napiserver_requested_deprecated_apis{group=\"flowcontrol.apiserver.k8s.io\",removed_release=\"1.32\",resource=\"flowschemas\",subresource=\"\",version=\"v1beta3\"} 1\n";

async fn metric(server: &MockServer, text: &str) {
    get(
        server,
        "/metrics",
        ResponseTemplate::new(200).set_body_string(text),
    )
    .await;
}

async fn no_helm_releases(server: &MockServer) {
    get(
        server,
        "/api/v1/secrets",
        ok(json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {}, "items": []})),
    )
    .await;
}

/// The gate's findings from `current` to `target`, as `kupgrade check --kubeconfig` runs them.
async fn gate(client: &kube::Client, current: &str, target: &str) -> Vec<Finding> {
    let facts = ClusterFacts {
        api_usage: Some(ApiUsage::gather(client).await),
        ..ClusterFacts::default()
    };
    let snapshot = facts.snapshot("prod", v(current), Provider::Eks);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    check_in_place(
        facts,
        snapshot,
        &v(target),
        None,
        today,
        std::sync::Arc::new(kupgrade_core::AddonCatalog::embedded()),
    )
    .await
    .unwrap()
    .findings
    .into_iter()
    .filter(|f| f.id.starts_with("KUP-API-"))
    .collect()
}

fn at(findings: &[Finding], id: &str, hop: &str) -> Vec<Finding> {
    findings
        .iter()
        .filter(|f| f.id == id && f.hop.as_ref().map(ToString::to_string).as_deref() == Some(hop))
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_metric_sample_removed_at_a_hop_blocks_that_hop_and_warns_at_the_first() {
    let (server, client) = server_at("1.30").await;
    metric(&server, FLOWSCHEMA_METRIC).await;
    no_helm_releases(&server).await;
    let found = gate(&client, "1.30", "1.32").await;
    assert_eq!(found.len(), 2, "{found:#?}");
    let blocker = &at(&found, "KUP-API-001", "1.32")[0];
    assert_eq!(blocker.severity, Severity::Blocker);
    assert!(
        blocker
            .message
            .starts_with("flowcontrol.apiserver.k8s.io/v1beta3/flowschemas is removed in 1.32"),
        "{}",
        blocker.message
    );
    assert!(
        blocker.message.contains("apiserver_requested_deprecated_apis"),
        "{}",
        blocker.message
    );
    assert!(
        blocker
            .message
            .contains("use flowcontrol.apiserver.k8s.io/v1 instead"),
        "{}",
        blocker.message
    );
    assert!(
        blocker.message.contains("audit log names the client"),
        "{}",
        blocker.message
    );
    let warning = &at(&found, "KUP-API-002", "1.31")[0];
    assert_eq!(warning.severity, Severity::Warning);
    assert!(
        warning
            .message
            .contains("deprecated since 1.29 (removed in 1.32)"),
        "{}",
        warning.message
    );
    // A plan that stops before the removal is only warned.
    let short = gate(&client, "1.30", "1.31").await;
    assert!(
        short.iter().all(|f| f.severity == Severity::Warning),
        "{short:#?}"
    );
    assert_eq!(short.len(), 1);
}

#[tokio::test]
async fn a_writer_in_managed_fields_blocks_the_hop_that_removes_its_version() {
    let (server, client) = server_at("1.24").await;
    metric(&server, "").await;
    no_helm_releases(&server).await;
    get(&server, "/apis/policy/v1", ok(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "policy/v1",
        "resources": [{"name": "poddisruptionbudgets", "singularName": "", "namespaced": true, "kind": "PodDisruptionBudget", "verbs": ["list"]}]}))).await;
    get(&server, "/apis/policy/v1/poddisruptionbudgets", ok(json!({
        "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {}, "items": [
            {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {"name": "web", "namespace": "shop",
                "managedFields": [{"manager": "deploy-bot", "operation": "Update", "apiVersion": "policy/v1beta1"}]}}
        ]}))).await;
    let found = gate(&client, "1.24", "1.26").await;
    let blockers = at(&found, "KUP-API-001", "1.25");
    assert_eq!(blockers.len(), 1, "{found:#?}");
    let b = &blockers[0];
    assert_eq!(
        (
            b.subject.kind.as_str(),
            b.subject.namespace.as_deref(),
            b.subject.name.as_str()
        ),
        ("PodDisruptionBudget", Some("shop"), "web")
    );
    assert!(
        b.message
            .starts_with("policy/v1beta1/poddisruptionbudgets is removed in 1.25"),
        "{}",
        b.message
    );
    assert!(
        b.message
            .contains("PodDisruptionBudget shop/web, seen in managedFields (manager deploy-bot, Update)"),
        "{}",
        b.message
    );
    assert!(b.message.contains("use policy/v1 instead"), "{}", b.message);
    // Nothing at 1.26: the removal is reported once, at its hop.
    assert!(at(&found, "KUP-API-001", "1.26").is_empty(), "{found:#?}");
    assert!(
        !found.iter().any(|f| f.id == "KUP-API-003"),
        "everything was readable: {found:#?}"
    );
}

#[tokio::test]
async fn a_deployed_helm_release_blocks_naming_the_release_and_its_namespace() {
    let (server, client) = server_at("1.30").await;
    metric(&server, "").await;
    let release = json!({"name": "fairness", "namespace": "platform", "version": 4, "info": {"status": "deployed"},
        "manifest": "---\napiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata:\n  name: batch-jobs\n"});
    Mock::given(method("GET"))
        .and(path("/api/v1/secrets"))
        .and(query_param("labelSelector", "owner=helm"))
        .respond_with(ok(json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {}, "items": [
            {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
             "metadata": {"name": "sh.helm.release.v1.fairness.v4", "namespace": "platform", "labels": {"owner": "helm"}},
             "data": {"release": kupgrade_kube::helm::encode_secret_data(&release.to_string())}}
        ]})))
        .mount(&server)
        .await;
    let found = gate(&client, "1.30", "1.32").await;
    let blockers = at(&found, "KUP-API-001", "1.32");
    assert_eq!(blockers.len(), 1, "{found:#?}");
    let m = &blockers[0].message;
    assert!(
        m.starts_with("flowcontrol.apiserver.k8s.io/v1beta3/flowschemas is removed in 1.32"),
        "{m}"
    );
    assert!(m.contains("FlowSchema") && m.contains("batch-jobs"), "{m}");
    assert!(m.contains("helm release platform/fairness revision 4"), "{m}");
}

#[tokio::test]
async fn unreadable_metrics_and_secrets_are_warnings_naming_the_rbac_verb() {
    let (server, client) = server_at("1.30").await;
    get(
        &server,
        "/metrics",
        forbidden("forbidden: User \"dev\" cannot get path \"/metrics\""),
    )
    .await;
    get(
        &server,
        "/api/v1/secrets",
        forbidden("secrets is forbidden: User \"dev\" cannot list resource \"secrets\""),
    )
    .await;
    get(
        &server,
        "/apis/policy/v1",
        ok(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "policy/v1",
            "resources": [{"name": "poddisruptionbudgets", "singularName": "", "namespaced": true, "kind": "PodDisruptionBudget", "verbs": ["list"]}]})),
    )
    .await;
    get(
        &server,
        "/apis/policy/v1/poddisruptionbudgets",
        forbidden("poddisruptionbudgets.policy is forbidden"),
    )
    .await;
    let found = gate(&client, "1.30", "1.32").await;
    let unread: Vec<&Finding> = found.iter().filter(|f| f.id == "KUP-API-003").collect();
    assert_eq!(unread.len(), 3, "{found:#?}");
    let listing = *unread
        .iter()
        .find(|f| f.message.contains("cannot list poddisruptionbudgets policy/v1"))
        .expect("the forbidden list is reported");
    assert!(
        listing.message.contains("`list` on poddisruptionbudgets.policy"),
        "{}",
        listing.message
    );
    let unread: Vec<&Finding> = unread
        .into_iter()
        .filter(|f| !std::ptr::eq(*f, listing))
        .collect();
    assert!(
        unread
            .iter()
            .all(|f| f.severity == Severity::Warning && f.hop.is_none())
    );
    assert!(
        unread[0].message.contains("/metrics") && unread[0].message.contains("`get`"),
        "{}",
        unread[0].message
    );
    assert!(
        unread[1].message.contains("Helm release secrets") && unread[1].message.contains("`list` on secrets"),
        "{}",
        unread[1].message
    );
    assert!(
        !found.iter().any(|f| f.severity == Severity::Blocker),
        "{found:#?}"
    );
}

#[tokio::test]
async fn a_scan_that_stops_is_a_warning_not_a_clean_bill() {
    let (server, client) = server_at("1.30").await;
    metric(&server, FLOWSCHEMA_METRIC).await;
    no_helm_releases(&server).await;
    get(
        &server,
        "/apis/policy/v1",
        ResponseTemplate::new(500).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "etcdserver: request timed out", "code": 500
        })),
    )
    .await;
    let found = gate(&client, "1.30", "1.32").await;
    let unread: Vec<&Finding> = found.iter().filter(|f| f.id == "KUP-API-003").collect();
    assert_eq!(unread.len(), 1, "{found:#?}");
    assert_eq!(unread[0].severity, Severity::Warning);
    assert!(
        unread[0]
            .message
            .contains("the deprecated-API scan of the live cluster stopped")
            && unread[0].message.contains("etcdserver: request timed out"),
        "{}",
        unread[0].message
    );
}
