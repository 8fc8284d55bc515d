//! Live tests against a real GKE cluster. Never in CI: they need a project, credentials and
//! `KUPGRADE_GKE_LIVE=1`, plus `GOOGLE_CLOUD_PROJECT`, `KUPGRADE_GKE_LOCATION` and
//! `KUPGRADE_GKE_CLUSTER`. They only read.
//!
//! ```sh
//! KUPGRADE_GKE_LIVE=1 GOOGLE_CLOUD_PROJECT=my-project KUPGRADE_GKE_LOCATION=europe-west1 \
//!   KUPGRADE_GKE_CLUSTER=prod cargo test -p kupgrade-gke --test live -- --ignored
//! ```

use kupgrade_core::ManagedCluster;
use kupgrade_gke::GkeClusterBuilder;

fn enabled() -> bool {
    std::env::var("KUPGRADE_GKE_LIVE").is_ok_and(|v| v == "1")
}

#[tokio::test]
#[ignore = "needs GCP project"]
async fn live_describe_and_offered_versions() {
    if !enabled() {
        eprintln!("skipped: set KUPGRADE_GKE_LIVE=1");
        return;
    }
    let gke = GkeClusterBuilder::from_env().build().await.unwrap();
    let snap = gke.describe().await.unwrap();
    assert!(!snap.node_pools.is_empty());
    let offered = gke.offered_versions().await.unwrap();
    assert!(!offered.is_empty());
    let in_flight = gke.operations_in_flight().await.unwrap();
    eprintln!(
        "{} at {}, {} pools, {} offered versions, {} operations running",
        snap.name,
        snap.control_plane,
        snap.node_pools.len(),
        offered.len(),
        in_flight.len()
    );
}
