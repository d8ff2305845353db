//! What a plugin decides.

use serde::Serialize;

use crate::Error;
use crate::bindings::hookbox::plugin::types as wit;

/// A refusal. `code` and `message` reach the client where the dialect allows it (OpenIM:
/// `errCode`/`errMsg`/`errDlt`; use a code in 5000–9999 there, never 0. Tencent: `ErrorCode`/
/// `ErrorInfo`, only for a code in the command's custom range, see
/// [`crate::tencent::code`]; [`crate::message::TextMessage::reject`] picks one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The error code the client sees.
    pub code: i32,
    /// A short message the client sees.
    pub message: String,
    /// More detail (OpenIM `errDlt`); may be empty.
    pub detail: String,
}

/// A plugin's decision on one callback. Build one with [`Verdict::allow`],
/// [`Verdict::reject`], [`Verdict::discard`], [`Verdict::modify`] or [`Verdict::replace_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let the action through unchanged.
    Allow,
    /// Let it through with these response fields set: a JSON object text in the dialect's own
    /// field names (OpenIM msg-modify: `content`; Tencent before-send: `MsgBody`).
    Modify(String),
    /// Refuse the action.
    Reject(Rejection),
    /// Drop silently: the sender is told it succeeded where the dialect allows that (Tencent
    /// send callbacks); a reject elsewhere.
    Discard,
}

impl Verdict {
    /// Let the action through unchanged.
    pub fn allow() -> Self {
        Verdict::Allow
    }

    /// Drop silently where the dialect allows it (a reject elsewhere).
    pub fn discard() -> Self {
        Verdict::Discard
    }

    /// Refuse the action with this code and message (no detail; add one with
    /// [`Verdict::with_detail`]).
    pub fn reject(code: i32, message: impl Into<String>) -> Self {
        Verdict::Reject(Rejection {
            code,
            message: message.into(),
            detail: String::new(),
        })
    }

    /// Set the detail of a [`Verdict::Reject`]; any other verdict is returned unchanged.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        if let Verdict::Reject(rejection) = &mut self {
            rejection.detail = detail.into();
        }
        self
    }

    /// Let the action through with these response fields set. `fields` is anything that
    /// serialises to a JSON object: a `#[derive(Serialize)]` struct, a
    /// [`serde_json::Map`], a `json!({...})` object, a `BTreeMap<String, _>`.
    ///
    /// ```
    /// # use hookbox_sdk::Verdict;
    /// let v = Verdict::modify(serde_json::json!({"remark": "vip"})).unwrap();
    /// assert_eq!(v, Verdict::Modify(r#"{"remark":"vip"}"#.into()));
    /// ```
    ///
    /// # Errors
    ///
    /// `fields` does not serialise, or serialises to something other than a JSON object.
    pub fn modify(fields: impl Serialize) -> Result<Self, Error> {
        let json = serde_json::to_string(&fields)?;
        // Compact serde_json output starts with `{` exactly when the value is an object.
        if json.starts_with('{') {
            Ok(Verdict::Modify(json))
        } else {
            Err(Error::new(format!(
                "a modify verdict needs a JSON object, got {}",
                truncate(&json, 40)
            )))
        }
    }

    /// Like [`Verdict::modify`], for JSON object text the plugin already has.
    ///
    /// # Errors
    ///
    /// `json` is not one valid JSON object.
    pub fn modify_json(json: impl Into<String>) -> Result<Self, Error> {
        let json = json.into();
        if !json.trim_start().starts_with('{') {
            return Err(Error::new(format!(
                "a modify verdict needs a JSON object, got {}",
                truncate(&json, 40)
            )));
        }
        serde_json::from_str::<serde::de::IgnoredAny>(&json)?;
        Ok(Verdict::Modify(json))
    }

    /// OpenIM `callbackBeforeMsgModifyCommand`: replace a text message (contentType 101) with
    /// `text`. The response's `content` is itself JSON text, so the verdict is
    /// `{"content":"{\"content\":\"<text>\"}"}`.
    ///
    /// For other content types (an @-message keeps its `atUserList`), build the new content
    /// with [`crate::openim::replace_text_in_content`] and use [`Verdict::replace_content`].
    ///
    /// ```
    /// # use hookbox_sdk::Verdict;
    /// assert_eq!(
    ///     Verdict::replace_text("***"),
    ///     Verdict::Modify(r#"{"content":"{\"content\":\"***\"}"}"#.into()),
    /// );
    /// ```
    pub fn replace_text(text: &str) -> Self {
        #[derive(Serialize)]
        struct TextElem<'a> {
            content: &'a str,
        }
        Self::replace_content(&to_json(&TextElem { content: text }))
    }

    /// OpenIM `callbackBeforeMsgModifyCommand`: replace the message's `content` with
    /// `content_json`, which must be the JSON text of the new content element (OpenIM refuses a
    /// `content` that is not JSON). The verdict is `{"content":"<content_json as a JSON string>"}`.
    pub fn replace_content(content_json: &str) -> Self {
        #[derive(Serialize)]
        struct ModifyContent<'a> {
            content: &'a str,
        }
        Verdict::Modify(to_json(&ModifyContent {
            content: content_json,
        }))
    }

    pub(crate) fn into_wit(self) -> wit::Verdict {
        match self {
            Verdict::Allow => wit::Verdict::Allow,
            Verdict::Modify(json) => wit::Verdict::Modify(json),
            Verdict::Reject(Rejection {
                code,
                message,
                detail,
            }) => wit::Verdict::Reject(wit::Rejection {
                code,
                message,
                detail,
            }),
            Verdict::Discard => wit::Verdict::Discard,
        }
    }
}

/// Serialise a struct of `&str` fields, which cannot fail.
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| unreachable!("string fields always serialise"))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
