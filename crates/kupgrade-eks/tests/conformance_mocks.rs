//! The shared conformance suite against `EksCluster` wired to `aws-smithy-mocks` rules that
//! behave like a small EKS: clusters and node groups with versions, updates that stay
//! `InProgress` for a few polls, idempotency tokens, one update at a time, and EKS's
//! error codes on the wire. Runs on a paused tokio clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::config::http::HttpResponse;
use aws_sdk_eks::config::retry::RetryConfig;
use aws_sdk_eks::operation::create_nodegroup::CreateNodegroupOutput;
use aws_sdk_eks::operation::delete_nodegroup::DeleteNodegroupOutput;
use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput;
use aws_sdk_eks::operation::list_updates::ListUpdatesOutput;
use aws_sdk_eks::operation::update_cluster_version::UpdateClusterVersionOutput;
use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
use aws_sdk_eks::operation::update_nodegroup_version::UpdateNodegroupVersionOutput;
use aws_sdk_eks::types::{
    Cluster, ClusterStatus, Nodegroup, NodegroupScalingConfig, NodegroupStatus, NodegroupUpdateConfig,
    Update, UpdateParam, UpdateParamType, UpdateStatus, UpdateType,
};
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_types::body::SdkBody;
use kupgrade_core::conformance::{self, Fixture};
use kupgrade_core::{ClusterSnapshot, ClusterWorkloads, ManagedCluster, Provider, Result, Strategy};
use kupgrade_eks::EksCluster;
use kupgrade_testkit::FakeWorkloads;

/// How many `DescribeUpdate` / `DescribeNodegroup` polls an operation stays running.
const POLLS: u32 = 2;

#[derive(Debug, Clone)]
struct FakeGroup {
    version: String,
    desired: i32,
    status: NodegroupStatus,
    polls_left: u32,
    max_unavailable: i32,
}

#[derive(Debug, Clone)]
struct FakeUpdate {
    id: String,
    nodegroup: Option<String>,
    to: String,
    polls_left: u32,
    done: bool,
}

#[derive(Debug, Default)]
struct FakeCluster {
    version: String,
    groups: BTreeMap<String, FakeGroup>,
    updates: Vec<FakeUpdate>,
    tokens: HashMap<String, String>,
}

#[derive(Debug, Default)]
struct FakeEks {
    clusters: HashMap<String, FakeCluster>,
    next: u32,
}

type Shared = Arc<Mutex<FakeEks>>;

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    http::Response::builder()
        .status(status)
        .body(SdkBody::from(body))
        .unwrap()
        .try_into()
        .unwrap()
}

fn minor(v: &str) -> u32 {
    v.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or(0)
}

fn update_view(u: &FakeUpdate) -> Update {
    Update::builder()
        .id(&u.id)
        .status(if u.done {
            UpdateStatus::Successful
        } else {
            UpdateStatus::InProgress
        })
        .r#type(UpdateType::VersionUpdate)
        .params(
            UpdateParam::builder()
                .r#type(UpdateParamType::Version)
                .value(&u.to)
                .build(),
        )
        .build()
}

fn group_view(name: &str, g: &FakeGroup) -> Nodegroup {
    Nodegroup::builder()
        .nodegroup_name(name)
        .version(&g.version)
        .status(g.status.clone())
        .node_role("arn:aws:iam::123456789012:role/node")
        .subnets("subnet-a")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(0)
                .max_size(10)
                .desired_size(g.desired)
                .build(),
        )
        .update_config(
            NodegroupUpdateConfig::builder()
                .max_unavailable(g.max_unavailable)
                .build(),
        )
        .build()
}

impl FakeCluster {
    fn busy(&self, nodegroup: Option<&str>) -> Option<&FakeUpdate> {
        self.updates.iter().find(|u| {
            !u.done && (nodegroup.is_none() || u.nodegroup.is_none() || u.nodegroup.as_deref() == nodegroup)
        })
    }

    /// One poll of an update: counts down, then applies it.
    fn poll(&mut self, id: &str) -> Option<FakeUpdate> {
        let i = self.updates.iter().position(|u| u.id == id)?;
        let u = &mut self.updates[i];
        if !u.done {
            if u.polls_left == 0 {
                u.done = true;
                let (to, ng) = (u.to.clone(), u.nodegroup.clone());
                match ng {
                    None => self.version = to,
                    Some(n) => {
                        if let Some(g) = self.groups.get_mut(&n) {
                            g.version = to;
                            g.status = NodegroupStatus::Active;
                        }
                    }
                }
            } else {
                u.polls_left -= 1;
            }
        }
        Some(self.updates[i].clone())
    }

