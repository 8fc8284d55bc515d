//! The adapter against a local mock ARM server on 127.0.0.1 (no network, no Azure account):
//! LRO headers, 409/429 flows, the deprecated-API block, drain failures and wire checks of the
//! PUT bodies.

use kupgrade_testkit::v;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::headers::Headers;
use azure_core::http::{AsyncRawResponse, HttpClient, Request, RetryOptions, StatusCode};
use chrono::Timelike;
use kupgrade_aks::{AbortOutcome, AksCluster, UndrainableNodeBehavior};
use kupgrade_core::{
    Error, KubeVersion, ManagedCluster, NodePoolSpec, OperationKind, OperationState, PoolUpgradeOptions,
    RequestToken, ResourceStatus, RolloutSettings,
};
use kupgrade_testkit::arm_mock::{MockArm, PATCH};
use serde_json::Value;

fn token(s: &str) -> RequestToken {
    RequestToken(s.into())
}

async fn mock() -> MockArm {
    let arm = MockArm::start().await;
    arm.add_cluster("prod", "1.30");
    arm.add_pool("prod", "system", "1.30", 3);
    arm.add_pool("prod", "user1", "1.29", 4);
    arm
}

fn connect(arm: &MockArm, name: &str) -> AksCluster {
    arm.builder(name)
        .with_retry(RetryOptions::none())
        .build()
        .unwrap()
}

async fn finish(cluster: &AksCluster, id: &kupgrade_core::OperationId) -> OperationState {
    for _ in 0..20 {
        let op = cluster.operation(id).await.unwrap();
        if op.state.is_terminal() {
            return op.state;
        }
    }
    panic!("operation never ended")
}

async fn writes(arm: &MockArm) -> Vec<(String, String, Value)> {
    arm.requests()
        .await
        .into_iter()
        .filter(|(m, _, _)| m != "GET")
        .collect()
}

#[tokio::test]
async fn describe_reports_versions_pools_and_settings() {
    let arm = mock().await;
    arm.set_auto_upgrade_channel("prod", "patch");
    let snap = connect(&arm, "prod").describe().await.unwrap();
    assert_eq!(snap.name, "prod");
    assert_eq!(snap.control_plane, v(&format!("1.30.{PATCH}")));
    assert_eq!(snap.auto_upgrade.as_deref(), Some("patch"));
    let user = snap.pool("user1").unwrap();
    assert_eq!(
        (user.version.minor(), user.nodes, user.status),
        (29, 4, ResourceStatus::Ready)
    );
    assert_eq!(
        user.rollout.max_surge, 2,
        "the example pool's maxSurge 33% of 4 nodes rounds up to 2"
    );
    let details = connect(&arm, "prod").pool_details().await.unwrap();
    assert_eq!(details[0].mode, "System");
    assert_eq!(details[1].vm_size, "Standard_D4ds_v5");
}

#[tokio::test]
async fn an_unknown_cluster_is_not_found_and_named() {
    let arm = mock().await;
    let err = connect(&arm, "ghost").describe().await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with("cluster 'ghost' not found") && msg.contains("resource group"),
        "{msg}"
    );
    assert!(matches!(err.hint(), Some(kupgrade_core::Hint::Settings(_))));
}

