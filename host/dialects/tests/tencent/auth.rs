//! Authentication: `SdkAppid`, `Sign` and `RequestTime`, checked before the body is read.

use hookbox_dialects::tencent::TencentApp;
use hookbox_dialects::{Callback, DialectError};
use http::StatusCode;

use crate::support::{
    NOW, OPEN_APP, REQUEST_TIME, SIGN, SIGNED_APP, TOKEN, apps, body_for, open_query, parse_at,
    parse_with, signed_query,
};

const COMMAND: &str = "C2C.CallbackBeforeSendMsg";

fn body() -> String {
    body_for(COMMAND, serde_json::json!({"From_Account": "jared"}))
}

/// The signed app's query with these `Sign` and `RequestTime` parts (either may be omitted).
fn query(sign: Option<&str>, request_time: Option<&str>) -> String {
    let mut query = format!(
        "SdkAppid={SIGNED_APP}&CallbackCommand={COMMAND}&contenttype=json&ClientIP=10.0.0.8&OptPlatform=iOS"
    );
    if let Some(sign) = sign {
        query.push_str(&format!("&Sign={sign}"));
    }
    if let Some(time) = request_time {
        query.push_str(&format!("&RequestTime={time}"));
    }
    query
}

fn unauthorized(result: Result<Callback, DialectError>) -> &'static str {
    match result {
        Ok(cb) => panic!("expected a 401, parsed {:?}", cb.event),
        Err(e) => {
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{e}");
            assert!(e.is_unauthorized(), "{e}");
            e.code()
        }
    }
}

fn at(now: i64, query: &str) -> Result<Callback, DialectError> {
    parse_at(&apps(), now, Some(query), body().as_bytes())
}

#[test]
fn documented_sign_is_accepted() {
    let cb = parse_with(Some(&signed_query(COMMAND)), body().as_bytes()).expect("valid Sign");
    assert_eq!(cb.event.command, COMMAND);
    assert_eq!(cb.event.metadata_value("SdkAppid"), Some("1400000002"));
}

#[test]
fn sign_is_not_metadata_nor_request_time() {
    let cb = parse_with(Some(&signed_query(COMMAND)), body().as_bytes()).expect("valid Sign");
    let keys: Vec<&str> = cb.event.metadata.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["SdkAppid", "ClientIP", "OptPlatform"]);
    assert!(
        cb.event.metadata.iter().all(|(_, v)| v != SIGN),
        "{:?}",
        cb.event.metadata
    );
}

#[test]
fn wrong_sign_is_refused() {
    let wrong = SIGN.replace('7', "8");
    let result = at(NOW, &query(Some(&wrong), Some(&REQUEST_TIME.to_string())));
    assert_eq!(unauthorized(result), "bad_signature");
}

#[test]
fn sign_of_another_token_is_refused() {
    // The older page's typo token `xxxyyy` signs to e78a8547…, not to the documented Sign.
    let apps = [TencentApp {
        sdk_app_id: SIGNED_APP,
        token: Some("xxxyyy".to_owned()),
    }];
    let result = parse_at(&apps, NOW, Some(&signed_query(COMMAND)), body().as_bytes());
    assert_eq!(unauthorized(result), "bad_signature");
}

#[test]
fn sign_for_another_time_is_refused() {
    let later = (REQUEST_TIME + 1).to_string();
    assert_eq!(
        unauthorized(at(NOW, &query(Some(SIGN), Some(&later)))),
        "bad_signature"
    );
}

#[test]
fn sign_is_hashed_over_request_time_as_received() {
    // Same number, different text: the Sign no longer matches.
    let padded = format!("0{REQUEST_TIME}");
    assert_eq!(
        unauthorized(at(NOW, &query(Some(SIGN), Some(&padded)))),
        "bad_signature"
    );
}

#[test]
fn missing_sign_is_refused() {
    let result = at(NOW, &query(None, Some(&REQUEST_TIME.to_string())));
    assert_eq!(unauthorized(result), "missing_signature");
}

#[test]
fn empty_sign_is_refused() {
    let result = at(NOW, &query(Some(""), Some(&REQUEST_TIME.to_string())));
    assert_eq!(unauthorized(result), "bad_signature");
}

#[test]
fn missing_request_time_is_refused() {
    assert_eq!(
        unauthorized(at(NOW, &query(Some(SIGN), None))),
        "missing_request_time"
    );
}

#[test]
fn non_numeric_request_time_is_refused() {
    for bad in [
        "",
        "abc",
        "-1669872112",
        "+1669872112",
        "1669872112.0",
        "1e9",
        "%FF",
        "99999999999999999999999",
    ] {
        assert_eq!(
            unauthorized(at(NOW, &query(Some(SIGN), Some(bad)))),
            "bad_request_time",
            "{bad:?}"
        );
    }
}

