//! Plan, and optionally run, an upgrade of a real GKE cluster from your own code.
//!
//! ```text
//! export GOOGLE_CLOUD_PROJECT=my-project KUPGRADE_GKE_LOCATION=europe-west1 KUPGRADE_GKE_CLUSTER=prod
//! gcloud auth application-default login
//! cargo run -p kupgrade-examples --example gke_upgrade -- 1.32                          # plan only
//! cargo run -p kupgrade-examples --example gke_upgrade -- 1.32 --execute                # surge
//! cargo run -p kupgrade-examples --example gke_upgrade -- 1.32 --execute --blue-green   # GKE native blue/green
//! ```
//!
//! Planning only reads (`get_cluster`, `get_server_config`, `fetch_cluster_upgrade_info`).
//! `--execute` drives the [`ManagedCluster`] trait step by step: the control plane one minor at
//! a time (`update_master`), then each pool in place (`update_node_pool`) with surge settings or,
//! with `--blue-green`, GKE's own blue/green upgrade, polling `get_operation` until `DONE`.
//! kupgrade's blue/green and canary strategies need the in-cluster side (cordon, drain, health
//! gates); run those with `kupgrade upgrade --provider gke`, which journals and resumes.

use std::time::Duration;

use anyhow::{Context, bail};
use kupgrade_core::render::render_text;
use kupgrade_core::{
    KubeVersion, ManagedCluster, OperationState, PlanOptions, PollPolicy, RequestToken, Step, Strategy,
    plan_with,
};
use kupgrade_gke::{BlueGreen, GkeClusterBuilder, PoolUpgradeStrategy};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let execute = args.iter().any(|a| a == "--execute");
    let strategy = if args.iter().any(|a| a == "--blue-green") {
        PoolUpgradeStrategy::BlueGreen(BlueGreen {
            pool_soak: Duration::from_secs(10 * 60),
            ..BlueGreen::default()
        })
    } else {
        PoolUpgradeStrategy::Surge
    };
    let Some(target) = args.iter().find(|a| !a.starts_with("--")) else {
        bail!("usage: gke_upgrade <target, e.g. 1.32> [--execute] [--blue-green]");
    };
    let target = KubeVersion::parse(target)?;

    let cluster = GkeClusterBuilder::from_env()
        .node_pool_strategy(strategy)
        .build()
        .await?;
    let snapshot = cluster
        .describe()
        .await
        .with_context(|| format!("cannot read GKE cluster '{}'", cluster.cluster()))?;
    let offered = cluster.offered_versions().await?;
    if !offered.iter().any(|o| o.version.same_minor(&target)) {
        let list: Vec<String> = offered.iter().map(|o| o.version.to_string()).collect();
        bail!(
            "GKE offers no {target} for this cluster; offered: {}",
            list.join(", ")
        );
    }
    let plan = plan_with(
        &snapshot,
        &target,
        &PlanOptions::new(snapshot.provider, Strategy::InPlace),
    )?;
    // The rendering also warns when GKE could auto-upgrade under the plan.
    print!("{}", render_text(&plan));
    if !execute {
        println!("(plan only; add --execute to run it)");
        return Ok(());
    }

    let run_id = format!("gke-example-{}", std::process::id());
    let poll = PollPolicy::default();
    let events = kupgrade_core::events::discard();
    for (index, step) in plan.steps.iter().enumerate() {
        let token = RequestToken(format!("{run_id}-{index}"));
        let id = match step {
            Step::UpgradeControlPlane { to, .. } => {
                poll.retry("upgrade control plane", &events, || {
                    cluster.upgrade_control_plane(to, &token)
                })
                .await?
            }
            Step::UpgradeNodePool { node_pool, to, .. } => {
                let rollout = snapshot
                    .pool(node_pool)
                    .map(|p| p.rollout.clone())
                    .unwrap_or_default();
                poll.retry("upgrade node pool", &events, || {
                    cluster.upgrade_node_pool(node_pool, to, &rollout, false, &token)
                })
                .await?
            }
            Step::Gate { check, .. } => {
                println!(
                    "step {}: gate '{check}' not checked here (it needs kubeconfig access; `kupgrade upgrade` runs it)",
                    index + 1
                );
                continue;
            }
            other => bail!("step {other:?} needs the in-cluster side; use `kupgrade upgrade --provider gke`"),
        };
        println!("step {}: waiting for {id}", index + 1);
        let state = poll
            .wait_for("GKE operation", &events, || async {
                let op = cluster.operation(&id).await?;
                if let Some((done, total)) = op.progress {
                    println!("  {id}: {done}/{total} nodes");
                }
                Ok(op.state.is_terminal().then_some(op.state))
            })
            .await?;
        match state {
            OperationState::Succeeded => println!("step {} done", index + 1),
            other => bail!("step {} ended {other:?}", index + 1),
        }
    }
    let end = cluster.describe().await?;
    println!("control plane now {}", end.control_plane);
    Ok(())
}
