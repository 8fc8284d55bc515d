//! Fleets: many clusters, any provider, upgraded in ordered waves (dev, then staging, then
//! production) with per-wave concurrency, a gate after each wave and a soak between waves.
//! A failure halts the rollout; every cluster has its own journal, and a fleet journal records
//! finished waves, so a rerun after a crash continues where it stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::checks::CheckRegistry;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::executor::{ExecutorConfig, RunResult};
use crate::journal::write_atomically;
use crate::lock::FileLock;
use crate::managed::ManagedCluster;
use crate::plan::{Strategy, UpgradePlan, plan_with};
use crate::session::{PrepareOptions, Upgrade};
use crate::version::KubeVersion;
use crate::workloads::ClusterWorkloads;

/// A fleet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    /// The fleet's name.
    pub name: String,
    /// The default target for every cluster.
    #[serde(default)]
    pub to: Option<KubeVersion>,
    /// The default strategy.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// The waves, in order.
    pub waves: Vec<WaveSpec>,
}

/// One wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveSpec {
    /// Its name (`dev`, `staging`, `prod`).
    pub name: String,
    /// How many of its clusters upgrade at once.
    #[serde(default = "one")]
    pub concurrency: usize,
    /// How long to wait after this wave passes its gate before the next wave starts.
    #[serde(default)]
    pub soak_minutes: u64,
    /// Its clusters.
    pub clusters: Vec<FleetCluster>,
}

fn one() -> usize {
    1
}

/// One cluster of a fleet: a name, a provider, and the provider's settings (the same names as
/// the CLI flags, e.g. `sim_state`, `region`, `project`, `resource_group`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetCluster {
    /// A name unique in the fleet (also its journal file's name).
    pub name: String,
    /// `sim`, `eks`, `aks` or `gke`.
    pub provider: String,
    /// Its target (defaults to the fleet's).
    #[serde(default)]
    pub to: Option<KubeVersion>,
    /// Its strategy (defaults to the fleet's, then in-place).
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Provider settings (checked against [`PROVIDER_SETTINGS`] by [`FleetSpec::validate`]).
    #[serde(flatten)]
    pub settings: BTreeMap<String, serde_json::Value>,
}

/// The settings each provider reads from a fleet entry (the CLI flags' names, with `_`).
pub const PROVIDER_SETTINGS: [(&str, &[&str]); 4] = [
    ("sim", &["sim_state"]),
    (
        "eks",
        &[
            "cluster",
            "region",
            "profile",
            "endpoint_url",
            "kubeconfig",
            "context",
        ],
    ),
    (
        "aks",
        &[
            "cluster",
            "subscription",
            "resource_group",
            "arm_endpoint",
            "no_auth",
            "kubeconfig",
            "context",
        ],
    ),
    (
        "gke",
        &[
            "cluster",
            "project",
            "location",
            "endpoint",
            "no_auth",
            "kubeconfig",
            "context",
        ],
    ),
];

/// A name usable as one path component: not empty, no separator, not `.`-led (`..`, hidden).
fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= 2.max(c.len() / 3))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb)).min(above + 1).min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

