//! [`AksCluster`]: the thin [`ManagedCluster`] implementation over the ARM client.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use azure_core::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kupgrade_core::poll::Paced;
use kupgrade_core::{
    Capabilities, ClusterSnapshot, Error, KubeVersion, ManagedCluster, NodePoolSpec, OfferedVersion,
    Operation, OperationId, OperationKind, OperationState, PollPolicy, PoolUpgradeOptions, Provider,
    RecentRead, RequestToken, Result,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arm::{ArmClient, ArmResponse, Poll, Via};
use crate::convert::{self, UndrainableNodeBehavior};
use crate::error::Target;
use crate::models::{
    AgentPoolList, AgentPoolModel, KubernetesVersionList, ManagedClusterModel, UpgradeProfileModel,
};
use crate::writes;

/// Which cluster: subscription, resource group, name.
#[derive(Debug, Clone)]
pub(crate) struct ClusterIds {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
}

/// Opt-in behaviours set on the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    pub force_upgrade_until: Option<DateTime<Utc>>,
    pub undrainable: Option<UndrainableNodeBehavior>,
}

/// One Kubernetes minor from the location's catalogue (`locations/{loc}/kubernetesVersions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AksVersion {
    /// The newest patch AKS lists for the minor (or the minor itself).
    pub version: KubeVersion,
    /// AKS's default for new clusters.
    pub is_default: bool,
    /// A preview version, not for production.
    pub is_preview: bool,
    /// `KubernetesOfficial` and/or `AKSLongTermSupport`.
    pub support_plans: Vec<String>,
}

/// AKS facts about one agent pool beyond the core snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AksPoolDetails {
    /// The pool's name.
    pub name: String,
    /// `System` or `User` (system pools may not use `maxUnavailable`).
    pub mode: String,
    /// The VM size, e.g. `Standard_D4ds_v5`.
    pub vm_size: String,
    /// ARM's `provisioningState`.
    pub provisioning_state: String,
}

/// What `upgradeProfiles/default` offers the control plane and each pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeOptions {
    /// The control plane's version and the versions it may move to.
    pub control_plane: (KubeVersion, Vec<KubeVersion>),
    /// Per pool: name, version, the versions it may move to.
    pub pools: Vec<(String, KubeVersion, Vec<KubeVersion>)>,
}

/// What [`AksCluster::abort`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortOutcome {
    /// AKS cancelled the running operation (changes already applied stay applied).
    Aborted,
    /// Nothing was running (ARM answered 409: the operation had already finished).
    NothingRunning,
}

/// How an operation id finds its status again, also after a restart: the kind, the pool, the
/// target, and the ARM polling URL when ARM gave one (else the resource's `provisioningState`
/// is read). Serialised as `aks:` + base64url(JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OpRef {
    k: OperationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<(Via, String)>,
}

const OP_PREFIX: &str = "aks:";

impl OpRef {
    fn id(&self) -> OperationId {
        let json = serde_json::to_vec(self).unwrap_or_default();
        OperationId(format!("{OP_PREFIX}{}", URL_SAFE_NO_PAD.encode(json)))
    }

    fn parse(id: &OperationId) -> Result<Self> {
        let bad = || Error::invalid_input(format!("operation id '{id}' was not made by kupgrade-aks"));
        let raw = id.0.strip_prefix(OP_PREFIX).ok_or_else(bad)?;
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }

    fn to_version(&self) -> Option<KubeVersion> {
        self.to.as_deref().and_then(|v| KubeVersion::parse(v).ok())
    }
}

/// An AKS managed cluster, reached through Azure Resource Manager. Build one with
/// [`crate::AksClusterBuilder`].
pub struct AksCluster {
    pub(crate) arm: ArmClient,
    pub(crate) ids: ClusterIds,
    pub(crate) options: Options,
    /// Operations started by this handle, by request token: a retried call returns the same id.
    pub(crate) started: Mutex<HashMap<String, OperationId>>,
    /// What `describe` read, for the write that follows (its bodies and eTags).
    pub(crate) recent: RecentRead<Reads>,
}

