//! Running the plugins subscribed to one callback and combining what they decide.
//!
//! Before-callbacks: plugins run in priority order; the first reject or discard ends the
//! chain; modify objects merge in order (a later plugin's key wins). After-callbacks: every
//! plugin runs and the answer is always allow, because the IM server ignores it.
//!
//! A failing plugin (trap, timeout, limit, `err`, unusable verdict) is replaced by its
//! manifest's `on_error` answer: fail open skips it, fail closed rejects with its code.
//! Either way the caller gets a verdict, never an error: there is always an envelope to send.
//! The same answer stands in, without running the plugin, when it is at its concurrency limit
//! (`limits.max_concurrency`: no queue, the IM server is waiting) or its circuit breaker is
//! open ([`crate::breaker`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox_model::{Event, JsonObject, Phase, Verdict};
use hookbox_runtime::{CallLimits, InvokeError, Runtime};
use tracing::Instrument;

use crate::snapshot::PluginEntry;

/// What one plugin did.
#[derive(Debug, Clone, PartialEq)]
pub enum StepResult {
    /// It returned this kind of verdict (`allow`, `modify`, `reject`, `discard`).
    Decided(&'static str),
    /// It failed; the failure's kind and a human-readable description.
    Failed {
        /// Stable label: an [`InvokeError::kind`] or `modify_refused`.
        kind: &'static str,
        /// What happened, for logs.
        message: String,
    },
}

/// One plugin's part in a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The plugin's name.
    pub plugin: String,
    /// The version that ran.
    pub sha256: String,
    /// What it did.
    pub result: StepResult,
    /// Wall time of the call.
    pub elapsed: Duration,
    /// Fuel used (0 when the call failed).
    pub fuel_used: u64,
    /// Peak linear memory in bytes (0 when the call failed).
    pub peak_memory_bytes: usize,
}

/// The combined verdict of a chain and what each plugin did.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainReport {
    /// What the IM server should be told.
    pub verdict: Verdict,
    /// One entry per plugin that ran, in order.
    pub steps: Vec<StepReport>,
}

/// Run `chain` on `event`. `check_modify` is the dialect's judgement of a modify object for
/// this callback; a refused modify counts as that plugin failing. With a `deadline`, every
/// plugin's timeout is cut to the time left, and a plugin with no time left fails as timed
/// out without running: the answer leaves by the deadline whatever the plugins do.
pub async fn run_chain(
    runtime: &Runtime,
    chain: &[Arc<PluginEntry>],
    event: &Event,
    phase: Phase,
    deadline: Option<Instant>,
    check_modify: impl Fn(&JsonObject) -> Result<(), String>,
) -> ChainReport {
    let mut merged: Option<JsonObject> = None;
    let mut steps = Vec::with_capacity(chain.len());
    for entry in chain {
        let (step, verdict) = run_one(runtime, entry, event, phase, deadline, &check_modify).await;
        steps.push(step);
        if phase == Phase::After {
            continue;
        }
        match verdict {
            Verdict::Allow => {}
            Verdict::Modify(fields) => merged.get_or_insert_with(JsonObject::new).extend(fields),
            stop @ (Verdict::Reject(_) | Verdict::Discard) => {
                return ChainReport {
                    verdict: stop,
                    steps,
                };
            }
        }
    }
    let verdict = match merged {
        Some(fields) if phase == Phase::Before => Verdict::Modify(fields),
        _ => Verdict::Allow,
    };
    ChainReport { verdict, steps }
}

