//! # kupgrade-sim
//!
//! An in-memory managed-Kubernetes cloud: a cluster with node pools, nodes, pods owned by
//! Deployments, StatefulSets and DaemonSets, PodDisruptionBudgets, and provider operations that
//! take (virtual) time. It implements both [`kupgrade_core::ManagedCluster`] and
//! [`kupgrade_core::ClusterWorkloads`], enforces the provider's skew rules with the provider's
//! kind of error, allows one operation per cluster at a time, and takes injected faults:
//! throttling, failing operations, PDBs that block drains, pods that crash on a new version,
//! and a crash of the process after N persisted mutations.
//!
//! It is the engine behind `kupgrade demo` and the reference every cloud adapter is tested
//! against. Time is tokio time, so under a paused clock an upgrade of hours takes milliseconds:
//!
//! ```
//! use std::sync::Arc;
//! use kupgrade_core::{Executor, Journal, KubeVersion, RunResult, SkewPolicy, Strategy, plan};
//! use kupgrade_sim::{SimCluster, SimState};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let sim = SimCluster::new(SimState::demo());
//! let snapshot = sim.state().snapshot();
//! let plan = plan(&snapshot, &KubeVersion::new(1, 32), &SkewPolicy::for_provider(snapshot.provider), Strategy::InPlace)?;
//! let mut journal = Journal::new(plan);
//! let report = Executor::new(Arc::new(sim.clone()), Arc::new(sim.clone())).run(&mut journal).await?;
//! assert_eq!(report.result, RunResult::Succeeded);
//! assert_eq!(sim.state().control_plane, KubeVersion::new(1, 32));
//! # Ok::<(), kupgrade_core::Error>(())
//! # }).unwrap();
//! ```

mod cluster;
mod fixtures;
mod fleet;
mod state;
mod store;
mod swap;
mod world;

pub use cluster::{CrashHook, CrashPlan, SimCluster};
pub use fleet::SimFleetConnector;
pub use state::{
    Budget, Faults, PlannedFailure, ProviderRules, SimNode, SimOperation, SimPdb, SimPod, SimPool, SimState,
    SimWorkload, Timings, WorkloadKind,
};
pub use store::SimStore;
pub use swap::SimSwap;
