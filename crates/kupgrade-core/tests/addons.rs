//! Add-on verdicts per hop through the check registry, and add-on steps in the plan.

use std::sync::Arc;

use kupgrade_core::addons::{self, AddonCatalog, DeployedChart, InstalledAddon, WorkloadImage};
use kupgrade_core::checks::{CheckInputs, CheckRegistry, Finding, Offer, Severity, Subject};
use kupgrade_core::{
    Calendar, ClusterSnapshot, KubeVersion, NodePool, PlanOptions, Provider, Strategy, plan_with,
};

fn v(s: &str) -> KubeVersion {
    s.parse().unwrap()
}

fn cluster(provider: Provider, at: &str) -> ClusterSnapshot {
    ClusterSnapshot {
        provider,
        name: "prod".into(),
        control_plane: v(at),
        status: Default::default(),
        node_pools: vec![NodePool::new("general", v(at), 3)],
        auto_upgrade: None,
        id: None,
    }
}

fn deployment(ns: &str, name: &str) -> Subject {
    Subject {
        kind: "Deployment".into(),
        namespace: Some(ns.into()),
        name: name.into(),
    }
}

fn image(ns: &str, name: &str, image: &str) -> WorkloadImage {
    WorkloadImage {
        workload: deployment(ns, name),
        image: image.into(),
    }
}

fn chart(release: &str, chart: &str, version: &str, app: &str, kube_version: Option<&str>) -> DeployedChart {
    DeployedChart {
        release: release.into(),
        namespace: "platform".into(),
        chart: chart.into(),
        chart_version: version.into(),
        app_version: Some(app.into()),
        kube_version: kube_version.map(str::to_string),
    }
}

/// Runs only the add-on checks for an in-place plan from `at` to `to`.
fn findings(
    provider: Provider,
    at: &str,
    to: &str,
    charts: &[DeployedChart],
    images: &[WorkloadImage],
) -> Vec<Finding> {
    let catalog = AddonCatalog::embedded();
    let installed: Vec<InstalledAddon> = addons::detect(&catalog, charts, images);
    let snapshot = cluster(provider, at);
    let plan = plan_with(&snapshot, &v(to), &PlanOptions::new(provider, Strategy::InPlace)).unwrap();
    let mut registry = CheckRegistry::empty();
    addons::register(&mut registry, Arc::new(catalog), Arc::new(installed));
    let calendar = Calendar::embedded(provider);
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
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(registry.run(&plan, &inputs))
        .unwrap()
}

fn summary(found: &[Finding]) -> Vec<(String, Severity, Option<String>)> {
    found
        .iter()
        .map(|f| (f.id.clone(), f.severity, f.hop.as_ref().map(ToString::to_string)))
        .collect()
}

#[test]
fn cluster_autoscaler_one_minor_behind_is_a_step_two_is_a_blocker_naming_each_release() {
    let found = findings(
        Provider::Eks,
        "1.29",
        "1.31",
        &[],
        &[image(
            "kube-system",
            "cluster-autoscaler",
            "registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.3",
        )],
    );
    assert_eq!(
        summary(&found),
        [
            ("KUP-ADDON-001".into(), Severity::Blocker, Some("1.31".into())),
            ("KUP-ADDON-007".into(), Severity::Warning, Some("1.30".into())),
        ]
    );
    let blocker = &found[0].message;
    assert!(
        blocker.contains("install 1.30.x right after the hop to 1.30, 1.31.x right after the hop to 1.31"),
        "{blocker}"
    );
    assert_eq!(found[0].subject, deployment("kube-system", "cluster-autoscaler"));
    assert!(
        found[1]
            .message
            .contains("install Cluster Autoscaler 1.30.x right after the control plane reaches 1.30")
    );
}

