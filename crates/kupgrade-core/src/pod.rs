//! [`PodRef`] and [`DrainBlocker`]: how a pod and a pod a drain could not evict are named, in
//! errors, events and reports alike.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A pod, named the way `kubectl` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PodRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A pod a drain could not evict, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainBlocker {
    /// The node being drained.
    pub node: String,
    /// The pod that would not leave.
    pub pod: PodRef,
    /// The PodDisruptionBudget that protects it.
    pub pdb: String,
    /// The reason given.
    pub reason: String,
    /// How long the drain kept trying.
    pub blocked_for_secs: u64,
}

impl fmt::Display for DrainBlocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pod {} on node {} is protected by PodDisruptionBudget {} ({}; blocked for {}s)",
            self.pod, self.node, self.pdb, self.reason, self.blocked_for_secs
        )
    }
}
