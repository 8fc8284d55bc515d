//! [`SimSwap`]: the simulator's side of a blue/green cluster swap — a green cluster cloned from
//! blue, a workload sync, and a traffic split with an injectable failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kupgrade_core::cluster_swap::{ClusterHandle, ClusterSwapHooks};
use kupgrade_core::{ClusterSnapshot, Error, KubeVersion, Result};

use crate::cluster::SimCluster;
use crate::state::{Budget, SimState, WorkloadKind};

#[derive(Default)]
struct Swap {
    green: Option<SimCluster>,
    green_percent: u8,
    decommissioned: Vec<String>,
}

/// Blue/green cluster hooks on the simulator. Provisioning takes a control-plane hop's worth
/// of virtual time, a traffic shift one minute (DNS propagation).
#[derive(Clone)]
pub struct SimSwap {
    blue: SimCluster,
    fail_at_percent: Option<u8>,
    inner: Arc<Mutex<Swap>>,
}

impl std::fmt::Debug for SimSwap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSwap")
            .field("blue", &self.blue)
            .finish_non_exhaustive()
    }
}

impl SimSwap {
    /// Hooks around the blue cluster `blue`.
    pub fn new(blue: SimCluster) -> Self {
        Self {
            blue,
            fail_at_percent: None,
            inner: Arc::new(Mutex::new(Swap::default())),
        }
    }

    /// Green serves errors once it gets `percent`% of the traffic or more (a fault).
    pub fn with_traffic_failure_at(mut self, percent: u8) -> Self {
        self.fail_at_percent = Some(percent);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Swap> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The green cluster, once provisioned.
    pub fn green(&self) -> Option<SimCluster> {
        self.lock().green.clone()
    }

    /// Green's share of the traffic, in percent.
    pub fn green_percent(&self) -> u8 {
        self.lock().green_percent
    }

    /// Clusters decommissioned so far.
    pub fn decommissioned(&self) -> Vec<String> {
        self.lock().decommissioned.clone()
    }

    fn handle(name: &str, sim: &SimCluster) -> ClusterHandle {
        ClusterHandle {
            name: name.to_string(),
            cluster: Arc::new(sim.clone()),
            workloads: Arc::new(sim.clone()),
        }
    }
}

#[async_trait]
impl ClusterSwapHooks for SimSwap {
    async fn find_green(&self, name: &str) -> Result<Option<ClusterHandle>> {
        Ok(self
            .green()
            .filter(|g| g.state().name == name)
            .map(|g| Self::handle(name, &g)))
    }

    async fn provision_green(
        &self,
        blue: &ClusterSnapshot,
        name: &str,
        version: &KubeVersion,
    ) -> Result<ClusterHandle> {
        let source = self.blue.state();
        tokio::time::sleep(Duration::from_secs(source.timings.control_plane_secs)).await;
        let mut green = SimState::new(blue.provider, name, version.minor_version());
        green.timings = source.timings.clone();
        green.faults.crash_pods_from = source.faults.crash_pods_from.clone();
        for pool in &source.node_pools {
            green.add_pool(&pool.name, version.minor_version(), pool.nodes);
        }
        for w in source
            .workloads
            .iter()
            .filter(|w| w.kind == WorkloadKind::DaemonSet)
        {
            green.add_workload(WorkloadKind::DaemonSet, &w.namespace, &w.name, 0, None);
        }
        let sim = SimCluster::new(green);
        self.lock().green = Some(sim.clone());
        Ok(Self::handle(name, &sim))
    }

    async fn deploy(&self, green: &ClusterHandle) -> Result<()> {
        let sim = self
            .green()
            .filter(|g| g.state().name == green.name)
            .ok_or_else(|| Error::not_found("cluster", &green.name, "provision it first"))?;
        let source = self.blue.state();
        let now = sim.now();
        sim.edit(|s| {
            s.clock_secs = now;
            for w in source
                .workloads
                .iter()
                .filter(|w| w.kind != WorkloadKind::DaemonSet)
            {
                if s.workloads
                    .iter()
                    .any(|x| x.name == w.name && x.namespace == w.namespace)
                {
                    continue;
                }
                let budget = source
                    .pdbs
                    .iter()
                    .find(|p| p.workload == w.name && p.namespace == w.namespace)
                    .map(|p| match (p.min_available, p.max_unavailable) {
                        (Some(n), _) => Budget::MinAvailable(n),
                        (None, n) => Budget::MaxUnavailable(n.unwrap_or(1)),
                    });
                s.add_workload(w.kind, &w.namespace, &w.name, w.replicas, budget);
            }
        })?;
        tokio::time::sleep(Duration::from_secs(source.timings.pod_start_secs)).await;
        Ok(())
    }

    async fn shift_traffic(&self, green_percent: u8) -> Result<()> {
        tokio::time::sleep(Duration::from_secs(60)).await;
        self.lock().green_percent = green_percent;
        Ok(())
    }

    async fn traffic_problem(&self) -> Result<Option<String>> {
        let percent = self.green_percent();
        Ok(self.fail_at_percent.filter(|&f| percent >= f).map(|_| {
            format!("green answers 7.5% of requests with 5xx at {percent}% of traffic (threshold 1%)")
        }))
    }

    async fn decommission(&self, blue: &str) -> Result<()> {
        tokio::time::sleep(Duration::from_secs(self.blue.state().timings.pool_delete_secs)).await;
        self.lock().decommissioned.push(blue.to_string());
        Ok(())
    }
}
