//! IM-server wire formats ("dialects"): turn one webhook HTTP request into a [`Callback`] that
//! plugins can see, and turn the plugins' [`Verdict`](hookbox_model::Verdict) back into the exact
//! response bytes that IM server expects.
//!
//! Every function here is pure: bytes and header maps in, values or bytes out. This crate is
//! *not* an HTTP server (it never sees axum types, sockets or time), it does not run plugins, and
//! it does not decide policy (which plugin runs, what happens on a plugin failure). The server
//! builds an [`Inbound`] from the request, calls a dialect's `parse`, runs the plugin chain, asks
//! the dialect's `check_modify` whether a plugin's modification is acceptable, and sends what the
//! dialect's `render` returns. For an after-callback, [`Callback::delivery_keys`] names the event
//! and its conversation, so the server can queue it durably, drop a duplicate and keep each
//! conversation in order.
//!
//! The decision a reader may question: a body that parses is **never validated against a
//! per-command schema**. The IM server adds and reshapes fields between releases; the dialect only
//! checks what routing needs (UTF-8, a JSON object of bounded depth, a well-formed command that
//! agrees with the URL) and hands plugins the original bytes. Strictness is spent on the other
//! direction instead: what a plugin asks the IM server to change ([`openim::check_modify`],
//! [`tencent::check_modify`]), because a wrongly typed field there makes the IM server fail the
//! user's action.

#![deny(missing_docs)]

pub mod delivery;
pub mod modify_rule;
pub mod openim;
pub mod tencent;

mod wire;

pub use delivery::{DeliveryKeys, IDEMPOTENCY_KEY};

/// For the fuzz targets only (feature `fuzzing`): whether the body check's fast path, when it
/// answers for `body`, gives what serde_json's full check gives.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn body_checks_agree(body: &str) -> bool {
    wire::body_checks_agree(body)
}

use hookbox_model::{Event, Phase};

/// The phase of a callback with `command`, from whichever IM server uses that name: Tencent's
/// commands are `Area.Callback…` with a dot, OpenIM's never have one. For deciding ahead of any
/// request (which plugins get after-callbacks); a parsed [`Callback`] carries its phase.
pub fn phase_of(command: &str) -> Phase {
    if command.contains('.') {
        tencent::phase_of(command)
    } else {
        openim::phase_of(command)
    }
}

/// What the server hands a dialect for one HTTP request.
///
/// No framework types: the dialect must not know axum.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The path segment after the configured prefix, if any (percent-decoded by the server).
    pub path_command: Option<&'a str>,
    /// The raw query string (without `?`), not decoded.
    pub query: Option<&'a str>,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
    /// The request body, exactly as received.
    pub body: &'a [u8],
}

/// One parsed callback, ready for plugins.
#[derive(Debug, Clone)]
pub struct Callback {
    /// What the plugins see.
    pub event: Event,
    /// Whether the IM server waits for the answer.
    pub phase: Phase,
    /// Whether the dialect's command table knows this command. Unknown commands still parse
    /// (IM servers add commands between releases); the server answers them with an allow.
    pub known: bool,
    /// Tencent's `MsgKey`, read while parsing: every callback's span carries it.
    message_key: Option<String>,
    /// The body as a JSON object, built on first use from `event.payload` (most answers
    /// never read it: see the `wire` module).
    request: std::sync::OnceLock<hookbox_model::JsonObject>,
}

impl Callback {
    /// The IM server's operation (trace) id, if the request carried one.
    pub fn operation_id(&self) -> Option<&str> {
        self.event.metadata_value(openim::OPERATION_ID)
    }

    /// The message this callback is about, where the IM server names it: Tencent's `MsgKey`
    /// (`"<seq>_<random>_<time>"`, on message callbacks). Tencent sends no operation id, so this
    /// is what ties its callback to a message in logs and traces.
    pub fn message_key(&self) -> Option<&str> {
        self.message_key.as_deref()
    }

    /// The request body as a JSON object: `event.payload`, parsed on the first call (the
    /// dialect checked it while parsing the callback, so this is the value serde_json builds;
    /// were `event.payload` replaced by text that is not a JSON object, it would be empty).
    pub fn request(&self) -> &hookbox_model::JsonObject {
        self.request
            .get_or_init(|| wire::object_value(&self.event.payload))
    }

    fn new(event: Event, phase: Phase, known: bool, message_key: Option<String>) -> Callback {
        Callback {
            event,
            phase,
            known,
            message_key,
            request: std::sync::OnceLock::new(),
        }
    }
}

