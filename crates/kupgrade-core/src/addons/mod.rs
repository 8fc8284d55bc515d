//! Add-on compatibility at every hop: a sourced [`AddonCatalog`], what is installed
//! ([`detect`] from Helm releases and workload images, read by the in-cluster crate), verdicts
//! per hop as checks with stable ids (`KUP-ADDON-001..007`), and the add-on releases to install
//! before or after a hop ([`moves`], which the planner turns into `addon` steps).
//!
//! | Id | Severity | What |
//! |---|---|---|
//! | `KUP-ADDON-001` | blocker | the installed release cannot run at the hop (an enforced range, or a minor-must-match add-on two or more minors away) |
//! | `KUP-ADDON-002` | warning | the hop is outside the range the vendor supports or tests ("untested", in the vendor's terms) |
//! | `KUP-ADDON-003` | info | an add-on whose version, or a chart the catalog, does not know: not judged |
//! | `KUP-ADDON-004` | warning | the vendor retired the add-on; its recommended replacement |
//! | `KUP-ADDON-005` | warning | the cluster is already below the installed release's minimum |
//! | `KUP-ADDON-006` | blocker | the chart's `kubeVersion` makes Helm refuse the next `helm upgrade` at the hop |
//! | `KUP-ADDON-007` | warning | a minor-must-match add-on must be moved right after the hop |

mod catalog;
mod helm_semver;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use catalog::{AddonCatalog, AddonEntry, Detection, RangeMeaning, ReleaseRange, Retirement};
pub use helm_semver::{HelmConstraint, HelmVersion};

use crate::checks::{Check, CheckContext, CheckRegistry, Finding, Severity, Subject};
use crate::error::Result;
use crate::provider::Provider;
use crate::version::KubeVersion;

/// A Helm release as deployed (its latest revision).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedChart {
    /// The release's name.
    pub release: String,
    /// Its namespace.
    pub namespace: String,
    /// The chart's name.
    pub chart: String,
    /// The chart's version.
    pub chart_version: String,
    /// The chart's `appVersion`: the add-on's own version.
    #[serde(default)]
    pub app_version: Option<String>,
    /// The chart's `kubeVersion` constraint.
    #[serde(default)]
    pub kube_version: Option<String>,
}

/// A container image of a Deployment, DaemonSet or StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadImage {
    /// The workload.
    pub workload: Subject,
    /// The image reference.
    pub image: String,
}

/// An add-on found in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledAddon {
    /// The catalog entry's name, or the chart's name when the catalog does not know it.
    pub name: String,
    /// Whether the catalog knows it.
    pub known: bool,
    /// Its version (the chart's `appVersion`, or the image tag), when it could be read.
    pub version: Option<String>,
    /// Where it was found.
    pub subject: Subject,
    /// How it was found: `chart karpenter-1.5.0` or `image registry.k8s.io/...:v1.29.3`.
    pub evidence: String,
    /// The chart's `kubeVersion` constraint, for Helm releases that declare one.
    pub chart_kube_version: Option<String>,
}

/// What is installed, from Helm releases first and then workload images for add-ons installed
/// without Helm (an add-on found through a Helm release is not reported again through its
/// images; the image's tag, when one runs in the release's namespace, is its version, since a
/// chart's `appVersion` is only its default). Charts the catalog does not know are reported
/// with `known: false`. Images from the providers' own registries (`mcr.microsoft.com/oss/`,
/// `gke.gcr.io/`) are the providers' managed components, not self-managed add-ons.
pub fn detect(
    catalog: &AddonCatalog,
    charts: &[DeployedChart],
    images: &[WorkloadImage],
) -> Vec<InstalledAddon> {
    let images: Vec<(&WorkloadImage, &AddonEntry, Option<&str>)> = images
        .iter()
        .filter(|i| !PROVIDER_REGISTRIES.iter().any(|r| i.image.starts_with(r)))
        .filter_map(|i| catalog.by_image(&i.image).map(|(e, tag)| (i, e, tag)))
        .collect();
    let mut found: Vec<InstalledAddon> = Vec::new();
    for chart in charts {
        let entry = catalog.by_chart(&chart.chart);
        let running = entry.and_then(|e| {
            images.iter().find(|(i, ie, _)| {
                ie.name == e.name && i.workload.namespace.as_deref() == Some(chart.namespace.as_str())
            })
        });
        let tag = running.and_then(|(_, _, tag)| usable(*tag));
        let mut evidence = format!("chart {}-{}", chart.chart, chart.chart_version);
        if let Some((image, ..)) = running {
            evidence.push_str(&format!(", image {}", image.image));
        }
        found.push(InstalledAddon {
            name: entry.map_or_else(|| chart.chart.clone(), |e| e.name.clone()),
            known: entry.is_some(),
            version: tag
                .map(str::to_string)
                .or_else(|| chart.app_version.clone().filter(|v| !v.trim().is_empty())),
            subject: Subject {
                kind: "HelmRelease".into(),
                namespace: Some(chart.namespace.clone()),
                name: chart.release.clone(),
            },
            evidence,
            chart_kube_version: chart.kube_version.clone().filter(|c| !c.trim().is_empty()),
        });
    }
    for (image, entry, tag) in images {
        if found.iter().any(|f| f.name == entry.name) {
            continue;
        }
        found.push(InstalledAddon {
            name: entry.name.clone(),
            known: true,
            version: usable(tag).map(str::to_string),
            subject: image.workload.clone(),
            evidence: format!("image {}", image.image),
            chart_kube_version: None,
        });
    }
    found
}

