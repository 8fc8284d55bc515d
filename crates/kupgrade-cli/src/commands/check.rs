//! `kupgrade check`: the in-cluster pre-upgrade checks (`KUP-KUBE-*`) against a live cluster
//! reached through a kubeconfig, for every hop from its version to `--to`.
//!
//! Exit codes: 0 nothing blocks, 3 something blocks, 1 the checks could not run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kupgrade_core::KubeVersion;
use kupgrade_core::checks::{Finding, Severity, Subject};
use kupgrade_kube::KubeWorkloads;
use kupgrade_kube::checks::{ClusterFacts, run_checks};
use kupgrade_kube::kubelet_flags::NodeConfigSource;
use serde::Serialize;

use crate::commands::plan::parse_version;
use crate::output::{Output, json};
use crate::report::findings_text;

/// Arguments of `kupgrade check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Kubeconfig (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long)]
    context: Option<String>,
    /// Target minor version, e.g. 1.32.
    #[arg(long = "to", value_parser = parse_version)]
    to: KubeVersion,
    /// Node bootstrap configuration to search for deprecated and removed kubelet flags
    /// (KUP-KUBE-014), a file or a folder, repeatable: EKS user data (also base64 as EC2 returns
    /// it), nodeadm NodeConfig, kubeadm configs, systemd units, Terraform and eksctl files.
    #[arg(long = "node-config", value_name = "PATH")]
    node_config: Vec<PathBuf>,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    id: &'a str,
    severity: Severity,
    message: &'a str,
    subject: &'a Subject,
    #[serde(skip_serializing_if = "Option::is_none")]
    hop: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct JsonReport<'a> {
    findings: Vec<JsonFinding<'a>>,
}

/// Runs the checks.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let node_configs = NodeConfigSource::read_paths(&args.node_config)?;
    let (current, findings) = crate::runner::live_runtime()?.block_on(async {
        let kube =
            KubeWorkloads::from_kubeconfig(args.kubeconfig.as_deref(), args.context.as_deref(), None).await?;
        let current = kube.server_version().await?;
        let mut facts = ClusterFacts::gather(kube.client()).await?;
        facts.node_configs.extend(node_configs);
        anyhow::Ok((current.clone(), run_checks(&facts, &current, &args.to)))
    })?;
    if args.to.minor_version() < current.minor_version() {
        anyhow::bail!(
            "cannot check a downgrade: the cluster runs {current}, --to {} is older",
            args.to
        );
    }
    match args.output {
        Output::Json => print!("{}", json(&to_json(&findings))?),
        Output::Text | Output::Markdown => {
            println!("Cluster at {current}, checking every hop to {}", args.to);
            print!("{}", findings_text(&findings));
        }
    }
    let blocked = findings.iter().any(|f| f.severity == Severity::Blocker);
    Ok(ExitCode::from(if blocked { 3 } else { 0 }))
}

/// The `check` JSON shape of findings, shared with `verify`.
pub(crate) fn to_json(findings: &[Finding]) -> JsonReport<'_> {
    JsonReport {
        findings: findings
            .iter()
            .map(|f| JsonFinding {
                id: &f.id,
                severity: f.severity,
                message: &f.message,
                subject: &f.subject,
                hop: f.hop.as_ref().map(ToString::to_string),
            })
            .collect(),
    }
}
