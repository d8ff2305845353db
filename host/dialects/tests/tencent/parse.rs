//! Request parsing after authentication: command routing, body rules, metadata, phases.

use hookbox_dialects::{Callback, DialectError};
use hookbox_model::{DialectKind, Phase};
use http::StatusCode;
use serde_json::json;

use crate::support::{body_for, open_query, parse_with};

const C2C: &str = "C2C.CallbackBeforeSendMsg";
const GROUP: &str = "Group.CallbackBeforeSendMsg";

fn bad_request(result: Result<Callback, DialectError>) -> &'static str {
    match result {
        Ok(cb) => panic!("expected a 400, parsed {:?}", cb.event),
        Err(e) => {
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{e}");
            assert!(!e.is_unauthorized());
            e.code()
        }
    }
}

#[test]
fn query_and_body_command_route() {
    let body = body_for(C2C, json!({"From_Account": "jared"}));
    let cb = parse_with(Some(&open_query(C2C)), body.as_bytes()).expect("parses");
    assert_eq!(cb.event.dialect, DialectKind::Tencent);
    assert_eq!(cb.event.command, C2C);
    assert_eq!(cb.event.payload, body);
    assert_eq!(cb.phase, Phase::Before);
    assert!(cb.known);
    assert_eq!(cb.operation_id(), None);
    assert_eq!(cb.request().get("From_Account"), Some(&json!("jared")));
}

#[test]
fn mismatched_callback_command_is_a_400() {
    let body = body_for(GROUP, json!({}));
    let Err(e) = parse_with(Some(&open_query(C2C)), body.as_bytes()) else {
        panic!("mismatch must not parse")
    };
    assert_eq!(e.code(), "command_mismatch");
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    let message = e.to_string();
    assert!(
        message.contains(C2C) && message.contains(GROUP),
        "{message}"
    );
    assert!(
        message.contains("query") && message.contains("body"),
        "{message}"
    );
}

#[test]
fn command_case_matters() {
    let body = body_for("c2c.CallbackBeforeSendMsg", json!({}));
    assert_eq!(
        bad_request(parse_with(Some(&open_query(C2C)), body.as_bytes())),
        "command_mismatch"
    );
}

#[test]
fn missing_query_callback_command_is_a_400() {
    let body = body_for(C2C, json!({}));
    let query = "SdkAppid=1400000001&contenttype=json";
    let Err(e) = parse_with(Some(query), body.as_bytes()) else {
        panic!("must not parse")
    };
    assert_eq!(e.code(), "missing_command");
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    assert!(e.to_string().contains("query"), "{e}");
}

#[test]
fn missing_body_callback_command_is_a_400() {
    let Err(e) = parse_with(Some(&open_query(C2C)), br#"{"From_Account":"jared"}"#) else {
        panic!("must not parse")
    };
    assert_eq!(e.code(), "missing_command");
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    assert!(e.to_string().contains("body"), "{e}");
}

#[test]
fn non_string_body_command_is_a_400() {
    for body in [r#"{"CallbackCommand":5}"#, r#"{"CallbackCommand":null}"#] {
        assert_eq!(
            bad_request(parse_with(Some(&open_query(C2C)), body.as_bytes())),
            "command_not_string",
            "{body}"
        );
    }
}

#[test]
fn invalid_command_names_are_400s() {
    let long = "a".repeat(129);
    for bad in [
        "a/b",
        "with space",
        "C2C.Callback-Dash",
        "ünïcode",
        long.as_str(),
        "",
    ] {
        let query = format!("SdkAppid=1400000001&CallbackCommand={bad}");
        let body = body_for(bad, json!({}));
        assert_eq!(
            bad_request(parse_with(Some(&query), body.as_bytes())),
            "invalid_command",
            "{bad:?}"
        );
    }
    let query = "SdkAppid=1400000001&CallbackCommand=%FF";
    assert_eq!(
        bad_request(parse_with(Some(query), b"{}")),
        "invalid_command"
    );
}

#[test]
fn query_command_is_form_decoded() {
    let query = "SdkAppid=1400000001&CallbackCommand=Group%2ECallbackBeforeSendMsg";
    let body = body_for(GROUP, json!({}));
    let cb = parse_with(Some(query), body.as_bytes()).expect("parses");
    assert_eq!(cb.event.command, GROUP);
}

