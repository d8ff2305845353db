//! What every backend must do, written once against [`Queue`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox_queue::{
    Clock, DeadReason, EnqueueOutcome, FailOutcome, ItemId, ManualClock, NewItem, Queue,
    QueueConfig, QueueError, QueueStats, Selection,
};

use crate::harness::{Harness, item, keys};

/// One `#[tokio::test]` per case and backend: `embedded_backend::<case>` and
/// `redis_backend::<case>`.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&crate::harness::Harness::embedded()).await;
                }
            )*
        }

        mod redis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(harness) = crate::harness::Harness::redis() else {
                        return;
                    };
                    super::$case(&harness).await;
                }
            )*
        }
    };
}

conformance!(
    enqueue_lease_ack,
    one_item_per_conversation_at_a_time,
    conversations_are_handed_out_together,
    a_failed_item_waits_for_its_backoff,
    dead_letter_after_max_attempts,
    dead_letters_page_replay_and_delete,
    duplicates_within_the_window_are_queued_once,
    overflow_is_reported_and_kept_in_dead_letters,
    one_enqueue_fans_out_to_every_plugin,
    an_expired_lease_is_handed_out_again,
    wait_wakes_up_on_enqueue,
    invalid_input_is_refused,
);

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::starting_now())
}

async fn enqueue_lease_ack(h: &Harness) {
    let clock = clock();
    let q = h.queue(QueueConfig::default(), &clock).await;
    let payload = vec![0u8, 0xFF, b'\n', 0x80];
    let outcome = q
        .enqueue(
            &["p"],
            NewItem {
                idempotency_key: "msg-1".into(),
                ordering_key: "group:g1".into(),
                payload: payload.clone(),
            },
        )
        .await
        .unwrap();
    let EnqueueOutcome::Queued { id } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(q.stats("p").await.unwrap().depth, 1);

    let leased = q.lease("p", 10).await.unwrap();
    assert_eq!(leased.len(), 1);
    let got = &leased[0];
    assert_eq!(got.plugin(), "p");
    assert_eq!(got.item.id, id);
    assert_eq!(got.item.idempotency_key, "msg-1");
    assert_eq!(got.item.ordering_key, "group:g1");
    assert_eq!(got.item.payload, payload);
    assert_eq!(got.item.attempts, 0);
    assert_eq!(got.item.enqueued_at_ms, clock.now_ms());
    assert_eq!(got.item.next_attempt_at_ms, clock.now_ms());
    assert_eq!(got.item.last_error, None);
    assert!(q.lease("p", 10).await.unwrap().is_empty(), "leased once");
    assert_eq!(q.stats("p").await.unwrap().leased, 1);

    q.ack(got).await.unwrap();
    assert!(q.lease("p", 10).await.unwrap().is_empty(), "acked is gone");
    assert_eq!(q.stats("p").await.unwrap(), QueueStats::default());
    // An item acked twice: the second is refused, nothing changes.
    assert!(matches!(
        q.ack(got).await,
        Err(QueueError::LeaseLost { .. })
    ));
    // Other plugins never saw it.
    assert!(q.lease("other", 10).await.unwrap().is_empty());
}

async fn one_item_per_conversation_at_a_time(h: &Harness) {
    let q = h.queue(QueueConfig::default(), &clock()).await;
    for (key, conversation) in [("a1", "A"), ("a2", "A"), ("b1", "B"), ("a3", "A")] {
        q.enqueue(&["p"], item(key, conversation)).await.unwrap();
    }
    let first = q.lease("p", 10).await.unwrap();
    assert_eq!(
        keys(&first),
        ["a1", "b1"],
        "one per conversation, oldest first"
    );
    assert!(
        q.lease("p", 10).await.unwrap().is_empty(),
        "a2 waits for a1"
    );

    q.ack(&first[0]).await.unwrap();
    let second = q.lease("p", 10).await.unwrap();
    assert_eq!(keys(&second), ["a2"]);
    q.ack(&first[1]).await.unwrap();
    assert!(
        q.lease("p", 10).await.unwrap().is_empty(),
        "a3 waits for a2"
    );
    q.ack(&second[0]).await.unwrap();
    let third = q.lease("p", 10).await.unwrap();
    assert_eq!(keys(&third), ["a3"]);
    q.ack(&third[0]).await.unwrap();
    assert_eq!(q.stats("p").await.unwrap().depth, 0);
}

