//! One view of a chat message for both dialects: who sent it to whom, its text, and the verdict
//! that changes that text, whatever IM server sent the callback.
//!
//! ```
//! # use hookbox_sdk::prelude::*;
//! # use hookbox_sdk::message::{MessagePhase, Target, TextMessage};
//! let event = Event::new(
//!     Dialect::Tencent,
//!     "C2C.CallbackBeforeSendMsg",
//!     r#"{"From_Account":"jared","To_Account":"Jonh","MsgKey":"1_2_3","MsgBody":[
//!         {"MsgType":"TIMTextElem","MsgContent":{"Text":"buy spam"}},
//!         {"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"content"}}]}"#,
//! );
//! let msg = TextMessage::from_event(&event)?.expect("a message callback");
//! assert_eq!(msg.phase(), MessagePhase::BeforeSend);
//! assert!(msg.can_modify());
//! assert_eq!((msg.sender(), msg.target()), ("jared", &Target::User("Jonh".into())));
//! assert_eq!(msg.text(), Some("buy spam"));
//! assert_eq!(
//!     msg.map_text(|t| Some(t.replace("spam", "***")))?,
//!     Verdict::Modify(concat!(
//!         r#"{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"buy ***"}},"#,
//!         r#"{"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"content"}}]}"#,
//!     ).into())
//! );
//! # Ok::<(), hookbox_sdk::Error>(())
//! ```
//!
//! A plugin for both servers, from one `.wasm`:
//!
//! ```no_run
//! use hookbox_sdk::message::{MessagePhase, TextMessage};
//! use hookbox_sdk::prelude::*;
//!
//! struct NoForbidden;
//!
//! impl Plugin for NoForbidden {
//!     fn handle(event: Event) -> Result<Verdict, Error> {
//!         let Some(msg) = TextMessage::from_event(&event)? else {
//!             return Ok(Verdict::allow()); // not a message callback
//!         };
//!         if !msg.text().is_some_and(|t| t.contains("forbidden")) {
//!             return Ok(Verdict::allow());
//!         }
//!         if msg.can_modify() {
//!             // OpenIM msg-modify: new content; Tencent before-send: new MsgBody.
//!             return msg.map_text(|t| Some(t.replace("forbidden", "***")));
//!         }
//!         match msg.phase() {
//!             // 5001 for OpenIM; 120001 (C2C) / 10100 (group) for Tencent.
//!             MessagePhase::BeforeSend => Ok(msg.reject(5001, "not in this chat")),
//!             _ => Ok(Verdict::allow()),
//!         }
//!     }
//! }
//!
//! hookbox_sdk::export_plugin!(NoForbidden);
//! ```
//!
//! What it covers ([`MessagePhase::of`]): OpenIM's before-send, msg-modify, after-send and
//! after-save-to-DB callbacks, and Tencent's C2C and group before-send and after-send. What it
//! is not: a full body (use [`crate::openim`] / [`crate::tencent`] for every field), and not a
//! message editor beyond the text: pictures, files and custom elements are read-only here.
//!
//! The text is the user-typed text: for OpenIM the `content`/`text` of text-like content types
//! (see [`crate::openim::text_of`]); for Tencent the `Text` of every `TIMTextElem`,
//! concatenated in order with no separator. Where a change is possible it is answered in the
//! dialect's own terms: OpenIM's msg-modify callback gets a new `content` (other content fields,
//! such as an @-message's `atUserList`, kept), Tencent's before-send gets a new `MsgBody` in
//! which only the `Text` of text elements differs and every other element, and every other key
//! of a text element, is copied byte for byte from the request.
//!
//! The decision a reader may question: **Tencent text is edited per element, not as the joined
//! string**. [`TextMessage::map_text`] calls the function once per `TIMTextElem` so that faces,
//! images and custom elements stay where they were between the texts; a match that spans two
//! text elements is therefore invisible to it (the joined [`TextMessage::text`] still shows it,
//! so a filter can check both, as `keyword-filter` does). [`TextMessage::replace_text`], which
//! sets the whole text, puts it into the first text element and drops the other text elements.

