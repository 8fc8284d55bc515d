//! The add-on catalog: per add-on release, the Kubernetes minors it works with and what the
//! vendor means by that, with the vendor's source and the date it was read.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::version::KubeVersion;

/// What a published range means, in the vendor's own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RangeMeaning {
    /// The add-on refuses to run outside its range: outside is incompatible.
    Enforced,
    /// Release `1.N` is meant for Kubernetes `1.N`.
    MinorMustMatch,
    /// The vendor supports these minors; outside is "not supported".
    Supported,
    /// The vendor tests these minors; outside is "untested".
    Tested,
    /// A minimum only.
    Floor,
}

impl RangeMeaning {
    /// The schema's word for it (`minor-must-match`).
    pub fn as_str(self) -> &'static str {
        match self {
            RangeMeaning::Enforced => "enforced",
            RangeMeaning::MinorMustMatch => "minor-must-match",
            RangeMeaning::Supported => "supported",
            RangeMeaning::Tested => "tested",
            RangeMeaning::Floor => "floor",
        }
    }

    /// How a version outside the range is described, in the vendor's terms.
    pub fn outside(self) -> &'static str {
        match self {
            RangeMeaning::Enforced => "incompatible (the add-on refuses to run)",
            RangeMeaning::MinorMustMatch => "not the minor it is meant for",
            RangeMeaning::Supported => "not supported by the vendor",
            RangeMeaning::Tested => "untested by the vendor",
            RangeMeaning::Floor => "below the vendor's minimum",
        }
    }
}

/// The Kubernetes minors one add-on release works with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRange {
    /// `1.5.x` (a wildcard), `1.x`, or an exact `1.5.2` (which wins over a wildcard).
    pub release: String,
    /// The oldest minor.
    pub min: Option<KubeVersion>,
    /// The newest minor; none when the vendor publishes no upper bound.
    #[serde(default)]
    pub max: Option<KubeVersion>,
}

impl ReleaseRange {
    /// Whether `minor` is in the range.
    pub fn contains(&self, minor: &KubeVersion) -> bool {
        self.min
            .as_ref()
            .is_none_or(|min| minor.minors_ahead_of(min) >= 0)
            && self
                .max
                .as_ref()
                .is_none_or(|max| max.minors_ahead_of(minor) >= 0)
    }

    /// `1.26–1.33`, `1.27+`.
    pub fn describe(&self) -> String {
        match (&self.min, &self.max) {
            (Some(min), Some(max)) => format!("{min}–{max}"),
            (Some(min), None) => format!("{min}+"),
            (None, Some(max)) => format!("up to {max}"),
            (None, None) => "any".into(),
        }
    }

    /// The release key's numbers, for ordering releases (`1.10.x` after `1.9.x`).
    fn key(&self) -> Vec<u64> {
        self.release.split('.').map_while(|p| p.parse().ok()).collect()
    }

    /// How specific the release key is (an exact release beats `1.5.x`, which beats `1.x`).
    fn specificity(&self) -> usize {
        self.release.split('.').filter(|p| !is_wildcard(p)).count()
    }

    /// Whether an installed `version` (`1.5.2`, `v1.5.2`) is this release.
    fn covers(&self, version: &str) -> bool {
        let version = version.trim_start_matches('v');
        let version = version.split(['-', '+']).next().unwrap_or(version);
        let installed: Vec<&str> = version.split('.').collect();
        let key: Vec<&str> = self.release.split('.').collect();
        if key.last().is_some_and(|p| is_wildcard(p)) {
            key.len() <= installed.len() + 1
                && key.iter().zip(&installed).all(|(k, i)| is_wildcard(k) || k == i)
        } else {
            installed.len() >= key.len() && key.iter().zip(&installed).all(|(k, i)| k == i) && {
                // `1.5.2` is `1.5.2`, not `1.5.20`.
                installed.len() == key.len()
            }
        }
    }
}

fn is_wildcard(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

/// How to find an add-on in a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    /// Helm chart names.
    #[serde(default)]
    pub charts: Vec<String>,
    /// Image repositories, matched as the end of an image's repository path.
    #[serde(default)]
    pub images: Vec<String>,
}

