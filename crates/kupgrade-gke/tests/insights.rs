//! GKE deprecation insights (`KUP-GKE-INSIGHT-001`) through the Recommender API, with
//! `google-cloud-recommender-v1`'s own `stub::Recommender` standing in for the service.

use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, Status};
use google_cloud_gax::options::RequestOptions;
use google_cloud_gax::response::Response;
use google_cloud_recommender_v1::client::Recommender;
use google_cloud_recommender_v1::model::{Insight, ListInsightsRequest, ListInsightsResponse};
use google_cloud_recommender_v1::stub;
use kupgrade_core::checks::CheckInputs;
use kupgrade_core::{
    Calendar, CheckRegistry, ClusterSnapshot, DeprecatedApi, KubeVersion, NodePool, Offer, PlanOptions,
    Provider, Severity, Strategy, plan_with,
};
use kupgrade_gke::GkeDeprecationInsightsCheck;
use serde_json::json;

const PARENT: &str = "projects/p/locations/europe-west1/insightTypes/google.container.DiagnosisInsight";
const CLUSTER: &str = "//container.googleapis.com/projects/p/locations/europe-west1/clusters/prod";

fn insight(id: &str, subtype: &str, target: &str, content: serde_json::Value) -> Insight {
    let serde_json::Value::Object(content) = content else {
        panic!("content is an object")
    };
    Insight::new()
        .set_name(format!("{PARENT}/insights/{id}"))
        .set_description("Kubernetes API deprecations detected")
        .set_insight_subtype(subtype)
        .set_target_resources([target])
        .set_content(content)
}

/// Two pages: this cluster's 1.32 removals (paths with their callers) and a certificate
/// insight; another cluster's insight; then this cluster's 1.33 removal without paths.
#[derive(Debug)]
struct Insights;