impl FleetCluster {
    /// Refuses an unknown provider or a setting its provider does not read, naming a close match.
    fn check_settings(&self) -> Result<()> {
        let providers = PROVIDER_SETTINGS.iter().map(|(p, _)| *p);
        let Some((_, known)) = PROVIDER_SETTINGS.iter().find(|(p, _)| *p == self.provider) else {
            let hint = closest(&self.provider, providers)
                .map(|p| format!(" (did you mean '{p}'?)"))
                .unwrap_or_default();
            return Err(Error::invalid_input(format!(
                "cluster '{}': unknown provider '{}'{hint}: expected sim, eks, aks or gke",
                self.name, self.provider
            )));
        };
        for key in self.settings.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let fields = ["name", "provider", "to", "strategy"];
            let hint = closest(key, known.iter().copied().chain(fields))
                .map(|k| format!("did you mean '{k}'? "))
                .unwrap_or_default();
            return Err(Error::invalid_input(format!(
                "cluster '{}': unknown key '{key}' for provider {}; {hint}known keys: {}",
                self.name,
                self.provider,
                fields
                    .iter()
                    .chain(known.iter())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }
}

impl FleetSpec {
    /// Checks names, targets and concurrency; the error names the offending cluster or wave.
    pub fn validate(&self) -> Result<()> {
        if !is_file_name(&self.name) {
            return Err(Error::invalid_input(format!(
                "fleet name '{}' cannot name a journal folder: use letters, digits, '-', '_' or '.', not a path",
                self.name
            )));
        }
        if self.waves.is_empty() {
            return Err(Error::invalid_input(format!(
                "fleet '{}' has no waves",
                self.name
            )));
        }
        let mut names = BTreeSet::new();
        let mut wave_names = BTreeSet::new();
        for wave in &self.waves {
            if !wave_names.insert(wave.name.as_str()) {
                return Err(Error::invalid_input(format!(
                    "wave '{}' is listed twice in the fleet: give each wave its own name",
                    wave.name
                )));
            }
            if wave.concurrency == 0 {
                return Err(Error::invalid_input(format!(
                    "wave '{}': concurrency must be at least 1",
                    wave.name
                )));
            }
            if wave.clusters.is_empty() {
                return Err(Error::invalid_input(format!(
                    "wave '{}' has no clusters",
                    wave.name
                )));
            }
            for c in &wave.clusters {
                if !names.insert(c.name.as_str()) {
                    return Err(Error::invalid_input(format!(
                        "cluster '{}' is listed twice in the fleet",
                        c.name
                    )));
                }
                if !is_file_name(&c.name) {
                    return Err(Error::invalid_input(format!(
                        "cluster name '{}' cannot name a journal file: use letters, digits, '-', '_' or '.', not a path",
                        c.name
                    )));
                }
                c.check_settings()?;
                let Some(target) = self.target_of(c) else {
                    return Err(Error::invalid_input(format!(
                        "cluster '{}' has no target: set `to` on it or on the fleet",
                        c.name
                    )));
                };
                crate::calendar::check_target_offered_somewhere(&target)?;
            }
        }
        Ok(())
    }

    /// The cluster's target.
    pub fn target_of(&self, cluster: &FleetCluster) -> Option<KubeVersion> {
        cluster.to.clone().or_else(|| self.to.clone())
    }

    /// The cluster's strategy.
    pub fn strategy_of(&self, cluster: &FleetCluster) -> Strategy {
        cluster.strategy.or(self.strategy).unwrap_or_default()
    }
}

/// Turns fleet entries into live clusters.
#[async_trait]
pub trait FleetConnector: Send + Sync {
    /// Connects to one cluster of the fleet.
    async fn connect(
        &self,
        cluster: &FleetCluster,
    ) -> Result<(Arc<dyn ManagedCluster>, Arc<dyn ClusterWorkloads>)>;
}

/// Progress of a fleet run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "fleet_event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FleetEvent {
    /// A wave begins.
    WaveStarted {
        /// The wave.
        wave: String,
        /// Its clusters.
        clusters: usize,
    },
    /// A wave passed its gate in an earlier run.
    WaveSkipped {
        /// The wave.
        wave: String,
    },
    /// Something happened on one cluster.
    Cluster {
        /// The wave.
        wave: String,
        /// The cluster.
        cluster: String,
        /// What (boxed: a finding is large beside the other variants).
        event: Box<Event>,
    },
    /// A cluster's run ended.
    ClusterFinished {
        /// The wave.
        wave: String,
        /// The cluster.
        cluster: String,
        /// How it ended.
        result: RunResult,
        /// Why it failed, if it did.
        error: Option<String>,
    },
    /// A wave's gate was judged.
    WaveGate {
        /// The wave.
        wave: String,
        /// Whether it passed.
        passed: bool,
        /// What failed, if anything.
        reason: Option<String>,
    },
    /// Soaking before the next wave.
    Soaking {
        /// The wave that passed.
        wave: String,
        /// How long, in seconds.
        seconds: u64,
    },
}

/// How one cluster of the fleet ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterOutcome {
    /// The cluster.
    pub cluster: String,
    /// How its run ended; `None` when it was not started.
    pub result: Option<RunResult>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Operations its run started.
    pub operations_started: u32,
    /// How long its run took, in seconds.
    pub seconds: u64,
}

/// How one wave ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaveOutcome {
    /// The wave.
    pub wave: String,
    /// `passed`, `failed`, `skipped` (done in an earlier run) or `not-started`.
    pub status: &'static str,
    /// Its clusters.
    pub clusters: Vec<ClusterOutcome>,
}

/// What a fleet run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    /// Whether every wave passed.
    pub succeeded: bool,
    /// Why the rollout halted, if it did.
    pub halted: Option<String>,
    /// Every wave.
    pub waves: Vec<WaveOutcome>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FleetJournal {
    waves_done: Vec<String>,
}

