//! What the two dialect fuzz targets share: the text format of one fuzz input, the reject codes
//! every parsed input is rendered with, and typed reads of a rendered answer that panic when the
//! IM server could not decode it; and ([`message_view`]) the check of the third target, the Rust
//! SDK's message view.
//!
//! Not a test helper for the product: nothing here is built by the root workspace.
//!
//! # Input format
//!
//! ```text
//! <path>?<query> <operationID>    the request line: every part optional; an empty path is none
//! <body>                          the request body, byte for byte
//! ---                             optional: a line `---`, then the plugin's modification,
//! <modify>                        a JSON object (without it, the request object itself)
//! ```
//!
//! The decision a reader may question: a text format instead of `arbitrary`. The seeds stay
//! readable requests made from the dialects' golden fixtures, and libFuzzer mutates a body where
//! it stands instead of through a structure it cannot see.

pub mod message_view;

use hookbox_dialects::Inbound;
use hookbox_model::JsonObject;
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

/// The line between the body and the modification.
const SEPARATOR: &[u8] = b"\n---\n";

/// The codes every parsed input is rejected with: 0, both dialects' defaults, the edges of every
/// custom range (Tencent group `[10100, 10200]`, friend `[38000, 39000]`, C2C
/// `[120001, 130000]`) and their neighbours, and the extremes.
pub const REJECT_CODES: &[i32] = &[
    0,
    1,
    2,
    -1,
    5000,
    10_099,
    10_100,
    10_200,
    10_201,
    37_999,
    38_000,
    39_000,
    39_001,
    120_000,
    120_001,
    130_000,
    130_001,
    i32::MIN,
    i32::MAX,
];

/// One fuzz input, split into the parts of a request.
#[derive(Debug)]
pub struct Input<'a> {
    /// The path segment after the prefix (OpenIM's command).
    pub path: Option<&'a str>,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// `Operationid`, when the request line names one that is a valid header value.
    pub headers: HeaderMap,
    /// The request body.
    pub body: &'a [u8],
    /// The plugin's modification, when the input has one that is a JSON object.
    pub modify: Option<JsonObject>,
}

impl<'a> Input<'a> {
    /// Splits `data`; `None` if the request line is not UTF-8.
    pub fn split(data: &'a [u8]) -> Option<Self> {
        let (line, rest) = match data.iter().position(|&b| b == b'\n') {
            Some(end) => (&data[..end], &data[end + 1..]),
            None => (data, &[][..]),
        };
        let line = std::str::from_utf8(line).ok()?;
        let (target, operation_id) = match line.split_once(' ') {
            Some((target, op)) => (target, Some(op)),
            None => (line, None),
        };
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        let (body, modify) = match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => (&rest[..at], Some(&rest[at + SEPARATOR.len()..])),
            None => (rest, None),
        };
        let mut headers = HeaderMap::new();
        if let Some(value) = operation_id.and_then(|op| HeaderValue::from_str(op).ok()) {
            headers.insert("operationid", value);
        }
        Some(Input {
            path: (!path.is_empty()).then_some(path),
            query,
            headers,
            body,
            modify: modify.and_then(|m| match serde_json::from_slice(m) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            }),
        })
    }

    /// The request as a dialect sees it.
    pub fn inbound(&self) -> Inbound<'_> {
        Inbound {
            path_command: self.path,
            query: self.query,
            headers: &self.headers,
            body: self.body,
        }
    }
}

/// The rendered `bytes` as a JSON object; panics if they are not one.
pub fn object(bytes: &[u8]) -> JsonObject {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => map,
        other => panic!(
            "answer is not a JSON object ({other:?}): {}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// `value` as a 32-bit integer written without a fraction or exponent; panics otherwise.
pub fn int32(key: &str, value: &Value) -> i32 {
    value
        .as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or_else(|| panic!("`{key}` is {value}, not an int32"))
}

/// `value` as a string; panics otherwise.
pub fn string<'v>(key: &str, value: &'v Value) -> &'v str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is {value}, not a string"))
}
