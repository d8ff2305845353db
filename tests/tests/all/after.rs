//! After-callbacks through the durable queue (issue 9): answered at once, delivered to each
//! plugin afterwards in order per conversation, exactly once per event with the idempotency
//! key, retried, dead-lettered, replayed; duplicates dropped, a full queue answered, `sync`
//! plugins inline, the queue shared by two servers over Redis. `fixture-counter` is the
//! plugin: it counts each `idempotencyKey` once in kv (`processed`), every call
//! (`deliveries`), and fails the first `fail_first` deliveries of each key.
//!
//! Crash safety with the real binary and SIGKILL is in `host/cli/tests/after_crash.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox_kv::testing::RedisServer;
use hookbox_server::Config;
use hookbox_server::stores::{open_kv, open_queue};
use hookbox_tests::{AdminServer, OPENIM_ALLOW, Stores, TestServer, openim_text_message, temp_dir};
use reqwest::Method;
use serde_json::{Value, json};

const AFTER_GROUP: &str = "callbackAfterSendGroupMsgCommand";

/// A `fixture-counter` plugin named `name` with `config` (TOML key/values), `extra` keys
/// appended to its table. Its breaker is off: retry tests fail it on purpose, again and again.
///
/// Its timeout is long: the fixture marks a key seen and then counts it in two kv writes
/// (there is no transaction across them), so a delivery cut off by its deadline between the
/// two is seen but never counted, and the exactly-once counts come up short (with 2 s, one
/// full-suite run on the 2-core machine ended at 9,998 of 10,000 and passed when run alone).
fn counter(name: &str, config: &str, extra: &str) -> String {
    format!(
        r#"
[[plugin]]
name = "{name}"
source = "fixture_counter.wasm"
commands = ["{AFTER_GROUP}"]
limits = {{ timeout_ms = 15000 }}
breaker = {{ failures = 0 }}
grants = {{ kv = {{ max_keys = 100000 }}, config = {{ {config} }} }}
{extra}
"#
    )
}

/// An OpenIM after-send group message: `id` is its serverMsgID (so its idempotency key),
/// `group` its conversation, `seq` its place in that conversation.
fn message(group: &str, id: &str, seq: u64) -> Value {
    let mut body = openim_text_message(AFTER_GROUP, "hello");
    body["groupID"] = json!(group);
    body["serverMsgID"] = json!(id);
    body["seq"] = json!(seq);
    body
}

/// A hookbox with its kv store (in `kv_dir`) and queue (in `data_dir`) opened from the
/// config's `[kv]` and `[queue]` tables, the way `hookbox serve` opens them.
/// Send one after-callback to `webhooks` and check it got the allow envelope at once.
async fn acked(webhooks: &TestServer, body: &Value) -> hookbox_tests::Answer {
    let answer = webhooks.openim(AFTER_GROUP, body).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, OPENIM_ALLOW));
    answer
}

async fn durable(config_text: &str, data_dir: &Path, kv_dir: &Path) -> AdminServer {
    let config = Config::parse(config_text, Path::new("test.toml")).expect("valid config");
    let kv = open_kv(&config.kv, kv_dir).await.expect("kv opens");
    let request_timeout = Duration::from_millis(config.server.request_timeout_ms);
    let queue = open_queue(&config.queue, data_dir, request_timeout)
        .await
        .expect("queue opens");
    let stores = Stores {
        kv: Some(kv),
        queue: Some(queue),
    };
    AdminServer::start_with(config_text, data_dir, stores).await
}

/// The counter `key` of plugin `plugin`, read through the admin kv route; `None` if absent.
async fn count(server: &AdminServer, plugin: &str, key: &str) -> Option<u64> {
    let answer = server
        .call(
            Method::GET,
            &format!("/plugins/{plugin}/kv/{key}"),
            None,
            "",
        )
        .await;
    match answer.status {
        200 => Some(
            answer.json()["value"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("not a counter: {}", answer.body)),
        ),
        404 => None,
        _ => panic!("GET {key}: {} {}", answer.status, answer.body),
    }
}

