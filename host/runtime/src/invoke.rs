//! One plugin call: a store and instance, the plugin's limits, and a typed answer.
//!
//! [`Runtime::invoke`] runs every call in a fresh instance; [`crate::pool`] keeps instances
//! of plugins in reuse mode warm between calls. Both go through the same `Runtime::call`,
//! which arms a store's clocks and budgets for one call, whether the store is new or not.
//!
//! Two clocks stop a call. The epoch deadline interrupts a plugin spinning in wasm within one
//! epoch tick of its timeout; a tokio timeout a little later drops the call if it is stuck
//! inside a host import (a guest `sleep` is a WASI poll, where epochs do not fire). Either
//! way the instance is dropped after the call, also in reuse mode: an instance that failed
//! in any way is never called again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox_model::{Event, JsonObject, Rejection, Verdict};
use wasmtime::Store;

use crate::bindings::{Plugin, WitEvent, WitVerdict, logging};
use crate::engine::Runtime;
use crate::host::{CallLimiter, CallState, CapturedOutput, LogBudget};
use crate::plugin::LoadedPlugin;

pub use crate::host::{Capabilities, ConfigValues};

/// The limits one call runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLimits {
    /// Wall-clock time the plugin may use.
    pub timeout: Duration,
    /// Largest linear memory the plugin may grow to.
    pub memory_bytes: usize,
    /// Instruction budget (wasmtime fuel); `None` = unmetered (still counted).
    pub fuel: Option<u64>,
    /// Largest modify object, reject message or error string the plugin may return.
    pub max_output_bytes: usize,
    /// Log bytes (wasi:logging plus stdout/stderr) the plugin may write per call.
    pub max_log_bytes: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            timeout: Duration::from_millis(200),
            memory_bytes: 32 << 20,
            fuel: None,
            max_output_bytes: 1 << 20,
            max_log_bytes: 64 << 10,
        }
    }
}

/// A call that ran to completion and returned a well-formed verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What the plugin decided.
    pub verdict: Verdict,
    /// Wall time of instantiate + call + drop.
    pub elapsed: Duration,
    /// Instructions (fuel units) the call used.
    pub fuel_used: u64,
    /// The largest linear memory the instance had, in bytes.
    pub peak_memory_bytes: usize,
}

/// Why a call produced no verdict. Each variant is a different thing an operator fixes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The plugin ran past its `timeout`.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The plugin used up its fuel budget.
    #[error("ran out of fuel ({0} units)")]
    OutOfFuel(u64),
    /// The plugin tried to grow its memory past its cap.
    #[error("exceeded its memory limit of {0} bytes")]
    MemoryLimit(usize),
    /// The plugin trapped (panic, unreachable, stack overflow, bad memory access...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The plugin returned `err(..)`.
    #[error("returned an error: {0}")]
    Plugin(String),
    /// The plugin returned a verdict the host cannot use (e.g. a modify that is not a JSON object).
    #[error("returned an unusable verdict: {0}")]
    BadOutput(String),
    /// The plugin returned more bytes than `max_output_bytes`.
    #[error("returned {size} bytes, more than the {limit}-byte limit")]
    OutputTooLarge {
        /// Bytes returned.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Every instance slot of the engine is in use.
    #[error("no instance slot free: too many concurrent calls")]
    Overloaded,
    /// The instance could not be created.
    #[error("could not instantiate: {0}")]
    Instantiate(String),
}

impl InvokeError {
    /// A short, stable label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            InvokeError::Timeout(_) => "timeout",
            InvokeError::OutOfFuel(_) => "out_of_fuel",
            InvokeError::MemoryLimit(_) => "memory_limit",
            InvokeError::Trap(_) => "trap",
            InvokeError::Plugin(_) => "plugin_error",
            InvokeError::BadOutput(_) => "bad_output",
            InvokeError::OutputTooLarge { .. } => "output_too_large",
            InvokeError::Overloaded => "overloaded",
            InvokeError::Instantiate(_) => "instantiate",
        }
    }
}

/// How long past the epoch deadline the host waits before dropping a call stuck in a host
/// import. Epoch interruption normally ends a call well before this.
const HOST_GRACE: Duration = Duration::from_millis(20);
/// Error strings from plugins end up in logs; keep them readable.
const MAX_ERROR_MESSAGE: usize = 1024;

