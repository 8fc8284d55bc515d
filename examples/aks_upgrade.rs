//! Plan, and optionally run, an in-place upgrade of a real AKS cluster from your own code.
//!
//! ```text
//! export AZURE_SUBSCRIPTION_ID=... AZURE_RESOURCE_GROUP=... AKS_CLUSTER=...
//! az login    # or a client secret / workload identity / managed identity
//! cargo run -p kupgrade-examples --example aks_upgrade -- 1.32             # plan only
//! cargo run -p kupgrade-examples --example aks_upgrade -- 1.32 --execute   # run it
//! ```
//!
//! The session plans the path (control plane one minor at a time with control-plane-only PUTs,
//! then each pool in place with AKS's own surge and drain) and runs the pre-flight checks that
//! need no Kubernetes API: skew at every hop, the support calendar, what AKS offers in the
//! location (previews are refused), an auto-upgrade channel that would race the plan.
//! `--execute` runs it, journaled to `aks-<cluster>.journal.json` (the same command resumes).
//! Blue/green and canary need the in-cluster side (`Upgrade::with_workloads`, as `kupgrade
//! upgrade --provider aks` gives it).

use std::sync::Arc;

use anyhow::bail;
use kupgrade_aks::AksClusterBuilder;
use kupgrade_core::render::render_text;
use kupgrade_core::{Event, KubeVersion, PrepareOptions, Strategy, Upgrade};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let execute = args.iter().any(|a| a == "--execute");
    let Some(target) = args.iter().find(|a| !a.starts_with("--")) else {
        bail!("usage: aks_upgrade <target, e.g. 1.32> [--execute]");
    };
    let target = KubeVersion::parse(target)?;

    let cluster = AksClusterBuilder::from_env().build()?;
    let journal = format!("aks-{}.journal.json", cluster.name());
    let mut prepared = Upgrade::new(Arc::new(cluster))
        .with_journal_until_done(journal)
        .with_events(Arc::new(|e: &Event| {
            if let Event::StepStarted {
                index,
                total,
                description,
            } = e
            {
                println!("[{}/{total}] {description}", index + 1);
            }
        }))
        .prepare(
            &target,
            &PrepareOptions::new(Strategy::InPlace).with_dry_run(!execute),
        )
        .await?;
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
