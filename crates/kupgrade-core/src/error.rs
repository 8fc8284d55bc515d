//! The one error type every kupgrade crate returns.

use std::time::Duration;

use crate::Provider;

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
    #[error(transparent)]
    UnknownProvider(#[from] crate::provider::UnknownProvider),
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
    /// The request is malformed (a bad state file, bad settings, a request the provider
    /// rejected as invalid).
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong, and the fix where there is one.
        message: String,
        /// The provider call that rejected it, when a provider did.
        #[source]
        cause: Option<Box<Cause>>,
        /// The setting to change, for a front end to name in its own words.
        hint: Option<Hint>,
    },
    /// A cluster, node pool or operation does not exist.
    #[error("{kind} '{name}' not found{}", detail_suffix(.detail))]
    NotFound {
        /// `cluster`, `node pool`, `operation`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// What to check, when there is advice (e.g. "EKS cluster names are per region").
        detail: String,
        /// The provider call that answered "not found".
        #[source]
        cause: Option<Box<Cause>>,
        /// The settings that choose what is looked up, for a front end to name.
        hint: Option<Hint>,
    },
    /// The provider is throttling calls.
    #[error("throttled by the provider{}", retry_hint(.retry_after))]
    Throttled {
        /// The provider's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// The provider call that was throttled.
        #[source]
        cause: Option<Box<Cause>>,
    },
    /// Another operation is running on the cluster; wait for it.
    #[error("another operation is in progress on {message}; wait for it to finish")]
    OperationInProgress {
        /// What is busy (e.g. "cluster prod").
        message: String,
        /// The provider call that was refused.
        #[source]
        cause: Option<Box<Cause>>,
    },
    /// The provider refused the transition given the cluster's state.
    #[error("the provider refused the change: {message}")]
    InvalidTransition {
        /// The refusal, in the provider's words where it gave some.
        message: String,
        /// The provider call that was refused.
        #[source]
        cause: Option<Box<Cause>>,
        /// What to do about it, when there is a next step.
        hint: Option<Hint>,
    },
    /// The caller lacks permission, or has no usable credentials.
    #[error("permission denied: {message}")]
    Permission {
        /// What was denied.
        message: String,
        /// The provider call that was denied.
        #[source]
        cause: Option<Box<Cause>>,
        /// The settings that choose the credentials, for a front end to name.
        hint: Option<Hint>,
    },
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
    DrainBlocked(Vec<crate::pod::DrainBlocker>),
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
    #[error("cannot reach {message}")]
    Unreachable {
        /// The endpoint and why.
        message: String,
        /// The call that could not reach it.
        #[source]
        cause: Option<Box<Cause>>,
        /// The settings that choose the endpoint, for a front end to name.
        hint: Option<Hint>,
    },
    /// A transient provider-side failure.
    #[error("transient provider error: {message}")]
    Transient {
        /// What failed.
        message: String,
        /// The provider call that failed.
        #[source]
        cause: Option<Box<Cause>>,
    },
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
    #[error("unexpected provider response: {message}")]
    Provider {
        /// What was unexpected.
        message: String,
        /// The provider call that answered.
        #[source]
        cause: Option<Box<Cause>>,
    },
}

/// A boxed error from an SDK or transport.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where a provider-facing [`Error`] came from: the service, the API operation, and the SDK's
/// own error, which is this value's [`source`](std::error::Error::source). It is the `source()`
/// of the [`Error`] that carries it, so a caller who needs the SDK's details walks the chain:
///
/// ```
/// use kupgrade_core::{Cause, Error, Provider};
/// use std::error::Error as _;
///
/// let sdk = std::io::Error::other("connection reset");
/// let err = Error::transient("DescribeCluster failed")
///     .caused_by(Cause::new(Provider::Eks, "DescribeCluster", sdk));
/// let cause = err.cause().unwrap();
/// assert_eq!(cause.to_string(), "EKS DescribeCluster");
/// assert_eq!(cause.provider(), Some(Provider::Eks));
/// assert!(cause.downcast_ref::<std::io::Error>().is_some());
/// assert!(err.source().unwrap().source().is_some());
/// ```
#[derive(Debug)]
pub struct Cause {
    provider: Option<Provider>,
    operation: std::borrow::Cow<'static, str>,
    error: BoxError,
}