/// The cluster and agent pools as `describe` read them.
#[derive(Debug)]
pub(crate) struct Reads {
    /// The cluster's `ETag` header, if ARM sent one.
    cluster_etag: Option<String>,
    cluster: Value,
    pools: HashMap<String, Value>,
}

impl std::fmt::Debug for AksCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AksCluster")
            .field("subscription", &self.ids.subscription)
            .field("resource_group", &self.ids.resource_group)
            .field("cluster", &self.ids.name)
            .finish_non_exhaustive()
    }
}

fn state_of(v: &Value) -> Option<&str> {
    v.pointer("/properties/provisioningState").and_then(Value::as_str)
}

/// `If-Match` with the eTag read from the body (where the spec puts it), else from the
/// `ETag` header.
fn if_match(body_etag: Option<&str>, header_etag: Option<&str>) -> Vec<(&'static str, String)> {
    body_etag
        .or(header_etag)
        .map(|e| vec![("if-match", e.to_string())])
        .unwrap_or_default()
}

/// How many times an update is sent when ARM answers 412 (the eTag changed between our read
/// and our write): once, then once more after a fresh read.
const ETAG_ATTEMPTS: u32 = 2;

impl AksCluster {
    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.ids.name
    }

    fn cluster_segments(&self) -> Vec<&str> {
        vec![
            "subscriptions",
            &self.ids.subscription,
            "resourceGroups",
            &self.ids.resource_group,
            "providers",
            "Microsoft.ContainerService",
            "managedClusters",
            &self.ids.name,
        ]
    }

    pub(crate) fn cluster_url(&self, extra: &[&str]) -> azure_core::http::Url {
        let mut s = self.cluster_segments();
        s.extend_from_slice(extra);
        self.arm.url(&s)
    }

    pub(crate) fn cluster_target(&self) -> Target {
        Target::Cluster(self.ids.name.clone())
    }

    fn pool_target(&self, pool: &str) -> Target {
        Target::Pool {
            cluster: self.ids.name.clone(),
            pool: pool.to_string(),
        }
    }

    async fn get_cluster(&self) -> Result<(ArmResponse, Value)> {
        let resp = self
            .arm
            .get(self.cluster_url(&[]))
            .await?
            .ok(&self.cluster_target())?;
        let body: Value = resp.json()?;
        Ok((resp, body))
    }

    async fn get_pool(&self, pool: &str) -> Result<(ArmResponse, Value)> {
        let resp = self
            .arm
            .get(self.cluster_url(&["agentPools", pool]))
            .await?
            .ok(&self.pool_target(pool))?;
        let body: Value = resp.json()?;
        Ok((resp, body))
    }

    /// The pool, or `None` when ARM answers 404.
    async fn find_pool(&self, pool: &str) -> Result<Option<Value>> {
        match self.get_pool(pool).await {
            Ok((_, v)) => Ok(Some(v)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_pools(&self) -> Result<Vec<AgentPoolModel>> {
        self.list_pool_bodies()
            .await?
            .into_iter()
            .map(|v| {
                serde_json::from_value(v)
                    .map_err(|e| Error::provider(format!("could not read an agent pool: {e}")))
            })
            .collect()
    }

    /// Every agent pool's body, as ARM returns it.
    async fn list_pool_bodies(&self) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut url = self.cluster_url(&["agentPools"]);
        loop {
            let page: AgentPoolList = self.arm.get(url).await?.ok(&self.cluster_target())?.json()?;
            out.extend(page.value);
            match page.next_link {
                Some(next) if !next.is_empty() => {
                    let next = azure_core::http::Url::parse(&next)
                        .map_err(|e| Error::provider(format!("bad nextLink: {e}")))?;
                    if !self.arm.same_origin(&next) {
                        return Err(Error::provider("nextLink points away from the ARM endpoint"));
                    }
                    url = next;
                }
                _ => return Ok(out),
            }
        }
    }

    /// The cluster's body and `ETag` header for a write: as `describe` just read them on a
    /// first attempt, or read now.
    async fn cluster_before_write(&self, fresh: bool) -> Result<(Option<String>, Value)> {
        if !fresh
            && let Some(kept) = self
                .recent
                .with(|r| Some((r.cluster_etag.clone(), r.cluster.clone())))
        {
            return Ok(kept);
        }
        let (resp, body) = self.get_cluster().await?;
        Ok((resp.etag().map(str::to_string), body))
    }

    /// Pool `pool`'s body and `ETag` header for a write: as `describe` just read it on a
    /// first attempt, or read now.
    async fn pool_before_write(&self, pool: &str, fresh: bool) -> Result<(Option<String>, Value)> {
        if !fresh && let Some(body) = self.recent.with(|r| r.pools.get(pool).cloned()) {
            return Ok((None, body));
        }
        let (resp, body) = self.get_pool(pool).await?;
        Ok((resp.etag().map(str::to_string), body))
    }

    fn remembered(&self, token: &RequestToken) -> Option<OperationId> {
        self.started.lock().ok()?.get(&token.0).cloned()
    }

    fn remember(&self, token: &RequestToken, id: &OperationId) {
        if let Ok(mut m) = self.started.lock() {
            m.insert(token.0.clone(), id.clone());
        }
    }

    /// An id for an operation whose polling URL we do not have: its state comes from
    /// `provisioningState`. Reuses an id this handle started for the same change, if any.
    fn state_id(&self, k: OperationKind, p: Option<&str>, to: Option<&KubeVersion>) -> OperationId {
        let r = OpRef {
            k,
            p: p.map(str::to_string),
            to: to.map(convert::wire_version),
            u: None,
        };
        if let Ok(m) = self.started.lock() {
            for id in m.values() {
                if let Ok(known) = OpRef::parse(id)
                    && known.k == r.k
                    && known.p == r.p
                    && (r.to.is_none() || known.to == r.to)
                {
                    return id.clone();
                }
            }
        }
        r.id()
    }

    fn started_id(
        &self,
        resp: &ArmResponse,
        k: OperationKind,
        p: Option<&str>,
        to: Option<&KubeVersion>,
        token: &RequestToken,
    ) -> OperationId {
        let id = match resp.lro() {
            Some(u) => OpRef {
                k,
                p: p.map(str::to_string),
                to: to.map(convert::wire_version),
                u: Some(u),
            }
            .id(),
            None => self.state_id(k, p, to),
        };
        self.remember(token, &id);
        id
    }

    /// The Kubernetes versions AKS offers in the cluster's region, previews included
    /// (`locations/{loc}/kubernetesVersions`, list key `values`).
    pub async fn catalogue(&self) -> Result<Vec<AksVersion>> {
        let (_, body) = self.get_cluster().await?;
        let cluster: ManagedClusterModel =
            serde_json::from_value(body).map_err(|e| Error::provider(e.to_string()))?;
        let url = self.arm.url(&[
            "subscriptions",
            &self.ids.subscription,
            "providers",
            "Microsoft.ContainerService",
            "locations",
            &cluster.location,
            "kubernetesVersions",
        ]);
        let list: KubernetesVersionList = self
            .arm
            .get(url)
            .await?
            .ok(&Target::Location(cluster.location.clone()))?
            .json()?;
        let mut out = Vec::new();
        for v in list.values {
            let newest_patch = v
                .patch_versions
                .keys()
                .filter_map(|p| KubeVersion::parse(p).ok())
                .max();
            let version = match newest_patch {
                Some(p) => p,
                None => KubeVersion::parse(&v.version)?,
            };
            out.push(AksVersion {
                version,
                is_default: v.is_default,
                is_preview: v.is_preview,
                support_plans: v.capabilities.map(|c| c.support_plan).unwrap_or_default(),
            });
        }
        out.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(out)
    }

    /// AKS facts about each agent pool that the core snapshot has no place for.
    pub async fn pool_details(&self) -> Result<Vec<AksPoolDetails>> {
        Ok(self
            .list_pools()
            .await?
            .into_iter()
            .map(|p| AksPoolDetails {
                mode: p.properties.mode.unwrap_or_default(),
                vm_size: p.properties.vm_size.unwrap_or_default(),
                provisioning_state: p.properties.provisioning_state.unwrap_or_default(),
                name: p.name,
            })
            .collect())
    }

    /// The GA upgrades AKS offers this cluster's control plane and pools
    /// (`upgradeProfiles/default`; previews left out).
    pub async fn upgrade_options(&self) -> Result<UpgradeOptions> {
        let profile: UpgradeProfileModel = self
            .arm
            .get(self.cluster_url(&["upgradeProfiles", "default"]))
            .await?
            .ok(&self.cluster_target())?
            .json()?;
        let versions =
            |p: &crate::models::PoolUpgradeProfileModel| -> Result<(KubeVersion, Vec<KubeVersion>)> {
                let mut ups: Vec<KubeVersion> = p
                    .upgrades
                    .iter()
                    .filter(|u| !u.is_preview)
                    .filter_map(|u| KubeVersion::parse(&u.kubernetes_version).ok())
                    .collect();
                ups.sort();
                Ok((KubeVersion::parse(&p.kubernetes_version)?, ups))
            };
        let cp = versions(&profile.properties.control_plane_profile)?;
        let mut pools = Vec::new();
        for p in &profile.properties.agent_pool_profiles {
            let (v, ups) = versions(p)?;
            pools.push((p.name.clone().unwrap_or_default(), v, ups));
        }
        Ok(UpgradeOptions {
            control_plane: cp,
            pools,
        })
    }

    /// Asks AKS to abort the running operation on the cluster (`POST .../abort`) and waits
    /// with `poll` (the shared wait, at the pace of ARM's `Retry-After`) until it is
    /// cancelled. What was already applied stays applied; a later PUT resumes.
    pub async fn abort(&self, poll: &PollPolicy) -> Result<AbortOutcome> {
        let resp = self
            .arm
            .send(Method::Post, self.cluster_url(&["abort"]), None, &[])
            .await?;
        if resp.status == 409 {
            return Ok(AbortOutcome::NothingRunning);
        }
        let resp = resp.ok(&self.cluster_target())?;
        if let Some((via, url)) = resp.lro() {
            let events = kupgrade_core::events::discard();
            let state = poll
                .wait_paced("the abort", &events, || async {
                    Ok(match self.arm.poll(via, &url).await? {
                        Poll::State(state, _) if state.is_terminal() => Paced::Done(state),
                        Poll::State(_, retry_after) => Paced::Again(retry_after),
                        Poll::Gone => {
                            return Err(Error::not_found("operation", &url, "ARM no longer knows it"));
                        }
                    })
                })
                .await?;
            if let OperationState::Failed(why) = state {
                return Err(Error::OperationFailed {
                    id: "abort".into(),
                    message: why,
                });
            }
        }
        Ok(AbortOutcome::Aborted)
    }

    /// Reads the state of an operation from its resource's `provisioningState`.
    async fn state_from_resource(&self, r: &OpRef) -> Result<OperationState> {
        let to = r.to_version();
        match (r.k, r.p.as_deref()) {
            (OperationKind::UpgradeControlPlane, _) => {
                let (_, body) = self.get_cluster().await?;
                let state = state_of(&body);
                let current = body
                    .pointer("/properties/currentKubernetesVersion")
                    .or_else(|| body.pointer("/properties/kubernetesVersion"))
                    .and_then(Value::as_str);
                Ok(finished_state("cluster", state, current, to.as_ref()))
            }
            (OperationKind::UpgradeNodePool, Some(pool)) => {
                let (_, body) = self.get_pool(pool).await?;
                let current = body
                    .pointer("/properties/currentOrchestratorVersion")
                    .or_else(|| body.pointer("/properties/orchestratorVersion"))
                    .and_then(Value::as_str);
                Ok(finished_state("node pool", state_of(&body), current, to.as_ref()))
            }
            (OperationKind::CreateNodePool, Some(pool)) => Ok(match self.find_pool(pool).await? {
                None => OperationState::Failed(format!("node pool '{pool}' was not created")),
                Some(body) => finished_state("node pool", state_of(&body), None, None),
            }),
            (OperationKind::DeleteNodePool, Some(pool)) => Ok(match self.find_pool(pool).await? {
                None => OperationState::Succeeded,
                Some(body) => match convert::is_terminal_state(state_of(&body)) {
                    true if state_of(&body) == Some("Failed") => {
                        OperationState::Failed(format!("deleting node pool '{pool}' failed"))
                    }
                    _ => OperationState::Running,
                },
            }),
            (
                OperationKind::UpgradeNodePool
                | OperationKind::CreateNodePool
                | OperationKind::DeleteNodePool,
                None,
            ) => Err(Error::invalid_input("operation id names no node pool")),
            (kind, _) => Err(Error::invalid_input(format!(
                "AKS operations of kind {kind:?} are not read from their resource"
            ))),
        }
    }

    /// The error after the eTag changed under every attempt: someone else keeps writing.
    fn changed_under_us(&self, target: &Target) -> Error {
        Error::invalid_transition(format!(
            "{} changed between kupgrade's read and its write {ETAG_ATTEMPTS} times (HTTP 412 on If-Match): \
             another client is updating it; let that change finish (az aks show / az aks nodepool show, \
             provisioningState), then re-run",
            target.subject()
        ))
    }

    fn check_control_plane_only(&self, cluster: &ManagedClusterModel) -> Result<()> {
        if let Some(why) = convert::legacy_reason(cluster) {
            return Err(Error::invalid_transition(format!(
                "cluster '{}' is a legacy AKS cluster ({why}): AKS upgrades its control plane and all pools together \
                 there, and kupgrade only runs control-plane-only upgrades; upgrade with `az aks upgrade` instead",
                self.ids.name
            )));
        }
        if let Some(channel) = convert::auto_upgrade_channel(cluster) {
            return Err(Error::invalid_transition(format!(
                "cluster '{}' has the auto-upgrade channel '{channel}', and AKS forbids control-plane-only upgrades \
                 then; turn it off first (az aks update --auto-upgrade-channel none) or let AKS upgrade it",
                self.ids.name
            )));
        }
        Ok(())
    }
}

/// The state of an operation judged from a resource: running until `provisioningState` is
/// final; then succeeded only if the version reached the target.
fn finished_state(
    what: &str,
    state: Option<&str>,
    current: Option<&str>,
    to: Option<&KubeVersion>,
) -> OperationState {
    if !convert::is_terminal_state(state) {
        return OperationState::Running;
    }
    match state.map(str::to_ascii_lowercase).as_deref() {
        Some("failed") => OperationState::Failed(format!("{what} provisioningState is Failed")),
        Some("canceled") | Some("cancelled") => OperationState::Cancelled,
        _ => match to {
            Some(to) if !convert::version_matches(current, to) => OperationState::Failed(format!(
                "{what} finished at {} instead of {to}",
                current.unwrap_or("an unknown version")
            )),
            _ => OperationState::Succeeded,
        },
    }
}

#[async_trait]
impl ManagedCluster for AksCluster {
    fn provider(&self) -> Provider {
        Provider::Aks
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default().with_concurrency(kupgrade_core::OperationConcurrency::for_provider(
            kupgrade_core::Provider::Aks,
        ))
    }

    async fn describe(&self) -> Result<ClusterSnapshot> {
        let (resp, body) = self.get_cluster().await?;
        let cluster: ManagedClusterModel = serde_json::from_value(body.clone())
            .map_err(|e| Error::provider(format!("could not read cluster '{}': {e}", self.ids.name)))?;
        let bodies = self.list_pool_bodies().await?;
        let pools = bodies
            .iter()
            .map(|v| {
                serde_json::from_value(v.clone())
                    .map_err(|e| Error::provider(format!("could not read an agent pool: {e}")))
            })
            .collect::<Result<Vec<AgentPoolModel>>>()?;
        let snapshot = convert::snapshot(&self.ids.name, &cluster, &pools)?;
        self.recent.remember(Reads {
            cluster_etag: resp.etag().map(str::to_string),
            cluster: body,
            pools: pools
                .iter()
                .zip(bodies)
                .map(|(model, body)| (model.name.clone(), body))
                .collect(),
        });
        Ok(snapshot)
    }

    async fn offered_versions(&self) -> Result<Vec<OfferedVersion>> {
        Ok(self
            .catalogue()
            .await?
            .into_iter()
            // Previews are offered too, marked, so a preview target is named as one (a warning,
            // or a blocker without --allow-preview) rather than reported as not offered.
            .map(|v| OfferedVersion {
                version: v.version,
                is_default: v.is_default,
                support: None,
                preview: v.is_preview,
            })
            .collect())
    }

    async fn upgrade_control_plane(&self, to: &KubeVersion, token: &RequestToken) -> Result<OperationId> {
        if let Some(id) = self.remembered(token) {
            return Ok(id);
        }
        let kind = OperationKind::UpgradeControlPlane;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (etag, body) = self.cluster_before_write(attempt > 1).await?;
            let cluster: ManagedClusterModel =
                serde_json::from_value(body.clone()).map_err(|e| Error::provider(e.to_string()))?;
            self.check_control_plane_only(&cluster)?;
            let p = &cluster.properties;
            let desired = p.kubernetes_version.as_deref();
            let current = p.current_kubernetes_version.as_deref().or(desired);
            if !convert::is_terminal_state(p.provisioning_state.as_deref()) {
                if convert::version_matches(desired, to) {
                    let id = self.state_id(kind, None, Some(to));
                    self.remember(token, &id);
                    return Ok(id);
                }
                return Err(Error::operation_in_progress(format!(
                    "{} (provisioningState {})",
                    self.ids.name,
                    p.provisioning_state.as_deref().unwrap_or("?")
                )));
            }
            if convert::version_matches(current, to) && convert::version_matches(desired, to) {
                let id = self.state_id(kind, None, Some(to));
                self.remember(token, &id);
                return Ok(id);
            }
            let put = writes::cluster_upgrade(&body, to, self.options.force_upgrade_until)?;
            let headers = if_match(writes::cluster_etag(&body), etag.as_deref());
            self.recent.forget();
            let resp = self
                .arm
                .send(Method::Put, self.cluster_url(&[]), Some(&put), &headers)
                .await?;
            if resp.status == 412 {
                if attempt < ETAG_ATTEMPTS {
                    tracing::info!(cluster = %self.ids.name, "cluster changed since it was read (HTTP 412); reading it again");
                    continue;
                }
                return Err(self.changed_under_us(&self.cluster_target()));
            }
            let resp = resp.ok(&self.cluster_target())?;
            return Ok(self.started_id(&resp, kind, None, Some(to), token));
        }
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
            return Err(Error::invalid_input(format!(
                "AKS has no per-pool forced drain past PodDisruptionBudgets, so node pool '{pool}' cannot be upgraded \
                 with force; relax the PDB, or let AKS quarantine blocked nodes (undrainableNodeBehavior=Cordon)"
            )));
        }
        if let Some(id) = self.remembered(token) {
            return Ok(id);
        }
        let kind = OperationKind::UpgradeNodePool;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (etag, body) = self.pool_before_write(pool, attempt > 1).await?;
            let model: AgentPoolModel =
                serde_json::from_value(body.clone()).map_err(|e| Error::provider(e.to_string()))?;
            let p = &model.properties;
            let desired = p.orchestrator_version.as_deref();
            let current = p.current_orchestrator_version.as_deref().or(desired);
            if !convert::is_terminal_state(p.provisioning_state.as_deref()) {
                if convert::version_matches(desired, to) {
                    let id = self.state_id(kind, Some(pool), Some(to));
                    self.remember(token, &id);
                    return Ok(id);
                }
                return Err(Error::operation_in_progress(format!(
                    "{} (node pool '{pool}' is {})",
                    self.ids.name,
                    p.provisioning_state.as_deref().unwrap_or("?")
                )));
            }
            if convert::version_matches(current, to) && convert::version_matches(desired, to) {
                let id = self.state_id(kind, Some(pool), Some(to));
                self.remember(token, &id);
                return Ok(id);
            }
            // The rollout the caller passes is compared with what the pool's own settings
            // give: only a difference is written, so settings nobody asked to change stay.
            let changes = convert::settings_changes(
                p.upgrade_settings.as_ref(),
                p.count.unwrap_or(0),
                rollout,
                self.options.undrainable,
            )?;
            let put = writes::pool_upgrade(&body, to, Some(&changes))?;
            let headers = if_match(writes::pool_etag(&body), etag.as_deref());
            self.recent.forget();
            let resp = self
                .arm
                .send(
                    Method::Put,
                    self.cluster_url(&["agentPools", pool]),
                    Some(&put),
                    &headers,
                )
                .await?;
            if resp.status == 412 {
                if attempt < ETAG_ATTEMPTS {
                    tracing::info!(cluster = %self.ids.name, pool, "node pool changed since it was read (HTTP 412); reading it again");
                    continue;
                }
                return Err(self.changed_under_us(&self.pool_target(pool)));
            }
            let resp = resp.ok(&self.pool_target(pool))?;
            return Ok(self.started_id(&resp, kind, Some(pool), Some(to), token));
        }
    }

    async fn create_node_pool(&self, spec: &NodePoolSpec, token: &RequestToken) -> Result<OperationId> {
        convert::validate_pool_name(&spec.name)?;
        if let Some(id) = self.remembered(token) {
            return Ok(id);
        }
        let kind = OperationKind::CreateNodePool;
        if let Some(existing) = self.find_pool(&spec.name).await? {
            let model: AgentPoolModel =
                serde_json::from_value(existing).map_err(|e| Error::provider(e.to_string()))?;
            let state = model.properties.provisioning_state.as_deref();
            let creating = state.is_some_and(|s| s.eq_ignore_ascii_case("creating"));
            let same =
                convert::version_matches(model.properties.orchestrator_version.as_deref(), &spec.version);
            if (creating || convert::is_terminal_state(state)) && same {
                let id = self.state_id(kind, Some(&spec.name), None);
                self.remember(token, &id);
                return Ok(id);
            }
            return Err(Error::invalid_transition(format!(
                "node pool '{}' already exists in cluster '{}' at another version; pick another name",
                spec.name, self.ids.name
            )));
        }
        let (_, source) = self.pool_before_write(&spec.clone_of, false).await?;
        let body = writes::pool_create(&source, spec)?;
        self.recent.forget();
        let resp = self
            .arm
            .send(
                Method::Put,
                self.cluster_url(&["agentPools", &spec.name]),
                Some(&body),
                &[("if-none-match", "*".to_string())],
            )
            .await?
            .ok(&self.pool_target(&spec.name))?;
        Ok(self.started_id(&resp, kind, Some(&spec.name), None, token))
    }

    async fn delete_node_pool(&self, pool: &str, token: &RequestToken) -> Result<OperationId> {
        if let Some(id) = self.remembered(token) {
            return Ok(id);
        }
        let kind = OperationKind::DeleteNodePool;
        self.recent.forget();
        let resp = self
            .arm
            .send(Method::Delete, self.cluster_url(&["agentPools", pool]), None, &[])
            .await?;
        if resp.status == 404 || resp.status == 204 {
            let id = self.state_id(kind, Some(pool), None);
            self.remember(token, &id);
            return Ok(id);
        }
        let resp = resp.ok(&self.pool_target(pool))?;
        Ok(self.started_id(&resp, kind, Some(pool), None, token))
    }

    async fn operation(&self, id: &OperationId) -> Result<Operation> {
        let r = OpRef::parse(id)?;
        let polled = match &r.u {
            Some((via, url)) => match self.arm.poll(*via, url).await? {
                Poll::State(state, retry_after) => Some((state, retry_after)),
                Poll::Gone => None,
            },
            None => None,
        };
        let (state, poll_after) = match polled {
            Some(polled) => polled,
            None => (self.state_from_resource(&r).await?, None),
        };
        Ok(Operation {
            id: id.clone(),
            kind: r.k,
            node_pool: r.p.clone(),
            to: r.to_version(),
            state,
            progress: None,
            poll_after,
        })
    }

    async fn operations_in_flight(&self) -> Result<Vec<Operation>> {
        let (_, body) = self.get_cluster().await?;
        let cluster: ManagedClusterModel =
            serde_json::from_value(body).map_err(|e| Error::provider(e.to_string()))?;
        let pools = self.list_pools().await?;
        let mut ops = Vec::new();
        for pool in &pools {
            let state = pool.properties.provisioning_state.as_deref();
            if convert::is_terminal_state(state) {
                continue;
            }
            let (kind, to) = match state.map(str::to_ascii_lowercase).as_deref() {
                Some("creating") => (OperationKind::CreateNodePool, None),
                Some("deleting") => (OperationKind::DeleteNodePool, None),
                _ => (
                    OperationKind::UpgradeNodePool,
                    pool.properties
                        .orchestrator_version
                        .as_deref()
                        .and_then(|v| KubeVersion::parse(v).ok()),
                ),
            };
            let id = self.state_id(kind, Some(&pool.name), to.as_ref());
            ops.push(Operation {
                id,
                kind,
                node_pool: Some(pool.name.clone()),
                to,
                state: OperationState::Running,
                progress: None,
                poll_after: None,
            });
        }
        let p = &cluster.properties;
        let cp_moving = p.kubernetes_version.is_some()
            && p.current_kubernetes_version.is_some()
            && p.kubernetes_version != p.current_kubernetes_version;
        if !convert::is_terminal_state(p.provisioning_state.as_deref()) && (ops.is_empty() || cp_moving) {
            let to = p
                .kubernetes_version
                .as_deref()
                .and_then(|v| KubeVersion::parse(v).ok());
            ops.push(Operation {
                id: self.state_id(OperationKind::UpgradeControlPlane, None, to.as_ref()),
                kind: OperationKind::UpgradeControlPlane,
                node_pool: None,
                to,
                state: OperationState::Running,
                progress: None,
                poll_after: None,
            });
        }
        Ok(ops)
    }

    fn provider_checks(&self) -> Option<&dyn kupgrade_core::ProviderChecks> {
        Some(self)
    }
}