#[test]
fn exactly_60_seconds_either_way_is_accepted() {
    let q = query(Some(SIGN), Some(&REQUEST_TIME.to_string()));
    assert!(at(REQUEST_TIME + 60, &q).is_ok());
    assert!(at(REQUEST_TIME - 60, &q).is_ok());
    assert!(at(REQUEST_TIME, &q).is_ok());
}

#[test]
fn request_61_seconds_old_is_stale() {
    let q = query(Some(SIGN), Some(&REQUEST_TIME.to_string()));
    let Err(e) = at(REQUEST_TIME + 61, &q) else {
        panic!("stale request accepted")
    };
    assert_eq!(e.code(), "stale_request");
    assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
    assert!(e.to_string().contains("61 s old"), "{e}");
}

#[test]
fn request_61_seconds_ahead_is_from_the_future() {
    let q = query(Some(SIGN), Some(&REQUEST_TIME.to_string()));
    assert_eq!(
        unauthorized(at(REQUEST_TIME - 61, &q)),
        "request_from_future"
    );
}

#[test]
fn skew_window_is_configurable() {
    let q = query(Some(SIGN), Some(&REQUEST_TIME.to_string()));
    let headers = http::HeaderMap::new();
    let body = body();
    let parse = |max_skew_secs| {
        hookbox_dialects::tencent::parse(
            &hookbox_dialects::Inbound {
                path_command: None,
                query: Some(&q),
                headers: &headers,
                body: body.as_bytes(),
            },
            &hookbox_dialects::tencent::Auth {
                apps: &apps(),
                max_skew_secs,
                now_unix_secs: REQUEST_TIME + 5,
            },
        )
    };
    assert!(parse(5).is_ok());
    assert_eq!(unauthorized(parse(4)), "stale_request");
    assert_eq!(unauthorized(parse(0)), "stale_request");
}

#[test]
fn extreme_clocks_do_not_overflow() {
    let q = query(Some(SIGN), Some(&REQUEST_TIME.to_string()));
    assert_eq!(unauthorized(at(i64::MAX, &q)), "stale_request");
    assert_eq!(unauthorized(at(i64::MIN, &q)), "request_from_future");
}

#[test]
fn sign_of_wrong_length_is_refused() {
    let time = REQUEST_TIME.to_string();
    for bad in [
        &SIGN[..63],
        &format!("{SIGN}0"),
        &format!("{SIGN}{SIGN}"),
        "0",
    ] {
        assert_eq!(
            unauthorized(at(NOW, &query(Some(bad), Some(&time)))),
            "bad_signature",
            "{bad:?}"
        );
    }
}

#[test]
fn upper_case_sign_is_refused() {
    // Tencent sends lower-case hex; nothing is normalised.
    let upper = SIGN.to_ascii_uppercase();
    let result = at(NOW, &query(Some(&upper), Some(&REQUEST_TIME.to_string())));
    assert_eq!(unauthorized(result), "bad_signature");
}

#[test]
fn non_hex_sign_is_refused() {
    let time = REQUEST_TIME.to_string();
    let bad = format!("{}zz", &SIGN[..62]);
    assert_eq!(
        unauthorized(at(NOW, &query(Some(&bad), Some(&time)))),
        "bad_signature"
    );
    assert_eq!(
        unauthorized(at(NOW, &query(Some("%FF%FE"), Some(&time)))),
        "bad_signature"
    );
}

