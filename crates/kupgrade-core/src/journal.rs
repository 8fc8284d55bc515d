//! The run journal: which step of which plan is done, written atomically and synced after
//! every change, so a rerun after a crash continues where it stopped.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cluster::{ClusterSnapshot, OperationId};
use crate::error::{Error, Result};
use crate::plan::{Step, Strategy, UpgradePlan};
use crate::version::KubeVersion;

/// Why a journal cannot be resumed by this run (see [`Journal::check_resumable`]): one line,
/// naming the difference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JournalMismatch(pub String);

/// The file name of a cluster's default journal: `PROVIDER-NAME[-ID HASH].json`; the hash of
/// the provider's id for the cluster keeps two clusters of one name (other regions, accounts)
/// apart.
pub fn default_file_name(snapshot: &ClusterSnapshot) -> String {
    let name: String = snapshot
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match &snapshot.id {
        Some(id) => {
            // FNV-1a: stable across runs and platforms.
            let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            format!("{}-{name}-{:08x}.json", snapshot.provider, hash as u32)
        }
        None => format!("{}-{name}.json", snapshot.provider),
    }
}

/// Where one step stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
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

/// The choices a run was planned and started with beyond the target and strategy (which the
/// plan itself records). A journal keeps them so that a rerun asking for something else is
/// refused with the difference named, instead of silently repeating the recorded plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunOptions {
    /// How many minors nodes may lag the control plane, when the user overrode the provider's
    /// rule.
    pub lag_limit: Option<u32>,
    /// The canary pool the user named, if any.
    pub canary_pool: Option<String>,
    /// Whether canary rounds start on a new one-node pool.
    pub canary_new_pool: bool,
    /// Whether drains delete pods past their PodDisruptionBudgets after the timeout.
    pub force_drain: bool,
    /// The most node pools moved at once, when the user set it.
    #[serde(default)]
    pub max_parallel_pools: Option<usize>,
}

impl RunOptions {
    /// Overrides the node lag limit.
    pub fn with_lag_limit(mut self, lag_limit: Option<u32>) -> Self {
        self.lag_limit = lag_limit;
        self
    }

    /// Names the canary pool.
    pub fn with_canary_pool(mut self, canary_pool: Option<String>) -> Self {
        self.canary_pool = canary_pool;
        self
    }

    /// Starts canary rounds on a new one-node pool.
    pub fn with_canary_new_pool(mut self, canary_new_pool: bool) -> Self {
        self.canary_new_pool = canary_new_pool;
        self
    }

    /// Moves at most `n` node pools at once.
    pub fn with_max_parallel_pools(mut self, n: Option<usize>) -> Self {
        self.max_parallel_pools = n;
        self
    }

    /// Forces drains past PodDisruptionBudgets.
    pub fn with_force_drain(mut self, force_drain: bool) -> Self {
        self.force_drain = force_drain;
        self
    }

    /// The first option that differs from `other`, as `(name, recorded, asked)`.
    fn difference(&self, other: &RunOptions) -> Option<(&'static str, String, String)> {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        let lag = |v: &Option<u32>| v.map_or_else(|| "the provider's rule".into(), |n| n.to_string());
        if self.lag_limit != other.lag_limit {
            return Some(("lag limit", lag(&self.lag_limit), lag(&other.lag_limit)));
        }
        if self.canary_pool != other.canary_pool {
            return Some(("canary pool", show(&self.canary_pool), show(&other.canary_pool)));
        }
        if self.canary_new_pool != other.canary_new_pool {
            return Some((
                "canary new pool",
                self.canary_new_pool.to_string(),
                other.canary_new_pool.to_string(),
            ));
        }
        if self.max_parallel_pools != other.max_parallel_pools {
            let limit =
                |v: &Option<usize>| v.map_or_else(|| "the strategy's default".into(), |n| n.to_string());
            return Some((
                "max parallel pools",
                limit(&self.max_parallel_pools),
                limit(&other.max_parallel_pools),
            ));
        }
        if self.force_drain != other.force_drain {
            return Some((
                "force drain",
                self.force_drain.to_string(),
                other.force_drain.to_string(),
            ));
        }
        None
    }
}

/// The current file format. Format 1 journals (no cluster id, no options) still load; their
/// options are not compared.
pub const JOURNAL_FORMAT: u32 = 2;

