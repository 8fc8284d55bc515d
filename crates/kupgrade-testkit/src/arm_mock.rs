//! A stateful, in-process mock of the parts of the AKS ARM API kupgrade uses, on wiremock at
//! 127.0.0.1. For tests only: it is a model of AKS's documented behaviour,
//! not AKS.
//!
//! It keeps clusters and agent pools and answers GET/PUT/DELETE/POST like api-version
//! 2026-08-01. Cluster and pool bodies are the official examples (`ManagedClustersGet.json`,
//! `AgentPoolsGet.json` in `crates/kupgrade-aks/tests/fixtures/`, from Azure/azure-rest-api-specs) with names,
//! versions, counts, states and eTags replaced by the mock's state, so a client sees what the
//! spec shows: `eTag` at the top of a cluster and in `properties` of a pool, a pool's own
//! `upgradeSettings` (`maxSurge: 33%`), `nodeImageVersion`, a stale
//! `upgradeSettings.overrideSettings` and a `servicePrincipalProfile` on the cluster.
//!
//! Every change runs as a long-running operation (`200`/`201` with `Azure-AsyncOperation` and
//! `Retry-After`; deletes and aborts with `Location`) that ends after a few requests; `409
//! OperationNotAllowed` while one runs; illegal version changes get `400` like AKS; `429`
//! throttling, the deprecated-API upgrade block, a PDB drain failure and a concurrent writer
//! (HTTP 412) can be injected.
//!
//! Writes are held to the spec, stricter than ARM: an update without `If-Match` equal to the
//! resource's current eTag, a body with a property the spec's schema lacks or marks
//! read-only (checked against `crates/kupgrade-aks/tests/fixtures/managedClusters-2026-08-01.extract.json`), a pool
//! body carrying `nodeImageVersion` (a rollback), a cluster body echoing
//! `servicePrincipalProfile` or an expired `overrideSettings`, or a cluster PUT that would
//! move a pool, is answered `400 MockSpecViolation` and recorded ([`MockArm::violations`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use kupgrade_aks::{API_VERSION, AksClusterBuilder};

/// The subscription every mock cluster lives in.
pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";
/// The resource group every mock cluster lives in.
pub const RESOURCE_GROUP: &str = "rg-kupgrade";
/// The location of every mock cluster.
pub const LOCATION: &str = "westeurope";
/// The patch the mock resolves `x.y` to.
pub const PATCH: u32 = 3;

/// A pool as the mock holds it: name, running version, node count.
pub type PoolState = (String, String, u32);

/// The official example bodies the mock answers with, and the spec extract it checks writes
/// against (see `tests/fixtures/README.md`).
struct Spec {
    cluster: Value,
    pool: Value,
    definitions: Map<String, Value>,
}

fn example_body(raw: &str) -> Value {
    serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| v.pointer("/responses/200/body").cloned())
        .expect("the fixture is an official example with a 200 body")
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let extract: Value = serde_json::from_str(include_str!(
            "../../kupgrade-aks/tests/fixtures/managedClusters-2026-08-01.extract.json"
        ))
        .expect("the schema extract is JSON");
        Spec {
            cluster: example_body(include_str!(
                "../../kupgrade-aks/tests/fixtures/ManagedClustersGet.json"
            )),
            pool: example_body(include_str!(
                "../../kupgrade-aks/tests/fixtures/AgentPoolsGet.json"
            )),
            definitions: extract["definitions"].as_object().cloned().unwrap_or_default(),
        }
    })
}

/// The properties of definition `name`, its `allOf` parents' included.
fn properties_of(defs: &Map<String, Value>, name: &str) -> Map<String, Value> {
    let Some(def) = defs.get(name) else {
        return Map::new();
    };
    let mut out = Map::new();
    for parent in def["allOf"].as_array().into_iter().flatten() {
        if let Some(parent) = parent.as_str() {
            out.extend(properties_of(defs, parent));
        }
    }
    if let Some(own) = def["properties"].as_object() {
        out.extend(own.clone());
    }
    out
}

