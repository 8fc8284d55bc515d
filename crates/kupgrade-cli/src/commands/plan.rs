//! `kupgrade plan`: offline planning from a state file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use kupgrade_core::render::{render_markdown, render_text};
use kupgrade_core::{KubeVersion, PlanOptions, Strategy, plan_with};

use crate::output::{Output, json};
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
}

/// Parses a version flag.
pub fn parse_version(s: &str) -> Result<KubeVersion, String> {
    KubeVersion::parse(s).map_err(|e| e.to_string())
}

/// Parses a target version flag: a version, and not one older than any provider offers.
pub fn parse_target(s: &str) -> Result<KubeVersion, String> {
    let version = parse_version(s)?;
    kupgrade_core::calendar::check_target_offered_somewhere(&version).map_err(|e| e.to_string())?;
    Ok(version)
}

/// Parses a strategy flag.
pub fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse().map_err(|e: kupgrade_core::Error| e.to_string())
}

/// The flags that shape a plan, shared by `plan` and `upgrade`.
#[derive(Debug, Clone, Args)]
pub struct PlanFlags {
    /// Target minor version, e.g. 1.32.
    #[arg(long = "to", value_parser = parse_target)]
    pub to: KubeVersion,
    /// How node pools are moved: in-place, blue-green or canary.
    #[arg(long, default_value = "in-place", value_parser = parse_strategy)]
    pub strategy: Strategy,
    /// Override how many minors nodes may lag the control plane.
    #[arg(long)]
    pub lag_limit: Option<u32>,
    /// For canary: the pool to move first.
    #[arg(long)]
    pub canary_pool: Option<String>,
    /// For canary: try the new version on a new one-node copy of the canary pool first, and
    /// delete it after its gate (a failed gate is rolled back by deleting it).
    #[arg(long)]
    pub canary_new_pool: bool,
}

impl PlanFlags {
    /// The flags with defaults for everything but the target and strategy.
    pub fn new(to: KubeVersion, strategy: Strategy) -> Self {
        Self {
            to,
            strategy,
            lag_limit: None,
            canary_pool: None,
            canary_new_pool: false,
        }
    }

    /// Refuses options that do not apply to the chosen strategy (they would be ignored).
    pub fn check_applicable(&self) -> anyhow::Result<()> {
        if self.strategy != Strategy::Canary {
            if self.canary_pool.is_some() {
                anyhow::bail!(
                    "--canary-pool applies to --strategy canary only (this run is {})",
                    self.strategy
                );
            }
            if self.canary_new_pool {
                anyhow::bail!(
                    "--canary-new-pool applies to --strategy canary only (this run is {})",
                    self.strategy
                );
            }
        }
        Ok(())
    }

    /// The planner options these flags ask for on `provider`.
    pub fn options(&self, provider: kupgrade_core::Provider) -> PlanOptions {
        self.prepare_options().plan_options(provider)
    }

    /// The session options these flags ask for (target aside).
    pub fn prepare_options(&self) -> kupgrade_core::PrepareOptions {
        kupgrade_core::PrepareOptions::new(self.strategy)
            .with_lag_limit(self.lag_limit)
            .with_canary_pool(self.canary_pool.clone())
            .with_canary_new_pool(self.canary_new_pool)
    }
}

/// Runs `kupgrade plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    args.plan.check_applicable()?;
    if let Some(path) = &args.report {
        crate::report_file::check_writable(path)?;
    }
    let mut managed_addons = false;
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
            managed_addons = cluster.capabilities().managed_addons;
            anyhow::Ok(cluster.describe().await?)
        })?,
    };
    // Live clusters whose provider manages add-ons (EKS) get an add-on step after each hop.
    let options = args
        .plan
        .options(snapshot.provider)
        .with_managed_addons(managed_addons);
    let plan = plan_with(&snapshot, &args.plan.to, &options)?;
    let text = match args.output {
        Output::Text => render_text(&plan),
        Output::Json => json(&plan)?,
        Output::Markdown => render_markdown(&plan),
    };
    print!("{text}");
    if let Some(path) = &args.report {
        write_report(path, &snapshot, &plan)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan report: the plan and the checks that need no cluster access (skew at every hop,
/// support calendar, auto-upgrade).
fn write_report(
    path: &std::path::Path,
    snapshot: &kupgrade_core::ClusterSnapshot,
    plan: &kupgrade_core::UpgradePlan,
) -> anyhow::Result<()> {
    let registry = kupgrade_core::CheckRegistry::offline();
    let calendar = kupgrade_core::Calendar::embedded(snapshot.provider);
    let inputs = kupgrade_core::checks::CheckInputs {
        snapshot,
        calendar: &calendar,
        today: chrono::Utc::now().date_naive(),
        workloads: None,
        in_flight: &[],
        force_drain: false,
        offer: kupgrade_core::Offer::NotRead,
        allow_preview: false,
    };
    let findings = crate::runner::simulated_runtime()?.block_on(registry.run(plan, &inputs))?;
    crate::report_file::write_upgrade_report(path, plan, &findings, &registry.describe(), None)
}
