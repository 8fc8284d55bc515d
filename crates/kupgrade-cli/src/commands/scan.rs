//! `kupgrade scan`: deprecated and removed API versions in manifests, per the public contract.
//!
//! Exit codes: 0 nothing deprecated at the target, 2 deprecated only, 3 something is removed in
//! the target, 1 the scan could not run (a path that does not exist, a bad deprecations file) or
//! is incomplete: an input that looks like a manifest could not be read (listed in `skipped`
//! with `unreadable: true`), unless `--allow-unreadable` is given.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kupgrade_core::KubeVersion;
use kupgrade_kube::live::CrdFinding;
use kupgrade_kube::{DeprecationTable, ScanFinding, Scanner};
use serde::Serialize;

use crate::output::{Output, json};
use crate::plan_flags::parse_version;

/// Arguments of `kupgrade scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Manifest files or folders (YAML, JSON, `kind: List`, `helm template` output, Helm
    /// release secrets); `-` reads standard input.
    #[arg(required_unless_present = "live")]
    paths: Vec<PathBuf>,
    /// Also scan the live cluster of the kubeconfig: the API server's
    /// apiserver_requested_deprecated_apis metric, objects' managedFields and
    /// last-applied-configuration, deployed Helm releases, and CustomResourceDefinitions
    /// (deprecated or unserved versions, stale status.storedVersions).
    #[arg(long)]
    live: bool,
    /// Kubeconfig for --live (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long, requires = "live")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context for --live.
    #[arg(long, requires = "live")]
    context: Option<String>,
    /// The Kubernetes version to check against, e.g. 1.32.
    #[arg(long, value_parser = parse_version)]
    target: KubeVersion,
    /// Extra deprecations (YAML or JSON: entries with api_version, kind, deprecated_in,
    /// removed_in, replacement), e.g. for CRDs and add-ons. Repeatable.
    #[arg(long = "deprecations", value_name = "FILE")]
    deprecations: Vec<PathBuf>,
    /// Do not fail (exit 1) when inputs that look like manifests cannot be read (not UTF-8,
    /// malformed YAML, a Helm release that does not decode); they are still listed.
    #[arg(long)]
    allow_unreadable: bool,
    /// Output format (text or json).
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    findings: &'a [ScanFinding],
    skipped: &'a [kupgrade_kube::manifests::Skipped],
    crds: &'a [CrdFinding],
    warnings: &'a [String],
}

/// Runs the scan.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let mut table = DeprecationTable::builtin();
    for file in &args.deprecations {
        table.load_file(file)?;
    }
    let scanner = Scanner::new(table, args.target.clone());
    let (stdin, files): (Vec<_>, Vec<_>) = args.paths.into_iter().partition(|p| p.as_os_str() == "-");
    let mut report = if files.is_empty() {
        scanner.new_report()
    } else {
        scanner.scan_paths(&files)?
    };
    if !stdin.is_empty() {
        let limit = kupgrade_kube::manifests::MAX_INPUT_BYTES;
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
        if bytes.len() as u64 > limit {
            anyhow::bail!(
                "standard input is larger than the {} MiB limit for one manifest; write it to files and scan the folder",
                limit >> 20
            );
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!("standard input is not UTF-8 text; convert it to UTF-8 and scan it again")
        })?;
        scanner.scan_text(&text, "<stdin>", &mut report);
    }
    let mut crds = Vec::new();
    if args.live {
        let live = crate::runner::live_runtime()?.block_on(async {
            let kube = kupgrade_kube::KubeWorkloads::from_kubeconfig(
                args.kubeconfig.as_deref(),
                args.context.as_deref(),
                None,
            )
            .await?;
            kupgrade_kube::live::scan_cluster(kube.client(), &scanner).await
        })?;
        report.findings.extend(live.findings);
        report.warnings.extend(live.notes);
        crds = live.crds;
        if !live.served.is_empty() {
            report.warnings.push(format!(
                "the cluster still serves deprecated group/versions {} (information: stored objects are converted; the findings above show who uses them)",
                live.served.join(", ")
            ));
        }
    }
    let unreadable = report.unreadable();
    if unreadable > 0 {
        report.warnings.push(if args.allow_unreadable {
            format!("{unreadable} input(s) could not be read and were not scanned (--allow-unreadable)")
        } else {
            format!(
                "{unreadable} input(s) could not be read, so the scan is incomplete (exit 1): fix or remove them, or pass --allow-unreadable"
            )
        });
    }
    let crd_code = crds.iter().map(CrdFinding::exit_code).max().unwrap_or(0);
    let code = if args.allow_unreadable {
        report.findings_exit_code().max(crd_code)
    } else if report.unreadable() > 0 {
        1
    } else {
        report.findings_exit_code().max(crd_code)
    };
    match args.output {
        Output::Json => print!(
            "{}",
            json(&JsonReport {
                findings: &report.findings,
                skipped: &report.skipped,
                crds: &crds,
                warnings: &report.warnings,
            })?
        ),
        Output::Text | Output::Markdown => {
            print!("{}", report.to_text(&args.target));
            for crd in &crds {
                println!("  {}", crd.message());
            }
        }
    }
    Ok(ExitCode::from(code))
}
