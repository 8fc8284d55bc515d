//! GKE API errors (`google_cloud_gax::error::Error`) mapped into kupgrade's [`Error`].
//!
//! | GKE says | kupgrade error | retried by the executor |
//! |---|---|---|
//! | `FAILED_PRECONDITION` + reason `CLUSTER_ALREADY_HAS_OPERATION` (or "incompatible operation") | [`Error::OperationInProgress`] | yes |
//! | `RESOURCE_EXHAUSTED`, HTTP 429 | [`Error::Throttled`] (with `RetryInfo`) | yes |
//! | `UNAVAILABLE`, `INTERNAL`, `DEADLINE_EXCEEDED`, I/O and connect errors | [`Error::Transient`] | yes |
//! | `ABORTED` (an `etag` mismatch: the pool changed under us) | [`Error::Transient`] | yes, after re-reading |
//! | `NOT_FOUND` | [`Error::NotFound`] naming the cluster, pool or operation | no |
//! | `INVALID_ARGUMENT`, other `FAILED_PRECONDITION`, `ALREADY_EXISTS`, `OUT_OF_RANGE` | [`Error::InvalidTransition`] | no |
//! | `PERMISSION_DENIED`, `UNAUTHENTICATED`, credential errors | [`Error::Permission`] | no |

use std::time::Duration;

use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, StatusDetails};
use kupgrade_core::{Cause, Error, Hint, Provider, Setting};

/// The `ErrorInfo.reason` GKE sends while another operation runs on the cluster.
pub const CLUSTER_ALREADY_HAS_OPERATION: &str = "CLUSTER_ALREADY_HAS_OPERATION";