#[test]
fn wrong_sdk_app_id_is_refused() {
    let q = open_query(COMMAND).replace(&OPEN_APP.to_string(), "1400000099");
    let Err(e) = parse_with(Some(&q), body().as_bytes()) else {
        panic!("unknown app accepted")
    };
    assert_eq!(e.code(), "unknown_app");
    assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn missing_sdk_app_id_is_refused() {
    let q = format!("CallbackCommand={COMMAND}&contenttype=json");
    assert_eq!(
        unauthorized(parse_with(Some(&q), body().as_bytes())),
        "missing_app_id"
    );
    assert_eq!(
        unauthorized(parse_with(None, body().as_bytes())),
        "missing_app_id"
    );
    // The name is case-sensitive, as Tencent spells it.
    let q = format!("sdkappid={OPEN_APP}&CallbackCommand={COMMAND}");
    assert_eq!(
        unauthorized(parse_with(Some(&q), body().as_bytes())),
        "missing_app_id"
    );
}

#[test]
fn non_numeric_sdk_app_id_is_refused() {
    for bad in [
        "",
        "$SDKAppID",
        "abc",
        "-1",
        "+1400000001",
        " 1400000001",
        "1400000001.0",
        "18446744073709551616",
        "%FF",
    ] {
        let q = format!("SdkAppid={bad}&CallbackCommand={COMMAND}");
        assert_eq!(
            unauthorized(parse_with(Some(&q), body().as_bytes())),
            "bad_app_id",
            "{bad:?}"
        );
    }
}

#[test]
fn duplicated_auth_parameters_are_refused() {
    let time = REQUEST_TIME.to_string();
    let twice_sign = format!("{}&Sign={SIGN}", query(Some(SIGN), Some(&time)));
    assert_eq!(
        unauthorized(at(NOW, &twice_sign)),
        "duplicate_auth_parameter"
    );
    let twice_time = format!("{}&RequestTime={time}", query(Some(SIGN), Some(&time)));
    assert_eq!(
        unauthorized(at(NOW, &twice_time)),
        "duplicate_auth_parameter"
    );
    let twice_app = format!("SdkAppid={OPEN_APP}&{}", query(Some(SIGN), Some(&time)));
    assert_eq!(
        unauthorized(at(NOW, &twice_app)),
        "duplicate_auth_parameter"
    );
}

#[test]
fn app_without_token_accepts_unsigned_requests() {
    let cb = parse_with(Some(&open_query(COMMAND)), body().as_bytes()).expect("no token: no Sign");
    assert_eq!(cb.event.metadata_value("SdkAppid"), Some("1400000001"));
}

#[test]
fn app_without_token_ignores_sign_and_request_time() {
    let q = format!("{}&Sign=garbage&RequestTime=yesterday", open_query(COMMAND));
    let cb = parse_with(Some(&q), body().as_bytes()).expect("not checked without a token");
    assert!(cb.event.metadata_value("Sign").is_none());
    assert!(cb.event.metadata_value("RequestTime").is_none());
}

#[test]
fn first_matching_app_wins() {
    let apps = [
        TencentApp {
            sdk_app_id: SIGNED_APP,
            token: Some(TOKEN.to_owned()),
        },
        TencentApp {
            sdk_app_id: SIGNED_APP,
            token: None,
        },
    ];
    let q = query(None, None);
    let result = parse_at(&apps, NOW, Some(&q), body().as_bytes());
    assert_eq!(unauthorized(result), "missing_signature");
}

#[test]
fn authentication_comes_before_the_body() {
    // A broken body, a bad command and a wrong Sign: the Sign is reported.
    let time = REQUEST_TIME.to_string();
    let q = query(Some(&"0".repeat(64)), Some(&time)).replace(COMMAND, "bad/command");
    let result = parse_at(&apps(), NOW, Some(&q), b"\xff not json");
    assert_eq!(unauthorized(result), "bad_signature");
    // And an unknown app is reported before a missing command.
    let result = parse_with(Some("SdkAppid=1"), b"");
    assert_eq!(unauthorized(result), "unknown_app");
}

#[test]
fn errors_never_echo_the_expected_sign_or_token() {
    let time = REQUEST_TIME.to_string();
    for q in [
        query(Some(&"0".repeat(64)), Some(&time)),
        query(Some("x"), Some(&time)),
        query(None, Some(&time)),
        query(Some(SIGN), None),
        query(Some(SIGN), Some("abc")),
    ] {
        let Err(e) = at(NOW, &q) else {
            panic!("{q} accepted")
        };
        let message = format!("{e} {e:?}");
        assert!(!message.contains(SIGN), "{message}");
        assert!(!message.contains(TOKEN), "{message}");
    }
}

#[test]
fn auth_error_codes_are_distinct() {
    let time = REQUEST_TIME.to_string();
    let mut codes = std::collections::HashSet::new();
    for result in [
        parse_with(Some("CallbackCommand=x"), b"{}"),
        parse_with(Some("SdkAppid=x"), b"{}"),
        parse_with(Some("SdkAppid=7"), b"{}"),
        at(NOW, &format!("{}&Sign=1", query(Some(SIGN), Some(&time)))),
        at(NOW, &query(None, Some(&time))),
        at(NOW, &query(Some("1"), Some(&time))),
        at(NOW, &query(Some(SIGN), None)),
        at(NOW, &query(Some(SIGN), Some("x"))),
        at(REQUEST_TIME + 61, &query(Some(SIGN), Some(&time))),
        at(REQUEST_TIME - 61, &query(Some(SIGN), Some(&time))),
    ] {
        assert!(codes.insert(unauthorized(result)));
    }
    assert_eq!(codes.len(), 10);
}

#[test]
fn public_sign_matches_the_documented_vector() {
    assert_eq!(
        hookbox_dialects::tencent::sign(TOKEN, &REQUEST_TIME.to_string()),
        SIGN
    );
    assert_eq!(
        hookbox_dialects::tencent::sign("xxxyyy", "1669872112")[..8],
        *"e78a8547"
    );
}

#[test]
fn debug_output_hides_the_token() {
    let text = format!("{:?}", apps());
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains("1400000002"), "{text}");
}
