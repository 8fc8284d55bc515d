//! `--provider aks` end to end against the in-process mock ARM server on 127.0.0.1.

mod common;

use common::{assert_one_line_failure, kupgrade_async as run};
use kupgrade_testkit::arm_mock::{MockArm, RESOURCE_GROUP, SUBSCRIPTION};

fn aks_args(cmd: &str, arm: &MockArm, cluster: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        cmd,
        "--provider",
        "aks",
        "--subscription",
        SUBSCRIPTION,
        "--resource-group",
        RESOURCE_GROUP,
        "--cluster",
        cluster,
        "--arm-endpoint",
        &arm.uri(),
        "--no-auth",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_a_live_aks_cluster_through_arm() {
    let arm = MockArm::start().await;
    arm.add_cluster("prod", "1.30");
    arm.add_pool("prod", "system", "1.30", 3);
    arm.add_pool("prod", "user1", "1.29", 2);
    let out = run(aks_args(
        "plan",
        &arm,
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
    assert!(
        arm.requests().await.iter().all(|(m, _, _)| m == "GET"),
        "planning writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_cluster_exits_1_naming_it() {
    let arm = MockArm::start().await;
    let out = run(aks_args("plan", &arm, "ghost", &["--to", "1.31"])).await;
    assert_one_line_failure(&out, "'ghost'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_auth_needs_an_arm_endpoint() {
    let args: Vec<String> = [
        "plan",
        "--provider",
        "aks",
        "--subscription",
        "s",
        "--resource-group",
        "g",
        "--cluster",
        "c",
        "--no-auth",
        "--to",
        "1.31",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run(args).await;
    assert_one_line_failure(&out, "--arm-endpoint");
    let out = run(vec![
        "plan".into(),
        "--provider".into(),
        "aks".into(),
        "--to".into(),
        "1.31".into(),
    ])
    .await;
    assert_one_line_failure(&out, "--subscription");
}
