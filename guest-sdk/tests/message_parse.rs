//! The message view reads its members with its own scan instead of a serde struct (see the
//! SDK's `json::members`). These tests hold it to what the serde structs it replaced read:
//! the same fields from the same bodies, and an error for the same broken bodies, over
//! thousands of bodies mutated byte by byte from realistic OpenIM and Tencent callbacks.

use hookbox_sdk::message::{Target, TextMessage};
use hookbox_sdk::openim::command as oc;
use hookbox_sdk::tencent::command as tc;
use hookbox_sdk::{Dialect, Event};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// What the view exposes, for comparing.
#[derive(Debug, PartialEq)]
struct Seen {
    sender: String,
    target: Target,
    message_id: Option<String>,
    sent_at_ms: Option<i64>,
    text: Option<String>,
    content_type: Option<i32>,
    element_types: Vec<String>,
}

fn seen(event: &Event) -> Option<Seen> {
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

fn openim_oracle(command: &str, body: &str) -> Option<Seen> {
    #[derive(Deserialize)]
    struct Content {
        #[serde(default)]
        content: Option<String>,
    }
    let msg: OpenImOracle = serde_json::from_str(body).ok()?;
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

fn tencent_oracle(body: &str) -> Option<Seen> {
    let msg: TencentOracle = serde_json::from_str(body).ok()?;
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

const OPENIM: &str = r#"{"sendID":"user-alice","callbackCommand":"callbackBeforeSendSingleMsgCommand","serverMsgID":"srv-7f3a","clientMsgID":"cli-91bc","operationID":"op-1","senderPlatformID":2,"senderNickname":"Alice \"A\" \u00c5","sessionType":1,"msgFrom":100,"contentType":101,"status":1,"sendTime":1767225600123,"createTime":1767225600100,"content":"{\"content\":\"hello \\\"there\\\" \u00e9\"}","seq":0,"atUserList":null,"faceURL":"https://example.com/a.png","ex":"","recvID":"user-bob","options":{"history":true,"x":[1,2.5e3,-0]}}"#;

const TENCENT: &str = r#"{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"jared","To_Account":"Jonh","MsgSeq":48374,"MsgRandom":2837546,"MsgTime":1557481126,"MsgKey":"48374_2837546_1557481126","MsgId":"","OnlineOnlyFlag":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"buy \"SPAM\""}},{"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"content"}},{"MsgType":"TIMTextElem","MsgContent":{"Text":" now"}}],"CloudCustomData":"your cloud custom data","EventTime":1670574414123}"#;

/// A small deterministic generator (xorshift), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `body` with a few bytes replaced, inserted or deleted, from an alphabet of JSON's
/// structural characters, digits, letters and escapes; still UTF-8.
fn mutate(body: &str, rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "\"", "\\", "{", "}", "[", "]", ":", ",", " ", "0", "7", "-", ".", "e", "n", "null",
        "true", "x", "\\n", "\\\"", "\\u00e9", "\u{e9}", "\t", "1.5", "\"\"", "[]", "{}", "-0",
        "0.5",
    ];
    let mut bytes = body.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        let piece = PIECES[rng.below(PIECES.len())].as_bytes();
        match rng.below(3) {
            0 => {
                bytes.splice(at..at, piece.iter().copied());
            }
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {
                let end = (at + piece.len()).min(bytes.len());
                bytes.splice(at..end, piece.iter().copied());
            }
        }
    }
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Bodies the view and the oracle may legitimately read differently: a `\u` escape that is
/// not a valid UTF-16 code unit sequence, in a member the view does not read (it checks
/// the escape's form, serde_json also its meaning; the host refuses such bodies first).
fn has_surrogate_escape(body: &str) -> bool {
    body.to_ascii_lowercase().contains("\\ud")
}

fn compare(dialect: Dialect, command: &str, seed: &str, oracle: impl Fn(&str) -> Option<Seen>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut agreed_ok, mut agreed_err) = (0, 0);
    for case in 0..6_000 {
        let body = if case == 0 {
            seed.to_owned()
        } else {
            mutate(seed, &mut rng)
        };
        if has_surrogate_escape(&body) {
            continue;
        }
        let got = seen(&Event::new(dialect, command, body.as_str()));
        let want = oracle(&body);
        assert_eq!(got, want, "case {case}: {body}");
        if got.is_some() {
            agreed_ok += 1;
        } else {
            agreed_err += 1;
        }
    }
    // Both kinds of body were exercised, not just one.
    assert!(
        agreed_ok > 500 && agreed_err > 500,
        "{agreed_ok} read, {agreed_err} refused"
    );
}

#[test]
fn openim_bodies_read_as_the_serde_struct_read_them() {
    compare(
        Dialect::OpenIm,
        oc::BEFORE_SEND_SINGLE_MSG,
        OPENIM,
        |body| openim_oracle(oc::BEFORE_SEND_SINGLE_MSG, body),
    );
}

#[test]
fn tencent_bodies_read_as_the_serde_struct_read_them() {
    compare(
        Dialect::Tencent,
        tc::C2C_BEFORE_SEND_MSG,
        TENCENT,
        tencent_oracle,
    );
}

#[test]
fn errors_name_the_command_and_the_member() {
    let err = |dialect, command, body: &str| {
        TextMessage::from_event(&Event::new(dialect, command, body))
            .unwrap_err()
            .message()
            .to_owned()
    };
    assert_eq!(
        err(Dialect::OpenIm, oc::BEFORE_MSG_MODIFY, r#"{"sendTime":-0}"#),
        "cannot parse callbackBeforeMsgModifyCommand payload: sendTime: invalid type: floating point `-0.0`, expected i64 at line 1 column 2"
    );
    assert_eq!(
        err(
            Dialect::OpenIm,
            oc::BEFORE_MSG_MODIFY,
            r#"{"contentType":"x"}"#
        ),
        "cannot parse callbackBeforeMsgModifyCommand payload: contentType: invalid type: string \"x\", expected i32 at line 1 column 3"
    );
    assert_eq!(
        err(
            Dialect::OpenIm,
            oc::BEFORE_MSG_MODIFY,
            r#"{"sendID":"a","sendID":"b"}"#
        ),
        "cannot parse callbackBeforeMsgModifyCommand payload: duplicate key \"sendID\""
    );
    assert_eq!(
        err(
            Dialect::Tencent,
            tc::C2C_BEFORE_SEND_MSG,
            r#"{"MsgBody":[1,]}"#
        ),
        "cannot parse C2C.CallbackBeforeSendMsg payload: json: expected a value at byte 14"
    );
    assert_eq!(
        err(
            Dialect::Tencent,
            tc::C2C_BEFORE_SEND_MSG,
            r#"{"MsgBody":{"a":1}}"#
        ),
        "cannot parse C2C.CallbackBeforeSendMsg payload: MsgBody: json: expected an array at byte 0"
    );
    assert_eq!(
        err(Dialect::Tencent, tc::C2C_BEFORE_SEND_MSG, "not json"),
        "cannot parse C2C.CallbackBeforeSendMsg payload: json: expected an object at byte 0"
    );
}

#[test]
fn tencent_integers_may_be_strings_and_members_may_be_null() {
    let body = r#"{"From_Account":null,"To_Account":"b","MsgTime":"1557481126","MsgBody":null,"MsgKey":null}"#;
    let msg = TextMessage::from_event(&Event::new(Dialect::Tencent, tc::C2C_AFTER_SEND_MSG, body))
        .unwrap()
        .unwrap();
    assert_eq!(msg.sender(), "");
    assert_eq!(msg.sent_at_ms(), Some(1_557_481_126_000));
    assert_eq!(msg.text(), None);
    assert!(msg.element_types().is_empty());
    assert_eq!(msg.message_id(), None);
}
