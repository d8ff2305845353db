//! The embedded backend: one redb file, zero setup, for a single hookbox process.
//!
//! Tables (`plugin` is the queue's name, `id` the item's):
//! - `items`: (plugin, id) → the item, while it is queued (waiting, leased or retrying);
//! - `dead_letters`: (plugin, id) → the item, its reason and when it died;
//! - `dedupe`: idempotency key → (first seen at, id), and `dedupe_by_time`: (seen at,
//!   key) → (), the same entries in time order, so expired ones are purged oldest first, a
//!   few per write;
//! - `counters`: (plugin, name) → u64, for dead letters, overflows and duplicates;
//! - `meta`: `next_id`.
//!
//! Writes go through one thread ([`writer`]) that commits whatever calls are waiting in
//! one transaction, synced (`Durability::Immediate`) before any of them is answered: a
//! group commit. One fsync per enqueue when calls come one at a time, far fewer than one
//! per call when they come together, and every call is still on disk when it returns. It
//! is also what keeps ids in commit order and the schedule in step with the file.
//!
//! Scheduling (which item is next in each conversation, which are leased) is kept in
//! memory ([`schedule`]), rebuilt from `items` at open. Leases are never written: a crash
//! voids them all, and the items are handed out again after the restart.
//!
//! redb blocks on disk I/O, so reads run on tokio's blocking pool and writes on the
//! writer thread; no runtime thread waits for a disk.

mod schedule;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, Value};

use self::schedule::Schedule;
use self::writer::{How, Op, Writer};
use crate::clock::millis;
use crate::config::RetryPlan;
use crate::item::LeaseToken;
use crate::{
    DeadLetter, DeadLetterPage, DeadReason, EnqueueOutcome, Item, ItemId, Leased, NewItem,
    QueueConfig, QueueError, QueueStats, Selection,
};

/// (idempotency key, ordering key, failed attempts, enqueued at, next attempt at, last
/// error, payload).
type ItemRow = (
    &'static str,
    &'static str,
    u32,
    u64,
    u64,
    Option<&'static str>,
    &'static [u8],
);
/// An [`ItemRow`]'s fields, then (reason, dead at).
type DeadRow = (
    &'static str,
    &'static str,
    u32,
    u64,
    u64,
    Option<&'static str>,
    &'static [u8],
    &'static str,
    u64,
);

const ITEMS: TableDefinition<(&str, u64), ItemRow> = TableDefinition::new("items");
const DEAD: TableDefinition<(&str, u64), DeadRow> = TableDefinition::new("dead_letters");
const DEDUPE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("dedupe");
const DEDUPE_BY_TIME: TableDefinition<(u64, &str), ()> = TableDefinition::new("dedupe_by_time");
const COUNTERS: TableDefinition<(&str, &str), u64> = TableDefinition::new("counters");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const NEXT_ID: &str = "next_id";
const DEAD_LETTERS: &str = "dead_letters";
const OVERFLOWS: &str = "overflows";
const DUPLICATES: &str = "duplicates";

/// What the reads and the writer thread share: the file and the schedule.
struct Shared {
    db: Database,
    schedule: Mutex<Schedule>,
}

impl Shared {
    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        // The schedule's methods do not panic midway; a poisoned lock still holds a
        // consistent schedule.
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone)]
pub(crate) struct Embedded {
    // Declared first so it drops first: the writer thread is joined (and lets go of the
    // file) before this handle's own reference to it goes.
    writer: Arc<Writer>,
    shared: Arc<Shared>,
    path: Arc<PathBuf>,
    lease_ms: u64,
}

impl fmt::Debug for Embedded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedded")
            .field("path", &self.path)
            .finish()
    }
}

/// Turns a redb error into the crate's.
trait OrBackend<T> {
    fn or_backend(self) -> Result<T, QueueError>;
}

impl<T, E: Into<redb::Error>> OrBackend<T> for Result<T, E> {
    fn or_backend(self) -> Result<T, QueueError> {
        self.map_err(|e| QueueError::Backend(format!("embedded queue: {}", e.into())))
    }
}

impl Embedded {
    pub(crate) async fn open(path: &Path, config: QueueConfig) -> Result<Self, QueueError> {
        let path = Arc::new(path.to_path_buf());
        let (db, schedule, next_id) = blocking({
            let path = Arc::clone(&path);
            move || open_file(&path)
        })
        .await?;
        let shared = Arc::new(Shared {
            db,
            schedule: Mutex::new(schedule),
        });
        let writer = Writer::start(Arc::clone(&shared), next_id, config)?;
        Ok(Self {
            writer: Arc::new(writer),
            shared,
            path,
            lease_ms: millis(config.lease_timeout),
        })
    }

    pub(crate) async fn enqueue(
        &self,
        plugins: Vec<Arc<str>>,
        item: NewItem,
        now_ms: u64,
    ) -> Result<EnqueueOutcome, QueueError> {
        self.writer
            .call(|reply| Op::Enqueue {
                plugins,
                item,
                now_ms,
                reply,
            })
            .await
    }

