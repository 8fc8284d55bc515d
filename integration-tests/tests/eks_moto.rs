//! `EksCluster` against `moto_server`, the EKS emulator from PyPI `moto[server]`.
//!
//! Each test starts its own `moto_server` on a free 127.0.0.1 port and stops it at the end
//! (see `common/mod.rs`).
//!
//! moto implements the EKS cluster and node-group calls (create, describe, list, delete,
//! update-config) but not the version updates, `DescribeUpdate`, `ListUpdates`, insights,
//! add-ons or `DescribeClusterVersions` (it answers HTTP 404). `eks_emulator.rs` runs whole
//! upgrades on moto extended with those calls (`integration-tests/moto/eks_server.py`). Its EC2
//! side serves the launch templates whose user data `EksCluster::node_configs` reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::NodegroupScalingConfig;
use kupgrade_core::conformance::{self, Fixture};
use kupgrade_core::{
    ClusterSnapshot, ClusterWorkloads, Error, KubeVersion, ManagedCluster, NodeConfigReader, NodePoolSpec,
    OperationState, PlanOptions, PoolUpgradeOptions, Provider, RequestToken, Result, RolloutSettings, Step,
    Strategy, Taint, plan_with,
};
use kupgrade_eks::EksCluster;
use kupgrade_testkit::FakeWorkloads;
use kupgrade_testkit::moto::{NODE_ROLE, Server, client, create, start_moto};

/// Makes a fresh cluster on moto per scenario.
struct MotoFixture {
    client: Client,
    made: AtomicU32,
}

#[async_trait]
impl Fixture for MotoFixture {
    async fn cluster(
        &self,
        spec: &ClusterSnapshot,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)> {
        let name = format!("{}-{}", spec.name, self.made.fetch_add(1, Ordering::SeqCst));
        create(&self.client, &name, spec).await;
        Ok((
            Arc::new(EksCluster::new(self.client.clone(), name)),
            Arc::new(FakeWorkloads::empty()),
        ))
    }
}

/// The conformance scenarios moto can support. The others need `UpdateClusterVersion`,
/// `UpdateNodegroupVersion` and `DescribeUpdate`, which moto does not implement.
#[tokio::test]
async fn conformance_scenarios_moto_supports() {
    let Some(moto) = start_moto("conformance_scenarios_moto_supports", Server::Moto) else {
        return;
    };
    let f = MotoFixture {
        client: client(&moto),
        made: AtomicU32::new(0),
    };
    // Served by moto: create, describe and list clusters and node groups.
    conformance::describe_matches_the_spec(&f, Provider::Eks)
        .await
        .unwrap();
    // moto's ResourceNotFoundException for DescribeNodegroup, mapped to NotFound naming the group.
    conformance::unknown_pool_is_not_found(&f, Provider::Eks)
        .await
        .unwrap();
    // Refused by the adapter's own EKS rules before any update call (versions read from moto);
    // the "no operation started" half reads the cluster and node groups from moto.
    conformance::skipping_a_minor_is_refused(&f, Provider::Eks)
        .await
        .unwrap();
    conformance::pool_newer_than_control_plane_is_refused(&f, Provider::Eks)
        .await
        .unwrap();
}

