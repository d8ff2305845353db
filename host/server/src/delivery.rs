//! Durable delivery of after-callbacks: the ingress stores the event in the queue and
//! answers at once; consumer tasks deliver it to each plugin afterwards.
//!
//! Two halves, one type. `Delivery::accept` is the ingress side: it gives the event its
//! idempotency key (metadata `idempotencyKey`), enqueues it once for every plugin of the chain
//! with `delivery = "queued"`, and returns the plugins that still run before the answer
//! (`delivery = "sync"`, or all of them when the queue failed). [`Delivery::run`] is the
//! consumer side: a supervisor keeps one consumer per plugin that has queued after-callbacks in
//! the current registry snapshot; each consumer leases items, runs the plugin alone on them
//! through [`run_chain`] (so its breaker, concurrency limit, metrics and instance pool apply),
//! and acks or fails each one. Retries, backoff, dead letters and per-conversation order are
//! the queue's ([`hookbox_queue`]); a consumer never holds two items of one conversation,
//! because the queue never hands them out together.
//!
//! Not here: the queue's storage, the keys (the dialects make them), the admin routes over
//! the dead letters (`admin::dead_letters`).
//!
//! The decisions a reader may question:
//! - *A queue that fails to store the event is not the IM server's problem.* `Backend` from
//!   the enqueue means the event is not stored, so answering allow and moving on would lose
//!   it; refusing would make OpenIM drop it anyway (it never retries). So the queued plugins
//!   run inline, before the answer, as if they were `sync`, and the error is logged and
//!   counted (`outcome="inline_fallback"`). A full queue is not a failure: the item is in the
//!   plugin's dead letters, on disk, and the answer goes out.
//! - *The supervisor polls the registry* (its snapshot counter, every 250 ms) instead of being
//!   told about swaps. A consumer that starts a quarter second late loses nothing, the items
//!   wait in the queue, and the registry stays unaware of delivery.
//! - *An item whose plugin is gone is left leased*, not failed: its lease runs out and it
//!   waits in the queue until a plugin of that name returns (or an operator deletes it). Its
//!   plugin being removed is no attempt of the item.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hookbox_dialects::{Callback, DeliveryKeys, phase_of};
use hookbox_model::{DialectKind, Event, Phase};
use hookbox_queue::{EnqueueOutcome, FailOutcome, Leased, NewItem, Queue, QueueError};
use hookbox_registry::{Delivery as DeliveryMode, PluginEntry, Registry, StepResult, run_chain};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::metrics::Metrics;

/// How often the supervisor looks for a new registry snapshot.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// Longest a consumer sleeps with nothing to do before it looks at the queue again (the
/// queue wakes it sooner for its own enqueues, retries and replays).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Pause after the queue itself failed a lease, so a broken store is not hammered.
const LEASE_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The durable queue of after-callbacks and the consumers that empty it.
pub struct Delivery {
    queue: Queue,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    concurrency: usize,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", &self.queue)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// Whether `entry` gets after-callbacks through the queue: enabled, `delivery = "queued"`,
/// and subscribed to at least one after-command.
pub(crate) fn delivers_queued(entry: &PluginEntry) -> bool {
    entry.manifest.enabled
        && entry.manifest.delivery == DeliveryMode::Queued
        && entry
            .manifest
            .commands
            .iter()
            .any(|command| phase_of(command) == Phase::After)
}

impl Delivery {
    /// Delivery through `queue` of the plugins in `registry`, at most `concurrency` calls at
    /// once per plugin, counted in `metrics`.
    pub fn new(
        queue: Queue,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        concurrency: usize,
    ) -> Arc<Delivery> {
        Arc::new(Delivery {
            queue,
            registry,
            metrics,
            concurrency: concurrency.max(1),
        })
    }