    pub(crate) async fn lease(
        &self,
        plugin: &Arc<str>,
        max: usize,
        now_ms: u64,
    ) -> Result<Vec<Leased>, QueueError> {
        let picked = self
            .shared
            .schedule()
            .lease(plugin, now_ms, max, self.lease_ms);
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let shared = Arc::clone(&self.shared);
        let read = blocking({
            let (plugin, picked) = (Arc::clone(plugin), picked.clone());
            move || {
                let txn = shared.db.begin_read().or_backend()?;
                let items = txn.open_table(ITEMS).or_backend()?;
                let mut found = Vec::with_capacity(picked.len());
                for (id, _) in picked {
                    let row = items.get((&*plugin, id)).or_backend()?;
                    found.push(row.map(|row| item_from(id, row.value())));
                }
                Ok(found)
            }
        })
        .await;
        let schedule = || self.shared.schedule();
        let found = match read {
            Ok(found) => found,
            Err(failed) => {
                let mut schedule = schedule();
                for (id, generation) in picked {
                    schedule.give_back(plugin, id, generation);
                }
                return Err(failed);
            }
        };
        let mut leased = Vec::with_capacity(found.len());
        for ((id, generation), item) in picked.into_iter().zip(found) {
            match item {
                Some(item) => leased.push(Leased {
                    plugin: Arc::clone(plugin),
                    item,
                    token: LeaseToken::Embedded { generation },
                }),
                // Not reachable while the schedule follows the file; handing out nothing
                // is the safe answer if it ever is.
                None => schedule().give_back(plugin, id, generation),
            }
        }
        Ok(leased)
    }

    pub(crate) async fn settle(
        &self,
        leased: &Leased,
        plan: Option<(RetryPlan, &str)>,
        now_ms: u64,
    ) -> Result<(), QueueError> {
        let LeaseToken::Embedded { generation } = leased.token else {
            return Err(lost(leased));
        };
        let how = match plan {
            None => How::Ack,
            Some((RetryPlan::Retry { at_ms }, error)) => How::Retry {
                at_ms,
                error: error.to_owned(),
            },
            Some((RetryPlan::DeadLetter, error)) => How::Dead {
                error: error.to_owned(),
            },
        };
        self.writer
            .call(|reply| Op::Settle {
                plugin: Arc::clone(&leased.plugin),
                id: leased.item.id.0,
                generation,
                how,
                now_ms,
                reply,
            })
            .await
    }

    pub(crate) async fn replay_dead_letters(
        &self,
        plugin: &Arc<str>,
        which: Selection,
        now_ms: u64,
    ) -> Result<u64, QueueError> {
        self.writer
            .call(|reply| Op::Replay {
                plugin: Arc::clone(plugin),
                which,
                now_ms,
                reply,
            })
            .await
    }

    pub(crate) async fn delete_dead_letters(
        &self,
        plugin: &Arc<str>,
        which: Selection,
    ) -> Result<u64, QueueError> {
        self.writer
            .call(|reply| Op::Delete {
                plugin: Arc::clone(plugin),
                which,
                reply,
            })
            .await
    }

    pub(crate) async fn dead_letters(
        &self,
        plugin: &Arc<str>,
        after: Option<ItemId>,
        limit: usize,
    ) -> Result<DeadLetterPage, QueueError> {
        let shared = Arc::clone(&self.shared);
        let plugin = Arc::clone(plugin);
        blocking(move || {
            let txn = shared.db.begin_read().or_backend()?;
            let dead = txn.open_table(DEAD).or_backend()?;
            let Some(start) = after.map_or(Some(0), |after| after.0.checked_add(1)) else {
                return Ok(DeadLetterPage {
                    letters: Vec::new(),
                    next_cursor: None,
                });
            };
            let mut letters = Vec::new();
            let mut more = false;
            for entry in dead
                .range((&*plugin, start)..=(&*plugin, u64::MAX))
                .or_backend()?
            {
                if letters.len() == limit {
                    more = true;
                    break;
                }
                let (key, row) = entry.or_backend()?;
                letters.push(dead_letter_from(key.value().1, row.value())?);
            }
            let next_cursor = if more {
                letters.last().map(|letter: &DeadLetter| letter.item.id)
            } else {
                None
            };
            Ok(DeadLetterPage {
                letters,
                next_cursor,
            })
        })
        .await
    }

    pub(crate) async fn stats(&self, plugin: &Arc<str>) -> Result<QueueStats, QueueError> {
        let (depth, leased) = {
            let schedule = self.shared.schedule();
            (schedule.depth(plugin), schedule.leased(plugin))
        };
        let shared = Arc::clone(&self.shared);
        let plugin = Arc::clone(plugin);
        let [dead_letters, overflows, duplicates] = blocking(move || {
            let txn = shared.db.begin_read().or_backend()?;
            let counters = txn.open_table(COUNTERS).or_backend()?;
            let mut values = [0; 3];
            for (value, name) in values.iter_mut().zip([DEAD_LETTERS, OVERFLOWS, DUPLICATES]) {
                let stored = counters.get((&*plugin, name)).or_backend()?;
                *value = stored.map_or(0, |stored| stored.value());
            }
            Ok(values)
        })
        .await?;
        Ok(QueueStats {
            depth,
            leased,
            dead_letters,
            overflows,
            duplicates,
        })
    }