#[tokio::test]
async fn control_plane_put_changes_only_kubernetes_version_and_sends_if_match() {
    let arm = mock().await;
    let cluster = connect(&arm, "prod");
    let get = arm.cluster_json("prod").unwrap();
    assert!(
        get.pointer("/properties/servicePrincipalProfile").is_some()
            && get
                .pointer("/properties/upgradeSettings/overrideSettings/forceUpgrade")
                .is_some(),
        "the official example carries both traps"
    );
    let id = cluster
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    let put = writes(&arm).await.pop().unwrap();
    assert_eq!(put.0, "PUT");
    assert!(put.1.ends_with("/managedClusters/prod"));
    let (body, props) = (&put.2, &put.2["properties"]);
    assert_eq!(props["kubernetesVersion"], "1.31");
    for gone in [
        "provisioningState",
        "powerState",
        "currentKubernetesVersion",
        "maxAgentPools",
        "fqdn",
        "azurePortalFQDN",
        "servicePrincipalProfile",
        "upgradeSettings",
    ] {
        assert!(props.get(gone).is_none(), "{gone} echoed: {props}");
    }
    assert!(body.get("eTag").is_none() && body.get("id").is_none());
    for kept in [
        "dnsPrefix",
        "linuxProfile",
        "nodeResourceGroup",
        "diskEncryptionSetID",
        "enableRBAC",
    ] {
        assert_eq!(props[kept], get["properties"][kept], "{kept} kept");
    }
    assert_eq!(
        (&body["location"], &body["tags"], &body["sku"]),
        (&get["location"], &get["tags"], &get["sku"])
    );
    let user1 = &props["agentPoolProfiles"][1];
    assert_eq!(user1["orchestratorVersion"], "1.29", "pools stay where they are");
    assert!(user1.get("nodeImageVersion").is_none() && user1.get("eTag").is_none());
    assert_eq!(
        arm.write_preconditions().last().unwrap().1.as_deref(),
        get["eTag"].as_str(),
        "If-Match carries the eTag of the GET"
    );
    assert!(arm.violations().is_empty(), "{:?}", arm.violations());
    assert_eq!(finish(&cluster, &id).await, OperationState::Succeeded);
    assert_eq!(arm.cluster_state("prod").unwrap().0, format!("1.31.{PATCH}"));
}

#[tokio::test]
async fn if_match_carries_the_etag_read_before_the_put() {
    let arm = mock().await;
    let etag = arm.cluster_json("prod").unwrap()["eTag"]
        .as_str()
        .unwrap()
        .to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let cluster = arm
        .builder("prod")
        .with_retry(RetryOptions::none())
        .with_transport(Arc::new(Recorder {
            inner: azure_core::http::new_http_client(None),
            seen: seen.clone(),
        }))
        .build()
        .unwrap();
    cluster
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    let put = seen
        .iter()
        .find(|(m, _, _)| m == "PUT")
        .expect("a PUT went through the injected transport");
    assert_eq!(put.2.as_deref(), Some(etag.as_str()));
    assert!(
        seen.iter()
            .all(|(_, url, _)| url.contains("api-version=2026-08-01"))
    );
}

#[tokio::test]
async fn pool_put_sends_orchestrator_version_and_upgrade_settings() {
    let arm = mock().await;
    let cluster = arm
        .builder("prod")
        .with_undrainable_node_behavior(UndrainableNodeBehavior::Cordon)
        .build()
        .unwrap();
    let own = cluster
        .describe()
        .await
        .unwrap()
        .pool("user1")
        .unwrap()
        .rollout
        .clone();
    let rollout = RolloutSettings {
        drain_timeout: Duration::from_secs(45 * 60),
        soak: Duration::from_secs(5 * 60),
        ..own
    };
    let id = cluster
        .upgrade_node_pool(
            "user1",
            &v("1.30"),
            &PoolUpgradeOptions::new(rollout.clone()),
            &token("np"),
        )
        .await
        .unwrap();
    let put = writes(&arm).await.pop().unwrap();
    assert!(put.1.ends_with("/agentPools/user1"));
    let p = &put.2["properties"];
    assert_eq!(p["orchestratorVersion"], "1.30");
    assert_eq!(
        p["upgradeSettings"],
        serde_json::json!({
            "maxSurge": "33%",
            "drainTimeoutInMinutes": 45,
            "nodeSoakDurationInMinutes": 5,
            "undrainableNodeBehavior": "Cordon"
        }),
        "only what the caller changed is written; the pool's 33% stays a percentage"
    );
    assert_eq!(
        p["vmSize"], "Standard_D4ds_v5",
        "other pool fields are sent back unchanged"
    );
    for gone in [
        "nodeImageVersion",
        "eTag",
        "currentOrchestratorVersion",
        "provisioningState",
        "powerState",
    ] {
        assert!(p.get(gone).is_none(), "{gone} echoed: {p}");
    }
    assert_eq!(finish(&cluster, &id).await, OperationState::Succeeded);
    assert!(arm.violations().is_empty(), "{:?}", arm.violations());
}

