//! The table of deprecated and removed Kubernetes APIs: an embedded copy covering every removal
//! from 1.16 through 1.36 (with the source of each entry), plus entries users add from a YAML or
//! JSON file for their CRDs and add-ons.

use std::collections::HashMap;
use std::path::Path;

use kupgrade_core::{Error, KubeVersion, Result};
use serde::{Deserialize, Serialize};

/// The embedded table, written from the upstream Deprecated API Migration Guide.
const BUILTIN: &str = include_str!("data/deprecations.yaml");

/// One deprecated API: a kind served under a group/version that is (or will be) withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deprecation {
    /// The deprecated `apiVersion`, e.g. `policy/v1beta1`.
    pub api_version: String,
    /// The kind, e.g. `PodDisruptionBudget`.
    pub kind: String,
    /// The release that deprecated it.
    pub deprecated_in: KubeVersion,
    /// The release that stops serving it; `None` when no removal is scheduled.
    #[serde(default)]
    pub removed_in: Option<KubeVersion>,
    /// What to use instead, e.g. `policy/v1`; `None` when nothing replaces it.
    #[serde(default)]
    pub replacement: Option<String>,
    /// Where the entry comes from (a URL, or the user's file).
    #[serde(default)]
    pub source: String,
    /// Extra advice, e.g. what to do when there is no replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Deprecation {
    /// Whether `target` has deprecated it.
    pub fn deprecated_at(&self, target: &KubeVersion) -> bool {
        target.minor_version() >= self.deprecated_in.minor_version()
    }

    /// Whether `target` no longer serves it.
    pub fn removed_at(&self, target: &KubeVersion) -> bool {
        self.removed_in
            .as_ref()
            .is_some_and(|r| target.minor_version() >= r.minor_version())
    }

    /// The group of its `apiVersion` (empty for the core group).
    pub fn group(&self) -> &str {
        split_api_version(&self.api_version).0
    }

    /// The version of its `apiVersion`.
    pub fn version(&self) -> &str {
        split_api_version(&self.api_version).1
    }
}

/// Splits `group/version` (or a core `v1`) into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    covered_through: Option<KubeVersion>,
    entries: Vec<Deprecation>,
}

/// Deprecated APIs keyed by `apiVersion` and kind.
#[derive(Debug, Clone)]
pub struct DeprecationTable {
    entries: Vec<Deprecation>,
    index: HashMap<(String, String), usize>,
    covered_through: KubeVersion,
}

impl DeprecationTable {
    /// The embedded table (every removal 1.16 through 1.36).
    pub fn builtin() -> Self {
        let file: TableFile = serde_norway::from_str(BUILTIN).expect("the embedded deprecation table parses");
        let mut table = Self {
            entries: Vec::new(),
            index: HashMap::new(),
            covered_through: file
                .covered_through
                .expect("the embedded table names covered_through"),
        };
        for entry in file.entries {
            table.insert(entry);
        }
        table
    }

