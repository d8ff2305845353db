//! The two backends behind one set of operations.
//!
//! Callers ([`crate::Queue`]) have already checked plugin names and items, read the clock
//! and decided what a failure leads to; a backend does what only it can do atomically: the
//! writes, the dedupe and size checks against what is stored, and the per-conversation
//! scheduling.
//!
//! An enum and not a trait object, as in `hookbox-kv`: there are exactly two backends, and
//! async functions in traits are not object-safe without boxing every call.

mod embedded;
mod redis;

use std::path::Path;
use std::sync::Arc;

pub(crate) use embedded::Embedded;
pub(crate) use redis::Redis;

use crate::config::RetryPlan;
use crate::{
    DeadLetterPage, EnqueueOutcome, ItemId, Leased, NewItem, QueueConfig, QueueError, QueueStats,
    Selection,
};

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Embedded(Embedded),
    Redis(Redis),
}

impl Backend {
    pub(crate) async fn open_embedded(
        path: &Path,
        config: QueueConfig,
    ) -> Result<Self, QueueError> {
        Ok(Self::Embedded(Embedded::open(path, config).await?))
    }

    pub(crate) async fn connect_redis(url: &str, config: QueueConfig) -> Result<Self, QueueError> {
        Ok(Self::Redis(Redis::connect(url, config).await?))
    }

    pub(crate) async fn enqueue(
        &self,
        plugins: Vec<Arc<str>>,
        item: NewItem,
        now_ms: u64,
    ) -> Result<EnqueueOutcome, QueueError> {
        match self {
            Self::Embedded(queue) => queue.enqueue(plugins, item, now_ms).await,
            Self::Redis(queue) => queue.enqueue(&plugins, &item, now_ms).await,
        }
    }

    pub(crate) async fn lease(
        &self,
        plugin: &Arc<str>,
        max: usize,
        now_ms: u64,
    ) -> Result<Vec<Leased>, QueueError> {
        match self {
            Self::Embedded(queue) => queue.lease(plugin, max, now_ms).await,
            Self::Redis(queue) => queue.lease(plugin, max, now_ms).await,
        }
    }

    /// Settles a lease: acked when `plan` is `None`, else failed as the plan says.
    pub(crate) async fn settle(
        &self,
        leased: &Leased,
        plan: Option<(RetryPlan, &str)>,
        now_ms: u64,
    ) -> Result<(), QueueError> {
        match self {
            Self::Embedded(queue) => queue.settle(leased, plan, now_ms).await,
            Self::Redis(queue) => queue.settle(leased, plan, now_ms).await,
        }
    }

    pub(crate) async fn dead_letters(
        &self,
        plugin: &Arc<str>,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<DeadLetterPage, QueueError> {
        match self {
            Self::Embedded(queue) => queue.dead_letters(plugin, after, limit).await,
            Self::Redis(queue) => queue.dead_letters(plugin, after, limit).await,
        }
    }

    pub(crate) async fn replay_dead_letters(
        &self,
        plugin: &Arc<str>,
        which: Selection,
        now_ms: u64,
    ) -> Result<u64, QueueError> {
        match self {
            Self::Embedded(queue) => queue.replay_dead_letters(plugin, which, now_ms).await,
            Self::Redis(queue) => queue.replay_dead_letters(plugin, which, now_ms).await,
        }
    }

    pub(crate) async fn delete_dead_letters(
        &self,
        plugin: &Arc<str>,
        which: Selection,
    ) -> Result<u64, QueueError> {
        match self {
            Self::Embedded(queue) => queue.delete_dead_letters(plugin, which).await,
            Self::Redis(queue) => queue.delete_dead_letters(plugin, which).await,
        }
    }

    pub(crate) async fn stats(&self, plugin: &Arc<str>) -> Result<QueueStats, QueueError> {
        match self {
            Self::Embedded(queue) => queue.stats(plugin).await,
            Self::Redis(queue) => queue.stats(plugin).await,
        }
    }

    /// When work may next be ready without anyone telling us: the earliest retry time or
    /// lease deadline (embedded); `None` where that is not known locally (Redis).
    pub(crate) fn next_due_ms(&self, plugin: &str) -> Option<u64> {
        match self {
            Self::Embedded(queue) => queue.next_due_ms(plugin),
            Self::Redis(_) => None,
        }
    }
}
