//! Instance modes: what survives between calls in fresh and in reuse mode, and when a warm
//! instance is retired. `fixture-scripted` with `verdict = "count"` answers how many calls
//! its instance has served, so every retirement shows as the count starting again at 1.

use std::collections::BTreeMap;
use std::sync::Arc;

use hookbox_model::{DialectKind, Event, Verdict};
use hookbox_runtime::{
    CallLimits, Capabilities, InstancePool, InvokeError, PoolStats, ReusePolicy,
};
use hookbox_tests::{TestServer, openim_text_message, plugin_path, shared_runtime};
use serde_json::Value;

const MODIFY: &str = "callbackBeforeMsgModifyCommand";

fn event() -> Event {
    Event {
        dialect: DialectKind::Openim,
        command: MODIFY.to_owned(),
        payload: openim_text_message(MODIFY, "hello").to_string(),
        metadata: vec![("operationID".into(), "op-reuse".into())],
    }
}

fn counting(extra: &[(&str, &str)]) -> Capabilities {
    let mut config = BTreeMap::from([("verdict".to_owned(), "count".to_owned())]);
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Capabilities::config_only(Arc::new(config))
}

fn pool(config: Capabilities, policy: ReusePolicy) -> InstancePool {
    let bytes = std::fs::read(plugin_path("fixture-scripted")).expect("fixture is built");
    let plugin = shared_runtime()
        .load("fixture-scripted", &bytes)
        .expect("fixture loads");
    InstancePool::new(plugin, config, policy)
}

/// The instance's call count from a `count` answer, or the failure's kind.
fn count(result: Result<hookbox_runtime::Outcome, InvokeError>) -> Result<u32, &'static str> {
    match result.map_err(|e| e.kind())?.verdict {
        Verdict::Modify(fields) => Ok(fields["ex"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .expect("ex is a count")),
        other => panic!("expected a count, got {other:?}"),
    }
}

async fn counts(pool: &InstancePool, calls: usize) -> Vec<Result<u32, &'static str>> {
    let mut counts = Vec::with_capacity(calls);
    for _ in 0..calls {
        let result = shared_runtime()
            .invoke_reusing(pool, &event(), &CallLimits::default())
            .await;
        counts.push(count(result));
    }
    counts
}

fn policy(pool_size: usize, max_calls: u32) -> ReusePolicy {
    ReusePolicy {
        pool_size,
        max_calls,
        ..ReusePolicy::default()
    }
}

#[tokio::test]
async fn fresh_instances_share_nothing_between_calls() {
    let bytes = std::fs::read(plugin_path("fixture-scripted")).expect("fixture is built");
    let plugin = shared_runtime().load("fixture-scripted", &bytes).unwrap();
    let config = counting(&[]);
    for _ in 0..3 {
        let result = shared_runtime()
            .invoke(&plugin, &event(), &config, &CallLimits::default())
            .await;
        assert_eq!(count(result), Ok(1));
    }
}

#[tokio::test]
async fn a_warm_instance_keeps_its_state_until_max_calls_then_starts_over() {
    let pool = pool(counting(&[]), policy(1, 3));
    assert_eq!(
        counts(&pool, 7).await,
        [Ok(1), Ok(2), Ok(3), Ok(1), Ok(2), Ok(3), Ok(1)]
    );
    assert_eq!(
        pool.stats(),
        PoolStats {
            created: 3,
            reused: 4,
            retired_max_calls: 2,
            ..PoolStats::default()
        }
    );
    assert_eq!(pool.idle_count(), 1);
}

#[tokio::test]
async fn a_trap_retires_the_instance_and_the_next_call_gets_a_new_one() {
    let pool = pool(counting(&[("trap_at", "3")]), policy(1, 100));
    assert_eq!(
        counts(&pool, 5).await,
        [Ok(1), Ok(2), Err("trap"), Ok(1), Ok(2)]
    );
    let stats = pool.stats();
    assert_eq!((stats.created, stats.retired_failed), (2, 1));
}

#[tokio::test]
async fn an_error_answer_retires_the_instance_too() {
    let config = Capabilities::config_only(Arc::new(BTreeMap::from([(
        "verdict".to_owned(),
        "err".to_owned(),
    )])));
    let pool = pool(config, policy(2, 100));
    assert_eq!(counts(&pool, 3).await, [Err("plugin_error"); 3]);
    let stats = pool.stats();
    assert_eq!(
        (stats.created, stats.reused, stats.retired_failed),
        (3, 0, 3)
    );
    assert_eq!(pool.idle_count(), 0);
}

#[tokio::test]
async fn an_instance_past_its_memory_high_water_mark_is_retired() {
    // Every call keeps 2 MiB: with a 1 MiB mark no instance serves a second call...
    let config = counting(&[("hold_kb", "2048")]);
    let low = pool(
        config.clone(),
        ReusePolicy {
            retire_memory_bytes: 1 << 20,
            ..policy(1, 100)
        },
    );
    assert_eq!(counts(&low, 3).await, [Ok(1); 3]);
    assert_eq!(low.stats().retired_memory, 3);
    // ...while with a 24 MiB mark the same instance keeps growing, and is retired once past it.
    let high = pool(config, policy(1, 100));
    let seen = counts(&high, 14).await;
    assert_eq!(&seen[..3], [Ok(1), Ok(2), Ok(3)]);
    assert!(seen[3..].contains(&Ok(1)), "never retired: {seen:?}");
    assert!(high.stats().retired_memory >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_builds_extra_instances_and_keeps_only_pool_size() {
    let pool = Arc::new(pool(counting(&[]), policy(2, 1000)));
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let result = shared_runtime()
                    .invoke_reusing(&pool, &event(), &CallLimits::default())
                    .await;
                count(result)
            })
        })
        .collect();
    for call in calls {
        assert!(call.await.expect("the task ran").is_ok());
    }
    let stats = pool.stats();
    assert!(pool.idle_count() <= 2, "{stats:?}");
    assert_eq!(stats.created + stats.reused, 16, "{stats:?}");
    assert_eq!(
        stats.created,
        pool.idle_count() as u64 + stats.dropped_pool_full,
        "every instance built is idle or was dropped: {stats:?}"
    );
}

