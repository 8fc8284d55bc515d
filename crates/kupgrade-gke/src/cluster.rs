//! [`GkeCluster`]: the thin [`ManagedCluster`] implementation over GKE's `ClusterManager`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use google_cloud_container_v1::client::ClusterManager;
use google_cloud_container_v1::model;
use kupgrade_core::{
    Calendar, Capabilities, ClusterSnapshot, Error, KubeVersion, ManagedCluster, NodePoolSpec,
    OfferedVersion, Operation, OperationId, OperationKind, PoolUpgradeOptions, Provider, RecentRead,
    RequestToken, Result, RolloutSettings,
};

use crate::convert::{self, PoolUpgradeStrategy};
use crate::error::{Subject, map_error};
use crate::insights::GkeDeprecationInsightsCheck;
use google_cloud_recommender_v1::client::Recommender;

/// One GKE cluster, reached through the official `ClusterManager` client.
///
/// Build it with [`crate::GkeClusterBuilder`]. Cloning is cheap and shares the client.
///
/// GKE has no idempotency token, so kupgrade's [`RequestToken`] is honoured two ways: a token
/// seen before in this process returns the operation it started, and before starting anything
/// the adapter looks for a running operation of the same kind on the same target (found with
/// `list_operations`) and returns that instead. The second check also runs after an ambiguous
/// (transient) failure of a start call, because GKE's POST calls are not retried by the client
/// library and may have landed.
#[derive(Debug, Clone)]
pub struct GkeCluster {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: ClusterManager,
    project: String,
    location: String,
    cluster: String,
    strategy: PoolUpgradeStrategy,
    /// Token -> operation started (or adopted) for it.
    tokens: Mutex<HashMap<String, OperationId>>,
    /// Operation -> the version it moves to, for operations started here.
    targets: Mutex<HashMap<String, KubeVersion>>,
    /// The cluster `describe` read, for the write that follows (its pools' image types and
    /// etags, the source of a clone).
    recent: RecentRead<model::Cluster>,
    /// Where deprecation insights come from, if anywhere (or why the client could not be made).
    recommender: Option<std::result::Result<Recommender, String>>,
}

/// The last path segment of a GKE operation name (`operation-123` of
/// `projects/p/locations/l/operations/operation-123`).
fn short_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

