//! `kupgrade swap`: the blue/green cluster strategy with your own commands as hooks: one that
//! provisions the green cluster (e.g. `terraform apply`), one that deploys the workloads (e.g.
//! `argocd app sync`), one that sets the traffic weights (e.g. DNS), an optional traffic check
//! (e.g. an SLO query) and one that decommissions blue. Commands run through `sh -c` with
//! `KUPGRADE_BLUE`, `KUPGRADE_GREEN`, `KUPGRADE_TO` and, for traffic, `KUPGRADE_GREEN_PERCENT`
//! in their environment; a non-zero exit fails the step with the command's last output.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use async_trait::async_trait;
use clap::Args;
use kupgrade_core::cluster_swap::{ClusterHandle, ClusterSwap, ClusterSwapHooks, SwapOptions, plan_swap};
use kupgrade_core::{ClusterSnapshot, Error, KubeVersion, Result, RunResult};
use kupgrade_sim::{SimCluster, SimStore};

use crate::output::{Output, json};
use crate::plan_flags::parse_target;
use crate::providers::{self, ClusterArgs, ProviderArg};
use crate::runner::{live_runtime, simulated_runtime};

/// Arguments of `kupgrade swap`.
#[derive(Debug, Args)]
pub struct SwapArgs {
    /// The blue cluster.
    #[command(flatten)]
    blue: ClusterArgs,
    /// The version of the green cluster.
    #[arg(long = "to", value_parser = parse_target)]
    to: KubeVersion,
    /// The green cluster's name (default: blue's name with `-vX-Y`).
    #[arg(long)]
    green_name: Option<String>,
    /// With --provider sim: the green cluster's state file, which --provision-cmd creates.
    #[arg(long)]
    green_sim_state: Option<PathBuf>,
    /// Kubeconfig context of the green cluster (default: the green cluster's name).
    #[arg(long)]
    green_context: Option<String>,
    /// Creates the green cluster at KUPGRADE_TO (e.g. `terraform apply -var name=$KUPGRADE_GREEN`).
    #[arg(long)]
    provision_cmd: String,
    /// Deploys the workloads to KUPGRADE_GREEN (e.g. `argocd app sync --dest-name $KUPGRADE_GREEN`).
    #[arg(long)]
    deploy_cmd: String,
    /// Sends KUPGRADE_GREEN_PERCENT of the traffic to green (e.g. DNS weights).
    #[arg(long)]
    traffic_cmd: String,
    /// Judges the traffic at the current weights; a non-zero exit fails the gate.
    #[arg(long)]
    traffic_check_cmd: Option<String>,
    /// Deletes KUPGRADE_BLUE; runs only with --decommission-blue.
    #[arg(long)]
    decommission_cmd: Option<String>,
    /// Delete blue after the soak (destructive).
    #[arg(long, requires = "decommission_cmd")]
    decommission_blue: bool,
    /// Traffic weights for green, comma-separated, ending at 100.
    #[arg(long, value_delimiter = ',', default_value = "10,50,100")]
    weights: Vec<u8>,
    /// Seconds each gate watches before judging.
    #[arg(long, default_value_t = 300)]
    gate_soak_secs: u64,
    /// Seconds with all traffic on green before blue may go.
    #[arg(long, default_value_t = 3600)]
    decommission_soak_secs: u64,
    /// Journal file: rerun the same command to continue after an interruption.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Show the steps; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// Hooks that run the user's commands.
struct CommandHooks {
    blue: String,
    to: KubeVersion,
    args: SwapArgs,
    green_percent: std::sync::Mutex<u8>,
}

impl CommandHooks {
    fn run(&self, step: &str, command: &str, green: &str) -> Result<()> {
        let percent = *self.green_percent.lock().unwrap_or_else(|e| e.into_inner());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("KUPGRADE_BLUE", &self.blue)
            .env("KUPGRADE_GREEN", green)
            .env("KUPGRADE_TO", self.to.to_string())
            .env("KUPGRADE_GREEN_PERCENT", percent.to_string())
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| Error::invalid_input(format!("{step} command `{command}` could not start: {e}")))?;
        if out.status.success() {
            return Ok(());
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tail: Vec<&str> = text
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(Error::HookFailed(format!(
            "{step} command `{command}` exited with {}: {}",
            out.status.code().map_or("a signal".into(), |c| c.to_string()),
            tail.join(" | ")
        )))
    }

    fn green_name(&self, blue: &ClusterSnapshot) -> String {
        self.args
            .green_name
            .clone()
            .unwrap_or_else(|| format!("{}-v{}-{}", blue.name, self.to.major(), self.to.minor()))
    }

    async fn connect_green(&self, name: &str) -> Result<Option<ClusterHandle>> {
        let to_core = |e: anyhow::Error| Error::invalid_input(format!("green cluster {name}: {e:#}"));
        if self.args.blue.provider == Some(ProviderArg::Sim) {
            let Some(path) = &self.args.green_sim_state else {
                return Err(Error::invalid_input(
                    "--provider sim needs --green-sim-state FILE",
                ));
            };
            let store = SimStore::File(path.clone());
            return Ok(store.load()?.map(|state| {
                let sim = SimCluster::with_store(state, store);
                ClusterHandle {
                    name: name.into(),
                    cluster: Arc::new(sim.clone()),
                    workloads: Arc::new(sim),
                }
            }));
        }
        let mut args = self.args.blue.clone();
        args.cluster = Some(name.to_string());
        args.context = Some(
            self.args
                .green_context
                .clone()
                .unwrap_or_else(|| name.to_string()),
        );
        let cluster = match providers::connect(&args).await {
            Ok(c) => c,
            Err(e) if format!("{e:#}").contains("not found") => return Ok(None),
            Err(e) => return Err(to_core(e)),
        };
        let workloads = providers::workloads(&args).await.map_err(to_core)?;
        Ok(Some(ClusterHandle {
            name: name.into(),
            cluster,
            workloads,
        }))
    }
}

#[async_trait]
impl ClusterSwapHooks for CommandHooks {
    async fn find_green(&self, name: &str) -> Result<Option<ClusterHandle>> {
        self.connect_green(name).await
    }

