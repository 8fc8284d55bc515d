//! The simulator's rules, as methods on [`SimState`]: scheduling, PodDisruptionBudgets,
//! operations that take time, and the provider's validation with the provider's kind of error.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use kupgrade_core::concurrency::GKE_CONCURRENT_OPERATIONS;
use kupgrade_core::workloads::{DrainBlocker, Eviction, HealthSnapshot, PodRef};
use kupgrade_core::{
    ClusterSnapshot, Error, KubeVersion, NodePool, NodePoolSpec, Operation, OperationConcurrency,
    OperationId, OperationKind, OperationState, Provider, ResourceStatus, Result, RolloutSettings,
    SkewPolicy,
};

use crate::state::{Budget, SimNode, SimOperation, SimPdb, SimPod, SimPool, SimState, WorkloadKind};

/// How provider APIs phrase the common refusals.
fn provider_error(provider: Provider, code: &str) -> &'static str {
    match (provider, code) {
        (Provider::Eks, "invalid") => "InvalidParameterException",
        (Provider::Eks, "busy") => "ResourceInUseException",
        (Provider::Aks, "invalid") => "ValidationError",
        (Provider::Aks, "busy") => "OperationNotAllowed",
        (Provider::Gke, "invalid") => "INVALID_ARGUMENT",
        (Provider::Gke, "busy") => "FAILED_PRECONDITION (CLUSTER_ALREADY_HAS_OPERATION)",
        _ => "Error",
    }
}

impl SimState {
    /// An empty cluster.
    pub fn new(provider: Provider, name: impl Into<String>, control_plane: KubeVersion) -> Self {
        Self {
            provider,
            name: name.into(),
            uid: None,
            control_plane,
            auto_upgrade: None,
            node_pools: Vec::new(),
            nodes: Vec::new(),
            workloads: Vec::new(),
            pods: Vec::new(),
            pdbs: Vec::new(),
            operations: Vec::new(),
            clock_secs: 0,
            timings: Default::default(),
            faults: Default::default(),
            rules: Default::default(),
        }
    }

    fn invalid(&self, message: String) -> Error {
        Error::invalid_transition(format!("{}: {message}", provider_error(self.provider, "invalid")))
    }

    /// The skew rules this simulated provider enforces: the planner's (each provider's rule,
    /// with its source and date, in `kupgrade_core::skew`), plus the strict EKS API-reference
    /// ordering when `rules.pools_must_match_before_hop` is set (checked in
    /// [`SimState::start_control_plane`]).
    pub fn policy(&self) -> SkewPolicy {
        SkewPolicy::for_provider(self.provider)
    }

    /// Adds a ready pool with fresh nodes.
    pub fn add_pool(&mut self, name: &str, version: KubeVersion, nodes: u32) {
        self.node_pools.push(SimPool {
            name: name.to_string(),
            version,
            nodes,
            labels: Default::default(),
            taints: Vec::new(),
            rollout: RolloutSettings::default(),
            status: ResourceStatus::Ready,
            generation: 0,
        });
        self.create_nodes(name, self.clock_secs);
    }

    /// Adds a workload, its pods spread over the nodes, and optionally its PDB.
    pub fn add_workload(
        &mut self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        replicas: u32,
        pdb: Option<Budget>,
    ) {
        self.workloads.push(crate::state::SimWorkload {
            kind,
            namespace: namespace.into(),
            name: name.into(),
            replicas,
        });
        let now = self.clock_secs;
        match kind {
            WorkloadKind::DaemonSet => {
                let nodes: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
                for node in nodes {
                    self.pods.push(SimPod {
                        namespace: namespace.into(),
                        name: format!("{name}-{node}"),
                        workload: name.into(),
                        node: Some(node),
                        ready_at: now,
                    });
                }
            }
            WorkloadKind::Deployment | WorkloadKind::StatefulSet => {
                let mut placement = self.placement(None, now);
                for i in 0..replicas {
                    let pod_name = if kind == WorkloadKind::StatefulSet {
                        format!("{name}-{i}")
                    } else {
                        format!("{name}-{:05x}", (i as u64 + 1) * 7919 % 0xfffff)
                    };
                    let node = placement.take();
                    self.pods.push(SimPod {
                        namespace: namespace.into(),
                        name: pod_name,
                        workload: name.into(),
                        node,
                        ready_at: now,
                    });
                }
            }
        }
        if let Some(budget) = pdb {
            let (min_available, max_unavailable) = match budget {
                Budget::MinAvailable(n) => (Some(n), None),
                Budget::MaxUnavailable(n) => (None, Some(n)),
            };
            self.pdbs.push(SimPdb {
                namespace: namespace.into(),
                name: format!("{name}-pdb"),
                workload: name.into(),
                min_available,
                max_unavailable,
            });
        }
    }

