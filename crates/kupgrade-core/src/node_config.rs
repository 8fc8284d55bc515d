//! Node bootstrap configuration: where kubelet flags live (user data, kubeadm configs, systemd
//! units), read from the provider, the cluster or files, and searched by `kupgrade-kube` for
//! flags an upgrade removes.

use serde::{Deserialize, Serialize};

/// One piece of node bootstrap configuration and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfigSource {
    /// `File` for a file, else what holds it (e.g. `LaunchTemplate`, `EC2NodeClass`).
    pub kind: String,
    /// The object's namespace, if it has one.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The file's path or the holder's name.
    pub name: String,
    /// The text: a file, user data (plain or base64), or an object's `spec` as YAML.
    pub text: String,
}

/// Node configuration read from one place, and what could not be read there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfigs {
    /// What was read.
    pub sources: Vec<NodeConfigSource>,
    /// What could not be read, one line each: `<what>: <why>`.
    pub unread: Vec<String>,
}
