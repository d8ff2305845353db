//! Several plugins on one command: priority order, merging, early stops, and after-callbacks
//! that run everyone. `fixture-scripted` returns whatever its config says.

use std::sync::atomic::Ordering;

use hookbox_tests::{OPENIM_ALLOW, TestServer, openim_text_message};

fn scripted(name: &str, command: &str, priority: i32, verdict: &str) -> String {
    format!(
        "[[plugin]]\nname = {name:?}\nsource = \"fixture_scripted.wasm\"\ncommands = [{command:?}]\npriority = {priority}\ngrants = {{ config = {{ verdict = {verdict:?}, label = {name:?} }} }}\n"
    )
}

fn failing(name: &str, command: &str, priority: i32) -> String {
    format!(
        "[[plugin]]\nname = {name:?}\nsource = \"fixture_fail.wasm\"\ncommands = [{command:?}]\npriority = {priority}\n"
    )
}

const MODIFY: &str = "callbackBeforeMsgModifyCommand";
const SEND: &str = "callbackBeforeSendSingleMsgCommand";

#[tokio::test]
async fn modifies_merge_in_priority_order_later_keys_win() {
    // Listed late-first on purpose: priority, not config order, decides.
    let config = scripted("late", MODIFY, 20, r#"modify:{"ex":"late"}"#)
        + &scripted(
            "early",
            MODIFY,
            10,
            r#"modify:{"ex":"early","senderNickname":"Bob"}"#,
        );
    let server = TestServer::start(&config).await;
    let answer = server
        .openim(MODIFY, &openim_text_message(MODIFY, "hi"))
        .await;
    assert_eq!(
        answer.body,
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"ex":"late","senderNickname":"Bob"}"#
    );
    server.stop().await;
}

#[tokio::test]
async fn first_reject_ends_the_chain() {
    let config = scripted("gate", SEND, 1, "reject:5002:not today") + &failing("never", SEND, 2);
    let server = TestServer::start(&config).await;
    let answer = server.openim(SEND, &openim_text_message(SEND, "hi")).await;
    assert_eq!(
        answer.body,
        r#"{"actionCode":0,"errCode":5002,"errMsg":"not today","errDlt":"","nextCode":1}"#
    );
    // The failing plugin after the reject never ran.
    assert_eq!(
        server.app.counters.plugin_failures.load(Ordering::Relaxed),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn discard_is_a_reject_for_openim_and_ends_the_chain() {
    let config = scripted("dropper", SEND, 1, "discard") + &failing("never", SEND, 2);
    let server = TestServer::start(&config).await;
    let envelope = server
        .openim(SEND, &openim_text_message(SEND, "hi"))
        .await
        .json();
    assert_eq!(envelope["nextCode"], 1, "{envelope}");
    assert_eq!(envelope["errCode"], 5000, "{envelope}");
    assert_eq!(
        server.app.counters.plugin_failures.load(Ordering::Relaxed),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn allow_lets_the_chain_continue() {
    let config = scripted("first", SEND, 1, "allow")
        + &scripted("second", SEND, 2, "reject:5004:second says no");
    let server = TestServer::start(&config).await;
    let envelope = server
        .openim(SEND, &openim_text_message(SEND, "hi"))
        .await
        .json();
    assert_eq!(envelope["errCode"], 5004, "{envelope}");
    server.stop().await;
}

#[tokio::test]
async fn after_callbacks_run_every_plugin_and_answer_allow() {
    let after = "callbackAfterSendSingleMsgCommand";
    let config = scripted("rejects", after, 1, "reject:5005:ignored") + &failing("fails", after, 2);
    let server = TestServer::start(&config).await;
    let answer = server
        .openim(after, &openim_text_message(after, "hi"))
        .await;
    assert_eq!(answer.body, OPENIM_ALLOW);
    // The second plugin ran (and failed) although the first one rejected.
    assert_eq!(
        server.app.counters.plugin_failures.load(Ordering::Relaxed),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn a_modify_the_command_does_not_accept_is_a_plugin_failure() {
    let fail_closed = |name: &str, command: &str, verdict: &str| {
        scripted(name, command, 1, verdict) + "on_error = \"reject\"\non_error_code = 5003\n"
    };
    // Before-send is deny-only in OpenIM: a modify there would be silently ignored by it.
    let server = TestServer::start(&fail_closed("rewriter", SEND, r#"modify:{"ex":"x"}"#)).await;
    let envelope = server
        .openim(SEND, &openim_text_message(SEND, "hi"))
        .await
        .json();
    assert_eq!(envelope["errCode"], 5003, "{envelope}");
    assert_eq!(envelope["nextCode"], 1, "{envelope}");
    server.stop().await;

    // A modify may never touch the envelope's own keys.
    let server =
        TestServer::start(&fail_closed("sneaky", MODIFY, r#"modify:{"nextCode":1}"#)).await;
    let envelope = server
        .openim(MODIFY, &openim_text_message(MODIFY, "hi"))
        .await
        .json();
    assert_eq!(envelope["errCode"], 5003, "{envelope}");
    server.stop().await;

    // Fail open: the refused modify is dropped and the action goes through unchanged.
    let server = TestServer::start(&scripted("rewriter", SEND, 1, r#"modify:{"ex":"x"}"#)).await;
    assert_eq!(
        server
            .openim(SEND, &openim_text_message(SEND, "hi"))
            .await
            .body,
        OPENIM_ALLOW
    );
    assert_eq!(
        server.app.counters.plugin_failures.load(Ordering::Relaxed),
        1
    );
    server.stop().await;
}
