//! Support calendars: when each minor was released on a provider, when its standard support
//! ends, and when its extended support (EKS extended, AKS LTS, GKE Extended channel) ends.
//!
//! The embedded rows come from `shared/reference/providers.md` §5 (researched 2026-11-25);
//! every row carries its source. Live catalogues (EKS `DescribeClusterVersions`, GKE
//! `FetchClusterUpgradeInfo`) override them through [`Calendar::with_override`].

use chrono::NaiveDate;
use serde::Serialize;

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

type Row = (
    u32,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
);

const EKS_ROWS: &[Row] = &[
    (
        28,
        "2023-09-26",
        "2024-11-26",
        Some("2025-11-26"),
        "EKS-VER @8596db8",
    ),
    (
        29,
        "2024-01-23",
        "2025-03-23",
        Some("2026-03-23"),
        "EKS-VER @0138560",
    ),
    (
        30,
        "2024-05-23",
        "2025-07-23",
        Some("2026-07-23"),
        "EKS-VER @0138560",
    ),
    (
        31,
        "2024-09-26",
        "2025-11-26",
        Some("2026-11-26"),
        "EKS-VER @0138560",
    ),
    (
        32,
        "2025-01-23",
        "2026-03-23",
        Some("2027-03-23"),
        "EKS-VER @0138560",
    ),
    (
        33,
        "2025-05-29",
        "2026-07-29",
        Some("2027-07-29"),
        "EKS-VER @0138560",
    ),
    (
        34,
        "2025-10-02",
        "2026-12-02",
        Some("2027-12-02"),
        "EKS-VER @0138560",
    ),
    (
        35,
        "2026-01-28",
        "2027-03-27",
        Some("2028-03-27"),
        "EOL-EKS (third-party)",
    ),
];

// AKS publishes months; a release month means its first day, an end month its last day.
const AKS_ROWS: &[Row] = &[
    (
        28,
        "2023-11-01",
        "2025-01-31",
        Some("2026-02-28"),
        "AKS-VERS @a5974798c",
    ),
    (
        29,
        "2024-03-01",
        "2025-03-31",
        Some("2026-04-30"),
        "AKS-VERS @fb060ab",
    ),
    (
        30,
        "2024-07-01",
        "2025-08-22",
        Some("2026-07-31"),
        "AKS-VERS @fb060ab",
    ),
    (
        31,
        "2024-11-01",
        "2025-11-01",
        Some("2026-11-30"),
        "AKS-VERS @fb060ab",
    ),
    (
        32,
        "2025-04-01",
        "2026-03-31",
        Some("2027-03-31"),
        "AKS-VERS @fb060ab",
    ),
    (
        33,
        "2025-06-01",
        "2026-07-31",
        Some("2027-07-31"),
        "AKS-VERS @fb060ab",
    ),
    (
        34,
        "2025-11-01",
        "2026-11-30",
        Some("2027-11-30"),
        "AKS-VERS @fb060ab",
    ),
    (
        35,
        "2026-03-01",
        "2027-03-31",
        Some("2028-03-31"),
        "AKS-VERS @fb060ab",
    ),
];

// GKE extended-support end dates are unverified in providers.md, so they are left unknown.
const GKE_ROWS: &[Row] = &[
    (28, "2023-12-04", "2025-02-04", None, "EOL-GKE (third-party)"),
    (29, "2024-01-26", "2025-04-12", None, "EOL-GKE (third-party)"),
    (30, "2024-07-31", "2025-09-30", None, "EOL-GKE (third-party)"),
    (31, "2024-10-25", "2026-01-16", None, "EOL-GKE (third-party)"),
    (32, "2025-02-11", "2026-04-11", None, "EOL-GKE (third-party)"),
    (33, "2025-06-03", "2026-08-03", None, "EOL-GKE (third-party)"),
    (34, "2025-09-30", "2026-10-01", None, "EOL-GKE (third-party)"),
    (35, "2026-02-11", "2027-04-11", None, "EOL-GKE (third-party)"),
];

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
    /// The embedded calendar of `provider` (1.28 to 1.35).
    pub fn embedded(provider: Provider) -> Self {
        let (rows, extended_name) = match provider {
            Provider::Eks => (EKS_ROWS, "extended"),
            Provider::Aks => (AKS_ROWS, "LTS"),
            Provider::Gke => (GKE_ROWS, "extended"),
        };
        let as_of = date(EMBEDDED_AS_OF);
        let windows = rows
            .iter()
            .map(|&(minor, release, standard, extended, source)| SupportWindow {
                version: KubeVersion::new(1, minor),
                release: date(release),
                end_of_standard: date(standard),
                end_of_extended: extended.map(date),
                source: source.to_string(),
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
