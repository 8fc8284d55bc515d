//! A fleet of 1,000 simulated clusters, each upgraded 1.29 -> 1.32 in place, 100 at a time,
//! on a paused tokio clock. Criterion measures the wall time of the whole fleet; before it, one
//! run prints the peak memory and the ratio of each cluster's executed simulated time to its
//! lower bound (the longest path through its plan's graph, with the durations it measured).

use std::sync::Arc;

use criterion::{Criterion, criterion_main};

mod common;
use common::peak_rss_mib;
use kupgrade_core::estimate::lower_bound;
use kupgrade_core::{
    Executor, Journal, KubeVersion, OperationConcurrency, PlanOptions, Provider, RunResult, Strategy,
    plan_with,
};
use kupgrade_sim::{SimCluster, SimState};

const CLUSTERS: usize = 1_000;
const CONCURRENCY: usize = 100;

/// Per cluster: (executed simulated seconds, lower bound in seconds).
async fn upgrade_fleet() -> Vec<(u64, u64)> {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CLUSTERS {
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            let sim = SimCluster::new(SimState::generate(
                Provider::Eks,
                &format!("c{i}"),
                KubeVersion::new(1, 29),
                3,
                12,
            ));
            let snapshot = sim.state().snapshot();
            let plan = plan_with(
                &snapshot,
                &KubeVersion::new(1, 32),
                &PlanOptions::new(Provider::Eks, Strategy::InPlace),
            )
            .expect("plannable");
            let mut journal = Journal::new(plan);
            let report = Executor::new(Arc::new(sim.clone()), Arc::new(sim.clone()))
                .run(&mut journal)
                .await
                .expect("runs");
            assert_eq!(report.result, RunResult::Succeeded);
            let durations: Vec<u64> = report.steps.iter().map(|s| s.seconds).collect();
            let lower_bound = lower_bound(
                &journal.plan.graph(),
                &journal.plan.steps,
                &durations,
                OperationConcurrency::for_provider(Provider::Eks),
                journal.plan.parallel_pools(),
            );
            (report.seconds, lower_bound)
        });
    }
    let mut out = Vec::with_capacity(CLUSTERS);
    while let Some(r) = tasks.join_next().await {
        out.push(r.expect("task"));
    }
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

fn bench_fleet(c: &mut Criterion) {
    let started = std::time::Instant::now();
    let results = runtime().block_on(upgrade_fleet());
    let wall = started.elapsed();
    let ratios: Vec<f64> = results.iter().map(|(run, lb)| *run as f64 / *lb as f64).collect();
    let total_run: u64 = results.iter().map(|r| r.0).sum();
    let total_lb: u64 = results.iter().map(|r| r.1).sum();
    let max = ratios.iter().cloned().fold(0.0, f64::max);
    let min = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
    eprintln!(
        "fleet: {CLUSTERS} clusters, concurrency {CONCURRENCY}: wall {:.2}s, peak RSS {:.1} MiB, simulated/lower-bound ratio {:.4} overall, {:.4} best and {:.4} worst cluster",
        wall.as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN),
        total_run as f64 / total_lb as f64,
        min,
        max
    );
    let mut group = c.benchmark_group("fleet");
    group.sample_size(10);
    group.bench_function("1000 clusters 1.29->1.32 in place, concurrency 100", |b| {
        b.iter(|| runtime().block_on(upgrade_fleet()))
    });
    group.finish();
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench_fleet);
}
criterion_main!(harness::benches);
