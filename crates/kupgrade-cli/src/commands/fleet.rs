//! `kupgrade fleet plan|upgrade --file fleet.yaml`: many clusters in ordered waves.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::{Context, bail};
use async_trait::async_trait;
use clap::{Args, Subcommand};
use kupgrade_core::fleet::{FleetCluster, FleetConnector, FleetEvent, FleetRunner, FleetSpec};
use kupgrade_core::{ClusterWorkloads, Event, ExecutorConfig, ManagedCluster};
use kupgrade_sim::{CrashPlan, SimFleetConnector};

use crate::output::{Output, json};
use crate::providers::{self, ClusterArgs, ProviderArg};
use crate::runner::{live_runtime, simulated_runtime};

/// Fleet subcommands.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Plan every cluster of the fleet; change nothing.
    Plan(FleetArgs),
    /// Upgrade the fleet wave by wave.
    Upgrade(FleetArgs),
}

/// Arguments of the fleet subcommands.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The fleet file (YAML or JSON).
    #[arg(long)]
    file: PathBuf,
    /// Where the per-cluster and fleet journals go (default: `.kupgrade/<fleet>` beside the file).
    #[arg(long)]
    journal_dir: Option<PathBuf>,
    /// Do not ask for confirmation (upgrade).
    #[arg(long)]
    yes: bool,
    /// Delete pods a PodDisruptionBudget protects once the drain timeout passes (destructive).
    #[arg(long)]
    force_drain: bool,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Also write a report: Markdown, or JUnit XML when FILE ends in .xml.
    #[arg(long)]
    report: Option<PathBuf>,
}

fn read_spec(path: &Path) -> anyhow::Result<FleetSpec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fleet file {}", path.display()))?;
    let spec: FleetSpec = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    } else {
        serde_norway::from_str(&text).map_err(anyhow::Error::from)
    }
    .with_context(|| format!("fleet file {} is not valid", path.display()))?;
    spec.validate()?;
    Ok(spec)
}

/// Simulated clusters from their state files, live ones through the provider adapters.
struct CliConnector {
    sim: SimFleetConnector,
}

fn cluster_args(c: &FleetCluster) -> anyhow::Result<ClusterArgs> {
    let get = |key: &str| c.settings.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let provider = match c.provider.as_str() {
        "eks" => ProviderArg::Eks,
        "aks" => ProviderArg::Aks,
        "gke" => ProviderArg::Gke,
        other => bail!(
            "cluster '{}': unknown provider '{other}': expected sim, eks, aks or gke",
            c.name
        ),
    };
    Ok(ClusterArgs {
        provider: Some(provider),
        sim_state: None,
        cluster: get("cluster").or_else(|| Some(c.name.clone())),
        region: get("region"),
        profile: get("profile"),
        endpoint_url: get("endpoint_url"),
        project: get("project"),
        location: get("location"),
        endpoint: get("endpoint"),
        subscription: get("subscription"),
        resource_group: get("resource_group"),
        arm_endpoint: get("arm_endpoint"),
        no_auth: c
            .settings
            .get("no_auth")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
        kubeconfig: get("kubeconfig").map(PathBuf::from),
        context: get("context"),
    })
}

#[async_trait]
impl FleetConnector for CliConnector {
    async fn connect(
        &self,
        c: &FleetCluster,
    ) -> kupgrade_core::Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)> {
        if c.provider == "sim" {
            return self.sim.connect(c).await;
        }
        let to_core =
            |e: anyhow::Error| kupgrade_core::Error::invalid_input(format!("cluster '{}': {e:#}", c.name));
        let args = cluster_args(c).map_err(to_core)?;
        let cluster = providers::connect(&args).await.map_err(to_core)?;
        let workloads = providers::workloads(&args).await.map_err(to_core)?;
        Ok((cluster, workloads))
    }
}

