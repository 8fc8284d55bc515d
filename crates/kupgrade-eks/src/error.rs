//! EKS API errors mapped into the core [`Error`](kupgrade_core::Error).
//!
//! The mapping looks at the error code EKS sends (`ThrottlingException`,
//! `ResourceInUseException`, ...) rather than at the operation-specific Rust enums, so modelled
//! and unmodelled errors map the same way.

use std::fmt;

use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use kupgrade_core::{Cause, Error, Hint, Provider, Setting};

/// What an API call addressed, so that "not found" and "in use" errors can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// A cluster.
    Cluster(&'a str),
    /// A managed node group of a cluster.
    NodeGroup {
        /// The cluster.
        cluster: &'a str,
        /// The node group.
        nodegroup: &'a str,
    },
    /// A managed add-on of a cluster.
    Addon {
        /// The cluster.
        cluster: &'a str,
        /// The add-on.
        addon: &'a str,
    },
    /// The EC2 launch template a node group boots from.
    LaunchTemplate {
        /// The cluster.
        cluster: &'a str,
        /// The node group.
        nodegroup: &'a str,
        /// The launch template's id or name.
        template: &'a str,
    },
}

impl Target<'_> {
    fn cluster(&self) -> &str {
        match self {
            Target::Cluster(c) => c,
            Target::NodeGroup { cluster, .. }
            | Target::Addon { cluster, .. }
            | Target::LaunchTemplate { cluster, .. } => cluster,
        }
    }
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Cluster(c) => write!(f, "cluster {c}"),
            Target::NodeGroup { cluster, nodegroup } => {
                write!(f, "node group {nodegroup} of cluster {cluster}")
            }
            Target::Addon { cluster, addon } => write!(f, "add-on {addon} of cluster {cluster}"),
            Target::LaunchTemplate {
                cluster,
                nodegroup,
                template,
            } => write!(
                f,
                "launch template {template} of node group {nodegroup} of cluster {cluster}"
            ),
        }
    }
}

/// Maps an SDK error from operation `op` on `target` into the core error.
pub(crate) fn map_sdk_error<E>(op: &'static str, target: Target<'_>, err: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mapped = match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            from_code(op, target, service.err().code(), service.err().message(), status)
        }
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => {
            Error::transient(format!("{op}: cannot reach the AWS endpoint: {}", chain(&err)))
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            Error::transient(format!("{op}: {}", chain(&err)))
        }
        _ => from_local_failure(op, &chain(&err)),
    };
    mapped.caused_by(Cause::new(Provider::Eks, op, err))
}

/// Maps a failure before any request reached AWS (credentials, region, configuration), given
/// as its one-line error chain.
pub(crate) fn from_local_failure(op: &'static str, text: &str) -> Error {
    // The credential chain's failures: none found, or every provider failed (e.g. no instance
    // metadata outside EC2, an expired SSO session).
    let credentials = [
        "no credentials found",
        "credential provider",
        "loading credentials",
    ];
    if credentials.iter().any(|needle| text.contains(needle)) {
        Error::permission(format!(
            "{op}: no usable AWS credentials ({text}); choose a profile (AWS_PROFILE), set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`"
        ))
        .with_hint(Hint::Settings(vec![Setting::Profile, Setting::Credentials]))
    } else {
        Error::invalid_input(format!("{op}: {text} (check the AWS region and credentials)"))
            .with_hint(Hint::Settings(vec![Setting::Region, Setting::Profile]))
    }
}

/// The error and its sources as one line, without the SDK's debug dump.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let mut line = parts.join(": ");
    shorten(&mut line);
    line
}

/// Cuts `text` to about 300 characters, marking the cut.
fn shorten(text: &mut String) {
    if text.len() > 300 {
        let cut = (0..=300).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
        text.push_str("...");
    }
}