/// A tag that names a version (`v1.29.3`, `1.5.0`), not `latest` or a branch.
fn usable(tag: Option<&str>) -> Option<&str> {
    tag.filter(|t| {
        t.trim_start_matches('v')
            .starts_with(|c: char| c.is_ascii_digit())
    })
}

/// Registries the providers ship their managed components from.
const PROVIDER_REGISTRIES: [&str; 2] = ["mcr.microsoft.com/oss/", "gke.gcr.io/"];

/// Where the add-on checks get what is installed (read on first use by the in-cluster crate,
/// or a list given by a test or the simulator).
#[async_trait]
pub trait AddonInventory: Send + Sync {
    /// The add-ons installed in the cluster.
    async fn installed(&self, catalog: &AddonCatalog) -> Result<Vec<InstalledAddon>>;
}

#[async_trait]
impl AddonInventory for Vec<InstalledAddon> {
    async fn installed(&self, _catalog: &AddonCatalog) -> Result<Vec<InstalledAddon>> {
        Ok(self.clone())
    }
}

/// What the planner needs to put `addon` steps in a plan: the catalog and what is installed
/// ([`crate::PlanOptions::with_installed_addons`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonPlanInput {
    /// The catalog.
    pub catalog: Arc<AddonCatalog>,
    /// What is installed.
    pub installed: Vec<InstalledAddon>,
}

/// When an add-on step happens relative to its hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddonTiming {
    /// Before the control plane moves to the hop.
    Before,
    /// Right after the control plane reaches the hop.
    After,
}

/// An add-on release to install around a hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddonMove {
    /// The add-on (`Karpenter`).
    pub addon: String,
    /// The release to install (`1.9.x`).
    pub install: String,
    /// The hop.
    pub hop: KubeVersion,
    /// Before or after it.
    pub timing: AddonTiming,
    /// Why, in the vendor's terms.
    pub reason: String,
}

