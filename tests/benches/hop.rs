//! The wasm hop: fresh instance + `handle` + drop for the Rust `keyword-filter` on a typical
//! OpenIM message, measured through the public runtime API exactly as the server calls it;
//! and the same call on a warm instance from a reuse pool, for comparison.
//!
//! `cargo bench -p hookbox-tests --bench hop` prints a table of medians and p99s. Numbers,
//! not assertions: the machine is shared and noisy, so compare runs made together.
//! `HOP_PLUGIN=path/to/other.wasm` measures another build of keyword-filter (e.g. for
//! `wasm32-wasip2` instead of the lean build) with the same cases.
//!
//! `bench/hop-instructions.sh` runs this bench under callgrind for instruction counts per call,
//! which do not drift with the VM the way timings do. It uses two knobs: `HOP_CALLS` (measured
//! calls per case and mode after the 1,000 warm-up calls, default 20,000) and
//! `HOP_ONLY=<case>/<mode>` (`allow`, `reject` or `modify`, then `fresh` or `reuse`).

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
/// Pool slots: enough for the reuse pool's kept instances and the fresh calls beside them, and
/// few enough that valgrind can reserve their address space.
const SLOTS: u32 = 4;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let calls: usize = std::env::var("HOP_CALLS")
        .ok()
        .map_or(CALLS, |n| n.parse().expect("HOP_CALLS is a number"))
        .max(1);
    let only = std::env::var("HOP_ONLY").ok().filter(|o| !o.is_empty());
    let engine = Runtime::new(RuntimeConfig {
        max_concurrent_calls: SLOTS,
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
        "wasm hop: keyword-filter ({} KiB), {calls} calls; fresh = new instance + handle + drop, reuse = warm instance",
        bytes.len() / 1024
    );
    println!(
        "{:<44} {:<6} {:>10} {:>10} {:>10}",
        "case", "mode", "median µs", "p99 µs", "calls/s"
    );
    for (name, case, command, text) in [
        (
            "allow",
            "before-send single, clean text → allow",
            "callbackBeforeSendSingleMsgCommand",
            "hello there, how are you?",
        ),
        (
            "reject",
            "before-send single, banned word → reject",
            "callbackBeforeSendSingleMsgCommand",
            "buy spam now",
        ),
        (
            "modify",
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
            let mode = if reuse { "reuse" } else { "fresh" };
            if only
                .as_ref()
                .is_some_and(|o| *o != format!("{name}/{mode}"))
            {
                continue;
            }
            let call = || async {
                let called = if reuse {
                    engine.invoke_reusing(&pool, &event, &limits).await
                } else {
                    engine.invoke(&plugin, &event, &config, &limits).await
                };
                called.expect("call succeeds");
            };
            let mut times = Vec::with_capacity(calls);
            runtime.block_on(async {
                for _ in 0..WARMUP {
                    call().await;
                }
                for _ in 0..calls {
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
                "{case:<44} {mode:<6} {:>10.2} {:>10.2} {:>10.0}",
                micros(median),
                micros(p99),
                calls as f64 / total.as_secs_f64()
            );
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
