//! KubeWorkloads against a local Kubernetes API stub (wiremock on 127.0.0.1) serving realistic
//! JSON: cordon patches, evictions answered 429 by a PodDisruptionBudget, API throttling, the
//! core drain loop end to end, the drain preview, health and the checks.

use std::time::Duration;

use kupgrade_core::drain::{DrainClock, drain_nodes};
use kupgrade_core::workloads::Eviction;
use kupgrade_core::{ClusterWorkloads, DrainOptions, Error, PodRef, PollPolicy, Provider};
use kupgrade_kube::KubeWorkloads;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn stub() -> (MockServer, KubeWorkloads) {
    let server = MockServer::start().await;
    let config = kube::Config::new(server.uri().parse().unwrap());
    let kube = KubeWorkloads::from_config(config, Some(Provider::Eks)).unwrap();
    (server, kube)
}

fn pod(ns: &str, name: &str, node: &str, owner: Option<&str>, labels: Value) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "nginx"}]},
        "status": {"phase": "Running"}
    });
    if let Some(kind) = owner {
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind, "name": "owner", "uid": "u1", "controller": true}]);
    }
    p
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items})
}

fn pdb_429(pdb: &str) -> ResponseTemplate {
    ResponseTemplate::new(429).set_body_json(json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": "Cannot evict pod as it would violate the pod's disruption budget.",
        "reason": "TooManyRequests",
        "details": {"causes": [{"reason": "DisruptionBudget",
            "message": format!("The disruption budget {pdb} needs 2 healthy pods and has 2 currently")}]},
        "code": 429
    }))
}

fn eviction_ok() -> ResponseTemplate {
    ResponseTemplate::new(201)
        .set_body_json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}))
}

fn node_json(name: &str, pool: &str, kubelet: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"eks.amazonaws.com/nodegroup": pool}},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}],
            "nodeInfo": {"kubeletVersion": kubelet, "kubeProxyVersion": kubelet, "containerRuntimeVersion": "containerd://1.7.2",
                "architecture": "amd64", "bootID": "", "kernelVersion": "", "machineID": "", "operatingSystem": "linux",
                "osImage": "", "systemUUID": ""}
        }
    })
}

fn fast_poll() -> PollPolicy {
    PollPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retries: 3,
        timeout: Duration::from_secs(10),
    }
}

fn web1() -> PodRef {
    PodRef {
        namespace: "shop".into(),
        name: "web-1".into(),
    }
}