    /// The queue (the admin API reads and replays its dead letters through a clone of it,
    /// which shares its wake-ups).
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The ingress side, for an after-callback about to be answered: the event plugins see
    /// (with its idempotency key), and the plugins of `chain` that must run before the answer.
    /// The others have the event in the queue when this returns.
    pub(crate) async fn accept(
        &self,
        callback: &Callback,
        chain: &[Arc<PluginEntry>],
    ) -> (Event, Vec<Arc<PluginEntry>>) {
        let keys = callback.delivery_keys();
        let event = keys.tag(&callback.event);
        let queued: Vec<&str> = chain
            .iter()
            .filter(|entry| entry.manifest.delivery == DeliveryMode::Queued)
            .map(|entry| entry.manifest.name.as_str())
            .collect();
        if queued.is_empty() {
            return (event, chain.to_vec());
        }
        match self.enqueue(&queued, &keys, &event).await {
            Ok(()) => {
                let inline = chain
                    .iter()
                    .filter(|entry| entry.manifest.delivery == DeliveryMode::Sync)
                    .cloned()
                    .collect();
                (event, inline)
            }
            Err(error) => {
                tracing::error!(
                    plugins = ?queued,
                    key = %keys.idempotency,
                    "the queue did not store the after-callback ({error}); running its queued plugins before the answer instead"
                );
                for plugin in &queued {
                    self.metrics.record_enqueue(plugin, "inline_fallback");
                }
                (event, chain.to_vec())
            }
        }
    }

    /// Stores `event` for `plugins` and counts what happened; `Err` only when it is not stored.
    async fn enqueue(
        &self,
        plugins: &[&str],
        keys: &DeliveryKeys,
        event: &Event,
    ) -> Result<(), QueueError> {
        let item = NewItem {
            idempotency_key: keys.idempotency.clone(),
            ordering_key: keys.ordering.clone(),
            payload: encode(event),
        };
        match self.queue.enqueue(plugins, item).await? {
            EnqueueOutcome::Queued { .. } => {
                for plugin in plugins {
                    self.metrics.record_enqueue(plugin, "queued");
                }
            }
            EnqueueOutcome::Duplicate { original } => {
                tracing::debug!(key = %keys.idempotency, %original, "duplicate after-callback: already queued");
                for plugin in plugins {
                    self.metrics.record_enqueue(plugin, "duplicate");
                }
            }
            EnqueueOutcome::Overflow { id, plugins: full } => {
                tracing::warn!(
                    plugins = ?full,
                    %id,
                    key = %keys.idempotency,
                    "after-callback queue full: the event went to these plugins' dead letters (replay it once there is room)"
                );
                for plugin in plugins {
                    let outcome = if full.iter().any(|f| f == plugin) {
                        "overflow"
                    } else {
                        "queued"
                    };
                    self.metrics.record_enqueue(plugin, outcome);
                }
            }
        }
        Ok(())
    }

    /// The consumer side: keeps one consumer per plugin with queued after-callbacks in the
    /// current snapshot (and for plugins whose queue still holds items), starting and stopping
    /// them as plugins come and go, until `shutdown` resolves. Then every consumer stops
    /// leasing, finishes the calls it has running, and this returns.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send) {
        let mut consumers: HashMap<String, Consumer> = HashMap::new();
        let mut seen_swaps = None;
        tokio::pin!(shutdown);
        loop {
            let swaps = self.registry.swap_count();
            // A consumer that ended by itself (it panicked) is started again on the next look.
            let ended = consumers.values().any(|c| c.task.is_finished());
            if seen_swaps != Some(swaps) || ended {
                seen_swaps = Some(swaps);
                self.reconcile(&mut consumers).await;
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(WATCH_INTERVAL) => {}
            }
        }
        for consumer in consumers.values() {
            let _ = consumer.stop.send(true);
        }
        for (plugin, consumer) in consumers {
            if let Err(error) = consumer.task.await {
                tracing::error!(plugin = %plugin, "after-callback consumer failed: {error}");
            }
        }
    }

