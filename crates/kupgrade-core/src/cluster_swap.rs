//! The blue/green cluster strategy: provision a green cluster at the target version, deploy
//! the workloads to it, verify it, shift traffic to it in weighted steps with a gate after each,
//! roll back by shifting back, and decommission blue only after a soak and only when asked.
//!
//! The cloud- and tool-specific parts (cloning a cluster, an Argo CD sync, DNS weights) are
//! [`ClusterSwapHooks`]; the simulator implements them, and so can a set of shell commands.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::cluster::ClusterSnapshot;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink, discard};
use crate::executor::{RunResult, StepOutcome};
use crate::journal::write_atomically;
use crate::managed::ManagedCluster;
use crate::poll::PollPolicy;
use crate::session::Upgrade;
use crate::version::KubeVersion;
use crate::workloads::ClusterWorkloads;

/// A cluster and its in-cluster side.
#[derive(Clone, Debug)]
pub struct ClusterHandle {
    /// Its name.
    pub name: String,
    /// Its control-plane and node-pool API.
    pub cluster: Arc<dyn ManagedCluster>,
    /// Its workloads.
    pub workloads: Arc<dyn ClusterWorkloads>,
}

/// What the strategy needs from the outside world.
#[async_trait]
pub trait ClusterSwapHooks: Send + Sync {
    /// The green cluster, if it exists already (a resumed run).
    async fn find_green(&self, name: &str) -> Result<Option<ClusterHandle>>;
    /// Creates green as a copy of blue's configuration at `version`.
    async fn provision_green(
        &self,
        blue: &ClusterSnapshot,
        name: &str,
        version: &KubeVersion,
    ) -> Result<ClusterHandle>;
    /// Deploys the workloads to green (e.g. `argocd app sync`); idempotent.
    async fn deploy(&self, green: &ClusterHandle) -> Result<()>;
    /// Sends `green_percent` of the traffic to green, the rest to blue; idempotent.
    async fn shift_traffic(&self, green_percent: u8) -> Result<()>;
    /// A problem seen in the traffic at the current weights (error rate, latency), if any.
    async fn traffic_problem(&self) -> Result<Option<String>>;
    /// Removes blue for good.
    async fn decommission(&self, blue: &str) -> Result<()>;
}

/// How the swap runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapOptions {
    /// The traffic weights for green, increasing, ending at 100.
    pub weights: Vec<u8>,
    /// How long each gate watches before judging.
    pub gate_soak: Duration,
    /// How long to wait with all traffic on green before blue may go.
    pub decommission_soak: Duration,
    /// Delete blue at the end (destructive; off unless the user asks).
    pub decommission_blue: bool,
    /// The green cluster's name (default: blue's name with the target appended).
    pub green_name: Option<String>,
    /// Polling for green's verification.
    pub poll: PollPolicy,
}

impl Default for SwapOptions {
    fn default() -> Self {
        Self {
            weights: vec![10, 50, 100],
            gate_soak: Duration::from_secs(5 * 60),
            decommission_soak: Duration::from_secs(60 * 60),
            decommission_blue: false,
            green_name: None,
            poll: PollPolicy {
                timeout: Duration::from_secs(30 * 60),
                ..PollPolicy::default()
            },
        }
    }
}

/// One step of a swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SwapStep {
    /// Create green at the target.
    ProvisionGreen {
        /// Green's name.
        cluster: String,
        /// Its version.
        to: KubeVersion,
    },
    /// Deploy the workloads to green.
    DeployWorkloads {
        /// Green's name.
        cluster: String,
    },
    /// Post-upgrade checks on green before it takes traffic.
    VerifyGreen {
        /// Green's name.
        cluster: String,
    },
    /// Move traffic.
    ShiftTraffic {
        /// Green's share, in percent.
        green_percent: u8,
    },
    /// Watch and judge green under its share of traffic.
    Gate {
        /// Green's share, in percent.
        green_percent: u8,
    },
    /// Wait with all traffic on green before blue may go.
    Soak {
        /// How long, in seconds.
        seconds: u64,
    },
    /// Delete blue (only with the explicit flag).
    DecommissionBlue {
        /// Blue's name.
        cluster: String,
    },
}

