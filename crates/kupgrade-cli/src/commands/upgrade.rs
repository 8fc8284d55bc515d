//! `kupgrade upgrade`: pre-flight checks, then the plan, step by step, with a journal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};
use kupgrade_core::{KubeVersion, Strategy};
use kupgrade_sim::{SimCluster, SimStore};

use crate::commands::plan::{parse_strategy, parse_version};
use crate::output::Output;
use crate::runner::{RunSettings, run as run_flow, simulated_runtime};

/// Which cloud to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// The built-in simulator (needs --sim-state).
    Sim,
    /// Amazon EKS.
    Eks,
    /// Azure AKS.
    Aks,
    /// Google GKE.
    Gke,
}

/// Arguments of `kupgrade upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Where the cluster lives.
    #[arg(long, value_enum)]
    provider: ProviderArg,
    /// Simulator state file (with --provider sim); rewritten after every mutation.
    #[arg(long)]
    sim_state: Option<PathBuf>,
    /// Target minor version, e.g. 1.32.
    #[arg(long = "to", value_parser = parse_version)]
    to: KubeVersion,
    /// How node pools are moved.
    #[arg(long, default_value = "in-place", value_parser = parse_strategy)]
    strategy: Strategy,
    /// Journal file: progress is recorded there; rerun the same command to resume.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Show the plan and the checks; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// Delete pods a PodDisruptionBudget protects once the drain timeout passes (destructive).
    #[arg(long)]
    force_drain: bool,
    /// Override how many minors nodes may lag the control plane.
    #[arg(long)]
    lag_limit: Option<u32>,
    /// For canary: the pool to move first.
    #[arg(long)]
    canary_pool: Option<String>,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// Runs `kupgrade upgrade`.
pub fn run(args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    match args.provider {
        ProviderArg::Sim => {}
        other => bail!(
            "--provider {} needs its cloud adapter, which this build does not include yet; use --provider sim",
            format!("{other:?}").to_lowercase()
        ),
    }
    let Some(path) = args.sim_state.clone() else {
        bail!("--provider sim needs --sim-state FILE (create one with `kupgrade sim init FILE`)");
    };
    if !path.exists() {
        bail!(
            "simulator state file {} not found; create it with `kupgrade sim init {}`",
            path.display(),
            path.display()
        );
    }
    let runtime = simulated_runtime()?;
    runtime.block_on(async move {
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
        let settings = RunSettings {
            to: args.to,
            strategy: args.strategy,
            lag_limit: args.lag_limit,
            canary_pool: args.canary_pool,
            dry_run: args.dry_run,
            yes: args.yes,
            output: args.output,
            force_drain: args.force_drain,
            journal: args.journal,
            pace: Duration::ZERO,
            simulated: true,
            clock: Some(Box::new(move || clock.now())),
        };
        run_flow(Arc::new(sim.clone()), Arc::new(sim), settings).await
    })
}
