//! GKE deprecation insights as a pre-flight check (`KUP-GKE-INSIGHT-001`).
//!
//! GKE watches each cluster's calls to API versions a later minor removes and reports them
//! through the Recommender API as insights of type `google.container.DiagnosisInsight` with
//! subtype `DEPRECATION_K8S_1_<minor>_API` (one per cluster and removal, covering the last 30
//! days); while such calls go on, GKE pauses automatic upgrades to that minor
//! (<https://cloud.google.com/kubernetes-engine/docs/deprecations/viewing-deprecation-insights-and-recommendations>).
//! The check lists the cluster's active insights of that type (`google-cloud-recommender-v1`)
//! and turns each into findings: a blocker when a hop of the plan removes the API, a warning
//! when a later minor does. GKE does not publish the layout of an insight's `content`; the
//! request paths it carries (`/apis/{group}/{version}/{resource}`) are found wherever they are,
//! with the fields beside them (user agent, calls, last call), and give each finding the
//! [`DeprecatedApi`] key the cluster's own report (`KUP-API-*`) merges on. An insight whose
//! content names no path is reported as a whole. An insight that cannot be read is a warning,
//! never silence, and never a failure: a missing insight does not prove a clean cluster either
//! (the cluster's own evidence is checked beside it).

use async_trait::async_trait;
use google_cloud_recommender_v1::client::Recommender;
use google_cloud_recommender_v1::model::Insight;
use kupgrade_core::checks::CheckContext;
use kupgrade_core::{Check, DeprecatedApi, Finding, KubeVersion, Result, Severity, Subject};
use serde_json::Value;

/// The check id of GKE deprecation insights.
pub const INSIGHTS_CHECK_ID: &str = "KUP-GKE-INSIGHT-001";

/// The Recommender insight type GKE reports deprecated-API use under.
pub const INSIGHT_TYPE: &str = "google.container.DiagnosisInsight";

/// A [`Check`] that reads the cluster's GKE deprecation insights.
#[derive(Debug, Clone)]
pub struct GkeDeprecationInsightsCheck {
    client: std::result::Result<Recommender, String>,
    project: String,
    location: String,
    cluster: String,
}

impl GkeDeprecationInsightsCheck {
    /// A check of `cluster` in `project` and `location` through `client`, or, when the client
    /// could not be made, a check that reports why.
    pub fn new(
        client: std::result::Result<Recommender, String>,
        project: impl Into<String>,
        location: impl Into<String>,
        cluster: impl Into<String>,
    ) -> Self {
        Self {
            client,
            project: project.into(),
            location: location.into(),
            cluster: cluster.into(),
        }
    }

    fn parent(&self) -> String {
        format!(
            "projects/{}/locations/{}/insightTypes/{INSIGHT_TYPE}",
            self.project, self.location
        )
    }

    /// Whether an insight is about this cluster (an insight naming no target counts).
    fn about_this_cluster(&self, insight: &Insight) -> bool {
        let suffix = format!("/locations/{}/clusters/{}", self.location, self.cluster);
        insight.target_resources.is_empty() || insight.target_resources.iter().any(|t| t.ends_with(&suffix))
    }

    /// The cluster's active deprecation insights, as findings judged against the plan from
    /// `current` to `target`.
    pub async fn findings(&self, current: &KubeVersion, target: &KubeVersion) -> Result<Vec<Finding>> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| kupgrade_core::Error::permission(e.clone()))?;
        let mut insights = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_insights()
                .set_parent(self.parent())
                .set_filter("stateInfo.state = ACTIVE")
                .set_page_token(page_token)
                .send()
                .await
                .map_err(|e| {
                    crate::error::map_error(
                        e,
                        "ListInsights",
                        crate::error::Subject::Cluster(&self.cluster),
                        &self.cluster,
                    )
                })?;
            insights.extend(page.insights);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let mut out = Vec::new();
        for insight in insights.iter().filter(|i| self.about_this_cluster(i)) {
            let Some(removed) = removal(&insight.insight_subtype) else {
                continue;
            };
            if removed <= current.minor_version() {
                continue;
            }
            let severity = if removed <= target.minor_version() {
                Severity::Blocker
            } else {
                Severity::Warning
            };
            let what = format!(
                "GKE deprecation insight {} ({})",
                insight.insight_subtype,
                insight.name.rsplit('/').next().unwrap_or_default()
            );
            let content = insight
                .content
                .as_ref()
                .map(|c| Value::Object(c.clone()))
                .unwrap_or(Value::Null);
            let mut uses = Vec::new();
            api_paths(&content, &mut uses);
            let consequence = if severity == Severity::Blocker {
                format!(
                    "the {removed} API server rejects these calls, and GKE pauses automatic upgrades to {removed} while they go on"
                )
            } else {
                format!("removed in {removed}, after this plan's target")
            };
            let mut keyed: Vec<(DeprecatedApi, Vec<String>)> = Vec::new();
            for (path, beside) in uses {
                let Some(api) = DeprecatedApi::from_path(&path, Some(removed.clone())) else {
                    continue;
                };
                match keyed.iter_mut().find(|(a, _)| *a == api) {
                    Some((_, seen)) => seen.extend(beside),
                    None => keyed.push((api, beside)),
                }
            }
            if keyed.is_empty() {
                out.push(finding(
                    severity,
                    &self.cluster,
                    Some(removed.clone()),
                    None,
                    format!(
                        "{what} reports calls to APIs removed in {removed}: {}; {consequence}",
                        one_line(&insight.description)
                    ),
                ));
            }
            for (api, beside) in keyed {
                let callers = if beside.is_empty() {
                    String::new()
                } else {
                    let shown: Vec<&str> = beside.iter().take(3).map(String::as_str).collect();
                    format!(" ({})", shown.join("; "))
                };
                out.push(finding(
                    severity,
                    &self.cluster,
                    Some(removed.clone()),
                    Some(api.clone()),
                    format!("{what} reports calls to {api}{callers}; {consequence}"),
                ));
            }
        }
        Ok(out)
    }
}