/// Runs fleets.
pub struct FleetRunner {
    connector: Arc<dyn FleetConnector>,
    journal_dir: PathBuf,
    config: ExecutorConfig,
    events: Arc<dyn Fn(&FleetEvent) + Send + Sync>,
}

impl std::fmt::Debug for FleetRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetRunner")
            .field("journal_dir", &self.journal_dir)
            .finish_non_exhaustive()
    }
}

impl FleetRunner {
    /// A runner keeping its journals in `journal_dir` (created when missing).
    pub fn new(connector: Arc<dyn FleetConnector>, journal_dir: impl Into<PathBuf>) -> Self {
        Self {
            connector,
            journal_dir: journal_dir.into(),
            config: ExecutorConfig::default(),
            events: Arc::new(|_| {}),
        }
    }

    /// Uses `config` for every cluster.
    pub fn with_config(mut self, config: ExecutorConfig) -> Self {
        self.config = config;
        self
    }

    /// Sends progress to `events`.
    pub fn with_events(mut self, events: Arc<dyn Fn(&FleetEvent) + Send + Sync>) -> Self {
        self.events = events;
        self
    }

    /// Plans every cluster without changing anything: (wave, cluster, plan or why not).
    pub async fn plan(&self, spec: &FleetSpec) -> Result<Vec<(String, String, Result<UpgradePlan>)>> {
        spec.validate()?;
        let mut out = Vec::new();
        for wave in &spec.waves {
            for c in &wave.clusters {
                let planned = async {
                    let (cluster, _) = self.connector.connect(c).await?;
                    let snapshot = cluster.describe().await?;
                    // The plan a run's session makes (add-on steps where the provider manages them).
                    let options = PrepareOptions::new(spec.strategy_of(c))
                        .plan_options(snapshot.provider)
                        .with_managed_addons(cluster.addon_updates().is_some());
                    plan_with(&snapshot, &spec.target_of(c).expect("validated"), &options)
                }
                .await;
                out.push((wave.name.clone(), c.name.clone(), planned));
            }
        }
        Ok(out)
    }

    fn journal_path(&self, cluster: &str) -> PathBuf {
        self.journal_dir.join(format!("{cluster}.journal.json"))
    }

    fn fleet_journal_path(&self) -> PathBuf {
        self.journal_dir.join("fleet.journal.json")
    }

