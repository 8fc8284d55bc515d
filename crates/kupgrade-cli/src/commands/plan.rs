//! `kupgrade plan`: offline planning from a state file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kupgrade_core::render::{render_markdown, render_text};
use kupgrade_core::{Strategy, plan_with};

use crate::output::{Output, json};
use crate::plan_flags::PlanFlags;
use crate::providers::{self, ClusterArgs, ProviderArg};
use crate::state_file;

/// Arguments of `kupgrade plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Cluster state file (YAML or JSON): provider, name, control_plane, node_pools.
    /// Plans offline; without it, --provider names a live cluster.
    #[arg(long, conflicts_with = "provider")]
    state: Option<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    plan: PlanFlags,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Also write a report with the checks that need no cluster access, per hop: Markdown, or
    /// JUnit XML when FILE ends in .xml.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Terraform or eksctl files that own this cluster: warn, with the edits that keep them in
    /// step, when they declare other versions than the plan leaves.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    iac: Vec<PathBuf>,
    /// An add-on catalog file that extends or overrides the embedded one. With a live cluster
    /// and --kubeconfig, the plan gets an `addon` step wherever an installed add-on must move.
    #[arg(long, value_name = "FILE")]
    addons: Option<PathBuf>,
}

/// Runs `kupgrade plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    args.plan.check_applicable()?;
    if let Some(path) = &args.report {
        crate::report_file::check_writable(path)?;
    }
    let mut managed_addons = false;
    let mut installed_addons = None;
    let snapshot = match (&args.state, args.cluster.provider) {
        (Some(path), _) => state_file::read(path)?,
        (None, None) => {
            anyhow::bail!("give --state FILE to plan offline, or --provider and its flags for a live cluster")
        }
        (None, Some(ProviderArg::Sim)) => {
            let path = args
                .cluster
                .sim_state
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("--provider sim needs --sim-state FILE"))?;
            kupgrade_sim::SimStore::File(path.clone())
                .load()?
                .ok_or_else(|| anyhow::anyhow!("simulator state file {} not found", path.display()))?
                .snapshot()
        }
        (None, Some(_)) => crate::runner::live_runtime()?.block_on(async {
            let cluster = providers::connect(&args.cluster).await?;
            managed_addons = cluster.addon_updates().is_some();
            if args.cluster.kubeconfig.is_some() || args.cluster.context.is_some() {
                use kupgrade_core::addons::AddonInventory;
                let catalog = crate::addon_catalog::load(args.addons.as_deref())?;
                let workloads = providers::workloads(&args.cluster).await?;
                match kupgrade_kube::addons::ClusterAddons::live(workloads.client().clone())
                    .installed(&catalog)
                    .await
                {
                    Ok(installed) => {
                        installed_addons = Some(kupgrade_core::addons::AddonPlanInput { catalog, installed });
                    }
                    Err(e) => eprintln!(
                        "note: the cluster's add-ons could not be read ({e}); the plan has no add-on steps (`kupgrade addons` says more)"
                    ),
                }
            }
            anyhow::Ok(cluster.describe().await?)
        })?,
    };
    // Live clusters whose provider manages add-ons (EKS) get an add-on step after each hop.
    let options = args
        .plan
        .options(snapshot.provider)
        .with_managed_addons(managed_addons)
        .with_installed_addons(installed_addons);
    let plan = plan_with(&snapshot, &args.plan.to, &options)?;
    let text = match args.output {
        Output::Text => render_text(&plan) + &strategy_comparison(&snapshot, &args.plan, managed_addons),
        Output::Json => json(&plan)?,
        Output::Markdown => render_markdown(&plan),
    };
    print!("{text}");
    if !args.iac.is_empty()
        && let Some(warning) = crate::commands::iac::drift_warning(&args.iac, &plan)?
    {
        eprint!("{warning}");
    }
    if let Some(path) = &args.report {
        write_report(path, &snapshot, &plan)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `Estimated window by strategy: in-place 1h 01m, blue-green 2h 05m, canary 1h 10m (this
/// plan: in-place).`: the same request planned with each strategy, so a user can compare before
/// choosing.
fn strategy_comparison(
    snapshot: &kupgrade_core::ClusterSnapshot,
    flags: &PlanFlags,
    managed_addons: bool,
) -> String {
    let estimates: Vec<String> = [Strategy::InPlace, Strategy::BlueGreen, Strategy::Canary]
        .into_iter()
        .filter_map(|strategy| {
            let mut other = flags.clone();
            other.strategy = strategy;
            if strategy != Strategy::Canary {
                other.canary_pool = None;
                other.canary_new_pool = false;
            }
            let options = other
                .options(snapshot.provider)
                .with_managed_addons(managed_addons);
            let plan = plan_with(snapshot, &other.to, &options).ok()?;
            let seconds = plan.estimate?.seconds;
            Some(format!("{strategy} {}", crate::progress::duration(seconds)))
        })
        .collect();
    if estimates.is_empty() {
        return String::new();
    }
    format!(
        "Estimated window by strategy: {} (this plan: {}).\n",
        estimates.join(", "),
        flags.strategy
    )
}

/// The plan report: the plan and the checks that need no cluster access.
fn write_report(
    path: &std::path::Path,
    snapshot: &kupgrade_core::ClusterSnapshot,
    plan: &kupgrade_core::UpgradePlan,
) -> anyhow::Result<()> {
    let findings = offline_checks(snapshot, plan)?;
    let checks = kupgrade_core::CheckRegistry::offline().describe();
    crate::report_file::write_upgrade_report(path, plan, &findings, &checks, None)
}

/// The checks that need no cluster access (skew at every hop, support calendar, auto-upgrade)
/// ([`kupgrade_core::CheckRegistry::offline`]) run on `plan`, as of today.
pub(crate) fn offline_checks(
    snapshot: &kupgrade_core::ClusterSnapshot,
    plan: &kupgrade_core::UpgradePlan,
) -> anyhow::Result<Vec<kupgrade_core::Finding>> {
    let registry = kupgrade_core::CheckRegistry::offline();
    let calendar = kupgrade_core::Calendar::embedded(snapshot.provider);
    let inputs =
        kupgrade_core::checks::CheckInputs::offline(snapshot, &calendar, chrono::Utc::now().date_naive());
    Ok(crate::runner::simulated_runtime()?.block_on(registry.run(plan, &inputs))?)
}
