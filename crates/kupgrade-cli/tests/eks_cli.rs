//! `--provider eks` end to end: the real binary against `moto_server` on 127.0.0.1 with
//! `--endpoint-url` (skipped with a loud note when moto is missing, failing when
//! `KUPGRADE_REQUIRE_MOTO=1`), plus flag errors that need no endpoint.

mod common;

use std::process::{Command, Output};

use common::assert_one_line_failure;
use kupgrade_core::{ClusterSnapshot, KubeVersion, NodePool, Provider};
use kupgrade_testkit::moto::{Server, client, create, start_moto};

fn kupgrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kupgrade"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "moto")
        .env("AWS_SECRET_ACCESS_KEY", "moto")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

#[test]
fn flags_are_checked_before_any_call() {
    let out = kupgrade(&["plan", "--provider", "eks", "--to", "1.31"]);
    assert_one_line_failure(&out, "--provider eks needs --cluster");
    let out = kupgrade(&[
        "plan",
        "--provider",
        "eks",
        "--cluster",
        "prod",
        "--region",
        "us-east-1",
        "--endpoint-url",
        "127.0.0.1:5000",
        "--to",
        "1.31",
    ]);
    assert_one_line_failure(&out, "must start with http://");
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_a_cluster_on_moto_and_names_an_unknown_one() {
    let Some(moto) = start_moto("plans_a_cluster_on_moto_and_names_an_unknown_one", Server::Moto) else {
        return;
    };
    let v = |minor| KubeVersion::new(1, minor);
    let shop = ClusterSnapshot {
        provider: Provider::Eks,
        name: "shop".into(),
        control_plane: v(30),
        status: Default::default(),
        node_pools: vec![
            NodePool::new("general", v(30), 2),
            NodePool::new("batch", v(29), 2),
        ],
        auto_upgrade: None,
        id: None,
    };
    create(&client(&moto), "shop", &shop).await;

    let common = [
        "--provider",
        "eks",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &moto.url,
    ];
    let mut args = vec!["plan", "--cluster", "shop", "--to", "1.32", "--output", "json"];
    args.extend(common);
    let out = kupgrade(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..2],
        ["upgrade-control-plane", "update-addons"],
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "update-addons").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(plan["node_rollouts"], 2, "{plan}");

    let mut args = vec!["plan", "--cluster", "nope", "--to", "1.32"];
    args.extend(common);
    assert_one_line_failure(&kupgrade(&args), "cluster 'nope' not found");
}
