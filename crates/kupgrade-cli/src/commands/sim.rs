//! `kupgrade sim`: simulator state files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use kupgrade_core::{KubeVersion, Provider};
use kupgrade_sim::{SimState, SimStore};

use crate::commands::versions::parse_provider;
use crate::plan_flags::parse_version;

/// Simulator subcommands.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Write a new simulator state file.
    Init {
        /// Where to write it (JSON).
        file: PathBuf,
        /// Which provider the cluster behaves like: eks, aks or gke.
        #[arg(long, value_parser = parse_provider)]
        provider: Provider,
        /// The control plane's version; pools start at it.
        #[arg(long, value_parser = parse_version)]
        control_plane: KubeVersion,
        /// How many node pools (3 nodes each).
        #[arg(long, default_value_t = 3)]
        pools: usize,
        /// How many application pods (in Deployments and StatefulSets with PDBs).
        #[arg(long, default_value_t = 24)]
        pods: u32,
        /// The cluster's name.
        #[arg(long, default_value = "sim-cluster")]
        name: String,
        /// Refuse a control-plane upgrade while any pool lags it, as EKS's UpdateClusterVersion
        /// API reference states ("node groups must match the cluster version"); plans made by
        /// the provider's default rule then stop at the first hop that needs it.
        #[arg(long)]
        strict_pool_rule: bool,
        /// The minors the provider offers for this cluster, comma-separated (default: every
        /// minor of the embedded support calendar).
        #[arg(long, value_delimiter = ',', value_parser = parse_version)]
        offer: Vec<KubeVersion>,
        /// Offered minors that are previews only, comma-separated.
        #[arg(long, value_delimiter = ',', value_parser = parse_version)]
        preview: Vec<KubeVersion>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// The most node pools `sim init` makes: far beyond any provider's limit (AKS 100 per
/// cluster, EKS and GKE in the hundreds), still small enough to plan in seconds.
const MAX_POOLS: usize = 10_000;
/// The most application pods `sim init` makes.
const MAX_PODS: u32 = 1_000_000;

/// A unique id for a new simulated cluster (its "resource id"): time and process, hashed.
fn new_uid() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = nanos ^ (u128::from(std::process::id()) << 64);
    let hash = seed.to_le_bytes().iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Runs `kupgrade sim ...`.
pub fn run(command: SimCommand) -> anyhow::Result<ExitCode> {
    match command {
        SimCommand::Init {
            file,
            provider,
            control_plane,
            pools,
            pods,
            name,
            strict_pool_rule,
            offer,
            preview,
            force,
        } => {
            if pools == 0 || pools > MAX_POOLS {
                bail!(
                    "--pools must be between 1 and {MAX_POOLS} (no provider allows more node pools per cluster), got {pools}"
                );
            }
            if pods > MAX_PODS {
                bail!("--pods must be at most {MAX_PODS}, got {pods}");
            }
            if file.exists() && !force {
                bail!("{} already exists; pass --force to overwrite it", file.display());
            }
            if let Some(p) = preview
                .iter()
                .find(|p| !offer.is_empty() && !offer.iter().any(|o| o.same_minor(p)))
            {
                bail!("--preview {p} is not in --offer; list it there too");
            }
            let mut state = SimState::generate(provider, &name, control_plane, pools, pods);
            state.uid = Some(new_uid());
            state.rules.pools_must_match_before_hop = strict_pool_rule;
            state.rules.offered = offer;
            state.rules.preview = preview;
            SimStore::File(file.clone()).save(&state)?;
            eprintln!(
                "wrote {}: {provider} cluster '{name}' at {}, {pools} pool(s), {} pod(s)",
                file.display(),
                state.control_plane,
                state.pods.iter().filter(|p| p.workload != "kube-proxy").count()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
