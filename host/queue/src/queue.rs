//! [`Queue`]: the handle the ingress writes to and the consumers read from.
//!
//! Everything both backends must agree on lives here, once: plugin names, item checks,
//! the clock, the retry decision (backoff, jitter, when an item is dead) and the wake-ups.
//! A backend only stores, schedules and settles.
//!
//! Not here: which plugins an event goes to (the registry's subscriptions), calling the
//! plugins (the runtime), the admin routes and metrics (the server): they hold a `Queue`.
//!
//! The decision a reader may question: [`Queue::ack`] and [`Queue::fail`] take the
//! [`Leased`] itself, not `(plugin, id)`. A lease carries a token that changes each time
//! the item is handed out, so a consumer that outlived its lease cannot settle an item
//! another consumer now holds ([`QueueError::LeaseLost`]); with a bare id it could, and
//! the conversation would move on while the item was still running.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::backend::Backend;
use crate::clock::{Clock, SystemClock};
use crate::config::RetryPlan;
use crate::{
    DeadLetterPage, EnqueueOutcome, FailOutcome, ItemId, Leased, NewItem, QueueConfig, QueueError,
    QueueStats, Selection,
};

/// A durable delivery queue: one queue per plugin, on one backend. Cloning is cheap and
/// shares the backend.
///
/// Its `Debug` shows the backend's file or `host:port`, never a Redis password.
#[derive(Clone, Debug)]
pub struct Queue {
    backend: Backend,
    config: QueueConfig,
    clock: Arc<dyn Clock>,
    wakers: Arc<Wakers>,
}

impl Queue {
    /// Opens (or creates) the embedded queue in the redb file at `path`, e.g.
    /// `data_dir/queue.redb`. Every enqueue, ack, fail, replay and delete is on disk (synced)
    /// when its call returns. Leases live in memory: after a restart every item that was
    /// leased is handed out again.
    ///
    /// One process at a time: a second open of the same file fails with
    /// [`QueueError::Backend`] until every clone of the first handle is dropped.
    pub async fn open_embedded(path: &Path, config: QueueConfig) -> Result<Self, QueueError> {
        config.validate()?;
        let backend = Backend::open_embedded(path, config).await?;
        Ok(Self::new(backend, config))
    }

    /// Connects to Redis at `url` (`redis://[user:password@]host:port[/db]`), shared by any
    /// number of hookbox replicas: any of them may enqueue, lease and settle any item. Each
    /// handle is its own consumer; its leases that expire are taken over by the others.
    pub async fn connect_redis(url: &str, config: QueueConfig) -> Result<Self, QueueError> {
        config.validate()?;
        let backend = Backend::connect_redis(url, config).await?;
        Ok(Self::new(backend, config))
    }

    fn new(backend: Backend, config: QueueConfig) -> Self {
        Self {
            backend,
            config,
            clock: Arc::new(SystemClock),
            wakers: Arc::default(),
        }
    }

    /// The same queue, reading the time from `clock` (tests move a
    /// [`ManualClock`](crate::ManualClock)). Every replica of a Redis queue should read the
    /// same time.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The limits and retry policy it was opened with.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Stores `item` in the queue of every plugin in `plugins`, in one durable write: when
    /// this returns `Ok`, the event survives a crash and the IM server may be answered.
    ///
    /// A duplicate (its idempotency key enqueued within the dedupe window) is not stored
    /// again. A plugin whose queue is full gets the item in its dead letters instead (see
    /// [`EnqueueOutcome::Overflow`]); nothing is dropped. A plugin named twice counts once.
    pub async fn enqueue(
        &self,
        plugins: &[&str],
        item: NewItem,
    ) -> Result<EnqueueOutcome, QueueError> {
        let mut names: Vec<Arc<str>> = Vec::with_capacity(plugins.len());
        for plugin in plugins {
            check_plugin(plugin)?;
            if !names.iter().any(|name| **name == **plugin) {
                names.push(Arc::from(*plugin));
            }
        }
        if names.is_empty() {
            return Err(QueueError::InvalidItem("no plugin to queue it for"));
        }
        if item.idempotency_key.is_empty() {
            return Err(QueueError::InvalidItem("the idempotency key is empty"));
        }
        let outcome = self
            .backend
            .enqueue(names.clone(), item, self.clock.now_ms())
            .await?;
        let overflowed: &[String] = match &outcome {
            EnqueueOutcome::Queued { .. } => &[],
            EnqueueOutcome::Overflow { plugins, .. } => plugins,
            EnqueueOutcome::Duplicate { .. } => return Ok(outcome),
        };
        for name in &names {
            if !overflowed.iter().any(|full| **full == **name) {
                self.wakers.wake(name);
            }
        }
        Ok(outcome)
    }

    /// Up to `max` items of `plugin`'s queue that are ready now, oldest first, each the
    /// oldest unsettled item of its conversation: no two share an ordering key, and no item
    /// is handed out while an older one of its conversation is leased or waiting to be
    /// retried. Empty when nothing is ready; then [`Queue::wait`].
    pub async fn lease(&self, plugin: &str, max: usize) -> Result<Vec<Leased>, QueueError> {
        check_plugin(plugin)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        self.backend
            .lease(&Arc::from(plugin), max, self.clock.now_ms())
            .await
    }

