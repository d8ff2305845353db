//! Per-call cost per plugin language, in both instance modes (a fresh instance + `handle` +
//! drop per call, and a warm instance from a reuse pool), for the example plugins
//! in Rust (`keyword-filter`, the baseline), JavaScript (`welcome`), Python (`pii-mask`), Go
//! (`group-allowlist`) and C (`length-limit`), each on the callback it exists for, measured
//! through the public runtime API exactly as the server calls it (like `hop.rs`).
//!
//! `cargo bench -p hookbox-tests --bench languages` prints, per language, the component size,
//! the compile time, the median and p99 of a call, calls/s, fuel and peak linear memory. The
//! JS/Python/Go/C components come from `plugins/build-languages.sh all`; missing ones are
//! listed as not built. Numbers, not assertions: the machine is shared and noisy, so compare
//! runs made together.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbox_model::{DialectKind, Event};
use hookbox_runtime::{
    CallLimits, Capabilities, InstancePool, Outcome, ReusePolicy, Runtime, RuntimeConfig,
};
use hookbox_tests::{languages_dir, openim_text_message, plugin_path};
use serde_json::json;

/// Each case runs about this long (after warm-up), between `MIN_CALLS` and `MAX_CALLS` calls.
const BUDGET: Duration = Duration::from_secs(8);
const MIN_CALLS: usize = 500;
const MAX_CALLS: usize = 20_000;
const WARMUP: usize = 50;

struct Case {
    language: &'static str,
    plugin: &'static str,
    path: PathBuf,
    what: &'static str,
    event: Event,
    config: &'static [(&'static str, &'static str)],
}

fn openim(command: &str, payload: serde_json::Value) -> Event {
    Event {
        dialect: DialectKind::Openim,
        command: command.to_owned(),
        payload: payload.to_string(),
        metadata: vec![("operationID".into(), "bench".into())],
    }
}

fn create_group(owner: &str) -> serde_json::Value {
    json!({
        "operationID": "bench", "callbackCommand": "callbackBeforeCreateGroupCommand",
        "groupID": "", "groupName": "Hiking club", "notification": "", "introduction": "",
        "faceURL": "", "ownerUserID": owner, "createTime": 0, "memberCount": 0, "ex": "",
        "status": 0, "creatorUserID": "", "groupType": 2, "needVerification": 0,
        "lookMemberInfo": 0, "applyMemberFriend": 0, "notificationUpdateTime": 0,
        "notificationUserID": "",
        "initMemberList": [{ "userID": owner, "roleLevel": 100 }, { "userID": "user-bob", "roleLevel": 20 }],
    })
}

fn cases() -> Vec<Case> {
    let modify = "callbackBeforeMsgModifyCommand";
    let send = "callbackBeforeSendGroupMsgCommand";
    let create = "callbackBeforeCreateGroupCommand";
    let dir = languages_dir();
    vec![
        Case {
            language: "Rust",
            plugin: "keyword-filter",
            path: plugin_path("keyword-filter"),
            what: "msg-modify, banned word → modify",
            event: openim(modify, openim_text_message(modify, "no scam here")),
            config: &[("banned", "spam,scam")],
        },
        Case {
            language: "JavaScript",
            plugin: "welcome",
            path: dir.join("welcome.wasm"),
            what: "create group, no notification → modify",
            event: openim(create, create_group("user-alice")),
            config: &[],
        },
        Case {
            language: "Python",
            plugin: "pii-mask",
            path: dir.join("pii-mask.wasm"),
            what: "msg-modify, phone + e-mail → modify",
            event: openim(
                modify,
                openim_text_message(modify, "call +1 (415) 555-2671 or alice@example.com"),
            ),
            config: &[],
        },
        Case {
            language: "Python",
            plugin: "pii-mask",
            path: dir.join("pii-mask.wasm"),
            what: "msg-modify, clean text → allow",
            event: openim(
                modify,
                openim_text_message(modify, "hello there, how are you?"),
            ),
            config: &[],
        },
        Case {
            language: "Go",
            plugin: "group-allowlist",
            path: dir.join("group-allowlist.wasm"),
            what: "create group, not allowed → reject",
            event: openim(create, create_group("user-mallory")),
            config: &[("allowed", "user-alice,admin")],
        },
        Case {
            language: "C",
            plugin: "length-limit",
            path: dir.join("length-limit.wasm"),
            what: "before-send group, short text → allow",
            event: openim(send, openim_text_message(send, "hello there, how are you?")),
            config: &[("max_chars", "2000")],
        },
    ]
}

