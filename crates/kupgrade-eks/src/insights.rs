//! EKS upgrade insights as a pre-flight check.
//!
//! EKS checks every cluster for upgrade readiness (deprecated APIs in use, add-on and kubelet
//! compatibility, ...) and reports each insight as `PASSING`, `WARNING`, `ERROR` or `UNKNOWN`.
//! `ERROR` means the next minor will break, so it blocks a plan that moves the control plane;
//! `WARNING` concerns a later minor and is reported as a warning. A deprecated-API insight
//! becomes one finding per API in its `deprecationDetails` (the request path, the release that
//! stops serving it, the clients that called it in the last 30 days), keyed so that the
//! cluster's own report of the same use (`KUP-API-*`) absorbs it.

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{Category, DeprecationDetail, InsightStatusValue, InsightSummary, InsightsFilter};
use kupgrade_core::checks::CheckContext;
use kupgrade_core::{Check, DeprecatedApi, Finding, KubeVersion, Result, Severity, Subject};

use crate::error::{Target, map_sdk_error};

/// The check id of EKS upgrade insights.
pub const INSIGHTS_CHECK_ID: &str = "KUP-EKS-INSIGHT-001";

/// A [`Check`] that reads the cluster's EKS upgrade-readiness insights (`ListInsights`,
/// `DescribeInsight`) and turns `ERROR` into blockers and `WARNING` into warnings.
#[derive(Debug, Clone)]
pub struct EksInsightsCheck {
    client: Client,
    cluster: String,
}

impl EksInsightsCheck {
    /// A check of cluster `cluster` through `client`.
    pub fn new(client: Client, cluster: impl Into<String>) -> Self {
        Self {
            client,
            cluster: cluster.into(),
        }
    }

    /// The upgrade-readiness insights that are not passing, with their details.
    pub async fn findings(&self, moves_control_plane: bool) -> Result<Vec<Finding>> {
        let target = Target::Cluster(&self.cluster);
        let summaries: Vec<InsightSummary> = self
            .client
            .list_insights()
            .cluster_name(&self.cluster)
            .filter(
                InsightsFilter::builder()
                    .categories(Category::UpgradeReadiness)
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_sdk_error("ListInsights", target, e))?;
        let mut out = Vec::new();
        for s in summaries {
            let status = s.insight_status().and_then(|i| i.status());
            let severity = match status {
                Some(InsightStatusValue::Error) if moves_control_plane => Severity::Blocker,
                Some(InsightStatusValue::Error | InsightStatusValue::Warning) => Severity::Warning,
                Some(InsightStatusValue::UnknownValue) => Severity::Info,
                _ => continue,
            };
            let name = s.name().unwrap_or("unnamed insight");
            let mut message = format!(
                "EKS insight '{name}' is {}",
                status.map_or("UNKNOWN", |v| v.as_str())
            );
            if let Some(v) = s.kubernetes_version() {
                message.push_str(&format!(" for {v}"));
            }
            if let Some(reason) = s.insight_status().and_then(|i| i.reason()) {
                message.push_str(&format!(": {reason}"));
            }
            let mut details = Vec::new();
            if let Some(id) = s.id() {
                // The details (recommendation, affected resources) only come with DescribeInsight.
                match self
                    .client
                    .describe_insight()
                    .cluster_name(&self.cluster)
                    .id(id)
                    .send()
                    .await
                {
                    Ok(d) => {
                        if let Some(insight) = d.insight() {
                            if let Some(summary) = insight.category_specific_summary() {
                                details = summary.deprecation_details().to_vec();
                            }
                            if let Some(r) = insight.recommendation() {
                                message.push_str(&format!(". Recommendation: {r}"));
                            }
                            let resources: Vec<&str> = insight
                                .resources()
                                .iter()
                                .filter_map(|r| r.kubernetes_resource_uri().or(r.arn()))
                                .collect();
                            if !resources.is_empty() {
                                let shown: Vec<&str> = resources.iter().take(5).copied().collect();
                                message.push_str(&format!(
                                    ". Affected: {}{}",
                                    shown.join(", "),
                                    if resources.len() > 5 {
                                        format!(" and {} more", resources.len() - 5)
                                    } else {
                                        String::new()
                                    }
                                ));
                            }
                        }
                    }
                    Err(e) => {
                        let e = map_sdk_error("DescribeInsight", target, e);
                        tracing::debug!(%e, "insight details unavailable");
                    }
                }
            }
            if severity == Severity::Blocker {
                message.push_str(
                    " (pass the check or fix it before upgrading; EKS may refuse with InvalidStateException)",
                );
            }
            let hop = s.kubernetes_version().and_then(|v| KubeVersion::parse(v).ok());
            let apis: Vec<(DeprecatedApi, String)> = details.iter().filter_map(deprecated_api).collect();
            if apis.is_empty() {
                out.push(Finding {
                    id: INSIGHTS_CHECK_ID.into(),
                    severity,
                    message: message.replace('\n', " "),
                    subject: Subject::new("Cluster", &self.cluster),
                    hop: hop.clone(),
                    api: None,
                    hint: None,
                });
            }
            // One finding per deprecated API, keyed, so the cluster's own report of the same
            // use absorbs it.
            for (api, clients) in apis {
                out.push(Finding {
                    id: INSIGHTS_CHECK_ID.into(),
                    severity,
                    message: format!(
                        "EKS insight '{name}' ({}) reports {api} in use{clients}",
                        status.map_or("UNKNOWN", |v| v.as_str())
                    ),
                    subject: Subject::new("Cluster", &self.cluster),
                    hop: hop.clone(),
                    api: Some(api),
                    hint: None,
                });
            }
        }
        Ok(out)
    }
}

