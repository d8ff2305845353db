//! The embedded backend's single writer: a thread that commits every waiting call in one
//! synced transaction (a group commit), then updates the schedule, then answers.
//!
//! Calls are applied one after another inside the transaction, each seeing the ones
//! before it (a duplicate of an item enqueued earlier in the same batch is a duplicate).
//! A call the queue refuses (a lost lease) changes nothing and does not stop the others; a
//! storage error aborts the transaction, and every call in it gets the error, none having
//! happened.
//!
//! The decision a reader may question: a dedicated thread rather than `spawn_blocking`
//! per call. redb admits one write transaction at a time anyway; calls queued behind its
//! lock would each pay their own fsync, while calls queued on this thread's channel share
//! one. Committing in one thread also fixes the order of ids, commits and schedule
//! updates, which per-conversation order depends on.

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use redb::{ReadableTable, Table, Value, WriteTransaction};
use tokio::sync::oneshot;

use super::schedule::Lease;
use super::{
    COUNTERS, DEAD, DEAD_LETTERS, DEDUPE, DEDUPE_BY_TIME, DUPLICATES, DeadRow, ITEMS, ItemRow,
    META, NEXT_ID, OVERFLOWS, OrBackend, Shared,
};
use crate::clock::millis;
use crate::{DeadReason, EnqueueOutcome, ItemId, NewItem, QueueConfig, QueueError, Selection};

/// Most calls committed in one transaction.
const MAX_BATCH: usize = 512;
/// Most expired dedupe entries purged per transaction: enough to keep up with any
/// enqueue rate (each enqueue adds one), small enough not to slow a commit.
const PURGE_PER_BATCH: usize = 256;

pub(super) type Reply<T> = oneshot::Sender<Result<T, QueueError>>;

/// One call for the writer thread.
pub(super) enum Op {
    Enqueue {
        plugins: Vec<Arc<str>>,
        item: NewItem,
        now_ms: u64,
        reply: Reply<EnqueueOutcome>,
    },
    Settle {
        plugin: Arc<str>,
        id: u64,
        generation: u64,
        how: How,
        now_ms: u64,
        reply: Reply<()>,
    },
    Replay {
        plugin: Arc<str>,
        which: Selection,
        now_ms: u64,
        reply: Reply<u64>,
    },
    Delete {
        plugin: Arc<str>,
        which: Selection,
        reply: Reply<u64>,
    },
}

/// How a lease is settled.
pub(super) enum How {
    Ack,
    Retry { at_ms: u64, error: String },
    Dead { error: String },
}

/// The writer thread's handle: dropping it closes the channel and joins the thread, which
/// then lets go of the file.
pub(super) struct Writer {
    sender: Option<mpsc::Sender<Op>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start(
        shared: Arc<Shared>,
        next_id: u64,
        config: QueueConfig,
    ) -> Result<Self, QueueError> {
        let (sender, calls) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hookbox-queue-writer".into())
            .spawn(move || run(&shared, &calls, next_id, &config))
            .map_err(|e| QueueError::Backend(format!("cannot start the queue writer: {e}")))?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Hands the writer thread one call, built around its reply channel, and waits for the
    /// answer.
    pub(super) async fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .as_ref()
            .and_then(|sender| sender.send(op(reply)).ok())
            .ok_or_else(stopped)?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.sender.take());
        if let Some(thread) = self.thread.take() {
            // A panic on the writer thread has already failed its calls; nothing to add.
            let _ = thread.join();
        }
    }
}

fn stopped() -> QueueError {
    QueueError::Backend("embedded queue: the writer thread stopped".into())
}

fn run(shared: &Shared, calls: &mpsc::Receiver<Op>, mut next_id: u64, config: &QueueConfig) {
    while let Ok(first) = calls.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match calls.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        next_id = commit(shared, batch, next_id, config);
    }
}

/// A call's answer, computed inside the transaction and sent once it has committed.
enum Answer {
    Enqueue(Reply<EnqueueOutcome>, Result<EnqueueOutcome, QueueError>),
    Settle(Reply<()>, Result<(), QueueError>),
    Count(Reply<u64>, Result<u64, QueueError>),
}

