//! [`SimCluster`]: the simulator behind `ManagedCluster` and `ClusterWorkloads`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use kupgrade_core::workloads::{DrainBlocker, Eviction, HealthSnapshot, Pod, PodRef};
use kupgrade_core::{
    Calendar, Capabilities, ClusterSnapshot, ClusterWorkloads, Error, KubeVersion, ManagedCluster, Node,
    NodePoolSpec, OfferedVersion, Operation, OperationId, PoolUpgradeOptions, Provider, RequestToken, Result,
};

use crate::state::SimState;
use crate::store::SimStore;

/// Called right after the N-th persisted mutation, to simulate the process dying there.
pub type CrashHook = Arc<dyn Fn() + Send + Sync>;

struct Inner {
    state: Mutex<SimState>,
    /// Virtual seconds at `origin`.
    base_secs: u64,
    origin: tokio::time::Instant,
    store: Option<SimStore>,
    mutations: AtomicU64,
    crash: Option<CrashPlan>,
}

/// When to simulate a crash: after the `at`-th mutation counted by `counter`, which several
/// simulated clusters may share (a fleet in one process).
#[derive(Clone)]
pub struct CrashPlan {
    /// The shared count of persisted mutations.
    pub counter: Arc<AtomicU64>,
    /// The mutation after which to crash.
    pub at: u64,
    /// What "crashing" does (abort the process, or panic in tests).
    pub hook: CrashHook,
}

/// A simulated managed cluster. Cheap to clone; clones share the cluster.
///
/// Time is tokio time: under `#[tokio::test(start_paused = true)]` (or a paused runtime) an
/// hours-long upgrade runs in milliseconds.
#[derive(Clone)]
pub struct SimCluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("SimCluster")
            .field("provider", &s.provider)
            .field("name", &s.name)
            .finish()
    }
}

impl SimCluster {
    /// A simulator over `state`, persisting nowhere.
    pub fn new(state: SimState) -> Self {
        Self::build(state, None, None)
    }

    /// A simulator over `state` that saves to `store` after every mutation.
    pub fn with_store(state: SimState, store: SimStore) -> Self {
        Self::build(state, Some(store), None)
    }

    /// Reopens a simulator from a store (after a real or simulated crash).
    pub fn open(store: SimStore) -> Result<Self> {
        let state = store
            .load()?
            .ok_or_else(|| Error::invalid_input("the simulator store is empty"))?;
        Ok(Self::build(state, Some(store), None))
    }

    /// The same cluster, set to call `hook` right after its `n`-th persisted mutation.
    pub fn crash_after(state: SimState, store: SimStore, n: u64, hook: CrashHook) -> Self {
        Self::build(
            state,
            Some(store),
            Some(CrashPlan {
                counter: Arc::new(AtomicU64::new(0)),
                at: n,
                hook,
            }),
        )
    }

    /// A simulator over `state`, saving to `store`, that takes part in a crash plan shared with
    /// other simulated clusters.
    pub fn with_crash_plan(state: SimState, store: SimStore, plan: CrashPlan) -> Self {
        Self::build(state, Some(store), Some(plan))
    }

    fn build(state: SimState, store: Option<SimStore>, crash: Option<CrashPlan>) -> Self {
        let base_secs = state.clock_secs;
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                base_secs,
                origin: tokio::time::Instant::now(),
                store,
                mutations: AtomicU64::new(0),
                crash,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Virtual seconds since the state was created.
    pub fn now(&self) -> u64 {
        self.inner.base_secs + self.inner.origin.elapsed().as_secs()
    }

    /// A copy of the whole state (after ending operations that are due).
    pub fn state(&self) -> SimState {
        let mut s = self.lock();
        self.settle(&mut s).ok();
        s.clone()
    }

    /// Persisted mutations so far in this process.
    pub fn mutations(&self) -> u64 {
        self.inner.mutations.load(Ordering::SeqCst)
    }

    /// Edits the state (for tests and fault injection); counts as one mutation.
    pub fn edit(&self, f: impl FnOnce(&mut SimState)) -> Result<()> {
        let mut s = self.lock();
        f(&mut s);
        self.commit(&mut s)
    }

    /// Saves the state and counts a mutation; calls the crash hook on the N-th.
    fn commit(&self, state: &mut SimState) -> Result<()> {
        state.clock_secs = state.clock_secs.max(self.now());
        if let Some(store) = &self.inner.store {
            store.save(state)?;
        }
        self.inner.mutations.fetch_add(1, Ordering::SeqCst);
        if let Some(plan) = &self.inner.crash
            && plan.counter.fetch_add(1, Ordering::SeqCst) + 1 == plan.at
        {
            (plan.hook)();
        }
        Ok(())
    }

    /// Ends every operation that is due, one persisted mutation each.
    fn settle(&self, state: &mut SimState) -> Result<()> {
        let now = self.now();
        while state.end_next_due(now) {
            self.commit(state)?;
        }
        Ok(())
    }

    /// One API call: throttled when a throttling fault is armed, else settles time first.
    fn call(&self) -> Result<MutexGuard<'_, SimState>> {
        let mut s = self.lock();
        if s.faults.throttle_next > 0 {
            s.faults.throttle_next -= 1;
            let retry_after = (s.provider == Provider::Aks).then(|| Duration::from_secs(10));
            return Err(Error::throttled(retry_after));
        }
        self.settle(&mut s)?;
        Ok(s)
    }

