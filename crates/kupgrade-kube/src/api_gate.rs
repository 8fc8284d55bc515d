//! Deprecated and removed APIs as a pre-flight gate (`KUP-API-*`), judged at every hop.
//!
//! The cluster is scanned once per run with the same live detection as `kupgrade scan --live`
//! ([`live::scan_cluster`]: the `apiserver_requested_deprecated_apis` metric, `managedFields`,
//! the last-applied annotation, deployed Helm releases), collecting every use of an API version
//! the data knows as deprecated at any release. [`crate::checks`] then judges that one scan at
//! each hop of the plan:
//!
//! - `KUP-API-001` (blocker, at the hop that removes it): an API version still in use that this
//!   hop stops serving;
//! - `KUP-API-002` (warning, once per use): an API version in use that is deprecated (at the
//!   first hop of the plan, or at the hop that deprecates it), or already removed before the
//!   plan starts (the writer or Helm release fails on its next apply);
//! - `KUP-API-003` (warning): evidence that could not be read, naming the RBAC permission that
//!   would allow it, so that "no finding" is never mistaken for "nothing in use".

use kube::Client;
use kupgrade_core::checks::{Finding, Severity, Subject};
use kupgrade_core::{DeprecatedApi, KubeVersion, Provider};

use crate::deprecations::DeprecationTable;
use crate::live;
use crate::scan::{ScanFinding, Scanner};

/// The id of the check for API versions a hop removes.
pub const REMOVED_CHECK: &str = "KUP-API-001";
/// The id of the check for deprecated API versions in use.
pub const DEPRECATED_CHECK: &str = "KUP-API-002";
/// The id of the check for deprecated-API evidence that could not be read.
pub const UNREAD_CHECK: &str = "KUP-API-003";

/// Where the live scan says a metric sample came from, as [`live::metric_findings`] names it.
const METRIC_NAME_PREFIX: &str = "(requests to ";

/// The live deprecated-API scan of one cluster, read once and judged per hop.
#[derive(Debug, Clone, Default)]
pub struct ApiUsage {
    /// The API server's version when scanned; `None` when it could not be read (every hop is
    /// then judged as if it were the first, so nothing is skipped).
    pub server: Option<KubeVersion>,
    /// Every use of an API version deprecated at any release the data knows, with where it was
    /// seen (the scan's `file`: metric, `managedFields` writer, annotation, Helm release).
    pub uses: Vec<ScanFinding>,
    /// Evidence that could not be read, and why.
    pub unread: Vec<String>,
    /// The charts of the deployed Helm releases the scan read.
    pub charts: Vec<kupgrade_core::addons::DeployedChart>,
}

impl ApiUsage {
    /// Scans the cluster; never fails: what cannot be read is recorded in `unread`.
    pub async fn gather(client: &Client) -> Self {
        let mut usage = Self::default();
        match crate::workloads::api_server_version(client).await {
            Ok(v) => usage.server = Some(v),
            Err(e) => usage.unread.push(format!(
                "the API server version ({e}); every hop is judged as the first"
            )),
        }
        let table = DeprecationTable::builtin();
        // Judged per hop later: scan at the newest release any entry deprecates, so every
        // use the data knows is collected once.
        let horizon = table
            .entries()
            .iter()
            .map(|e| e.deprecated_in.minor_version())
            .max()
            .unwrap_or_else(|| table.covered_through().minor_version());
        match live::scan_cluster(client, &Scanner::new(table, horizon)).await {
            Ok(scan) => {
                usage.uses = scan.findings;
                usage.charts = scan.charts;
                usage.unread.extend(scan.notes);
            }
            Err(e) => usage.unread.push(format!(
                "the deprecated-API scan of the live cluster stopped ({e})"
            )),
        }
        usage
    }

    /// Whether the server already stopped serving `release`'s removals when scanned.
    fn removed_before_plan(&self, release: &KubeVersion) -> bool {
        self.server
            .as_ref()
            .is_some_and(|s| release.minor_version() <= s.minor_version())
    }

    /// Whether `hop` is the first hop of a plan from the scanned version (or the only one of a
    /// plan that moves pools only).
    fn first_hop(&self, hop: &KubeVersion) -> bool {
        self.server
            .as_ref()
            .is_none_or(|s| hop.minor_version() <= s.minor_version().next_minor())
    }
}

/// One use's versions, parsed.
struct Lifecycle {
    deprecated_in: KubeVersion,
    removed_in: Option<KubeVersion>,
}

