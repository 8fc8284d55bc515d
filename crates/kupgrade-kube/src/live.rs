//! The live-cluster scan: who still *uses* deprecated API versions, not just which objects
//! exist (the API server converts stored objects, so listing them proves nothing).
//!
//! Evidence, strongest first:
//! - the API server's `apiserver_requested_deprecated_apis` metric (`/metrics`): requests made
//!   with a deprecated version since the server started, including clients no manifest shows;
//! - `metadata.managedFields`: each writer (manager) is recorded with the `apiVersion` it wrote
//!   with, for client-side and server-side apply alike;
//! - the `kubectl.kubernetes.io/last-applied-configuration` annotation, ignored when
//!   `managedFields` shows kubectl has since applied a current version (the annotation is stale);
//! - deployed Helm releases (the manifests Helm will apply again on the next upgrade).
//!
//! Group/versions the server still serves are listed separately as information.
//!
//! CustomResourceDefinitions are read too (Pluto and kubent read none of this): versions marked
//! `deprecated` (with their `deprecationWarning`), versions no longer served, and
//! `status.storedVersions` still listing a version other than the storage version, each with the
//! objects whose `managedFields` (or last-applied annotation) show a write at that version.

use std::collections::BTreeSet;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kupgrade_core::{KubeVersion, Result};
use serde::Serialize;

use crate::deprecations::{Deprecation, split_api_version};
use crate::kube_error;
use crate::manifests::ManifestObject;
use crate::scan::{ScanFinding, ScanReport, Scanner};

/// The result of a live scan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveScan {
    /// Findings in the `kupgrade scan` shape; `file` says which evidence (e.g.
    /// `cluster: managedFields (manager helm, Update)`).
    pub findings: Vec<ScanFinding>,
    /// Deprecated group/versions the server still serves.
    pub served: Vec<String>,
    /// What could not be read (e.g. `/metrics` forbidden), so silence is not mistaken for health.
    pub notes: Vec<String>,
    /// CustomResourceDefinition versions that are deprecated, no longer served, or still
    /// listed in `status.storedVersions`.
    pub crds: Vec<CrdFinding>,
    /// The charts of the deployed Helm releases (for the add-on checks; read with the
    /// releases the scan reads anyway).
    #[serde(skip)]
    pub charts: Vec<kupgrade_core::addons::DeployedChart>,
}

/// What is wrong with one version of a CustomResourceDefinition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum CrdProblem {
    /// Served but marked `deprecated: true`; `warning` is its `deprecationWarning`, if any.
    Deprecated {
        /// The CRD's `deprecationWarning` for the version.
        warning: Option<String>,
    },
    /// Listed in `spec.versions` with `served: false`: clients using it get 404.
    NotServed,
    /// In `status.storedVersions` but not the storage version: objects may still be stored at
    /// it, so a release of the CRD that drops it needs the objects migrated first.
    StoredNotStorage,
}

/// One finding about a CustomResourceDefinition version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrdFinding {
    /// The CRD's name, e.g. `widgets.example.com`.
    pub crd: String,
    /// The custom resource's kind.
    pub kind: String,
    /// The version concerned, as `group/version`.
    pub api_version: String,
    /// The version objects are stored at now.
    pub storage_version: Option<String>,
    /// What is wrong.
    #[serde(flatten)]
    pub problem: CrdProblem,
    /// Objects (`namespace/name`, or `name`) last written at this version by some client,
    /// according to their `managedFields` or last-applied annotation.
    pub objects: Vec<String>,
}

impl CrdFinding {
    /// One line for people.
    pub fn message(&self) -> String {
        let what = match &self.problem {
            CrdProblem::Deprecated { warning: Some(w) } => format!("is deprecated: \"{w}\""),
            CrdProblem::Deprecated { warning: None } => "is deprecated".to_string(),
            CrdProblem::NotServed => "is no longer served (clients using it get 404)".to_string(),
            CrdProblem::StoredNotStorage => format!(
                "is still in status.storedVersions although objects are now stored at {}: rewrite every object (e.g. a StorageVersionMigration) and then drop it from storedVersions before a release of the CRD removes it",
                self.storage_version.as_deref().unwrap_or("another version")
            ),
        };
        let objects = match self.objects.len() {
            0 => "no object shows a write at this version".to_string(),
            n => format!(
                "{n} object(s) last written at this version: {}{}",
                self.objects
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if n > 10 { ", ..." } else { "" }
            ),
        };
        format!(
            "CRD {} ({} {}) {what}; {objects}",
            self.crd, self.api_version, self.kind
        )
    }

