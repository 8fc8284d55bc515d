//! The run journal: which step of which plan is done, written atomically and synced after
//! every change, so a rerun after a crash continues where it stopped.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cluster::OperationId;
use crate::error::{Error, Result};
use crate::plan::UpgradePlan;

/// Where one step stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Started; may have an operation running.
    Started,
    /// Finished.
    Done,
    /// Found already done.
    Skipped,
    /// Failed; a rerun tries it again.
    Failed,
    /// Undone after a failed gate.
    RolledBack,
}

/// One step's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Where it stands.
    pub status: StepStatus,
    /// The operation it started, once started.
    pub operation: Option<OperationId>,
    /// The last error, if it failed.
    pub error: Option<String>,
    /// How many attempts failed; part of the idempotency token so a retry after a failure
    /// starts a new operation while a resume after a crash does not.
    #[serde(default)]
    pub failed_attempts: u32,
}

/// The whole journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The file format version.
    pub format: u32,
    /// An id for this run; idempotency tokens derive from it.
    pub run_id: String,
    /// The plan being run. A resumed run uses this plan, not a new one.
    pub plan: UpgradePlan,
    /// One record per step.
    pub steps: Vec<StepRecord>,
}

impl Journal {
    /// A fresh journal for `plan`.
    pub fn new(plan: UpgradePlan) -> Self {
        let run_id = format!("kup-{:016x}", fingerprint(&plan));
        let steps = plan
            .steps
            .iter()
            .map(|_| StepRecord {
                status: StepStatus::Pending,
                operation: None,
                error: None,
                failed_attempts: 0,
            })
            .collect();
        Self {
            format: 1,
            run_id,
            plan,
            steps,
        }
    }

    /// The idempotency token of step `index`.
    pub fn token(&self, index: usize) -> crate::cluster::RequestToken {
        let attempt = self.steps.get(index).map_or(0, |s| s.failed_attempts);
        crate::cluster::RequestToken(format!("{}-{index}-{attempt}", self.run_id))
    }

    /// Whether every step is done or skipped.
    pub fn is_complete(&self) -> bool {
        self.steps
            .iter()
            .all(|s| matches!(s.status, StepStatus::Done | StepStatus::Skipped))
    }

    /// Reads a journal; `Ok(None)` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Journal(format!("{} is not a kupgrade journal: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Writes the journal atomically: a synced temporary file renamed over the old one, then
    /// the directory synced.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Journal(e.to_string()))?;
        write_atomically(path, &bytes)
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new content.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    file.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// FNV-1a over the plan's JSON: stable across processes and Rust versions.
fn fingerprint(plan: &UpgradePlan) -> u64 {
    let bytes = serde_json::to_vec(plan).unwrap_or_default();
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterSnapshot, KubeVersion, NodePool, Provider, SkewPolicy, Strategy, plan};

    fn sample() -> UpgradePlan {
        let s = ClusterSnapshot {
            provider: Provider::Eks,
            name: "c".into(),
            control_plane: KubeVersion::new(1, 30),
            status: Default::default(),
            node_pools: vec![NodePool::new("a", KubeVersion::new(1, 30), 2)],
            auto_upgrade: None,
        };
        plan(
            &s,
            &KubeVersion::new(1, 31),
            &SkewPolicy::upstream(),
            Strategy::InPlace,
        )
        .unwrap()
    }

    #[test]
    fn round_trips_atomically_and_tokens_are_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.json");
        assert_eq!(Journal::load(&path).unwrap(), None);
        let mut j = Journal::new(sample());
        j.steps[0].status = StepStatus::Done;
        j.save(&path).unwrap();
        let back = Journal::load(&path).unwrap().unwrap();
        assert_eq!(back, j);
        assert_eq!(Journal::new(sample()).token(1), j.token(1));
        assert!(!dir.path().join(".j.json.tmp").exists());
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = Journal::load(&path).unwrap_err().to_string();
        assert!(err.contains("is not a kupgrade journal"), "{err}");
    }
}