#[test]
fn retired_ingress_nginx_is_a_warning_with_the_replacement() {
    let found = findings(
        Provider::Aks,
        "1.31",
        "1.32",
        &[],
        &[image(
            "ingress-nginx",
            "ingress-nginx-controller",
            "registry.k8s.io/ingress-nginx/controller:v1.15.0@sha256:0123",
        )],
    );
    assert_eq!(
        summary(&found),
        [("KUP-ADDON-004".into(), Severity::Warning, None)]
    );
    assert!(
        found[0].message.contains("Ingress-NGINX Controller is retired"),
        "{}",
        found[0].message
    );
    assert!(found[0].message.contains("Gateway API"), "{}", found[0].message);
}

#[test]
fn karpenter_whose_max_is_below_the_target_blocks_and_names_the_release_to_install_first() {
    let found = findings(
        Provider::Eks,
        "1.32",
        "1.34",
        &[chart("karpenter", "karpenter", "1.5.0", "1.5.0", None)],
        &[image(
            "karpenter",
            "karpenter",
            "public.ecr.aws/karpenter/controller:1.5.0",
        )],
    );
    assert_eq!(
        summary(&found),
        [("KUP-ADDON-001".into(), Severity::Blocker, Some("1.34".into()))]
    );
    let m = &found[0].message;
    assert!(
        m.contains("Karpenter 1.5.0 runs on Kubernetes 1.26–1.33 only and refuses 1.34"),
        "{m}"
    );
    assert!(
        m.contains("install Karpenter 1.6.x (1.26–1.34) before the hop to 1.34"),
        "{m}"
    );
    // Found through its Helm release, not again through its image.
    assert_eq!(found[0].subject.kind, "HelmRelease");
}

#[test]
fn cert_manager_outside_its_range_is_a_warning_in_the_vendors_words() {
    let found = findings(
        Provider::Gke,
        "1.33",
        "1.34",
        &[chart(
            "cert-manager",
            "cert-manager",
            "v1.18.2",
            "v1.18.2",
            Some(">= 1.22.0-0"),
        )],
        &[],
    );
    assert_eq!(
        summary(&found),
        [("KUP-ADDON-002".into(), Severity::Warning, Some("1.34".into()))]
    );
    let m = &found[0].message;
    assert!(m.contains("cert-manager v1.18.2"), "{m}");
    assert!(!m.contains("unsupported"), "{m}");
    assert!(m.contains("cert-manager 1.19.x lists 1.31–1.35"), "{m}");
}

#[test]
fn a_chart_kube_version_below_the_target_blocks_with_what_helm_would_say() {
    let found = findings(
        Provider::Eks,
        "1.32",
        "1.33",
        &[chart(
            "legacy",
            "legacy-operator",
            "0.4.1",
            "0.4.1",
            Some("<1.33.0-0"),
        )],
        &[],
    );
    let ids = summary(&found);
    assert!(
        ids.contains(&("KUP-ADDON-006".into(), Severity::Blocker, Some("1.33".into()))),
        "{ids:?}"
    );
    let m = &found.iter().find(|f| f.id == "KUP-ADDON-006").unwrap().message;
    assert!(m.contains("Helm refuses `helm upgrade`"), "{m}");
    assert!(m.contains("v1.33.N-eks"), "{m}");
}

#[test]
fn a_plain_floor_fails_only_on_providers_with_a_pre_release_suffix() {
    let chart = [chart("web", "web", "1.0.0", "1.0.0", Some(">=1.21.0"))];
    let eks = findings(Provider::Eks, "1.31", "1.32", &chart, &[]);
    let m = &eks.iter().find(|f| f.id == "KUP-ADDON-006").unwrap().message;
    assert!(
        m.contains("only because Amazon EKS's version suffix is a pre-release"),
        "{m}"
    );
    let aks = findings(Provider::Aks, "1.31", "1.32", &chart, &[]);
    assert!(aks.iter().all(|f| f.id != "KUP-ADDON-006"), "{aks:?}");
}

