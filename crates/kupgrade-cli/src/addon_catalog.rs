//! The add-on catalog a command uses: the embedded one, extended or overridden by `--addons FILE`.

use std::path::Path;
use std::sync::Arc;

use kupgrade_core::AddonCatalog;

/// The embedded catalog, with `file`'s entries added (an entry of the same name replaces the
/// embedded one). A file that does not read or does not follow the schema is a one-line error
/// naming it and the entry.
pub fn load(file: Option<&Path>) -> anyhow::Result<Arc<AddonCatalog>> {
    let embedded = AddonCatalog::embedded();
    let Some(path) = file else {
        return Ok(Arc::new(embedded));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the add-on catalog {}: {e}", path.display()))?;
    let user = AddonCatalog::from_yaml(&text, &path.display().to_string())?;
    Ok(Arc::new(embedded.with(user)))
}
