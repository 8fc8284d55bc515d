//! Plan, and optionally run, an in-place upgrade of an EKS cluster from your own code.
//!
//! ```text
//! # credentials and region from the AWS chains (env, ~/.aws with AWS_PROFILE, SSO, IMDS, ...)
//! cargo run -p kupgrade-examples --example eks_upgrade -- --cluster prod 1.32            # plan
//! cargo run -p kupgrade-examples --example eks_upgrade -- --cluster prod 1.32 --execute  # run
//! ```
//!
//! The session plans the path (control plane one minor at a time, managed add-ons after each
//! hop, then each node group in place with EKS's own rolling update) and runs every pre-flight
//! check it can without the cluster's Kubernetes API (skew, support calendar, what EKS offers,
//! EKS upgrade insights). `--execute` runs it, journaled to `eks-<cluster>.journal.json`: the
//! same command resumes, and a journal written for another target is refused. Blue/green and
//! canary need the in-cluster side (`Upgrade::with_workloads`, as `kupgrade upgrade --provider
//! eks` gives it).

use std::sync::Arc;

use anyhow::{Context, bail};
use kupgrade_core::render::render_text;
use kupgrade_core::{Event, KubeVersion, ManagedCluster, PrepareOptions, Strategy, Upgrade};
use kupgrade_eks::EksClusterBuilder;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut builder, mut target, mut execute) = (EksClusterBuilder::from_env(), None, false);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--cluster" => builder = builder.with_cluster(value("--cluster")?),
            "--region" => builder = builder.with_region(value("--region")?),
            "--profile" => builder = builder.with_profile(value("--profile")?),
            "--endpoint-url" => builder = builder.with_endpoint(value("--endpoint-url")?),
            "--execute" => execute = true,
            flag if flag.starts_with("--") => bail!(
                "unknown flag {flag}; usage: eks_upgrade --cluster NAME [--region R] [--profile P] [--endpoint-url URL] [TARGET] [--execute]"
            ),
            version => target = Some(KubeVersion::parse(version)?),
        }
    }
    let cluster = builder.build().await?;
    let name = cluster.name().to_string();
    let target = match target {
        Some(t) => t,
        None => cluster.describe().await?.control_plane.next_minor(),
    };
    let mut prepared = Upgrade::new(Arc::new(cluster))
        .with_journal_until_done(format!("eks-{name}.journal.json"))
        .with_events(Arc::new(|e: &Event| match e {
            Event::StepStarted {
                index,
                total,
                description,
            } => println!("[{}/{total}] {description}", index + 1),
            Event::OperationStarted { operation, .. } => println!("      started {operation}"),
            Event::Retrying {
                what,
                error,
                delay_secs,
            } => println!("      {what}: {error}; retrying in {delay_secs}s"),
            _ => {}
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
