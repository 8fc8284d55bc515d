//! [`AksClusterBuilder`]: which cluster, which ARM endpoint, which credential, which transport.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, HttpClient, RetryOptions, Transport, Url};
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential, WorkloadIdentityCredential,
};
use chrono::{DateTime, Utc};
use kupgrade_core::{Error, Hint, Provider, Result, Setting};

use crate::arm::ArmClient;
use crate::cluster::{AksCluster, ClusterIds, Options};
use crate::convert::UndrainableNodeBehavior;
use crate::error::TOKEN_UNREACHABLE;

/// The public-cloud Azure Resource Manager endpoint.
pub const PUBLIC_ARM_ENDPOINT: &str = "https://management.azure.com";

/// Environment variables [`AksClusterBuilder::from_env`] reads.
pub mod env {
    /// The subscription id.
    pub const SUBSCRIPTION: &str = "AZURE_SUBSCRIPTION_ID";
    /// The cluster's resource group.
    pub const RESOURCE_GROUP: &str = "AZURE_RESOURCE_GROUP";
    /// The cluster's name.
    pub const CLUSTER: &str = "AKS_CLUSTER";
    /// An ARM endpoint other than the public cloud's (sovereign clouds, local test servers).
    pub const ARM_ENDPOINT: &str = "AZURE_ARM_ENDPOINT";
}

/// Configures and builds an [`AksCluster`].
///
/// ```
/// use kupgrade_aks::AksClusterBuilder;
/// use kupgrade_core::{Hint, Setting};
///
/// let err = AksClusterBuilder::new().with_subscription("sub").with_cluster("prod").build().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid input: no resource group: give it with `with_resource_group` or AZURE_RESOURCE_GROUP"
/// );
/// // The setting to change, for a front end to name in its own words (the CLI: a flag).
/// assert_eq!(err.hint(), Some(Hint::Settings(vec![Setting::ResourceGroup])));
/// ```
#[derive(Default)]
pub struct AksClusterBuilder {
    subscription: Option<String>,
    resource_group: Option<String>,
    cluster: Option<String>,
    arm_endpoint: Option<String>,
    credential: Option<Arc<dyn TokenCredential>>,
    no_auth: bool,
    transport: Option<Arc<dyn HttpClient>>,
    retry: Option<RetryOptions>,
    force_upgrade_until: Option<DateTime<Utc>>,
    undrainable: Option<UndrainableNodeBehavior>,
}

