//! When hookbox does not call a plugin at all and answers with its `on_error` instead: the
//! plugin is at its concurrency limit, or its circuit breaker is open after repeated
//! failures. Chains run through `run_chain` on the live snapshot (to see each step's kind)
//! and through HTTP (to see the envelope).

use std::time::{Duration, Instant};

use hookbox_model::{DialectKind, Event, Phase};
use hookbox_registry::{BreakerState, StepResult, run_chain};
use hookbox_tests::{TestServer, openim_text_message};
use serde_json::json;

const SEND: &str = "callbackBeforeSendSingleMsgCommand";

fn event() -> Event {
    Event {
        dialect: DialectKind::Openim,
        command: SEND.to_owned(),
        payload: openim_text_message(SEND, "hello").to_string(),
        metadata: vec![("operationID".into(), "op-admission".into())],
    }
}

/// Run the live chain for [`SEND`] once; what its one plugin did, and how long it took.
async fn step(server: &TestServer) -> (String, Duration) {
    let snapshot = server.app.registry.snapshot();
    let report = run_chain(
        server.app.registry.runtime(),
        snapshot.chain(SEND),
        &event(),
        Phase::Before,
        None,
        |_| Ok(()),
    )
    .await;
    let step = &report.steps[0];
    let kind = match &step.result {
        StepResult::Decided(kind) | StepResult::Failed { kind, .. } => kind.to_string(),
    };
    (kind, step.elapsed)
}

async fn kinds(server: &TestServer, calls: usize) -> Vec<String> {
    let mut kinds = Vec::with_capacity(calls);
    for _ in 0..calls {
        kinds.push(step(server).await.0);
    }
    kinds
}

fn breaker(server: &TestServer) -> BreakerState {
    server
        .app
        .registry
        .snapshot()
        .plugin("flaky")
        .unwrap()
        .breaker
        .state()
}

#[tokio::test]
async fn a_plugin_failing_again_and_again_is_skipped_until_a_probe_succeeds() {
    let config = format!(
        "[[plugin]]\nname = \"flaky\"\nsource = \"fixture_scripted.wasm\"\ncommands = [{SEND:?}]\non_error = \"reject\"\non_error_code = 5900\nbreaker = {{ failures = 2, cool_down_ms = 300 }}\ngrants = {{ config = {{ verdict = \"err:down\" }} }}\n"
    );
    let server = TestServer::start(&config).await;
    assert_eq!(
        kinds(&server, 4).await,
        [
            "plugin_error",
            "plugin_error",
            "circuit_open",
            "circuit_open"
        ]
    );
    assert_eq!(breaker(&server), BreakerState::Open);
    // Skipped calls still get the plugin's on_error envelope.
    let answer = server
        .openim(SEND, &openim_text_message(SEND, "hello"))
        .await;
    assert_eq!(answer.json()["errCode"], 5900, "{}", answer.body);

    // The plugin recovers (a config change keeps the version, and with it the breaker)...
    server
        .app
        .registry
        .patch(
            "flaky",
            &json!({ "grants": { "config": { "verdict": "allow" } } }),
            None,
        )
        .await
        .unwrap();
    assert_eq!(kinds(&server, 1).await, ["circuit_open"]);
    // ...and after the cool-down one probe goes through and closes the breaker.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(kinds(&server, 2).await, ["allow", "allow"]);
    assert_eq!(breaker(&server), BreakerState::Closed);
    server.stop().await;
}

#[tokio::test]
async fn a_failed_probe_opens_the_breaker_for_another_cool_down() {
    let config = format!(
        "[[plugin]]\nname = \"flaky\"\nsource = \"fixture_trap.wasm\"\ncommands = [{SEND:?}]\nbreaker = {{ failures = 1, cool_down_ms = 200 }}\n"
    );
    let server = TestServer::start(&config).await;
    assert_eq!(kinds(&server, 2).await, ["trap", "circuit_open"]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(kinds(&server, 2).await, ["trap", "circuit_open"]);
    assert_eq!(breaker(&server), BreakerState::Open);
    server.stop().await;
}

#[tokio::test]
async fn failures_zero_turns_the_breaker_off() {
    let config = format!(
        "[[plugin]]\nname = \"flaky\"\nsource = \"fixture_trap.wasm\"\ncommands = [{SEND:?}]\nbreaker = {{ failures = 0 }}\n"
    );
    let server = TestServer::start(&config).await;
    assert_eq!(kinds(&server, 8).await, vec!["trap"; 8]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_at_its_concurrency_limit_answers_at_once_without_queueing() {
    let config = format!(
        "[[plugin]]\nname = \"slow\"\nsource = \"fixture_sleep.wasm\"\ncommands = [{SEND:?}]\nlimits = {{ timeout_ms = 5000, max_concurrency = 1 }}\ngrants = {{ config = {{ sleep_ms = \"600\" }} }}\n"
    );
    let server = std::sync::Arc::new(TestServer::start(&config).await);
    let first = {
        let server = server.clone();
        tokio::spawn(async move { step(&server).await })
    };
    // Wait until the first call is in the plugin.
    let entry = server.app.registry.snapshot().chain(SEND)[0].clone();
    let waiting = Instant::now();
    while entry.stats.in_flight() == 0 {
        assert!(waiting.elapsed() < Duration::from_secs(10), "never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (kind, elapsed) = step(&server).await;
    assert_eq!(kind, "concurrency_limit");
    assert!(
        elapsed < Duration::from_millis(300),
        "refused at once, not after the running call: {elapsed:?}"
    );
    assert_eq!(first.await.unwrap().0, "allow");
    // The limit counts running calls only: the next one goes through.
    assert_eq!(step(&server).await.0, "allow");
}