/// Waits until counter `key` of `plugin` is `want`, failing after `within`.
async fn wait_for(server: &AdminServer, plugin: &str, key: &str, want: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = count(server, plugin, key).await;
        if now == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{plugin}'s {key} is {now:?}, not {want}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the series `series` (name and labels, as exported) in `/metrics`.
async fn metric(server: &AdminServer, series: &str) -> Option<f64> {
    let text = server.call(Method::GET, "/metrics", None, "").await.body;
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// `GET /plugins/{plugin}/dead-letters` (with `query`), as JSON; panics unless 200.
async fn dead_letters(server: &AdminServer, plugin: &str, query: &str) -> Value {
    let answer = server
        .call(
            Method::GET,
            &format!("/plugins/{plugin}/dead-letters{query}"),
            None,
            "",
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Waits until `plugin` has `want` dead letters, and returns them.
async fn wait_for_dead_letters(server: &AdminServer, plugin: &str, want: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = dead_letters(server, plugin, "").await;
        let letters = page["dead_letters"].as_array().cloned().unwrap_or_default();
        if letters.len() == want {
            return letters;
        }
        assert!(Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A directory for the kv store of the throughput test, on tmpfs when there is one. What is
/// measured is the queue on the real disk; a kv file on the same disk would sync three writes
/// per event one at a time (redb has one writer), and the test would measure that instead.
fn kv_dir(tag: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return temp_dir(tag);
    }
    let dir = shm.join(format!("hookbox-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a tmpfs dir");
    dir
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_after_callbacks_are_answered_at_once_and_each_processed_exactly_once() {
    const GROUPS: usize = 200;
    const PER_GROUP: u64 = 50; // 10,000 events
    const CLIENTS: usize = 32;
    let data_dir = temp_dir("after-10k");
    let kv = kv_dir("after-10k-kv");
    let config = counter("counter", r#"sleep_ms = "20", check_order = "1""#, "");
    let server = Arc::new(durable(&config, &data_dir, &kv).await);

    // Each client owns some groups and sends each group's messages in order, so the order
    // a conversation arrives in is known and the plugin can check it is kept.
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let server = server.clone();
        clients.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for seq in 0..PER_GROUP {
                for group in (client..GROUPS).step_by(CLIENTS) {
                    let body = message(&format!("g{group}"), &format!("m{group}-{seq}"), seq);
                    let answer = server.webhooks.openim(AFTER_GROUP, &body).await;
                    assert_eq!(answer.status, 200, "{}", answer.body);
                    assert_eq!(answer.body, OPENIM_ALLOW);
                    times.push(answer.elapsed);
                }
            }
            times
        }));
    }
    let mut times = Vec::new();
    for client in clients {
        times.extend(client.await.expect("client ran"));
    }
    let sent_in = started.elapsed();
    times.sort();
    let events = times.len();
    assert_eq!(events, GROUPS * PER_GROUP as usize);
    let (p50, p99, max) = (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[events - 1],
    );
    println!(
        "{events} after-callbacks from {CLIENTS} clients in {sent_in:?}: answer p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    // Generous: the answer waits for one group-committed fsync, never for the 20 ms plugin.
    assert!(max < Duration::from_secs(2), "slowest answer {max:?}");

    wait_for(
        &server,
        "counter",
        "processed",
        events as u64,
        Duration::from_secs(300),
    )
    .await;
    println!(
        "all {events} processed {:?} after the first was sent",
        started.elapsed()
    );
    assert_eq!(
        count(&server, "counter", "deliveries").await,
        Some(events as u64)
    );
    assert_eq!(count(&server, "counter", "out_of_order").await, None);
    // Every key once: walk the `seen:` keys page by page.
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            None => "?prefix=seen:&limit=1000".to_owned(),
            Some(c) => format!("?prefix=seen:&limit=1000&cursor={c}"),
        };
        let page = server
            .call(
                Method::GET,
                &format!("/plugins/counter/kv{query}"),
                None,
                "",
            )
            .await
            .json();
        seen += page["keys"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, events);
    let queued = r#"hookbox_queue_enqueued_total{plugin="counter",outcome="queued"}"#;
    assert_eq!(metric(&server, queued).await, Some(events as f64));
    let delivered = r#"hookbox_queue_deliveries_total{plugin="counter",outcome="delivered"}"#;
    assert_eq!(metric(&server, delivered).await, Some(events as f64));
    Arc::into_inner(server)
        .expect("clients are done")
        .stop()
        .await;
    let _ = std::fs::remove_dir_all(&kv);
}

#[tokio::test]
async fn the_same_event_sent_twice_is_queued_and_processed_once() {
    let dir = temp_dir("after-dup");
    let server = durable(&counter("counter", "", ""), &dir, &dir).await;
    let twice = message("g1", "m-dup", 1);
    for body in [&twice, &twice, &message("g1", "m-other", 2)] {
        acked(&server.webhooks, body).await;
    }
    wait_for(&server, "counter", "processed", 2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&server, "counter", "deliveries").await, Some(2));
    let duplicate = r#"hookbox_queue_enqueued_total{plugin="counter",outcome="duplicate"}"#;
    assert_eq!(metric(&server, duplicate).await, Some(1.0));
    // The plugin saw the key the dialect made from the message id.
    let seen = "seen:openim:callbackAfterSendGroupMsgCommand:msg:m-dup";
    assert_eq!(count(&server, "counter", seen).await, Some(1));
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_failing_twice_succeeds_on_the_third_attempt() {
    let dir = temp_dir("after-retry");
    let config = counter("counter", r#"fail_first = "2""#, "")
        + "[queue]\nmax_attempts = 5\nbase_backoff_ms = 20\nmax_backoff_ms = 100\n";
    let server = durable(&config, &dir, &dir).await;
    for (group, id) in [("g1", "a"), ("g2", "b"), ("g1", "c")] {
        acked(&server.webhooks, &message(group, id, 1)).await;
    }
    wait_for(&server, "counter", "processed", 3, Duration::from_secs(20)).await;
    assert_eq!(count(&server, "counter", "deliveries").await, Some(9));
    let retries = r#"hookbox_queue_deliveries_total{plugin="counter",outcome="retry"}"#;
    assert_eq!(metric(&server, retries).await, Some(6.0));
    let page = dead_letters(&server, "counter", "").await;
    assert_eq!(page["dead_letters"], json!([]), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_that_always_fails_ends_in_dead_letters_and_they_replay_once_it_is_fixed() {
    let dir = temp_dir("after-dead");
    let config = counter("counter", r#"fail_first = "1000000""#, "")
        + "[queue]\nmax_attempts = 3\nbase_backoff_ms = 10\nmax_backoff_ms = 20\n";
    let server = durable(&config, &dir, &dir).await;
    for (group, id) in [("g1", "first"), ("g2", "second")] {
        acked(&server.webhooks, &message(group, id, 1)).await;
    }
    let letters = wait_for_dead_letters(&server, "counter", 2).await;
    let first = &letters[0];
    assert_eq!(first["reason"], "failed");
    assert_eq!(first["attempts"], 3);
    let error = first["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("failing delivery 3"), "{first}");
    assert_eq!(first["event"]["command"], AFTER_GROUP);
    let key = "openim:callbackAfterSendGroupMsgCommand:msg:first";
    assert_eq!(first["idempotency_key"], key);
    assert_eq!(first["event"]["metadata"]["idempotencyKey"], key);
    assert_eq!(first["ordering_key"], "openim:sg_g1");
    assert_eq!(count(&server, "counter", "processed").await, None);
    let dead = r#"hookbox_queue_deliveries_total{plugin="counter",outcome="dead_lettered"}"#;
    assert_eq!(metric(&server, dead).await, Some(2.0));

    // Paged: one at a time.
    let page = dead_letters(&server, "counter", "?limit=1").await;
    assert_eq!(page["dead_letters"][0]["id"], first["id"]);
    let next = page["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let page = dead_letters(&server, "counter", &format!("?limit=1&cursor={next}")).await;
    assert_eq!(page["dead_letters"][0]["id"], letters[1]["id"]);
    assert_eq!(page["next_cursor"], Value::Null);

    // Behind the token like every admin route; unknown plugins are 404.
    let anonymous = server
        .call_as(None, Method::GET, "/plugins/counter/dead-letters", None, "")
        .await;
    assert_eq!(anonymous.status, 401);
    let unknown = server
        .call(Method::GET, "/plugins/nobody/dead-letters", None, "")
        .await;
    assert_eq!(
        (unknown.status, unknown.json()["code"].as_str()),
        (404, Some("plugin_not_found"))
    );

    // Fixed by a config change; the first dead letter replays and is processed.
    let fix = json!({ "grants": { "config": { "fail_first": "0" } } }).to_string();
    let patched = server
        .call(
            Method::PATCH,
            "/plugins/counter",
            Some("application/json"),
            fix,
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let ids = json!({ "ids": [first["id"]] }).to_string();
    let replayed = server
        .call(
            Method::POST,
            "/plugins/counter/dead-letters/replay",
            Some("application/json"),
            ids,
        )
        .await;
    assert_eq!(
        replayed.json(),
        json!({ "replayed": 1 }),
        "{}",
        replayed.body
    );
    wait_for(&server, "counter", "processed", 1, Duration::from_secs(10)).await;
    let left = wait_for_dead_letters(&server, "counter", 1).await;
    assert_eq!(left[0]["id"], letters[1]["id"]);

    // No body: every dead letter.
    let deleted = server
        .call(Method::DELETE, "/plugins/counter/dead-letters", None, "")
        .await;
    assert_eq!(deleted.json(), json!({ "deleted": 1 }), "{}", deleted.body);
    wait_for_dead_letters(&server, "counter", 0).await;
    assert_eq!(count(&server, "counter", "processed").await, Some(1));
    server.stop().await;
}

#[tokio::test]
async fn a_full_queue_is_answered_and_its_overflow_kept_in_dead_letters() {
    let dir = temp_dir("after-full");
    let config = counter("counter", r#"sleep_ms = "400""#, "") + "[queue]\nmax_items = 1\n";
    let server = durable(&config, &dir, &dir).await;
    for (group, id) in [("g1", "a"), ("g2", "b"), ("g3", "c")] {
        acked(&server.webhooks, &message(group, id, 1)).await;
    }
    let letters = wait_for_dead_letters(&server, "counter", 2).await;
    assert!(
        letters.iter().all(|l| l["reason"] == "overflow"),
        "{letters:?}"
    );
    let overflow = r#"hookbox_queue_enqueued_total{plugin="counter",outcome="overflow"}"#;
    assert_eq!(metric(&server, overflow).await, Some(2.0));
    wait_for(&server, "counter", "processed", 1, Duration::from_secs(10)).await;

    // Replays are not held to the limit: an operator asked for them.
    let replayed = server
        .call(
            Method::POST,
            "/plugins/counter/dead-letters/replay",
            None,
            "",
        )
        .await;
    assert_eq!(
        replayed.json(),
        json!({ "replayed": 2 }),
        "{}",
        replayed.body
    );
    wait_for(&server, "counter", "processed", 3, Duration::from_secs(10)).await;
    server.stop().await;
}

#[tokio::test]
async fn sync_delivery_runs_the_plugin_before_the_answer() {
    let dir = temp_dir("after-sync");
    let config = counter("inline", r#"sleep_ms = "300""#, "delivery = \"sync\"")
        + &counter("queued", r#"sleep_ms = "300""#, "");
    let server = durable(&config, &dir, &dir).await;
    let answer = acked(&server.webhooks, &message("g1", "m1", 1)).await;
    assert!(
        answer.elapsed >= Duration::from_millis(300),
        "{:?}",
        answer.elapsed
    );
    // Counted by the time the IM server is answered: no waiting.
    assert_eq!(count(&server, "inline", "processed").await, Some(1));
    wait_for(&server, "queued", "processed", 1, Duration::from_secs(10)).await;
    let inline_queued = r#"hookbox_queue_enqueued_total{plugin="inline",outcome="queued"}"#;
    assert_eq!(metric(&server, inline_queued).await, None);
    server.stop().await;
}

#[tokio::test]
async fn a_queue_that_fails_to_store_makes_the_plugins_run_before_the_answer() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = temp_dir("after-fallback");
    let config = counter("counter", "", "")
        + &format!("[queue]\nbackend = \"redis\"\nurl = \"{}\"\n", redis.url());
    let server = durable(&config, &dir, &dir).await;
    let answer = server
        .webhooks
        .openim(AFTER_GROUP, &message("g1", "m1", 1))
        .await;
    assert_eq!(answer.status, 200);
    wait_for(&server, "counter", "processed", 1, Duration::from_secs(10)).await;

    drop(redis);
    acked(&server.webhooks, &message("g1", "m2", 2)).await;
    assert_eq!(count(&server, "counter", "processed").await, Some(2));
    let fallback = r#"hookbox_queue_enqueued_total{plugin="counter",outcome="inline_fallback"}"#;
    assert_eq!(metric(&server, fallback).await, Some(1.0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_sharing_a_redis_queue_process_each_event_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let shared = format!(
        "[kv]\nbackend = \"redis\"\nurl = \"{url}\"\n[queue]\nbackend = \"redis\"\nurl = \"{url}\"\n",
        url = redis.url()
    );
    let config = counter("counter", r#"sleep_ms = "5""#, "") + &shared;
    let mut servers = Vec::new();
    for n in 0..2 {
        let dir = temp_dir(&format!("after-redis-{n}"));
        servers.push(Arc::new(durable(&config, &dir, &dir).await));
    }
    const EVENTS: usize = 1_000;
    let mut clients = Vec::new();
    for client in 0..8 {
        let servers = servers.clone();
        clients.push(tokio::spawn(async move {
            for i in (client..EVENTS).step_by(8) {
                let server = &servers[i % 2];
                let body = message(&format!("g{}", i % 40), &format!("m{i}"), i as u64);
                acked(&server.webhooks, &body).await;
            }
        }));
    }
    for client in clients {
        client.await.expect("client ran");
    }
    wait_for(
        &servers[0],
        "counter",
        "processed",
        EVENTS as u64,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(
        count(&servers[1], "counter", "deliveries").await,
        Some(EVENTS as u64)
    );
    let delivered = r#"hookbox_queue_deliveries_total{plugin="counter",outcome="delivered"}"#;
    let mut split = Vec::new();
    for server in &servers {
        split.push(metric(server, delivered).await.unwrap_or(0.0));
    }
    println!("delivered by each server: {split:?}");
    assert_eq!(split.iter().sum::<f64>(), EVENTS as f64);
    assert!(
        split.iter().all(|n| *n > 0.0),
        "both servers consume: {split:?}"
    );
    for server in servers {
        Arc::into_inner(server)
            .expect("clients are done")
            .stop()
            .await;
    }
}
