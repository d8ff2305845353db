//! Swapping plugins while traffic flows: no request fails or sees a mix of versions, a call
//! that started on one version finishes on it, bad uploads change nothing, and a source
//! file that changes on disk is picked up (a broken one is not).
//!
//! One config lets three components answer differently for the same callback: with
//! `{ banned = "hello", verdict = "reject:5101:v1", sleep_ms = … }` and the text "hello",
//! `fixture_scripted` rejects with 5101, `keyword_filter` rejects with 5001, and
//! `fixture_sleep` allows after sleeping.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hookbox_tests::{AdminServer, OPENIM_ALLOW, openim_text_message, plugin_bytes, temp_dir};
use reqwest::Method;

const SEND: &str = "callbackBeforeSendSingleMsgCommand";

fn config(source: &str, sleep_ms: u64) -> String {
    format!(
        r#"
[[plugin]]
name = "swappy"
source = "{source}"
commands = ["{SEND}"]
limits = {{ timeout_ms = 10000 }}
grants = {{ config = {{ banned = "hello", verdict = "reject:5101:v1", sleep_ms = "{sleep_ms}" }} }}
"#
    )
}

/// A component for `hookbox:plugin@0.2.0`, a world version this host does not serve.
pub(crate) fn wrong_world_component() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (core module $m (func (export "handle") (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            (func $handle (result u32) (canon lift (core func $i "handle")))
            (instance $handler (export "handle" (func $handle)))
            (export "hookbox:plugin/handler@0.2.0" (instance $handler)))"#,
    )
    .expect("the WAT is valid")
}

/// Answers to one request per call, with the text "hello".
async fn ask(server: &AdminServer) -> (u16, String) {
    let answer = server
        .webhooks
        .openim(SEND, &openim_text_message(SEND, "hello"))
        .await;
    (answer.status, answer.body)
}

