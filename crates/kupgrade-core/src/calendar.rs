//! Support calendars: when each minor was released on a provider, when its standard support
//! ends, and when its extended support (EKS extended, AKS LTS, GKE Extended channel) ends.
//!
//! The embedded rows are data, `src/data/calendars.json` (read 2026-11-25): every row carries
//! its source document. Live catalogues (EKS `DescribeClusterVersions`, GKE
//! `FetchClusterUpgradeInfo`) override them through [`Calendar::with_override`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::provider::Provider;
use crate::version::KubeVersion;

/// The date the embedded rows were checked.
pub const EMBEDDED_AS_OF: &str = "2026-11-25";

/// The support window of one minor on one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupportWindow {
    /// The minor, e.g. `1.31`.
    pub version: KubeVersion,
    /// When the provider made it generally available.
    pub release: NaiveDate,
    /// The last day of standard support.
    pub end_of_standard: NaiveDate,
    /// The last day of extended support or LTS, when known.
    pub end_of_extended: Option<NaiveDate>,
    /// Where the row comes from (a source key of providers.md, or `live:<api>`).
    pub source: String,
    /// When the row was last checked.
    pub as_of: NaiveDate,
}

/// Where a version stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
#[non_exhaustive]
pub enum SupportStatus {
    /// Released and in standard support.
    Standard {
        /// Days until standard support ends (0 on the last day).
        days_left: i64,
    },
    /// Past standard support, inside extended support or LTS (usually billed extra).
    Extended {
        /// Days until extended support ends.
        days_left: i64,
    },
    /// Past standard support and the end of extended support is not known.
    PastStandard,
    /// Past every support window.
    Unsupported,
    /// Not released yet on this provider.
    NotReleased,
}

impl SupportStatus {
    /// Whether the provider still supports the version (standard or extended).
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            SupportStatus::Standard { .. } | SupportStatus::Extended { .. }
        )
    }
}

impl SupportWindow {
    /// Days left until the end of standard support (negative when past).
    pub fn days_left(&self, today: NaiveDate) -> i64 {
        (self.end_of_standard - today).num_days()
    }

    /// Days left until the end of extended support, when known.
    pub fn days_left_extended(&self, today: NaiveDate) -> Option<i64> {
        self.end_of_extended.map(|end| (end - today).num_days())
    }

    /// The verdict for `today`.
    pub fn status(&self, today: NaiveDate) -> SupportStatus {
        if today < self.release {
            return SupportStatus::NotReleased;
        }
        let standard = self.days_left(today);
        if standard >= 0 {
            return SupportStatus::Standard { days_left: standard };
        }
        match self.days_left_extended(today) {
            Some(days) if days >= 0 => SupportStatus::Extended { days_left: days },
            Some(_) => SupportStatus::Unsupported,
            None => SupportStatus::PastStandard,
        }
    }

    /// Whether the version is supported (standard or extended) on `today`.
    pub fn is_supported(&self, today: NaiveDate) -> bool {
        self.status(today).is_supported()
    }
}

/// The support windows of one provider, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Calendar {
    /// The provider.
    pub provider: Provider,
    /// What extended support is called there.
    pub extended_name: &'static str,
    /// One window per minor, oldest first.
    pub windows: Vec<SupportWindow>,
}

/// The embedded calendars (`src/data/calendars.json`): each row with its source document.
const EMBEDDED: &str = include_str!("data/calendars.json");

#[derive(Deserialize)]
struct EmbeddedFile {
    as_of: String,
    providers: std::collections::BTreeMap<Provider, EmbeddedProvider>,
}

#[derive(Deserialize)]
struct EmbeddedProvider {
    windows: Vec<EmbeddedRow>,
}

#[derive(Deserialize)]
struct EmbeddedRow {
    minor: u32,
    release: String,
    end_of_standard: String,
    end_of_extended: Option<String>,
    /// The research notes' key for the document, with its commit.
    source: String,
    /// The document.
    url: String,
}

/// The embedded file, parsed once.
fn embedded_file() -> &'static EmbeddedFile {
    static FILE: std::sync::OnceLock<EmbeddedFile> = std::sync::OnceLock::new();
    FILE.get_or_init(|| serde_json::from_str(EMBEDDED).expect("the embedded calendars parse"))
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("embedded calendar dates are valid")
}

/// Refuses a target older than the oldest minor any provider's embedded calendar lists (a
/// `1.3` typed for `1.30` would otherwise plan 29 hops), with a "did you mean" hint.
pub fn check_target_offered_somewhere(target: &KubeVersion) -> crate::Result<()> {
    let calendars = [Provider::Eks, Provider::Aks, Provider::Gke].map(Calendar::embedded);
    let known = || {
        calendars
            .iter()
            .flat_map(|c| c.windows.iter().map(|w| w.version.minor()))
    };
    let (Some(oldest), Some(newest)) = (known().min(), known().max()) else {
        return Ok(());
    };
    // `KubeVersion::parse` already refuses any major but 1.
    if target.minor() >= oldest {
        return Ok(());
    }
    // `1.3` is `1.30` to `1.39` with the trailing digit lost.
    let hint = (target.minor() < 10)
        .then(|| (target.minor() * 10..target.minor() * 10 + 10).find(|m| (oldest..=newest).contains(m)))
        .flatten()
        .map(|m| format!("; did you mean 1.{m}?"))
        .unwrap_or_default();
    Err(crate::Error::InvalidVersion {
        input: target.to_string(),
        reason: format!("older than any version EKS, AKS or GKE offers (the oldest is 1.{oldest}){hint}"),
    })
}

