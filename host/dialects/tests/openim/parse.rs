//! Request parsing: command resolution, body checks, metadata.

use hookbox_dialects::{DialectError, openim};
use hookbox_model::{DialectKind, Phase};
use http::HeaderMap;

use crate::support::{headers, parse_path, parse_with};

const SINGLE: &str = "callbackBeforeSendSingleMsgCommand";
const GROUP: &str = "callbackBeforeSendGroupMsgCommand";

fn err_code(result: Result<hookbox_dialects::Callback, DialectError>) -> &'static str {
    match result {
        Ok(cb) => panic!("expected an error, parsed {:?}", cb.event),
        Err(e) => {
            assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
            e.code()
        }
    }
}

#[test]
fn path_command_routes() {
    let cb = parse_path(
        SINGLE,
        r#"{"callbackCommand":"callbackBeforeSendSingleMsgCommand"}"#,
    )
    .expect("parses");
    assert_eq!(cb.event.command, SINGLE);
    assert_eq!(cb.event.dialect, DialectKind::Openim);
    assert_eq!(cb.phase, Phase::Before);
    assert!(cb.known);
    assert!(cb.event.metadata.is_empty());
    assert_eq!(cb.operation_id(), None);
}

#[test]
fn legacy_query_command_routes() {
    let query = format!("command={GROUP}");
    let cb =
        parse_with(None, Some(&query), &HeaderMap::new(), br#"{"sendID":"u1"}"#).expect("parses");
    assert_eq!(cb.event.command, GROUP);
    assert!(cb.known);
}

#[test]
fn legacy_query_command_is_percent_decoded() {
    let cb = parse_with(
        None,
        Some("contenttype=json&command=callback%42eforeSendGroupMsgCommand"),
        &HeaderMap::new(),
        br#"{"callbackCommand":"callbackBeforeSendGroupMsgCommand"}"#,
    )
    .expect("parses");
    assert_eq!(cb.event.command, GROUP);
}

#[test]
fn legacy_query_command_not_utf8_is_invalid() {
    let result = parse_with(None, Some("command=%FF%FE"), &HeaderMap::new(), b"{}");
    assert_eq!(err_code(result), "invalid_command");
}

#[test]
fn body_only_command_routes() {
    let cb = parse_with(
        None,
        None,
        &HeaderMap::new(),
        br#"{"callbackCommand":"callbackAfterUserOnlineCommand","userID":"u1"}"#,
    )
    .expect("parses");
    assert_eq!(cb.event.command, "callbackAfterUserOnlineCommand");
    assert_eq!(cb.phase, Phase::After);
}

#[test]
fn empty_path_segment_counts_as_absent() {
    let cb = parse_with(
        Some(""),
        None,
        &HeaderMap::new(),
        br#"{"callbackCommand":"callbackBeforeSendSingleMsgCommand"}"#,
    )
    .expect("parses");
    assert_eq!(cb.event.command, SINGLE);
}

#[test]
fn body_without_command_is_accepted() {
    let cb = parse_path(SINGLE, r#"{"sendID":"u1"}"#).expect("parses");
    assert_eq!(cb.event.command, SINGLE);
}

#[test]
fn path_body_mismatch_is_an_error() {
    let result = parse_path(
        SINGLE,
        r#"{"callbackCommand":"callbackBeforeSendGroupMsgCommand"}"#,
    );
    let Err(e) = result else {
        panic!("mismatch must not parse")
    };
    assert_eq!(e.code(), "command_mismatch");
    let message = e.to_string();
    assert!(
        message.contains(SINGLE) && message.contains(GROUP),
        "{message}"
    );
    assert!(
        message.contains("path") && message.contains("body"),
        "{message}"
    );
}

#[test]
fn query_body_mismatch_is_an_error() {
    let query = format!("command={SINGLE}");
    let result = parse_with(
        None,
        Some(&query),
        &HeaderMap::new(),
        br#"{"callbackCommand":"callbackBeforeSendGroupMsgCommand"}"#,
    );
    assert_eq!(err_code(result), "command_mismatch");
}

#[test]
fn path_query_mismatch_is_an_error() {
    let query = format!("command={GROUP}");
    let result = parse_with(Some(SINGLE), Some(&query), &HeaderMap::new(), b"{}");
    assert_eq!(err_code(result), "command_mismatch");
}

#[test]
fn repeated_query_commands_must_agree() {
    let agree = format!("command={GROUP}&command={GROUP}");
    assert!(parse_with(None, Some(&agree), &HeaderMap::new(), b"{}").is_ok());
    let disagree = format!("command={GROUP}&command={SINGLE}");
    let result = parse_with(None, Some(&disagree), &HeaderMap::new(), b"{}");
    assert_eq!(err_code(result), "command_mismatch");
}

#[test]
fn missing_command_is_an_error() {
    let result = parse_with(None, Some("contenttype=json"), &HeaderMap::new(), b"{}");
    assert_eq!(err_code(result), "missing_command");
}

#[test]
fn non_string_body_command_is_an_error() {
    assert_eq!(
        err_code(parse_path(SINGLE, r#"{"callbackCommand":5}"#)),
        "command_not_string"
    );
    assert_eq!(
        err_code(parse_path(SINGLE, r#"{"callbackCommand":null}"#)),
        "command_not_string"
    );
}

#[test]
fn invalid_command_names_are_errors() {
    let long = "a".repeat(129);
    for bad in [
        "a/b",
        "with space",
        "callback-dash",
        "ünïcode",
        long.as_str(),
    ] {
        assert_eq!(
            err_code(parse_path(bad, "{}")),
            "invalid_command",
            "{bad:?}"
        );
    }
    assert_eq!(
        err_code(parse_path(SINGLE, r#"{"callbackCommand":""}"#)),
        "invalid_command"
    );
    assert!(parse_path(&"a".repeat(128), "{}").is_ok());
    assert!(parse_path("Group.CallbackBeforeSendMsg", "{}").is_ok());
}

#[test]
fn invalid_command_error_echoes_only_an_excerpt() {
    let long = format!("{}/", "x".repeat(10_000));
    let Err(e) = parse_path(&long, "{}") else {
        panic!("must not parse")
    };
    assert!(e.to_string().len() < 300, "{e}");
}

#[test]
fn header_operation_id_wins_over_body() {
    let h = headers(&[("Operationid", "from-header")]);
    let cb = parse_with(Some(SINGLE), None, &h, br#"{"operationID":"from-body"}"#).expect("parses");
    assert_eq!(cb.operation_id(), Some("from-header"));
    assert_eq!(
        cb.event.metadata,
        vec![("operationID".to_owned(), "from-header".to_owned())]
    );
}

#[test]
fn header_operation_id_any_case() {
    for name in ["operationID", "OPERATIONID", "operationid"] {
        let h = headers(&[(name, "op-1")]);
        let cb = parse_with(Some(SINGLE), None, &h, b"{}").expect("parses");
        assert_eq!(cb.operation_id(), Some("op-1"), "{name}");
    }
}

#[test]
fn empty_header_falls_back_to_body() {
    let h = headers(&[("Operationid", "")]);
    let cb = parse_with(Some(SINGLE), None, &h, br#"{"operationID":"from-body"}"#).expect("parses");
    assert_eq!(cb.operation_id(), Some("from-body"));
}

#[test]
fn body_operation_id_any_case() {
    let cb = parse_path(SINGLE, r#"{"OperationId":"op-7"}"#).expect("parses");
    assert_eq!(cb.operation_id(), Some("op-7"));
}

#[test]
fn empty_or_non_string_body_operation_id_is_absent() {
    for body in [
        r#"{"operationID":""}"#,
        r#"{"operationID":12}"#,
        r#"{"operationID":null}"#,
    ] {
        let cb = parse_path(SINGLE, body).expect("parses");
        assert_eq!(cb.operation_id(), None, "{body}");
        assert!(cb.event.metadata.is_empty(), "{body}");
    }
}

#[test]
fn key_query_is_decoded_for_after_send_commands() {
    // base64 of {"sendID":"a","recvID":"b","groupID":""} as url.Values encodes it.
    let key = "eyJzZW5kSUQiOiJhIiwicmVjdklEIjoiYiIsImdyb3VwSUQiOiIifQ==";
    let query = "key=eyJzZW5kSUQiOiJhIiwicmVjdklEIjoiYiIsImdyb3VwSUQiOiIifQ%3D%3D";
    let h = headers(&[("Operationid", "op-9")]);
    for command in [
        "callbackAfterSendSingleMsgCommand",
        "callbackAfterSendGroupMsgCommand",
        "callbackAfterMsgSaveDBCommand",
    ] {
        let cb = parse_with(Some(command), Some(query), &h, b"{}").expect("parses");
        assert_eq!(
            cb.event.metadata,
            vec![
                ("operationID".to_owned(), "op-9".to_owned()),
                ("key".to_owned(), key.to_owned()),
            ],
            "{command}"
        );
    }
}

#[test]
fn key_query_plus_and_slash_escapes() {
    let cb = parse_with(
        Some("callbackAfterSendSingleMsgCommand"),
        Some("key=ab%2Bc%2Fd%3D"),
        &HeaderMap::new(),
        b"{}",
    )
    .expect("parses");
    assert_eq!(cb.event.metadata_value("key"), Some("ab+c/d="));
}

#[test]
fn key_query_ignored_elsewhere_and_when_empty() {
    let cb = parse_with(Some(SINGLE), Some("key=abc"), &HeaderMap::new(), b"{}").expect("parses");
    assert_eq!(cb.event.metadata_value("key"), None);
    let cb = parse_with(
        Some("callbackAfterSendSingleMsgCommand"),
        Some("key="),
        &HeaderMap::new(),
        b"{}",
    )
    .expect("parses");
    assert!(cb.event.metadata.is_empty());
}

#[test]
fn not_utf8_is_an_error() {
    let result = parse_with(Some(SINGLE), None, &HeaderMap::new(), b"{\"a\":\"\xff\"}");
    let Err(DialectError::BodyNotUtf8 { valid_up_to }) = result else {
        panic!("expected BodyNotUtf8, got {result:?}")
    };
    assert_eq!(valid_up_to, 6);
    let result = parse_with(Some(SINGLE), None, &HeaderMap::new(), b"\xff");
    assert_eq!(err_code(result), "body_not_utf8");
}

#[test]
fn empty_body_is_an_error() {
    assert_eq!(err_code(parse_path(SINGLE, "")), "body_empty");
    assert_eq!(err_code(parse_path(SINGLE, " \n\t")), "body_empty");
}

#[test]
fn not_json_is_an_error() {
    for body in ["{", "{\"a\":}", "{} {}", "{'a':1}", "\u{feff}{}", "nope"] {
        assert_eq!(
            err_code(parse_path(SINGLE, body)),
            "body_not_json",
            "{body:?}"
        );
    }
}

#[test]
fn non_object_bodies_are_errors() {
    for (body, found) in [
        ("[]", "an array"),
        ("[{\"callbackCommand\":\"x\"}]", "an array"),
        ("\"text\"", "a string"),
        ("42", "an integer"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        match parse_path(SINGLE, body) {
            Err(DialectError::BodyNotObject { found: got }) => assert_eq!(got, found, "{body}"),
            other => panic!("{body}: expected BodyNotObject, got {other:?}"),
        }
    }
    assert_eq!(err_code(parse_path(SINGLE, "[]")), "body_not_object");
}

fn nested(depth: usize) -> String {
    // depth 1 = the top-level object.
    format!(
        "{{\"a\":{}1{}}}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
}

#[test]
fn nesting_up_to_64_is_accepted() {
    assert!(parse_path(SINGLE, &nested(64)).is_ok());
}

#[test]
fn nesting_beyond_64_is_an_error() {
    assert_eq!(err_code(parse_path(SINGLE, &nested(65))), "body_too_deep");
    // Far beyond serde_json's own recursion limit, and unbalanced: still a clean error.
    let hostile = format!("{{\"a\":{}", "[".repeat(1_000_000));
    assert_eq!(err_code(parse_path(SINGLE, &hostile)), "body_too_deep");
}

#[test]
fn brackets_inside_strings_do_not_count() {
    let body = format!(
        r#"{{"content":"{}\"{}"}}"#,
        "[".repeat(200),
        "{".repeat(200)
    );
    assert!(parse_path(SINGLE, &body).is_ok());
}

#[test]
fn payload_is_the_body_unchanged() {
    let body = "{\"content\":\"{\\\"content\\\":\\\"\\u003cb\\u003e \\u0026\\\"}\",\"sendTime\":1719830400123,\"seq\":18446744073709551615, \"x\" : 1.50}\n";
    let cb = parse_path(SINGLE, body).expect("parses");
    assert_eq!(cb.event.payload, body);
    assert_eq!(cb.request()["seq"].as_u64(), Some(u64::MAX));
    assert_eq!(cb.request()["sendTime"].as_i64(), Some(1_719_830_400_123));
}

#[test]
fn unknown_command_parses_with_known_false() {
    let cb = parse_path("callbackAfterSomethingNewCommand", "{}").expect("parses");
    assert!(!cb.known);
    assert_eq!(cb.phase, Phase::After);
    let cb = parse_path("callbackSomethingNewCommand", "{}").expect("parses");
    assert!(!cb.known);
    assert_eq!(cb.phase, Phase::Before);
    // Case matters: OpenIM's names are exact.
    let cb = parse_path("CallbackBeforeSendSingleMsgCommand", "{}").expect("parses");
    assert!(!cb.known);
}

#[test]
fn revoke_is_an_after_command_despite_its_name() {
    let cb = parse_path("callbackBeforeAfterMsgCommand", "{}").expect("parses");
    assert!(cb.known);
    assert_eq!(cb.phase, Phase::After);
}

#[test]
fn every_table_command_parses_with_its_phase() {
    for info in openim::COMMANDS {
        let body = format!(r#"{{"callbackCommand":"{}"}}"#, info.name);
        let cb = parse_path(info.name, &body).expect(info.name);
        assert!(cb.known, "{}", info.name);
        assert_eq!(cb.phase, info.phase, "{}", info.name);
        assert_eq!(cb.event.command, info.name);
    }
}

#[test]
fn error_codes_are_distinct_snake_case() {
    let errors = [
        parse_path(SINGLE, "\u{0}").err(),
        parse_with(Some(SINGLE), None, &HeaderMap::new(), b"\xff").err(),
        parse_path(SINGLE, "").err(),
        parse_path(SINGLE, "[]").err(),
        parse_path(SINGLE, &nested(65)).err(),
        parse_with(None, None, &HeaderMap::new(), b"{}").err(),
        parse_path(SINGLE, r#"{"callbackCommand":1}"#).err(),
        parse_path("a b", "{}").err(),
        parse_path(SINGLE, r#"{"callbackCommand":"x"}"#).err(),
    ];
    let mut codes: Vec<&str> = errors
        .iter()
        .map(|e| e.as_ref().expect("each case is an error").code())
        .collect();
    for code in &codes {
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{code}"
        );
    }
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len());
}

/// OpenIM names a callback by its operationID; `message_key` is Tencent's alone.
#[test]
fn openim_callbacks_have_no_message_key() {
    let cb = crate::support::callback(
        "callbackBeforeSendSingleMsgCommand",
        r#"{"callbackCommand":"callbackBeforeSendSingleMsgCommand","operationID":"op-1","MsgKey":"x"}"#,
    );
    assert_eq!(cb.operation_id(), Some("op-1"));
    assert_eq!(cb.message_key(), None);
}