/// The components AKS installs at each hop.
impl kupgrade_core::ProviderChecks for AksCluster {
    fn checks(&self) -> Vec<Box<dyn kupgrade_core::Check>> {
        vec![Box::new(self.components_check())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_survive_a_restart_and_reject_foreign_ids() {
        let r = OpRef {
            k: OperationKind::UpgradeNodePool,
            p: Some("user1".into()),
            to: Some("1.31".into()),
            u: Some((Via::AsyncOperation, "https://management.azure.com/subscriptions/s/providers/Microsoft.ContainerService/locations/westeurope/operations/abc?api-version=2026-08-01".into())),
        };
        let id = r.id();
        assert!(id.0.starts_with("aks:") && !id.0.contains('/'));
        assert_eq!(OpRef::parse(&id).unwrap(), r);
        assert!(OpRef::parse(&OperationId("arn:aws:eks:update/1".into())).is_err());
        assert!(OpRef::parse(&OperationId("aks:!!!".into())).is_err());
    }

    #[test]
    fn finished_state_needs_the_target_version() {
        let v = KubeVersion::parse("1.31").unwrap();
        assert_eq!(
            finished_state("c", Some("Upgrading"), None, Some(&v)),
            OperationState::Running
        );
        assert_eq!(
            finished_state("c", Some("Succeeded"), Some("1.31.3"), Some(&v)),
            OperationState::Succeeded
        );
        assert!(matches!(
            finished_state("c", Some("Succeeded"), Some("1.30.3"), Some(&v)),
            OperationState::Failed(_)
        ));
        assert_eq!(
            finished_state("c", Some("Canceled"), None, None),
            OperationState::Cancelled
        );
    }
}
