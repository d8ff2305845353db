//! What many plugins cost: a chain of 1 vs 5 plugins on one command (target: 5 ≤ 5× one), and
//! one plugin called while 1 vs 100 plugins are loaded on other commands (target: no slower).
//!
//! `cargo bench -p hookbox-tests --bench chains` runs `run_chain` on the live snapshot, as the
//! server does for a callback, with `keyword-filter` on a typical OpenIM message, and prints
//! medians and p99s. The chain's plugins are five copies of keyword-filter, so the ratio is
//! per-plugin overhead, not different work. The three cases are measured in alternating
//! rounds, so none of them alone pays for a cold pool or a noisy minute. Numbers, not
//! assertions.

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
/// Each case runs `CALLS / ROUNDS` callbacks per round, the cases taking turns.
const ROUNDS: usize = 5;

fn manifest(name: &str, command: &str) -> PluginManifest {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "source": "keyword_filter.wasm",
        "commands": [command],
        "grants": { "config": { "banned": "spam,scam" } },
    }))
    .expect("a valid manifest")
}

/// A registry with `plugins` loaded.
fn loaded(
    tokio: &tokio::runtime::Runtime,
    runtime: &Arc<Runtime>,
    plugins: Vec<PluginManifest>,
) -> Registry {
    let registry = Registry::new(runtime.clone());
    tokio
        .block_on(registry.load_all(&plugins, plugin_dir()))
        .expect("plugins load");
    registry
}

/// Times `calls` callbacks through the chain for [`SEND`] (after `warmup` untimed ones),
/// appending each to `times`.
fn measure(
    tokio: &tokio::runtime::Runtime,
    runtime: &Arc<Runtime>,
    registry: &Registry,
    warmup: usize,
    calls: usize,
    times: &mut Vec<Duration>,
) {
    let event = Event {
        dialect: DialectKind::Openim,
        command: SEND.to_owned(),
        payload: openim_text_message(SEND, "hello there, how are you?").to_string(),
        metadata: vec![("operationID".into(), "bench".into())],
    };
    tokio.block_on(async {
        for i in 0..warmup + calls {
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
            if i >= warmup {
                times.push(elapsed);
            }
        }
    });
}

/// Median and p99.
fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
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
    let mut crowd = copies(1, SEND);
    for i in 0..99 {
        crowd.push(manifest(
            &format!("other-{i}"),
            &format!("callbackBeforeOther{i}Command"),
        ));
    }
    let cases = [
        ("chain of 1", loaded(&tokio, &runtime, copies(1, SEND))),
        (
            "chain of 5 (same command)",
            loaded(&tokio, &runtime, copies(5, SEND)),
        ),
        (
            "chain of 1, 100 plugins loaded",
            loaded(&tokio, &runtime, crowd),
        ),
    ];
    let mut times: Vec<Vec<Duration>> = cases.iter().map(|_| Vec::with_capacity(CALLS)).collect();
    for round in 0..ROUNDS {
        let warmup = if round == 0 { WARMUP } else { 0 };
        for ((_, registry), times) in cases.iter().zip(&mut times) {
            measure(&tokio, &runtime, registry, warmup, CALLS / ROUNDS, times);
        }
    }
    let medians: Vec<Duration> = cases
        .iter()
        .zip(times)
        .map(|((case, _), times)| row(case, percentiles(times)))
        .collect();
    let (one, five, crowded) = (medians[0], medians[1], medians[2]);
    println!(
        "chain of 5 / chain of 1 = {:.2} (target ≤ 5); 100 loaded / 1 loaded = {:.2} (target ≈ 1)",
        five.as_secs_f64() / one.as_secs_f64(),
        crowded.as_secs_f64() / one.as_secs_f64()
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