    /// 3 when objects are still written at a version no longer served, 2 when objects use a
    /// deprecated version or storedVersions needs a migration, else 0 (information).
    pub fn exit_code(&self) -> u8 {
        match (&self.problem, self.objects.is_empty()) {
            (CrdProblem::NotServed, false) => 3,
            (CrdProblem::StoredNotStorage, _) | (CrdProblem::Deprecated { .. }, false) => 2,
            _ => 0,
        }
    }
}

impl LiveScan {
    /// 0, 2 or 3, as for manifests, counting the CRD findings too.
    pub fn exit_code(&self) -> u8 {
        let findings = ScanReport {
            findings: self.findings.clone(),
            ..Default::default()
        }
        .findings_exit_code();
        self.crds
            .iter()
            .map(CrdFinding::exit_code)
            .fold(findings, u8::max)
    }
}

/// One sample of `apiserver_requested_deprecated_apis`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeprecatedRequest {
    /// API group (empty for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource, if any.
    pub subresource: String,
    /// The release the server says removes it (empty when none).
    pub removed_release: String,
}

/// Parses the Prometheus text of `/metrics` for `apiserver_requested_deprecated_apis` samples
/// with a non-zero value.
pub fn parse_deprecated_metric(text: &str) -> Vec<DeprecatedRequest> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_requested_deprecated_apis{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        if value.trim().parse::<f64>().map_or(true, |v| v == 0.0) {
            continue;
        }
        let label = |name: &str| -> String {
            let key = format!("{name}=\"");
            labels
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix(&key))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        out.push(DeprecatedRequest {
            group: label("group"),
            version: label("version"),
            resource: label("resource"),
            subresource: label("subresource"),
            removed_release: label("removed_release"),
        });
    }
    out
}

fn plural_matches(kind: &str, resource: &str) -> bool {
    let k = kind.to_ascii_lowercase();
    let plural = if let Some(stem) = k.strip_suffix('y') {
        format!("{stem}ies")
    } else if k.ends_with('s') {
        format!("{k}es")
    } else {
        format!("{k}s")
    };
    resource == plural || resource == k
}

/// Findings from the metric's samples at `scanner`'s target.
pub fn metric_findings(samples: &[DeprecatedRequest], scanner: &Scanner) -> Vec<ScanFinding> {
    let target = scanner.target();
    samples
        .iter()
        .filter_map(|s| {
            let api_version = if s.group.is_empty() {
                s.version.clone()
            } else {
                format!("{}/{}", s.group, s.version)
            };
            let entry = scanner
                .table()
                .entries()
                .iter()
                .find(|e| e.api_version == api_version && plural_matches(&e.kind, &s.resource))
                .cloned()
                .or_else(|| {
                    // The server knows a deprecation this build's table does not: trust the server.
                    Some(Deprecation {
                        api_version: api_version.clone(),
                        kind: s.resource.clone(),
                        introduced_in: None,
                        deprecated_in: KubeVersion::new(1, 0),
                        removed_in: KubeVersion::parse(&s.removed_release).ok(),
                        replacement: None,
                        source: "apiserver_requested_deprecated_apis".into(),
                        note: None,
                    })
                })?;
            let object = ManifestObject {
                api_version,
                kind: entry.kind.clone(),
                name: format!("(requests to {})", s.resource),
                namespace: None,
                document: 0,
            };
            let f = ScanFinding::new(
                "cluster: apiserver_requested_deprecated_apis (a client still calls this version)",
                &object,
                &entry,
                target,
            );
            (f.deprecated || f.removed).then_some(f)
        })
        .collect()
}

