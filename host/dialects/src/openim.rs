//! The OpenIM Server dialect: parse OpenIM's webhook requests ("callbacks") and render verdicts
//! into the response envelope OpenIM decodes. The wire protocol is described in
//! `protocols/openim.md`; [`COMMANDS`] is its command table.
//!
//! What it is not: no HTTP handling (the server extracts path, query, headers and body into an
//! [`Inbound`]), no signature check (the open-source OpenIM server signs nothing; put a secret in
//! the URL path), no per-command request validation (plugins get the original bytes).
//!
//! # Requests
//! * **Command**: the URL path segment (OpenIM ≥ 3.4.2 posts to `{url}/{command}`), else the
//!   legacy `?command=` query parameter (OpenIM ≤ 3.4.0), else the body's `callbackCommand`.
//!   Every source present must agree; a body without `callbackCommand` (older servers) is fine.
//!   An empty path segment counts as absent.
//! * **Body**: UTF-8, a JSON object, at most 64 levels deep, no object with a key twice.
//!   OpenIM's bodies are HTML-escaped and end with `\n`; `Event::payload` is the body unchanged.
//! * **Metadata**: `operationID` from the `Operationid` header (any case), else from the body's
//!   top-level `operationID` (any case); `key` (the percent-decoded, still base64 query parameter)
//!   for the three after-send commands that carry it.
//! * **Unknown commands** (OpenIM adds some between releases) parse with `known = false`. Their
//!   phase is guessed from the name: [`Phase::After`] if it contains `After`, else
//!   [`Phase::Before`]; the server answers them with an allow either way, and no modification is
//!   accepted for them.
//!
//! # Answers
//! Every answer starts with OpenIM's five envelope keys, in this order, compact JSON:
//! * allow: `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}`
//! * reject: `{"actionCode":0,"errCode":C,"errMsg":M,"errDlt":D,"nextCode":1}`. This is the only
//!   deny encoding every OpenIM 3.x reads as a deny; a code of 0 becomes
//!   [`DEFAULT_REJECT_CODE`] (a deny with `errCode: 0` is untested territory in OpenIM).
//! * modify: the allow envelope, then the plugin's fields in the plugin's order (envelope keys in
//!   the plugin's object are dropped; [`check_modify`] refuses them earlier).
//! * Set-group-info before-callbacks: OpenIM overwrites the group's fields with the answer's, so
//!   allow and modify answers echo the request's values ([`CommandInfo::echo`]); the plugin's
//!   fields override the echoes, except `groupID`.
//!
//! The decision a reader may question: **discard is rendered as a reject** with
//! [`DEFAULT_REJECT_CODE`] and `errMsg` `"discarded by policy"`. OpenIM has no "drop silently and
//! tell the sender it worked"; allowing would deliver what a plugin wanted dropped, so the safe
//! reading of discard is a refusal.

mod commands;
mod delivery;

pub use commands::{COMMANDS, CommandInfo, FieldRule, FieldType, ModifyRule, Requirement, command};
pub(crate) use delivery::delivery_keys;

use hookbox_model::{DialectKind, Event, JsonObject, Phase, Verdict};
use serde_json::Value;

use crate::modify_rule::{self, Refusals};
use crate::wire::{self, Field, ObjectBody};
use crate::{Callback, DialectError, Inbound, ModifyError};

/// The error code a reject carries when the plugin gave 0, and the code of a discard.
pub const DEFAULT_REJECT_CODE: i32 = 5000;

/// `errMsg` of a discard.
pub const DISCARD_MESSAGE: &str = "discarded by policy";

/// The metadata key (and OpenIM header/body name) of the operation id.
pub const OPERATION_ID: &str = "operationID";

/// The metadata key (and query parameter) of the after-send message key.
pub const KEY: &str = "key";

/// The body key that carries the command.
pub const COMMAND_FIELD: &str = "callbackCommand";

