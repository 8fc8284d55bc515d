//! Planning speed: a cluster with 200 node pools at mixed versions across a six-minor jump.

use criterion::{Criterion, criterion_main};
use kupgrade_core::{ClusterSnapshot, KubeVersion, NodePool, Provider, SkewPolicy, Strategy, plan};

fn cluster_with_200_pools() -> ClusterSnapshot {
    ClusterSnapshot {
        provider: Provider::Eks,
        name: "bench".into(),
        control_plane: KubeVersion::new(1, 29),
        status: Default::default(),
        // Pools at 1.26, 1.27, 1.28 and 1.29 in turn: every lag the EKS rules allow.
        node_pools: (0..200)
            .map(|i| NodePool::new(format!("pool-{i:03}"), KubeVersion::new(1, 26 + i % 4), 3 + i % 7))
            .collect(),
        auto_upgrade: None,
        id: None,
    }
}

fn bench_plan(c: &mut Criterion) {
    let snapshot = cluster_with_200_pools();
    let target = KubeVersion::new(1, 35);
    let policy = SkewPolicy::for_provider(Provider::Eks);
    for strategy in [Strategy::InPlace, Strategy::BlueGreen] {
        c.bench_function(&format!("plan 200 pools 1.29->1.35 {strategy}"), |b| {
            b.iter(|| plan(std::hint::black_box(&snapshot), &target, &policy, strategy).unwrap())
        });
    }
}

#[allow(missing_docs)]
mod harness {
    criterion::criterion_group!(benches, super::bench_plan);
}
criterion_main!(harness::benches);
