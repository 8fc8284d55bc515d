//! # kupgrade-aks
//!
//! Upgrade Azure Kubernetes Service clusters with kupgrade. [`AksCluster`] implements
//! [`kupgrade_core::ManagedCluster`] over Azure Resource Manager (api-version
//! [`API_VERSION`]) with a small typed client on the `azure_core` pipeline, so the planner,
//! checks and executor of `kupgrade-core` work on AKS unchanged.
//!
//! What it does, in ARM terms:
//! - **describe**: GET the managed cluster and its agent pools (running versions,
//!   mode, count, VM size, upgrade settings, `provisioningState`, auto-upgrade channel);
//! - **versions**: `locations/{loc}/kubernetesVersions` ([`AksCluster::catalogue`]) and
//!   `upgradeProfiles/default` ([`AksCluster::upgrade_options`]);
//! - **control plane only**: GET, PUT the cluster's writable state with `kubernetesVersion`
//!   changed and `If-Match` on its `eTag` (a 412 is read again and retried once); legacy
//!   clusters and clusters on an auto-upgrade channel are refused up front;
//! - **pools**: PUT the agent pool with `orchestratorVersion` changed, its own
//!   `upgradeSettings` kept unless other rollout settings are asked for, and `If-Match` on
//!   `properties.eTag`; read-only fields, `nodeImageVersion`, `overrideSettings` and
//!   `servicePrincipalProfile` are never echoed; create and delete pools for blue/green;
//!   [`AksCluster::abort`] cancels a running operation;
//! - **operations**: ids carry the `Azure-AsyncOperation` (else `Location`) URL, so a resumed
//!   run finds the operation again; without one, `provisioningState` is read.
//!
//! Connect with [`AksClusterBuilder`]. Credentials come from [`default_credential`] unless
//! you inject one; `with_anonymous_credentials(true)` with a local endpoint is for tests:
//!
//! ```
//! use kupgrade_aks::AksClusterBuilder;
//! use kupgrade_core::{ManagedCluster, Provider};
//!
//! let cluster = AksClusterBuilder::new()
//!     .with_subscription("00000000-0000-0000-0000-000000000000")
//!     .with_resource_group("rg-prod")
//!     .with_cluster("aks-prod")
//!     .with_endpoint("http://127.0.0.1:8080") // a local ARM stand-in
//!     .with_anonymous_credentials(true)
//!     .build()?;
//! assert_eq!(cluster.provider(), Provider::Aks);
//! assert_eq!(cluster.provider().pool_node_label("user1").0, "kubernetes.azure.com/agentpool");
//!
//! // Bad input is refused before any request, with the fix in the message.
//! let err = AksClusterBuilder::new().with_subscription("s").with_resource_group("g").with_cluster("c")
//!     .with_anonymous_credentials(true).build().unwrap_err();
//! assert!(err.to_string().contains("local ARM endpoint"));
//! # Ok::<(), kupgrade_core::Error>(())
//! ```
//!
//! With a real subscription, `AksClusterBuilder::from_env().build()?.describe().await?` reads
//! the cluster named by `AZURE_SUBSCRIPTION_ID`, `AZURE_RESOURCE_GROUP` and `AKS_CLUSTER`.

mod arm;
mod builder;
mod cluster;
mod components;
mod convert;
mod error;
mod models;
mod writes;

pub use arm::API_VERSION;
pub use builder::{AksClusterBuilder, PUBLIC_ARM_ENDPOINT, default_credential, env};
pub use cluster::{AbortOutcome, AksCluster, AksPoolDetails, AksVersion, UpgradeOptions};
pub use components::{AksComponent, AksComponentsCheck, COMPONENTS_CHECK_ID};
pub use convert::{UndrainableNodeBehavior, validate_pool_name};
pub use error::{ArmError, DEPRECATED_API_BLOCK};
