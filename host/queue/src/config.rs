//! [`QueueConfig`]: the limits and the retry policy, and the backoff they imply.
//!
//! The decision a reader may question: the jitter is "equal jitter", a delay drawn
//! uniformly from the upper half of the exponential step (`d/2 ..= d`), not "full jitter"
//! (`0 ..= d`). Retries of one plugin's failures still spread out, but a retry never comes
//! sooner than half its step, so a plugin that is down is not hit again at once by chance.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use crate::QueueError;
use crate::clock::millis;

/// Limits and retry policy, the same for every plugin's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Most items waiting in one plugin's queue (leased and retrying ones included, dead
    /// letters not). An item over it goes to that plugin's dead letters with reason
    /// [`DeadReason::Overflow`](crate::DeadReason::Overflow). Default 100 000.
    pub max_items_per_plugin: u64,
    /// An item whose idempotency key was enqueued less than this long ago is a duplicate
    /// and is not queued again. Zero turns deduplication off. Default 10 minutes.
    pub dedupe_window: Duration,
    /// The delay before the first retry; each further failure doubles it. Default 200 ms.
    pub base_backoff: Duration,
    /// The longest delay between two attempts. Default 60 s.
    pub max_backoff: Duration,
    /// Attempts (the first delivery included) before an item goes to the dead letters with
    /// reason [`DeadReason::Failed`](crate::DeadReason::Failed). Default 8.
    pub max_attempts: u32,
    /// How long a lease lasts: an item neither acked nor failed by then is handed out
    /// again, to this consumer or another. It must outlast the plugin call. Default 30 s.
    pub lease_timeout: Duration,
    /// Redis only: the longest [`Queue::wait`](crate::Queue::wait) sleeps before looking
    /// for work again (work another replica queued does not wake it). Default 200 ms.
    pub poll_interval: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_items_per_plugin: 100_000,
            dedupe_window: Duration::from_secs(10 * 60),
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(60),
            max_attempts: 8,
            lease_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(200),
        }
    }
}

/// What a failure leads to: another attempt at `at_ms`, or the dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryPlan {
    Retry { at_ms: u64 },
    DeadLetter,
}

impl QueueConfig {
    pub(crate) fn validate(&self) -> Result<(), QueueError> {
        let refuse = |reason| Err(QueueError::InvalidConfig(reason));
        if self.max_items_per_plugin == 0 {
            return refuse("max_items_per_plugin must be at least 1");
        }
        if self.max_attempts == 0 {
            return refuse("max_attempts must be at least 1");
        }
        if self.base_backoff > self.max_backoff {
            return refuse("base_backoff must not exceed max_backoff");
        }
        if millis(self.lease_timeout) == 0 {
            return refuse("lease_timeout must be at least 1 ms");
        }
        Ok(())
    }

    /// The exponential step after the `failures`-th failure (1 = the first), capped.
    pub(crate) fn backoff_step(&self, failures: u32) -> u64 {
        let base = millis(self.base_backoff);
        let doubled = base.saturating_mul(1u64 << failures.saturating_sub(1).min(63));
        doubled.min(millis(self.max_backoff))
    }

    /// What the `failures`-th failure of an item, at `now_ms`, leads to.
    pub(crate) fn plan_retry(&self, failures: u32, now_ms: u64) -> RetryPlan {
        if failures >= self.max_attempts {
            return RetryPlan::DeadLetter;
        }
        let step = self.backoff_step(failures);
        let half = step / 2;
        let jitter = random_u64() % (step - half + 1);
        RetryPlan::Retry {
            at_ms: now_ms.saturating_add(half + jitter),
        }
    }
}

/// A random number from the standard library's per-process hash keys: plenty for jitter
/// and consumer names, and no dependency.
pub(crate) fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = QueueConfig::default();
        let steps: Vec<u64> = (1..=11).map(|n| config.backoff_step(n)).collect();
        assert_eq!(
            steps,
            [
                200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 51_200, 60_000, 60_000
            ]
        );
        assert_eq!(config.backoff_step(u32::MAX), 60_000);
    }

    #[test]
    fn a_retry_lands_in_the_upper_half_of_its_step() {
        let config = QueueConfig::default();
        for failures in 1..config.max_attempts {
            let step = config.backoff_step(failures);
            for _ in 0..200 {
                let RetryPlan::Retry { at_ms } = config.plan_retry(failures, 1_000) else {
                    panic!("failure {failures} is not the last");
                };
                assert!(
                    (1_000 + step / 2..=1_000 + step).contains(&at_ms),
                    "{at_ms}"
                );
            }
        }
        assert_eq!(
            config.plan_retry(config.max_attempts, 1_000),
            RetryPlan::DeadLetter
        );
    }

    #[test]
    fn unworkable_configs_are_refused() {
        let bad = [
            QueueConfig {
                max_attempts: 0,
                ..QueueConfig::default()
            },
            QueueConfig {
                max_items_per_plugin: 0,
                ..QueueConfig::default()
            },
            QueueConfig {
                base_backoff: Duration::from_secs(2),
                max_backoff: Duration::from_secs(1),
                ..QueueConfig::default()
            },
            QueueConfig {
                lease_timeout: Duration::ZERO,
                ..QueueConfig::default()
            },
        ];
        for config in bad {
            assert!(
                matches!(config.validate(), Err(QueueError::InvalidConfig(_))),
                "{config:?}"
            );
        }
        assert_eq!(QueueConfig::default().validate(), Ok(()));
    }
}
