//! A 1,000-cluster `UpgradeRun` of simulated EKS-like clusters (1.29 -> 1.32 in place), in
//! three stages (50, 250 and 700 clusters at up to 50, 100 and 100 at once), reconciled by the
//! real reconciler against the in-memory API server on a paused tokio clock, passes triggered as
//! the controller triggers them. The run is done once and prints: wall time, reconciles, status
//! writes (`UpgradeRun` and `ManagedClusterRef`) and their rate per wall-clock second, and the
//! process's peak resident memory. Criterion then times one reconcile pass over the finished
//! 1,000-cluster run (read it, judge it, nothing to write).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_main};
use kupgrade_operator::fake_api::FakeApi;
use kupgrade_operator::resources::RunPhase;
use kupgrade_operator::{Operator, SimClusters, TokioClock, reconcile_named, run_status};
use serde_json::json;

const NS: &str = "fleet";
const GROUP: &str = "apis/kupgrade.io/v1alpha1";
const STAGES: [(&str, usize, u32); 3] = [("dev", 50, 50), ("staging", 250, 100), ("prod", 700, 100)];

struct Outcome {
    api: FakeApi,
    operator: Arc<Operator>,
    wall: Duration,
    reconciles: u64,
    run_writes: usize,
    cluster_writes: usize,
    simulated: Duration,
}

/// Whether criterion measures (`cargo bench`), rather than checking that the benchmark runs
/// (`cargo test --all-targets`, in a debug build, where a twentieth of the fleet is enough).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

async fn run_fleet() -> Outcome {
    let api = FakeApi::new();
    let share = if measuring() { 1 } else { 20 };
    for (stage, count, _) in STAGES {
        for i in 0..count.div_ceil(share) {
            api.insert(GROUP, "managedclusterrefs", Some(NS), json!({
                "apiVersion": "kupgrade.io/v1alpha1", "kind": "ManagedClusterRef",
                "metadata": {"name": format!("{stage}-{i:04}"), "namespace": NS, "labels": {"env": stage}},
                "spec": {"provider": "Simulator", "simulator": {"controlPlane": "1.29", "nodePools": 3, "pods": 12}},
            }));
        }
    }
    let stages: Vec<_> = STAGES
        .iter()
        .map(|(name, _, concurrency)| json!({"name": name, "matchLabels": {"env": name}, "maxConcurrent": concurrency}))
        .collect();
    api.insert(
        GROUP,
        "upgradestrategies",
        Some(NS),
        json!({
            "apiVersion": "kupgrade.io/v1alpha1", "kind": "UpgradeStrategy",
            "metadata": {"name": "waves", "namespace": NS}, "spec": {"stages": stages},
        }),
    );
    api.insert(
        GROUP,
        "upgraderuns",
        Some(NS),
        json!({
            "apiVersion": "kupgrade.io/v1alpha1", "kind": "UpgradeRun",
            "metadata": {"name": "fleet-1-32", "namespace": NS},
            "spec": {"targetVersion": "1.32", "strategyRef": "waves"},
        }),
    );
    let operator = Arc::new(
        Operator::new(api.client(), Arc::new(SimClusters::in_memory()))
            .with_clock(Arc::new(TokioClock::starting_at(chrono::Utc::now()))),
    );
    let wall = Instant::now();
    let simulated = tokio::time::Instant::now();
    // As the controller runs it: a pass whenever a ManagedClusterRef's status changed (the
    // watch, debounced to one pass a second), else once a minute (the idle requeue, which also
    // serves soaks and wait gates).
    let mut seen_writes = usize::MAX;
    let mut idle = Duration::ZERO;
    loop {
        let writes =
            api.count("PATCH", "managedclusterrefs", true) + api.count("PUT", "managedclusterrefs", true);
        if writes != seen_writes || idle >= Duration::from_secs(60) {
            seen_writes = writes;
            idle = Duration::ZERO;
            reconcile_named(&operator, NS, "fleet-1-32")
                .await
                .expect("reconcile");
            let phase = run_status(&api, NS, "fleet-1-32").map(|s| s.phase);
            if matches!(phase, Some(RunPhase::Succeeded | RunPhase::Failed)) {
                assert_eq!(phase, Some(RunPhase::Succeeded));
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        idle += Duration::from_secs(1);
    }
    Outcome {
        api: api.clone(),
        operator: operator.clone(),
        wall: wall.elapsed(),
        reconciles: operator
            .stats
            .reconciles
            .load(std::sync::atomic::Ordering::Relaxed),
        run_writes: api.count("PUT", "upgraderuns", true) + api.count("PATCH", "upgraderuns", true),
        cluster_writes: api.count("PUT", "managedclusterrefs", true)
            + api.count("PATCH", "managedclusterrefs", true),
        simulated: simulated.elapsed(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let o = rt.block_on(run_fleet());
    let writes = o.run_writes + o.cluster_writes;
    println!(
        "{} clusters, 3 stages: wall {:.2} s, simulated {:.1} h, {} reconciles, {} UpgradeRun status writes, {} ManagedClusterRef status writes, {:.0} status writes/s, peak RSS {:.1} MiB",
        run_status(&o.api, NS, "fleet-1-32").map_or(0, |s| s.clusters.len()),
        o.wall.as_secs_f64(),
        o.simulated.as_secs_f64() / 3600.0,
        o.reconciles,
        o.run_writes,
        o.cluster_writes,
        writes as f64 / o.wall.as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN),
    );
    let status = run_status(&o.api, NS, "fleet-1-32").expect("status");
    let bytes = serde_json::to_vec(&status).map(|b| b.len()).unwrap_or(0);
    println!(
        "the finished run's status: {} clusters, {:.0} KiB of JSON",
        status.clusters.len(),
        bytes as f64 / 1024.0
    );
    let mut group = c.benchmark_group("operator");
    group.sample_size(20);
    group.bench_function(
        "one reconcile pass over a 1,000-cluster run (read, judge, nothing to write)",
        |b| {
            b.iter(|| {
                rt.block_on(reconcile_named(&o.operator, NS, "fleet-1-32"))
                    .expect("reconcile")
            })
        },
    );
    group.finish();
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(harness::benches);
