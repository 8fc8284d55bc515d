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
//! The session plans the path (the control plane one minor at a time, then each pool in place,
//! with surge settings or, with `--blue-green`, GKE's own blue/green upgrade) and runs the
//! pre-flight checks that need no Kubernetes API: skew at every hop, the support calendar, the
//! versions GKE offers, GKE deprecation insights (Recommender API), auto-upgrades that could
//! race the plan. `--execute` runs it, journaled to `gke-<cluster>.journal.json` (the same
//! command resumes). kupgrade's own blue/green and canary need the in-cluster side
//! (`Upgrade::with_workloads`, as `kupgrade upgrade --provider gke` gives it).

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use kupgrade_core::render::render_text;
use kupgrade_core::{Event, KubeVersion, PrepareOptions, Strategy, Upgrade};
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
        .with_node_pool_strategy(strategy)
        .build()
        .await?;
    let journal = format!("gke-{}.journal.json", cluster.name());
    let mut prepared = Upgrade::new(Arc::new(cluster))
        .with_journal_until_done(journal)
        .with_events(Arc::new(|e: &Event| match e {
            Event::StepStarted {
                index,
                total,
                description,
            } => println!("[{}/{total}] {description}", index + 1),
            Event::Progress { done, total, .. } => println!("      {done}/{total} nodes"),
            _ => {}
        }))
        .prepare(
            &target,
            &PrepareOptions::new(Strategy::InPlace).with_dry_run(!execute),
        )
        .await?;
    // The rendering also warns when GKE could auto-upgrade under the plan.
    print!("{}", render_text(prepared.plan()));
    for f in prepared.findings() {
        println!("[{}] {}: {}", f.severity, f.id, f.message);
    }
    if !execute {
        println!("(plan only; add --execute to run it)");
        return Ok(());
    }
    let report = prepared.run().await?;
    match report.error {
        None => println!("done: {:?}", report.result),
        Some(error) => bail!("the run stopped: {error} (rerun the same command to resume)"),
    }
    Ok(())
}