/// Findings from one object's `managedFields` and last-applied annotation.
pub fn object_findings(obj: &kube::api::ObjectMeta, kind: &str, scanner: &Scanner) -> Vec<ScanFinding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let base = |api_version: &str| ManifestObject {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: obj.name.clone().unwrap_or_default(),
        namespace: obj.namespace.clone(),
        document: 0,
    };
    let fields = obj.managed_fields.as_deref().unwrap_or_default();
    for mf in fields {
        let Some(api_version) = mf.api_version.as_deref() else {
            continue;
        };
        let manager = mf.manager.as_deref().unwrap_or("?");
        if let Some(f) = scanner.check(
            &format!(
                "cluster: managedFields (manager {manager}, {})",
                mf.operation.as_deref().unwrap_or("?")
            ),
            &base(api_version),
        ) && seen.insert(api_version.to_string())
        {
            out.push(f);
        }
    }
    let last_applied = obj
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/last-applied-configuration"))
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v.get("apiVersion").and_then(|a| a.as_str()).map(str::to_string));
    if let Some(api_version) = last_applied
        && !seen.contains(&api_version)
    {
        // kubectl applying a current version since makes the annotation stale.
        let kubectl_moved_on = fields.iter().any(|mf| {
            mf.manager.as_deref() == Some("kubectl-client-side-apply")
                && mf.api_version.as_deref().is_some_and(|v| v != api_version)
        });
        if !kubectl_moved_on
            && let Some(f) = scanner.check(
                "cluster: last-applied-configuration annotation",
                &base(&api_version),
            )
        {
            out.push(f);
        }
    }
    out
}

/// The resource serving `kind` in `api_version`, through a discovery cache (one request per
/// group/version however many kinds it serves).
async fn resource_in(
    client: &Client,
    cache: &mut std::collections::HashMap<String, Option<APIResourceList>>,
    api_version: &str,
    kind: &str,
) -> Result<Option<ApiResource>> {
    let (group, version) = split_api_version(api_version);
    if !cache.contains_key(api_version) {
        let list: std::result::Result<APIResourceList, kube::Error> = if group.is_empty() {
            client.list_core_api_resources(version).await
        } else {
            client.list_api_group_resources(api_version).await
        };
        let list = match list {
            Ok(l) => Some(l),
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(e) => return Err(kube_error(e)),
        };
        cache.insert(api_version.to_string(), list);
    }
    let Some(list) = cache.get(api_version).and_then(Option::as_ref) else {
        return Ok(None);
    };
    Ok(list
        .resources
        .iter()
        .find(|r| r.kind == kind && !r.name.contains('/'))
        .map(|r| ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            plural: r.name.clone(),
        }))
}

/// Scans a live cluster at `scanner`'s target.
pub async fn scan_cluster(client: &Client, scanner: &Scanner) -> Result<LiveScan> {
    let mut scan = LiveScan::default();
    // 1. The API server's own record of deprecated requests.
    let req = http_get("/metrics");
    match client.request_text(req).await {
        Ok(text) => scan.findings.extend(metric_findings(&parse_deprecated_metric(&text), scanner)),
        Err(e) => scan.notes.push(format!(
            "could not read /metrics ({}); clients calling deprecated APIs without a manifest are not covered (needs `get` on the non-resource URL /metrics)",
            kube_error(e)
        )),
    }
    // 2. Writers recorded on the objects, listed through the version that replaces each one.
    let mut kinds: Vec<(&str, &str)> = scanner
        .table()
        .entries()
        .iter()
        .filter(|e| e.removed_in.is_some())
        .filter_map(|e| e.replacement.as_deref().map(|r| (r, e.kind.as_str())))
        // Lists are served by their resource's endpoint; "group/version Kind" replacements name
        // another kind.
        .filter(|(r, k)| !r.contains(' ') && !k.ends_with("List"))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut discovery = std::collections::HashMap::new();
    for (api_version, kind) in kinds {
        let Some(ar) = resource_in(client, &mut discovery, api_version, kind).await? else {
            continue;
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let mut params = ListParams::default().limit(500);
        loop {
            let list = match api.list_metadata(&params).await {
                Ok(l) => l,
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    scan.notes.push(format!(
                        "cannot list {} {api_version}: forbidden; writers recorded on them are not covered (needs `list` on {} in every namespace)",
                        ar.plural,
                        if ar.group.is_empty() { ar.plural.clone() } else { format!("{}.{}", ar.plural, ar.group) }
                    ));
                    break;
                }
                Err(e) => return Err(kube_error(e)),
            };
            for item in &list.items {
                scan.findings
                    .extend(object_findings(&item.metadata, kind, scanner));
            }
            match list.metadata.continue_ {
                Some(t) if !t.is_empty() => params = params.continue_token(&t),
                _ => break,
            }
        }
    }
    // 3. What Helm will apply again.
    match crate::helm::live_releases(client).await {
        Ok(live) => {
            for r in live.releases.iter().filter(|r| r.status == "deployed") {
                scan.charts.extend(r.deployed_chart());
                let mut report = ScanReport::default();
                scanner.scan_release(r, "cluster", &mut report);
                scan.findings.extend(report.findings);
                scan.notes.extend(report.skipped.iter().map(ToString::to_string));
            }
            scan.notes.extend(live.unreadable);
        }
        Err(e) => scan
            .notes
            .push(format!(
                "could not read Helm release secrets ({e}); deployed Helm releases are not covered (needs `list` on secrets in every namespace)"
            )),
    }
    // 4. CustomResourceDefinitions: deprecated, unserved and stale stored versions.
    let (crds, notes) = scan_crds(client).await?;
    scan.crds = crds;
    scan.notes.extend(notes);
    // 5. Deprecated group/versions still served (information).
    for gv in scanner.table().group_versions() {
        if gv == "v1" {
            continue;
        }
        if client.list_api_group_resources(gv).await.is_ok() {
            scan.served.push(gv.to_string());
        }
    }
    Ok(scan)
}

