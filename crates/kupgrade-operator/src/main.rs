//! `kupgrade-operator`: reconciles `UpgradeRun`s on the management cluster it runs in, or prints
//! its CRDs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use kupgrade_operator::leader::{LeaseSettings, lead};
use kupgrade_operator::{CloudConnector, Operator, SimClusters, controller};

/// Fleets of managed-Kubernetes upgrades as Kubernetes resources.
#[derive(Debug, Parser)]
#[command(name = "kupgrade-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the CustomResourceDefinitions as YAML (`kupgrade-operator crds | kubectl apply -f -`).
    Crds,
    /// Runs the operator (the default): leader election on a Lease, then the controller.
    Run(RunArgs),
}

#[derive(Debug, Default, clap::Args)]
struct RunArgs {
    /// The namespace of the leader-election Lease (default: the pod's, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kupgrade-system")]
    lease_namespace: String,
    /// The Lease's name.
    #[arg(long, default_value = "kupgrade-operator")]
    lease_name: String,
    /// This replica's identity in the Lease (default: the pod's name, from POD_NAME).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Keep simulated clusters as state files here (they survive a restart); default: memory.
    #[arg(long)]
    sim_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crds) => {
            print!("{}", kupgrade_operator::resources::crds_yaml());
            ExitCode::SUCCESS
        }
        Some(Command::Run(args)) => serve(args),
        None => serve(RunArgs::parse_from_env()),
    }
}

impl RunArgs {
    /// The `run` flags' defaults and environment, for a bare `kupgrade-operator`.
    fn parse_from_env() -> Self {
        #[derive(Parser)]
        struct Bare {
            #[command(flatten)]
            args: RunArgs,
        }
        Bare::parse_from(["kupgrade-operator"]).args
    }
}

fn serve(args: RunArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // The one process-wide TLS crypto provider, chosen by the binary (libraries install none).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let client = match kube::Client::try_default().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: cannot reach the management cluster's API server: {e}");
                return ExitCode::FAILURE;
            }
        };
        let sims = Arc::new(match &args.sim_dir {
            Some(dir) => SimClusters::in_dir(dir),
            None => SimClusters::in_memory(),
        });
        let connector = Arc::new(CloudConnector::new(client.clone(), sims));
        let operator = Arc::new(Operator::new(client.clone(), connector).with_leader(false));
        let identity = args
            .identity
            .clone()
            .unwrap_or_else(|| format!("kupgrade-operator-{}", std::process::id()));
        let settings = LeaseSettings::new(&args.lease_namespace, &args.lease_name, identity);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let shutdown = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let leading = tokio::spawn(lead(
            client,
            settings,
            operator.clone(),
            shutdown(stopped.clone()),
        ));
        let controlling = tokio::spawn(controller::run(operator, shutdown(stopped)));
        terminated().await;
        tracing::info!("shutting down: releasing the lease");
        let _ = stop.send(true);
        let _ = leading.await;
        let _ = controlling.await;
        ExitCode::SUCCESS
    })
}

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C.
async fn terminated() {
    #[cfg(unix)]
    {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
