//! The embedded backend: one redb file, zero setup, for a single hookbox process.
//!
//! Two tables: `values`, keyed by the pair (namespace, key), and `key_counts`, namespace →
//! number of keys. A tuple key is compared element by element, so one namespace's keys are
//! one contiguous range that no key, whatever bytes it holds, can step out of.
//!
//! Every mutation is one write transaction that also updates `key_counts`; redb runs one
//! writer at a time, which is what makes increment and compare-and-swap atomic. A refused
//! mutation (quota, not a counter) aborts its transaction, so nothing half-done is kept.
//!
//! The decision a reader may question: every commit is durable (`Durability::Immediate`,
//! redb's default), one fsync per mutation. A plugin's counter that silently goes back
//! after a crash is worse than the cost; a store that needs more writes per second than the
//! disk syncs is what the Redis backend is for.
//!
//! redb blocks on disk I/O and on the writer lock, so every call runs on tokio's blocking
//! pool.

use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use crate::{KvError, Quotas, counter};

/// (namespace, key) → value.
const VALUES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("values");
/// namespace → how many keys it holds in `VALUES`; absent means none.
const KEY_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("key_counts");

#[derive(Clone)]
pub(crate) struct Embedded {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

impl fmt::Debug for Embedded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedded")
            .field("path", &self.path)
            .finish()
    }
}

/// Turns a redb error into the crate's, on the way out of a blocking closure.
trait OrBackend<T> {
    fn or_backend(self) -> Result<T, KvError>;
}

impl<T, E: Into<redb::Error>> OrBackend<T> for Result<T, E> {
    fn or_backend(self) -> Result<T, KvError> {
        self.map_err(|e| KvError::Backend(format!("embedded store: {}", e.into())))
    }
}

impl Embedded {
    pub(crate) async fn open(path: &Path) -> Result<Self, KvError> {
        let path = Arc::new(path.to_path_buf());
        let db = blocking({
            let path = Arc::clone(&path);
            move || {
                let db = Database::create(path.as_path()).map_err(|e| {
                    KvError::Backend(format!("cannot open {}: {e}", path.display()))
                })?;
                // Created up front so that reads never meet a missing table.
                let txn = db.begin_write().or_backend()?;
                txn.open_table(VALUES).or_backend()?;
                txn.open_table(KEY_COUNTS).or_backend()?;
                txn.commit().or_backend()?;
                Ok(db)
            }
        })
        .await?;
        Ok(Self {
            db: Arc::new(db),
            path,
        })
    }

