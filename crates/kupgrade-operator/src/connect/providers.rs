//! EKS, AKS and GKE through kupgrade's adapters. With a credentials Secret, its keys are used
//! (EKS: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional `AWS_SESSION_TOKEN`; AKS:
//! `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`; GKE: `credentials.json`, a
//! service-account key); without one, each adapter's default chain, which picks up the
//! operator pod's workload identity (IRSA or EKS Pod Identity, Azure workload identity, GKE
//! Workload Identity).

use std::collections::BTreeMap;
use std::sync::Arc;

use kupgrade_core::ManagedCluster;

use crate::error::{Error, Result};
use crate::resources::{AksSettings, EksSettings, GkeSettings};

/// The value of `key` in a credentials Secret.
#[cfg_attr(not(any(feature = "eks", feature = "aks", feature = "gke")), allow(dead_code))]
fn key<'a>(secret: &'a BTreeMap<String, String>, key: &str, cluster: &str) -> Result<&'a str> {
    secret
        .get(key)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Connect {
            cluster: cluster.to_string(),
            message: format!("the credentials Secret has no `{key}` key"),
        })
}

#[cfg(not(all(feature = "eks", feature = "aks", feature = "gke")))]
fn not_built(provider: &str) -> Error {
    Error::Invalid(format!(
        "this kupgrade-operator was built without {provider} support; rebuild it with `--features {}`",
        provider.to_lowercase()
    ))
}

/// Connects to an EKS cluster and reads it once, so a wrong name, region or credential fails here.
#[cfg(feature = "eks")]
pub(super) async fn eks(
    settings: &EksSettings,
    credentials: Option<BTreeMap<String, String>>,
) -> Result<Arc<dyn ManagedCluster>> {
    let mut builder = kupgrade_eks::EksClusterBuilder::new()
        .with_cluster(&settings.cluster)
        .with_region(&settings.region);
    if let Some(url) = &settings.endpoint_url {
        builder = builder.with_endpoint(url);
    }
    if let Some(secret) = credentials {
        let creds = aws_credential_types::Credentials::new(
            key(&secret, "AWS_ACCESS_KEY_ID", &settings.cluster)?,
            key(&secret, "AWS_SECRET_ACCESS_KEY", &settings.cluster)?,
            secret.get("AWS_SESSION_TOKEN").cloned(),
            None,
            "kupgrade-operator credentials Secret",
        );
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(settings.region.clone()))
            .credentials_provider(creds);
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        builder = builder
            .with_client(aws_sdk_eks::Client::new(&config))
            .with_ec2_client(kupgrade_eks::Ec2Client::new(&config)?);
    }
    let cluster = builder.build().await?;
    cluster.describe().await?;
    Ok(Arc::new(cluster))
}

#[cfg(not(feature = "eks"))]
pub(super) async fn eks(
    _: &EksSettings,
    _: Option<BTreeMap<String, String>>,
) -> Result<Arc<dyn ManagedCluster>> {
    Err(not_built("EKS"))
}

/// Connects to an AKS cluster and reads it once.
#[cfg(feature = "aks")]
pub(super) async fn aks(
    settings: &AksSettings,
    credentials: Option<BTreeMap<String, String>>,
) -> Result<Arc<dyn ManagedCluster>> {
    let mut builder = kupgrade_aks::AksClusterBuilder::new()
        .with_subscription(&settings.subscription)
        .with_resource_group(&settings.resource_group)
        .with_cluster(&settings.cluster);
    if let Some(url) = &settings.arm_endpoint {
        builder = builder.with_endpoint(url);
    }
    if let Some(secret) = credentials {
        let credential = azure_identity::ClientSecretCredential::new(
            key(&secret, "AZURE_TENANT_ID", &settings.cluster)?,
            key(&secret, "AZURE_CLIENT_ID", &settings.cluster)?.to_string(),
            azure_core::credentials::Secret::new(
                key(&secret, "AZURE_CLIENT_SECRET", &settings.cluster)?.to_string(),
            ),
            None,
        )
        .map_err(|e| Error::Connect {
            cluster: settings.cluster.clone(),
            message: format!("Azure client-secret credential: {e}"),
        })?;
        builder = builder.with_credential(credential);
    }
    let cluster = builder.build()?;
    cluster.describe().await?;
    Ok(Arc::new(cluster))
}

#[cfg(not(feature = "aks"))]
pub(super) async fn aks(
    _: &AksSettings,
    _: Option<BTreeMap<String, String>>,
) -> Result<Arc<dyn ManagedCluster>> {
    Err(not_built("AKS"))
}

/// Connects to a GKE cluster and reads it once.
#[cfg(feature = "gke")]
pub(super) async fn gke(
    settings: &GkeSettings,
    credentials: Option<BTreeMap<String, String>>,
) -> Result<Arc<dyn ManagedCluster>> {
    let mut builder = kupgrade_gke::GkeClusterBuilder::new()
        .with_project(&settings.project)
        .with_location(&settings.location)
        .with_cluster(&settings.cluster);
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(secret) = credentials {
        let failed = |what: &str, e: &dyn std::fmt::Display| Error::Connect {
            cluster: settings.cluster.clone(),
            message: format!("{what}: {e}"),
        };
        let json: serde_json::Value =
            serde_json::from_str(key(&secret, "credentials.json", &settings.cluster)?)
                .map_err(|e| failed("credentials.json is not JSON", &e))?;
        let credentials = google_cloud_auth::credentials::service_account::Builder::new(json)
            .build()
            .map_err(|e| failed("service-account key", &e))?;
        let mut clusters = google_cloud_container_v1::client::ClusterManager::builder()
            .with_credentials(credentials.clone());
        if let Some(endpoint) = &settings.endpoint {
            clusters = clusters.with_endpoint(endpoint.clone());
        }
        let clusters = clusters.build().await.map_err(|e| failed("GKE client", &e))?;
        let recommender = google_cloud_recommender_v1::client::Recommender::builder()
            .with_credentials(credentials)
            .build()
            .await
            .map_err(|e| failed("Recommender client", &e))?;
        builder = builder.with_client(clusters).with_recommender(recommender);
    }
    let cluster = builder.build().await?;
    cluster.describe().await?;
    Ok(Arc::new(cluster))
}

#[cfg(not(feature = "gke"))]
pub(super) async fn gke(
    _: &GkeSettings,
    _: Option<BTreeMap<String, String>>,
) -> Result<Arc<dyn ManagedCluster>> {
    Err(not_built("GKE"))
}