/// The CRD findings of one CustomResourceDefinition, before the objects are looked up.
pub fn crd_problems(crd: &CustomResourceDefinition) -> Vec<CrdFinding> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let group = &crd.spec.group;
    let gv = |v: &str| format!("{group}/{v}");
    let storage = crd.spec.versions.iter().find(|v| v.storage).map(|v| gv(&v.name));
    let finding = |version: &str, problem: CrdProblem| CrdFinding {
        crd: name.clone(),
        kind: crd.spec.names.kind.clone(),
        api_version: gv(version),
        storage_version: storage.clone(),
        problem,
        objects: Vec::new(),
    };
    let mut out = Vec::new();
    for v in &crd.spec.versions {
        if !v.served {
            out.push(finding(&v.name, CrdProblem::NotServed));
        } else if v.deprecated == Some(true) {
            out.push(finding(
                &v.name,
                CrdProblem::Deprecated {
                    warning: v.deprecation_warning.clone(),
                },
            ));
        }
    }
    let stored = crd
        .status
        .as_ref()
        .and_then(|s| s.stored_versions.as_deref())
        .unwrap_or_default();
    for v in stored {
        if storage.as_deref() != Some(gv(v).as_str()) {
            out.push(finding(v, CrdProblem::StoredNotStorage));
        }
    }
    out
}

/// The version an object was last written at, per writer: `managedFields` entries, and the
/// last-applied annotation's `apiVersion`.
fn written_versions(meta: &kube::api::ObjectMeta) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = meta
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|mf| mf.api_version.clone())
        .collect();
    if let Some(v) = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/last-applied-configuration"))
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v.get("apiVersion").and_then(|a| a.as_str()).map(str::to_string))
    {
        out.insert(v);
    }
    out
}

