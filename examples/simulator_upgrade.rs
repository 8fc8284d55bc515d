//! Embedding kupgrade: plan and run an upgrade on the simulator from your own code, printing
//! progress events as they come.
//!
//! `cargo run -p kupgrade-examples --example simulator_upgrade`

use std::sync::Arc;

use kupgrade_core::{Event, Executor, Journal, KubeVersion, PlanOptions, Strategy, plan_with};
use kupgrade_sim::{SimCluster, SimState};

fn main() -> anyhow::Result<()> {
    // A paused clock: the simulator's hours pass in milliseconds.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    runtime.block_on(async {
        let sim = SimCluster::new(SimState::demo());
        let snapshot = sim.state().snapshot();
        let plan = plan_with(
            &snapshot,
            &KubeVersion::new(1, 31),
            &PlanOptions::new(snapshot.provider, Strategy::Canary),
        )?;
        println!("{} steps, {} node rollouts", plan.steps.len(), plan.node_rollouts);
        let executor =
            Executor::new(Arc::new(sim.clone()), Arc::new(sim.clone())).with_events(Arc::new(|e: &Event| {
                if let Event::StepFinished { index, seconds } = e {
                    println!("step {} finished after {seconds} simulated seconds", index + 1);
                }
            }));
        let report = executor.run(&mut Journal::new(plan)).await?;
        println!(
            "result: {:?}; control plane now {}",
            report.result,
            sim.state().control_plane
        );
        anyhow::Ok(())
    })
}