impl Answer {
    /// Sends it, or `failed` instead of a success when the transaction did not commit. A
    /// caller that stopped waiting is no error.
    fn send(self, failed: Option<&QueueError>) {
        fn pick<T>(
            result: Result<T, QueueError>,
            failed: Option<&QueueError>,
        ) -> Result<T, QueueError> {
            match (result, failed) {
                (Ok(_), Some(failed)) => Err(failed.clone()),
                (result, _) => result,
            }
        }
        match self {
            Self::Enqueue(reply, result) => drop(reply.send(pick(result, failed))),
            Self::Settle(reply, result) => drop(reply.send(pick(result, failed))),
            Self::Count(reply, result) => drop(reply.send(pick(result, failed))),
        }
    }
}

/// A change to the schedule, made once the transaction has committed.
enum Effect {
    /// A new or replayed item.
    Push {
        plugin: Arc<str>,
        ordering_key: String,
        id: u64,
        due_ms: u64,
    },
    /// A failed head that stays, retried at `due_ms`.
    Retry {
        plugin: Arc<str>,
        ordering_key: String,
        id: u64,
        due_ms: u64,
    },
    /// A head that left (acked or dead).
    Finish {
        plugin: Arc<str>,
        ordering_key: String,
        id: u64,
    },
}

/// The state of one batch while its transaction is open.
struct Batch<'a> {
    shared: &'a Shared,
    config: &'a QueueConfig,
    next_id: u64,
    effects: Vec<Effect>,
    /// Leases taken out of the schedule by settlements: given back if the batch aborts.
    settling: Vec<(Arc<str>, u64, Lease)>,
    /// Items this batch adds per plugin, not yet in the schedule's depth.
    added: HashMap<Arc<str>, u64>,
    /// The latest time among the batch's enqueues, to purge dedupe entries by.
    purge_at_ms: Option<u64>,
}

/// Commits one batch and answers its calls; returns the next free id.
fn commit(shared: &Shared, ops: Vec<Op>, next_id: u64, config: &QueueConfig) -> u64 {
    let mut batch = Batch {
        shared,
        config,
        next_id,
        effects: Vec::new(),
        settling: Vec::new(),
        added: HashMap::new(),
        purge_at_ms: None,
    };
    let mut answers = Vec::with_capacity(ops.len());
    let committed = (|| {
        let txn = shared.db.begin_write().or_backend()?;
        {
            let mut tables = Tables::open(&txn)?;
            for op in ops {
                answers.push(batch.apply(&mut tables, op)?);
            }
            tables.meta.insert(NEXT_ID, batch.next_id).or_backend()?;
            if let Some(now_ms) = batch.purge_at_ms {
                purge_dedupe(&mut tables, now_ms, millis(config.dedupe_window))?;
            }
        }
        txn.commit().or_backend()
    })();
    match committed {
        Ok(()) => {
            let mut schedule = shared.schedule();
            for effect in batch.effects {
                match effect {
                    Effect::Push {
                        plugin,
                        ordering_key,
                        id,
                        due_ms,
                    } => schedule.push(&plugin, &ordering_key, id, due_ms),
                    Effect::Retry {
                        plugin,
                        ordering_key,
                        id,
                        due_ms,
                    } => schedule.retry(&plugin, &ordering_key, id, due_ms),
                    Effect::Finish {
                        plugin,
                        ordering_key,
                        id,
                    } => schedule.finish(&plugin, &ordering_key, id),
                }
            }
            drop(schedule);
            for answer in answers {
                answer.send(None);
            }
            batch.next_id
        }
        Err(failed) => {
            let mut schedule = shared.schedule();
            for (plugin, id, lease) in &batch.settling {
                schedule.release(plugin, *id, lease);
            }
            drop(schedule);
            // Calls after the failing one were never applied; their replies drop with
            // `ops`, which their callers see as the writer failing. Those applied get the
            // error itself.
            for answer in answers {
                answer.send(Some(&failed));
            }
            next_id
        }
    }
}