/// The legacy query parameter that carries the command (OpenIM ≤ 3.4.0).
pub const COMMAND_QUERY: &str = "command";

/// The five envelope keys OpenIM decodes, in the order they are written.
pub const ENVELOPE_KEYS: [&str; 5] = ["actionCode", "errCode", "errMsg", "errDlt", "nextCode"];

/// Parses one OpenIM callback request.
pub fn parse(inbound: &Inbound<'_>) -> Result<Callback, DialectError> {
    let body = wire::parse_object_body(inbound.body)?;

    let name = resolve_command(inbound, &body)?;
    let info = command(&name);
    let phase = phase_from(info, &name);

    let mut metadata = Vec::new();
    if let Some(op) = header_operation_id(inbound.headers).or_else(|| body_operation_id(&body)) {
        metadata.push((OPERATION_ID.to_owned(), op));
    }
    if info.is_some_and(|i| i.key_query)
        && let Some(key) = first_query_value(inbound.query, KEY)
    {
        metadata.push((KEY.to_owned(), key));
    }

    let event = Event {
        dialect: DialectKind::Openim,
        command: name,
        payload: body.text.to_owned(),
        metadata,
    };
    Ok(Callback::new(event, phase, info.is_some(), None))
}

/// Whether OpenIM waits for the answer to `command`: the table's phase, else (a command
/// newer than the table) [`Phase::After`] if the name contains `After`.
pub fn phase_of(command: &str) -> Phase {
    phase_from(self::command(command), command)
}

/// [`phase_of`] for a command already looked up in the table.
fn phase_from(info: Option<&CommandInfo>, command: &str) -> Phase {
    match info {
        Some(info) => info.phase,
        None if command.contains("After") => Phase::After,
        None => Phase::Before,
    }
}

/// Where a command came from, for mismatch errors.
struct Source {
    name: &'static str,
    command: String,
}

fn resolve_command(inbound: &Inbound<'_>, body: &ObjectBody<'_>) -> Result<String, DialectError> {
    let mut sources: Vec<Source> = Vec::with_capacity(3);
    if let Some(path) = inbound.path_command.filter(|p| !p.is_empty()) {
        sources.push(checked("path", path.to_owned())?);
    }
    if let Some(query) = inbound.query {
        for value in wire::query_values(query, COMMAND_QUERY) {
            let value = value.map_err(|raw| DialectError::InvalidCommand {
                command: wire::excerpt(raw),
            })?;
            sources.push(checked("query", value)?);
        }
    }
    if let Some(command) = body.command(COMMAND_FIELD)? {
        sources.push(checked("body", command.to_owned())?);
    }
    let mut sources = sources.into_iter();
    let Some(first) = sources.next() else {
        return Err(DialectError::MissingCommand);
    };
    for other in sources {
        if other.command != first.command {
            return Err(DialectError::CommandMismatch {
                first_source: first.name,
                first: wire::excerpt(&first.command),
                second_source: other.name,
                second: wire::excerpt(&other.command),
            });
        }
    }
    Ok(first.command)
}

fn checked(name: &'static str, command: String) -> Result<Source, DialectError> {
    if wire::is_valid_command(&command) {
        Ok(Source { name, command })
    } else {
        Err(DialectError::InvalidCommand {
            command: wire::excerpt(&command),
        })
    }
}

fn header_operation_id(headers: &http::HeaderMap) -> Option<String> {
    // HeaderMap names are case-insensitive: this matches OpenIM's `Operationid`.
    let value = headers.get(OPERATION_ID)?;
    let text = std::str::from_utf8(value.as_bytes()).ok()?;
    (!text.is_empty()).then(|| text.to_owned())
}

fn body_operation_id(body: &ObjectBody<'_>) -> Option<String> {
    let value = match body.field(OPERATION_ID) {
        Some(exact) => exact,
        None => body
            .fields()
            .find(|(k, _)| k.eq_ignore_ascii_case(OPERATION_ID))
            .map(|(_, v)| v)?,
    };
    match value {
        Field::Text(s) if !s.is_empty() => Some(s.clone().into_owned()),
        _ => None,
    }
}

