//! Plan, and optionally run, an in-place upgrade of an EKS cluster from your own code.
//!
//! ```text
//! # credentials and region from the AWS chains (env, ~/.aws with AWS_PROFILE, SSO, IMDS, ...)
//! cargo run -p kupgrade-examples --example eks_upgrade -- --cluster prod 1.32            # plan
//! cargo run -p kupgrade-examples --example eks_upgrade -- --cluster prod 1.32 --execute  # run
//!
//! # against moto_server (python3 -m venv .venv && .venv/bin/pip install 'moto[server]')
//! .venv/bin/moto_server -p 5000 &
//! AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test cargo run -p kupgrade-examples \
//!     --example eks_upgrade -- --cluster demo --region us-east-1 --endpoint-url http://127.0.0.1:5000
//! ```
//!
//! Planning only reads (and shows EKS upgrade insights). `--execute` runs the plan with the
//! core executor: control plane one minor at a time, managed add-ons after each hop, then each
//! node group in place with EKS's own rolling update; progress is journaled to
//! `eks-<cluster>.journal.json`, so running the same command again resumes. Blue/green and
//! canary plans need the in-cluster side (cordon, drain, health gates): use
//! `kupgrade upgrade --provider eks` for those. moto does not implement the version-update
//! calls, so `--execute` against moto stops at the first step with a clear error.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use async_trait::async_trait;
use kupgrade_core::render::render_text;
use kupgrade_core::workloads::{DrainBlocker, Eviction, HealthSnapshot, Pod, PodRef};
use kupgrade_core::{
    ClusterWorkloads, Error, Event, Executor, Journal, KubeVersion, ManagedCluster, Node, PlanOptions,
    Strategy, plan_with,
};
use kupgrade_eks::EksClusterBuilder;

/// In-place EKS upgrades never touch nodes themselves (EKS drains them); anything that would
/// is refused with a pointer to the CLI.
#[derive(Debug)]
struct NoInClusterAccess;

fn refuse<T>() -> kupgrade_core::Result<T> {
    Err(Error::InvalidInput(
        "this example has no in-cluster access; use `kupgrade upgrade --provider eks` for blue/green and canary".into(),
    ))
}

#[async_trait]
impl ClusterWorkloads for NoInClusterAccess {
    async fn nodes(&self, _pool: &str) -> kupgrade_core::Result<Vec<Node>> {
        refuse()
    }
    async fn set_unschedulable(&self, _node: &str, _unschedulable: bool) -> kupgrade_core::Result<()> {
        refuse()
    }
    async fn pods_on(&self, _node: &str) -> kupgrade_core::Result<Vec<Pod>> {
        refuse()
    }
    async fn evict(&self, _pod: &PodRef) -> kupgrade_core::Result<Eviction> {
        refuse()
    }
    async fn delete_pod(&self, _pod: &PodRef) -> kupgrade_core::Result<()> {
        refuse()
    }
    async fn drain_preview(&self, _nodes: &[String]) -> kupgrade_core::Result<Vec<DrainBlocker>> {
        refuse()
    }
    async fn health(&self) -> kupgrade_core::Result<HealthSnapshot> {
        refuse()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut builder, mut target, mut execute) = (EksClusterBuilder::from_env(), None, false);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--cluster" => builder = builder.with_cluster_name(value("--cluster")?),
            "--region" => builder = builder.with_region(value("--region")?),
            "--profile" => builder = builder.with_profile(value("--profile")?),
            "--endpoint-url" => builder = builder.with_endpoint_url(value("--endpoint-url")?),
            "--execute" => execute = true,
            flag if flag.starts_with("--") => bail!(
                "unknown flag {flag}; usage: eks_upgrade --cluster NAME [--region R] [--profile P] [--endpoint-url URL] [TARGET] [--execute]"
            ),
            version => target = Some(KubeVersion::parse(version)?),
        }
    }
    let cluster = builder.build().await?;
    let snapshot = cluster
        .describe()
        .await
        .with_context(|| format!("cannot read EKS cluster '{}'", cluster.cluster_name()))?;
    let target = target.unwrap_or_else(|| snapshot.control_plane.next_minor());
    let plan = plan_with(
        &snapshot,
        &target,
        &PlanOptions::new(snapshot.provider, Strategy::InPlace).with_managed_addons(true),
    )?;
    print!("{}", render_text(&plan));
    match cluster.insights_check().findings(!plan.hops().is_empty()).await {
        Ok(findings) if findings.is_empty() => println!("EKS upgrade insights: nothing to fix."),
        Ok(findings) => {
            for f in findings {
                println!("[{}] {}: {}", f.severity, f.id, f.message);
            }
        }
        Err(e) => println!("EKS upgrade insights unavailable: {e}"),
    }
    if !execute {
        println!("(plan only; add --execute to run it)");
        return Ok(());
    }

    let journal_path = PathBuf::from(format!("eks-{}.journal.json", cluster.cluster_name()));
    let mut journal = match Journal::load(&journal_path)? {
        Some(j) if j.plan.target == plan.target => {
            println!("resuming the run recorded in {}", journal_path.display());
            j
        }
        _ => Journal::new(plan),
    };
    let executor = Executor::new(Arc::new(cluster), Arc::new(NoInClusterAccess))
        .with_journal_path(&journal_path)
        .with_events(Arc::new(|e: &Event| match e {
            Event::StepStarted {
                index,
                total,
                description,
            } => {
                println!("[{}/{total}] {description}", index + 1)
            }
            Event::OperationStarted { operation, .. } => println!("      started {operation}"),
            Event::OperationResumed { operation, .. } => println!("      waiting on running {operation}"),
            Event::Retrying {
                what,
                error,
                delay_secs,
            } => {
                println!("      {what}: {error}; retrying in {delay_secs}s")
            }
            Event::StepSkipped { reason, .. } => println!("      skipped: {reason}"),
            _ => {}
        }));
    let report = executor.run(&mut journal).await?;
    match report.error {
        None => println!("done: {:?}", report.result),
        Some(error) => bail!("the run stopped: {error} (rerun the same command to resume)"),
    }
    Ok(())
}