/// The add-on releases to install around each hop from `from` to `target`: an add-on whose
/// range (enforced, supported or tested) does not cover a hop gets the oldest catalog release
/// that covers both the minor before the hop and the hop (never older than what runs), before
/// it; a minor-must-match add-on gets release `1.N.x` right after each hop to `1.N`, and, when
/// it is already behind the control plane, the release for `from` before the first hop.
pub fn moves(
    catalog: &AddonCatalog,
    installed: &[InstalledAddon],
    from: &KubeVersion,
    target: &KubeVersion,
) -> Vec<AddonMove> {
    let mut out = Vec::new();
    for addon in installed.iter().filter(|a| a.known) {
        let Some(entry) = catalog.get(&addon.name) else {
            continue;
        };
        let Some(version) = &addon.version else {
            continue;
        };
        let mut current = entry.range_of(version).cloned();
        let mut hop = from.minor_version();
        if entry.meaning == RangeMeaning::MinorMustMatch
            && hop.minor() < target.minor()
            && minor_of(version).is_some_and(|m| m < from.minor())
        {
            out.push(AddonMove {
                addon: entry.title.clone(),
                install: format!("{}.{}.x", from.major(), from.minor()),
                hop: from.next_minor(),
                timing: AddonTiming::Before,
                reason: format!(
                    "{} {version} is meant for an older Kubernetes than the control plane's {from}",
                    entry.title
                ),
            });
        }
        while hop.minor() < target.minor() {
            let before = hop.clone();
            hop = hop.next_minor();
            match entry.meaning {
                RangeMeaning::MinorMustMatch => out.push(AddonMove {
                    addon: entry.title.clone(),
                    install: format!("{}.{}.x", hop.major(), hop.minor()),
                    hop: hop.clone(),
                    timing: AddonTiming::After,
                    reason: format!("{} release 1.N is meant for Kubernetes 1.N", entry.title),
                }),
                RangeMeaning::Enforced | RangeMeaning::Supported | RangeMeaning::Tested => {
                    let Some(range) = &current else { break };
                    // Below the release's minimum is the cluster being too old for it
                    // (KUP-ADDON-005), not a release to move to.
                    let below_min = range.min.as_ref().is_some_and(|min| hop.minors_ahead_of(min) < 0);
                    if range.contains(&hop) || below_min {
                        continue;
                    }
                    let Some(next) = entry.first_release_for(&[&before, &hop], Some(range)) else {
                        break;
                    };
                    out.push(AddonMove {
                        addon: entry.title.clone(),
                        install: next.release.clone(),
                        hop: hop.clone(),
                        timing: AddonTiming::Before,
                        reason: format!(
                            "{} {} covers {} ({}), {} covers {}",
                            entry.title,
                            range.release,
                            range.describe(),
                            entry.meaning.outside_word(),
                            next.release,
                            next.describe()
                        ),
                    });
                    current = Some(next.clone());
                }
                RangeMeaning::Floor => {}
            }
        }
    }
    out
}

impl RangeMeaning {
    /// What the range is, in the vendor's words: `supported`, `tested`, `enforced`.
    fn outside_word(self) -> &'static str {
        match self {
            RangeMeaning::Enforced => "enforced by the add-on",
            RangeMeaning::MinorMustMatch => "one minor",
            RangeMeaning::Supported => "supported",
            RangeMeaning::Tested => "tested",
            RangeMeaning::Floor => "a minimum",
        }
    }
}

/// Adds the add-on checks (`KUP-ADDON-001..007`) judging what `inventory` finds against
/// `catalog`.
pub fn register(
    registry: &mut CheckRegistry,
    catalog: Arc<AddonCatalog>,
    inventory: Arc<dyn AddonInventory>,
) {
    let shared = Arc::new(Inventory {
        catalog,
        source: inventory,
        installed: tokio::sync::OnceCell::new(),
    });
    for kind in Kind::ALL {
        registry.register(AddonCheck {
            kind,
            shared: shared.clone(),
        });
    }
}

/// What the add-on checks share: the catalog, and what is installed, detected once for every
/// check and hop.
struct Inventory {
    catalog: Arc<AddonCatalog>,
    source: Arc<dyn AddonInventory>,
    installed: tokio::sync::OnceCell<Vec<InstalledAddon>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Incompatible,
    OutsideRange,
    NotJudged,
    Retired,
    BelowFloor,
    HelmKubeVersion,
    MoveAfterHop,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Incompatible,
        Kind::OutsideRange,
        Kind::NotJudged,
        Kind::Retired,
        Kind::BelowFloor,
        Kind::HelmKubeVersion,
        Kind::MoveAfterHop,
    ];

    fn id(self) -> &'static str {
        match self {
            Kind::Incompatible => "KUP-ADDON-001",
            Kind::OutsideRange => "KUP-ADDON-002",
            Kind::NotJudged => "KUP-ADDON-003",
            Kind::Retired => "KUP-ADDON-004",
            Kind::BelowFloor => "KUP-ADDON-005",
            Kind::HelmKubeVersion => "KUP-ADDON-006",
            Kind::MoveAfterHop => "KUP-ADDON-007",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Kind::Incompatible => "installed add-ons can run at every hop",
            Kind::OutsideRange => "every hop is in the range the add-on's vendor supports or tests",
            Kind::NotJudged => "add-ons whose version or chart the catalog does not know",
            Kind::Retired => "no retired add-on is installed",
            Kind::BelowFloor => "the cluster is not already below an add-on's minimum",
            Kind::HelmKubeVersion => "charts' kubeVersion lets Helm upgrade their releases at every hop",
            Kind::MoveAfterHop => "add-ons that must follow the control plane minor by minor",
        }
    }

    fn per_hop(self) -> bool {
        matches!(
            self,
            Kind::Incompatible | Kind::OutsideRange | Kind::HelmKubeVersion | Kind::MoveAfterHop
        )
    }
}