    /// Start a consumer for every plugin that needs one and has none, stop the others.
    async fn reconcile(self: &Arc<Self>, consumers: &mut HashMap<String, Consumer>) {
        let snapshot = self.registry.snapshot();
        let mut wanted = Vec::new();
        for entry in snapshot.plugins() {
            let name = &entry.manifest.name;
            // Items queued before the plugin switched to `sync` or dropped its after-commands
            // are still delivered.
            let wants = delivers_queued(entry)
                || (entry.manifest.enabled
                    && self
                        .queue
                        .stats(name)
                        .await
                        .is_ok_and(|stats| stats.depth > 0));
            if wants {
                wanted.push(name.clone());
            }
        }
        consumers.retain(|plugin, consumer| {
            let keep = wanted.contains(plugin) && !consumer.task.is_finished();
            if !keep {
                tracing::info!(plugin = %plugin, "after-callback consumer stopping");
                let _ = consumer.stop.send(true);
            }
            keep
        });
        for plugin in wanted {
            if consumers.contains_key(&plugin) {
                continue;
            }
            tracing::info!(plugin = %plugin, concurrency = self.concurrency, "after-callback consumer starting");
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(self.clone().consume(plugin.clone(), stopped));
            consumers.insert(plugin, Consumer { stop, task });
        }
    }