/// Runs `kupgrade fleet ...`.
pub fn run(command: FleetCommand) -> anyhow::Result<ExitCode> {
    let (args, upgrade) = match command {
        FleetCommand::Plan(a) => (a, false),
        FleetCommand::Upgrade(a) => (a, true),
    };
    let spec = read_spec(&args.file)?;
    let base = args.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let journal_dir = args
        .journal_dir
        .clone()
        .unwrap_or_else(|| base.join(".kupgrade").join(&spec.name));
    let all_simulated = spec
        .waves
        .iter()
        .flat_map(|w| &w.clusters)
        .all(|c| c.provider == "sim");
    let mut sim = SimFleetConnector::new(&base);
    if let Ok(n) = std::env::var("KUPGRADE_SIM_CRASH_AFTER") {
        let at: u64 = n
            .parse()
            .map_err(|_| anyhow::anyhow!("KUPGRADE_SIM_CRASH_AFTER must be a number, got '{n}'"))?;
        sim = sim.with_crash_plan(CrashPlan {
            counter: Arc::new(AtomicU64::new(0)),
            at,
            hook: Arc::new(move || {
                eprintln!("simulated crash after persisted mutation {at}");
                std::process::abort();
            }),
        });
    }
    let mut config = ExecutorConfig::default();
    config.drain.force = args.force_drain;
    let runner = FleetRunner::new(Arc::new(CliConnector { sim }), &journal_dir)
        .with_config(config)
        .with_events(Arc::new(print_event));
    let runtime = if all_simulated {
        simulated_runtime()?
    } else {
        live_runtime()?
    };
    runtime.block_on(async {
        let plans = runner.plan(&spec).await?;
        if !upgrade || args.output == Output::Text {
            let mut failed = 0;
            let mut rows: BTreeMap<usize, String> = BTreeMap::new();
            for (i, (wave, cluster, planned)) in plans.iter().enumerate() {
                let line = match planned {
                    Ok(p) => format!(
                        "  [{wave}] {cluster}: {} -> {}, {} step(s), {} hop(s), {} node rollout(s)",
                        p.initial.control_plane,
                        p.target,
                        p.steps.len(),
                        p.hops().len(),
                        p.node_rollouts
                    ),
                    Err(e) => {
                        failed += 1;
                        format!("  [{wave}] {cluster}: cannot plan: {e}")
                    }
                };
                rows.insert(i, line);
            }
            if !upgrade && args.output == Output::Json {
                let out: Vec<serde_json::Value> = plans
                    .iter()
                    .map(|(wave, cluster, p)| match p {
                        Ok(p) => serde_json::json!({"wave": wave, "cluster": cluster, "plan": p}),
                        Err(e) => serde_json::json!({"wave": wave, "cluster": cluster, "error": e.to_string()}),
                    })
                    .collect();
                print!("{}", json(&serde_json::json!({"fleet": spec.name, "clusters": out}))?);
            } else {
                println!("Fleet '{}': {} wave(s)", spec.name, spec.waves.len());
                for line in rows.values() {
                    println!("{line}");
                }
            }
            if failed > 0 {
                bail!("{failed} cluster(s) of the fleet cannot be planned; nothing was changed");
            }
        }
        if !upgrade {
            if let Some(path) = &args.report {
                crate::report_file::write(
                    path,
                    || {
                        let mut md = format!("# Fleet plan: {}\n\n| Wave | Cluster | Steps | Hops | Node rollouts |\n|---|---|---|---|---|\n", spec.name);
                        for (wave, cluster, p) in &plans {
                            if let Ok(p) = p {
                                md.push_str(&format!("| {wave} | {cluster} | {} | {} | {} |\n", p.steps.len(), p.hops().len(), p.node_rollouts));
                            }
                        }
                        md
                    },
                    || kupgrade_core::report::junit(&spec.name, &[], &[]),
                )?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        if !args.yes {
            if !std::io::stdin().is_terminal() {
                bail!("refusing to upgrade the fleet without confirmation; review `kupgrade fleet plan` and pass --yes");
            }
            eprint!("Upgrade every cluster above, wave by wave? [y/N] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                bail!("aborted: nothing was changed");
            }
        }
        let report = runner.run(&spec).await?;
        if args.output == Output::Json {
            print!("{}", json(&report)?);
        } else {
            for wave in &report.waves {
                if wave.status == "skipped" {
                    println!("wave {}: passed in an earlier run", wave.wave);
                    continue;
                }
                println!("wave {}: {}", wave.wave, wave.status);
                for c in &wave.clusters {
                    let result = c.result.map(|r| format!("{r:?}").to_lowercase()).unwrap_or_else(|| "not started".into());
                    println!("  {}: {result}{}", c.cluster, c.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default());
                }
            }
        }
        if let Some(path) = &args.report {
            crate::report_file::write(
                path,
                || kupgrade_core::report::fleet_markdown(&spec, &report),
                || kupgrade_core::report::fleet_junit(&report),
            )?;
        }
        if report.succeeded {
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!("error: {}", report.halted.as_deref().unwrap_or("the fleet rollout halted"));
            Ok(ExitCode::from(1))
        }
    })
}

fn print_event(event: &FleetEvent) {
    match event {
        FleetEvent::WaveStarted { wave, clusters } => eprintln!("== wave {wave}: {clusters} cluster(s)"),
        FleetEvent::WaveSkipped { wave } => eprintln!("== wave {wave}: passed in an earlier run, skipped"),
        FleetEvent::WaveGate { wave, passed, reason } => match reason {
            Some(r) if !passed => eprintln!("== wave {wave}: gate FAILED: {r}"),
            _ => eprintln!("== wave {wave}: gate passed"),
        },
        FleetEvent::Soaking { wave, seconds } => eprintln!(
            "== wave {wave}: soaking {} min before the next wave",
            seconds / 60
        ),
        FleetEvent::ClusterFinished {
            wave,
            cluster,
            result,
            error,
        } => eprintln!(
            "[{wave}] {cluster}: {}{}",
            format!("{result:?}").to_lowercase(),
            error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
        ),
        FleetEvent::Cluster { wave, cluster, event } => match event.as_ref() {
            Event::StepStarted {
                index,
                total,
                description,
            } => {
                eprintln!("[{wave}] {cluster}: [{}/{total}] {description}", index + 1)
            }
            Event::StepFailed { index, error } => {
                eprintln!("[{wave}] {cluster}: step {} failed: {error}", index + 1)
            }
            Event::PodDeletedPastPdb { pod, pdb, .. } => {
                eprintln!(
                    "[{wave}] {cluster}: deleted pod {pod} past PodDisruptionBudget {pdb} (--force-drain)"
                )
            }
            _ => {}
        },
        _ => {}
    }
}
