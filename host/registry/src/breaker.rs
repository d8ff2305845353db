//! A per-plugin circuit breaker: after `failures` failed calls in a row the plugin is not
//! called for `cool_down`, and its `on_error` answer stands in for it; then one call probes
//! it, and its result closes the breaker or opens it for another cool-down.
//!
//! A plugin that times out costs every request its whole `timeout_ms`, and one that traps
//! on every call fills the logs; the breaker bounds both to one call per cool-down while the
//! plugin is broken. It is *not* a load shedder: calls refused for concurrency do not count.
//!
//! The decision a reader may question: a breaker belongs to one plugin *version* (it is
//! carried across snapshots with the version, like the instance pool), so swapping in a fixed
//! version closes it at once instead of making the fix wait out the cool-down.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker; 0 = never open.
    pub failures: u32,
    /// How long an open breaker skips the plugin before letting one probe through.
    pub cool_down: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        consecutive: u32,
    },
    Open {
        until: Instant,
    },
    /// One call is probing; everyone else is still skipped.
    Probing,
}

/// What a breaker is doing, for `GET /plugins` and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped until the cool-down ends.
    Open,
    /// One call is testing the plugin.
    Probing,
}

/// The breaker of one plugin version.
#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<State>,
}

/// Permission for one call; report how it went with [`Admission::succeeded`] or
/// [`Admission::failed`]. Dropped unreported (the request went away mid-call), a probe
/// lets the next call probe again.
#[derive(Debug)]
pub struct Admission {
    breaker: Arc<Breaker>,
    reported: bool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Breaker {
            policy,
            state: Mutex::new(State::Closed { consecutive: 0 }),
        }
    }

    /// The policy it runs under.
    pub fn policy(&self) -> BreakerPolicy {
        self.policy
    }

    /// What it is doing now.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::Probing => BreakerState::Probing,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value, always whole; a panic elsewhere cannot tear it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a call may run now; `None` = skip the plugin, answer with its `on_error`.
    pub fn admit(self: &Arc<Self>, now: Instant) -> Option<Admission> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => {}
            State::Open { until } if now >= until => *state = State::Probing,
            State::Open { .. } | State::Probing => return None,
        }
        Some(Admission {
            breaker: self.clone(),
            reported: false,
        })
    }

    /// A call succeeded: the failures so far are forgiven. (No clock read: only a failure
    /// needs the time, to end its cool-down.)
    fn record_success(&self) {
        *self.lock() = State::Closed { consecutive: 0 };
    }

    /// A call failed at `now`; true when this failure opened the breaker.
    fn record_failure(&self, now: Instant) -> bool {
        let mut state = self.lock();
        let open = State::Open {
            until: now + self.policy.cool_down,
        };
        *state = match *state {
            State::Probing => open,
            State::Closed { consecutive } => {
                let consecutive = consecutive.saturating_add(1);
                if self.policy.failures > 0 && consecutive >= self.policy.failures {
                    open
                } else {
                    State::Closed { consecutive }
                }
            }
            // A call admitted before the breaker opened finished late: the breaker stays open.
            State::Open { until } => State::Open { until },
        };
        *state == open
    }
}

impl Admission {
    /// The call ran and produced a usable verdict.
    pub fn succeeded(mut self) {
        self.reported = true;
        self.breaker.record_success();
    }

    /// The call failed (trap, timeout, limit, error, refused modify); true when this
    /// failure opened the breaker.
    pub fn failed(mut self) -> bool {
        self.reported = true;
        self.breaker.record_failure(Instant::now())
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.reported {
            return;
        }
        let mut state = self.breaker.lock();
        if *state == State::Probing {
            *state = State::Open {
                until: Instant::now(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(failures: u32) -> Arc<Breaker> {
        Arc::new(Breaker::new(BreakerPolicy {
            failures,
            cool_down: Duration::from_secs(10),
        }))
    }

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let b = breaker(3);
        let now = Instant::now();
        b.admit(now).unwrap().failed();
        b.admit(now).unwrap().failed();
        b.admit(now).unwrap().succeeded();
        b.admit(now).unwrap().failed();
        b.admit(now).unwrap().failed();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit(now).unwrap().failed(), "the third failure opens it");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.admit(now + Duration::from_secs(9)).is_none());
    }

    #[test]
    fn after_the_cool_down_one_probe_decides() {
        let b = breaker(1);
        let start = Instant::now();
        b.admit(start).unwrap().failed();
        let later = Instant::now() + Duration::from_secs(11);
        let probe = b.admit(later).expect("the cool-down is over: one probe");
        assert!(b.admit(later).is_none(), "only one probe at a time");
        probe.failed();
        assert_eq!(b.state(), BreakerState::Open);
        let much_later = Instant::now() + Duration::from_secs(30);
        b.admit(much_later).unwrap().succeeded();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit(much_later).is_some());
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let b = breaker(1);
        b.admit(Instant::now()).unwrap().failed();
        let later = Instant::now() + Duration::from_secs(11);
        drop(b.admit(later).unwrap());
        assert!(b.admit(Instant::now()).is_some());
    }

    #[test]
    fn zero_failures_never_opens() {
        let b = breaker(0);
        for _ in 0..100 {
            assert!(!b.admit(Instant::now()).unwrap().failed());
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
