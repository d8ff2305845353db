//! Warm instances for plugins in reuse mode: a small, bounded set of instances of one plugin
//! version, each called again and again until it is retired.
//!
//! A fresh instance costs a Rust or C plugin a few microseconds but a JavaScript, Python or
//! Go plugin 0.5–2.5 ms, because their runtimes initialise on every instantiation. Reuse mode
//! pays that once per instance instead of once per call. The price is isolation between
//! calls *of the same plugin*: a global set in one call is visible in the next one that
//! lands on the same instance. Nothing crosses plugins or versions, because a pool belongs
//! to one loaded version with one config and is dropped with it.
//!
//! An instance is retired (dropped, never called again) after `max_calls` calls, after any
//! call that did not return a usable verdict (trap, timeout, error, limit, bad output), and
//! when its linear memory has grown past `retire_memory_bytes`. Those three bound what one
//! call can leave behind for the next: how many calls may see it, that a half-finished call
//! never does, and how much memory it may hold.
//!
//! The decision a reader may question: the pool keeps at most `pool_size` *idle* instances
//! and never makes a call wait for one. A call that finds the pool empty builds a new
//! instance (what fresh mode does on every call), and gives it back afterwards only if there
//! is room. Waiting would turn a burst into queueing delay inside the IM server's timeout;
//! building costs one fresh-instance call. Every kept instance holds a slot of the engine's
//! pooling allocator (`RuntimeConfig::max_concurrent_calls`) while it is idle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use hookbox_model::Event;

use crate::engine::Runtime;
use crate::invoke::{CallLimits, Capabilities, Instance, InvokeError, Outcome};
use crate::plugin::LoadedPlugin;

/// When warm instances are kept and when they are retired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReusePolicy {
    /// Idle instances kept between calls.
    pub pool_size: usize,
    /// Calls an instance serves before it is retired.
    pub max_calls: u32,
    /// An instance whose linear memory has grown past this is retired after its call.
    pub retire_memory_bytes: usize,
}

impl Default for ReusePolicy {
    fn default() -> Self {
        ReusePolicy {
            pool_size: 4,
            max_calls: 1000,
            retire_memory_bytes: 24 << 20,
        }
    }
}

/// Why an instance was retired, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retirement {
    /// It served `max_calls` calls.
    MaxCalls,
    /// Its call failed.
    Failed,
    /// Its memory grew past `retire_memory_bytes`.
    Memory,
    /// The pool already held `pool_size` idle instances.
    PoolFull,
}

/// Counts of what a pool did with its instances.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Instances built (the first call on each paid the instantiation).
    pub created: u64,
    /// Calls that found a warm instance.
    pub reused: u64,
    /// Instances retired after `max_calls`.
    pub retired_max_calls: u64,
    /// Instances retired because their call failed.
    pub retired_failed: u64,
    /// Instances retired for their memory.
    pub retired_memory: u64,
    /// Instances dropped because the pool was full.
    pub dropped_pool_full: u64,
}

/// The warm instances of one plugin version with one set of capabilities.
pub struct InstancePool {
    plugin: LoadedPlugin,
    capabilities: Capabilities,
    policy: ReusePolicy,
    idle: Mutex<Vec<Instance>>,
    created: AtomicU64,
    reused: AtomicU64,
    retired: [AtomicU64; 4],
}

impl std::fmt::Debug for InstancePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstancePool")
            .field("plugin", &self.plugin.name())
            .field("policy", &self.policy)
            .field("idle", &self.idle_count())
            .finish_non_exhaustive()
    }
}

impl InstancePool {
    /// An empty pool: instances are built by the calls that need them.
    pub fn new(plugin: LoadedPlugin, capabilities: Capabilities, policy: ReusePolicy) -> Self {
        InstancePool {
            plugin,
            capabilities,
            policy,
            idle: Mutex::new(Vec::new()),
            created: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            retired: Default::default(),
        }
    }

    /// The policy the pool runs under.
    pub fn policy(&self) -> &ReusePolicy {
        &self.policy
    }

    /// Idle instances right now.
    pub fn idle_count(&self) -> usize {
        self.lock().len()
    }

    /// What the pool has done so far.
    pub fn stats(&self) -> PoolStats {
        let retired = |why: Retirement| self.retired[why as usize].load(Ordering::Relaxed);
        PoolStats {
            created: self.created.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            retired_max_calls: retired(Retirement::MaxCalls),
            retired_failed: retired(Retirement::Failed),
            retired_memory: retired(Retirement::Memory),
            dropped_pool_full: retired(Retirement::PoolFull),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        // The vector is only pushed and popped; a panic while holding it cannot corrupt it.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle instance (its pages are the likeliest to be in cache).
    fn take(&self) -> Option<Instance> {
        let instance = self.lock().pop();
        if instance.is_some() {
            self.reused.fetch_add(1, Ordering::Relaxed);
        }
        instance
    }

    /// Keep `instance` for another call, or say why not.
    fn give_back(&self, instance: Instance) -> Result<(), (Retirement, Instance)> {
        if instance.calls >= self.policy.max_calls {
            return Err((Retirement::MaxCalls, instance));
        }
        if instance.memory_bytes() > self.policy.retire_memory_bytes {
            return Err((Retirement::Memory, instance));
        }
        let mut idle = self.lock();
        if idle.len() >= self.policy.pool_size {
            drop(idle);
            return Err((Retirement::PoolFull, instance));
        }
        idle.push(instance);
        Ok(())
    }

    fn retire(&self, why: Retirement, instance: Instance) {
        self.retired[why as usize].fetch_add(1, Ordering::Relaxed);
        tracing::debug!(plugin = %self.plugin.name(), calls = instance.calls, reason = ?why, "instance retired");
        drop(instance);
    }
}

impl Runtime {
    /// Run the pool's plugin on `event` under `limits` in a warm instance if one is idle, else
    /// in a new one that the pool may keep afterwards.
    pub async fn invoke_reusing(
        &self,
        pool: &InstancePool,
        event: &Event,
        limits: &CallLimits,
    ) -> Result<Outcome, InvokeError> {
        let started = Instant::now();
        let mut instance = match pool.take() {
            Some(instance) => instance,
            None => {
                pool.created.fetch_add(1, Ordering::Relaxed);
                self.new_instance(&pool.plugin, &pool.capabilities, limits)
            }
        };
        match self
            .call(&mut instance, &pool.plugin, event, limits, started)
            .await
        {
            Ok(call) => {
                let outcome = call.into_outcome(started);
                if let Err((why, instance)) = pool.give_back(instance) {
                    pool.retire(why, instance);
                }
                Ok(outcome)
            }
            Err(error) => {
                pool.retire(Retirement::Failed, instance);
                Err(error)
            }
        }
    }
}
