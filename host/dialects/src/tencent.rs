//! The Tencent Cloud Chat (IM) dialect: authenticate and parse Tencent's webhook requests
//! ("third-party callbacks") and render verdicts into the envelope Tencent reads. The wire
//! protocol is described in `protocols/tencent.md`; [`COMMANDS`] is its command table.
//!
//! What it is not: no HTTP handling (the server extracts query and body into an [`Inbound`]; the
//! path plays no part, `path_command` is ignored), no clock (the server passes the time in
//! [`Auth`]), no replay cache, no per-command request validation (plugins get the original
//! bytes).
//!
//! # Requests
//! * **URL**: one for all commands, `POST {path}?SdkAppid=…&CallbackCommand=…&contenttype=json&
//!   ClientIP=…&OptPlatform=…[&Sign=…&RequestTime=…]`. Parameter names are case-sensitive, values
//!   are form-decoded.
//! * **Authentication first**, on the query alone, before the body is parsed (401 on failure):
//!   `SdkAppid` (exactly once, decimal) must name one of [`Auth::apps`]. If that app has a
//!   token, `Sign` and `RequestTime` must each appear exactly once, `Sign` must be the lower-case
//!   hex `sha256(token + RequestTime)` over the `RequestTime` text as received (compared in
//!   constant time), and `|now − RequestTime| <= max_skew_secs`. An app without a token
//!   (authentication off in Tencent's console) skips those checks and ignores `Sign` and
//!   `RequestTime` if present.
//! * **Command**: the `CallbackCommand` query parameter and the body's `CallbackCommand` are both
//!   required and must agree (400 otherwise); a repeated query parameter must repeat the value.
//! * **Body**: UTF-8, a JSON object, at most 64 levels deep, no object with a key twice;
//!   `Event::payload` is the body unchanged. Nothing else in it is read, so `EventTime` may be a
//!   number or a string.
//! * **Metadata**, in this order: `SdkAppid` (the matched app's id), then `ClientIP` and
//!   `OptPlatform` as decoded from the query when present and non-empty (`OptPlatform` verbatim:
//!   `State.StateChange` says `IOS`, the rest `iOS`). `Sign` and `RequestTime` never appear:
//!   the one is a credential, the other is only meaningful when signed and plugins have the body's
//!   `EventTime`.
//! * **Unknown commands** parse with `known = false`; the phase is guessed from the name
//!   ([`Phase::Before`] if it contains `CallbackBefore` or `CallbackPrev`, else [`Phase::After`]:
//!   many Tencent after-commands carry no `After`). The server answers them with an allow; no
//!   modification is accepted for them.
//!
//! # Answers
//! Always HTTP 200 (Tencent treats any other status as a failed callback), compact JSON, starting
//! with the three envelope keys in this order: `{"ActionStatus":"OK","ErrorCode":N,"ErrorInfo":M}`.
//! `ActionStatus` is always `"OK"`: the decision is `ErrorCode` (what `FAIL` does to a
//! before-callback is undocumented).
//! * allow: `ErrorCode` 0, `ErrorInfo` "".
//! * reject: `ErrorCode` = [`reject_code`]: the plugin's code if it lies in the command's custom
//!   range (C2C send `[120001, 130000]`; group send, create, apply, invite, topic
//!   `[10100, 10200]`), else 1 (Tencent's generic refusal). `ErrorInfo` = the plugin's message;
//!   the rejection's `detail` is not sent (Tencent has no field for it; the server logs it).
//! * discard: `ErrorCode` 2 with `ErrorInfo` "" on the two before-send callbacks (a silent drop:
//!   the sender is told it succeeded); elsewhere a reject with code 1 and [`DISCARD_MESSAGE`].
//! * modify: the allow envelope, then the plugin's fields in the plugin's order (envelope keys,
//!   in any case, are dropped; [`check_modify`] refuses them earlier, and also refuses fields the
//!   command does not read).
//! * after-callbacks: the allow envelope, whatever the verdict (Tencent ignores the answer).
//! * `Sns.CallbackPrevFriendAdd` / `Sns.CallbackPrevFriendResponse`: `ErrorCode` stays 0 and
//!   the decision is per account in `ResultItem`, which Tencent documents as required: allow
//!   answers `ResultCode` 0 for every account the request lists (`FriendItem` /
//!   `ResponseFriendItem`), reject and discard refuse every one with the plugin's code if in
//!   `[38000, 39000]`, else 38000, and the message as `ResultInfo`; a modification's own
//!   `ResultItem` replaces the echoed one.
//!
//! The decision a reader may question: **a reject of a friend request is not an `ErrorCode`**.
//! For the two `Sns.CallbackPrev*` commands Tencent reads a non-zero `ErrorCode` as "the app
//! backend failed" and ignores it by default, which would let the request through; so a reject
//! is rendered as a per-account refusal in `ResultItem`, and an allow lists every account with
//! `ResultCode` 0 rather than omitting the required field.

