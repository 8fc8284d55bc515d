//! Human-readable renderings of a plan: a numbered text plan with the skew after every step,
//! and a Markdown playbook a team can paste into a change ticket.

use std::fmt::Write;

use crate::concurrency::OperationConcurrency;
use crate::estimate::{Estimate, human_duration};
use crate::plan::{StateWalk, Step, UpgradePlan};
use crate::provider::Provider;

/// A numbered plan with the versions and skew after each step.
pub fn render_text(plan: &UpgradePlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Upgrade plan for {} cluster '{}': control plane {} -> {} ({} strategy, {} skew rules)",
        plan.provider, plan.cluster, plan.initial.control_plane, plan.target, plan.strategy, plan.policy.name
    );
    let mut walk = StateWalk::new(&plan.initial);
    let graph = plan.graph();
    let _ = writeln!(out, "before: {}", skew_line(&walk, plan, None));
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "Nothing to do: the control plane and every node pool are at {}.",
            plan.target
        );
    }
    for (n, step) in plan.steps.iter().enumerate() {
        walk.apply(step);
        let _ = writeln!(out, "{:>3}. {}", n + 1, step.describe());
        if let Some(reason) = reason(step) {
            let _ = writeln!(out, "     why: {reason}");
        }
        if !matches!(
            step,
            Step::Gate { .. } | Step::CordonNodePool { .. } | Step::DrainNodePool { .. }
        ) {
            let _ = writeln!(out, "     after: {}", skew_line(&walk, plan, step.node_pool()));
        }
        let _ = writeln!(out, "     starts: {}", when(plan, graph.after(n), n));
    }
    let _ = writeln!(
        out,
        "{} control-plane hop(s), {} node rollout(s).",
        plan.hops().len(),
        plan.node_rollouts
    );
    if let Some(estimate) = &plan.estimate {
        let _ = writeln!(out, "{}", window_line(plan, estimate));
    }
    for warning in &plan.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

/// `when step 1 is done; about 16m 00s, at +45m 00s`.
fn when(plan: &UpgradePlan, after: &[usize], index: usize) -> String {
    let waits = match after {
        [] => "at once".to_string(),
        [one] => format!("when step {} is done", one + 1),
        many => {
            let list: Vec<String> = many.iter().map(|i| (i + 1).to_string()).collect();
            format!("when steps {} are done", list.join(", "))
        }
    };
    match plan.estimate.as_ref().and_then(|e| e.steps.get(index)) {
        Some(t) => format!(
            "{waits}; about {}, at +{}",
            human_duration(t.seconds),
            human_duration(t.starts_at)
        ),
        None => waits,
    }
}

/// Two lines: the estimated window and its critical path, then what the estimate assumes.
pub fn window_line(plan: &UpgradePlan, estimate: &Estimate) -> String {
    let path: Vec<String> = estimate
        .critical_path
        .iter()
        .map(|i| (i + 1).to_string())
        .collect();
    let pools = match plan.parallel_pools() {
        usize::MAX => "every pool a step allows at once".to_string(),
        1 => "one pool at a time".to_string(),
        n => format!("at most {n} pools at once"),
    };
    let provider_rule = match OperationConcurrency::for_provider(plan.provider) {
        OperationConcurrency::PoolsInParallel => "node pools side by side, the control plane alone",
        _ => "one operation at a time",
    };
    format!(
        "Estimated window: {}; critical path: steps {}.\n  ({pools}; {}: {provider_rule}; durations: {})",
        human_duration(estimate.seconds),
        path.join(" > "),
        plan.provider.display_name(),
        estimate.basis
    )
}

fn reason(step: &Step) -> Option<&str> {
    match step {
        Step::UpgradeNodePool { reason, .. } | Step::CreateNodePool { reason, .. } => Some(reason),
        _ => None,
    }
}

/// Up to this many pools, the skew line lists every pool; beyond, it counts pools per minor.
const SKEW_LINE_POOLS: usize = 12;

