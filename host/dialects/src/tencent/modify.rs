//! Modification checks for the Tencent dialect: what a plugin may put into a before-callback's
//! answer, field by field, with the JSON shapes Tencent reads (`protocols/tencent.md` §4, §8).
//!
//! Not a message validator: `MsgContent` is checked only for the documented keys' JSON types (and
//! `Text` on a text element); unknown content keys pass, because a plugin that copies the
//! request's `MsgBody` back must not fail on a field a newer SDK added.
//!
//! The decision a reader may question: everything around the content is strict. An element key
//! other than `MsgType`/`MsgContent`, an undocumented `MsgType`, an empty `MsgBody`, a second
//! `TIMCustomElem`, or a `ResultItem` that does not answer every requested account exactly once
//! is refused here, where the plugin author sees the error, instead of being sent to Tencent,
//! whose reaction to it is undocumented.

use std::collections::HashSet;

use hookbox_model::JsonObject;
use serde_json::Value;

use super::commands::{CodeRange, FieldType, command};
use super::{ENVELOPE_KEYS, RESULT_ACCOUNT};
use crate::modify_rule::{self, Refusals};
use crate::wire;
use crate::{Callback, ModifyError};

/// A documented `MsgContent` key's JSON type.
#[derive(Clone, Copy)]
enum Content {
    Str,
    Num,
    StrList,
    ObjList,
}

use Content::{Num, ObjList, Str, StrList};

/// The documented element types and their content keys (`protocols/tencent.md` §8).
const ELEMENTS: &[(&str, &[(&str, Content)])] = &[
    ("TIMTextElem", &[("Text", Str)]),
    (
        "TIMLocationElem",
        &[("Desc", Str), ("Latitude", Num), ("Longitude", Num)],
    ),
    ("TIMFaceElem", &[("Index", Num), ("Data", Str)]),
    (
        "TIMCustomElem",
        &[("Data", Str), ("Desc", Str), ("Ext", Str), ("Sound", Str)],
    ),
    (
        "TIMSoundElem",
        &[
            ("Url", Str),
            ("UUID", Str),
            ("Size", Num),
            ("Second", Num),
            ("Download_Flag", Num),
        ],
    ),
    (
        "TIMImageElem",
        &[
            ("UUID", Str),
            ("ImageFormat", Num),
            ("ImageInfoArray", ObjList),
        ],
    ),
    (
        "TIMFileElem",
        &[
            ("Url", Str),
            ("UUID", Str),
            ("FileSize", Num),
            ("FileName", Str),
            ("Download_Flag", Num),
        ],
    ),
    (
        "TIMVideoFileElem",
        &[
            ("VideoUrl", Str),
            ("VideoUUID", Str),
            ("VideoSize", Num),
            ("VideoSecond", Num),
            ("VideoFormat", Str),
            ("VideoDownloadFlag", Num),
            ("ThumbUrl", Str),
            ("ThumbUUID", Str),
            ("ThumbSize", Num),
            ("ThumbWidth", Num),
            ("ThumbHeight", Num),
            ("ThumbFormat", Str),
            ("ThumbDownloadFlag", Num),
        ],
    ),
    (
        "TIMRelayElem",
        &[
            ("Title", Str),
            ("MsgNum", Num),
            ("CompatibleText", Str),
            ("AbstractList", StrList),
            ("MsgList", ObjList),
        ],
    ),
];

/// Content keys that must be present, per element type.
const REQUIRED_CONTENT: &[(&str, &str)] = &[("TIMTextElem", "Text")];

const MSG_TYPE: &str = "MsgType";
const MSG_CONTENT: &str = "MsgContent";
const CUSTOM_ELEM: &str = "TIMCustomElem";
const RESULT_CODE: &str = "ResultCode";
const RESULT_INFO: &str = "ResultInfo";

