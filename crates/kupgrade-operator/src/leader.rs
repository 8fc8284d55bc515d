//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas one
//! reconciles and runs workers.
//!
//! Written here rather than taken from a crate: `kube-leader-election` 0.44 targets kube 4 (we
//! are on kube 5), and `kube-lease-manager` 0.13 (kube 5) judges a lease expired by comparing
//! the holder's written `renewTime` with the local wall clock, which clock skew between nodes
//! defeats, and keeps reporting leadership while it cannot reach the API server, so a
//! partitioned leader would run on beside its successor. This elector follows client-go's
//! rules instead: a lease counts as expired when its record has not changed for
//! `lease_duration` by the *observer's* monotonic clock, and a leader that has not renewed for
//! `renew_deadline` (shorter than `lease_duration`) steps down — stopping every worker — before
//! anyone else may take over.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;

use crate::operator::Operator;

/// Where and how to hold the lease.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The Lease's namespace (the operator's).
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's name (its pod name).
    pub identity: String,
    /// How long a lease lasts without renewal, as others judge it.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal.
    pub renew_deadline: Duration,
    /// How often to renew, or to try to acquire.
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What this replica last saw of someone else's lease.
struct Observed {
    holder: Option<String>,
    resource_version: Option<String>,
    at: Instant,
}

/// Campaigns for and holds the lease until `shutdown` resolves, telling `operator` whenever
/// leadership is gained or lost. On shutdown a held lease is released, so a successor takes
/// over at once.
pub async fn lead(
    client: kube::Client,
    settings: LeaseSettings,
    operator: Arc<Operator>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let api = Api::<Lease>::namespaced(client, &settings.namespace);
    let mut elector = Elector {
        api,
        settings,
        observed: None,
        last_renewal: None,
    };
    operator.set_leader(false);
    tokio::pin!(shutdown);
    loop {
        let leading = operator.is_leader();
        // A call that hangs must not keep a leader leading past its deadline.
        let budget = match (leading, elector.last_renewal) {
            (true, Some(t)) => elector.settings.renew_deadline.saturating_sub(t.elapsed()),
            _ => elector.settings.renew_deadline,
        };
        let attempt = tokio::time::timeout(budget, elector.try_acquire_or_renew())
            .await
            .unwrap_or_else(|_| Err(kube::Error::Service("the lease call timed out".into())));
        match attempt {
            Ok(true) => {
                elector.last_renewal = Some(Instant::now());
                if !leading {
                    tracing::info!(identity = %elector.settings.identity, "leadership acquired");
                    operator.set_leader(true);
                }
            }
            Ok(false) if leading => {
                tracing::warn!("another replica holds the lease");
                operator.set_leader(false);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%e, "lease: cannot reach the API server");
                let overdue = elector
                    .last_renewal
                    .is_none_or(|t| t.elapsed() >= elector.settings.renew_deadline);
                if leading && overdue {
                    operator.set_leader(false);
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(elector.settings.retry_period) => {}
        }
    }
    if operator.is_leader() {
        operator.set_leader(false);
        if let Err(e) = elector.release().await {
            tracing::warn!(%e, "could not release the lease");
        }
    }
}

struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    observed: Option<Observed>,
    last_renewal: Option<Instant>,
}

impl Elector {
    fn spec(&self, transitions: i32, acquired: bool, old: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: Some(self.settings.lease_duration.as_secs() as i32),
            acquire_time: if acquired {
                Some(now.clone())
            } else {
                old.and_then(|s| s.acquire_time.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// `Ok(true)` when this replica holds the lease after the call.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, true, None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(self.settings.identity.as_str());
        let transitions = spec.lease_transitions.unwrap_or(0);
        if !ours {
            let changed = self
                .observed
                .as_ref()
                .is_none_or(|o| o.holder != holder || o.resource_version != lease.metadata.resource_version);
            if changed {
                self.observed = Some(Observed {
                    holder: holder.clone(),
                    resource_version: lease.metadata.resource_version.clone(),
                    at: Instant::now(),
                });
            }
            let duration = spec
                .lease_duration_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64))
                .unwrap_or(self.settings.lease_duration);
            let expired = self.observed.as_ref().is_some_and(|o| o.at.elapsed() >= duration);
            if holder.is_some() && !expired {
                return Ok(false);
            }
        }
        lease.spec = Some(self.spec(
            if ours { transitions } else { transitions + 1 },
            !ours,
            Some(&spec),
        ));
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        if let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(self.settings.identity.as_str())
        {
            spec.holder_identity = None;
            spec.renew_time = None;
            spec.acquire_time = None;
            self.api
                .replace(&self.settings.name, &PostParams::default(), &lease)
                .await?;
        }
        Ok(())
    }
}
