//! Deprecated and removed kubelet command-line flags, and where node configuration passes them.
//!
//! The kubelet exits with `unknown flag` when it is started with a flag its release removed, so a
//! node pool whose user data still passes one never joins after the upgrade. Kubelet flags are
//! not visible through the Kubernetes API; they live in node bootstrap configuration. This module
//! finds them, in kubelet context only (so `bootstrap.sh --container-runtime` is not mistaken for
//! the kubelet flag of the same name), in:
//!
//! - EKS user data: `bootstrap.sh --kubelet-extra-args '...'` (AL2), nodeadm `NodeConfig`
//!   `spec.kubelet.flags` (AL2023), MIME multi-part user data, and user data exactly as the EC2 API
//!   returns it (base64), e.g. node groups' launch templates read by `kupgrade-eks`;
//! - Karpenter `EC2NodeClass` user data and Cluster API kubeadm configs in the cluster ([`gather`]);
//! - systemd units and environment files: `KUBELET_EXTRA_ARGS=...`, `ExecStart=/usr/bin/kubelet ...`;
//! - kubeadm and Cluster API: `nodeRegistration.kubeletExtraArgs` (map or `name`/`value` list);
//! - Terraform and eksctl files that embed any of the above (`bootstrap_extra_args`,
//!   `overrideBootstrapCommand`).
//!
//! The embedded table ([`KubeletFlagTable::builtin`]) lists each flag with the release that
//! deprecated it, the release that removed it, what to do instead, and its source.

mod parse;
mod sources;
mod table;
#[cfg(test)]
mod tests;

pub use parse::flags_in;
pub use sources::{gather, read_paths};
pub use table::{KubeletFlag, KubeletFlagTable};