async fn conversations_are_handed_out_together(h: &Harness) {
    let q = h.queue(QueueConfig::default(), &clock()).await;
    for n in 0..20 {
        for conversation in 0..2 {
            q.enqueue(
                &["p"],
                item(&format!("m{n}-c{conversation}"), &format!("c{n}")),
            )
            .await
            .unwrap();
        }
    }
    let batch = q.lease("p", 15).await.unwrap();
    assert_eq!(batch.len(), 15, "fifteen conversations at once");
    let rest = q.lease("p", 100).await.unwrap();
    assert_eq!(rest.len(), 5, "the other five heads, no second items");
    let mut conversations: Vec<&str> = batch
        .iter()
        .chain(&rest)
        .map(|leased| leased.item.ordering_key.as_str())
        .collect();
    conversations.sort_unstable();
    conversations.dedup();
    assert_eq!(conversations.len(), 20);
    assert!(
        batch
            .iter()
            .chain(&rest)
            .all(|l| l.item.idempotency_key.ends_with("-c0")),
        "every head is its conversation's first item"
    );
}

async fn a_failed_item_waits_for_its_backoff(h: &Harness) {
    let clock = clock();
    let config = QueueConfig {
        base_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(8),
        ..QueueConfig::default()
    };
    let q = h.queue(config, &clock).await;
    q.enqueue(&["p"], item("a1", "A")).await.unwrap();
    q.enqueue(&["p"], item("a2", "A")).await.unwrap();
    q.enqueue(&["p"], item("b1", "B")).await.unwrap();
    let leased = q.lease("p", 10).await.unwrap();
    assert_eq!(keys(&leased), ["a1", "b1"]);

    let start = clock.now_ms();
    let outcome = q.fail(&leased[0], "plugin trapped").await.unwrap();
    let FailOutcome::Retry { attempts: 1, at_ms } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        (start + 500..=start + 1_000).contains(&at_ms),
        "first retry within the upper half of 1 s: {}",
        at_ms - start
    );
    // b1's conversation goes on; a1 and, behind it, a2 wait.
    q.ack(&leased[1]).await.unwrap();
    assert!(q.lease("p", 10).await.unwrap().is_empty());
    clock.set(at_ms - 1);
    assert!(
        q.lease("p", 10).await.unwrap().is_empty(),
        "not before its time"
    );

    clock.set(at_ms);
    let retried = q.lease("p", 10).await.unwrap();
    assert_eq!(keys(&retried), ["a1"], "a1 again, still ahead of a2");
    assert_eq!(retried[0].item.attempts, 1);
    assert_eq!(retried[0].item.next_attempt_at_ms, at_ms);
    assert_eq!(
        retried[0].item.last_error.as_deref(),
        Some("plugin trapped")
    );

    // The second failure doubles the step.
    let now = clock.now_ms();
    let FailOutcome::Retry {
        attempts: 2,
        at_ms: second,
    } = q.fail(&retried[0], "again").await.unwrap()
    else {
        panic!("second failure");
    };
    assert!(
        (now + 1_000..=now + 2_000).contains(&second),
        "{}",
        second - now
    );
    clock.set(second);
    let third = q.lease("p", 10).await.unwrap();
    assert_eq!(keys(&third), ["a1"]);
    q.ack(&third[0]).await.unwrap();
    assert_eq!(keys(&q.lease("p", 10).await.unwrap()), ["a2"]);
}

