//! What the SDK's message view read through the serde structs it used before ADR 020: the
//! oracle `message_parse.rs` and the `message_view` fuzz target hold the view to. Shared by
//! path, so the two cannot drift apart.

use hookbox_sdk::Event;
use hookbox_sdk::message::{Target, TextMessage};
use hookbox_sdk::openim::command as oc;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// What the view exposes, for comparing.
#[derive(Debug, PartialEq)]
pub(crate) struct Seen {
    sender: String,
    target: Target,
    message_id: Option<String>,
    sent_at_ms: Option<i64>,
    text: Option<String>,
    content_type: Option<i32>,
    element_types: Vec<String>,
}

pub(crate) fn seen(event: &Event) -> Option<Seen> {
    let msg = TextMessage::from_event(event).ok()??;
    Some(Seen {
        sender: msg.sender().to_owned(),
        target: msg.target().clone(),
        message_id: msg.message_id().map(str::to_owned),
        sent_at_ms: msg.sent_at_ms(),
        text: msg.text().map(str::to_owned),
        content_type: msg.content_type(),
        element_types: msg.element_types().into_iter().map(str::to_owned).collect(),
    })
}

fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The OpenIM struct the view used to read, and how it derived what it shows.
#[derive(Deserialize)]
struct OpenImOracle {
    #[serde(rename = "sendID", default, deserialize_with = "nullable")]
    send_id: String,
    #[serde(rename = "clientMsgID", default, deserialize_with = "nullable")]
    client_msg_id: String,
    #[serde(rename = "sessionType", default, deserialize_with = "nullable")]
    session_type: i32,
    #[serde(rename = "contentType", default, deserialize_with = "nullable")]
    content_type: i32,
    #[serde(rename = "content", default, deserialize_with = "nullable")]
    content: String,
    #[serde(rename = "recvID", default, deserialize_with = "nullable")]
    recv_id: String,
    #[serde(rename = "groupID", default, deserialize_with = "nullable")]
    group_id: String,
    #[serde(rename = "sendTime", default, deserialize_with = "nullable")]
    send_time: i64,
}

/// `body` read into the struct `T`, if it is a JSON object. A derived struct also reads a
/// JSON array, field by field in order; no callback body is one, the host refuses them, and
/// the view does not take them.
fn from_object<T: serde::de::DeserializeOwned>(body: &str) -> Option<T> {
    let json_whitespace = [' ', '\t', '\n', '\r'];
    if !body.trim_start_matches(json_whitespace).starts_with('{') {
        return None;
    }
    serde_json::from_str(body).ok()
}

pub(crate) fn openim_oracle(command: &str, body: &str) -> Option<Seen> {
    #[derive(Deserialize)]
    struct Content {
        #[serde(default)]
        content: Option<String>,
    }
    let msg: OpenImOracle = from_object(body)?;
    let target = match command {
        oc::BEFORE_SEND_SINGLE_MSG | oc::AFTER_SEND_SINGLE_MSG => Target::User(msg.recv_id),
        oc::BEFORE_SEND_GROUP_MSG => Target::Group(msg.group_id),
        oc::AFTER_MSG_SAVE_DB if msg.session_type == 3 => Target::Group(msg.group_id),
        oc::AFTER_MSG_SAVE_DB => Target::User(msg.recv_id),
        _ => Target::Unknown,
    };
    let text = match msg.content_type {
        101 => serde_json::from_str::<Content>(&msg.content)
            .ok()
            .and_then(|c| c.content),
        _ => None,
    };
    Some(Seen {
        sender: msg.send_id,
        target,
        message_id: Some(msg.client_msg_id).filter(|id| !id.is_empty()),
        sent_at_ms: (msg.send_time > 0).then_some(msg.send_time),
        text,
        content_type: Some(msg.content_type),
        element_types: Vec::new(),
    })
}

