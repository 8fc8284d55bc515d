//! `--provider gke`: a [`kupgrade_gke::GkeCluster`] from `--project`, `--location`, `--cluster`, `--endpoint`
//! and `--no-auth`, with Application Default Credentials unless `--no-auth`.

use std::sync::Arc;

use anyhow::{Context, bail};
use kupgrade_core::ManagedCluster;
use kupgrade_gke::GkeClusterBuilder;

use super::ClusterArgs;

/// Connects to the GKE cluster the flags name and reads it once, so that a wrong name,
/// location or credential fails here with a one-line message.
pub async fn connect(args: &ClusterArgs) -> anyhow::Result<Arc<dyn ManagedCluster>> {
    let project = args.required(&args.project, "--project")?;
    let location = args.required(&args.location, "--location")?;
    let name = args.required(&args.cluster, "--cluster")?;
    if args.no_auth && args.endpoint.is_none() {
        bail!(
            "--no-auth only works with --endpoint (a local GKE API endpoint); drop it to use Google credentials"
        );
    }
    let mut builder = GkeClusterBuilder::new()
        .with_project(project)
        .with_location(location)
        .with_cluster(name)
        .with_anonymous_credentials(args.no_auth);
    if let Some(endpoint) = &args.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    let cluster = builder.build().await?;
    cluster
        .describe()
        .await
        .with_context(|| format!("cannot read GKE cluster '{name}' in {project}/{location}"))?;
    Ok(Arc::new(cluster))
}
