//! ARM error responses -> [`kupgrade_core::Error`].
//!
//! | ARM answer | core error | retryable |
//! |---|---|---|
//! | 404 | `NotFound` naming the cluster or pool | no |
//! | 409 `OperationNotAllowed` (another operation running) | `OperationInProgress` | yes |
//! | 409 other | `InvalidTransition` | no |
//! | 429 (after the pipeline's own retries) | `Throttled` with `Retry-After` | yes |
//! | 412 on a create (`If-None-Match: *`: the pool appeared meanwhile) | `Transient` | yes: the next try finds it |
//! | 412 on an update | read again and retried once by the caller; then `InvalidTransition` | no |
//! | 400 `UpgradeBlockedOnDeprecatedAPIUsage` | `InvalidTransition` explaining the override | no |
//! | 400 other (`ValidationError`, illegal version change, ...) | `InvalidTransition` | no |
//! | 401 / 403 | `Permission` | no |
//! | 5xx | `Transient` | yes |

use std::time::Duration;

use kupgrade_core::{DeprecatedApi, Error, Hint, KubeVersion, Provider, Setting};

use crate::models::{CloudError, CloudErrorBody};

/// An error answer from Azure Resource Manager: the HTTP status and ARM's error body. It is the
/// SDK-level [`source`](std::error::Error::source) of the [`kupgrade_core::Cause`] an AKS error
/// carries; find it with `error.cause().and_then(|c| c.downcast_ref::<ArmError>())`.
#[derive(Debug, Clone)]
pub struct ArmError {
    status: u16,
    body: CloudErrorBody,
}

impl ArmError {
    pub(crate) fn new(status: u16, body: &[u8]) -> Self {
        Self {
            status,
            body: cloud_error(body),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// ARM's error code (e.g. `OperationNotAllowed`), when it sent one.
    pub fn code(&self) -> Option<&str> {
        self.body.code.as_deref()
    }

    /// ARM's subcode (e.g. `UpgradeBlockedOnDeprecatedAPIUsage`), when it sent one.
    pub fn subcode(&self) -> Option<&str> {
        self.body.subcode.as_deref()
    }

    /// ARM's message, when it sent one.
    pub fn message(&self) -> Option<&str> {
        self.body.message.as_deref()
    }
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body.one_line())
    }
}

impl std::error::Error for ArmError {}

/// The operation label of a request, for [`kupgrade_core::Cause`]: the method and the path
/// below the resource provider (`PUT managedClusters/prod/agentPools/gpu`), or the whole path
/// for other URLs.
pub(crate) fn operation_label(method: &str, url: &azure_core::http::Url) -> String {
    let path = url.path();
    let below = path
        .split_once("/providers/Microsoft.ContainerService/")
        .map_or(path, |(_, rest)| rest);
    format!("{method} {below}")
}

/// The cause of an error from `operation`.
pub(crate) fn cause(operation: &str, error: impl Into<kupgrade_core::BoxError>) -> kupgrade_core::Cause {
    kupgrade_core::Cause::new(Provider::Aks, operation.to_string(), error)
}

/// Marks the message of a token request that never reached its endpoint (the builder's
/// credential sources write it), so that [`from_azure`] can tell it from a refused login
/// whatever the SDK wraps around it.
pub(crate) const TOKEN_UNREACHABLE: &str = "[token endpoint unreachable] ";

/// The ARM subcode AKS uses when deprecated API calls block a minor upgrade.
pub const DEPRECATED_API_BLOCK: &str = "UpgradeBlockedOnDeprecatedAPIUsage";

/// What a request was about, so errors can name it.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Cluster(String),
    Pool { cluster: String, pool: String },
    Location(String),
    Operation,
}

impl Target {
    fn not_found(&self) -> Error {
        match self {
            Target::Cluster(name) => Error::not_found(
                "cluster",
                name.clone(),
                "check the subscription, resource group and cluster name (az aks list -o table)",
            )
            .with_hint(Hint::Settings(vec![
                Setting::Subscription,
                Setting::ResourceGroup,
                Setting::Cluster,
            ])),
            Target::Pool { cluster, pool } => Error::not_found(
                "node pool",
                pool.clone(),
                format!("cluster '{cluster}' has no such agent pool (az aks nodepool list)"),
            ),
            Target::Location(loc) => Error::not_found("location", loc.clone(), "AKS lists no versions there"),
            Target::Operation => Error::not_found("operation", "", "the operation record has expired"),
        }
    }

    pub(crate) fn subject(&self) -> String {
        match self {
            Target::Cluster(name) => format!("cluster '{name}'"),
            Target::Pool { cluster, pool } => format!("node pool '{pool}' of cluster '{cluster}'"),
            Target::Location(loc) => format!("location '{loc}'"),
            Target::Operation => "the operation".to_string(),
        }
    }

    fn cluster(&self) -> String {
        match self {
            Target::Cluster(name) | Target::Pool { cluster: name, .. } => name.clone(),
            Target::Location(l) => l.clone(),
            Target::Operation => "the cluster".into(),
        }
    }
}