fn required_of(defs: &Map<String, Value>, name: &str) -> Vec<String> {
    let Some(def) = defs.get(name) else {
        return Vec::new();
    };
    let mut out: Vec<String> = def["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(|p| required_of(defs, p))
        .collect();
    out.extend(
        def["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string)),
    );
    out
}

/// Checks `value` against definition `name` of the spec extract: every property known,
/// none read-only, the required ones present. Definitions the extract lacks are not checked.
fn check_schema(defs: &Map<String, Value>, name: &str, value: &Value, at: &str, out: &mut Vec<String>) {
    if !defs.contains_key(name) || value.is_null() {
        return;
    }
    let Value::Object(obj) = value else {
        out.push(format!("{at}: expected an object ({name})"));
        return;
    };
    let props = properties_of(defs, name);
    for (key, val) in obj {
        let here = format!("{at}/{key}");
        let Some(prop) = props.get(key) else {
            out.push(format!("{here}: not a property of {name} in the 2026-08-01 spec"));
            continue;
        };
        if prop["readOnly"] == true {
            out.push(format!("{here}: read-only in the 2026-08-01 spec"));
            continue;
        }
        if let Some(r) = prop["$ref"].as_str() {
            check_schema(defs, r, val, &here, out);
        }
        if let (Some(r), Some(items)) = (
            prop.pointer("/items/$ref").and_then(Value::as_str),
            val.as_array(),
        ) {
            for (i, item) in items.iter().enumerate() {
                check_schema(defs, r, item, &format!("{here}/{i}"), out);
            }
        }
        if let (Some(r), Some(map)) = (
            prop.pointer("/additionalProperties/$ref").and_then(Value::as_str),
            val.as_object(),
        ) {
            for (k, item) in map {
                check_schema(defs, r, item, &format!("{here}/{k}"), out);
            }
        }
    }
    for r in required_of(defs, name) {
        if !obj.contains_key(&r) {
            out.push(format!("{at}: required property '{r}' of {name} is missing"));
        }
    }
}

/// What the spec extract finds wrong with a PUT body of definition `name` (`ManagedCluster`,
/// `AgentPool`). Public so tests can hold official example request bodies to the same rules.
pub fn schema_problems(name: &str, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check_schema(&spec().definitions, name, body, "", &mut out);
    out
}

#[derive(Debug, Clone)]
struct Pool {
    version: String,
    current: String,
    count: u32,
    mode: String,
    vm_size: String,
    state: String,
    etag: u64,
    /// Further PUTs that find the eTag moved by another writer first (HTTP 412).
    interfere: u32,
    upgrade_settings: Value,
    labels: Value,
    taints: Value,
    drain_failure: Option<String>,
}

impl Pool {
    fn etag(&self) -> String {
        format!("p{:08x}", self.etag)
    }
}

#[derive(Debug, Clone)]
struct Cluster {
    version: String,
    current: String,
    state: String,
    etag: u64,
    /// Further PUTs that find the eTag moved by another writer first (HTTP 412).
    interfere: u32,
    max_agent_pools: u32,
    channel: Option<String>,
    /// `properties.upgradeSettings` as last written (the example's, to begin with).
    upgrade_settings: Value,
    deprecated_api_block: bool,
    /// `controlPlaneProfile.componentsByReleases` of the upgrade profile (absent when null).
    components_by_releases: Value,
    pools: BTreeMap<String, Pool>,
}

impl Cluster {
    fn etag(&self) -> String {
        format!("c{:08x}", self.etag)
    }
}

#[derive(Debug, Clone)]
enum Effect {
    ControlPlane,
    PoolVersion(String),
    CreatePool(String),
    DeletePool(String),
}

#[derive(Debug, Clone)]
struct Op {
    cluster: String,
    status: String,
    ticks_left: u32,
    effect: Effect,
    error: Option<Value>,
}

#[derive(Debug, Default)]
struct State {
    clusters: BTreeMap<String, Cluster>,
    ops: BTreeMap<String, Op>,
    next_op: u64,
    ticks: u32,
    retry_after: u32,
    throttle: u32,
    throttle_retry_after: u32,
    base: String,
    log: Vec<(String, String, Value)>,
    preconditions: Vec<(String, Option<String>)>,
    violations: Vec<String>,
    versions: Option<Value>,
}

/// One answer of the mock, independent of the transport that carries it.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

impl Reply {
    fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    fn set_body_json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn insert_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    fn into_template(self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        for (k, v) in &self.headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        if let Some(b) = self.body {
            t = t.set_body_json(b);
        }
        t
    }
}

/// One request, independent of the transport that carried it.
struct Req {
    method: String,
    url: azure_core::http::Url,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// The running mock server and its state.
#[derive(Debug)]
pub struct MockArm {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

/// Resolves `x.y` or `x.y.z` to `(minor, full)`.
fn resolve(v: &str) -> Option<(u32, String)> {
    let mut parts = v.trim_start_matches('v').split('.');
    let (major, minor) = (
        parts.next()?.parse::<u32>().ok()?,
        parts.next()?.parse::<u32>().ok()?,
    );
    let patch = parts.next().and_then(|p| p.parse::<u32>().ok()).unwrap_or(PATCH);
    Some((minor, format!("{major}.{minor}.{patch}")))
}

fn minor(v: &str) -> u32 {
    resolve(v).map(|(m, _)| m).unwrap_or(0)
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(status).set_body_json(json!({"error": {"code": code, "message": message}}))
}

fn busy(op: &str) -> Reply {
    error(
        409,
        "OperationNotAllowed",
        &format!(
            "Operation is not allowed: Another operation ({op}) is in progress, please wait for it to finish before \
             starting a new operation. See https://aka.ms/aks-pending-operation for more details"
        ),
    )
}

impl MockArm {
    /// Starts an empty mock ARM server on 127.0.0.1.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            ticks: 2,
            retry_after: 1,
            base: server.uri(),
            ..State::default()
        }));
        Mock::given(any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// The server's base URL (`http://127.0.0.1:PORT`), for `with_endpoint`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }

    /// Adds a cluster at `version` (`x.y`) with no pools.
    pub fn add_cluster(&self, name: &str, version: &str) {
        let (_, full) = resolve(version).unwrap_or((0, version.to_string()));
        self.with(|s| {
            s.clusters.insert(
                name.to_string(),
                Cluster {
                    version: version.to_string(),
                    current: full,
                    state: "Succeeded".into(),
                    etag: 1,
                    interfere: 0,
                    max_agent_pools: 100,
                    channel: None,
                    upgrade_settings: spec().cluster["properties"]["upgradeSettings"].clone(),
                    deprecated_api_block: false,
                    components_by_releases: Value::Null,
                    pools: BTreeMap::new(),
                },
            )
        });
    }

    /// Adds a pool; the first pool of a cluster is its `System` pool.
    pub fn add_pool(&self, cluster: &str, name: &str, version: &str, count: u32) {
        let (_, full) = resolve(version).unwrap_or((0, version.to_string()));
        self.with(|s| {
            if let Some(c) = s.clusters.get_mut(cluster) {
                let mode = if c.pools.is_empty() { "System" } else { "User" };
                c.pools.insert(
                    name.to_string(),
                    Pool {
                        version: version.to_string(),
                        current: full,
                        count,
                        mode: mode.into(),
                        vm_size: "Standard_D4ds_v5".into(),
                        state: "Succeeded".into(),
                        etag: 1,
                        interfere: 0,
                        upgrade_settings: spec().pool["properties"]["upgradeSettings"].clone(),
                        labels: Value::Null,
                        taints: Value::Null,
                        drain_failure: None,
                    },
                );
            }
        });
    }

    /// How many requests an operation stays `InProgress` (default 2).
    pub fn set_operation_ticks(&self, ticks: u32) {
        self.with(|s| s.ticks = ticks);
    }

    /// The `Retry-After` seconds sent with operations (default 1).
    pub fn set_retry_after(&self, secs: u32) {
        self.with(|s| s.retry_after = secs);
    }

    /// The next `n` requests get `429` with `Retry-After: secs`.
    pub fn throttle_next(&self, n: u32, secs: u32) {
        self.with(|s| {
            s.throttle = n;
            s.throttle_retry_after = secs;
        });
    }

    /// Minor control-plane upgrades fail with `UpgradeBlockedOnDeprecatedAPIUsage` unless the
    /// PUT carries `overrideSettings.forceUpgrade`.
    pub fn block_on_deprecated_apis(&self, cluster: &str) {
        self.with(|s| {
            if let Some(c) = s.clusters.get_mut(cluster) {
                c.deprecated_api_block = true;
            }
        });
    }

    /// Sets the cluster's auto-upgrade channel.
    pub fn set_auto_upgrade_channel(&self, cluster: &str, channel: &str) {
        self.with(|s| {
            if let Some(c) = s.clusters.get_mut(cluster) {
                c.channel = Some(channel.to_string());
            }
        });
    }

    /// Sets what the upgrade profile lists in `controlPlaneProfile.componentsByReleases`
    /// (`[{kubernetesVersion, components: [{name, version, hasBreakingChanges}]}]`, the shape
    /// AKS's Component Insights documentation shows).
    pub fn set_components_by_releases(&self, cluster: &str, releases: Value) {
        self.with(|s| {
            if let Some(c) = s.clusters.get_mut(cluster) {
                c.components_by_releases = releases;
            }
        });
    }

    /// Sets `maxAgentPools` (below 8 marks a legacy cluster).
    pub fn set_max_agent_pools(&self, cluster: &str, max: u32) {
        self.with(|s| {
            if let Some(c) = s.clusters.get_mut(cluster) {
                c.max_agent_pools = max;
            }
        });
    }

    /// The next upgrade of `pool` fails the way AKS reports a PDB-blocked drain.
    pub fn fail_drain(&self, cluster: &str, pool: &str, pod: &str) {
        self.with(|s| {
            if let Some(p) = s.clusters.get_mut(cluster).and_then(|c| c.pools.get_mut(pool)) {
                p.drain_failure = Some(format!(
                    "Drain node aks-{pool}-0 failed when evicting pod {pod} failed with Too Many Requests error. \
                     This is often caused by a restrictive Pod Disruption Budget (PDB) policy. See \
                     https://aka.ms/aks/debugdrainfailures. Original error: Cannot evict pod as it would violate \
                     the pod's disruption budget."
                ));
            }
        });
    }

    /// `(pool, version, nodes)` for every pool of `cluster`, and its control-plane version.
    pub fn cluster_state(&self, cluster: &str) -> Option<(String, Vec<PoolState>)> {
        self.with(|s| {
            s.clusters.get(cluster).map(|c| {
                (
                    c.current.clone(),
                    c.pools
                        .iter()
                        .map(|(n, p)| (n.clone(), p.current.clone(), p.count))
                        .collect(),
                )
            })
        })
    }

    /// The next `times` PUTs to `cluster` (or to its pool `pool`) find that another client
    /// changed the resource since it was read: the eTag moves first, so an `If-Match` read
    /// before gets HTTP 412.
    pub fn interfere_with_next_writes(&self, cluster: &str, pool: Option<&str>, times: u32) {
        self.with(|s| {
            let Some(c) = s.clusters.get_mut(cluster) else {
                return;
            };
            match pool {
                Some(p) => {
                    if let Some(p) = c.pools.get_mut(p) {
                        p.interfere = times;
                    }
                }
                None => c.interfere = times,
            }
        });
    }

    /// Answers `locations/{loc}/kubernetesVersions` with `body` (e.g. the official
    /// `KubernetesVersions_List.json` example's) instead of the generated list.
    pub fn serve_versions(&self, body: Value) {
        self.with(|s| s.versions = Some(body));
    }

    /// Every write that broke the spec's rules (see the module docs); empty when all were
    /// well-formed.
    pub fn violations(&self) -> Vec<String> {
        self.with(|s| s.violations.clone())
    }

    /// Path and `If-Match` header of every PUT, in order.
    pub fn write_preconditions(&self) -> Vec<(String, Option<String>)> {
        self.with(|s| s.preconditions.clone())
    }

    /// The pool's JSON exactly as a GET would return it now.
    pub fn pool_json(&self, cluster: &str, pool: &str) -> Option<Value> {
        self.with(|s| {
            s.clusters
                .get(cluster)
                .and_then(|c| c.pools.get(pool).map(|p| pool_json(cluster, pool, p)))
        })
    }

    /// The cluster's JSON exactly as a GET would return it now.
    pub fn cluster_json(&self, cluster: &str) -> Option<Value> {
        self.with(|s| s.clusters.get(cluster).map(|c| cluster_json(cluster, c)))
    }

    /// Every request received so far (both transports): method, path, body (JSON or `null`).
    pub async fn requests(&self) -> Vec<(String, String, Value)> {
        self.with(|s| s.log.clone())
    }

    /// A builder aimed at `cluster` on this server, without auth.
    pub fn builder(&self, cluster: &str) -> AksClusterBuilder {
        AksClusterBuilder::new()
            .with_subscription(SUBSCRIPTION)
            .with_resource_group(RESOURCE_GROUP)
            .with_cluster(cluster)
            .with_endpoint(self.uri())
            .with_anonymous_credentials(true)
    }

    /// Like [`builder`](Self::builder), but requests reach the mock in-process through an
    /// injected `HttpClient` instead of a socket. Use this on a paused tokio clock.
    pub fn in_process_builder(&self, cluster: &str) -> AksClusterBuilder {
        self.builder(cluster)
            .with_transport(Arc::new(InProcess(self.state.clone())))
    }
}

/// The in-cluster side of mock cluster `cluster` for the executor: one Ready node per pool
/// member at the pool's running version, no pods. AKS drains in-place upgrades itself;
/// blue/green drains cordon through here.
pub fn nodes(arm: Arc<MockArm>, cluster: &str) -> crate::FakeWorkloads {
    let cluster = cluster.to_string();
    crate::FakeWorkloads::new(move |pool| {
        let (_, pools) = arm.cluster_state(&cluster).unwrap_or_default();
        pools
            .into_iter()
            .find(|(name, _, _)| name == pool)
            .and_then(|(_, version, count)| Some((kupgrade_core::KubeVersion::parse(&version).ok()?, count)))
    })
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let req = Req {
            method: req.method.as_str().to_ascii_uppercase(),
            url: azure_core::http::Url::parse(req.url.as_str()).expect("wiremock gives absolute URLs"),
            headers: req
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_string())))
                .collect(),
            body: req.body.clone(),
        };
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.handle(&req).into_template()
    }
}