#[test]
fn repeated_query_commands_must_agree() {
    let body = body_for(C2C, json!({}));
    let agree = format!("{}&CallbackCommand={C2C}", open_query(C2C));
    assert!(parse_with(Some(&agree), body.as_bytes()).is_ok());
    let disagree = format!("{}&CallbackCommand={GROUP}", open_query(C2C));
    assert_eq!(
        bad_request(parse_with(Some(&disagree), body.as_bytes())),
        "command_mismatch"
    );
}

#[test]
fn body_rules_are_the_shared_ones() {
    let query = open_query(C2C);
    let parse = |body: &[u8]| bad_request(parse_with(Some(&query), body));
    assert_eq!(parse(b"\xff\xfe"), "body_not_utf8");
    assert_eq!(parse(b""), "body_empty");
    assert_eq!(parse(b" \n "), "body_empty");
    assert_eq!(parse(b"[1,2]"), "body_not_object");
    assert_eq!(parse(b"\"C2C.CallbackBeforeSendMsg\""), "body_not_object");
    assert_eq!(parse(b"{\"CallbackCommand\":"), "body_not_json");
    let deep = format!(
        "{{\"CallbackCommand\":\"{C2C}\",\"x\":{}{}}}",
        "[".repeat(64),
        "]".repeat(64)
    );
    assert_eq!(parse(deep.as_bytes()), "body_too_deep");
    let ok_depth = format!(
        "{{\"CallbackCommand\":\"{C2C}\",\"x\":{}{}}}",
        "[".repeat(63),
        "]".repeat(63)
    );
    assert!(parse_with(Some(&query), ok_depth.as_bytes()).is_ok());
}

#[test]
fn huge_nesting_is_refused_without_recursion() {
    let query = open_query(C2C);
    let body = "[".repeat(1_000_000);
    assert_eq!(
        bad_request(parse_with(Some(&query), body.as_bytes())),
        "body_too_deep"
    );
}

#[test]
fn event_time_may_be_a_number_or_a_string() {
    for event_time in [
        json!(1670574414123_i64),
        json!("1670574414123"),
        json!(null),
    ] {
        let body = body_for(GROUP, json!({"GroupId": "@TGS#1", "EventTime": event_time}));
        let cb = parse_with(Some(&open_query(GROUP)), body.as_bytes()).expect("parses");
        assert_eq!(cb.event.payload, body);
    }
}

#[test]
fn payload_is_the_body_byte_for_byte() {
    let body = "{\n  \"CallbackCommand\" : \"C2C.CallbackBeforeSendMsg\",\n  \"MsgRandom\": 18446744073709551615, \"x\": 1.50, \"t\": \"\\u00e9\"\n}\n";
    let cb = parse_with(Some(&open_query(C2C)), body.as_bytes()).expect("parses");
    assert_eq!(cb.event.payload, body);
}

#[test]
fn metadata_is_app_id_client_ip_and_platform() {
    let query = "OptPlatform=Windows&ClientIP=192.168.0.7&contenttype=json&CallbackCommand=C2C.CallbackBeforeSendMsg&SdkAppid=1400000001";
    let body = body_for(C2C, json!({}));
    let cb = parse_with(Some(query), body.as_bytes()).expect("parses");
    assert_eq!(
        cb.event.metadata,
        vec![
            ("SdkAppid".to_owned(), "1400000001".to_owned()),
            ("ClientIP".to_owned(), "192.168.0.7".to_owned()),
            ("OptPlatform".to_owned(), "Windows".to_owned()),
        ]
    );
}

#[test]
fn metadata_values_are_decoded_and_empty_ones_left_out() {
    let query = "SdkAppid=1400000001&CallbackCommand=C2C.CallbackBeforeSendMsg&ClientIP=&OptPlatform=Mac%20OS";
    let body = body_for(C2C, json!({}));
    let cb = parse_with(Some(query), body.as_bytes()).expect("parses");
    assert_eq!(cb.event.metadata_value("ClientIP"), None);
    assert_eq!(cb.event.metadata_value("OptPlatform"), Some("Mac OS"));
    let query = "SdkAppid=1400000001&CallbackCommand=C2C.CallbackBeforeSendMsg";
    let cb = parse_with(Some(query), body.as_bytes()).expect("parses");
    assert_eq!(cb.event.metadata.len(), 1);
}

#[test]
fn opt_platform_is_kept_verbatim() {
    let command = "State.StateChange";
    let query = format!("SdkAppid=1400000001&CallbackCommand={command}&OptPlatform=IOS");
    let body = body_for(command, json!({"EventTime": 1}));
    let cb = parse_with(Some(&query), body.as_bytes()).expect("parses");
    assert_eq!(cb.event.metadata_value("OptPlatform"), Some("IOS"));
}

