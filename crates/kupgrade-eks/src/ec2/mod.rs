//! [`Ec2Client`]: the one EC2 call kupgrade makes, `DescribeLaunchTemplateVersions`, over the
//! EC2 Query API.
//!
//! Why not `aws-sdk-ec2`: that crate holds the whole EC2 API (over 700 operations) and was the
//! largest unit of a cold build (637 s of 1,173 s optimised, 246 s unoptimised) for this one
//! call. Here the request is signed by `aws-sigv4` and the answer read by `aws-smithy-xml`,
//! both the AWS SDK's own crates, with credentials, region and endpoint settings from the same
//! `aws-config` chains as the EKS client, and sent over the same hyper/rustls (aws-lc-rs) stack
//! through `reqwest`. The wire format follows the EC2 service model (2016-11-15) and is tested
//! against moto's EC2 (integration tests) and the EC2 API reference's examples.

mod endpoint;
mod response;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use kupgrade_core::events::discard;
use kupgrade_core::{Cause, Error, Hint, PollPolicy, Provider, Result, Setting};

pub(crate) use endpoint::{EndpointParams, resolve as resolve_endpoint};
pub(crate) use response::LaunchTemplateVersion;

use crate::error::{Target, chain, from_code, from_local_failure};

/// The EC2 API version the requests name (the service model's `apiVersion`).
const API_VERSION: &str = "2016-11-15";

/// The service-specific endpoint variable of the AWS SDKs' configuration, honoured as they do.
const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_EC2";

/// Credentials are fetched again this long before they expire.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);

/// A client for EC2 `DescribeLaunchTemplateVersions`, which [`EksCluster`](crate::EksCluster)
/// uses to read node groups' launch-template user data. Cheap to clone.
#[derive(Clone)]
pub struct Ec2Client {
    inner: Arc<Inner>,
}

struct Inner {
    /// The HTTP client, or why it could not be built (no usable TLS roots, say): that fails the
    /// EC2 calls, not the whole EKS connection.
    http: std::result::Result<reqwest::Client, String>,
    endpoint: String,
    region: String,
    credentials: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
    retry: PollPolicy,
}

impl fmt::Debug for Ec2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ec2Client")
            .field("endpoint", &self.inner.endpoint)
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