fn lifecycle(u: &ScanFinding) -> Option<Lifecycle> {
    Some(Lifecycle {
        deprecated_in: KubeVersion::parse(&u.deprecated_in).ok()?.minor_version(),
        removed_in: match &u.removed_in {
            Some(r) => Some(KubeVersion::parse(r).ok()?.minor_version()),
            None => None,
        },
    })
}

/// `group/version/resource`, e.g. `policy/v1beta1/poddisruptionbudgets`.
fn group_version_resource(u: &ScanFinding) -> String {
    format!("{}/{}", u.api_version, resource(u))
}

/// The resource a use is of: as the metric names it, or the kind's plural.
fn resource(u: &ScanFinding) -> String {
    match u
        .name
        .strip_prefix(METRIC_NAME_PREFIX)
        .and_then(|r| r.strip_suffix(')'))
    {
        Some(resource) => resource.to_string(),
        None => plural(&u.kind),
    }
}

/// The use as the key providers' reports are merged on.
fn api_key(u: &ScanFinding) -> DeprecatedApi {
    let (group, version) = u.api_version.rsplit_once('/').unwrap_or(("", &u.api_version));
    let removed_in = lifecycle(u).and_then(|l| l.removed_in);
    DeprecatedApi::new(group, version, resource(u), removed_in)
}

/// The lowercase plural Kubernetes uses for a kind's resource.
fn plural(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if k == "endpoints" {
        k
    } else if let Some(stem) = k.strip_suffix('y') {
        format!("{stem}ies")
    } else if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    }
}

/// Where the use was seen, for people: the evidence and the object.
fn seen(u: &ScanFinding) -> String {
    let evidence = u.file.strip_prefix("cluster: ").unwrap_or(&u.file);
    if u.name.starts_with(METRIC_NAME_PREFIX) {
        return format!("seen in {evidence}");
    }
    let object = match &u.namespace {
        Some(ns) => format!("{} {ns}/{}", u.kind, u.name),
        None => format!("{} {}", u.kind, u.name),
    };
    format!("{object}, seen in {evidence}")
}

/// What to do: the replacement, and for a metric sample how to find the client.
fn replacement(u: &ScanFinding) -> String {
    let fix = match &u.replacement {
        Some(r) => format!("use {r} instead"),
        None => "nothing replaces it: remove or replace what uses it".to_string(),
    };
    if u.name.starts_with(METRIC_NAME_PREFIX) {
        // The metric does not say who called; the audit log does, on events annotated
        // `k8s.io/deprecated: "true"` (and `k8s.io/removed-release`), per
        // https://kubernetes.io/docs/reference/labels-annotations-taints/audit-annotations/
        format!("{fix} (the API server's audit log names the client: events annotated k8s.io/deprecated)")
    } else {
        fix
    }
}

fn finding(id: &str, severity: Severity, u: &ScanFinding, message: String) -> Finding {
    Finding {
        id: id.into(),
        severity,
        message,
        subject: Subject {
            kind: u.kind.clone(),
            namespace: u.namespace.clone(),
            name: u.name.clone(),
        },
        hop: None,
        api: Some(api_key(u)),
        hint: None,
    }
}

/// `KUP-API-001`: uses of API versions that `hop` removes. On AKS the message also says that
/// AKS refuses the hop itself (see [`AKS_BLOCK`]).
pub(crate) fn removed_at_hop(
    usage: &ApiUsage,
    hop: &KubeVersion,
    provider: Option<Provider>,
) -> Vec<Finding> {
    let aks_blocks = provider == Some(Provider::Aks) && hop.minor_version() >= KubeVersion::new(1, 26);
    usage
        .uses
        .iter()
        .filter_map(|u| {
            let removed = lifecycle(u)?.removed_in?;
            (removed == hop.minor_version() && !usage.removed_before_plan(&removed)).then(|| {
                let mut message = format!(
                    "{} is removed in {removed} and still in use: {}; {} before this hop (the {removed} API server rejects it)",
                    group_version_resource(u),
                    seen(u),
                    replacement(u)
                );
                if aks_blocks {
                    message.push_str(AKS_BLOCK);
                }
                finding(REMOVED_CHECK, Severity::Blocker, u, message)
            })
        })
        .collect()
}

