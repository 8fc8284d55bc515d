//! Progress events the executor emits, for progress bars, logs and reports.

use std::sync::Arc;

use serde::Serialize;

use crate::checks::Finding;
use crate::cluster::OperationId;

/// Something that happened while running a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// A pre-flight check produced a finding (boxed: it is large beside the other events).
    Finding(Box<Finding>),
    /// A step begins.
    StepStarted {
        /// Its index in the plan (0-based).
        index: usize,
        /// How many steps the plan has.
        total: usize,
        /// What it does.
        description: String,
    },
    /// A step needed no work: the real state already shows it done.
    StepSkipped {
        /// Its index.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A provider operation was started.
    OperationStarted {
        /// The step.
        index: usize,
        /// The provider's id.
        operation: OperationId,
    },
    /// A provider operation that was already running is being awaited instead of started again.
    OperationResumed {
        /// The step.
        index: usize,
        /// The provider's id.
        operation: OperationId,
    },
    /// Units of a step done so far (nodes replaced, pods evicted).
    Progress {
        /// The step.
        index: usize,
        /// Done.
        done: u32,
        /// Total.
        total: u32,
    },
    /// A retryable error; the call is repeated after a delay.
    Retrying {
        /// What is retried.
        what: String,
        /// The error.
        error: String,
        /// The delay before the next try, in seconds.
        delay_secs: u64,
    },
    /// A step finished.
    StepFinished {
        /// Its index.
        index: usize,
        /// How long it took (virtual time on the simulator), in seconds.
        seconds: u64,
    },
    /// A step failed.
    StepFailed {
        /// Its index.
        index: usize,
        /// The error.
        error: String,
    },
    /// A pod a PodDisruptionBudget protects was deleted once the drain timeout passed, because
    /// the user forced the drain (`force`); its budget was not honoured.
    PodDeletedPastPdb {
        /// The drain step.
        index: usize,
        /// The pod.
        pod: crate::workloads::PodRef,
        /// The PodDisruptionBudget that refused its eviction.
        pdb: String,
    },
    /// A failed gate is being rolled back.
    RollingBack {
        /// The gate's index.
        index: usize,
        /// What is undone.
        action: String,
    },
}

/// Where events go. Cheap to clone.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// A sink that drops every event.
pub fn discard() -> EventSink {
    Arc::new(|_| {})
}
