//! The embedded table of deprecated and removed kubelet flags ([`KubeletFlagTable::builtin`]).

use std::collections::HashMap;

use kupgrade_core::KubeVersion;
use serde::{Deserialize, Serialize};

/// The embedded table, written from the upstream changelogs and kubelet sources.
const BUILTIN: &str = include_str!("../data/kubelet_flags.yaml");

/// One kubelet flag that a release deprecated or removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeletFlag {
    /// The flag without its dashes, e.g. `keep-terminated-pod-volumes`.
    pub flag: String,
    /// The release that deprecated it.
    pub deprecated_in: KubeVersion,
    /// The release whose kubelet no longer accepts it; `None` when no removal has happened.
    #[serde(default)]
    pub removed_in: Option<KubeVersion>,
    /// What to do instead.
    pub advice: String,
    /// Where the entry comes from.
    pub source: String,
}

impl KubeletFlag {
    /// Whether a kubelet at `version` no longer accepts it.
    pub fn removed_at(&self, version: &KubeVersion) -> bool {
        self.removed_in
            .as_ref()
            .is_some_and(|r| version.minor_version() >= r.minor_version())
    }

    /// Whether `version` has deprecated it.
    pub fn deprecated_at(&self, version: &KubeVersion) -> bool {
        version.minor_version() >= self.deprecated_in.minor_version()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    covered_through: KubeVersion,
    entries: Vec<KubeletFlag>,
}

/// Deprecated and removed kubelet flags, by name.
#[derive(Debug, Clone)]
pub struct KubeletFlagTable {
    entries: HashMap<String, KubeletFlag>,
    covered_through: KubeVersion,
}

impl KubeletFlagTable {
    /// The embedded table.
    pub fn builtin() -> Self {
        let file: TableFile =
            serde_norway::from_str(BUILTIN).expect("the embedded kubelet flag table parses");
        Self {
            entries: file.entries.into_iter().map(|e| (e.flag.clone(), e)).collect(),
            covered_through: file.covered_through,
        }
    }

    /// The entry for a flag name (with or without its leading dashes).
    pub fn get(&self, flag: &str) -> Option<&KubeletFlag> {
        self.entries.get(flag.trim_start_matches('-'))
    }

    /// Every entry, sorted by flag name.
    pub fn entries(&self) -> Vec<&KubeletFlag> {
        let mut all: Vec<_> = self.entries.values().collect();
        all.sort_by(|a, b| a.flag.cmp(&b.flag));
        all
    }

    /// The newest release whose changes the table covers.
    pub fn covered_through(&self) -> &KubeVersion {
        &self.covered_through
    }
}
