//! The deprecated-API scan: findings for manifests (files, folders, `helm template` output,
//! Helm release secrets) and for a live cluster.
//!
//! Findings follow the `kupgrade scan` contract: `file, kind, name, namespace, api_version,
//! replacement, deprecated_in, removed_in, deprecated, removed`; [`ScanReport::exit_code`] is 0
//! when nothing is deprecated at the target, 2 when something is deprecated only, 3 when
//! something is removed in the target, and 1 when an input could not be read (the scan is
//! incomplete, so it cannot pass a gate).

use std::fmt::Write;
use std::path::PathBuf;

use kupgrade_core::{KubeVersion, Result};
use serde::Serialize;

use crate::deprecations::{Deprecation, DeprecationTable};
use crate::manifests::{self, ManifestObject, Skipped};

/// One object using a deprecated or removed API at the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanFinding {
    /// Where it was found: a file, `file (helm release ns/name revision N)`, or for the live
    /// scan `cluster: ...` with the evidence.
    pub file: String,
    /// The object's kind.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The object's namespace, when it has one.
    pub namespace: Option<String>,
    /// The deprecated `apiVersion` it uses.
    pub api_version: String,
    /// What to use instead, when anything replaces it.
    pub replacement: Option<String>,
    /// The release that deprecated it.
    pub deprecated_in: String,
    /// The release that stops serving it, when scheduled.
    pub removed_in: Option<String>,
    /// Deprecated at the target.
    pub deprecated: bool,
    /// No longer served at the target.
    pub removed: bool,
    /// Advice from the table, e.g. that the kind is a configuration file rather than an API
    /// object, or why no replacement is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ScanFinding {
    /// A finding for `object` against `entry` at `target`.
    pub fn new(file: &str, object: &ManifestObject, entry: &Deprecation, target: &KubeVersion) -> Self {
        Self {
            file: file.to_string(),
            kind: object.kind.clone(),
            name: object.name.clone(),
            namespace: object.namespace.clone(),
            api_version: object.api_version.clone(),
            replacement: entry.replacement.clone(),
            deprecated_in: entry.deprecated_in.to_string(),
            removed_in: entry.removed_in.as_ref().map(ToString::to_string),
            deprecated: entry.deprecated_at(target),
            removed: entry.removed_at(target),
            note: entry.note.clone(),
        }
    }
}

/// The result of a scan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    /// Objects using APIs deprecated or removed at the target.
    pub findings: Vec<ScanFinding>,
    /// Inputs (or documents) not scanned, and why.
    pub skipped: Vec<Skipped>,
    /// Files read.
    pub files: usize,
    /// Objects looked at.
    pub objects: usize,
    /// Warnings about the scan itself (e.g. a target newer than the data).
    pub warnings: Vec<String>,
}

impl ScanReport {
    /// 1 when an input could not be read, else [`Self::findings_exit_code`].
    pub fn exit_code(&self) -> u8 {
        if self.unreadable() > 0 {
            1
        } else {
            self.findings_exit_code()
        }
    }

    /// How many inputs (or documents) looked like manifests but could not be read.
    pub fn unreadable(&self) -> usize {
        self.skipped.iter().filter(|s| s.unreadable).count()
    }

    /// From the findings alone: 0 nothing deprecated; 2 deprecated only; 3 something is
    /// removed in the target.
    pub fn findings_exit_code(&self) -> u8 {
        if self.findings.iter().any(|f| f.removed) {
            3
        } else if self.findings.iter().any(|f| f.deprecated) {
            2
        } else {
            0
        }
    }

    /// The report for people: one line per finding, then what was skipped.
    pub fn to_text(&self, target: &KubeVersion) -> String {
        let mut out = String::new();
        let removed = self.findings.iter().filter(|f| f.removed).count();
        let _ = writeln!(
            out,
            "Scanned {} object(s) in {} file(s) for Kubernetes {target}: {} deprecated, {removed} removed",
            self.objects,
            self.files,
            self.findings.len() - removed
        );
        for f in &self.findings {
            let verdict = if f.removed { "REMOVED   " } else { "deprecated" };
            let ns = f
                .namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default();
            let when = match &f.removed_in {
                Some(r) => format!("deprecated in {}, removed in {r}", f.deprecated_in),
                None => format!("deprecated in {}, no removal scheduled", f.deprecated_in),
            };
            let fix = match &f.replacement {
                Some(r) => format!("use {r}"),
                None => "no replacement".to_string(),
            };
            let note = f.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {verdict} {} {}{} ({}) in {}: {when}; {fix}{note}",
                f.kind, ns, f.name, f.api_version, f.file
            );
        }
        for s in &self.skipped {
            let verdict = if s.unreadable { "unreadable" } else { "skipped" };
            let _ = writeln!(out, "  {verdict} {s}");
        }
        for w in &self.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        out
    }
}

