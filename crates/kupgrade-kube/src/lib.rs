//! # kupgrade-kube
//!
//! The Kubernetes side of an upgrade, over `kube` and `k8s-openapi`:
//!
//! - **Find deprecated and removed APIs** before they break a hop: [`scan::Scanner`] reads
//!   manifest files and folders (multi-document YAML, JSON, `kind: List`, `helm template`
//!   output, Helm release secrets) against the embedded [`deprecations::DeprecationTable`]
//!   (generated from Kubernetes' prerelease-lifecycle data: every deprecation and removal 1.16
//!   through 1.36, plus your own entries for CRDs and add-ons);
//!   [`live::scan_cluster`] asks a live cluster who still *writes* with old versions
//!   (`managedFields`, `last-applied-configuration`, the `apiserver_requested_deprecated_apis`
//!   metric, deployed Helm releases) and which CRD versions are deprecated, unserved or still
//!   stored.
//! - **Check the cluster before each hop**: [`checks::register`] adds the in-cluster checks
//!   (`KUP-KUBE-*`: skew of kubelets and kube-proxy, PDBs that block drains naming the pod, pods
//!   without a controller, single replicas, in-tree volumes, ...) and the deprecated-API gate
//!   ([`api_gate`], `KUP-API-*`: the live scan read once, an API version removed at a hop blocks
//!   that hop) to core's `CheckRegistry`;
//!   [`kubelet_flags`] finds kubelet flags the target removes in node configuration (EKS user
//!   data, nodeadm, kubeadm, Karpenter, systemd units).
//! - **Drain through the Eviction API**: [`workloads::KubeWorkloads`] implements core's
//!   `ClusterWorkloads`, so core's PDB-aware drain (cordon, evict, retry 429, report the
//!   blocker) runs against a real cluster.
//! - **Smoke-test after the upgrade**: [`smoke`] runs a temporary pod and service, a PVC on the
//!   default StorageClass, compares workload health with the pre-upgrade snapshot, and runs your
//!   own check commands; [`bench_security`] runs kube-bench as a Job and summarizes its results.
//!
//! Scan a manifest without any cluster:
//!
//! ```
//! use kupgrade_core::KubeVersion;
//! use kupgrade_kube::deprecations::DeprecationTable;
//! use kupgrade_kube::scan::Scanner;
//!
//! let manifest = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\n";
//! let scanner = Scanner::new(DeprecationTable::builtin(), KubeVersion::parse("1.25")?);
//! let mut report = scanner.new_report();
//! scanner.scan_text(manifest, "pdb.yaml", &mut report);
//! let finding = &report.findings[0];
//! assert_eq!(finding.replacement.as_deref(), Some("policy/v1"));
//! assert!(finding.removed);
//! assert_eq!(report.exit_code(), 3); // removed in the target
//! # Ok::<(), kupgrade_core::Error>(())
//! ```

pub mod addons;
pub mod api_gate;
pub mod bench_security;
pub mod checks;
pub mod deprecations;
#[cfg(feature = "eks-token")]
pub mod eks_token;
pub mod helm;
pub mod kubelet_flags;
pub mod lease;
pub mod live;
pub mod manifests;
mod object;
pub mod scan;
pub mod smoke;
pub mod workloads;

pub use deprecations::{Deprecation, DeprecationTable};
pub use lease::ClusterLease;
pub use scan::{ScanFinding, ScanReport, Scanner};
pub use workloads::KubeWorkloads;

use kupgrade_core::Error;

/// Maps a kube-rs error to kupgrade's error: 404 not found, 401/403 permission, 429 throttled,
/// 409 conflict, 5xx and connection failures transient (retried), anything else a provider error.
/// The kube-rs error is kept as the source of its [`Cause`](kupgrade_core::Cause).
pub fn kube_error(err: kube::Error) -> Error {
    classify(&err).caused_by(kupgrade_core::Cause::kubernetes("call", err))
}

fn classify(err: &kube::Error) -> Error {
    match err {
        kube::Error::Api(status) => {
            let msg = if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            };
            match status.code {
                404 => Error::not_found("object", msg, ""),
                401 | 403 => Error::permission(format!(
                    "{msg}; check the kubeconfig user's RBAC (kupgrade needs to list nodes, pods, PDBs and create evictions)"
                )),
                409 => Error::invalid_transition(msg),
                429 => Error::throttled(None),
                500..=599 => Error::transient(format!("API server {}: {msg}", status.code)),
                code => Error::provider(format!("API server {code}: {msg}")),
            }
        }
        kube::Error::HyperError(e) => Error::transient(format!("cannot reach the API server: {e}")),
        kube::Error::Service(e) => Error::transient(format!("cannot reach the API server: {e}")),
        other => Error::provider(other.to_string()),
    }
}
