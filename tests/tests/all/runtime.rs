//! The runtime on its own: each misbehaviour becomes its own typed error, and a good call
//! reports what it used.

use std::sync::Arc;
use std::time::Duration;

use hookbox_model::{DialectKind, Event, Verdict};
use hookbox_runtime::{CallLimits, Capabilities, InvokeError, LoadError, LoadedPlugin};
use hookbox_tests::{openim_text_message, plugin_path, shared_runtime};

fn load(crate_name: &str) -> LoadedPlugin {
    let bytes = std::fs::read(plugin_path(crate_name)).expect("fixture is built");
    shared_runtime()
        .load(crate_name, &bytes)
        .expect("fixture loads")
}

fn event(command: &str, text: &str) -> Event {
    Event {
        dialect: DialectKind::Openim,
        command: command.to_owned(),
        payload: openim_text_message(command, text).to_string(),
        metadata: vec![("operationID".into(), "op-runtime".into())],
    }
}

fn config(pairs: &[(&str, &str)]) -> Capabilities {
    Capabilities::config_only(Arc::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ))
}

fn limits() -> CallLimits {
    CallLimits {
        timeout: Duration::from_millis(200),
        memory_bytes: 16 << 20,
        ..CallLimits::default()
    }
}

async fn call(
    crate_name: &str,
    limits: &CallLimits,
) -> Result<hookbox_runtime::Outcome, InvokeError> {
    let plugin = load(crate_name);
    let event = event("callbackBeforeSendSingleMsgCommand", "hello");
    shared_runtime()
        .invoke(&plugin, &event, &config(&[("sleep_ms", "60000")]), limits)
        .await
}

#[tokio::test]
async fn a_good_call_reports_its_verdict_fuel_and_memory() {
    let plugin = load("keyword-filter");
    let event = event("callbackBeforeSendSingleMsgCommand", "buy spam now");
    let outcome = shared_runtime()
        .invoke(&plugin, &event, &config(&[("banned", "spam")]), &limits())
        .await
        .unwrap();
    match outcome.verdict {
        Verdict::Reject(r) => assert_eq!(r.code, 5001),
        other => panic!("expected a reject, got {other:?}"),
    }
    assert!(outcome.fuel_used > 0);
    assert!(
        outcome.peak_memory_bytes >= 64 << 10,
        "{}",
        outcome.peak_memory_bytes
    );
}

#[tokio::test]
async fn each_misbehaviour_is_its_own_error() {
    let limits = limits();
    assert_eq!(
        call("fixture-spin", &limits).await.unwrap_err(),
        InvokeError::Timeout(limits.timeout)
    );
    assert_eq!(
        call("fixture-sleep", &limits).await.unwrap_err(),
        InvokeError::Timeout(limits.timeout)
    );
    assert_eq!(
        call("fixture-hog", &limits).await.unwrap_err(),
        InvokeError::MemoryLimit(16 << 20)
    );
    assert!(matches!(
        call("fixture-trap", &limits).await,
        Err(InvokeError::Trap(_))
    ));
    assert!(
        matches!(call("fixture-fail", &limits).await, Err(InvokeError::Plugin(m)) if m.contains("deliberate"))
    );
    assert!(matches!(
        call("fixture-huge", &limits).await,
        Err(InvokeError::OutputTooLarge { limit, .. }) if limit == limits.max_output_bytes
    ));
    let metered = CallLimits {
        fuel: Some(1_000_000),
        timeout: Duration::from_secs(5),
        ..limits
    };
    assert_eq!(
        call("fixture-spin", &metered).await.unwrap_err(),
        InvokeError::OutOfFuel(1_000_000)
    );
}

#[tokio::test]
async fn the_deadline_is_the_plugins_timeout() {
    let quick = CallLimits {
        timeout: Duration::from_millis(50),
        ..limits()
    };
    let started = std::time::Instant::now();
    assert_eq!(
        call("fixture-spin", &quick).await.unwrap_err(),
        InvokeError::Timeout(quick.timeout)
    );
    // Far below the next plugin's budget; generous for a noisy shared machine.
    assert!(
        started.elapsed() < Duration::from_millis(1_000),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn components_that_are_not_plugins_are_refused_at_load() {
    let runtime = shared_runtime();
    assert!(matches!(
        runtime.load("x", b"\0asm\x01\x00\x00\x00"),
        Err(LoadError::CoreModule)
    ));
    assert!(matches!(
        runtime.load("x", b"GIF89a"),
        Err(LoadError::NotWasm)
    ));
    // An empty component is valid wasm but exports no handler.
    assert!(matches!(
        runtime.load("x", b"\0asm\x0d\x00\x01\x00"),
        Err(LoadError::WrongWorld(_))
    ));
}
