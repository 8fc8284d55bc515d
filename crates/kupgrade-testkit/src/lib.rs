//! What kupgrade's tests share, kept in one place instead of copied between test files
//! (`publish = false`):
//!
//! - [`moto`]: starts `moto_server` (PyPI `moto[server]`, installed by `scripts/test`) or the
//!   extended EKS emulator `integration-tests/moto/eks_server.py` on 127.0.0.1, and makes
//!   clusters on it through the SDK;
//! - [`arm_mock`]: a stateful mock of the AKS ARM API on wiremock, held to the published spec
//!   and examples;
//! - [`FakeWorkloads`]: the in-cluster side of a fake cloud: Ready nodes per pool, no pods;
//! - [`v`]: a version from a string.
//!
//! ```
//! use kupgrade_core::{ClusterWorkloads, KubeVersion};
//! use kupgrade_testkit::{FakeWorkloads, v};
//!
//! let nodes = FakeWorkloads::new(|pool| (pool == "general").then(|| (v("1.31"), 2)));
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! assert_eq!(nodes.nodes("general").await.unwrap().len(), 2);
//! assert!(nodes.nodes("other").await.unwrap().is_empty());
//! # });
//! ```

pub mod arm_mock;
pub mod moto;
mod versions;
mod workloads;

pub use versions::v;
pub use workloads::FakeWorkloads;
