//! Planner behaviour: the worked examples, the refusals, snapshots of the renderings, and a
//! property test against brute force.

use std::collections::{BTreeMap, VecDeque};

use kupgrade_core::render::{render_markdown, render_text};
use kupgrade_core::{
    ClusterSnapshot, Error, KubeVersion, NodePool, PlanOptions, Provider, SkewPolicy, Step, Strategy,
    UpgradePlan, plan, plan_with,
};
use proptest::prelude::{ProptestConfig, prop_assert_eq, proptest};
use proptest::strategy::Strategy as _;

fn v(s: &str) -> KubeVersion {
    KubeVersion::parse(s).unwrap()
}

fn cluster(provider: Provider, cp: &str, pools: &[(&str, &str, u32)]) -> ClusterSnapshot {
    ClusterSnapshot {
        provider,
        name: "prod".into(),
        control_plane: v(cp),
        status: Default::default(),
        node_pools: pools
            .iter()
            .map(|(n, ver, nodes)| NodePool::new(*n, v(ver), *nodes))
            .collect(),
        auto_upgrade: None,
        id: None,
    }
}

fn plan_of(snapshot: &ClusterSnapshot, to: &str, strategy: Strategy) -> kupgrade_core::Result<UpgradePlan> {
    plan(
        snapshot,
        &v(to),
        &SkewPolicy::for_provider(snapshot.provider),
        strategy,
    )
}

fn actions(plan: &UpgradePlan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| match s.node_pool() {
            Some(p) => format!("{} {p}", s.action()),
            None => s.action().to_string(),
        })
        .collect()
}

#[test]
fn eks_1_29_to_1_32_is_three_hops_then_one_rollout_per_pool() {
    let c = cluster(
        Provider::Eks,
        "1.29",
        &[("general", "1.29", 6), ("gpu", "1.29", 2)],
    );
    let p = plan_of(&c, "1.32", Strategy::InPlace).unwrap();
    assert_eq!(
        actions(&p),
        [
            "upgrade-control-plane",
            "upgrade-control-plane",
            "upgrade-control-plane",
            "upgrade-node-pool general",
            "upgrade-node-pool gpu"
        ]
    );
    assert_eq!(p.node_rollouts, 2);
}

#[test]
fn gke_1_28_to_1_32_is_two_rollouts_per_pool() {
    let c = cluster(
        Provider::Gke,
        "1.28",
        &[("default-pool", "1.28", 3), ("batch", "1.28", 5)],
    );
    let p = plan_of(&c, "1.32", Strategy::InPlace).unwrap();
    assert_eq!(p.node_rollouts, 4);
    assert_eq!(
        actions(&p),
        [
            "upgrade-control-plane",
            "upgrade-control-plane",
            "upgrade-node-pool default-pool",
            "upgrade-node-pool batch",
            "upgrade-control-plane",
            "upgrade-control-plane",
            "upgrade-node-pool default-pool",
            "upgrade-node-pool batch"
        ]
    );
    // The pools jump as far as the control plane allows: 1.28 -> 1.30 -> 1.32.
    assert!(matches!(&p.steps[2], Step::UpgradeNodePool { to, .. } if *to == v("1.30")));
}

#[test]
fn a_pool_three_behind_moves_before_the_next_hop() {
    let c = cluster(
        Provider::Eks,
        "1.29",
        &[("legacy", "1.26", 3), ("web", "1.29", 3)],
    );
    let p = plan_of(&c, "1.30", Strategy::InPlace).unwrap();
    assert_eq!(
        actions(&p),
        [
            "upgrade-node-pool legacy",
            "upgrade-control-plane",
            "upgrade-node-pool legacy",
            "upgrade-node-pool web"
        ]
    );
    assert!(matches!(&p.steps[0], Step::UpgradeNodePool { to, .. } if *to == v("1.29")));
}

#[test]
fn nothing_to_do_and_pools_only() {
    let c = cluster(Provider::Aks, "1.32.4", &[("sys", "1.32.4", 3)]);
    assert!(plan_of(&c, "1.32", Strategy::InPlace).unwrap().is_empty());
    let c = cluster(Provider::Aks, "1.32", &[("sys", "1.32", 3), ("user", "1.30", 3)]);
    let p = plan_of(&c, "1.32", Strategy::InPlace).unwrap();
    assert_eq!(actions(&p), ["upgrade-node-pool user"]);
}

