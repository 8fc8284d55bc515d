//! A fleet of 500 simulated clusters in 3 waves (50 dev, 150 staging, 300 production) run by
//! the real `FleetRunner`: per-cluster journals written and synced to disk after every step,
//! wave gates with post checks, a soak between waves. Criterion measures the wall time; one run
//! before it prints the peak memory.

use std::sync::Arc;

use criterion::{Criterion, criterion_main};

mod common;
use common::peak_rss_mib;
use kupgrade_core::fleet::{FleetCluster, FleetRunner, FleetSpec, WaveSpec};
use kupgrade_core::{KubeVersion, Provider};
use kupgrade_sim::{SimFleetConnector, SimState, SimStore};

fn spec() -> FleetSpec {
    let wave = |name: &str, n: usize, concurrency: usize| WaveSpec {
        name: name.into(),
        concurrency,
        soak_minutes: 60,
        clusters: (0..n)
            .map(|i| FleetCluster {
                name: format!("{name}-{i:03}"),
                provider: "sim".into(),
                to: None,
                strategy: None,
                settings: Default::default(),
            })
            .collect(),
    };
    FleetSpec {
        name: "bench".into(),
        to: Some(KubeVersion::new(1, 32)),
        strategy: None,
        waves: vec![
            wave("dev", 50, 50),
            wave("staging", 150, 100),
            wave("prod", 300, 100),
        ],
    }
}

/// Runs the whole fleet once; returns whether it succeeded.
fn run_fleet(spec: &FleetSpec) -> bool {
    let connector =
        spec.waves
            .iter()
            .flat_map(|w| &w.clusters)
            .fold(SimFleetConnector::new("."), |c, cluster| {
                let store = SimStore::memory();
                store
                    .save(&SimState::generate(
                        Provider::Eks,
                        &cluster.name,
                        KubeVersion::new(1, 29),
                        3,
                        12,
                    ))
                    .expect("memory");
                c.with_store(&cluster.name, store)
            });
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("rt");
    let report = runtime
        .block_on(FleetRunner::new(Arc::new(connector), dir.path()).run(spec))
        .expect("runs");
    report.succeeded
}

fn bench(c: &mut Criterion) {
    let spec = spec();
    let started = std::time::Instant::now();
    assert!(run_fleet(&spec));
    eprintln!(
        "fleet waves: 500 clusters in 3 waves: wall {:.2}s, peak RSS {:.1} MiB",
        started.elapsed().as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    let mut group = c.benchmark_group("fleet-waves");
    group.sample_size(10);
    group.bench_function("500 clusters, 3 waves, 1.29->1.32", |b| {
        b.iter(|| run_fleet(&spec))
    });
    group.finish();
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(harness::benches);