/// `control plane 1.30 | general 1.29 (-1/3), gpu 1.28 (-2/3)`; for a cluster of more than
/// [`SKEW_LINE_POOLS`] pools, the pool the step touched and the count per minor instead, so the
/// text stays linear in the number of pools:
/// `control plane 1.30 | general-17 1.30 (-0/3) | 10000 pools: 9999 at 1.29 (-1/3), 1 at 1.30 (-0/3)`.
fn skew_line(walk: &StateWalk, plan: &UpgradePlan, touched: Option<&str>) -> String {
    let control_plane = walk.control_plane();
    let lag = |version: &crate::version::KubeVersion| {
        format!(
            "(-{}/{})",
            control_plane.minors_ahead_of(version),
            plan.policy.max_lag(version)
        )
    };
    if walk.pool_count() == 0 {
        return format!("control plane {control_plane}");
    }
    if walk.pool_count() <= SKEW_LINE_POOLS {
        let pools: Vec<String> = walk
            .pools()
            .map(|p| format!("{} {} {}", p.name, p.version, lag(&p.version)))
            .collect();
        return format!("control plane {control_plane} | {}", pools.join(", "));
    }
    let mut line = format!("control plane {control_plane}");
    if let Some(pool) = touched.and_then(|name| walk.pool(name)) {
        let _ = write!(line, " | {} {} {}", pool.name, pool.version, lag(&pool.version));
    }
    let minors: Vec<String> = walk
        .minors()
        .iter()
        .map(|(&minor, &count)| {
            let version = crate::version::KubeVersion::new(control_plane.major(), minor);
            format!("{count} at {version} {}", lag(&version))
        })
        .collect();
    let _ = write!(line, " | {} pools: {}", walk.pool_count(), minors.join(", "));
    line
}

