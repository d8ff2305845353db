//! What only the embedded (redb) queue does: it survives its process.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hookbox_queue::{EnqueueOutcome, FailOutcome, Queue, QueueConfig, QueueError, Selection};

use crate::harness::{item, keys};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_items_survive_a_reopen_and_leases_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.redb");
    let config = QueueConfig {
        max_attempts: 1,
        ..QueueConfig::default()
    };
    let (last_id, stale) = {
        let q = Queue::open_embedded(&path, config).await.unwrap();
        for (key, conversation) in [("a1", "A"), ("a2", "A"), ("b1", "B"), ("c1", "C")] {
            q.enqueue(&["p"], item(key, conversation)).await.unwrap();
        }
        let leased = q.lease("p", 10).await.unwrap();
        assert_eq!(keys(&leased), ["a1", "b1", "c1"]);
        // c1 dies; a1 and b1 stay leased when the process "crashes".
        assert_eq!(
            q.fail(&leased[2], "down").await,
            Ok(FailOutcome::DeadLettered { attempts: 1 })
        );
        q.enqueue(&["p"], item("a1", "A")).await.unwrap(); // a duplicate
        let EnqueueOutcome::Queued { id } = q.enqueue(&["p"], item("d1", "D")).await.unwrap()
        else {
            panic!("d1");
        };
        (id, leased)
        // Dropped without acking: every handle is gone, the file is closed.
    };

    let q = Queue::open_embedded(&path, config).await.unwrap();
    let stats = q.stats("p").await.unwrap();
    assert_eq!(
        (
            stats.depth,
            stats.leased,
            stats.dead_letters,
            stats.duplicates
        ),
        (4, 0, 1, 1)
    );
    // The leases died with the process: a1 and b1 are handed out again, a2 still waits.
    let leased = q.lease("p", 10).await.unwrap();
    assert_eq!(keys(&leased), ["a1", "b1", "d1"]);
    // A lease from before the restart settles nothing.
    assert!(matches!(
        q.ack(&stale[0]).await,
        Err(QueueError::LeaseLost { .. })
    ));
    q.ack(&leased[0]).await.unwrap();
    assert_eq!(keys(&q.lease("p", 10).await.unwrap()), ["a2"]);
    // Dedupe and ids carry on where they were.
    assert!(matches!(
        q.enqueue(&["p"], item("d1", "D")).await,
        Ok(EnqueueOutcome::Duplicate { .. })
    ));
    let EnqueueOutcome::Queued { id } = q.enqueue(&["p"], item("e1", "E")).await.unwrap() else {
        panic!("e1");
    };
    assert!(id > last_id);
    assert_eq!(q.replay_dead_letters("p", Selection::All).await, Ok(1));
}

#[tokio::test]
async fn one_process_at_a_time_holds_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.redb");
    let first = Queue::open_embedded(&path, QueueConfig::default())
        .await
        .unwrap();
    let second = Queue::open_embedded(&path, QueueConfig::default()).await;
    assert!(
        matches!(&second, Err(QueueError::Backend(message)) if message.contains("queue.redb")),
        "{second:?}"
    );
    drop(first);
    Queue::open_embedded(&path, QueueConfig::default())
        .await
        .expect("reopened once the first handle is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_share_commits_and_all_land() {
    const TASKS: usize = 32;
    const EACH: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open_embedded(&dir.path().join("queue.redb"), QueueConfig::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..EACH {
                let outcome = q
                    .enqueue(&["p"], item(&format!("t{task}-{n}"), &format!("t{task}")))
                    .await
                    .unwrap();
                let EnqueueOutcome::Queued { id } = outcome else {
                    panic!("{outcome:?}");
                };
                ids.push(id);
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    for task in tasks {
        let ids = task.await.unwrap();
        assert!(ids.is_sorted(), "one task's ids increase");
        all.extend(ids);
    }
    assert_eq!(all.len(), TASKS * EACH, "ids are unique");
    assert_eq!(q.stats("p").await.unwrap().depth, (TASKS * EACH) as u64);
    // Each conversation (task) comes out in the order it went in.
    let mut seen = vec![0; TASKS];
    loop {
        let leased = q.lease("p", 64).await.unwrap();
        if leased.is_empty() {
            break;
        }
        for l in &leased {
            let (task, n) = l.item.idempotency_key[1..].split_once('-').unwrap();
            let (task, n): (usize, usize) = (task.parse().unwrap(), n.parse().unwrap());
            assert_eq!(seen[task], n, "task {task} in order");
            seen[task] += 1;
            q.ack(l).await.unwrap();
        }
    }
    assert_eq!(seen, vec![EACH; TASKS]);
}

/// Set to a file path, it makes [`sigkill_child`] the enqueuing child process.
const CHILD: &str = "HOOKBOX_QUEUE_SIGKILL_CHILD";
/// The child prints this and an idempotency key once `enqueue` returned `Ok` for it.
const ACKED: &str = "ENQUEUED ";

/// The child of [`acknowledged_enqueues_survive_sigkill`]; without [`CHILD`] set, a
/// test that passes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_child() {
    let Ok(path) = std::env::var(CHILD) else {
        return;
    };
    let q = Queue::open_embedded(path.as_ref(), QueueConfig::default())
        .await
        .unwrap();
    let mut writers = Vec::new();
    for writer in 0..8 {
        let q = q.clone();
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let key = format!("w{writer}-{n}");
                q.enqueue(&["p", "q"], item(&key, &key)).await.unwrap();
                // One write call per line, so lines from several tasks never interleave.
                let line = format!("{ACKED}{key}\n");
                std::io::stdout().lock().write_all(line.as_bytes()).unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_enqueues_survive_sigkill() {
    const KILL_AFTER: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "embedded::sigkill_child", "--nocapture"])
        .env(CHILD, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.len() < KILL_AFTER {
        assert!(Instant::now() < deadline, "the child enqueues too slowly");
        let line = lines.next().expect("the child died early").unwrap();
        if let Some(key) = line.strip_prefix(ACKED) {
            acked.push(key.to_owned());
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();
    // Lines already in the pipe were acknowledged too.
    for line in lines {
        if let Some(key) = line.unwrap().strip_prefix(ACKED) {
            acked.push(key.to_owned());
        }
    }

    let q = Queue::open_embedded(&path, QueueConfig::default())
        .await
        .expect("the file opens after a SIGKILL");
    for plugin in ["p", "q"] {
        let stored: HashSet<String> = q
            .lease(plugin, usize::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|leased| leased.item.idempotency_key)
            .collect();
        let missing: Vec<&String> = acked.iter().filter(|key| !stored.contains(*key)).collect();
        assert!(
            missing.is_empty(),
            "{plugin}: acknowledged but lost: {missing:?}"
        );
        // At most the writes in flight when it died were stored without being answered.
        assert!(stored.len() >= acked.len() && stored.len() <= acked.len() + 8);
        let stats = q.stats(plugin).await.unwrap();
        assert_eq!(stats.depth, stored.len() as u64);
    }
}