mod auth;
mod commands;
mod delivery;
mod modify;

pub use commands::{
    C2C_SEND_CODES, COMMANDS, CodeRange, CommandInfo, FRIEND_CODES, FieldRule, FieldType,
    GENERIC_REJECT_CODE, GROUP_CODES, ModifyRule, RejectRule, SILENT_DROP_CODE, command,
};

pub(crate) use delivery::delivery_keys;

use hookbox_model::{DialectKind, Event, JsonObject, Phase, Verdict};
use serde_json::Value;

use crate::wire;
use crate::{Callback, DialectError, Inbound, ModifyError};

/// One configured Tencent app. Its `Debug` output never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct TencentApp {
    /// The app's SDKAppID, as Tencent sends it in `SdkAppid`.
    pub sdk_app_id: u64,
    /// The callback token set in Tencent's console. `None`: authentication is not configured,
    /// requests need no `Sign` (and a `Sign` they carry is not checked). `Some("")` is a token
    /// like any other (and a guessable one: the server should refuse it in its config).
    pub token: Option<String>,
}

impl std::fmt::Debug for TencentApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentApp")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What [`parse`] checks a request's authentication against.
#[derive(Debug, Clone, Copy)]
pub struct Auth<'a> {
    /// The configured apps; the first one whose id matches `SdkAppid` is used.
    pub apps: &'a [TencentApp],
    /// Largest accepted `|now − RequestTime|`, in seconds (Tencent's documented window: 60).
    pub max_skew_secs: u64,
    /// The server's current Unix time, in seconds.
    pub now_unix_secs: i64,
}

/// The query parameter and metadata key of the app id.
pub const SDK_APP_ID: &str = "SdkAppid";

/// The query parameter and metadata key of the client's IP address.
pub const CLIENT_IP: &str = "ClientIP";

/// The query parameter and metadata key of the client platform.
pub const OPT_PLATFORM: &str = "OptPlatform";

/// The query parameter and body key that carry the command.
pub const COMMAND_FIELD: &str = "CallbackCommand";

/// The body key of a message callback's message key (`"<seq>_<random>_<time>"`).
pub const MESSAGE_KEY: &str = "MsgKey";

/// The three envelope keys Tencent reads, in the order they are written.
pub const ENVELOPE_KEYS: [&str; 3] = ["ActionStatus", "ErrorCode", "ErrorInfo"];

/// `ErrorInfo` (or `ResultInfo`) of a discard rendered as a reject.
pub const DISCARD_MESSAGE: &str = "discarded by policy";

/// The account key of `ResultItem` entries and of the request items they answer.
const RESULT_ACCOUNT: &str = "To_Account";

/// The answer key of per-account results.
const RESULT_ITEM: &str = "ResultItem";

/// The `Sign` Tencent sends for `token` and `request_time` (the decimal text of the
/// `RequestTime` parameter): lower-case hex `sha256(token + request_time)`. For tools and tests
/// that sign requests; [`parse`] compares against it in constant time.
pub fn sign(token: &str, request_time: &str) -> String {
    auth::expected_sign(token, request_time)
}

/// Authenticates and parses one Tencent callback request.
pub fn parse(inbound: &Inbound<'_>, auth: &Auth<'_>) -> Result<Callback, DialectError> {
    let app = auth::authenticate(inbound.query, auth)?;
    let query_command = query_command(inbound.query)?;
    let body = wire::parse_object_body(inbound.body)?;
    let Some(body_command) = body.command(COMMAND_FIELD)? else {
        return Err(DialectError::CommandMissingFrom {
            source_name: "body",
            field: COMMAND_FIELD,
        });
    };
    let body_command = checked(body_command.to_owned())?;
    if body_command != query_command {
        return Err(mismatch(&query_command, "body", &body_command));
    }

    let info = command(&query_command);
    let phase = phase_from(info, &query_command);
    let mut metadata = vec![(SDK_APP_ID.to_owned(), app.sdk_app_id.to_string())];
    for key in [CLIENT_IP, OPT_PLATFORM] {
        if let Some(value) = wire::first_query_value(inbound.query, key) {
            metadata.push((key.to_owned(), value));
        }
    }

    let message_key = body.text(MESSAGE_KEY).map(str::to_owned);
    let event = Event {
        dialect: DialectKind::Tencent,
        command: query_command,
        payload: body.text.to_owned(),
        metadata,
    };
    Ok(Callback::new(event, phase, info.is_some(), message_key))
}

