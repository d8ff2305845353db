//! A fresh backend per test, and small helpers the cases share.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hookbox_kv::testing::RedisServer;
use hookbox_queue::{Leased, ManualClock, NewItem, Queue, QueueConfig};
use tempfile::TempDir;

/// Where a test's queues live: a temporary directory or its own `redis-server`.
pub(crate) enum Harness {
    Embedded(TempDir),
    Redis(RedisServer),
}

impl Harness {
    pub(crate) fn embedded() -> Self {
        Self::Embedded(tempfile::tempdir().expect("temporary directory"))
    }

    /// `None` when the test is skipped (no `redis-server`, outside CI).
    pub(crate) fn redis() -> Option<Self> {
        RedisServer::start().map(Self::Redis)
    }

    /// A new queue on this backend with `config`, reading the time from `clock`: a new
    /// file each time (embedded), or a new connection, so a new consumer, to the same
    /// server (Redis).
    pub(crate) async fn queue(&self, config: QueueConfig, clock: &Arc<ManualClock>) -> Queue {
        static FILES: AtomicUsize = AtomicUsize::new(0);
        let queue = match self {
            Self::Embedded(dir) => {
                let n = FILES.fetch_add(1, Ordering::Relaxed);
                Queue::open_embedded(&dir.path().join(format!("queue-{n}.redb")), config)
                    .await
                    .expect("open the embedded queue")
            }
            Self::Redis(server) => Queue::connect_redis(&server.url(), config)
                .await
                .expect("connect to redis-server"),
        };
        queue.with_clock(Arc::clone(clock) as _)
    }
}

/// An item with idempotency key `key` in conversation `conversation`, payload `key`.
pub(crate) fn item(key: &str, conversation: &str) -> NewItem {
    NewItem {
        idempotency_key: key.to_owned(),
        ordering_key: conversation.to_owned(),
        payload: key.as_bytes().to_vec(),
    }
}

/// The idempotency keys of `leased`, in order.
pub(crate) fn keys(leased: &[Leased]) -> Vec<&str> {
    leased
        .iter()
        .map(|leased| leased.item.idempotency_key.as_str())
        .collect()
}
