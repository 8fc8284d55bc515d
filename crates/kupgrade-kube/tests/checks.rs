//! The in-cluster checks on fixtures ("healthy by default", each test breaks one thing), and
//! the same facts read through a local API stub.

use kupgrade_core::KubeVersion;
use kupgrade_core::checks::{CheckInputs, CheckRegistry, Finding, Offer, Severity};
use kupgrade_core::{
    Calendar, ClusterSnapshot, NodePool, PlanOptions, Provider, Strategy, UpgradePlan, plan_with,
};
use kupgrade_kube::checks::{ClusterFacts, kube_proxy_version, register, register_facts};
use kupgrade_testkit::v;
use serde_json::{Value, json};

fn healthy() -> Value {
    serde_json::from_str(include_str!("fixtures/healthy.json")).unwrap()
}

fn facts(value: Value) -> ClusterFacts {
    serde_json::from_value(value).unwrap()
}

/// The in-cluster checks for `plan` of `snapshot`, run by core's registry as `upgrade` runs them.
fn run_plan(snapshot: &ClusterSnapshot, plan: &UpgradePlan, facts: &ClusterFacts) -> Vec<Finding> {
    let mut registry = CheckRegistry::empty();
    register_facts(&mut registry, facts.clone());
    let calendar = Calendar::embedded(plan.provider);
    let inputs = CheckInputs {
        snapshot,
        calendar: &calendar,
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        workloads: None,
        in_flight: &[],
        force_drain: false,
        offer: Offer::NotRead,
        allow_preview: false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut found = runtime.block_on(registry.run(plan, &inputs)).unwrap();
    kupgrade_core::checks::sort_findings(&mut found);
    found
}

/// The in-cluster checks from `current` to `target` on the fixture's EKS cluster when only its
/// control plane moves: every node is judged as it is today.
fn as_they_are(facts: &ClusterFacts, current: &KubeVersion, target: &KubeVersion) -> Vec<Finding> {
    let mut snapshot = facts.snapshot("prod", current.clone(), Provider::Eks);
    snapshot.node_pools.clear();
    let plan = plan_with(
        &snapshot,
        target,
        &PlanOptions::new(Provider::Eks, Strategy::InPlace),
    )
    .unwrap();
    run_plan(&snapshot, &plan, facts)
}

fn ids(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

#[test]
fn a_healthy_cluster_has_no_findings_up_to_the_skew_limit() {
    let f = facts(healthy());
    assert_eq!(kube_proxy_version(&f), Some(v("1.30.0")));
    assert!(as_they_are(&f, &v("1.30"), &v("1.33")).is_empty());
}

#[test]
fn kubelet_and_kube_proxy_skew_is_checked_per_hop() {
    let findings = as_they_are(&facts(healthy()), &v("1.30"), &v("1.34"));
    // 1.31..1.33 are fine; at the 1.34 hop both nodes and kube-proxy are 4 minors behind.
    assert_eq!(
        ids(&findings),
        vec!["KUP-KUBE-002", "KUP-KUBE-002", "KUP-KUBE-003"]
    );
    assert!(
        findings
            .iter()
            .all(|f| f.severity == Severity::Blocker && f.hop == Some(v("1.34")))
    );
    assert!(
        findings[0].message.contains("kubelet 1.30.4-eks-a737599"),
        "{}",
        findings[0].message
    );
}

/// The healthy fixture's cluster (EKS, node group `general` at 1.30).
fn eks_cluster() -> ClusterSnapshot {
    facts(healthy()).snapshot("prod", v("1.30"), Provider::Eks)
}

/// The healthy fixture's cluster planned to `to`.
fn eks_plan(to: &str, strategy: Strategy, managed_addons: bool) -> UpgradePlan {
    let options = PlanOptions::new(Provider::Eks, strategy).with_managed_addons(managed_addons);
    plan_with(&eks_cluster(), &v(to), &options).unwrap()
}

/// The per-hop skew checks (KUP-KUBE-002, -003) at every hop of `plan`, as the registry runs them.
fn skew_findings_along(plan: &UpgradePlan, facts: &ClusterFacts) -> Vec<Finding> {
    let snapshot = ClusterSnapshot {
        provider: plan.provider,
        ..eks_cluster()
    };
    run_plan(&snapshot, plan, facts)
        .into_iter()
        .filter(|f| f.id == "KUP-KUBE-002" || f.id == "KUP-KUBE-003")
        .collect()
}

#[test]
fn pools_the_plan_moves_before_a_hop_are_no_skew_blockers_there() {
    // Today's kubelets (1.30) are 4 minors behind the last hop (1.34), but the plan moves
    // `general` to 1.33 before it: that plan is legal and must not be blocked.
    let plan = eks_plan("1.34", Strategy::InPlace, false);
    let mut h = healthy();
    h["daemonsets"][0]["metadata"]["managedFields"] =
        json!([{"manager": "eks", "operation": "Apply", "apiVersion": "apps/v1"}]);
    let f = facts(h.clone());
    assert_eq!(
        ids(&skew_findings_along(&plan, &f)),
        vec!["KUP-KUBE-003"],
        "no add-on steps: kube-proxy stays"
    );
    // With the add-on step after each hop, EKS's managed kube-proxy follows the plan too.
    let plan = eks_plan("1.34", Strategy::InPlace, true);
    assert!(skew_findings_along(&plan, &f).is_empty());
    // A kube-proxy EKS does not manage is not moved by update-addons.
    let f = facts(healthy());
    assert_eq!(ids(&skew_findings_along(&plan, &f)), vec!["KUP-KUBE-003"]);
    // Blue/green replaces the pool before the hop: its old nodes are gone by then.
    let plan = eks_plan("1.34", Strategy::BlueGreen, true);
    assert!(skew_findings_along(&plan, &facts(h)).is_empty());
}

#[test]
fn nodes_in_no_pool_the_plan_moves_are_still_judged_as_they_are() {
    let plan = eks_plan("1.34", Strategy::InPlace, true);
    let mut h = healthy();
    h["daemonsets"][0]["metadata"]["managedFields"] = json!([{"manager": "eks"}]);
    // A self-managed node (no node-group label) is not moved by the plan.
    h["nodes"][1]["metadata"]["labels"] = json!({"karpenter.sh/nodepool": "default"});
    let found = skew_findings_along(&plan, &facts(h));
    assert_eq!(ids(&found), vec!["KUP-KUBE-002"]);
    assert_eq!(found[0].subject.name, "ip-10-0-2-9");
    assert_eq!(found[0].hop, Some(v("1.34")));
    assert!(
        found[0].message.contains("in no node pool the plan moves"),
        "{}",
        found[0].message
    );
}

#[test]
fn inside_a_plan_kubelets_are_judged_by_the_plan_s_skew_policy() {
    // GKE lets nodes lag 2 minors, not upstream's 3: a self-managed 1.30 node at a 1.33 hop
    // breaks GKE's rule though upstream would allow it.
    let snapshot = ClusterSnapshot {
        provider: Provider::Gke,
        name: "prod".into(),
        control_plane: v("1.30"),
        status: Default::default(),
        node_pools: vec![NodePool::new("general", v("1.30"), 2)],
        auto_upgrade: None,
        id: None,
    };
    let plan = plan_with(
        &snapshot,
        &v("1.33"),
        &PlanOptions::new(Provider::Gke, Strategy::InPlace),
    )
    .unwrap();
    let found: Vec<Finding> = run_plan(&snapshot, &plan, &facts(healthy()))
        .into_iter()
        .filter(|f| f.id == "KUP-KUBE-002")
        .collect();
    // Both fixture nodes carry EKS labels: in no GKE pool, so judged as they are (1.30).
    let at_1_33: Vec<_> = found.iter().filter(|f| f.id == "KUP-KUBE-002").collect();
    assert_eq!(at_1_33.len(), 2, "{found:?}");
    assert!(at_1_33.iter().all(|f| f.hop == Some(v("1.33"))));
    assert!(
        at_1_33[0].message.contains("at most 2 allowed"),
        "{}",
        at_1_33[0].message
    );
    assert!(
        as_they_are(&facts(healthy()), &v("1.30"), &v("1.33")).is_empty(),
        "EKS allows 3"
    );
}

#[test]
fn workloads_without_pdbs_single_replicas_and_bare_pods() {
    let mut h = healthy();
    h["pdbs"] = json!([]);
    h["deployments"][0]["spec"]["replicas"] = json!(3);
    let mut single = h["deployments"][0].clone();
    single["metadata"]["name"] = json!("cron-ui");
    single["spec"]["replicas"] = json!(1);
    h["deployments"].as_array_mut().unwrap().push(single);
    let mut bare = h["pods"][0].clone();
    bare["metadata"] = json!({"name": "debug", "namespace": "default"});
    bare["spec"]["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
    h["pods"].as_array_mut().unwrap().push(bare);
    let findings = as_they_are(&facts(h), &v("1.30"), &v("1.31"));
    let mut got = ids(&findings);
    got.sort();
    assert_eq!(
        got,
        vec!["KUP-KUBE-006", "KUP-KUBE-007", "KUP-KUBE-008", "KUP-KUBE-009"]
    );
}

#[test]
fn dockershim_blocks_from_1_24() {
    let mut h = healthy();
    h["nodes"][0]["status"]["nodeInfo"]["containerRuntimeVersion"] = json!("docker://20.10.25");
    h["nodes"][0]["status"]["nodeInfo"]["kubeletVersion"] = json!("v1.22.17");
    h["nodes"][1]["status"]["nodeInfo"]["kubeletVersion"] = json!("v1.22.17");
    let findings = as_they_are(&facts(h.clone()), &v("1.22"), &v("1.23"));
    assert!(
        ids(&findings).is_empty(),
        "dockershim only matters from 1.24: {findings:?}"
    );
    let findings = as_they_are(&facts(h), &v("1.22"), &v("1.24"));
    assert_eq!(ids(&findings), vec!["KUP-KUBE-011"]);
    assert_eq!(findings[0].hop, Some(v("1.24")));
}

#[test]
fn in_tree_volumes_need_their_csi_driver() {
    let mut h = healthy();
    h["pvs"] = json!([{"metadata": {"name": "pv-legacy"}, "spec": {"awsElasticBlockStore": {"volumeID": "vol-1"}, "capacity": {"storage": "10Gi"}}}]);
    let with_driver = as_they_are(&facts(h.clone()), &v("1.30"), &v("1.31"));
    assert_eq!(ids(&with_driver), vec!["KUP-KUBE-012"]);
    assert_eq!(with_driver[0].severity, Severity::Info);
    h["csi_drivers"] = json!([]);
    let without = as_they_are(&facts(h), &v("1.30"), &v("1.31"));
    assert_eq!(without[0].severity, Severity::Blocker);
    assert!(
        without[0].message.contains("ebs.csi.aws.com"),
        "{}",
        without[0].message
    );
}

#[test]
fn default_storage_class_must_be_unique() {
    let mut h = healthy();
    h["storage_classes"][0]["metadata"]["annotations"] = json!({});
    let f = as_they_are(&facts(h.clone()), &v("1.30"), &v("1.31"));
    assert_eq!(ids(&f), vec!["KUP-KUBE-013"]);
    assert!(f[0].message.contains("no default StorageClass"));
    let mut two = healthy();
    let mut other = two["storage_classes"][0].clone();
    other["metadata"]["name"] = json!("gp2");
    two["storage_classes"].as_array_mut().unwrap().push(other);
    let f = as_they_are(&facts(two), &v("1.30"), &v("1.31"));
    assert!(
        f[0].message.contains("2 default StorageClasses (gp3, gp2)"),
        "{}",
        f[0].message
    );
}

#[test]
fn hpas_at_their_maximum_warn() {
    let mut h = healthy();
    h["hpas"] = json!([{"metadata": {"name": "web", "namespace": "shop"},
        "spec": {"maxReplicas": 4, "minReplicas": 2, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
        "status": {"currentReplicas": 4, "desiredReplicas": 4}}]);
    let f = as_they_are(&facts(h), &v("1.30"), &v("1.31"));
    assert_eq!(ids(&f), vec!["KUP-KUBE-010"]);
    assert_eq!(f[0].severity, Severity::Warning);
}

#[test]
fn ids_are_stable_and_unique() {
    let mut registry = CheckRegistry::empty();
    register_facts(&mut registry, ClusterFacts::default());
    let checks = registry.describe();
    let mut ids: Vec<&str> = checks.iter().map(|(id, _)| *id).collect();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n);
    assert!(
        ids.iter()
            .all(|id| (id.starts_with("KUP-KUBE-") && id.len() == 12)
                || (id.starts_with("KUP-API-") && id.len() == 11)),
        "{ids:?}"
    );
}

#[test]
fn findings_text_snapshot() {
    let mut h = healthy();
    h["pdbs"][0]["spec"] = json!({"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}});
    h["storage_classes"] = json!([]);
    let findings = as_they_are(&facts(h), &v("1.30"), &v("1.34"));
    let text: Vec<String> = findings
        .iter()
        .map(|f| {
            let ns = f
                .subject
                .namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            let hop = f.hop.as_ref().map(|h| format!(" [hop {h}]")).unwrap_or_default();
            format!(
                "{} {} {} {ns}{}{hop}: {}",
                f.severity, f.id, f.subject.kind, f.subject.name, f.message
            )
        })
        .collect();
    insta::assert_snapshot!(text.join("\n"));
}

#[tokio::test]
async fn facts_are_read_through_the_api_and_checks_register_in_core() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let h = healthy();
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
    ];
    for (p, key) in lists {
        let items = h.get(key).cloned().unwrap_or(json!([]));
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"metadata": {}, "items": items})))
            .mount(&server)
            .await;
    }
    // The deprecated-API scan: a server at 1.30 whose metric and Helm releases show nothing old.
    Mock::given(method("GET"))
        .and(path("/version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "major": "1", "minor": "30", "gitVersion": "v1.30.4", "gitCommit": "", "gitTreeState": "",
            "buildDate": "", "goVersion": "", "compiler": "", "platform": ""
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/metrics"))
        .respond_with(ResponseTemplate::new(200).set_body_string("apiserver_request_total{code=\"200\"} 5\n"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/secrets"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"metadata": {}, "items": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/apis/apiextensions.k8s.io/v1/customresourcedefinitions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"metadata": {}, "items": []})))
        .mount(&server)
        .await;
    // Through the crate's constructor, which also picks the TLS back end when a build links two.
    let kube =
        kupgrade_kube::KubeWorkloads::from_config(kube::Config::new(server.uri().parse().unwrap()), None)
            .unwrap();
    let client = kube.client().clone();
    let read = ClusterFacts::gather(&client).await.unwrap();
    assert_eq!(read.nodes.len(), 2);
    assert_eq!(read.pods.len(), 3);
    let judged = tokio::task::spawn_blocking(move || as_they_are(&read, &v("1.30"), &v("1.33")))
        .await
        .unwrap();
    assert!(judged.is_empty(), "{judged:?}");
    let mut registry = CheckRegistry::empty();
    register(&mut registry, client);
    let described: Vec<&str> = registry.describe().into_iter().map(|(id, _)| id).collect();
    assert!(
        described.contains(&"KUP-KUBE-002")
            && !described.contains(&"KUP-KUBE-005")
            && ["KUP-API-001", "KUP-API-002", "KUP-API-003"]
                .iter()
                .all(|id| described.contains(id)),
        "{described:?}"
    );
}

#[test]
fn kubelet_flags_in_node_configuration_warn_when_deprecated_and_block_when_removed() {
    let mut h = healthy();
    h["node_configs"] = json!([{
        "kind": "File",
        "name": "nodegroups/user-data.sh",
        "text": "#!/bin/bash\n/etc/eks/bootstrap.sh prod --container-runtime containerd \\\n  --kubelet-extra-args '--pod-infra-container-image=registry/pause:3.9 --node-labels=a=b'\n"
    }]);
    let f = facts(h);
    let flag_findings = |to: &str| -> Vec<Finding> {
        as_they_are(&f, &v("1.30"), &v(to))
            .into_iter()
            .filter(|f| f.id == "KUP-KUBE-014")
            .collect()
    };
    // Deprecated since 1.24, removed in 1.35: a warning up to 1.34, a blocker at 1.35.
    let at_134 = flag_findings("1.34");
    assert_eq!(at_134.len(), 1, "{at_134:?}");
    assert_eq!(at_134[0].severity, Severity::Warning);
    assert!(
        at_134[0]
            .message
            .contains("--pod-infra-container-image, deprecated since 1.24, removed in 1.35"),
        "{}",
        at_134[0].message
    );
    let at_135 = flag_findings("1.35");
    assert_eq!(at_135[0].severity, Severity::Blocker);
    assert!(
        at_135[0].message.contains("removed in 1.35"),
        "{}",
        at_135[0].message
    );
    assert_eq!(at_135[0].subject.kind, "File");
    assert_eq!(at_135[0].subject.name, "nodegroups/user-data.sh");
    assert!(
        at_135[0].message.contains("(line 3)") && at_135[0].message.contains("sandbox (pause) image"),
        "{}",
        at_135[0].message
    );
    // bootstrap.sh's own --container-runtime option is not the removed kubelet flag.
    assert!(at_135.iter().all(|f| !f.message.contains("--container-runtime")));
}

#[test]
fn node_configuration_that_could_not_be_read_is_a_warning_not_silence() {
    let mut h = healthy();
    h["unread_node_configs"] =
        json!(["the eks provider's node configuration (e.g. launch templates): permission denied"]);
    let findings: Vec<Finding> = as_they_are(&facts(h), &v("1.30"), &v("1.31"))
        .into_iter()
        .filter(|f| f.id == "KUP-KUBE-014")
        .collect();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(
        findings[0]
            .message
            .contains("kubelet flags not checked in the eks provider's node configuration")
            && !findings[0].message.contains("--")
            && findings[0].hint
                == Some(kupgrade_core::Hint::Settings(vec![
                    kupgrade_core::Setting::NodeConfigFile
                ])),
        "{}",
        findings[0].message
    );
}

#[test]
fn the_provider_and_pools_come_from_the_nodes() {
    let f = facts(healthy());
    assert_eq!(f.provider(), Some(Provider::Eks));
    let snapshot = f.snapshot("prod", v("1.30"), Provider::Eks);
    assert_eq!(snapshot.node_pools.len(), 1);
    assert_eq!(snapshot.node_pools[0].name, "general");
    assert_eq!(snapshot.node_pools[0].version, v("1.30"));
    assert_eq!(snapshot.node_pools[0].nodes, 2);
    // Nodes of two clouds, or none with a providerID, name no provider.
    let mut mixed = healthy();
    mixed["nodes"][1]["spec"]["providerID"] = json!("gce://project/europe-west1-b/gke-node");
    assert_eq!(facts(mixed).provider(), None);
    let mut bare = healthy();
    for node in bare["nodes"].as_array_mut().unwrap() {
        node["spec"] = json!({});
    }
    assert_eq!(facts(bare).provider(), None);
}

#[tokio::test]
async fn with_a_kubeconfig_only_the_in_place_plan_is_judged_and_a_broken_state_falls_back() {
    let today = chrono::NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
    let f = facts(healthy());
    let snapshot = f.snapshot("prod", v("1.30"), Provider::Eks);
    let checked = kupgrade_kube::checks::check_in_place(
        f,
        snapshot,
        &v("1.33"),
        None,
        today,
        std::sync::Arc::new(kupgrade_core::AddonCatalog::embedded()),
    )
    .await
    .unwrap();
    assert!(checked.plan.node_rollouts >= 1, "{:?}", checked.plan.steps);
    assert!(
        checked.checks.iter().any(|(id, _)| *id == "KUP-SKEW-001")
            && checked.checks.iter().any(|(id, _)| *id == "KUP-KUBE-002"),
        "one registry runs core's checks and the in-cluster ones: {:?}",
        checked.checks
    );
    // Kubelets 4 minors behind a 1.30 control plane already break EKS's skew: no plan starts
    // from there, so only the control plane is planned and each node is judged as it is.
    let mut h = healthy();
    for node in h["nodes"].as_array_mut().unwrap() {
        node["status"]["nodeInfo"]["kubeletVersion"] = json!("v1.26.15-eks-1552ad0");
    }
    let f = facts(h);
    let snapshot = f.snapshot("prod", v("1.30"), Provider::Eks);
    let checked = kupgrade_kube::checks::check_in_place(
        f,
        snapshot,
        &v("1.31"),
        None,
        today,
        std::sync::Arc::new(kupgrade_core::AddonCatalog::embedded()),
    )
    .await
    .unwrap();
    assert_eq!(checked.plan.node_rollouts, 0);
    let skew: Vec<&Finding> = checked
        .findings
        .iter()
        .filter(|f| f.id == "KUP-KUBE-002")
        .collect();
    assert_eq!(skew.len(), 2, "{:?}", checked.findings);
    assert!(skew.iter().all(|f| f.severity == Severity::Blocker));
}