/// A Markdown playbook: summary, pre-flight checklist, one checkbox per step with the
/// provider's own command, and the rollback notes.
pub fn render_markdown(plan: &UpgradePlan) -> String {
    let mut out = String::new();
    let c = &plan.cluster;
    let _ = writeln!(
        out,
        "# Upgrade playbook: {} `{c}` {} -> {}\n",
        plan.provider.display_name(),
        plan.initial.control_plane,
        plan.target
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Strategy | {} |", plan.strategy);
    let _ = writeln!(out, "| Skew rules | {} |", plan.policy.name);
    let _ = writeln!(out, "| Control-plane hops | {} |", plan.hops().len());
    let _ = writeln!(out, "| Node rollouts | {} |", plan.node_rollouts);
    let _ = writeln!(out, "| Steps | {} |", plan.steps.len());
    if let Some(estimate) = &plan.estimate {
        let _ = writeln!(out, "| Estimated window | {} |", human_duration(estimate.seconds));
    }
    let _ = writeln!(out);
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "## Warnings\n");
        for w in &plan.warnings {
            let _ = writeln!(out, "- {w}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Before you start\n");
    for item in [
        "Run `kupgrade check` for every hop and resolve every blocker (deprecated APIs, PDBs that block drains, skew).",
        "Confirm a maintenance window and who is on call.",
        "Pause provider auto-upgrades for the duration.",
        "Back up what you cannot recreate (etcd-backed state, PVC snapshots).",
    ] {
        let _ = writeln!(out, "- [ ] {item}");
    }
    let _ = writeln!(out, "\n## Steps\n");
    if plan.is_empty() {
        let _ = writeln!(out, "Nothing to do: everything is at {}.", plan.target);
    }
    let mut walk = StateWalk::new(&plan.initial);
    let graph = plan.graph();
    for (n, step) in plan.steps.iter().enumerate() {
        walk.apply(step);
        let _ = writeln!(out, "{}. [ ] {}", n + 1, step.describe());
        if let Some(reason) = reason(step) {
            let _ = writeln!(out, "   - Why: {reason}");
        }
        let _ = writeln!(out, "   - Starts: {}", when(plan, graph.after(n), n));
        if let Some(cmd) = command(plan.provider, c, step) {
            let _ = writeln!(out, "   - Command: `{cmd}`");
        }
        let _ = writeln!(
            out,
            "   - Expected after: {}",
            skew_line(&walk, plan, step.node_pool())
        );
    }
    let _ = writeln!(out, "\n## If something goes wrong\n");
    let _ = writeln!(
        out,
        "- A control-plane upgrade cannot be undone in place on every provider; stop and assess before the next hop."
    );
    let _ = writeln!(
        out,
        "- A drain stuck on a PodDisruptionBudget: find the PDB named in the error, scale the workload or relax the PDB; never force without the owner's consent."
    );
    if plan.strategy == crate::plan::Strategy::BlueGreen {
        let _ = writeln!(
            out,
            "- Blue/green: until the old pool is deleted, uncordon it and delete the new pool to roll back."
        );
    }
    out
}

/// The provider CLI command that performs `step` by hand, for the playbook.
fn command(provider: Provider, cluster: &str, step: &Step) -> Option<String> {
    let label = |pool: &str| {
        let (k, v) = provider.pool_node_label(pool);
        format!("{k}={v}")
    };
    Some(match (provider, step) {
        (Provider::Eks, Step::UpgradeControlPlane { to, .. }) => {
            format!("aws eks update-cluster-version --name {cluster} --kubernetes-version {to}")
        }
        (Provider::Aks, Step::UpgradeControlPlane { to, .. }) => {
            format!("az aks upgrade -g $RESOURCE_GROUP -n {cluster} --control-plane-only -k {to}")
        }
        (Provider::Gke, Step::UpgradeControlPlane { to, .. }) => {
            format!("gcloud container clusters upgrade {cluster} --master --cluster-version {to}")
        }
        (Provider::Eks, Step::UpgradeNodePool { node_pool, to, .. }) => format!(
            "aws eks update-nodegroup-version --cluster-name {cluster} --nodegroup-name {node_pool} --kubernetes-version {to}"
        ),
        (Provider::Aks, Step::UpgradeNodePool { node_pool, to, .. }) => format!(
            "az aks nodepool upgrade -g $RESOURCE_GROUP --cluster-name {cluster} -n {node_pool} -k {to}"
        ),
        (Provider::Gke, Step::UpgradeNodePool { node_pool, to, .. }) => format!(
            "gcloud container clusters upgrade {cluster} --node-pool {node_pool} --cluster-version {to}"
        ),
        (
            Provider::Eks,
            Step::CreateNodePool {
                node_pool, to, nodes, ..
            },
        ) => {
            format!(
                "eksctl create nodegroup --cluster {cluster} --name {node_pool} --version {to} --nodes {nodes}"
            )
        }
        (
            Provider::Aks,
            Step::CreateNodePool {
                node_pool, to, nodes, ..
            },
        ) => format!(
            "az aks nodepool add -g $RESOURCE_GROUP --cluster-name {cluster} -n {node_pool} -k {to} -c {nodes}"
        ),
        (
            Provider::Gke,
            Step::CreateNodePool {
                node_pool, to, nodes, ..
            },
        ) => format!(
            "gcloud container node-pools create {node_pool} --cluster {cluster} --node-version {to} --num-nodes {nodes}"
        ),
        (Provider::Eks, Step::UpdateAddons { to }) => format!(
            "aws eks describe-addon-versions --kubernetes-version {to}, then aws eks update-addon --cluster-name {cluster} --addon-name NAME --addon-version DEFAULT for each installed add-on"
        ),
        (_, Step::UpdateAddons { .. }) => return None,
        (_, Step::Addon { addon, install, .. }) => {
            format!("# install {addon} {install} (helm upgrade, or however you installed it)")
        }
        (_, Step::CordonNodePool { node_pool }) => format!("kubectl cordon -l {}", label(node_pool)),
        (_, Step::DrainNodePool { node_pool }) => format!(
            "kubectl drain -l {} --ignore-daemonsets --delete-emptydir-data --timeout 15m",
            label(node_pool)
        ),
        (Provider::Eks, Step::DeleteNodePool { node_pool, .. }) => {
            format!("aws eks delete-nodegroup --cluster-name {cluster} --nodegroup-name {node_pool}")
        }
        (Provider::Aks, Step::DeleteNodePool { node_pool, .. }) => {
            format!("az aks nodepool delete -g $RESOURCE_GROUP --cluster-name {cluster} -n {node_pool}")
        }
        (Provider::Gke, Step::DeleteNodePool { node_pool, .. }) => {
            format!("gcloud container node-pools delete {node_pool} --cluster {cluster}")
        }
        (_, Step::Gate { node_pool, .. }) => match node_pool {
            Some(pool) => format!(
                "kubectl get nodes -l {} && kubectl get pods -A --field-selector status.phase!=Running,status.phase!=Succeeded",
                label(pool)
            ),
            None => "kubectl get pods -A --field-selector status.phase!=Running,status.phase!=Succeeded"
                .to_string(),
        },
    })
}
