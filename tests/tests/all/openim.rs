//! OpenIM webhooks through the example plugins: allow, reject, modify, routing forms,
//! commands nobody handles, and requests that are not callbacks.

use hookbox_tests::{OPENIM_ALLOW, TestServer, openim_text_message};
use serde_json::json;

const KEYWORD_FILTER: &str = r#"
[[plugin]]
name = "keyword-filter"
source = "keyword_filter.wasm"
commands = ["callbackBeforeSendSingleMsgCommand", "callbackBeforeSendGroupMsgCommand", "callbackBeforeMsgModifyCommand"]
grants = { config = { banned = "spam, scam" } }

[[plugin]]
name = "message-logger"
source = "message_logger.wasm"
commands = ["callbackAfterSendSingleMsgCommand", "callbackAfterSendGroupMsgCommand"]
"#;

#[tokio::test]
async fn clean_message_is_allowed_with_the_exact_envelope() {
    let server = TestServer::start(KEYWORD_FILTER).await;
    let command = "callbackBeforeSendSingleMsgCommand";
    let answer = server
        .openim(command, &openim_text_message(command, "hello there"))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert_eq!(answer.body, OPENIM_ALLOW);
    server.stop().await;
}

#[tokio::test]
async fn banned_word_is_rejected_with_the_plugins_code() {
    let server = TestServer::start(KEYWORD_FILTER).await;
    for command in [
        "callbackBeforeSendSingleMsgCommand",
        "callbackBeforeSendGroupMsgCommand",
    ] {
        let answer = server
            .openim(command, &openim_text_message(command, "cheap SPAM here"))
            .await;
        assert_eq!(answer.status, 200, "{command}");
        let envelope = answer.json();
        assert_eq!(envelope["actionCode"], 0, "{command}: {envelope}");
        assert_eq!(envelope["errCode"], 5001, "{command}: {envelope}");
        assert_eq!(envelope["nextCode"], 1, "{command}: {envelope}");
        let message = envelope["errMsg"].as_str().expect("errMsg is a string");
        assert!(
            message.contains("spam"),
            "the message names the rule: {message}"
        );
        // Exactly the five envelope keys, in OpenIM's order.
        let keys: Vec<&str> = envelope
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["actionCode", "errCode", "errMsg", "errDlt", "nextCode"]
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn msg_modify_masks_banned_words_in_the_content_json() {
    let server = TestServer::start(KEYWORD_FILTER).await;
    let command = "callbackBeforeMsgModifyCommand";
    let answer = server
        .openim(command, &openim_text_message(command, "no scam, no Spam!"))
        .await;
    assert_eq!(answer.status, 200);
    let envelope = answer.json();
    assert_eq!(envelope["nextCode"], 0, "{envelope}");
    assert_eq!(envelope["errCode"], 0, "{envelope}");
    // `content` is itself a JSON string, as OpenIM requires for msg-modify.
    let content = envelope["content"].as_str().expect("content is a string");
    let inner: serde_json::Value = serde_json::from_str(content).expect("content holds JSON");
    assert_eq!(inner, json!({ "content": "no ***, no ***!" }));
    assert!(
        answer.body.starts_with(
            r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"content":"#
        ),
        "{}",
        answer.body
    );

    let clean = server
        .openim(command, &openim_text_message(command, "all fine"))
        .await;
    assert_eq!(clean.body, OPENIM_ALLOW);
    server.stop().await;
}

#[tokio::test]
async fn legacy_query_routing_reaches_the_same_plugins() {
    let server = TestServer::start(KEYWORD_FILTER).await;
    let command = "callbackBeforeSendSingleMsgCommand";
    let body = openim_text_message(command, "a scam").to_string();
    let answer = server
        .post(&format!("/openim?command={command}"), &[], body)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["errCode"], 5001, "{}", answer.body);

    // OpenIM <= 3.4 bodies name their command; no query at all still routes.
    let body = openim_text_message(command, "a scam").to_string();
    let answer = server.post("/openim", &[], body).await;
    assert_eq!(answer.json()["errCode"], 5001, "{}", answer.body);
    server.stop().await;
}

#[tokio::test]
async fn after_callbacks_run_their_plugins_and_answer_allow() {
    let server = TestServer::start(KEYWORD_FILTER).await;
    let command = "callbackAfterSendGroupMsgCommand";
    let answer = server
        .openim(command, &openim_text_message(command, "logged"))
        .await;
    assert_eq!(answer.body, OPENIM_ALLOW);
    assert_eq!(
        server
            .app
            .counters
            .plugin_failures
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        server
            .app
            .counters
            .callbacks
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn command_without_plugins_and_unknown_commands_are_allowed() {
    let server = TestServer::start(KEYWORD_FILTER).await;
    let quiet = server
        .openim(
            "callbackAfterAddFriendCommand",
            &json!({"callbackCommand": "callbackAfterAddFriendCommand", "fromUserID": "a", "toUserID": "b", "reqMsg": "hi"}),
        )
        .await;
    assert_eq!(quiet.body, OPENIM_ALLOW);

    let unknown = server
        .openim(
            "callbackBeforeTeleportCommand",
            &json!({"callbackCommand": "callbackBeforeTeleportCommand", "userID": "u"}),
        )
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.body, OPENIM_ALLOW);
    assert_eq!(
        server
            .app
            .counters
            .unknown_commands
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn set_group_info_pass_through_echoes_the_request() {
    let server = TestServer::start(KEYWORD_FILTER).await;
    let body = json!({
        "callbackCommand": "callbackBeforeSetGroupInfoCommand", "operationID": "",
        "groupID": "g1", "groupName": "Hikers", "notification": "", "introduction": "trails",
        "faceURL": "https://example.com/g.png", "ex": "", "needVerification": 0,
        "lookMemberInfo": 0, "applyMemberFriend": 0
    });
    let answer = server
        .openim("callbackBeforeSetGroupInfoCommand", &body)
        .await;
    let envelope = answer.json();
    assert_eq!(envelope["nextCode"], 0, "{envelope}");
    assert_eq!(envelope["groupID"], "g1", "{envelope}");
    assert_eq!(envelope["groupName"], "Hikers", "{envelope}");
    assert_eq!(envelope["introduction"], "trails", "{envelope}");
    assert_eq!(
        envelope["faceURL"], "https://example.com/g.png",
        "{envelope}"
    );
    server.stop().await;
}

#[tokio::test]
async fn requests_that_are_not_callbacks_get_precise_http_errors() {
    let server = TestServer::start(KEYWORD_FILTER).await;

    let not_json = server
        .post(
            "/openim/callbackBeforeSendSingleMsgCommand",
            &[],
            "{not json",
        )
        .await;
    assert_eq!(not_json.status, 400, "{}", not_json.body);
    assert!(not_json.json()["code"].is_string(), "{}", not_json.body);

    let mismatch = openim_text_message("callbackBeforeSendGroupMsgCommand", "hi").to_string();
    let answer = server
        .post("/openim/callbackBeforeSendSingleMsgCommand", &[], mismatch)
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);

    let too_big = format!(
        r#"{{"callbackCommand":"callbackBeforeSendSingleMsgCommand","ex":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    let answer = server
        .post("/openim/callbackBeforeSendSingleMsgCommand", &[], too_big)
        .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(answer.json()["code"], "body_too_large");

    let get = server
        .request(
            reqwest::Method::GET,
            "/openim/callbackBeforeSendSingleMsgCommand",
        )
        .await;
    assert_eq!(get.status, 405);

    let elsewhere = server.post("/tencent", &[], "{}").await;
    assert_eq!(elsewhere.status, 404);
    assert_eq!(elsewhere.json()["code"], "not_found");

    // Nothing above was a callback: no plugin ran, nothing was counted as answered.
    assert_eq!(
        server
            .app
            .counters
            .callbacks
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    server.stop().await;
}

/// A command of the table has a route of its own; the same command percent-encoded, or one the
/// table does not know, takes the path-parameter route. Both behave alike.
#[tokio::test]
async fn table_commands_and_encoded_or_unknown_ones_are_routed_alike() {
    let server = TestServer::start(KEYWORD_FILTER).await;
    let command = "callbackBeforeSendSingleMsgCommand";
    let spam = openim_text_message(command, "buy spam now").to_string();
    let plain = server
        .post(&format!("/openim/{command}"), &[], spam.clone())
        .await;
    let encoded = server
        .post(
            "/openim/callbackBeforeSendSingleMsg%43ommand",
            &[],
            spam.clone(),
        )
        .await;
    assert_eq!(plain.status, 200);
    assert!(plain.body.contains(r#""errCode":5001"#), "{}", plain.body);
    assert_eq!((encoded.status, &encoded.body), (plain.status, &plain.body));

    // The path still has to agree with the body's command on either route.
    let other = "callbackBeforeSendGroupMsgCommand";
    for path in [
        format!("/openim/{other}"),
        "/openim/callbackNewCommand".to_owned(),
    ] {
        let mismatch = server.post(&path, &[], spam.clone()).await;
        assert_eq!(mismatch.status, 400, "{path}: {}", mismatch.body);
        assert!(
            mismatch.body.contains("command_mismatch"),
            "{path}: {}",
            mismatch.body
        );
    }
    server.stop().await;
}