/// The launch template a node group names: by id or by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateRef<'a> {
    /// `lt-...`.
    Id(&'a str),
    /// The template's name.
    Name(&'a str),
}

impl Ec2Client {
    /// A client from the AWS configuration the EKS client is built from: its region, its
    /// credentials chain, its FIPS and dual-stack settings, and its endpoint URL, in the order
    /// the SDK's generated clients use: one set in code (`ConfigLoader::endpoint_url`) first,
    /// then `AWS_ENDPOINT_URL_EC2` unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`, then
    /// the one `aws-config` found in `AWS_ENDPOINT_URL` or the profile. Nothing is sent until the
    /// first call.
    pub fn new(config: &SdkConfig) -> Result<Self> {
        let region = config.region().map(|r| r.to_string());
        let configured = || config.endpoint_url().map(str::to_string);
        let endpoint = if config.get_origin("endpoint_url").is_client_config() {
            configured()
        } else {
            let ignore_configured = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
            std::env::var(ENDPOINT_ENV)
                .ok()
                .filter(|url| !ignore_configured && !url.trim().is_empty())
                .or_else(configured)
        };
        let url = resolve_endpoint(&EndpointParams {
            region: region.clone(),
            use_fips: config.use_fips().unwrap_or(false),
            use_dual_stack: config.use_dual_stack().unwrap_or(false),
            endpoint,
        })?;
        let credentials = config.credentials_provider().ok_or_else(|| {
            Error::permission("no AWS credentials provider is configured for EC2")
                .with_hint(Hint::Settings(vec![Setting::Profile, Setting::Credentials]))
        })?;
        Self::build(url, region.unwrap_or_default(), credentials)
    }

    /// A client that sends to `endpoint` (an emulator such as `moto_server`, or a test server),
    /// signing for `region` with `credentials`.
    pub fn with_endpoint(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        credentials: impl ProvideCredentials + 'static,
    ) -> Result<Self> {
        Self::build(
            endpoint.into(),
            region.into(),
            SharedCredentialsProvider::new(credentials),
        )
    }

    fn build(endpoint: String, region: String, credentials: SharedCredentialsProvider) -> Result<Self> {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(Error::invalid_input(format!(
                "EC2 endpoint URL '{endpoint}' must start with http:// or https://"
            ))
            .with_hint(Hint::Settings(vec![Setting::Endpoint(Provider::Eks)])));
        }
        if region.trim().is_empty() {
            return Err(Error::invalid_input(
                "no AWS region for EC2: give one with `with_region` or AWS_REGION",
            )
            .with_hint(Hint::Settings(vec![Setting::Region])));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| chain(&e));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                region,
                credentials,
                cached: tokio::sync::Mutex::new(None),
                // As the AWS SDKs' standard retry mode: 3 attempts in all.
                retry: PollPolicy {
                    min_delay: Duration::from_millis(500),
                    max_delay: Duration::from_secs(5),
                    max_retries: 2,
                    timeout: Duration::from_secs(120),
                },
            }),
        })
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The first version `version` (`$Default`, `$Latest` or a number) of `template`, or `None`
    /// when EC2 returns none. Throttling, 5xx answers and transport failures are retried.
    pub(crate) async fn launch_template_version(
        &self,
        template: TemplateRef<'_>,
        version: &str,
        target: Target<'_>,
    ) -> Result<Option<LaunchTemplateVersion>> {
        let body = query_body(template, version);
        let versions = self
            .inner
            .retry
            .retry("DescribeLaunchTemplateVersions", &discard(), || {
                self.describe_launch_template_versions(&body, target)
            })
            .await?;
        Ok(versions.into_iter().next())
    }

    async fn describe_launch_template_versions(
        &self,
        body: &str,
        target: Target<'_>,
    ) -> Result<Vec<LaunchTemplateVersion>> {
        const OP: &str = "DescribeLaunchTemplateVersions";
        let credentials = self.credentials(OP).await?;
        let request = self.signed_request(body, &credentials, SystemTime::now())?;
        let endpoint = &self.inner.endpoint;
        let http = self.inner.http.as_ref().map_err(|e| {
            Error::provider(format!("{OP}: cannot build the HTTP client for {endpoint}: {e}"))
        })?;
        let response = http.execute(request).await.map_err(|e| {
            Error::transient(format!(
                "{OP}: cannot reach the EC2 endpoint {endpoint}: {}",
                chain(&e)
            ))
            .caused_by(Cause::new(Provider::Eks, OP, e))
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| {
            Error::transient(format!("{OP}: the EC2 answer was cut off: {}", chain(&e)))
                .caused_by(Cause::new(Provider::Eks, OP, e))
        })?;
        if status == 200 {
            return response::launch_template_versions(&text).map_err(|e| {
                Error::provider(format!(
                    "{OP}: {endpoint} did not answer with a DescribeLaunchTemplateVersionsResponse: {e}"
                ))
            });
        }
        let error = response::error_body(&text);
        let detail = format!(
            "HTTP {status} {} (request id {})",
            error.code.as_deref().unwrap_or("without an EC2 error code"),
            error.request_id.as_deref().unwrap_or("none")
        );
        Err(from_code(
            OP,
            target,
            error.code.as_deref(),
            error.message.as_deref(),
            status,
        )
        .caused_by(Cause::new(Provider::Eks, OP, detail)))
    }

    /// The chain's credentials, reused until five minutes before they expire.
    async fn credentials(&self, op: &'static str) -> Result<Credentials> {
        let mut cached = self.inner.cached.lock().await;
        if let Some(credentials) = cached.as_ref()
            && credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + CREDENTIALS_MARGIN)
        {
            return Ok(credentials.clone());
        }
        let fresh =
            self.inner.credentials.provide_credentials().await.map_err(|e| {
                from_local_failure(op, &chain(&e)).caused_by(Cause::new(Provider::Eks, op, e))
            })?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// The POST of `body` to the endpoint, signed with SigV4 for service `ec2` at `now`.
    fn signed_request(
        &self,
        body: &str,
        credentials: &Credentials,
        now: SystemTime,
    ) -> Result<reqwest::Request> {
        const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
        let unsigned = |e: &dyn std::error::Error| {
            Error::invalid_input(format!("cannot sign an EC2 request: {}", chain(e))).with_hint(
                Hint::Settings(vec![Setting::Region, Setting::Endpoint(Provider::Eks)]),
            )
        };
        let identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.inner.region)
            .name("ec2")
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| unsigned(&e))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.inner.endpoint.as_str(),
            [("content-type", CONTENT_TYPE)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| unsigned(&e))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| unsigned(&e))?.into_parts();
        let mut request = http::Request::post(self.inner.endpoint.as_str())
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body.to_string())
            .map_err(|e| unsigned(&e))?;
        instructions.apply_to_request_http1x(&mut request);
        reqwest::Request::try_from(request).map_err(|e| unsigned(&e))
    }
}

