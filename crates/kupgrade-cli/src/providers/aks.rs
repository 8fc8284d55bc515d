//! `--provider aks`: an [`kupgrade_aks::AksCluster`] from `--subscription`, `--resource-group`, `--cluster`,
//! `--arm-endpoint` and `--no-auth`, with credentials from
//! [`kupgrade_aks::default_credential`] (client secret, workload identity, then `az`/`azd`,
//! then managed identity).

use std::sync::Arc;

use anyhow::{Context, bail};
use kupgrade_aks::AksClusterBuilder;
use kupgrade_core::ManagedCluster;

use super::ClusterArgs;

/// Connects to the AKS cluster the flags name and reads it once, so that a wrong name, resource
/// group or credential fails here with a one-line message.
pub async fn connect(args: &ClusterArgs) -> anyhow::Result<Arc<dyn ManagedCluster>> {
    let subscription = args.required(&args.subscription, "--subscription")?;
    let resource_group = args.required(&args.resource_group, "--resource-group")?;
    let name = args.required(&args.cluster, "--cluster")?;
    if args.no_auth && args.arm_endpoint.is_none() {
        bail!("--no-auth only works with --arm-endpoint (a local ARM endpoint); Azure itself needs a token");
    }
    let mut builder = AksClusterBuilder::new()
        .with_subscription(subscription)
        .with_resource_group(resource_group)
        .with_cluster(name)
        .with_anonymous_credentials(args.no_auth);
    if let Some(url) = &args.arm_endpoint {
        builder = builder.with_endpoint(url);
    }
    let cluster = builder.build()?;
    cluster
        .describe()
        .await
        .with_context(|| format!("cannot read AKS cluster '{name}' in resource group '{resource_group}'"))?;
    Ok(Arc::new(cluster))
}
