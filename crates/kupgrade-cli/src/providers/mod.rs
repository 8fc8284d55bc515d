//! Which cluster a command talks to: the flags of every provider, and connecting to it.
//!
//! Each cloud adapter lives in its own file here and turns [`ClusterArgs`] into an
//! `Arc<dyn ManagedCluster>`; the in-cluster side (drain, health, PDBs) comes from the
//! kubeconfig.

#[cfg(feature = "aks")]
mod aks;
#[cfg(feature = "eks")]
mod eks;
#[cfg(feature = "gke")]
mod gke;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use clap::{Args, ValueEnum};
use kupgrade_core::ManagedCluster;
use kupgrade_kube::KubeWorkloads;

/// Where the cluster lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// The built-in simulator (needs --sim-state).
    Sim,
    /// Amazon EKS (--cluster, --region, --profile, --endpoint-url).
    Eks,
    /// Azure AKS (--subscription, --resource-group, --cluster, --arm-endpoint, --no-auth).
    Aks,
    /// Google GKE (--project, --location, --cluster, --endpoint, --no-auth).
    Gke,
}

impl ProviderArg {
    /// The flag spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderArg::Sim => "sim",
            ProviderArg::Eks => "eks",
            ProviderArg::Aks => "aks",
            ProviderArg::Gke => "gke",
        }
    }
}

/// The flags that name a live cluster.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Where the cluster lives.
    #[arg(long, value_enum)]
    pub provider: Option<ProviderArg>,
    /// Simulator state file (with --provider sim); rewritten after every mutation.
    #[arg(long)]
    pub sim_state: Option<PathBuf>,
    /// The cluster's name (EKS, AKS, GKE).
    #[arg(long)]
    pub cluster: Option<String>,
    /// AWS region (EKS; default: the AWS region chain).
    #[arg(long)]
    pub region: Option<String>,
    /// AWS profile (EKS).
    #[arg(long)]
    pub profile: Option<String>,
    /// EKS API endpoint override, e.g. an emulator on 127.0.0.1.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Google Cloud project (GKE).
    #[arg(long)]
    pub project: Option<String>,
    /// GKE location: a region or zone.
    #[arg(long)]
    pub location: Option<String>,
    /// GKE API endpoint override.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Azure subscription id (AKS).
    #[arg(long)]
    pub subscription: Option<String>,
    /// Azure resource group (AKS).
    #[arg(long)]
    pub resource_group: Option<String>,
    /// Azure Resource Manager endpoint override (AKS).
    #[arg(long)]
    pub arm_endpoint: Option<String>,
    /// Send no credentials (only with --endpoint or --arm-endpoint, for local endpoints).
    #[arg(long)]
    pub no_auth: bool,
    /// Kubeconfig for the in-cluster side (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
}

impl ClusterArgs {
    /// The value of a required flag, or an error naming it.
    pub fn required<'a>(&self, value: &'a Option<String>, flag: &str) -> anyhow::Result<&'a str> {
        match value.as_deref() {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => bail!(
                "--provider {} needs {flag}",
                self.provider.map(ProviderArg::as_str).unwrap_or("?")
            ),
        }
    }
}

/// Connects to the cloud side of a live cluster.
pub async fn connect(args: &ClusterArgs) -> anyhow::Result<Arc<dyn ManagedCluster>> {
    match args.provider {
        None => bail!("name a cluster with --provider eks|aks|gke|sim and its flags"),
        Some(ProviderArg::Sim) => bail!("--provider sim is handled by the simulator runner"),
        #[cfg(feature = "eks")]
        Some(ProviderArg::Eks) => eks::connect(args).await,
        #[cfg(feature = "gke")]
        Some(ProviderArg::Gke) => gke::connect(args).await,
        #[cfg(feature = "aks")]
        Some(ProviderArg::Aks) => aks::connect(args).await,
        #[allow(
            unreachable_patterns,
            reason = "reached only in builds without every provider"
        )]
        Some(other) => bail!(
            "this kupgrade was built without --provider {} support; rebuild it with `--features {}`",
            other.as_str(),
            other.as_str()
        ),
    }
}

/// Connects to the in-cluster side through the kubeconfig.
pub async fn workloads(args: &ClusterArgs) -> anyhow::Result<Arc<KubeWorkloads>> {
    let provider = match args.provider {
        Some(ProviderArg::Eks) => Some(kupgrade_core::Provider::Eks),
        Some(ProviderArg::Aks) => Some(kupgrade_core::Provider::Aks),
        Some(ProviderArg::Gke) => Some(kupgrade_core::Provider::Gke),
        Some(ProviderArg::Sim) | None => None,
    };
    let kube =
        KubeWorkloads::from_kubeconfig(args.kubeconfig.as_deref(), args.context.as_deref(), provider).await?;
    Ok(Arc::new(kube))
}