impl GkeCluster {
    pub(crate) fn new(
        client: ClusterManager,
        project: String,
        location: String,
        cluster: String,
        strategy: PoolUpgradeStrategy,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                project,
                location,
                cluster,
                strategy,
                tokens: Mutex::default(),
                targets: Mutex::default(),
                recent: RecentRead::default(),
                recommender: None,
            }),
        }
    }

    /// Reads deprecation insights through `recommender` (see [`GkeDeprecationInsightsCheck`]).
    pub(crate) fn with_recommender(
        self,
        recommender: Option<std::result::Result<Recommender, String>>,
    ) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).expect("a cluster being built has one owner");
        inner.recommender = recommender;
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The deprecation-insights check of this cluster, when it has a Recommender client.
    pub fn insights_check(&self) -> Option<GkeDeprecationInsightsCheck> {
        self.inner.recommender.clone().map(|client| {
            GkeDeprecationInsightsCheck::new(
                client,
                &self.inner.project,
                &self.inner.location,
                &self.inner.cluster,
            )
        })
    }

    /// The project id.
    pub fn project(&self) -> &str {
        &self.inner.project
    }

    /// The region or zone.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.inner.cluster
    }

    /// `projects/{p}/locations/{l}`.
    pub fn parent_path(&self) -> String {
        format!(
            "projects/{}/locations/{}",
            self.inner.project, self.inner.location
        )
    }

    /// `projects/{p}/locations/{l}/clusters/{c}`.
    pub fn cluster_path(&self) -> String {
        format!("{}/clusters/{}", self.parent_path(), self.inner.cluster)
    }

    /// `projects/{p}/locations/{l}/clusters/{c}/nodePools/{pool}`.
    pub fn pool_path(&self, pool: &str) -> String {
        format!("{}/nodePools/{pool}", self.cluster_path())
    }

    fn operation_path(&self, id: &str) -> String {
        format!("{}/operations/{}", self.parent_path(), short_name(id))
    }

    /// Maps an error of the call `operation` (GKE's method name) about `subject`.
    fn err<'a>(
        &'a self,
        operation: &'static str,
        subject: Subject<'a>,
    ) -> impl FnOnce(google_cloud_gax::error::Error) -> Error + 'a {
        let cluster = self.inner.cluster.as_str();
        move |e| map_error(e, operation, subject, cluster)
    }

    /// Reads the cluster as GKE returns it (node pools included).
    pub(crate) async fn get_cluster(&self) -> Result<model::Cluster> {
        self.inner
            .client
            .get_cluster()
            .set_name(self.cluster_path())
            .send()
            .await
            .map_err(self.err("GetCluster", Subject::Cluster(&self.inner.cluster)))
    }

    /// The cluster for a write: as `describe` just read it, or read now.
    async fn cluster_before_write(&self) -> Result<model::Cluster> {
        match self.inner.recent.with(|c| Some(c.clone())) {
            Some(cluster) => Ok(cluster),
            None => self.get_cluster().await,
        }
    }

    /// Node pool `pool` for a write: as `describe` just read it, or read now.
    async fn pool_before_write(&self, pool: &str) -> Result<model::NodePool> {
        let kept = self
            .inner
            .recent
            .with(|c| c.node_pools.iter().find(|p| p.name == pool).cloned());
        match kept {
            Some(p) => Ok(p),
            None => self.get_node_pool(pool).await,
        }
    }

    /// Reads one node pool as GKE returns it.
    async fn get_node_pool(&self, pool: &str) -> Result<model::NodePool> {
        self.inner
            .client
            .get_node_pool()
            .set_name(self.pool_path(pool))
            .send()
            .await
            .map_err(self.err("GetNodePool", Subject::NodePool(pool)))
    }

    /// GKE's upgrade information for the cluster (end of standard and extended support,
    /// auto-upgrade status and paused reasons, rollback-safe upgrade status).
    pub async fn upgrade_info(&self) -> Result<model::ClusterUpgradeInfo> {
        self.inner
            .client
            .fetch_cluster_upgrade_info()
            .set_name(self.cluster_path())
            .send()
            .await
            .map_err(self.err("FetchClusterUpgradeInfo", Subject::Cluster(&self.inner.cluster)))
    }

    async fn list_operations(&self) -> Result<Vec<model::Operation>> {
        let response = self
            .inner
            .client
            .list_operations()
            .set_parent(self.parent_path())
            .send()
            .await
            .map_err(self.err("ListOperations", Subject::Location(&self.inner.location)))?;
        let cluster = self.inner.cluster.as_str();
        Ok(response
            .operations
            .into_iter()
            .filter(|op| convert::target_cluster(&op.target_link) == Some(cluster))
            .collect())
    }

    /// A running operation of `kind` on `pool` (or on the control plane), if any.
    async fn find_running(&self, kind: OperationKind, pool: Option<&str>) -> Result<Option<OperationId>> {
        Ok(self
            .list_operations()
            .await?
            .iter()
            .filter_map(|op| convert::operation(op, None))
            .find(|op| op.kind == kind && op.node_pool.as_deref() == pool && !op.state.is_terminal())
            .map(|op| OperationId(short_name(&op.id.0).to_string())))
    }

    fn remember(&self, token: &RequestToken, id: &OperationId, to: Option<&KubeVersion>) {
        self.inner
            .tokens
            .lock()
            .unwrap()
            .insert(token.0.clone(), id.clone());
        if let Some(to) = to {
            self.inner
                .targets
                .lock()
                .unwrap()
                .insert(id.0.clone(), to.clone());
        }
    }

    /// Starts an operation at most once per token and never next to a running one of the same
    /// kind and target (see the type's docs).
    async fn start<F, Fut>(
        &self,
        kind: OperationKind,
        pool: Option<&str>,
        to: Option<&KubeVersion>,
        token: &RequestToken,
        subject: Subject<'_>,
        call: F,
    ) -> Result<OperationId>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = google_cloud_gax::Result<model::Operation>>,
    {
        if let Some(id) = self.inner.tokens.lock().unwrap().get(&token.0).cloned() {
            return Ok(id);
        }
        self.inner.recent.forget();
        if let Some(id) = self.find_running(kind, pool).await? {
            tracing::info!(operation = %id, ?kind, pool, "adopting the operation already running");
            self.remember(token, &id, to);
            return Ok(id);
        }
        match call().await {
            Ok(op) => {
                let id = OperationId(short_name(&op.name).to_string());
                tracing::info!(operation = %id, ?kind, pool, "started");
                self.remember(token, &id, to);
                Ok(id)
            }
            Err(e) => {
                let operation = match kind {
                    OperationKind::UpgradeControlPlane => "UpdateMaster",
                    OperationKind::UpgradeNodePool => "UpdateNodePool",
                    OperationKind::CreateNodePool => "CreateNodePool",
                    OperationKind::DeleteNodePool => "DeleteNodePool",
                    _ => "operation",
                };
                let err = map_error(e, operation, subject, &self.inner.cluster);
                if matches!(err, Error::Transient { .. }) {
                    // The POST may have landed although the answer got lost: look before the
                    // executor retries.
                    if let Ok(Some(id)) = self.find_running(kind, pool).await {
                        self.remember(token, &id, to);
                        return Ok(id);
                    }
                }
                Err(err)
            }
        }
    }

    /// Starts a node-pool upgrade with an explicit strategy (e.g. GKE native blue/green for one
    /// pool while the cluster default stays surge).
    pub async fn upgrade_node_pool_with(
        &self,
        pool: &str,
        to: &KubeVersion,
        rollout: &RolloutSettings,
        strategy: &PoolUpgradeStrategy,
        token: &RequestToken,
    ) -> Result<OperationId> {
        // update_node_pool requires image_type: keep the pool's own; send its etag so a
        // concurrent change is refused (ABORTED) instead of overwritten.
        let current = self.pool_before_write(pool).await?;
        let image_type = current
            .config
            .as_ref()
            .map(|c| c.image_type.clone())
            .unwrap_or_default();
        let settings = convert::upgrade_settings(rollout, strategy);
        self.start(
            OperationKind::UpgradeNodePool,
            Some(pool),
            Some(to),
            token,
            Subject::NodePool(pool),
            || {
                self.inner
                    .client
                    .update_node_pool()
                    .set_name(self.pool_path(pool))
                    .set_node_version(to.to_string())
                    .set_image_type(image_type)
                    .set_upgrade_settings(settings)
                    .set_etag(current.etag)
                    .send()
            },
        )
        .await
    }

    /// Tells GKE to finish a running blue/green upgrade now, skipping the rest of the pool soak
    /// (after a health gate passed). Not part of [`ManagedCluster`]: the trait has no place for
    /// provider-native blue/green.
    pub async fn complete_node_pool_upgrade(&self, pool: &str) -> Result<()> {
        self.inner
            .client
            .complete_node_pool_upgrade()
            .set_name(self.pool_path(pool))
            .send()
            .await
            .map_err(self.err("CompleteNodePoolUpgrade", Subject::NodePool(pool)))
    }

    /// Rolls back a failed or aborted node-pool upgrade (e.g. a blue/green upgrade whose gate
    /// failed during the soak): the blue nodes come back. `respect_pdb` keeps
    /// PodDisruptionBudgets during the rollback. Not part of [`ManagedCluster`].
    pub async fn rollback_node_pool_upgrade(&self, pool: &str, respect_pdb: bool) -> Result<OperationId> {
        let op = self
            .inner
            .client
            .rollback_node_pool_upgrade()
            .set_name(self.pool_path(pool))
            .set_respect_pdb(respect_pdb)
            .send()
            .await
            .map_err(self.err("RollbackNodePoolUpgrade", Subject::NodePool(pool)))?;
        Ok(OperationId(short_name(&op.name).to_string()))
    }

    /// Cancels a running operation (GKE reports it `DONE` with a `CANCELLED` error).
    pub async fn cancel_operation(&self, id: &OperationId) -> Result<()> {
        self.inner
            .client
            .cancel_operation()
            .set_name(self.operation_path(&id.0))
            .send()
            .await
            .map_err(self.err("CancelOperation", Subject::Operation(&id.0)))
    }

    fn new_pool(source: &model::NodePool, spec: &NodePoolSpec, zones: usize) -> model::NodePool {
        let mut config = source.config.clone().unwrap_or_default();
        config.labels.extend(convert::labels_to_gke(&spec.labels));
        config.taints = spec.taints.iter().map(convert::taint_to_gke).collect();
        let per_zone = spec.nodes.div_ceil(zones.max(1) as u32);
        let mut pool = model::NodePool::new()
            .set_name(spec.name.clone())
            .set_version(spec.version.to_string())
            .set_config(config)
            .set_initial_node_count(i32::try_from(per_zone).unwrap_or(i32::MAX))
            .set_locations(source.locations.clone());
        pool.autoscaling = source.autoscaling.clone();
        pool.management = source.management.clone();
        pool.max_pods_constraint = source.max_pods_constraint.clone();
        pool.upgrade_settings = source.upgrade_settings.clone();
        pool.network_config = source.network_config.clone();
        pool.placement_policy = source.placement_policy.clone();
        pool.node_drain_config = source.node_drain_config.clone();
        pool
    }
}

