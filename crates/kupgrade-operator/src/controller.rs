//! The production loop: a kube-runtime [`Controller`] over `UpgradeRun`s, woken by the runs,
//! by `UpgradeApproval`s naming them, and by the `ManagedClusterRef`s they upgrade (a worker
//! writes its cluster's journal and outcome there, so progress reaches the run through the API
//! server, as it would from another replica).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use crate::error::Error;
use crate::operator::Operator;
use crate::reconcile::reconcile;
use crate::resources::{ManagedClusterRef, UpgradeApproval, UpgradeRun};

/// Reconciles every `UpgradeRun` in the cluster until `shutdown` resolves.
pub async fn run(
    operator: Arc<Operator>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = operator.client.clone();
    Controller::new(Api::<UpgradeRun>::all(client.clone()), watcher::Config::default())
        .watches(
            Api::<UpgradeApproval>::all(client.clone()),
            watcher::Config::default(),
            |approval| {
                approval
                    .namespace()
                    .map(|ns| ObjectRef::new(&approval.spec.run).within(&ns))
            },
        )
        .watches(
            Api::<ManagedClusterRef>::all(client),
            watcher::Config::default(),
            |cluster| {
                let namespace = cluster.namespace()?;
                let run = cluster.status?.upgrade?.run;
                Some(ObjectRef::new(&run).within(&namespace))
            },
        )
        .with_config(Config::default().debounce(Duration::from_secs(1)))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, operator)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::warn!(%e, "reconcile failed");
            }
        })
        .await;
}

fn error_policy(_run: Arc<UpgradeRun>, error: &Error, _operator: Arc<Operator>) -> Action {
    tracing::warn!(%error, "reconcile failed; retrying in 15 s");
    Action::requeue(Duration::from_secs(15))
}