    async fn provision_green(
        &self,
        blue: &ClusterSnapshot,
        name: &str,
        _version: &KubeVersion,
    ) -> Result<ClusterHandle> {
        debug_assert_eq!(self.green_name(blue), name);
        self.run("provision", &self.args.provision_cmd, name)?;
        self.connect_green(name).await?.ok_or_else(|| {
            Error::not_found(
                "cluster",
                name,
                "the provision command succeeded but the green cluster is not there",
            )
        })
    }

    async fn deploy(&self, green: &ClusterHandle) -> Result<()> {
        self.run("deploy", &self.args.deploy_cmd, &green.name)
    }

    async fn shift_traffic(&self, green_percent: u8) -> Result<()> {
        *self.green_percent.lock().unwrap_or_else(|e| e.into_inner()) = green_percent;
        let green = self.args.green_name.clone().unwrap_or_default();
        self.run("traffic", &self.args.traffic_cmd, &green)
    }

    async fn traffic_problem(&self) -> Result<Option<String>> {
        let Some(check) = &self.args.traffic_check_cmd else {
            return Ok(None);
        };
        let green = self.args.green_name.clone().unwrap_or_default();
        Ok(self
            .run("traffic check", check, &green)
            .err()
            .map(|e| e.to_string()))
    }

    async fn decommission(&self, blue: &str) -> Result<()> {
        match &self.args.decommission_cmd {
            Some(cmd) => self.run("decommission", cmd, blue),
            None => Err(Error::invalid_input(
                "--decommission-blue needs --decommission-cmd",
            )),
        }
    }
}

/// Runs `kupgrade swap`.
pub fn run(args: SwapArgs) -> anyhow::Result<ExitCode> {
    let simulated = args.blue.provider == Some(ProviderArg::Sim);
    let runtime = if simulated {
        simulated_runtime()?
    } else {
        live_runtime()?
    };
    runtime.block_on(async move {
        let blue: ClusterHandle = if simulated {
            let Some(path) = &args.blue.sim_state else { bail!("--provider sim needs --sim-state FILE") };
            let store = SimStore::File(path.clone());
            let state = store.load()?.ok_or_else(|| anyhow::anyhow!("simulator state file {} not found", path.display()))?;
            let sim = SimCluster::with_store(state, store);
            ClusterHandle { name: sim.state().name, cluster: Arc::new(sim.clone()), workloads: Arc::new(sim) }
        } else {
            let cluster = providers::connect(&args.blue).await?;
            let workloads = providers::workloads(&args.blue).await?;
            ClusterHandle { name: cluster.describe().await?.name, cluster, workloads }
        };
        let snapshot = blue.cluster.describe().await?;
        let options = SwapOptions {
            weights: args.weights.clone(),
            gate_soak: Duration::from_secs(args.gate_soak_secs),
            decommission_soak: Duration::from_secs(args.decommission_soak_secs),
            decommission_blue: args.decommission_blue,
            green_name: args.green_name.clone(),
            ..SwapOptions::default()
        };
        let steps = plan_swap(&snapshot, &args.to, &options)?;
        let text = args.output == Output::Text;
        if text {
            println!("Blue/green cluster swap of '{}' to {}:", snapshot.name, args.to);
            for (i, step) in steps.iter().enumerate() {
                println!("{:>3}. {}", i + 1, step.describe());
            }
        }
        if args.dry_run {
            if text {
                println!("Dry run: nothing was changed.");
            }
            return Ok(ExitCode::SUCCESS);
        }
        if !args.yes {
            bail!("refusing to provision a cluster and move traffic without --yes; review the steps (--dry-run) first");
        }
        let green_name = args.green_name.clone().unwrap_or_else(|| format!("{}-v{}-{}", snapshot.name, args.to.major(), args.to.minor()));
        let journal = args.journal.clone();
        let to = args.to.clone();
        let hooks = CommandHooks {
            blue: snapshot.name.clone(),
            to: to.clone(),
            args: SwapArgs { green_name: Some(green_name), ..args },
            green_percent: std::sync::Mutex::new(0),
        };
        let mut swap = ClusterSwap::new(blue, &hooks, options).with_events(crate::progress::sink(Duration::ZERO));
        if let Some(path) = journal {
            swap = swap.with_journal_path(path);
        }
        let report = swap.run(&to).await?;
        if text {
            for (i, s) in report.steps.iter().enumerate() {
                println!("{:>3}. {:<64} {}", i + 1, s.step.describe(), s.outcome.label());
                if let Some(note) = s.note.as_ref().filter(|_| s.outcome != kupgrade_core::StepOutcome::Done) {
                    println!("     {note}");
                    if matches!(s.step, kupgrade_core::cluster_swap::SwapStep::DecommissionBlue { .. }) {
                        println!("     (pass --decommission-blue with --decommission-cmd to delete it)");
                    }
                }
            }
            println!("Result: {}; {}% of traffic on green cluster {}.", report.result.label(), report.green_percent, report.green);
        } else {
            print!("{}", json(&report)?);
        }
        if report.result == RunResult::Succeeded {
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("error: {}", report.error.as_deref().unwrap_or("the swap did not succeed"));
            Ok(ExitCode::from(1))
        }
    })
}