    /// One plugin's consumer: lease what there is room for, deliver each item in its own
    /// task, wait for work or a free slot, until told to stop; then let running calls end.
    async fn consume(self: Arc<Self>, plugin: String, mut stop: watch::Receiver<bool>) {
        let mut running = JoinSet::new();
        while !*stop.borrow() {
            while let Some(done) = running.try_join_next() {
                report_panic(&plugin, done);
            }
            let free = self.concurrency.saturating_sub(running.len());
            if free > 0 {
                match self.queue.lease(&plugin, free).await {
                    Ok(items) if !items.is_empty() => {
                        for leased in items {
                            running.spawn(self.clone().deliver(leased));
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(plugin = %plugin, "cannot lease after-callbacks: {error}");
                        tokio::select! {
                            () = tokio::time::sleep(LEASE_ERROR_PAUSE) => {}
                            _ = stop.changed() => {}
                        }
                        continue;
                    }
                }
            }
            tokio::select! {
                () = self.queue.wait(&plugin, IDLE_WAIT), if free > 0 => {}
                Some(done) = running.join_next(), if !running.is_empty() => report_panic(&plugin, done),
                _ = stop.changed() => {}
            }
        }
        while let Some(done) = running.join_next().await {
            report_panic(&plugin, done);
        }
    }

    /// Run the item's plugin on it and settle it: ack when the plugin decided, fail (retry or
    /// dead letter, the queue decides) when it failed.
    async fn deliver(self: Arc<Self>, leased: Leased) {
        let plugin = leased.plugin();
        let snapshot = self.registry.snapshot();
        let Some(entry) = snapshot.plugin(plugin).cloned() else {
            tracing::info!(plugin, id = %leased.item.id, "plugin gone: its after-callback waits in the queue");
            return;
        };
        let event = match decode(&leased.item.payload) {
            Ok(event) => event,
            Err(why) => return self.settle(&leased, Err(why)).await,
        };
        let report = run_chain(
            self.registry.runtime(),
            std::slice::from_ref(&entry),
            &event,
            Phase::After,
            None,
            // After-callbacks cannot modify anything; the chain never asks.
            |_: &hookbox_model::JsonObject| Ok(()),
        )
        .await;
        self.metrics.record_steps(&report.steps);
        let result = match report.steps.first().map(|step| &step.result) {
            Some(StepResult::Decided(_)) => Ok(()),
            Some(StepResult::Failed { kind, message }) => Err(format!("{kind}: {message}")),
            None => Err("the plugin did not run".to_owned()),
        };
        self.settle(&leased, result).await;
    }

    async fn settle(&self, leased: &Leased, result: Result<(), String>) {
        let plugin = leased.plugin();
        let id = leased.item.id;
        let settled = match &result {
            Ok(()) => self.queue.ack(leased).await.map(|()| "delivered"),
            Err(why) => self.queue.fail(leased, why).await.map(|outcome| match outcome {
                FailOutcome::Retry { attempts, at_ms } => {
                    tracing::debug!(plugin, %id, attempts, at_ms, "after-callback will be retried");
                    "retry"
                }
                FailOutcome::DeadLettered { attempts } => {
                    tracing::warn!(
                        plugin,
                        %id,
                        attempts,
                        key = %leased.item.idempotency_key,
                        "after-callback moved to the dead letters: {why}"
                    );
                    "dead_lettered"
                }
            }),
        };
        match settled {
            Ok(outcome) => self.metrics.record_delivery(plugin, outcome),
            Err(QueueError::LeaseLost { .. }) => {
                // Slower than the lease: another consumer has the item now and settles it.
                tracing::warn!(plugin, %id, "after-callback lease expired before it was settled; it is delivered again");
                self.metrics.record_delivery(plugin, "lease_lost");
            }
            Err(error) => {
                tracing::error!(plugin, %id, "cannot settle an after-callback (it is delivered again after its lease): {error}");
            }
        }
    }
}

/// A running consumer and the switch that stops it.
struct Consumer {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn report_panic(plugin: &str, done: Result<(), tokio::task::JoinError>) {
    if let Err(error) = done {
        tracing::error!(plugin, "an after-callback delivery task failed: {error}");
    }
}

/// An event as the queue stores it: the whole [`Event`], metadata included, so a consumer
/// hands the plugin exactly what the ingress would have. `v` names the layout, for the day
/// it changes under items already on disk.
#[derive(Serialize, Deserialize)]
struct StoredEvent {
    v: u32,
    dialect: DialectKind,
    command: String,
    metadata: Vec<(String, String)>,
    payload: String,
}

const STORED_VERSION: u32 = 1;

fn encode(event: &Event) -> Vec<u8> {
    let stored = StoredEvent {
        v: STORED_VERSION,
        dialect: event.dialect,
        command: event.command.clone(),
        metadata: event.metadata.clone(),
        payload: event.payload.clone(),
    };
    // Strings and a plain enum: serialising cannot fail.
    serde_json::to_vec(&stored).unwrap_or_default()
}

/// The event stored in a queue item's payload; `Err` with the reason for an item this
/// version cannot read.
pub(crate) fn decode(payload: &[u8]) -> Result<Event, String> {
    let stored: StoredEvent = serde_json::from_slice(payload)
        .map_err(|e| format!("the queued event cannot be read: {e}"))?;
    if stored.v != STORED_VERSION {
        return Err(format!(
            "the queued event has layout v{}, not v{STORED_VERSION}",
            stored.v
        ));
    }
    Ok(Event {
        dialect: stored.dialect,
        command: stored.command,
        payload: stored.payload,
        metadata: stored.metadata,
    })
}

#[cfg(test)]
mod tests {
    use hookbox_dialects::IDEMPOTENCY_KEY;

    use super::*;

    #[test]
    fn a_stored_event_reads_back_whole() {
        let event = Event {
            dialect: DialectKind::Tencent,
            command: "Group.CallbackAfterSendMsg".to_owned(),
            payload: "{\"GroupId\":\"g\"}\n".to_owned(),
            metadata: vec![
                ("SdkAppid".to_owned(), "1400000000".to_owned()),
                (IDEMPOTENCY_KEY.to_owned(), "tencent:1:k".to_owned()),
            ],
        };
        assert_eq!(decode(&encode(&event)), Ok(event));
        assert!(decode(b"not json").is_err());
        let future = br#"{"v":2,"dialect":"openim","command":"c","metadata":[],"payload":""}"#;
        assert!(decode(future).unwrap_err().contains("v2"));
    }
}
