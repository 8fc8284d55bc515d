//! `kupgrade iac plan|apply-step`: the plan as a train of changes to Terraform and eksctl files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use kupgrade_core::{KubeVersion, PlanOptions, SkewPolicy, Strategy};
use kupgrade_iac::{Train, VersionRef};

use crate::output::{Output, json};
use crate::plan_flags::parse_target;

/// `kupgrade iac` subcommands.
#[derive(Debug, Subcommand)]
pub enum IacCommand {
    /// Find the clusters and pools the files declare and plan them as one change per step.
    Plan(IacPlanArgs),
    /// Rewrite the files for step N of the plan (and the steps before it the files lack),
    /// printing the diff; --git commits each step on its own branch.
    ApplyStep(ApplyStepArgs),
}

/// What the files are and where to go.
#[derive(Debug, Args)]
pub struct IacTarget {
    /// Target minor version, e.g. 1.32.
    #[arg(long = "to", value_parser = parse_target)]
    to: KubeVersion,
    /// Terraform directories or files, eksctl ClusterConfig files (directories are searched).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The cluster to plan when the files declare several (its name or address).
    #[arg(long)]
    cluster: Option<String>,
    /// Override how many minors nodes may lag the control plane.
    #[arg(long)]
    lag_limit: Option<u32>,
}