fn first_query_value(query: Option<&str>, name: &str) -> Option<String> {
    wire::query_values(query?, name)
        .find_map(Result::ok)
        .filter(|v| !v.is_empty())
}

/// Checks that OpenIM can apply `fields` as the modification of `callback` without failing the
/// user's action: only fields the command applies, each with the JSON type OpenIM decodes, never
/// an envelope key. An empty object is always acceptable (it means allow).
pub fn check_modify(callback: &Callback, fields: &JsonObject) -> Result<(), ModifyError> {
    let command_name = &callback.event.command;
    modify_rule::check_fields(
        command_name,
        command(command_name).map(|info| info.modify),
        fields,
        |key| ENVELOPE_KEYS.iter().any(|e| go_decodes_as(key, e)),
        &REFUSALS,
        |key, value, rule| {
            check_value(command_name, key, rule.ty, value)?;
            if rule.requirement == Requirement::NonNullInRequest
                && !value.is_null()
                && callback.request().get(key).is_none_or(Value::is_null)
            {
                return Err(ModifyError::NotInRequest { field: key.clone() });
            }
            Ok(())
        },
    )
}

const REFUSALS: Refusals = Refusals {
    deny_only: "OpenIM only reads allow or reject",
    ignored: "an after-callback; OpenIM ignores the answer",
};

fn wrong_type(path: &str, ty: FieldType, value: &Value) -> ModifyError {
    ModifyError::WrongType {
        field: path.to_owned(),
        expected: ty.expected(),
        found: wire::json_type(value),
    }
}

fn check_value(command: &str, path: &str, ty: FieldType, value: &Value) -> Result<(), ModifyError> {
    let nullable = !matches!(
        ty,
        FieldType::String | FieldType::Int32 | FieldType::Int64 | FieldType::Bool
    );
    if value.is_null() && nullable && !matches!(ty, FieldType::Refused(_)) {
        return Ok(());
    }
    match (ty, value) {
        (FieldType::Refused(reason), _) => Err(ModifyError::Refused {
            field: path.to_owned(),
            reason,
        }),
        (FieldType::String | FieldType::NullableString, Value::String(_)) => Ok(()),
        (FieldType::Bool | FieldType::NullableBool, Value::Bool(_)) => Ok(()),
        (FieldType::Int32 | FieldType::NullableInt32, Value::Number(n)) => check_int(
            path,
            ty,
            value,
            n.as_i64(),
            i32::MIN.into(),
            i32::MAX.into(),
        ),
        (FieldType::Int64 | FieldType::NullableInt64, Value::Number(n)) => {
            check_int(path, ty, value, n.as_i64(), i64::MIN, i64::MAX)
        }
        (FieldType::StringList, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_string() {
                    return Err(ModifyError::WrongType {
                        field: format!("{path}[{i}]"),
                        expected: "a string",
                        found: wire::json_type(item),
                    });
                }
            }
            Ok(())
        }
        (FieldType::BoolMap, Value::Object(map)) => {
            for (k, v) in map {
                if !v.is_boolean() {
                    return Err(ModifyError::WrongType {
                        field: format!("{path}.{k}"),
                        expected: "a boolean",
                        found: wire::json_type(v),
                    });
                }
            }
            Ok(())
        }
        (FieldType::JsonObjectText, Value::String(text)) => {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(_)) => Ok(()),
                _ => Err(ModifyError::NotJsonObjectText {
                    field: path.to_owned(),
                }),
            }
        }
        (FieldType::Object(rules), Value::Object(map)) => check_object(command, path, rules, map),
        (FieldType::ObjectList(rules), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                match item {
                    Value::Object(map) => check_object(command, &item_path, rules, map)?,
                    other => {
                        return Err(ModifyError::WrongType {
                            field: item_path,
                            expected: "an object",
                            found: wire::json_type(other),
                        });
                    }
                }
            }
            Ok(())
        }
        _ => Err(wrong_type(path, ty, value)),
    }
}