#[async_trait]
impl ManagedCluster for GkeCluster {
    fn provider(&self) -> Provider {
        Provider::Gke
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .with_native_blue_green(true)
            .with_concurrency(kupgrade_core::OperationConcurrency::for_provider(
                kupgrade_core::Provider::Gke,
            ))
    }

    async fn describe(&self) -> Result<ClusterSnapshot> {
        let cluster = self.get_cluster().await?;
        let snapshot = convert::snapshot(&cluster)?;
        self.inner.recent.remember(cluster);
        Ok(snapshot)
    }

    async fn offered_versions(&self) -> Result<Vec<OfferedVersion>> {
        let cluster = self.get_cluster().await?;
        let config = self
            .inner
            .client
            .get_server_config()
            .set_name(self.parent_path())
            .send()
            .await
            .map_err(self.err("GetServerConfig", Subject::Location(&self.inner.location)))?;
        // On a release channel only that channel's versions are valid targets.
        let channel = cluster.release_channel.as_ref().map(|r| &r.channel);
        let channel_config = config
            .channels
            .iter()
            .find(|c| Some(&c.channel) == channel && !c.valid_versions.is_empty());
        let (versions, default) = match channel_config {
            Some(c) => (c.valid_versions.clone(), c.default_version.clone()),
            None => (
                config.valid_master_versions.clone(),
                config.default_cluster_version.clone(),
            ),
        };
        let calendar = Calendar::embedded(Provider::Gke);
        let current = convert::version(&cluster.current_master_version, "current master version")?;
        let live = match self.upgrade_info().await {
            Ok(info) => convert::live_window(
                &current,
                &info,
                calendar.window(&current),
                chrono::Utc::now().date_naive(),
            ),
            Err(e) => {
                tracing::debug!(%e, "fetch_cluster_upgrade_info unavailable; using the embedded calendar");
                None
            }
        };
        let mut out = Vec::new();
        for v in versions {
            let version = convert::version(&v, "offered version")?;
            let support = match &live {
                Some(w) if w.version.same_minor(&version) => Some(w.clone()),
                _ => calendar.window(&version).cloned(),
            };
            out.push(OfferedVersion {
                is_default: v == default,
                version,
                support,
                // GKE's server config lists no preview flag; channels carry that instead.
                preview: false,
            });
        }
        Ok(out)
    }