/// Parses ARM's `{"error": {...}}` envelope; a body in another shape becomes its own text.
pub(crate) fn cloud_error(body: &[u8]) -> CloudErrorBody {
    match serde_json::from_slice::<CloudError>(body) {
        Ok(CloudError { error: Some(e) }) => e,
        _ => match serde_json::from_slice::<CloudErrorBody>(body) {
            Ok(e) if e.code.is_some() || e.message.is_some() => e,
            _ => CloudErrorBody {
                code: None,
                subcode: None,
                message: Some(String::from_utf8_lossy(body).trim().chars().take(300).collect()),
                details: Vec::new(),
            },
        },
    }
}

/// Parses `Retry-After` (seconds; ARM does not send HTTP dates here).
pub(crate) fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The message for a deprecated-API block: what AKS said, and the two ways out.
pub(crate) fn deprecated_api_message(subject: &str, aks_says: &str) -> String {
    let apis = blocked_apis(aks_says);
    let what = if apis.is_empty() {
        format!("deprecated Kubernetes APIs were called in the last 12 hours ({aks_says})")
    } else {
        let listed: Vec<String> = apis
            .iter()
            .map(|(api, seen)| match seen {
                Some(seen) => format!("{api}, last called {seen}"),
                None => api.to_string(),
            })
            .collect();
        format!(
            "these deprecated Kubernetes APIs were called in the last 12 hours: {}",
            listed.join("; ")
        )
    };
    format!(
        "AKS blocked the upgrade of {subject} because {what}; move those clients to the replacement APIs \
         (a scan of the live cluster lists them) and wait for the 12-hour window to pass, or, if you accept the risk, \
         set upgradeSettings.overrideSettings.forceUpgrade=true with an `until` time (az aks update \
         --enable-force-upgrade --upgrade-override-until <RFC3339>, or AksClusterBuilder::with_force_upgrade_until \
         in the library) and re-run; kupgrade never sets it on its own"
    )
}

/// The APIs an `UpgradeBlockedOnDeprecatedAPIUsage` refusal names, with when each was last
/// seen. AKS writes each as `usage has been detected on API {group}.{resource}.{version}, and
/// was recently seen at: {time}, which will be removed in {major.minor}` (the group has dots
/// of its own, so it is read from the right); a request path (`/apis/...`) is read too.
pub(crate) fn blocked_apis(text: &str) -> Vec<(DeprecatedApi, Option<String>)> {
    let mut out: Vec<(DeprecatedApi, Option<String>)> = Vec::new();
    for part in text.split("detected on API ").skip(1) {
        let name = part.split([',', ' ']).next().unwrap_or_default();
        let mut pieces = name.rsplitn(3, '.');
        let (Some(version), Some(resource)) = (pieces.next(), pieces.next()) else {
            continue;
        };
        let group = pieces.next().unwrap_or_default();
        let seen = part
            .split_once("recently seen at: ")
            .and_then(|(_, rest)| rest.split(", which").next())
            .map(|t| t.trim().to_string());
        let removed = part
            .split_once("removed in ")
            .and_then(|(_, rest)| rest.split(|c: char| !(c.is_ascii_digit() || c == '.')).next())
            .and_then(|v| KubeVersion::parse(v.trim_end_matches('.')).ok());
        out.push((DeprecatedApi::new(group, version, resource, removed), seen));
    }
    for word in text.split(|c: char| c.is_whitespace() || c == ',' || c == '"') {
        if let Some(api) = DeprecatedApi::from_path(word, None)
            && !out.iter().any(|(a, _)| *a == api)
        {
            out.push((api, None));
        }
    }
    out
}

/// Maps a non-success ARM response to a core error.
pub(crate) fn from_response(status: u16, retry_after: Option<&str>, body: &[u8], target: &Target) -> Error {
    let err = cloud_error(body);
    let codes = err.codes();
    let has = |c: &str| codes.iter().any(|x| x.eq_ignore_ascii_case(c));
    let text = err.one_line();
    match status {
        404 => target.not_found(),
        409 if has("OperationNotAllowed") || text.contains("in progress") => {
            Error::operation_in_progress(format!("{} ({text})", target.cluster()))
        }
        409 => Error::invalid_transition(format!("{}: {text}", target.subject())),
        429 => Error::throttled(parse_retry_after(retry_after)),
        412 => Error::transient(format!(
            "{} changed between read and write (etag mismatch, HTTP 412); the next try re-reads it",
            target.subject()
        )),
        400 if has(DEPRECATED_API_BLOCK) || text.contains(DEPRECATED_API_BLOCK) => {
            Error::invalid_transition(deprecated_api_message(&target.subject(), &text))
                .with_hint(Hint::ScanApis { live: true })
        }
        400 | 422 => Error::invalid_transition(format!("{}: {text}", target.subject())),
        401 | 403 => Error::permission(format!(
            "{}: {text}; check that the identity has the Azure Kubernetes Service Contributor role (or \
             Microsoft.ContainerService/managedClusters/* permissions) on the resource group",
            target.subject()
        )),
        500..=599 => Error::transient(format!("ARM answered {status} for {}: {text}", target.subject())),
        _ => Error::provider(format!("ARM answered {status} for {}: {text}", target.subject())),
    }
}

