//! [`Hop`]: what a check judges, and what the plan does with each node before it.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Node as KNode;
use kupgrade_core::checks::CheckContext;
use kupgrade_core::{KubeVersion, Step, UpgradePlan, VersionState};

/// What a check judges: the control-plane version of one hop and, inside a plan, the versions
/// the plan gives the node pools by then.
#[derive(Debug, Clone, Copy)]
pub struct Hop<'a> {
    /// The control-plane version the hop reaches (the target for once-per-plan checks).
    pub version: &'a KubeVersion,
    /// The plan.
    pub plan: &'a UpgradePlan,
    /// The versions the plan gives the cluster right after the control plane reaches
    /// `version` (pools it moves before the hop included).
    pub at_hop: &'a VersionState,
}

impl<'a> Hop<'a> {
    /// The hop core's registry is running a check for.
    pub fn of(ctx: &'a CheckContext<'a>) -> Self {
        Self {
            version: ctx.hop,
            plan: ctx.plan,
            at_hop: ctx.at_hop,
        }
    }

    /// What the plan does before this hop with the nodes of each pool it knows, found by the
    /// provider's pool label; built once per check run (nodes x pools lookups would not scale).
    pub(crate) fn fates(&self) -> Fates<'a> {
        let (plan, at_hop) = (self.plan, self.at_hop);
        let planned: HashMap<&str, &KubeVersion> = at_hop
            .node_pools
            .iter()
            .map(|p| (p.name.as_str(), &p.version))
            .collect();
        let pools = plan
            .initial
            .node_pools
            .iter()
            .map(|pool| {
                let fate = match planned.get(pool.name.as_str()) {
                    None => NodeFate::Replaced,
                    Some(v) if !v.same_minor(&pool.version) => {
                        NodeFate::Moved(pool.name.clone(), (*v).clone())
                    }
                    Some(_) => NodeFate::Stays(pool.name.clone()),
                };
                (pool.name.as_str(), fate)
            })
            .collect();
        Fates {
            label: plan.provider.pool_node_label("").0,
            pools,
        }
    }

    /// How many minors a kubelet at `kubelet` may lag at this hop: the plan's skew policy (the
    /// provider's rule with its source in `kupgrade_core::skew`, or the user's lag limit).
    pub fn kubelet_lag(&self, kubelet: &KubeVersion) -> i64 {
        i64::from(self.plan.policy.max_lag(kubelet))
    }

    /// The version of the provider-managed add-ons (kube-proxy among them) right before the
    /// control plane reaches this hop: the last `update-addons` step the plan makes before it.
    pub(crate) fn addons_before(&self) -> Option<&'a KubeVersion> {
        let mut last = None;
        for step in &self.plan.steps {
            match step {
                Step::UpgradeControlPlane { to, .. } if to == self.version => return last,
                Step::UpdateAddons { to } => last = Some(to),
                _ => {}
            }
        }
        None
    }
}

/// What a plan does before one hop with the nodes of each pool.
pub(crate) struct Fates<'a> {
    /// The provider's pool label key.
    label: String,
    /// By pool name.
    pools: HashMap<&'a str, NodeFate>,
}

impl Fates<'_> {
    /// What the plan does with `node`.
    pub(crate) fn of(&self, node: &KNode) -> NodeFate {
        node.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(&self.label))
            .and_then(|pool| self.pools.get(pool.as_str()))
            .cloned()
            .unwrap_or(NodeFate::InNoPool)
    }
}

/// What a plan does with one node before a hop.
#[derive(Clone)]
pub(crate) enum NodeFate {
    /// In no pool the plan knows (self-managed, Karpenter, Fargate): the plan does not move it.
    InNoPool,
    /// Its pool is not moved before the hop: judged as it is today.
    Stays(String),
    /// Its pool is moved to this version before the hop: its replacement is judged.
    Moved(String, KubeVersion),
    /// Its pool is replaced by a new one and deleted before the hop (blue/green): gone.
    Replaced,
}