impl std::fmt::Debug for AksClusterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AksClusterBuilder")
            .field("subscription", &self.subscription)
            .field("resource_group", &self.resource_group)
            .field("cluster", &self.cluster)
            .field("arm_endpoint", &self.arm_endpoint)
            .field("credential", &self.credential.as_ref().map(|_| "<injected>"))
            .field("no_auth", &self.no_auth)
            .finish_non_exhaustive()
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl AksClusterBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder filled from `AZURE_SUBSCRIPTION_ID`, `AZURE_RESOURCE_GROUP`, `AKS_CLUSTER` and
    /// `AZURE_ARM_ENDPOINT` (see [`env`](mod@env)); setters called afterwards win.
    pub fn from_env() -> Self {
        let var = |k: &str| non_empty(std::env::var(k).ok());
        Self {
            subscription: var(env::SUBSCRIPTION),
            resource_group: var(env::RESOURCE_GROUP),
            cluster: var(env::CLUSTER),
            arm_endpoint: var(env::ARM_ENDPOINT),
            ..Self::default()
        }
    }

    /// The subscription id.
    pub fn with_subscription(mut self, id: impl Into<String>) -> Self {
        self.subscription = Some(id.into());
        self
    }

    /// The resource group that holds the cluster.
    pub fn with_resource_group(mut self, name: impl Into<String>) -> Self {
        self.resource_group = Some(name.into());
        self
    }

    /// The managed cluster's name.
    pub fn with_cluster(mut self, name: impl Into<String>) -> Self {
        self.cluster = Some(name.into());
        self
    }

    /// Talk to this ARM endpoint instead of `https://management.azure.com` (sovereign clouds,
    /// local test servers). The token audience becomes `<endpoint>/.default`.
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.arm_endpoint = Some(url.into());
        self
    }

    /// Use this credential instead of the default chain (see [`default_credential`]).
    pub fn with_credential(mut self, credential: Arc<dyn TokenCredential>) -> Self {
        self.credential = Some(credential);
        self
    }

    /// Send no `Authorization` header at all. Only allowed together with
    /// [`with_endpoint`](Self::with_endpoint), for local endpoints.
    pub fn with_anonymous_credentials(mut self, no_auth: bool) -> Self {
        self.no_auth = no_auth;
        self
    }

    /// Send requests through this HTTP client instead of the default (`reqwest`) one.
    pub fn with_transport(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.transport = Some(client);
        self
    }

    /// Override the pipeline's HTTP retry policy (429 and 5xx, honouring `Retry-After`).
    pub fn with_retry(mut self, retry: RetryOptions) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Explicit opt-in: control-plane upgrades set
    /// `upgradeSettings.overrideSettings = {forceUpgrade: true, until}`, which lets AKS upgrade
    /// past its deprecated-API block (and, from api-version 2025-09-01, PDB drain protection)
    /// until `until`. Never set unless the user asked for it.
    pub fn with_force_upgrade_until(mut self, until: DateTime<Utc>) -> Self {
        self.force_upgrade_until = Some(until);
        self
    }

    /// What AKS does with nodes whose drain is blocked during pool upgrades (unset: AKS's
    /// default).
    pub fn with_undrainable_node_behavior(mut self, behavior: UndrainableNodeBehavior) -> Self {
        self.undrainable = Some(behavior);
        self
    }

    /// Checks the settings and builds the cluster handle. Makes no network call.
    pub fn build(self) -> Result<AksCluster> {
        let need = |v: Option<String>, what: &str, method: &str, var: &str, setting: Setting| {
            non_empty(v).ok_or_else(|| {
                Error::invalid_input(format!("no {what}: give it with `{method}` or {var}"))
                    .with_hint(Hint::Settings(vec![setting]))
            })
        };
        let subscription = need(
            self.subscription,
            "subscription",
            "with_subscription",
            env::SUBSCRIPTION,
            Setting::Subscription,
        )?;
        let resource_group = need(
            self.resource_group,
            "resource group",
            "with_resource_group",
            env::RESOURCE_GROUP,
            Setting::ResourceGroup,
        )?;
        let cluster = need(
            self.cluster,
            "cluster name",
            "with_cluster",
            env::CLUSTER,
            Setting::Cluster,
        )?;
        let endpoint_settings = || {
            Hint::Settings(vec![
                Setting::AnonymousCredentials,
                Setting::Endpoint(Provider::Aks),
            ])
        };
        if self.no_auth && self.arm_endpoint.is_none() {
            return Err(Error::invalid_input(
                "anonymous credentials only work with a local ARM endpoint (with_endpoint); Azure itself needs a token",
            )
            .with_hint(endpoint_settings()));
        }
        let endpoint_text = self.arm_endpoint.as_deref().unwrap_or(PUBLIC_ARM_ENDPOINT);
        let endpoint = Url::parse(endpoint_text).map_err(|e| {
            Error::invalid_input(format!(
                "ARM endpoint '{endpoint_text}' is not a URL ({e}); e.g. https://management.azure.com"
            ))
        })?;
        if !self.no_auth && endpoint.scheme() != "https" {
            return Err(Error::invalid_input(format!(
                "ARM endpoint '{endpoint_text}' is not https and tokens are only sent over TLS; use anonymous credentials for a local test endpoint"
            ))
            .with_hint(endpoint_settings()));
        }

        let mut per_try: Vec<Arc<dyn Policy>> = Vec::new();
        if !self.no_auth {
            let credential = match self.credential {
                Some(c) => c,
                None => default_credential()?,
            };
            let audience = format!("{}/.default", endpoint_text.trim_end_matches('/'));
            per_try.push(Arc::new(BearerTokenAuthorizationPolicy::new(
                credential,
                [audience],
            )));
        }
        let options = ClientOptions {
            transport: self.transport.map(Transport::new),
            retry: self.retry.unwrap_or_default(),
            ..Default::default()
        };
        let pipeline = azure_core::http::Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options,
            Vec::new(),
            per_try,
            None,
        );
        Ok(AksCluster {
            arm: ArmClient::new(pipeline, endpoint),
            ids: ClusterIds {
                subscription,
                resource_group,
                name: cluster,
            },
            options: Options {
                force_upgrade_until: self.force_upgrade_until,
                undrainable: self.undrainable,
            },
            started: Mutex::new(HashMap::new()),
            recent: Default::default(),
        })
    }
}