use serde_json::value::RawValue;

use crate::json::{Raw, RawFields, Tolerant, keep, raw_string, visit_elements, visit_members};
use crate::openim::{self, content_type};
use crate::tencent;
use crate::{Dialect, Error, Event, Verdict};

/// Where in a message's life a callback comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessagePhase {
    /// Before the message is sent; it may be rejected. OpenIM
    /// `callbackBeforeSend{Single,Group}MsgCommand` (reject only), Tencent
    /// `C2C.CallbackBeforeSendMsg` / `Group.CallbackBeforeSendMsg` (reject, discard, or change
    /// the body: Tencent has no separate modify callback).
    BeforeSend,
    /// OpenIM `callbackBeforeMsgModifyCommand`: after the before-send check, the message may
    /// be changed.
    BeforeModify,
    /// After the message was sent: OpenIM `callbackAfterSend{Single,Group}MsgCommand`, Tencent
    /// `C2C.CallbackAfterSendMsg` / `Group.CallbackAfterSendMsg`. The answer is ignored.
    AfterSend,
    /// OpenIM `callbackAfterMsgSaveDBCommand`: after the message was stored.
    AfterSave,
}

/// The commands the view covers, with their phases.
const COVERED: [(Dialect, &str, MessagePhase); 10] = {
    use MessagePhase::{AfterSave, AfterSend, BeforeModify, BeforeSend};
    [
        (
            Dialect::OpenIm,
            openim::command::BEFORE_SEND_SINGLE_MSG,
            BeforeSend,
        ),
        (
            Dialect::OpenIm,
            openim::command::BEFORE_SEND_GROUP_MSG,
            BeforeSend,
        ),
        (
            Dialect::OpenIm,
            openim::command::BEFORE_MSG_MODIFY,
            BeforeModify,
        ),
        (
            Dialect::OpenIm,
            openim::command::AFTER_SEND_SINGLE_MSG,
            AfterSend,
        ),
        (
            Dialect::OpenIm,
            openim::command::AFTER_SEND_GROUP_MSG,
            AfterSend,
        ),
        (
            Dialect::OpenIm,
            openim::command::AFTER_MSG_SAVE_DB,
            AfterSave,
        ),
        (
            Dialect::Tencent,
            tencent::command::C2C_BEFORE_SEND_MSG,
            BeforeSend,
        ),
        (
            Dialect::Tencent,
            tencent::command::GROUP_BEFORE_SEND_MSG,
            BeforeSend,
        ),
        (
            Dialect::Tencent,
            tencent::command::C2C_AFTER_SEND_MSG,
            AfterSend,
        ),
        (
            Dialect::Tencent,
            tencent::command::GROUP_AFTER_SEND_MSG,
            AfterSend,
        ),
    ]
};

/// `command` as the view's own `'static` copy, with its phase; `None` if it is not covered.
fn covered(dialect: Dialect, command: &str) -> Option<(&'static str, MessagePhase)> {
    COVERED
        .iter()
        .find(|(d, c, _)| *d == dialect && *c == command)
        .map(|&(_, c, phase)| (c, phase))
}

impl MessagePhase {
    /// The phase of a message callback; `None` for commands this view does not cover. It
    /// reads only the command, so a plugin can decide before parsing anything.
    pub fn of(dialect: Dialect, command: &str) -> Option<Self> {
        covered(dialect, command).map(|(_, phase)| phase)
    }
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A user (one-to-one message): OpenIM `recvID`, Tencent `To_Account`.
    User(String),
    /// A group: OpenIM `groupID`, Tencent `GroupId`.
    Group(String),
    /// Not in the body: OpenIM's msg-modify callback carries neither `recvID` nor `groupID`.
    Unknown,
}