/// Why a request is not a callback this dialect can handle. Every variant is the sender's fault:
/// HTTP 400, except the authentication variants (`missing_app_id` to `request_from_future`, see
/// [`DialectError::status`]), which are HTTP 401. None of them echoes more than a short, escaped
/// excerpt of the input, and none echoes a secret or the expected signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DialectError {
    /// The body is not valid UTF-8.
    #[error("request body is not valid UTF-8 (first invalid byte at offset {valid_up_to})")]
    BodyNotUtf8 {
        /// Length of the longest valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The body is empty or only whitespace.
    #[error("request body is empty")]
    BodyEmpty,
    /// The body is not JSON.
    #[error("request body is not valid JSON: {0}")]
    BodyNotJson(#[source] serde_json::Error),
    /// The body is JSON, but not an object.
    #[error("request body must be a JSON object, got {found}")]
    BodyNotObject {
        /// The JSON type that was found.
        found: &'static str,
    },
    /// The body nests arrays/objects deeper than the limit.
    #[error("request body nests deeper than {limit} levels")]
    BodyTooDeep {
        /// The maximum accepted depth.
        limit: usize,
    },
    /// An object in the body has the same key twice. serde_json would keep the last value
    /// while the plugin's parser (it reads the original bytes) may keep the first, so the host
    /// would route on one value and the plugin act on another.
    #[error("request body has the key `{key}` twice in one object")]
    DuplicateKey {
        /// The repeated key (an escaped excerpt).
        key: String,
    },
    /// Neither the URL nor the body names a command.
    #[error("no callback command in the URL path, the `command` query parameter or the body")]
    MissingCommand,
    /// The body's command key holds something other than a string.
    #[error("body field `{field}` must be a string, got {found}")]
    CommandNotString {
        /// The body key that holds the command.
        field: &'static str,
        /// The JSON type that was found.
        found: &'static str,
    },
    /// A command name is empty, too long or has characters outside `[A-Za-z0-9._]`.
    #[error(
        "invalid callback command {command:?} (expected 1 to 128 characters of A-Z a-z 0-9 . _)"
    )]
    InvalidCommand {
        /// The offending name, cut to a short excerpt.
        command: String,
    },
    /// Two sources of the command (URL path, query, body) disagree.
    #[error(
        "callback command mismatch: {first_source} says {first:?}, {second_source} says {second:?}"
    )]
    CommandMismatch {
        /// Where the first command came from (`path`, `query`, `body`).
        first_source: &'static str,
        /// The first command.
        first: String,
        /// Where the second command came from.
        second_source: &'static str,
        /// The second command.
        second: String,
    },
    /// A source that must carry the command does not (Tencent: both the `CallbackCommand` query
    /// parameter and the body's `CallbackCommand`).
    #[error("no `{field}` in the request {source_name}")]
    CommandMissingFrom {
        /// Where the command is missing (`query`, `body`).
        source_name: &'static str,
        /// The parameter or body key that should carry it.
        field: &'static str,
    },
    /// Authentication: the request names no app (Tencent: no `SdkAppid` query parameter).
    #[error("no `SdkAppid` query parameter")]
    MissingAppId,
    /// Authentication: the app id is not a decimal number.
    #[error("`SdkAppid` {value:?} is not a decimal app id")]
    BadAppId {
        /// The offending value, cut to a short excerpt.
        value: String,
    },
    /// Authentication: the app id is not one this server is configured for.
    #[error("`SdkAppid` {sdk_app_id} is not a configured app")]
    UnknownApp {
        /// The app id the request named.
        sdk_app_id: u64,
    },
    /// Authentication: an authentication parameter appears more than once.
    #[error("query parameter `{name}` appears more than once")]
    DuplicateAuthParameter {
        /// The parameter.
        name: &'static str,
    },
    /// Authentication: the app has a token, but the request carries no `Sign`.
    #[error("the app requires a signature, but the request has no `Sign` query parameter")]
    MissingSignature,
    /// Authentication: the `Sign` is malformed or does not match.
    #[error("`Sign` is not valid: {reason}")]
    BadSignature {
        /// Why (never the expected value).
        reason: &'static str,
    },
    /// Authentication: the app has a token, but the request carries no `RequestTime`.
    #[error("the app requires a signature, but the request has no `RequestTime` query parameter")]
    MissingRequestTime,
    /// Authentication: `RequestTime` is not a decimal Unix time in seconds.
    #[error("`RequestTime` {value:?} is not a Unix time in seconds")]
    BadRequestTime {
        /// The offending value, cut to a short excerpt.
        value: String,
    },
    /// Authentication: `RequestTime` is further in the past than the accepted clock skew.
    #[error("request is {age_secs} s old; at most {max_skew_secs} s are accepted")]
    StaleRequest {
        /// How far `RequestTime` lies behind the server's clock.
        age_secs: u128,
        /// The accepted skew.
        max_skew_secs: u64,
    },
    /// Authentication: `RequestTime` is further in the future than the accepted clock skew.
    #[error(
        "request is dated {ahead_secs} s in the future; at most {max_skew_secs} s are accepted"
    )]
    RequestFromFuture {
        /// How far `RequestTime` lies ahead of the server's clock.
        ahead_secs: u128,
        /// The accepted skew.
        max_skew_secs: u64,
    },
}

