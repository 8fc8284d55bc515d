//! A cluster-side lock: a `coordination.k8s.io/v1` Lease that every kupgrade run on a live
//! cluster takes before changing anything, so two machines (a laptop and a CI job) cannot
//! upgrade the same cluster at once. A local file lock cannot see the other machine; the API
//! server can.
//!
//! The Lease `kube-system/kupgrade-upgrade-lock` names its holder (`pid N on host since T`) and
//! is renewed every [`LEASE_SECONDS`]/3 while the run lasts; a holder that dies stops renewing,
//! and the Lease is free once [`LEASE_SECONDS`] pass without renewal. Taking it is a
//! compare-and-swap on the object's `resourceVersion`, so two runs racing for a free Lease
//! cannot both win. Releasing deletes it (with the same precondition).
//!
//! RBAC: `get`, `create`, `update` and `delete` on `leases` in `kube-system`.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kupgrade_core::{Error, Result};

use crate::kube_error;

/// The Lease's namespace.
pub const LEASE_NAMESPACE: &str = "kube-system";
/// The Lease's name.
pub const LEASE_NAME: &str = "kupgrade-upgrade-lock";
/// How long a Lease stays held without renewal.
pub const LEASE_SECONDS: i32 = 60;

/// A held cluster lock. Renewed in the background until [`ClusterLease::release`] (or drop,
/// which stops renewing so the Lease expires).
#[derive(Debug)]
pub struct ClusterLease {
    api: Api<Lease>,
    holder: String,
    renewer: tokio::task::JoinHandle<()>,
}

impl ClusterLease {
    /// Takes the Lease for `holder`, or fails at once with [`Error::Locked`] naming the run
    /// that holds it and when its hold expires.
    pub async fn acquire(client: kube::Client, holder: &str) -> Result<Self> {
        let api: Api<Lease> = Api::namespaced(client, LEASE_NAMESPACE);
        let now = Timestamp::now();
        let existing = api.get_opt(LEASE_NAME).await.map_err(rbac_hint)?;
        let ours = lease(holder, now, existing.as_ref());
        match existing {
            None => {
                api.create(&PostParams::default(), &ours)
                    .await
                    .map_err(|e| lost_race(e, holder))?;
            }
            Some(current) => {
                if let Some(other) = live_holder(&current, now)
                    && other != holder
                {
                    return Err(Error::Locked {
                        path: format!("cluster Lease {LEASE_NAMESPACE}/{LEASE_NAME}").into(),
                        holder: format!(
                            "{other}; it expires {LEASE_SECONDS}s after its last renewal if that run died"
                        ),
                    });
                }
                // Free, expired or ours: replace it, guarded by the resourceVersion we read.
                api.replace(LEASE_NAME, &PostParams::default(), &ours)
                    .await
                    .map_err(|e| lost_race(e, holder))?;
            }
        }
        let renewer = tokio::spawn(renew(api.clone(), holder.to_string()));
        Ok(Self {
            api,
            holder: holder.to_string(),
            renewer,
        })
    }

    /// Stops renewing and deletes the Lease if it is still ours.
    pub async fn release(self) -> Result<()> {
        self.renewer.abort();
        let Some(current) = self.api.get_opt(LEASE_NAME).await.map_err(kube_error)? else {
            return Ok(());
        };
        if current.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) != Some(self.holder.as_str()) {
            return Ok(());
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: current.metadata.resource_version.clone(),
                uid: current.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        self.api
            .delete(LEASE_NAME, &params)
            .await
            .map(|_| ())
            .map_err(kube_error)
    }
}

impl Drop for ClusterLease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// The Lease for `holder` at `now`, carrying the `resourceVersion` of `existing` (the
/// compare-and-swap) and counting holder changes as the Lease API does.
fn lease(holder: &str, now: Timestamp, existing: Option<&Lease>) -> Lease {
    let previous = existing.and_then(|l| l.spec.as_ref());
    let same_holder = previous.and_then(|s| s.holder_identity.as_deref()) == Some(holder);
    let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
    Lease {
        metadata: ObjectMeta {
            name: Some(LEASE_NAME.into()),
            namespace: Some(LEASE_NAMESPACE.into()),
            resource_version: existing.and_then(|l| l.metadata.resource_version.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_string()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if same_holder || existing.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }),
    }
}

/// The holder of `lease` if its hold has not expired at `now`.
fn live_holder(lease: &Lease, now: Timestamp) -> Option<String> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    let expires = renewed.as_second().saturating_add(duration);
    (now.as_second() < expires).then_some(holder)
}

/// Renews the Lease every third of its duration; a failed renewal is retried on the next tick
/// (the Lease expires on its own if the run cannot reach the API server any more).
async fn renew(api: Api<Lease>, holder: String) {
    let mut tick = tokio::time::interval(Duration::from_secs((LEASE_SECONDS / 3) as u64));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Ok(Some(mut current)) = api.get_opt(LEASE_NAME).await else {
            continue;
        };
        let Some(spec) = current.spec.as_mut() else {
            continue;
        };
        if spec.holder_identity.as_deref() != Some(holder.as_str()) {
            tracing::warn!(
                "the cluster Lease {LEASE_NAMESPACE}/{LEASE_NAME} was taken over; no longer renewing it"
            );
            return;
        }
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        if let Err(e) = api.replace(LEASE_NAME, &PostParams::default(), &current).await {
            tracing::warn!("renewing the cluster Lease failed (retried): {e}");
        }
    }
}

fn rbac_hint(err: kube::Error) -> Error {
    match kube_error(err) {
        Error::Permission { message: msg, .. } => Error::permission(format!(
            "{msg}; the cluster lock needs get, create, update and delete on leases in {LEASE_NAMESPACE}"
        )),
        other => other,
    }
}

/// A 409 on create or replace: another run took the Lease between our read and our write.
fn lost_race(err: kube::Error, holder: &str) -> Error {
    match &err {
        kube::Error::Api(status) if status.code == 409 => Error::Locked {
            path: format!("cluster Lease {LEASE_NAMESPACE}/{LEASE_NAME}").into(),
            holder: format!("another run took it while {holder} was taking it"),
        },
        _ => rbac_hint(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(holder: &str, renewed: Timestamp) -> Lease {
        lease(holder, renewed, None)
    }

    #[test]
    fn a_lease_is_held_until_its_duration_passes_without_renewal() {
        let t0: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let lease = held("pid 1 on a", t0);
        let at = |secs: i64| Timestamp::from_second(t0.as_second() + secs).unwrap();
        assert_eq!(live_holder(&lease, at(59)).as_deref(), Some("pid 1 on a"));
        assert_eq!(live_holder(&lease, at(60)), None);
    }

    #[test]
    fn an_empty_holder_is_free() {
        let t0 = Timestamp::now();
        let mut lease = held("x", t0);
        lease.spec.as_mut().unwrap().holder_identity = Some(String::new());
        assert_eq!(live_holder(&lease, t0), None);
    }

    #[test]
    fn taking_over_counts_a_transition_and_keeps_the_resource_version() {
        let t0 = Timestamp::now();
        let mut old = held("pid 1 on a", t0);
        old.metadata.resource_version = Some("42".into());
        let new = lease("pid 2 on b", t0, Some(&old));
        assert_eq!(new.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(new.spec.unwrap().lease_transitions, Some(1));
    }
}
