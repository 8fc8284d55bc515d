//! [`FakeWorkloads`]: the in-cluster side of a fake cloud.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use kupgrade_core::workloads::Eviction;
use kupgrade_core::{ClusterWorkloads, DrainBlocker, HealthSnapshot, KubeVersion, Node, Pod, PodRef, Result};

/// The pools a fake cloud reports: for a pool name, its nodes' version and how many there are
/// (`None`: no such pool, or none of its nodes serve yet).
type Pools = Box<dyn Fn(&str) -> Option<(KubeVersion, u32)> + Send + Sync>;

/// The in-cluster side of a fake cloud for the executor: every node of a pool Ready at the
/// version the fake reports for it (named `{pool}-{i}`), no pods (so drains end at once), a
/// healthy cluster, and cordons remembered.
pub struct FakeWorkloads {
    pools: Pools,
    cordoned: Mutex<BTreeSet<String>>,
}

impl fmt::Debug for FakeWorkloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeWorkloads")
            .field("cordoned", &self.cordoned)
            .finish_non_exhaustive()
    }
}

impl FakeWorkloads {
    /// Nodes for the pools `pools` reports, read at every call (so they follow the fake's state).
    pub fn new(pools: impl Fn(&str) -> Option<(KubeVersion, u32)> + Send + Sync + 'static) -> Self {
        Self {
            pools: Box::new(pools),
            cordoned: Mutex::default(),
        }
    }

    /// A cluster with no nodes at all (for runs that never look inside the cluster).
    pub fn empty() -> Self {
        Self::new(|_| None)
    }
}

#[async_trait]
impl ClusterWorkloads for FakeWorkloads {
    async fn nodes(&self, pool: &str) -> Result<Vec<Node>> {
        let Some((kubelet, count)) = (self.pools)(pool) else {
            return Ok(Vec::new());
        };
        let cordoned = self.cordoned.lock().unwrap_or_else(|e| e.into_inner());
        Ok((0..count)
            .map(|i| {
                let name = format!("{pool}-{i}");
                Node {
                    unschedulable: cordoned.contains(&name),
                    name,
                    pool: pool.to_string(),
                    kubelet: kubelet.clone(),
                    ready: true,
                }
            })
            .collect())
    }

    async fn set_unschedulable(&self, node: &str, unschedulable: bool) -> Result<()> {
        let mut cordoned = self.cordoned.lock().unwrap_or_else(|e| e.into_inner());
        if unschedulable {
            cordoned.insert(node.to_string());
        } else {
            cordoned.remove(node);
        }
        Ok(())
    }

    async fn pods_on(&self, _node: &str) -> Result<Vec<Pod>> {
        Ok(Vec::new())
    }

    async fn evict(&self, _pod: &PodRef) -> Result<Eviction> {
        Ok(Eviction::Gone)
    }

    async fn delete_pod(&self, _pod: &PodRef) -> Result<()> {
        Ok(())
    }

    async fn drain_preview(&self, _nodes: &[String]) -> Result<Vec<DrainBlocker>> {
        Ok(Vec::new())
    }

    async fn health(&self) -> Result<HealthSnapshot> {
        Ok(HealthSnapshot::default())
    }
}