fn check_int(
    path: &str,
    ty: FieldType,
    value: &Value,
    int: Option<i64>,
    min: i64,
    max: i64,
) -> Result<(), ModifyError> {
    match int {
        Some(i) if (min..=max).contains(&i) => Ok(()),
        Some(_) => Err(ModifyError::OutOfRange {
            field: path.to_owned(),
            min,
            max,
        }),
        // A u64 above i64::MAX is an integer, just too big; a float is the wrong type.
        None if value.as_u64().is_some() => Err(ModifyError::OutOfRange {
            field: path.to_owned(),
            min,
            max,
        }),
        None => Err(wrong_type(path, ty, value)),
    }
}

fn check_object(
    command: &str,
    path: &str,
    rules: &[FieldRule],
    map: &JsonObject,
) -> Result<(), ModifyError> {
    for (key, value) in map {
        let field_path = format!("{path}.{key}");
        let Some(rule) = rules.iter().find(|r| r.name == key) else {
            return Err(ModifyError::UnknownField {
                command: command.to_owned(),
                field: field_path,
            });
        };
        check_value(command, &field_path, rule.ty, value)?;
    }
    for rule in rules {
        if rule.requirement == Requirement::Required
            && map.get(rule.name).is_none_or(Value::is_null)
        {
            return Err(ModifyError::MissingField {
                field: format!("{path}.{}", rule.name),
            });
        }
    }
    Ok(())
}

/// Whether Go's `encoding/json` decodes the JSON key `key` into the struct field named `field`
/// (an ASCII name). It matches keys with `bytes.EqualFold`, which besides ASCII case also folds
/// U+017F (ſ) to `s` and U+212A (Kelvin sign) to `k`: `errMſg` fills `errMsg`.
fn go_decodes_as(key: &str, field: &str) -> bool {
    let folded = key.chars().map(|c| match c {
        '\u{017F}' => 's',
        '\u{212A}' => 'k',
        c => c.to_ascii_lowercase(),
    });
    folded.eq(field.chars().map(|c| c.to_ascii_lowercase()))
}

/// Renders `verdict` as the exact response body OpenIM decodes for `callback`.
///
/// `render` does not judge a modification (call [`check_modify`] first); it only keeps the
/// envelope intact: plugin keys that match an envelope key (in any case, as Go decodes them) are
/// dropped, and on echoing commands the request's `groupID` always wins.
pub fn render(callback: &Callback, verdict: &Verdict) -> Vec<u8> {
    let info = command(&callback.event.command);
    let echo = info.map_or(&[][..], |i| i.echo);
    let unmodified = |code: i32, message: &str, detail: &str, next: i32, echo: &[&str]| {
        serde_json::to_vec(&Unmodified {
            code,
            message,
            detail,
            next,
            echo,
            callback,
        })
    };
    let rendered = match verdict {
        Verdict::Allow if echo.is_empty() => return ALLOW_WITHOUT_ECHO.to_vec(),
        Verdict::Allow => unmodified(0, "", "", 0, echo),
        Verdict::Modify(fields) => {
            let mut body = envelope(0, "", "", 0);
            push_echo(&mut body, callback, echo);
            for (key, value) in fields {
                if ENVELOPE_KEYS.iter().any(|e| go_decodes_as(key, e)) {
                    continue;
                }
                match echo.iter().find(|e| go_decodes_as(key, e)) {
                    Some(&"groupID") => {}
                    Some(&echoed) => {
                        body.insert(echoed.to_owned(), value.clone());
                    }
                    None => {
                        body.insert(key.clone(), value.clone());
                    }
                }
            }
            serde_json::to_vec(&body)
        }
        Verdict::Reject(rejection) => {
            let code = if rejection.code == 0 {
                DEFAULT_REJECT_CODE
            } else {
                rejection.code
            };
            unmodified(code, &rejection.message, &rejection.detail, 1, &[])
        }
        Verdict::Discard => unmodified(DEFAULT_REJECT_CODE, DISCARD_MESSAGE, "", 1, &[]),
    };
    // Serialising JSON values and strings cannot fail; the fallback keeps this total anyway.
    rendered.unwrap_or_else(|_| FALLBACK_REJECT.to_vec())
}