/// The whole journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The file format version.
    pub format: u32,
    /// An id for this run; idempotency tokens derive from it.
    pub run_id: String,
    /// The provider's id of the cluster the plan was made for (see [`ClusterSnapshot::id`]).
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The choices the plan was made with.
    #[serde(default)]
    pub options: RunOptions,
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
            format: JOURNAL_FORMAT,
            run_id,
            cluster_id: None,
            options: RunOptions::default(),
            plan,
            steps,
        }
    }

    /// A fresh journal for `plan`, bound to the cluster as read (`snapshot`) and to the
    /// options the plan was made with.
    pub fn for_cluster(plan: UpgradePlan, snapshot: &ClusterSnapshot, options: RunOptions) -> Self {
        Self {
            cluster_id: snapshot.id.clone(),
            options,
            ..Self::new(plan)
        }
    }

    /// Whether this journal may be resumed by a run on `snapshot` (the cluster as read now)
    /// asking for `target`, `strategy` and `options`. The error names the first difference:
    /// another cluster (name or provider id), another target, strategy or option, or a step the
    /// journal records as done that the cluster contradicts (it was restored or changed since).
    pub fn check_resumable(
        &self,
        snapshot: &ClusterSnapshot,
        target: &KubeVersion,
        strategy: Strategy,
        options: &RunOptions,
    ) -> std::result::Result<(), JournalMismatch> {
        let plan = &self.plan;
        if plan.cluster != snapshot.name || plan.provider != snapshot.provider {
            return Err(JournalMismatch(format!(
                "it is for {} cluster {}, this run is for {} cluster {}",
                plan.provider, plan.cluster, snapshot.provider, snapshot.name
            )));
        }
        if let (Some(recorded), Some(now)) = (&self.cluster_id, &snapshot.id)
            && recorded != now
        {
            return Err(JournalMismatch(format!(
                "it is for cluster {} with id {recorded}, but the cluster of that name now has id {now} (recreated, or another cluster)",
                plan.cluster
            )));
        }
        if plan.target.minor_version() != target.minor_version() {
            return Err(JournalMismatch(format!(
                "it was planned with target {}, this run asks for {}",
                plan.target,
                target.minor_version()
            )));
        }
        if plan.strategy != strategy {
            return Err(JournalMismatch(format!(
                "it was planned with strategy {}, this run asks for {strategy}",
                plan.strategy
            )));
        }
        if self.format >= 2
            && let Some((name, recorded, asked)) = self.options.difference(options)
        {
            return Err(JournalMismatch(format!(
                "it was planned with {name} {recorded}, this run asks for {asked}"
            )));
        }
        if let Some(contradiction) = self.contradiction(snapshot) {
            return Err(JournalMismatch(contradiction));
        }
        Ok(())
    }

    /// A step recorded as finished that the cluster as read now contradicts, described.
    fn contradiction(&self, snapshot: &ClusterSnapshot) -> Option<String> {
        let steps = &self.plan.steps;
        let finished = |i: usize| matches!(self.steps[i].status, StepStatus::Done | StepStatus::Skipped);
        // A pool a later finished step deletes (blue/green, canary copies) may be gone.
        let deleted_later = |i: usize, pool: &str| {
            steps.iter().enumerate().skip(i + 1).any(|(j, s)| {
                matches!(s, Step::DeleteNodePool { node_pool, .. } if node_pool == pool) && finished(j)
            })
        };
        let found = |pool: &str| {
            snapshot.pool(pool).map_or_else(
                || "no such pool".to_string(),
                |p| format!("{pool} at {}", p.version),
            )
        };
        for (i, step) in steps.iter().enumerate() {
            if !finished(i) {
                continue;
            }
            let wrong = match step {
                Step::UpgradeControlPlane { to, .. } => (snapshot.control_plane.minor() < to.minor())
                    .then(|| format!("control plane at {}", snapshot.control_plane)),
                Step::UpgradeNodePool { node_pool, to, .. } => match snapshot.pool(node_pool) {
                    Some(p) => (p.version.minor() < to.minor()).then(|| found(node_pool)),
                    None => (!deleted_later(i, node_pool)).then(|| found(node_pool)),
                },
                Step::CreateNodePool { node_pool, .. } => (snapshot.pool(node_pool).is_none()
                    && !deleted_later(i, node_pool))
                .then(|| found(node_pool)),
                Step::DeleteNodePool { node_pool, .. } => snapshot
                    .pool(node_pool)
                    .map(|p| format!("{node_pool} still exists at {}", p.version)),
                _ => None,
            };
            if let Some(wrong) = wrong {
                return Some(format!(
                    "it records step {} ({}) as done, but cluster {} reads {wrong}: the cluster was changed or restored since",
                    i + 1,
                    step.describe(),
                    snapshot.name
                ));
            }
        }
        None
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

/// Where an upgrade's journal lives between runs: a file (the CLI), or anything an embedder
/// keeps durable state in (the operator keeps it in a Kubernetes resource's status).
///
/// The executor saves after every change and waits for the save before it goes on, so a step
/// is recorded as started (with its request token) before its provider call, and a crash at
/// any point leaves a journal a rerun resumes exactly. Saves of one run never overlap.
#[async_trait::async_trait]
pub trait JournalStore: Send + Sync + std::fmt::Debug {
    /// The journal saved last, or `None` when there is none.
    async fn load(&self) -> Result<Option<Journal>>;
    /// Replaces the saved journal with `journal`; durable when this returns.
    async fn save(&self, journal: &Journal) -> Result<()>;
    /// Forgets the journal (after a run verified at its target).
    async fn remove(&self) -> Result<()>;
}

/// A journal file, written atomically ([`Journal::save`]).
#[derive(Debug, Clone)]
pub struct FileJournal(pub PathBuf);

#[async_trait::async_trait]
impl JournalStore for FileJournal {
    async fn load(&self) -> Result<Option<Journal>> {
        Journal::load(&self.0)
    }

    async fn save(&self, journal: &Journal) -> Result<()> {
        journal.save(&self.0)
    }

    async fn remove(&self) -> Result<()> {
        match std::fs::remove_file(&self.0) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&self.0, e)),
        }
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new content. A
/// symlink is followed (its target is replaced, the link stays) and an existing file keeps
/// its permissions.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let path = match std::fs::canonicalize(path) {
        Ok(real) if path.is_symlink() => real,
        _ => path.to_path_buf(),
    };
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
    if let Ok(meta) = std::fs::metadata(&path) {
        file.set_permissions(meta.permissions())
            .map_err(|e| Error::io(&tmp, e))?;
    }
    file.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    file.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
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
            id: None,
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

    fn snapshot(cp: u32, pool: u32, id: Option<&str>) -> ClusterSnapshot {
        ClusterSnapshot {
            provider: Provider::Eks,
            name: "c".into(),
            control_plane: KubeVersion::new(1, cp),
            status: Default::default(),
            node_pools: vec![NodePool::new("a", KubeVersion::new(1, pool), 2)],
            auto_upgrade: None,
            id: id.map(str::to_string),
        }
    }

    fn resumable(j: &Journal, snap: &ClusterSnapshot, options: &RunOptions) -> String {
        j.check_resumable(snap, &KubeVersion::new(1, 31), Strategy::InPlace, options)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn resume_is_refused_for_another_cluster_option_or_a_contradicted_step() {
        let arn = "arn:aws:eks:eu-west-1:1:cluster/c";
        let opts = RunOptions::default();
        let j = Journal::for_cluster(sample(), &snapshot(30, 30, Some(arn)), opts.clone());
        assert_eq!(resumable(&j, &snapshot(30, 30, Some(arn)), &opts), "");
        let other = resumable(
            &j,
            &snapshot(30, 30, Some("arn:aws:eks:eu-west-1:1:cluster/c2")),
            &opts,
        );
        assert!(
            other.contains("now has id arn:aws:eks:eu-west-1:1:cluster/c2"),
            "{other}"
        );
        let lag = resumable(
            &j,
            &snapshot(30, 30, Some(arn)),
            &opts.clone().with_lag_limit(Some(0)),
        );
        assert_eq!(
            lag,
            "it was planned with lag limit the provider's rule, this run asks for 0"
        );
        let target = j
            .check_resumable(
                &snapshot(30, 30, None),
                &KubeVersion::new(1, 32),
                Strategy::InPlace,
                &opts,
            )
            .unwrap_err()
            .to_string();
        assert!(
            target.contains("planned with target 1.31, this run asks for 1.32"),
            "{target}"
        );

        // The journal says the control plane reached 1.31; the cluster reads 1.30 (restored).
        let mut done = j.clone();
        done.steps[0].status = StepStatus::Done;
        let restored = resumable(&done, &snapshot(30, 30, Some(arn)), &opts);
        assert!(
            restored.contains("records step 1 (upgrade control plane 1.30 -> 1.31) as done, but cluster c reads control plane at 1.30"),
            "{restored}"
        );
        assert_eq!(resumable(&done, &snapshot(31, 30, Some(arn)), &opts), "");
    }

    #[test]
    fn format_1_journals_load_without_options() {
        let mut v1 = serde_json::to_value(Journal::new(sample())).unwrap();
        let obj = v1.as_object_mut().unwrap();
        obj.remove("cluster_id");
        obj.remove("options");
        obj.insert("format".into(), 1.into());
        let j: Journal = serde_json::from_value(v1).unwrap();
        let forced = RunOptions::default().with_force_drain(true);
        assert_eq!(resumable(&j, &snapshot(30, 30, None), &forced), "");
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_a_symlink_and_keeps_the_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(link.is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
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