impl Calendar {
    /// The embedded calendar of `provider` (1.28 to 1.35), from `src/data/calendars.json`.
    pub fn embedded(provider: Provider) -> Self {
        let extended_name = match provider {
            Provider::Aks => "LTS",
            Provider::Eks | Provider::Gke => "extended",
        };
        let file = embedded_file();
        let as_of = date(&file.as_of);
        let windows = file
            .providers
            .get(&provider)
            .map(|p| p.windows.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|row| SupportWindow {
                version: KubeVersion::new(1, row.minor),
                release: date(&row.release),
                end_of_standard: date(&row.end_of_standard),
                end_of_extended: row.end_of_extended.as_deref().map(date),
                source: format!("{} ({})", row.url, row.source),
                as_of,
            })
            .collect();
        Self {
            provider,
            extended_name,
            windows,
        }
    }

    /// The window of the minor of `version`, if known.
    pub fn window(&self, version: &KubeVersion) -> Option<&SupportWindow> {
        self.windows.iter().find(|w| w.version.same_minor(version))
    }

    /// The newest minor the calendar knows.
    pub fn newest(&self) -> Option<&KubeVersion> {
        self.windows.last().map(|w| &w.version)
    }

    /// Replaces or adds windows from a live catalogue; the result stays sorted by version.
    pub fn with_override(mut self, live: impl IntoIterator<Item = SupportWindow>) -> Self {
        for window in live {
            match self
                .windows
                .iter_mut()
                .find(|w| w.version.same_minor(&window.version))
            {
                Some(existing) => *existing = window,
                None => self.windows.push(window),
            }
        }
        self.windows.sort_by(|a, b| a.version.cmp(&b.version));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_is_complete_and_sourced() {
        assert_eq!(embedded_file().as_of, EMBEDDED_AS_OF);
        for provider in Provider::ALL {
            let calendar = Calendar::embedded(provider);
            let minors: Vec<u32> = calendar.windows.iter().map(|w| w.version.minor()).collect();
            assert_eq!(minors, (28..=35).collect::<Vec<_>>(), "{provider}");
            for w in &calendar.windows {
                assert!(w.source.starts_with("https://"), "{}", w.source);
                assert!(w.release < w.end_of_standard, "{provider} {}", w.version);
            }
        }
    }

    #[test]
    fn a_target_older_than_every_provider_offers_is_refused_with_a_hint() {
        let refused = |v: &str| {
            check_target_offered_somewhere(&KubeVersion::parse(v).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("1.3"),
            "invalid Kubernetes version '1.3': older than any version EKS, AKS or GKE offers (the oldest is 1.28); did you mean 1.30?"
        );
        assert!(refused("1.20").ends_with("(the oldest is 1.28)"));
        check_target_offered_somewhere(&KubeVersion::parse("1.30").unwrap()).unwrap();
        check_target_offered_somewhere(&KubeVersion::parse("1.40").unwrap()).unwrap();
    }

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    #[test]
    fn every_provider_knows_1_28_to_1_35() {
        for provider in Provider::ALL {
            let cal = Calendar::embedded(provider);
            let minors: Vec<u32> = cal.windows.iter().map(|w| w.version.minor()).collect();
            assert_eq!(minors, (28..=35).collect::<Vec<_>>(), "{provider}");
            assert_eq!(cal.newest(), Some(&v("1.35")));
            for w in &cal.windows {
                assert!(w.release < w.end_of_standard, "{provider} {}", w.version);
                assert!(!w.source.is_empty());
            }
        }
    }

    #[test]
    fn days_left_and_verdicts() {
        let eks = Calendar::embedded(Provider::Eks);
        let today = date("2026-11-25");
        let w131 = eks.window(&v("1.31.4-eks-1")).unwrap();
        assert_eq!(w131.days_left(today), -364);
        assert_eq!(w131.status(today), SupportStatus::Extended { days_left: 1 });
        assert!(w131.is_supported(today));
        let w134 = eks.window(&v("1.34")).unwrap();
        assert_eq!(w134.status(today), SupportStatus::Standard { days_left: 7 });
        let w128 = eks.window(&v("1.28")).unwrap();
        assert_eq!(w128.status(today), SupportStatus::Unsupported);
        assert!(!w128.is_supported(today));
        let gke = Calendar::embedded(Provider::Gke);
        assert_eq!(
            gke.window(&v("1.33")).unwrap().status(today),
            SupportStatus::PastStandard
        );
        assert_eq!(
            eks.window(&v("1.35")).unwrap().status(date("2025-12-01")),
            SupportStatus::NotReleased
        );
    }

    #[test]
    fn live_rows_override_embedded_ones() {
        let live = SupportWindow {
            version: v("1.36"),
            release: date("2026-06-01"),
            end_of_standard: date("2027-08-01"),
            end_of_extended: None,
            source: "live:DescribeClusterVersions".into(),
            as_of: date("2026-11-25"),
        };
        let cal = Calendar::embedded(Provider::Eks).with_override([live]);
        assert_eq!(cal.newest(), Some(&v("1.36")));
    }
}
