//! The wasm hop: fresh instance + `handle` + drop for the Rust `keyword-filter` on a typical
//! OpenIM message, measured through the public runtime API exactly as the server calls it;
//! and the same call on a warm instance from a reuse pool, for comparison.
//!
//! `cargo bench -p hookbox-tests --bench hop` prints a table of medians and p99s. Numbers,
//! not assertions: the machine is shared and noisy, so compare runs made together.
//! `HOP_PLUGIN=path/to/other.wasm` measures another build of keyword-filter (e.g. for
//! `wasm32-wasip2` instead of the lean build) with the same cases.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox_model::{DialectKind, Event};
use hookbox_runtime::{
    CallLimits, Capabilities, InstancePool, ReusePolicy, Runtime, RuntimeConfig,
};
use hookbox_tests::{openim_text_message, plugin_path};

const WARMUP: usize = 1_000;
const CALLS: usize = 20_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let engine = Runtime::new(RuntimeConfig {
        max_concurrent_calls: 16,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let path = std::env::var_os("HOP_PLUGIN")
        .filter(|p| !p.is_empty())
        .map_or_else(|| plugin_path("keyword-filter"), Into::into);
    let bytes = std::fs::read(&path).expect("keyword-filter is built");
    let plugin = engine.load("keyword-filter", &bytes).expect("loads");
    let config = Capabilities::config_only(Arc::new(BTreeMap::from([(
        "banned".to_owned(),
        "spam,scam".to_owned(),
    )])));
    let limits = CallLimits::default();

    println!(
        "wasm hop: keyword-filter ({} KiB), {CALLS} calls; fresh = new instance + handle + drop, reuse = warm instance",
        bytes.len() / 1024
    );
    println!(
        "{:<44} {:<6} {:>10} {:>10} {:>10}",
        "case", "mode", "median µs", "p99 µs", "calls/s"
    );
    for (case, command, text) in [
        (
            "before-send single, clean text → allow",
            "callbackBeforeSendSingleMsgCommand",
            "hello there, how are you?",
        ),
        (
            "before-send single, banned word → reject",
            "callbackBeforeSendSingleMsgCommand",
            "buy spam now",
        ),
        (
            "msg-modify, banned word → modify",
            "callbackBeforeMsgModifyCommand",
            "no scam here",
        ),
    ] {
        let event = Event {
            dialect: DialectKind::Openim,
            command: command.to_owned(),
            payload: openim_text_message(command, text).to_string(),
            metadata: vec![("operationID".into(), "bench".into())],
        };
        let pool = InstancePool::new(plugin.clone(), config.clone(), ReusePolicy::default());
        for reuse in [false, true] {
            let call = || async {
                let called = if reuse {
                    engine.invoke_reusing(&pool, &event, &limits).await
                } else {
                    engine.invoke(&plugin, &event, &config, &limits).await
                };
                called.expect("call succeeds");
            };
            let mut times = Vec::with_capacity(CALLS);
            runtime.block_on(async {
                for _ in 0..WARMUP {
                    call().await;
                }
                for _ in 0..CALLS {
                    let started = Instant::now();
                    call().await;
                    times.push(started.elapsed());
                }
            });
            times.sort_unstable();
            let median = times[times.len() / 2];
            let p99 = times[times.len() * 99 / 100];
            let total: Duration = times.iter().sum();
            println!(
                "{case:<44} {:<6} {:>10.2} {:>10.2} {:>10.0}",
                if reuse { "reuse" } else { "fresh" },
                micros(median),
                micros(p99),
                CALLS as f64 / total.as_secs_f64()
            );
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