/// Why a plugin produced no usable verdict: the stable kind and what happened.
type Failure = (&'static str, String);

/// Run one plugin of a chain, or stand its `on_error` answer in for it when it fails or may
/// not run now (at its concurrency limit, breaker open, no time left).
async fn run_one(
    runtime: &Runtime,
    entry: &Arc<PluginEntry>,
    event: &Event,
    phase: Phase,
    deadline: Option<Instant>,
    check_modify: &impl Fn(&JsonObject) -> Result<(), String>,
) -> (StepReport, Verdict) {
    let started = Instant::now();
    let mut step = StepReport {
        plugin: entry.manifest.name.clone(),
        sha256: entry.sha256.clone(),
        result: StepResult::Decided("allow"),
        elapsed: Duration::ZERO,
        fuel_used: 0,
        peak_memory_bytes: 0,
    };
    let decided = call_one(
        runtime,
        entry,
        event,
        phase,
        (started, deadline),
        check_modify,
        &mut step,
    )
    .await;
    step.elapsed = started.elapsed();
    let verdict = match decided {
        Ok(verdict) => {
            step.result = StepResult::Decided(verdict.kind());
            verdict
        }
        Err((kind, message)) => {
            if matches!(kind, "concurrency_limit" | "circuit_open") {
                // Per request under overload or while the breaker is open: metrics count
                // these; the log says it once (breaker) or not at all.
                tracing::debug!(plugin = %entry.manifest.name, failure = kind, "plugin skipped: {message}");
            } else {
                tracing::warn!(
                    plugin = %entry.manifest.name,
                    command = %event.command,
                    failure = kind,
                    on_error = ?entry.manifest.on_error,
                    "plugin failed: {message}"
                );
            }
            step.result = StepResult::Failed { kind, message };
            match entry.manifest.failure_verdict() {
                Some(rejection) => Verdict::Reject(rejection),
                None => Verdict::Allow,
            }
        }
    };
    (step, verdict)
}

/// The admission checks and the call itself; fills in `step`'s fuel and memory. `now` is
/// when the step began: the breaker and the deadline are judged at that instant rather than
/// each reading the clock again (a read is ~0.1 µs here, and a callback made ~14 of them).
async fn call_one(
    runtime: &Runtime,
    entry: &Arc<PluginEntry>,
    event: &Event,
    phase: Phase,
    (now, deadline): (Instant, Option<Instant>),
    check_modify: &impl Fn(&JsonObject) -> Result<(), String>,
    step: &mut StepReport,
) -> Result<Verdict, Failure> {
    let Some(call) = entry.stats.begin(entry.max_concurrency) else {
        return Err((
            "concurrency_limit",
            format!(
                "{} calls already running (limits.max_concurrency)",
                entry.max_concurrency
            ),
        ));
    };
    let Some(admission) = entry.breaker.admit(now) else {
        call.failed();
        return Err((
            "circuit_open",
            "skipped: failed too often; the breaker is open".to_owned(),
        ));
    };
    let Some(limits) = within(deadline, &entry.limits, now) else {
        // Not the plugin's fault: the breaker hears nothing (a dropped admission lets the
        // next call probe, if this one was to).
        call.failed();
        return Err(("timeout", InvokeError::Timeout(Duration::ZERO).to_string()));
    };
    // A child of the request's `callback` span, so a plugin's logs and the request's nest;
    // free when the level is off.
    let span = tracing::debug_span!("plugin", name = %entry.manifest.name, version = %entry.sha256);
    let called = match &entry.pool {
        Some(pool) => {
            runtime
                .invoke_reusing(pool, event, &limits)
                .instrument(span)
                .await
        }
        None => {
            runtime
                .invoke(&entry.plugin, event, &entry.capabilities, &limits)
                .instrument(span)
                .await
        }
    };
    let decided = match called {
        Ok(outcome) => {
            step.fuel_used = outcome.fuel_used;
            step.peak_memory_bytes = outcome.peak_memory_bytes;
            match outcome.verdict {
                Verdict::Modify(fields) if phase == Phase::Before => match check_modify(&fields) {
                    Ok(()) => Ok(Verdict::Modify(fields)),
                    Err(why) => Err(("modify_refused", why)),
                },
                verdict => Ok(verdict),
            }
        }
        Err(error) => Err((error.kind(), error.to_string())),
    };
    match &decided {
        Ok(_) => admission.succeeded(),
        Err(_) => {
            call.failed();
            if admission.failed() {
                tracing::warn!(
                    plugin = %entry.manifest.name,
                    failures = entry.breaker.policy().failures,
                    cool_down_ms = entry.breaker.policy().cool_down.as_millis() as u64,
                    "circuit opened: the plugin is skipped (its on_error answer stands in) until the cool-down ends"
                );
            }
        }
    }
    decided
}

/// The plugin's limits with its timeout cut to what is left before `deadline`; `None` when
/// nothing is left.
fn within(
    deadline: Option<Instant>,
    limits: &CallLimits,
    now: Instant,
) -> Option<std::borrow::Cow<'_, CallLimits>> {
    let Some(deadline) = deadline else {
        return Some(std::borrow::Cow::Borrowed(limits));
    };
    let left = deadline
        .checked_duration_since(now)
        .filter(|left| !left.is_zero())?;
    if left >= limits.timeout {
        return Some(std::borrow::Cow::Borrowed(limits));
    }
    Some(std::borrow::Cow::Owned(CallLimits {
        timeout: left,
        ..limits.clone()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_cuts_timeouts_and_runs_out() {
        let limits = CallLimits {
            timeout: Duration::from_millis(200),
            ..CallLimits::default()
        };
        let now = Instant::now();
        assert_eq!(within(None, &limits, now).unwrap().timeout, limits.timeout);
        let far = now + Duration::from_secs(1);
        assert_eq!(
            within(Some(far), &limits, now).unwrap().timeout,
            limits.timeout
        );
        let near = now + Duration::from_millis(50);
        assert_eq!(
            within(Some(near), &limits, now).unwrap().timeout,
            Duration::from_millis(50)
        );
        assert!(within(Some(now), &limits, now).is_none());
        assert!(within(Some(now), &limits, now + Duration::from_millis(1)).is_none());
    }
}
