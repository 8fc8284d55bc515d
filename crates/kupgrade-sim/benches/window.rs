//! The upgrade window on the simulator: for each provider x strategy, a 6-pool cluster (3 nodes
//! per pool, 18 pods with PDBs) upgraded 1.29 -> 1.32 by the real executor on a paused tokio
//! clock. Before criterion's samples, it prints a table: the simulated window, the critical-path
//! lower bound of the very steps it ran (the longest path through the plan's graph with the
//! durations measured, or on a provider that runs one operation per cluster the sum of its
//! operations if that is longer), and the window of the same plan run one pool at a time
//! (`max_parallel_pools = 1`: every step after the one before, as the executor ran plans
//! before the graph). Criterion then times the wall clock of one EKS in-place run.

use std::sync::Arc;

use criterion::{Criterion, criterion_main};
use kupgrade_core::estimate::lower_bound;
use kupgrade_core::{
    Executor, Journal, KubeVersion, OperationConcurrency, PlanOptions, Provider, RunResult, Strategy,
    plan_with,
};
use kupgrade_sim::{SimCluster, SimState};

/// (window, lower bound) of one run.
async fn window(provider: Provider, strategy: Strategy, max_parallel_pools: Option<usize>) -> (u64, u64) {
    let sim = SimCluster::new(SimState::generate(provider, "c", KubeVersion::new(1, 29), 6, 18));
    let snapshot = sim.state().snapshot();
    let options = PlanOptions::new(provider, strategy).with_max_parallel_pools(max_parallel_pools);
    let plan = plan_with(&snapshot, &KubeVersion::new(1, 32), &options).expect("plannable");
    let mut journal = Journal::new(plan);
    let report = Executor::new(Arc::new(sim.clone()), Arc::new(sim.clone()))
        .run(&mut journal)
        .await
        .expect("runs");
    assert_eq!(
        report.result,
        RunResult::Succeeded,
        "{provider} {strategy}: {:?}",
        report.error
    );
    let durations: Vec<u64> = report.steps.iter().map(|s| s.seconds).collect();
    let bound = lower_bound(
        &journal.plan.graph(),
        &journal.plan.steps,
        &durations,
        OperationConcurrency::for_provider(provider),
        journal.plan.parallel_pools(),
    );
    (report.seconds, bound)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

fn minutes(secs: u64) -> String {
    format!("{}m", secs.div_ceil(60))
}

fn bench_window(c: &mut Criterion) {
    let rt = runtime();
    eprintln!(
        "| Provider | Strategy | Window | Critical-path bound | Window / bound | One pool at a time | Window / one at a time |"
    );
    eprintln!("|---|---|---|---|---|---|---|");
    for provider in [Provider::Eks, Provider::Gke, Provider::Aks] {
        let cells = [
            (Strategy::InPlace, None),
            (Strategy::BlueGreen, None),
            (Strategy::BlueGreen, Some(6)),
            (Strategy::Canary, None),
        ];
        for (strategy, limit) in cells {
            let (run, bound) = rt.block_on(window(provider, strategy, limit));
            let (sequential, _) = rt.block_on(window(provider, strategy, Some(1)));
            let shown = match limit {
                Some(n) => format!("{strategy}, {n} pools at once"),
                None => strategy.to_string(),
            };
            eprintln!(
                "| {} | {shown} | {} | {} | {:.3} | {} | {:.2} |",
                provider.display_name(),
                minutes(run),
                minutes(bound),
                run as f64 / bound as f64,
                minutes(sequential),
                run as f64 / sequential as f64
            );
        }
    }
    let mut group = c.benchmark_group("window");
    group.sample_size(10);
    group.bench_function("EKS 6 pools 1.29->1.32 in place", |b| {
        b.iter(|| rt.block_on(window(Provider::Eks, Strategy::InPlace, None)))
    });
    group.finish();
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench_window);
}
criterion_main!(harness::benches);
