//! Skew rules, refused hops and the provider's offer through the real binary: a hop the
//! provider refuses because pools lag names the re-plan command and the re-plan finishes; the
//! in-cluster skew checks follow the plan (AKS 1.29 -> 1.33); targets not offered, or offered
//! as previews, are stopped before anything changes.

use std::path::Path;

mod common;
use common::{assert_exit, finding_ids, kupgrade, kupgrade_async, read_json};
use kupgrade_testkit::arm_mock::{MockArm, RESOURCE_GROUP, SUBSCRIPTION};
use serde_json::{Value, json};

fn sim_init(dir: &Path, provider: &str, extra: &[&str]) -> String {
    let state = dir.join("state.json").display().to_string();
    let args = [
        &[
            "sim",
            "init",
            &state,
            "--provider",
            provider,
            "--control-plane",
            "1.29",
            "--pools",
            "2",
            "--pods",
            "6",
        ][..],
        extra,
    ]
    .concat();
    let out = kupgrade(&args);
    assert_exit(&out, 0);
    state
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_hop_refused_because_pools_lag_names_the_rule_and_the_replan_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let state = sim_init(dir.path(), "eks", &["--strict-pool-rule"]);
    let upgrade = |extra: &[&str]| {
        let args = [
            &[
                "upgrade",
                "--provider",
                "sim",
                "--sim-state",
                &state,
                "--to",
                "1.32",
                "--yes",
            ][..],
            extra,
        ]
        .concat();
        kupgrade(&args)
    };
    // The default plan follows the EKS user guide (pools wait at 1.29); this cluster enforces
    // the API reference's rule, so the second hop is refused.
    let out = upgrade(&[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("error: ")
            && last.contains("to 1.31")
            && last.contains("control plane's version 1.30")
            && last.contains("UpdateClusterVersion")
            && last.contains("rerun with --lag-limit 0 --replan"),
        "{err}"
    );
    assert_eq!(read_json(Path::new(&state))["control_plane"], "1.30");
    // The journal records the options: the same journal with another lag limit is refused...
    let out = upgrade(&["--lag-limit", "0"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("lag limit"), "{}", stderr(&out));
    // ...and the command the error named re-plans with the pools moved first, and finishes.
    let out = upgrade(&["--lag-limit", "0", "--replan"]);
    assert_exit(&out, 0);
    let end = read_json(Path::new(&state));
    assert_eq!(end["control_plane"], "1.32");
    for pool in end["node_pools"].as_array().unwrap() {
        assert_eq!(pool["version"], "1.32", "{pool}");
    }
}

#[test]
fn targets_not_offered_or_in_preview_stop_before_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let state = sim_init(
        dir.path(),
        "aks",
        &["--offer", "1.30,1.31,1.32", "--preview", "1.32"],
    );
    let check = |to: &str, extra: &[&str]| {
        let args = [
            &[
                "check",
                "--provider",
                "sim",
                "--sim-state",
                &state,
                "--to",
                to,
                "--output",
                "json",
            ][..],
            extra,
        ]
        .concat();
        kupgrade(&args)
    };
    let offer_findings = |out: &std::process::Output| -> Vec<Value> {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == "KUP-VER-001")
            .cloned()
            .collect()
    };
    let out = check("1.31", &[]);
    assert_exit(&out, 0);
    assert!(offer_findings(&out).is_empty());

    let out = check("1.33", &[]);
    assert_exit(&out, 3);
    let found = offer_findings(&out);
    let target = found.iter().find(|f| f["hop"] == "1.33").unwrap();
    assert_eq!(target["severity"], "blocker");
    let message = target["message"].as_str().unwrap();
    assert!(message.contains("target 1.33 is not offered"), "{message}");
    assert!(
        message.contains("offered: 1.30, 1.31, 1.32 (preview)"),
        "{message}"
    );

    let out = check("1.32", &[]);
    assert_exit(&out, 3);
    let found = offer_findings(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["severity"], "blocker");
    assert!(found[0]["message"].as_str().unwrap().contains("--allow-preview"));
    let out = check("1.32", &["--allow-preview"]);
    assert_exit(&out, 0);
    assert_eq!(offer_findings(&out)[0]["severity"], "warning");

    let before = std::fs::read(&state).unwrap();
    let upgrade = |extra: &[&str]| {
        let args = [
            &[
                "upgrade",
                "--provider",
                "sim",
                "--sim-state",
                &state,
                "--to",
                "1.32",
                "--yes",
            ][..],
            extra,
        ]
        .concat();
        kupgrade(&args)
    };
    let out = upgrade(&[]);
    assert_exit(&out, 3);
    assert_eq!(std::fs::read(&state).unwrap(), before, "nothing changed");
    let out = upgrade(&["--allow-preview"]);
    assert_exit(&out, 0);
    assert_eq!(read_json(Path::new(&state))["control_plane"], "1.32");
}

