//! What only the Redis queue does: replicas share it, and take over each other's work.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookbox_kv::testing::RedisServer;
use hookbox_queue::{Queue, QueueConfig, QueueError};

use crate::harness::{item, keys};

/// What the replicas of [`two_replicas_process_every_item_exactly_once`] saw.
#[derive(Default)]
struct Seen {
    /// Deliveries per item.
    count: HashMap<String, usize>,
    /// Per conversation, how many of its items were processed, in order.
    next_in: HashMap<String, usize>,
    /// Conversations being processed right now.
    running: HashSet<String>,
    /// Items processed per replica.
    by_replica: [usize; 2],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_process_every_item_exactly_once() {
    const CONVERSATIONS: usize = 20;
    const EACH: usize = 15;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let ingress = Queue::connect_redis(&server.url(), QueueConfig::default())
        .await
        .unwrap();
    for n in 0..EACH {
        for c in 0..CONVERSATIONS {
            ingress
                .enqueue(&["sync"], item(&format!("c{c}-{n}"), &format!("c{c}")))
                .await
                .unwrap();
        }
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut replicas = Vec::new();
    for replica in 0..2 {
        let q = Queue::connect_redis(&server.url(), QueueConfig::default())
            .await
            .unwrap();
        let seen = Arc::clone(&seen);
        replicas.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let done: usize = seen.lock().unwrap().by_replica.iter().sum();
                if done == CONVERSATIONS * EACH {
                    break;
                }
                assert!(Instant::now() < deadline, "stalled at {done}");
                let batch = q.lease("sync", 4).await.unwrap();
                if batch.is_empty() {
                    q.wait("sync", Duration::from_millis(20)).await;
                    continue;
                }
                for leased in &batch {
                    let (key, conversation) =
                        (&leased.item.idempotency_key, &leased.item.ordering_key);
                    let n: usize = key.split_once('-').unwrap().1.parse().unwrap();
                    {
                        let mut seen = seen.lock().unwrap();
                        assert!(
                            seen.running.insert(conversation.clone()),
                            "{conversation} runs on two replicas at once"
                        );
                        let next = seen.next_in.entry(conversation.clone()).or_default();
                        assert_eq!(*next, n, "{conversation} out of order");
                        *next += 1;
                        *seen.count.entry(key.clone()).or_default() += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    {
                        let mut seen = seen.lock().unwrap();
                        seen.running.remove(conversation);
                        seen.by_replica[replica] += 1;
                    }
                    q.ack(leased).await.unwrap();
                }
            }
        }));
    }
    for replica in replicas {
        replica.await.unwrap();
    }
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.count.len(), CONVERSATIONS * EACH);
        assert!(seen.count.values().all(|&n| n == 1), "each exactly once");
        assert!(
            seen.by_replica.iter().all(|&n| n > 0),
            "both replicas worked: {:?}",
            seen.by_replica
        );
    }
    assert_eq!(ingress.stats("sync").await.unwrap().depth, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_replicas_lease_is_claimed_by_another() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // Long enough that a loaded machine does not expire it before the first check.
    let config = QueueConfig {
        lease_timeout: Duration::from_secs(1),
        ..QueueConfig::default()
    };
    let crashed = Queue::connect_redis(&server.url(), config).await.unwrap();
    let survivor = Queue::connect_redis(&server.url(), config).await.unwrap();
    crashed.enqueue(&["p"], item("a1", "A")).await.unwrap();
    crashed.enqueue(&["p"], item("a2", "A")).await.unwrap();
    let held = crashed.lease("p", 10).await.unwrap();
    assert_eq!(keys(&held), ["a1"]);
    drop(crashed); // it never acks

    assert!(
        survivor.lease("p", 10).await.unwrap().is_empty(),
        "a1 is still leased, a2 waits behind it"
    );
    assert_eq!(survivor.stats("p").await.unwrap().leased, 1);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let claimed = survivor.lease("p", 10).await.unwrap();
    assert_eq!(keys(&claimed), ["a1"], "claimed after the lease timeout");
    assert_eq!(claimed[0].item.id, held[0].item.id);
    // The crashed replica's lease is void, even if it came back to settle it.
    let back = Queue::connect_redis(&server.url(), config).await.unwrap();
    assert!(matches!(
        back.ack(&held[0]).await,
        Err(QueueError::LeaseLost { .. })
    ));
    survivor.ack(&claimed[0]).await.unwrap();
    assert_eq!(keys(&survivor.lease("p", 10).await.unwrap()), ["a2"]);
}

#[tokio::test]
async fn the_layout_is_what_operators_read() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let q = Queue::connect_redis(&server.url(), QueueConfig::default())
        .await
        .unwrap();
    q.enqueue(&["p"], item("m1", "group:g1")).await.unwrap();
    q.enqueue(&["p"], item("m2", "group:g1")).await.unwrap();
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let conversation: Vec<u64> = redis::cmd("LRANGE")
        .arg("hookbox:{queue}:plugin:p:conv:group:g1")
        .arg(0)
        .arg(-1)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(conversation, [1, 2]);
    let tickets: u64 = redis::cmd("XLEN")
        .arg("hookbox:{queue}:plugin:p:ready")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(tickets, 1, "one ticket: the conversation's head");
    let payload: Vec<u8> = redis::cmd("HGET")
        .arg("hookbox:{queue}:plugin:p:item:2")
        .arg("payload")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(payload, b"m2");
}

#[tokio::test]
async fn the_password_never_shows() {
    const PASSWORD: &str = "s3cret-pa55word";
    let Some(server) = RedisServer::start_with_args(&["--requirepass", PASSWORD]) else {
        return;
    };
    let with = |password: &str| format!("redis://:{password}@127.0.0.1:{}/", server.port());
    let refused = Queue::connect_redis(&with("wr0ng-pa55word"), QueueConfig::default()).await;
    let Err(QueueError::Backend(message)) = &refused else {
        panic!("a wrong password connects: {refused:?}");
    };
    assert!(!message.contains("wr0ng"), "{message}");

    let q = Queue::connect_redis(&with(PASSWORD), QueueConfig::default())
        .await
        .unwrap();
    q.enqueue(&["p"], item("k", "A")).await.unwrap();
    assert!(!format!("{q:?}").contains(PASSWORD));
}
