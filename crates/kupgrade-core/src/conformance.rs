//! The shared conformance suite: the same scenarios, written against `&dyn ManagedCluster`,
//! that the simulator and every cloud adapter must pass. Enable the `conformance` feature and
//! give the suite a [`Fixture`] that makes fresh clusters.
//!
//! Scenarios wait on real operations through the executor's polling, so run them on a paused
//! tokio clock against the simulator, and on a real clock against emulators.

use std::sync::Arc;

use async_trait::async_trait;

use crate::cluster::{
    ClusterSnapshot, NodePool, OperationState, PoolUpgradeOptions, RequestToken, RolloutSettings,
};
use crate::error::{Error, Result};
use crate::executor::{Executor, ExecutorConfig, RunResult};
use crate::journal::Journal;
use crate::managed::ManagedCluster;
use crate::plan::{PlanOptions, Strategy, plan_with};
use crate::provider::Provider;
use crate::version::KubeVersion;
use crate::workloads::ClusterWorkloads;

/// Makes fresh clusters for the suite.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// A new cluster shaped like `spec` (provider, control plane, pools), with its in-cluster
    /// side.
    async fn cluster(
        &self,
        spec: &ClusterSnapshot,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)>;

    /// How the suite's executor polls and soaks. The default suits a paused tokio clock;
    /// an emulator in another process runs on a real clock and wants short delays.
    fn executor_config(&self) -> ExecutorConfig {
        ExecutorConfig::default()
    }
}

/// A cluster spec: `pools` are (name, minor, nodes).
pub fn spec(provider: Provider, control_plane: u32, pools: &[(&str, u32, u32)]) -> ClusterSnapshot {
    ClusterSnapshot {
        provider,
        name: format!("conformance-{provider}"),
        control_plane: KubeVersion::new(1, control_plane),
        status: Default::default(),
        node_pools: pools
            .iter()
            .map(|(n, m, c)| NodePool::new(*n, KubeVersion::new(1, *m), *c))
            .collect(),
        auto_upgrade: None,
        id: None,
    }
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::provider(format!("conformance: {}", what())))
    }
}

async fn wait(
    f: &dyn Fixture,
    cluster: &dyn ManagedCluster,
    id: &crate::OperationId,
) -> Result<OperationState> {
    let events = crate::events::discard();
    let op = f
        .executor_config()
        .poll
        .wait_operation(cluster, id, &events, |_| {})
        .await?;
    Ok(op.state)
}

/// `describe` reports the control plane and every pool with its version and size.
pub async fn describe_matches_the_spec(f: &dyn Fixture, provider: Provider) -> Result<()> {
    let want = spec(provider, 30, &[("alpha", 30, 2), ("beta", 29, 3)]);
    let (cluster, _) = f.cluster(&want).await?;
    let got = cluster.describe().await?;
    check(got.provider == provider, || {
        format!("provider {} != {provider}", got.provider)
    })?;
    check(got.control_plane.same_minor(&want.control_plane), || {
        format!("control plane {}", got.control_plane)
    })?;
    for pool in &want.node_pools {
        let found = got.pool(&pool.name);
        check(
            found.is_some_and(|p| p.version.same_minor(&pool.version) && p.nodes == pool.nodes),
            || format!("pool {} reported as {found:?}", pool.name),
        )?;
    }
    Ok(())
}

/// A one-minor control-plane upgrade runs to `Succeeded` and `describe` shows it.
pub async fn control_plane_upgrade_completes(f: &dyn Fixture, provider: Provider) -> Result<()> {
    let (cluster, _) = f.cluster(&spec(provider, 30, &[("alpha", 30, 1)])).await?;
    let id = cluster
        .upgrade_control_plane(&KubeVersion::new(1, 31), &RequestToken("cp-1".into()))
        .await?;
    let state = wait(f, cluster.as_ref(), &id).await?;
    check(state == OperationState::Succeeded, || {
        format!("operation ended {state:?}")
    })?;
    let got = cluster.describe().await?;
    check(got.control_plane.minor() == 31, || {
        format!("control plane still {}", got.control_plane)
    })
}