fn scripted_reuse(reuse: &str) -> String {
    format!(
        "[[plugin]]\nname = \"counter\"\nsource = \"fixture_scripted.wasm\"\ncommands = [{MODIFY:?}]\ninstances = \"reuse\"\nreuse = {reuse}\ngrants = {{ config = {{ verdict = \"count\" }} }}\n\n[[plugin]]\nname = \"bystander\"\nsource = \"fixture_scripted.wasm\"\ncommands = [\"callbackBeforeSendSingleMsgCommand\"]\n"
    )
}

/// The `ex` of `calls` msg-modify answers: the counts of the instances that served them.
async fn served_counts(server: &TestServer, calls: usize) -> Vec<String> {
    let mut seen = Vec::with_capacity(calls);
    for _ in 0..calls {
        let answer = server
            .openim(MODIFY, &openim_text_message(MODIFY, "hi"))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let body: Value = answer.json();
        seen.push(body["ex"].as_str().unwrap_or("").to_owned());
    }
    seen
}

#[tokio::test]
async fn the_manifest_turns_reuse_on_with_its_bounds() {
    let server = TestServer::start(&scripted_reuse("{ pool_size = 1, max_calls = 2 }")).await;
    assert_eq!(served_counts(&server, 5).await, ["1", "2", "1", "2", "1"]);
    server.stop().await;
}

#[tokio::test]
async fn warm_instances_outlive_other_plugins_changes_but_not_their_own() {
    let server = TestServer::start(&scripted_reuse("{ pool_size = 1, max_calls = 100 }")).await;
    let registry = &server.app.registry;
    assert_eq!(served_counts(&server, 2).await, ["1", "2"]);

    // Another plugin's change publishes a new snapshot; this plugin's instance stays warm.
    registry
        .patch("bystander", &serde_json::json!({ "priority": 5 }), None)
        .await
        .unwrap();
    assert_eq!(served_counts(&server, 1).await, ["3"]);

    // Its own config changes: the old instances must not answer with the old config.
    let config = serde_json::json!({ "grants": { "config": { "verdict": "count", "v": "2" } } });
    registry.patch("counter", &config, None).await.unwrap();
    assert_eq!(served_counts(&server, 2).await, ["1", "2"]);

    // Back to fresh instances.
    let fresh = serde_json::json!({ "instances": "fresh", "reuse": null });
    registry.patch("counter", &fresh, None).await.unwrap();
    assert_eq!(served_counts(&server, 2).await, ["1", "1"]);
    server.stop().await;
}

#[tokio::test]
async fn fresh_is_the_default_mode_end_to_end() {
    let config = "[[plugin]]\nname = \"counter\"\nsource = \"fixture_scripted.wasm\"\ncommands = [\"callbackBeforeMsgModifyCommand\"]\ngrants = { config = { verdict = \"count\" } }\n";
    let server = TestServer::start(config).await;
    assert_eq!(served_counts(&server, 3).await, ["1", "1", "1"]);
    server.stop().await;
}

#[tokio::test]
async fn a_warm_instance_never_answers_with_a_config_it_was_not_built_with() {
    // The SDK remembers config values for an instance's life: a change must reach the
    // plugin through new instances, and the remembered value must be the granted one.
    const SINGLE: &str = "callbackBeforeSendSingleMsgCommand";
    let config = format!(
        "[[plugin]]\nname = \"keyword-filter\"\nsource = \"keyword_filter.wasm\"\ncommands = [{SINGLE:?}]\ninstances = \"reuse\"\nreuse = {{ pool_size = 1, max_calls = 100 }}\ngrants = {{ config = {{ banned = \"spam\" }} }}\n"
    );
    let server = TestServer::start(&config).await;
    let err_code = |text: &'static str| {
        let server = &server;
        async move {
            let answer = server
                .openim(SINGLE, &openim_text_message(SINGLE, text))
                .await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            answer.json()["errCode"].as_i64()
        }
    };
    // One warm instance serves them all: it asks the host on its first two calls and
    // answers the third from the remembered value.
    assert_eq!(err_code("buy spam now").await, Some(5001));
    assert_eq!(err_code("buy spam now").await, Some(5001));
    assert_eq!(err_code("buy eggs now").await, Some(0));

    let banned = serde_json::json!({ "grants": { "config": { "banned": "eggs" } } });
    server
        .app
        .registry
        .patch("keyword-filter", &banned, None)
        .await
        .unwrap();
    assert_eq!(err_code("buy spam now").await, Some(0));
    assert_eq!(err_code("buy eggs now").await, Some(5001));
    assert_eq!(err_code("buy eggs now").await, Some(5001));
    server.stop().await;
}
