//! `kupgrade check`: the pre-upgrade checks for every hop from the cluster's version to `--to`;
//! changes nothing.
//!
//! With a kubeconfig only, the in-cluster checks (`KUP-KUBE-*`). With `--provider` and its
//! flags, the upgrade is planned as `kupgrade upgrade` would plan it and every pre-flight check
//! runs: versions, skew and support (`KUP-SKEW-*`, `KUP-EOS-*`, ...), the provider's own
//! (EKS upgrade insights, GKE auto-upgrade, AKS blockers), drains and health through the
//! kubeconfig, and the in-cluster checks, with kubelet flags also searched in the provider's
//! node configuration (EKS launch-template user data).
//!
//! Exit codes: 0 nothing blocks, 3 something blocks, 1 the checks could not run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use kupgrade_core::checks::{Finding, Severity, Subject};
use kupgrade_core::{CheckRegistry, DeprecatedApi, KubeVersion, NodeConfigSource};
use kupgrade_kube::KubeWorkloads;
use kupgrade_kube::checks::{
    ClusterFacts, register_kubelet_flag_check, register_with_node_configs, run_checks,
};
use kupgrade_kube::kubelet_flags;
use kupgrade_sim::{SimCluster, SimStore};
use serde::Serialize;

use crate::commands::plan::PlanFlags;
use crate::output::{Output, json};
use crate::providers::{self, ClusterArgs, ProviderArg};
use crate::report::findings_text;
use crate::runner::{Checked, live_runtime, simulated_runtime};

/// Arguments of `kupgrade check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The cluster: --kubeconfig/--context alone for the in-cluster checks, or --provider and
    /// its flags for every pre-flight check of the planned upgrade.
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    plan: PlanFlags,
    /// Node bootstrap configuration to search for deprecated and removed kubelet flags
    /// (KUP-KUBE-014), a file or a folder, repeatable: EKS user data (also base64 or gzip, as EC2
    /// and Terraform store it), nodeadm NodeConfig, kubeadm configs, systemd units, Terraform and
    /// eksctl files.
    #[arg(long = "node-config", value_name = "PATH")]
    node_config: Vec<PathBuf>,
    /// Accept a target the provider offers as a preview only (not supported for production):
    /// it is then a warning instead of a blocker. Needs --provider.
    #[arg(long, requires = "provider")]
    allow_preview: bool,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Also write a report: Markdown, or JUnit XML of the checks when FILE ends in .xml.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    id: &'a str,
    severity: Severity,
    message: &'a str,
    subject: &'a Subject,
    #[serde(skip_serializing_if = "Option::is_none")]
    hop: Option<String>,
    /// For a deprecated-API finding: the API (group, version, resource, removal).
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<&'a DeprecatedApi>,
}

#[derive(Serialize)]
pub(crate) struct JsonReport<'a> {
    findings: Vec<JsonFinding<'a>>,
}

/// Runs the checks.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let node_configs = kubelet_flags::read_paths(&args.node_config)?;
    let to = &args.plan.to;
    let findings = match args.cluster.provider {
        None => {
            let (current, findings) = in_cluster(&args, node_configs)?;
            if args.output != Output::Json {
                println!("Cluster at {current}, checking every hop to {to}");
            }
            if let Some(path) = &args.report {
                let checks: Vec<_> = kupgrade_kube::checks::all()
                    .into_iter()
                    .map(|c| (c.id, c.description))
                    .collect();
                let title = format!("Pre-upgrade checks from {current} to {to}");
                let input = kupgrade_core::report::ReportInput {
                    title: &title,
                    plan: None,
                    findings: &findings,
                    checks: &checks,
                    run: None,
                };
                crate::report_file::write_report(path, &input, "kupgrade-check")?;
            }
            findings
        }
        Some(provider) => {
            let checked = planned(&args, provider, node_configs)?;
            if args.output != Output::Json {
                println!(
                    "Cluster {} ({}) at {}, checking every hop to {to}",
                    checked.plan.cluster, checked.plan.provider, checked.plan.initial.control_plane
                );
            }
            if let Some(path) = &args.report {
                crate::report_file::write_upgrade_report(
                    path,
                    &checked.plan,
                    &checked.findings,
                    &checked.checks,
                    None,
                )?;
            }
            checked.findings
        }
    };
    match args.output {
        Output::Json => print!("{}", json(&to_json(&findings))?),
        Output::Text | Output::Markdown => print!("{}", findings_text(&findings)),
    }
    let blocked = findings.iter().any(|f| f.severity == Severity::Blocker);
    Ok(ExitCode::from(if blocked { 3 } else { 0 }))
}

/// The in-cluster checks through the kubeconfig.
fn in_cluster(
    args: &CheckArgs,
    node_configs: Vec<NodeConfigSource>,
) -> anyhow::Result<(KubeVersion, Vec<Finding>)> {
    let (current, findings) = live_runtime()?.block_on(async {
        let kube = KubeWorkloads::from_kubeconfig(
            args.cluster.kubeconfig.as_deref(),
            args.cluster.context.as_deref(),
            None,
        )
        .await?;
        let current = kube.server_version().await?;
        if args.plan.to.minor_version() < current.minor_version() {
            anyhow::bail!(
                "cannot check a downgrade: the cluster runs {current}, --to {} is older",
                args.plan.to
            );
        }
        let mut facts = ClusterFacts::gather(kube.client()).await?;
        facts.node_configs.extend(node_configs);
        let findings = run_checks(&facts, &current, &args.plan.to);
        anyhow::Ok((current, findings))
    })?;
    Ok((current, findings))
}

/// Every pre-flight check of the planned upgrade of the cluster `--provider` names.
fn planned(
    args: &CheckArgs,
    provider: ProviderArg,
    node_configs: Vec<NodeConfigSource>,
) -> anyhow::Result<Checked> {
    if provider == ProviderArg::Sim {
        let Some(path) = args.cluster.sim_state.clone() else {
            anyhow::bail!("--provider sim needs --sim-state FILE (create one with `kupgrade sim init FILE`)");
        };
        return simulated_runtime()?.block_on(async {
            let state = SimStore::File(path.clone())
                .load()?
                .ok_or_else(|| anyhow::anyhow!("simulator state file {} not found", path.display()))?;
            // Read-only: the simulator is not given the file to write back to.
            let sim = SimCluster::new(state);
            // The simulator has no node configuration of its own; files given are still searched.
            let mut registry = CheckRegistry::builtin();
            register_kubelet_flag_check(&mut registry, node_configs);
            crate::runner::check(
                Arc::new(sim.clone()),
                Arc::new(sim),
                registry,
                &args.plan,
                args.allow_preview,
            )
            .await
        });
    }
    live_runtime()?.block_on(async {
        let cluster = providers::connect(&args.cluster).await?;
        let workloads = providers::workloads(&args.cluster).await?;
        let mut registry = CheckRegistry::builtin();
        register_with_node_configs(
            &mut registry,
            workloads.client().clone(),
            node_configs,
            Some(cluster.clone()),
        );
        crate::runner::check(cluster, workloads, registry, &args.plan, args.allow_preview).await
    })
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
                api: f.api.as_ref(),
            })
            .collect(),
    }
}