/// A Kubernetes API at 1.29 whose nodes are AKS agent-pool nodes on kubelet 1.29.12, two per
/// pool; every other list is empty.
async fn mount_aks_nodes(server: &wiremock::MockServer, pools: &[&str]) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    Mock::given(method("GET"))
        .and(path("/version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "major": "1", "minor": "29", "gitVersion": "v1.29.12", "gitCommit": "", "gitTreeState": "",
            "buildDate": "", "goVersion": "", "compiler": "", "platform": ""
        })))
        .mount(server)
        .await;
    let nodes: Vec<Value> = pools
        .iter()
        .flat_map(|pool| {
            (0..2).map(move |i| {
                json!({
                    "metadata": {
                        "name": format!("aks-{pool}-1234-vmss00000{i}"),
                        "labels": {"kubernetes.azure.com/agentpool": pool, "agentpool": pool}
                    },
                    "spec": {
                        "providerID": format!("azure:///subscriptions/s/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-{pool}-1234-vmss/virtualMachines/{i}")
                    },
                    "status": {
                        "conditions": [{"type": "Ready", "status": "True"}],
                        "nodeInfo": {
                            "kubeletVersion": "v1.29.12", "kubeProxyVersion": "v1.29.12",
                            "containerRuntimeVersion": "containerd://1.7.22", "architecture": "amd64",
                            "bootID": "", "kernelVersion": "", "machineID": "", "operatingSystem": "linux",
                            "osImage": "", "systemUUID": ""
                        }
                    }
                })
            })
        })
        .collect();
    Mock::given(method("GET"))
        .and(path("/api/v1/nodes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"metadata": {}, "items": nodes})))
        .mount(server)
        .await;
    for p in [
        "/api/v1/pods",
        "/apis/policy/v1/poddisruptionbudgets",
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/statefulsets",
        "/apis/apps/v1/daemonsets",
        "/apis/autoscaling/v2/horizontalpodautoscalers",
        "/apis/storage.k8s.io/v1/storageclasses",
        "/apis/storage.k8s.io/v1/csidrivers",
        "/api/v1/persistentvolumes",
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"metadata": {}, "items": []})))
            .mount(server)
            .await;
    }
}

fn kube_002(out: &std::process::Output) -> usize {
    finding_ids(out).iter().filter(|id| *id == "KUP-KUBE-002").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aks_1_29_to_1_33_is_not_blocked_by_kubelets_the_plan_moves_first() {
    let pools = ["system", "user1", "user2"];
    let arm = MockArm::start().await;
    arm.add_cluster("prod", "1.29");
    for pool in pools {
        arm.add_pool("prod", pool, "1.29", 2);
    }
    let kube = wiremock::MockServer::start().await;
    mount_aks_nodes(&kube, &pools).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = common::write_kubeconfig(dir.path(), &kube.uri());
    let aks = |cmd: &str, extra: &[&str]| -> Vec<String> {
        let base = [
            cmd,
            "--provider",
            "aks",
            "--subscription",
            SUBSCRIPTION,
            "--resource-group",
            RESOURCE_GROUP,
            "--cluster",
            "prod",
            "--arm-endpoint",
            &arm.uri(),
            "--no-auth",
            "--kubeconfig",
            &kubeconfig,
            "--to",
            "1.33",
            "--output",
            "json",
        ];
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    // With the kubeconfig only, the pools come from the nodes' agent-pool labels and the
    // in-place plan moves them before the 1.33 hop too: the six 1.29 kubelets, 4 minors behind
    // 1.33, block nothing (judging them as if they never moved was the reported false alarm).
    let kubeconfig_only = kupgrade_async(vec![
        "check".into(),
        "--kubeconfig".into(),
        kubeconfig.clone(),
        "--to".into(),
        "1.33".into(),
        "--today".into(),
        "2025-06-01".into(),
        "--output".into(),
        "json".into(),
    ])
    .await;
    assert_eq!(
        kube_002(&kubeconfig_only),
        0,
        "{}",
        String::from_utf8_lossy(&kubeconfig_only.stdout)
    );
    assert_exit(&kubeconfig_only, 0);
    // The plan moves every pool to 1.32 before the 1.33 hop: no KUP-KUBE-002, nothing blocks.
    let checked = kupgrade_async(aks("check", &[])).await;
    assert_eq!(
        kube_002(&checked),
        0,
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    assert_exit(&checked, 0);
    let dry = kupgrade_async(aks("upgrade", &["--dry-run"])).await;
    assert_exit(&dry, 0);
    assert_eq!(kube_002(&dry), 0);
    let plan: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(plan["result"], "dry-run");
}
