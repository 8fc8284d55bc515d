//! `kupgrade`: plan, check and run managed-Kubernetes upgrades.
//!
//! Every failure ends the process with exit code 1 and one line on stderr; commands with their
//! own verdict codes (`check`, `scan`) document them.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The crate's `print!` and `println!` shadow std's: same use, but a closed stdout ends the
// output quietly instead of panicking (see `output::write_stdout`).
macro_rules! print {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*)) };
}
macro_rules! println {
    () => { $crate::output::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => {{
        $crate::output::write_stdout(format_args!($($arg)*));
        $crate::output::write_stdout(format_args!("\n"));
    }};
}

mod addon_catalog;
mod commands;
mod hints;
mod output;
mod plan_flags;
mod progress;
mod providers;
mod report;
mod report_file;
mod runner;
mod state_file;

/// Plans, checks and runs managed-Kubernetes upgrades on EKS, AKS, GKE and a built-in simulator.
#[derive(Debug, Parser)]
#[command(name = "kupgrade", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Plan an upgrade offline from a cluster state file.
    Plan(commands::plan::PlanArgs),
    /// Show each provider's support calendar with days left as of today.
    Versions(commands::versions::VersionsArgs),
    /// Upgrade a simulated cluster end to end (no cloud account needed).
    Demo(commands::demo::DemoArgs),
    /// Run an upgrade: pre-flight checks, then the plan (pools side by side where the provider
    /// allows), with a journal.
    Upgrade(commands::upgrade::UpgradeArgs),
    /// Plan or upgrade a fleet of clusters in ordered waves.
    Fleet {
        #[command(subcommand)]
        command: commands::fleet::FleetCommand,
    },
    /// Find deprecated and removed API versions in manifests (exit 0 none, 2 deprecated, 3 removed).
    Scan(commands::scan::ScanArgs),
    /// Run the in-cluster pre-upgrade checks through a kubeconfig (exit 0 clear, 3 blocked).
    Check(commands::check::CheckArgs),
    /// Run the post-upgrade checks through a kubeconfig (exit 0 clear, 3 blocked).
    Verify(commands::verify::VerifyArgs),
    /// Replace a cluster with a new one at the target (blue/green cluster), with your commands as hooks.
    Swap(Box<commands::swap::SwapArgs>),
    /// Plan an upgrade as a train of changes to Terraform and eksctl files, one step per change.
    Iac {
        #[command(subcommand)]
        command: commands::iac::IacCommand,
    },
    /// The add-on catalog, or a cluster's add-ons and their verdict at each hop (exit 3 when
    /// one blocks).
    Addons(commands::addons::AddonsArgs),
    /// Manage simulator state files.
    Sim {
        #[command(subcommand)]
        command: commands::sim::SimCommand,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => err.exit(),
        Err(err) => {
            eprintln!("{} (see kupgrade --help)", clap_one_line(&err));
            return ExitCode::from(1);
        }
    };
    // The one TLS crypto provider of the process, chosen here and nowhere in the libraries:
    // aws-lc-rs, which the AWS SDK's HTTPS client and google-cloud-auth are built on too.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUPGRADE_LOG")
                // aws-config logs each failed credential provider with a debug dump; the error
                // we print already says what failed and how to fix it.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,aws_config=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Plan(args) => commands::plan::run(args),
        Command::Versions(args) => commands::versions::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Upgrade(args) => commands::upgrade::run(args),
        Command::Scan(args) => commands::scan::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Sim { command } => commands::sim::run(command),
        Command::Swap(args) => commands::swap::run(*args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Fleet { command } => commands::fleet::run(command),
        Command::Iac { command } => commands::iac::run(command),
        Command::Addons(args) => commands::addons::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!(
                "error: {}",
                hints::with_advice(&hints::one_line(&err), hints::core_error(&err))
            );
            ExitCode::from(1)
        }
    }
}

/// A clap usage error on one line: its paragraph before the usage text.
fn clap_one_line(err: &clap::Error) -> String {
    let rendered = err.to_string();
    rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}