/// The allow envelope of a command that echoes nothing, the answer to most callbacks, as
/// [`Unmodified`] serialises it (a test holds it to that): written out once rather than
/// serialised per call (~1.2k instructions).
const ALLOW_WITHOUT_ECHO: &[u8] =
    br#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}"#;

/// What [`render`] answers if serialisation ever failed: a reject, never an accidental allow.
const FALLBACK_REJECT: &[u8] =
    br#"{"actionCode":0,"errCode":5000,"errMsg":"hookbox could not render the answer","errDlt":"","nextCode":1}"#;

fn envelope(code: i32, message: &str, detail: &str, next: i32) -> JsonObject {
    let mut body = JsonObject::new();
    body.insert(ENVELOPE_KEYS[0].to_owned(), Value::from(0));
    body.insert(ENVELOPE_KEYS[1].to_owned(), Value::from(code));
    body.insert(ENVELOPE_KEYS[2].to_owned(), Value::from(message));
    body.insert(ENVELOPE_KEYS[3].to_owned(), Value::from(detail));
    body.insert(ENVELOPE_KEYS[4].to_owned(), Value::from(next));
    body
}

/// An answer with no plugin fields in it: the envelope, then the request's `echo` fields,
/// the same bytes [`envelope`] and [`push_echo`] would build, written without building a
/// map (building one cost ~4k instructions per allowed message, ~4 % of the whole request). No echo
/// field is an envelope key (a test checks the table), so no key is written twice.
struct Unmodified<'a> {
    code: i32,
    message: &'a str,
    detail: &'a str,
    next: i32,
    echo: &'a [&'a str],
    callback: &'a Callback,
}

impl serde::Serialize for Unmodified<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(ENVELOPE_KEYS[0], &0)?;
        map.serialize_entry(ENVELOPE_KEYS[1], &self.code)?;
        map.serialize_entry(ENVELOPE_KEYS[2], self.message)?;
        map.serialize_entry(ENVELOPE_KEYS[3], self.detail)?;
        map.serialize_entry(ENVELOPE_KEYS[4], &self.next)?;
        // Only the echoing commands read the request: the others never build its value.
        for &key in self.echo {
            if let Some(value) = self.callback.request().get(key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

fn push_echo(body: &mut JsonObject, callback: &Callback, echo: &[&str]) {
    for &key in echo {
        if let Some(value) = callback.request().get(key) {
            body.insert(key.to_owned(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_out_allow_is_what_serialising_gives() {
        for info in COMMANDS.iter().filter(|info| info.echo.is_empty()) {
            let body = format!(r#"{{"callbackCommand":"{}","sendID":"u1"}}"#, info.name);
            let callback = parse(&Inbound {
                path_command: Some(info.name),
                query: None,
                headers: &http::HeaderMap::new(),
                body: body.as_bytes(),
            })
            .expect("a callback");
            let serialised = serde_json::to_vec(&Unmodified {
                code: 0,
                message: "",
                detail: "",
                next: 0,
                echo: &[],
                callback: &callback,
            })
            .expect("serialises");
            assert_eq!(ALLOW_WITHOUT_ECHO, serialised, "{}", info.name);
            assert_eq!(
                render(&callback, &Verdict::Allow),
                serialised,
                "{}",
                info.name
            );
        }
    }
}