#[tokio::test]
async fn a_pool_upgrade_with_the_pools_own_rollout_leaves_its_upgrade_settings_alone() {
    let arm = mock().await;
    let cluster = connect(&arm, "prod");
    let before = arm.pool_json("prod", "user1").unwrap();
    assert_eq!(
        before["properties"]["upgradeSettings"],
        serde_json::json!({"maxSurge": "33%"})
    );
    // What the executor passes: the rollout describe() read from the pool itself.
    let own = cluster
        .describe()
        .await
        .unwrap()
        .pool("user1")
        .unwrap()
        .rollout
        .clone();
    let id = cluster
        .upgrade_node_pool(
            "user1",
            &v("1.30"),
            &PoolUpgradeOptions::new(own.clone()),
            &token("np"),
        )
        .await
        .unwrap();
    let put = writes(&arm).await.pop().unwrap();
    assert_eq!(
        put.2["properties"]["upgradeSettings"],
        serde_json::json!({"maxSurge": "33%"}),
        "no drain timeout, soak or count the user never set"
    );
    assert_eq!(
        arm.write_preconditions().last().unwrap().1.as_deref(),
        before["properties"]["eTag"].as_str(),
        "If-Match carries the pool's properties.eTag"
    );
    assert_eq!(finish(&cluster, &id).await, OperationState::Succeeded);
    let after = arm.pool_json("prod", "user1").unwrap();
    assert_eq!(
        after["properties"]["upgradeSettings"],
        serde_json::json!({"maxSurge": "33%"})
    );
    assert_ne!(after["properties"]["eTag"], before["properties"]["eTag"]);
}

#[tokio::test]
async fn a_concurrent_change_is_read_again_once_then_named() {
    let arm = mock().await;
    let cluster = connect(&arm, "prod");
    arm.interfere_with_next_writes("prod", None, 1);
    let id = cluster
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    let puts: Vec<_> = arm.write_preconditions();
    assert_eq!(puts.len(), 2, "one 412, one retry after a fresh read: {puts:?}");
    assert_ne!(puts[0].1, puts[1].1, "the retry carries the new eTag");
    assert_eq!(finish(&cluster, &id).await, OperationState::Succeeded);

    arm.interfere_with_next_writes("prod", Some("user1"), 2);
    let err = cluster
        .upgrade_node_pool(
            "user1",
            &v("1.30"),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &token("np"),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::InvalidTransition { .. }), "{err:?}");
    assert!(!err.is_retryable(), "a third blind try would not help");
    assert!(
        msg.contains("node pool 'user1'")
            && msg.contains("412")
            && msg.contains("re-run")
            && !msg.contains('\n'),
        "{msg}"
    );
    assert_eq!(
        arm.write_preconditions().len(),
        4,
        "two tries for the pool, no more"
    );
    assert!(arm.violations().is_empty(), "{:?}", arm.violations());
}

#[tokio::test]
async fn system_pools_refuse_max_unavailable_with_aks_s_reason() {
    let arm = mock().await;
    let rollout = RolloutSettings {
        max_unavailable: 1,
        ..RolloutSettings::default()
    };
    let err = connect(&arm, "prod")
        .upgrade_node_pool(
            "system",
            &v("1.30.4"),
            &PoolUpgradeOptions::new(rollout.clone()),
            &token("np"),
        )
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("node pool 'system'") && err.to_string().contains("System"),
        "{err}"
    );
}

#[tokio::test]
async fn async_operation_polls_in_progress_then_succeeded() {
    let arm = mock().await;
    arm.set_operation_ticks(3);
    let cluster = connect(&arm, "prod");
    let id = cluster
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    let op = cluster.operation(&id).await.unwrap();
    assert_eq!(op.state, OperationState::Running);
    assert_eq!(
        (op.kind, op.to),
        (OperationKind::UpgradeControlPlane, Some(v("1.31")))
    );
    let polled = arm.requests().await;
    assert!(
        polled
            .last()
            .unwrap()
            .1
            .contains("/locations/westeurope/operations/"),
        "polls Azure-AsyncOperation"
    );
    assert_eq!(finish(&cluster, &id).await, OperationState::Succeeded);
}