impl Runtime {
    /// Run `plugin` on `event` in a fresh instance under `limits`.
    pub async fn invoke(
        &self,
        plugin: &LoadedPlugin,
        event: &Event,
        capabilities: &Capabilities,
        limits: &CallLimits,
    ) -> Result<Outcome, InvokeError> {
        let started = Instant::now();
        let mut instance = self.new_instance(plugin, capabilities, limits);
        let called = self
            .call(&mut instance, plugin, event, limits, started)
            .await;
        drop(instance);
        called.map(|call| call.into_outcome(started))
    }

    /// A store for `plugin`, not yet instantiated: [`Runtime::call`] instantiates it inside
    /// the call's deadline, so a component whose start-up runs away is stopped like any call.
    pub(crate) fn new_instance(
        &self,
        plugin: &LoadedPlugin,
        capabilities: &Capabilities,
        limits: &CallLimits,
    ) -> Instance {
        let stdout = CapturedOutput::new(limits.max_log_bytes);
        let stderr = CapturedOutput::new(limits.max_log_bytes);
        let state = CallState::new(
            CallLimiter::new(self.memory_cap(limits)),
            LogBudget::new(plugin.name.clone(), None, limits.max_log_bytes),
            capabilities,
            stdout.clone(),
            stderr.clone(),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        Instance {
            store,
            bound: None,
            stdout,
            stderr,
            calls: 0,
        }
    }

    /// One call on `instance` (instantiating it first if it is new): arm its clocks and
    /// budgets for this call, run `handle`, and say what happened. The caller decides whether
    /// the instance lives on.
    pub(crate) async fn call(
        &self,
        instance: &mut Instance,
        plugin: &LoadedPlugin,
        event: &Event,
        limits: &CallLimits,
        started: Instant,
    ) -> Result<Call, InvokeError> {
        let memory_cap = self.memory_cap(limits);
        let operation_id = event
            .metadata_value("operationID")
            .filter(|v| !v.is_empty())
            .map(Arc::from);
        let Instance {
            store,
            bound,
            stdout,
            stderr,
            calls,
        } = instance;
        *calls += 1;
        let state = store.data_mut();
        state.limiter.begin_call(memory_cap);
        state.log.begin_call(operation_id, limits.max_log_bytes);
        state.http.begin_call(started, limits.timeout);
        store.set_epoch_deadline(self.ticks_for(limits.timeout));
        let fuel = limits.fuel.unwrap_or(u64::MAX);
        store
            .set_fuel(fuel)
            .map_err(|e| InvokeError::Instantiate(format!("{e:#}")))?;

        let metadata: Vec<(&str, &str)> = event
            .metadata
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let wit_event = WitEvent {
            dialect: event.dialect.into(),
            command: &event.command,
            payload: &event.payload,
            metadata: &metadata,
            deadline_ms: u32::try_from(limits.timeout.as_millis()).unwrap_or(u32::MAX),
        };
        let call = async {
            let handler = match bound {
                Some(handler) => handler,
                None => bound.insert(plugin.pre.instantiate_async(&mut *store).await?),
            };
            handler
                .hookbox_plugin_handler()
                .call_handle(&mut *store, wit_event)
                .await
        };
        let result = if plugin.waits_in_host {
            tokio::time::timeout(limits.timeout + HOST_GRACE, call).await
        } else {
            // Only wasm code and host calls that return at once: the epoch deadline stops the
            // call, and the timer (~0.2 µs per call) would guard nothing.
            Ok::<_, tokio::time::error::Elapsed>(call.await)
        };

        forward_captured(store.data_mut(), stdout, "stdout", logging::Level::Info);
        forward_captured(store.data_mut(), stderr, "stderr", logging::Level::Warn);
        let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let limiter = &store.data().limiter;
        let (peak_memory_bytes, hit_memory_cap) = (limiter.peak_memory, limiter.hit_memory_cap);

        let returned = match result {
            Err(_elapsed) => return Err(InvokeError::Timeout(limits.timeout)),
            Ok(Err(error)) => {
                return Err(classify_trap(
                    &error,
                    limits,
                    fuel,
                    memory_cap,
                    hit_memory_cap,
                ));
            }
            Ok(Ok(returned)) => returned,
        };
        let verdict = match returned {
            Ok(verdict) => into_verdict(verdict, limits.max_output_bytes)?,
            Err(message) => return Err(InvokeError::Plugin(truncate(message, MAX_ERROR_MESSAGE))),
        };
        Ok(Call {
            verdict,
            fuel_used,
            peak_memory_bytes,
        })
    }

    fn memory_cap(&self, limits: &CallLimits) -> usize {
        limits.memory_bytes.min(self.config.max_memory_bytes)
    }
}

/// A store with, once the first call has run, an instance of one plugin in it.
pub(crate) struct Instance {
    store: Store<CallState>,
    bound: Option<Plugin>,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
    /// Calls started on this instance.
    pub(crate) calls: u32,
}

impl Instance {
    /// The largest linear memory the instance has had (its current size: memory only grows).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.store.data().limiter.peak_memory
    }
}