/// The same state machine as an in-process `HttpClient`: no socket, no timers, so tests on a
/// paused tokio clock (hours of executor waits in milliseconds) can use it.
#[derive(Debug)]
struct InProcess(Arc<Mutex<State>>);

#[async_trait::async_trait]
impl azure_core::http::HttpClient for InProcess {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        let body = match request.body() {
            azure_core::http::Body::Bytes(b) => b.to_vec(),
            #[allow(unreachable_patterns)]
            _ => Vec::new(),
        };
        let req = Req {
            method: request.method().as_ref().to_ascii_uppercase(),
            url: request.url().clone(),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_str().to_string()))
                .collect(),
            body,
        };
        let reply = {
            let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
            s.handle(&req)
        };
        let mut headers = azure_core::http::headers::Headers::new();
        let bytes = match &reply.body {
            Some(b) => {
                headers.insert("content-type", "application/json");
                serde_json::to_vec(b).unwrap_or_default()
            }
            None => Vec::new(),
        };
        for (k, v) in reply.headers {
            headers.insert(k, v);
        }
        Ok(azure_core::http::AsyncRawResponse::from_bytes(
            azure_core::http::StatusCode::from(reply.status),
            headers,
            bytes,
        ))
    }
}

fn cluster_id(name: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.ContainerService/managedClusters/{name}"
    )
}

