//! `kupgrade verify`: the post-upgrade checks against a live cluster reached through a
//! kubeconfig: every node at the target, nothing healthy became unhealthy (against a baseline
//! saved before the upgrade, or everything unhealthy when there is none), the user's own check
//! commands, and on request an API smoke test and kube-bench.
//!
//! Exit codes: 0 nothing blocks, 3 something blocks, 1 the checks could not run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use kupgrade_core::checks::Severity;
use kupgrade_core::{ClusterWorkloads, HealthSnapshot, KubeVersion};
use kupgrade_kube::KubeWorkloads;
use kupgrade_kube::bench_security::{KubeBenchOptions, run_kube_bench};
use kupgrade_kube::smoke::{SmokeOptions, api_smoke, compare_health, nodes_at_target, run_hook};

use crate::commands::check::to_json;
use crate::output::{Output, json};
use crate::plan_flags::parse_target;
use crate::report::findings_text;

/// Arguments of `kupgrade verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Kubeconfig (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long)]
    context: Option<String>,
    /// The version every node must run now, e.g. 1.32.
    #[arg(long = "to", value_parser = parse_target)]
    to: KubeVersion,
    /// A check command whose exit code is the verdict (e.g. `k6 run smoke.js`); repeatable.
    #[arg(long = "check-cmd")]
    check_cmds: Vec<String>,
    /// How long each check command may run, in seconds.
    #[arg(long, default_value_t = 600)]
    check_timeout: u64,
    /// Health before the upgrade, as saved by `--save-baseline`: only what got worse is reported.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Save the cluster's health now, to compare after the upgrade (run this before it).
    #[arg(long)]
    save_baseline: Option<PathBuf>,
    /// Also run the API smoke test: a pod, a service and a PVC in a temporary namespace.
    #[arg(long)]
    smoke: bool,
    /// With --smoke: skip the PVC (clusters without a default StorageClass).
    #[arg(long)]
    no_pvc: bool,
    /// Also run kube-bench as a Job and report its failures (KUP-SEC-001).
    #[arg(long)]
    kube_bench: bool,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// Runs the post-upgrade checks.
pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let baseline: HealthSnapshot = match &args.baseline {
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("cannot read baseline {}", path.display()))?,
        )
        .with_context(|| {
            format!(
                "{} is not a health baseline saved by --save-baseline",
                path.display()
            )
        })?,
        None => HealthSnapshot::default(),
    };
    let findings = crate::runner::live_runtime()?.block_on(async {
        let kube =
            KubeWorkloads::from_kubeconfig(args.kubeconfig.as_deref(), args.context.as_deref(), None).await?;
        let health = kube.health().await?;
        if let Some(path) = &args.save_baseline {
            std::fs::write(path, serde_json::to_vec_pretty(&health)?)
                .with_context(|| format!("cannot write baseline {}", path.display()))?;
            eprintln!("health baseline written to {}", path.display());
        }
        let mut findings = nodes_at_target(&kube.all_nodes().await?, &args.to);
        findings.extend(compare_health(&baseline, &health));
        for command in &args.check_cmds {
            let outcome = run_hook(command, Duration::from_secs(args.check_timeout)).await?;
            findings.extend(outcome.finding());
        }
        if args.smoke {
            let options = SmokeOptions {
                pvc: !args.no_pvc,
                ..SmokeOptions::default()
            };
            findings.extend(api_smoke(kube.client(), &options).await?);
        }
        if args.kube_bench {
            findings.extend(run_kube_bench(kube.client(), &KubeBenchOptions::default()).await?);
        }
        anyhow::Ok(findings)
    })?;
    match args.output {
        Output::Json => print!("{}", json(&to_json(&findings))?),
        Output::Text | Output::Markdown => {
            println!("Post-upgrade checks at {}", args.to);
            print!(
                "{}",
                findings_text(&findings).replace("Pre-flight checks", "Post-upgrade checks")
            );
        }
    }
    let blocked = findings.iter().any(|f| f.severity == Severity::Blocker);
    Ok(ExitCode::from(if blocked { 3 } else { 0 }))
}
