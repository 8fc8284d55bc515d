//! Plan, and optionally run, an in-place upgrade of a real AKS cluster from your own code.
//!
//! ```text
//! export AZURE_SUBSCRIPTION_ID=... AZURE_RESOURCE_GROUP=... AKS_CLUSTER=...
//! az login    # or a client secret / workload identity / managed identity
//! cargo run -p kupgrade-examples --example aks_upgrade -- 1.32             # plan only
//! cargo run -p kupgrade-examples --example aks_upgrade -- 1.32 --execute   # run it
//! ```
//!
//! Planning only reads. `--execute` drives the [`ManagedCluster`] trait step by step: control
//! plane one minor at a time (control-plane-only PUTs), then each pool in place with AKS's own
//! surge/drain, waiting on every ARM long-running operation at the pace of its `Retry-After`.
//! Blue/green and canary plans need the in-cluster side (cordon, drain, health gates); run
//! those with `kupgrade upgrade --provider aks`, which journals and resumes.

use std::time::Duration;

use anyhow::{Context, bail};
use kupgrade_aks::AksClusterBuilder;
use kupgrade_core::render::render_text;
use kupgrade_core::{
    KubeVersion, ManagedCluster, OperationState, PlanOptions, RequestToken, Step, Strategy, plan_with,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let execute = args.iter().any(|a| a == "--execute");
    let Some(target) = args.iter().find(|a| !a.starts_with("--")) else {
        bail!("usage: aks_upgrade <target, e.g. 1.32> [--execute]");
    };
    let target = KubeVersion::parse(target)?;

    let cluster = AksClusterBuilder::from_env().build()?;
    let snapshot = cluster.describe().await.context("cannot read the AKS cluster")?;
    if let Some(channel) = &snapshot.auto_upgrade {
        bail!(
            "cluster '{}' is on the auto-upgrade channel '{channel}'; AKS allows no manual control-plane-only \
             upgrades then (az aks update --auto-upgrade-channel none)",
            snapshot.name
        );
    }
    let plan = plan_with(
        &snapshot,
        &target,
        &PlanOptions::new(snapshot.provider, Strategy::InPlace),
    )?;
    print!("{}", render_text(&plan));
    if !execute {
        println!("(plan only; add --execute to run it)");
        return Ok(());
    }

    let run_id = format!("aks-example-{}", std::process::id());
    for (index, step) in plan.steps.iter().enumerate() {
        let token = RequestToken(format!("{run_id}-{index}"));
        let id = match step {
            Step::UpgradeControlPlane { to, .. } => cluster.upgrade_control_plane(to, &token).await?,
            Step::UpgradeNodePool { node_pool, to, .. } => {
                let rollout = snapshot
                    .pool(node_pool)
                    .map(|p| p.rollout.clone())
                    .unwrap_or_default();
                cluster
                    .upgrade_node_pool(node_pool, to, &rollout, false, &token)
                    .await?
            }
            Step::Gate { check, .. } => {
                println!(
                    "step {}: gate '{check}' not checked here (it needs kubeconfig access; `kupgrade upgrade` runs it)",
                    index + 1
                );
                continue;
            }
            other => bail!("step {other:?} needs the in-cluster side; use `kupgrade upgrade --provider aks`"),
        };
        println!("step {}: waiting for {id}", index + 1);
        match cluster
            .wait(&id, Duration::from_secs(30), Duration::from_secs(6 * 3600))
            .await?
        {
            OperationState::Succeeded => println!("step {} done", index + 1),
            other => bail!("step {} ended {other:?}", index + 1),
        }
    }
    let end = cluster.describe().await?;
    println!("control plane now {}", end.control_plane);
    Ok(())
}
