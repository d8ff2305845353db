//! What every backend must do, written once against [`KvStore`].

use std::collections::BTreeSet;

use hookbox_kv::{KvError, KvStore, Page, Quotas};

use crate::harness::bucket;

/// One `#[tokio::test]` per case and backend: `embedded_backend::<case>` and
/// `redis_backend::<case>`.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let (_dir, store) = crate::harness::embedded().await;
                    super::$case(&store).await;
                }
            )*
        }

        mod redis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some((_server, store)) = crate::harness::redis().await else {
                        return;
                    };
                    super::$case(&store).await;
                }
            )*
        }
    };
}

conformance!(
    get_set_delete_exists,
    every_operation_checks_the_key,
    key_and_value_size_quotas,
    key_count_quota,
    namespaces_are_isolated,
    invalid_namespaces_are_refused,
    list_keys_pages_in_byte_order,
    list_keys_with_prefix,
    list_keys_cursor_is_stable_under_writes,
    increment_semantics,
    compare_and_swap_semantics,
    concurrent_increments_are_exact,
    concurrent_compare_and_swap_loses_no_update,
);

async fn get_set_delete_exists(store: &KvStore) {
    let b = bucket(store, "plugin");
    assert_eq!(b.get("k").await, Ok(None));
    assert_eq!(b.exists("k").await, Ok(false));

    let binary = [0u8, 0xFF, b'\n', 0x80];
    b.set("k", &binary).await.unwrap();
    assert_eq!(b.get("k").await, Ok(Some(binary.to_vec())));
    assert_eq!(b.exists("k").await, Ok(true));

    b.set("k", b"replaced").await.unwrap();
    assert_eq!(b.get("k").await, Ok(Some(b"replaced".to_vec())));

    // An empty value is a value, not an absence.
    b.set("empty", b"").await.unwrap();
    assert_eq!(b.get("empty").await, Ok(Some(Vec::new())));
    assert_eq!(b.exists("empty").await, Ok(true));
    assert_eq!(b.key_count().await, Ok(2));

    b.delete("k").await.unwrap();
    assert_eq!(b.get("k").await, Ok(None));
    assert_eq!(b.exists("k").await, Ok(false));
    b.delete("k").await.expect("deleting a missing key is fine");
    b.delete("never-set").await.unwrap();
    assert_eq!(b.key_count().await, Ok(1));
}

async fn every_operation_checks_the_key(store: &KvStore) {
    let b = bucket(store, "plugin");
    let empty = KvError::InvalidKey("the key is empty");
    assert_eq!(b.get("").await, Err(empty.clone()));
    assert_eq!(b.set("", b"v").await, Err(empty.clone()));
    assert_eq!(b.delete("").await, Err(empty.clone()));
    assert_eq!(b.exists("").await, Err(empty.clone()));
    assert_eq!(b.increment("", 1).await, Err(empty.clone()));
    assert_eq!(b.compare_and_swap("", None, b"v").await, Err(empty));
    assert_eq!(b.key_count().await, Ok(0));
}

async fn key_and_value_size_quotas(store: &KvStore) {
    let quotas = Quotas {
        max_key_bytes: 8,
        max_value_bytes: 16,
        max_keys: 100,
    };
    let b = store.bucket("plugin", quotas).unwrap();

    b.set("12345678", &[1; 16])
        .await
        .expect("both exactly at the limit");
    let too_long = KvError::KeyTooLarge { size: 9, limit: 8 };
    assert_eq!(b.set("123456789", b"v").await, Err(too_long.clone()));
    assert_eq!(b.get("123456789").await, Err(too_long.clone()));
    assert_eq!(b.increment("123456789", 1).await, Err(too_long));
    // Bytes, not characters: four 'é' are eight bytes, five are ten.
    b.set("éééé", b"v").await.unwrap();
    assert_eq!(
        b.set("ééééé", b"v").await,
        Err(KvError::KeyTooLarge { size: 10, limit: 8 })
    );

    let too_big = KvError::ValueTooLarge {
        size: 17,
        limit: 16,
    };
    assert_eq!(b.set("k", &[0; 17]).await, Err(too_big.clone()));
    assert_eq!(b.compare_and_swap("k", None, &[0; 17]).await, Err(too_big));
    assert_eq!(b.get("k").await, Ok(None), "a refused write stores nothing");
    assert_eq!(b.key_count().await, Ok(2));
}

