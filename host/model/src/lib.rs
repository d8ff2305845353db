//! The plain data that flows through hookbox: the [`Event`] a plugin sees and the
//! [`Verdict`] it answers with.
//!
//! This crate is *not* a wire format: it knows neither HTTP, nor wasm, nor any IM server's
//! field names. Dialects produce events and render verdicts; the runtime carries them across
//! the WIT boundary; the server only moves them between the two.
//!
//! The decision a reader may question: the payload stays the raw request body (`String`)
//! instead of a parsed JSON tree. Plugins get the IM server's bytes exactly as sent (no float
//! round-trip of big ids, no re-ordering), and the host parses a body once, in the dialect.

#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

/// A JSON object, in insertion order.
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The IM server a callback came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DialectKind {
    /// OpenIM Server.
    Openim,
    /// Tencent Cloud Chat.
    Tencent,
}

impl DialectKind {
    /// The dialect's name as it appears in config and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            DialectKind::Openim => "openim",
            DialectKind::Tencent => "tencent",
        }
    }
}

impl std::fmt::Display for DialectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the IM server waits for the answer (before) or only reports (after).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The IM server waits for the verdict before it acts.
    Before,
    /// The IM server has acted and ignores the answer.
    After,
}

/// One callback, as a plugin receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Which IM server sent it.
    pub dialect: DialectKind,
    /// The callback command, exactly as the IM server names it.
    pub command: String,
    /// The request body as received (UTF-8 JSON).
    pub payload: String,
    /// Request facts that are not in the body (operationID, query parameters).
    pub metadata: Vec<(String, String)>,
}

impl Event {
    /// The first metadata value stored under `key`.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A refusal, in the dialect-neutral form a plugin returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The error code the IM server should pass on (dialects may map or clamp it).
    pub code: i32,
    /// A short message for the client.
    pub message: String,
    /// Details for logs and developers.
    pub detail: String,
}

/// What the plugins decided about one callback.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Let the action through unchanged.
    Allow,
    /// Let it through with these response fields set (dialect field names).
    Modify(JsonObject),
    /// Refuse the action.
    Reject(Rejection),
    /// Drop it silently where the dialect allows; a reject elsewhere.
    Discard,
}

impl Verdict {
    /// The verdict's kind as a short, stable label (for logs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Modify(_) => "modify",
            Verdict::Reject(_) => "reject",
            Verdict::Discard => "discard",
        }
    }
}
