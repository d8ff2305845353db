//! Helpers shared by the test modules.

use hookbox_dialects::tencent::{self, Auth, TencentApp};
use hookbox_dialects::{Callback, DialectError, Inbound};
use http::HeaderMap;

/// An app without a token: authentication off.
pub(crate) const OPEN_APP: u64 = 1_400_000_001;

/// An app with the token of Tencent's documented example.
pub(crate) const SIGNED_APP: u64 = 1_400_000_002;

/// The documented example: token, RequestTime and the resulting Sign.
pub(crate) const TOKEN: &str = "xxxxyyyy";
pub(crate) const REQUEST_TIME: i64 = 1_669_872_112;
pub(crate) const SIGN: &str = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061";

/// The server's clock in these tests: 18 s after the documented RequestTime.
pub(crate) const NOW: i64 = REQUEST_TIME + 18;

/// The two configured apps.
pub(crate) fn apps() -> Vec<TencentApp> {
    vec![
        TencentApp {
            sdk_app_id: OPEN_APP,
            token: None,
        },
        TencentApp {
            sdk_app_id: SIGNED_APP,
            token: Some(TOKEN.to_owned()),
        },
    ]
}

/// Parses `body` posted with `query` against `apps`, a 60 s window and the clock at `now`.
pub(crate) fn parse_at(
    apps: &[TencentApp],
    now: i64,
    query: Option<&str>,
    body: &[u8],
) -> Result<Callback, DialectError> {
    let headers = HeaderMap::new();
    tencent::parse(
        &Inbound {
            path_command: None,
            query,
            headers: &headers,
            body,
        },
        &Auth {
            apps,
            max_skew_secs: 60,
            now_unix_secs: now,
        },
    )
}

/// Parses `body` posted with `query` against [`apps`] at [`NOW`].
pub(crate) fn parse_with(query: Option<&str>, body: &[u8]) -> Result<Callback, DialectError> {
    parse_at(&apps(), NOW, query, body)
}

/// The query Tencent sends for `command` to the app without a token.
pub(crate) fn open_query(command: &str) -> String {
    format!(
        "SdkAppid={OPEN_APP}&CallbackCommand={command}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=iOS"
    )
}

/// The query Tencent sends for `command` to the signed app, with the documented Sign.
pub(crate) fn signed_query(command: &str) -> String {
    format!(
        "SdkAppid={SIGNED_APP}&CallbackCommand={command}&contenttype=json&ClientIP=127.0.0.1&OptPlatform=Android&Sign={SIGN}&RequestTime={REQUEST_TIME}"
    )
}

/// `fields` (a JSON object) with `"CallbackCommand": command` put first.
pub(crate) fn body_for(command: &str, fields: serde_json::Value) -> String {
    let mut body = hookbox_model::JsonObject::new();
    body.insert("CallbackCommand".to_owned(), command.into());
    body.extend(obj(fields));
    serde_json::Value::Object(body).to_string()
}

/// A callback for `command` (known or not) whose body has `fields` besides the command.
pub(crate) fn callback(command: &str, fields: serde_json::Value) -> Callback {
    let body = body_for(command, fields);
    match parse_with(Some(&open_query(command)), body.as_bytes()) {
        Ok(cb) => cb,
        Err(e) => panic!("test body for {command} does not parse: {e}"),
    }
}

/// A JSON object literal.
pub(crate) fn obj(value: serde_json::Value) -> hookbox_model::JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}