/// Arguments of `kupgrade iac plan`.
#[derive(Debug, Args)]
pub struct IacPlanArgs {
    #[command(flatten)]
    target: IacTarget,
    /// Output: text, json, or markdown (the "PR train" report: per step its diff, the
    /// pre-flight checks of its hop and what must be true before the next step).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// Arguments of `kupgrade iac apply-step`.
#[derive(Debug, Args)]
pub struct ApplyStepArgs {
    /// The step (1 is the next one the files need).
    #[arg(value_name = "N")]
    step: usize,
    #[command(flatten)]
    target: IacTarget,
    /// Commit steps 1..=N, each on its own branch (kupgrade/CLUSTER-step-K-to-X.Y) made from
    /// the one before, with a message that names the checks to run and the next step.
    #[arg(long)]
    git: bool,
}

/// Runs `kupgrade iac`.
pub fn run(command: IacCommand) -> anyhow::Result<ExitCode> {
    match command {
        IacCommand::Plan(args) => plan(args),
        IacCommand::ApplyStep(args) => apply_step(args),
    }
}

fn make_train(target: &IacTarget) -> anyhow::Result<Train> {
    let found = kupgrade_iac::discover(&target.paths)?;
    let cluster = found.cluster(target.cluster.as_deref())?;
    let mut policy = SkewPolicy::for_provider(cluster.provider);
    if let Some(limit) = target.lag_limit {
        policy = policy.with_lag_limit(limit);
    }
    let options = PlanOptions::new(cluster.provider, Strategy::InPlace).with_policy(policy);
    Ok(kupgrade_iac::train(cluster, &target.to, &options)?)
}

fn plan(args: IacPlanArgs) -> anyhow::Result<ExitCode> {
    let train = make_train(&args.target)?;
    let text = match args.output {
        Output::Json => json(&train)?,
        Output::Markdown => {
            let findings = crate::commands::plan::offline_checks(&train.cluster.snapshot()?, &train.plan)?;
            train.render_markdown(&findings)?
        }
        Output::Text => render_text(&train)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn apply_step(args: ApplyStepArgs) -> anyhow::Result<ExitCode> {
    let train = make_train(&args.target)?;
    if train.steps.is_empty() {
        println!(
            "Nothing to do: the files already declare {} at {}.",
            train.cluster.name, train.plan.target
        );
        return Ok(ExitCode::SUCCESS);
    }
    let changes = train.files_after(args.step)?;
    if args.git {
        let branches = kupgrade_iac::git::commit_steps(&train, args.step)?;
        for (n, branch) in branches.iter().enumerate() {
            println!("step {}: {} on branch {branch}", n + 1, train.steps[n].title());
        }
    } else {
        for change in &changes {
            kupgrade_iac::git::write(change)?;
        }
    }
    for change in &changes {
        print!("{}", change.diff());
    }
    let step = &train.steps[args.step - 1];
    eprintln!(
        "wrote step {} of {} ({}); before applying run `kupgrade check` for {}{}",
        step.number,
        train.steps.len(),
        step.title(),
        step.hop,
        match train.steps.get(args.step) {
            Some(next) => format!("; next: step {}: {}", next.number, next.title()),
            None => String::new(),
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn render_text(train: &Train) -> anyhow::Result<String> {
    use std::fmt::Write;
    let c = &train.cluster;
    let mut out = String::new();
    let where_ = |v: &VersionRef| match v {
        VersionRef::Declared(d) => {
            let via = if d.via.is_empty() {
                String::new()
            } else {
                format!(" via {}", d.via.join(" -> "))
            };
            format!(
                "{} ({}:{}{via})",
                d.value,
                d.location.file.display(),
                d.location.line
            )
        }
        VersionRef::Unresolved { expression, .. } => format!("unresolved `{expression}`"),
    };
    let _ = writeln!(
        out,
        "{} cluster '{}' ({}): control plane {} -> {}, {} step(s)",
        c.provider.display_name(),
        c.name,
        c.address,
        where_(&c.control_plane),
        train.plan.target,
        train.steps.len()
    );
    for pool in &c.pools {
        let moves = if c.follows_control_plane(pool) {
            " (the control plane's literal: it moves with every control-plane step)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  pool {} ({}): {}{moves}",
            pool.name,
            pool.address,
            where_(&pool.version)
        );
    }
    for line in &train.unplanned {
        let _ = writeln!(out, "  not planned: {line}");
    }
    for w in &c.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    for step in &train.steps {
        let _ = writeln!(out, "Step {}: {}", step.number, step.title());
        for edit in &step.edits {
            let _ = writeln!(
                out,
                "  {}:{}  {} -> {}  ({})",
                edit.location.file.display(),
                edit.location.line,
                edit.old,
                edit.new,
                edit.declares.join(", ")
            );
        }
    }
    if train.steps.is_empty() {
        let _ = writeln!(
            out,
            "Nothing to do: the files already declare {}.",
            train.plan.target
        );
    } else {
        let _ = writeln!(
            out,
            "Apply one step per change: `kupgrade iac apply-step 1 --to {} PATH...` (add --git for a branch per step).",
            train.plan.target
        );
    }
    Ok(out)
}

/// For `plan` and `upgrade` of a live cluster given `--iac PATH`: a warning when the files
/// declare other versions than the cluster will have after `plan`, with the diff that keeps
/// them in step. Nothing when no file declares this cluster.
pub fn drift_warning(paths: &[PathBuf], plan: &kupgrade_core::UpgradePlan) -> anyhow::Result<Option<String>> {
    let found = kupgrade_iac::discover(paths)?;
    let Some(cluster) = found
        .clusters
        .iter()
        .find(|c| c.provider == plan.provider && c.name == plan.cluster)
    else {
        return Ok(Some(format!(
            "warning: no cluster named '{}' is declared in {} ({} found); the files cannot be checked for drift",
            plan.cluster,
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            found.clusters.len()
        )));
    };
    let end = plan
        .states()
        .last()
        .cloned()
        .unwrap_or_else(|| plan.initial.clone());
    let pools: Vec<(String, KubeVersion)> = end
        .node_pools
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    let kupgrade_iac::Match {
        changes,
        absent: not_in_run,
    } = kupgrade_iac::edits_to_match(cluster, &end.control_plane, &pools)?;
    let undeclared: Vec<&str> = end
        .node_pools
        .iter()
        .filter(|p| !cluster.pools.iter().any(|declared| declared.name == p.name))
        .map(|p| p.name.as_str())
        .collect();
    if changes.is_empty() && not_in_run.is_empty() && undeclared.is_empty() {
        return Ok(None);
    }
    let mut out = String::new();
    if !changes.is_empty() {
        out.push_str(&format!(
            "warning: {} declares '{}' at other versions than this run leaves it (control plane {}); the next apply would fight the upgrade. Keep the files in step:\n",
            cluster.address, cluster.name, end.control_plane
        ));
        for change in &changes {
            out.push_str(&change.diff());
        }
    }
    for (name, address) in not_in_run {
        let why = if plan.initial.node_pools.iter().any(|p| p.name == name) {
            "is replaced by this run; declare its replacement in the files"
        } else {
            "is declared in the files but the cluster has no such pool"
        };
        out.push_str(&format!("warning: pool {name} ({address}) {why}\n"));
    }
    for name in undeclared {
        out.push_str(&format!(
            "warning: pool {name} of the cluster is not declared in the files; whatever owns it must follow the upgrade too\n"
        ));
    }
    Ok(Some(out))
}