impl SwapStep {
    /// A one-line description.
    pub fn describe(&self) -> String {
        match self {
            SwapStep::ProvisionGreen { cluster, to } => format!("provision green cluster {cluster} at {to}"),
            SwapStep::DeployWorkloads { cluster } => format!("deploy workloads to {cluster}"),
            SwapStep::VerifyGreen { cluster } => {
                format!("verify {cluster}: versions, nodes Ready, workloads available")
            }
            SwapStep::ShiftTraffic { green_percent } => format!("shift {green_percent}% of traffic to green"),
            SwapStep::Gate { green_percent } => format!("gate: green healthy at {green_percent}% of traffic"),
            SwapStep::Soak { seconds } => format!("soak {} min with all traffic on green", seconds / 60),
            SwapStep::DecommissionBlue { cluster } => format!("decommission blue cluster {cluster}"),
        }
    }
}

/// The steps of a swap.
pub fn plan_swap(
    blue: &ClusterSnapshot,
    target: &KubeVersion,
    options: &SwapOptions,
) -> Result<Vec<SwapStep>> {
    if target.minor() <= blue.control_plane.minor() {
        return Err(Error::Downgrade {
            what: format!("blue/green cluster swap of '{}'", blue.name),
            current: blue.control_plane.to_string(),
            target: target.to_string(),
        });
    }
    let ok = !options.weights.is_empty()
        && options.weights.windows(2).all(|w| w[0] < w[1])
        && options.weights.iter().all(|w| (1..=100).contains(w))
        && options.weights.last() == Some(&100);
    if !ok {
        return Err(Error::invalid_input(format!(
            "traffic weights {:?} must increase, stay within 1..=100 and end at 100",
            options.weights
        )));
    }
    let green = green_name(blue, target, options);
    let mut steps = vec![
        SwapStep::ProvisionGreen {
            cluster: green.clone(),
            to: target.minor_version(),
        },
        SwapStep::DeployWorkloads {
            cluster: green.clone(),
        },
        SwapStep::VerifyGreen { cluster: green },
    ];
    for &w in &options.weights {
        steps.push(SwapStep::ShiftTraffic { green_percent: w });
        steps.push(SwapStep::Gate { green_percent: w });
    }
    steps.push(SwapStep::Soak {
        seconds: options.decommission_soak.as_secs(),
    });
    steps.push(SwapStep::DecommissionBlue {
        cluster: blue.name.clone(),
    });
    Ok(steps)
}

fn green_name(blue: &ClusterSnapshot, target: &KubeVersion, options: &SwapOptions) -> String {
    options
        .green_name
        .clone()
        .unwrap_or_else(|| format!("{}-v{}-{}", blue.name, target.major(), target.minor()))
}

/// One step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwapStepReport {
    /// The step.
    pub step: SwapStep,
    /// How it ended.
    pub outcome: StepOutcome,
    /// How long it took, in seconds.
    pub seconds: u64,
    /// Why it was skipped or how it failed.
    pub note: Option<String>,
}

/// What a swap did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwapReport {
    /// How it ended.
    pub result: RunResult,
    /// The green cluster.
    pub green: String,
    /// The steps.
    pub steps: Vec<SwapStepReport>,
    /// What stopped it.
    pub error: Option<String>,
    /// Green's share of traffic at the end.
    pub green_percent: u8,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SwapJournal {
    done: usize,
    green_percent: u8,
}

/// Runs a blue/green cluster swap.
pub struct ClusterSwap<'a> {
    blue: ClusterHandle,
    hooks: &'a dyn ClusterSwapHooks,
    options: SwapOptions,
    journal: Option<PathBuf>,
    events: EventSink,
}

