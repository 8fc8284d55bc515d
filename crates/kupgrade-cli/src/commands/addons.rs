//! `kupgrade addons`: the add-on catalog, or what a cluster runs and its verdict at each hop.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use kupgrade_core::addons::{AddonInventory, AddonMove, InstalledAddon};
use kupgrade_core::checks::{CheckInputs, CheckRegistry, Finding, sort_findings};
use kupgrade_core::{
    AddonCatalog, Calendar, ClusterSnapshot, KubeVersion, PlanOptions, Provider, Strategy, plan_with,
};
use kupgrade_kube::KubeWorkloads;
use kupgrade_kube::addons::ClusterAddons;
use serde::Serialize;

use crate::output::{Output, json};
use crate::plan_flags::parse_target;

/// Arguments of `kupgrade addons`.
#[derive(Debug, Args)]
pub struct AddonsArgs {
    /// Read the cluster this kubeconfig points at (without it, or --context, the catalog is
    /// printed).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context.
    #[arg(long)]
    context: Option<String>,
    /// Judge every hop up to this minor (default: the cluster's own version).
    #[arg(long = "to", value_parser = parse_target)]
    to: Option<KubeVersion>,
    /// The provider, for Helm's view of the version (EKS and GKE versions carry a suffix Helm
    /// treats as a pre-release); default: read from the API server's version.
    #[arg(long, value_parser = parse_provider)]
    provider: Option<Provider>,
    /// An add-on catalog file that extends or overrides the embedded one.
    #[arg(long, value_name = "FILE")]
    addons: Option<PathBuf>,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    match s {
        "eks" => Ok(Provider::Eks),
        "aks" => Ok(Provider::Aks),
        "gke" => Ok(Provider::Gke),
        other => Err(format!("unknown provider '{other}': expected eks, aks or gke")),
    }
}

/// Runs `kupgrade addons`.
pub fn run(args: AddonsArgs) -> anyhow::Result<ExitCode> {
    if args.output == Output::Markdown {
        anyhow::bail!("kupgrade addons prints text or json; --output markdown is not available here");
    }
    let catalog = crate::addon_catalog::load(args.addons.as_deref())?;
    if args.kubeconfig.is_none() && args.context.is_none() {
        if args.to.is_some() {
            anyhow::bail!("--to judges a cluster's add-ons: give --kubeconfig (or --context) too");
        }
        print!(
            "{}",
            match args.output {
                Output::Json => json(&*catalog)?,
                _ => catalog_text(&catalog),
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    crate::runner::live_runtime()?.block_on(cluster(args, catalog))
}

#[derive(Serialize)]
struct ClusterJson<'a> {
    provider: Provider,
    control_plane: String,
    target: String,
    installed: &'a [InstalledAddon],
    findings: crate::commands::check::JsonReport<'a>,
    steps: &'a [AddonMove],
}

async fn cluster(args: AddonsArgs, catalog: Arc<AddonCatalog>) -> anyhow::Result<ExitCode> {
    let kube =
        KubeWorkloads::from_kubeconfig(args.kubeconfig.as_deref(), args.context.as_deref(), None).await?;
    let current = kube.server_version().await?;
    let inferred = args.provider.or_else(|| match current.suffix() {
        Some(s) if s.starts_with("eks") => Some(Provider::Eks),
        Some(s) if s.starts_with("gke") => Some(Provider::Gke),
        _ => None,
    });
    if inferred.is_none() {
        eprintln!(
            "note: the API server's version {current} names no provider; judging it as AKS does (a plain version in Helm's rules). Pass --provider to say otherwise"
        );
    }
    let provider = inferred.unwrap_or(Provider::Aks);
    let target = args.to.clone().unwrap_or_else(|| current.minor_version());
    if target.minor_version() < current.minor_version() {
        anyhow::bail!("cannot judge a downgrade: the cluster runs {current}, --to {target} is older");
    }
    let inventory = ClusterAddons::live(kube.client().clone());
    let installed = inventory.installed(&catalog).await?;
    // The control plane's path only: add-ons follow the control plane's minor.
    let snapshot = ClusterSnapshot {
        provider,
        name: args
            .context
            .clone()
            .unwrap_or_else(|| "the kubeconfig's cluster".into()),
        control_plane: current.clone(),
        status: Default::default(),
        node_pools: Vec::new(),
        auto_upgrade: None,
        id: None,
    };
    let plan = plan_with(&snapshot, &target, &PlanOptions::new(provider, Strategy::InPlace))?;
    let mut registry = CheckRegistry::empty();
    kupgrade_core::addons::register(&mut registry, catalog.clone(), Arc::new(installed.clone()));
    let calendar = Calendar::embedded(provider);
    let inputs = CheckInputs::offline(&snapshot, &calendar, chrono::Utc::now().date_naive());
    let mut findings: Vec<Finding> = registry.run(&plan, &inputs).await?;
    sort_findings(&mut findings);
    let moves = kupgrade_core::addons::moves(&catalog, &installed, &current, &target);
    let text = match args.output {
        Output::Json => json(&ClusterJson {
            provider,
            control_plane: current.to_string(),
            target: target.to_string(),
            installed: &installed,
            findings: crate::commands::check::to_json(&findings),
            steps: &moves,
        })?,
        _ => cluster_text(provider, &current, &target, &installed, &findings, &moves),
    };
    print!("{text}");
    let blocked = findings
        .iter()
        .any(|f| f.severity == kupgrade_core::Severity::Blocker);
    Ok(if blocked {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn catalog_text(catalog: &AddonCatalog) -> String {
    let mut out = String::new();
    for e in catalog.entries() {
        let _ = writeln!(
            out,
            "{} ({}): ranges are {}; source {} (as of {})",
            e.title,
            e.name,
            e.meaning.as_str(),
            e.source,
            e.as_of
        );
        for r in &e.releases {
            let _ = writeln!(out, "  {:<8} Kubernetes {}", r.release, r.describe());
        }
        if let Some(r) = &e.retired {
            let _ = writeln!(out, "  retired since {}: {}", r.since, r.replacement);
        }
        if let Some(note) = &e.note {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    let _ = writeln!(
        out,
        "Provider-managed add-ons (EKS vpc-cni, coredns, kube-proxy, ...) are judged through the provider's API during `kupgrade check` and `upgrade`."
    );
    out
}

fn cluster_text(
    provider: Provider,
    current: &KubeVersion,
    target: &KubeVersion,
    installed: &[InstalledAddon],
    findings: &[Finding],
    moves: &[AddonMove],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} cluster at {current}; add-ons judged up to {target}.",
        provider.display_name()
    );
    if installed.is_empty() {
        let _ = writeln!(
            out,
            "No add-on found (Helm releases, Deployments, DaemonSets, StatefulSets)."
        );
    }
    for a in installed {
        let _ = writeln!(
            out,
            "  {:<28} {:<12} {} ({}){}",
            a.name,
            a.version.as_deref().unwrap_or("?"),
            a.subject,
            a.evidence,
            if a.known { "" } else { "  [not in the catalog]" }
        );
    }
    out.push_str(&crate::report::findings_text(findings));
    if !moves.is_empty() {
        let _ = writeln!(out, "Add-on steps:");
        for m in moves {
            let when = match m.timing {
                kupgrade_core::AddonTiming::Before => "before",
                kupgrade_core::AddonTiming::After => "right after",
            };
            let _ = writeln!(
                out,
                "  install {} {} {when} the control plane reaches {} ({})",
                m.addon, m.install, m.hop, m.reason
            );
        }
    }
    out
}