/// A chat message from a message callback of either dialect; see the [module](self) docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage {
    dialect: Dialect,
    /// Always one of [`COVERED`]'s, so it needs no copy of the event's.
    command: &'static str,
    phase: MessagePhase,
    sender: String,
    target: Target,
    message_id: Option<String>,
    sent_at_ms: Option<i64>,
    text: Option<String>,
    body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    OpenIm { content_type: i32, content: String },
    Tencent(Vec<Element>),
}

/// One `MsgBody` element: its type, its text (typed `TIMTextElem`s only), its JSON verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    msg_type: String,
    text: Option<String>,
    json: String,
}

/// The fields of a Tencent message body this view reads (`null`-tolerant, integers also
/// from strings, as in [`crate::tencent`]).
struct TencentBody<'a> {
    from_account: String,
    to_account: String,
    group_id: String,
    msg_key: String,
    msg_id: String,
    msg_body: Vec<&'a str>,
    msg_time: i64,
}

impl<'a> TencentBody<'a> {
    /// Reads the seven members with [`visit_members`], as [`OpenImBody::parse`] does.
    fn parse(payload: &'a str) -> Result<Self, Error> {
        #[derive(Default)]
        struct Members<'a> {
            from_account: Option<Raw<'a>>,
            to_account: Option<Raw<'a>>,
            group_id: Option<Raw<'a>>,
            msg_key: Option<Raw<'a>>,
            msg_id: Option<Raw<'a>>,
            msg_body: Option<Raw<'a>>,
            msg_time: Option<Raw<'a>>,
        }
        let mut m = Members::default();
        visit_members(payload, |key, value| {
            let slot = match key {
                "From_Account" => &mut m.from_account,
                "To_Account" => &mut m.to_account,
                "GroupId" => &mut m.group_id,
                "MsgKey" => &mut m.msg_key,
                "MsgId" => &mut m.msg_id,
                "MsgBody" => &mut m.msg_body,
                "MsgTime" => &mut m.msg_time,
                _ => return Ok(()),
            };
            keep(slot, key, value)
        })?;
        let mut msg_body = Vec::new();
        if let Some(raw) = m.msg_body.filter(|raw| raw.get() != "null") {
            visit_elements(raw.get(), |element| {
                msg_body.push(element.get());
                Ok::<(), Error>(())
            })
            .map_err(|err| Error::new(format!("MsgBody: {err}")))?;
        }
        Ok(TencentBody {
            from_account: read("From_Account", m.from_account, Raw::string)?,
            to_account: read("To_Account", m.to_account, Raw::string)?,
            group_id: read("GroupId", m.group_id, Raw::string)?,
            msg_key: read("MsgKey", m.msg_key, Raw::string)?,
            msg_id: read("MsgId", m.msg_id, Raw::string)?,
            msg_body,
            msg_time: read("MsgTime", m.msg_time, |raw| {
                // Mostly a plain number; the tolerant reading takes strings and `null` too.
                raw.get()
                    .parse()
                    .or_else(|_| i64::read(&mut serde_json::Deserializer::from_str(raw.get())))
            })?,
        })
    }
}

/// The fields of an OpenIM message body the view reads (keys and `null` handling as in
/// [`openim::CommonCallbackReq`]).
struct OpenImBody {
    send_id: String,
    client_msg_id: String,
    session_type: i32,
    content_type: i32,
    content: String,
    recv_id: String,
    group_id: String,
    send_time: i64,
}

