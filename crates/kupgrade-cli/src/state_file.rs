//! Reading cluster state files (YAML or JSON).

use std::path::Path;

use anyhow::Context;
use kupgrade_core::ClusterSnapshot;

/// Reads a state file: `provider`, `name`, `control_plane`, `node_pools: [{name, version, nodes}]`.
pub fn read(path: &Path) -> anyhow::Result<ClusterSnapshot> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read state file {}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    } else {
        serde_norway::from_str(&text).map_err(anyhow::Error::from)
    };
    parsed.with_context(|| format!("state file {} is not a valid cluster state", path.display()))
}