/// See [`super::check_modify`].
pub(super) fn check_modify(callback: &Callback, fields: &JsonObject) -> Result<(), ModifyError> {
    let command_name = &callback.event.command;
    modify_rule::check_fields(
        command_name,
        command(command_name).map(|info| info.modify),
        fields,
        |key| ENVELOPE_KEYS.iter().any(|e| e.eq_ignore_ascii_case(key)),
        &REFUSALS,
        |key, value, rule| {
            match rule.ty {
                FieldType::String => expect_string(key, value)?,
                FieldType::MsgBody => {
                    let original = callback
                        .request()
                        .get(key)
                        .and_then(Value::as_array)
                        .map_or(&[][..], Vec::as_slice);
                    check_msg_body(command_name, key, value, original)?
                }
                FieldType::AccountList {
                    items,
                    key: account,
                } => {
                    let allowed = request_accounts(callback, items, account);
                    check_account_list(key, value, &allowed)?;
                }
                FieldType::ResultItems { items, refuse } => {
                    let requested = request_accounts(callback, items, RESULT_ACCOUNT);
                    check_result_items(command_name, key, value, &requested, refuse)?;
                }
            }
            Ok(())
        },
    )
}

const REFUSALS: Refusals = Refusals {
    deny_only: "Tencent only reads allow or reject for this command",
    ignored: "an after-callback; Tencent ignores the answer",
};

/// The distinct string values of `request[items][*][key]`, in request order.
pub(super) fn request_accounts<'r>(callback: &'r Callback, items: &str, key: &str) -> Vec<&'r str> {
    let mut seen = HashSet::new();
    callback
        .request()
        .get(items)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| item.get(key).and_then(Value::as_str))
        .filter(|account| seen.insert(*account))
        .collect()
}

fn wrong_type(field: &str, expected: &'static str, value: &Value) -> ModifyError {
    ModifyError::WrongType {
        field: field.to_owned(),
        expected,
        found: wire::json_type(value),
    }
}

fn refused(field: String, reason: &'static str) -> ModifyError {
    ModifyError::Refused { field, reason }
}

fn expect_string(field: &str, value: &Value) -> Result<(), ModifyError> {
    match value {
        Value::String(_) => Ok(()),
        other => Err(wrong_type(field, "a string", other)),
    }
}

fn expect_array<'v>(
    field: &str,
    value: &'v Value,
    expected: &'static str,
) -> Result<&'v [Value], ModifyError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(wrong_type(field, expected, other)),
    }
}

fn expect_object<'v>(field: &str, value: &'v Value) -> Result<&'v JsonObject, ModifyError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(wrong_type(field, "an object", other)),
    }
}

/// `original` is the request's own `MsgBody`: an element a plugin copies back unchanged is
/// accepted whatever it holds (a newer SDK's element type, extra keys), because Tencent sent
/// it; only elements the plugin wrote itself are checked against the documented shapes.
fn check_msg_body(
    command: &str,
    field: &str,
    value: &Value,
    original: &[Value],
) -> Result<(), ModifyError> {
    let elements = expect_array(field, value, FieldType::MsgBody.expected())?;
    if elements.is_empty() {
        return Err(refused(
            field.to_owned(),
            "an empty message body; reject or discard the message instead",
        ));
    }
    let mut custom_seen = false;
    for (i, element) in elements.iter().enumerate() {
        let path = format!("{field}[{i}]");
        if original.contains(element) {
            custom_seen |= element.get(MSG_TYPE).and_then(Value::as_str) == Some(CUSTOM_ELEM);
            continue;
        }
        let map = expect_object(&path, element)?;
        if let Some(key) = map.keys().find(|k| *k != MSG_TYPE && *k != MSG_CONTENT) {
            return Err(ModifyError::UnknownField {
                command: command.to_owned(),
                field: format!("{path}.{key}"),
            });
        }
        let type_path = format!("{path}.{MSG_TYPE}");
        let msg_type = match map.get(MSG_TYPE) {
            None | Some(Value::Null) => return Err(ModifyError::MissingField { field: type_path }),
            Some(Value::String(t)) => t.as_str(),
            Some(other) => return Err(wrong_type(&type_path, "a string", other)),
        };
        let Some((_, content_rules)) = ELEMENTS.iter().find(|(name, _)| *name == msg_type) else {
            return Err(refused(
                type_path,
                "not a message element type Tencent documents (TIMTextElem, TIMLocationElem, \
                 TIMFaceElem, TIMCustomElem, TIMSoundElem, TIMImageElem, TIMFileElem, \
                 TIMVideoFileElem, TIMRelayElem)",
            ));
        };
        if msg_type == CUSTOM_ELEM {
            if custom_seen {
                return Err(refused(
                    type_path,
                    "a message may contain at most one TIMCustomElem",
                ));
            }
            custom_seen = true;
        }
        let content_path = format!("{path}.{MSG_CONTENT}");
        let content = match map.get(MSG_CONTENT) {
            None | Some(Value::Null) => {
                return Err(ModifyError::MissingField {
                    field: content_path,
                });
            }
            Some(value) => expect_object(&content_path, value)?,
        };
        for (name, kind) in content_rules.iter() {
            let key_path = format!("{content_path}.{name}");
            match content.get(*name) {
                None => {
                    if REQUIRED_CONTENT.contains(&(msg_type, *name)) {
                        return Err(ModifyError::MissingField { field: key_path });
                    }
                }
                Some(value) => check_content(&key_path, *kind, value)?,
            }
        }
    }
    Ok(())
}

