//! `kupgrade check`: the pre-upgrade checks for every hop from the cluster's version to `--to`;
//! changes nothing.
//!
//! With a kubeconfig only, an in-place upgrade of the pools the nodes show (provider from the
//! nodes' `spec.providerID`) is planned and judged by the same registry: core's checks and the
//! in-cluster ones (`KUP-KUBE-*`, `KUP-API-*`), without the provider's offer. With `--provider` and its
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
use kupgrade_core::{CheckRegistry, DeprecatedApi, NodeConfigSource};
use kupgrade_kube::KubeWorkloads;
use kupgrade_kube::checks::{
    ClusterFacts, InPlaceChecks, check_in_place, register_kubelet_flag_check, register_with_node_configs,
};
use kupgrade_kube::kubelet_flags;
use kupgrade_sim::{SimCluster, SimStore};
use serde::Serialize;

use crate::output::{Output, json};
use crate::plan_flags::PlanFlags;
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
    /// Judge support windows as of this date (YYYY-MM-DD) instead of today.
    #[arg(long, value_name = "DATE")]
    today: Option<chrono::NaiveDate>,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// An add-on catalog file (the embedded catalog's schema) that extends or overrides the
    /// embedded one for the add-on checks (KUP-ADDON-*).
    #[arg(long, value_name = "FILE")]
    addons: Option<PathBuf>,
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
    let (checked, header) = match args.cluster.provider {
        None => {
            let checked = in_cluster(&args, node_configs)?;
            let header = format!(
                "Cluster at {} ({} nodes, pools read from their labels), checking every hop to {to}",
                checked.plan.initial.control_plane, checked.plan.provider
            );
            (checked, header)
        }
        Some(provider) => {
            let checked = planned(&args, provider, node_configs)?;
            let header = format!(
                "Cluster {} ({}) at {}, checking every hop to {to}",
                checked.plan.cluster, checked.plan.provider, checked.plan.initial.control_plane
            );
            (checked, header)
        }
    };
    if args.output != Output::Json {
        println!("{header}");
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
    let findings = checked.findings;
    match args.output {
        Output::Json => print!("{}", json(&to_json(&findings))?),
        Output::Text | Output::Markdown => print!("{}", findings_text(&findings)),
    }
    let blocked = findings.iter().any(|f| f.severity == Severity::Blocker);
    Ok(ExitCode::from(if blocked { 3 } else { 0 }))
}

/// Every check of an in-place upgrade planned from what the kubeconfig shows.
fn in_cluster(args: &CheckArgs, node_configs: Vec<NodeConfigSource>) -> anyhow::Result<Checked> {
    live_runtime()?.block_on(async {
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
        let Some(provider) = facts.provider() else {
            anyhow::bail!(
                "cannot tell which provider runs this cluster: no node has an aws://, azure:// or gce:// spec.providerID; pass --provider with the cluster's settings"
            );
        };
        let name = args.cluster.context.as_deref().unwrap_or("the kubeconfig's cluster");
        let snapshot = facts.snapshot(name, current, provider);
        let today = args.today.unwrap_or_else(|| chrono::Utc::now().date_naive());
        let workloads: &dyn kupgrade_core::ClusterWorkloads = &kube;
        let catalog = crate::addon_catalog::load(args.addons.as_deref())?;
        let InPlaceChecks {
            plan, findings, checks, ..
        } = check_in_place(facts, snapshot, &args.plan.to, Some(workloads), today, catalog).await?;
        Ok(Checked {
            plan,
            findings: crate::hints::findings_with_advice(&findings),
            checks,
        })
    })
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
                args.today,
            )
            .await
        });
    }
    live_runtime()?.block_on(async {
        let cluster = providers::connect(&args.cluster).await?;
        let workloads = providers::workloads(&args.cluster).await?;
        let mut registry = CheckRegistry::builtin();
        // The add-on checks judge what the in-cluster checks read (one read of the cluster).
        let inventory = register_with_node_configs(
            &mut registry,
            workloads.client().clone(),
            node_configs,
            Some(cluster.clone()),
        );
        kupgrade_core::addons::register(
            &mut registry,
            crate::addon_catalog::load(args.addons.as_deref())?,
            inventory,
        );
        crate::runner::check(
            cluster,
            workloads,
            registry,
            &args.plan,
            args.allow_preview,
            args.today,
        )
        .await
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