    async fn upgrade_control_plane(&self, to: &KubeVersion, token: &RequestToken) -> Result<OperationId> {
        self.start(
            OperationKind::UpgradeControlPlane,
            None,
            Some(to),
            token,
            Subject::Cluster(&self.inner.cluster),
            || {
                self.inner
                    .client
                    .update_master()
                    .set_name(self.cluster_path())
                    .set_master_version(to.to_string())
                    .send()
            },
        )
        .await
    }

    async fn upgrade_node_pool(
        &self,
        pool: &str,
        to: &KubeVersion,
        options: &PoolUpgradeOptions,
        token: &RequestToken,
    ) -> Result<OperationId> {
        let (rollout, force) = (&options.rollout, options.force);
        if force {
            tracing::warn!(
                pool,
                "GKE has no per-upgrade force flag: it respects PodDisruptionBudgets for up to one hour per node, then evicts"
            );
        }
        let strategy = self.inner.strategy.clone();
        self.upgrade_node_pool_with(pool, to, rollout, &strategy, token)
            .await
    }

    async fn create_node_pool(&self, spec: &NodePoolSpec, token: &RequestToken) -> Result<OperationId> {
        let cluster = self.cluster_before_write().await?;
        let source = cluster
            .node_pools
            .iter()
            .find(|p| p.name == spec.clone_of)
            .ok_or_else(|| crate::error::not_found(Subject::NodePool(&spec.clone_of)))?;
        let zones = if source.locations.is_empty() {
            cluster.locations.len()
        } else {
            source.locations.len()
        };
        let pool = Self::new_pool(source, spec, zones);
        self.start(
            OperationKind::CreateNodePool,
            Some(&spec.name),
            Some(&spec.version),
            token,
            Subject::NodePool(&spec.name),
            || {
                self.inner
                    .client
                    .create_node_pool()
                    .set_parent(self.cluster_path())
                    .set_node_pool(pool)
                    .send()
            },
        )
        .await
    }

