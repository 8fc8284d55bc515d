//! # kupgrade-core
//!
//! The provider-neutral heart of kupgrade: parse versions, know each provider's skew rules and
//! support calendar, plan the whole upgrade path, check it, and (with a [`ManagedCluster`])
//! run it.
//!
//! Plan an EKS cluster from 1.29 to 1.32: three control-plane hops, then one rollout per pool.
//!
//! ```
//! use kupgrade_core::{plan, ClusterSnapshot, KubeVersion, NodePool, Provider, SkewPolicy, Strategy};
//!
//! let v = |s: &str| KubeVersion::parse(s).unwrap();
//! let snapshot = ClusterSnapshot {
//!     provider: Provider::Eks,
//!     name: "prod".into(),
//!     control_plane: v("1.29"),
//!     status: Default::default(),
//!     node_pools: vec![NodePool::new("general", v("1.29"), 6), NodePool::new("gpu", v("1.29"), 2)],
//!     auto_upgrade: None,
//!     id: None,
//! };
//! let plan = plan(&snapshot, &v("1.32"), &SkewPolicy::for_provider(Provider::Eks), Strategy::InPlace)?;
//! assert_eq!(plan.hops(), vec![v("1.30"), v("1.31"), v("1.32")]);
//! assert_eq!(plan.node_rollouts, 2);
//! # Ok::<(), kupgrade_core::Error>(())
//! ```

pub mod addons;
pub mod calendar;
pub mod checks;
pub mod cluster;
pub mod cluster_swap;
pub mod concurrency;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod deprecated_api;
pub mod drain;
pub mod error;
pub mod estimate;
pub mod events;
pub mod executor;
pub mod fleet;
pub mod graph;
pub mod journal;
pub mod lock;
pub mod managed;
pub mod node_config;
pub mod plan;
pub mod pod;
pub mod poll;
pub mod provider;
mod recent;
pub mod render;
pub mod report;
pub mod schedule;
pub mod session;
pub mod skew;
pub mod version;
pub mod workloads;

pub use addons::{AddonCatalog, AddonMove, AddonTiming, InstalledAddon};
pub use calendar::{Calendar, SupportStatus, SupportWindow};
pub use checks::{Check, CheckRegistry, Finding, Offer, Severity, Subject};
pub use cluster::{
    Capabilities, ClusterSnapshot, NodePool, NodePoolSpec, OfferedVersion, Operation, OperationId,
    OperationKind, OperationState, PoolUpgradeOptions, RequestToken, ResourceStatus, RolloutSettings, Taint,
};
pub use concurrency::{OperationConcurrency, default_max_parallel_pools};
pub use deprecated_api::DeprecatedApi;
pub use error::{BoxError, Cause, Error, Hint, Result, Setting};
pub use estimate::{Durations, Estimate};
pub use events::{Event, EventSink};
pub use executor::{Executor, ExecutorConfig, RunReport, RunResult, StepOutcome};
pub use graph::PlanGraph;
pub use journal::{FileJournal, Journal, JournalMismatch, JournalStore, RunOptions};
pub use lock::FileLock;
pub use managed::{AddonUpdates, ManagedCluster, NodeConfigReader, ProviderChecks};
pub use node_config::{NodeConfigSource, NodeConfigs};
pub use plan::{PlanOptions, Step, Strategy, UpgradePlan, VersionState, plan, plan_with};
pub use poll::PollPolicy;
pub use provider::Provider;
pub use recent::RecentRead;
pub use session::{JournalState, PrepareOptions, Prepared, Upgrade};
pub use skew::SkewPolicy;
pub use version::KubeVersion;
pub use workloads::{ClusterWorkloads, DrainBlocker, DrainOptions, HealthSnapshot, Node, Pod, PodRef};