fn main() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let engine = Runtime::new(RuntimeConfig {
        max_concurrent_calls: 16,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let limits = CallLimits {
        timeout: Duration::from_secs(5),
        memory_bytes: 64 << 20,
        ..CallLimits::default()
    };

    println!(
        "per-call cost by language: fresh = new instance + handle + drop; reuse = warm instance from the pool (default policy: 4 kept, retired after 1000 calls)"
    );
    println!(
        "{:<11} {:<16} {:<40} {:<6} {:>9} {:>10} {:>10} {:>10} {:>9} {:>10} {:>9}",
        "language",
        "plugin",
        "case",
        "mode",
        "size KiB",
        "compile ms",
        "median µs",
        "p99 µs",
        "calls/s",
        "fuel",
        "mem MiB"
    );
    let mut loaded = BTreeMap::new();
    for case in cases() {
        let Ok(bytes) = std::fs::read(&case.path) else {
            println!(
                "{:<11} {:<16} not built ({}): run .ci/install-languages.sh && plugins/build-languages.sh all",
                case.language,
                case.plugin,
                case.path.display()
            );
            continue;
        };
        let plugin = loaded.entry(case.plugin).or_insert_with(|| {
            engine
                .load(case.plugin, &bytes)
                .expect("the component loads")
        });
        let config = Capabilities::config_only(Arc::new(
            case.config
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        ));
        let pool = InstancePool::new(plugin.clone(), config.clone(), ReusePolicy::default());
        for reuse in [false, true] {
            let call = || async {
                let called = if reuse {
                    engine.invoke_reusing(&pool, &case.event, &limits).await
                } else {
                    engine.invoke(plugin, &case.event, &config, &limits).await
                };
                called.unwrap_or_else(|e| panic!("{} fails: {e}", case.plugin))
            };
            let (times, last) = tokio.block_on(measure(call));
            let verdict = last.verdict.kind();
            assert!(
                case.what.ends_with(verdict),
                "{}: expected `{}`, got {verdict}",
                case.plugin,
                case.what
            );
            let mut sorted = times.clone();
            sorted.sort_unstable();
            let median = sorted[sorted.len() / 2];
            let p99 = sorted[sorted.len() * 99 / 100];
            let total: Duration = times.iter().sum();
            println!(
                "{:<11} {:<16} {:<40} {:<6} {:>9} {:>10} {:>10.1} {:>10.1} {:>9.0} {:>10} {:>9.2}",
                case.language,
                case.plugin,
                case.what,
                if reuse { "reuse" } else { "fresh" },
                bytes.len() / 1024,
                plugin.compile_time().as_millis(),
                micros(median),
                micros(p99),
                times.len() as f64 / total.as_secs_f64(),
                last.fuel_used,
                last.peak_memory_bytes as f64 / f64::from(1 << 20),
            );
        }
    }
}

/// Warm up, then time as many calls as fit in [`BUDGET`]; the last outcome says what the
/// plugin answered.
async fn measure<F, Fut>(call: F) -> (Vec<Duration>, Outcome)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let warm = Instant::now();
    let mut last = None;
    for _ in 0..WARMUP {
        last = Some(call().await);
    }
    let per_call = warm.elapsed() / WARMUP as u32;
    let calls = (BUDGET.as_nanos() / per_call.as_nanos().max(1)) as usize;
    let calls = calls.clamp(MIN_CALLS, MAX_CALLS);
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        last = Some(call().await);
        times.push(started.elapsed());
    }
    (times, last.expect("at least one call"))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