/// A vendor that no longer releases the add-on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retirement {
    /// Since when (`2026-03`).
    pub since: String,
    /// What the vendor recommends instead.
    pub replacement: String,
    /// Where the vendor says so.
    pub source: String,
}

/// One add-on of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddonEntry {
    /// The stable key (`karpenter`).
    pub name: String,
    /// How the vendor writes it (`Karpenter`).
    pub title: String,
    /// The vendor's page or file the ranges come from.
    pub source: String,
    /// When the source was read.
    pub as_of: NaiveDate,
    /// What the ranges mean.
    pub meaning: RangeMeaning,
    /// What the ranges cannot say.
    #[serde(default)]
    pub note: Option<String>,
    /// How to find it.
    #[serde(default)]
    pub detect: Detection,
    /// Set when the vendor no longer releases it.
    #[serde(default)]
    pub retired: Option<Retirement>,
    /// Per release, the minors it works with.
    #[serde(default)]
    pub releases: Vec<ReleaseRange>,
}

impl AddonEntry {
    /// The range of an installed version: the most specific release key that covers it.
    pub fn range_of(&self, version: &str) -> Option<&ReleaseRange> {
        self.releases
            .iter()
            .filter(|r| r.covers(version))
            .max_by_key(|r| r.specificity())
    }