impl DialectError {
    /// A stable snake_case code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            DialectError::BodyNotUtf8 { .. } => "body_not_utf8",
            DialectError::BodyEmpty => "body_empty",
            DialectError::BodyNotJson(_) => "body_not_json",
            DialectError::BodyNotObject { .. } => "body_not_object",
            DialectError::BodyTooDeep { .. } => "body_too_deep",
            DialectError::DuplicateKey { .. } => "duplicate_key",
            DialectError::MissingCommand => "missing_command",
            DialectError::CommandNotString { .. } => "command_not_string",
            DialectError::InvalidCommand { .. } => "invalid_command",
            DialectError::CommandMismatch { .. } => "command_mismatch",
            DialectError::CommandMissingFrom { .. } => "missing_command",
            DialectError::MissingAppId => "missing_app_id",
            DialectError::BadAppId { .. } => "bad_app_id",
            DialectError::UnknownApp { .. } => "unknown_app",
            DialectError::DuplicateAuthParameter { .. } => "duplicate_auth_parameter",
            DialectError::MissingSignature => "missing_signature",
            DialectError::BadSignature { .. } => "bad_signature",
            DialectError::MissingRequestTime => "missing_request_time",
            DialectError::BadRequestTime { .. } => "bad_request_time",
            DialectError::StaleRequest { .. } => "stale_request",
            DialectError::RequestFromFuture { .. } => "request_from_future",
        }
    }

    /// Whether the request failed authentication (it must not be trusted at all).
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            DialectError::MissingAppId
                | DialectError::BadAppId { .. }
                | DialectError::UnknownApp { .. }
                | DialectError::DuplicateAuthParameter { .. }
                | DialectError::MissingSignature
                | DialectError::BadSignature { .. }
                | DialectError::MissingRequestTime
                | DialectError::BadRequestTime { .. }
                | DialectError::StaleRequest { .. }
                | DialectError::RequestFromFuture { .. }
        )
    }

    /// The HTTP status to answer with: `401 Unauthorized` for the authentication variants
    /// ([`DialectError::is_unauthorized`]), `400 Bad Request` for every other one.
    pub fn status(&self) -> http::StatusCode {
        if self.is_unauthorized() {
            http::StatusCode::UNAUTHORIZED
        } else {
            http::StatusCode::BAD_REQUEST
        }
    }
}

/// Why a plugin's modification is not acceptable for this callback. The chain turns it into a
/// plugin failure and logs it; every message names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModifyError {
    /// The field belongs to the response envelope (matched case-insensitively, as the IM server
    /// decodes it); the verdict kind decides those, not the modification.
    #[error("field `{field}` belongs to the response envelope and cannot be modified")]
    EnvelopeField {
        /// The offending field.
        field: String,
    },
    /// The command applies no response fields at all.
    #[error("`{command}` accepts no modifications ({why}), but the plugin set `{field}`")]
    NotModifiable {
        /// The callback command.
        command: String,
        /// The first field the plugin set.
        field: String,
        /// Why the command takes none.
        why: &'static str,
    },
    /// The command applies response fields, but not this one.
    #[error("field `{field}` is not a modifiable field of `{command}`")]
    UnknownField {
        /// The callback command.
        command: String,
        /// The offending field (a path for nested fields, e.g. `users[0].nick`).
        field: String,
    },
    /// The IM server reads the field, but applying it is unsafe or pointless.
    #[error("field `{field}` is refused: {reason}")]
    Refused {
        /// The offending field.
        field: String,
        /// Why.
        reason: &'static str,
    },
    /// The field has the wrong JSON type.
    #[error("field `{field}` must be {expected}, got {found}")]
    WrongType {
        /// The offending field (a path for nested fields).
        field: String,
        /// What the IM server can decode.
        expected: &'static str,
        /// What the plugin sent.
        found: &'static str,
    },
    /// An integer does not fit the IM server's integer type.
    #[error("field `{field}` must be between {min} and {max}")]
    OutOfRange {
        /// The offending field (a path for nested fields).
        field: String,
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// The field must be a string whose text is a JSON object.
    #[error("field `{field}` must be a string holding a JSON object")]
    NotJsonObjectText {
        /// The offending field.
        field: String,
    },
    /// The field may only be set when the request carried a value for it.
    #[error(
        "field `{field}` was null or absent in the request; setting it would crash the IM server"
    )]
    NotInRequest {
        /// The offending field.
        field: String,
    },
    /// A required field is missing (or null) in a nested object.
    #[error("field `{field}` is required")]
    MissingField {
        /// The missing field's path.
        field: String,
    },
}
