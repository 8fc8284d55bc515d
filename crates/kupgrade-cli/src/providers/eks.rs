//! `--provider eks`: an [`kupgrade_eks::EksCluster`] from `--cluster`, `--region`, `--profile` and
//! `--endpoint-url`, with credentials from the AWS SDK's default chain.

use std::sync::Arc;

use anyhow::Context;
use kupgrade_core::ManagedCluster;
use kupgrade_eks::EksClusterBuilder;

use super::ClusterArgs;

/// Connects to the EKS cluster the flags name and reads it once, so that a wrong name, region
/// or credential fails here with a one-line message.
pub async fn connect(args: &ClusterArgs) -> anyhow::Result<Arc<dyn ManagedCluster>> {
    let name = args.required(&args.cluster, "--cluster")?;
    let mut builder = EksClusterBuilder::new().with_cluster(name);
    if let Some(region) = &args.region {
        builder = builder.with_region(region);
    }
    if let Some(profile) = &args.profile {
        builder = builder.with_profile(profile);
    }
    if let Some(url) = &args.endpoint_url {
        builder = builder.with_endpoint(url);
    }
    let cluster = builder.build().await?;
    cluster
        .describe()
        .await
        .with_context(|| format!("cannot read EKS cluster '{name}'"))?;
    Ok(Arc::new(cluster))
}
