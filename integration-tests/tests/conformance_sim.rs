//! The conformance suite against the simulator, for every provider flavour.

use std::sync::Arc;

use async_trait::async_trait;
use kupgrade_core::conformance::{self, Fixture};
use kupgrade_core::{ClusterSnapshot, ClusterWorkloads, ManagedCluster, Provider, Result, Strategy};
use kupgrade_sim::{Budget, SimCluster, SimState, WorkloadKind};

struct SimFixture;

#[async_trait]
impl Fixture for SimFixture {
    async fn cluster(
        &self,
        spec: &ClusterSnapshot,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)> {
        let mut state = SimState::new(spec.provider, &spec.name, spec.control_plane.clone());
        for pool in &spec.node_pools {
            state.add_pool(&pool.name, pool.version.clone(), pool.nodes);
        }
        state.add_workload(
            WorkloadKind::Deployment,
            "app",
            "web",
            3,
            Some(Budget::MaxUnavailable(1)),
        );
        let sim = SimCluster::new(state);
        Ok((Arc::new(sim.clone()), Arc::new(sim)))
    }
}

#[tokio::test(start_paused = true)]
async fn simulator_eks_passes_the_suite() {
    conformance::run_all(&SimFixture, Provider::Eks).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn simulator_aks_passes_the_suite() {
    conformance::run_all(&SimFixture, Provider::Aks).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn simulator_gke_passes_the_suite() {
    conformance::run_all(&SimFixture, Provider::Gke).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn scenarios_can_run_one_by_one() {
    conformance::full_upgrade(&SimFixture, Provider::Gke, Strategy::BlueGreen)
        .await
        .unwrap();
}
