//! Tencent Cloud Chat webhooks over real HTTP: authentication before any plugin runs,
//! envelopes and ErrorCode ranges, masking that leaves other elements alone, the answer
//! budget, replays answered from the replay cache, and one plugin serving both IM servers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hookbox_kv::{KvStore, testing::RedisServer};
use hookbox_registry::{Registry, RegistryOptions};
use hookbox_tests::{
    OPENIM_ALLOW, TENCENT_ALLOW, TENCENT_APP, TestServer, openim_text_message, shared_runtime,
    temp_dir, tencent_message, tencent_query, unix_now,
};
use serde_json::json;

const TOKEN_VAR: &str = "HOOKBOX_TEST_TENCENT_TOKEN";
const TOKEN: &str = "xxxxyyyy-test-token";
const GROUP_SEND: &str = "Group.CallbackBeforeSendMsg";
const C2C_SEND: &str = "C2C.CallbackBeforeSendMsg";

fn tencent_section(answer_within_ms: u64) -> String {
    format!(
        "[tencent]\npath = \"/tencent\"\nanswer_within_ms = {answer_within_ms}\n\n[[tencent.app]]\nsdk_app_id = {TENCENT_APP}\ntoken_env = \"{TOKEN_VAR}\"\n\n"
    )
}

fn keyword_filter(extra_config: &str) -> String {
    format!(
        r#"
[[plugin]]
name = "keyword-filter"
source = "keyword_filter.wasm"
commands = ["{GROUP_SEND}", "{C2C_SEND}", "callbackBeforeSendSingleMsgCommand", "callbackBeforeMsgModifyCommand"]
grants = {{ config = {{ banned = "spam"{extra_config} }} }}

[[plugin]]
name = "message-logger"
source = "message_logger.wasm"
commands = ["Group.CallbackAfterSendMsg", "C2C.CallbackAfterSendMsg"]
"#
    )
}

async fn start(plugins: &str) -> TestServer {
    TestServer::start_with_secrets(&(tencent_section(1400) + plugins), &[(TOKEN_VAR, TOKEN)]).await
}

async fn send(
    server: &TestServer,
    command: &str,
    body: &serde_json::Value,
) -> hookbox_tests::Answer {
    let query = tencent_query(command, TENCENT_APP, Some(TOKEN), unix_now());
    server
        .post(&format!("/tencent?{query}"), &[], body.to_string())
        .await
}

#[tokio::test]
async fn signed_group_message_with_a_banned_word_is_masked_and_other_elements_kept() {
    let server = start(&keyword_filter("")).await;
    let body = tencent_message(GROUP_SEND, "red packet SPAM now");
    let answer = send(&server, GROUP_SEND, &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let envelope = answer.json();
    assert_eq!(envelope["ActionStatus"], "OK", "{envelope}");
    assert_eq!(envelope["ErrorCode"], 0, "{envelope}");
    assert_eq!(
        envelope["MsgBody"][0],
        json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": "red packet *** now"}})
    );
    assert_eq!(
        envelope["MsgBody"][1], body["MsgBody"][1],
        "non-text elements are untouched"
    );
    assert_eq!(envelope["MsgBody"].as_array().map(Vec::len), Some(2));

    let clean = send(
        &server,
        GROUP_SEND,
        &tencent_message(GROUP_SEND, "all fine"),
    )
    .await;
    assert_eq!(clean.body, TENCENT_ALLOW);
    server.stop().await;
}

#[tokio::test]
async fn banned_word_is_rejected_with_a_code_in_the_commands_range() {
    let server = start(&keyword_filter(", tencent_action = \"reject\"")).await;
    let group = send(&server, GROUP_SEND, &tencent_message(GROUP_SEND, "spam"))
        .await
        .json();
    assert_eq!(group["ErrorCode"], 10100, "{group}");
    let c2c = send(&server, C2C_SEND, &tencent_message(C2C_SEND, "spam"))
        .await
        .json();
    assert_eq!(c2c["ErrorCode"], 120001, "{c2c}");
    server.stop().await;
}

#[tokio::test]
async fn reject_codes_outside_the_range_become_1_and_discard_is_2() {
    let scripted = |verdict: &str| {
        format!(
            "[[plugin]]\nname = \"scripted\"\nsource = \"fixture_scripted.wasm\"\ncommands = [\"{C2C_SEND}\"]\ngrants = {{ config = {{ verdict = {verdict:?} }} }}\n"
        )
    };
    for (verdict, code) in [
        ("reject:120500:in range", 120500),
        ("reject:5001:out of range", 1),
        ("discard", 2),
    ] {
        let server = start(&scripted(verdict)).await;
        let envelope = send(&server, C2C_SEND, &tencent_message(C2C_SEND, "hi"))
            .await
            .json();
        assert_eq!(envelope["ErrorCode"], code, "{verdict}: {envelope}");
        assert_eq!(envelope["ActionStatus"], "OK", "{verdict}: {envelope}");
        server.stop().await;
    }
}

#[tokio::test]
async fn bad_authentication_is_refused_before_any_plugin_runs() {
    let server = start(&keyword_filter("")).await;
    let body = tencent_message(GROUP_SEND, "spam").to_string();
    let now = unix_now();
    let signed = |app: u64, time: i64| tencent_query(GROUP_SEND, app, Some(TOKEN), time);
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "wrong sign",
            tencent_query(GROUP_SEND, TENCENT_APP, Some("not-the-token"), now),
            401,
        ),
        (
            "missing sign",
            tencent_query(GROUP_SEND, TENCENT_APP, None, now),
            401,
        ),
        ("61 s old", signed(TENCENT_APP, now - 61), 401),
        ("61 s in the future", signed(TENCENT_APP, now + 61), 401),
        ("wrong SdkAppid", signed(TENCENT_APP + 1, now), 401),
        (
            "mismatched command",
            tencent_query("C2C.CallbackBeforeSendMsg", TENCENT_APP, Some(TOKEN), now),
            400,
        ),
    ];
    for (case, query, status) in &cases {
        let answer = server
            .post(&format!("/tencent?{query}"), &[], body.clone())
            .await;
        assert_eq!(answer.status, *status, "{case}: {}", answer.body);
        assert!(answer.json()["code"].is_string(), "{case}: {}", answer.body);
        assert!(
            !answer.body.contains(TOKEN),
            "{case}: the token never appears in an answer"
        );
    }
    assert_eq!(
        server.app.counters.plugin_calls.load(Ordering::Relaxed),
        0,
        "no plugin ran"
    );
    assert_eq!(server.app.counters.callbacks.load(Ordering::Relaxed), 0);
    assert_eq!(server.app.counters.auth_failures.load(Ordering::Relaxed), 5);

    // Catalogue #19: correctly signed, but the sender named twice. The host must not route on
    // one `From_Account` while a plugin's parser reads the other.
    let twice = body.replacen(
        r#""From_Account":"#,
        r#""From_Account":"administrator","From_Account":"#,
        1,
    );
    assert_ne!(twice, body, "the fixture names a sender");
    let answer = server
        .post(
            &format!("/tencent?{}", signed(TENCENT_APP, now)),
            &[],
            twice,
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.json()["code"], "duplicate_key");
    assert_eq!(server.app.counters.plugin_calls.load(Ordering::Relaxed), 0);

    // And the original request, correctly signed, does reach the plugin.
    let ok = server
        .post(&format!("/tencent?{}", signed(TENCENT_APP, now)), &[], body)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(server.app.counters.plugin_calls.load(Ordering::Relaxed), 1);
    server.stop().await;
}