async fn key_count_quota(store: &KvStore) {
    let quotas = Quotas {
        max_keys: 3,
        ..Quotas::default()
    };
    let b = store.bucket("plugin", quotas).unwrap();
    let full = KvError::TooManyKeys { limit: 3 };

    b.set("a", b"1").await.unwrap();
    b.increment("b", 1).await.unwrap();
    assert_eq!(b.compare_and_swap("c", None, b"3").await, Ok(true));
    assert_eq!(b.key_count().await, Ok(3));

    // Every way of creating a fourth key is refused, and leaves nothing behind.
    assert_eq!(b.set("d", b"4").await, Err(full.clone()));
    assert_eq!(b.increment("d", 1).await, Err(full.clone()));
    assert_eq!(b.compare_and_swap("d", None, b"4").await, Err(full.clone()));
    assert_eq!(b.get("d").await, Ok(None));
    assert_eq!(b.key_count().await, Ok(3));
    assert_eq!(keys(b.list_keys(None, None, 10).await), ["a", "b", "c"]);

    // Changing existing keys is not creating any.
    b.set("a", b"one").await.unwrap();
    assert_eq!(b.increment("b", 1).await, Ok(2));
    assert_eq!(
        b.compare_and_swap("c", Some(b"3"), b"three").await,
        Ok(true)
    );
    // A compare-and-swap that would not swap anyway answers `false`, full or not.
    assert_eq!(b.compare_and_swap("d", Some(b"x"), b"4").await, Ok(false));

    b.delete("a").await.unwrap();
    b.set("d", b"4").await.expect("deleting made room");
    assert_eq!(b.set("e", b"5").await, Err(full));

    // The quota is per bucket: another namespace is not full.
    let other = store.bucket("other", quotas).unwrap();
    other.set("a", b"1").await.unwrap();
}

async fn namespaces_are_isolated(store: &KvStore) {
    // Names and keys chosen so that a naive "namespace + separator + key" would collide.
    let app = bucket(store, "app");
    let app_x = bucket(store, "app:x");
    let ap = bucket(store, "ap");
    app.set("x:k", b"app's").await.unwrap();
    app_x.set("k", b"app:x's").await.unwrap();
    ap.set("p:x:k", b"ap's").await.unwrap();
    for (bucket, key) in [
        (&app, "}:k"),
        (&app, "\0"),
        (&app, "{app:x}:k"),
        (&app, "k"),
    ] {
        bucket.set(key, key.as_bytes()).await.unwrap();
    }
    ap.increment("p", 5).await.unwrap();

    assert_eq!(app.get("x:k").await, Ok(Some(b"app's".to_vec())));
    assert_eq!(app_x.get("k").await, Ok(Some(b"app:x's".to_vec())));
    assert_eq!(app_x.get("x:k").await, Ok(None));
    assert_eq!(ap.get("x:k").await, Ok(None));
    assert_eq!(ap.exists("k").await, Ok(false));
    assert_eq!(app_x.exists("}:k").await, Ok(false));
    assert_eq!(bucket(store, "apple").get("k").await, Ok(None));

    assert_eq!(
        keys(app.list_keys(None, None, 100).await),
        ["\0", "k", "x:k", "{app:x}:k", "}:k"]
    );
    assert_eq!(keys(app_x.list_keys(None, None, 100).await), ["k"]);
    assert_eq!(keys(ap.list_keys(None, None, 100).await), ["p", "p:x:k"]);
    assert_eq!(keys(app.list_keys(Some("x"), None, 100).await), ["x:k"]);
    assert_eq!(app.key_count().await, Ok(5));
    assert_eq!(app_x.key_count().await, Ok(1));
    assert_eq!(ap.key_count().await, Ok(2));

    // Writes through one bucket never touch another's keys.
    assert_eq!(app_x.compare_and_swap("x:k", None, b"mine").await, Ok(true));
    app_x.delete("k").await.unwrap();
    assert_eq!(app.get("k").await, Ok(Some(b"k".to_vec())));
    assert_eq!(app.get("x:k").await, Ok(Some(b"app's".to_vec())));
    assert_eq!(app_x.increment("p", 1).await, Ok(1));
    assert_eq!(ap.get("p").await, Ok(Some(b"5".to_vec())));
}

async fn invalid_namespaces_are_refused(store: &KvStore) {
    for name in ["", "a}b", "{a}", "a b", "a\0b", "plügin", &"n".repeat(129)] {
        assert!(
            matches!(
                store.bucket(name, Quotas::default()),
                Err(KvError::InvalidNamespace { .. })
            ),
            "{name:?}"
        );
    }
}