fn pool_json(cluster: &str, name: &str, p: &Pool) -> Value {
    let mut v = spec().pool.clone();
    v["id"] = json!(format!("{}/agentPools/{name}", cluster_id(cluster)));
    v["name"] = json!(name);
    v["type"] = json!("Microsoft.ContainerService/managedClusters/agentPools");
    let props = &mut v["properties"];
    props["eTag"] = json!(p.etag());
    props["count"] = json!(p.count);
    props["vmSize"] = json!(p.vm_size);
    props["type"] = json!("VirtualMachineScaleSets");
    props["mode"] = json!(p.mode);
    props["orchestratorVersion"] = json!(p.version);
    props["currentOrchestratorVersion"] = json!(p.current);
    props["provisioningState"] = json!(p.state);
    props["powerState"] = json!({"code": "Running"});
    for (key, value) in [
        ("upgradeSettings", &p.upgrade_settings),
        ("nodeLabels", &p.labels),
        ("nodeTaints", &p.taints),
    ] {
        match value {
            Value::Null => {
                if let Some(m) = props.as_object_mut() {
                    m.remove(key);
                }
            }
            v => props[key] = v.clone(),
        }
    }
    v
}

fn cluster_json(name: &str, c: &Cluster) -> Value {
    let profiles: Vec<Value> = c
        .pools
        .iter()
        .map(|(n, p)| {
            let mut v = pool_json(name, n, p)["properties"].clone();
            v["name"] = json!(n);
            v
        })
        .collect();
    let mut v = spec().cluster.clone();
    v["id"] = json!(cluster_id(name));
    v["name"] = json!(name);
    v["location"] = json!(LOCATION);
    v["eTag"] = json!(c.etag());
    v["sku"] = json!({"name": "Base", "tier": "Standard"});
    let props = &mut v["properties"];
    props["provisioningState"] = json!(c.state);
    props["powerState"] = json!({"code": "Running"});
    props["kubernetesVersion"] = json!(c.version);
    props["currentKubernetesVersion"] = json!(c.current);
    props["dnsPrefix"] = json!(name);
    props["fqdn"] = json!(format!("{name}-dns-4f1b2c3d.hcp.{LOCATION}.azmk8s.io"));
    props["azurePortalFQDN"] = json!(format!("{name}-dns-4f1b2c3d.portal.hcp.{LOCATION}.azmk8s.io"));
    props["maxAgentPools"] = json!(c.max_agent_pools);
    props["agentPoolProfiles"] = json!(profiles);
    props["nodeResourceGroup"] = json!(format!("MC_{RESOURCE_GROUP}_{name}_{LOCATION}"));
    props["supportPlan"] = json!("KubernetesOfficial");
    match &c.upgrade_settings {
        Value::Null => {
            if let Some(m) = props.as_object_mut() {
                m.remove("upgradeSettings");
            }
        }
        u => props["upgradeSettings"] = u.clone(),
    }
    if let Some(ch) = &c.channel {
        props["autoUpgradeProfile"] = json!({"upgradeChannel": ch, "nodeOSUpgradeChannel": "NodeImage"});
    }
    v
}