    fn create_nodes(&mut self, pool: &str, now: u64) {
        let Some(p) = self.node_pools.iter().find(|p| p.name == pool) else {
            return;
        };
        let (count, version, generation) = (p.nodes, p.version.clone(), p.generation);
        let ds: Vec<(String, String)> = self
            .workloads
            .iter()
            .filter(|w| w.kind == WorkloadKind::DaemonSet)
            .map(|w| (w.namespace.clone(), w.name.clone()))
            .collect();
        for i in 0..count {
            let name = format!("{pool}-g{generation}-{i}");
            for (ns, w) in &ds {
                self.pods.push(SimPod {
                    namespace: ns.clone(),
                    name: format!("{w}-{name}"),
                    workload: w.clone(),
                    node: Some(name.clone()),
                    ready_at: now + self.timings.pod_start_secs,
                });
            }
            self.nodes.push(SimNode {
                name,
                pool: pool.to_string(),
                kubelet: version.clone(),
                unschedulable: false,
                created_at: now,
            });
        }
    }

    /// Removes a pool's nodes; their pods go elsewhere (or Pending).
    fn remove_nodes(&mut self, pool: &str, now: u64) {
        let gone: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.pool == pool)
            .map(|n| n.name.clone())
            .collect();
        self.nodes.retain(|n| n.pool != pool);
        let ds = self.daemonset_names();
        self.pods
            .retain(|p| !(ds.contains(&p.workload) && p.node.as_ref().is_some_and(|n| gone.contains(n))));
        let start = self.timings.pod_start_secs;
        for i in 0..self.pods.len() {
            if self.pods[i].node.as_ref().is_some_and(|n| gone.contains(n)) {
                self.pods[i].node = None;
                self.pods[i].ready_at = now + start;
            }
        }
    }

    fn daemonset_names(&self) -> Vec<String> {
        self.workloads
            .iter()
            .filter(|w| w.kind == WorkloadKind::DaemonSet)
            .map(|w| w.name.clone())
            .collect()
    }

    /// Whether a node reports Ready at `now` (the unstable-node fault turns new nodes at a bad
    /// version NotReady two minutes after they join).
    fn node_ready(&self, node: &SimNode, now: u64) -> bool {
        match &self.faults.unstable_nodes_from {
            Some(bad) => node.kubelet.minor() < bad.minor() || now < node.created_at + 120,
            None => true,
        }
    }

    /// The Ready, schedulable nodes other than `except`, least loaded first: counted in one pass
    /// over nodes and pods, so placing many pods costs one count, not one per pod.
    fn placement(&self, except: Option<&str>, now: u64) -> Placement {
        let pools: HashMap<&str, ResourceStatus> = self
            .node_pools
            .iter()
            .map(|p| (p.name.as_str(), p.status))
            .collect();
        let mut load: HashMap<&str, usize> = self
            .nodes
            .iter()
            .filter(|n| !n.unschedulable && Some(n.name.as_str()) != except && self.node_ready(n, now))
            .filter(|n| {
                matches!(
                    pools.get(n.pool.as_str()),
                    Some(ResourceStatus::Ready | ResourceStatus::Updating)
                )
            })
            .map(|n| (n.name.as_str(), 0))
            .collect();
        for pod in &self.pods {
            if let Some(count) = pod.node.as_deref().and_then(|n| load.get_mut(n)) {
                *count += 1;
            }
        }
        Placement(
            load.into_iter()
                .map(|(node, count)| Reverse((count, node.to_string())))
                .collect(),
        )
    }

    /// The least-loaded Ready, schedulable node, other than `except`.
    fn pick_node(&self, except: Option<&str>, now: u64) -> Option<String> {
        self.placement(except, now).take()
    }

    /// Places Pending pods on schedulable nodes, each on the least-loaded one.
    fn schedule_pending(&mut self, now: u64) {
        if self.pods.iter().all(|p| p.node.is_some()) {
            return;
        }
        let mut placement = self.placement(None, now);
        for pod in &mut self.pods {
            if pod.node.is_none()
                && let Some(node) = placement.take()
            {
                pod.node = Some(node);
                pod.ready_at = pod.ready_at.max(now + self.timings.pod_start_secs);
            }
        }
    }

    fn node(&self, name: &str) -> Option<&SimNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Whether a pod crashes because of the version it landed on.
    fn crashes(&self, pod: &SimPod) -> bool {
        match (
            &self.faults.crash_pods_from,
            pod.node.as_deref().and_then(|n| self.node(n)),
        ) {
            (Some(from), Some(node)) => {
                !self.daemonset_names().contains(&pod.workload) && node.kubelet.minor() >= from.minor()
            }
            _ => false,
        }
    }

    fn pod_ready(&self, pod: &SimPod, now: u64) -> bool {
        let node_ready = pod
            .node
            .as_deref()
            .and_then(|n| self.node(n))
            .is_some_and(|n| self.node_ready(n, now));
        node_ready && now >= pod.ready_at && !self.crashes(pod)
    }

    fn ready_replicas(&self, workload: &str, now: u64) -> u32 {
        self.pods
            .iter()
            .filter(|p| p.workload == workload && self.pod_ready(p, now))
            .count() as u32
    }

    fn replicas(&self, workload: &str) -> u32 {
        self.workloads
            .iter()
            .find(|w| w.name == workload)
            .map_or(0, |w| w.replicas)
    }

    /// `disruptionsAllowed` of a PDB right now.
    fn disruptions_allowed(&self, pdb: &SimPdb, now: u64) -> i64 {
        let ready = i64::from(self.ready_replicas(&pdb.workload, now));
        let desired = i64::from(self.replicas(&pdb.workload));
        match (pdb.min_available, pdb.max_unavailable) {
            (Some(min), _) => ready - i64::from(min),
            (None, Some(max)) => i64::from(max) - (desired - ready),
            (None, None) => i64::MAX,
        }
    }

    fn pdb_of(&self, pod: &SimPod) -> Option<&SimPdb> {
        self.pdbs
            .iter()
            .find(|d| d.workload == pod.workload && d.namespace == pod.namespace)
    }

    /// Whether a PDB can never allow a disruption (`minAvailable` >= replicas, `maxUnavailable: 0`).
    fn pdb_always_blocks(&self, pdb: &SimPdb) -> bool {
        let replicas = self.replicas(&pdb.workload);
        match (pdb.min_available, pdb.max_unavailable) {
            (Some(min), _) => min >= replicas,
            (None, Some(max)) => max == 0,
            (None, None) => false,
        }
    }

    fn blocked_reason(&self, pdb: &SimPdb, now: u64) -> String {
        let ready = self.ready_replicas(&pdb.workload, now);
        match (pdb.min_available, pdb.max_unavailable) {
            (Some(min), _) => format!(
                "minAvailable {min}, {ready} of {} ready",
                self.replicas(&pdb.workload)
            ),
            (None, Some(max)) => format!(
                "maxUnavailable {max}, {ready} of {} ready",
                self.replicas(&pdb.workload)
            ),
            (None, None) => "no limit".into(),
        }
    }

    /// Asks to evict a pod, like the Eviction API.
    pub fn evict(&mut self, pod: &PodRef, now: u64) -> Eviction {
        let Some(i) = self
            .pods
            .iter()
            .position(|p| p.namespace == pod.namespace && p.name == pod.name)
        else {
            return Eviction::Gone;
        };
        let current = self.pods[i].clone();
        if self.pod_ready(&current, now)
            && let Some(pdb) = self.pdb_of(&current)
            && self.disruptions_allowed(pdb, now) < 1
        {
            return Eviction::Blocked {
                pdb: format!("{}/{}", pdb.namespace, pdb.name),
                reason: format!(
                    "Cannot evict pod as it would violate the pod's disruption budget ({})",
                    self.blocked_reason(pdb, now)
                ),
            };
        }
        self.reschedule(i, now);
        Eviction::Evicted
    }

    /// Deletes a pod regardless of PDBs; its controller recreates it elsewhere.
    pub fn delete_pod(&mut self, pod: &PodRef, now: u64) {
        if let Some(i) = self
            .pods
            .iter()
            .position(|p| p.namespace == pod.namespace && p.name == pod.name)
        {
            self.reschedule(i, now);
        }
    }

    fn reschedule(&mut self, i: usize, now: u64) {
        let from = self.pods[i].node.clone();
        self.pods[i].node = self.pick_node(from.as_deref(), now);
        self.pods[i].ready_at = now + self.timings.pod_start_secs;
    }

    /// Pods on `nodes` whose PDB would block a drain: one that allows no disruption even when
    /// every pod it selects is Ready. (A budget at zero only because pods are still starting
    /// is not a blocker: the drain waits for it.)
    pub fn drain_preview(&self, nodes: &[String], now: u64) -> Vec<DrainBlocker> {
        let ds = self.daemonset_names();
        self.pods
            .iter()
            .filter(|p| !ds.contains(&p.workload) && p.node.as_ref().is_some_and(|n| nodes.contains(n)))
            .filter_map(|p| {
                let pdb = self.pdb_of(p)?;
                self.pdb_always_blocks(pdb).then(|| DrainBlocker {
                    node: p.node.clone().unwrap_or_default(),
                    pod: PodRef {
                        namespace: p.namespace.clone(),
                        name: p.name.clone(),
                    },
                    pdb: format!("{}/{}", pdb.namespace, pdb.name),
                    reason: format!("it never allows a disruption ({})", self.blocked_reason(pdb, now)),
                    blocked_for_secs: 0,
                })
            })
            .collect()
    }

    /// The cluster's health right now.
    pub fn health(&self, now: u64) -> HealthSnapshot {
        let ds = self.daemonset_names();
        let pods_failing: Vec<PodRef> = self
            .pods
            .iter()
            .filter(|p| p.node.is_none() || self.crashes(p))
            .map(|p| PodRef {
                namespace: p.namespace.clone(),
                name: p.name.clone(),
            })
            .collect();
        let workloads_unavailable = self
            .workloads
            .iter()
            .filter(|w| !ds.contains(&w.name) && self.ready_replicas(&w.name, now) < w.replicas)
            .map(|w| {
                let kind = if w.kind == WorkloadKind::StatefulSet {
                    "StatefulSet"
                } else {
                    "Deployment"
                };
                format!(
                    "{kind} {}/{} ({}/{} ready)",
                    w.namespace,
                    w.name,
                    self.ready_replicas(&w.name, now),
                    w.replicas
                )
            })
            .collect();
        HealthSnapshot {
            nodes: self.nodes.len() as u32,
            nodes_not_ready: self
                .nodes
                .iter()
                .filter(|n| !self.node_ready(n, now))
                .map(|n| n.name.clone())
                .collect(),
            pods: self.pods.len() as u32,
            pods_failing,
            workloads_unavailable,
        }
    }

    /// Core's view of the cluster.
    pub fn snapshot(&self) -> ClusterSnapshot {
        let busy = self
            .operations
            .iter()
            .any(|o| !o.ended && o.kind == OperationKind::UpgradeControlPlane);
        ClusterSnapshot {
            provider: self.provider,
            name: self.name.clone(),
            control_plane: self.control_plane.clone(),
            status: if busy {
                ResourceStatus::Updating
            } else {
                ResourceStatus::Ready
            },
            node_pools: self
                .node_pools
                .iter()
                .map(|p| NodePool {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    nodes: p.nodes,
                    labels: p.labels.clone(),
                    taints: p.taints.clone(),
                    rollout: p.rollout.clone(),
                    status: p.status,
                })
                .collect(),
            auto_upgrade: self.auto_upgrade.clone(),
            id: self.uid.as_ref().map(|uid| format!("sim:{}/{uid}", self.name)),
        }
    }

    /// Core's view of an operation at `now`.
    pub fn operation_view(&self, op: &SimOperation, now: u64) -> Operation {
        let state = if !op.ended {
            if now <= op.started_at {
                OperationState::Pending
            } else {
                OperationState::Running
            }
        } else if let Some(f) = &op.failure {
            OperationState::Failed(f.clone())
        } else {
            OperationState::Succeeded
        };
        let span = op.ends_at.saturating_sub(op.started_at).max(1);
        let done = if op.ended && op.failure.is_none() {
            op.units
        } else {
            ((now.saturating_sub(op.started_at)) * u64::from(op.units) / span).min(u64::from(op.units)) as u32
        };
        Operation {
            id: OperationId(op.id.clone()),
            kind: op.kind,
            node_pool: op.node_pool.clone(),
            to: op.to.clone(),
            state,
            progress: (op.units > 0).then_some((done, op.units)),
            poll_after: None,
        }
    }

    /// Ends the first operation due at `now`, applying its effects. Returns whether one ended
    /// (call again until `false`: each ending is its own persisted mutation).
    pub fn end_next_due(&mut self, now: u64) -> bool {
        let Some(i) = self.operations.iter().position(|o| !o.ended && o.ends_at <= now) else {
            self.schedule_pending(now);
            return false;
        };
        let op = self.operations[i].clone();
        let at = op.ends_at;
        self.operations[i].ended = true;
        let pool = op.node_pool.clone().unwrap_or_default();
        if op.failure.is_some() {
            if let Some(p) = self.node_pools.iter_mut().find(|p| p.name == pool) {
                p.status = if op.kind == OperationKind::CreateNodePool {
                    ResourceStatus::Failed
                } else {
                    ResourceStatus::Ready
                };
            }
            return true;
        }
        match op.kind {
            OperationKind::UpgradeControlPlane => {
                if let Some(to) = op.to {
                    self.control_plane = to;
                }
            }
            OperationKind::UpgradeNodePool => {
                let to = op.to.clone().unwrap_or_else(|| self.control_plane.clone());
                // Surge: new nodes come up, pods move over, old nodes go.
                let old: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|n| n.pool == pool)
                    .map(|n| n.name.clone())
                    .collect();
                if let Some(p) = self.node_pools.iter_mut().find(|p| p.name == pool) {
                    p.version = to;
                    p.generation += 1;
                    p.status = ResourceStatus::Ready;
                }
                self.create_nodes(&pool, at);
                let fresh: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|n| n.pool == pool && !old.contains(&n.name))
                    .map(|n| n.name.clone())
                    .collect();
                let ds = self.daemonset_names();
                self.pods.retain(|p| {
                    !(ds.contains(&p.workload) && p.node.as_ref().is_some_and(|n| old.contains(n)))
                });
                let moving = self
                    .pods
                    .iter_mut()
                    .filter(|p| p.node.as_ref().is_some_and(|n| old.contains(n)));
                for (k, pod) in moving.enumerate() {
                    pod.node = fresh.get(k % fresh.len().max(1)).cloned();
                    pod.ready_at = at;
                }
                self.nodes.retain(|n| !old.contains(&n.name));
            }
            OperationKind::CreateNodePool => {
                if let Some(p) = self.node_pools.iter_mut().find(|p| p.name == pool) {
                    p.status = ResourceStatus::Ready;
                }
                self.create_nodes(&pool, at);
            }
            OperationKind::DeleteNodePool => {
                self.remove_nodes(&pool, at);
                self.node_pools.retain(|p| p.name != pool);
            }
            // The simulator starts no other kind of operation.
            _ => {}
        }
        self.schedule_pending(now);
        true
    }

    fn find_token(&self, token: &str) -> Option<OperationId> {
        self.operations
            .iter()
            .find(|o| o.token == token)
            .map(|o| OperationId(o.id.clone()))
    }

    /// Which operations may overlap on this cluster.
    pub fn concurrency(&self) -> OperationConcurrency {
        self.rules
            .concurrency
            .unwrap_or_else(|| OperationConcurrency::for_provider(self.provider))
    }

    /// Refuses a new operation (on `pool`, or the control plane for `None`) that the
    /// provider's concurrency rule does not allow beside the ones running.
    fn ensure_idle(&self, pool: Option<&str>) -> Result<()> {
        let parallel = self.concurrency().pools_in_parallel();
        let running = self.operations.iter().filter(|o| !o.ended).count();
        if self.provider == Provider::Gke && running >= GKE_CONCURRENT_OPERATIONS {
            return Err(Error::operation_in_progress(format!(
                "cluster {} (429 Too many operations: cluster \"{}\" hits the concurrent operations quota {GKE_CONCURRENT_OPERATIONS})",
                self.name, self.name
            )));
        }
        let conflict =
            self.operations.iter().filter(|o| !o.ended).find(|o| {
                !parallel || pool.is_none() || o.node_pool.is_none() || o.node_pool.as_deref() == pool
            });
        match conflict {
            Some(op) => Err(Error::operation_in_progress(format!(
                "cluster {} ({}: operation {} is in progress)",
                self.name,
                provider_error(self.provider, "busy"),
                op.id
            ))),
            None => Ok(()),
        }
    }

    fn planned_failure(&mut self, kind: OperationKind, pool: Option<&str>) -> Option<String> {
        let i = self
            .faults
            .fail_operations
            .iter()
            .position(|f| f.kind == kind && (f.node_pool.is_none() || f.node_pool.as_deref() == pool))?;
        Some(self.faults.fail_operations.remove(i).message)
    }

    fn push_operation(&mut self, op: SimOperation) -> OperationId {
        let id = OperationId(op.id.clone());
        self.operations.push(op);
        id
    }

    fn next_id(&self) -> String {
        let prefix = match self.provider {
            Provider::Eks => "update",
            Provider::Aks => "aksop",
            Provider::Gke => "operation",
        };
        format!("{prefix}-{:04}", self.operations.len() + 1)
    }

    /// Starts a control-plane upgrade.
    pub fn start_control_plane(&mut self, to: &KubeVersion, token: &str, now: u64) -> Result<OperationId> {
        if let Some(id) = self.find_token(token) {
            return Ok(id);
        }
        self.ensure_idle(None)?;
        let from = self.control_plane.clone();
        let policy = self.policy();
        if to.minor() <= from.minor() {
            return Err(self.invalid(format!(
                "cluster {} is already at {from}; cannot move to {to}",
                self.name
            )));
        }
        if let Err(v) = policy.check_control_plane_step(&from, to) {
            return Err(self.invalid(format!(
                "Unsupported Kubernetes minor version update from {from} to {to} ({v})"
            )));
        }
        let lagging: Vec<&str> = self
            .node_pools
            .iter()
            .filter(|p| !p.version.same_minor(&from))
            .map(|p| p.name.as_str())
            .collect();
        if self.rules.pools_must_match_before_hop && !lagging.is_empty() {
            return Err(Error::PoolsMustMatch {
                provider: format!("the simulated {}", self.provider.display_name()),
                to: to.minor_version().to_string(),
                control_plane: from.minor_version().to_string(),
                pools: lagging.join(", "),
                rule: "the simulator enforces the strict rule of EKS's UpdateClusterVersion API reference: node groups must match the cluster's version before it moves".into(),
            });
        }
        for p in &self.node_pools {
            if let Err(v) = policy.check_node(to, &p.name, &p.version) {
                return Err(self.invalid(format!("upgrade the node pools first: {v}")));
            }
        }
        let failure = self.planned_failure(OperationKind::UpgradeControlPlane, None);
        let op = SimOperation {
            id: self.next_id(),
            kind: OperationKind::UpgradeControlPlane,
            node_pool: None,
            to: Some(to.minor_version()),
            token: token.to_string(),
            started_at: now,
            ends_at: now + self.timings.control_plane_secs,
            units: 0,
            failure,
            ended: false,
            spec: None,
        };
        Ok(self.push_operation(op))
    }

    fn pool_index(&self, pool: &str) -> Result<usize> {
        self.node_pools
            .iter()
            .position(|p| p.name == pool)
            .ok_or_else(|| {
                Error::not_found(
                    "node pool",
                    pool,
                    format!("cluster {} has no such pool", self.name),
                )
            })
    }

    /// Starts a rolling upgrade of a pool.
    pub fn start_pool_upgrade(
        &mut self,
        pool: &str,
        to: &KubeVersion,
        rollout: &RolloutSettings,
        force: bool,
        token: &str,
        now: u64,
    ) -> Result<OperationId> {
        if let Some(id) = self.find_token(token) {
            return Ok(id);
        }
        let i = self.pool_index(pool)?;
        self.ensure_idle(Some(pool))?;
        let current = self.node_pools[i].version.clone();
        if to.minor() > self.control_plane.minor() {
            return Err(self.invalid(format!(
                "node pool {pool} cannot move to {to}: it would be newer than the control plane ({})",
                self.control_plane
            )));
        }
        if to.minor() <= current.minor() {
            return Err(self.invalid(format!(
                "node pool {pool} is already at {current}; cannot move to {to}"
            )));
        }
        let nodes = self.node_pools[i].nodes;
        let batch = (rollout.max_surge + rollout.max_unavailable).max(1);
        let batches = u64::from(nodes.div_ceil(batch).max(1));
        let mut ends_at = now + batches * self.timings.node_replace_secs;
        let mut failure = self.planned_failure(OperationKind::UpgradeNodePool, Some(pool));
        if failure.is_none() && !force {
            let pool_nodes: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| n.pool == pool)
                .map(|n| n.name.clone())
                .collect();
            if let Some(b) = self.drain_preview(&pool_nodes, now).into_iter().next() {
                failure = Some(format!(
                    "PodEvictionFailure: reached the drain timeout evicting pod {} from node {}: PodDisruptionBudget {} ({})",
                    b.pod, b.node, b.pdb, b.reason
                ));
                ends_at = now + self.timings.node_replace_secs + rollout.drain_timeout.as_secs();
            }
        }
        self.node_pools[i].status = ResourceStatus::Updating;
        let op = SimOperation {
            id: self.next_id(),
            kind: OperationKind::UpgradeNodePool,
            node_pool: Some(pool.to_string()),
            to: Some(to.minor_version()),
            token: token.to_string(),
            started_at: now,
            ends_at,
            units: nodes,
            failure,
            ended: false,
            spec: None,
        };
        Ok(self.push_operation(op))
    }

    /// Starts creating a pool.
    pub fn start_pool_create(&mut self, spec: &NodePoolSpec, token: &str, now: u64) -> Result<OperationId> {
        if let Some(id) = self.find_token(token) {
            return Ok(id);
        }
        if self.node_pools.iter().any(|p| p.name == spec.name) {
            return Err(self.invalid(format!("node pool {} already exists", spec.name)));
        }
        let source = self.pool_index(&spec.clone_of)?;
        if self.provider == Provider::Aks
            && !(spec.name.len() <= 12
                && spec.name.starts_with(|c: char| c.is_ascii_lowercase())
                && spec
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        {
            return Err(self.invalid(format!(
                "agent pool name '{}' must match ^[a-z][a-z0-9]{{0,11}}$",
                spec.name
            )));
        }
        if let Err(v) = self
            .policy()
            .check_node(&self.control_plane, &spec.name, &spec.version)
        {
            return Err(self.invalid(v.0));
        }
        self.ensure_idle(Some(&spec.name))?;
        let failure = self.planned_failure(OperationKind::CreateNodePool, Some(&spec.name));
        let rollout = self.node_pools[source].rollout.clone();
        self.node_pools.push(SimPool {
            name: spec.name.clone(),
            version: spec.version.minor_version(),
            nodes: spec.nodes,
            labels: spec.labels.clone(),
            taints: spec.taints.clone(),
            rollout,
            status: ResourceStatus::Creating,
            generation: 0,
        });
        let op = SimOperation {
            id: self.next_id(),
            kind: OperationKind::CreateNodePool,
            node_pool: Some(spec.name.clone()),
            to: Some(spec.version.minor_version()),
            token: token.to_string(),
            started_at: now,
            ends_at: now + self.timings.pool_create_secs,
            units: spec.nodes,
            failure,
            ended: false,
            spec: Some(spec.clone()),
        };
        Ok(self.push_operation(op))
    }

    /// Starts deleting a pool.
    pub fn start_pool_delete(&mut self, pool: &str, token: &str, now: u64) -> Result<OperationId> {
        if let Some(id) = self.find_token(token) {
            return Ok(id);
        }
        let i = self.pool_index(pool)?;
        self.ensure_idle(Some(pool))?;
        let failure = self.planned_failure(OperationKind::DeleteNodePool, Some(pool));
        self.node_pools[i].status = ResourceStatus::Deleting;
        let op = SimOperation {
            id: self.next_id(),
            kind: OperationKind::DeleteNodePool,
            node_pool: Some(pool.to_string()),
            to: None,
            token: token.to_string(),
            started_at: now,
            ends_at: now + self.timings.pool_delete_secs,
            units: 0,
            failure,
            ended: false,
            spec: None,
        };
        Ok(self.push_operation(op))
    }

    /// Sets a node's unschedulable flag; returns whether it changed.
    pub fn set_unschedulable(&mut self, node: &str, unschedulable: bool) -> Result<bool> {
        let n = self
            .nodes
            .iter_mut()
            .find(|n| n.name == node)
            .ok_or_else(|| Error::not_found("node", node, ""))?;
        let changed = n.unschedulable != unschedulable;
        n.unschedulable = unschedulable;
        Ok(changed)
    }

    /// The pool's nodes, as core sees them.
    pub fn nodes_of(&self, pool: &str, now: u64) -> Vec<kupgrade_core::Node> {
        self.nodes
            .iter()
            .filter(|n| n.pool == pool)
            .map(|n| kupgrade_core::Node {
                name: n.name.clone(),
                pool: n.pool.clone(),
                kubelet: n.kubelet.clone(),
                ready: self.node_ready(n, now),
                unschedulable: n.unschedulable,
            })
            .collect()
    }

    /// The pods on a node, as core sees them.
    pub fn pods_on(&self, node: &str) -> Vec<kupgrade_core::Pod> {
        self.pods
            .iter()
            .filter(|p| p.node.as_deref() == Some(node))
            .map(|p| kupgrade_core::Pod {
                pod: PodRef {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                },
                owner_kind: self
                    .workloads
                    .iter()
                    .find(|w| w.name == p.workload)
                    .map(|w| w.kind.owner_kind().to_string()),
                mirror: false,
            })
            .collect()
    }
}

/// Nodes by (pods placed, name), smallest first: ties go to the first name, as before.
struct Placement(BinaryHeap<Reverse<(usize, String)>>);

impl Placement {
    /// The least-loaded node, counted as one pod busier from now on.
    fn take(&mut self) -> Option<String> {
        let Reverse((count, node)) = self.0.pop()?;
        self.0.push(Reverse((count + 1, node.clone())));
        Some(node)
    }
}