async fn dead_letter_after_max_attempts(h: &Harness) {
    let clock = clock();
    let config = QueueConfig {
        max_attempts: 3,
        ..QueueConfig::default()
    };
    let q = h.queue(config, &clock).await;
    q.enqueue(&["p"], item("a1", "A")).await.unwrap();
    q.enqueue(&["p"], item("a2", "A")).await.unwrap();
    for attempt in 1..=3 {
        clock.advance(Duration::from_secs(120));
        let leased = q.lease("p", 10).await.unwrap();
        assert_eq!(keys(&leased), ["a1"], "attempt {attempt}");
        let outcome = q
            .fail(&leased[0], &format!("boom {attempt}"))
            .await
            .unwrap();
        if attempt < 3 {
            assert!(
                matches!(outcome, FailOutcome::Retry { attempts, .. } if attempts == attempt),
                "{outcome:?}"
            );
        } else {
            assert_eq!(outcome, FailOutcome::DeadLettered { attempts: 3 });
        }
    }
    // The conversation moves on at once.
    assert_eq!(keys(&q.lease("p", 10).await.unwrap()), ["a2"]);

    let page = q.dead_letters("p", None, 10).await.unwrap();
    assert_eq!(page.next_cursor, None);
    let [dead] = page.letters.as_slice() else {
        panic!("{page:?}");
    };
    assert_eq!(dead.reason, DeadReason::Failed);
    assert_eq!(dead.dead_at_ms, clock.now_ms());
    assert_eq!(dead.item.idempotency_key, "a1");
    assert_eq!(dead.item.payload, b"a1");
    assert_eq!(dead.item.attempts, 3);
    assert_eq!(dead.item.last_error.as_deref(), Some("boom 3"));
    let stats = q.stats("p").await.unwrap();
    assert_eq!((stats.depth, stats.dead_letters), (1, 1));
}

async fn dead_letters_page_replay_and_delete(h: &Harness) {
    let clock = clock();
    let config = QueueConfig {
        max_attempts: 1,
        ..QueueConfig::default()
    };
    let q = h.queue(config, &clock).await;
    for key in ["x", "y", "z"] {
        q.enqueue(&["p"], item(key, key)).await.unwrap();
    }
    for leased in q.lease("p", 10).await.unwrap() {
        assert_eq!(
            q.fail(&leased, "down").await.unwrap(),
            FailOutcome::DeadLettered { attempts: 1 }
        );
    }
    assert_eq!(q.stats("p").await.unwrap().depth, 0);

    let first = q.dead_letters("p", None, 2).await.unwrap();
    let dead_keys: Vec<&str> = first
        .letters
        .iter()
        .map(|d| d.item.idempotency_key.as_str())
        .collect();
    assert_eq!(dead_keys, ["x", "y"]);
    let cursor = first.next_cursor.expect("a second page");
    let second = q.dead_letters("p", Some(cursor), 2).await.unwrap();
    assert_eq!(second.letters.len(), 1);
    assert_eq!(second.letters[0].item.idempotency_key, "z");
    assert_eq!(second.next_cursor, None);
    let [x, y] = [&first.letters[0], &first.letters[1]].map(|d| d.item.id);
    let z = second.letters[0].item.id;

    // Replay x: back in the queue, attempts reset, a new id, the same event.
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        q.replay_dead_letters("p", Selection::Ids(vec![x])).await,
        Ok(1)
    );
    let replayed = q.lease("p", 10).await.unwrap();
    assert_eq!(keys(&replayed), ["x"]);
    assert_eq!(replayed[0].item.attempts, 0);
    assert_ne!(replayed[0].item.id, x);
    assert!(replayed[0].item.id > z, "behind everything queued before");
    assert_eq!(replayed[0].item.payload, b"x");
    assert_eq!(replayed[0].item.next_attempt_at_ms, clock.now_ms());
    q.ack(&replayed[0]).await.unwrap();

    // Unknown and already-replayed ids are ignored.
    assert_eq!(
        q.delete_dead_letters("p", Selection::Ids(vec![y, x, ItemId(999_999)]))
            .await,
        Ok(1)
    );
    assert_eq!(q.stats("p").await.unwrap().dead_letters, 1);
    assert_eq!(q.replay_dead_letters("p", Selection::All).await, Ok(1));
    assert_eq!(keys(&q.lease("p", 10).await.unwrap()), ["z"]);
    assert_eq!(q.delete_dead_letters("p", Selection::All).await, Ok(0));
    assert_eq!(q.stats("p").await.unwrap().dead_letters, 0);
    assert!(
        q.dead_letters("p", None, 10)
            .await
            .unwrap()
            .letters
            .is_empty()
    );
}

