//! `kupgrade demo`: a simulated EKS-like cluster upgraded end to end.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use kupgrade_core::cluster_swap::{ClusterHandle, ClusterSwap, SwapOptions, plan_swap};
use kupgrade_core::{KubeVersion, RunResult, StepOutcome, Strategy};
use kupgrade_sim::{SimCluster, SimState, SimSwap};

use crate::output::{Output, json};
use crate::plan_flags::{PlanFlags, parse_target};
use crate::progress::duration;
use crate::runner::{JournalChoice, RunSettings, run as run_flow, simulated_runtime};

/// What the demo shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoStrategy {
    /// The provider's rolling upgrade of each pool.
    InPlace,
    /// A new pool per old pool: create, cordon, drain, gate, delete.
    BlueGreen,
    /// One pool first, a health gate, then the rest.
    Canary,
    /// A whole new cluster at the target, traffic shifted in weighted steps.
    BlueGreenCluster,
}

/// Arguments of `kupgrade demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How the cluster is upgraded.
    #[arg(long, value_enum, default_value = "in-place")]
    strategy: DemoStrategy,
    /// Target minor version.
    #[arg(long = "to", default_value = "1.32", value_parser = parse_target)]
    to: KubeVersion,
    /// With canary: try the new version on a new one-node pool first.
    #[arg(long)]
    canary_new_pool: bool,
    /// With blue-green-cluster: delete the blue cluster at the end.
    #[arg(long)]
    decommission_blue: bool,
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
    let pods = state.pods.iter().filter(|p| p.workload != "kube-proxy").count();
    let banner = format!(
        "kupgrade demo: a simulated {} cluster '{}' (control plane {}, {} node pools, {} nodes, {pods} pods, {} PodDisruptionBudgets).\nOperations take simulated time (a control-plane hop ~15 min, a node ~4 min); no cloud account is used.\n",
        state.provider.display_name(),
        state.name,
        state.control_plane,
        state.node_pools.len(),
        state.nodes.len(),
        state.pdbs.len()
    );
    let strategy = match args.strategy {
        DemoStrategy::InPlace => Strategy::InPlace,
        DemoStrategy::BlueGreen => Strategy::BlueGreen,
        DemoStrategy::Canary => Strategy::Canary,
        DemoStrategy::BlueGreenCluster => return swap(args, state, pace, &banner),
    };
    simulated_runtime()?.block_on(async move {
        let sim = SimCluster::new(state);
        let clock = sim.clone();
        let settings = RunSettings {
            plan: PlanFlags {
                canary_new_pool: args.canary_new_pool,
                ..PlanFlags::new(args.to, strategy)
            },
            dry_run: false,
            yes: true,
            output: args.output,
            force_drain: false,
            allow_preview: false,
            journal: JournalChoice::Off,
            replan: false,
            pace: Duration::from_millis(pace),
            simulated: true,
            clock: Some(Box::new(move || clock.now())),
            report: None,
            banner: Some(banner),
            cluster_lock: None,
            iac: Vec::new(),
            addons: None,
        };
        run_flow(
            Arc::new(sim.clone()),
            Arc::new(sim),
            kupgrade_core::CheckRegistry::builtin(),
            settings,
        )
        .await
    })
}

/// The blue/green cluster demo.
fn swap(args: DemoArgs, state: SimState, pace: u64, banner: &str) -> anyhow::Result<ExitCode> {
    simulated_runtime()?.block_on(async move {
        let blue = SimCluster::new(state);
        let hooks = SimSwap::new(blue.clone());
        let options = SwapOptions {
            decommission_blue: args.decommission_blue,
            ..SwapOptions::default()
        };
        let text = args.output == Output::Text;
        let steps = plan_swap(&blue.state().snapshot(), &args.to, &options)?;
        if text {
            println!("{banner}");
            println!(
                "Blue/green cluster plan: a new cluster at {}, traffic shifted {:?}%:",
                args.to, options.weights
            );
            for (i, step) in steps.iter().enumerate() {
                println!("{:>3}. {}", i + 1, step.describe());
            }
        }
        let handle = ClusterHandle {
            name: blue.state().name,
            cluster: Arc::new(blue.clone()),
            workloads: Arc::new(blue.clone()),
        };
        let report = ClusterSwap::new(handle, &hooks, options)
            .with_events(crate::progress::sink(Duration::from_millis(pace)))
            .run(&args.to)
            .await?;
        if text {
            println!("\nStep report (simulated):");
            for (i, s) in report.steps.iter().enumerate() {
                let outcome = match s.outcome {
                    StepOutcome::Failed => "FAILED",
                    other => other.label(),
                };
                println!(
                    "{:>3}. {:<72} {:>8}  {outcome}",
                    i + 1,
                    s.step.describe(),
                    duration(s.seconds)
                );
                if let Some(note) = s.note.as_ref().filter(|_| s.outcome != StepOutcome::Done) {
                    println!("     {note}");
                }
            }
            println!(
                "\nResult: {:?}; {}% of traffic on green cluster {}; simulated time {}.",
                report.result,
                report.green_percent,
                report.green,
                duration(blue.now())
            );
        } else {
            print!("{}", json(&report)?);
        }
        Ok(if report.result == RunResult::Succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}
