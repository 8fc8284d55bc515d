//! The TLS client builds on the one crypto provider the build links (aws-lc-rs) without any
//! process-wide installation: the library installs none (the CLI chooses once at start), so an
//! embedder's process must still get a working https client. A test file of its own, so no other
//! test in the process installed a provider first.

use kupgrade_kube::KubeWorkloads;

#[tokio::test]
async fn an_https_client_builds_with_no_provider_installed() {
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "nothing installed a process-wide provider"
    );
    let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
    let workloads = KubeWorkloads::from_config(config, None);
    assert!(workloads.is_ok(), "{:?}", workloads.err());
}