async fn duplicates_within_the_window_are_queued_once(h: &Harness) {
    let clock = clock();
    let q = h.queue(QueueConfig::default(), &clock).await;
    let EnqueueOutcome::Queued { id } = q.enqueue(&["p"], item("k", "A")).await.unwrap() else {
        panic!("first enqueue");
    };
    let again = NewItem {
        payload: b"a different body".to_vec(),
        ..item("k", "B")
    };
    assert_eq!(
        q.enqueue(&["p"], again.clone()).await,
        Ok(EnqueueOutcome::Duplicate { original: id })
    );
    // Still a duplicate once the first was delivered.
    let leased = q.lease("p", 10).await.unwrap();
    assert_eq!(leased.len(), 1);
    q.ack(&leased[0]).await.unwrap();
    clock.advance(Duration::from_secs(9 * 60));
    assert_eq!(
        q.enqueue(&["p"], again.clone()).await,
        Ok(EnqueueOutcome::Duplicate { original: id })
    );
    let stats = q.stats("p").await.unwrap();
    assert_eq!((stats.depth, stats.duplicates), (0, 2));

    // After the window it is a new event.
    clock.advance(Duration::from_secs(61));
    let outcome = q.enqueue(&["p"], again).await.unwrap();
    assert!(
        matches!(outcome, EnqueueOutcome::Queued { id: new } if new > id),
        "{outcome:?}"
    );
    assert_eq!(q.stats("p").await.unwrap().depth, 1);

    // A window of zero turns deduplication off.
    let off = h
        .queue(
            QueueConfig {
                dedupe_window: Duration::ZERO,
                ..QueueConfig::default()
            },
            &clock,
        )
        .await;
    for _ in 0..2 {
        let outcome = off.enqueue(&["zero"], item("same", "A")).await.unwrap();
        assert!(
            matches!(outcome, EnqueueOutcome::Queued { .. }),
            "{outcome:?}"
        );
    }
}

async fn overflow_is_reported_and_kept_in_dead_letters(h: &Harness) {
    let config = QueueConfig {
        max_items_per_plugin: 2,
        ..QueueConfig::default()
    };
    let q = h.queue(config, &clock()).await;
    q.enqueue(&["p"], item("m1", "A")).await.unwrap();
    q.enqueue(&["p"], item("m2", "B")).await.unwrap();
    let outcome = q.enqueue(&["p", "q"], item("m3", "C")).await.unwrap();
    let EnqueueOutcome::Overflow { id, plugins } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(plugins, ["p"], "only p is full");
    // q has it; p has it in its dead letters, not lost.
    assert_eq!(keys(&q.lease("q", 10).await.unwrap()), ["m3"]);
    let page = q.dead_letters("p", None, 10).await.unwrap();
    assert_eq!(page.letters.len(), 1);
    assert_eq!(page.letters[0].reason, DeadReason::Overflow);
    assert_eq!(page.letters[0].item.id, id);
    assert_eq!(page.letters[0].item.payload, b"m3");
    let stats = q.stats("p").await.unwrap();
    assert_eq!(
        (stats.depth, stats.overflows, stats.dead_letters),
        (2, 1, 1)
    );
    // The IM server sending it again is a duplicate, not a second overflow.
    assert!(matches!(
        q.enqueue(&["p"], item("m3", "C")).await,
        Ok(EnqueueOutcome::Duplicate { .. })
    ));

    // Once there is room, an operator replays it.
    let leased = q.lease("p", 10).await.unwrap();
    q.ack(&leased[0]).await.unwrap();
    assert_eq!(q.replay_dead_letters("p", Selection::All).await, Ok(1));
    let stats = q.stats("p").await.unwrap();
    assert_eq!(
        (stats.depth, stats.overflows, stats.dead_letters),
        (2, 1, 0)
    );
    q.ack(&leased[1]).await.unwrap();
    assert_eq!(keys(&q.lease("p", 10).await.unwrap()), ["m3"]);
}

