//! What infrastructure-as-code files declare: clusters, their node pools, and where each
//! version is written (the token an edit replaces), or why it cannot be known.

use std::path::PathBuf;

use kupgrade_core::{ClusterSnapshot, KubeVersion, NodePool, Provider};
use serde::Serialize;

/// Where a version is written: the bytes of one string literal (quotes included) in one file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// Byte offset of the literal's first byte (its opening quote, if quoted).
    pub start: usize,
    /// Byte offset just past the literal.
    pub end: usize,
    /// 1-based line, for people.
    pub line: usize,
}

/// A declared version: the value, the literal it comes from, and the expression that led there
/// (`var.cluster_version`, `local.k8s`, or the literal itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeclaredVersion {
    /// The version, as the literal spells it (`1.29`, `1.29.7`, `1.29.1-gke.1589018`).
    pub value: KubeVersion,
    /// The literal an edit replaces.
    pub location: Location,
    /// How the attribute reaches the literal, outermost first (`var.k8s_version`), empty when
    /// the attribute holds the literal.
    pub via: Vec<String>,
}

/// A version the files declare, or why kupgrade cannot tell it without guessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum VersionRef {
    /// Resolved to a literal.
    Declared(DeclaredVersion),
    /// Not resolvable from the files: the expression and why.
    Unresolved {
        /// The expression as written (or the attribute that is missing).
        expression: String,
        /// Why it cannot be resolved.
        why: String,
    },
}

impl VersionRef {
    /// The declared version, if resolved.
    pub fn declared(&self) -> Option<&DeclaredVersion> {
        match self {
            VersionRef::Declared(d) => Some(d),
            VersionRef::Unresolved { .. } => None,
        }
    }
}

/// A node pool the files declare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IacPool {
    /// The pool's name in the cloud.
    pub name: String,
    /// Where it is declared (`aws_eks_node_group.gpu`, `module.eks.eks_managed_node_groups.general`).
    pub address: String,
    /// Its version.
    pub version: VersionRef,
    /// Its size when written as a literal (for estimates only; 1 when not).
    pub nodes: u32,
}

/// A cluster the files declare, with its pools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IacCluster {
    /// The provider.
    pub provider: Provider,
    /// The cluster's name in the cloud (the resource label when the name is not a literal).
    pub name: String,
    /// Where it is declared (`aws_eks_cluster.prod`, `module.eks`, `eksctl prod.yaml`).
    pub address: String,
    /// The control plane's version.
    pub control_plane: VersionRef,
    /// Its node pools.
    pub pools: Vec<IacPool>,
    /// What the files make the provider do that the versions alone do not say (a GKE release
    /// channel that overrides the version, pools that follow the control plane).
    pub warnings: Vec<String>,
}

impl IacCluster {
    /// The cluster as the files declare it, for the planner. Pools whose version is not
    /// resolvable are left out (each is named in the error when the control plane is not
    /// resolvable, and in [`IacCluster::unplanned`] otherwise).
    pub fn snapshot(&self) -> kupgrade_core::Result<ClusterSnapshot> {
        let control_plane = match &self.control_plane {
            VersionRef::Declared(d) => d.value.minor_version(),
            VersionRef::Unresolved { expression, why } => {
                return Err(kupgrade_core::Error::invalid_input(format!(
                    "{}: the control plane's version `{expression}` cannot be read from the files: {why}",
                    self.address
                )));
            }
        };
        // A pool whose version is the control plane's own literal (an EKS-module node group
        // without a version) moves with every control-plane edit: it is not planned apart.
        let node_pools = self
            .pools
            .iter()
            .filter(|p| !self.follows_control_plane(p))
            .filter_map(|p| {
                let d = p.version.declared()?;
                Some(NodePool::new(p.name.clone(), d.value.minor_version(), p.nodes))
            })
            .collect();
        Ok(ClusterSnapshot {
            provider: self.provider,
            name: self.name.clone(),
            control_plane,
            status: Default::default(),
            node_pools,
            auto_upgrade: None,
            id: None,
        })
    }

    /// Whether `pool`'s version is declared by the control plane's own literal, so that it
    /// moves with every control-plane step.
    pub fn follows_control_plane(&self, pool: &IacPool) -> bool {
        match (&self.control_plane, &pool.version) {
            (VersionRef::Declared(cp), VersionRef::Declared(p)) => cp.location == p.location,
            _ => false,
        }
    }

    /// The pools left out of the plan because their version cannot be read, one line each.
    pub fn unplanned(&self) -> Vec<String> {
        self.pools
            .iter()
            .filter_map(|p| match &p.version {
                VersionRef::Unresolved { expression, why } => {
                    Some(format!("{} (`{expression}`): {why}", p.address))
                }
                VersionRef::Declared(_) => None,
            })
            .collect()
    }
}

/// Everything found under the paths given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// The clusters.
    pub clusters: Vec<IacCluster>,
    /// Files read.
    pub files: Vec<PathBuf>,
}

impl Discovery {
    /// The cluster named `name` (cloud name or address), or the only one when `name` is
    /// `None`; an error naming every cluster found otherwise.
    pub fn cluster(&self, name: Option<&str>) -> kupgrade_core::Result<&IacCluster> {
        let names = || {
            self.clusters
                .iter()
                .map(|c| format!("{} ({})", c.name, c.address))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match name {
            Some(wanted) => self
                .clusters
                .iter()
                .find(|c| c.name == wanted || c.address == wanted)
                .ok_or_else(|| {
                    kupgrade_core::Error::not_found(
                        "cluster in the files",
                        wanted,
                        format!("found: {}", names()),
                    )
                }),
            None => match self.clusters.as_slice() {
                [one] => Ok(one),
                [] => Err(kupgrade_core::Error::invalid_input(
                    "no cluster found in the files: kupgrade reads aws_eks_cluster, the terraform-aws-modules EKS module, azurerm_kubernetes_cluster, google_container_cluster and eksctl ClusterConfig",
                )),
                _ => Err(kupgrade_core::Error::invalid_input(format!(
                    "the files declare {} clusters ({}); name one with --cluster",
                    self.clusters.len(),
                    names()
                ))),
            },
        }
    }
}

/// 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses a version literal's content as the providers write it (`1.29`, `1.29.7`,
/// `1.29.1-gke.1589018`, `v1.29`).
pub(crate) fn parse_version(text: &str) -> Option<KubeVersion> {
    KubeVersion::parse(text.trim().trim_start_matches('v')).ok()
}
