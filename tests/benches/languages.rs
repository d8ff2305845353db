//! Per-call cost per plugin language: fresh instance + `handle` + drop for the example plugins
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
use hookbox_runtime::{CallLimits, Outcome, Runtime, RuntimeConfig};
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
        "per-call cost by language: fresh instance + handle + drop (release build of the host)"
    );
    println!(
        "{:<11} {:<16} {:<40} {:>9} {:>10} {:>10} {:>10} {:>9} {:>10} {:>9}",
        "language",
        "plugin",
        "case",
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
        let config = Arc::new(
            case.config
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        );
        let call = || async {
            engine
                .invoke(plugin, &case.event, &config, &limits)
                .await
                .unwrap_or_else(|e| panic!("{} fails: {e}", case.plugin))
        };
        let (times, last) = tokio.block_on(async {
            let warm = Instant::now();
            let mut last: Option<Outcome> = None;
            for _ in 0..WARMUP {
                last = Some(call().await);
            }
            let per_call = warm.elapsed() / WARMUP as u32;
            let calls = (BUDGET.as_nanos() / per_call.as_nanos().max(1)) as usize;
            let calls = calls.clamp(MIN_CALLS, MAX_CALLS);
            let mut times = Vec::with_capacity(calls);
            for _ in 0..calls {
                let started = Instant::now();
                let outcome = call().await;
                times.push(started.elapsed());
                last = Some(outcome);
            }
            (times, last.expect("at least one call"))
        });
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
            "{:<11} {:<16} {:<40} {:>9} {:>10} {:>10.1} {:>10.1} {:>9.0} {:>10} {:>9.2}",
            case.language,
            case.plugin,
            case.what,
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

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