/// Whether `overrideSettings` asks for a forced upgrade that is still in force.
fn override_in_force(settings: Option<&Value>) -> bool {
    let Some(o) = settings else {
        return false;
    };
    let until = o["until"]
        .as_str()
        .and_then(|u| chrono::DateTime::parse_from_rfc3339(u).ok());
    o["forceUpgrade"] == true && until.is_some_and(|u| u > chrono::Utc::now())
}

impl State {
    fn tick(&mut self) {
        let mut done = Vec::new();
        for (id, op) in self.ops.iter_mut() {
            if op.status == "InProgress" {
                op.ticks_left = op.ticks_left.saturating_sub(1);
                if op.ticks_left == 0 {
                    done.push(id.clone());
                }
            }
        }
        for id in done {
            let Some(mut op) = self.ops.get(&id).cloned() else {
                continue;
            };
            let Some(c) = self.clusters.get_mut(&op.cluster) else {
                continue;
            };
            op.status = "Succeeded".into();
            match &op.effect {
                Effect::ControlPlane => {
                    c.current = resolve(&c.version).map(|(_, f)| f).unwrap_or_default();
                    c.state = "Succeeded".into();
                }
                Effect::PoolVersion(pool) => {
                    if let Some(p) = c.pools.get_mut(pool) {
                        if let Some(why) = p.drain_failure.take() {
                            p.state = "Failed".into();
                            op.status = "Failed".into();
                            op.error = Some(json!({"code": "UpgradeFailed", "message": why}));
                        } else {
                            p.current = resolve(&p.version).map(|(_, f)| f).unwrap_or_default();
                            p.state = "Succeeded".into();
                        }
                    }
                    c.state = "Succeeded".into();
                }
                Effect::CreatePool(pool) => {
                    if let Some(p) = c.pools.get_mut(pool) {
                        p.state = "Succeeded".into();
                    }
                    c.state = "Succeeded".into();
                }
                Effect::DeletePool(pool) => {
                    c.pools.remove(pool);
                    c.state = "Succeeded".into();
                }
            }
            self.ops.insert(id, op);
        }
    }

    fn running_op(&self, cluster: &str) -> Option<String> {
        self.ops
            .iter()
            .find(|(_, o)| o.cluster == cluster && o.status == "InProgress")
            .map(|(id, _)| id.clone())
    }

    fn start_op(&mut self, cluster: &str, effect: Effect) -> String {
        self.next_op += 1;
        let id = format!("op-{:04}", self.next_op);
        self.ops.insert(
            id.clone(),
            Op {
                cluster: cluster.to_string(),
                status: "InProgress".into(),
                ticks_left: self.ticks.max(1),
                effect,
                error: None,
            },
        );
        id
    }

    fn async_url(&self, id: &str) -> String {
        format!(
            "{}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.ContainerService/locations/{LOCATION}/operations/{id}?api-version={API_VERSION}",
            self.base
        )
    }

    fn location_url(&self, id: &str) -> String {
        format!(
            "{}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.ContainerService/locations/{LOCATION}/operationresults/{id}?api-version={API_VERSION}",
            self.base
        )
    }

    fn lro(&self, status: u16, body: Value, id: &str) -> Reply {
        Reply::new(status)
            .set_body_json(body)
            .insert_header("Azure-AsyncOperation", self.async_url(id).as_str())
            .insert_header("Retry-After", self.retry_after.to_string().as_str())
    }