    /// One poll of a node group: creations and deletions move on.
    fn poll_group(&mut self, name: &str) -> Option<FakeGroup> {
        let g = self.groups.get_mut(name)?;
        match g.status {
            NodegroupStatus::Creating | NodegroupStatus::Deleting if g.polls_left > 0 => g.polls_left -= 1,
            NodegroupStatus::Creating => g.status = NodegroupStatus::Active,
            NodegroupStatus::Deleting => {
                self.groups.remove(name);
                return None;
            }
            _ => {}
        }
        self.groups.get(name).cloned()
    }
}

fn rules(fake: &Shared) -> Vec<Rule> {
    let not_found_cluster = |name: &str| {
        error(
            404,
            "ResourceNotFoundException",
            &format!("No cluster found for name: {name}."),
        )
    };
    let not_found_group = |name: &str| {
        error(
            404,
            "ResourceNotFoundException",
            &format!("No node group found for name: {name}."),
        )
    };
    let f = fake.clone();
    let describe_cluster = mock!(Client::describe_cluster).then_compute_response(move |r| {
        let s = f.lock().unwrap();
        let name = r.name().unwrap_or_default();
        match s.clusters.get(name) {
            None => MockResponse::Http(not_found_cluster(name)),
            Some(c) => MockResponse::Output(
                DescribeClusterOutput::builder()
                    .cluster(
                        Cluster::builder()
                            .name(name)
                            .version(&c.version)
                            .status(if c.busy(None).is_some_and(|u| u.nodegroup.is_none()) {
                                ClusterStatus::Updating
                            } else {
                                ClusterStatus::Active
                            })
                            .build(),
                    )
                    .build(),
            ),
        }
    });
    let f = fake.clone();
    let list_groups = mock!(Client::list_nodegroups).then_compute_response(move |r| {
        let s = f.lock().unwrap();
        let name = r.cluster_name().unwrap_or_default();
        match s.clusters.get(name) {
            None => MockResponse::Http(not_found_cluster(name)),
            Some(c) => MockResponse::Output(
                ListNodegroupsOutput::builder()
                    .set_nodegroups(Some(c.groups.keys().cloned().collect()))
                    .build(),
            ),
        }
    });
    let f = fake.clone();
    let describe_group = mock!(Client::describe_nodegroup).then_compute_response(move |r| {
        let mut s = f.lock().unwrap();
        let (cluster, name) = (
            r.cluster_name().unwrap_or_default(),
            r.nodegroup_name().unwrap_or_default(),
        );
        let Some(c) = s.clusters.get_mut(cluster) else {
            return MockResponse::Http(not_found_cluster(cluster));
        };
        match c.poll_group(name) {
            None => MockResponse::Http(not_found_group(name)),
            Some(g) => MockResponse::Output(
                DescribeNodegroupOutput::builder()
                    .nodegroup(group_view(name, &g))
                    .build(),
            ),
        }
    });
    let f = fake.clone();
    let update_cluster = mock!(Client::update_cluster_version).then_compute_response(move |r| {
        let mut s = f.lock().unwrap();
        s.next += 1;
        let id = format!("u-{}", s.next);
        let name = r.name().unwrap_or_default();
        let Some(c) = s.clusters.get_mut(name) else {
            return MockResponse::Http(not_found_cluster(name));
        };
        let token = r.client_request_token().unwrap_or_default().to_string();
        if let Some(existing) = c.tokens.get(&token).cloned() {
            let u = c.updates.iter().find(|u| u.id == existing).cloned().unwrap();
            return MockResponse::Output(
                UpdateClusterVersionOutput::builder()
                    .update(update_view(&u))
                    .build(),
            );
        }
        if let Some(u) = c.busy(None) {
            return MockResponse::Http(error(
                409,
                "ResourceInUseException",
                &format!(
                    "Cannot VersionUpdate because cluster {name} currently has update {} in progress",
                    u.id
                ),
            ));
        }
        let to = r.version().unwrap_or_default().to_string();
        if minor(&to) != minor(&c.version) + 1 {
            return MockResponse::Http(error(
                400,
                "InvalidParameterException",
                &format!(
                    "Unsupported Kubernetes minor version update from {} to {to}",
                    c.version
                ),
            ));
        }
        let u = FakeUpdate {
            id: id.clone(),
            nodegroup: None,
            to,
            polls_left: POLLS,
            done: false,
        };
        c.updates.push(u.clone());
        c.tokens.insert(token, id);
        MockResponse::Output(
            UpdateClusterVersionOutput::builder()
                .update(update_view(&u))
                .build(),
        )
    });
    let f = fake.clone();
    let update_group = mock!(Client::update_nodegroup_version).then_compute_response(move |r| {
        let mut s = f.lock().unwrap();
        s.next += 1;
        let id = format!("u-{}", s.next);
        let (cluster, name) = (
            r.cluster_name().unwrap_or_default(),
            r.nodegroup_name().unwrap_or_default(),
        );
        let Some(c) = s.clusters.get_mut(cluster) else {
            return MockResponse::Http(not_found_cluster(cluster));
        };
        let token = r.client_request_token().unwrap_or_default().to_string();
        if let Some(existing) = c.tokens.get(&token).cloned() {
            let u = c.updates.iter().find(|u| u.id == existing).cloned().unwrap();
            return MockResponse::Output(
                UpdateNodegroupVersionOutput::builder()
                    .update(update_view(&u))
                    .build(),
            );
        }
        if !c.groups.contains_key(name) {
            return MockResponse::Http(not_found_group(name));
        }
        if let Some(u) = c.busy(Some(name)) {
            return MockResponse::Http(error(
                409,
                "ResourceInUseException",
                &format!("update {} in progress", u.id),
            ));
        }
        let to = r.version().unwrap_or_default().to_string();
        if minor(&to) > minor(&c.version) {
            return MockResponse::Http(error(
                400,
                "InvalidParameterException",
                "Nodegroup Kubernetes version should be equal to Cluster kubernetes version",
            ));
        }
        c.groups.get_mut(name).unwrap().status = NodegroupStatus::Updating;
        let u = FakeUpdate {
            id: id.clone(),
            nodegroup: Some(name.to_string()),
            to,
            polls_left: POLLS,
            done: false,
        };
        c.updates.push(u.clone());
        c.tokens.insert(token, id);
        MockResponse::Output(
            UpdateNodegroupVersionOutput::builder()
                .update(update_view(&u))
                .build(),
        )
    });
    let f = fake.clone();
    let update_config = mock!(Client::update_nodegroup_config).then_compute_response(move |r| {
        let mut s = f.lock().unwrap();
        let (cluster, name) = (
            r.cluster_name().unwrap_or_default(),
            r.nodegroup_name().unwrap_or_default(),
        );
        match s.clusters.get_mut(cluster).and_then(|c| c.groups.get_mut(name)) {
            None => MockResponse::Http(not_found_group(name)),
            Some(g) => {
                if let Some(m) = r.update_config().and_then(|c| c.max_unavailable()) {
                    g.max_unavailable = m;
                }
                MockResponse::Output(
                    UpdateNodegroupConfigOutput::builder()
                        .update(
                            Update::builder()
                                .id("cfg")
                                .status(UpdateStatus::Successful)
                                .r#type(UpdateType::ConfigUpdate)
                                .build(),
                        )
                        .build(),
                )
            }
        }
    });
    let f = fake.clone();
    let describe_update = mock!(Client::describe_update).then_compute_response(move |r| {
        let mut s = f.lock().unwrap();
        let name = r.name().unwrap_or_default();
        match s
            .clusters
            .get_mut(name)
            .and_then(|c| c.poll(r.update_id().unwrap_or_default()))
        {
            None => MockResponse::Http(error(404, "ResourceNotFoundException", "No update found")),
            Some(u) => MockResponse::Output(DescribeUpdateOutput::builder().update(update_view(&u)).build()),
        }
    });
    let f = fake.clone();
    let list_updates = mock!(Client::list_updates).then_compute_response(move |r| {
        let s = f.lock().unwrap();
        let name = r.name().unwrap_or_default();
        match s.clusters.get(name) {
            None => MockResponse::Http(not_found_cluster(name)),
            Some(c) => MockResponse::Output(
                ListUpdatesOutput::builder()
                    .set_update_ids(Some(
                        c.updates
                            .iter()
                            .filter(|u| u.nodegroup.as_deref() == r.nodegroup_name())
                            .map(|u| u.id.clone())
                            .collect(),
                    ))
                    .build(),
            ),
        }
    });
    let f = fake.clone();
    let create_group = mock!(Client::create_nodegroup).then_compute_response(move |r| {
        let mut s = f.lock().unwrap();
        let (cluster, name) = (
            r.cluster_name().unwrap_or_default(),
            r.nodegroup_name().unwrap_or_default(),
        );
        let Some(c) = s.clusters.get_mut(cluster) else {
            return MockResponse::Http(not_found_cluster(cluster));
        };
        if c.groups.contains_key(name) {
            return MockResponse::Http(error(
                409,
                "ResourceInUseException",
                &format!("NodeGroup already exists with name {name}"),
            ));
        }
        let g = FakeGroup {
            version: r.version().unwrap_or(&c.version).to_string(),
            desired: r.scaling_config().and_then(|s| s.desired_size()).unwrap_or(1),
            status: NodegroupStatus::Creating,
            polls_left: POLLS,
            max_unavailable: 1,
        };
        c.groups.insert(name.to_string(), g.clone());
        MockResponse::Output(
            CreateNodegroupOutput::builder()
                .nodegroup(group_view(name, &g))
                .build(),
        )
    });
    let f = fake.clone();
    let delete_group = mock!(Client::delete_nodegroup).then_compute_response(move |r| {
        let mut s = f.lock().unwrap();
        let (cluster, name) = (
            r.cluster_name().unwrap_or_default(),
            r.nodegroup_name().unwrap_or_default(),
        );
        match s.clusters.get_mut(cluster).and_then(|c| c.groups.get_mut(name)) {
            None => MockResponse::Http(not_found_group(name)),
            Some(g) => {
                g.status = NodegroupStatus::Deleting;
                g.polls_left = POLLS;
                MockResponse::Output(
                    DeleteNodegroupOutput::builder()
                        .nodegroup(group_view(name, g))
                        .build(),
                )
            }
        }
    });
    vec![
        describe_cluster,
        list_groups,
        describe_group,
        update_cluster,
        update_group,
        update_config,
        describe_update,
        list_updates,
        create_group,
        delete_group,
    ]
}

