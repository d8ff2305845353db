//! Replayed Tencent callbacks (catalogue item 12): a signed before-callback that arrives
//! again, byte for byte, while its signature is still valid gets the answer the first one got,
//! and no plugin runs a second time.
//!
//! What it is: a decision cache keyed by the request's whole query (`SdkAppid`,
//! `CallbackCommand`, `Sign`, `RequestTime`, …) and body, holding the rendered envelope. With
//! a Redis kv store it lives there, so replicas share it; with the embedded store it lives
//! in memory, because that file belongs to one process anyway and a durable write (an fsync
//! on the answer path of every callback) would cost more than an entry that lives a minute
//! is worth.
//!
//! What it is not: deduplication of *different* requests about the same message (Tencent's
//! retries of after-callbacks carry new signatures; the queue's idempotency keys handle
//! those), nor anything for OpenIM or for Tencent apps without a token: an unsigned request
//! can be forged outright, so remembering old ones protects nothing.
//!
//! The decision a reader may question: an entry lives until `RequestTime + max_skew_secs`,
//! the moment the signature check starts refusing the request as stale. After that a replay
//! never reaches the cache, so nothing longer is needed. The expiry leads the key, so keys
//! sort by expiry and a sweep reads only the entries that are due.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hookbox_kv::{Bucket, KvStore, Quotas};
use sha2::{Digest, Sha256};

/// The kv namespace of the cache: plugin namespaces are `plugin:<name>` and shared buckets
/// `bucket:<name>`, so no plugin can read or fill it.
const NAMESPACE: &str = "hookbox:replay";

/// The largest envelope kept; a larger one (a big modify) is answered but not cached.
const MAX_ENVELOPE_BYTES: usize = 256 * 1024;

/// Entries the namespace may hold: several minutes of a busy app's callbacks.
const MAX_ENTRIES: u64 = 1_000_000;

/// Seconds between sweeps of expired entries, at most one running at a time.
const SWEEP_EVERY_SECS: i64 = 30;

/// Keys deleted per page of a sweep.
const SWEEP_PAGE: usize = 500;

/// The decision cache of one Tencent endpoint.
#[derive(Debug, Clone)]
pub(crate) struct ReplayCache {
    entries: Arc<Entries>,
    max_skew_secs: i64,
    sweep: Arc<SweepState>,
}

/// Where the entries are: key → envelope, keys in expiry order either way.
#[derive(Debug)]
enum Entries {
    /// This process only (an embedded kv store, which no other process can open).
    Local(Mutex<BTreeMap<String, Vec<u8>>>),
    /// The kv store's reserved namespace, seen by every replica on the same Redis.
    Shared(Bucket),
}

#[derive(Debug, Default)]
struct SweepState {
    running: AtomicBool,
    last_unix_secs: AtomicI64,
}

impl ReplayCache {
    /// The cache for a hookbox whose kv store is `store`: in its reserved namespace when
    /// the store is shared, in memory otherwise.
    pub(crate) fn new(store: &KvStore, max_skew_secs: u64) -> Result<Self, hookbox_kv::KvError> {
        let entries = if store.is_shared() {
            Entries::Shared(shared_bucket(store)?)
        } else {
            Entries::Local(Mutex::default())
        };
        Ok(Self::with_entries(entries, max_skew_secs))
    }

    fn with_entries(entries: Entries, max_skew_secs: u64) -> Self {
        ReplayCache {
            entries: Arc::new(entries),
            max_skew_secs: i64::try_from(max_skew_secs).unwrap_or(i64::MAX),
            sweep: Arc::default(),
        }
    }

    /// The cache key of a request, `None` when it is not signed (no `RequestTime`): those
    /// are not cached. The query is the raw query string, the body the raw body.
    pub(crate) fn key(&self, query: Option<&str>, body: &[u8]) -> Option<String> {
        let query = query?;
        let request_time = request_time(query)?;
        let expires = request_time.saturating_add(self.max_skew_secs);
        let mut hash = Sha256::new();
        hash.update(query.as_bytes());
        hash.update(b"\n");
        hash.update(body);
        Some(format!("{:012}-{:x}", expires.max(0), hash.finalize()))
    }

    /// The envelope answered to this request before, if any. A store error is logged and
    /// read as "not seen": the plugins then run, which is what happened before this cache.
    pub(crate) async fn answered(&self, key: &str) -> Option<Vec<u8>> {
        match &*self.entries {
            Entries::Local(map) => lock(map).get(key).cloned(),
            Entries::Shared(bucket) => match bucket.get(key).await {
                Ok(envelope) => envelope,
                Err(e) => {
                    tracing::warn!(error = %e, "replay cache unreadable: running the plugins");
                    None
                }
            },
        }
    }

    /// Remembers `envelope` as the answer to the request `key`, and now and then starts a
    /// sweep of expired entries in the background.
    pub(crate) async fn remember(&self, key: &str, envelope: &[u8], now_unix_secs: i64) {
        if envelope.len() > MAX_ENVELOPE_BYTES {
            return;
        }
        match &*self.entries {
            Entries::Local(map) => {
                let mut map = lock(map);
                if (map.len() as u64) < MAX_ENTRIES {
                    map.insert(key.to_owned(), envelope.to_vec());
                }
            }
            Entries::Shared(bucket) => {
                if let Err(e) = bucket.set(key, envelope).await {
                    tracing::warn!(error = %e, "replay cache: answer not kept");
                }
            }
        }
        self.maybe_sweep(now_unix_secs);
    }