    /// Adds entries from a YAML or JSON file (`entries: [{api_version, kind, deprecated_in,
    /// removed_in, replacement}]`, or just the list); a user entry replaces a built-in one for
    /// the same `apiVersion` and kind. Returns how many entries were read.
    pub fn load_file(&mut self, path: &Path) -> Result<usize> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        self.load_str(&text, &path.display().to_string())
    }

    /// Adds entries from YAML or JSON text; `origin` names it in errors and in each entry's source.
    pub fn load_str(&mut self, text: &str, origin: &str) -> Result<usize> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Table(TableFile),
            List(Vec<Deprecation>),
        }
        let parsed: Either = serde_norway::from_str(text).map_err(|e| {
            Error::InvalidInput(format!(
                "{origin}: not a deprecation list ({e}); expected `entries:` with api_version, kind, deprecated_in (quoted, e.g. \"1.30\") and optional removed_in, replacement"
            ))
        })?;
        let entries = match parsed {
            Either::Table(t) => t.entries,
            Either::List(l) => l,
        };
        let n = entries.len();
        for mut entry in entries {
            if !entry.api_version.contains('/') && entry.api_version != "v1" {
                return Err(Error::InvalidInput(format!(
                    "{origin}: api_version '{}' of {} must be group/version, e.g. example.com/v1beta1",
                    entry.api_version, entry.kind
                )));
            }
            if entry.source.is_empty() {
                entry.source = origin.to_string();
            }
            self.insert(entry);
        }
        Ok(n)
    }

    fn insert(&mut self, entry: Deprecation) {
        let key = (entry.api_version.clone(), entry.kind.clone());
        match self.index.get(&key) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.index.insert(key, self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// The entry for `apiVersion` and `kind`, if that pair is deprecated at any release.
    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<&Deprecation> {
        // Avoid allocating on the hot path: most objects are not deprecated.
        if !self.entries.iter().any(|e| e.kind == kind) {
            return None;
        }
        self.index
            .get(&(api_version.to_string(), kind.to_string()))
            .map(|&i| &self.entries[i])
    }

    /// Every entry.
    pub fn entries(&self) -> &[Deprecation] {
        &self.entries
    }

    /// The newest release whose removals the embedded data covers. Targets past it get a
    /// warning: "no findings" would otherwise be indistinguishable from "data not updated".
    pub fn covered_through(&self) -> &KubeVersion {
        &self.covered_through
    }

    /// The entries removed in exactly `release` (e.g. to print "what 1.25 removes").
    pub fn removed_in(&self, release: &KubeVersion) -> Vec<&Deprecation> {
        self.entries
            .iter()
            .filter(|e| e.removed_in.as_ref().is_some_and(|r| r.same_minor(release)))
            .collect()
    }

    /// The distinct group/versions that any entry deprecates, for the live scan.
    pub fn group_versions(&self) -> Vec<&str> {
        let mut gvs: Vec<&str> = self.entries.iter().map(|e| e.api_version.as_str()).collect();
        gvs.sort_unstable();
        gvs.dedup();
        gvs
    }
}

impl Default for DeprecationTable {
    fn default() -> Self {
        Self::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn builtin_table_covers_every_removal_release() {
        let t = DeprecationTable::builtin();
        for release in ["1.16", "1.22", "1.25", "1.26", "1.27", "1.29", "1.32"] {
            assert!(
                !t.removed_in(&v(release)).is_empty(),
                "no removals recorded for {release}"
            );
        }
        assert_eq!(t.covered_through(), &v("1.36"));
        for e in t.entries() {
            assert!(
                e.source.starts_with("https://"),
                "{} {} has no source",
                e.api_version,
                e.kind
            );
            if let Some(r) = &e.removed_in {
                assert!(
                    r > &e.deprecated_in,
                    "{} {} removed before deprecated",
                    e.api_version,
                    e.kind
                );
            }
        }
    }

    #[test]
    fn lookup_and_verdicts_follow_the_target() {
        let t = DeprecationTable::builtin();
        let pdb = t.lookup("policy/v1beta1", "PodDisruptionBudget").unwrap();
        assert_eq!(pdb.replacement.as_deref(), Some("policy/v1"));
        assert!(!pdb.deprecated_at(&v("1.20")));
        assert!(pdb.deprecated_at(&v("1.21")) && !pdb.removed_at(&v("1.24.9")));
        assert!(pdb.removed_at(&v("1.25")));
        assert!(t.lookup("policy/v1", "PodDisruptionBudget").is_none());
        assert!(t.lookup("apps/v1", "Deployment").is_none());
    }

    #[test]
    fn user_entries_add_and_override() {
        let mut t = DeprecationTable::builtin();
        let n = t
            .load_str(
                "entries:\n- {api_version: cert-manager.io/v1alpha2, kind: Certificate, deprecated_in: \"1.20\", removed_in: \"1.24\", replacement: cert-manager.io/v1}\n",
                "addons.yaml",
            )
            .unwrap();
        assert_eq!(n, 1);
        let e = t.lookup("cert-manager.io/v1alpha2", "Certificate").unwrap();
        assert_eq!(e.source, "addons.yaml");
        assert!(e.removed_at(&v("1.30")));
        // A bare JSON list works too.
        t.load_str(
            r#"[{"api_version":"batch/v1beta1","kind":"CronJob","deprecated_in":"1.20","removed_in":"1.25"}]"#,
            "x.json",
        )
        .unwrap();
        assert_eq!(
            t.lookup("batch/v1beta1", "CronJob").unwrap().deprecated_in,
            v("1.20")
        );
    }

    #[test]
    fn bad_user_files_name_the_problem() {
        let mut t = DeprecationTable::builtin();
        let err = t
            .load_str("entries: [{kind: X}]", "bad.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.yaml") && err.contains("api_version"), "{err}");
        let err = t
            .load_str("- {api_version: Foo, kind: X, deprecated_in: \"1.2\"}", "g.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("group/version"), "{err}");
    }
}
