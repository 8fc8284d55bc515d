//! The operator's one error type.

/// What can go wrong while reconciling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Kubernetes API of the management cluster refused or failed a call.
    #[error("management cluster API: {0}")]
    Kube(#[from] kube::Error),
    /// The upgrade engine failed.
    #[error(transparent)]
    Upgrade(#[from] kupgrade_core::Error),
    /// A resource is not usable as written (the message names it and the fix).
    #[error("{0}")]
    Invalid(String),
    /// Connecting to a managed cluster failed.
    #[error("cannot connect to cluster '{cluster}': {message}")]
    Connect {
        /// The `ManagedClusterRef`.
        cluster: String,
        /// Why.
        message: String,
    },
}

/// The operator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
