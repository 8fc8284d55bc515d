//! [`EksClusterBuilder`]: where the cluster is and how to reach the EKS API.

use aws_config::BehaviorVersion;
use aws_sdk_eks::Client;
use kupgrade_core::{Error, Hint, Provider, Result, Setting};

use crate::cluster::EksCluster;
use crate::ec2::Ec2Client;

/// The environment variable [`EksClusterBuilder::from_env`] reads the cluster name from.
pub const CLUSTER_ENV: &str = "KUPGRADE_EKS_CLUSTER";

/// Builds an [`EksCluster`].
///
/// Credentials and region come from the AWS SDK's default chains (environment variables,
/// shared config and credentials files with the chosen profile, SSO, web identity, ECS and EC2
/// instance metadata), in that order; [`with_region`](Self::with_region) and
/// [`with_profile`](Self::with_profile) override them. Nothing is sent until the cluster is
/// used.
#[derive(Debug, Default)]
pub struct EksClusterBuilder {
    region: Option<String>,
    profile: Option<String>,
    cluster: Option<String>,
    endpoint_url: Option<String>,
    client: Option<Client>,
    ec2_client: Option<Ec2Client>,
}

impl EksClusterBuilder {
    /// A builder with nothing set: default AWS chains, no cluster name yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder using the default AWS chains, with the cluster name from
    /// `KUPGRADE_EKS_CLUSTER` when it is set.
    pub fn from_env() -> Self {
        Self {
            cluster: std::env::var(CLUSTER_ENV).ok().filter(|c| !c.trim().is_empty()),
            ..Self::default()
        }
    }

    /// Uses this AWS region instead of the region chain's answer.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Uses this profile of the shared AWS config and credentials files.
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// The EKS cluster's name.
    pub fn with_cluster(mut self, name: impl Into<String>) -> Self {
        self.cluster = Some(name.into());
        self
    }

    /// Sends EKS (and EC2) calls to this endpoint instead of AWS, e.g. `http://127.0.0.1:5000` for
    /// `moto_server`.
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Uses this SDK client as is (tests inject mocked clients); region, profile and endpoint
    /// settings are then ignored.
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Uses this EC2 client to read node groups' launch templates (tests point one at a test
    /// server). Built from the same AWS configuration as the EKS client otherwise; with an
    /// injected EKS client and no EC2 client, launch templates are not read.
    pub fn with_ec2_client(mut self, client: Ec2Client) -> Self {
        self.ec2_client = Some(client);
        self
    }

    /// Loads the AWS configuration (no EKS call yet) and returns the cluster handle.
    pub async fn build(self) -> Result<EksCluster> {
        let cluster = match self.cluster {
            Some(name) => validate_cluster_name(&name)?,
            None => {
                return Err(Error::invalid_input(format!(
                    "no EKS cluster name: give one with `with_cluster` or {CLUSTER_ENV}"
                ))
                .with_hint(Hint::Settings(vec![Setting::Cluster])));
            }
        };
        if let Some(client) = self.client {
            let eks = EksCluster::new(client, cluster);
            return Ok(match self.ec2_client {
                Some(ec2) => eks.with_ec2_client(ec2),
                None => eks,
            });
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = self.region.filter(|r| !r.trim().is_empty()) {
            loader = loader.region(aws_config::Region::new(region));
        }
        if let Some(profile) = self.profile.filter(|p| !p.trim().is_empty()) {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = self.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::invalid_input(format!(
                    "endpoint URL '{url}' must start with http:// or https://"
                ))
                .with_hint(Hint::Settings(vec![Setting::Endpoint(Provider::Eks)])));
            }
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(Error::invalid_input(
                "no AWS region: give one with `with_region` or AWS_REGION, or give the profile a region",
            )
            .with_hint(Hint::Settings(vec![Setting::Region, Setting::Profile])));
        }
        // An endpoint given here was set in code, so it is EC2's too (moto_server serves both).
        let ec2 = match self.ec2_client {
            Some(ec2) => ec2,
            None => Ec2Client::new(&config)?,
        };
        Ok(EksCluster::new(Client::new(&config), cluster).with_ec2_client(ec2))
    }
}

/// EKS cluster names: 1-100 characters, a letter or digit first, then letters, digits, `-`, `_`.
fn validate_cluster_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(name.to_string())
    } else {
        Err(Error::invalid_input(format!(
            "'{name}' is not an EKS cluster name (1-100 letters, digits, '-' or '_', starting with a letter or digit)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cluster_name_is_required_and_checked() {
        let err = EksClusterBuilder::new().build().await.unwrap_err();
        assert!(err.to_string().contains("with_cluster"), "{err}");
        assert!(!err.to_string().contains("--"), "names no CLI flag: {err}");
        assert_eq!(err.hint(), Some(Hint::Settings(vec![Setting::Cluster])));
        let err = EksClusterBuilder::new()
            .with_cluster("bad name!")
            .build()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("'bad name!' is not an EKS cluster name"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn endpoint_urls_need_a_scheme() {
        let err = EksClusterBuilder::new()
            .with_cluster("prod")
            .with_region("eu-west-1")
            .with_endpoint("127.0.0.1:5000")
            .build()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("must start with http://"), "{err}");
    }
}