#[test]
fn refusals_are_one_line_and_name_the_problem() {
    let c = cluster(Provider::Eks, "1.31", &[("general", "1.31", 3)]);
    let err = plan_of(&c, "1.30", Strategy::InPlace).unwrap_err();
    assert!(matches!(err, Error::Downgrade { .. }));
    assert!(err.to_string().contains("cannot downgrade"), "{err}");

    let err = plan_of(&c, "1.36", Strategy::InPlace).unwrap_err();
    assert_eq!(
        err.to_string(),
        "target 1.36 is beyond the newest Amazon EKS version kupgrade knows (1.35); pick 1.35 or older"
    );

    let broken = cluster(Provider::Gke, "1.31", &[("old", "1.28", 3)]);
    let err = plan_of(&broken, "1.32", Strategy::InPlace)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already breaks skew") && err.contains("'old'") && err.contains("1.28"),
        "{err}"
    );

    let newer = cluster(Provider::Eks, "1.30", &[("ahead", "1.31", 3)]);
    let err = plan_of(&newer, "1.31", Strategy::InPlace)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'ahead'") && err.contains("newer"), "{err}");

    assert!(!err.contains('\n'));
}

#[test]
fn blue_green_creates_cordons_drains_gates_deletes_and_copies_the_pool() {
    let mut c = cluster(Provider::Eks, "1.31", &[("general", "1.31", 4)]);
    c.node_pools[0].labels.insert("team".into(), "web".into());
    let p = plan_of(&c, "1.32", Strategy::BlueGreen).unwrap();
    assert_eq!(
        actions(&p),
        [
            "upgrade-control-plane",
            "create-node-pool general-v1-32",
            "cordon-node-pool general",
            "drain-node-pool general",
            "gate general-v1-32",
            "delete-node-pool general"
        ]
    );
    match &p.steps[1] {
        Step::CreateNodePool {
            clone_of,
            nodes,
            labels,
            to,
            ..
        } => {
            assert_eq!((clone_of.as_str(), *nodes, to), ("general", 4, &v("1.32")));
            assert_eq!(labels.get("team").map(String::as_str), Some("web"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.node_rollouts, 1);
}

#[test]
fn blue_green_names_fit_aks_rules_and_chain_across_rounds() {
    let c = cluster(Provider::Aks, "1.28", &[("userpool01", "1.28", 3)]);
    let p = plan_with(
        &c,
        &v("1.32"),
        &PlanOptions::new(Provider::Aks, Strategy::BlueGreen)
            .with_policy(SkewPolicy::for_provider(Provider::Aks).with_lag_limit(2)),
    )
    .unwrap();
    let created: Vec<&str> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateNodePool { node_pool, .. } => Some(node_pool.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(created, ["userpool130", "userpool132"]);
    for name in created {
        assert!(name.len() <= 12 && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}

#[test]
fn canary_moves_the_smallest_pool_first_then_gates() {
    let c = cluster(
        Provider::Eks,
        "1.31",
        &[("web", "1.31", 8), ("canary", "1.31", 1), ("batch", "1.31", 4)],
    );
    let p = plan_of(&c, "1.32", Strategy::Canary).unwrap();
    assert_eq!(
        actions(&p),
        [
            "upgrade-control-plane",
            "upgrade-node-pool canary",
            "gate canary",
            "upgrade-node-pool web",
            "upgrade-node-pool batch"
        ]
    );
    let chosen = plan_with(
        &c,
        &v("1.32"),
        &PlanOptions::new(Provider::Eks, Strategy::Canary).with_canary_pool("batch"),
    )
    .unwrap();
    assert_eq!(actions(&chosen)[1], "upgrade-node-pool batch");
}

#[test]
fn lag_limit_override_forces_earlier_moves() {
    let c = cluster(Provider::Eks, "1.29", &[("general", "1.29", 3)]);
    let opts = PlanOptions::new(Provider::Eks, Strategy::InPlace)
        .with_policy(SkewPolicy::for_provider(Provider::Eks).with_lag_limit(1));
    let p = plan_with(&c, &v("1.32"), &opts).unwrap();
    assert_eq!(p.node_rollouts, 3);
}

#[test]
fn lag_limit_0_brings_every_pool_to_the_control_plane_before_each_hop() {
    // Half-way through a run EKS refused 1.30 -> 1.31 (strict UpdateClusterVersion rule): the
    // cluster is at 1.30 with pools at 1.29, still legal, and re-planned with --lag-limit 0.
    let c = cluster(
        Provider::Eks,
        "1.30",
        &[("batch", "1.29", 2), ("general", "1.29", 3)],
    );
    let opts = PlanOptions::new(Provider::Eks, Strategy::InPlace)
        .with_policy(SkewPolicy::for_provider(Provider::Eks).with_lag_limit(0));
    let p = plan_with(&c, &v("1.32"), &opts).unwrap();
    let mut state = p.initial.clone();
    for step in &p.steps {
        if let Step::UpgradeControlPlane { from, .. } = step {
            assert!(
                state.node_pools.iter().all(|pool| pool.version.same_minor(from)),
                "a pool lags before the hop from {from}: {state:?}"
            );
        }
        state.apply(step);
    }
    assert_eq!(
        actions(&p),
        [
            "upgrade-node-pool batch",
            "upgrade-node-pool general",
            "upgrade-control-plane",
            "upgrade-node-pool batch",
            "upgrade-node-pool general",
            "upgrade-control-plane",
            "upgrade-node-pool batch",
            "upgrade-node-pool general",
        ]
    );
    // The guide's rule (the default) leaves them until the end.
    let p = plan_of(&c, "1.32", Strategy::InPlace).unwrap();
    assert_eq!(p.node_rollouts, 2);
}

#[test]
fn json_matches_the_cli_contract() {
    let c = cluster(Provider::Eks, "1.31", &[("general", "1.31", 3)]);
    let p = plan_of(&c, "1.32", Strategy::InPlace).unwrap();
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["node_rollouts"], 1);
    assert_eq!(json["steps"][0]["action"], "upgrade-control-plane");
    assert_eq!(json["steps"][0]["to"], "1.32");
    assert_eq!(json["steps"][1]["action"], "upgrade-node-pool");
    assert_eq!(json["steps"][1]["node_pool"], "general");
    assert_eq!(json["steps"][1]["to"], "1.32");
}

#[test]
fn text_and_markdown_snapshots() {
    let mut c = cluster(
        Provider::Eks,
        "1.29",
        &[("general", "1.29", 6), ("legacy", "1.27", 2)],
    );
    c.name = "payments-prod".into();
    let p = plan_of(&c, "1.32", Strategy::InPlace).unwrap();
    insta::assert_snapshot!("eks_in_place_text", render_text(&p));
    insta::assert_snapshot!("eks_in_place_markdown", render_markdown(&p));
    let g = cluster(Provider::Gke, "1.30", &[("default-pool", "1.30", 3)]);
    let p = plan_of(&g, "1.32", Strategy::BlueGreen).unwrap();
    insta::assert_snapshot!("gke_blue_green_text", render_text(&p));
    let a = cluster(
        Provider::Aks,
        "1.31",
        &[("system", "1.31", 3), ("user", "1.31", 5)],
    );
    let p = plan_of(&a, "1.32", Strategy::Canary).unwrap();
    insta::assert_snapshot!("aks_canary_markdown", render_markdown(&p));
}

/// The fewest rollouts, by 0-1 breadth-first search over every (control plane, pool versions)
/// state: a move takes one pool to any version up to the control plane (cost 1), a hop moves
/// the control plane one minor when every pool stays legal (cost 0).
fn brute_force_min_rollouts(policy: &SkewPolicy, cp: u32, pools: &[u32], target: u32) -> u32 {
    let legal = |cp: u32, p: &[u32]| {
        p.iter().all(|&m| {
            policy
                .check_node(&KubeVersion::new(1, cp), "p", &KubeVersion::new(1, m))
                .is_ok()
        })
    };
    let mut best: BTreeMap<(u32, Vec<u32>), u32> = BTreeMap::new();
    let mut queue = VecDeque::from([(cp, pools.to_vec(), 0u32)]);
    while let Some((cp, ps, cost)) = queue.pop_front() {
        if best.get(&(cp, ps.clone())).is_some_and(|&b| b <= cost) {
            continue;
        }
        best.insert((cp, ps.clone()), cost);
        if cp < target && legal(cp + 1, &ps) {
            queue.push_front((cp + 1, ps.clone(), cost));
        }
        for i in 0..ps.len() {
            for to in ps[i] + 1..=cp {
                let mut next = ps.clone();
                next[i] = to;
                queue.push_back((cp, next, cost + 1));
            }
        }
    }
    best[&(target, vec![target; pools.len()])]
}

fn check_plan_is_legal(p: &UpgradePlan, snapshot: &ClusterSnapshot, target: u32) {
    let mut cp = snapshot.control_plane.clone();
    for (step, state) in p.steps.iter().zip(p.states()) {
        state
            .check(&p.policy)
            .unwrap_or_else(|e| panic!("illegal after {step:?}: {e}"));
        if let Step::UpgradeControlPlane { to, .. } = step {
            p.policy.check_control_plane_step(&cp, to).unwrap();
            cp = to.clone();
        }
    }
    let last = p.states().pop().unwrap_or_else(|| p.initial.clone());
    assert_eq!(last.control_plane.minor(), target);
    assert!(last.node_pools.iter().all(|pool| pool.version.minor() == target));
    assert_eq!(last.node_pools.len(), snapshot.node_pools.len());
}

fn arb_case() -> impl proptest::strategy::Strategy<Value = (Provider, u32, Vec<u32>, u32)> {
    (
        0usize..3,
        22u32..=33,
        proptest::collection::vec(0u32..=3, 0..=3),
        0u32..=6,
    )
        .prop_filter_map("legal start", |(pi, cp, lags, jump)| {
            let provider = Provider::ALL[pi];
            let policy = SkewPolicy::for_provider(provider);
            let pools: Vec<u32> = lags.iter().map(|l| cp - l).collect();
            let target = (cp + jump).min(35);
            let ok = pools.iter().all(|&m| {
                policy
                    .check_node(&KubeVersion::new(1, cp), "p", &KubeVersion::new(1, m))
                    .is_ok()
            });
            ok.then_some((provider, cp, pools, target))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_plan_is_legal_ends_at_target_and_uses_fewest_rollouts((provider, cp, pools, target) in arb_case()) {
        let named: Vec<(String, String, u32)> = pools.iter().enumerate().map(|(i, m)| (format!("pool{i}"), format!("1.{m}"), 2)).collect();
        let refs: Vec<(&str, &str, u32)> = named.iter().map(|(n, v, c)| (n.as_str(), v.as_str(), *c)).collect();
        let snapshot = cluster(provider, &format!("1.{cp}"), &refs);
        let policy = SkewPolicy::for_provider(provider);
        let fewest = brute_force_min_rollouts(&policy, cp, &pools, target);
        for strategy in [Strategy::InPlace, Strategy::BlueGreen, Strategy::Canary] {
            let p = plan_of(&snapshot, &format!("1.{target}"), strategy).unwrap();
            check_plan_is_legal(&p, &snapshot, target);
            prop_assert_eq!(p.node_rollouts, fewest, "{:?}", strategy);
        }
    }
}

#[test]
fn managed_addons_follow_every_control_plane_hop() {
    let c = cluster(Provider::Eks, "1.30", &[("general", "1.30", 3)]);
    let opts = PlanOptions::new(Provider::Eks, Strategy::InPlace).with_managed_addons(true);
    let p = plan_with(&c, &v("1.32"), &opts).unwrap();
    assert_eq!(
        actions(&p),
        [
            "upgrade-control-plane",
            "update-addons",
            "upgrade-control-plane",
            "update-addons",
            "upgrade-node-pool general"
        ]
    );
    assert_eq!(p.node_rollouts, 1);
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["steps"][1]["to"], "1.31");
}

#[test]
fn canary_new_pool_tries_one_new_node_before_any_pool_moves() {
    let c = cluster(
        Provider::Aks,
        "1.31",
        &[("system", "1.31", 3), ("user", "1.31", 5)],
    );
    let opts = PlanOptions::new(Provider::Aks, Strategy::Canary).with_canary_new_pool(true);
    let p = plan_with(&c, &v("1.32"), &opts).unwrap();
    assert_eq!(
        actions(&p),
        [
            "upgrade-control-plane",
            "create-node-pool canary132",
            "gate canary132",
            "delete-node-pool canary132",
            "upgrade-node-pool system",
            "upgrade-node-pool user"
        ]
    );
    assert!(matches!(&p.steps[1], Step::CreateNodePool { nodes: 1, clone_of, .. } if clone_of == "system"));
    assert_eq!(
        p.node_rollouts, 2,
        "the canary pool is extra capacity, not a rollout"
    );
    let last = p.states().pop().unwrap();
    assert_eq!(last.node_pools.len(), 2);
}