    async fn delete_node_pool(&self, pool: &str, token: &RequestToken) -> Result<OperationId> {
        self.start(
            OperationKind::DeleteNodePool,
            Some(pool),
            None,
            token,
            Subject::NodePool(pool),
            || {
                self.inner
                    .client
                    .delete_node_pool()
                    .set_name(self.pool_path(pool))
                    .send()
            },
        )
        .await
    }

    async fn operation(&self, id: &OperationId) -> Result<Operation> {
        let op = self
            .inner
            .client
            .get_operation()
            .set_name(self.operation_path(&id.0))
            .send()
            .await
            .map_err(self.err("GetOperation", Subject::Operation(&id.0)))?;
        let to = self.inner.targets.lock().unwrap().get(&id.0).cloned();
        let mut out = convert::operation(&op, to).ok_or_else(|| {
            Error::provider(format!(
                "operation {id} is a GKE {:?} operation, which kupgrade does not track",
                op.operation_type
            ))
        })?;
        out.id = id.clone();
        Ok(out)
    }

    async fn operations_in_flight(&self) -> Result<Vec<Operation>> {
        Ok(self
            .list_operations()
            .await?
            .iter()
            .filter_map(|op| convert::operation(op, None))
            .filter(|op| !op.state.is_terminal())
            .map(|mut op| {
                op.id = OperationId(short_name(&op.id.0).to_string());
                op.to = self.inner.targets.lock().unwrap().get(&op.id.0).cloned();
                op
            })
            .collect())
    }

    fn provider_checks(&self) -> Option<&dyn kupgrade_core::ProviderChecks> {
        self.inner.recommender.is_some().then_some(self as _)
    }
}

/// GKE deprecation insights from the Recommender API (when a client is configured).
impl kupgrade_core::ProviderChecks for GkeCluster {
    fn checks(&self) -> Vec<Box<dyn kupgrade_core::Check>> {
        self.insights_check()
            .map(|c| Box::new(c) as Box<dyn kupgrade_core::Check>)
            .into_iter()
            .collect()
    }
}