#[test]
fn an_add_on_the_catalog_does_not_know_is_info_and_nothing_else() {
    let found = findings(
        Provider::Eks,
        "1.31",
        "1.33",
        &[chart("acme", "acme-operator", "2.3.4", "2.3.4", None)],
        &[image("acme", "acme", "ghcr.io/acme/operator:2.3.4")],
    );
    assert_eq!(summary(&found), [("KUP-ADDON-003".into(), Severity::Info, None)]);
    assert!(
        found[0]
            .message
            .contains("acme-operator (chart acme-operator-2.3.4) is not in the add-on catalog")
    );
}

#[test]
fn metrics_server_floor_above_the_cluster_is_named() {
    let found = findings(
        Provider::Aks,
        "1.32",
        "1.33",
        &[],
        &[image(
            "kube-system",
            "metrics-server",
            "registry.k8s.io/metrics-server/metrics-server:v0.9.0",
        )],
    );
    assert_eq!(
        summary(&found),
        [("KUP-ADDON-005".into(), Severity::Warning, None)]
    );
    assert!(
        found[0].message.contains("needs Kubernetes 1.34 or later"),
        "{}",
        found[0].message
    );
}

#[test]
fn add_on_steps_go_around_their_hops_in_the_plan_and_its_json() {
    let catalog = AddonCatalog::embedded();
    let installed = addons::detect(
        &catalog,
        &[chart("karpenter", "karpenter", "1.5.0", "1.5.0", None)],
        &[image(
            "kube-system",
            "cluster-autoscaler",
            "registry.k8s.io/autoscaling/cluster-autoscaler:v1.32.1",
        )],
    );
    let moves = addons::moves(&catalog, &installed, &v("1.32"), &v("1.34"));
    let options = PlanOptions::new(Provider::Eks, Strategy::InPlace).with_addon_moves(moves);
    let plan = plan_with(&cluster(Provider::Eks, "1.32"), &v("1.34"), &options).unwrap();
    let described: Vec<String> = plan.steps.iter().map(|s| s.describe()).collect();
    let at = |needle: &str| {
        described
            .iter()
            .position(|d| d.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in {described:#?}"))
    };
    let hop_33 = at("upgrade control plane 1.32 -> 1.33");
    let hop_34 = at("upgrade control plane 1.33 -> 1.34");
    assert_eq!(
        at("install Cluster Autoscaler 1.33.x right after the control plane reaches 1.33"),
        hop_33 + 1
    );
    assert!(at("install Karpenter 1.6.x before the control plane reaches 1.34") < hop_34);
    assert!(at("install Cluster Autoscaler 1.34.x right after the control plane reaches 1.34") > hop_34);
    let json = serde_json::to_value(&plan).unwrap();
    let addon_steps: Vec<&serde_json::Value> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "addon")
        .collect();
    assert_eq!(addon_steps.len(), 3, "{json}");
    assert_eq!(addon_steps[1]["addon"], "Karpenter");
    assert_eq!(addon_steps[1]["install"], "1.6.x");
    assert_eq!(addon_steps[1]["timing"], "before");
    assert_eq!(addon_steps[1]["hop"], "1.34");
}

#[test]
fn an_autoscaler_already_behind_the_cluster_is_caught_up_before_the_first_hop() {
    let image = [image(
        "kube-system",
        "cluster-autoscaler",
        "registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.4",
    )];
    let found = findings(Provider::Eks, "1.30", "1.31", &[], &image);
    let blocker = found.iter().find(|f| f.id == "KUP-ADDON-001").expect("a blocker");
    assert!(
        blocker
            .message
            .contains("install 1.30.x before the first hop, 1.31.x right after the hop to 1.31"),
        "{}",
        blocker.message
    );
    assert!(blocker.message.contains("(--to 1.31)"), "{}", blocker.message);

    let catalog = AddonCatalog::embedded();
    let installed = addons::detect(&catalog, &[], &image);
    let moves = addons::moves(&catalog, &installed, &v("1.30"), &v("1.31"));
    let summary: Vec<(String, String, addons::AddonTiming)> = moves
        .iter()
        .map(|m| (m.install.clone(), m.hop.to_string(), m.timing))
        .collect();
    assert_eq!(
        summary,
        [
            ("1.30.x".into(), "1.31".into(), addons::AddonTiming::Before),
            ("1.31.x".into(), "1.31".into(), addons::AddonTiming::After),
        ]
    );
}

#[test]
fn suggestions_are_never_a_downgrade_nor_a_release_the_vendor_marks_broken() {
    // external-dns 0.14 stops at 1.32: the fix is 0.18.x, not a wildcard over old releases.
    let found = findings(
        Provider::Aks,
        "1.32",
        "1.33",
        &[],
        &[image(
            "dns",
            "external-dns",
            "registry.k8s.io/external-dns/external-dns:v0.14.2",
        )],
    );
    let w = found.iter().find(|f| f.id == "KUP-ADDON-002").expect("a warning");
    assert!(
        w.message.contains("ExternalDNS 0.18.x lists 1.21+"),
        "{}",
        w.message
    );

    // ingress-nginx 1.15 (1.31-1.35) on a 1.29 cluster: the cluster is below its minimum; no
    // hop below the minimum suggests an older controller.
    let found = findings(
        Provider::Aks,
        "1.29",
        "1.30",
        &[],
        &[image(
            "ingress",
            "controller",
            "registry.k8s.io/ingress-nginx/controller:v1.15.1",
        )],
    );
    let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
    assert!(
        ids.contains(&"KUP-ADDON-005") && ids.contains(&"KUP-ADDON-004"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"KUP-ADDON-002"), "{found:#?}");
    let catalog = AddonCatalog::embedded();
    let installed = addons::detect(
        &catalog,
        &[],
        &[image(
            "ingress",
            "controller",
            "registry.k8s.io/ingress-nginx/controller:v1.15.1",
        )],
    );
    assert!(addons::moves(&catalog, &installed, &v("1.29"), &v("1.30")).is_empty());
}

#[test]
fn provider_components_are_not_self_managed_add_ons_and_the_running_image_wins() {
    let catalog = AddonCatalog::embedded();
    let found = addons::detect(
        &catalog,
        &[chart("ca", "cluster-autoscaler", "9.50.0", "1.31.0", None)],
        &[
            image(
                "kube-system",
                "calico-node",
                "mcr.microsoft.com/oss/calico/node:v3.29.2",
            ),
            image(
                "platform",
                "ca",
                "registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.4",
            ),
        ],
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].version.as_deref(), Some("v1.29.4"));
    assert!(
        found[0]
            .evidence
            .contains("chart cluster-autoscaler-9.50.0, image registry.k8s.io")
    );
}

#[test]
fn a_kube_version_helm_cannot_parse_blocks() {
    let found = findings(
        Provider::Aks,
        "1.31",
        "1.32",
        &[chart(
            "x",
            "x-operator",
            "1.0.0",
            "1.0.0",
            Some(">=1.20.0-0<1.30.0-0"),
        )],
        &[],
    );
    let b = found.iter().find(|f| f.id == "KUP-ADDON-006").expect("a blocker");
    assert_eq!(b.severity, Severity::Blocker);
    assert!(b.message.contains("which Helm cannot parse"), "{}", b.message);
}

#[test]
fn a_plan_without_hops_judges_the_cluster_as_it_is() {
    let found = findings(
        Provider::Eks,
        "1.34",
        "1.34",
        &[chart("karpenter", "karpenter", "1.5.0", "1.5.0", None)],
        &[],
    );
    let b = found.iter().find(|f| f.id == "KUP-ADDON-001").expect("a blocker");
    assert!(
        b.message.contains("refuses the control plane's 1.34 already")
            && b.message.contains("install Karpenter 1.6.x (1.26–1.34) now"),
        "{}",
        b.message
    );
}