    pub(crate) fn next_due_ms(&self, plugin: &str) -> Option<u64> {
        self.shared.schedule().next_due_ms(plugin)
    }
}

/// Opens or creates the file, and rebuilds the schedule from the queued items.
fn open_file(path: &Path) -> Result<(Database, Schedule, u64), QueueError> {
    let db = Database::create(path)
        .map_err(|e| QueueError::Backend(format!("cannot open {}: {e}", path.display())))?;
    // Created up front so that reads never meet a missing table.
    let txn = db.begin_write().or_backend()?;
    txn.open_table(ITEMS).or_backend()?;
    txn.open_table(DEAD).or_backend()?;
    txn.open_table(DEDUPE).or_backend()?;
    txn.open_table(DEDUPE_BY_TIME).or_backend()?;
    txn.open_table(COUNTERS).or_backend()?;
    txn.open_table(META).or_backend()?;
    txn.commit().or_backend()?;

    let txn = db.begin_read().or_backend()?;
    let next_id = txn
        .open_table(META)
        .or_backend()?
        .get(NEXT_ID)
        .or_backend()?
        .map_or(1, |next| next.value());
    let mut schedule = Schedule::default();
    let mut plugin: Arc<str> = Arc::from("");
    // In key order: plugin by plugin, and within one in id order, which is enqueue order.
    for entry in txn.open_table(ITEMS).or_backend()?.iter().or_backend()? {
        let (key, row) = entry.or_backend()?;
        let (name, id) = key.value();
        if *plugin != *name {
            plugin = Arc::from(name);
        }
        let (_, ordering_key, _, _, next_attempt_at_ms, _, _) = row.value();
        schedule.push(&plugin, ordering_key, id, next_attempt_at_ms);
    }
    drop(txn);
    Ok((db, schedule, next_id))
}

fn item_from(
    id: u64,
    (
        idempotency_key,
        ordering_key,
        attempts,
        enqueued_at_ms,
        next_attempt_at_ms,
        last_error,
        payload,
    ): <ItemRow as Value>::SelfType<'_>,
) -> Item {
    Item {
        id: ItemId(id),
        idempotency_key: idempotency_key.to_owned(),
        ordering_key: ordering_key.to_owned(),
        payload: payload.to_vec(),
        attempts,
        enqueued_at_ms,
        next_attempt_at_ms,
        last_error: last_error.map(str::to_owned),
    }
}

fn dead_letter_from(
    id: u64,
    (ikey, okey, attempts, enqueued, next, error, payload, reason, dead_at_ms): <DeadRow as Value>::SelfType<'_>,
) -> Result<DeadLetter, QueueError> {
    let reason = DeadReason::parse(reason.as_bytes()).ok_or_else(|| {
        QueueError::Backend(format!(
            "embedded queue: dead letter {id} has reason {reason:?}"
        ))
    })?;
    Ok(DeadLetter {
        item: item_from(id, (ikey, okey, attempts, enqueued, next, error, payload)),
        reason,
        dead_at_ms,
    })
}

fn lost(leased: &Leased) -> QueueError {
    QueueError::LeaseLost {
        plugin: leased.plugin.to_string(),
        id: leased.item.id,
    }
}

async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, QueueError> + Send + 'static,
) -> Result<T, QueueError> {
    tokio::task::spawn_blocking(op)
        .await
        .map_err(|e| QueueError::Backend(format!("embedded queue task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn event(key: &str) -> NewItem {
        NewItem {
            idempotency_key: key.to_owned(),
            ordering_key: String::new(),
            payload: Vec::new(),
        }
    }

    #[tokio::test]
    async fn expired_dedupe_entries_are_purged_by_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let config = QueueConfig {
            dedupe_window: Duration::from_secs(1),
            ..QueueConfig::default()
        };
        let queue = Embedded::open(&dir.path().join("queue.redb"), config)
            .await
            .unwrap();
        let plugins = vec![Arc::<str>::from("p")];
        queue
            .enqueue(plugins.clone(), event("old"), 1_000)
            .await
            .unwrap();
        queue
            .enqueue(plugins.clone(), event("kept"), 1_500)
            .await
            .unwrap();
        // "old" expired at 2 000; "kept" not before 2 500.
        queue.enqueue(plugins, event("new"), 2_200).await.unwrap();

        let txn = queue.shared.db.begin_read().unwrap();
        let dedupe = txn.open_table(DEDUPE).unwrap();
        let keys: Vec<String> = dedupe
            .iter()
            .unwrap()
            .map(|entry| entry.unwrap().0.value().to_owned())
            .collect();
        assert_eq!(keys, ["kept", "new"]);
        let by_time: Vec<(u64, String)> = txn
            .open_table(DEDUPE_BY_TIME)
            .unwrap()
            .iter()
            .unwrap()
            .map(|entry| {
                let (key, _) = entry.unwrap();
                let (at, key) = key.value();
                (at, key.to_owned())
            })
            .collect();
        assert_eq!(by_time, [(1_500, "kept".into()), (2_200, "new".into())]);
    }
}