/// The open tables of one write transaction.
struct Tables<'txn> {
    items: Table<'txn, (&'static str, u64), ItemRow>,
    dead: Table<'txn, (&'static str, u64), DeadRow>,
    dedupe: Table<'txn, &'static str, (u64, u64)>,
    dedupe_by_time: Table<'txn, (u64, &'static str), ()>,
    counters: Table<'txn, (&'static str, &'static str), u64>,
    meta: Table<'txn, &'static str, u64>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, QueueError> {
        Ok(Self {
            items: txn.open_table(ITEMS).or_backend()?,
            dead: txn.open_table(DEAD).or_backend()?,
            dedupe: txn.open_table(DEDUPE).or_backend()?,
            dedupe_by_time: txn.open_table(DEDUPE_BY_TIME).or_backend()?,
            counters: txn.open_table(COUNTERS).or_backend()?,
            meta: txn.open_table(META).or_backend()?,
        })
    }

    fn bump(&mut self, plugin: &str, counter: &str, by: i64) -> Result<(), QueueError> {
        let current = self
            .counters
            .get((plugin, counter))
            .or_backend()?
            .map_or(0, |value| value.value());
        self.counters
            .insert((plugin, counter), current.saturating_add_signed(by))
            .or_backend()?;
        Ok(())
    }

    /// The ids of `plugin`'s dead letters that `which` names.
    fn selected(&self, plugin: &str, which: Selection) -> Result<Vec<u64>, QueueError> {
        match which {
            Selection::Ids(ids) => Ok(ids.into_iter().map(|id| id.0).collect()),
            Selection::All => {
                let mut ids = Vec::new();
                for entry in self
                    .dead
                    .range((plugin, 0)..=(plugin, u64::MAX))
                    .or_backend()?
                {
                    ids.push(entry.or_backend()?.0.value().1);
                }
                Ok(ids)
            }
        }
    }
}

/// An item's fields, owned, between reading a row and writing it elsewhere.
struct OwnedRow {
    idempotency_key: String,
    ordering_key: String,
    attempts: u32,
    enqueued_at_ms: u64,
    next_attempt_at_ms: u64,
    last_error: Option<String>,
    payload: Vec<u8>,
}

impl OwnedRow {
    fn item_row(&self) -> <ItemRow as Value>::SelfType<'_> {
        (
            &self.idempotency_key,
            &self.ordering_key,
            self.attempts,
            self.enqueued_at_ms,
            self.next_attempt_at_ms,
            self.last_error.as_deref(),
            &self.payload,
        )
    }

    fn dead_row(&self, reason: DeadReason, dead_at_ms: u64) -> <DeadRow as Value>::SelfType<'_> {
        let (a, b, c, d, e, f, g) = self.item_row();
        (a, b, c, d, e, f, g, reason.as_str(), dead_at_ms)
    }
}