#[test]
fn sdk_app_id_metadata_is_the_configured_id() {
    let query = "SdkAppid=01400000001&CallbackCommand=C2C.CallbackBeforeSendMsg";
    let body = body_for(C2C, json!({}));
    let cb = parse_with(Some(query), body.as_bytes()).expect("leading zero is the same id");
    assert_eq!(cb.event.metadata_value("SdkAppid"), Some("1400000001"));
}

#[test]
fn path_command_is_ignored() {
    let headers = http::HeaderMap::new();
    let body = body_for(C2C, json!({}));
    let query = open_query(C2C);
    let cb = hookbox_dialects::tencent::parse(
        &hookbox_dialects::Inbound {
            path_command: Some("Group.CallbackBeforeSendMsg"),
            query: Some(&query),
            headers: &headers,
            body: body.as_bytes(),
        },
        &hookbox_dialects::tencent::Auth {
            apps: &crate::support::apps(),
            max_skew_secs: 60,
            now_unix_secs: 0,
        },
    )
    .expect("parses");
    assert_eq!(cb.event.command, C2C);
}

#[test]
fn unknown_commands_parse_with_a_guessed_phase() {
    for (command, phase) in [
        ("Group.CallbackAfterReadReceipt", Phase::After),
        ("Group.CallbackOnSomething", Phase::After),
        ("Sns.CallbackSomethingNew", Phase::After),
        ("Group.CallbackBeforeSetAttr", Phase::Before),
        ("Sns.CallbackPrevFriendDelete", Phase::Before),
    ] {
        let body = body_for(command, json!({}));
        let cb = parse_with(Some(&open_query(command)), body.as_bytes()).expect("parses");
        assert!(!cb.known, "{command}");
        assert_eq!(cb.phase, phase, "{command}");
    }
}

#[test]
fn every_table_command_parses_with_its_phase() {
    for info in hookbox_dialects::tencent::COMMANDS {
        let body = body_for(info.name, json!({"EventTime": "1"}));
        let cb = parse_with(Some(&open_query(info.name)), body.as_bytes()).expect("parses");
        assert!(cb.known, "{}", info.name);
        assert_eq!(cb.phase, info.phase, "{}", info.name);
    }
}

#[test]
fn error_messages_echo_only_excerpts() {
    let long = format!("{}/", "x".repeat(10_000));
    let query = format!("SdkAppid=1400000001&CallbackCommand={long}");
    let Err(e) = parse_with(Some(&query), b"{}") else {
        panic!("must not parse")
    };
    assert!(e.to_string().len() < 300, "{e}");
    let query = format!("SdkAppid={}", "9".repeat(10_000));
    let Err(e) = parse_with(Some(&query), b"{}") else {
        panic!("must not parse")
    };
    assert!(e.to_string().len() < 300, "{e}");
}

#[test]
fn arbitrary_input_never_panics() {
    let queries = [
        "",
        "&&&",
        "=",
        "SdkAppid",
        "SdkAppid=1400000001",
        "SdkAppid=1400000001&CallbackCommand",
        "SdkAppid=1400000001&CallbackCommand=C2C.CallbackBeforeSendMsg&%ZZ=%",
        "SdkAppid=1400000002&Sign&RequestTime",
        "SdkAppid=1400000002&Sign=%&RequestTime=%",
    ];
    let bodies: [&[u8]; 7] = [
        b"",
        b"{",
        b"{}",
        b"null",
        b"\xc3\x28",
        b"{\"CallbackCommand\":\"C2C.CallbackBeforeSendMsg\"}",
        b"{\"CallbackCommand\":\"\\ud800\"}",
    ];
    for query in queries {
        for body in bodies {
            let _ = parse_with(Some(query), body);
        }
    }
}

/// Tencent sends no operation id: the message key is what names a callback in logs and
/// traces, and only a message callback has one.
#[test]
fn the_message_key_names_message_callbacks() {
    let body = body_for(C2C, json!({"MsgKey": "48374_2837546_1557481126"}));
    let cb = parse_with(Some(&open_query(C2C)), body.as_bytes()).expect("parses");
    assert_eq!(cb.message_key(), Some("48374_2837546_1557481126"));
    assert_eq!(cb.operation_id(), None);
    let state = "State.StateChange";
    let body = body_for(state, json!({"Info": {"To_Account": "jared"}}));
    let cb = parse_with(Some(&open_query(state)), body.as_bytes()).expect("parses");
    assert_eq!(cb.message_key(), None);
}