#[tokio::test]
async fn cordon_patches_spec_unschedulable() {
    let (server, kube) = stub().await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/nodes/ip-10-0-1-5"))
        .and(body_partial_json(json!({"spec": {"unschedulable": true}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(node_json(
            "ip-10-0-1-5",
            "general",
            "v1.30.4",
            true,
        )))
        .expect(1)
        .mount(&server)
        .await;
    kube.set_unschedulable("ip-10-0-1-5", true).await.unwrap();
    // A node that is gone says so, with a hint.
    let err = kube.set_unschedulable("ip-gone", true).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("ip-gone"), "{err}");
}

#[tokio::test]
async fn eviction_answers_map_to_evicted_blocked_gone_and_throttled() {
    let (server, kube) = stub().await;
    let evict = |name: &str| format!("/api/v1/namespaces/shop/pods/{name}/eviction");
    Mock::given(method("POST"))
        .and(path(evict("web-1")))
        .respond_with(pdb_429("web-pdb"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(evict("web-2")))
        .respond_with(eviction_ok())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(evict("web-3")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(evict("web-4")))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Too many requests, please try again later.", "reason": "TooManyRequests", "code": 429})))
        .mount(&server)
        .await;
    let r = |n: &str| PodRef {
        namespace: "shop".into(),
        name: n.into(),
    };
    match kube.evict(&r("web-1")).await.unwrap() {
        Eviction::Blocked { pdb, reason } => {
            assert_eq!(pdb, "shop/web-pdb");
            assert!(reason.contains("needs 2 healthy pods"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kube.evict(&r("web-2")).await.unwrap(), Eviction::Evicted);
    assert_eq!(kube.evict(&r("web-3")).await.unwrap(), Eviction::Gone);
    let err = kube.evict(&r("web-4")).await.unwrap_err();
    assert!(
        err.is_retryable(),
        "API throttling is retried, not reported as a PDB: {err}"
    );
}

async fn mount_node_with_pods(server: &MockServer) {
    let pods = list(
        "PodList",
        vec![
            pod("shop", "web-1", "n1", Some("ReplicaSet"), json!({"app": "web"})),
            pod("kube-system", "aws-node-x", "n1", Some("DaemonSet"), json!({})),
            {
                let mut p = pod("kube-system", "etcd-n1", "n1", None, json!({}));
                p["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "abc"});
                p
            },
        ],
    );
    Mock::given(method("GET"))
        .and(path("/api/v1/pods"))
        .and(query_param("fieldSelector", "spec.nodeName=n1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pods))
        .mount(server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/nodes/n1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(node_json("n1", "general", "v1.30.4", true)))
        .mount(server)
        .await;
}

#[tokio::test]
async fn core_drain_retries_429_until_the_pdb_allows_it() {
    let (server, kube) = stub().await;
    mount_node_with_pods(&server).await;
    let evict = "/api/v1/namespaces/shop/pods/web-1/eviction";
    // Refused twice, then allowed.
    Mock::given(method("POST"))
        .and(path(evict))
        .respond_with(pdb_429("web-pdb"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(evict))
        .respond_with(eviction_ok())
        .with_priority(2)
        .mount(&server)
        .await;
    let options = DrainOptions {
        timeout: Duration::from_secs(30),
        force: false,
    };
    let report = drain_nodes(
        &kube,
        &["n1".into()],
        options,
        &fast_poll(),
        &kupgrade_core::events::discard(),
        0,
        &DrainClock::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.evicted, 1);
    assert_eq!(report.skipped, 2, "DaemonSet and mirror pods are left alone");
    let evictions = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == evict)
        .count();
    assert_eq!(evictions, 3);
    // Never a DELETE: draining goes through the Eviction API only.
    assert!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.method.as_str() != "DELETE")
    );
}

#[tokio::test]
async fn core_drain_names_the_blocking_pod_and_pdb_after_the_timeout() {
    let (server, kube) = stub().await;
    mount_node_with_pods(&server).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/namespaces/shop/pods/web-1/eviction"))
        .respond_with(pdb_429("web-pdb"))
        .mount(&server)
        .await;
    let options = DrainOptions {
        timeout: Duration::from_secs(1),
        force: false,
    };
    // Bounded: kube-rs's own 429 retry is off, so the PDB's refusal reaches the drain at once.
    let err = tokio::time::timeout(
        Duration::from_secs(15),
        drain_nodes(
            &kube,
            &["n1".into()],
            options,
            &fast_poll(),
            &kupgrade_core::events::discard(),
            0,
            &DrainClock::default(),
        ),
    )
    .await
    .expect("the drain gives up at its timeout, not after kube-rs's retries")
    .unwrap_err();
    let Error::DrainBlocked(blockers) = &err else {
        panic!("{err}")
    };
    assert_eq!(blockers.len(), 1);
    assert_eq!(blockers[0].pod, web1());
    assert_eq!(blockers[0].pdb, "shop/web-pdb");
    assert_eq!(blockers[0].node, "n1");
    assert!(
        err.to_string()
            .contains("pod shop/web-1 on node n1 is protected by PodDisruptionBudget shop/web-pdb"),
        "{err}"
    );
}

#[tokio::test]
async fn uncordon_for_rollback() {
    let (server, kube) = stub().await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/nodes/n1"))
        .and(body_partial_json(json!({"spec": {"unschedulable": false}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(node_json("n1", "general", "v1.30.4", true)))
        .expect(1)
        .mount(&server)
        .await;
    kube.set_unschedulable("n1", false).await.unwrap();
}

fn pdb(ns: &str, name: &str, spec: Value, status: Value) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": ns}, "spec": spec, "status": status})
}

#[tokio::test]
async fn drain_preview_names_pods_behind_pdbs_that_never_allow_eviction() {
    let (server, kube) = stub().await;
    mount_node_with_pods(&server).await;
    let pdbs = list(
        "PodDisruptionBudgetList",
        vec![
            pdb(
                "shop",
                "web-pdb",
                json!({"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}}),
                json!({"currentHealthy": 3, "desiredHealthy": 3, "disruptionsAllowed": 0, "expectedPods": 3}),
            ),
            pdb(
                "shop",
                "other",
                json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "other"}}}),
                json!({"currentHealthy": 3, "desiredHealthy": 1, "disruptionsAllowed": 2, "expectedPods": 3}),
            ),
        ],
    );
    Mock::given(method("GET"))
        .and(path("/apis/policy/v1/poddisruptionbudgets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(pdbs))
        .mount(&server)
        .await;
    let blockers = kube.drain_preview(&["n1".into()]).await.unwrap();
    assert_eq!(blockers.len(), 1, "{blockers:?}");
    assert_eq!(blockers[0].pod, web1());
    assert_eq!(blockers[0].pdb, "shop/web-pdb");
    assert!(
        blockers[0].reason.contains("maxUnavailable is 0"),
        "{}",
        blockers[0].reason
    );
    // Nothing was changed.
    assert!(
        server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.method.as_str() == "GET")
    );
}

#[tokio::test]
async fn nodes_are_selected_by_the_providers_pool_label() {
    let (server, kube) = stub().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/nodes"))
        .and(query_param(
            "labelSelector",
            "eks.amazonaws.com/nodegroup=general",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "NodeList",
            vec![
                node_json("n1", "general", "v1.30.4-eks-a737599", true),
                node_json("n2", "general", "v1.29.9", false),
            ],
        )))
        .mount(&server)
        .await;
    let nodes = kube.nodes("general").await.unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0].pool, "general");
    assert_eq!(nodes[0].kubelet.minor(), 30);
    assert!(nodes[0].ready && !nodes[1].ready);
}

#[tokio::test]
async fn forbidden_says_what_rbac_is_needed() {
    let (server, kube) = stub().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/nodes"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "nodes is forbidden: User \"dev\" cannot list resource \"nodes\"", "reason": "Forbidden", "code": 403})))
        .mount(&server)
        .await;
    let err = kube.nodes("general").await.unwrap_err();
    assert!(matches!(err, Error::Permission { .. }), "{err}");
    assert!(
        err.to_string().contains("cannot list resource \\\"nodes\\\"")
            || err.to_string().contains("cannot list"),
        "{err}"
    );
}

#[tokio::test]
async fn smoke_namespace_is_deleted_even_when_a_step_fails() {
    use wiremock::matchers::path_regex;
    let (server, kube) = stub().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/namespaces"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kupgrade-smoke-1"}}),
        ))
        .mount(&server)
        .await;
    // The PVC is refused (e.g. a quota or admission webhook).
    Mock::given(method("POST"))
        .and(path_regex(r"^/api/v1/namespaces/kupgrade-smoke-\d+/persistentvolumeclaims$"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "persistentvolumeclaims is forbidden: exceeded quota", "reason": "Forbidden", "code": 403})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex(r"^/api/v1/namespaces/kupgrade-smoke-\d+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kupgrade-smoke-1"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let findings = kupgrade_kube::smoke::api_smoke(kube.client(), &Default::default())
        .await
        .unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].id, "KUP-POST-004");
    assert!(
        findings[0].message.contains("exceeded quota"),
        "{}",
        findings[0].message
    );
}