impl Cause {
    /// The `operation` of `provider`'s API failed with `error`.
    pub fn new(
        provider: Provider,
        operation: impl Into<std::borrow::Cow<'static, str>>,
        error: impl Into<BoxError>,
    ) -> Self {
        Self {
            provider: Some(provider),
            operation: operation.into(),
            error: error.into(),
        }
    }

    /// A call to the cluster's own Kubernetes API (`operation`, e.g. "list pods") failed.
    pub fn kubernetes(
        operation: impl Into<std::borrow::Cow<'static, str>>,
        error: impl Into<BoxError>,
    ) -> Self {
        Self {
            provider: None,
            operation: operation.into(),
            error: error.into(),
        }
    }

    /// The cloud provider called, or `None` for the cluster's Kubernetes API.
    pub fn provider(&self) -> Option<Provider> {
        self.provider
    }

    /// The API operation, in the provider's name for it (e.g. `UpdateNodegroupVersion`).
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The SDK's error.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.error.as_ref()
    }

    /// The SDK's error as `T`, when it is one.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.error.downcast_ref::<T>()
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.provider {
            Some(provider) => write!(f, "{} {}", provider.as_str().to_ascii_uppercase(), self.operation),
            None => write!(f, "Kubernetes API {}", self.operation),
        }
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.error.as_ref())
    }
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
    /// Change these settings (which cluster, where, with which credentials).
    Settings(Vec<Setting>),
    /// Scan for deprecated API use with the scanner: in the running cluster (`live`), or in
    /// manifests and Helm releases.
    ScanApis {
        /// Scan the running cluster rather than files.
        live: bool,
    },
}

/// A setting a library error asks the user to give or check; each front end names it its own
/// way (the CLI: a flag; an embedder: a builder method or an environment variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Setting {
    /// The cluster's name.
    Cluster,
    /// The AWS region.
    Region,
    /// The AWS profile.
    Profile,
    /// The credentials used (a profile, environment variables, a login).
    Credentials,
    /// The Azure subscription.
    Subscription,
    /// The Azure resource group.
    ResourceGroup,
    /// The Google Cloud project.
    Project,
    /// The GKE location (region or zone).
    Location,
    /// The provider's API endpoint (a local emulator's, for example).
    Endpoint(Provider),
    /// Anonymous credentials, for a local endpoint.
    AnonymousCredentials,
    /// The kubeconfig context that reaches the cluster.
    KubeContext,
    /// The kubeconfig file.
    Kubeconfig,
    /// A node bootstrap configuration read from a file.
    NodeConfigFile,
    /// The node lag limit the plan is made with.
    LagLimit,
}

/// `Some($body)` with `$field` bound to the `cause` of the variants that carry one (those that
/// describe a provider's answer), `None` for the others: the one list of those variants.
macro_rules! with_cause_field {
    ($error:expr, $field:ident => $body:expr) => {
        match $error {
            Error::InvalidInput { cause: $field, .. }
            | Error::NotFound { cause: $field, .. }
            | Error::Throttled { cause: $field, .. }
            | Error::OperationInProgress { cause: $field, .. }
            | Error::InvalidTransition { cause: $field, .. }
            | Error::Permission { cause: $field, .. }
            | Error::Unreachable { cause: $field, .. }
            | Error::Transient { cause: $field, .. }
            | Error::Provider { cause: $field, .. } => Some($body),
            _ => None,
        }
    };
}

/// `Some($body)` with `$field` bound to the `hint` of the variants that carry one, `None` for the
/// others: the one list of those variants.
macro_rules! with_hint_field {
    ($error:expr, $field:ident => $body:expr) => {
        match $error {
            Error::InvalidInput { hint: $field, .. }
            | Error::NotFound { hint: $field, .. }
            | Error::InvalidTransition { hint: $field, .. }
            | Error::Permission { hint: $field, .. }
            | Error::Unreachable { hint: $field, .. } => Some($body),
            _ => None,
        }
    };
}