/// What a call that returned a usable verdict produced, before the instance is dropped or
/// kept.
pub(crate) struct Call {
    verdict: Verdict,
    fuel_used: u64,
    peak_memory_bytes: usize,
}

impl Call {
    pub(crate) fn into_outcome(self, started: Instant) -> Outcome {
        Outcome {
            verdict: self.verdict,
            elapsed: started.elapsed(),
            fuel_used: self.fuel_used,
            peak_memory_bytes: self.peak_memory_bytes,
        }
    }
}

fn classify_trap(
    error: &wasmtime::Error,
    limits: &CallLimits,
    fuel: u64,
    memory_cap: usize,
    hit_memory_cap: bool,
) -> InvokeError {
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        match trap {
            wasmtime::Trap::Interrupt => return InvokeError::Timeout(limits.timeout),
            wasmtime::Trap::OutOfFuel => return InvokeError::OutOfFuel(fuel),
            _ => {}
        }
    }
    // A guest whose allocation failed usually aborts, which shows up as some other trap.
    if hit_memory_cap {
        return InvokeError::MemoryLimit(memory_cap);
    }
    if error.is::<wasmtime::PoolConcurrencyLimitError>() {
        return InvokeError::Overloaded;
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => InvokeError::Trap(trap.to_string()),
        None => InvokeError::Trap(truncate(format!("{error:#}"), MAX_ERROR_MESSAGE)),
    }
}

fn into_verdict(verdict: WitVerdict, max_output: usize) -> Result<Verdict, InvokeError> {
    let too_large = |size: usize| InvokeError::OutputTooLarge {
        size,
        limit: max_output,
    };
    match verdict {
        WitVerdict::Allow => Ok(Verdict::Allow),
        WitVerdict::Discard => Ok(Verdict::Discard),
        WitVerdict::Reject(r) => {
            let size = r.message.len() + r.detail.len();
            if size > max_output {
                return Err(too_large(size));
            }
            Ok(Verdict::Reject(Rejection {
                code: r.code,
                message: r.message,
                detail: r.detail,
            }))
        }
        WitVerdict::Modify(json) => {
            if json.len() > max_output {
                return Err(too_large(json.len()));
            }
            match serde_json::from_str::<serde_json::Value>(&json) {
                Ok(serde_json::Value::Object(fields)) => Ok(Verdict::Modify(fields as JsonObject)),
                Ok(other) => Err(InvokeError::BadOutput(format!(
                    "modify must be a JSON object, got {}",
                    json_kind(&other)
                ))),
                Err(e) => Err(InvokeError::BadOutput(format!(
                    "modify is not valid JSON: {e}"
                ))),
            }
        }
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn forward_captured(
    state: &mut CallState,
    output: &CapturedOutput,
    stream: &str,
    level: logging::Level,
) {
    let bytes = output.take();
    for line in String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.is_empty())
    {
        state.log.emit(level, stream, line);
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modify_must_be_an_object_within_the_output_limit() {
        let ok = into_verdict(WitVerdict::Modify(r#"{"ex":"x"}"#.into()), 100).unwrap();
        assert_eq!(
            ok,
            Verdict::Modify(serde_json::from_str(r#"{"ex":"x"}"#).unwrap())
        );
        assert_eq!(
            into_verdict(WitVerdict::Modify("[1]".into()), 100),
            Err(InvokeError::BadOutput(
                "modify must be a JSON object, got an array".into()
            ))
        );
        assert!(matches!(
            into_verdict(WitVerdict::Modify("{nope".into()), 100),
            Err(InvokeError::BadOutput(_))
        ));
        assert_eq!(
            into_verdict(
                WitVerdict::Modify(format!(r#"{{"ex":"{}"}}"#, "x".repeat(200))),
                100
            ),
            Err(InvokeError::OutputTooLarge {
                size: 209,
                limit: 100
            })
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo".into(), 2), "h…");
        assert_eq!(truncate("short".into(), 10), "short");
    }
}