    fn maybe_sweep(&self, now_unix_secs: i64) {
        let last = self.sweep.last_unix_secs.load(Ordering::Relaxed);
        if now_unix_secs - last < SWEEP_EVERY_SECS
            || self.sweep.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.sweep
            .last_unix_secs
            .store(now_unix_secs, Ordering::Relaxed);
        let cache = self.clone();
        tokio::spawn(async move {
            if let Err(e) = cache.sweep_expired(now_unix_secs).await {
                tracing::warn!(error = %e, "replay cache sweep stopped");
            }
            cache.sweep.running.store(false, Ordering::Release);
        });
    }

    /// Deletes the entries that expired before `now_unix_secs`; returns how many.
    pub(crate) async fn sweep_expired(
        &self,
        now_unix_secs: i64,
    ) -> Result<usize, hookbox_kv::KvError> {
        // Keys sort by their zero-padded expiry: every key below this one is due.
        let due_before = format!("{:012}-", now_unix_secs.max(0));
        let bucket = match &*self.entries {
            Entries::Local(map) => {
                let mut map = lock(map);
                let kept = map.split_off(&due_before);
                let deleted = map.len();
                *map = kept;
                return Ok(deleted);
            }
            Entries::Shared(bucket) => bucket,
        };
        let mut deleted = 0;
        loop {
            let page = bucket.list_keys(None, None, SWEEP_PAGE).await?;
            let due: Vec<&String> = page.keys.iter().take_while(|k| **k < due_before).collect();
            for key in &due {
                bucket.delete(key).await?;
            }
            deleted += due.len();
            if due.len() < page.keys.len() || page.next_cursor.is_none() {
                return Ok(deleted);
            }
        }
    }
}

/// The reserved namespace of `store`.
fn shared_bucket(store: &KvStore) -> Result<Bucket, hookbox_kv::KvError> {
    let quotas = Quotas {
        max_key_bytes: 128,
        max_value_bytes: MAX_ENVELOPE_BYTES,
        max_keys: MAX_ENTRIES,
    };
    store.bucket(NAMESPACE, quotas)
}

/// The map holds plain bytes: a panic while it was locked cannot leave it inconsistent.
fn lock(map: &Mutex<BTreeMap<String, Vec<u8>>>) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `RequestTime` from a Tencent query string: present and a decimal number on every request
/// the signature check passed for an app with a token.
fn request_time(query: &str) -> Option<i64> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("RequestTime="))
        .and_then(|value| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache on an embedded store (so in memory), or with `shared` on that store's
    /// reserved namespace, as it is on Redis.
    async fn cache(skew: u64, shared: bool) -> (ReplayCache, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "hookbox-replay-{}-{skew}-{shared}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = KvStore::open_embedded(&dir.join("kv.redb")).await.unwrap();
        let cache = if shared {
            ReplayCache::with_entries(Entries::Shared(shared_bucket(&store).unwrap()), skew)
        } else {
            ReplayCache::new(&store, skew).unwrap()
        };
        (cache, dir)
    }

    #[tokio::test]
    async fn keys_cover_query_and_body_and_lead_with_the_expiry() {
        let (cache, dir) = cache(60, false).await;
        let query =
            "SdkAppid=1&CallbackCommand=C2C.CallbackBeforeSendMsg&Sign=ab&RequestTime=1700000000";
        let key = cache.key(Some(query), b"{}").unwrap();
        assert!(key.starts_with("001700000060-"), "{key}");
        assert_eq!(cache.key(Some(query), b"{}"), Some(key.clone()));
        assert_ne!(cache.key(Some(query), b"{ }"), Some(key.clone()));
        let other_time = query.replace("1700000000", "1700000001");
        assert_ne!(cache.key(Some(&other_time), b"{}"), Some(key));
        assert_eq!(cache.key(Some("SdkAppid=1&CallbackCommand=x"), b"{}"), None);
        assert_eq!(cache.key(None, b"{}"), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_sweep_deletes_only_what_expired() {
        for shared in [false, true] {
            let (cache, dir) = cache(10, shared).await;
            let at = |t: i64| {
                cache
                    .key(Some(&format!("RequestTime={t}&Sign=x")), b"{}")
                    .unwrap()
            };
            for t in [100, 200, 300] {
                cache.remember(&at(t), b"envelope", 0).await;
            }
            // Entry t expires at t + 10: at 250, the first two are due.
            assert_eq!(
                cache.sweep_expired(250).await.unwrap(),
                2,
                "shared: {shared}"
            );
            assert_eq!(cache.answered(&at(100)).await, None);
            assert_eq!(cache.answered(&at(300)).await, Some(b"envelope".to_vec()));
            assert_eq!(cache.sweep_expired(250).await.unwrap(), 0);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