impl Error {
    /// What the user can do about this error, when there is a next step to suggest.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Error::PoolsMustMatch { .. } => Some(Hint::Replan { lag_limit: Some(0) }),
            Error::JournalNotResumable { .. } => Some(Hint::Replan { lag_limit: None }),
            Error::ChecksBlocked(_) => Some(Hint::RunChecks),
            other => with_hint_field!(other, hint => hint.clone()).flatten(),
        }
    }

    /// The same error with `hint` as its [`Error::hint`]. Only errors that can carry a hint
    /// (invalid input, not found, refused, denied, unreachable) keep it; others are returned
    /// as they are.
    pub fn with_hint(mut self, new: Hint) -> Self {
        with_hint_field!(&mut self, hint => *hint = Some(new));
        self
    }

    /// The same error with `cause` as its [`source`](std::error::Error::source). Errors that
    /// describe a provider's answer (invalid input, not found, throttled, in progress, refused,
    /// denied, unreachable, transient, unexpected) keep it; others are returned as they are.
    pub fn caused_by(mut self, new: Cause) -> Self {
        with_cause_field!(&mut self, cause => *cause = Some(Box::new(new)));
        self
    }

    /// The provider call this error came from, with the SDK's error as its source.
    pub fn cause(&self) -> Option<&Cause> {
        with_cause_field!(self, cause => cause.as_deref()).flatten()
    }

    /// An [`Error::InvalidInput`].
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::InvalidInput {
            message: message.into(),
            cause: None,
            hint: None,
        }
    }

    /// An [`Error::Throttled`], with the provider's `Retry-After` if it sent one.
    pub fn throttled(retry_after: Option<Duration>) -> Self {
        Error::Throttled {
            retry_after,
            cause: None,
        }
    }

    /// An [`Error::OperationInProgress`] on `what` (e.g. "cluster prod").
    pub fn operation_in_progress(what: impl Into<String>) -> Self {
        Error::OperationInProgress {
            message: what.into(),
            cause: None,
        }
    }

    /// An [`Error::InvalidTransition`].
    pub fn invalid_transition(message: impl Into<String>) -> Self {
        Error::InvalidTransition {
            message: message.into(),
            cause: None,
            hint: None,
        }
    }

    /// An [`Error::Permission`].
    pub fn permission(message: impl Into<String>) -> Self {
        Error::Permission {
            message: message.into(),
            cause: None,
            hint: None,
        }
    }

    /// An [`Error::Unreachable`].
    pub fn unreachable(message: impl Into<String>) -> Self {
        Error::Unreachable {
            message: message.into(),
            cause: None,
            hint: None,
        }
    }

    /// An [`Error::Transient`].
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient {
            message: message.into(),
            cause: None,
        }
    }

    /// An [`Error::Provider`]: an answer kupgrade does not understand.
    pub fn provider(message: impl Into<String>) -> Self {
        Error::Provider {
            message: message.into(),
            cause: None,
        }
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!("; {detail}")
    }
}

fn retry_hint(after: &Option<Duration>) -> String {
    after
        .map(|d| format!("; retry after {}s", d.as_secs()))
        .unwrap_or_default()
}

fn describe_blockers(blockers: &[crate::pod::DrainBlocker]) -> String {
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
            Error::Throttled { .. } | Error::OperationInProgress { .. } | Error::Transient { .. }
        )
    }

    /// The delay the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// An [`Error::NotFound`], with what to check (`detail`, empty for nothing).
    pub fn not_found(kind: &'static str, name: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            name: name.into(),
            detail: detail.into(),
            cause: None,
            hint: None,
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
        assert!(Error::throttled(None).is_retryable());
        assert!(Error::operation_in_progress("c").is_retryable());
        assert!(Error::transient("x").is_retryable());
        assert!(!Error::invalid_transition("x").is_retryable());
        assert!(!Error::not_found("cluster", "prod", "").is_retryable());
        assert!(!Error::Skew("x".into()).is_retryable());
    }

    #[test]
    fn messages_are_one_line_and_name_the_subject() {
        let e = Error::not_found("cluster", "prod-eu", "check the region");
        assert_eq!(e.to_string(), "cluster 'prod-eu' not found; check the region");
        let e = Error::throttled(Some(Duration::from_secs(7)));
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
