//! Which provider operations may run at the same time on one cluster, as each provider
//! documents it, and how many node pools a run moves at once by default.
//!
//! The executor and the estimator both schedule by these rules; the simulator enforces the same
//! rules per provider, so a schedule that breaks one fails in tests the way it would in the cloud.

use serde::{Deserialize, Serialize};

use crate::plan::Strategy;
use crate::provider::Provider;

/// How a provider lets operations overlap on one cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OperationConcurrency {
    /// One operation per cluster: a second one (control plane or any node pool) is refused
    /// while one runs. The safe assumption when nothing else is known.
    #[default]
    OnePerCluster,
    /// Operations on different node pools may run at the same time; a control-plane update
    /// runs alone (it refuses to start while a pool operation runs, and blocks pool operations
    /// while it runs).
    PoolsInParallel,
}

impl OperationConcurrency {
    /// The rule each provider documents:
    ///
    /// - EKS: [`PoolsInParallel`](Self::PoolsInParallel). Managed node groups are separate
    ///   resources, each with its own update; `UpdateClusterVersion` and node-group updates
    ///   refuse to start while the cluster has an update in progress (`ResourceInUseException`).
    ///   Terraform's AWS provider updates several node groups of one cluster at once.
    /// - GKE: [`OnePerCluster`](Self::OnePerCluster). A cluster runs one operation at a time;
    ///   a second is refused with `FAILED_PRECONDITION` (`CLUSTER_ALREADY_HAS_OPERATION`), and a
    ///   manual node-pool upgrade cannot run beside another operation on the cluster.
    /// - AKS: [`OnePerCluster`](Self::OnePerCluster). A managed-cluster operation refuses
    ///   another with `409 OperationNotAllowed` ("Another operation ... is in progress"); we do
    ///   not rely on agent-pool operations overlapping, which Microsoft's pages do not promise.
    ///
    /// The sources, with their dates, are in the README's "Upgrade window" section.
    pub fn for_provider(provider: Provider) -> Self {
        match provider {
            Provider::Eks => OperationConcurrency::PoolsInParallel,
            Provider::Gke | Provider::Aks => OperationConcurrency::OnePerCluster,
        }
    }

    /// Whether two provider operations on different node pools may run at the same time.
    pub fn pools_in_parallel(self) -> bool {
        self == OperationConcurrency::PoolsInParallel
    }
}

/// How many node pools a run moves at the same time when the user does not say
/// (`--max-parallel-pools`).
///
/// - In place and canary: every pool the step allows. Each pool's own surge settings bound how
///   many of its nodes are replaced at once, and every eviction still goes through the
///   Eviction API, so PodDisruptionBudgets hold across pools. On a provider that runs one
///   operation per cluster the pools' operations still run one after another.
/// - Blue/green: 2. Each pool in flight holds a second copy of its nodes until its old pool is
///   deleted; two bounds the extra capacity (and quota) to two pools while the next green pool
///   is created as the previous blue one drains.
pub fn default_max_parallel_pools(strategy: Strategy) -> usize {
    match strategy {
        Strategy::BlueGreen => 2,
        Strategy::InPlace | Strategy::Canary => usize::MAX,
    }
}
