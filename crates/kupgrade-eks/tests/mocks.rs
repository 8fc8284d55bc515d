//! `aws-smithy-mocks` sequences: what `EksCluster` does when EKS answers in a given order.

use std::time::Duration;

use aws_sdk_eks::Client;
use aws_sdk_eks::config::retry::RetryConfig;
use aws_sdk_eks::operation::describe_addon::DescribeAddonOutput;
use aws_sdk_eks::operation::describe_addon_versions::DescribeAddonVersionsOutput;
use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_insight::DescribeInsightOutput;
use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::list_addons::ListAddonsOutput;
use aws_sdk_eks::operation::list_insights::ListInsightsOutput;
use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput;
use aws_sdk_eks::operation::list_updates::ListUpdatesOutput;
use aws_sdk_eks::operation::update_addon::UpdateAddonOutput;
use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput;
use aws_sdk_eks::operation::update_nodegroup_version::UpdateNodegroupVersionOutput;
use aws_sdk_eks::types::{
    Addon, AddonInfo, AddonVersionInfo, Cluster, ClusterStatus, Compatibility, ErrorCode, ErrorDetail,
    Insight, InsightStatus, InsightStatusValue, InsightSummary, Nodegroup, NodegroupScalingConfig,
    NodegroupStatus, ResolveConflicts, Update, UpdateParam, UpdateParamType, UpdateStatus, UpdateType,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use kupgrade_core::events::discard;
use kupgrade_core::{
    AddonUpdates, Error, KubeVersion, ManagedCluster, NodeConfigReader, OperationId, OperationKind,
    OperationState, PollPolicy, PoolUpgradeOptions, RequestToken, RolloutSettings,
};
use kupgrade_eks::EksCluster;

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_eks, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

fn eks(rules: &[&Rule]) -> EksCluster {
    EksCluster::new(client(rules), "prod")
}

fn cluster_at(version: &'static str, status: ClusterStatus) -> Rule {
    mock!(Client::describe_cluster)
        .match_requests(|r| r.name() == Some("prod"))
        .then_output(move || {
            DescribeClusterOutput::builder()
                .cluster(
                    Cluster::builder()
                        .name("prod")
                        .version(version)
                        .status(status.clone())
                        .build(),
                )
                .build()
        })
}

fn nodegroup(name: &str, version: &str, status: NodegroupStatus) -> Nodegroup {
    Nodegroup::builder()
        .nodegroup_name(name)
        .cluster_name("prod")
        .version(version)
        .status(status)
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .max_size(5)
                .desired_size(3)
                .build(),
        )
        .build()
}

fn update(id: &str, status: UpdateStatus, version: &str) -> Update {
    Update::builder()
        .id(id)
        .status(status)
        .r#type(UpdateType::VersionUpdate)
        .params(
            UpdateParam::builder()
                .r#type(UpdateParamType::Version)
                .value(version)
                .build(),
        )
        .build()
}