#[tokio::test]
async fn after_send_is_logged_and_allowed() {
    let server = start(&keyword_filter("")).await;
    let answer = send(
        &server,
        "Group.CallbackAfterSendMsg",
        &tencent_message("Group.CallbackAfterSendMsg", "hi"),
    )
    .await;
    assert_eq!(answer.body, TENCENT_ALLOW);
    assert_eq!(server.app.counters.plugin_calls.load(Ordering::Relaxed), 1);
    assert_eq!(
        server.app.counters.plugin_failures.load(Ordering::Relaxed),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn one_keyword_filter_wasm_serves_openim_and_tencent() {
    let server = start(&keyword_filter("")).await;
    let tencent = send(&server, C2C_SEND, &tencent_message(C2C_SEND, "spam!"))
        .await
        .json();
    assert_eq!(
        tencent["MsgBody"][0]["MsgContent"]["Text"], "***!",
        "{tencent}"
    );
    let openim_command = "callbackBeforeSendSingleMsgCommand";
    let openim = server
        .openim(
            openim_command,
            &openim_text_message(openim_command, "spam!"),
        )
        .await
        .json();
    assert_eq!(openim["errCode"], 5001, "{openim}");
    let clean = server
        .openim(openim_command, &openim_text_message(openim_command, "fine"))
        .await;
    assert_eq!(clean.body, OPENIM_ALLOW);
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_that_never_answers_cannot_hold_the_answer_past_the_budget() {
    let plugins = format!(
        "[[plugin]]\nname = \"spinner\"\nsource = \"fixture_spin.wasm\"\ncommands = [\"{GROUP_SEND}\"]\nlimits = {{ timeout_ms = 10000 }}\n\n[[plugin]]\nname = \"never-reached\"\nsource = \"fixture_spin.wasm\"\ncommands = [\"{GROUP_SEND}\"]\npriority = 1\nlimits = {{ timeout_ms = 10000 }}\n"
    );
    let server =
        TestServer::start_with_secrets(&(tencent_section(300) + &plugins), &[(TOKEN_VAR, TOKEN)])
            .await;
    let answer = send(&server, GROUP_SEND, &tencent_message(GROUP_SEND, "hi")).await;
    assert_eq!(
        answer.body, TENCENT_ALLOW,
        "fail open: Tencent delivers the message"
    );
    // The plugins' own 10 s timeouts were cut to the 300 ms budget; generous bound for a
    // noisy machine, far below the 20 s the two plugins could otherwise take.
    assert!(
        answer.elapsed < Duration::from_millis(1_500),
        "{:?}",
        answer.elapsed
    );
    server.stop().await;
}

/// A hookbox with `[tencent]` and keyword-filter whose kv store is `store`.
async fn start_with_store(store: KvStore) -> TestServer {
    let options = RegistryOptions {
        kv: Some(store),
        ..RegistryOptions::default()
    };
    let registry = Arc::new(Registry::open(shared_runtime(), options).expect("the registry opens"));
    TestServer::start_on(
        registry,
        &(tencent_section(1400) + &keyword_filter("")),
        &[(TOKEN_VAR, TOKEN)],
    )
    .await
}

/// Catalogue #12: a signed before-callback sent again unchanged within its window gets the
/// identical envelope and no plugin runs; a new signature time or another body is a new
/// request; after-callbacks are not cached (the queue deduplicates them).
#[tokio::test]
async fn a_replayed_signed_callback_gets_the_first_answer_and_runs_no_plugin() {
    let dir = temp_dir("tencent-replay");
    let store = KvStore::open_embedded(&dir.join("kv.redb"))
        .await
        .expect("the store opens");
    let server = start_with_store(store).await;
    let calls = || server.app.counters.plugin_calls.load(Ordering::Relaxed);
    let now = unix_now();
    let query = tencent_query(GROUP_SEND, TENCENT_APP, Some(TOKEN), now);
    let body = tencent_message(GROUP_SEND, "red packet SPAM now").to_string();
    let url = format!("/tencent?{query}");

    let first = server.post(&url, &[], body.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(calls(), 1);
    let replay = server.post(&url, &[], body.clone()).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body, first.body, "the same envelope");
    assert_eq!(calls(), 1, "no plugin ran for the replay");
    assert_eq!(server.app.counters.replays.load(Ordering::Relaxed), 1);

    // Tencent's Sign covers the time, not the body: another body under the same signature
    // is not a replay, and neither is the same body signed a second later.
    let other = server
        .post(&url, &[], tencent_message(GROUP_SEND, "hello").to_string())
        .await;
    assert_eq!(other.body, TENCENT_ALLOW);
    assert_eq!(calls(), 2);
    let later = tencent_query(GROUP_SEND, TENCENT_APP, Some(TOKEN), now + 1);
    server
        .post(&format!("/tencent?{later}"), &[], body.clone())
        .await;
    assert_eq!(calls(), 3);

    let after = tencent_message("Group.CallbackAfterSendMsg", "hello").to_string();
    let after_url = format!(
        "/tencent?{}",
        tencent_query("Group.CallbackAfterSendMsg", TENCENT_APP, Some(TOKEN), now)
    );
    server.post(&after_url, &[], after.clone()).await;
    server.post(&after_url, &[], after).await;
    assert_eq!(calls(), 5, "after-callbacks run each time");
    assert_eq!(server.app.counters.replays.load(Ordering::Relaxed), 1);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Catalogue #12, across replicas: with a shared Redis, a request answered by one hookbox
/// and replayed to another gets the first answer from the second, which runs no plugin.
#[tokio::test]
async fn replicas_sharing_redis_share_the_replay_cache() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let connect = || async {
        KvStore::connect_redis(&redis.url())
            .await
            .expect("redis connects")
    };
    let first = start_with_store(connect().await).await;
    let second = start_with_store(connect().await).await;
    let url = format!(
        "/tencent?{}",
        tencent_query(GROUP_SEND, TENCENT_APP, Some(TOKEN), unix_now())
    );
    let body = tencent_message(GROUP_SEND, "red packet SPAM now").to_string();
    let answered = first.post(&url, &[], body.clone()).await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    let replayed = second.post(&url, &[], body).await;
    assert_eq!(replayed.body, answered.body);
    assert_eq!(
        second.app.counters.plugin_calls.load(Ordering::Relaxed),
        0,
        "the second replica ran no plugin"
    );
    assert_eq!(second.app.counters.replays.load(Ordering::Relaxed), 1);
    first.stop().await;
    second.stop().await;
}

/// A Tencent path that is also an OpenIM command's path stays Tencent's (the OpenIM command
/// is then only reachable through the legacy `?command=` form).
#[tokio::test]
async fn a_tencent_path_under_the_openim_path_keeps_its_route() {
    let section = tencent_section(1400).replace(
        "path = \"/tencent\"",
        "path = \"/openim/callbackBeforeSendSingleMsgCommand\"",
    );
    let server =
        TestServer::start_with_secrets(&(section + &keyword_filter("")), &[(TOKEN_VAR, TOKEN)])
            .await;
    let query = tencent_query(GROUP_SEND, TENCENT_APP, Some(TOKEN), unix_now());
    let answer = server
        .post(
            &format!("/openim/callbackBeforeSendSingleMsgCommand?{query}"),
            &[],
            tencent_message(GROUP_SEND, "hello").to_string(),
        )
        .await;
    assert_eq!((answer.status, answer.body.as_str()), (200, TENCENT_ALLOW));
    server.stop().await;
}