impl Batch<'_> {
    /// Applies one call. `Err` is a storage error, which aborts the whole batch; a refusal
    /// is in the answer.
    fn apply(&mut self, tables: &mut Tables<'_>, op: Op) -> Result<Answer, QueueError> {
        Ok(match op {
            Op::Enqueue {
                plugins,
                item,
                now_ms,
                reply,
            } => Answer::Enqueue(reply, Ok(self.enqueue(tables, plugins, item, now_ms)?)),
            Op::Settle {
                plugin,
                id,
                generation,
                how,
                now_ms,
                reply,
            } => Answer::Settle(
                reply,
                self.settle(tables, plugin, id, generation, how, now_ms)?,
            ),
            Op::Replay {
                plugin,
                which,
                now_ms,
                reply,
            } => Answer::Count(reply, Ok(self.replay(tables, &plugin, which, now_ms)?)),
            Op::Delete {
                plugin,
                which,
                reply,
            } => Answer::Count(reply, Ok(self.delete(tables, &plugin, which)?)),
        })
    }

    fn enqueue(
        &mut self,
        tables: &mut Tables<'_>,
        plugins: Vec<Arc<str>>,
        item: NewItem,
        now_ms: u64,
    ) -> Result<EnqueueOutcome, QueueError> {
        let window = millis(self.config.dedupe_window);
        let key = item.idempotency_key.as_str();
        if window > 0 {
            let seen = tables
                .dedupe
                .get(key)
                .or_backend()?
                .map(|seen| seen.value());
            if let Some((seen_at_ms, original)) = seen
                && now_ms < seen_at_ms.saturating_add(window)
            {
                for plugin in &plugins {
                    tables.bump(plugin, DUPLICATES, 1)?;
                }
                return Ok(EnqueueOutcome::Duplicate {
                    original: ItemId(original),
                });
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        if window > 0 {
            let previous = tables
                .dedupe
                .insert(key, (now_ms, id))
                .or_backend()?
                .map(|previous| previous.value().0);
            if let Some(previous_at_ms) = previous {
                tables
                    .dedupe_by_time
                    .remove((previous_at_ms, key))
                    .or_backend()?;
            }
            tables
                .dedupe_by_time
                .insert((now_ms, key), ())
                .or_backend()?;
        }
        // Also with the window off: entries kept under an earlier, longer window go too.
        self.purge_at_ms = Some(self.purge_at_ms.map_or(now_ms, |at| at.max(now_ms)));
        let row = OwnedRow {
            idempotency_key: item.idempotency_key,
            ordering_key: item.ordering_key,
            attempts: 0,
            enqueued_at_ms: now_ms,
            next_attempt_at_ms: now_ms,
            last_error: None,
            payload: item.payload,
        };
        let mut overflowed = Vec::new();
        for plugin in plugins {
            let added = self.added.get(&plugin).copied().unwrap_or(0);
            let depth = self.shared.schedule().depth(&plugin) + added;
            if depth >= self.config.max_items_per_plugin {
                tables
                    .dead
                    .insert((&*plugin, id), row.dead_row(DeadReason::Overflow, now_ms))
                    .or_backend()?;
                tables.bump(&plugin, DEAD_LETTERS, 1)?;
                tables.bump(&plugin, OVERFLOWS, 1)?;
                overflowed.push(plugin.to_string());
            } else {
                tables
                    .items
                    .insert((&*plugin, id), row.item_row())
                    .or_backend()?;
                self.added.insert(Arc::clone(&plugin), added + 1);
                self.effects.push(Effect::Push {
                    plugin,
                    ordering_key: row.ordering_key.clone(),
                    id,
                    due_ms: now_ms,
                });
            }
        }
        let id = ItemId(id);
        Ok(if overflowed.is_empty() {
            EnqueueOutcome::Queued { id }
        } else {
            EnqueueOutcome::Overflow {
                id,
                plugins: overflowed,
            }
        })
    }

    fn settle(
        &mut self,
        tables: &mut Tables<'_>,
        plugin: Arc<str>,
        id: u64,
        generation: u64,
        how: How,
        now_ms: u64,
    ) -> Result<Result<(), QueueError>, QueueError> {
        let lost = || QueueError::LeaseLost {
            plugin: plugin.to_string(),
            id: ItemId(id),
        };
        let Some(lease) = self.shared.schedule().take_lease(&plugin, id, generation) else {
            return Ok(Err(lost()));
        };
        self.settling.push((Arc::clone(&plugin), id, lease));
        let row = tables.items.get((&*plugin, id)).or_backend()?.map(|row| {
            let (ikey, okey, attempts, enqueued, next, error, payload) = row.value();
            OwnedRow {
                idempotency_key: ikey.to_owned(),
                ordering_key: okey.to_owned(),
                attempts,
                enqueued_at_ms: enqueued,
                next_attempt_at_ms: next,
                last_error: error.map(str::to_owned),
                payload: payload.to_vec(),
            }
        });
        let Some(mut row) = row else {
            // Not reachable while the schedule follows the file.
            return Err(QueueError::Backend(format!(
                "embedded queue: leased item {id} of {plugin:?} is not stored"
            )));
        };
        let ordering_key = row.ordering_key.clone();
        match how {
            How::Ack => {
                tables.items.remove((&*plugin, id)).or_backend()?;
                self.effects.push(Effect::Finish {
                    plugin,
                    ordering_key,
                    id,
                });
            }
            How::Retry { at_ms, error } => {
                row.attempts = row.attempts.saturating_add(1);
                row.next_attempt_at_ms = at_ms;
                row.last_error = Some(error);
                tables
                    .items
                    .insert((&*plugin, id), row.item_row())
                    .or_backend()?;
                self.effects.push(Effect::Retry {
                    plugin,
                    ordering_key,
                    id,
                    due_ms: at_ms,
                });
            }
            How::Dead { error } => {
                row.attempts = row.attempts.saturating_add(1);
                row.last_error = Some(error);
                tables.items.remove((&*plugin, id)).or_backend()?;
                tables
                    .dead
                    .insert((&*plugin, id), row.dead_row(DeadReason::Failed, now_ms))
                    .or_backend()?;
                tables.bump(&plugin, DEAD_LETTERS, 1)?;
                self.effects.push(Effect::Finish {
                    plugin,
                    ordering_key,
                    id,
                });
            }
        }
        Ok(Ok(()))
    }

    fn replay(
        &mut self,
        tables: &mut Tables<'_>,
        plugin: &Arc<str>,
        which: Selection,
        now_ms: u64,
    ) -> Result<u64, QueueError> {
        let mut replayed = 0;
        for old in tables.selected(plugin, which)? {
            let Some(row) = tables.dead.remove((&**plugin, old)).or_backend()? else {
                continue;
            };
            let (ikey, okey, _, enqueued, _, error, payload, _, _) = row.value();
            let row = OwnedRow {
                idempotency_key: ikey.to_owned(),
                ordering_key: okey.to_owned(),
                attempts: 0,
                enqueued_at_ms: enqueued,
                next_attempt_at_ms: now_ms,
                last_error: error.map(str::to_owned),
                payload: payload.to_vec(),
            };
            let id = self.next_id;
            self.next_id += 1;
            tables
                .items
                .insert((&**plugin, id), row.item_row())
                .or_backend()?;
            self.effects.push(Effect::Push {
                plugin: Arc::clone(plugin),
                ordering_key: row.ordering_key,
                id,
                due_ms: now_ms,
            });
            replayed += 1;
        }
        *self.added.entry(Arc::clone(plugin)).or_default() += replayed;
        tables.bump(
            plugin,
            DEAD_LETTERS,
            -i64::try_from(replayed).unwrap_or(i64::MAX),
        )?;
        Ok(replayed)
    }

    fn delete(
        &mut self,
        tables: &mut Tables<'_>,
        plugin: &Arc<str>,
        which: Selection,
    ) -> Result<u64, QueueError> {
        let mut deleted = 0;
        for id in tables.selected(plugin, which)? {
            if tables.dead.remove((&**plugin, id)).or_backend()?.is_some() {
                deleted += 1;
            }
        }
        tables.bump(
            plugin,
            DEAD_LETTERS,
            -i64::try_from(deleted).unwrap_or(i64::MAX),
        )?;
        Ok(deleted)
    }
}

/// Removes up to [`PURGE_PER_BATCH`] dedupe entries whose window has passed at `now_ms`.
fn purge_dedupe(tables: &mut Tables<'_>, now_ms: u64, window: u64) -> Result<(), QueueError> {
    let mut expired = Vec::new();
    for entry in tables.dedupe_by_time.iter().or_backend()? {
        let (key, _) = entry.or_backend()?;
        let (seen_at_ms, idempotency_key) = key.value();
        if seen_at_ms.saturating_add(window) > now_ms || expired.len() == PURGE_PER_BATCH {
            break;
        }
        expired.push((seen_at_ms, idempotency_key.to_owned()));
    }
    for (seen_at_ms, idempotency_key) in expired {
        tables
            .dedupe_by_time
            .remove((seen_at_ms, idempotency_key.as_str()))
            .or_backend()?;
        let current = tables
            .dedupe
            .get(idempotency_key.as_str())
            .or_backend()?
            .map(|seen| seen.value().0);
        if current == Some(seen_at_ms) {
            tables
                .dedupe
                .remove(idempotency_key.as_str())
                .or_backend()?;
        }
    }
    Ok(())
}