fn finding(
    severity: Severity,
    cluster: &str,
    hop: Option<KubeVersion>,
    api: Option<DeprecatedApi>,
    message: String,
) -> Finding {
    Finding {
        id: INSIGHTS_CHECK_ID.into(),
        severity,
        message,
        subject: Subject::new("Cluster", cluster),
        hop,
        api,
        hint: None,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The minor a `DEPRECATION_K8S_1_<minor>_API` (or `..._V1BETA1_API`) subtype is about; `None`
/// for other subtypes (certificates, PodSecurityPolicy, containerd, ...).
fn removal(subtype: &str) -> Option<KubeVersion> {
    let rest = subtype.strip_prefix("DEPRECATION_K8S_1_")?;
    let (minor, tail) = rest.split_once('_')?;
    if tail != "API" && tail != "V1BETA1_API" {
        return None;
    }
    Some(KubeVersion::new(1, minor.parse().ok()?))
}

/// Every request path in `value`, with the other scalar fields of the object holding it
/// (`userAgent: kubectl/v1.28`, `totalCalls: 12`...), wherever they sit.
fn api_paths(value: &Value, out: &mut Vec<(String, Vec<String>)>) {
    match value {
        Value::Object(map) => {
            let paths: Vec<&str> = map
                .values()
                .filter_map(Value::as_str)
                .filter(|s| s.starts_with("/apis/") || s.starts_with("/api/"))
                .collect();
            for path in &paths {
                // Sorted: the map's order depends on serde_json's features.
                let mut beside: Vec<String> = map
                    .iter()
                    .filter_map(|(k, v)| {
                        let text = match v {
                            Value::String(s) if !paths.contains(&s.as_str()) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            _ => return None,
                        };
                        Some(format!("{k}: {text}"))
                    })
                    .collect();
                beside.sort();
                out.push(((*path).to_string(), beside));
            }
            // Strings of this object were judged above; go into the objects and arrays.
            for v in map.values().filter(|v| v.is_object() || v.is_array()) {
                api_paths(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| api_paths(v, out)),
        Value::String(s) if s.starts_with("/apis/") || s.starts_with("/api/") => {
            out.push((s.clone(), Vec::new()))
        }
        _ => {}
    }
}

#[async_trait]
impl Check for GkeDeprecationInsightsCheck {
    fn id(&self) -> &'static str {
        INSIGHTS_CHECK_ID
    }

    fn description(&self) -> &'static str {
        "GKE deprecation insights (Recommender API): calls to APIs a hop removes block it"
    }

    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        match self.findings(&ctx.snapshot.control_plane, &ctx.plan.target).await {
            Ok(found) => Ok(found),
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => Ok(vec![finding(
                Severity::Warning,
                &self.cluster,
                None,
                None,
                format!(
                    "could not read GKE deprecation insights ({e}); they need the Recommender API enabled and \
                     permission to list {INSIGHT_TYPE} insights (role roles/recommender.viewer or a role with \
                     recommender.*.list); the cluster's own deprecated-API checks ran without them"
                ),
            )]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subtypes_name_the_removal() {
        assert_eq!(removal("DEPRECATION_K8S_1_32_API"), Some(KubeVersion::new(1, 32)));
        assert_eq!(
            removal("DEPRECATION_K8S_1_22_V1BETA1_API"),
            Some(KubeVersion::new(1, 22))
        );
        assert_eq!(removal("DEPRECATION_K8S_1_25_PODSECURITYPOLICY"), None);
        assert_eq!(removal("DEPRECATION_K8S_SHA_1_CERTIFICATE"), None);
    }

    #[test]
    fn paths_are_found_wherever_they_sit_with_their_neighbours() {
        let content = json!({
            "deprecatedApiUsage": [
                {"api": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas", "userAgent": "helm/3.14", "callCount": 12},
                {"api": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas", "userAgent": "kubectl/1.29"}
            ],
            "note": "/api/v1/componentstatuses"
        });
        let mut found = Vec::new();
        api_paths(&content, &mut found);
        found.sort();
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0], ("/api/v1/componentstatuses".to_string(), vec![]));
        assert_eq!(
            found[1].0,
            "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"
        );
        assert_eq!(found[1].1, ["callCount: 12", "userAgent: helm/3.14"]);
        assert_eq!(found[2].1, ["userAgent: kubectl/1.29"]);
    }
}