/// Against a real cluster: `KUPGRADE_LIVE_KUBECONFIG=~/.kube/config cargo test -p kupgrade-kube -- --ignored`.
#[tokio::test]
#[ignore = "needs cluster"]
async fn live_cluster_checks_and_scan() {
    let Ok(path) = std::env::var("KUPGRADE_LIVE_KUBECONFIG") else {
        eprintln!("KUPGRADE_LIVE_KUBECONFIG not set; skipping");
        return;
    };
    let kube = KubeWorkloads::from_kubeconfig(Some(std::path::Path::new(&path)), None, None)
        .await
        .unwrap();
    let current = kube.server_version().await.unwrap();
    let facts = kupgrade_kube::checks::ClusterFacts::gather(kube.client())
        .await
        .unwrap();
    let provider = facts.provider().unwrap_or(kupgrade_core::Provider::Eks);
    let snapshot = facts.snapshot("live", current.clone(), provider);
    let today = chrono::Utc::now().date_naive();
    let findings = kupgrade_kube::checks::check_in_place(
        facts,
        snapshot,
        &current.next_minor(),
        Some(&kube),
        today,
        std::sync::Arc::new(kupgrade_core::AddonCatalog::embedded()),
    )
    .await
    .unwrap()
    .findings;
    eprintln!("{} findings", findings.len());
    let health = kube.health().await.unwrap();
    assert!(health.nodes > 0);
    let scanner = kupgrade_kube::Scanner::new(Default::default(), current.next_minor());
    let live = kupgrade_kube::live::scan_cluster(kube.client(), &scanner)
        .await
        .unwrap();
    eprintln!("{} live findings, notes: {:?}", live.findings.len(), live.notes);
}