/// Maps an EKS error code and message into the core error. `status` is the HTTP status.
pub(crate) fn from_code(
    op: &'static str,
    target: Target<'_>,
    code: Option<&str>,
    message: Option<&str>,
    status: u16,
) -> Error {
    // EC2's `UnauthorizedOperation` carries a long encoded authorization message: keep it short.
    let mut message = message.unwrap_or("").trim().to_string();
    shorten(&mut message);
    let with_message = |code: &str| {
        if message.is_empty() {
            code.to_string()
        } else {
            format!("{code}: {message}")
        }
    };
    match code {
        Some("ThrottlingException" | "Throttling" | "TooManyRequestsException" | "RequestLimitExceeded") => {
            Error::throttled(None)
        }
        Some("ResourceInUseException") => {
            Error::operation_in_progress(format!("{target} ({})", with_message("ResourceInUseException")))
        }
        Some("InvalidParameterException" | "InvalidRequestException")
            if op == "UpdateClusterVersion"
                && let Some(refusal) = pools_must_match(&message) =>
        {
            refusal
        }
        Some(code @ ("InvalidParameterException" | "InvalidRequestException")) => {
            Error::invalid_transition(format!("{op} on {target}: {}", with_message(code)))
        }
        Some(code @ "InvalidStateException") => Error::invalid_transition(format!(
            "{op} on {target}: {} (EKS upgrade insights or readiness checks block this; see the pre-flight findings)",
            with_message(code)
        )),
        Some("ResourceNotFoundException" | "NotFoundException") => not_found(target, &message),
        // EC2 (launch templates): `InvalidLaunchTemplateId.NotFound`, `.VersionNotFound`, ...
        Some(code) if code.starts_with("InvalidLaunchTemplate") && code.contains("NotFound") => {
            not_found(target, &message)
        }
        Some(code @ ("ServerException" | "ServiceUnavailableException" | "InternalFailure")) => {
            Error::transient(format!("{op}: {}", with_message(code)))
        }
        Some(
            code @ ("AccessDeniedException"
            | "UnauthorizedException"
            | "UnrecognizedClientException"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "UnauthorizedOperation"),
        ) => Error::permission(format!("{op} on {target}: {}", with_message(code))),
        Some(code @ ("ClientException" | "BadRequestException" | "ResourceLimitExceededException")) => {
            Error::invalid_transition(format!("{op} on {target}: {}", with_message(code)))
        }
        None if status == 404 => Error::provider(format!(
            "{op}: the EKS endpoint answered HTTP 404: it does not implement this call (emulators such as moto_server implement only part of the EKS API)"
        )),
        None if status >= 500 => Error::transient(format!("{op}: HTTP {status} {message}")),
        Some(code) => Error::provider(format!("{op} on {target}: {}", with_message(code))),
        None => Error::provider(format!("{op} on {target}: HTTP {status} {message}")),
    }
}

/// The rule behind EKS's "node groups must match" refusal, and where it is written.
const STRICT_NODEGROUP_RULE: &str = "EKS's UpdateClusterVersion API reference, https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateClusterVersion.html (read 2026-11-25): managed node groups must match the cluster's version before it is updated; kupgrade plans by the EKS user guide, which lets kubelets >= 1.25 lag 3 minors, and this cluster enforces the reference";

/// Recognises `UpdateClusterVersion`'s refusal while managed node groups lag, sent as
/// `InvalidParameterException` (ACK#2957) or, in older clusters, `InvalidRequestException`
/// (terraform-provider-aws#19478): "Nodegroups batch, general must be updated to match cluster
/// version 1.30 before updating cluster version". The control plane moves one minor at a time,
/// so the refused version is the next minor of the one named.
fn pools_must_match(message: &str) -> Option<Error> {
    let (head, tail) = message.split_once(" must be updated to match cluster version ")?;
    let pools = head
        .trim()
        .strip_prefix("Nodegroups ")
        .or_else(|| head.trim().strip_prefix("Nodegroup "))?
        .trim();
    let named = tail.split_whitespace().next()?.trim_end_matches(['.', ',']);
    let control_plane = kupgrade_core::KubeVersion::parse(named).ok()?.minor_version();
    Some(Error::PoolsMustMatch {
        provider: "Amazon EKS".into(),
        to: control_plane.next_minor().to_string(),
        control_plane: control_plane.to_string(),
        pools: pools.to_string(),
        rule: STRICT_NODEGROUP_RULE.into(),
    })
}