fn error_body(code: &str, message: &str) -> Option<String> {
    Some(format!(r#"{{"__type":"{code}","message":"{message}"}}"#))
}

fn fast() -> PollPolicy {
    PollPolicy {
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        max_retries: 5,
        timeout: Duration::from_secs(5),
    }
}

async fn wait(cluster: &EksCluster, id: &OperationId) -> kupgrade_core::Result<OperationState> {
    fast()
        .wait_for("operation", &discard(), || async {
            let op = cluster.operation(id).await?;
            Ok(op.state.is_terminal().then_some(op.state))
        })
        .await
}

#[tokio::test]
async fn control_plane_update_runs_in_progress_then_successful() {
    let start = mock!(Client::update_cluster_version)
        .match_requests(|r| {
            r.name() == Some("prod")
                && r.version() == Some("1.31")
                && r.client_request_token() == Some("tok-1")
        })
        .then_output(|| {
            UpdateClusterVersionOutput::builder()
                .update(update("u-1", UpdateStatus::InProgress, "1.31"))
                .build()
        });
    let poll = mock!(Client::describe_update)
        .match_requests(|r| {
            r.name() == Some("prod") && r.update_id() == Some("u-1") && r.nodegroup_name().is_none()
        })
        .sequence()
        .output(|| {
            DescribeUpdateOutput::builder()
                .update(update("u-1", UpdateStatus::InProgress, "1.31"))
                .build()
        })
        .times(3)
        .output(|| {
            DescribeUpdateOutput::builder()
                .update(update("u-1", UpdateStatus::Successful, "1.31"))
                .build()
        })
        .build();
    let eks = eks(&[&cluster_at("1.30", ClusterStatus::Active), &start, &poll]);
    let id = eks
        .upgrade_control_plane(&KubeVersion::new(1, 31), &RequestToken("tok-1".into()))
        .await
        .unwrap();
    assert_eq!(id.0, "eks/cluster/prod/-/u-1");
    let op = eks.operation(&id).await.unwrap();
    assert_eq!(
        (op.kind, op.state, op.to),
        (
            OperationKind::UpgradeControlPlane,
            OperationState::Running,
            Some(KubeVersion::new(1, 31))
        )
    );
    assert_eq!(wait(&eks, &id).await.unwrap(), OperationState::Succeeded);
    assert_eq!(poll.num_calls(), 4);
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn failed_node_group_update_reports_pod_eviction_details() {
    let ng = mock!(Client::describe_nodegroup).then_output(|| {
        DescribeNodegroupOutput::builder()
            .nodegroup(nodegroup("blue", "1.30", NodegroupStatus::Active))
            .build()
    });
    let start = mock!(Client::update_nodegroup_version)
        .match_requests(|r| {
            r.nodegroup_name() == Some("blue") && r.version() == Some("1.31") && r.force() == Some(false)
        })
        .then_output(|| {
            UpdateNodegroupVersionOutput::builder()
                .update(update("u-7", UpdateStatus::InProgress, "1.31"))
                .build()
        });
    let failed = mock!(Client::describe_update)
        .match_requests(|r| r.nodegroup_name() == Some("blue") && r.update_id() == Some("u-7"))
        .sequence()
        .output(|| {
            DescribeUpdateOutput::builder()
                .update(update("u-7", UpdateStatus::InProgress, "1.31"))
                .build()
        })
        .times(2)
        .output(|| {
            let mut u = update("u-7", UpdateStatus::Failed, "1.31");
            u.errors = Some(vec![
                ErrorDetail::builder()
                    .error_code(ErrorCode::PodEvictionFailure)
                    .error_message(
                        "Reached max retries while trying to evict pods from nodes in node group blue",
                    )
                    .resource_ids("ip-192-168-3-14.eu-west-1.compute.internal")
                    .build(),
            ]);
            DescribeUpdateOutput::builder().update(u).build()
        })
        .build();
    let eks = eks(&[&cluster_at("1.31", ClusterStatus::Active), &ng, &start, &failed]);
    let rollout = RolloutSettings {
        max_unavailable: 1,
        ..RolloutSettings::default()
    };
    let id = eks
        .upgrade_node_pool(
            "blue",
            &KubeVersion::new(1, 31),
            &PoolUpgradeOptions::new(rollout.clone()),
            &RequestToken("tok-2".into()),
        )
        .await
        .unwrap();
    let OperationState::Failed(message) = wait(&eks, &id).await.unwrap() else {
        panic!("expected a failure");
    };
    assert!(
        message.contains("PodEvictionFailure: Reached max retries"),
        "{message}"
    );
    assert!(
        message.contains("ip-192-168-3-14.eu-west-1.compute.internal"),
        "{message}"
    );
    assert!(message.contains("forced drain"), "{message}");
    assert_eq!(
        start.num_calls(),
        1,
        "force stays off unless asked; the matcher checked it"
    );
}

#[tokio::test]
async fn force_is_sent_only_when_asked() {
    let ng = mock!(Client::describe_nodegroup).then_output(|| {
        DescribeNodegroupOutput::builder()
            .nodegroup(nodegroup("blue", "1.30", NodegroupStatus::Active))
            .build()
    });
    let forced = mock!(Client::update_nodegroup_version)
        .match_requests(|r| r.force() == Some(true))
        .then_output(|| {
            UpdateNodegroupVersionOutput::builder()
                .update(update("u-8", UpdateStatus::InProgress, "1.31"))
                .build()
        });
    let eks = eks(&[&cluster_at("1.31", ClusterStatus::Active), &ng, &forced]);
    let rollout = RolloutSettings {
        max_unavailable: 1,
        ..RolloutSettings::default()
    };
    eks.upgrade_node_pool(
        "blue",
        &KubeVersion::new(1, 31),
        &PoolUpgradeOptions::new(rollout.clone()).with_force(true),
        &RequestToken("t".into()),
    )
    .await
    .unwrap();
    assert_eq!(forced.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_by_our_policy_then_succeeds() {
    let describe = mock!(Client::describe_cluster)
        .sequence()
        .http_status(400, error_body("ThrottlingException", "Rate exceeded"))
        .times(2)
        .output(|| {
            DescribeClusterOutput::builder()
                .cluster(
                    Cluster::builder()
                        .name("prod")
                        .version("1.30")
                        .status(ClusterStatus::Active)
                        .build(),
                )
                .build()
        })
        .build();
    let groups = mock!(Client::list_nodegroups).then_output(|| ListNodegroupsOutput::builder().build());
    let eks = eks(&[&describe, &groups]);
    let first = eks.describe().await.unwrap_err();
    assert!(matches!(first, Error::Throttled { .. }), "{first:?}");
    let snapshot = fast()
        .retry("describe", &discard(), || eks.describe())
        .await
        .unwrap();
    assert_eq!(snapshot.control_plane.minor(), 30);
    assert_eq!(describe.num_calls(), 3);
}

#[tokio::test]
async fn resource_in_use_is_retryable_and_the_running_update_is_found() {
    let busy = mock!(Client::update_cluster_version)
        .sequence()
        .http_status(
            409,
            error_body(
                "ResourceInUseException",
                "Cannot VersionUpdate because cluster prod currently has update u-other in progress",
            ),
        )
        .build();
    let list = mock!(Client::list_updates)
        .match_requests(|r| r.name() == Some("prod") && r.nodegroup_name().is_none())
        .then_output(|| {
            ListUpdatesOutput::builder()
                .update_ids("u-old")
                .update_ids("u-other")
                .build()
        });
    let describe = mock!(Client::describe_update).then_compute_output(|r| {
        let status = if r.update_id() == Some("u-other") {
            UpdateStatus::InProgress
        } else {
            UpdateStatus::Successful
        };
        DescribeUpdateOutput::builder()
            .update(update(r.update_id().unwrap_or_default(), status, "1.31"))
            .build()
    });
    let groups = mock!(Client::list_nodegroups).then_output(|| ListNodegroupsOutput::builder().build());
    let eks = eks(&[
        &cluster_at("1.30", ClusterStatus::Updating),
        &busy,
        &list,
        &describe,
        &groups,
    ]);
    let err = eks
        .upgrade_control_plane(&KubeVersion::new(1, 31), &RequestToken("tok-3".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::OperationInProgress { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert!(err.to_string().contains("u-other in progress"), "{err}");
    // The cause names the call and keeps the SDK's own error, for callers that need it.
    let cause = err.cause().expect("the SDK error is kept");
    assert_eq!(cause.to_string(), "EKS UpdateClusterVersion");
    assert_eq!(cause.provider(), Some(kupgrade_core::Provider::Eks));
    let sdk = cause
        .downcast_ref::<aws_sdk_eks::error::SdkError<
            aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionError,
            aws_sdk_eks::config::http::HttpResponse,
        >>()
        .expect("the source is the SDK's error");
    assert!(
        sdk.as_service_error()
            .is_some_and(|e| e.is_resource_in_use_exception())
    );
    let running = eks.operations_in_flight().await.unwrap();
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0].id.0, "eks/cluster/prod/-/u-other");
    assert_eq!(running[0].kind, OperationKind::UpgradeControlPlane);
    assert_eq!(running[0].state, OperationState::Running);
}

#[tokio::test]
async fn invalid_parameter_is_final_and_unknown_groups_are_named() {
    let refused = mock!(Client::update_cluster_version)
        .sequence()
        .http_status(
            400,
            error_body(
                "InvalidParameterException",
                "Unsupported Kubernetes minor version update from 1.30 to 1.31",
            ),
        )
        .build();
    let missing = mock!(Client::describe_nodegroup)
        .sequence()
        .http_status(
            404,
            error_body(
                "ResourceNotFoundException",
                "No node group found for name: ghost.",
            ),
        )
        .build();
    let eks = eks(&[&cluster_at("1.30", ClusterStatus::Active), &refused, &missing]);
    let err = eks
        .upgrade_control_plane(&KubeVersion::new(1, 31), &RequestToken("t".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidTransition { .. }) && !err.is_retryable(),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("Unsupported Kubernetes minor version update"),
        "{err}"
    );
    let err = eks
        .upgrade_node_pool(
            "ghost",
            &KubeVersion::new(1, 30),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &RequestToken("g".into()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node pool 'ghost' not found; cluster prod has no managed node group of that name"
    );
}

#[tokio::test]
async fn skipping_a_minor_is_refused_before_calling_eks() {
    let never = mock!(Client::update_cluster_version).then_output(|| {
        UpdateClusterVersionOutput::builder()
            .update(update("u", UpdateStatus::InProgress, "1.32"))
            .build()
    });
    let eks = eks(&[&cluster_at("1.30", ClusterStatus::Active), &never]);
    let err = eks
        .upgrade_control_plane(&KubeVersion::new(1, 32), &RequestToken("t".into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("one minor at a time"), "{err}");
    assert_eq!(never.num_calls(), 0);
}

#[tokio::test]
async fn add_ons_move_to_the_default_of_the_new_minor() {
    let list = mock!(Client::list_addons).then_output(|| {
        ListAddonsOutput::builder()
            .addons("kube-proxy")
            .addons("coredns")
            .build()
    });
    let describe = mock!(Client::describe_addon).then_compute_output(|r| {
        let version = match r.addon_name() {
            Some("kube-proxy") => "v1.30.6-eksbuild.3",
            _ => "v1.11.4-eksbuild.2",
        };
        DescribeAddonOutput::builder()
            .addon(
                Addon::builder()
                    .addon_name(r.addon_name().unwrap_or_default())
                    .addon_version(version)
                    .build(),
            )
            .build()
    });
    let versions = mock!(Client::describe_addon_versions)
        .match_requests(|r| r.kubernetes_version() == Some("1.31"))
        .then_compute_output(|r| {
            let (name, version) = match r.addon_name() {
                Some("kube-proxy") => ("kube-proxy", "v1.31.2-eksbuild.3"),
                _ => ("coredns", "v1.11.4-eksbuild.2"),
            };
            DescribeAddonVersionsOutput::builder()
                .addons(
                    AddonInfo::builder()
                        .addon_name(name)
                        .addon_versions(
                            AddonVersionInfo::builder()
                                .addon_version(version)
                                .compatibilities(
                                    Compatibility::builder()
                                        .cluster_version("1.31")
                                        .default_version(true)
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let update_addon = mock!(Client::update_addon)
        .match_requests(|r| {
            r.addon_name() == Some("kube-proxy")
                && r.addon_version() == Some("v1.31.2-eksbuild.3")
                && r.resolve_conflicts() == Some(&ResolveConflicts::Preserve)
                && r.client_request_token() == Some("tok-4-kube-proxy")
        })
        .then_output(|| {
            UpdateAddonOutput::builder()
                .update(
                    Update::builder()
                        .id("u-addon")
                        .status(UpdateStatus::InProgress)
                        .build(),
                )
                .build()
        });
    let eks = eks(&[&list, &describe, &versions, &update_addon]);
    let ops = eks
        .update_addons(&KubeVersion::new(1, 31), &RequestToken("tok-4".into()))
        .await
        .unwrap();
    assert_eq!(ops, vec![OperationId("eks/addon/prod/kube-proxy/u-addon".into())]);
    assert_eq!(
        update_addon.num_calls(),
        1,
        "coredns is already at the 1.31 default"
    );
}

#[tokio::test]
async fn insights_error_blocks_and_warning_warns() {
    use kupgrade_core::Severity;
    let list = mock!(Client::list_insights).then_output(|| {
        ListInsightsOutput::builder()
            .insights(
                InsightSummary::builder()
                    .id("i-1")
                    .name("Kubernetes API deprecations")
                    .kubernetes_version("1.32")
                    .insight_status(
                        InsightStatus::builder()
                            .status(InsightStatusValue::Error)
                            .reason("Deprecated API usage detected")
                            .build(),
                    )
                    .build(),
            )
            .insights(
                InsightSummary::builder()
                    .id("i-2")
                    .name("Cluster health issues")
                    .insight_status(
                        InsightStatus::builder()
                            .status(InsightStatusValue::Warning)
                            .build(),
                    )
                    .build(),
            )
            .insights(
                InsightSummary::builder()
                    .id("i-3")
                    .name("kube-proxy version skew")
                    .insight_status(
                        InsightStatus::builder()
                            .status(InsightStatusValue::Passing)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let detail = mock!(Client::describe_insight).then_compute_output(|r| {
        DescribeInsightOutput::builder()
            .insight(
                Insight::builder()
                    .id(r.id().unwrap_or_default())
                    .recommendation("Update manifests and clients to use newer Kubernetes APIs")
                    .build(),
            )
            .build()
    });
    let eks = eks(&[&list, &detail]);
    let findings = eks.insights_check().findings(true).await.unwrap();
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert_eq!(findings[0].severity, Severity::Blocker);
    assert_eq!(findings[0].id, "KUP-EKS-INSIGHT-001");
    assert!(
        findings[0].message.contains("Deprecated API usage detected"),
        "{}",
        findings[0].message
    );
    assert!(
        findings[0].message.contains("Recommendation: Update manifests"),
        "{}",
        findings[0].message
    );
    assert_eq!(findings[0].hop, Some(KubeVersion::new(1, 32)));
    assert_eq!(findings[1].severity, Severity::Warning);
    let pools_only = eks.insights_check().findings(false).await.unwrap();
    assert!(
        pools_only.iter().all(|f| f.severity == Severity::Warning),
        "{pools_only:?}"
    );
}

/// A deprecated-API insight becomes one keyed finding per API in its `deprecationDetails`,
/// naming the removal, the replacement and the clients; the cluster's own report of the same
/// use absorbs it (`merge_api_findings`), so it is printed once.
#[tokio::test]
async fn deprecation_details_become_one_keyed_finding_per_api() {
    use aws_sdk_eks::types::{ClientStat, DeprecationDetail, InsightCategorySpecificSummary};
    use kupgrade_core::checks::merge_api_findings;
    use kupgrade_core::{DeprecatedApi, Severity};

    let list = mock!(Client::list_insights).then_output(|| {
        ListInsightsOutput::builder()
            .insights(
                InsightSummary::builder()
                    .id("i-1")
                    .name("Deprecated APIs removed in Kubernetes v1.32")
                    .kubernetes_version("1.32")
                    .insight_status(InsightStatus::builder().status(InsightStatusValue::Error).build())
                    .build(),
            )
            .build()
    });
    let detail = mock!(Client::describe_insight).then_output(|| {
        let flowschemas = DeprecationDetail::builder()
            .usage("/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas")
            .replaced_with("/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas")
            .stop_serving_version("1.32")
            .client_stats(
                ClientStat::builder()
                    .user_agent("helm/3.14")
                    .number_of_requests_last30_days(42)
                    .build(),
            )
            .build();
        let levels = DeprecationDetail::builder()
            .usage("/apis/flowcontrol.apiserver.k8s.io/v1beta3/prioritylevelconfigurations")
            .stop_serving_version("1.32")
            .build();
        DescribeInsightOutput::builder()
            .insight(
                Insight::builder()
                    .id("i-1")
                    .category_specific_summary(
                        InsightCategorySpecificSummary::builder()
                            .deprecation_details(flowschemas)
                            .deprecation_details(levels)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let eks = eks(&[&list, &detail]);
    let found = eks.insights_check().findings(true).await.unwrap();
    assert_eq!(found.len(), 2, "{found:#?}");
    let flowschemas = DeprecatedApi::new(
        "flowcontrol.apiserver.k8s.io",
        "v1beta3",
        "flowschemas",
        Some(KubeVersion::new(1, 32)),
    );
    assert_eq!(found[0].api, Some(flowschemas.clone()));
    assert_eq!(found[0].severity, Severity::Blocker);
    assert_eq!(
        found[0].message,
        "EKS insight 'Deprecated APIs removed in Kubernetes v1.32' (ERROR) reports \
         flowcontrol.apiserver.k8s.io/v1beta3/flowschemas (removed in 1.32) in use; replaced by \
         /apis/flowcontrol.apiserver.k8s.io/v1/flowschemas; clients: helm/3.14 (42 requests in 30 days)"
    );

    // The cluster saw the flow schemas too: one finding for them, with the clients EKS names.
    let in_cluster = kupgrade_core::Finding {
        id: "KUP-API-001".into(),
        severity: Severity::Blocker,
        message: "flowcontrol.apiserver.k8s.io/v1beta3/flowschemas is removed in 1.32 and still in use"
            .into(),
        subject: kupgrade_core::Subject::new("FlowSchema", "web"),
        hop: Some(KubeVersion::new(1, 32)),
        api: Some(flowschemas),
        hint: None,
    };
    let mut all = vec![in_cluster];
    all.extend(found);
    let merged = merge_api_findings(all);
    assert_eq!(merged.len(), 2, "{merged:#?}");
    assert!(
        merged[0].message.contains("also reported by KUP-EKS-INSIGHT-001")
            && merged[0].message.contains("helm/3.14")
    );
    assert!(
        merged[1].message.contains("prioritylevelconfigurations"),
        "EKS alone saw this one"
    );
}

/// Node groups with a launch template (`web` by id at version 3, `named` by name at the
/// default version) and one without (`plain`).
fn launch_template_groups() -> Vec<aws_smithy_mocks::Rule> {
    use aws_sdk_eks::types::LaunchTemplateSpecification;
    let list = mock!(Client::list_nodegroups).then_output(|| {
        ListNodegroupsOutput::builder()
            .nodegroups("web")
            .nodegroups("named")
            .nodegroups("plain")
            .build()
    });
    let with_template = |name: &'static str, spec: fn() -> LaunchTemplateSpecification| {
        mock!(Client::describe_nodegroup)
            .match_requests(move |r| r.nodegroup_name() == Some(name))
            .then_output(move || {
                let mut ng = nodegroup(name, "1.30", NodegroupStatus::Active);
                ng.launch_template = Some(spec());
                DescribeNodegroupOutput::builder().nodegroup(ng).build()
            })
    };
    let web = with_template("web", || {
        LaunchTemplateSpecification::builder()
            .id("lt-0abc")
            .name("web-nodes")
            .version("3")
            .build()
    });
    let named = with_template("named", || {
        LaunchTemplateSpecification::builder().name("batch nodes").build()
    });
    let plain = mock!(Client::describe_nodegroup)
        .match_requests(|r| r.nodegroup_name() == Some("plain"))
        .then_output(|| {
            DescribeNodegroupOutput::builder()
                .nodegroup(nodegroup("plain", "1.30", NodegroupStatus::Active))
                .build()
        });
    vec![list, web, named, plain]
}

/// A `DescribeLaunchTemplateVersionsResponse` as EC2 sends it (EC2 API reference), with one
/// version.
fn versions_response(name: &str, number: u32, user_data: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_string(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeLaunchTemplateVersionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>65cadec1-b364-4354-8ca8-4176dexample</requestId>
  <launchTemplateVersionSet><item>
    <createTime>2026-11-20T13:12:32.000Z</createTime>
    <defaultVersion>true</defaultVersion>
    <launchTemplateData><instanceType>m7i.large</instanceType><userData>{user_data}</userData></launchTemplateData>
    <launchTemplateId>lt-0abc</launchTemplateId>
    <launchTemplateName>{name}</launchTemplateName>
    <versionNumber>{number}</versionNumber>
  </item></launchTemplateVersionSet>
</DescribeLaunchTemplateVersionsResponse>"#
    ))
}

fn ec2_error(status: u16, code: &str, message: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(status).set_body_string(format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>ea966190-example</RequestID></Response>"
    ))
}

fn ec2_client(server: &wiremock::MockServer) -> kupgrade_eks::Ec2Client {
    kupgrade_eks::Ec2Client::with_endpoint(
        server.uri(),
        "us-east-1",
        aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"),
    )
    .unwrap()
}

/// Node groups' launch-template user data comes from EC2 `DescribeLaunchTemplateVersions` at
/// the version the group boots from (by id or by name, `$Default` when EKS records none), in a
/// signed EC2 Query request; groups without a launch template are skipped.
#[tokio::test]
async fn launch_template_user_data_is_read_from_ec2() {
    use wiremock::matchers::{body_string_contains, header_exists, method, path};
    use wiremock::{Mock, MockServer};

    let server = MockServer::start().await;
    let user_data = "IyEvYmluL2Jhc2gKL2V0Yy9la3MvYm9vdHN0cmFwLnNoIHByb2QK";
    let query = |extra: &'static str| {
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header_exists("authorization"))
            .and(header_exists("x-amz-date"))
            .and(body_string_contains("Action=DescribeLaunchTemplateVersions"))
            .and(body_string_contains("Version=2016-11-15"))
            .and(body_string_contains(extra))
    };
    query("LaunchTemplateId=lt-0abc&LaunchTemplateVersion.1=3")
        .respond_with(versions_response("web-nodes", 3, user_data))
        .expect(1)
        .mount(&server)
        .await;
    query("LaunchTemplateName=batch+nodes&LaunchTemplateVersion.1=%24Default")
        .respond_with(versions_response("batch nodes", 7, "Ym9vdA=="))
        .expect(1)
        .mount(&server)
        .await;
    let rules = launch_template_groups();
    let cluster = eks(&rules.iter().collect::<Vec<_>>()).with_ec2_client(ec2_client(&server));
    let read = cluster.node_configs().await.unwrap();
    assert!(read.unread.is_empty(), "{:?}", read.unread);
    let names: Vec<_> = read
        .sources
        .iter()
        .map(|s| (s.kind.as_str(), s.name.as_str(), s.text.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("LaunchTemplate", "web-nodes:3 (node group web)", user_data),
            ("LaunchTemplate", "batch nodes:7 (node group named)", "Ym9vdA=="),
        ]
    );

    // Without an EC2 client nothing is read.
    assert_eq!(
        eks(&rules.iter().collect::<Vec<_>>())
            .node_configs()
            .await
            .unwrap(),
        kupgrade_core::NodeConfigs::default()
    );
}

/// A template that is gone, or that the caller may not read, is named as unread (not retried);
/// the other groups are still read. Throttling is retried.
#[tokio::test]
async fn unreadable_launch_templates_are_named_and_throttling_is_retried() {
    use wiremock::matchers::{body_string_contains, method};
    use wiremock::{Mock, MockServer};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("LaunchTemplateId=lt-0abc"))
        .respond_with(ec2_error(
            400,
            "InvalidLaunchTemplateId.NotFound",
            "The specified launch template, with template ID lt-0abc, does not exist.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    // EC2 answers RequestLimitExceeded with HTTP 503; the second attempt succeeds.
    Mock::given(method("POST"))
        .and(body_string_contains("LaunchTemplateName=batch+nodes"))
        .respond_with(ec2_error(503, "RequestLimitExceeded", "Request limit exceeded."))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("LaunchTemplateName=batch+nodes"))
        .respond_with(versions_response("batch nodes", 7, "Ym9vdA=="))
        .expect(1)
        .mount(&server)
        .await;
    let rules = launch_template_groups();
    let read = eks(&rules.iter().collect::<Vec<_>>())
        .with_ec2_client(ec2_client(&server))
        .node_configs()
        .await
        .unwrap();
    assert_eq!(read.sources.len(), 1, "{:?}", read.sources);
    assert_eq!(read.sources[0].name, "batch nodes:7 (node group named)");
    assert_eq!(read.unread.len(), 1);
    assert!(
        read.unread[0].starts_with("launch template lt-0abc of node group web of cluster prod: ")
            && read.unread[0].contains("not found"),
        "{}",
        read.unread[0]
    );

    // No permission: the error says which call was refused.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ec2_error(
            403,
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        ))
        .expect(2)
        .mount(&server)
        .await;
    let read = eks(&rules.iter().collect::<Vec<_>>())
        .with_ec2_client(ec2_client(&server))
        .node_configs()
        .await
        .unwrap();
    assert!(read.sources.is_empty());
    assert!(
        read.unread
            .iter()
            .all(|u| u.contains("DescribeLaunchTemplateVersions") && u.contains("UnauthorizedOperation")),
        "{:?}",
        read.unread
    );
}

#[tokio::test]
async fn managed_add_ons_are_judged_at_each_hop_against_describe_addon_versions() {
    let list = mock!(Client::list_addons).then_output(|| {
        ListAddonsOutput::builder()
            .addons("coredns")
            .addons("legacy-metrics")
            .addons("kube-proxy")
            .build()
    });
    let describe = mock!(Client::describe_addon).then_compute_output(|r| {
        let version = match r.addon_name() {
            Some("coredns") => "v1.11.1-eksbuild.9",
            Some("legacy-metrics") => "v0.3.0-eksbuild.1",
            _ => "v1.33.0-eksbuild.1",
        };
        DescribeAddonOutput::builder()
            .addon(
                Addon::builder()
                    .addon_name(r.addon_name().unwrap_or_default())
                    .addon_version(version)
                    .build(),
            )
            .build()
    });
    // At 1.31: coredns has a default, legacy-metrics has no compatible version, and kube-proxy
    // runs a version newer than any EKS lists for 1.31.
    let versions = mock!(Client::describe_addon_versions)
        .match_requests(|r| r.kubernetes_version() == Some("1.31"))
        .then_compute_output(|r| {
            let name = r.addon_name().unwrap_or_default().to_string();
            let listed: &[&str] = match name.as_str() {
                "coredns" => &["v1.11.4-eksbuild.2"],
                "kube-proxy" => &["v1.31.2-eksbuild.3"],
                _ => &[],
            };
            let mut info = AddonInfo::builder().addon_name(&name);
            for v in listed {
                info = info.addon_versions(
                    AddonVersionInfo::builder()
                        .addon_version(*v)
                        .compatibilities(
                            Compatibility::builder()
                                .cluster_version("1.31")
                                .default_version(true)
                                .build(),
                        )
                        .build(),
                );
            }
            DescribeAddonVersionsOutput::builder()
                .addons(info.build())
                .build()
        });
    let check = kupgrade_eks::EksAddonCheck::new(client(&[&list, &describe, &versions]), "prod");
    let found = check.findings_at(&KubeVersion::new(1, 31)).await.unwrap();
    let summary: Vec<(&str, kupgrade_core::Severity)> = found
        .iter()
        .map(|f| (f.subject.name.as_str(), f.severity))
        .collect();
    assert_eq!(
        summary,
        [
            ("legacy-metrics", kupgrade_core::Severity::Blocker),
            ("kube-proxy", kupgrade_core::Severity::Warning),
        ]
    );
    assert!(
        found[0].message.contains(
            "EKS lists no version of managed add-on legacy-metrics compatible with Kubernetes 1.31"
        )
    );
    assert!(
        found[1]
            .message
            .contains("runs v1.33.0-eksbuild.1, newer than every version EKS lists as compatible with 1.31")
    );
    assert!(found.iter().all(|f| f.id == kupgrade_eks::ADDON_CHECK_ID));
}