/// A deprecation detail's API (`usage` is the request path, `stopServingVersion` the removal)
/// and who called it, as `"; replaced by X; clients: ua (n requests in 30 days)"`.
fn deprecated_api(detail: &DeprecationDetail) -> Option<(DeprecatedApi, String)> {
    let removed_in = detail
        .stop_serving_version()
        .and_then(|v| KubeVersion::parse(v).ok());
    let api = DeprecatedApi::from_path(detail.usage()?, removed_in)?;
    let mut text = String::new();
    if let Some(r) = detail.replaced_with() {
        text.push_str(&format!("; replaced by {r}"));
    }
    let clients: Vec<String> = detail
        .client_stats()
        .iter()
        .take(3)
        .map(|c| {
            let last = c
                .last_request_time()
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                .map(|t| format!(", last {t}"))
                .unwrap_or_default();
            format!(
                "{} ({} requests in 30 days{last})",
                c.user_agent().unwrap_or("unknown client"),
                c.number_of_requests_last30_days()
            )
        })
        .collect();
    if !clients.is_empty() {
        let more = detail.client_stats().len().saturating_sub(3);
        text.push_str(&format!("; clients: {}", clients.join(", ")));
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
    }
    Some((api, text))
}

#[async_trait]
impl Check for EksInsightsCheck {
    fn id(&self) -> &'static str {
        INSIGHTS_CHECK_ID
    }

    fn description(&self) -> &'static str {
        "EKS upgrade insights: ERROR blocks the next minor, WARNING is reported"
    }

    async fn run(&self, ctx: &CheckContext<'_>) -> Result<Vec<Finding>> {
        let moves_control_plane = !ctx.plan.hops().is_empty();
        match self.findings(moves_control_plane).await {
            Ok(found) => Ok(found),
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => Ok(vec![Finding {
                id: INSIGHTS_CHECK_ID.into(),
                severity: Severity::Warning,
                message: format!("could not read EKS upgrade insights ({e}); check them in the EKS console"),
                subject: Subject::new("Cluster", &self.cluster),
                hop: None,
                api: None,
                hint: None,
            }]),
        }
    }
}