async fn active_sha(server: &AdminServer) -> String {
    server.plugin("swappy").await["active"]["sha256"]
        .as_str()
        .expect("a sha256")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swaps_under_load_lose_no_request_and_mix_no_versions() {
    let dir = temp_dir("swap-load");
    let server = Arc::new(AdminServer::start(&config("fixture_scripted.wasm", 0), &dir).await);
    let (a, b) = (
        plugin_bytes("fixture-scripted"),
        plugin_bytes("keyword-filter"),
    );

    // Learn each version's exact answer first (and warm B's compile).
    let body_a = ask(&server).await.1;
    assert_eq!(server.put("swappy", b.clone()).await.status, 200);
    let body_b = ask(&server).await.1;
    assert_eq!(server.put("swappy", a.clone()).await.status, 200);
    assert!(body_a.contains(r#""errCode":5101"#), "{body_a}");
    assert!(body_b.contains(r#""errCode":5001"#), "{body_b}");

    const CLIENTS: usize = 6;
    const PER_SWAP: u64 = 120;
    const AFTER_LAST: usize = 60;
    let generation = Arc::new(AtomicU64::new(0));
    let finished_swapping = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (server, generation, finished, sent) = (
            server.clone(),
            generation.clone(),
            finished_swapping.clone(),
            sent.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after_last = 0;
            // Bounded: the swapper finishes within its own bounded loop.
            while after_last < AFTER_LAST && seen.len() < 20_000 {
                let last = finished.load(Ordering::Acquire);
                let started_in = generation.load(Ordering::Acquire);
                let (status, body) = ask(&server).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if last {
                    after_last += 1;
                }
                seen.push((started_in, last, status, body));
            }
            seen
        }));
    }

    let wait_for_traffic = |from: u64| {
        let sent = sent.clone();
        async move {
            while sent.load(Ordering::Relaxed) < from + PER_SWAP {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    for swap in 1..=21 {
        wait_for_traffic(sent.load(Ordering::Relaxed)).await;
        let bytes = if swap % 2 == 1 { b.clone() } else { a.clone() };
        let answer = server.put("swappy", bytes).await;
        assert_eq!(answer.status, 200, "swap {swap}: {}", answer.body);
        assert_eq!(answer.json()["changed"], true, "swap {swap}");
        let expected_sha = answer.json()["sha256"].as_str().unwrap().to_owned();
        generation.fetch_add(1, Ordering::AcqRel);

        if swap == 7 {
            let corrupt = server
                .put("swappy", b"\0asm\x0d\x00\x01\x00garbage".to_vec())
                .await;
            assert_eq!(corrupt.status, 422, "{}", corrupt.body);
            assert_eq!(corrupt.json()["code"], "compile_failed", "{}", corrupt.body);
            assert_eq!(active_sha(&server).await, expected_sha);
        }
        if swap == 14 {
            let wrong = server.put("swappy", wrong_world_component()).await;
            assert_eq!(wrong.status, 422, "{}", wrong.body);
            assert_eq!(wrong.json()["code"], "wrong_world", "{}", wrong.body);
            assert_eq!(active_sha(&server).await, expected_sha);
        }
    }
    finished_swapping.store(true, Ordering::Release);
    let last_generation = generation.load(Ordering::Acquire);

    let mut total = 0;
    let mut by_body: HashMap<String, usize> = HashMap::new();
    for client in clients {
        for (started_in, last, status, body) in client.await.expect("client task") {
            total += 1;
            assert_eq!(status, 200, "{body}");
            assert!(
                body == body_a || body == body_b,
                "an answer from neither version: {body}"
            );
            if last || started_in == last_generation {
                assert_eq!(
                    body, body_b,
                    "an answer after the last swap from the old version"
                );
            }
            *by_body.entry(body).or_default() += 1;
        }
    }
    assert!(total >= 2_000, "only {total} requests");
    assert!(
        by_body.get(&body_a).copied().unwrap_or(0) > 0
            && by_body.get(&body_b).copied().unwrap_or(0) > 0,
        "both versions answered under load: {by_body:?}"
    );
    eprintln!("{total} requests across 21 swaps, none failed: {by_body:?}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_started_on_v1_finishes_on_v1() {
    let dir = temp_dir("mid-call");
    // v1 sleeps 3 s and allows; v2 rejects "hello" with 5001.
    let server = Arc::new(AdminServer::start(&config("fixture_sleep.wasm", 3000), &dir).await);
    let (v1, v2) = (
        plugin_bytes("fixture-sleep"),
        plugin_bytes("keyword-filter"),
    );
    // Compile v2 once and keep it for rollback, so going live later is a pointer swap.
    assert_eq!(server.put("swappy", v2.clone()).await.status, 200);
    assert_eq!(server.put("swappy", v1).await.status, 200);

    let stats = server
        .registry()
        .snapshot()
        .plugin("swappy")
        .expect("loaded")
        .stats
        .clone();
    let first = tokio::spawn({
        let server = server.clone();
        async move { ask(&server).await }
    });
    // Wait (bounded) until the first call is inside v1.
    for _ in 0..5_000 {
        if stats.in_flight() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(stats.in_flight(), 1, "the first call never started");

    let swapped = server.put("swappy", v2).await;
    assert_eq!(swapped.status, 200, "{}", swapped.body);
    assert!(
        !first.is_finished(),
        "v2 went live only after the first call ended"
    );
    let (status, body) = ask(&server).await;
    assert_eq!(status, 200);
    assert!(
        body.contains(r#""errCode":5001"#),
        "a new call runs v2: {body}"
    );
    assert!(
        !first.is_finished(),
        "the first call should still be sleeping"
    );

    let (status, body) = first.await.expect("first call");
    assert_eq!(status, 200);
    assert_eq!(
        body, OPENIM_ALLOW,
        "the call that started on v1 finished on v1"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn rollback_restores_the_previous_behaviour() {
    let dir = temp_dir("rollback");
    let server = AdminServer::start(&config("fixture_scripted.wasm", 0), &dir).await;
    let original = ask(&server).await.1;
    assert!(original.contains(r#""errCode":5101"#), "{original}");

    assert_eq!(
        server
            .put("swappy", plugin_bytes("keyword-filter"))
            .await
            .status,
        200
    );
    assert!(ask(&server).await.1.contains(r#""errCode":5001"#));
    let view = server.plugin("swappy").await;
    assert_eq!(view["active"]["origin"]["kind"], "upload", "{view}");
    assert_eq!(view["previous"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["managed_by"], "admin", "{view}");

    let back = server
        .call(Method::POST, "/plugins/swappy/rollback", None, "")
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(ask(&server).await.1, original);
    let view = server.plugin("swappy").await;
    assert_eq!(view["active"]["origin"]["kind"], "file", "{view}");
    assert!(
        view["active"]["origin"]["path"]
            .as_str()
            .unwrap()
            .ends_with("fixture_scripted.wasm"),
        "{view}"
    );

    let again = server
        .call(Method::POST, "/plugins/swappy/rollback", None, "")
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.json()["code"], "no_previous_version");
    assert_eq!(ask(&server).await.1, original);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn at_least_three_versions_are_kept_and_rollback_walks_back() {
    let dir = temp_dir("history");
    let server = AdminServer::start(&config("fixture_scripted.wasm", 0), &dir).await;
    let versions = [
        plugin_bytes("keyword-filter"),
        plugin_bytes("fixture-sleep"),
        plugin_bytes("fixture-fail"),
        plugin_bytes("fixture-trap"),
    ];
    let mut shas = vec![active_sha(&server).await];
    for bytes in versions {
        let answer = server.put("swappy", bytes).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        shas.push(answer.json()["sha256"].as_str().unwrap().to_owned());
    }
    let view = server.plugin("swappy").await;
    let kept: Vec<&str> = view["previous"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(kept, [&shas[3], &shas[2], &shas[1]], "{view}");
    for expected in [&shas[3], &shas[2], &shas[1]] {
        let back = server
            .call(Method::POST, "/plugins/swappy/rollback", None, "")
            .await;
        assert_eq!(back.status, 200, "{}", back.body);
        assert_eq!(back.json()["sha256"], expected.as_str());
        assert_eq!(&active_sha(&server).await, expected);
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_changed_source_file_is_reloaded_and_a_broken_one_is_not() {
    let dir = temp_dir("source");
    let source = dir.join("plugin.wasm");
    std::fs::write(&source, plugin_bytes("fixture-scripted")).unwrap();
    let server = AdminServer::start(&config(source.to_str().unwrap(), 0), &dir.join("data")).await;
    assert!(ask(&server).await.1.contains(r#""errCode":5101"#));
    assert_eq!(server.registry().source_files().await, vec![source.clone()]);

    std::fs::write(&source, plugin_bytes("keyword-filter")).unwrap();
    let changed = server.registry().reload_source(&source).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert!(ask(&server).await.1.contains(r#""errCode":5001"#));
    let view = server.plugin("swappy").await;
    assert_eq!(view["active"]["origin"]["kind"], "file");
    assert_eq!(view["managed_by"], "config");

    // A half-written build: refused, the last good version keeps serving.
    std::fs::write(&source, &plugin_bytes("fixture-scripted")[..1000]).unwrap();
    assert!(server.registry().reload_source(&source).await.is_err());
    assert!(ask(&server).await.1.contains(r#""errCode":5001"#));

    // Unchanged bytes are no new version.
    std::fs::write(&source, plugin_bytes("keyword-filter")).unwrap();
    assert!(
        server
            .registry()
            .reload_source(&source)
            .await
            .unwrap()
            .is_empty()
    );

    // Uploaded code pins the plugin: the file no longer replaces it.
    assert_eq!(
        server
            .put("swappy", plugin_bytes("fixture-scripted"))
            .await
            .status,
        200
    );
    assert!(server.registry().source_files().await.is_empty());
    std::fs::write(&source, plugin_bytes("fixture-sleep")).unwrap();
    assert!(
        server
            .registry()
            .reload_source(&source)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(ask(&server).await.1.contains(r#""errCode":5101"#));
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_config_reload_adds_removes_and_reconfigures_and_a_bad_one_changes_nothing() {
    let dir = temp_dir("reload");
    let server = AdminServer::start(&config("fixture_scripted.wasm", 0), &dir).await;
    let registry = server.registry().clone();
    let parse = |text: &str| {
        hookbox_server::Config::parse(text, std::path::Path::new("reload.toml"))
            .unwrap()
            .plugins
    };
    let group = "callbackBeforeSendGroupMsgCommand";
    let reloaded = format!(
        r#"
[[plugin]]
name = "swappy"
source = "fixture_scripted.wasm"
commands = ["{SEND}"]
grants = {{ config = {{ verdict = "reject:5102:reconfigured" }} }}

[[plugin]]
name = "newcomer"
source = "keyword_filter.wasm"
commands = ["{group}"]
grants = {{ config = {{ banned = "hello" }} }}
"#
    );
    registry
        .load_all(&parse(&reloaded), hookbox_tests::plugin_dir())
        .await
        .unwrap();
    assert!(ask(&server).await.1.contains(r#""errCode":5102"#));
    let group_answer = server
        .webhooks
        .openim(group, &openim_text_message(group, "hello"))
        .await;
    assert!(
        group_answer.body.contains(r#""errCode":5001"#),
        "{}",
        group_answer.body
    );

    // A plugin whose file is not a component: the whole reload is refused.
    let broken = reloaded.replace("keyword_filter.wasm", "../../../../Cargo.toml");
    assert!(
        registry
            .load_all(&parse(&broken), hookbox_tests::plugin_dir())
            .await
            .is_err()
    );
    assert!(ask(&server).await.1.contains(r#""errCode":5102"#));

    // Removing a table removes the plugin and its routes.
    let only_newcomer =
        reloaded[reloaded.find("[[plugin]]\nname = \"newcomer\"").unwrap()..].to_owned();
    registry
        .load_all(&parse(&only_newcomer), hookbox_tests::plugin_dir())
        .await
        .unwrap();
    assert_eq!(ask(&server).await.1, OPENIM_ALLOW);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
