//! Our own retries and polling, on `backon`: jittered exponential delays, capped, and bounded
//! in total. Only [`crate::Error::is_retryable`] errors are retried.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::cluster::{Operation, OperationId};
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::managed::ManagedCluster;

/// What one poll found: the end, or not yet (with the delay the provider asked for, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paced<T> {
    /// Finished, with this.
    Done(T),
    /// Not yet; poll again after this long (else the policy's backoff).
    Again(Option<Duration>),
}

/// Delays and limits for retries and operation polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// The first delay.
    pub min_delay: Duration,
    /// The largest delay.
    pub max_delay: Duration,
    /// How many times a retryable error is retried before giving up.
    pub max_retries: usize,
    /// How long a single wait (an operation, a drain, nodes becoming Ready) may take.
    pub timeout: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(20),
            max_retries: 12,
            timeout: Duration::from_secs(6 * 3600),
        }
    }
}

impl PollPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
    }

    /// Calls `call` until it succeeds, retrying retryable errors with backoff (honouring a
    /// provider's `Retry-After`), and returns the first non-retryable error at once.
    pub async fn retry<T, F, Fut>(&self, what: &str, events: &EventSink, call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        call.retry(self.backoff().with_max_times(self.max_retries))
            .sleep(tokio::time::sleep)
            .when(Error::is_retryable)
            .adjust(|err: &Error, delay| err.retry_after().or(delay))
            .notify(|err: &Error, delay: Duration| {
                tracing::debug!(what, %err, ?delay, "retrying");
                events(&Event::Retrying {
                    what: what.to_string(),
                    error: err.to_string(),
                    delay_secs: delay.as_secs(),
                });
            })
            .await
    }

    /// Polls `probe` until it returns `Some`, sleeping with backoff in between, for at most
    /// `self.timeout`. Probe errors that are retryable count as "not yet".
    pub async fn wait_for<T, F, Fut>(&self, what: &str, events: &EventSink, mut probe: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        self.wait_paced(what, events, || {
            let polled = probe();
            async move {
                Ok(match polled.await? {
                    Some(value) => Paced::Done(value),
                    None => Paced::Again(None),
                })
            }
        })
        .await
    }

    /// Waits for operation `id` of `cluster` to end: polls [`ManagedCluster::operation`] at the
    /// pace the provider asks for ([`Operation::poll_after`], e.g. ARM's `Retry-After`), else
    /// with backoff, and gives every poll to `observe` (progress). The one wait every caller
    /// uses; adapters keep no polling loop of their own.
    pub async fn wait_operation(
        &self,
        cluster: &dyn ManagedCluster,
        id: &OperationId,
        events: &EventSink,
        observe: impl FnMut(&Operation) + Send,
    ) -> Result<Operation> {
        let what = format!("operation {id}");
        let observe = std::sync::Mutex::new(observe);
        self.wait_paced(&what, events, || {
            let polled = cluster.operation(id);
            let observe = &observe;
            async move {
                let op = polled.await?;
                (observe.lock().unwrap_or_else(std::sync::PoisonError::into_inner))(&op);
                Ok(if op.state.is_terminal() {
                    Paced::Done(op)
                } else {
                    Paced::Again(op.poll_after)
                })
            }
        })
        .await
    }

    /// Polls `probe` until it is [`Paced::Done`], sleeping the delay it asks for (else backoff)
    /// in between, for at most `self.timeout`. Probe errors that are retryable count as "not
    /// yet" (honouring their `Retry-After`).
    pub async fn wait_paced<T, F, Fut>(&self, what: &str, events: &EventSink, mut probe: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Paced<T>>>,
    {
        let started = tokio::time::Instant::now();
        let mut delays = backon::BackoffBuilder::build(self.backoff().without_max_times());
        loop {
            let retry_after = match probe().await {
                Ok(Paced::Done(value)) => return Ok(value),
                Ok(Paced::Again(after)) => after.filter(|d| !d.is_zero()),
                Err(err) if err.is_retryable() => {
                    let after = err.retry_after();
                    events(&Event::Retrying {
                        what: what.to_string(),
                        error: err.to_string(),
                        delay_secs: after.unwrap_or(self.min_delay).as_secs(),
                    });
                    after
                }
                Err(err) => return Err(err),
            };
            if started.elapsed() >= self.timeout {
                return Err(Error::Timeout {
                    what: what.to_string(),
                    after: self.timeout,
                });
            }
            let delay = retry_after.or_else(|| delays.next()).unwrap_or(self.max_delay);
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::events::discard;

    #[tokio::test(start_paused = true)]
    async fn retries_throttling_then_succeeds() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let value = PollPolicy::default()
            .retry("x", &discard(), || {
                let c = c.clone();
                async move {
                    if c.fetch_add(1, Ordering::SeqCst) < 3 {
                        Err(Error::throttled(Some(Duration::from_secs(2))))
                    } else {
                        Ok(7)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!((value, calls.load(Ordering::SeqCst)), (7, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_a_permanent_error() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let err = PollPolicy::default()
            .retry("x", &discard(), || {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(Error::invalid_transition("no"))
                }
            })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidTransition { .. }));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_is_bounded_by_the_timeout() {
        let policy = PollPolicy {
            timeout: Duration::from_secs(120),
            ..PollPolicy::default()
        };
        let started = tokio::time::Instant::now();
        let err = policy
            .wait_for("forever", &discard(), || async { Ok(None::<()>) })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(120) && waited <= Duration::from_secs(160),
            "{waited:?}"
        );
    }
}
