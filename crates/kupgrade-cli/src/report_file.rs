//! `--report FILE`: Markdown, or JUnit XML when the file name ends in `.xml`.

use std::path::Path;

use anyhow::Context;

/// Writes the report the file name asks for.
pub fn write(
    path: &Path,
    markdown: impl FnOnce() -> String,
    junit: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let text = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xml")) {
        junit()
    } else {
        markdown()
    };
    std::fs::write(path, text).with_context(|| format!("cannot write report {}", path.display()))?;
    eprintln!("report written to {}", path.display());
    Ok(())
}
