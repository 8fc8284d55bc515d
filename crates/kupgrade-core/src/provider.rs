//! The managed-Kubernetes providers kupgrade knows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// A managed-Kubernetes provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Amazon Elastic Kubernetes Service.
    Eks,
    /// Azure Kubernetes Service.
    Aks,
    /// Google Kubernetes Engine.
    Gke,
}

impl Provider {
    /// Every provider, in display order.
    pub const ALL: [Provider; 3] = [Provider::Eks, Provider::Aks, Provider::Gke];

    /// The lower-case short name used in files and flags.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Eks => "eks",
            Provider::Aks => "aks",
            Provider::Gke => "gke",
        }
    }

    /// The node label (key, value) the provider puts on the nodes of `pool`.
    pub fn pool_node_label(self, pool: &str) -> (String, String) {
        let key = match self {
            Provider::Eks => "eks.amazonaws.com/nodegroup",
            Provider::Aks => "kubernetes.azure.com/agentpool",
            Provider::Gke => "cloud.google.com/gke-nodepool",
        };
        (key.to_string(), pool.to_string())
    }

    /// The product name.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Eks => "Amazon EKS",
            Provider::Aks => "Azure AKS",
            Provider::Gke => "Google GKE",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name kupgrade does not know (it converts into [`crate::Error::UnknownProvider`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider '{0}': expected one of eks, aks, gke")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, UnknownProvider> {
        match s.trim().to_ascii_lowercase().as_str() {
            "eks" => Ok(Provider::Eks),
            "aks" => Ok(Provider::Aks),
            "gke" => Ok(Provider::Gke),
            _ => Err(UnknownProvider(s.to_string())),
        }
    }
}

impl<'de> Deserialize<'de> for Provider {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_rejects_others() {
        assert_eq!("EKS".parse::<Provider>().unwrap(), Provider::Eks);
        assert_eq!("gke".parse::<Provider>().unwrap(), Provider::Gke);
        let err = "openshift".parse::<Provider>().unwrap_err().to_string();
        assert_eq!(err, "unknown provider 'openshift': expected one of eks, aks, gke");
    }
}