/// The form body of `DescribeLaunchTemplateVersions` for `version` of `template`.
fn query_body(template: TemplateRef<'_>, version: &str) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", "DescribeLaunchTemplateVersions")
        .append_pair("Version", API_VERSION);
    match template {
        TemplateRef::Id(id) => form.append_pair("LaunchTemplateId", id),
        TemplateRef::Name(name) => form.append_pair("LaunchTemplateName", name),
    };
    // `Versions` is a list serialised under its locationName, `LaunchTemplateVersion.N`.
    form.append_pair("LaunchTemplateVersion.1", version);
    form.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Ec2Client {
        Ec2Client::with_endpoint(
            "https://ec2.eu-west-1.amazonaws.com",
            "eu-west-1",
            Credentials::new("AKIDEXAMPLE", "secret", Some("session".into()), None, "test"),
        )
        .unwrap()
    }

    #[test]
    fn requests_are_signed_for_ec2_in_the_region_with_the_session_token() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", Some("session".into()), None, "test");
        let request = client()
            .signed_request("Action=DescribeLaunchTemplateVersions", &credentials, now)
            .unwrap();
        let header = |name: &str| request.headers()[name].to_str().unwrap().to_string();
        let authorization = header("authorization");
        assert!(
            authorization
                .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20251124/eu-west-1/ec2/aws4_request"),
            "{authorization}"
        );
        assert!(authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"));
        assert_eq!(header("x-amz-date"), "20251124T160000Z");
        assert_eq!(header("x-amz-security-token"), "session");
        // Deterministic: the same request at the same time signs the same.
        let again = client()
            .signed_request("Action=DescribeLaunchTemplateVersions", &credentials, now)
            .unwrap();
        assert_eq!(
            again.headers()["authorization"],
            request.headers()["authorization"]
        );
    }

    #[tokio::test]
    async fn an_endpoint_set_in_code_is_used_as_given() {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url("http://127.0.0.1:5000")
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .load()
            .await;
        assert_eq!(
            Ec2Client::new(&config).unwrap().endpoint(),
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn the_debug_form_shows_no_credentials() {
        let text = format!("{:?}", client());
        assert!(text.contains("eu-west-1") && !text.contains("secret") && !text.contains("AKIDEXAMPLE"));
    }

    #[test]
    fn endpoints_must_be_http_urls_and_regions_given() {
        let creds = Credentials::new("a", "b", None, None, "test");
        let err = Ec2Client::with_endpoint("127.0.0.1:5000", "us-east-1", creds.clone()).unwrap_err();
        assert!(err.to_string().contains("must start with http://"), "{err}");
        let err = Ec2Client::with_endpoint("http://127.0.0.1:5000", " ", creds).unwrap_err();
        assert!(err.to_string().contains("no AWS region"), "{err}");
    }
}
