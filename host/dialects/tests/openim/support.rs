//! Helpers shared by the test modules.

use hookbox_dialects::{Callback, DialectError, Inbound, openim};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Headers from `(name, value)` pairs.
pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            HeaderValue::from_str(value).expect("test header value"),
        );
    }
    map
}

/// Parses a request made of these parts.
pub(crate) fn parse_with(
    path: Option<&str>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Callback, DialectError> {
    openim::parse(&Inbound {
        path_command: path,
        query,
        headers,
        body,
    })
}

/// Parses `body` posted to `{url}/{path}` without headers or query.
pub(crate) fn parse_path(path: &str, body: &str) -> Result<Callback, DialectError> {
    parse_with(Some(path), None, &HeaderMap::new(), body.as_bytes())
}

/// A callback for `command` whose body is `body` (which should name the same command or none).
pub(crate) fn callback(command: &str, body: &str) -> Callback {
    match parse_path(command, body) {
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
