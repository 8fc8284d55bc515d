//! `kupgrade-operator`: fleets of managed-Kubernetes upgrades as Kubernetes resources on a
//! management cluster, run by the same engine as the `kupgrade` CLI.
//!
//! - [`resources`]: the CRDs, from Rust types. An [`UpgradeStrategy`](resources::UpgradeStrategy)
//!   lists stages (clusters selected by label, concurrency, failure threshold, soak, before and
//!   after gates: a wait, post-checks, an approval); an [`UpgradeRun`]
//!   names a target version and a strategy, which it freezes when it starts; an
//!   [`UpgradeApproval`](resources::UpgradeApproval) grants one approval gate; a
//!   [`ManagedClusterRef`](resources::ManagedClusterRef) names a cluster on EKS, AKS, GKE or the
//!   simulator, and holds in its status the journal of the run upgrading it.
//! - [`reconcile()`]: one pass over a run; [`controller::run`] drives it with kube-runtime,
//!   [`leader::lead`] holds a Lease so one replica works at a time.
//! - [`Operator`]: the shared state; [`Connector`] turns a `ManagedClusterRef` into a live
//!   cluster ([`CloudConnector`] in production, [`SimClusters`] for simulated ones).
//! - [`fake_api::FakeApi`]: an in-memory Kubernetes API server behind `kube::Client`, for tests,
//!   benchmarks and this example.
//!
//! A run of two simulated clusters in one stage, reconciled until it succeeds:
//!
//! ```
//! use std::sync::Arc;
//! use kupgrade_operator::fake_api::FakeApi;
//! use kupgrade_operator::resources::RunPhase;
//! use kupgrade_operator::{Operator, SimClusters, TokioClock, reconcile_named};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let api = FakeApi::new();
//! for name in ["shop-dev", "shop-dev-2"] {
//!     api.insert("apis/kupgrade.io/v1alpha1", "managedclusterrefs", Some("fleet"), json!({
//!         "apiVersion": "kupgrade.io/v1alpha1", "kind": "ManagedClusterRef",
//!         "metadata": {"name": name, "namespace": "fleet", "labels": {"env": "dev"}},
//!         "spec": {"provider": "Simulator", "simulator": {"controlPlane": "1.30"}},
//!     }));
//! }
//! api.insert("apis/kupgrade.io/v1alpha1", "upgradestrategies", Some("fleet"), json!({
//!     "apiVersion": "kupgrade.io/v1alpha1", "kind": "UpgradeStrategy",
//!     "metadata": {"name": "waves", "namespace": "fleet"},
//!     "spec": {"stages": [{"name": "dev", "matchLabels": {"env": "dev"}, "maxConcurrent": 2}]},
//! }));
//! api.insert("apis/kupgrade.io/v1alpha1", "upgraderuns", Some("fleet"), json!({
//!     "apiVersion": "kupgrade.io/v1alpha1", "kind": "UpgradeRun",
//!     "metadata": {"name": "to-1-32", "namespace": "fleet"},
//!     "spec": {"targetVersion": "1.32", "strategyRef": "waves"},
//! }));
//! let operator = Arc::new(
//!     Operator::new(api.client(), Arc::new(SimClusters::in_memory()))
//!         .with_clock(Arc::new(TokioClock::starting_at(chrono::Utc::now()))),
//! );
//! let status = loop {
//!     reconcile_named(&operator, "fleet", "to-1-32").await.unwrap();
//!     let status = kupgrade_operator::run_status(&api, "fleet", "to-1-32").unwrap_or_default();
//!     if status.phase != RunPhase::Running && status.phase != RunPhase::Pending {
//!         break status;
//!     }
//!     tokio::time::sleep(std::time::Duration::from_secs(30)).await;
//! };
//! assert_eq!(status.phase, RunPhase::Succeeded);
//! assert_eq!(status.progress.as_deref(), Some("2/2"));
//! # }
//! ```

pub mod clock;
pub mod connect;
pub mod controller;
mod error;
pub mod fake_api;
mod gates;
pub mod leader;
mod operator;
pub mod reconcile;
mod ref_journal;
pub mod resources;
mod worker;

use std::sync::Arc;

pub use clock::{Clock, SystemClock, TokioClock};
pub use connect::{CloudConnector, Connected, Connector, SimClusters};
pub use error::{Error, Result};
pub use operator::{ClusterKey, Operator, Stats};
pub use reconcile::reconcile;
pub use ref_journal::JournalProgress;
pub use worker::Outcome;

use kube::Api;
use kube::runtime::controller::Action;
use resources::{UpgradeRun, UpgradeRunStatus};

/// Reads the run `namespace/name` and reconciles it once (what the controller does on every
/// event; tests and the documentation drive runs with it).
pub async fn reconcile_named(operator: &Arc<Operator>, namespace: &str, name: &str) -> Result<Action> {
    let run = Api::<UpgradeRun>::namespaced(operator.client.clone(), namespace)
        .get(name)
        .await?;
    reconcile(Arc::new(run), operator.clone()).await
}

/// The status of run `namespace/name` as `api` stores it.
pub fn run_status(api: &fake_api::FakeApi, namespace: &str, name: &str) -> Option<UpgradeRunStatus> {
    let value = api.get("apis/kupgrade.io/v1alpha1", "upgraderuns", Some(namespace), name)?;
    serde_json::from_value(value.get("status")?.clone()).ok()
}
