//! What only the Redis store does: several replicas share it, operators read it.

use hookbox_kv::testing::RedisServer;
use hookbox_kv::{KvError, KvStore, Quotas};

use crate::harness::bucket;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_increment_one_key_exactly() {
    const REPLICAS: usize = 2;
    const TASKS: usize = 4;
    const EACH: i64 = 200;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut tasks = Vec::new();
    for _ in 0..REPLICAS {
        // Each replica its own handle, its own connection.
        let replica = KvStore::connect_redis(&server.url()).await.unwrap();
        for _ in 0..TASKS {
            let stats = bucket(&replica, "group-stats");
            tasks.push(tokio::spawn(async move {
                for _ in 0..EACH {
                    stats.increment("messages", 1).await.unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = KvStore::connect_redis(&server.url()).await.unwrap();
    let total = (REPLICAS * TASKS) as i64 * EACH;
    assert_eq!(
        bucket(&store, "group-stats").increment("messages", 0).await,
        Ok(total)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_key_count_quota() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let quotas = Quotas {
        max_keys: 10,
        ..Quotas::default()
    };
    let mut tasks = Vec::new();
    for replica in 0..2 {
        let store = KvStore::connect_redis(&server.url()).await.unwrap();
        for i in 0..10 {
            let b = store.bucket("p", quotas).unwrap();
            tasks.push(tokio::spawn(async move {
                b.set(&format!("r{replica}-{i}"), b"v").await
            }));
        }
    }
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => stored += 1,
            Err(refused) => assert_eq!(refused, KvError::TooManyKeys { limit: 10 }),
        }
    }
    assert_eq!(stored, 10, "20 racing writers, room for exactly 10 keys");
    let store = KvStore::connect_redis(&server.url()).await.unwrap();
    assert_eq!(store.bucket("p", quotas).unwrap().key_count().await, Ok(10));
}

#[tokio::test]
async fn the_layout_is_what_operators_read() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = KvStore::connect_redis(&server.url()).await.unwrap();
    let stats = bucket(&store, "group-stats");
    stats.increment("group:g1:messages", 3).await.unwrap();
    stats.set("last", b"hello").await.unwrap();

    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let counter: String = redis::cmd("GET")
        .arg("hookbox:kv:{group-stats}:group:g1:messages")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(counter, "3");
    let index: Vec<String> = redis::cmd("ZRANGE")
        .arg("hookbox:kv:{group-stats}")
        .arg(0)
        .arg(-1)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(index, ["group:g1:messages", "last"]);

    // And an operator's INCRBY is seen by the plugin.
    let _: i64 = redis::cmd("INCRBY")
        .arg("hookbox:kv:{group-stats}:group:g1:messages")
        .arg(10)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(stats.increment("group:g1:messages", 0).await, Ok(13));
}

#[tokio::test]
async fn the_password_never_shows() {
    const PASSWORD: &str = "s3cret-pa55word";
    let Some(server) = RedisServer::start_with_args(&["--requirepass", PASSWORD]) else {
        return;
    };
    let with = |password: &str| format!("redis://:{password}@127.0.0.1:{}/", server.port());

    let refused = KvStore::connect_redis(&with("wr0ng-pa55word")).await;
    let Err(KvError::Backend(message)) = &refused else {
        panic!("a wrong password connects: {refused:?}");
    };
    assert!(!message.contains("wr0ng"), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{}", server.port())),
        "{message}"
    );

    let store = KvStore::connect_redis(&with(PASSWORD)).await.unwrap();
    let b = bucket(&store, "p");
    b.set("k", b"v").await.unwrap();
    for shown in [format!("{store:?}"), format!("{b:?}")] {
        assert!(!shown.contains(PASSWORD), "{shown}");
    }
}

#[tokio::test]
async fn an_unusable_url_is_a_backend_error() {
    let invalid = KvStore::connect_redis("not a url").await;
    assert!(matches!(invalid, Err(KvError::Backend(_))), "{invalid:?}");

    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = KvStore::connect_redis(&format!("redis://:pw@127.0.0.1:{port}/")).await;
    let Err(KvError::Backend(message)) = &unreachable else {
        panic!("connected to nothing: {unreachable:?}");
    };
    assert!(message.contains(&port.to_string()), "{message}");
}
