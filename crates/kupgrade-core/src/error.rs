//! The one error type every kupgrade crate returns.

use std::time::Duration;

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while planning, checking or running an upgrade.
///
/// Adapters map their SDK errors into these semantic variants, so callers can decide what to
/// do without knowing which cloud they talk to. [`Error::is_retryable`] says whether waiting and
/// trying the same call again can help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A version string could not be parsed.
    #[error("invalid Kubernetes version '{input}': {reason}")]
    InvalidVersion {
        /// What the user gave.
        input: String,
        /// Why it is not a version.
        reason: String,
    },
    /// The provider name is not one kupgrade knows.
    #[error("unknown provider '{0}': expected one of eks, aks, gke")]
    UnknownProvider(String),
    /// The target is older than what runs today.
    #[error(
        "cannot downgrade: {what} is at {current}, target {target} is older (control planes only move forward)"
    )]
    Downgrade {
        /// What would go backwards.
        what: String,
        /// Its version today.
        current: String,
        /// The requested target.
        target: String,
    },
    /// The request breaks a version-skew rule.
    #[error("version skew: {0}")]
    Skew(String),
    /// The target is newer than anything the support calendar knows.
    #[error(
        "target {target} is beyond the newest {provider} version kupgrade knows ({newest}); pick {newest} or older"
    )]
    UnknownTarget {
        /// The provider.
        provider: String,
        /// The requested target.
        target: String,
        /// The newest known minor.
        newest: String,
    },
    /// The provider refused to move the control plane because node pools lag it: it enforces a
    /// stricter ordering than the plan was made with (EKS's `UpdateClusterVersion` reference:
    /// managed node groups must match the cluster's version before an update).
    #[error(
        "{provider} refused to move the control plane to {to}: node pools {pools} must first be at the control plane's version {control_plane} ({rule}); re-plan with every pool moved before each hop (a node lag limit of 0)"
    )]
    PoolsMustMatch {
        /// The provider's product name.
        provider: String,
        /// The control-plane version that was refused.
        to: String,
        /// The control plane's version the pools must reach first.
        control_plane: String,
        /// The pools the provider named, comma-separated.
        pools: String,
        /// The rule and where it is written.
        rule: String,
    },
    /// The request is malformed (a bad state file, a bad flag combination).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A cluster, node pool or operation does not exist.
    #[error("{kind} '{name}' not found{hint}")]
    NotFound {
        /// `cluster`, `node pool`, `operation`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// Extra advice, starting with "; " when present.
        hint: String,
    },
    /// The provider is throttling calls.
    #[error("throttled by the provider{}", retry_hint(.retry_after))]
    Throttled {
        /// The provider's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// Another operation is running on the cluster; wait for it.
    #[error("another operation is in progress on {0}; wait for it to finish")]
    OperationInProgress(String),
    /// The provider refused the transition given the cluster's state.
    #[error("the provider refused the change: {0}")]
    InvalidTransition(String),
    /// The caller lacks permission.
    #[error("permission denied: {0}")]
    Permission(String),
    /// A wait ran out of time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// A cloud operation finished unsuccessfully.
    #[error("operation {id} failed: {message}")]
    OperationFailed {
        /// The provider's operation id.
        id: String,
        /// The provider's reason (e.g. `PodEvictionFailure: ...`).
        message: String,
    },
    /// A drain stopped because PodDisruptionBudgets would be violated.
    #[error("drain blocked: {}", describe_blockers(.0))]
    DrainBlocked(Vec<crate::workloads::DrainBlocker>),
    /// A user-supplied hook command failed (its own words follow).
    #[error("{0}")]
    HookFailed(String),
    /// A health gate did not pass.
    #[error("gate failed: {0}")]
    GateFailed(String),
    /// A pre-flight check found a blocker.
    #[error("pre-flight checks found {0} blocker(s); fix them first")]
    ChecksBlocked(usize),
    /// The journal belongs to a different run.
    #[error("journal mismatch: {0}")]
    Journal(String),
    /// A journal was written for another cluster, target, strategy or option than this run's.
    #[error("journal {} cannot be resumed: {difference}", .path.display())]
    JournalNotResumable {
        /// The journal.
        path: std::path::PathBuf,
        /// The first difference, e.g. "it was planned with strategy canary, this run asks for
        /// in-place".
        difference: String,
    },
    /// Another run holds the lock on a journal or state file.
    #[error("{} is in use by another kupgrade run ({holder}); wait for it to finish", .path.display())]
    Locked {
        /// The file the lock guards.
        path: std::path::PathBuf,
        /// Who holds it (process, host, since when).
        holder: String,
    },
    /// An endpoint (a token service, an API) could not be reached within its deadline; the
    /// text names it and the cause. Not retried: the deadline already allowed for retries.
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// A transient provider-side failure.
    #[error("transient provider error: {0}")]
    Transient(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The provider answered in a way we do not understand.
    #[error("unexpected provider response: {0}")]
    Provider(String),
}

/// What the user can do about an error, for a front end to put in its own words (the CLI
/// names its flags). Library messages describe the fix without naming any front end's flag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// Plan again from the cluster as it is now, with this node lag limit (`Some(0)`: every
    /// pool moved before each hop).
    Replan {
        /// The lag limit to plan with.
        lag_limit: Option<u32>,
    },
    /// Look at the pre-flight findings.
    RunChecks,
    /// Accept a target the provider offers only as a preview.
    AllowPreview,
}