    /// Runs the fleet wave by wave.
    pub async fn run(&self, spec: &FleetSpec) -> Result<FleetReport> {
        spec.validate()?;
        std::fs::create_dir_all(&self.journal_dir).map_err(|e| Error::io(&self.journal_dir, e))?;
        let fleet_path = self.fleet_journal_path();
        let _lock = FileLock::acquire(&fleet_path)?;
        let mut fleet_journal: FleetJournal = match std::fs::read(&fleet_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Journal(format!("{} is not a fleet journal: {e}", fleet_path.display()))
            })?,
            Err(_) => FleetJournal::default(),
        };
        let mut report = FleetReport {
            succeeded: false,
            halted: None,
            waves: Vec::new(),
        };
        for (w, wave) in spec.waves.iter().enumerate() {
            if report.halted.is_some() {
                report.waves.push(WaveOutcome {
                    wave: wave.name.clone(),
                    status: "not-started",
                    clusters: wave.clusters.iter().map(|c| not_started(&c.name)).collect(),
                });
                continue;
            }
            if fleet_journal.waves_done.contains(&wave.name) {
                (self.events)(&FleetEvent::WaveSkipped {
                    wave: wave.name.clone(),
                });
                report.waves.push(WaveOutcome {
                    wave: wave.name.clone(),
                    status: "skipped",
                    clusters: wave.clusters.iter().map(|c| not_started(&c.name)).collect(),
                });
                continue;
            }
            (self.events)(&FleetEvent::WaveStarted {
                wave: wave.name.clone(),
                clusters: wave.clusters.len(),
            });
            let outcomes = self.run_wave(spec, wave).await;
            let gate = self.gate(spec, wave, &outcomes).await;
            (self.events)(&FleetEvent::WaveGate {
                wave: wave.name.clone(),
                passed: gate.is_none(),
                reason: gate.clone(),
            });
            report.waves.push(WaveOutcome {
                wave: wave.name.clone(),
                status: if gate.is_none() { "passed" } else { "failed" },
                clusters: outcomes,
            });
            if let Some(reason) = gate {
                report.halted = Some(format!("wave '{}' failed its gate: {reason}", wave.name));
                continue;
            }
            if w + 1 < spec.waves.len() && wave.soak_minutes > 0 {
                (self.events)(&FleetEvent::Soaking {
                    wave: wave.name.clone(),
                    seconds: wave.soak_minutes * 60,
                });
                tokio::time::sleep(Duration::from_secs(wave.soak_minutes * 60)).await;
            }
            fleet_journal.waves_done.push(wave.name.clone());
            let bytes =
                serde_json::to_vec_pretty(&fleet_journal).map_err(|e| Error::Journal(e.to_string()))?;
            write_atomically(&fleet_path, &bytes)?;
        }
        report.succeeded = report.halted.is_none();
        Ok(report)
    }

    async fn run_wave(&self, spec: &FleetSpec, wave: &WaveSpec) -> Vec<ClusterOutcome> {
        let permits = Arc::new(tokio::sync::Semaphore::new(wave.concurrency));
        let halted = Arc::new(AtomicBool::new(false));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, c) in wave.clusters.iter().enumerate() {
            let (permits, halted) = (permits.clone(), halted.clone());
            let (connector, events, config) = (self.connector.clone(), self.events.clone(), self.config);
            let (spec, c, wave_name) = (spec.clone(), c.clone(), wave.name.clone());
            let journal_path = self.journal_path(&c.name);
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                if halted.load(Ordering::SeqCst) {
                    return (i, not_started(&c.name));
                }
                let outcome = run_cluster(
                    &spec,
                    &c,
                    &wave_name,
                    connector,
                    events.clone(),
                    config,
                    &journal_path,
                )
                .await;
                if outcome.result != Some(RunResult::Succeeded) {
                    halted.store(true, Ordering::SeqCst);
                }
                events(&FleetEvent::ClusterFinished {
                    wave: wave_name,
                    cluster: c.name.clone(),
                    result: outcome.result.unwrap_or(RunResult::Failed),
                    error: outcome.error.clone(),
                });
                (i, outcome)
            });
        }
        let mut outcomes: Vec<Option<ClusterOutcome>> = vec![None; wave.clusters.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, outcome)) => outcomes[i] = Some(outcome),
                // A panic in a cluster's run is a crash of the whole process, as it would be.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => tracing::error!(%e, "cluster task cancelled"),
            }
        }
        outcomes
            .into_iter()
            .zip(&wave.clusters)
            .map(|(o, c)| o.unwrap_or_else(|| not_started(&c.name)))
            .collect()
    }

    /// `None` when every cluster succeeded and passes its post checks.
    async fn gate(&self, spec: &FleetSpec, wave: &WaveSpec, outcomes: &[ClusterOutcome]) -> Option<String> {
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| o.result != Some(RunResult::Succeeded))
            .map(|o| match (&o.result, &o.error) {
                (None, _) => format!("{} (not started)", o.cluster),
                (_, Some(e)) => format!("{} ({e})", o.cluster),
                (_, None) => o.cluster.clone(),
            })
            .collect();
        if !failed.is_empty() {
            return Some(format!("clusters did not succeed: {}", failed.join("; ")));
        }
        for c in &wave.clusters {
            if let Err(problem) = self.post_check(spec, c).await {
                return Some(format!("{}: {problem}", c.name));
            }
        }
        None
    }

    async fn post_check(&self, spec: &FleetSpec, c: &FleetCluster) -> std::result::Result<(), String> {
        let target = spec.target_of(c).expect("validated");
        let (cluster, workloads) = self.connector.connect(c).await.map_err(|e| e.to_string())?;
        match Upgrade::new(cluster)
            .with_workloads(workloads)
            .verify(&target)
            .await
        {
            Ok(None) => Ok(()),
            Ok(Some(problem)) => Err(problem),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn not_started(name: &str) -> ClusterOutcome {
    ClusterOutcome {
        cluster: name.to_string(),
        result: None,
        error: None,
        operations_started: 0,
        seconds: 0,
    }
}

async fn run_cluster(
    spec: &FleetSpec,
    c: &FleetCluster,
    wave: &str,
    connector: Arc<dyn FleetConnector>,
    events: Arc<dyn Fn(&FleetEvent) + Send + Sync>,
    config: ExecutorConfig,
    journal_path: &Path,
) -> ClusterOutcome {
    let attempt = async {
        let (cluster, workloads) = connector.connect(c).await?;
        let target = spec.target_of(c).expect("validated");
        let (wave, name) = (wave.to_string(), c.name.clone());
        let sink = events.clone();
        // The fleet's gate is its waves: no pre-flight checks of its own beyond the cluster's
        // (EKS and GKE insights), which block a cluster the provider says will break.
        let session = Upgrade::new(cluster)
            .with_workloads(workloads)
            .with_checks(CheckRegistry::empty())
            .with_journal(journal_path)
            .with_config(config)
            .with_events(Arc::new(move |e: &Event| {
                sink(&FleetEvent::Cluster {
                    wave: wave.clone(),
                    cluster: name.clone(),
                    event: Box::new(e.clone()),
                })
            }));
        let options = PrepareOptions::new(spec.strategy_of(c)).with_force_drain(config.drain.force);
        let mut prepared = session.prepare(&target, &options).await.map_err(|e| match e {
            Error::JournalNotResumable { .. } => {
                Error::Journal(format!("{e}; delete it to start cluster '{}' afresh", c.name))
            }
            other => other,
        })?;
        prepared.run().await
    };
    match attempt.await {
        Ok(report) => ClusterOutcome {
            cluster: c.name.clone(),
            result: Some(report.result),
            error: report.error,
            operations_started: report.operations_started,
            seconds: report.seconds,
        },
        Err(e) => ClusterOutcome {
            cluster: c.name.clone(),
            result: Some(RunResult::Failed),
            error: Some(e.to_string()),
            operations_started: 0,
            seconds: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> FleetSpec {
        serde_json::from_value(json).unwrap()
    }

    fn error_of(json: serde_json::Value) -> String {
        spec(json).validate().unwrap_err().to_string()
    }

    fn fleet(name: &str, waves: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"name": name, "to": "1.32", "waves": waves})
    }

    fn wave(name: &str, clusters: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"name": name, "clusters": clusters})
    }

    #[test]
    fn a_well_formed_fleet_passes() {
        let ok = fleet(
            "shop",
            serde_json::json!([
                wave(
                    "dev",
                    serde_json::json!([{"name": "a", "provider": "sim", "sim_state": "a.json"}])
                ),
                wave(
                    "prod",
                    serde_json::json!([{"name": "b", "provider": "eks", "region": "eu-west-1"}])
                ),
            ]),
        );
        spec(ok).validate().unwrap();
    }

    #[test]
    fn two_waves_of_one_name_are_refused() {
        let twice = fleet(
            "shop",
            serde_json::json!([
                wave(
                    "dev",
                    serde_json::json!([{"name": "a", "provider": "sim", "sim_state": "a.json"}])
                ),
                wave(
                    "dev",
                    serde_json::json!([{"name": "b", "provider": "sim", "sim_state": "b.json"}])
                ),
            ]),
        );
        assert!(error_of(twice).contains("wave 'dev' is listed twice"));
    }

    #[test]
    fn path_like_names_are_refused() {
        let one = |fleet_name: &str, cluster: &str| {
            fleet(
                fleet_name,
                serde_json::json!([wave(
                    "dev",
                    serde_json::json!([{"name": cluster, "provider": "sim", "sim_state": "a.json"}])
                )]),
            )
        };
        for bad in ["../escape", "a/b", "..", ".hidden", "", "c:\\x"] {
            assert!(
                error_of(one(bad, "a")).starts_with("invalid input: fleet name"),
                "{bad}"
            );
            assert!(
                error_of(one("shop", bad)).contains("cannot name a journal file"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_typo_in_a_setting_names_the_close_match() {
        let typo = fleet(
            "shop",
            serde_json::json!([wave(
                "dev",
                serde_json::json!([{"name": "a", "provider": "eks", "regoin": "x"}])
            )]),
        );
        let message = error_of(typo);
        assert!(message.contains("unknown key 'regoin'"), "{message}");
        assert!(message.contains("did you mean 'region'?"), "{message}");
        let other_provider = fleet(
            "shop",
            serde_json::json!([wave(
                "dev",
                serde_json::json!([{"name": "a", "provider": "eks", "project": "p"}])
            )]),
        );
        assert!(error_of(other_provider).contains("unknown key 'project' for provider eks"));
        let provider = fleet(
            "shop",
            serde_json::json!([wave(
                "dev",
                serde_json::json!([{"name": "a", "provider": "ekss"}])
            )]),
        );
        assert!(error_of(provider).contains("did you mean 'eks'?"));
    }

    #[test]
    fn closest_ignores_distant_words() {
        assert_eq!(closest("regoin", ["region", "profile"]), Some("region"));
        assert_eq!(closest("zzzzzz", ["region", "profile"]), None);
    }
}