#[tokio::test]
async fn describe_plan_clone_and_delete() {
    let Some(moto) = start_moto("describe_plan_clone_and_delete", Server::Moto) else {
        return;
    };
    let client = client(&moto);
    let spec = conformance::spec(Provider::Eks, 30, &[("general", 30, 3), ("batch", 29, 2)]);
    create(&client, "shop", &spec).await;
    let eks = EksCluster::new(client.clone(), "shop");

    let snapshot = eks.describe().await.unwrap();
    assert_eq!(snapshot.control_plane, KubeVersion::new(1, 30));
    let general = snapshot.pool("general").expect("general");
    assert_eq!((general.version.minor(), general.nodes), (30, 3));
    assert_eq!(general.labels.get("team").map(String::as_str), Some("web"));
    assert_eq!(
        general.taints,
        vec![Taint {
            key: "dedicated".into(),
            value: Some("web".into()),
            effect: "NoSchedule".into()
        }]
    );
    assert_eq!(general.rollout.max_unavailable, 1);
    assert_eq!(snapshot.pool("batch").map(|p| p.version.minor()), Some(29));

    let plan = plan_with(
        &snapshot,
        &KubeVersion::new(1, 31),
        &PlanOptions::new(Provider::Eks, Strategy::BlueGreen)
            .with_managed_addons(eks.addon_updates().is_some()),
    )
    .unwrap();
    assert!(
        matches!(plan.steps[0], Step::UpgradeControlPlane { .. }),
        "{:?}",
        plan.steps
    );
    assert!(
        matches!(plan.steps[1], Step::UpdateAddons { .. }),
        "{:?}",
        plan.steps
    );
    assert!(
        plan.steps
            .iter()
            .any(|s| matches!(s, Step::CreateNodePool { clone_of, .. } if clone_of == "general"))
    );

    // Blue/green by hand: clone general at 1.30 (moto's control plane stays at 1.30), then
    // delete the old group.
    let spec = NodePoolSpec {
        name: "general-green".into(),
        clone_of: "general".into(),
        version: KubeVersion::new(1, 30),
        nodes: 4,
        labels: general.labels.clone(),
        taints: general.taints.clone(),
    };
    let created = eks
        .create_node_pool(&spec, &RequestToken("shop-create".into()))
        .await
        .unwrap();
    assert_eq!(
        eks.operation(&created).await.unwrap().state,
        OperationState::Succeeded
    );
    let green = client
        .describe_nodegroup()
        .cluster_name("shop")
        .nodegroup_name("general-green")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(green.node_role(), Some(NODE_ROLE));
    assert_eq!(green.subnets(), ["subnet-a", "subnet-b"]);
    assert_eq!(green.instance_types(), ["m6i.large"]);
    assert_eq!(green.version(), Some("1.30"));
    assert_eq!(green.scaling_config().and_then(|s| s.desired_size()), Some(4));
    assert_eq!(green.taints().len(), 1);

    let deleted = eks
        .delete_node_pool("general", &RequestToken("shop-delete".into()))
        .await
        .unwrap();
    assert_eq!(
        eks.operation(&deleted).await.unwrap().state,
        OperationState::Succeeded
    );
    let after = eks.describe().await.unwrap();
    let mut names: Vec<&str> = after.node_pools.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["batch", "general-green"]);
    assert!(eks.operations_in_flight().await.unwrap().is_empty());

    let err = EksCluster::new(client.clone(), "nope")
        .describe()
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("cluster 'nope' not found"), "{err}");
}

#[tokio::test]
async fn rollout_settings_reach_moto_and_version_updates_are_not_emulated() {
    let Some(moto) = start_moto(
        "rollout_settings_reach_moto_and_version_updates_are_not_emulated",
        Server::Moto,
    ) else {
        return;
    };
    let client = client(&moto);
    let spec = conformance::spec(Provider::Eks, 30, &[("general", 29, 3)]);
    create(&client, "web", &spec).await;
    let eks = EksCluster::new(client.clone(), "web");
    let rollout = RolloutSettings {
        max_unavailable: 2,
        ..RolloutSettings::default()
    };
    let token = RequestToken("web-np".into());
    // First call sets maxUnavailable (moto implements UpdateNodegroupConfig) and asks to retry.
    let err = eks
        .upgrade_node_pool(
            "general",
            &KubeVersion::new(1, 30),
            &PoolUpgradeOptions::new(rollout.clone()),
            &token,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OperationInProgress { .. }), "{err:?}");
    assert_eq!(
        eks.describe()
            .await
            .unwrap()
            .pool("general")
            .unwrap()
            .rollout
            .max_unavailable,
        2
    );
    // The retry goes on to UpdateNodegroupVersion, which moto does not implement (HTTP 404).
    let err = eks
        .upgrade_node_pool(
            "general",
            &KubeVersion::new(1, 30),
            &PoolUpgradeOptions::new(rollout.clone()),
            &token,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not implement"), "{err}");
    assert!(!err.is_retryable());
}