/// The Tencent struct the view used to read (strings and `MsgBody` `null`-tolerant,
/// `MsgTime` also from a string).
#[derive(Deserialize)]
struct TencentOracle {
    #[serde(rename = "From_Account", default, deserialize_with = "nullable")]
    from_account: String,
    #[serde(rename = "To_Account", default, deserialize_with = "nullable")]
    to_account: String,
    #[serde(rename = "GroupId", default, deserialize_with = "nullable")]
    _group_id: String,
    #[serde(rename = "MsgKey", default, deserialize_with = "nullable")]
    msg_key: String,
    #[serde(rename = "MsgId", default, deserialize_with = "nullable")]
    msg_id: String,
    #[serde(rename = "MsgBody", default, deserialize_with = "nullable")]
    msg_body: Vec<Box<RawValue>>,
    #[serde(rename = "MsgTime", default)]
    msg_time: Option<serde_json::Value>,
}

/// `MsgTime` as the SDK's tolerant integers read it: a number (integral floats too), a
/// decimal string, `null` or `""`.
fn tolerant_i64(value: Option<&serde_json::Value>) -> Option<i64> {
    use serde_json::Value;
    match value {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (n.as_u64().is_none() && f.fract() == 0.0 && f.abs() < 18_446_744_073_709_551_616.0)
                .then(|| i64::try_from(f as i128).ok())?
        }),
        Some(Value::String(s)) if s.trim().is_empty() => Some(0),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i128>()
            .ok()
            .and_then(|n| i64::try_from(n).ok()),
        Some(_) => None,
    }
}

/// An element's `MsgType` and typed text, as the view reads them: the text of an element
/// with exactly the keys `MsgType: "TIMTextElem"` and an object `MsgContent` whose `Text` is
/// a string.
fn peek(element: &str) -> (String, Option<String>) {
    struct Fields(Vec<(String, Box<RawValue>)>);
    impl<'de> Deserialize<'de> for Fields {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Fields;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Fields, A::Error> {
                    let mut fields = Vec::new();
                    while let Some(entry) = map.next_entry()? {
                        fields.push(entry);
                    }
                    Ok(Fields(fields))
                }
            }
            d.deserialize_map(V)
        }
    }
    #[derive(Deserialize)]
    struct Text {
        #[serde(rename = "Text")]
        text: String,
    }
    let Ok(Fields(fields)) = serde_json::from_str::<Fields>(element) else {
        return (String::new(), None);
    };
    let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.get());
    let kind: String = get("MsgType")
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let text = match (fields.len(), get("MsgType"), get("MsgContent")) {
        (2, Some(_), Some(content)) if kind == "TIMTextElem" && content.starts_with('{') => {
            serde_json::from_str::<Text>(content).ok().map(|t| t.text)
        }
        _ => None,
    };
    (kind, text)
}

pub(crate) fn tencent_oracle(body: &str) -> Option<Seen> {
    let msg: TencentOracle = from_object(body)?;
    let msg_time = tolerant_i64(msg.msg_time.as_ref())?;
    let elements: Vec<(String, Option<String>)> =
        msg.msg_body.iter().map(|raw| peek(raw.get())).collect();
    let texts: Vec<&str> = elements.iter().filter_map(|(_, t)| t.as_deref()).collect();
    Some(Seen {
        sender: msg.from_account,
        target: Target::User(msg.to_account),
        message_id: Some(msg.msg_key)
            .filter(|k| !k.is_empty())
            .or_else(|| Some(msg.msg_id).filter(|k| !k.is_empty())),
        sent_at_ms: (msg_time > 0).then(|| msg_time.saturating_mul(1000)),
        text: (!texts.is_empty()).then(|| texts.concat()),
        content_type: None,
        element_types: elements.into_iter().map(|(kind, _)| kind).collect(),
    })
}

/// Bodies the view and the oracle may legitimately read differently: a `\u` escape that is
/// not a valid UTF-16 code unit sequence, in a member the view does not read (it checks
/// the escape's form, serde_json also its meaning; the host refuses such bodies first).
pub(crate) fn has_surrogate_escape(body: &str) -> bool {
    body.to_ascii_lowercase().contains("\\ud")
}