#[tokio::test]
async fn kube_bench_runs_as_a_job_and_its_results_become_findings() {
    use wiremock::matchers::path_regex;
    let (server, kube) = stub().await;
    let ns = r"kupgrade-bench-\d+";
    Mock::given(method("POST"))
        .and(path("/api/v1/namespaces"))
        .and(body_partial_json(
            json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kupgrade-bench-1"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(format!("^/apis/batch/v1/namespaces/{ns}/jobs$")))
        .and(body_partial_json(
            json!({"spec": {"template": {"spec": {"hostPID": true}}}}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "kube-bench"},
            "spec": {"template": {"spec": {"containers": [{"name": "kube-bench"}]}}}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!("^/api/v1/namespaces/{ns}/pods$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "PodList",
            vec![{
                let mut p = pod(
                    "kupgrade-bench-1",
                    "kube-bench-abc",
                    "n1",
                    Some("Job"),
                    json!({"app": "kupgrade-kube-bench"}),
                );
                p["status"]["phase"] = json!("Succeeded");
                p
            }],
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!("^/api/v1/namespaces/{ns}/pods/kube-bench-abc/log$")))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"Controls":[{"text":"Worker Node Security Configuration","tests":[{"results":[{"test_number":"4.2.1","test_desc":"anonymous auth off","status":"FAIL","remediation":"disable it"}]}]}]}"#,
        ))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex(format!("^/api/v1/namespaces/{ns}$")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kupgrade-bench-1"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let findings = kupgrade_kube::bench_security::run_kube_bench(kube.client(), &Default::default())
        .await
        .unwrap();
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert_eq!(findings[0].id, "KUP-SEC-001");
    assert!(
        findings[0].message.contains("CIS 4.2.1 failed"),
        "{}",
        findings[0].message
    );
    assert!(
        findings[1].message.contains("0 passed, 1 failed"),
        "{}",
        findings[1].message
    );
}

/// Node configuration held in the cluster: Karpenter `EC2NodeClass` user data (v1), Cluster API
/// kubeadm configs (v1beta2 not served, so v1beta1), and a kind the caller may not list
/// (reported as unread, a warning). The removed kubelet flags they pass become KUP-KUBE-014
/// blockers naming the object.
#[tokio::test]
async fn node_configuration_in_the_cluster_is_searched_for_kubelet_flags() {
    let (server, kube) = stub().await;
    let user_data = "#!/bin/bash\n/etc/eks/bootstrap.sh prod --kubelet-extra-args '--keep-terminated-pod-volumes --node-labels=a=b'\n";
    Mock::given(method("GET"))
        .and(path("/apis/karpenter.k8s.aws/v1/ec2nodeclasses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "EC2NodeClassList",
            vec![
                json!({"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
                "metadata": {"name": "default"}, "spec": {"amiFamily": "AL2", "userData": user_data}}),
            ],
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/apis/bootstrap.cluster.x-k8s.io/v1beta1/kubeadmconfigtemplates",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "KubeadmConfigTemplateList",
            vec![
                json!({"apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1", "kind": "KubeadmConfigTemplate",
                "metadata": {"name": "workers", "namespace": "capi"},
                "spec": {"template": {"spec": {"joinConfiguration": {"nodeRegistration": {
                    "kubeletExtraArgs": {"container-runtime": "remote", "cloud-provider": "external"}}}}}}}),
            ],
        )))
        .mount(&server)
        .await;
    for version in ["v1beta2", "v1beta1"] {
        Mock::given(method("GET"))
            .and(path(format!(
                "/apis/controlplane.cluster.x-k8s.io/{version}/kubeadmcontrolplanes"
            )))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                "message": "kubeadmcontrolplanes is forbidden", "code": 403})))
            .mount(&server)
            .await;
    }
    let gathered = kupgrade_kube::kubelet_flags::gather(kube.client()).await;
    assert_eq!(gathered.unread.len(), 1, "{:?}", gathered.unread);
    assert!(
        gathered.unread[0].starts_with("kubeadmcontrolplanes.controlplane.cluster.x-k8s.io: "),
        "{}",
        gathered.unread[0]
    );
    let sources = gathered.sources;
    let names: Vec<_> = sources
        .iter()
        .map(|s| (s.kind.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("EC2NodeClass", "default"), ("KubeadmConfigTemplate", "workers")]
    );
    assert_eq!(sources[1].namespace.as_deref(), Some("capi"));

    let facts = kupgrade_kube::checks::ClusterFacts {
        node_configs: sources,
        unread_node_configs: gathered.unread,
        ..Default::default()
    };
    let snapshot = facts.snapshot("prod", "1.30".parse().unwrap(), kupgrade_core::Provider::Eks);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let findings: Vec<_> = kupgrade_kube::checks::check_in_place(
        facts,
        snapshot,
        &"1.31".parse().unwrap(),
        None,
        today,
        std::sync::Arc::new(kupgrade_core::AddonCatalog::embedded()),
    )
    .await
    .unwrap()
    .findings
    .into_iter()
    .filter(|f| f.id == "KUP-KUBE-014")
    .collect();
    let flags: Vec<_> = findings
        .iter()
        .map(|f| {
            (
                f.id.as_str(),
                f.subject.kind.as_str(),
                f.subject.name.as_str(),
                f.severity,
            )
        })
        .collect();
    assert_eq!(
        flags,
        vec![
            (
                "KUP-KUBE-014",
                "EC2NodeClass",
                "default",
                kupgrade_core::checks::Severity::Blocker
            ),
            (
                "KUP-KUBE-014",
                "KubeadmConfigTemplate",
                "workers",
                kupgrade_core::checks::Severity::Blocker
            ),
            (
                "KUP-KUBE-014",
                "NodeConfig",
                "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io",
                kupgrade_core::checks::Severity::Warning
            ),
        ]
    );
    assert!(
        findings[0]
            .message
            .contains("--keep-terminated-pod-volumes, removed in 1.31"),
        "{}",
        findings[0].message
    );
    assert_eq!(findings[0].hop, None, "the release is in the message");
}

