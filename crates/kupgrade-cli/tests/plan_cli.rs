//! The `kupgrade plan` and `kupgrade versions` contracts, through the real binary.

use std::path::Path;

mod common;
use common::{assert_one_line_failure, kupgrade};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const EKS_STATE: &str = r#"provider: eks
name: payments
control_plane: "1.29"
node_pools:
  - {name: general, version: "1.29", nodes: 6}
  - {name: gpu, version: "1.29", nodes: 2}
"#;

#[test]
fn json_plan_follows_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(dir.path(), "state.yaml", EKS_STATE);
    let out = kupgrade(&["plan", "--state", &state, "--to", "1.32", "--output", "json"]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "upgrade-control-plane",
            "upgrade-control-plane",
            "upgrade-control-plane",
            "upgrade-node-pool",
            "upgrade-node-pool"
        ]
    );
    assert_eq!(json["steps"][2]["to"], "1.32");
    assert_eq!(json["steps"][3]["node_pool"], "general");
    assert_eq!(json["node_rollouts"], 2);
}

#[test]
fn json_plan_carries_the_graph_and_the_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(dir.path(), "state.yaml", EKS_STATE);
    let out = kupgrade(&["plan", "--state", &state, "--to", "1.32", "--output", "json"]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let after: Vec<serde_json::Value> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["after"].clone())
        .collect();
    // Three hops in a chain, then both pools at once after the last hop.
    assert_eq!(
        after,
        [
            serde_json::json!([]),
            serde_json::json!([0]),
            serde_json::json!([1]),
            serde_json::json!([2]),
            serde_json::json!([2])
        ]
    );
    // 3 hops of 15m, then the larger pool: 6 nodes, one per 4-minute batch.
    assert_eq!(json["estimated_seconds"], 3 * 900 + 6 * 240);
    assert_eq!(json["critical_path"], serde_json::json!([0, 1, 2, 3]));
    assert_eq!(json["steps"][4]["starts_at_seconds"], 2700);
    assert_eq!(json["steps"][4]["estimated_seconds"], 2 * 240);
}

#[test]
fn text_plan_compares_strategies_and_one_pool_at_a_time_is_longer() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(dir.path(), "state.yaml", EKS_STATE);
    let out = kupgrade(&["plan", "--state", &state, "--to", "1.32"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Estimated window: 1h 09m; critical path: steps 1 > 2 > 3 > 4."),
        "{text}"
    );
    assert!(
        text.contains("Estimated window by strategy: in-place 1h 09m, blue-green "),
        "{text}"
    );
    let out = kupgrade(&[
        "plan",
        "--state",
        &state,
        "--to",
        "1.32",
        "--max-parallel-pools",
        "1",
        "--output",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["max_parallel_pools"], 1);
    assert_eq!(json["estimated_seconds"], 3 * 900 + 6 * 240 + 2 * 240);
    let zero = kupgrade(&[
        "plan",
        "--state",
        &state,
        "--to",
        "1.32",
        "--max-parallel-pools",
        "0",
    ]);
    assert_one_line_failure(&zero, "--max-parallel-pools");
}

#[test]
fn json_state_files_and_blue_green_work() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(
        dir.path(),
        "state.json",
        r#"{"provider":"gke","name":"web","control_plane":"1.31","node_pools":[{"name":"default-pool","version":"1.31","nodes":3}]}"#,
    );
    let out = kupgrade(&[
        "plan",
        "--state",
        &state,
        "--to",
        "1.32",
        "--strategy",
        "blue-green",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "upgrade-control-plane",
            "create-node-pool",
            "cordon-node-pool",
            "drain-node-pool",
            "gate",
            "delete-node-pool"
        ]
    );
}

#[test]
fn canary_new_pool_adds_a_one_node_pool_before_the_real_ones() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(dir.path(), "state.yaml", EKS_STATE);
    let out = kupgrade(&[
        "plan",
        "--state",
        &state,
        "--to",
        "1.30",
        "--strategy",
        "canary",
        "--canary-new-pool",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "upgrade-control-plane",
            "create-node-pool",
            "gate",
            "delete-node-pool",
            "upgrade-node-pool",
            "upgrade-node-pool"
        ]
    );
    assert_eq!(json["steps"][1]["nodes"], 1);
    assert_eq!(json["node_rollouts"], 2);
}

#[test]
fn impossible_requests_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(dir.path(), "state.yaml", EKS_STATE);
    assert_one_line_failure(
        &kupgrade(&["plan", "--state", &state, "--to", "1.28"]),
        "cannot downgrade",
    );
    assert_one_line_failure(
        &kupgrade(&["plan", "--state", &state, "--to", "1.40"]),
        "beyond the newest",
    );
    assert_one_line_failure(
        &kupgrade(&["plan", "--state", &state, "--to", "one.two"]),
        "invalid Kubernetes version 'one.two'",
    );
    let unknown = write(dir.path(), "unknown.yaml", &EKS_STATE.replace("eks", "ecs"));
    assert_one_line_failure(
        &kupgrade(&["plan", "--state", &unknown, "--to", "1.30"]),
        "unknown provider 'ecs'",
    );
    let broken = write(
        dir.path(),
        "broken.yaml",
        &EKS_STATE.replace("version: \"1.29\", nodes: 2", "version: \"1.25\", nodes: 2"),
    );
    assert_one_line_failure(
        &kupgrade(&["plan", "--state", &broken, "--to", "1.30"]),
        "node pool 'gpu' at 1.25",
    );
    let garbage = write(dir.path(), "garbage.yaml", "- just\n- a list\n");
    assert_one_line_failure(
        &kupgrade(&["plan", "--state", &garbage, "--to", "1.30"]),
        "not a valid cluster state",
    );
    assert_one_line_failure(
        &kupgrade(&["plan", "--state", "/nonexistent/state.yaml", "--to", "1.30"]),
        "cannot read state file",
    );
}

#[test]
fn text_and_markdown_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let state = write(dir.path(), "state.yaml", EKS_STATE);
    let text = kupgrade(&["plan", "--state", &state, "--to", "1.32"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("  1. upgrade control plane 1.29 -> 1.30"), "{text}");
    assert!(
        text.contains("after: control plane 1.30 | general 1.29 (-1/3)"),
        "{text}"
    );
    let md = kupgrade(&["plan", "--state", &state, "--to", "1.32", "--output", "markdown"]);
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.starts_with("# Upgrade playbook: Amazon EKS `payments` 1.29 -> 1.32"),
        "{md}"
    );
    assert!(
        md.contains("aws eks update-cluster-version --name payments --kubernetes-version 1.30"),
        "{md}"
    );
}

#[test]
fn versions_reports_days_left_and_warns_past_standard() {
    let out = kupgrade(&[
        "versions",
        "--provider",
        "eks",
        "--today",
        "2026-11-25",
        "--output",
        "json",
    ]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v134 = json["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "1.34")
        .unwrap();
    assert_eq!(v134["days_left_standard"], 7);
    assert_eq!(v134["status"], "standard");
    let text = kupgrade(&["versions", "--provider", "aks", "--today", "2026-11-25"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("warning: 1.33 is past standard support"), "{text}");
    assert_one_line_failure(
        &kupgrade(&["versions", "--provider", "openshift"]),
        "unknown provider 'openshift'",
    );
}
