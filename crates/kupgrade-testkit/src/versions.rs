//! Versions from strings, for tests.

use kupgrade_core::KubeVersion;

/// The version `text` (`"1.31"`, `"v1.31.2-eks-1"`); panics when it is not one.
pub fn v(text: &str) -> KubeVersion {
    KubeVersion::parse(text).unwrap_or_else(|e| panic!("test version {text:?}: {e}"))
}