async fn one_enqueue_fans_out_to_every_plugin(h: &Harness) {
    let q = h.queue(QueueConfig::default(), &clock()).await;
    let outcome = q
        .enqueue(&["audit", "sync", "search", "audit"], item("m", "A"))
        .await
        .unwrap();
    let EnqueueOutcome::Queued { id } = outcome else {
        panic!("{outcome:?}");
    };
    let mut held = Vec::new();
    for plugin in ["audit", "sync", "search"] {
        let leased = q.lease(plugin, 10).await.unwrap();
        assert_eq!(leased.len(), 1, "{plugin} gets it once");
        assert_eq!(leased[0].item.id, id, "one id across plugins");
        held.push(leased.into_iter().next().unwrap());
    }
    // Each plugin's copy is settled on its own.
    q.ack(&held[0]).await.unwrap();
    q.fail(&held[1], "sync is down").await.unwrap();
    assert_eq!(q.stats("audit").await.unwrap().depth, 0);
    assert_eq!(q.stats("sync").await.unwrap().depth, 1);
    assert_eq!(q.stats("search").await.unwrap().depth, 1);
    // A duplicate counts for every plugin it was meant for.
    q.enqueue(&["audit", "sync"], item("m", "A")).await.unwrap();
    assert_eq!(q.stats("audit").await.unwrap().duplicates, 1);
    assert_eq!(q.stats("sync").await.unwrap().duplicates, 1);
    assert_eq!(q.stats("search").await.unwrap().duplicates, 0);
}

async fn an_expired_lease_is_handed_out_again(h: &Harness) {
    let clock = clock();
    let config = QueueConfig {
        lease_timeout: Duration::from_millis(300),
        ..QueueConfig::default()
    };
    let q = h.queue(config, &clock).await;
    q.enqueue(&["p"], item("a1", "A")).await.unwrap();
    let first = q.lease("p", 10).await.unwrap();
    assert_eq!(first.len(), 1);
    // Redis measures a lease by its own clock, the embedded queue by ours: move both.
    tokio::time::sleep(Duration::from_millis(400)).await;
    clock.advance(Duration::from_millis(400));
    let second = q.lease("p", 10).await.unwrap();
    assert_eq!(keys(&second), ["a1"], "handed out again");
    assert_eq!(
        second[0].item.attempts, 0,
        "an expired lease is not a failure"
    );
    // The first holder was too slow: its ack and fail change nothing.
    assert!(matches!(
        q.ack(&first[0]).await,
        Err(QueueError::LeaseLost { .. })
    ));
    assert!(matches!(
        q.fail(&first[0], "late").await,
        Err(QueueError::LeaseLost { .. })
    ));
    q.ack(&second[0]).await.unwrap();
    assert_eq!(q.stats("p").await.unwrap().depth, 0);
}

async fn wait_wakes_up_on_enqueue(h: &Harness) {
    let q = h.queue(QueueConfig::default(), &clock()).await;
    let consumer = q.clone();
    let waiter = tokio::spawn(async move {
        let start = Instant::now();
        consumer.wait("p", Duration::from_secs(30)).await;
        (start.elapsed(), consumer.lease("p", 10).await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    q.enqueue(&["p"], item("m", "A")).await.unwrap();
    let (waited, leased) = waiter.await.unwrap();
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(keys(&leased), ["m"]);
}

async fn invalid_input_is_refused(h: &Harness) {
    let q = h.queue(QueueConfig::default(), &clock()).await;
    for name in ["", "a:b", "{p}", "with space", &"x".repeat(129)] {
        assert!(
            matches!(
                q.enqueue(&[name], item("k", "A")).await,
                Err(QueueError::InvalidPlugin { .. })
            ),
            "{name:?}"
        );
        assert!(matches!(
            q.lease(name, 1).await,
            Err(QueueError::InvalidPlugin { .. })
        ));
    }
    assert!(matches!(
        q.enqueue(&[], item("k", "A")).await,
        Err(QueueError::InvalidItem(_))
    ));
    assert!(matches!(
        q.enqueue(&["p"], item("", "A")).await,
        Err(QueueError::InvalidItem(_))
    ));
    assert!(q.lease("p", 0).await.unwrap().is_empty());
    assert_eq!(q.stats("p").await.unwrap(), QueueStats::default());
    let unworkable = QueueConfig {
        max_attempts: 0,
        ..QueueConfig::default()
    };
    let refused = match h {
        Harness::Embedded(dir) => {
            Queue::open_embedded(&dir.path().join("bad.redb"), unworkable).await
        }
        Harness::Redis(server) => Queue::connect_redis(&server.url(), unworkable).await,
    };
    assert!(matches!(refused, Err(QueueError::InvalidConfig(_))));
}