/// A `NotFound` naming the node group or add-on when EKS says that is what is missing, else the
/// cluster.
fn not_found(target: Target<'_>, message: &str) -> Error {
    let lower = message.to_ascii_lowercase();
    let cluster = target.cluster().to_string();
    let cluster_missing = || {
        Error::not_found(
            "cluster",
            &cluster,
            "check the cluster name, region and profile (EKS cluster names are per account and region)",
        )
        .with_hint(Hint::Settings(vec![
            Setting::Cluster,
            Setting::Region,
            Setting::Profile,
        ]))
    };
    match target {
        Target::Cluster(_) => cluster_missing(),
        Target::NodeGroup { nodegroup, .. } => {
            if lower.contains("cluster") && !lower.contains("nodegroup") && !lower.contains("node group") {
                cluster_missing()
            } else {
                Error::not_found(
                    "node pool",
                    nodegroup,
                    format!("cluster {cluster} has no managed node group of that name"),
                )
            }
        }
        Target::Addon { addon, .. } => {
            if lower.contains("cluster") && !lower.contains("addon") && !lower.contains("add-on") {
                cluster_missing()
            } else {
                Error::not_found("add-on", addon, format!("cluster {cluster} has no such add-on"))
            }
        }
        Target::LaunchTemplate {
            nodegroup, template, ..
        } => Error::not_found(
            "launch template",
            template,
            format!("node group {nodegroup} names it; it was deleted, or is in another account or region"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NG: Target<'static> = Target::NodeGroup {
        cluster: "prod",
        nodegroup: "blue",
    };

    #[test]
    fn throttling_and_in_use_are_retryable() {
        let e = from_code(
            "UpdateClusterVersion",
            Target::Cluster("prod"),
            Some("ThrottlingException"),
            Some("Rate exceeded"),
            400,
        );
        assert!(matches!(e, Error::Throttled { .. }) && e.is_retryable());
        let e = from_code(
            "UpdateClusterVersion",
            Target::Cluster("prod"),
            Some("ResourceInUseException"),
            Some("Cannot VersionUpdate because cluster prod currently has update abc in progress"),
            409,
        );
        assert!(matches!(e, Error::OperationInProgress { .. }) && e.is_retryable());
        assert!(e.to_string().contains("update abc in progress"), "{e}");
        let e = from_code(
            "DescribeCluster",
            Target::Cluster("prod"),
            Some("ServerException"),
            None,
            500,
        );
        assert!(matches!(e, Error::Transient { .. }) && e.is_retryable());
    }

    #[test]
    fn invalid_requests_are_final_and_keep_the_message() {
        for code in [
            "InvalidParameterException",
            "InvalidRequestException",
            "InvalidStateException",
        ] {
            let e = from_code(
                "UpdateNodegroupVersion",
                NG,
                Some(code),
                Some("Nodegroup version must not exceed cluster version"),
                400,
            );
            assert!(matches!(e, Error::InvalidTransition { .. }), "{code}: {e:?}");
            assert!(!e.is_retryable());
            let text = e.to_string();
            assert!(text.contains(code) && text.contains("must not exceed"), "{text}");
        }
    }

    #[test]
    fn a_hop_refused_because_node_groups_lag_names_the_rule_and_the_replan() {
        for code in ["InvalidParameterException", "InvalidRequestException"] {
            let e = from_code(
                "UpdateClusterVersion",
                Target::Cluster("prod"),
                Some(code),
                Some(
                    "Nodegroups batch, general must be updated to match cluster version 1.30 before updating cluster version",
                ),
                400,
            );
            let Error::PoolsMustMatch {
                to,
                control_plane,
                pools,
                rule,
                ..
            } = &e
            else {
                panic!("{code}: {e:?}");
            };
            assert_eq!((to.as_str(), control_plane.as_str()), ("1.31", "1.30"));
            assert_eq!(pools, "batch, general");
            assert!(
                rule.contains("API_UpdateClusterVersion") && rule.contains("user guide"),
                "{rule}"
            );
            assert!(!e.is_retryable());
            let text = e.to_string();
            assert!(
                text.contains("node lag limit of 0") && !text.contains('\n'),
                "{text}"
            );
        }
        // The same words from another call, or other UpdateClusterVersion refusals, are not it.
        let e = from_code(
            "UpdateNodegroupVersion",
            NG,
            Some("InvalidParameterException"),
            Some(
                "Nodegroups blue must be updated to match cluster version 1.30 before updating cluster version",
            ),
            400,
        );
        assert!(matches!(e, Error::InvalidTransition { .. }), "{e:?}");
        let e = from_code(
            "UpdateClusterVersion",
            Target::Cluster("prod"),
            Some("InvalidParameterException"),
            Some("Unsupported Kubernetes minor version update from 1.29 to 1.31"),
            400,
        );
        assert!(matches!(e, Error::InvalidTransition { .. }), "{e:?}");
    }

    #[test]
    fn not_found_names_the_node_group_or_the_cluster() {
        let e = from_code(
            "DescribeNodegroup",
            NG,
            Some("ResourceNotFoundException"),
            Some("No node group found for name: blue."),
            404,
        );
        assert_eq!(
            e.to_string(),
            "node pool 'blue' not found; cluster prod has no managed node group of that name"
        );
        let e = from_code(
            "DescribeNodegroup",
            NG,
            Some("ResourceNotFoundException"),
            Some("No cluster found for name: prod."),
            404,
        );
        assert!(
            e.to_string()
                .starts_with("cluster 'prod' not found; check the cluster name, region"),
            "{e}"
        );
        assert_eq!(
            e.hint(),
            Some(Hint::Settings(vec![
                Setting::Cluster,
                Setting::Region,
                Setting::Profile
            ]))
        );
        let e = from_code(
            "DescribeCluster",
            Target::Cluster("ghost"),
            Some("ResourceNotFoundException"),
            None,
            404,
        );
        assert!(e.to_string().starts_with("cluster 'ghost' not found"), "{e}");
    }

    #[test]
    fn error_chains_become_one_short_line() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("tcp connect error:\n  Connection refused"));
        assert_eq!(
            chain(&e),
            "dispatch failure: tcp connect error: Connection refused"
        );
        let long = Outer(std::io::Error::other("x".repeat(400)));
        assert!(chain(&long).len() <= 303 && chain(&long).ends_with("..."));
    }

    #[test]
    fn credential_chain_failures_say_how_to_log_in() {
        let e = from_local_failure(
            "DescribeCluster",
            "dispatch failure: other: an error occurred while loading credentials: failed to load IMDS session token",
        );
        assert!(matches!(e, Error::Permission { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("no usable AWS credentials"), "{text}");
        assert!(text.contains("failed to load IMDS session token"), "{text}");
        assert!(text.contains("aws sso login"), "{text}");
        let e = from_local_failure("DescribeCluster", "invalid region 'moon-1'");
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        assert!(e.to_string().contains("region"), "{e}");
        assert_eq!(
            e.hint(),
            Some(Hint::Settings(vec![Setting::Region, Setting::Profile]))
        );
    }

    #[test]
    fn unimplemented_calls_and_permissions() {
        let e = from_code("DescribeUpdate", Target::Cluster("c"), None, None, 404);
        assert!(e.to_string().contains("does not implement"), "{e}");
        assert!(!e.is_retryable());
        let e = from_code(
            "DescribeCluster",
            Target::Cluster("c"),
            Some("AccessDeniedException"),
            Some("not authorized"),
            403,
        );
        assert!(matches!(e, Error::Permission { .. }));
        let e = from_code("DescribeCluster", Target::Cluster("c"), None, None, 503);
        assert!(e.is_retryable());
    }
}
