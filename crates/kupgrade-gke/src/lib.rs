//! # kupgrade-gke
//!
//! Upgrade Google Kubernetes Engine clusters with kupgrade: [`GkeCluster`] implements
//! [`kupgrade_core::ManagedCluster`] on the official `google-cloud-container-v1` client, so the
//! planner, checks and executor of `kupgrade-core` drive a GKE cluster like any other.
//!
//! What it does, by task:
//! - **Describe**: `get_cluster` (node pools included) becomes a [`kupgrade_core::ClusterSnapshot`]
//!   with GKE versions (`1.31.1-gke.1678000`), status, labels, taints, surge/blue-green settings,
//!   and what GKE may auto-upgrade on its own (release channel, node auto-upgrade, maintenance
//!   exclusions) in `auto_upgrade`, so the plan can warn that an auto-upgrade could race it.
//! - **Versions and calendar**: `get_server_config` (the cluster's release-channel versions) and
//!   `fetch_cluster_upgrade_info` (live end of standard and extended support).
//! - **Control plane**: `update_master`; the executor polls `get_operation` (`DONE` also means
//!   cancelled: the operation's `error` decides).
//! - **Node pools**: `update_node_pool` with surge settings or GKE's native blue/green
//!   ([`PoolUpgradeStrategy`]), [`GkeCluster::complete_node_pool_upgrade`] to skip the soak
//!   after a passed gate, [`GkeCluster::rollback_node_pool_upgrade`] after a failed one, and
//!   `create_node_pool` / `delete_node_pool` for kupgrade's own blue/green and canary.
//! - **One operation per cluster**: GKE's `CLUSTER_ALREADY_HAS_OPERATION` becomes the retryable
//!   [`kupgrade_core::Error::OperationInProgress`]; GKE has no idempotency token, so every start
//!   first looks for a running operation of the same kind and target (see [`GkeCluster`]).
//!
//! Connect with Application Default Credentials:
//!
//! ```no_run
//! # async fn run() -> kupgrade_core::Result<()> {
//! use kupgrade_core::ManagedCluster;
//! let gke = kupgrade_gke::GkeClusterBuilder::from_env()
//!     .with_project("my-project")
//!     .with_location("europe-west1")
//!     .with_cluster("prod")
//!     .build()
//!     .await?;
//! println!("{}", gke.describe().await?.control_plane);
//! # Ok(()) }
//! ```
//!
//! Or inject a client, here a stub that answers `get_cluster` (this runs without network):
//!
//! ```
//! use google_cloud_container_v1::{client::ClusterManager, model, stub};
//! use kupgrade_core::ManagedCluster;
//!
//! #[derive(Debug)]
//! struct OneCluster;
//! impl stub::ClusterManager for OneCluster {
//!     async fn get_cluster(
//!         &self,
//!         req: model::GetClusterRequest,
//!         _: google_cloud_gax::options::RequestOptions,
//!     ) -> google_cloud_container_v1::Result<google_cloud_gax::response::Response<model::Cluster>> {
//!         assert_eq!(req.name, "projects/p/locations/europe-west1/clusters/prod");
//!         let pool = model::NodePool::new()
//!             .set_name("default-pool")
//!             .set_version("1.30.5-gke.1014001")
//!             .set_initial_node_count(3);
//!         Ok(google_cloud_gax::response::Response::from(
//!             model::Cluster::new()
//!                 .set_name("prod")
//!                 .set_current_master_version("1.31.1-gke.1678000")
//!                 .set_node_pools([pool]),
//!         ))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let gke = kupgrade_gke::GkeClusterBuilder::new()
//!     .with_project("p")
//!     .with_location("europe-west1")
//!     .with_cluster("prod")
//!     .with_client(ClusterManager::from_stub(OneCluster))
//!     .build()
//!     .await?;
//! let snapshot = gke.describe().await?;
//! assert_eq!(snapshot.control_plane.to_string(), "1.31.1-gke.1678000");
//! assert_eq!(snapshot.pool("default-pool").unwrap().nodes, 3);
//! # Ok::<(), kupgrade_core::Error>(())
//! # }).unwrap();
//! ```

mod builder;
mod cluster;
mod convert;
mod error;
pub mod insights;

pub use builder::{CLUSTER_ENV, ENDPOINT_ENV, GkeClusterBuilder, LOCATION_ENV, NO_AUTH_ENV, PROJECT_ENV};
pub use cluster::GkeCluster;
pub use convert::{BlueGreen, BlueGreenBatch, PoolUpgradeStrategy};
pub use insights::GkeDeprecationInsightsCheck;