impl<'a> ClusterSwap<'a> {
    /// A swap of `blue` through `hooks`.
    pub fn new(blue: ClusterHandle, hooks: &'a dyn ClusterSwapHooks, options: SwapOptions) -> Self {
        Self {
            blue,
            hooks,
            options,
            journal: None,
            events: discard(),
        }
    }

    /// Records finished steps in `path`, so a rerun continues.
    pub fn with_journal_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// Sends progress events to `events`.
    pub fn with_events(mut self, events: EventSink) -> Self {
        self.events = events;
        self
    }

    fn load(&self) -> Result<SwapJournal> {
        let Some(path) = &self.journal else {
            return Ok(SwapJournal::default());
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| Error::Journal(format!("{}: {e}", path.display())))
            }
            Err(_) => Ok(SwapJournal::default()),
        }
    }

    fn save(&self, journal: &SwapJournal) -> Result<()> {
        let Some(path) = &self.journal else { return Ok(()) };
        write_atomically(
            path,
            &serde_json::to_vec(journal).map_err(|e| Error::Journal(e.to_string()))?,
        )
    }

    /// Runs every step to `target`.
    pub async fn run(&self, target: &KubeVersion) -> Result<SwapReport> {
        let blue = self.blue.cluster.describe().await?;
        let steps = plan_swap(&blue, target, &self.options)?;
        let mut journal = self.load()?;
        let green_name = green_name(&blue, target, &self.options);
        let mut green: Option<ClusterHandle> = self.hooks.find_green(&green_name).await?;
        let mut reports: Vec<SwapStepReport> = steps
            .iter()
            .map(|s| SwapStepReport {
                step: s.clone(),
                outcome: StepOutcome::NotRun,
                seconds: 0,
                note: None,
            })
            .collect();
        let total = steps.len();
        for (index, step) in steps.iter().enumerate() {
            if index < journal.done {
                reports[index].outcome = StepOutcome::Skipped;
                reports[index].note = Some("done in an earlier run".into());
                continue;
            }
            (self.events)(&Event::StepStarted {
                index,
                total,
                description: step.describe(),
            });
            let t0 = tokio::time::Instant::now();
            let outcome = self.step(step, &blue, target, &mut green, &mut journal).await;
            reports[index].seconds = t0.elapsed().as_secs();
            match outcome {
                Ok(None) => {
                    reports[index].outcome = StepOutcome::Done;
                    (self.events)(&Event::StepFinished {
                        index,
                        seconds: reports[index].seconds,
                    });
                }
                Ok(Some(skip)) => {
                    reports[index].outcome = StepOutcome::Skipped;
                    reports[index].note = Some(skip.clone());
                    (self.events)(&Event::StepSkipped { index, reason: skip });
                }
                Err(Error::GateFailed(why)) => {
                    (self.events)(&Event::StepFailed {
                        index,
                        error: why.clone(),
                    });
                    (self.events)(&Event::RollingBack {
                        index,
                        action: "shift all traffic back to blue".into(),
                    });
                    let back = self.hooks.shift_traffic(0).await;
                    journal.green_percent = 0;
                    reports[index].outcome = StepOutcome::RolledBack;
                    reports[index].note = Some(why.clone());
                    // Steps before the gate stay done; a rerun starts again from the first shift.
                    journal.done = steps
                        .iter()
                        .position(|s| matches!(s, SwapStep::ShiftTraffic { .. }))
                        .unwrap_or(0);
                    self.save(&journal)?;
                    let (result, error) = match back {
                        Ok(()) => (
                            RunResult::RolledBack,
                            format!(
                                "gate failed: {why}; all traffic is back on blue, green {green_name} is kept for investigation"
                            ),
                        ),
                        Err(e) => (
                            RunResult::Failed,
                            format!("gate failed: {why}; shifting traffic back failed: {e}"),
                        ),
                    };
                    return Ok(SwapReport {
                        result,
                        green: green_name,
                        steps: reports,
                        error: Some(error),
                        green_percent: 0,
                    });
                }
                Err(e) => {
                    (self.events)(&Event::StepFailed {
                        index,
                        error: e.to_string(),
                    });
                    reports[index].outcome = StepOutcome::Failed;
                    reports[index].note = Some(e.to_string());
                    return Ok(SwapReport {
                        result: RunResult::Failed,
                        green: green_name,
                        steps: reports,
                        error: Some(e.to_string()),
                        green_percent: journal.green_percent,
                    });
                }
            }
            journal.done = index + 1;
            self.save(&journal)?;
        }
        Ok(SwapReport {
            result: RunResult::Succeeded,
            green: green_name,
            steps: reports,
            error: None,
            green_percent: journal.green_percent,
        })
    }

    /// Runs one step; `Ok(Some(reason))` when it was skipped.
    async fn step(
        &self,
        step: &SwapStep,
        blue: &ClusterSnapshot,
        target: &KubeVersion,
        green: &mut Option<ClusterHandle>,
        journal: &mut SwapJournal,
    ) -> Result<Option<String>> {
        let need_green = |g: &Option<ClusterHandle>| {
            g.clone()
                .ok_or_else(|| Error::invalid_input("the green cluster does not exist; rerun from the start"))
        };
        match step {
            SwapStep::ProvisionGreen { cluster, to } => {
                if green.is_some() {
                    return Ok(Some(format!("green cluster {cluster} exists")));
                }
                *green = Some(self.hooks.provision_green(blue, cluster, to).await?);
                Ok(None)
            }
            SwapStep::DeployWorkloads { .. } => {
                self.hooks.deploy(&need_green(green)?).await?;
                Ok(None)
            }
            SwapStep::VerifyGreen { .. } => {
                let g = need_green(green)?;
                let waited = self
                    .options
                    .poll
                    .wait_for("green verification", &self.events, || {
                        let g = g.clone();
                        async move { Ok(verify(&g, target).await?.is_none().then_some(())) }
                    })
                    .await;
                match waited {
                    Ok(()) => Ok(None),
                    Err(Error::Timeout { .. }) => Err(Error::invalid_transition(format!(
                        "green cluster {} did not pass its checks: {}",
                        g.name,
                        verify(&g, target).await?.unwrap_or_default()
                    ))),
                    Err(e) => Err(e),
                }
            }
            SwapStep::ShiftTraffic { green_percent } => {
                self.hooks.shift_traffic(*green_percent).await?;
                journal.green_percent = *green_percent;
                Ok(None)
            }
            SwapStep::Gate { green_percent } => {
                tokio::time::sleep(self.options.gate_soak).await;
                let g = need_green(green)?;
                if let Some(problem) = verify(&g, target).await? {
                    return Err(Error::GateFailed(format!(
                        "at {green_percent}% of traffic: {problem}"
                    )));
                }
                if let Some(problem) = self.hooks.traffic_problem().await? {
                    return Err(Error::GateFailed(format!(
                        "at {green_percent}% of traffic: {problem}"
                    )));
                }
                Ok(None)
            }
            SwapStep::Soak { seconds } => {
                tokio::time::sleep(Duration::from_secs(*seconds)).await;
                Ok(None)
            }
            SwapStep::DecommissionBlue { cluster } => {
                if !self.options.decommission_blue {
                    return Ok(Some(format!(
                        "blue cluster {cluster} kept: deleting it was not asked for"
                    )));
                }
                self.hooks.decommission(cluster).await?;
                Ok(None)
            }
        }
    }
}

/// Green's post-upgrade checks: versions at the target, nodes Ready, workloads available.
async fn verify(green: &ClusterHandle, target: &KubeVersion) -> Result<Option<String>> {
    Upgrade::new(green.cluster.clone())
        .with_workloads(green.workloads.clone())
        .verify(target)
        .await
}
