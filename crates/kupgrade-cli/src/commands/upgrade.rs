//! `kupgrade upgrade`: pre-flight checks, then the plan as a graph (steps side by side where the
//! provider allows), with a journal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use kupgrade_core::CheckRegistry;
use kupgrade_sim::{SimCluster, SimStore};

use crate::output::Output;
use crate::plan_flags::PlanFlags;
use crate::providers::{self, ClusterArgs, ProviderArg};
use crate::runner::{JournalChoice, RunSettings, live_runtime, run as run_flow, simulated_runtime};

/// Arguments of `kupgrade upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    plan: PlanFlags,
    /// Journal file: progress is recorded there; rerun the same command to resume. Default: one
    /// per cluster in $KUPGRADE_JOURNAL_DIR or ~/.local/state/kupgrade/journals (the simulator:
    /// STATE.journal.json beside --sim-state), removed once the run is verified at the target.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Plan again from the cluster as it is now, replacing the journal's plan (after changing
    /// options, or after the cluster was changed by hand).
    #[arg(long)]
    replan: bool,
    /// Simulator only: real milliseconds per progress update, so a run can be followed.
    #[arg(long)]
    pace_ms: Option<u64>,
    /// Show the plan and the checks; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// Delete pods a PodDisruptionBudget protects once the drain timeout passes (destructive).
    #[arg(long)]
    force_drain: bool,
    /// Accept a target the provider offers as a preview only (not supported for production;
    /// without this flag such a target is refused before anything changes).
    #[arg(long)]
    allow_preview: bool,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Also write a report: Markdown, or JUnit XML of the checks when FILE ends in .xml.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Terraform or eksctl files that own this cluster: warn, with the edits that keep them in
    /// step, when they declare other versions than the run leaves.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    iac: Vec<PathBuf>,
    /// An add-on catalog file that extends or overrides the embedded one (live clusters: the
    /// add-on checks and the plan's add-on steps).
    #[arg(long, value_name = "FILE")]
    addons: Option<PathBuf>,
}

impl UpgradeArgs {
    fn settings(&self, simulated: bool, clock: Option<Box<dyn Fn() -> u64>>) -> RunSettings {
        let journal = match (&self.journal, &self.cluster.sim_state) {
            (Some(path), _) => JournalChoice::Given(path.clone()),
            (None, Some(state)) if simulated => {
                let mut name = state.as_os_str().to_os_string();
                name.push(".journal.json");
                JournalChoice::Default(Some(PathBuf::from(name)))
            }
            (None, _) => JournalChoice::Default(None),
        };
        RunSettings {
            plan: self.plan.clone(),
            dry_run: self.dry_run,
            yes: self.yes,
            output: self.output,
            force_drain: self.force_drain,
            allow_preview: self.allow_preview,
            journal,
            replan: self.replan,
            pace: Duration::from_millis(self.pace_ms.unwrap_or(0)),
            simulated,
            clock,
            report: self.report.clone(),
            banner: None,
            cluster_lock: None,
            iac: self.iac.clone(),
            addons: None,
        }
    }
}

/// Runs `kupgrade upgrade`.
pub fn run(args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    args.plan.check_applicable()?;
    if args.pace_ms.is_some() && args.cluster.provider != Some(ProviderArg::Sim) {
        bail!("--pace-ms applies to --provider sim only");
    }
    match args.cluster.provider {
        Some(ProviderArg::Sim) => run_simulated(args),
        _ => live_runtime()?.block_on(async move {
            let cluster = providers::connect(&args.cluster).await?;
            let workloads = providers::workloads(&args.cluster).await?;
            let mut registry = CheckRegistry::builtin();
            // The add-on checks and the plan's add-on steps use what the in-cluster checks
            // read (one read of the cluster).
            let inventory = kupgrade_kube::checks::register_with_node_configs(
                &mut registry,
                workloads.client().clone(),
                Vec::new(),
                Some(cluster.clone()),
            );
            let catalog = crate::addon_catalog::load(args.addons.as_deref())?;
            kupgrade_core::addons::register(&mut registry, catalog.clone(), inventory.clone());
            let mut settings = args.settings(false, None);
            settings.cluster_lock = Some(workloads.clone());
            // What is installed puts add-on steps in the plan; when it cannot be read, the
            // KUP-ADDON-003 check says so and the plan has none.
            settings.addons = inventory
                .installed(&catalog)
                .await
                .ok()
                .map(|installed| kupgrade_core::addons::AddonPlanInput { catalog, installed });
            run_flow(cluster, workloads, registry, settings).await
        }),
    }
}

fn run_simulated(args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    let Some(path) = args.cluster.sim_state.clone() else {
        bail!("--provider sim needs --sim-state FILE (create one with `kupgrade sim init FILE`)");
    };
    if !path.exists() {
        bail!(
            "simulator state file {} not found; create it with `kupgrade sim init {}`",
            path.display(),
            path.display()
        );
    }
    // Held for the run: a second run on the same simulated cluster is refused at once.
    let _state_lock = kupgrade_core::FileLock::acquire(&path)?;
    simulated_runtime()?.block_on(async move {
        let store = SimStore::File(path);
        let state = store
            .load()?
            .ok_or_else(|| anyhow::anyhow!("the simulator state file is empty"))?;
        let sim = match std::env::var("KUPGRADE_SIM_CRASH_AFTER") {
            Ok(n) => {
                let n: u64 = n
                    .parse()
                    .map_err(|_| anyhow::anyhow!("KUPGRADE_SIM_CRASH_AFTER must be a number, got '{n}'"))?;
                SimCluster::crash_after(
                    state,
                    store,
                    n,
                    Arc::new(move || {
                        eprintln!("simulated crash after persisted mutation {n}");
                        std::process::abort();
                    }),
                )
            }
            Err(_) => SimCluster::with_store(state, store),
        };
        let clock = sim.clone();
        let settings = args.settings(true, Some(Box::new(move || clock.now())));
        run_flow(
            Arc::new(sim.clone()),
            Arc::new(sim),
            CheckRegistry::builtin(),
            settings,
        )
        .await
    })
}
