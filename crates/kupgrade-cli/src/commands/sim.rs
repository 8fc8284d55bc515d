//! `kupgrade sim`: simulator state files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use kupgrade_core::{KubeVersion, Provider};
use kupgrade_sim::{SimState, SimStore};

use crate::commands::plan::parse_version;
use crate::commands::versions::parse_provider;

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
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
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
            force,
        } => {
            if pools == 0 {
                bail!("--pools must be at least 1");
            }
            if file.exists() && !force {
                bail!("{} already exists; pass --force to overwrite it", file.display());
            }
            let state = SimState::generate(provider, &name, control_plane, pools, pods);
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