struct AddonCheck {
    kind: Kind,
    shared: Arc<Inventory>,
}

#[async_trait]
impl Check for AddonCheck {
    fn id(&self) -> &'static str {
        self.kind.id()
    }
    fn description(&self) -> &'static str {
        self.kind.description()
    }
    fn per_hop(&self) -> bool {
        self.kind.per_hop()
    }
    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let shared = &self.shared;
        let installed = match shared
            .installed
            .get_or_try_init(|| shared.source.installed(&shared.catalog))
            .await
        {
            Ok(installed) => installed,
            // Add-ons that cannot be read do not stop the other checks; one warning says so.
            Err(e) if self.kind == Kind::NotJudged => {
                return Ok(vec![Finding {
                    id: self.kind.id().into(),
                    severity: Severity::Warning,
                    message: format!(
                        "add-ons not checked: the cluster's Helm releases and workloads could not be read ({e}); grant `list` on secrets, deployments, daemonsets and statefulsets, or check them with `kupgrade addons`"
                    ),
                    subject: Subject::new("Cluster", ctx.snapshot.name.clone()),
                    hop: None,
                    api: None,
                    hint: None,
                }]);
            }
            Err(_) => return Ok(Vec::new()),
        };
        let judge = Judge {
            catalog: &shared.catalog,
            provider: ctx.plan.provider,
            current: &ctx.snapshot.control_plane,
            hop: ctx.hop,
        };
        Ok(installed
            .iter()
            .filter_map(|addon| judge.verdict(self.kind, addon))
            .collect())
    }
}

/// Judges installed add-ons at one hop.
struct Judge<'a> {
    catalog: &'a AddonCatalog,
    provider: Provider,
    current: &'a KubeVersion,
    hop: &'a KubeVersion,
}

/// `1.29.3` or `v1.29.3` -> minor 29 (major 1 only).
fn minor_of(version: &str) -> Option<u32> {
    let mut parts = version.trim_start_matches('v').split('.');
    if parts.next()? != "1" {
        return None;
    }
    parts.next()?.parse().ok()
}