    /// The oldest release whose range contains every minor of `minors` and that is not older
    /// than `installed` (never a downgrade): what to install to be in range there.
    pub fn first_release_for(
        &self,
        minors: &[&KubeVersion],
        installed: Option<&ReleaseRange>,
    ) -> Option<&ReleaseRange> {
        self.releases
            .iter()
            .filter(|r| minors.iter().all(|m| r.contains(m)))
            .filter(|r| installed.is_none_or(|i| r.key() >= i.key()))
            .min_by_key(|r| r.key())
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let blank = |s: &str| s.trim().is_empty();
        if blank(&self.name) {
            return Err("an entry has an empty name".into());
        }
        if blank(&self.title) || blank(&self.source) {
            return Err(format!("entry '{}' needs a title and a source", self.name));
        }
        if self.detect.charts.is_empty() && self.detect.images.is_empty() {
            return Err(format!(
                "entry '{}' has no detect.charts and no detect.images, so it can never be found",
                self.name
            ));
        }
        let needs_ranges = !matches!(self.meaning, RangeMeaning::MinorMustMatch);
        if needs_ranges && self.releases.is_empty() && self.retired.is_none() {
            return Err(format!(
                "entry '{}' ({:?} ranges) lists no releases",
                self.name, self.meaning
            ));
        }
        for r in &self.releases {
            let parts: Vec<&str> = r.release.split('.').collect();
            let numbers = |ps: &[&str]| {
                ps.iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            };
            // `1.5.x` or `1.x` (a wildcard last), or an exact `1.5.2`.
            let well_formed = match parts.split_last() {
                Some((last, init)) if is_wildcard(last) => !init.is_empty() && numbers(init),
                _ => parts.len() == 3 && numbers(&parts),
            };
            if !well_formed {
                return Err(format!(
                    "entry '{}': release '{}' is not a release like 1.5.x, 1.x or 1.5.2",
                    self.name, r.release
                ));
            }
            if r.min.is_none() && r.max.is_none() {
                return Err(format!(
                    "entry '{}' release '{}' has neither min nor max",
                    self.name, r.release
                ));
            }
            if let (Some(min), Some(max)) = (&r.min, &r.max)
                && max.minors_ahead_of(min) < 0
            {
                return Err(format!(
                    "entry '{}' release '{}': min {min} is above max {max}",
                    self.name, r.release
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    addons: Vec<serde_norway::Value>,
}

/// Every add-on kupgrade knows: the embedded catalog, extended or overridden by the user's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddonCatalog {
    addons: Vec<AddonEntry>,
}

impl AddonCatalog {
    /// The catalog shipped with kupgrade (`src/data/addons.yaml`).
    pub fn embedded() -> Self {
        Self::from_yaml(include_str!("../data/addons.yaml"), "the embedded add-on catalog")
            .expect("the embedded add-on catalog is valid")
    }

    /// A catalog from YAML (or JSON) of the same schema; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self> {
        let file: CatalogFile = serde_norway::from_str(text).map_err(|e| {
            Error::invalid_input(format!(
                "{origin} is not an add-on catalog (a list under `addons:`): {e}"
            ))
        })?;
        // Each entry on its own, so that an error names the entry.
        let mut addons = Vec::with_capacity(file.addons.len());
        for (i, value) in file.addons.into_iter().enumerate() {
            let name = value
                .get("name")
                .and_then(|n| n.as_str())
                .map_or_else(|| format!("#{}", i + 1), |n| format!("'{n}'"));
            let entry: AddonEntry = serde_norway::from_value(value)
                .map_err(|e| Error::invalid_input(format!("{origin}: entry {name}: {e}")))?;
            addons.push(entry);
        }
        let mut seen = std::collections::BTreeSet::new();
        for entry in &addons {
            entry
                .validate()
                .map_err(|why| Error::invalid_input(format!("{origin}: {why}")))?;
            if !seen.insert(entry.name.as_str()) {
                return Err(Error::invalid_input(format!(
                    "{origin}: entry '{}' appears twice",
                    entry.name
                )));
            }
        }
        Ok(Self { addons })
    }

    /// This catalog with `other`'s entries added; an entry of the same name replaces this
    /// catalog's.
    pub fn with(mut self, other: AddonCatalog) -> Self {
        for entry in other.addons {
            match self.addons.iter_mut().find(|e| e.name == entry.name) {
                Some(existing) => *existing = entry,
                None => self.addons.push(entry),
            }
        }
        self
    }

    /// Every entry.
    pub fn entries(&self) -> &[AddonEntry] {
        &self.addons
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<&AddonEntry> {
        self.addons.iter().find(|e| e.name == name)
    }

    /// The entry whose detection names Helm chart `chart`.
    pub fn by_chart(&self, chart: &str) -> Option<&AddonEntry> {
        self.addons
            .iter()
            .find(|e| e.detect.charts.iter().any(|c| c == chart))
    }

    /// The entry whose detection matches image `image` (`registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.3`),
    /// with the image's tag.
    pub fn by_image<'a>(&self, image: &'a str) -> Option<(&AddonEntry, Option<&'a str>)> {
        let (repository, tag) = split_image(image);
        self.addons
            .iter()
            .find(|e| {
                e.detect
                    .images
                    .iter()
                    .any(|suffix| repository == suffix || repository.ends_with(&format!("/{suffix}")))
            })
            .map(|e| (e, tag))
    }
}

/// `registry/path/name:tag@digest` -> (`registry/path/name`, `tag`).
fn split_image(image: &str) -> (&str, Option<&str>) {
    let image = image.split('@').next().unwrap_or(image);
    // A `:` after the last `/` is a tag; before it, a registry port.
    match image.rfind(':') {
        Some(colon) if image.rfind('/').is_none_or(|slash| colon > slash) => {
            (&image[..colon], Some(&image[colon + 1..]))
        }
        _ => (image, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn every_embedded_entry_has_a_source_and_a_date() {
        let catalog = AddonCatalog::embedded();
        assert!(catalog.entries().len() >= 13);
        for entry in catalog.entries() {
            assert!(
                entry.source.starts_with("https://"),
                "{}: source {}",
                entry.name,
                entry.source
            );
            assert!(entry.as_of.to_string().starts_with("202"), "{}", entry.name);
            if let Some(r) = &entry.retired {
                assert!(r.source.starts_with("https://"), "{}", entry.name);
            }
        }
    }

    #[test]
    fn exact_releases_win_over_wildcards_and_patches_do_not_alias() {
        let entry = AddonEntry {
            releases: vec![
                ReleaseRange {
                    release: "1.5.x".into(),
                    min: Some(v("1.26")),
                    max: Some(v("1.33")),
                },
                ReleaseRange {
                    release: "1.5.2".into(),
                    min: Some(v("1.26")),
                    max: Some(v("1.32")),
                },
            ],
            ..AddonCatalog::embedded().get("karpenter").unwrap().clone()
        };
        assert_eq!(entry.range_of("v1.5.2").unwrap().release, "1.5.2");
        assert_eq!(entry.range_of("1.5.20").unwrap().release, "1.5.x");
        assert_eq!(entry.range_of("1.5.3").unwrap().release, "1.5.x");
        assert!(entry.range_of("1.6.0").is_none());
    }

    #[test]
    fn ranges_and_floors() {
        let karpenter = AddonCatalog::embedded().get("karpenter").cloned().unwrap();
        let r = karpenter.range_of("1.5.0").unwrap();
        assert!(r.contains(&v("1.33")) && !r.contains(&v("1.34")));
        assert_eq!(r.describe(), "1.26–1.33");
        assert_eq!(
            karpenter
                .first_release_for(&[&v("1.33"), &v("1.35")], None)
                .unwrap()
                .release,
            "1.9.x"
        );
        // Never older than what runs: 1.10.x sorts after 1.9.x.
        let installed = karpenter.range_of("1.10.1");
        assert_eq!(
            karpenter
                .first_release_for(&[&v("1.30")], installed)
                .unwrap()
                .release,
            "1.10.x"
        );
        let metrics = AddonCatalog::embedded().get("metrics-server").cloned().unwrap();
        assert_eq!(metrics.range_of("v0.9.1").unwrap().describe(), "1.34+");
    }

    #[test]
    fn images_match_by_repository_suffix() {
        let c = AddonCatalog::embedded();
        let (e, tag) = c
            .by_image("registry.k8s.io/autoscaling/cluster-autoscaler:v1.29.3")
            .unwrap();
        assert_eq!((e.name.as_str(), tag), ("cluster-autoscaler", Some("v1.29.3")));
        let (e, tag) = c
            .by_image("localhost:5000/karpenter/controller:1.5.0@sha256:abc")
            .unwrap();
        assert_eq!((e.name.as_str(), tag), ("karpenter", Some("1.5.0")));
        assert!(c.by_image("nginx:1.27").is_none());
        assert!(c.by_image("example.com/not-cluster-autoscaler:v1").is_none());
    }

    #[test]
    fn a_user_file_overrides_by_name_and_bad_entries_are_named() {
        let user = AddonCatalog::from_yaml(
            r#"addons:
  - name: karpenter
    title: Karpenter (our fork)
    source: https://example.com/ours
    as_of: 2026-11-01
    meaning: enforced
    detect: {charts: [karpenter]}
    releases: [{release: "1.5.x", min: "1.26", max: "1.34"}]
  - name: our-operator
    title: Our operator
    source: https://example.com/op
    as_of: 2026-11-01
    meaning: tested
    detect: {images: [acme/operator]}
    releases: [{release: "2.x", min: "1.30", max: "1.33"}]
"#,
            "addons.yaml",
        )
        .unwrap();
        let merged = AddonCatalog::embedded().with(user);
        assert_eq!(merged.get("karpenter").unwrap().title, "Karpenter (our fork)");
        assert!(merged.get("our-operator").is_some());
        assert!(merged.get("cert-manager").is_some());

        let bad = |yaml: &str| {
            AddonCatalog::from_yaml(yaml, "addons.yaml")
                .unwrap_err()
                .to_string()
        };
        let base = "addons:\n  - name: x\n    title: X\n    source: https://e\n    as_of: 2026-01-01\n    detect: {charts: [x]}\n";
        let err = bad(&format!(
            "{base}    meaning: tested\n    releases: [{{release: \"1.x\", min: \"1.33\", max: \"1.30\"}}]\n"
        ));
        assert!(
            err.contains("entry 'x' release '1.x': min 1.33 is above max 1.30"),
            "{err}"
        );
        let err = bad(&format!(
            "{base}    meaning: tested\n    releases: [{{release: \"one\", min: \"1.30\"}}]\n"
        ));
        assert!(err.contains("release 'one' is not a release like 1.5.x"), "{err}");
        let err = bad(&format!(
            "{base}    meaning: tested\n    releases: [{{release: \"1.5\", min: \"1.30\"}}]\n"
        ));
        assert!(
            err.contains("release '1.5' is not a release like 1.5.x, 1.x or 1.5.2"),
            "{err}"
        );
        let err = bad(&format!("{base}    meaning: sometimes\n"));
        assert!(
            err.contains("addons.yaml: entry 'x': unknown variant `sometimes`"),
            "{err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }
}