#[tokio::test]
async fn deletes_are_polled_through_location() {
    let arm = mock().await;
    let cluster = connect(&arm, "prod");
    let id = cluster.delete_node_pool("user1", &token("del")).await.unwrap();
    assert_eq!(
        cluster.operation(&id).await.unwrap().state,
        OperationState::Running
    );
    assert!(
        arm.requests()
            .await
            .last()
            .unwrap()
            .1
            .contains("/operationresults/")
    );
    assert_eq!(finish(&cluster, &id).await, OperationState::Succeeded);
    assert!(cluster.describe().await.unwrap().pool("user1").is_none());
    let again = cluster.delete_node_pool("user1", &token("del-2")).await.unwrap();
    assert_eq!(
        finish(&cluster, &again).await,
        OperationState::Succeeded,
        "deleting a gone pool is done"
    );
}

/// The shared wait (core `PollPolicy::wait_operation`) sleeps what ARM's `Retry-After` asks
/// (carried by `Operation::poll_after`), not the policy's own delay.
#[tokio::test]
async fn wait_honours_retry_after() {
    let arm = mock().await;
    arm.set_operation_ticks(2);
    arm.set_retry_after(1);
    let cluster = connect(&arm, "prod");
    let id = cluster
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    let started = Instant::now();
    let poll = kupgrade_core::PollPolicy {
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
        max_retries: 3,
        timeout: Duration::from_secs(30),
    };
    let op = poll
        .wait_operation(&cluster, &id, &kupgrade_core::events::discard(), |_| {})
        .await
        .unwrap();
    assert_eq!(op.state, OperationState::Succeeded);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "slept Retry-After, not the 1 ms default"
    );
}

#[tokio::test]
async fn another_operation_running_is_retryable_in_progress() {
    let arm = mock().await;
    arm.set_operation_ticks(50);
    let cluster = connect(&arm, "prod");
    cluster
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    let err = cluster
        .upgrade_node_pool(
            "user1",
            &v("1.30"),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &token("np"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OperationInProgress { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_conflict_from_arm_maps_to_in_progress() {
    let arm = mock().await;
    arm.set_operation_ticks(50);
    let first = connect(&arm, "prod");
    first
        .create_node_pool(&spec("blue", "system", "1.30"), &token("c"))
        .await
        .unwrap();
    // The cluster itself reads Succeeded (a pool operation runs), so the PUT goes out and ARM
    // answers 409 OperationNotAllowed.
    let err = first
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::OperationInProgress { message: ref m, .. } if m.contains("Another operation")),
        "{err}"
    );
    // The cause names the provider and the request, and keeps ARM's own answer.
    let cause = err.cause().expect("an ARM error keeps its cause");
    assert_eq!(cause.provider(), Some(kupgrade_core::Provider::Aks));
    assert_eq!(cause.operation(), "PUT managedClusters/prod");
    let arm_error = cause
        .downcast_ref::<kupgrade_aks::ArmError>()
        .expect("the source is ARM's error answer");
    assert_eq!(arm_error.status(), 409);
    assert_eq!(arm_error.code(), Some("OperationNotAllowed"));
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn throttling_is_retryable_with_retry_after_and_the_pipeline_retries_it() {
    let arm = mock().await;
    arm.throttle_next(1, 7);
    let err = connect(&arm, "prod").describe().await.unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));

    arm.throttle_next(1, 1);
    let retrying = arm
        .builder("prod")
        .with_retry(RetryOptions::fixed(azure_core::http::FixedRetryOptions {
            max_retries: 2,
            ..Default::default()
        }))
        .build()
        .unwrap();
    let started = Instant::now();
    assert!(retrying.describe().await.is_ok());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the pipeline waited Retry-After"
    );
}

#[tokio::test]
async fn deprecated_api_block_is_a_blocker_and_the_override_needs_an_explicit_opt_in() {
    let arm = mock().await;
    arm.block_on_deprecated_apis("prod");
    let err = connect(&arm, "prod")
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("overrideSettings.forceUpgrade") && msg.contains("until"),
        "{msg}"
    );
    assert!(msg.contains("podsecuritypolicies"), "names what AKS saw: {msg}");
    let put = writes(&arm).await.pop().unwrap();
    assert!(
        put.2
            .pointer("/properties/upgradeSettings/overrideSettings")
            .is_none(),
        "never applied on its own"
    );

    let until = (chrono::Utc::now() + chrono::Duration::days(2))
        .with_nanosecond(0)
        .unwrap();
    let until_wire = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let forced = arm
        .builder("prod")
        .with_force_upgrade_until(until)
        .build()
        .unwrap();
    let id = forced
        .upgrade_control_plane(&v("1.31"), &token("cp-force"))
        .await
        .unwrap();
    let put = writes(&arm).await.pop().unwrap();
    assert_eq!(
        put.2
            .pointer("/properties/upgradeSettings/overrideSettings")
            .unwrap(),
        &serde_json::json!({"forceUpgrade": true, "until": until_wire})
    );
    assert_eq!(finish(&forced, &id).await, OperationState::Succeeded);
}