/// Whether Tencent waits for the answer to `command`: the table's phase, else (a command newer
/// than the table) [`Phase::Before`] if the name contains `CallbackBefore` or `CallbackPrev`
/// (many after-commands carry no `After`).
pub fn phase_of(command: &str) -> Phase {
    phase_from(self::command(command), command)
}

/// [`phase_of`] for a command already looked up in the table.
fn phase_from(info: Option<&CommandInfo>, command: &str) -> Phase {
    match info {
        Some(info) => info.phase,
        None if command.contains("CallbackBefore") || command.contains("CallbackPrev") => {
            Phase::Before
        }
        None => Phase::After,
    }
}

/// The `CallbackCommand` query parameter: required, valid, and the same every time it repeats.
fn query_command(query: Option<&str>) -> Result<String, DialectError> {
    let mut found: Option<String> = None;
    for value in wire::query_values(query.unwrap_or(""), COMMAND_FIELD) {
        let value = value.map_err(|raw| DialectError::InvalidCommand {
            command: wire::excerpt(raw),
        })?;
        let value = checked(value)?;
        match &found {
            None => found = Some(value),
            Some(first) if *first == value => {}
            Some(first) => return Err(mismatch(first, "query", &value)),
        }
    }
    found.ok_or(DialectError::CommandMissingFrom {
        source_name: "query",
        field: COMMAND_FIELD,
    })
}

fn checked(command: String) -> Result<String, DialectError> {
    if wire::is_valid_command(&command) {
        Ok(command)
    } else {
        Err(DialectError::InvalidCommand {
            command: wire::excerpt(&command),
        })
    }
}

fn mismatch(query: &str, second_source: &'static str, second: &str) -> DialectError {
    DialectError::CommandMismatch {
        first_source: "query",
        first: wire::excerpt(query),
        second_source,
        second: wire::excerpt(second),
    }
}

/// Checks that Tencent can apply `fields` as the modification of `callback`: only fields the
/// command reads, each with the JSON shape Tencent expects, never an envelope key (in any case).
/// An empty object is always acceptable (it means allow).
///
/// * `MsgBody` (C2C/Group before-send): a non-empty array of objects with exactly a documented
///   string `MsgType` and an object `MsgContent` whose documented keys have their documented
///   types (`Text` is required on `TIMTextElem`); at most one `TIMCustomElem`.
/// * `CloudCustomData` (C2C/Group before-send): a string.
/// * `RefusedMembers_Account` (`Group.CallbackBeforeInviteJoinGroup`): an array of strings, each
///   one of the request's `DestinationMembers[].Member_Account`.
/// * `ResultItem` (`Sns.CallbackPrevFriendAdd`, `Sns.CallbackPrevFriendResponse`): one
///   `{To_Account, ResultCode, ResultInfo}` (all three required, nothing else) for every account
///   the request lists, exactly once; `ResultCode` 0 or in `[38000, 39000]`.
pub fn check_modify(callback: &Callback, fields: &JsonObject) -> Result<(), ModifyError> {
    modify::check_modify(callback, fields)
}

/// The `ErrorCode` (for the two `Sns.CallbackPrev*` commands: the `ResultCode`) a reject with the
/// plugin's `code` becomes for `callback`, and whether the plugin's code was replaced.
///
/// In the command's custom range: the code itself. Otherwise Tencent's generic refusal
/// ([`GENERIC_REJECT_CODE`]; [`FRIEND_CODES`]`.min` for the friend commands). After-callbacks
/// (known, or unknown ones guessed as after) answer 0, whatever the plugin said.
pub fn reject_code(callback: &Callback, code: i32) -> (i32, bool) {
    let mapped = match reject_rule(callback) {
        RejectRule::Ignored => 0,
        RejectRule::ErrorCode { custom } => {
            if custom.is_some_and(|range| range.contains(code)) {
                code
            } else {
                GENERIC_REJECT_CODE
            }
        }
        RejectRule::ResultItems { custom, .. } => {
            if custom.contains(code) {
                code
            } else {
                custom.min
            }
        }
    };
    (mapped, mapped != code)
}

/// The command's reject rule; for unknown commands, a guess from the parsed phase.
fn reject_rule(callback: &Callback) -> RejectRule {
    match command(&callback.event.command) {
        Some(info) => info.reject,
        None => match callback.phase {
            Phase::After => RejectRule::Ignored,
            Phase::Before => RejectRule::ErrorCode { custom: None },
        },
    }
}