impl OpenImBody {
    /// Reads the eight members with [`visit_members`] and leaves the other dozen of a message
    /// body unread: the view runs on every message callback, and through a serde struct the
    /// same read cost ~17.7k wasm instructions instead of ~13.8k (see `json::members`).
    fn parse(payload: &str) -> Result<Self, Error> {
        #[derive(Default)]
        struct Members<'a> {
            send_id: Option<Raw<'a>>,
            client_msg_id: Option<Raw<'a>>,
            session_type: Option<Raw<'a>>,
            content_type: Option<Raw<'a>>,
            content: Option<Raw<'a>>,
            recv_id: Option<Raw<'a>>,
            group_id: Option<Raw<'a>>,
            send_time: Option<Raw<'a>>,
        }
        let mut m = Members::default();
        visit_members(payload, |key, value| {
            let slot = match key {
                "sendID" => &mut m.send_id,
                "clientMsgID" => &mut m.client_msg_id,
                "sessionType" => &mut m.session_type,
                "contentType" => &mut m.content_type,
                "content" => &mut m.content,
                "recvID" => &mut m.recv_id,
                "groupID" => &mut m.group_id,
                "sendTime" => &mut m.send_time,
                _ => return Ok(()),
            };
            keep(slot, key, value)
        })?;
        Ok(OpenImBody {
            send_id: read("sendID", m.send_id, Raw::string)?,
            client_msg_id: read("clientMsgID", m.client_msg_id, Raw::string)?,
            session_type: read("sessionType", m.session_type, Raw::int)?,
            content_type: read("contentType", m.content_type, Raw::int)?,
            content: read("content", m.content, Raw::string)?,
            recv_id: read("recvID", m.recv_id, Raw::string)?,
            group_id: read("groupID", m.group_id, Raw::string)?,
            send_time: read("sendTime", m.send_time, Raw::int)?,
        })
    }
}

