//! Embedding kupgrade: prepare and run an upgrade session on the simulator from your own code,
//! printing the findings and progress events as they come.
//!
//! `cargo run -p kupgrade-examples --example simulator_upgrade`

use std::sync::Arc;

use kupgrade_core::{Event, KubeVersion, PrepareOptions, Strategy, Upgrade};
use kupgrade_sim::{SimCluster, SimState};

fn main() -> anyhow::Result<()> {
    // A paused clock: the simulator's hours pass in milliseconds.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    runtime.block_on(async {
        let sim = SimCluster::new(SimState::demo());
        let mut prepared = Upgrade::new(Arc::new(sim.clone()))
            .with_workloads(Arc::new(sim.clone()))
            .with_events(Arc::new(|e: &Event| {
                if let Event::StepFinished { index, seconds } = e {
                    println!("step {} finished after {seconds} simulated seconds", index + 1);
                }
            }))
            .prepare(&KubeVersion::new(1, 31), &PrepareOptions::new(Strategy::Canary))
            .await?;
        let plan = prepared.plan();
        println!("{} steps, {} node rollouts", plan.steps.len(), plan.node_rollouts);
        for f in prepared.findings() {
            println!("[{}] {}: {}", f.severity, f.id, f.message);
        }
        let report = prepared.run().await?;
        println!(
            "result: {:?}; control plane now {}",
            report.result,
            sim.state().control_plane
        );
        anyhow::Ok(())
    })
}