/// Renders `verdict` as the exact response body Tencent reads for `callback` (to be sent with
/// HTTP 200).
///
/// `render` does not judge a modification (call [`check_modify`] first); it only keeps the
/// envelope intact: plugin keys that match an envelope key in any case are dropped.
pub fn render(callback: &Callback, verdict: &Verdict) -> Vec<u8> {
    let rule = reject_rule(callback);
    let silent_drop = command(&callback.event.command).is_some_and(|info| info.silent_drop);
    let plain = |code: i32, info: &str| serde_json::to_vec(&Plain { code, info });
    let rendered = match (rule, verdict) {
        (RejectRule::Ignored, _) => plain(0, ""),
        (RejectRule::ErrorCode { .. }, Verdict::Allow) => plain(0, ""),
        (RejectRule::ResultItems { items, .. }, Verdict::Allow) => {
            serde_json::to_vec(&results(callback, items, 0, ""))
        }
        (_, Verdict::Modify(fields)) => {
            let mut body = match rule {
                RejectRule::ResultItems { items, .. } => results(callback, items, 0, ""),
                _ => envelope(0, ""),
            };
            for (key, value) in fields {
                if !ENVELOPE_KEYS.iter().any(|e| e.eq_ignore_ascii_case(key)) {
                    body.insert(key.clone(), value.clone());
                }
            }
            serde_json::to_vec(&body)
        }
        (RejectRule::ErrorCode { .. }, Verdict::Reject(rejection)) => {
            plain(reject_code(callback, rejection.code).0, &rejection.message)
        }
        (RejectRule::ErrorCode { .. }, Verdict::Discard) if silent_drop => {
            plain(SILENT_DROP_CODE, "")
        }
        (RejectRule::ErrorCode { .. }, Verdict::Discard) => {
            plain(GENERIC_REJECT_CODE, DISCARD_MESSAGE)
        }
        (RejectRule::ResultItems { items, .. }, Verdict::Reject(rejection)) => {
            let code = reject_code(callback, rejection.code).0;
            serde_json::to_vec(&results(callback, items, code, &rejection.message))
        }
        (RejectRule::ResultItems { items, custom }, Verdict::Discard) => {
            serde_json::to_vec(&results(callback, items, custom.min, DISCARD_MESSAGE))
        }
    };
    // Serialising JSON values and strings cannot fail; the fallback keeps this total anyway.
    rendered.unwrap_or_else(|_| FALLBACK_REJECT.to_vec())
}

/// What [`render`] answers if serialisation ever failed: a generic reject, never an accidental
/// allow.
const FALLBACK_REJECT: &[u8] =
    br#"{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"hookbox could not render the answer"}"#;

/// The bare envelope, the same bytes as [`envelope`]'s map serialised, written without
/// building the map (most answers are exactly this).
struct Plain<'a> {
    code: i32,
    info: &'a str,
}

impl serde::Serialize for Plain<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(ENVELOPE_KEYS.len()))?;
        map.serialize_entry(ENVELOPE_KEYS[0], "OK")?;
        map.serialize_entry(ENVELOPE_KEYS[1], &self.code)?;
        map.serialize_entry(ENVELOPE_KEYS[2], self.info)?;
        map.end()
    }
}

fn envelope(code: i32, info: &str) -> JsonObject {
    let mut body = JsonObject::new();
    body.insert(ENVELOPE_KEYS[0].to_owned(), Value::from("OK"));
    body.insert(ENVELOPE_KEYS[1].to_owned(), Value::from(code));
    body.insert(ENVELOPE_KEYS[2].to_owned(), Value::from(info));
    body
}

/// The allow envelope plus a `ResultItem` giving every requested account `code` and `info`.
/// Without any requested account there is nothing to refuse per account: a refusal then puts
/// `code` and `info` in the envelope instead (best effort: Tencent ignores it by default).
fn results(callback: &Callback, items: &str, code: i32, info: &str) -> JsonObject {
    let accounts = modify::request_accounts(callback, items, RESULT_ACCOUNT);
    if accounts.is_empty() && code != 0 {
        return envelope(code, info);
    }
    let mut body = envelope(0, "");
    let list = accounts
        .into_iter()
        .map(|account| {
            let mut item = JsonObject::new();
            item.insert(RESULT_ACCOUNT.to_owned(), Value::from(account));
            item.insert("ResultCode".to_owned(), Value::from(code));
            item.insert("ResultInfo".to_owned(), Value::from(info));
            Value::Object(item)
        })
        .collect();
    body.insert(RESULT_ITEM.to_owned(), Value::Array(list));
    body
}
