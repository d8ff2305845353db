//! The callback a plugin is asked to decide on.

use serde::Deserialize;

use crate::Error;
use crate::bindings::hookbox::plugin::types as wit;

/// Which IM server sent the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenIM Server. Commands look like `callbackBeforeSendSingleMsgCommand`; typed request
    /// bodies are in [`crate::openim`].
    OpenIm,
    /// Tencent Cloud Chat. Commands look like `Group.CallbackBeforeSendMsg`; typed request
    /// bodies are in [`crate::tencent`].
    Tencent,
}

impl Dialect {
    /// The dialect's name as the WIT contract spells it: `openim` or `tencent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenIm => "openim",
            Dialect::Tencent => "tencent",
        }
    }
}

impl From<wit::Dialect> for Dialect {
    fn from(dialect: wit::Dialect) -> Self {
        match dialect {
            wit::Dialect::Openim => Dialect::OpenIm,
            wit::Dialect::Tencent => Dialect::Tencent,
        }
    }
}

/// One callback as the IM server sent it.
///
/// The body is kept as the raw JSON text the IM server posted: parse it into a typed struct
/// with [`Event::json`] (see [`crate::openim`], [`crate::tencent`]), read a chat message of
/// either dialect with [`crate::message::TextMessage::from_event`], or parse it into a
/// [`serde_json::Value`] with [`Event::value`] for commands the SDK has no struct for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    dialect: Dialect,
    command: String,
    payload: String,
    metadata: Vec<(String, String)>,
    deadline_ms: u32,
}

impl Event {
    /// An event, for tests of plugin logic outside a host. Metadata is empty and the
    /// deadline is 1000 ms until set with [`Event::with_metadata`] /
    /// [`Event::with_deadline_ms`].
    pub fn new(dialect: Dialect, command: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            dialect,
            command: command.into(),
            payload: payload.into(),
            metadata: Vec::new(),
            deadline_ms: 1000,
        }
    }

    /// This event with one more metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// This event with another deadline.
    pub fn with_deadline_ms(mut self, deadline_ms: u32) -> Self {
        self.deadline_ms = deadline_ms;
        self
    }

    pub(crate) fn from_wit(event: wit::Event) -> Self {
        Self {
            dialect: event.dialect.into(),
            command: event.command,
            payload: event.payload,
            metadata: event.metadata,
            deadline_ms: event.deadline_ms,
        }
    }

    /// Which IM server sent the callback.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The callback command, e.g. `callbackBeforeSendSingleMsgCommand` or
    /// `Group.CallbackBeforeSendMsg`. Constants are in [`crate::openim::command`] and
    /// [`crate::tencent::command`].
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The request body: UTF-8 JSON, exactly as received.
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// The body, by value.
    pub fn into_payload(self) -> String {
        self.payload
    }

    /// A request fact that is not in the body (`operationID`, OpenIM's `key` query, Tencent's
    /// `SdkAppid`/`ClientIP`/`OptPlatform`, ...). An exact key match wins; otherwise the key is
    /// matched ignoring ASCII case, because HTTP header names arrive in any case.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .or_else(|| {
                self.metadata
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
            })
            .map(|(_, v)| v.as_str())
    }

    /// Every metadata entry, in the order the host gave them.
    pub fn metadata_all(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// The request's `operationID` (OpenIM's tracing id), from the metadata.
    pub fn operation_id(&self) -> Option<&str> {
        self.metadata("operationID")
    }

    /// Milliseconds this plugin may still use before the host answers without it.
    pub fn deadline_ms(&self) -> u32 {
        self.deadline_ms
    }

    /// The body parsed into `T`, usually one of the [`crate::openim`] or [`crate::tencent`]
    /// structs. Unknown fields are ignored by those structs. `T` may borrow from the payload (`&str`, `Cow<str>`).
    ///
    /// # Errors
    ///
    /// The body is not JSON or does not fit `T`; the message names the command.
    pub fn json<'a, T: Deserialize<'a>>(&'a self) -> Result<T, Error> {
        serde_json::from_str(&self.payload).map_err(|err| self.unreadable(err))
    }

    /// The error for a body that does not read as this command's body.
    pub(crate) fn unreadable(&self, why: impl core::fmt::Display) -> Error {
        Error::new(format!("cannot parse {} payload: {why}", self.command))
    }

    /// The body as an untyped [`serde_json::Value`], for commands without a typed struct.
    ///
    /// # Errors
    ///
    /// The body is not JSON.
    pub fn value(&self) -> Result<serde_json::Value, Error> {
        self.json()
    }
}
