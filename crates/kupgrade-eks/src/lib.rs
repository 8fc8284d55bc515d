//! # kupgrade-eks
//!
//! Amazon EKS for kupgrade: an [`EksCluster`] implements
//! [`ManagedCluster`](kupgrade_core::ManagedCluster) on `aws-sdk-eks`, so the core planner,
//! checks and executor can upgrade an EKS control plane, its managed node groups (in place or
//! blue/green) and its managed add-ons.
//!
//! - **Connect**: [`EksClusterBuilder`] uses the AWS SDK's default credential and region
//!   chains, with optional region, profile and endpoint overrides (for emulators such as
//!   `moto_server`), or an injected SDK client (for tests).
//! - **Read**: `describe` (cluster, node groups with versions, sizes, labels, taints, update
//!   config), `offered_versions` (with live support dates from `DescribeClusterVersions`),
//!   `node_configs` (the user data of node groups' launch templates, through EC2
//!   `DescribeLaunchTemplateVersions` with [`Ec2Client`], so `kupgrade-kube` can find kubelet
//!   flags a hop removes).
//! - **Change**: control-plane and node-group version updates with idempotency tokens,
//!   node-group creation as a clone of an existing group, deletion, add-on updates to the
//!   default version of each new minor; failed updates report EKS's errors, including the
//!   details of a `PodEvictionFailure`.
//! - **Check**: [`EksInsightsCheck`] turns EKS upgrade insights into pre-flight findings.
//! - **Errors**: EKS error codes become core [`Error`](kupgrade_core::Error) variants, so
//!   throttling and "another update in progress" are retried and invalid requests are not.
//!
//! Read a cluster through an injected client (here a mocked one; in real use,
//! `EksClusterBuilder::from_env().with_cluster("prod").build().await?`):
//!
//! ```
//! use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
//! use aws_sdk_eks::operation::list_nodegroups::ListNodegroupsOutput;
//! use aws_sdk_eks::types::{Cluster, ClusterStatus};
//! use aws_smithy_mocks::{mock, mock_client};
//! use kupgrade_core::ManagedCluster;
//! use kupgrade_eks::EksClusterBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), kupgrade_core::Error> {
//! let cluster = mock!(aws_sdk_eks::Client::describe_cluster).then_output(|| {
//!     DescribeClusterOutput::builder()
//!         .cluster(Cluster::builder().name("prod").version("1.31").status(ClusterStatus::Active).build())
//!         .build()
//! });
//! let groups = mock!(aws_sdk_eks::Client::list_nodegroups)
//!     .then_output(|| ListNodegroupsOutput::builder().build());
//! let client = mock_client!(aws_sdk_eks, [&cluster, &groups]);
//!
//! let eks = EksClusterBuilder::new().with_cluster("prod").with_client(client).build().await?;
//! let snapshot = eks.describe().await?;
//! assert_eq!(snapshot.control_plane.to_string(), "1.31");
//! assert!(eks.addon_updates().is_some()); // EKS managed add-ons follow each hop
//! # Ok(())
//! # }
//! ```

mod addon_check;
mod addons;
mod builder;
mod cluster;
mod convert;
mod ec2;
mod error;
mod insights;
mod launch_templates;
mod recent_reads;

pub use addon_check::{ADDON_CHECK_ID, EksAddonCheck};
pub use addons::{AddonVersion, pick_target};
pub use builder::{CLUSTER_ENV, EksClusterBuilder};
pub use cluster::EksCluster;
pub use ec2::Ec2Client;
pub use insights::{EksInsightsCheck, INSIGHTS_CHECK_ID};
