//! Full upgrades through the executor against the mock ARM server, which answers with the
//! official 2026-08-01 examples and refuses any write the spec does not allow (no `If-Match`
//! on the current eTag, a property the spec lacks or marks read-only, an echoed
//! `nodeImageVersion`, `servicePrincipalProfile` or stale override). Requests reach the mock
//! in-process, so the executor's waits run on a paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use kupgrade_core::conformance::{self, Fixture};
use kupgrade_core::{ClusterSnapshot, ClusterWorkloads, ManagedCluster, Provider, Result, Strategy};
use kupgrade_testkit::arm_mock::{self, MockArm};
use serde_json::Value;

struct ArmFixture {
    arm: Arc<MockArm>,
    next: AtomicUsize,
    /// How many of the first writes to each new cluster and pool meet a concurrent writer.
    interfere: u32,
}

#[async_trait]
impl Fixture for ArmFixture {
    async fn cluster(
        &self,
        spec: &ClusterSnapshot,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)> {
        let name = format!("{}-{}", spec.name, self.next.fetch_add(1, Ordering::Relaxed));
        self.arm
            .add_cluster(&name, &format!("1.{}", spec.control_plane.minor()));
        for pool in &spec.node_pools {
            self.arm.add_pool(
                &name,
                &pool.name,
                &format!("1.{}", pool.version.minor()),
                pool.nodes,
            );
            self.arm
                .interfere_with_next_writes(&name, Some(&pool.name), self.interfere);
        }
        self.arm.interfere_with_next_writes(&name, None, self.interfere);
        let cluster = self.arm.in_process_builder(&name).build()?;
        Ok((
            Arc::new(cluster),
            Arc::new(arm_mock::nodes(self.arm.clone(), &name)),
        ))
    }
}

async fn fixture(interfere: u32) -> ArmFixture {
    ArmFixture {
        arm: Arc::new(MockArm::start().await),
        next: AtomicUsize::new(0),
        interfere,
    }
}

fn puts(requests: &[(String, String, Value)], pools: bool) -> Vec<&(String, String, Value)> {
    requests
        .iter()
        .filter(|(m, p, _)| m == "PUT" && p.contains("/agentPools/") == pools)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_in_place_upgrade_1_29_to_1_32_writes_only_what_the_spec_allows() {
    let f = fixture(0).await;
    conformance::full_upgrade(&f, Provider::Aks, Strategy::InPlace)
        .await
        .unwrap();
    assert!(f.arm.violations().is_empty(), "{:?}", f.arm.violations());
    let requests = f.arm.requests().await;
    assert_eq!(puts(&requests, false).len(), 3, "one cluster PUT per hop");
    let pool_puts = puts(&requests, true);
    assert!(!pool_puts.is_empty());
    for (_, path, body) in pool_puts {
        assert_eq!(
            body["properties"]["upgradeSettings"],
            serde_json::json!({"maxSurge": "33%"}),
            "{path}: the pool's own settings go back unchanged"
        );
    }
    let preconditions = f.arm.write_preconditions();
    assert!(
        preconditions.iter().all(|(_, m)| m.is_some()),
        "every update carried If-Match: {preconditions:?}"
    );
    let (cp, pools) = f.arm.cluster_state("conformance-aks-0").unwrap();
    assert!(cp.starts_with("1.32."), "{cp}");
    assert!(pools.iter().all(|(_, v, _)| v.starts_with("1.32.")), "{pools:?}");
}

#[tokio::test(start_paused = true)]
async fn the_whole_suite_passes_with_every_write_held_to_the_spec() {
    let f = fixture(0).await;
    conformance::run_all(&f, Provider::Aks).await.unwrap();
    assert!(f.arm.violations().is_empty(), "{:?}", f.arm.violations());
}

#[tokio::test(start_paused = true)]
async fn a_concurrent_writer_during_an_upgrade_costs_one_re_read_per_resource() {
    let quiet = fixture(0).await;
    conformance::full_upgrade(&quiet, Provider::Aks, Strategy::InPlace)
        .await
        .unwrap();
    let busy = fixture(1).await;
    conformance::full_upgrade(&busy, Provider::Aks, Strategy::InPlace)
        .await
        .unwrap();
    assert!(busy.arm.violations().is_empty(), "{:?}", busy.arm.violations());
    let (quiet_puts, busy_puts) = (
        quiet.arm.write_preconditions().len(),
        busy.arm.write_preconditions().len(),
    );
    // The cluster and its two pools each meet one 412 on their first write.
    assert_eq!(busy_puts, quiet_puts + 3, "{quiet_puts} vs {busy_puts}");
}