impl Error {
    /// What the user can do about this error, when there is a next step to suggest.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Error::PoolsMustMatch { .. } => Some(Hint::Replan { lag_limit: Some(0) }),
            Error::JournalNotResumable { .. } => Some(Hint::Replan { lag_limit: None }),
            Error::ChecksBlocked(_) => Some(Hint::RunChecks),
            _ => None,
        }
    }
}

fn retry_hint(after: &Option<Duration>) -> String {
    after
        .map(|d| format!("; retry after {}s", d.as_secs()))
        .unwrap_or_default()
}

fn describe_blockers(blockers: &[crate::workloads::DrainBlocker]) -> String {
    blockers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// Whether waiting and repeating the same call can succeed: throttling, another operation in
    /// progress, and transient provider faults. Nothing else is retried.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Throttled { .. } | Error::OperationInProgress(_) | Error::Transient(_)
        )
    }

    /// The delay the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Throttled { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A [`Error::NotFound`] with a hint.
    pub fn not_found(kind: &'static str, name: impl Into<String>, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        Error::NotFound {
            kind,
            name: name.into(),
            hint: if hint.is_empty() {
                hint
            } else {
                format!("; {hint}")
            },
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_waiting_errors_are_retryable() {
        assert!(Error::Throttled { retry_after: None }.is_retryable());
        assert!(Error::OperationInProgress("c".into()).is_retryable());
        assert!(Error::Transient("x".into()).is_retryable());
        assert!(!Error::InvalidTransition("x".into()).is_retryable());
        assert!(!Error::not_found("cluster", "prod", "").is_retryable());
        assert!(!Error::Skew("x".into()).is_retryable());
    }

    #[test]
    fn messages_are_one_line_and_name_the_subject() {
        let e = Error::not_found("cluster", "prod-eu", "check --region");
        assert_eq!(e.to_string(), "cluster 'prod-eu' not found; check --region");
        let e = Error::Throttled {
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(e.to_string(), "throttled by the provider; retry after 7s");
    }

    #[test]
    fn a_refused_hop_names_the_rule_and_the_replan_command() {
        let e = Error::PoolsMustMatch {
            provider: "Amazon EKS".into(),
            to: "1.31".into(),
            control_plane: "1.30".into(),
            pools: "batch, general".into(),
            rule: "the UpdateClusterVersion reference's rule".into(),
        };
        let text = e.to_string();
        assert!(!e.is_retryable());
        assert!(!text.contains('\n'));
        for needle in [
            "batch, general",
            "1.30",
            "1.31",
            "UpdateClusterVersion",
            "node lag limit of 0",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(!text.contains("--"), "names no CLI flag: {text}");
        assert_eq!(e.hint(), Some(Hint::Replan { lag_limit: Some(0) }));
    }
}
