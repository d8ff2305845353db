//! A fresh store of each backend per test.

use hookbox_kv::testing::RedisServer;
use hookbox_kv::{Bucket, KvStore, Quotas};
use tempfile::TempDir;

/// An embedded store in its own temporary directory (removed on drop).
pub(crate) async fn embedded() -> (TempDir, KvStore) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = KvStore::open_embedded(&dir.path().join("kv.redb"))
        .await
        .expect("open the embedded store");
    (dir, store)
}

/// A store on its own `redis-server` (killed on drop), or `None` when skipped.
pub(crate) async fn redis() -> Option<(RedisServer, KvStore)> {
    let server = RedisServer::start()?;
    let store = KvStore::connect_redis(&server.url())
        .await
        .expect("connect to redis-server");
    Some((server, store))
}

/// `namespace` with the default quotas.
pub(crate) fn bucket(store: &KvStore, namespace: &str) -> Bucket {
    store
        .bucket(namespace, Quotas::default())
        .expect("valid namespace")
}