fn check_content(path: &str, kind: Content, value: &Value) -> Result<(), ModifyError> {
    match (kind, value) {
        (Str, Value::String(_)) | (Num, Value::Number(_)) => Ok(()),
        (Str, other) => Err(wrong_type(path, "a string", other)),
        (Num, other) => Err(wrong_type(path, "a number", other)),
        (StrList, value) => {
            for (i, item) in expect_array(path, value, "an array of strings")?
                .iter()
                .enumerate()
            {
                expect_string(&format!("{path}[{i}]"), item)?;
            }
            Ok(())
        }
        (ObjList, value) => {
            for (i, item) in expect_array(path, value, "an array of objects")?
                .iter()
                .enumerate()
            {
                expect_object(&format!("{path}[{i}]"), item)?;
            }
            Ok(())
        }
    }
}

fn check_account_list(field: &str, value: &Value, allowed: &[&str]) -> Result<(), ModifyError> {
    let accounts = expect_array(field, value, "an array of account strings")?;
    for (i, account) in accounts.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let Value::String(account) = account else {
            return Err(wrong_type(&path, "a string", account));
        };
        if !allowed.contains(&account.as_str()) {
            return Err(refused(path, "not one of the accounts the request names"));
        }
    }
    Ok(())
}

fn check_result_items(
    command: &str,
    field: &str,
    value: &Value,
    requested: &[&str],
    refuse: CodeRange,
) -> Result<(), ModifyError> {
    let items = expect_array(field, value, "an array of result objects")?;
    let mut answered: HashSet<&str> = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let map = expect_object(&path, item)?;
        if let Some(key) = map
            .keys()
            .find(|k| ![RESULT_ACCOUNT, RESULT_CODE, RESULT_INFO].contains(&k.as_str()))
        {
            return Err(ModifyError::UnknownField {
                command: command.to_owned(),
                field: format!("{path}.{key}"),
            });
        }
        let account_path = format!("{path}.{RESULT_ACCOUNT}");
        let account = match map.get(RESULT_ACCOUNT) {
            None | Some(Value::Null) => {
                return Err(ModifyError::MissingField {
                    field: account_path,
                });
            }
            Some(Value::String(account)) => account.as_str(),
            Some(other) => return Err(wrong_type(&account_path, "a string", other)),
        };
        if !requested.contains(&account) {
            return Err(refused(
                account_path,
                "not one of the accounts the request names",
            ));
        }
        if !answered.insert(account) {
            return Err(refused(account_path, "answers the same account twice"));
        }
        let code_path = format!("{path}.{RESULT_CODE}");
        match map.get(RESULT_CODE) {
            None | Some(Value::Null) => {
                return Err(ModifyError::MissingField { field: code_path });
            }
            Some(Value::Number(n)) if n.as_i64().is_some() || n.as_u64().is_some() => {
                let allowed = n
                    .as_i64()
                    .and_then(|c| i32::try_from(c).ok())
                    .is_some_and(|c| c == 0 || refuse.contains(c));
                if !allowed {
                    return Err(refused(
                        code_path,
                        "must be 0 (allow) or between 38000 and 39000 (refuse)",
                    ));
                }
            }
            Some(other) => return Err(wrong_type(&code_path, "an integer", other)),
        }
        let info_path = format!("{path}.{RESULT_INFO}");
        match map.get(RESULT_INFO) {
            None | Some(Value::Null) => {
                return Err(ModifyError::MissingField { field: info_path });
            }
            Some(value) => expect_string(&info_path, value)?,
        }
    }
    if requested.iter().any(|account| !answered.contains(account)) {
        return Err(refused(
            field.to_owned(),
            "must answer every account the request names (Tencent requires one result each)",
        ));
    }
    Ok(())
}