/// Maps a transport or credential failure from the azure_core pipeline, keeping the causes
/// on one line.
pub(crate) fn from_azure(err: &azure_core::Error) -> Error {
    use azure_core::error::ErrorKind;
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
        source = cause.source();
    }
    let text = text.replace(['\n', '\r'], " ");
    if let Some(at) = text.find(TOKEN_UNREACHABLE) {
        let rest = &text[at + TOKEN_UNREACHABLE.len()..];
        return Error::unreachable(rest.to_string());
    }
    match err.kind() {
        ErrorKind::Credential => Error::permission(format!(
            "could not get an Azure token ({text}); run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and \
             AZURE_CLIENT_SECRET, or run with a managed or workload identity"
        ))
        .with_hint(Hint::Settings(vec![Setting::Credentials])),
        _ if text.contains("retry policy expired") || matches!(err.kind(), ErrorKind::Io) => {
            Error::transient(format!("could not reach ARM: {text}"))
        }
        _ => Error::provider(format!("ARM request failed: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Target {
        Target::Pool {
            cluster: "prod".into(),
            pool: "gpu".into(),
        }
    }

    #[test]
    fn conflict_while_another_operation_runs_is_retryable() {
        let body = br#"{"error":{"code":"OperationNotAllowed","message":"Operation is not allowed: Another operation (Upgrading) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details"}}"#;
        let e = from_response(409, None, body, &Target::Cluster("prod".into()));
        assert!(
            matches!(e, Error::OperationInProgress { ref message, .. } if message.starts_with("prod")),
            "{e}"
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn throttling_carries_retry_after() {
        let e = from_response(429, Some("17"), b"{}", &Target::Cluster("prod".into()));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(17)));
        assert!(e.is_retryable());
    }

    #[test]
    fn not_found_names_the_pool_and_the_cluster() {
        let e = from_response(404, None, br#"{"error":{"code":"NotFound"}}"#, &pool());
        let msg = e.to_string();
        assert!(msg.contains("'gpu'") && msg.contains("'prod'"), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn deprecated_api_block_explains_the_override_and_is_not_retryable() {
        let body = br#"{"error":{"code":"ValidationError","message":"Upgrade is blocked","details":[{"code":"UpgradeBlockedOnDeprecatedAPIUsage","message":"Deprecated API usage detected: /apis/policy/v1beta1/podsecuritypolicies"}]}}"#;
        let e = from_response(400, None, body, &Target::Cluster("prod".into()));
        let msg = e.to_string();
        assert!(!e.is_retryable());
        assert!(
            msg.contains("overrideSettings.forceUpgrade") && msg.contains("until"),
            "{msg}"
        );
        assert!(
            msg.contains("podsecuritypolicies"),
            "keeps what AKS reported: {msg}"
        );
        assert!(msg.contains("never sets it"), "{msg}");
    }

    #[test]
    fn the_refusal_lists_each_api_aks_names() {
        // The message shape of the AKS docs' example (stop-cluster-upgrade-api-breaking-changes).
        let body = br#"{"error":{"code":"ValidationError","subcode":"UpgradeBlockedOnDeprecatedAPIUsage","message":"Control Plane upgrade is blocked due to recent usage of a Kubernetes API deprecated in the specified version. Usage details: 1 error occurred:\n\t* usage has been detected on API flowcontrol.apiserver.k8s.io.prioritylevelconfigurations.v1beta1, and was recently seen at: 2023-03-23 20:57:18 +0000 UTC, which will be removed in 1.26\n\n"}}"#;
        let e = from_response(400, None, body, &Target::Cluster("prod".into()));
        let msg = e.to_string();
        assert!(
            msg.contains(
                "these deprecated Kubernetes APIs were called in the last 12 hours: \
                 flowcontrol.apiserver.k8s.io/v1beta1/prioritylevelconfigurations (removed in 1.26), \
                 last called 2023-03-23 20:57:18 +0000 UTC;"
            ),
            "{msg}"
        );
        assert_eq!(
            blocked_apis("usage has been detected on API pods.v1, and was recently seen at: t, which will be removed in 1.40")[0].0,
            DeprecatedApi::new("", "v1", "pods", Some(KubeVersion::new(1, 40)))
        );
    }

    #[test]
    fn etag_mismatch_is_retried_after_a_re_read() {
        let e = from_response(412, None, b"", &Target::Cluster("prod".into()));
        assert!(e.is_retryable());
        assert!(e.to_string().contains("etag"));
    }

    #[test]
    fn odd_bodies_still_give_one_line() {
        let e = from_response(
            502,
            None,
            b"<html>\nBad gateway\n</html>",
            &Target::Cluster("c".into()),
        );
        assert!(e.is_retryable());
        assert!(!e.to_string().contains('\n'), "{e}");
        let e = from_response(
            403,
            None,
            br#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#,
            &pool(),
        );
        assert!(matches!(e, Error::Permission { .. }));
    }
}
