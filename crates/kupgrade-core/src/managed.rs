//! The `ManagedCluster` trait: what kupgrade needs from a cloud provider's control-plane and
//! node-pool APIs, with only core-owned types crossing it, and the extension traits for what
//! only some providers offer (add-on updates, node configurations, provider checks).

use std::fmt::Debug;

use async_trait::async_trait;

use crate::checks::Check;
use crate::cluster::{
    Capabilities, ClusterSnapshot, NodePoolSpec, OfferedVersion, Operation, OperationId, PoolUpgradeOptions,
    RequestToken,
};
use crate::error::Result;
use crate::node_config::NodeConfigs;
use crate::provider::Provider;
use crate::version::KubeVersion;

/// A managed Kubernetes cluster's control-plane and node-pool API.
///
/// The required methods are the ones every provider needs. What only some providers offer is an
/// extension trait, reached through an accessor that returns `None` by default
/// ([`ManagedCluster::addon_updates`], [`ManagedCluster::node_config_reader`],
/// [`ManagedCluster::provider_checks`]). Implementations are thin: they translate between core
/// types and one provider's SDK and map errors into [`crate::Error`]. Waiting
/// ([`crate::PollPolicy::wait_operation`]), retrying and ordering belong to the executor.
#[async_trait]
pub trait ManagedCluster: Debug + Send + Sync {
    /// The provider.
    fn provider(&self) -> Provider;

    /// How the provider runs operations (one at a time, native blue/green). The default
    /// promises nothing.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// Reads the cluster and its node pools.
    async fn describe(&self) -> Result<ClusterSnapshot>;

    /// Lists the versions the provider offers for this cluster, previews included and marked
    /// ([`OfferedVersion::preview`]).
    async fn offered_versions(&self) -> Result<Vec<OfferedVersion>>;

    /// Starts moving the control plane to `to` (one minor at most).
    async fn upgrade_control_plane(&self, to: &KubeVersion, token: &RequestToken) -> Result<OperationId>;

    /// Starts moving node pool `pool` to `to`, with the rollout settings and force of
    /// `options`.
    async fn upgrade_node_pool(
        &self,
        pool: &str,
        to: &KubeVersion,
        options: &PoolUpgradeOptions,
        token: &RequestToken,
    ) -> Result<OperationId>;

    /// Starts creating a node pool.
    async fn create_node_pool(&self, spec: &NodePoolSpec, token: &RequestToken) -> Result<OperationId>;

    /// Starts deleting a node pool.
    async fn delete_node_pool(&self, pool: &str, token: &RequestToken) -> Result<OperationId>;

    /// Reads one operation.
    async fn operation(&self, id: &OperationId) -> Result<Operation>;

    /// Lists operations that have not ended, so a resumed run can wait on them instead of
    /// starting another.
    async fn operations_in_flight(&self) -> Result<Vec<Operation>>;

    /// The provider's managed add-ons that must be updated after each control-plane hop (EKS),
    /// or `None` where the provider updates its add-ons itself.
    fn addon_updates(&self) -> Option<&dyn AddonUpdates> {
        None
    }

    /// The node bootstrap configuration the provider holds (EKS launch templates), or `None`.
    fn node_config_reader(&self) -> Option<&dyn NodeConfigReader> {
        None
    }

    /// The provider's own pre-flight checks (EKS and GKE upgrade insights), or `None`.
    fn provider_checks(&self) -> Option<&dyn ProviderChecks> {
        None
    }
}

/// Provider-managed add-ons that follow the control plane (EKS: CoreDNS, kube-proxy, VPC CNI).
#[async_trait]
pub trait AddonUpdates: Send + Sync {
    /// Starts updating every provider-managed add-on to its default version for the control
    /// plane minor `control_plane`, and returns the operations started (none when every add-on
    /// is current).
    async fn update_addons(
        &self,
        control_plane: &KubeVersion,
        token: &RequestToken,
    ) -> Result<Vec<OperationId>>;
}

/// Node bootstrap configuration the provider holds, searched for kubelet flags an upgrade
/// removes.
#[async_trait]
pub trait NodeConfigReader: Send + Sync {
    /// Reads every node configuration the provider holds for the cluster (EKS: the user data of
    /// node groups' launch templates); what could not be read is listed, not an error.
    async fn node_configs(&self) -> Result<NodeConfigs>;
}

/// Provider-specific pre-flight checks, run beside the built-in ones.
pub trait ProviderChecks: Send + Sync {
    /// The checks (EKS upgrade insights, GKE deprecation insights, ...).
    fn checks(&self) -> Vec<Box<dyn Check>>;
}