/// The credential kupgrade uses when none is injected, chosen in this order:
///
/// 1. **Client secret** (`ClientSecretCredential`) when `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
///    `AZURE_CLIENT_SECRET` are all set: explicit configuration wins.
/// 2. **Workload identity** (`WorkloadIdentityCredential`) when `AZURE_FEDERATED_TOKEN_FILE` is
///    set (pods with Entra Workload ID, GitHub OIDC setups).
/// 3. Otherwise a chain that keeps the first source that works:
///    **developer tools** (`DeveloperToolsCredential`: Azure CLI `az`, then Azure Developer CLI
///    `azd`), then **managed identity** (`ManagedIdentityCredential`: App Service, IMDS on VMs).
///    Developer tools come first so a laptop never waits on an IMDS probe.
///
/// Tokens are never logged.
///
/// Each source gets at most `TOKEN_TIMEOUT` (15 s) to answer, and a source that cannot be reached
/// (the Entra ID authority, IMDS) fails with [`Error::Unreachable`] naming the endpoint and the
/// cause, instead of waiting out the SDK's retries and then blaming the login.
pub fn default_credential() -> Result<Arc<dyn TokenCredential>> {
    let var = |k: &str| non_empty(std::env::var(k).ok());
    let cred_err = |what: &str, e: azure_core::Error| {
        Error::permission(format!("could not set up the {what} credential: {e}"))
    };
    let authority = var("AZURE_AUTHORITY_HOST").unwrap_or_else(|| "https://login.microsoftonline.com".into());
    if let (Some(tenant), Some(client), Some(secret)) = (
        var("AZURE_TENANT_ID"),
        var("AZURE_CLIENT_ID"),
        var("AZURE_CLIENT_SECRET"),
    ) {
        let c = ClientSecretCredential::new(&tenant, client, Secret::new(secret), None)
            .map_err(|e| cred_err("client secret", e))?;
        let endpoint = format!(
            "the Entra ID token endpoint {}/{tenant}",
            authority.trim_end_matches('/')
        );
        return Ok(Arc::new(BoundedCredential::new("client secret", endpoint, c)));
    }
    if var("AZURE_FEDERATED_TOKEN_FILE").is_some() {
        let c = WorkloadIdentityCredential::new(None).map_err(|e| cred_err("workload identity", e))?;
        let endpoint = format!("the Entra ID token endpoint {authority}");
        return Ok(Arc::new(BoundedCredential::new("workload identity", endpoint, c)));
    }
    let dev: Arc<dyn TokenCredential> =
        DeveloperToolsCredential::new(None).map_err(|e| cred_err("developer tools", e))?;
    let mi: Arc<dyn TokenCredential> =
        ManagedIdentityCredential::new(None).map_err(|e| cred_err("managed identity", e))?;
    let imds = var("IDENTITY_ENDPOINT").unwrap_or_else(|| "http://169.254.169.254 (IMDS)".into());
    Ok(Arc::new(ChainCredential::new(vec![
        (
            "developer tools (az, azd)",
            Arc::new(BoundedCredential::new(
                "developer tools",
                "the az or azd command".into(),
                dev,
            )),
        ),
        (
            "managed identity",
            Arc::new(BoundedCredential::new(
                "managed identity",
                format!("the managed identity endpoint {imds}"),
                mi,
            )),
        ),
    ])))
}

/// How long one credential source may take to answer before kupgrade stops waiting.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(15);

/// A credential source with a deadline and a name: it fails within its timeout, and a failure
/// to connect names the endpoint it could not reach.
#[derive(Debug)]
pub(crate) struct BoundedCredential {
    name: &'static str,
    endpoint: String,
    inner: Arc<dyn TokenCredential>,
    timeout: Duration,
}

impl BoundedCredential {
    pub(crate) fn new(name: &'static str, endpoint: String, inner: Arc<dyn TokenCredential>) -> Self {
        Self {
            name,
            endpoint,
            inner,
            timeout: TOKEN_TIMEOUT,
        }
    }

    #[cfg(test)]
    fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn unreachable(&self, why: &str) -> azure_core::Error {
        azure_core::Error::with_message(
            azure_core::error::ErrorKind::Io,
            format!(
                "{TOKEN_UNREACHABLE}{} ({} credential): {why}; check the network, a proxy (HTTPS_PROXY) or AZURE_AUTHORITY_HOST",
                self.endpoint, self.name
            ),
        )
    }
}

/// Whether an SDK error says the request never got an answer (refused, DNS, TLS, timeout).
fn is_connection_failure(err: &azure_core::Error) -> bool {
    let mut text = err.to_string().to_ascii_lowercase();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push(' ');
        text.push_str(&cause.to_string().to_ascii_lowercase());
        source = cause.source();
    }
    matches!(err.kind(), azure_core::error::ErrorKind::Io)
        || [
            "error sending request",
            "connection refused",
            "dns error",
            "failed to lookup",
            "tcp connect",
            "timed out",
            "connection reset",
        ]
        .iter()
        .any(|m| text.contains(m))
}