    pub(crate) async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let (ns, key) = (ns.to_owned(), key.to_owned());
        self.read(move |txn| {
            let values = txn.open_table(VALUES).or_backend()?;
            let value = values.get((ns.as_str(), key.as_str())).or_backend()?;
            Ok(value.map(|value| value.value().to_vec()))
        })
        .await
    }

    pub(crate) async fn exists(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        let (ns, key) = (ns.to_owned(), key.to_owned());
        self.read(move |txn| {
            let values = txn.open_table(VALUES).or_backend()?;
            Ok(values
                .get((ns.as_str(), key.as_str()))
                .or_backend()?
                .is_some())
        })
        .await
    }

    pub(crate) async fn list(
        &self,
        ns: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, KvError> {
        let (ns, prefix, after) = (ns.to_owned(), prefix.to_owned(), after.map(str::to_owned));
        self.read(move |txn| {
            let values = txn.open_table(VALUES).or_backend()?;
            let start = match &after {
                Some(after) => Bound::Excluded((ns.as_str(), after.as_str())),
                None => Bound::Included((ns.as_str(), prefix.as_str())),
            };
            let mut keys = Vec::new();
            for entry in values.range((start, Bound::Unbounded)).or_backend()? {
                let (entry_key, _) = entry.or_backend()?;
                let (entry_ns, key) = entry_key.value();
                // Sorted, so the first key outside the namespace or the prefix ends the page.
                if entry_ns != ns || !key.starts_with(prefix.as_str()) || keys.len() == limit {
                    break;
                }
                keys.push(key.to_owned());
            }
            Ok(keys)
        })
        .await
    }

    pub(crate) async fn key_count(&self, ns: &str) -> Result<u64, KvError> {
        let ns = ns.to_owned();
        self.read(move |txn| {
            let counts = txn.open_table(KEY_COUNTS).or_backend()?;
            let count = counts.get(ns.as_str()).or_backend()?;
            Ok(count.map_or(0, |count| count.value()))
        })
        .await
    }

    pub(crate) async fn set(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        quotas: Quotas,
    ) -> Result<(), KvError> {
        let (ns, key, value) = (ns.to_owned(), key.to_owned(), value.to_vec());
        self.write(move |txn| {
            let mut values = txn.open_table(VALUES).or_backend()?;
            let replaced = values
                .insert((ns.as_str(), key.as_str()), value.as_slice())
                .or_backend()?
                .is_some();
            if !replaced {
                add_key(txn, &ns, quotas)?;
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn delete(&self, ns: &str, key: &str) -> Result<(), KvError> {
        let (ns, key) = (ns.to_owned(), key.to_owned());
        self.write(move |txn| {
            let mut values = txn.open_table(VALUES).or_backend()?;
            let removed = values
                .remove((ns.as_str(), key.as_str()))
                .or_backend()?
                .is_some();
            if removed {
                remove_key(txn, &ns)?;
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn increment(
        &self,
        ns: &str,
        key: &str,
        delta: i64,
        quotas: Quotas,
    ) -> Result<i64, KvError> {
        let (ns, key) = (ns.to_owned(), key.to_owned());
        self.write(move |txn| {
            let mut values = txn.open_table(VALUES).or_backend()?;
            let entry = (ns.as_str(), key.as_str());
            let current = values.get(entry).or_backend()?;
            let existed = current.is_some();
            let counter = counter::add(current.as_ref().map(|value| value.value()), delta)?;
            drop(current);
            values
                .insert(entry, counter::encode(counter).as_slice())
                .or_backend()?;
            if !existed {
                add_key(txn, &ns, quotas)?;
            }
            Ok(counter)
        })
        .await
    }

    pub(crate) async fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        quotas: Quotas,
    ) -> Result<bool, KvError> {
        let (ns, key) = (ns.to_owned(), key.to_owned());
        let (expected, new) = (expected.map(<[u8]>::to_vec), new.to_vec());
        self.write(move |txn| {
            let mut values = txn.open_table(VALUES).or_backend()?;
            let entry = (ns.as_str(), key.as_str());
            let current = values.get(entry).or_backend()?;
            let existed = current.is_some();
            if current.as_ref().map(|value| value.value()) != expected.as_deref() {
                return Ok(false);
            }
            drop(current);
            values.insert(entry, new.as_slice()).or_backend()?;
            if !existed {
                add_key(txn, &ns, quotas)?;
            }
            Ok(true)
        })
        .await
    }

    async fn read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&ReadTransaction) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, KvError> {
        let db = Arc::clone(&self.db);
        blocking(move || op(&db.begin_read().or_backend()?)).await
    }

    /// Runs `op` in one write transaction: committed if it succeeds, aborted if it fails.
    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&WriteTransaction) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, KvError> {
        let db = Arc::clone(&self.db);
        blocking(move || {
            let txn = db.begin_write().or_backend()?;
            match op(&txn) {
                Ok(out) => {
                    txn.commit().or_backend()?;
                    Ok(out)
                }
                Err(refused) => {
                    txn.abort().or_backend()?;
                    Err(refused)
                }
            }
        })
        .await
    }
}

/// Counts a key that a transaction of `ns` is creating, or refuses it (and so the whole
/// transaction) when the namespace is full.
fn add_key(txn: &WriteTransaction, ns: &str, quotas: Quotas) -> Result<(), KvError> {
    let mut counts = txn.open_table(KEY_COUNTS).or_backend()?;
    let count = counts
        .get(ns)
        .or_backend()?
        .map_or(0, |count| count.value());
    quotas.admit_new_key(count)?;
    counts.insert(ns, count + 1).or_backend()?;
    Ok(())
}

/// Uncounts a key that a transaction of `ns` removed.
fn remove_key(txn: &WriteTransaction, ns: &str) -> Result<(), KvError> {
    let mut counts = txn.open_table(KEY_COUNTS).or_backend()?;
    let count = counts
        .get(ns)
        .or_backend()?
        .map_or(0, |count| count.value());
    if count <= 1 {
        counts.remove(ns).or_backend()?;
    } else {
        counts.insert(ns, count - 1).or_backend()?;
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, KvError> + Send + 'static,
) -> Result<T, KvError> {
    tokio::task::spawn_blocking(op)
        .await
        .map_err(|e| KvError::Backend(format!("embedded store task failed: {e}")))?
}
