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
    /// The rule each provider documents (researched 2026-12; sources in the README's "Upgrade
    /// window" section):
    ///
    /// - EKS: [`PoolsInParallel`](Self::PoolsInParallel). AWS's pages say nothing either way;
    ///   the API models `ResourceInUseException` per resource (cluster, node group, add-on),
    ///   updates of different node groups are reported to run side by side
    ///   (rancher/eks-operator#209), and a node group cannot move while the cluster's version
    ///   update runs (its version must equal the cluster's).
    /// - GKE: [`PoolsInParallel`](Self::PoolsInParallel). Google's node-pool how-to: "You can
    ///   manually create, update, or delete a node pool while another node pool is already
    ///   being created, updated, or deleted"; its concurrent-operations page: one cluster-level
    ///   operation or one operation per node pool at a time. (Older reports of pools blocking
    ///   each other, 2017-2018, predate that page; we follow Google's current page.)
    /// - AKS: [`PoolsInParallel`](Self::PoolsInParallel). Microsoft Learn: "You can't
    ///   simultaneously submit multiple operations on a single control plane or node pool
    ///   resource"; a managed-cluster operation and an agent-pool operation refuse each other
    ///   (409 `OperationNotAllowed`).
    ///
    /// Should a provider refuse a second pool operation anyway, the executor waits for its own
    /// running operations to end and tries again instead of failing.
    pub fn for_provider(provider: Provider) -> Self {
        match provider {
            Provider::Eks | Provider::Gke | Provider::Aks => OperationConcurrency::PoolsInParallel,
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
///   Eviction API, so PodDisruptionBudgets hold across pools. GKE: at most 5, the concurrent
///   operations quota GKE answers with `429 Too many operations` beyond
///   (terraform-provider-google#15205; not in Google's pages).
/// - Blue/green: 2. Each pool in flight holds a second copy of its nodes until its old pool is
///   deleted; two bounds the extra capacity (and quota) to two pools while the next green pool
///   is created as the previous blue one drains.
pub fn default_max_parallel_pools(provider: Provider, strategy: Strategy) -> usize {
    let provider_cap = match provider {
        Provider::Gke => GKE_CONCURRENT_OPERATIONS,
        Provider::Eks | Provider::Aks => usize::MAX,
    };
    match strategy {
        Strategy::BlueGreen => 2,
        Strategy::InPlace | Strategy::Canary => provider_cap,
    }
}

/// The concurrent operations GKE accepts on one cluster before answering `429 Too many
/// operations ... hits the concurrent operations quota 5` (terraform-provider-google#15205).
pub const GKE_CONCURRENT_OPERATIONS: usize = 5;