/// What AKS does about the same use, before the PUT that would meet it: since 1.26 it refuses a
/// control-plane minor upgrade while a removed API was called in the last 12 hours (write
/// calls; AKS samples hourly), answering HTTP 400 `UpgradeBlockedOnDeprecatedAPIUsage`. Per
/// <https://learn.microsoft.com/azure/aks/stop-cluster-upgrade-api-breaking-changes>; no AKS
/// API shows the usage it saw before that answer, so the cluster's own evidence stands in.
pub const AKS_BLOCK: &str = "; AKS itself refuses this control-plane upgrade (UpgradeBlockedOnDeprecatedAPIUsage) while such calls were seen in the last 12 hours, unless the upgrade is forced with upgradeSettings.overrideSettings (which also skips AKS's other upgrade protections)";

/// `KUP-API-002`: uses of deprecated API versions, each reported once: at the first hop of the
/// plan (or the hop that deprecates it) while still served, or at the first hop when the
/// server already stopped serving it before the plan. Versions a hop removes are `KUP-API-001`.
pub(crate) fn deprecated_at_hop(usage: &ApiUsage, hop: &KubeVersion) -> Vec<Finding> {
    let hop = hop.minor_version();
    usage
        .uses
        .iter()
        .filter_map(|u| {
            let life = lifecycle(u)?;
            match &life.removed_in {
                Some(removed) if usage.removed_before_plan(removed) => {
                    return usage.first_hop(&hop).then(|| {
                        finding(DEPRECATED_CHECK, Severity::Warning, u, format!(
                            "{} was removed in {removed}, before this plan, and is still recorded: {}; {} (its next apply or `helm upgrade` fails)",
                            group_version_resource(u),
                            seen(u),
                            replacement(u)
                        ))
                    });
                }
                Some(removed) if *removed <= hop => return None,
                _ => {}
            }
            let deprecated_here = life.deprecated_in <= hop
                && (usage.first_hop(&hop) || life.deprecated_in == hop);
            deprecated_here.then(|| {
                let removal = match &life.removed_in {
                    Some(r) => format!("removed in {r}"),
                    None => "no removal scheduled".to_string(),
                };
                finding(DEPRECATED_CHECK, Severity::Warning, u, format!(
                    "{} is deprecated since {} ({removal}) and still in use: {}; {}",
                    group_version_resource(u),
                    life.deprecated_in,
                    seen(u),
                    replacement(u)
                ))
            })
        })
        .collect()
}

