//! A 1,000-cluster `UpgradeRun` of simulated EKS-like clusters (1.29 -> 1.32 in place), in
//! three stages (50, 250 and 700 clusters at up to 50, 100 and 100 at once), reconciled by the
//! real reconciler against the in-memory API server on a paused tokio clock. Before criterion's
//! samples, one run prints: wall time, reconciles, status writes (`UpgradeRun` and
//! `ManagedClusterRef`) and their rate per wall-clock second, and the process's peak resident
//! memory.

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
    wall: Duration,
    reconciles: u64,
    run_writes: usize,
    cluster_writes: usize,
    simulated: Duration,
}

async fn run_fleet() -> Outcome {
    let api = FakeApi::new();
    for (stage, count, _) in STAGES {
        for i in 0..count {
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
    loop {
        reconcile_named(&operator, NS, "fleet-1-32")
            .await
            .expect("reconcile");
        let phase = run_status(&api, NS, "fleet-1-32").map(|s| s.phase);
        if matches!(phase, Some(RunPhase::Succeeded | RunPhase::Failed)) {
            assert_eq!(phase, Some(RunPhase::Succeeded));
            break;
        }
        // The controller's debounce: at most one pass per second of progress.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Outcome {
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
    let o = runtime().block_on(run_fleet());
    let writes = o.run_writes + o.cluster_writes;
    println!(
        "1,000 clusters, 3 stages: wall {:.2} s, simulated {:.1} h, {} reconciles, {} UpgradeRun status writes, {} ManagedClusterRef status writes, {:.0} status writes/s, peak RSS {:.1} MiB",
        o.wall.as_secs_f64(),
        o.simulated.as_secs_f64() / 3600.0,
        o.reconciles,
        o.run_writes,
        o.cluster_writes,
        writes as f64 / o.wall.as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN),
    );
    let mut group = c.benchmark_group("operator");
    group.sample_size(10);
    group.bench_function("reconcile a 1,000-cluster run to the end", |b| {
        b.iter(|| runtime().block_on(run_fleet()))
    });
    group.finish();
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(harness::benches);