    /// The plugin handled the item: it leaves the queue, and the next item of its
    /// conversation becomes ready.
    ///
    /// [`QueueError::LeaseLost`] when the lease expired and the item was handed out again:
    /// nothing changes, its new holder settles it.
    pub async fn ack(&self, leased: &Leased) -> Result<(), QueueError> {
        self.backend
            .settle(leased, None, self.clock.now_ms())
            .await?;
        self.wakers.wake(&leased.plugin);
        Ok(())
    }

    /// The plugin failed on the item (an error, a trap, a timeout): it is retried after an
    /// exponential backoff with jitter, its conversation waiting meanwhile, or, on its
    /// [`QueueConfig::max_attempts`]th failure, moved to the dead letters with `error` (and
    /// the conversation moves on).
    ///
    /// [`QueueError::LeaseLost`] as for [`Queue::ack`].
    pub async fn fail(&self, leased: &Leased, error: &str) -> Result<FailOutcome, QueueError> {
        let now = self.clock.now_ms();
        let attempts = leased.item.attempts.saturating_add(1);
        let plan = self.config.plan_retry(attempts, now);
        self.backend
            .settle(leased, Some((plan, error)), now)
            .await?;
        self.wakers.wake(&leased.plugin);
        Ok(match plan {
            RetryPlan::Retry { at_ms } => FailOutcome::Retry { attempts, at_ms },
            RetryPlan::DeadLetter => FailOutcome::DeadLettered { attempts },
        })
    }

    /// Waits until `plugin`'s queue may have work, at most `timeout`: an enqueue, ack, fail
    /// or replay through any clone of this handle wakes it; so does the next retry time or
    /// lease deadline (embedded), or [`QueueConfig::poll_interval`] (Redis, where other
    /// replicas' work is not announced). A hint, not a promise: lease again after it, and
    /// expect to find nothing now and then.
    pub async fn wait(&self, plugin: &str, timeout: Duration) {
        let waker = self.wakers.get(plugin);
        let notified = waker.notified();
        let mut sleep = timeout;
        match &self.backend {
            Backend::Embedded(_) => {
                if let Some(due) = self.backend.next_due_ms(plugin) {
                    let until = due.saturating_sub(self.clock.now_ms());
                    sleep = sleep.min(Duration::from_millis(until));
                }
            }
            Backend::Redis(_) => sleep = sleep.min(self.config.poll_interval),
        }
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(sleep) => {}
        }
    }

    /// A page of `plugin`'s dead letters, oldest first: up to `limit` of them with an id
    /// after `after` (`None`: from the start; else a previous page's `next_cursor`).
    pub async fn dead_letters(
        &self,
        plugin: &str,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<DeadLetterPage, QueueError> {
        check_plugin(plugin)?;
        self.backend
            .dead_letters(&Arc::from(plugin), after, limit)
            .await
    }

    /// Puts the selected dead letters back at the end of `plugin`'s queue (each behind its
    /// conversation's current items), with attempts reset and a new id; returns how many.
    /// Replays are not held to the size limit: an operator asked for them.
    pub async fn replay_dead_letters(
        &self,
        plugin: &str,
        which: Selection,
    ) -> Result<u64, QueueError> {
        check_plugin(plugin)?;
        let replayed = self
            .backend
            .replay_dead_letters(&Arc::from(plugin), which, self.clock.now_ms())
            .await?;
        if replayed > 0 {
            self.wakers.wake(plugin);
        }
        Ok(replayed)
    }

    /// Deletes the selected dead letters of `plugin` for good; returns how many.
    pub async fn delete_dead_letters(
        &self,
        plugin: &str,
        which: Selection,
    ) -> Result<u64, QueueError> {
        check_plugin(plugin)?;
        self.backend
            .delete_dead_letters(&Arc::from(plugin), which)
            .await
    }

    /// `plugin`'s queue in numbers. A plugin never enqueued to has all zeros.
    pub async fn stats(&self, plugin: &str) -> Result<QueueStats, QueueError> {
        check_plugin(plugin)?;
        self.backend.stats(&Arc::from(plugin)).await
    }
}

/// One [`Notify`] per plugin, created on first use.
#[derive(Debug, Default)]
struct Wakers {
    by_plugin: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakers {
    fn get(&self, plugin: &str) -> Arc<Notify> {
        let mut map = self
            .by_plugin
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(plugin.to_owned()).or_default())
    }

    /// Wakes every waiting consumer, and leaves a permit for the next one that is about to
    /// wait (it leased just before this, found nothing, and would otherwise sleep on).
    fn wake(&self, plugin: &str) {
        let waker = self.get(plugin);
        waker.notify_waiters();
        waker.notify_one();
    }
}

/// Longest plugin name, in bytes.
const MAX_PLUGIN_BYTES: usize = 128;

/// Plugin names become parts of redb keys and Redis key names, where `:` and braces are
/// delimiters; the registry's own rule (`[a-z0-9][a-z0-9-]{0,62}`) is stricter.
fn check_plugin(name: &str) -> Result<(), QueueError> {
    let refuse = |reason| {
        Err(QueueError::InvalidPlugin {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > MAX_PLUGIN_BYTES {
        return refuse("it is longer than 128 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return refuse("only ASCII letters, digits and -_. are allowed");
    }
    Ok(())
}