/// One member's value, its type's default when absent; an error names the key.
fn read<'a, T: Default>(
    key: &str,
    raw: Option<Raw<'a>>,
    decode: impl FnOnce(Raw<'a>) -> Result<T, serde_json::Error>,
) -> Result<T, Error> {
    raw.map_or(Ok(T::default()), decode)
        .map_err(|err| Error::new(format!("{key}: {err}")))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl TextMessage {
    /// The message of a message callback; `Ok(None)` when [`MessagePhase::of`] does not cover
    /// the event's command (nothing is parsed then).
    ///
    /// # Errors
    ///
    /// The body is not JSON or does not fit the command's body.
    pub fn from_event(event: &Event) -> Result<Option<Self>, Error> {
        let Some((command, phase)) = covered(event.dialect(), event.command()) else {
            return Ok(None);
        };
        let message = match event.dialect() {
            Dialect::OpenIm => {
                let msg =
                    OpenImBody::parse(event.payload()).map_err(|err| event.unreadable(err))?;
                let target = match event.command() {
                    openim::command::BEFORE_SEND_SINGLE_MSG
                    | openim::command::AFTER_SEND_SINGLE_MSG => Target::User(msg.recv_id),
                    openim::command::BEFORE_SEND_GROUP_MSG
                    | openim::command::AFTER_SEND_GROUP_MSG => Target::Group(msg.group_id),
                    openim::command::AFTER_MSG_SAVE_DB if msg.session_type == 3 => {
                        Target::Group(msg.group_id)
                    }
                    openim::command::AFTER_MSG_SAVE_DB => Target::User(msg.recv_id),
                    // callbackBeforeMsgModifyCommand has neither recvID nor groupID.
                    _ => Target::Unknown,
                };
                let text = openim::text_of(msg.content_type, &msg.content);
                TextMessage {
                    dialect: Dialect::OpenIm,
                    command,
                    phase,
                    sender: msg.send_id,
                    target,
                    message_id: non_empty(msg.client_msg_id),
                    sent_at_ms: (msg.send_time > 0).then_some(msg.send_time),
                    text,
                    body: Body::OpenIm {
                        content_type: msg.content_type,
                        content: msg.content,
                    },
                }
            }
            Dialect::Tencent => {
                let msg =
                    TencentBody::parse(event.payload()).map_err(|err| event.unreadable(err))?;
                let group = matches!(
                    event.command(),
                    tencent::command::GROUP_BEFORE_SEND_MSG
                        | tencent::command::GROUP_AFTER_SEND_MSG
                );
                let (target, message_id) = if group {
                    (Target::Group(msg.group_id), non_empty(msg.msg_id))
                } else {
                    (
                        Target::User(msg.to_account),
                        non_empty(msg.msg_key).or_else(|| non_empty(msg.msg_id)),
                    )
                };
                let elements: Vec<Element> = msg
                    .msg_body
                    .iter()
                    .map(|raw| {
                        let (msg_type, text) = tencent::peek_element(raw);
                        Element {
                            msg_type,
                            text,
                            json: (*raw).to_owned(),
                        }
                    })
                    .collect();
                let mut texts = elements.iter().filter_map(|e| e.text.as_deref()).peekable();
                let text = texts.peek().is_some().then(|| texts.collect());
                TextMessage {
                    dialect: Dialect::Tencent,
                    command,
                    phase,
                    sender: msg.from_account,
                    target,
                    message_id,
                    sent_at_ms: (msg.msg_time > 0).then(|| msg.msg_time.saturating_mul(1000)),
                    text,
                    body: Body::Tencent(elements),
                }
            }
        };
        Ok(Some(message))
    }

    /// When the message was sent, in milliseconds since the Unix epoch: OpenIM `sendTime`,
    /// Tencent `MsgTime` (seconds, scaled); `None` when the body does not say.
    pub fn sent_at_ms(&self) -> Option<i64> {
        self.sent_at_ms
    }

    /// Which IM server sent the callback.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The callback command.
    pub fn command(&self) -> &str {
        self.command
    }

    /// Where in the message's life the callback comes.
    pub fn phase(&self) -> MessagePhase {
        self.phase
    }

    /// Whether the answer may change the message: OpenIM's msg-modify callback and Tencent's
    /// before-send callbacks.
    pub fn can_modify(&self) -> bool {
        matches!(
            (self.dialect, self.phase),
            (Dialect::OpenIm, MessagePhase::BeforeModify)
                | (Dialect::Tencent, MessagePhase::BeforeSend)
        )
    }

    /// The sender's user ID: OpenIM `sendID`, Tencent `From_Account`.
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// Who the message goes to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// An ID for log lines: OpenIM `clientMsgID`; Tencent C2C `MsgKey`, group `MsgId` (sent
    /// for Live groups only). `None` when the body has none.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The user-typed text; `None` when the message has none (a picture, a file, a custom
    /// message, a `MsgBody` without `TIMTextElem`).
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// OpenIM's `contentType` (`None` for Tencent).
    pub fn content_type(&self) -> Option<i32> {
        match &self.body {
            Body::OpenIm { content_type, .. } => Some(*content_type),
            Body::Tencent(_) => None,
        }
    }

    /// Tencent's `MsgType` of every element, in order (`""` for an element without one;
    /// empty for OpenIM).
    pub fn element_types(&self) -> Vec<&str> {
        match &self.body {
            Body::OpenIm { .. } => Vec::new(),
            Body::Tencent(elements) => elements.iter().map(|e| e.msg_type.as_str()).collect(),
        }
    }

    /// A refusal with a code the client will see: for Tencent `code` is fitted into the
    /// command's custom range with [`tencent::code::fit`] (`5001` → `120001` on C2C, `10100` on
    /// groups); for OpenIM it is kept (use 5000–9999 there).
    pub fn reject(&self, code: i32, message: impl Into<String>) -> Verdict {
        let code = match self.dialect {
            Dialect::OpenIm => code,
            Dialect::Tencent => tencent::code::fit(self.command, code),
        };
        Verdict::reject(code, message)
    }

    /// Replace the whole text with `new`.
    ///
    /// OpenIM msg-modify: a text message (101) becomes `{"content":"<new>"}`
    /// ([`Verdict::replace_text`]); an @-message, quote or rich text keeps its other content
    /// fields ([`openim::replace_text_in_content`]). Tencent before-send: the first
    /// `TIMTextElem` gets `new`, the other text elements are dropped, every other element is
    /// copied byte for byte.
    ///
    /// # Errors
    ///
    /// The callback cannot change the message ([`TextMessage::can_modify`]), or the message has
    /// no text to replace.
    pub fn replace_text(&self, new: &str) -> Result<Verdict, Error> {
        self.check_modifiable()?;
        match &self.body {
            Body::OpenIm { .. } => self.openim_verdict(new),
            Body::Tencent(elements) => {
                let mut first = true;
                let mut out = Vec::with_capacity(elements.len());
                for element in elements {
                    match &element.text {
                        Some(_) if first => {
                            first = false;
                            out.push(with_text(&element.json, new)?);
                        }
                        Some(_) => {}
                        None => out.push(element.json.clone()),
                    }
                }
                if first {
                    return Err(self.no_text());
                }
                Ok(msg_body_verdict(&out))
            }
        }
    }

    /// Change the text piece by piece: `f` gets each piece and returns its replacement, or
    /// `None` to keep it. An OpenIM message is one piece (its whole text); a Tencent message
    /// has one piece per `TIMTextElem`, and every other element is copied byte for byte.
    /// Returns [`Verdict::Allow`] when `f` changed nothing (or there is no text).
    ///
    /// # Errors
    ///
    /// The callback cannot change the message ([`TextMessage::can_modify`]).
    pub fn map_text(&self, mut f: impl FnMut(&str) -> Option<String>) -> Result<Verdict, Error> {
        self.check_modifiable()?;
        match &self.body {
            Body::OpenIm { .. } => match self.text.as_deref().and_then(&mut f) {
                Some(new) => self.openim_verdict(&new),
                None => Ok(Verdict::allow()),
            },
            Body::Tencent(elements) => {
                let mut changed = false;
                let mut out = Vec::with_capacity(elements.len());
                for element in elements {
                    match element.text.as_deref().and_then(&mut f) {
                        Some(new) => {
                            changed = true;
                            out.push(with_text(&element.json, &new)?);
                        }
                        None => out.push(element.json.clone()),
                    }
                }
                Ok(if changed {
                    msg_body_verdict(&out)
                } else {
                    Verdict::allow()
                })
            }
        }
    }

    fn check_modifiable(&self) -> Result<(), Error> {
        if self.can_modify() {
            Ok(())
        } else {
            Err(Error::new(format!(
                "{} cannot change the message{}",
                self.command,
                if self.dialect == Dialect::OpenIm {
                    " (OpenIM changes messages in callbackBeforeMsgModifyCommand)"
                } else {
                    ""
                }
            )))
        }
    }

    fn no_text(&self) -> Error {
        Error::new(format!(
            "{}: the message has no text to replace",
            self.command
        ))
    }

    fn openim_verdict(&self, new: &str) -> Result<Verdict, Error> {
        let Body::OpenIm {
            content_type,
            content,
        } = &self.body
        else {
            unreachable!("called for OpenIM bodies only")
        };
        if self.text.is_none() {
            return Err(self.no_text());
        }
        if *content_type == content_type::TEXT {
            return Ok(Verdict::replace_text(new));
        }
        openim::replace_text_in_content(*content_type, content, new)
            .map(|content| Verdict::replace_content(&content))
            .ok_or_else(|| self.no_text())
    }
}

/// A `TIMTextElem`'s JSON with `MsgContent.Text` set to `text`; every other key of the element
/// and of its content keeps its bytes.
fn with_text(element: &str, text: &str) -> Result<String, Error> {
    let mut fields: RawFields = serde_json::from_str(element)?;
    let content = fields
        .get("MsgContent")
        .ok_or_else(|| Error::new("a TIMTextElem without MsgContent"))?;
    let mut content: RawFields = serde_json::from_str(content.get())?;
    content.set("Text", raw_string(text));
    fields.set(
        "MsgContent",
        RawValue::from_string(serde_json::to_string(&content)?)?,
    );
    Ok(serde_json::to_string(&fields)?)
}

/// `{"MsgBody":[<elements>]}`; every element is JSON text already.
fn msg_body_verdict(elements: &[String]) -> Verdict {
    let mut json = String::from(r#"{"MsgBody":["#);
    for (i, element) in elements.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(element);
    }
    json.push_str("]}");
    Verdict::Modify(json)
}
