//! Opening what `[kv]` and `[queue]` name: the plugins' key-value store and the durable
//! queue of after-callbacks, each an embedded redb file in `data_dir` or a shared Redis.
//!
//! Not here: what the stores hold and how ([`hookbox_kv`], [`hookbox_queue`]), which plugin
//! may use them (the registry's grants), nor the checks of the keys themselves (`config`).
//!
//! The decision a reader may question: a Redis that cannot be reached at startup stops
//! hookbox instead of starting with a store that reconnects later. A hookbox that answered
//! callbacks while every plugin's kv call and every enqueue failed would look healthy and
//! lose state; failing at once names the problem where the operator is looking. Once running,
//! both clients reconnect by themselves.

use std::path::Path;
use std::time::Duration;

use hookbox_kv::{KvError, KvStore};
use hookbox_queue::{Queue, QueueConfig, QueueError};

use crate::config::{Backend, KvConfig, QueueSettings};

/// The embedded kv store's file in `data_dir`.
pub const KV_FILE: &str = "kv.redb";
/// The embedded queue's file in `data_dir` (its own file: redb has one writer per file, and
/// plugins' kv writes must not wait behind enqueues, nor the reverse).
pub const QUEUE_FILE: &str = "queue.redb";

/// The shortest lease the queue gets: items are handed out again only after this.
const MIN_LEASE: Duration = Duration::from_secs(30);

/// Why a store could not be opened. The messages name the file or Redis `host:port`, never a
/// Redis URL or password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// `[kv]`: the file cannot be opened (held by another hookbox, unwritable) or Redis
    /// cannot be reached.
    #[error("[kv] {backend}: {source}")]
    Kv {
        /// Where: the file, or Redis at `host:port`.
        backend: String,
        /// Why.
        source: KvError,
    },
    /// `[queue]`: as for `[kv]`.
    #[error("[queue] {backend}: {source}")]
    Queue {
        /// Where: the file, or Redis at `host:port`.
        backend: String,
        /// Why.
        source: QueueError,
    },
}

/// Opens the kv store `[kv]` names: `data_dir/kv.redb`, or the Redis at `kv.url`.
pub async fn open_kv(config: &KvConfig, data_dir: &Path) -> Result<KvStore, OpenError> {
    let (backend, opened) = match (&config.backend, &config.url) {
        (Backend::Redis, Some(url)) => (
            format!("Redis {}", url.redacted()),
            KvStore::connect_redis(url.expose()).await,
        ),
        _ => {
            let file = data_dir.join(KV_FILE);
            (
                file.display().to_string(),
                KvStore::open_embedded(&file).await,
            )
        }
    };
    opened.map_err(|source| OpenError::Kv { backend, source })
}

/// Opens the queue `[queue]` names: `data_dir/queue.redb`, or the Redis at `queue.url`.
/// `request_timeout` bounds every plugin call; the queue's lease outlasts it.
pub async fn open_queue(
    settings: &QueueSettings,
    data_dir: &Path,
    request_timeout: Duration,
) -> Result<Queue, OpenError> {
    let config = queue_config(settings, request_timeout);
    let (backend, opened) = match (&settings.backend, &settings.url) {
        (Backend::Redis, Some(url)) => (
            format!("Redis {}", url.redacted()),
            Queue::connect_redis(url.expose(), config).await,
        ),
        _ => {
            let file = data_dir.join(QUEUE_FILE);
            (
                file.display().to_string(),
                Queue::open_embedded(&file, config).await,
            )
        }
    };
    opened.map_err(|source| OpenError::Queue { backend, source })
}

/// The queue's limits and retry policy from `[queue]`. The lease (not configurable) is 30 s,
/// or twice `server.request_timeout_ms` when that is longer: a plugin call, bounded by the
/// request timeout, must end before its item could be handed out again.
pub fn queue_config(settings: &QueueSettings, request_timeout: Duration) -> QueueConfig {
    QueueConfig {
        max_items_per_plugin: settings.max_items,
        dedupe_window: Duration::from_secs(settings.dedupe_window_secs),
        base_backoff: Duration::from_millis(settings.base_backoff_ms),
        max_backoff: Duration::from_millis(settings.max_backoff_ms),
        max_attempts: settings.max_attempts,
        lease_timeout: MIN_LEASE.max(request_timeout.saturating_mul(2)),
        ..QueueConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_outlasts_the_longest_plugin_call() {
        let settings = QueueSettings::default();
        let short = queue_config(&settings, Duration::from_secs(15));
        assert_eq!(short.lease_timeout, MIN_LEASE);
        let long = queue_config(&settings, Duration::from_secs(60));
        assert_eq!(long.lease_timeout, Duration::from_secs(120));
        assert_eq!(short.max_items_per_plugin, settings.max_items);
        assert_eq!(short.max_attempts, settings.max_attempts);
    }

    #[tokio::test]
    async fn a_redis_that_is_not_there_is_an_error_naming_host_and_port_only() {
        let config: KvConfig =
            toml::from_str("backend = \"redis\"\nurl = \"redis://user:hunter2@127.0.0.1:1/\"\n")
                .unwrap();
        let err = open_kv(&config, Path::new("/nonexistent"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("127.0.0.1:1"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