async fn list_keys_pages_in_byte_order(store: &KvStore) {
    let b = bucket(store, "plugin");
    assert_eq!(
        b.list_keys(None, None, 10).await,
        Ok(Page {
            keys: vec![],
            next_cursor: None
        })
    );

    let mut expected: BTreeSet<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    // Byte order, not alphabetical: uppercase first, a key before its extensions, UTF-8 last.
    expected.extend(["B", "a", "a\0", "aa", "é"].map(String::from));
    for key in &expected {
        b.set(key, b"v").await.unwrap();
    }

    let pages = all_pages(&b, None, 10).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [10, 10, 10],
        "30 keys in pages of 10: no empty fourth page"
    );
    assert_eq!(pages.concat(), expected.iter().cloned().collect::<Vec<_>>());

    let pages = all_pages(&b, None, 7).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [7, 7, 7, 7, 2]
    );
    assert_eq!(pages.concat(), expected.iter().cloned().collect::<Vec<_>>());

    // A limit of 0 still makes progress.
    let page = b.list_keys(None, None, 0).await.unwrap();
    assert_eq!(page.keys, ["B"]);
    assert_eq!(page.next_cursor.as_deref(), Some("B"));
}

async fn list_keys_with_prefix(store: &KvStore) {
    let b = bucket(store, "plugin");
    for key in ["a", "a/", "ab", "b/1", "a0"] {
        b.set(key, b"v").await.unwrap();
    }
    let mut in_a: Vec<String> = (0..12).map(|i| format!("a/{i:02}")).collect();
    for key in &in_a {
        b.set(key, b"v").await.unwrap();
    }
    in_a.insert(0, "a/".to_owned());

    let pages = all_pages(&b, Some("a/"), 5).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 3]);
    assert_eq!(pages.concat(), in_a);

    assert_eq!(keys(b.list_keys(Some("b/"), None, 5).await), ["b/1"]);
    assert_eq!(
        keys(b.list_keys(Some("c"), None, 5).await),
        Vec::<String>::new()
    );
    assert_eq!(keys(b.list_keys(Some("a/11"), None, 5).await), ["a/11"]);
    // A cursor from before the prefix starts at the prefix; one past it ends the listing.
    assert_eq!(keys(b.list_keys(Some("b/"), Some("a"), 5).await), ["b/1"]);
    assert_eq!(
        b.list_keys(Some("a/"), Some("b"), 5).await.map(|p| p.keys),
        Ok(vec![])
    );
}

async fn list_keys_cursor_is_stable_under_writes(store: &KvStore) {
    let b = bucket(store, "plugin");
    for key in ["k1", "k2", "k3", "k4", "k5", "k6"] {
        b.set(key, b"v").await.unwrap();
    }
    let first = b.list_keys(None, None, 3).await.unwrap();
    assert_eq!(first.keys, ["k1", "k2", "k3"]);

    // Between pages: a key before the cursor appears, the cursor's own key and the next one
    // go away, a key after it appears. The next page neither repeats nor skips survivors.
    b.set("k0", b"v").await.unwrap();
    b.delete("k3").await.unwrap();
    b.delete("k4").await.unwrap();
    b.set("k7", b"v").await.unwrap();

    let second = b
        .list_keys(None, first.next_cursor.as_deref(), 3)
        .await
        .unwrap();
    assert_eq!(second.keys, ["k5", "k6", "k7"]);
    assert_eq!(second.next_cursor, None);
}