#[tokio::test]
async fn a_pdb_blocked_drain_fails_with_what_aks_reports() {
    let arm = mock().await;
    arm.fail_drain("prod", "user1", "shop/web-7d9f");
    let cluster = connect(&arm, "prod");
    let id = cluster
        .upgrade_node_pool(
            "user1",
            &v("1.30"),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &token("np"),
        )
        .await
        .unwrap();
    match finish(&cluster, &id).await {
        OperationState::Failed(why) => {
            assert!(why.starts_with("UpgradeFailed: "), "{why}");
            assert!(
                why.contains("shop/web-7d9f") && why.contains("disruption budget"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
    let force = cluster
        .upgrade_node_pool(
            "user1",
            &v("1.30"),
            &PoolUpgradeOptions::new(RolloutSettings::default()).with_force(true),
            &token("np-f"),
        )
        .await
        .unwrap_err();
    assert!(force.to_string().contains("PodDisruptionBudgets"), "{force}");
}

#[tokio::test]
async fn legacy_clusters_and_auto_upgrade_channels_are_refused_before_any_write() {
    let arm = mock().await;
    arm.set_auto_upgrade_channel("prod", "stable");
    let err = connect(&arm, "prod")
        .upgrade_control_plane(&v("1.31"), &token("a"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("auto-upgrade channel 'stable'"), "{err}");
    arm.set_auto_upgrade_channel("prod", "none");
    arm.set_max_agent_pools("prod", 1);
    let err = connect(&arm, "prod")
        .upgrade_control_plane(&v("1.31"), &token("b"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("legacy"), "{err}");
    assert!(writes(&arm).await.is_empty());
}

#[tokio::test]
async fn illegal_version_changes_are_refused_like_aks_does() {
    let arm = mock().await;
    let cluster = connect(&arm, "prod");
    let err = cluster
        .upgrade_control_plane(&v("1.32"), &token("skip"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidTransition { message: ref m, .. } if m.contains("is not allowed")),
        "{err}"
    );
    let err = cluster
        .upgrade_node_pool(
            "user1",
            &v("1.31"),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &token("np"),
        )
        .await
        .unwrap_err();
    assert!(
        !err.is_retryable() && err.to_string().contains("newer than the control plane"),
        "{err}"
    );
    let err = cluster
        .upgrade_node_pool(
            "ghost",
            &v("1.30"),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &token("g"),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("'ghost'") && err.to_string().contains("'prod'"),
        "{err}"
    );
}

#[tokio::test]
async fn a_resumed_run_finds_the_operation_again() {
    let arm = mock().await;
    arm.set_operation_ticks(6);
    let id = connect(&arm, "prod")
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    // A new process: a fresh handle, the id from the journal.
    let restarted = connect(&arm, "prod");
    let inflight = restarted.operations_in_flight().await.unwrap();
    assert_eq!(inflight.len(), 1);
    assert_eq!(
        (inflight[0].kind, inflight[0].to.clone()),
        (OperationKind::UpgradeControlPlane, Some(v("1.31")))
    );
    assert_eq!(finish(&restarted, &id).await, OperationState::Succeeded);
    assert!(restarted.operations_in_flight().await.unwrap().is_empty());
    assert_eq!(
        finish(&restarted, &inflight[0].id).await,
        OperationState::Succeeded
    );
}

#[tokio::test]
async fn a_retried_start_never_starts_a_second_upgrade() {
    let arm = mock().await;
    arm.set_operation_ticks(6);
    let cluster = connect(&arm, "prod");
    let first = cluster
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    let same = cluster
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    assert_eq!(first, same);
    // Another handle (after a crash), another token: state is checked first, no second PUT.
    let other = connect(&arm, "prod")
        .upgrade_control_plane(&v("1.31"), &token("cp-2"))
        .await
        .unwrap();
    let puts = writes(&arm)
        .await
        .into_iter()
        .filter(|(m, _, _)| m == "PUT")
        .count();
    assert_eq!(puts, 1);
    assert_eq!(finish(&cluster, &other).await, OperationState::Succeeded);
    let done = connect(&arm, "prod")
        .upgrade_control_plane(&v("1.31"), &token("cp-3"))
        .await
        .unwrap();
    assert_eq!(
        finish(&cluster, &done).await,
        OperationState::Succeeded,
        "already there: nothing to do"
    );
    assert_eq!(writes(&arm).await.len(), 1);
}

fn spec(name: &str, clone_of: &str, version: &str) -> NodePoolSpec {
    NodePoolSpec {
        name: name.into(),
        clone_of: clone_of.into(),
        version: v(version),
        nodes: 2,
        labels: [("team".to_string(), "shop".to_string())].into(),
        taints: vec![],
    }
}

#[tokio::test]
async fn new_pools_clone_their_source_and_are_created_only_once() {
    let arm = mock().await;
    let cluster = connect(&arm, "prod");
    let err = cluster
        .create_node_pool(&spec("User-2", "user1", "1.30"), &token("bad"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("^[a-z][a-z0-9]{0,11}$"), "{err}");
    assert!(writes(&arm).await.is_empty(), "refused before any request");

    let id = cluster
        .create_node_pool(&spec("user130", "user1", "1.30"), &token("c"))
        .await
        .unwrap();
    let put = writes(&arm).await.pop().unwrap();
    let p = &put.2["properties"];
    assert_eq!(
        (p["count"].clone(), p["orchestratorVersion"].clone()),
        (Value::from(2), Value::from("1.30"))
    );
    assert_eq!(p["mode"], "User");
    assert_eq!(p["nodeLabels"]["team"], "shop");
    assert!(p.get("provisioningState").is_none() && p.get("currentOrchestratorVersion").is_none());
    assert_eq!(finish(&cluster, &id).await, OperationState::Succeeded);
    let again = connect(&arm, "prod")
        .create_node_pool(&spec("user130", "user1", "1.30"), &token("c2"))
        .await
        .unwrap();
    assert_eq!(finish(&cluster, &again).await, OperationState::Succeeded);
    assert_eq!(writes(&arm).await.len(), 1, "no second create");
}

#[tokio::test]
async fn versions_come_from_the_catalogue_and_the_upgrade_profile() {
    let arm = mock().await;
    let cluster = connect(&arm, "prod");
    let catalogue = cluster.catalogue().await.unwrap();
    let lts = catalogue.iter().find(|c| c.version.minor() == 30).unwrap();
    assert!(lts.support_plans.iter().any(|p| p == "AKSLongTermSupport"));
    assert!(catalogue.iter().any(|c| c.is_preview));
    let offered = cluster.offered_versions().await.unwrap();
    assert_eq!(offered.len(), catalogue.len(), "previews are offered, marked");
    assert_eq!(
        offered.iter().filter(|o| o.preview).count(),
        catalogue.iter().filter(|c| c.is_preview).count()
    );
    assert!(offered.iter().any(|o| o.is_default && o.version.minor() == 33));
    let ups = cluster.upgrade_options().await.unwrap();
    assert_eq!(ups.control_plane.1, vec![v(&format!("1.31.{PATCH}"))]);
    let user = ups.pools.iter().find(|p| p.0 == "user1").unwrap();
    assert_eq!(user.2.len(), 1, "a pool may go up to the control plane: {user:?}");
}

#[tokio::test]
async fn abort_cancels_the_running_operation() {
    let arm = mock().await;
    arm.set_operation_ticks(50);
    let cluster = connect(&arm, "prod");
    assert_eq!(
        cluster
            .abort(&kupgrade_core::PollPolicy::default())
            .await
            .unwrap(),
        AbortOutcome::NothingRunning
    );
    let id = cluster
        .upgrade_control_plane(&v("1.31"), &token("cp"))
        .await
        .unwrap();
    assert_eq!(
        cluster
            .abort(&kupgrade_core::PollPolicy::default())
            .await
            .unwrap(),
        AbortOutcome::Aborted
    );
    assert_eq!(
        cluster.operation(&id).await.unwrap().state,
        OperationState::Cancelled
    );
    assert!(
        writes(&arm)
            .await
            .iter()
            .any(|(m, p, _)| m == "POST" && p.ends_with("/managedClusters/prod/abort"))
    );
}

#[derive(Debug)]
struct FixedToken;

#[async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        assert_eq!(scopes, ["https://arm.example.test/.default"]);
        Ok(AccessToken::new(
            "test-token",
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
        ))
    }
}

/// One request seen by [`Recorder`]: method, URL, `If-Match` (else `Authorization`).
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// Records (method, url, if-match) and answers from `inner`, or 404 when there is none.
#[derive(Debug)]
struct Recorder {
    inner: Arc<dyn HttpClient>,
    seen: Seen,
}

#[async_trait]
impl HttpClient for Recorder {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let h = request.headers();
        let get =
            |n: &'static str| h.get_optional_string(&azure_core::http::headers::HeaderName::from_static(n));
        self.seen.lock().unwrap().push((
            request.method().to_string().to_uppercase(),
            request.url().to_string(),
            get("if-match").or_else(|| get("authorization")),
        ));
        self.inner.execute_request(request).await
    }
}

#[derive(Debug)]
struct NotFound;

#[async_trait]
impl HttpClient for NotFound {
    async fn execute_request(&self, _: &Request) -> azure_core::Result<AsyncRawResponse> {
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::NotFound,
            Headers::new(),
            br#"{"error":{"code":"ResourceNotFound","message":"not found"}}"#.to_vec(),
        ))
    }
}

#[tokio::test]
async fn an_injected_credential_signs_requests_through_an_injected_transport() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let cluster = kupgrade_aks::AksClusterBuilder::new()
        .with_subscription("s")
        .with_resource_group("g")
        .with_cluster("prod")
        .with_endpoint("https://arm.example.test")
        .with_credential(Arc::new(FixedToken))
        .with_transport(Arc::new(Recorder {
            inner: Arc::new(NotFound),
            seen: seen.clone(),
        }))
        .build()
        .unwrap();
    let err = cluster.describe().await.unwrap_err();
    assert!(err.to_string().starts_with("cluster 'prod' not found"), "{err}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].2.as_deref(), Some("Bearer test-token"));
    assert!(seen[0].1.starts_with("https://arm.example.test/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/prod?api-version=2026-08-01"));
}

#[tokio::test]
async fn polling_urls_off_the_arm_endpoint_are_refused() {
    let arm = mock().await;
    let cluster = connect(&arm, "prod");
    let other = MockArm::start().await;
    other.add_cluster("prod", "1.30");
    other.add_pool("prod", "system", "1.30", 1);
    other.add_pool("prod", "user1", "1.29", 1);
    let foreign = connect(&other, "prod")
        .upgrade_control_plane(&v("1.31"), &token("x"))
        .await
        .unwrap();
    let err = cluster.operation(&foreign).await.unwrap_err();
    assert!(err.to_string().contains("refusing to send a token"), "{err}");
}

/// Runs against a real subscription: set KUPGRADE_AKS_LIVE=1 plus AZURE_SUBSCRIPTION_ID,
/// AZURE_RESOURCE_GROUP and AKS_CLUSTER, and be logged in (`az login`). Read-only.
#[tokio::test]
#[ignore = "needs Azure subscription"]
async fn live_describe_and_versions() {
    if std::env::var("KUPGRADE_AKS_LIVE").as_deref() != Ok("1") {
        eprintln!("KUPGRADE_AKS_LIVE is not 1; skipping");
        return;
    }
    let cluster = kupgrade_aks::AksClusterBuilder::from_env().build().unwrap();
    let snap = cluster.describe().await.unwrap();
    assert!(!snap.node_pools.is_empty());
    assert!(!cluster.offered_versions().await.unwrap().is_empty());
    assert!(cluster.upgrade_options().await.is_ok());
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_official_version_list_marks_its_preview() {
    let arm = mock().await;
    arm.serve_versions(fixture("KubernetesVersions_List.json")["responses"]["200"]["body"].clone());
    let cluster = connect(&arm, "prod");
    let offered = cluster.offered_versions().await.unwrap();
    let seen: Vec<(String, bool, bool)> = offered
        .iter()
        .map(|o| (o.version.to_string(), o.is_default, o.preview))
        .collect();
    let want: Vec<(String, bool, bool)> = [
        ("1.23.15", false, false),
        ("1.24.9", true, false),
        ("1.25.5", false, false),
        ("1.26.0", false, true),
    ]
    .iter()
    .map(|(v, d, p)| (KubeVersion::parse(v).unwrap().to_string(), *d, *p))
    .collect();
    assert_eq!(
        seen, want,
        "newest patch per minor, default and preview as listed"
    );
}

#[test]
fn the_spec_extract_accepts_official_writes_and_refuses_a_get_echo() {
    use kupgrade_testkit::arm_mock::schema_problems;
    let cluster_put =
        &fixture("ManagedClustersCreate_UpdateWithEnableAzureRBAC.json")["parameters"]["parameters"];
    assert_eq!(
        schema_problems("ManagedCluster", cluster_put),
        Vec::<String>::new()
    );
    let pool_put = &fixture("AgentPoolsCreate_Update.json")["parameters"]["parameters"];
    assert_eq!(schema_problems("AgentPool", pool_put), Vec::<String>::new());

    let echo = &fixture("ManagedClustersGet.json")["responses"]["200"]["body"];
    let problems = schema_problems("ManagedCluster", echo).join("\n");
    for read_only in [
        "/eTag",
        "/id",
        "/properties/provisioningState",
        "/properties/currentKubernetesVersion",
        "/properties/fqdn",
        "/properties/maxAgentPools",
        "/properties/agentPoolProfiles/0/eTag",
        "/properties/agentPoolProfiles/0/currentOrchestratorVersion",
        "/properties/networkProfile/loadBalancerProfile/effectiveOutboundIPs",
    ] {
        assert!(
            problems.contains(&format!("{read_only}: read-only")),
            "{read_only} not flagged:\n{problems}"
        );
    }
    let unknown = serde_json::json!({"location": "x", "properties": {"kubernetesVersion": "1.31", "forceUpgrade": true}});
    assert_eq!(
        schema_problems("ManagedCluster", &unknown),
        vec![
            "/properties/forceUpgrade: not a property of ManagedClusterProperties in the 2026-08-01 spec"
                .to_string()
        ]
    );
}

#[tokio::test]
async fn components_aks_marks_breaking_are_a_warning_at_their_hop() {
    use kupgrade_core::checks::{CheckInputs, CheckRegistry, Offer};
    let arm = mock().await;
    arm.set_components_by_releases(
        "prod",
        serde_json::json!([
            {"kubernetesVersion": "1.31", "components": [
                {"name": "azure-policy-webhook", "version": "1.13.0", "hasBreakingChanges": false},
                {"name": "cilium-operator", "version": "v1.17.2", "hasBreakingChanges": true}
            ]},
            {"kubernetesVersion": "1.32", "components": [
                {"name": "osm-sidecar", "version": "v1.32.2-hotfix.20241216", "hasBreakingChanges": false}
            ]}
        ]),
    );
    let cluster = connect(&arm, "prod");
    let check = cluster.components_check();
    let at_31 = check.components_at(&v("1.31")).await.unwrap();
    assert_eq!(at_31.len(), 2);
    assert!(check.components_at(&v("1.33")).await.unwrap().is_empty());

    let snapshot = cluster.describe().await.unwrap();
    let plan = kupgrade_core::plan_with(
        &snapshot,
        &v("1.32"),
        &kupgrade_core::PlanOptions::new(kupgrade_core::Provider::Aks, kupgrade_core::Strategy::InPlace),
    )
    .unwrap();
    let mut registry = CheckRegistry::empty();
    registry.extend(cluster.provider_checks().unwrap().checks());
    let calendar = kupgrade_core::Calendar::embedded(kupgrade_core::Provider::Aks);
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
    let found = registry.run(&plan, &inputs).await.unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].id, kupgrade_aks::COMPONENTS_CHECK_ID);
    assert_eq!(found[0].hop, Some(v("1.31")));
    assert!(
        found[0]
            .message
            .contains("AKS installs cilium-operator v1.17.2 at 1.31 and marks it as having breaking changes")
    );

    // A profile without the listing (it is a preview in AKS) says nothing.
    arm.set_components_by_releases("prod", Value::Null);
    assert!(registry.run(&plan, &inputs).await.unwrap().is_empty());
}