/// Skipping a minor is refused with a non-retryable error before anything starts.
pub async fn skipping_a_minor_is_refused(f: &dyn Fixture, provider: Provider) -> Result<()> {
    let (cluster, _) = f.cluster(&spec(provider, 30, &[("alpha", 30, 1)])).await?;
    let err = cluster
        .upgrade_control_plane(&KubeVersion::new(1, 32), &RequestToken("skip".into()))
        .await;
    check(matches!(&err, Err(e) if !e.is_retryable()), || {
        format!("expected a refusal, got {err:?}")
    })?;
    let ops = cluster.operations_in_flight().await?;
    check(ops.is_empty(), || format!("operations started: {ops:?}"))
}

/// A pool may not move past the control plane.
pub async fn pool_newer_than_control_plane_is_refused(f: &dyn Fixture, provider: Provider) -> Result<()> {
    let (cluster, _) = f.cluster(&spec(provider, 30, &[("alpha", 30, 1)])).await?;
    let err = cluster
        .upgrade_node_pool(
            "alpha",
            &KubeVersion::new(1, 31),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &RequestToken("np".into()),
        )
        .await;
    check(matches!(&err, Err(e) if !e.is_retryable()), || {
        format!("expected a refusal, got {err:?}")
    })
}

/// An unknown pool is `NotFound`, naming it.
pub async fn unknown_pool_is_not_found(f: &dyn Fixture, provider: Provider) -> Result<()> {
    let (cluster, _) = f.cluster(&spec(provider, 30, &[("alpha", 29, 1)])).await?;
    let err = cluster
        .upgrade_node_pool(
            "ghost",
            &KubeVersion::new(1, 30),
            &PoolUpgradeOptions::new(RolloutSettings::default()),
            &RequestToken("g".into()),
        )
        .await;
    check(
        matches!(&err, Err(e @ Error::NotFound { .. }) if e.to_string().contains("ghost")),
        || format!("expected NotFound naming ghost, got {err:?}"),
    )
}

/// The same idempotency token never starts a second operation.
pub async fn same_token_starts_one_operation(f: &dyn Fixture, provider: Provider) -> Result<()> {
    let (cluster, _) = f.cluster(&spec(provider, 30, &[("alpha", 30, 1)])).await?;
    let token = RequestToken("same".into());
    let first = cluster
        .upgrade_control_plane(&KubeVersion::new(1, 31), &token)
        .await?;
    let second = cluster
        .upgrade_control_plane(&KubeVersion::new(1, 31), &token)
        .await?;
    check(first == second, || format!("{first} != {second}"))
}

/// The executor takes a cluster from 1.29 to 1.32 with `strategy`.
pub async fn full_upgrade(f: &dyn Fixture, provider: Provider, strategy: Strategy) -> Result<()> {
    let snapshot = spec(provider, 29, &[("alpha", 29, 2), ("beta", 29, 1)]);
    let (cluster, workloads) = f.cluster(&snapshot).await?;
    let live = cluster.describe().await?;
    let plan = plan_with(
        &live,
        &KubeVersion::new(1, 32),
        &PlanOptions::new(provider, strategy),
    )?;
    let mut journal = Journal::new(plan);
    let report = Executor::new(cluster.clone(), workloads)
        .with_config(f.executor_config())
        .run(&mut journal)
        .await?;
    check(report.result == RunResult::Succeeded, || {
        format!("{strategy}: {:?}", report.error)
    })?;
    let end = cluster.describe().await?;
    check(
        end.control_plane.minor() == 32 && end.node_pools.iter().all(|p| p.version.minor() == 32),
        || format!("ended at {end:?}"),
    )
}

/// Every scenario, for one provider.
pub async fn run_all(f: &dyn Fixture, provider: Provider) -> Result<()> {
    describe_matches_the_spec(f, provider).await?;
    control_plane_upgrade_completes(f, provider).await?;
    skipping_a_minor_is_refused(f, provider).await?;
    pool_newer_than_control_plane_is_refused(f, provider).await?;
    unknown_pool_is_not_found(f, provider).await?;
    same_token_starts_one_operation(f, provider).await?;
    for strategy in [Strategy::InPlace, Strategy::BlueGreen, Strategy::Canary] {
        full_upgrade(f, provider, strategy).await?;
    }
    Ok(())
}
