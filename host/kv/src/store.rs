//! [`KvStore`], [`Bucket`] and [`Page`]: what the host holds and what a plugin's calls use.
//!
//! Everything both backends must agree on lives here, once: namespace names, key and value
//! checks, and pagination. A backend only implements primitive operations on a namespace
//! that is already valid and keys that are already checked.
//!
//! Not here: which plugin gets which namespace (the manifest's grants decide, the runtime
//! calls [`KvStore::bucket`]).
//!
//! The decision a reader may question: a list cursor is simply the last key of the page.
//! Pagination by key ("everything after this key") is stable while other calls add and
//! remove keys, needs no server-side state, and means the same on both backends; the
//! cursor is documented as opaque so that could change without changing callers.

use std::path::Path;
use std::sync::Arc;

use crate::backend::{Backend, Embedded, Redis};
use crate::{KvError, Quotas};

/// A handle over one storage backend. Cloning is cheap and shares the backend.
///
/// Its `Debug` shows the backend's file or `host:port`, never a Redis password.
#[derive(Clone, Debug)]
pub struct KvStore {
    backend: Backend,
}

impl KvStore {
    /// Opens (or creates) the embedded store in the redb file at `path`, e.g.
    /// `data_dir/kv.redb`. Every mutation is on disk when its call returns.
    ///
    /// One process at a time: a second open of the same file, also from another hookbox,
    /// fails with [`KvError::Backend`] until every clone of the first handle is dropped.
    pub async fn open_embedded(path: &Path) -> Result<Self, KvError> {
        let backend = Backend::Embedded(Embedded::open(path).await?);
        Ok(Self { backend })
    }

    /// Connects to Redis at `url` (`redis://[user:password@]host:port[/db]`), shared by any
    /// number of hookbox processes. The connection is re-established by itself when it
    /// drops; until then operations fail with [`KvError::Backend`].
    pub async fn connect_redis(url: &str) -> Result<Self, KvError> {
        let backend = Backend::Redis(Redis::connect(url).await?);
        Ok(Self { backend })
    }

    /// Whether other hookbox processes can see this store's data (Redis), as opposed to the
    /// embedded file, which one process holds alone.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    /// The store seen through `namespace` (a plugin's name, or a shared bucket's), with
    /// `quotas` applied to every write.
    ///
    /// A namespace is 1 to 128 ASCII letters, digits and `-_.:/`. Braces in particular are
    /// out: the Redis layout delimits the namespace with them.
    pub fn bucket(&self, namespace: &str, quotas: Quotas) -> Result<Bucket, KvError> {
        check_namespace(namespace)?;
        Ok(Bucket {
            backend: self.backend.clone(),
            namespace: namespace.into(),
            quotas,
        })
    }
}

/// Longest namespace name, in bytes.
const MAX_NAMESPACE_BYTES: usize = 128;

fn check_namespace(name: &str) -> Result<(), KvError> {
    let refuse = |reason| {
        Err(KvError::InvalidNamespace {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > MAX_NAMESPACE_BYTES {
        return refuse("it is longer than 128 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
    {
        return refuse("only ASCII letters, digits and -_.:/ are allowed");
    }
    Ok(())
}

/// One namespace of a [`KvStore`], with its quotas. Cloning is cheap.
///
/// Every operation checks the key first: an empty key is [`KvError::InvalidKey`], a key
/// over the quota [`KvError::KeyTooLarge`], also for reads, so a plugin learns the limit
/// the same way whatever it calls.
#[derive(Clone, Debug)]
pub struct Bucket {
    backend: Backend,
    namespace: Arc<str>,
    quotas: Quotas,
}

/// One page of [`Bucket::list_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Keys in lexicographic (byte) order.
    pub keys: Vec<String>,
    /// Pass this back as `cursor` for the next page; `None` when this page is the last.
    /// Treat it as opaque.
    pub next_cursor: Option<String>,
}

impl Bucket {
    /// The namespace this bucket reads and writes.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The limits applied to this bucket's writes.
    pub fn quotas(&self) -> Quotas {
        self.quotas
    }

    /// The value under `key`, if there is one.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.quotas.check_key(key)?;
        self.backend.get(&self.namespace, key).await
    }

    /// Stores `value` under `key`, replacing any value there.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.quotas.check_key(key)?;
        self.quotas.check_value(value)?;
        self.backend
            .set(&self.namespace, key, value, self.quotas)
            .await
    }

    /// Removes `key`. Removing a key that is not there is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.quotas.check_key(key)?;
        self.backend.delete(&self.namespace, key).await
    }

    /// Whether `key` holds a value.
    pub async fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.quotas.check_key(key)?;
        self.backend.exists(&self.namespace, key).await
    }

    /// Up to `limit` keys (at least one) in lexicographic order, only those starting with
    /// `prefix` if given, after `cursor` if given (the previous page's `next_cursor`).
    pub async fn list_keys(
        &self,
        prefix: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page, KvError> {
        let limit = limit.max(1);
        let prefix = prefix.unwrap_or("");
        // A cursor before the prefix's first key skips nothing the prefix selects.
        let after = cursor.filter(|cursor| *cursor >= prefix);
        // One key more than asked tells whether another page follows.
        let mut keys = self
            .backend
            .list(&self.namespace, prefix, after, limit + 1)
            .await?;
        let next_cursor = (keys.len() > limit).then(|| {
            keys.truncate(limit);
            keys[limit - 1].clone()
        });
        Ok(Page { keys, next_cursor })
    }

    /// Adds `delta` to the counter under `key` atomically and returns the new value. A
    /// missing key counts from 0 (and is a new key for the quota); a value that is not a
    /// counter is [`KvError::NotAnInteger`]; going past the `i64` range is
    /// [`KvError::Overflow`] and changes nothing.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        self.quotas.check_key(key)?;
        self.backend
            .increment(&self.namespace, key, delta, self.quotas)
            .await
    }

    /// Atomically replaces the value under `key` with `new` if it is currently `expected`
    /// (`None`: only if the key is absent). Returns whether it swapped.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        self.quotas.check_key(key)?;
        self.quotas.check_value(new)?;
        self.backend
            .compare_and_swap(&self.namespace, key, expected, new, self.quotas)
            .await
    }

    /// How many keys the bucket holds (one lookup, not a scan).
    pub async fn key_count(&self) -> Result<u64, KvError> {
        self.backend.key_count(&self.namespace).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_cannot_carry_the_redis_delimiters() {
        for good in [
            "group-stats",
            "shared:stats",
            "a",
            "team/archive.v2",
            &"n".repeat(128),
        ] {
            assert_eq!(check_namespace(good), Ok(()), "{good:?}");
        }
        for bad in ["", "a{b", "a}b", "a b", "a\0b", "é", &"n".repeat(129)] {
            assert!(check_namespace(bad).is_err(), "{bad:?}");
        }
    }
}
