//! Enqueue latency of the embedded queue, every call synced before it returns: one caller
//! at a time (one fsync per enqueue), then many at once (group commit shares the fsyncs).
//! Prints numbers; asserts nothing.
//!
//! `cargo bench -p hookbox-queue`; the file goes to `$HOOKBOX_BENCH_DIR` (default: the
//! system's temporary directory), which should be on the disk being measured.

use std::time::{Duration, Instant};

use hookbox_queue::{NewItem, Queue, QueueConfig};

const SEQUENTIAL: usize = 2_000;
const CONCURRENT_TASKS: usize = 64;
const PER_TASK: usize = 200;
/// About the size of an OpenIM after-send callback body.
const PAYLOAD_BYTES: usize = 700;

#[tokio::main]
async fn main() {
    let base = std::env::var_os("HOOKBOX_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).expect("temporary directory");
    let queue = Queue::open_embedded(&dir.path().join("queue.redb"), QueueConfig::default())
        .await
        .expect("open the queue");
    println!("embedded queue in {}", dir.path().display());

    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    let start = Instant::now();
    for n in 0..SEQUENTIAL {
        let began = Instant::now();
        queue
            .enqueue(&["audit", "sync"], event(&format!("seq-{n}"), n % 50))
            .await
            .expect("enqueue");
        latencies.push(began.elapsed());
    }
    report("1 caller", &mut latencies, start.elapsed());

    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..CONCURRENT_TASKS {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(PER_TASK);
            for n in 0..PER_TASK {
                let began = Instant::now();
                queue
                    .enqueue(&["audit", "sync"], event(&format!("t{task}-{n}"), task))
                    .await
                    .expect("enqueue");
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    report(
        &format!("{CONCURRENT_TASKS} callers"),
        &mut latencies,
        start.elapsed(),
    );
}

fn event(key: &str, conversation: usize) -> NewItem {
    NewItem {
        idempotency_key: key.to_owned(),
        ordering_key: format!("group:{conversation}"),
        payload: vec![b'x'; PAYLOAD_BYTES],
    }
}

fn report(label: &str, latencies: &mut [Duration], total: Duration) {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:>12}: {n} enqueues (2 plugins each) in {total:.2?}, {rate:.0}/s; \
         p50 {p50:.2?}  p99 {p99:.2?}  max {max:.2?}",
        n = latencies.len(),
        rate = latencies.len() as f64 / total.as_secs_f64(),
        p50 = at(0.50),
        p99 = at(0.99),
        max = at(1.0),
    );
}