impl stub::Recommender for Insights {
    async fn list_insights(
        &self,
        req: ListInsightsRequest,
        _: RequestOptions,
    ) -> google_cloud_gax::Result<Response<ListInsightsResponse>> {
        assert_eq!(req.parent, PARENT);
        assert_eq!(req.filter, "stateInfo.state = ACTIVE");
        let page = if req.page_token.is_empty() {
            ListInsightsResponse::new()
                .set_insights([
                    insight(
                        "a",
                        "DEPRECATION_K8S_1_32_API",
                        CLUSTER,
                        json!({"apiUsage": [
                            {"api": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas", "userAgent": "helm/3.14", "totalCalls": 42},
                            {"api": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/prioritylevelconfigurations", "userAgent": "kubectl/1.29"}
                        ]}),
                    ),
                    insight("b", "DEPRECATION_K8S_SHA_1_CERTIFICATE", CLUSTER, json!({})),
                    insight(
                        "c",
                        "DEPRECATION_K8S_1_32_API",
                        "//container.googleapis.com/projects/p/locations/europe-west1/clusters/other",
                        json!({"api": "/apis/batch/v1beta1/cronjobs"}),
                    ),
                ])
                .set_next_page_token("2")
        } else {
            ListInsightsResponse::new().set_insights([insight(
                "d",
                "DEPRECATION_K8S_1_33_API",
                CLUSTER,
                json!({}),
            )])
        };
        Ok(Response::from(page))
    }
}

/// The Recommender API is not enabled in the project.
#[derive(Debug)]
struct Disabled;

impl stub::Recommender for Disabled {
    async fn list_insights(
        &self,
        _: ListInsightsRequest,
        _: RequestOptions,
    ) -> google_cloud_gax::Result<Response<ListInsightsResponse>> {
        Err(GaxError::service(
            Status::default()
                .set_code(Code::PermissionDenied)
                .set_message("Recommender API has not been used in project p before or it is disabled."),
        ))
    }
}

fn snapshot() -> ClusterSnapshot {
    ClusterSnapshot {
        provider: Provider::Gke,
        name: "prod".into(),
        control_plane: KubeVersion::new(1, 30),
        status: Default::default(),
        node_pools: vec![NodePool::new("default-pool", KubeVersion::new(1, 30), 3)],
        auto_upgrade: None,
        id: None,
    }
}

async fn findings(client: Recommender, to: u32) -> Vec<kupgrade_core::Finding> {
    let snapshot = snapshot();
    let plan = plan_with(
        &snapshot,
        &KubeVersion::new(1, to),
        &PlanOptions::new(Provider::Gke, Strategy::InPlace),
    )
    .unwrap();
    let mut registry = CheckRegistry::empty();
    registry.register(GkeDeprecationInsightsCheck::new(
        Ok(client),
        "p",
        "europe-west1",
        "prod",
    ));
    let calendar = Calendar::embedded(Provider::Gke);
    let inputs = CheckInputs {
        snapshot: &snapshot,
        calendar: &calendar,
        today: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        workloads: None,
        in_flight: &[],
        force_drain: false,
        offer: Offer::NotRead,
        allow_preview: false,
    };
    registry.run(&plan, &inputs).await.unwrap()
}

#[tokio::test]
async fn removals_a_hop_makes_block_and_name_the_api_and_its_callers() {
    let found = findings(Recommender::from_stub(Insights), 32).await;
    assert_eq!(found.len(), 3, "{found:#?}");
    let blockers: Vec<_> = found.iter().filter(|f| f.severity == Severity::Blocker).collect();
    assert_eq!(
        blockers.len(),
        2,
        "this cluster's 1.32 insight, per API: {found:#?}"
    );
    let flowschemas = blockers[0];
    assert_eq!(flowschemas.severity, Severity::Blocker);
    assert_eq!(flowschemas.id, "KUP-GKE-INSIGHT-001");
    assert_eq!(
        flowschemas.api,
        Some(DeprecatedApi::new(
            "flowcontrol.apiserver.k8s.io",
            "v1beta3",
            "flowschemas",
            Some(KubeVersion::new(1, 32))
        ))
    );
    assert_eq!(
        flowschemas.message,
        "GKE deprecation insight DEPRECATION_K8S_1_32_API (a) reports calls to \
         flowcontrol.apiserver.k8s.io/v1beta3/flowschemas (removed in 1.32) (totalCalls: 42; \
         userAgent: helm/3.14); the 1.32 API server rejects these calls, and GKE pauses automatic \
         upgrades to 1.32 while they go on"
    );
    assert!(
        blockers[1].message.contains("prioritylevelconfigurations"),
        "{}",
        blockers[1].message
    );
    let later: Vec<_> = found.iter().filter(|f| f.severity == Severity::Warning).collect();
    assert!(
        later[0]
            .message
            .contains("removed in 1.33, after this plan's target"),
        "{}",
        later[0].message
    );
}

#[tokio::test]
async fn later_removals_warn_and_an_insight_without_paths_is_reported_whole() {
    let found = findings(Recommender::from_stub(Insights), 31).await;
    assert!(
        found.iter().all(|f| f.severity == Severity::Warning),
        "{found:#?}"
    );
    let found = findings(Recommender::from_stub(Insights), 33).await;
    let whole: Vec<_> = found.iter().filter(|f| f.api.is_none()).collect();
    assert_eq!(whole.len(), 1, "{found:#?}");
    assert_eq!(whole[0].severity, Severity::Blocker);
    assert!(
        whole[0]
            .message
            .contains("reports calls to APIs removed in 1.33: Kubernetes API deprecations detected"),
        "{}",
        whole[0].message
    );
}

#[tokio::test]
async fn an_unreadable_service_is_a_warning_that_says_what_is_needed() {
    let found = findings(Recommender::from_stub(Disabled), 32).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0]
            .message
            .starts_with("could not read GKE deprecation insights")
            && found[0].message.contains("Recommender API enabled")
            && found[0].message.contains("roles/recommender.viewer"),
        "{}",
        found[0].message
    );
}