/// `KUP-API-003`: what the scan could not read.
pub(crate) fn unread(usage: &ApiUsage) -> Vec<Finding> {
    usage
        .unread
        .iter()
        .map(|what| Finding {
            id: UNREAD_CHECK.into(),
            severity: Severity::Warning,
            message: format!(
                "deprecated-API uses not checked: {what}; grant the access, or scan your manifests and Helm releases"
            ),
            subject: Subject {
                kind: "Cluster".into(),
                namespace: None,
                name: "deprecated-api-scan".into(),
            },
            hop: None,
            api: None,
            hint: Some(kupgrade_core::Hint::ScanApis { live: false }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_of(api_version: &str, kind: &str, deprecated_in: &str, removed_in: Option<&str>) -> ScanFinding {
        ScanFinding {
            file: "cluster: managedFields (manager helm, Update)".into(),
            kind: kind.into(),
            name: "web".into(),
            namespace: Some("shop".into()),
            api_version: api_version.into(),
            replacement: Some("flowcontrol.apiserver.k8s.io/v1".into()),
            deprecated_in: deprecated_in.into(),
            removed_in: removed_in.map(str::to_string),
            deprecated: true,
            removed: false,
            note: None,
        }
    }

    fn v(s: &str) -> KubeVersion {
        KubeVersion::parse(s).unwrap()
    }

    fn usage(server: Option<&str>, uses: Vec<ScanFinding>) -> ApiUsage {
        ApiUsage {
            server: server.map(v),
            uses,
            unread: Vec::new(),
            charts: Vec::new(),
        }
    }

    /// Findings of both judging checks over the hops `from`..=`to`, as (id, hop).
    fn judged(u: &ApiUsage, hops: &[&str]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for hop in hops {
            for f in removed_at_hop(u, &v(hop), None) {
                assert_eq!(f.severity, Severity::Blocker);
                out.push((REMOVED_CHECK, (*hop).to_string()));
            }
            for f in deprecated_at_hop(u, &v(hop)) {
                assert_eq!(f.severity, Severity::Warning);
                out.push((DEPRECATED_CHECK, (*hop).to_string()));
            }
        }
        out
    }

    #[test]
    fn removed_blocks_at_its_hop_and_deprecated_warns_once() {
        let fs = use_of(
            "flowcontrol.apiserver.k8s.io/v1beta3",
            "FlowSchema",
            "1.29",
            Some("1.32"),
        );
        let u = usage(Some("v1.29.8-eks-1"), vec![fs]);
        assert_eq!(
            judged(&u, &["1.30", "1.31", "1.32", "1.33"]),
            [(DEPRECATED_CHECK, "1.30".into()), (REMOVED_CHECK, "1.32".into())]
        );
        let found = removed_at_hop(&u, &v("1.32"), Some(Provider::Eks));
        let msg = &found[0].message;
        assert!(
            msg.starts_with("flowcontrol.apiserver.k8s.io/v1beta3/flowschemas is removed in 1.32"),
            "{msg}"
        );
        assert_eq!(
            found[0].api,
            Some(DeprecatedApi::new(
                "flowcontrol.apiserver.k8s.io",
                "v1beta3",
                "flowschemas",
                Some(v("1.32"))
            )),
            "the key providers' reports merge on"
        );
        assert!(!msg.contains("AKS"), "{msg}");
        assert!(
            msg.contains("FlowSchema shop/web, seen in managedFields (manager helm, Update)"),
            "{msg}"
        );
        assert!(
            msg.contains("use flowcontrol.apiserver.k8s.io/v1 instead"),
            "{msg}"
        );
    }

    #[test]
    fn on_aks_the_blocker_says_aks_refuses_the_hop_itself() {
        let fs = use_of(
            "flowcontrol.apiserver.k8s.io/v1beta3",
            "FlowSchema",
            "1.29",
            Some("1.32"),
        );
        let u = usage(Some("1.31"), vec![fs]);
        let msg = &removed_at_hop(&u, &v("1.32"), Some(Provider::Aks))[0].message;
        assert!(msg.ends_with(AKS_BLOCK), "{msg}");
        assert!(msg.contains("UpgradeBlockedOnDeprecatedAPIUsage") && msg.contains("12 hours"));
    }

    #[test]
    fn deprecation_inside_the_plan_warns_at_the_hop_that_deprecates() {
        let u = usage(
            Some("1.27"),
            vec![use_of(
                "flowcontrol.apiserver.k8s.io/v1beta3",
                "FlowSchema",
                "1.29",
                Some("1.32"),
            )],
        );
        assert_eq!(
            judged(&u, &["1.28", "1.29", "1.30", "1.31"]),
            [(DEPRECATED_CHECK, "1.29".into())]
        );
    }

    #[test]
    fn already_removed_is_a_warning_at_the_first_hop_only() {
        let u = usage(
            Some("1.30"),
            vec![use_of(
                "policy/v1beta1",
                "PodDisruptionBudget",
                "1.21",
                Some("1.25"),
            )],
        );
        assert_eq!(judged(&u, &["1.31", "1.32"]), [(DEPRECATED_CHECK, "1.31".into())]);
        // A plan that moves pools only judges the current version.
        assert_eq!(judged(&u, &["1.30"]), [(DEPRECATED_CHECK, "1.30".into())]);
        let msg = &deprecated_at_hop(&u, &v("1.31"))[0].message;
        assert!(msg.contains("removed in 1.25, before this plan"), "{msg}");
    }

    #[test]
    fn unknown_server_version_judges_every_hop() {
        let u = usage(
            None,
            vec![use_of(
                "flowcontrol.apiserver.k8s.io/v1beta3",
                "FlowSchema",
                "1.29",
                None,
            )],
        );
        assert_eq!(
            judged(&u, &["1.30", "1.31"]),
            [
                (DEPRECATED_CHECK, "1.30".into()),
                (DEPRECATED_CHECK, "1.31".into())
            ]
        );
    }

    #[test]
    fn metric_uses_name_the_resource_the_server_reported() {
        // Through the live scan's own metric findings, so a change to how it names them shows here.
        let sample = live::DeprecatedRequest {
            group: "flowcontrol.apiserver.k8s.io".into(),
            version: "v1beta3".into(),
            resource: "flowschemas".into(),
            subresource: String::new(),
            removed_release: "1.32".into(),
        };
        let scanner = Scanner::new(DeprecationTable::builtin(), v("1.32"));
        let m = &live::metric_findings(&[sample], &scanner)[0];
        assert_eq!(
            group_version_resource(m),
            "flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"
        );
        assert_eq!(
            seen(m),
            "seen in apiserver_requested_deprecated_apis (a client still calls this version)"
        );
        assert_eq!(plural("Ingress"), "ingresses");
        assert_eq!(plural("PodSecurityPolicy"), "podsecuritypolicies");
        assert_eq!(plural("Endpoints"), "endpoints");
    }
}