/// Reads every CustomResourceDefinition and, for those with a deprecated, unserved or stale
/// stored version, lists their objects (metadata only, through a served version) to name the
/// ones last written at it. What cannot be read is returned as notes naming the RBAC needed.
pub async fn scan_crds(client: &Client) -> Result<(Vec<CrdFinding>, Vec<String>)> {
    let mut notes = Vec::new();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crds = Vec::new();
    let mut params = ListParams::default().limit(500);
    loop {
        let list = match api.list(&params).await {
            Ok(l) => l,
            Err(kube::Error::Api(s)) if s.code == 403 => {
                notes.push("cannot list customresourcedefinitions (forbidden): CRD versions are not checked; grant `list` on customresourcedefinitions.apiextensions.k8s.io".to_string());
                return Ok((Vec::new(), notes));
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                notes.push(
                    "the API server does not serve apiextensions.k8s.io/v1: CRD versions are not checked"
                        .to_string(),
                );
                return Ok((Vec::new(), notes));
            }
            Err(e) => return Err(kube_error(e)),
        };
        crds.extend(list.items);
        match list.metadata.continue_ {
            Some(t) if !t.is_empty() => params = params.continue_token(&t),
            _ => break,
        }
    }
    let mut out = Vec::new();
    for crd in &crds {
        let mut findings = crd_problems(crd);
        if findings.is_empty() {
            continue;
        }
        let Some(read_at) = crd
            .spec
            .versions
            .iter()
            .find(|v| v.storage && v.served)
            .or_else(|| crd.spec.versions.iter().find(|v| v.served))
        else {
            out.extend(findings);
            continue;
        };
        let ar = ApiResource {
            group: crd.spec.group.clone(),
            version: read_at.name.clone(),
            api_version: format!("{}/{}", crd.spec.group, read_at.name),
            kind: crd.spec.names.kind.clone(),
            plural: crd.spec.names.plural.clone(),
        };
        let objects: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let mut params = ListParams::default().limit(500);
        loop {
            let list = match objects.list_metadata(&params).await {
                Ok(l) => l,
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    notes.push(format!(
                        "cannot list {} (forbidden): objects at its old versions are not named; grant `list` on {}",
                        ar.plural,
                        crd.metadata.name.as_deref().unwrap_or_default()
                    ));
                    break;
                }
                Err(e) => return Err(kube_error(e)),
            };
            for item in &list.items {
                let written = written_versions(&item.metadata);
                let label = match &item.metadata.namespace {
                    Some(ns) => format!("{ns}/{}", item.metadata.name.as_deref().unwrap_or_default()),
                    None => item.metadata.name.clone().unwrap_or_default(),
                };
                for f in &mut findings {
                    if written.contains(&f.api_version) {
                        f.objects.push(label.clone());
                    }
                }
            }
            match list.metadata.continue_ {
                Some(t) if !t.is_empty() => params = params.continue_token(&t),
                _ => break,
            }
        }
        out.extend(findings);
    }
    Ok((out, notes))
}

fn http_get(uri: &str) -> http::Request<Vec<u8>> {
    let mut req = http::Request::new(Vec::new());
    *req.uri_mut() = uri.parse().expect("a static path");
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deprecations::DeprecationTable;

    fn scanner(t: &str) -> Scanner {
        Scanner::new(DeprecationTable::builtin(), KubeVersion::parse(t).unwrap())
    }

    #[test]
    fn metric_samples_become_findings() {
        let text = r#"# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="policy",removed_release="1.25",resource="poddisruptionbudgets",subresource="",version="v1beta1"} 1
apiserver_requested_deprecated_apis{group="flowcontrol.apiserver.k8s.io",removed_release="1.32",resource="flowschemas",subresource="",version="v1beta3"} 1
apiserver_requested_deprecated_apis{group="example.com",removed_release="1.40",resource="widgets",subresource="",version="v1alpha1"} 0
apiserver_request_total{code="200"} 5
"#;
        let samples = parse_deprecated_metric(text);
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].resource, "poddisruptionbudgets");
        let f = metric_findings(&samples, &scanner("1.25"));
        assert_eq!(f.len(), 1, "v1beta3 FlowSchema is not deprecated at 1.25: {f:?}");
        assert_eq!(f[0].kind, "PodDisruptionBudget");
        assert!(f[0].removed);
        assert_eq!(metric_findings(&samples, &scanner("1.32")).len(), 2);
    }

    fn meta(v: serde_json::Value) -> kube::api::ObjectMeta {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn managed_fields_name_the_writer_and_stale_annotations_are_ignored() {
        let s = scanner("1.25");
        let m = meta(serde_json::json!({
            "name": "web", "namespace": "shop",
            "managedFields": [{"manager": "helm", "operation": "Update", "apiVersion": "policy/v1beta1"}]
        }));
        let f = object_findings(&m, "PodDisruptionBudget", &s);
        assert_eq!(f.len(), 1);
        assert!(f[0].file.contains("manager helm"), "{}", f[0].file);
        // An old annotation, but kubectl has applied policy/v1 since: not reported (kubent#619).
        let m = meta(serde_json::json!({
            "name": "web", "namespace": "shop",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"policy/v1beta1\",\"kind\":\"PodDisruptionBudget\"}"},
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "policy/v1"}]
        }));
        assert!(object_findings(&m, "PodDisruptionBudget", &s).is_empty());
        // The same annotation with no newer kubectl write is reported.
        let m = meta(serde_json::json!({
            "name": "web",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"policy/v1beta1\"}"}
        }));
        let f = object_findings(&m, "PodDisruptionBudget", &s);
        assert_eq!(f.len(), 1);
        assert!(f[0].file.contains("last-applied"));
    }
}