/// What a failed call was about, so that `NOT_FOUND` names the right thing.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The cluster (its short name).
    Cluster(&'a str),
    /// A node pool of the cluster (its short name).
    NodePool(&'a str),
    /// An operation (its id).
    Operation(&'a str),
    /// The location's server config.
    Location(&'a str),
}

const CLUSTER_DETAIL: &str =
    "check the project, the location (the cluster's region or zone) and the cluster name";

/// The settings that choose which cluster is addressed.
fn cluster_settings() -> Hint {
    Hint::Settings(vec![Setting::Project, Setting::Location, Setting::Cluster])
}

/// Maps an error of GKE's method `operation` into a core [`Error`] whose cause keeps the
/// client's error; `cluster` names the cluster in [`Error::OperationInProgress`].
pub fn map_error(err: GaxError, operation: &'static str, subject: Subject<'_>, cluster: &str) -> Error {
    classify(&err, subject, cluster).caused_by(Cause::new(Provider::Gke, operation, err))
}

fn classify(err: &GaxError, subject: Subject<'_>, cluster: &str) -> Error {
    if is_authentication(err) {
        return Error::permission(format!(
            "could not get Google credentials ({err}); run `gcloud auth application-default login`, \
             or use anonymous credentials with a local endpoint"
        ))
        .with_hint(Hint::Settings(vec![
            Setting::Credentials,
            Setting::AnonymousCredentials,
            Setting::Endpoint(Provider::Gke),
        ]));
    }
    if let Some(status) = err.status() {
        let message = one_line(&status.message);
        let reason = status.details.iter().find_map(|d| match d {
            StatusDetails::ErrorInfo(info) => Some(info.reason.as_str()),
            _ => None,
        });
        let retry_after = status.details.iter().find_map(|d| match d {
            StatusDetails::RetryInfo(info) => info
                .retry_delay
                .as_ref()
                .and_then(|d| Duration::try_from(*d).ok()),
            _ => None,
        });
        return from_code(status.code, &message, reason, retry_after, subject, cluster);
    }
    if let Some(http) = err.http_status_code() {
        let code = match http {
            400 => Code::InvalidArgument,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::NotFound,
            409 => Code::Aborted,
            429 => Code::ResourceExhausted,
            500 => Code::Internal,
            503 => Code::Unavailable,
            504 => Code::DeadlineExceeded,
            _ => Code::Unknown,
        };
        let message = format!("HTTP {http}: {}", one_line(&err.to_string()));
        return from_code(code, &message, None, None, subject, cluster);
    }
    if err.is_timeout() || err.is_io() || err.is_connect() || err.is_transport() || err.is_exhausted() {
        return Error::transient(one_line(&err.to_string()));
    }
    Error::provider(one_line(&err.to_string()))
}

/// Whether `err`, or an error it wraps (the client's retry loop wraps transient credential
/// failures in "exhausted"), is a credentials problem.
fn is_authentication(err: &GaxError) -> bool {
    if err.is_authentication() {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if e.downcast_ref::<google_cloud_gax::error::CredentialsError>()
            .is_some()
            || e.downcast_ref::<GaxError>()
                .is_some_and(GaxError::is_authentication)
        {
            return true;
        }
        source = e.source();
    }
    false
}

fn from_code(
    code: Code,
    message: &str,
    reason: Option<&str>,
    retry_after: Option<Duration>,
    subject: Subject<'_>,
    cluster: &str,
) -> Error {
    match code {
        Code::NotFound => not_found(subject),
        Code::FailedPrecondition if reason == Some(CLUSTER_ALREADY_HAS_OPERATION) || is_busy(message) => {
            Error::operation_in_progress(format!("GKE cluster {cluster} ({message})"))
        }
        Code::ResourceExhausted => Error::throttled(retry_after),
        Code::Unavailable | Code::Internal | Code::DeadlineExceeded => Error::transient(message.to_string()),
        Code::Aborted => Error::transient(format!(
            "the resource changed while we updated it (etag mismatch), re-reading it: {message}"
        )),
        Code::PermissionDenied | Code::Unauthenticated => Error::permission(format!(
            "{message}; the caller needs roles/container.clusterAdmin (or container.clusters.update) on the project"
        )),
        Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists | Code::OutOfRange => {
            Error::invalid_transition(message.to_string())
        }
        other => Error::provider(format!("{}: {message}", other.name())),
    }
}

/// A `NotFound` for `subject`, with a hint on what to check.
pub fn not_found(subject: Subject<'_>) -> Error {
    match subject {
        Subject::Cluster(name) => {
            Error::not_found("cluster", name, CLUSTER_DETAIL).with_hint(cluster_settings())
        }
        Subject::NodePool(name) => Error::not_found(
            "node pool",
            name,
            "list the pools with `gcloud container node-pools list`",
        ),
        Subject::Operation(name) => Error::not_found("operation", name, ""),
        Subject::Location(name) => Error::not_found("location", name, "use a GCP region or zone"),
    }
}

/// Older GKE text for a busy cluster, before `ErrorInfo` carried the reason.
fn is_busy(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("incompatible operation")
        || m.contains("please wait and try again")
        || m.contains("already has an operation")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use google_cloud_gax::error::rpc::Status;
    use google_cloud_rpc::model::{ErrorInfo, RetryInfo};
    use google_cloud_wkt as wkt;

    use super::*;

    fn service(code: Code, message: &str, details: Vec<StatusDetails>) -> GaxError {
        GaxError::service(
            Status::default()
                .set_code(code)
                .set_message(message)
                .set_details(details),
        )
    }

    #[test]
    fn busy_cluster_is_operation_in_progress_and_retryable() {
        let info = ErrorInfo::new()
            .set_reason(CLUSTER_ALREADY_HAS_OPERATION)
            .set_domain("container.googleapis.com");
        let e = map_error(
            service(
                Code::FailedPrecondition,
                "Cluster is running incompatible operation operation-1",
                vec![StatusDetails::ErrorInfo(info)],
            ),
            "GetCluster",
            Subject::Cluster("prod"),
            "prod",
        );
        assert!(matches!(e, Error::OperationInProgress { .. }), "{e:?}");
        assert!(e.is_retryable());
        assert!(e.to_string().contains("prod"));
        // The older wording without ErrorInfo.
        let e = map_error(
            service(
                Code::FailedPrecondition,
                "Operation operation-9 is currently upgrading cluster prod. Please wait and try again once it is done.",
                vec![],
            ),
            "GetCluster",
            Subject::Cluster("prod"),
            "prod",
        );
        assert!(matches!(e, Error::OperationInProgress { .. }), "{e:?}");
    }

    #[test]
    fn other_preconditions_and_bad_arguments_are_refusals_with_the_message() {
        for code in [Code::FailedPrecondition, Code::InvalidArgument] {
            let e = map_error(
                service(code, "Master version \"1.33\" is unsupported.", vec![]),
                "GetCluster",
                Subject::Cluster("prod"),
                "prod",
            );
            assert!(matches!(e, Error::InvalidTransition { .. }), "{e:?}");
            assert!(!e.is_retryable());
            assert!(e.to_string().contains("1.33"));
        }
    }

    #[test]
    fn not_found_names_the_subject() {
        let e = map_error(
            service(Code::NotFound, "nope", vec![]),
            "GetCluster",
            Subject::NodePool("gpu"),
            "prod",
        );
        assert!(e.to_string().contains("node pool 'gpu' not found"), "{e}");
        let e = map_error(
            service(Code::NotFound, "nope", vec![]),
            "GetCluster",
            Subject::Cluster("prod"),
            "prod",
        );
        assert!(
            e.to_string()
                .starts_with("cluster 'prod' not found; check the project"),
            "{e}"
        );
        assert_eq!(e.hint(), Some(cluster_settings()));
        let cause = e.cause().expect("the client's error is kept");
        assert_eq!(cause.to_string(), "GKE GetCluster");
        assert!(cause.downcast_ref::<GaxError>().is_some());
    }

    #[test]
    fn throttling_carries_retry_info_and_transient_faults_retry() {
        let retry = RetryInfo::new().set_retry_delay(wkt::Duration::clamp(12, 0));
        let e = map_error(
            service(
                Code::ResourceExhausted,
                "quota",
                vec![StatusDetails::RetryInfo(retry)],
            ),
            "GetCluster",
            Subject::Cluster("c"),
            "c",
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));
        let e = map_error(
            service(Code::Unavailable, "try later", vec![]),
            "GetCluster",
            Subject::Cluster("c"),
            "c",
        );
        assert!(matches!(e, Error::Transient { .. }) && e.is_retryable());
        let e = map_error(
            service(Code::Aborted, "etag mismatch", vec![]),
            "GetCluster",
            Subject::NodePool("a"),
            "c",
        );
        assert!(matches!(e, Error::Transient { .. }) && e.is_retryable(), "{e:?}");
        let e = map_error(
            service(Code::PermissionDenied, "denied", vec![]),
            "GetCluster",
            Subject::Cluster("c"),
            "c",
        );
        assert!(matches!(e, Error::Permission { .. }) && !e.is_retryable());
    }

    #[test]
    fn credential_failures_are_permission_errors_even_after_retries() {
        let creds = google_cloud_gax::error::CredentialsError::from_msg(true, "metadata server unreachable");
        let exhausted = GaxError::exhausted(GaxError::authentication(creds));
        let e = map_error(exhausted, "GetCluster", Subject::Cluster("c"), "c");
        assert!(matches!(e, Error::Permission { .. }), "{e:?}");
        assert!(
            e.to_string().contains("gcloud auth application-default login"),
            "{e}"
        );
    }

    #[test]
    fn bare_http_errors_map_by_status_code() {
        let e = GaxError::http(429, Default::default(), "slow down".into());
        assert!(matches!(
            map_error(e, "GetCluster", Subject::Cluster("c"), "c"),
            Error::Throttled { .. }
        ));
        let e = GaxError::http(404, Default::default(), "".into());
        assert!(matches!(
            map_error(e, "GetCluster", Subject::Cluster("c"), "c"),
            Error::NotFound { .. }
        ));
    }
}