/// The in-cluster side of the fake: every node of an active (or updating) group is Ready at the
/// group's version, no pods.
fn fake_nodes(fake: Shared, cluster: String) -> FakeWorkloads {
    FakeWorkloads::new(move |pool| {
        let s = fake.lock().unwrap();
        let g = s.clusters[&cluster]
            .groups
            .get(pool)
            .filter(|g| g.status == NodegroupStatus::Active || g.status == NodegroupStatus::Updating)?;
        Some((
            kupgrade_core::KubeVersion::parse(&g.version).unwrap(),
            g.desired as u32,
        ))
    })
}

struct MockFixture;

#[async_trait]
impl Fixture for MockFixture {
    async fn cluster(
        &self,
        spec: &ClusterSnapshot,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)> {
        let fake: Shared = Arc::default();
        let cluster = FakeCluster {
            version: format!("1.{}", spec.control_plane.minor()),
            groups: spec
                .node_pools
                .iter()
                .map(|p| {
                    let g = FakeGroup {
                        version: format!("1.{}", p.version.minor()),
                        desired: p.nodes as i32,
                        status: NodegroupStatus::Active,
                        polls_left: 0,
                        max_unavailable: 1,
                    };
                    (p.name.clone(), g)
                })
                .collect(),
            ..FakeCluster::default()
        };
        fake.lock().unwrap().clusters.insert(spec.name.clone(), cluster);
        let rules = rules(&fake);
        let refs: Vec<&Rule> = rules.iter().collect();
        let client = mock_client!(aws_sdk_eks, RuleMode::MatchAny, &refs, |c| c
            .retry_config(RetryConfig::disabled()));
        Ok((
            Arc::new(EksCluster::new(client, &spec.name)),
            Arc::new(fake_nodes(fake, spec.name.clone())),
        ))
    }
}

#[tokio::test(start_paused = true)]
async fn eks_cluster_on_mocks_passes_the_whole_suite() {
    conformance::run_all(&MockFixture, Provider::Eks).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn blue_green_on_mocks() {
    conformance::full_upgrade(&MockFixture, Provider::Eks, Strategy::BlueGreen)
        .await
        .unwrap();
}