/// A node group booting from a launch template whose user data passes a kubelet flag 1.31
/// removed: `node_configs` reads the user data through EC2 on moto, and kupgrade-kube finds the
/// flag in it.
#[tokio::test]
async fn launch_template_user_data_is_read_through_ec2() {
    use base64::Engine;
    let Some(moto) = start_moto("launch_template_user_data_is_read_through_ec2", Server::Moto) else {
        return;
    };
    let client = client(&moto);
    let spec = conformance::spec(Provider::Eks, 30, &[]);
    create(&client, "shop", &spec).await;
    let user_data = "#!/bin/bash\nset -ex\n/etc/eks/bootstrap.sh shop \\\n  --kubelet-extra-args '--keep-terminated-pod-volumes --node-labels=team=web'\n";
    // Created with a plain EC2 Query request; kupgrade itself only reads launch templates. moto
    // does not check signatures, but routes by the credential scope's service, hence the header.
    let created = reqwest::Client::new()
        .post(&moto.url)
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=moto/20261203/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("Action", "CreateLaunchTemplate")
                .append_pair("Version", "2016-11-15")
                .append_pair("LaunchTemplateName", "shop-web")
                .append_pair(
                    "LaunchTemplateData.UserData",
                    &base64::engine::general_purpose::STANDARD.encode(user_data),
                )
                .finish(),
        )
        .send()
        .await
        .expect("create launch template on moto");
    assert!(created.status().is_success(), "{created:?}");
    let body = created.text().await.unwrap();
    let template_id = body
        .split("<launchTemplateId>")
        .nth(1)
        .and_then(|rest| rest.split("</launchTemplateId>").next())
        .unwrap_or_else(|| panic!("no launchTemplateId in {body}"))
        .to_string();
    // One group boots from version 1 by id; the other names the template and no version, so
    // EKS uses `$Default`.
    let by_id = aws_sdk_eks::types::LaunchTemplateSpecification::builder()
        .id(&template_id)
        .version("1")
        .build();
    let by_name = aws_sdk_eks::types::LaunchTemplateSpecification::builder()
        .name("shop-web")
        .build();
    for (group, template) in [("web", by_id), ("batch", by_name)] {
        client
            .create_nodegroup()
            .cluster_name("shop")
            .nodegroup_name(group)
            .node_role(NODE_ROLE)
            .subnets("subnet-a")
            .launch_template(template)
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(1)
                    .max_size(3)
                    .desired_size(2)
                    .build(),
            )
            .send()
            .await
            .expect("create node group on moto");
    }

    let ec2 = kupgrade_eks::Ec2Client::with_endpoint(
        &moto.url,
        "us-east-1",
        aws_credential_types::Credentials::new("moto", "moto", None, None, "moto"),
    )
    .unwrap();
    let eks = EksCluster::new(client, "shop").with_ec2_client(ec2);
    let read = eks.node_configs().await.unwrap();
    assert!(read.unread.is_empty(), "{:?}", read.unread);
    let mut sources = read.sources;
    sources.sort_by(|a, b| b.name.cmp(&a.name));
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert_eq!(sources[0].kind, "LaunchTemplate");
    assert_eq!(sources[0].name, "shop-web:1 (node group web)");
    assert_eq!(sources[1].name, "shop-web:1 (node group batch)");
    assert_eq!(sources[1].text, sources[0].text);
    let flags = kupgrade_kube::kubelet_flags::flags_in(&sources[0]);
    assert_eq!(flags.get("keep-terminated-pod-volumes"), Some(&4), "{flags:?}");
    assert!(flags.contains_key("node-labels"));
}
