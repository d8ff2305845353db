//! What many plugins cost: a chain of 1 vs 5 plugins on one command (target: 5 ≤ 5× one), and
//! one plugin called while 1 vs 100 plugins are loaded on other commands (target: no slower).
//!
//! `cargo bench -p hookbox-tests --bench chains` runs `run_chain` on the live snapshot, as the
//! server does for a callback, with `keyword-filter` on a typical OpenIM message, and prints
//! medians and p99s. The chain's plugins are five copies of keyword-filter, so the ratio is
//! per-plugin overhead, not different work. Numbers, not assertions.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox_model::{DialectKind, Event, Phase};
use hookbox_registry::{PluginManifest, Registry, run_chain};
use hookbox_runtime::{Runtime, RuntimeConfig};
use hookbox_tests::{openim_text_message, plugin_dir};

const SEND: &str = "callbackBeforeSendSingleMsgCommand";
const WARMUP: usize = 500;
const CALLS: usize = 10_000;

fn manifest(name: &str, command: &str) -> PluginManifest {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "source": "keyword_filter.wasm",
        "commands": [command],
        "grants": { "config": { "banned": "spam,scam" } },
    }))
    .expect("a valid manifest")
}

/// Median and p99 of one callback through the chain for [`SEND`] with `plugins` loaded.
fn measure(
    tokio: &tokio::runtime::Runtime,
    runtime: &Arc<Runtime>,
    plugins: Vec<PluginManifest>,
) -> (Duration, Duration) {
    let registry = Registry::new(runtime.clone());
    tokio
        .block_on(registry.load_all(&plugins, plugin_dir()))
        .expect("plugins load");
    let event = Event {
        dialect: DialectKind::Openim,
        command: SEND.to_owned(),
        payload: openim_text_message(SEND, "hello there, how are you?").to_string(),
        metadata: vec![("operationID".into(), "bench".into())],
    };
    let mut times = Vec::with_capacity(CALLS);
    tokio.block_on(async {
        for i in 0..WARMUP + CALLS {
            let started = Instant::now();
            let snapshot = registry.snapshot();
            let report = run_chain(
                runtime,
                snapshot.chain(SEND),
                &event,
                Phase::Before,
                None,
                |_| Ok(()),
            )
            .await;
            let elapsed = started.elapsed();
            assert_eq!(report.verdict.kind(), "allow");
            if i >= WARMUP {
                times.push(elapsed);
            }
        }
    });
    times.sort_unstable();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn main() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            max_concurrent_calls: 16,
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    assert!(
        Path::new(plugin_dir())
            .join("keyword_filter.wasm")
            .is_file()
    );
    let copies = |n: usize, command: &str| -> Vec<PluginManifest> {
        (0..n)
            .map(|i| {
                manifest(
                    &format!("kf-{command}-{i}").to_lowercase().replace('.', "-"),
                    command,
                )
            })
            .collect()
    };
    println!("callback through run_chain, keyword-filter, {CALLS} callbacks each");
    println!("{:<52} {:>10} {:>10}", "case", "median µs", "p99 µs");
    let row = |case: &str, (median, p99): (Duration, Duration)| {
        println!("{case:<52} {:>10.1} {:>10.1}", micros(median), micros(p99));
        median
    };
    let one = row("chain of 1", measure(&tokio, &runtime, copies(1, SEND)));
    let five = row(
        "chain of 5 (same command)",
        measure(&tokio, &runtime, copies(5, SEND)),
    );
    let mut crowd = copies(1, SEND);
    for i in 0..99 {
        crowd.push(manifest(
            &format!("other-{i}"),
            &format!("callbackBeforeOther{i}Command"),
        ));
    }
    let crowded = row(
        "chain of 1, 100 plugins loaded",
        measure(&tokio, &runtime, crowd),
    );
    println!(
        "chain of 5 / chain of 1 = {:.2} (target ≤ 5); 100 loaded / 1 loaded = {:.2} (target ≈ 1)",
        five.as_secs_f64() / one.as_secs_f64(),
        crowded.as_secs_f64() / one.as_secs_f64()
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
