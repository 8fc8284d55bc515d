//! [`GkeClusterBuilder`]: which cluster, which endpoint, which credentials, which client.

use google_cloud_container_v1::client::ClusterManager;
use google_cloud_recommender_v1::client::Recommender;
use kupgrade_core::{Error, Hint, Provider, Result, Setting};

use crate::cluster::GkeCluster;
use crate::convert::PoolUpgradeStrategy;

/// Environment variables [`GkeClusterBuilder::from_env`] reads, first match wins.
pub const PROJECT_ENV: [&str; 2] = ["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"];
/// Location variables, first match wins.
pub const LOCATION_ENV: [&str; 3] = [
    "KUPGRADE_GKE_LOCATION",
    "CLOUDSDK_COMPUTE_REGION",
    "CLOUDSDK_COMPUTE_ZONE",
];
/// Cluster name variables, first match wins.
pub const CLUSTER_ENV: [&str; 2] = ["KUPGRADE_GKE_CLUSTER", "CLOUDSDK_CONTAINER_CLUSTER"];
/// Endpoint override variable.
pub const ENDPOINT_ENV: &str = "KUPGRADE_GKE_ENDPOINT";
/// Set to `1` to send no credentials (only with [`ENDPOINT_ENV`]).
pub const NO_AUTH_ENV: &str = "KUPGRADE_GKE_NO_AUTH";

/// Configures and builds a [`GkeCluster`].
///
/// By default the client uses Application Default Credentials and
/// `https://container.googleapis.com`. Tests either point it at a local server with
/// [`with_endpoint`](Self::with_endpoint) and [`with_anonymous_credentials`](Self::with_anonymous_credentials),
/// or inject a client built with `ClusterManager::from_stub` through
/// [`with_client`](Self::with_client).
#[derive(Debug, Clone, Default)]
pub struct GkeClusterBuilder {
    project: Option<String>,
    location: Option<String>,
    cluster: Option<String>,
    endpoint: Option<String>,
    anonymous: bool,
    client: Option<ClusterManager>,
    recommender: Option<Recommender>,
    strategy: PoolUpgradeStrategy,
}

fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

impl GkeClusterBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder filled from the environment: [`PROJECT_ENV`], [`LOCATION_ENV`],
    /// [`CLUSTER_ENV`], [`ENDPOINT_ENV`] and [`NO_AUTH_ENV`]. Setters called afterwards
    /// override it.
    pub fn from_env() -> Self {
        Self {
            project: env_first(&PROJECT_ENV),
            location: env_first(&LOCATION_ENV),
            cluster: env_first(&CLUSTER_ENV),
            endpoint: env_first(&[ENDPOINT_ENV]),
            anonymous: std::env::var(NO_AUTH_ENV).is_ok_and(|v| v == "1"),
            ..Self::default()
        }
    }

    /// The Google Cloud project id.
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The cluster's location: a region (regional cluster) or a zone (zonal cluster).
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// The cluster's name.
    pub fn with_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = Some(cluster.into());
        self
    }

    /// Talks to `endpoint` (e.g. `http://127.0.0.1:8080`) instead of `container.googleapis.com`.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Sends no credentials; only allowed together with [`with_endpoint`](Self::with_endpoint).
    pub fn with_anonymous_credentials(mut self, anonymous: bool) -> Self {
        self.anonymous = anonymous;
        self
    }

    /// Uses this client (e.g. `ClusterManager::from_stub(fake)` in tests); endpoint and
    /// credential settings are then ignored.
    pub fn with_client(mut self, client: ClusterManager) -> Self {
        self.client = Some(client);
        self
    }

    /// Reads GKE's deprecation insights through this Recommender client (a stub in tests).
    /// Without one, a cluster built with Google's default credentials makes its own, and one
    /// built with [`with_client`](Self::with_client), an endpoint or anonymous credentials
    /// reads none.
    pub fn with_recommender(mut self, client: Recommender) -> Self {
        self.recommender = Some(client);
        self
    }

    /// How [`kupgrade_core::ManagedCluster::upgrade_node_pool`] replaces nodes: surge (the
    /// default) or GKE's native blue/green.
    pub fn with_node_pool_strategy(mut self, strategy: PoolUpgradeStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Builds the cluster handle. Makes no API call (except credential discovery); the first
    /// `describe` tells whether the cluster exists.
    pub async fn build(self) -> Result<GkeCluster> {
        let need = |v: Option<String>, what: &str, fix: &str, setting: Setting| {
            v.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                Error::invalid_input(format!("GKE {what} is not set; {fix}"))
                    .with_hint(Hint::Settings(vec![setting]))
            })
        };
        let project = need(
            self.project,
            "project",
            "give it with `with_project` or GOOGLE_CLOUD_PROJECT",
            Setting::Project,
        )?;
        let location = need(
            self.location,
            "location",
            "give a region or zone with `with_location` or KUPGRADE_GKE_LOCATION",
            Setting::Location,
        )?;
        let cluster = need(
            self.cluster,
            "cluster",
            "give it with `with_cluster` or KUPGRADE_GKE_CLUSTER",
            Setting::Cluster,
        )?;
        for (what, value) in [
            ("project", &project),
            ("location", &location),
            ("cluster", &cluster),
        ] {
            if value.contains('/') {
                return Err(Error::invalid_input(format!(
                    "GKE {what} '{value}' must be a plain name, not a resource path"
                )));
            }
        }
        let default_credentials = self.client.is_none() && self.endpoint.is_none() && !self.anonymous;
        let recommender = match self.recommender {
            Some(client) => Some(Ok(client)),
            None if default_credentials => Some(
                Recommender::builder()
                    .build()
                    .await
                    .map_err(|e| format!("could not create the Recommender client: {e}")),
            ),
            None => None,
        };
        let client = match self.client {
            Some(client) => client,
            None => {
                if self.anonymous && self.endpoint.is_none() {
                    return Err(Error::invalid_input(
                        "anonymous credentials are only for a local endpoint; give one with `with_endpoint`",
                    )
                    .with_hint(Hint::Settings(vec![
                        Setting::AnonymousCredentials,
                        Setting::Endpoint(Provider::Gke),
                    ])));
                }
                let mut builder = ClusterManager::builder();
                if let Some(endpoint) = &self.endpoint {
                    builder = builder.with_endpoint(endpoint.clone());
                }
                if self.anonymous {
                    builder = builder
                        .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build());
                }
                builder.build().await.map_err(|e| {
                    Error::permission(format!(
                        "could not create the GKE client ({e}); run `gcloud auth application-default login`"
                    ))
                })?
            }
        };
        Ok(GkeCluster::new(client, project, location, cluster, self.strategy).with_recommender(recommender))
    }
}