#[async_trait]
impl TokenCredential for BoundedCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        match tokio::time::timeout(self.timeout, self.inner.get_token(scopes, options)).await {
            Ok(Ok(token)) => Ok(token),
            Ok(Err(e)) if is_connection_failure(&e) => {
                Err(self.unreachable(&e.to_string().replace(['\n', '\r'], " ")))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(self.unreachable(&format!("no answer within {} s", self.timeout.as_secs()))),
        }
    }
}

/// Tries each credential in order and sticks with the first that returns a token.
#[derive(Debug)]
pub(crate) struct ChainCredential {
    sources: Vec<(&'static str, Arc<dyn TokenCredential>)>,
    chosen: AtomicUsize,
}

impl ChainCredential {
    pub(crate) fn new(sources: Vec<(&'static str, Arc<dyn TokenCredential>)>) -> Self {
        Self {
            sources,
            chosen: AtomicUsize::new(usize::MAX),
        }
    }
}

#[async_trait]
impl TokenCredential for ChainCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let chosen = self.chosen.load(Ordering::Relaxed);
        if let Some((_, c)) = self.sources.get(chosen) {
            return c.get_token(scopes, options).await;
        }
        let mut failures = Vec::new();
        for (i, (name, c)) in self.sources.iter().enumerate() {
            match c.get_token(scopes, options.clone()).await {
                Ok(token) => {
                    tracing::debug!(credential = name, "using Azure credential");
                    self.chosen.store(i, Ordering::Relaxed);
                    return Ok(token);
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!("no Azure credential worked ({})", failures.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A credential that never answers, or answers with `error`.
    #[derive(Debug)]
    struct Stuck(Option<azure_core::error::ErrorKind>);

    #[async_trait]
    impl TokenCredential for Stuck {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            match self.0.clone() {
                Some(kind) => Err(azure_core::Error::with_message(
                    kind,
                    "error sending request: connection refused",
                )),
                None => std::future::pending().await,
            }
        }
    }

    fn bounded(inner: Stuck) -> BoundedCredential {
        BoundedCredential::new(
            "client secret",
            "the Entra ID token endpoint https://login.example/t".into(),
            Arc::new(inner),
        )
        .with_timeout(Duration::from_millis(200))
    }

    #[tokio::test]
    async fn a_token_endpoint_that_never_answers_is_named_within_the_deadline() {
        let started = std::time::Instant::now();
        let err = bounded(Stuck(None)).get_token(&["s"], None).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let mapped = crate::error::from_azure(&err);
        assert!(matches!(mapped, Error::Unreachable { .. }), "{mapped:?}");
        assert_eq!(
            mapped.to_string(),
            "cannot reach the Entra ID token endpoint https://login.example/t (client secret credential): no answer within 0 s; check the network, a proxy (HTTPS_PROXY) or AZURE_AUTHORITY_HOST"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_not_a_login_problem() {
        let err = bounded(Stuck(Some(azure_core::error::ErrorKind::Credential)))
            .get_token(&["s"], None)
            .await
            .unwrap_err();
        let mapped = crate::error::from_azure(&err).to_string();
        assert!(
            mapped.starts_with("cannot reach the Entra ID token endpoint"),
            "{mapped}"
        );
        assert!(mapped.contains("connection refused"), "{mapped}");
        assert!(!mapped.contains("az login"), "{mapped}");
    }

    #[test]
    fn missing_settings_name_the_method_the_variable_and_the_setting() {
        let err = AksClusterBuilder::new().build().unwrap_err();
        let e = err.to_string();
        assert!(
            e.contains("with_subscription") && e.contains("AZURE_SUBSCRIPTION_ID"),
            "{e}"
        );
        assert!(!e.contains("--"), "names no CLI flag: {e}");
        assert_eq!(err.hint(), Some(Hint::Settings(vec![Setting::Subscription])));
        let err = AksClusterBuilder::new()
            .with_subscription("s")
            .with_resource_group("g")
            .build()
            .unwrap_err();
        assert_eq!(err.hint(), Some(Hint::Settings(vec![Setting::Cluster])));
    }

    #[test]
    fn no_auth_needs_a_local_endpoint_and_tokens_need_tls() {
        let base = || {
            AksClusterBuilder::new()
                .with_subscription("s")
                .with_resource_group("g")
                .with_cluster("c")
        };
        let e = base()
            .with_anonymous_credentials(true)
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("anonymous") && e.contains("local ARM endpoint"), "{e}");
        let e = base()
            .with_endpoint("http://127.0.0.1:1")
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not https") && e.contains("anonymous"), "{e}");
        let e = base()
            .with_endpoint("not a url")
            .with_anonymous_credentials(true)
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a URL"), "{e}");
        assert!(
            base()
                .with_endpoint("http://127.0.0.1:1")
                .with_anonymous_credentials(true)
                .build()
                .is_ok()
        );
    }
}
