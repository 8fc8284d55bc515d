//! The JSON `EksCluster` puts on the wire, checked with a `StaticReplayClient`.

use aws_sdk_eks::Client;
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use kupgrade_core::{KubeVersion, ManagedCluster, PoolUpgradeOptions, RequestToken, RolloutSettings};
use kupgrade_eks::EksCluster;
use serde_json::{Value, json};

fn event(response: Value) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .uri("https://eks.us-east-1.amazonaws.com/")
            .body(SdkBody::empty())
            .unwrap(),
        http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(SdkBody::from(response.to_string()))
            .unwrap(),
    )
}

fn cluster(replay: &StaticReplayClient) -> EksCluster {
    let config = aws_sdk_eks::Config::builder()
        .with_test_defaults_v2()
        .http_client(replay.clone())
        .build();
    EksCluster::new(Client::from_conf(config), "prod")
}

fn sent(replay: &StaticReplayClient, index: usize) -> (String, String, Value) {
    let request = replay.actual_requests().nth(index).expect("request sent");
    let body = request.body().bytes().expect("in-memory body");
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap()
    };
    (request.method().to_string(), request.uri().to_string(), body)
}

#[tokio::test]
async fn update_cluster_version_sends_the_minor_and_the_token() {
    let replay = StaticReplayClient::new(vec![
        event(json!({"cluster": {"name": "prod", "version": "1.30", "status": "ACTIVE"}})),
        event(json!({"update": {"id": "u-1", "status": "InProgress", "type": "VersionUpdate"}})),
    ]);
    let id = cluster(&replay)
        .upgrade_control_plane(
            &KubeVersion::parse("1.31.2").unwrap(),
            &RequestToken("kup-abc-0-0".into()),
        )
        .await
        .unwrap();
    assert_eq!(id.0, "eks/cluster/prod/-/u-1");
    let (method, uri, body) = sent(&replay, 1);
    assert_eq!(method, "POST");
    assert_eq!(uri, "https://eks.us-east-1.amazonaws.com/clusters/prod/updates");
    assert_eq!(
        body,
        json!({"version": "1.31", "clientRequestToken": "kup-abc-0-0"})
    );
}

#[tokio::test]
async fn a_hop_refused_while_node_groups_lag_is_a_pools_must_match_error() {
    let refusal = ReplayEvent::new(
        http::Request::builder()
            .uri("https://eks.us-east-1.amazonaws.com/")
            .body(SdkBody::empty())
            .unwrap(),
        http::Response::builder()
            .status(400)
            .header("content-type", "application/json")
            .header("x-amzn-errortype", "InvalidParameterException")
            .body(SdkBody::from(
                json!({
                    "message": "Nodegroups batch, general must be updated to match cluster version 1.30 before updating cluster version",
                    "clusterName": "prod"
                })
                .to_string(),
            ))
            .unwrap(),
    );
    let replay = StaticReplayClient::new(vec![
        event(json!({"cluster": {"name": "prod", "version": "1.30", "status": "ACTIVE"}})),
        refusal,
    ]);
    let err = cluster(&replay)
        .upgrade_control_plane(&KubeVersion::parse("1.31").unwrap(), &RequestToken("t".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kupgrade_core::Error::PoolsMustMatch { pools, to, .. } if pools == "batch, general" && to == "1.31"),
        "{err:?}"
    );
    assert_eq!(
        err.hint(),
        Some(kupgrade_core::Hint::Replan { lag_limit: Some(0) }),
        "{err}"
    );
}

#[tokio::test]
async fn update_nodegroup_version_sends_version_force_and_token() {
    let replay = StaticReplayClient::new(vec![
        event(json!({"nodegroup": {
            "nodegroupName": "blue", "clusterName": "prod", "version": "1.30", "status": "ACTIVE",
            "amiType": "AL2023_x86_64_STANDARD",
            "scalingConfig": {"minSize": 1, "maxSize": 4, "desiredSize": 2},
            "updateConfig": {"maxUnavailablePercentage": 50}
        }})),
        event(json!({"cluster": {"name": "prod", "version": "1.31", "status": "ACTIVE"}})),
        event(json!({"update": {"id": "u-2", "status": "InProgress", "type": "VersionUpdate"}})),
    ]);
    let rollout = RolloutSettings {
        max_unavailable: 1,
        ..RolloutSettings::default()
    };
    let id = cluster(&replay)
        .upgrade_node_pool(
            "blue",
            &KubeVersion::new(1, 31),
            &PoolUpgradeOptions::new(rollout.clone()),
            &RequestToken("kup-abc-4-0".into()),
        )
        .await
        .unwrap();
    assert_eq!(id.0, "eks/nodegroup/prod/blue/u-2");
    let (method, uri, body) = sent(&replay, 2);
    assert_eq!(method, "POST");
    assert_eq!(
        uri,
        "https://eks.us-east-1.amazonaws.com/clusters/prod/node-groups/blue/update-version"
    );
    assert_eq!(
        body,
        json!({"version": "1.31", "force": false, "clientRequestToken": "kup-abc-4-0"})
    );
    // 50% of 2 nodes is what `describe` reports as 1, so no config update went out first.
    assert_eq!(replay.actual_requests().count(), 3);
}

#[tokio::test]
async fn a_new_max_unavailable_is_set_before_the_version_update() {
    let replay = StaticReplayClient::new(vec![
        event(json!({"nodegroup": {
            "nodegroupName": "blue", "clusterName": "prod", "version": "1.30", "status": "ACTIVE",
            "scalingConfig": {"minSize": 1, "maxSize": 4, "desiredSize": 2},
            "updateConfig": {"maxUnavailable": 1, "updateStrategy": "MINIMAL"}
        }})),
        event(json!({"cluster": {"name": "prod", "version": "1.31", "status": "ACTIVE"}})),
        event(json!({"update": {"id": "u-3", "status": "InProgress", "type": "ConfigUpdate"}})),
    ]);
    let rollout = RolloutSettings {
        max_unavailable: 3,
        ..RolloutSettings::default()
    };
    let err = cluster(&replay)
        .upgrade_node_pool(
            "blue",
            &KubeVersion::new(1, 31),
            &PoolUpgradeOptions::new(rollout.clone()),
            &RequestToken("kup-abc-4-0".into()),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_retryable(),
        "the executor retries once the config update ends: {err}"
    );
    let (_, uri, body) = sent(&replay, 2);
    assert_eq!(
        uri,
        "https://eks.us-east-1.amazonaws.com/clusters/prod/node-groups/blue/update-config"
    );
    assert_eq!(
        body,
        json!({"updateConfig": {"maxUnavailable": 3, "updateStrategy": "MINIMAL"}, "clientRequestToken": "kup-abc-4-0-config"})
    );
    assert_eq!(replay.actual_requests().count(), 3, "no version update yet");
}
