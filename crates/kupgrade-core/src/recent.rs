//! [`RecentRead`]: what a snapshot read, kept for the write that follows it.
//!
//! An executor step reads the cluster once ([`ManagedCluster::describe`]) and then asks for
//! one change. An adapter whose write must first check preconditions (one minor at a time, no
//! pool past the control plane) or send what it read back (an `If-Match` eTag, a pool's image
//! type) keeps its `describe` here and uses it for that write instead of reading the same
//! resources again. Reads older than the limit (30 s by default, on tokio's clock) are not
//! used, and every write forgets what was kept: a write never judges by a state from before an
//! earlier write. The provider checks each write again on its side (and an eTag that went
//! stale is answered with 412).
//!
//! [`ManagedCluster::describe`]: crate::ManagedCluster::describe

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A value read from the provider, reusable for a short while.
#[derive(Debug)]
pub struct RecentRead<T> {
    kept: Mutex<Option<(Instant, T)>>,
    max_age: Duration,
}

impl<T> Default for RecentRead<T> {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

impl<T> RecentRead<T> {
    /// Keeps reads for at most `max_age`.
    pub fn new(max_age: Duration) -> Self {
        Self {
            kept: Mutex::new(None),
            max_age,
        }
    }

    /// Keeps `value`, read just now.
    pub fn remember(&self, value: T) {
        *self.lock() = Some((Instant::now(), value));
    }

    /// Applies `get` to the kept value if it is recent enough.
    pub fn with<R>(&self, get: impl FnOnce(&T) -> Option<R>) -> Option<R> {
        self.lock()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.max_age)
            .and_then(|(_, value)| get(value))
    }

    /// Drops the kept value: call it before every write.
    pub fn forget(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> MutexGuard<'_, Option<(Instant, T)>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_read_is_reused_until_a_write_or_the_age_limit() {
        let recent = RecentRead::new(Duration::from_secs(30));
        assert_eq!(recent.with(|v: &u32| Some(*v)), None);
        recent.remember(7);
        assert_eq!(recent.with(|v| Some(*v)), Some(7));
        recent.forget();
        assert_eq!(recent.with(|v| Some(*v)), None);

        recent.remember(8);
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(recent.with(|v| Some(*v)), Some(8));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(recent.with(|v| Some(*v)), None, "too old to judge a write by");
    }
}