impl Judge<'_> {
    fn verdict(&self, kind: Kind, addon: &InstalledAddon) -> Option<Finding> {
        let finding = |severity, message: String| Finding {
            id: kind.id().into(),
            severity,
            message,
            subject: addon.subject.clone(),
            hop: None,
            api: None,
            hint: None,
        };
        if kind == Kind::HelmKubeVersion {
            return self.helm_kube_version(addon).map(|(s, m)| finding(s, m));
        }
        let entry = self.catalog.get(&addon.name).filter(|_| addon.known);
        if kind == Kind::NotJudged {
            return match (entry, &addon.version) {
                (None, _) => Some(finding(
                    Severity::Info,
                    format!(
                        "{} ({}) is not in the add-on catalog: its compatibility is not judged (add it with --addons FILE)",
                        addon.name, addon.evidence
                    ),
                )),
                (Some(e), None) => Some(finding(
                    Severity::Info,
                    format!(
                        "{} found ({}) but its version could not be read: not judged",
                        e.title, addon.evidence
                    ),
                )),
                (Some(e), Some(v))
                    if e.meaning != RangeMeaning::MinorMustMatch && e.range_of(v).is_none() =>
                {
                    Some(finding(
                        Severity::Info,
                        format!(
                            "{} {v} ({}) is not in the catalog's releases of {} (as of {}, {}): not judged",
                            e.title, addon.evidence, e.title, e.as_of, e.source
                        ),
                    ))
                }
                (Some(e), Some(v)) if e.meaning == RangeMeaning::MinorMustMatch && minor_of(v).is_none() => {
                    Some(finding(
                        Severity::Info,
                        format!(
                            "{} {v} ({}): not a 1.N version, not judged",
                            e.title, addon.evidence
                        ),
                    ))
                }
                _ => None,
            };
        }
        let entry = entry?;
        if kind == Kind::Retired {
            let r = entry.retired.as_ref()?;
            return Some(finding(
                Severity::Warning,
                format!(
                    "{} is retired (no releases since {}, {}); move to {}",
                    entry.title, r.since, r.source, r.replacement
                ),
            ));
        }
        let version = addon.version.as_deref()?;
        let label = format!("{} {version}", entry.title);
        if entry.meaning == RangeMeaning::MinorMustMatch {
            let minor = minor_of(version)?;
            let now = self.current.minor();
            // A plan without hops judges the cluster as it is (the hop is today's version).
            let today = self.hop.minor() <= now;
            let ahead = i64::from(self.hop.minor()) - i64::from(minor);
            let release = |m: u32| format!("{} 1.{m}.x", entry.title);
            return match (kind, ahead) {
                (Kind::Incompatible, 2..) if today => Some(finding(
                    Severity::Blocker,
                    format!(
                        "{label} is meant for Kubernetes 1.{minor} ({}), and the control plane is already at {}, {ahead} minors ahead: install {}",
                        entry.source,
                        self.current,
                        release(now)
                    ),
                )),
                (Kind::Incompatible, 2..) => {
                    let mut installs = Vec::new();
                    if minor < now {
                        installs.push(format!("1.{now}.x before the first hop"));
                    }
                    installs.extend(
                        (minor.max(now) + 1..=self.hop.minor())
                            .map(|m| format!("1.{m}.x right after the hop to 1.{m}")),
                    );
                    Some(finding(
                        Severity::Blocker,
                        format!(
                            "{label} is meant for Kubernetes 1.{minor} ({}), and at {} it would be {ahead} minors behind: install {}; the run does not pause for it, so upgrade one minor at a time (--to 1.{}) and move it in between",
                            entry.source,
                            self.hop,
                            installs.join(", "),
                            now + 1
                        ),
                    ))
                }
                (Kind::MoveAfterHop, 1) if today => Some(finding(
                    Severity::Warning,
                    format!(
                        "{label} is meant for Kubernetes 1.{minor}, one minor behind the control plane's {}: install {} ({})",
                        self.current,
                        release(now),
                        entry.source
                    ),
                )),
                (Kind::MoveAfterHop, 1) => Some(finding(
                    Severity::Warning,
                    format!(
                        "{label} is meant for Kubernetes 1.{minor}: install {} right after the control plane reaches {} ({})",
                        release(self.hop.minor()),
                        self.hop,
                        entry.source
                    ),
                )),
                (Kind::OutsideRange, ..0) => Some(finding(
                    Severity::Warning,
                    format!(
                        "{label} is meant for Kubernetes 1.{minor}, newer than {}: install the release for {} ({})",
                        self.hop, self.hop, entry.source
                    ),
                )),
                _ => None,
            };
        }
        let range = entry.range_of(version)?;
        match kind {
            Kind::BelowFloor => {
                let min = range.min.as_ref()?;
                (self.current.minors_ahead_of(min) < 0).then(|| {
                    finding(
                        Severity::Warning,
                        format!(
                            "{label} needs Kubernetes {min} or later ({}), and the control plane is already at {} (below it)",
                            entry.source, self.current
                        ),
                    )
                })
            }
            Kind::Incompatible if entry.meaning == RangeMeaning::Enforced && !range.contains(self.hop) => {
                let (minors, when) = match self.before() {
                    Some(before) => (
                        vec![before, self.hop.clone()],
                        format!("before the hop to {}", self.hop),
                    ),
                    None => (vec![self.hop.clone()], "now".to_string()),
                };
                let refs: Vec<&KubeVersion> = minors.iter().collect();
                let fix = match entry.first_release_for(&refs, Some(range)) {
                    Some(next) => format!(
                        "install {} {} ({}) {when}",
                        entry.title,
                        next.release,
                        next.describe()
                    ),
                    None => format!(
                        "no release in the catalog (as of {}) runs on {}",
                        entry.as_of,
                        minors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                };
                let refuses = if self.before().is_some() {
                    format!("refuses {}", self.hop)
                } else {
                    format!("refuses the control plane's {} already", self.hop)
                };
                Some(finding(
                    Severity::Blocker,
                    format!(
                        "{label} runs on Kubernetes {} only and {refuses} ({}): {fix}",
                        range.describe(),
                        entry.source
                    ),
                ))
            }
            Kind::OutsideRange
                if matches!(entry.meaning, RangeMeaning::Supported | RangeMeaning::Tested)
                    && !range.contains(self.hop)
                    // Below the minimum is KUP-ADDON-005's: the cluster is too old for it.
                    && range.min.as_ref().is_none_or(|min| self.hop.minors_ahead_of(min) >= 0) =>
            {
                let which = if entry.meaning == RangeMeaning::Tested {
                    "tests"
                } else {
                    "supports"
                };
                let minors: Vec<KubeVersion> = self.before().into_iter().chain([self.hop.clone()]).collect();
                let refs: Vec<&KubeVersion> = minors.iter().collect();
                let fix = match entry.first_release_for(&refs, Some(range)) {
                    Some(next) => format!("{} {} lists {}", entry.title, next.release, next.describe()),
                    None => format!("no release in the catalog (as of {}) lists it", entry.as_of),
                };
                Some(finding(
                    Severity::Warning,
                    format!(
                        "Kubernetes {} is {} for {label}: the vendor {which} {} for {} ({}); {fix}",
                        self.hop,
                        entry.meaning.outside(),
                        range.describe(),
                        range.release,
                        entry.source
                    ),
                ))
            }
            _ => None,
        }
    }

    /// The control plane's minor right before the hop, or `None` when the hop is the
    /// cluster's own version (a plan without hops).
    fn before(&self) -> Option<KubeVersion> {
        if self.hop.minor() <= self.current.minor() {
            return None;
        }
        Some(KubeVersion::new(
            self.hop.major(),
            self.hop.minor().checked_sub(1)?,
        ))
    }

    /// What Helm does with the release's chart at the hop: `None` when it upgrades.
    fn helm_kube_version(&self, addon: &InstalledAddon) -> Option<(Severity, String)> {
        let text = addon.chart_kube_version.as_deref()?;
        let constraint = match HelmConstraint::parse(text) {
            Ok(c) => c,
            Err(why) => {
                return Some((
                    Severity::Blocker,
                    format!(
                        "Helm release {}/{} ({}) declares kubeVersion \"{text}\", which Helm cannot parse ({why}): it refuses to install or upgrade the chart on any version; fix the chart",
                        addon.subject.namespace.as_deref().unwrap_or(""),
                        addon.subject.name,
                        addon.evidence
                    ),
                ));
            }
        };
        let suffix = match self.provider {
            Provider::Eks => "eks-0000000",
            Provider::Gke => "gke.0",
            Provider::Aks => "",
        };
        let (major, minor) = (self.hop.major(), self.hop.minor());
        let at = |patch: u32, suffix: &str| {
            constraint.matches(&HelmVersion::of_cluster(major, minor, patch, suffix))
        };
        // The patch the provider will run is unknown: judge the first and a late one.
        let (first, late) = (at(0, suffix), at(99, suffix));
        if first && late {
            return None;
        }
        let shown = if suffix.is_empty() {
            format!("v{major}.{minor}.N")
        } else {
            format!(
                "v{major}.{minor}.N-{}",
                suffix.split(['-', '.']).next().unwrap_or(suffix)
            )
        };
        let why_suffix = if !suffix.is_empty() && at(0, "") && at(99, "") {
            format!(
                ": only because {}'s version suffix is a pre-release in Helm's rules; the chart needs `-0` in its constraint (e.g. `>=1.21.0-0`)",
                self.provider.display_name()
            )
        } else {
            String::new()
        };
        let release = format!(
            "Helm release {}/{}",
            addon.subject.namespace.as_deref().unwrap_or(""),
            addon.subject.name
        );
        if !first && !late {
            Some((
                Severity::Blocker,
                format!(
                    "{release} ({}) declares kubeVersion \"{constraint}\", which {shown} does not satisfy: at {} Helm refuses `helm upgrade` of it (\"chart requires kubeVersion: {constraint} which is incompatible with Kubernetes {shown}\"){why_suffix}; upgrade the chart to a release that allows {} before the hop",
                    addon.evidence, self.hop, self.hop
                ),
            ))
        } else {
            Some((
                Severity::Warning,
                format!(
                    "{release} ({}) declares kubeVersion \"{constraint}\": whether Helm upgrades it at {} depends on the patch release the provider runs",
                    addon.evidence, self.hop
                ),
            ))
        }
    }
}