/// Scans objects against a [`DeprecationTable`] for one target version.
#[derive(Debug, Clone)]
pub struct Scanner {
    table: DeprecationTable,
    target: KubeVersion,
}

impl Scanner {
    /// A scanner for `target` with `table`.
    pub fn new(table: DeprecationTable, target: KubeVersion) -> Self {
        Self { table, target }
    }

    /// The target version.
    pub fn target(&self) -> &KubeVersion {
        &self.target
    }

    /// The table in use.
    pub fn table(&self) -> &DeprecationTable {
        &self.table
    }

    /// The finding for one object, if its API is deprecated or removed at the target.
    pub fn check(&self, file: &str, object: &ManifestObject) -> Option<ScanFinding> {
        let entry = self.table.lookup(&object.api_version, &object.kind)?;
        (entry.deprecated_at(&self.target) || entry.removed_at(&self.target))
            .then(|| ScanFinding::new(file, object, entry, &self.target))
    }

    /// Scans manifest text (YAML or JSON, one or many documents); `file` names it.
    pub fn scan_text(&self, text: &str, file: &str, report: &mut ScanReport) {
        let contents = manifests::read_text(text, file);
        report.files += 1;
        self.absorb(contents, report);
    }

    /// Scans a decoded Helm release's manifest; `file` says where the release was found. The
    /// findings carry the release's namespace for objects that name none.
    pub fn scan_release(&self, release: &crate::helm::HelmRelease, file: &str, report: &mut ScanReport) {
        self.absorb(manifests::read_release(release, file), report);
    }

    fn absorb(&self, contents: manifests::FileContents, report: &mut ScanReport) {
        report.objects += contents.objects.len();
        for (file, object) in &contents.objects {
            if let Some(f) = self.check(file, object) {
                report.findings.push(f);
            }
        }
        report.skipped.extend(contents.skipped);
    }

    /// Scans files and folders (see [`manifests::collect_inputs`] for how folders are walked).
    /// A path that does not exist is an error; a file that is not a manifest is skipped with the
    /// reason, one that cannot be read is listed as unreadable.
    pub fn scan_paths(&self, paths: &[PathBuf]) -> Result<ScanReport> {
        let mut report = self.new_report();
        let inputs = manifests::collect_inputs(paths)?;
        report.skipped.extend(inputs.skipped);
        for file in inputs.files {
            let contents = manifests::read_file(&file);
            report.files += 1;
            self.absorb(contents, &mut report);
        }
        Ok(report)
    }

    /// An empty report carrying the scan's own warnings.
    pub fn new_report(&self) -> ScanReport {
        let mut report = ScanReport::default();
        if self.target.minor_version() > self.table.covered_through().minor_version() {
            report.warnings.push(format!(
                "the built-in data covers removals through {}; removals in {} are not known to this build (add them with a deprecations file)",
                self.table.covered_through(),
                self.target.minor_version()
            ));
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(target: &str) -> Scanner {
        Scanner::new(DeprecationTable::builtin(), KubeVersion::parse(target).unwrap())
    }

    const MIXED: &str = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: shop}\n---\napiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata: {name: fs}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ok}\n";

    #[test]
    fn verdicts_and_exit_codes_depend_on_the_target() {
        let mut r = scanner("1.24").new_report();
        scanner("1.24").scan_text(MIXED, "m.yaml", &mut r);
        // At 1.24 the PDB is deprecated only and v1beta3 FlowSchema is not deprecated yet.
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.exit_code(), 2);
        let mut r = ScanReport::default();
        scanner("1.32").scan_text(MIXED, "m.yaml", &mut r);
        assert_eq!(r.findings.len(), 2);
        assert!(r.findings.iter().all(|f| f.removed));
        assert_eq!(r.exit_code(), 3);
        let mut r = ScanReport::default();
        scanner("1.20").scan_text(MIXED, "m.yaml", &mut r);
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.objects, 3);
    }

    #[test]
    fn targets_past_the_data_warn() {
        assert!(scanner("1.36").new_report().warnings.is_empty());
        let w = &scanner("1.37").new_report().warnings;
        assert!(w[0].contains("through 1.36"), "{w:?}");
    }

    #[test]
    fn text_report_snapshot() {
        let s = scanner("1.25");
        let mut r = s.new_report();
        s.scan_text(MIXED, "deploy/app.yaml", &mut r);
        s.scan_text("replicaCount: 2\n", "values.yaml", &mut r);
        insta::assert_snapshot!(r.to_text(s.target()));
    }
}
