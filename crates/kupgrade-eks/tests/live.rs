//! Read-only checks against a real EKS cluster. Never in CI:
//!
//! ```text
//! KUPGRADE_EKS_LIVE_CLUSTER=my-cluster AWS_PROFILE=... AWS_REGION=... \
//!     cargo test -p kupgrade-eks --test live -- --ignored
//! ```

use kupgrade_core::ManagedCluster;
use kupgrade_eks::EksClusterBuilder;

#[tokio::test]
#[ignore = "needs AWS account"]
async fn reads_a_real_cluster_without_changing_it() {
    let Ok(name) = std::env::var("KUPGRADE_EKS_LIVE_CLUSTER") else {
        panic!(
            "set KUPGRADE_EKS_LIVE_CLUSTER to the name of an EKS cluster (plus AWS credentials and region)"
        );
    };
    let eks = EksClusterBuilder::from_env()
        .with_cluster(&name)
        .build()
        .await
        .unwrap();
    let snapshot = eks.describe().await.unwrap();
    assert_eq!(snapshot.name, name);
    let offered = eks.offered_versions().await.unwrap();
    assert!(
        offered
            .iter()
            .any(|o| o.version.same_minor(&snapshot.control_plane)),
        "{offered:?}"
    );
    assert!(
        offered.iter().all(|o| o.support.is_some()),
        "EKS publishes support dates: {offered:?}"
    );
    eks.operations_in_flight().await.unwrap();
    eks.insights_check().findings(true).await.unwrap();
}