    fn handle(&mut self, req: &Req) -> Reply {
        self.log.push((
            req.method.clone(),
            req.url.path().to_string(),
            serde_json::from_slice(&req.body).unwrap_or(Value::Null),
        ));
        if self.throttle > 0 {
            self.throttle -= 1;
            return error(
                429,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:01:00.",
            )
            .insert_header("Retry-After", self.throttle_retry_after.to_string().as_str());
        }
        let api = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v.to_string());
        if api.as_deref() != Some(API_VERSION) {
            return error(
                400,
                "InvalidApiVersionParameter",
                &format!(
                    "The api-version '{}' is invalid for this mock; use {API_VERSION}.",
                    api.unwrap_or_default()
                ),
            );
        }
        self.tick();
        let segs: Vec<String> = req
            .url
            .path_segments()
            .map(|s| s.map(str::to_string).collect())
            .unwrap_or_default();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let method = req.method.clone();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let header = |k: &str| req.headers.get(k).cloned();
        if method == "PUT" {
            self.preconditions
                .push((req.url.path().to_string(), header("if-match")));
        }
        match segs.as_slice() {
            [
                "subscriptions",
                _,
                "providers",
                "Microsoft.ContainerService",
                "locations",
                loc,
                "kubernetesVersions",
            ] => match &self.versions {
                Some(body) => Reply::new(200).set_body_json(body.clone()),
                None => versions(loc),
            },
            [
                "subscriptions",
                _,
                "providers",
                "Microsoft.ContainerService",
                "locations",
                _,
                "operations",
                id,
            ] => match self.ops.get(*id) {
                None => error(404, "NotFound", "operation not found"),
                Some(op) => {
                    let mut b = json!({"id": id, "name": id, "status": op.status, "startTime": "2026-11-25T20:00:00Z"});
                    if let Some(e) = &op.error {
                        b["error"] = e.clone();
                    }
                    let mut r = Reply::new(200).set_body_json(b);
                    if op.status == "InProgress" {
                        r = r.insert_header("Retry-After", self.retry_after.to_string().as_str());
                    }
                    r
                }
            },
            [
                "subscriptions",
                _,
                "providers",
                "Microsoft.ContainerService",
                "locations",
                _,
                "operationresults",
                id,
            ] => match self.ops.get(*id) {
                None => error(404, "NotFound", "operation not found"),
                Some(op) if op.status == "InProgress" => Reply::new(202)
                    .insert_header("Location", self.location_url(id).as_str())
                    .insert_header("Retry-After", self.retry_after.to_string().as_str()),
                Some(op) if op.status == "Succeeded" || op.status == "Canceled" => Reply::new(204),
                Some(op) => Reply::new(400)
                    .set_body_json(json!({"error": op.error.clone().unwrap_or(json!({"code": "Failed"}))})),
            },
            [
                "subscriptions",
                _,
                "resourceGroups",
                _,
                "providers",
                "Microsoft.ContainerService",
                "managedClusters",
                name,
                rest @ ..,
            ] => {
                let name = name.to_string();
                if !self.clusters.contains_key(&name) {
                    return error(
                        404,
                        "ResourceNotFound",
                        &format!(
                            "The Resource 'Microsoft.ContainerService/managedClusters/{name}' under resource group '{RESOURCE_GROUP}' was not found."
                        ),
                    );
                }
                match (method.as_str(), rest) {
                    ("GET", []) => Reply::new(200).set_body_json(cluster_json(&name, &self.clusters[&name])),
                    ("PUT", []) => self.put_cluster(&name, &body, header("if-match")),
                    ("GET", ["upgradeProfiles", "default"]) => self.upgrade_profile(&name),
                    ("POST", ["abort"]) => self.abort(&name),
                    ("GET", ["agentPools"]) => {
                        let c = &self.clusters[&name];
                        let value: Vec<Value> = c.pools.iter().map(|(n, p)| pool_json(&name, n, p)).collect();
                        Reply::new(200).set_body_json(json!({"value": value}))
                    }
                    ("GET", ["agentPools", pool]) => match self.clusters[&name].pools.get(*pool) {
                        Some(p) => Reply::new(200).set_body_json(pool_json(&name, pool, p)),
                        None => pool_not_found(&name, pool),
                    },
                    ("PUT", ["agentPools", pool]) => {
                        self.put_pool(&name, pool, &body, header("if-match"), header("if-none-match"))
                    }
                    ("DELETE", ["agentPools", pool]) => self.delete_pool(&name, pool),
                    _ => error(404, "NotFound", "no such route in the mock"),
                }
            }
            _ => error(404, "NotFound", "no such route in the mock"),
        }
    }

    /// Records a write that breaks the spec's rules and refuses it.
    fn violation(&mut self, what: String) -> Reply {
        self.violations.push(what.clone());
        error(400, "MockSpecViolation", &what)
    }

    fn put_cluster(&mut self, name: &str, body: &Value, if_match: Option<String>) -> Reply {
        if self.running_op(name).is_some() {
            return busy("Upgrading");
        }
        if let Some(c) = self.clusters.get_mut(name)
            && c.interfere > 0
        {
            c.interfere -= 1;
            c.etag += 1;
        }
        let c = &self.clusters[name];
        match if_match {
            None => {
                return self.violation(format!(
                    "PUT managedClusters/{name} without If-Match (current eTag {})",
                    c.etag()
                ));
            }
            Some(m) if m != c.etag() => {
                return error(
                    412,
                    "PreconditionFailed",
                    "Operation failed with status: 'Precondition Failed'.",
                );
            }
            Some(_) => {}
        }
        let mut problems = schema_problems("ManagedCluster", body);
        if body.pointer("/properties/servicePrincipalProfile").is_some() {
            problems.push("/properties/servicePrincipalProfile: credentials echoed on an upgrade".into());
        }
        let overrides = body.pointer("/properties/upgradeSettings/overrideSettings");
        if overrides.is_some() && !override_in_force(overrides) {
            problems.push(
                "/properties/upgradeSettings/overrideSettings: an expired force override echoed (not a request)".into(),
            );
        }
        for profile in body
            .pointer("/properties/agentPoolProfiles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let pool = profile["name"].as_str().unwrap_or_default();
            if let Some(p) = c.pools.get(pool)
                && profile["orchestratorVersion"].as_str() != Some(p.version.as_str())
            {
                problems.push(format!(
                    "/properties/agentPoolProfiles/{pool}: orchestratorVersion {} would move the pool from {}",
                    profile["orchestratorVersion"], p.version
                ));
            }
        }
        if !problems.is_empty() {
            return self.violation(format!("PUT managedClusters/{name}: {}", problems.join("; ")));
        }
        let Some(target) = body
            .pointer("/properties/kubernetesVersion")
            .and_then(Value::as_str)
        else {
            return error(
                400,
                "InvalidParameter",
                "properties.kubernetesVersion is required",
            );
        };
        let Some((to_minor, _)) = resolve(target) else {
            return error(
                400,
                "InvalidParameter",
                &format!("'{target}' is not a Kubernetes version"),
            );
        };
        let from = minor(&c.current);
        if to_minor < from {
            return error(
                400,
                "OperationNotAllowed",
                &format!(
                    "Downgrading Kubernetes version {} to {target} is not allowed.",
                    c.current
                ),
            );
        }
        if to_minor > from + 1 {
            return error(
                400,
                "OperationNotAllowed",
                &format!(
                    "Upgrading Kubernetes version {} to {target} is not allowed. Available upgrades: [1.{}.{PATCH}]. Please see https://aka.ms/aks-supported-k8s-ver for version details.",
                    c.current,
                    from + 1
                ),
            );
        }
        let forced = override_in_force(body.pointer("/properties/upgradeSettings/overrideSettings"));
        if to_minor > from && c.deprecated_api_block && !forced {
            return Reply::new(400).set_body_json(json!({"error": {
                "code": "ValidationError",
                "message": "Control Plane upgrade is blocked due to recent usage of a Kubernetes API deprecated in the specified version.",
                "details": [{"code": "UpgradeBlockedOnDeprecatedAPIUsage", "message": "Detected usage of /apis/policy/v1beta1/podsecuritypolicies in the last 12 hours. Please see https://aka.ms/aks/UpgradeBlockedOnDeprecatedAPIUsage for more details."}]
            }}));
        }
        let min_pool = c
            .pools
            .values()
            .map(|p| minor(&p.current))
            .min()
            .unwrap_or(to_minor);
        if to_minor > min_pool + 3 {
            return error(
                400,
                "OperationNotAllowed",
                &format!(
                    "Control plane version {target} would be more than 3 minor versions ahead of a node pool."
                ),
            );
        }
        let c = self.clusters.get_mut(name).expect("checked");
        c.etag += 1;
        c.upgrade_settings = body
            .pointer("/properties/upgradeSettings")
            .cloned()
            .unwrap_or(Value::Null);
        c.channel = body
            .pointer("/properties/autoUpgradeProfile/upgradeChannel")
            .and_then(Value::as_str)
            .filter(|ch| !ch.eq_ignore_ascii_case("none"))
            .map(str::to_string);
        if to_minor == from && resolve(target).map(|(_, f)| f) == Some(c.current.clone()) {
            return Reply::new(200).set_body_json(cluster_json(name, c));
        }
        c.version = target.to_string();
        c.state = "Upgrading".into();
        let body = cluster_json(name, c);
        let id = self.start_op(name, Effect::ControlPlane);
        self.lro(200, body, &id)
    }

    fn put_pool(
        &mut self,
        name: &str,
        pool: &str,
        body: &Value,
        if_match: Option<String>,
        if_none_match: Option<String>,
    ) -> Reply {
        if self.running_op(name).is_some() {
            return busy("Updating");
        }
        let mut problems = schema_problems("AgentPool", body);
        if body.pointer("/properties/nodeImageVersion").is_some() {
            problems.push(
                "/properties/nodeImageVersion: sent, which starts a node-pool rollback in 2026-08-01".into(),
            );
        }
        if !problems.is_empty() {
            return self.violation(format!("PUT agentPools/{pool}: {}", problems.join("; ")));
        }
        let cp_minor = minor(&self.clusters[name].current);
        let target = body
            .pointer("/properties/orchestratorVersion")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.clusters[name].current.clone());
        let Some((to_minor, _)) = resolve(&target) else {
            return error(
                400,
                "InvalidParameter",
                &format!("'{target}' is not a Kubernetes version"),
            );
        };
        if to_minor > cp_minor {
            return error(
                400,
                "OperationNotAllowed",
                &format!(
                    "Node pool version {target} and control plane version {} are incompatible: a node pool cannot be newer than the control plane.",
                    self.clusters[name].current
                ),
            );
        }
        if to_minor + 3 < cp_minor {
            return error(
                400,
                "OperationNotAllowed",
                "Node pool version is more than 3 minors behind the control plane.",
            );
        }
        let settings = body.pointer("/properties/upgradeSettings").cloned();
        if let Some(stored) = self.clusters.get_mut(name).and_then(|c| c.pools.get_mut(pool))
            && stored.interfere > 0
        {
            stored.interfere -= 1;
            stored.etag += 1;
        }
        let existing = self.clusters[name].pools.get(pool).cloned();
        match existing {
            Some(p) => {
                if if_none_match.as_deref() == Some("*") {
                    return error(
                        412,
                        "PreconditionFailed",
                        "The agent pool already exists (If-None-Match: *).",
                    );
                }
                match if_match {
                    None => {
                        return self.violation(format!(
                            "PUT agentPools/{pool} without If-Match (current eTag {})",
                            p.etag()
                        ));
                    }
                    Some(m) if m != p.etag() => {
                        return error(
                            412,
                            "PreconditionFailed",
                            "Operation failed with status: 'Precondition Failed'.",
                        );
                    }
                    Some(_) => {}
                }
                let unavailable = settings
                    .as_ref()
                    .and_then(|s| s.get("maxUnavailable"))
                    .and_then(Value::as_str)
                    .map(|v| v.trim_end_matches('%').parse::<u32>().unwrap_or(0))
                    .unwrap_or(0);
                if p.mode == "System" && unavailable > 0 {
                    return error(
                        400,
                        "InvalidParameter",
                        "maxUnavailable is not supported for System node pools; use maxSurge.",
                    );
                }
                let from = minor(&p.current);
                if to_minor < from {
                    return error(
                        400,
                        "OperationNotAllowed",
                        &format!(
                            "Downgrading agent pool version from {} to {target} is not allowed.",
                            p.current
                        ),
                    );
                }
                let c = self.clusters.get_mut(name).expect("checked");
                let p = c.pools.get_mut(pool).expect("checked");
                p.etag += 1;
                // A PUT replaces the writable state: settings left out fall back to defaults.
                p.upgrade_settings = settings.unwrap_or(Value::Null);
                if let Some(count) = body.pointer("/properties/count").and_then(Value::as_u64) {
                    p.count = count as u32;
                }
                if resolve(&target).map(|(_, f)| f) == Some(p.current.clone()) {
                    return Reply::new(200).set_body_json(pool_json(name, pool, p));
                }
                p.version = target;
                p.state = "Upgrading".into();
                let out = pool_json(name, pool, p);
                let id = self.start_op(name, Effect::PoolVersion(pool.to_string()));
                self.lro(200, out, &id)
            }
            None => {
                if kupgrade_aks::validate_pool_name(pool).is_err() {
                    return error(
                        400,
                        "InvalidParameter",
                        &format!(
                            "The agent pool name '{pool}' is invalid: it must match ^[a-z][a-z0-9]{{0,11}}$."
                        ),
                    );
                }
                let props = body.get("properties").cloned().unwrap_or(Value::Null);
                let new = Pool {
                    version: target,
                    current: resolve(props["orchestratorVersion"].as_str().unwrap_or(""))
                        .map(|(_, f)| f)
                        .unwrap_or_default(),
                    count: props["count"].as_u64().unwrap_or(1) as u32,
                    mode: props["mode"].as_str().unwrap_or("User").to_string(),
                    vm_size: props["vmSize"].as_str().unwrap_or("Standard_D4ds_v5").to_string(),
                    state: "Creating".into(),
                    etag: 1,
                    interfere: 0,
                    upgrade_settings: settings.unwrap_or(Value::Null),
                    labels: props["nodeLabels"].clone(),
                    taints: props["nodeTaints"].clone(),
                    drain_failure: None,
                };
                let c = self.clusters.get_mut(name).expect("checked");
                c.pools.insert(pool.to_string(), new);
                let out = pool_json(name, pool, &c.pools[pool]);
                let id = self.start_op(name, Effect::CreatePool(pool.to_string()));
                self.lro(201, out, &id)
            }
        }
    }

    fn delete_pool(&mut self, name: &str, pool: &str) -> Reply {
        if !self.clusters[name].pools.contains_key(pool) {
            return Reply::new(204);
        }
        if self.running_op(name).is_some() {
            return busy("Updating");
        }
        let c = self.clusters.get_mut(name).expect("checked");
        let systems = c.pools.values().filter(|p| p.mode == "System").count();
        if c.pools[pool].mode == "System" && systems == 1 {
            return error(
                400,
                "OperationNotAllowed",
                "Cannot delete the last system node pool; a cluster needs at least one.",
            );
        }
        if let Some(p) = c.pools.get_mut(pool) {
            p.state = "Deleting".into();
        }
        let id = self.start_op(name, Effect::DeletePool(pool.to_string()));
        Reply::new(202)
            .insert_header("Location", self.location_url(&id).as_str())
            .insert_header("Retry-After", self.retry_after.to_string().as_str())
    }

    fn abort(&mut self, name: &str) -> Reply {
        let Some(id) = self.running_op(name) else {
            return error(
                409,
                "OperationNotAllowed",
                "There is no ongoing operation to abort.",
            );
        };
        if let Some(op) = self.ops.get_mut(&id) {
            op.status = "Canceled".into();
            op.error = Some(
                json!({"code": "OperationCanceled", "message": "The operation was aborted by the user."}),
            );
        }
        if let Some(c) = self.clusters.get_mut(name) {
            c.state = "Canceled".into();
            for p in c.pools.values_mut() {
                if p.state != "Succeeded" {
                    p.state = "Canceled".into();
                }
            }
        }
        let abort_id = self.start_op(name, Effect::ControlPlane);
        if let Some(op) = self.ops.get_mut(&abort_id) {
            op.status = "Succeeded".into();
        }
        // Both headers, as in the official ManagedClustersAbortOperation.json example.
        Reply::new(202)
            .insert_header("Azure-AsyncOperation", self.async_url(&abort_id).as_str())
            .insert_header("Location", self.location_url(&abort_id).as_str())
    }

    fn upgrade_profile(&self, name: &str) -> Reply {
        let c = &self.clusters[name];
        let cp = minor(&c.current);
        let ups = |from: u32, max: u32| -> Vec<Value> {
            ((from + 1)..=max.min(35))
                .map(|m| json!({"kubernetesVersion": format!("1.{m}.{PATCH}"), "isPreview": m == 35}))
                .collect()
        };
        let pools: Vec<Value> = c
            .pools
            .iter()
            .map(|(n, p)| json!({"name": n, "kubernetesVersion": p.current, "osType": "Linux", "upgrades": ups(minor(&p.current), cp)}))
            .collect();
        let mut control_plane = json!({"kubernetesVersion": c.current, "name": null, "osType": "Linux", "upgrades": ups(cp, cp + 1)});
        if !c.components_by_releases.is_null() {
            control_plane["componentsByReleases"] = c.components_by_releases.clone();
        }
        Reply::new(200).set_body_json(json!({
            "id": format!("{}/upgradeProfiles/default", cluster_id(name)),
            "name": "default",
            "type": "Microsoft.ContainerService/managedClusters/upgradeProfiles",
            "properties": {
                "controlPlaneProfile": control_plane,
                "agentPoolProfiles": pools
            }
        }))
    }
}

fn pool_not_found(cluster: &str, pool: &str) -> Reply {
    error(
        404,
        "NotFound",
        &format!("Agent pool '{pool}' not found in managed cluster '{cluster}'."),
    )
}

fn versions(loc: &str) -> Reply {
    let values: Vec<Value> = (27..=35)
        .map(|m| {
            let plan = if m == 27 || m == 30 {
                json!(["KubernetesOfficial", "AKSLongTermSupport"])
            } else {
                json!(["KubernetesOfficial"])
            };
            json!({
                "version": format!("1.{m}"),
                "isDefault": m == 33,
                "isPreview": m == 35,
                "capabilities": {"supportPlan": plan},
                "patchVersions": {
                    format!("1.{m}.1"): {"upgrades": [format!("1.{m}.{PATCH}"), format!("1.{}.{PATCH}", m + 1)]},
                    format!("1.{m}.{PATCH}"): {"upgrades": [format!("1.{}.{PATCH}", m + 1)]}
                }
            })
        })
        .collect();
    let _ = loc;
    Reply::new(200).set_body_json(json!({ "values": values }))
}