const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kupgrade-upgrade-lock";

fn lease_json(holder: &str, renewed: &str, resource_version: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kupgrade-upgrade-lock", "namespace": "kube-system",
            "resourceVersion": resource_version, "uid": "lease-uid"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 60,
            "acquireTime": renewed, "renewTime": renewed, "leaseTransitions": 0}
    })
}

#[tokio::test]
async fn cluster_lease_is_created_when_free_and_deleted_on_release() {
    let (server, kube) = stub().await;
    Mock::given(method("GET"))
        .and(path(LEASE_PATH))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
            "message": "leases.coordination.k8s.io \"kupgrade-upgrade-lock\" not found"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"))
        .and(body_partial_json(
            json!({"spec": {"holderIdentity": "pid 1 on ci", "leaseDurationSeconds": 60}}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(lease_json(
            "pid 1 on ci",
            "2026-12-01T10:00:00.000000Z",
            "7",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let lease = kupgrade_kube::ClusterLease::acquire(kube.client().clone(), "pid 1 on ci")
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path(LEASE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(lease_json(
            "pid 1 on ci",
            "2026-12-01T10:00:00.000000Z",
            "7",
        )))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(LEASE_PATH))
        .and(body_partial_json(
            json!({"preconditions": {"resourceVersion": "7"}}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    lease.release().await.unwrap();
}

#[tokio::test]
async fn cluster_lease_held_by_another_live_run_is_refused_naming_it() {
    let (server, kube) = stub().await;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    Mock::given(method("GET"))
        .and(path(LEASE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(lease_json(
            "pid 9 on laptop since x",
            &now,
            "3",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let err = kupgrade_kube::ClusterLease::acquire(kube.client().clone(), "pid 1 on ci")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("cluster Lease kube-system/kupgrade-upgrade-lock"),
        "{message}"
    );
    assert!(message.contains("pid 9 on laptop since x"), "{message}");
}

#[tokio::test]
async fn an_expired_cluster_lease_is_taken_over_with_its_resource_version() {
    let (server, kube) = stub().await;
    Mock::given(method("GET"))
        .and(path(LEASE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(lease_json(
            "pid 9 on laptop",
            "2020-01-01T00:00:00.000000Z",
            "3",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(LEASE_PATH))
        .and(body_partial_json(json!({"metadata": {"resourceVersion": "3"}, "spec": {"holderIdentity": "pid 1 on ci", "leaseTransitions": 1}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(lease_json("pid 1 on ci", "2026-12-01T10:00:00.000000Z", "4")))
        .expect(1)
        .mount(&server)
        .await;
    kupgrade_kube::ClusterLease::acquire(kube.client().clone(), "pid 1 on ci")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_race_for_the_cluster_lease_is_lost_with_a_lock_error() {
    let (server, kube) = stub().await;
    Mock::given(method("GET"))
        .and(path(LEASE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(lease_json(
            "",
            "2020-01-01T00:00:00.000000Z",
            "3",
        )))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(LEASE_PATH))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
            "message": "Operation cannot be fulfilled on leases.coordination.k8s.io \"kupgrade-upgrade-lock\": the object has been modified"})))
        .mount(&server)
        .await;
    let err = kupgrade_kube::ClusterLease::acquire(kube.client().clone(), "pid 1 on ci")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
}

fn crd_json() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {"name": "v1alpha1", "served": false, "storage": false},
                {"name": "v1beta1", "served": true, "storage": false, "deprecated": true,
                 "deprecationWarning": "example.com/v1beta1 Widget is deprecated; use example.com/v1"},
                {"name": "v1", "served": true, "storage": true}
            ]
        },
        "status": {"storedVersions": ["v1alpha1", "v1"], "acceptedNames": {"plural": "widgets", "kind": "Widget"}}
    })
}

/// CRDs: a deprecated version (its deprecationWarning quoted), a version no longer served and a
/// stale storedVersions entry, each with the objects last written at that version.
#[tokio::test]
async fn crd_versions_deprecated_unserved_and_stored_are_reported_with_their_objects() {
    let (server, kube) = stub().await;
    let healthy = crd_json();
    let mut fine = crd_json();
    fine["metadata"]["name"] = json!("gadgets.example.com");
    fine["spec"]["names"] = json!({"plural": "gadgets", "singular": "gadget", "kind": "Gadget"});
    fine["spec"]["versions"] = json!([{"name": "v1", "served": true, "storage": true}]);
    fine["status"]["storedVersions"] = json!(["v1"]);
    Mock::given(method("GET"))
        .and(path("/apis/apiextensions.k8s.io/v1/customresourcedefinitions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(list("CustomResourceDefinitionList", vec![healthy, fine])),
        )
        .mount(&server)
        .await;
    let object = |ns: &str, name: &str, version: &str| {
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": name, "namespace": ns,
                "managedFields": [{"manager": "widget-operator", "operation": "Update", "apiVersion": version}]}})
    };
    Mock::given(method("GET"))
        .and(path("/apis/example.com/v1/widgets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {},
            "items": [
                object("shop", "old", "example.com/v1alpha1"),
                object("shop", "beta", "example.com/v1beta1"),
                object("ops", "new", "example.com/v1"),
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (crds, notes) = kupgrade_kube::live::scan_crds(kube.client()).await.unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    use kupgrade_kube::live::CrdProblem;
    let by_version = |v: &str, p: fn(&CrdProblem) -> bool| {
        crds.iter()
            .find(|f| f.api_version == v && p(&f.problem))
            .unwrap_or_else(|| panic!("{v}: {crds:?}"))
    };
    let deprecated = by_version("example.com/v1beta1", |p| {
        matches!(p, CrdProblem::Deprecated { .. })
    });
    assert_eq!(deprecated.objects, vec!["shop/beta"]);
    assert!(
        deprecated
            .message()
            .contains("\"example.com/v1beta1 Widget is deprecated; use example.com/v1\""),
        "{}",
        deprecated.message()
    );
    assert_eq!(deprecated.exit_code(), 2);
    let unserved = by_version("example.com/v1alpha1", |p| *p == CrdProblem::NotServed);
    assert_eq!(unserved.objects, vec!["shop/old"]);
    assert_eq!(unserved.exit_code(), 3);
    let stored = by_version("example.com/v1alpha1", |p| *p == CrdProblem::StoredNotStorage);
    assert_eq!(stored.storage_version.as_deref(), Some("example.com/v1"));
    assert!(
        stored.message().contains("storedVersions"),
        "{}",
        stored.message()
    );
    // Only widgets has problems; the healthy gadgets CRD is not listed.
    assert_eq!(crds.len(), 3, "{crds:?}");
    assert!(crds.iter().all(|f| f.crd == "widgets.example.com"));
}

#[tokio::test]
async fn crds_that_cannot_be_listed_are_a_note_naming_the_permission() {
    let (server, kube) = stub().await;
    Mock::given(method("GET"))
        .and(path("/apis/apiextensions.k8s.io/v1/customresourcedefinitions"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
            "message": "customresourcedefinitions.apiextensions.k8s.io is forbidden"})))
        .mount(&server)
        .await;
    let (crds, notes) = kupgrade_kube::live::scan_crds(kube.client()).await.unwrap();
    assert!(crds.is_empty());
    assert!(
        notes[0].contains("grant `list` on customresourcedefinitions"),
        "{notes:?}"
    );
}
