//! Ready-made simulated clusters: the demo cluster and generated ones for `kupgrade sim init`.

use kupgrade_core::{KubeVersion, Provider};

use crate::state::{Budget, SimState, WorkloadKind};

const NAMESPACES: [&str; 4] = ["shop", "payments", "search", "platform"];
const APPS: [&str; 8] = [
    "web", "api", "cart", "checkout", "orders", "db", "cache", "worker",
];

fn pool_name(provider: Provider, i: usize) -> String {
    const EKS: [&str; 5] = ["system", "general", "batch", "gpu", "spot"];
    match provider {
        Provider::Eks => EKS.get(i).map_or_else(|| format!("pool{i}"), |s| s.to_string()),
        Provider::Aks if i == 0 => "system".into(),
        Provider::Aks => format!("user{i}"),
        Provider::Gke if i == 0 => "default-pool".into(),
        Provider::Gke => format!("pool-{i}"),
    }
}

impl SimState {
    /// A generated cluster: `pools` pools of 3 nodes at the control plane's version, `pods`
    /// application pods in Deployments (PDB `maxUnavailable: 1`) and StatefulSets (PDB
    /// `minAvailable: replicas - 1`) of up to 3 replicas, and a `kube-proxy` DaemonSet.
    pub fn generate(
        provider: Provider,
        name: &str,
        control_plane: KubeVersion,
        pools: usize,
        pods: u32,
    ) -> Self {
        let mut s = SimState::new(provider, name, control_plane.clone());
        for i in 0..pools {
            s.add_pool(&pool_name(provider, i), control_plane.minor_version(), 3);
        }
        s.add_workload(WorkloadKind::DaemonSet, "kube-system", "kube-proxy", 0, None);
        let mut left = pods;
        let mut w = 0usize;
        while left > 0 {
            let replicas = left.min(3);
            left -= replicas;
            let ns = NAMESPACES[w % NAMESPACES.len()];
            let app = format!(
                "{}{}",
                APPS[w % APPS.len()],
                if w >= APPS.len() {
                    (w / APPS.len()).to_string()
                } else {
                    String::new()
                }
            );
            if w % 4 == 3 {
                let pdb = (replicas > 1).then_some(Budget::MinAvailable(replicas - 1));
                s.add_workload(WorkloadKind::StatefulSet, ns, &app, replicas, pdb);
            } else {
                let pdb = (replicas > 1).then_some(Budget::MaxUnavailable(1));
                s.add_workload(WorkloadKind::Deployment, ns, &app, replicas, pdb);
            }
            w += 1;
        }
        s
    }

    /// The cluster `kupgrade demo` upgrades: EKS-like, control plane 1.29, three pools
    /// (`system` 2 nodes, `general` 4, `batch` 3), 36 application pods with PDBs.
    pub fn demo() -> Self {
        let v = KubeVersion::new(1, 29);
        let mut s = SimState::new(Provider::Eks, "demo-eks", v.clone());
        s.add_pool("system", v.clone(), 2);
        s.add_pool("general", v.clone(), 4);
        s.add_pool("batch", v, 3);
        s.add_workload(WorkloadKind::DaemonSet, "kube-system", "kube-proxy", 0, None);
        s.add_workload(
            WorkloadKind::Deployment,
            "kube-system",
            "coredns",
            2,
            Some(Budget::MaxUnavailable(1)),
        );
        let apps = [
            (
                "shop",
                "web",
                WorkloadKind::Deployment,
                6,
                Some(Budget::MaxUnavailable(1)),
            ),
            (
                "shop",
                "api",
                WorkloadKind::Deployment,
                4,
                Some(Budget::MinAvailable(2)),
            ),
            (
                "shop",
                "cart",
                WorkloadKind::Deployment,
                3,
                Some(Budget::MaxUnavailable(1)),
            ),
            (
                "payments",
                "checkout",
                WorkloadKind::Deployment,
                4,
                Some(Budget::MinAvailable(3)),
            ),
            (
                "payments",
                "ledger",
                WorkloadKind::StatefulSet,
                3,
                Some(Budget::MinAvailable(2)),
            ),
            (
                "search",
                "indexer",
                WorkloadKind::Deployment,
                3,
                Some(Budget::MaxUnavailable(1)),
            ),
            (
                "search",
                "elastic",
                WorkloadKind::StatefulSet,
                3,
                Some(Budget::MinAvailable(2)),
            ),
            (
                "platform",
                "prometheus",
                WorkloadKind::StatefulSet,
                2,
                Some(Budget::MinAvailable(1)),
            ),
            ("platform", "batch-runner", WorkloadKind::Deployment, 6, None),
        ];
        for (ns, name, kind, replicas, pdb) in apps {
            s.add_workload(kind, ns, name, replicas, pdb);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_clusters_have_what_was_asked() {
        let s = SimState::generate(Provider::Aks, "c", KubeVersion::new(1, 29), 3, 20);
        assert_eq!(s.node_pools.len(), 3);
        assert!(s.node_pools.iter().all(|p| p.name.len() <= 12));
        let app_pods = s.pods.iter().filter(|p| p.workload != "kube-proxy").count();
        assert_eq!(app_pods, 20);
        assert!(s.pods.iter().all(|p| p.node.is_some()));
        assert!(s.health(0).is_healthy());
    }

    #[test]
    fn the_demo_is_healthy_and_has_pdbs() {
        let s = SimState::demo();
        assert_eq!(s.node_pools.len(), 3);
        assert!(s.pdbs.len() >= 8);
        let app_pods = s.pods.iter().filter(|p| p.workload != "kube-proxy").count();
        assert!((30..=48).contains(&app_pods), "{app_pods}");
        assert!(s.health(0).is_healthy(), "{:?}", s.health(0));
    }
}
