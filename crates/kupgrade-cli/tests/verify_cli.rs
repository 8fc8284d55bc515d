//! `kupgrade verify` through a kubeconfig pointing at a local Kubernetes API stub serving a
//! healthy cluster whose nodes run 1.30: node versions, user check commands, baselines.

use std::process::Output;

use wiremock::MockServer;

mod common;

async fn stub() -> MockServer {
    let server = MockServer::start().await;
    common::mount_kube_api(&server).await;
    server
}

async fn verify(server: &MockServer, dir: &std::path::Path, extra: &[&str]) -> Output {
    let kubeconfig = common::write_kubeconfig(dir, &server.uri());
    let mut args: Vec<String> = vec![
        "verify".into(),
        "--kubeconfig".into(),
        kubeconfig,
        "--output".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    common::kupgrade_async(args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_cluster_at_the_target_passes_and_check_commands_decide() {
    let server = stub().await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json").display().to_string();
    let out = verify(
        &server,
        dir.path(),
        &[
            "--to",
            "1.30",
            "--check-cmd",
            "true",
            "--save-baseline",
            &baseline,
        ],
    )
    .await;
    common::assert_exit(&out, 0);
    assert!(
        common::finding_ids(&out).is_empty(),
        "{:?}",
        common::finding_ids(&out)
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    assert_eq!(saved["nodes"], 2);

    let out = verify(
        &server,
        dir.path(),
        &[
            "--to",
            "1.30",
            "--baseline",
            &baseline,
            "--check-cmd",
            "echo 5xx rate 9%; exit 4",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(common::finding_ids(&out), ["KUP-POST-003"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = v["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("exited with 4") && message.contains("5xx rate 9%"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_behind_the_target_block() {
    let server = stub().await;
    let dir = tempfile::tempdir().unwrap();
    let out = verify(&server, dir.path(), &["--to", "1.31"]).await;
    common::assert_exit(&out, 3);
    assert_eq!(common::finding_ids(&out), ["KUP-POST-002", "KUP-POST-002"]);
}