async fn increment_semantics(store: &KvStore) {
    let b = bucket(store, "plugin");
    assert_eq!(
        b.increment("n", 5).await,
        Ok(5),
        "a missing key counts from 0"
    );
    assert_eq!(b.increment("n", -7).await, Ok(-2));
    assert_eq!(b.increment("n", 0).await, Ok(-2));
    assert_eq!(
        b.get("n").await,
        Ok(Some(b"-2".to_vec())),
        "stored as decimal ASCII"
    );
    assert_eq!(b.increment("fresh", -1).await, Ok(-1));

    // A counter written with set is a counter.
    b.set("set", b"41").await.unwrap();
    assert_eq!(b.increment("set", 1).await, Ok(42));

    // Anything but the canonical decimal form is not, and stays as it was.
    for not_a_counter in [
        "abc",
        "",
        "007",
        "+1",
        "-0",
        " 1",
        "1.5",
        "9223372036854775808",
    ] {
        b.set("bad", not_a_counter.as_bytes()).await.unwrap();
        assert_eq!(
            b.increment("bad", 1).await,
            Err(KvError::NotAnInteger),
            "{not_a_counter:?}"
        );
        assert_eq!(
            b.get("bad").await,
            Ok(Some(not_a_counter.as_bytes().to_vec()))
        );
    }

    // The whole i64 range, exactly (no detour through floating point), and no wrapping.
    b.set("max", (i64::MAX - 1).to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(b.increment("max", 1).await, Ok(i64::MAX));
    assert_eq!(b.increment("max", 1).await, Err(KvError::Overflow));
    assert_eq!(
        b.get("max").await,
        Ok(Some(i64::MAX.to_string().into_bytes()))
    );
    assert_eq!(b.increment("min", i64::MIN).await, Ok(i64::MIN));
    assert_eq!(b.increment("min", -1).await, Err(KvError::Overflow));
    assert_eq!(b.increment("min", i64::MAX).await, Ok(-1));
    assert_eq!(
        b.increment("big", 9_007_199_254_740_993).await,
        Ok(9_007_199_254_740_993)
    );
    assert_eq!(b.increment("big", 2).await, Ok(9_007_199_254_740_995));
}

async fn compare_and_swap_semantics(store: &KvStore) {
    let b = bucket(store, "plugin");
    assert_eq!(b.compare_and_swap("k", Some(b"x"), b"v").await, Ok(false));
    assert_eq!(
        b.exists("k").await,
        Ok(false),
        "a failed swap creates nothing"
    );

    assert_eq!(b.compare_and_swap("k", None, b"v1").await, Ok(true));
    assert_eq!(b.get("k").await, Ok(Some(b"v1".to_vec())));
    assert_eq!(b.compare_and_swap("k", None, b"v2").await, Ok(false));
    assert_eq!(b.compare_and_swap("k", Some(b"v"), b"v2").await, Ok(false));
    assert_eq!(
        b.compare_and_swap("k", Some(b"v1x"), b"v2").await,
        Ok(false)
    );
    assert_eq!(b.get("k").await, Ok(Some(b"v1".to_vec())));
    assert_eq!(b.compare_and_swap("k", Some(b"v1"), b"v2").await, Ok(true));
    assert_eq!(b.get("k").await, Ok(Some(b"v2".to_vec())));

    // Empty is a value: distinct from absent on both sides of the comparison.
    b.set("empty", b"").await.unwrap();
    assert_eq!(b.compare_and_swap("empty", None, b"x").await, Ok(false));
    assert_eq!(b.compare_and_swap("empty", Some(b""), b"x").await, Ok(true));
    assert_eq!(
        b.compare_and_swap("absent", Some(b""), b"x").await,
        Ok(false)
    );

    // Binary-safe comparison.
    b.set("bin", &[0, 0xFF, 0]).await.unwrap();
    assert_eq!(
        b.compare_and_swap("bin", Some(&[0, 0xFF]), b"x").await,
        Ok(false)
    );
    assert_eq!(
        b.compare_and_swap("bin", Some(&[0, 0xFF, 0]), b"x").await,
        Ok(true)
    );
    assert_eq!(b.key_count().await, Ok(3));
}

async fn concurrent_increments_are_exact(store: &KvStore) {
    const TASKS: i64 = 8;
    const EACH: i64 = 200;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let b = bucket(store, "plugin");
            tokio::spawn(async move {
                for _ in 0..EACH {
                    b.increment("hits", 1).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let b = bucket(store, "plugin");
    assert_eq!(b.increment("hits", 0).await, Ok(TASKS * EACH));
    assert_eq!(b.key_count().await, Ok(1));
}

async fn concurrent_compare_and_swap_loses_no_update(store: &KvStore) {
    const TASKS: u64 = 4;
    const EACH: u64 = 50;
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let b = bucket(store, "plugin");
            tokio::spawn(async move {
                for _ in 0..EACH {
                    // Read, add one, swap; on a lost race read again.
                    loop {
                        let current = b.get("n").await.unwrap();
                        let next = current.as_deref().map_or(0, parse) + 1;
                        let swapped = b
                            .compare_and_swap("n", current.as_deref(), next.to_string().as_bytes())
                            .await
                            .unwrap();
                        if swapped {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let b = bucket(store, "plugin");
    assert_eq!(
        b.get("n").await,
        Ok(Some((TASKS * EACH).to_string().into_bytes()))
    );
}

fn parse(value: &[u8]) -> u64 {
    std::str::from_utf8(value).unwrap().parse().unwrap()
}

fn keys(page: Result<Page, KvError>) -> Vec<String> {
    page.expect("list_keys").keys
}

/// Every page of a listing, following `next_cursor` to the end.
async fn all_pages(b: &hookbox_kv::Bucket, prefix: Option<&str>, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = b.list_keys(prefix, cursor.as_deref(), limit).await.unwrap();
        assert!(page.keys.len() <= limit);
        pages.push(page.keys);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
}