    /// Runs a mutating call and commits when it succeeded and changed something.
    fn mutate<T>(&self, f: impl FnOnce(&mut SimState, u64) -> Result<T>) -> Result<T> {
        let mut s = self.call()?;
        let before = s.operations.len();
        let now = self.now();
        let out = f(&mut s, now)?;
        if s.operations.len() != before {
            self.commit(&mut s)?;
        }
        Ok(out)
    }
}

#[async_trait]
impl ManagedCluster for SimCluster {
    fn provider(&self) -> Provider {
        self.lock().provider
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default().with_concurrency(self.lock().concurrency())
    }

    async fn describe(&self) -> Result<ClusterSnapshot> {
        Ok(self.call()?.snapshot())
    }

    /// The embedded calendar's minors, or the state's `rules.offered` list; minors in
    /// `rules.preview` are marked preview.
    async fn offered_versions(&self) -> Result<Vec<OfferedVersion>> {
        let (provider, rules) = {
            let s = self.call()?;
            (s.provider, s.rules.clone())
        };
        let calendar = Calendar::embedded(provider);
        let minors: Vec<KubeVersion> = if rules.offered.is_empty() {
            calendar.windows.iter().map(|w| w.version.clone()).collect()
        } else {
            rules.offered.iter().map(KubeVersion::minor_version).collect()
        };
        let default = minors.len().saturating_sub(2);
        Ok(minors
            .into_iter()
            .enumerate()
            .map(|(i, version)| OfferedVersion {
                is_default: i == default,
                support: calendar.window(&version).cloned(),
                preview: rules.preview.iter().any(|p| p.same_minor(&version)),
                version,
            })
            .collect())
    }

    async fn upgrade_control_plane(&self, to: &KubeVersion, token: &RequestToken) -> Result<OperationId> {
        self.mutate(|s, now| s.start_control_plane(to, &token.0, now))
    }

    async fn upgrade_node_pool(
        &self,
        pool: &str,
        to: &KubeVersion,
        options: &PoolUpgradeOptions,
        token: &RequestToken,
    ) -> Result<OperationId> {
        let (rollout, force) = (&options.rollout, options.force);
        self.mutate(|s, now| s.start_pool_upgrade(pool, to, rollout, force, &token.0, now))
    }

    async fn create_node_pool(&self, spec: &NodePoolSpec, token: &RequestToken) -> Result<OperationId> {
        self.mutate(|s, now| s.start_pool_create(spec, &token.0, now))
    }

    async fn delete_node_pool(&self, pool: &str, token: &RequestToken) -> Result<OperationId> {
        self.mutate(|s, now| s.start_pool_delete(pool, &token.0, now))
    }

    async fn operation(&self, id: &OperationId) -> Result<Operation> {
        let s = self.call()?;
        let now = self.now();
        s.operations
            .iter()
            .find(|o| o.id == id.0)
            .map(|o| s.operation_view(o, now))
            .ok_or_else(|| Error::not_found("operation", &id.0, ""))
    }

    async fn operations_in_flight(&self) -> Result<Vec<Operation>> {
        let s = self.call()?;
        let now = self.now();
        Ok(s.operations
            .iter()
            .filter(|o| !o.ended)
            .map(|o| s.operation_view(o, now))
            .collect())
    }
}

#[async_trait]
impl ClusterWorkloads for SimCluster {
    async fn nodes(&self, pool: &str) -> Result<Vec<Node>> {
        Ok(self.call()?.nodes_of(pool, self.now()))
    }

    async fn set_unschedulable(&self, node: &str, unschedulable: bool) -> Result<()> {
        let mut s = self.call()?;
        if s.set_unschedulable(node, unschedulable)? {
            self.commit(&mut s)?;
        }
        Ok(())
    }

    async fn pods_on(&self, node: &str) -> Result<Vec<Pod>> {
        Ok(self.call()?.pods_on(node))
    }

    async fn evict(&self, pod: &PodRef) -> Result<Eviction> {
        let mut s = self.call()?;
        let now = self.now();
        let outcome = s.evict(pod, now);
        if outcome == Eviction::Evicted {
            self.commit(&mut s)?;
        }
        Ok(outcome)
    }

    async fn delete_pod(&self, pod: &PodRef) -> Result<()> {
        let mut s = self.call()?;
        let now = self.now();
        s.delete_pod(pod, now);
        self.commit(&mut s)
    }

    async fn drain_preview(&self, nodes: &[String]) -> Result<Vec<DrainBlocker>> {
        let s = self.call()?;
        Ok(s.drain_preview(nodes, self.now()))
    }

    async fn health(&self) -> Result<HealthSnapshot> {
        let s = self.call()?;
        Ok(s.health(self.now()))
    }
}
