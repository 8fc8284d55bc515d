//! `kupgrade demo`: a simulated EKS-like cluster upgraded end to end.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kupgrade_core::{KubeVersion, Strategy};
use kupgrade_sim::{SimCluster, SimState};

use crate::commands::plan::{parse_strategy, parse_version};
use crate::output::Output;
use crate::runner::{RunSettings, run as run_flow, simulated_runtime};

/// Arguments of `kupgrade demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How node pools are moved: in-place, blue-green or canary.
    #[arg(long, default_value = "in-place", value_parser = parse_strategy)]
    strategy: Strategy,
    /// Target minor version.
    #[arg(long = "to", default_value = "1.32", value_parser = parse_version)]
    to: KubeVersion,
    /// Real milliseconds per progress update, so the run can be followed (default: 40 on a
    /// terminal, 0 otherwise).
    #[arg(long)]
    pace_ms: Option<u64>,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// Runs `kupgrade demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let pace = args
        .pace_ms
        .unwrap_or(if std::io::stderr().is_terminal() { 40 } else { 0 });
    let state = SimState::demo();
    if args.output == Output::Text {
        let pods = state.pods.iter().filter(|p| p.workload != "kube-proxy").count();
        println!(
            "kupgrade demo: a simulated {} cluster '{}' (control plane {}, {} node pools, {} nodes, {pods} pods, {} PodDisruptionBudgets).",
            state.provider.display_name(),
            state.name,
            state.control_plane,
            state.node_pools.len(),
            state.nodes.len(),
            state.pdbs.len()
        );
        println!(
            "Operations take simulated time (a control-plane hop ~15 min, a node ~4 min); no cloud account is used.\n"
        );
    }
    simulated_runtime()?.block_on(async move {
        let sim = SimCluster::new(state);
        let clock = sim.clone();
        let settings = RunSettings {
            to: args.to,
            strategy: args.strategy,
            lag_limit: None,
            canary_pool: None,
            dry_run: false,
            yes: true,
            output: args.output,
            force_drain: false,
            journal: None,
            pace: Duration::from_millis(pace),
            simulated: true,
            clock: Some(Box::new(move || clock.now())),
        };
        run_flow(Arc::new(sim.clone()), Arc::new(sim), settings).await
    })
}
