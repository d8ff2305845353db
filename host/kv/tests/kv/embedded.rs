//! What only the embedded (redb) store does.

use hookbox_kv::{KvError, KvStore, Quotas};

use crate::harness::bucket;

#[tokio::test]
async fn values_counters_and_key_counts_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.redb");
    let quotas = Quotas {
        max_keys: 3,
        ..Quotas::default()
    };
    {
        let store = KvStore::open_embedded(&path).await.unwrap();
        let stats = store.bucket("group-stats", quotas).unwrap();
        stats.set("greeting", b"hello").await.unwrap();
        stats.increment("messages", 41).await.unwrap();
        stats.set("gone", b"x").await.unwrap();
        stats.delete("gone").await.unwrap();
        bucket(&store, "other").set("k", b"v").await.unwrap();
        // `store` and `stats` drop here: the file is closed.
    }

    let store = KvStore::open_embedded(&path).await.unwrap();
    let stats = store.bucket("group-stats", quotas).unwrap();
    assert_eq!(stats.get("greeting").await, Ok(Some(b"hello".to_vec())));
    assert_eq!(stats.increment("messages", 1).await, Ok(42));
    assert_eq!(stats.get("gone").await, Ok(None));
    assert_eq!(stats.key_count().await, Ok(2));
    assert_eq!(
        bucket(&store, "other").get("k").await,
        Ok(Some(b"v".to_vec()))
    );

    // The persisted count still drives the quota.
    stats.set("third", b"3").await.unwrap();
    assert_eq!(
        stats.set("fourth", b"4").await,
        Err(KvError::TooManyKeys { limit: 3 })
    );
}

#[tokio::test]
async fn one_process_at_a_time_holds_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.redb");
    let first = KvStore::open_embedded(&path).await.unwrap();
    bucket(&first, "p").set("k", b"v").await.unwrap();

    let second = KvStore::open_embedded(&path).await;
    assert!(
        matches!(&second, Err(KvError::Backend(message)) if message.contains("kv.redb")),
        "{second:?}"
    );

    drop(first);
    let reopened = KvStore::open_embedded(&path).await.unwrap();
    assert_eq!(
        bucket(&reopened, "p").get("k").await,
        Ok(Some(b"v".to_vec()))
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.redb");
    std::fs::write(
        &path,
        b"not a redb file, but long enough to look like something",
    )
    .unwrap();
    let opened = KvStore::open_embedded(&path).await;
    assert!(matches!(opened, Err(KvError::Backend(_))), "{opened:?}");
}
