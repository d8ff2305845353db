//! Typed request bodies of Tencent Cloud Chat callbacks, the `MsgBody` element types, and the
//! response fields Tencent reads from a before-callback's answer.
//!
//! Parse a body with [`Event::json`](crate::Event::json):
//!
//! ```
//! # use hookbox_sdk::{Dialect, Event, tencent};
//! let event = Event::new(
//!     Dialect::Tencent,
//!     tencent::command::GROUP_AFTER_SEND_MSG,
//!     r#"{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#2J4SZEAEL",
//!         "From_Account":"jared","MsgSeq":123,"EventTime":"1670574414123",
//!         "MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}]}"#,
//! );
//! let msg: tencent::GroupAfterSendMsg = event.json()?;
//! assert_eq!(msg.group_id, "@TGS#2J4SZEAEL");
//! assert_eq!(msg.event_time, 1_670_574_414_123);
//! assert_eq!(msg.text().as_deref(), Some("red packet"));
//! # Ok::<(), hookbox_sdk::Error>(())
//! ```
//!
//! What is here: a struct per body for the eleven commands plugins most often handle (one- and
//! two-party messages, group creation and membership, friend requests, online state; the
//! struct is named after the command: `C2C.CallbackBeforeSendMsg` → [`C2cBeforeSendMsg`]),
//! [`command`] constants for all 34 commands hookbox knows, the custom refusal [`code`] ranges,
//! [`MsgElement`] for the elements of a `MsgBody`, and [`SendMsgModify`] /
//! [`PrevFriendAddModify`] for the answers that change something. Keys are spelled exactly as
//! Tencent sends them (`From_Account`, `GroupId`, `Download_Flag`, `URL` next to `Url`, ...).
//! Every field may be absent or `null` (it then reads as `0`, `""` or empty) and unknown fields
//! are ignored, because Tencent's own samples disagree about which fields a body has.
//!
//! What is not: no signature check (the host verifies `Sign` and `RequestTime` and never
//! passes them on; `SdkAppid`, `ClientIP` and `OptPlatform` are in the event's
//! [metadata](crate::Event::metadata)), no validation of values, and no struct for the other
//! commands (use [`Event::value`](crate::Event::value)). For editing the text of a message and
//! keeping every other element byte for byte, use [`crate::message::TextMessage`]: the typed
//! elements here re-serialise with the same keys and values, not necessarily the same bytes.
//!
//! The decision a reader may question: **every integer field also accepts a string**.
//! Tencent documents `EventTime` as an integer but its group samples send
//! `"EventTime":"1670574414123"`; rather than special-case that one field, all integers
//! (`MsgSeq`, `MsgRandom`, `Random`, `MsgTime`, flags, ...) read a JSON number or a decimal
//! string, and `null`/`""` read as `0`. `EventTime` is `0` when the body has none. The same
//! leniency applies to elements: an element whose `MsgType` is unknown, or whose content does
//! not fit the documented shape, is kept as [`MsgElement::Other`] (verbatim) instead of failing
//! the whole body.

use core::ops::RangeInclusive;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::json::{RawFields, Tolerant, nullable, tolerant};
use crate::{Error, Verdict};

/// Callback command names, exactly as Tencent sends them in the `CallbackCommand` query
/// parameter and body field.
pub mod command {
    /// A user's online state changed (login, logout, disconnect).
    pub const STATE_CHANGE: &str = "State.StateChange";
    /// After a user's profile was set.
    pub const PROFILE_PORTRAIT_SET: &str = "Profile.CallbackPortraitSet";
    /// Before a friend request is processed (answer per account in `ResultItem`).
    pub const SNS_PREV_FRIEND_ADD: &str = "Sns.CallbackPrevFriendAdd";
    /// Before a friend request is answered (answer per account in `ResultItem`).
    pub const SNS_PREV_FRIEND_RESPONSE: &str = "Sns.CallbackPrevFriendResponse";
    /// After friends were added.
    pub const SNS_FRIEND_ADD: &str = "Sns.CallbackFriendAdd";
    /// After friends were deleted.
    pub const SNS_FRIEND_DELETE: &str = "Sns.CallbackFriendDelete";
    /// After users were added to a blocklist.
    pub const SNS_BLACK_LIST_ADD: &str = "Sns.CallbackBlackListAdd";
    /// After users were removed from a blocklist.
    pub const SNS_BLACK_LIST_DELETE: &str = "Sns.CallbackBlackListDelete";
    /// Before a one-to-one message is sent (reject, discard, or modify `MsgBody` /
    /// `CloudCustomData`).
    pub const C2C_BEFORE_SEND_MSG: &str = "C2C.CallbackBeforeSendMsg";
    /// After a one-to-one message was sent.
    pub const C2C_AFTER_SEND_MSG: &str = "C2C.CallbackAfterSendMsg";
    /// After one-to-one messages were read.
    pub const C2C_AFTER_MSG_REPORT: &str = "C2C.CallbackAfterMsgReport";
    /// After a one-to-one message was recalled (Tencent's spelling).
    pub const C2C_AFTER_MSG_WITHDRAW: &str = "C2C.CallbackAfterMsgWithDraw";
    /// Before a group is created (reject only).
    pub const GROUP_BEFORE_CREATE_GROUP: &str = "Group.CallbackBeforeCreateGroup";
    /// After a group was created.
    pub const GROUP_AFTER_CREATE_GROUP: &str = "Group.CallbackAfterCreateGroup";
    /// Before an application to join a group is processed (reject only).
    pub const GROUP_BEFORE_APPLY_JOIN_GROUP: &str = "Group.CallbackBeforeApplyJoinGroup";
    /// Before users are invited into a group.
    pub const GROUP_BEFORE_INVITE_JOIN_GROUP: &str = "Group.CallbackBeforeInviteJoinGroup";
    /// After members joined a group.
    pub const GROUP_AFTER_NEW_MEMBER_JOIN: &str = "Group.CallbackAfterNewMemberJoin";
    /// After members left a group (quit or kicked).
    pub const GROUP_AFTER_MEMBER_EXIT: &str = "Group.CallbackAfterMemberExit";
    /// Before a group message is sent (reject, discard, or modify `MsgBody` /
    /// `CloudCustomData`).
    pub const GROUP_BEFORE_SEND_MSG: &str = "Group.CallbackBeforeSendMsg";
    /// After a group message was sent.
    pub const GROUP_AFTER_SEND_MSG: &str = "Group.CallbackAfterSendMsg";
    /// After a group became full.
    pub const GROUP_AFTER_GROUP_FULL: &str = "Group.CallbackAfterGroupFull";
    /// After a group was disbanded.
    pub const GROUP_AFTER_GROUP_DESTROYED: &str = "Group.CallbackAfterGroupDestroyed";
    /// After a group's profile changed.
    pub const GROUP_AFTER_GROUP_INFO_CHANGED: &str = "Group.CallbackAfterGroupInfoChanged";
    /// An audio-video group member's online state changed.
    pub const GROUP_ON_MEMBER_STATE_CHANGE: &str = "Group.CallbackOnMemberStateChange";
    /// A group message could not be sent.
    pub const GROUP_SEND_MSG_EXCEPTION: &str = "Group.CallbackSendMsgException";
    /// Before a community topic is created (reject only).
    pub const GROUP_BEFORE_CREATE_TOPIC: &str = "Group.CallbackBeforeCreateTopic";
    /// After a community topic was created.
    pub const GROUP_AFTER_CREATE_TOPIC: &str = "Group.CallbackAfterCreateTopic";
    /// After a community topic was deleted.
    pub const GROUP_AFTER_TOPIC_DESTROYED: &str = "Group.CallbackAfterTopicDestroyed";
    /// After a community topic's profile changed.
    pub const GROUP_AFTER_TOPIC_INFO_CHANGED: &str = "Group.CallbackAfterTopicInfoChanged";
    /// After a group message was recalled.
    pub const GROUP_AFTER_RECALL_MSG: &str = "Group.CallbackAfterRecallMsg";
    /// After a group message's extension changed.
    pub const GROUP_AFTER_GROUP_MSG_EXTENSION: &str = "Group.CallbackAfterGroupMsgExtension";
    /// After an official-account message was sent.
    pub const OFFICIAL_ACCOUNT_AFTER_SEND_MSG: &str = "OfficialAccount.CallbackAfterSendMsg";
    /// After an official-account message was recalled.
    pub const OFFICIAL_ACCOUNT_AFTER_MSG_WITHDRAW: &str =
        "OfficialAccount.CallbackAfterMsgWithDraw";
    /// An API call exceeded its frequency limit.
    pub const ALERT_REQUEST_OVER_LIMIT: &str = "Alert.RequestOverLimit";

    /// The commands whose answer Tencent acts on (8); Tencent ignores the answer to the rest.
    pub const BEFORE: &[&str] = &[
        SNS_PREV_FRIEND_ADD,
        SNS_PREV_FRIEND_RESPONSE,
        C2C_BEFORE_SEND_MSG,
        GROUP_BEFORE_CREATE_GROUP,
        GROUP_BEFORE_APPLY_JOIN_GROUP,
        GROUP_BEFORE_INVITE_JOIN_GROUP,
        GROUP_BEFORE_SEND_MSG,
        GROUP_BEFORE_CREATE_TOPIC,
    ];

    /// Every command hookbox knows for Tencent Cloud Chat (34), in Tencent's list order.
    pub const ALL: &[&str] = &[
        STATE_CHANGE,
        PROFILE_PORTRAIT_SET,
        SNS_PREV_FRIEND_ADD,
        SNS_PREV_FRIEND_RESPONSE,
        SNS_FRIEND_ADD,
        SNS_FRIEND_DELETE,
        SNS_BLACK_LIST_ADD,
        SNS_BLACK_LIST_DELETE,
        C2C_BEFORE_SEND_MSG,
        C2C_AFTER_SEND_MSG,
        C2C_AFTER_MSG_REPORT,
        C2C_AFTER_MSG_WITHDRAW,
        GROUP_BEFORE_CREATE_GROUP,
        GROUP_AFTER_CREATE_GROUP,
        GROUP_BEFORE_APPLY_JOIN_GROUP,
        GROUP_BEFORE_INVITE_JOIN_GROUP,
        GROUP_AFTER_NEW_MEMBER_JOIN,
        GROUP_AFTER_MEMBER_EXIT,
        GROUP_BEFORE_SEND_MSG,
        GROUP_AFTER_SEND_MSG,
        GROUP_AFTER_GROUP_FULL,
        GROUP_AFTER_GROUP_DESTROYED,
        GROUP_AFTER_GROUP_INFO_CHANGED,
        GROUP_ON_MEMBER_STATE_CHANGE,
        GROUP_SEND_MSG_EXCEPTION,
        GROUP_BEFORE_CREATE_TOPIC,
        GROUP_AFTER_CREATE_TOPIC,
        GROUP_AFTER_TOPIC_DESTROYED,
        GROUP_AFTER_TOPIC_INFO_CHANGED,
        GROUP_AFTER_RECALL_MSG,
        GROUP_AFTER_GROUP_MSG_EXTENSION,
        OFFICIAL_ACCOUNT_AFTER_SEND_MSG,
        OFFICIAL_ACCOUNT_AFTER_MSG_WITHDRAW,
        ALERT_REQUEST_OVER_LIMIT,
    ];
}

/// Refusal codes. The host puts a rejection's code into Tencent's `ErrorCode` only when it lies
/// in the command's custom range (then the client sees that code and the message); any other
/// code becomes `1`, Tencent's generic refusal, and the client sees Tencent's own code (20006 or
/// 10016) instead.
pub mod code {
    use core::ops::RangeInclusive;

    use super::command;

    /// `ErrorCode` 1: Tencent's generic refusal.
    pub const GENERIC_REJECT: i32 = 1;
    /// `ErrorCode` 2: drop silently (the two before-send callbacks; what a discard becomes).
    pub const SILENT_DROP: i32 = 2;
    /// Custom refusal codes of `C2C.CallbackBeforeSendMsg`.
    pub const C2C_SEND: RangeInclusive<i32> = 120_001..=130_000;
    /// Custom refusal codes of the group before-callbacks (send, create, apply, invite, topic).
    pub const GROUP: RangeInclusive<i32> = 10_100..=10_200;
    /// Refusal `ResultCode`s of `Sns.CallbackPrevFriendAdd` / `Sns.CallbackPrevFriendResponse`.
    pub const FRIEND: RangeInclusive<i32> = 38_000..=39_000;

    /// The custom refusal range of a before-callback; `None` for commands that have none
    /// (after-callbacks, unknown commands).
    pub fn custom_range(command: &str) -> Option<RangeInclusive<i32>> {
        match command {
            command::C2C_BEFORE_SEND_MSG => Some(C2C_SEND),
            command::GROUP_BEFORE_SEND_MSG
            | command::GROUP_BEFORE_CREATE_GROUP
            | command::GROUP_BEFORE_APPLY_JOIN_GROUP
            | command::GROUP_BEFORE_INVITE_JOIN_GROUP
            | command::GROUP_BEFORE_CREATE_TOPIC => Some(GROUP),
            command::SNS_PREV_FRIEND_ADD | command::SNS_PREV_FRIEND_RESPONSE => Some(FRIEND),
            _ => None,
        }
    }

    /// A refusal code the client will see for `command`: `code` when it is in the command's
    /// custom range, else the range's first code (`5001` on a C2C send → `120001`, on a group
    /// send → `10100`). Commands without a range keep `code`.
    ///
    /// ```
    /// # use hookbox_sdk::tencent::{code, command};
    /// assert_eq!(code::fit(command::C2C_BEFORE_SEND_MSG, 5001), 120_001);
    /// assert_eq!(code::fit(command::C2C_BEFORE_SEND_MSG, 120_555), 120_555);
    /// assert_eq!(code::fit(command::GROUP_BEFORE_SEND_MSG, 5001), 10_100);
    /// assert_eq!(code::fit(command::GROUP_AFTER_SEND_MSG, 5001), 5001);
    /// ```
    pub fn fit(command: &str, code: i32) -> i32 {
        match custom_range(command) {
            Some(range) if !range.contains(&code) => *range.start(),
            _ => code,
        }
    }
}

/// `MsgType` values of the documented message elements.
pub mod msg_type {
    /// Text: `Text`.
    pub const TEXT: &str = "TIMTextElem";
    /// Custom data: `Data`, `Desc`, `Ext`, `Sound`.
    pub const CUSTOM: &str = "TIMCustomElem";
    /// Image: `UUID`, `ImageFormat`, `ImageInfoArray`.
    pub const IMAGE: &str = "TIMImageElem";
    /// Emoji/face: `Index`, `Data`.
    pub const FACE: &str = "TIMFaceElem";
    /// Location: `Desc`, `Latitude`, `Longitude`.
    pub const LOCATION: &str = "TIMLocationElem";
    /// Voice: `Url`, `UUID`, `Size`, `Second`, `Download_Flag`.
    pub const SOUND: &str = "TIMSoundElem";
    /// File: `Url`, `UUID`, `FileSize`, `FileName`, `Download_Flag`.
    pub const FILE: &str = "TIMFileElem";
    /// Video: `VideoUrl`, `VideoUUID`, ..., `ThumbUrl`, ...
    pub const VIDEO_FILE: &str = "TIMVideoFileElem";
    /// Combined/forwarded messages (newer SDKs); read as [`super::MsgElement::Other`].
    pub const RELAY: &str = "TIMRelayElem";
}

// ---------------------------------------------------------------------------------------------
// Message elements
// ---------------------------------------------------------------------------------------------

/// Defines the content struct of an element type: every documented key optional (absent keys
/// stay absent when written back) and the undocumented ones kept in `extra`.
macro_rules! element_content {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])* $json:literal $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $json, default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// Content keys without a field here, in document order; written back after the
            /// documented ones.
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }
    };
}

/// The content of a `TIMTextElem`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextElem {
    /// The text (JSON key `Text`, required).
    #[serde(rename = "Text")]
    pub text: String,
    /// Content keys without a field here, in document order; written back after `Text`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

element_content! {
    /// The content of a `TIMCustomElem` (at most one per message). Current SDKs send only
    /// `Data`.
    pub struct CustomElem {
        /// The custom data.
        "Data" data: String,
        /// A description (shown in offline pushes).
        "Desc" desc: String,
        /// Extension data (shown in offline pushes).
        "Ext" ext: String,
        /// The offline-push sound.
        "Sound" sound: String,
    }
}

element_content! {
    /// The content of a `TIMImageElem`.
    pub struct ImageElem {
        /// The image's ID.
        "UUID" uuid: String,
        /// JPG 1, GIF 2, PNG 3, BMP 4, other 255.
        "ImageFormat" image_format: i64,
        /// The original, large and thumbnail versions.
        "ImageInfoArray" image_info_array: Vec<ImageInfo>,
    }
}

element_content! {
    /// One version of an image in [`ImageElem::image_info_array`].
    pub struct ImageInfo {
        /// 1 original, 2 large, 3 thumbnail (JSON key `Type`).
        "Type" kind: i64,
        /// Size in bytes.
        "Size" size: i64,
        /// Width in pixels.
        "Width" width: i64,
        /// Height in pixels.
        "Height" height: i64,
        /// Download URL (JSON key `URL`, upper case unlike other elements' `Url`).
        "URL" url: String,
    }
}

element_content! {
    /// The content of a `TIMFaceElem`.
    pub struct FaceElem {
        /// The emoji's index.
        "Index" index: i64,
        /// Extra data.
        "Data" data: String,
    }
}

element_content! {
    /// The content of a `TIMLocationElem`.
    pub struct LocationElem {
        /// A description of the place.
        "Desc" desc: String,
        /// Latitude.
        "Latitude" latitude: f64,
        /// Longitude.
        "Longitude" longitude: f64,
    }
}

element_content! {
    /// The content of a `TIMSoundElem` (2.x/3.x SDKs send only `UUID`, `Size`, `Second`).
    pub struct SoundElem {
        /// Download URL.
        "Url" url: String,
        /// The voice file's ID.
        "UUID" uuid: String,
        /// Size in bytes.
        "Size" size: i64,
        /// Duration in seconds.
        "Second" second: i64,
        /// Download method; 2 for current SDKs.
        "Download_Flag" download_flag: i64,
    }
}

element_content! {
    /// The content of a `TIMFileElem`. Tencent's field table spells the name `fileName`; that
    /// spelling lands in `extra`, and [`FileElem::name`] reads either.
    pub struct FileElem {
        /// Download URL.
        "Url" url: String,
        /// The file's ID.
        "UUID" uuid: String,
        /// Size in bytes.
        "FileSize" file_size: i64,
        /// The file name.
        "FileName" file_name: String,
        /// Download method; 2 for current SDKs.
        "Download_Flag" download_flag: i64,
    }
}

impl FileElem {
    /// The file name, from `FileName` or else `fileName`.
    pub fn name(&self) -> Option<&str> {
        self.file_name
            .as_deref()
            .or_else(|| self.extra.get("fileName").and_then(Value::as_str))
    }
}

element_content! {
    /// The content of a `TIMVideoFileElem`.
    pub struct VideoFileElem {
        /// Video download URL.
        "VideoUrl" video_url: String,
        /// The video's ID.
        "VideoUUID" video_uuid: String,
        /// Video size in bytes.
        "VideoSize" video_size: i64,
        /// Video duration in seconds.
        "VideoSecond" video_second: i64,
        /// Video format, e.g. `mp4`.
        "VideoFormat" video_format: String,
        /// Video download method; 2 for current SDKs.
        "VideoDownloadFlag" video_download_flag: i64,
        /// Thumbnail download URL.
        "ThumbUrl" thumb_url: String,
        /// The thumbnail's ID.
        "ThumbUUID" thumb_uuid: String,
        /// Thumbnail size in bytes.
        "ThumbSize" thumb_size: i64,
        /// Thumbnail width in pixels.
        "ThumbWidth" thumb_width: i64,
        /// Thumbnail height in pixels.
        "ThumbHeight" thumb_height: i64,
        /// Thumbnail format, e.g. `JPG`.
        "ThumbFormat" thumb_format: String,
        /// Thumbnail download method; 2 for current SDKs.
        "ThumbDownloadFlag" thumb_download_flag: i64,
    }
}

/// An element the SDK does not type: kept as the JSON text it arrived as and written back
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawElement {
    msg_type: String,
    json: String,
}

impl RawElement {
    /// An element from its JSON text.
    ///
    /// # Errors
    ///
    /// `json` is not one JSON value.
    pub fn new(json: impl Into<String>) -> Result<Self, Error> {
        let json = json.into();
        let raw: &RawValue = serde_json::from_str(&json)?;
        Ok(Self {
            msg_type: msg_type_of(raw.get()),
            json: raw.get().to_owned(),
        })
    }

    /// The element's `MsgType`; `""` when it has none (or it is not an object).
    pub fn msg_type(&self) -> &str {
        &self.msg_type
    }

    /// The element's JSON text, exactly as received.
    pub fn json(&self) -> &str {
        &self.json
    }
}

/// The `MsgType` of an element's JSON text, or `""`.
fn msg_type_of(json: &str) -> String {
    serde_json::from_str::<RawFields>(json)
        .ok()
        .and_then(|fields| serde_json::from_str(fields.get("MsgType")?.get()).ok())
        .unwrap_or_default()
}

/// An element's `MsgType` (`""` if none) and, when it is a text element that
/// [`MsgElement`] would read as [`MsgElement::Text`], its `Text`. Cheaper than a full
/// [`MsgElement`]: the message view uses it, so plugins that never touch the typed elements do
/// not carry their code.
pub(crate) fn peek_element(json: &str) -> (String, Option<String>) {
    #[derive(Deserialize)]
    struct Text {
        #[serde(rename = "Text")]
        text: String,
    }
    let Ok(fields) = serde_json::from_str::<RawFields>(json) else {
        return (String::new(), None);
    };
    let kind: String = fields
        .get("MsgType")
        .and_then(|t| serde_json::from_str(t.get()).ok())
        .unwrap_or_default();
    let text = match (
        fields.0.len(),
        fields.get("MsgType"),
        fields.get("MsgContent"),
    ) {
        (2, Some(_), Some(content)) if kind == msg_type::TEXT && content.get().starts_with('{') => {
            serde_json::from_str::<Text>(content.get())
                .ok()
                .map(|t| t.text)
        }
        _ => None,
    };
    (kind, text)
}

/// One element of a `MsgBody`: `{"MsgType": "...", "MsgContent": {...}}`.
///
/// An element is typed when its `MsgType` is one of the eight below, it has exactly the keys
/// `MsgType` and `MsgContent`, and the content fits the documented field types; anything else
/// (`TIMRelayElem`, a type a newer SDK added, a `TIMTextElem` without `Text`) is
/// [`MsgElement::Other`] and serialises back byte for byte. Typed elements serialise as
/// `{"MsgType":...,"MsgContent":{documented keys present on input..., extra keys...}}`.
///
/// Reading needs serde_json's deserializers, which can hand out the element's JSON text:
/// `from_str`/`from_slice` (as [`Event::json`](crate::Event::json) uses) keep the bytes;
/// `from_value` works on re-serialised, compact text; other formats fail.
#[derive(Debug, Clone, PartialEq)]
pub enum MsgElement {
    /// `TIMTextElem`.
    Text(TextElem),
    /// `TIMCustomElem`.
    Custom(CustomElem),
    /// `TIMImageElem`.
    Image(ImageElem),
    /// `TIMFaceElem`.
    Face(FaceElem),
    /// `TIMLocationElem`.
    Location(LocationElem),
    /// `TIMSoundElem`.
    Sound(SoundElem),
    /// `TIMFileElem`.
    File(FileElem),
    /// `TIMVideoFileElem`.
    VideoFile(VideoFileElem),
    /// Any other element, verbatim.
    Other(RawElement),
}

impl MsgElement {
    /// A `TIMTextElem` holding `text`.
    pub fn new_text(text: impl Into<String>) -> Self {
        MsgElement::Text(TextElem {
            text: text.into(),
            extra: Map::new(),
        })
    }

    /// One element from its JSON text (see the type's rules for typed vs. `Other`).
    ///
    /// # Errors
    ///
    /// `json` is not valid JSON.
    pub fn parse(json: &str) -> Result<Self, Error> {
        let raw: &RawValue = serde_json::from_str(json)?;
        Ok(Self::from_raw(raw.get()))
    }

    /// The element from its JSON text, which must be valid JSON.
    pub(crate) fn from_raw(json: &str) -> Self {
        let other = |msg_type: String| {
            MsgElement::Other(RawElement {
                msg_type,
                json: json.to_owned(),
            })
        };
        let Ok(fields) = serde_json::from_str::<RawFields>(json) else {
            return other(String::new());
        };
        let kind: String = fields
            .get("MsgType")
            .and_then(|t| serde_json::from_str(t.get()).ok())
            .unwrap_or_default();
        let content = match (
            fields.0.len(),
            fields.get("MsgType"),
            fields.get("MsgContent"),
        ) {
            (2, Some(_), Some(content)) if content.get().starts_with('{') => content.get(),
            _ => return other(kind),
        };
        Self::typed(&kind, content).unwrap_or_else(|| other(kind))
    }

    fn typed(kind: &str, content: &str) -> Option<Self> {
        fn parse<'a, T: Deserialize<'a>>(content: &'a str) -> Option<T> {
            serde_json::from_str(content).ok()
        }
        Some(match kind {
            msg_type::TEXT => MsgElement::Text(parse(content)?),
            msg_type::CUSTOM => MsgElement::Custom(parse(content)?),
            msg_type::IMAGE => MsgElement::Image(parse(content)?),
            msg_type::FACE => MsgElement::Face(parse(content)?),
            msg_type::LOCATION => MsgElement::Location(parse(content)?),
            msg_type::SOUND => MsgElement::Sound(parse(content)?),
            msg_type::FILE => MsgElement::File(parse(content)?),
            msg_type::VIDEO_FILE => MsgElement::VideoFile(parse(content)?),
            _ => return None,
        })
    }

    /// The element's `MsgType` (for [`MsgElement::Other`], as received; `""` if none).
    pub fn msg_type(&self) -> &str {
        match self {
            MsgElement::Text(_) => msg_type::TEXT,
            MsgElement::Custom(_) => msg_type::CUSTOM,
            MsgElement::Image(_) => msg_type::IMAGE,
            MsgElement::Face(_) => msg_type::FACE,
            MsgElement::Location(_) => msg_type::LOCATION,
            MsgElement::Sound(_) => msg_type::SOUND,
            MsgElement::File(_) => msg_type::FILE,
            MsgElement::VideoFile(_) => msg_type::VIDEO_FILE,
            MsgElement::Other(raw) => raw.msg_type(),
        }
    }

    /// The text of a `TIMTextElem`.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            MsgElement::Text(elem) => Some(&elem.text),
            _ => None,
        }
    }
}

impl Serialize for MsgElement {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Typed<'a, C> {
            #[serde(rename = "MsgType")]
            msg_type: &'a str,
            #[serde(rename = "MsgContent")]
            content: &'a C,
        }
        fn typed<S: Serializer, C: Serialize>(
            serializer: S,
            msg_type: &str,
            content: &C,
        ) -> Result<S::Ok, S::Error> {
            Typed { msg_type, content }.serialize(serializer)
        }
        let t = self.msg_type();
        match self {
            MsgElement::Text(c) => typed(serializer, t, c),
            MsgElement::Custom(c) => typed(serializer, t, c),
            MsgElement::Image(c) => typed(serializer, t, c),
            MsgElement::Face(c) => typed(serializer, t, c),
            MsgElement::Location(c) => typed(serializer, t, c),
            MsgElement::Sound(c) => typed(serializer, t, c),
            MsgElement::File(c) => typed(serializer, t, c),
            MsgElement::VideoFile(c) => typed(serializer, t, c),
            MsgElement::Other(raw) => {
                let raw: &RawValue =
                    serde_json::from_str(&raw.json).map_err(serde::ser::Error::custom)?;
                raw.serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for MsgElement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <Box<RawValue>>::deserialize(deserializer).map_err(|err| {
            D::Error::custom(format!(
                "{err} (a MsgBody element needs one of serde_json's deserializers)"
            ))
        })?;
        Ok(Self::from_raw(raw.get()))
    }
}

/// The text of a `MsgBody`: the `Text` of every `TIMTextElem`, concatenated in order with no
/// separator; `None` when there is no text element.
///
/// ```
/// # use hookbox_sdk::tencent::{MsgElement, text_of};
/// let body = [MsgElement::new_text("a"), MsgElement::parse(r#"{"MsgType":"TIMFaceElem","MsgContent":{"Index":1}}"#)?, MsgElement::new_text("b")];
/// assert_eq!(text_of(&body).as_deref(), Some("ab"));
/// assert_eq!(text_of(&body[1..2]), None);
/// # Ok::<(), hookbox_sdk::Error>(())
/// ```
pub fn text_of(body: &[MsgElement]) -> Option<String> {
    let mut texts = body.iter().filter_map(MsgElement::as_text).peekable();
    texts.peek()?;
    Some(texts.collect())
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// Defines a request struct: every field `pub`, renamed to its exact JSON key, optional on input
/// and `null`-tolerant, integers also read from strings.
macro_rules! callback_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])* $json:literal $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $json, default, deserialize_with = "tolerant")]
                pub $field: $ty,
            )*
        }

        impl<'de> Tolerant<'de> for $name {
            fn read<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                nullable(deserializer)
            }
        }
    };
}

/// Defines a message callback struct (a `MsgBody` among its fields) with the text helpers.
macro_rules! message_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($fields:tt)* }
    ) => {
        callback_struct! {
            $(#[$meta])*
            pub struct $name { $($fields)* }
        }

        impl $name {
            /// The message's text: every `TIMTextElem`, concatenated; `None` without one. See
            /// [`text_of`].
            pub fn text(&self) -> Option<String> {
                text_of(&self.msg_body)
            }

            /// The `MsgType` of every element, in order.
            pub fn element_types(&self) -> Vec<&str> {
                self.msg_body.iter().map(MsgElement::msg_type).collect()
            }
        }
    };
}

message_struct! {
    /// The body of `C2C.CallbackBeforeSendMsg`. Answer with a reject, a discard, or
    /// [`SendMsgModify`].
    pub struct C2cBeforeSendMsg {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// The sender's UserID.
        "From_Account" from_account: String,
        /// The receiver's UserID.
        "To_Account" to_account: String,
        /// The message's sequence number.
        "MsgSeq" msg_seq: u64,
        /// The message's random number.
        "MsgRandom" msg_random: u64,
        /// When the message was sent, Unix seconds.
        "MsgTime" msg_time: i64,
        /// The message's key, `<MsgSeq>_<MsgRandom>_<MsgTime>`.
        "MsgKey" msg_key: String,
        /// The client's message ID (newer servers).
        "MsgId" msg_id: String,
        /// 1 when the message is delivered to online users only (not stored).
        "OnlineOnlyFlag" online_only_flag: i32,
        /// The message's elements.
        "MsgBody" msg_body: Vec<MsgElement>,
        /// Custom data stored with the message.
        "CloudCustomData" cloud_custom_data: String,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

message_struct! {
    /// The body of `C2C.CallbackAfterSendMsg`: the before-send fields plus the send result.
    pub struct C2cAfterSendMsg {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// The sender's UserID.
        "From_Account" from_account: String,
        /// The receiver's UserID.
        "To_Account" to_account: String,
        /// The message's sequence number.
        "MsgSeq" msg_seq: u64,
        /// The message's random number.
        "MsgRandom" msg_random: u64,
        /// When the message was sent, Unix seconds.
        "MsgTime" msg_time: i64,
        /// The message's key, `<MsgSeq>_<MsgRandom>_<MsgTime>`.
        "MsgKey" msg_key: String,
        /// The client's message ID (newer servers).
        "MsgId" msg_id: String,
        /// 1 when the message was delivered to online users only (not stored).
        "OnlineOnlyFlag" online_only_flag: i32,
        /// The message's elements (as modified by the before-send callback, if it did).
        "MsgBody" msg_body: Vec<MsgElement>,
        /// Custom data stored with the message.
        "CloudCustomData" cloud_custom_data: String,
        /// 0 when the message was delivered.
        "SendMsgResult" send_msg_result: i32,
        /// The result's description, e.g. `send msg succeed`.
        "ErrorInfo" error_info: String,
        /// The receiver's unread count; -1 when sending failed.
        "UnreadMsgNum" unread_msg_num: i64,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

message_struct! {
    /// The body of `Group.CallbackBeforeSendMsg`. Answer with a reject, a discard, or
    /// [`SendMsgModify`].
    pub struct GroupBeforeSendMsg {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// The group's ID, e.g. `@TGS#2J4SZEAEL`.
        "GroupId" group_id: String,
        /// The group type: `Public`, `Private`, `ChatRoom`, `AVChatRoom`, `Community`, ...
        "Type" group_type: String,
        /// The sender's UserID.
        "From_Account" from_account: String,
        /// Who made the request (an admin for REST API sends).
        "Operator_Account" operator_account: String,
        /// The request's random number.
        "Random" random: u64,
        /// The client's message ID (Live groups).
        "MsgId" msg_id: String,
        /// 1 when the message is delivered to online members only (not stored).
        "OnlineOnlyFlag" online_only_flag: i32,
        /// The message's elements.
        "MsgBody" msg_body: Vec<MsgElement>,
        /// Custom data stored with the message.
        "CloudCustomData" cloud_custom_data: String,
        /// The topic's ID (communities only).
        "TopicId" topic_id: String,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

message_struct! {
    /// The body of `Group.CallbackAfterSendMsg`: the before-send fields plus `MsgSeq` and
    /// `MsgTime`.
    pub struct GroupAfterSendMsg {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// The group's ID, e.g. `@TGS#2J4SZEAEL`.
        "GroupId" group_id: String,
        /// The group type: `Public`, `Private`, `ChatRoom`, `AVChatRoom`, `Community`, ...
        "Type" group_type: String,
        /// The sender's UserID.
        "From_Account" from_account: String,
        /// Who made the request (an admin for REST API sends).
        "Operator_Account" operator_account: String,
        /// The request's random number.
        "Random" random: u64,
        /// The client's message ID (Live groups).
        "MsgId" msg_id: String,
        /// The message's sequence number in the group.
        "MsgSeq" msg_seq: u64,
        /// When the message was sent, Unix seconds.
        "MsgTime" msg_time: i64,
        /// 1 when the message was delivered to online members only (not stored).
        "OnlineOnlyFlag" online_only_flag: i32,
        /// The message's elements (as modified by the before-send callback, if it did).
        "MsgBody" msg_body: Vec<MsgElement>,
        /// Custom data stored with the message.
        "CloudCustomData" cloud_custom_data: String,
        /// The topic's ID (communities only).
        "TopicId" topic_id: String,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

callback_struct! {
    /// One entry of a member list: `{"Member_Account": "..."}`.
    pub struct Member {
        /// The member's UserID.
        "Member_Account" member_account: String,
    }
}

callback_struct! {
    /// One custom group field of `UserDefinedDataList`.
    pub struct UserDefinedData {
        /// The field's key.
        "Key" key: String,
        /// The field's value.
        "Value" value: String,
    }
}

callback_struct! {
    /// The body of `Group.CallbackBeforeCreateGroup` (reject only).
    pub struct GroupBeforeCreateGroup {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// Who creates the group.
        "Operator_Account" operator_account: String,
        /// The future owner.
        "Owner_Account" owner_account: String,
        /// The group type.
        "Type" group_type: String,
        /// The group's name.
        "Name" name: String,
        /// How many groups the operator has created.
        "CreateGroupNum" create_group_num: i64,
        /// The initial members.
        "MemberList" member_list: Vec<Member>,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

callback_struct! {
    /// The body of `Group.CallbackAfterCreateGroup`.
    pub struct GroupAfterCreateGroup {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// The new group's ID (Tencent's field table misspells it `groupID`; bodies say
        /// `GroupId`).
        "GroupId" group_id: String,
        /// Who created the group.
        "Operator_Account" operator_account: String,
        /// The owner.
        "Owner_Account" owner_account: String,
        /// The group type.
        "Type" group_type: String,
        /// The group's name.
        "Name" name: String,
        /// The initial members.
        "MemberList" member_list: Vec<Member>,
        /// The group's custom fields.
        "UserDefinedDataList" user_defined_data_list: Vec<UserDefinedData>,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

callback_struct! {
    /// The body of `Group.CallbackAfterNewMemberJoin`.
    pub struct GroupAfterNewMemberJoin {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// The group's ID.
        "GroupId" group_id: String,
        /// The group type.
        "Type" group_type: String,
        /// `Apply` or `Invited`.
        "JoinType" join_type: String,
        /// Who made the request.
        "Operator_Account" operator_account: String,
        /// The members who joined.
        "NewMemberList" new_member_list: Vec<Member>,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

callback_struct! {
    /// The body of `Group.CallbackAfterMemberExit`.
    pub struct GroupAfterMemberExit {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// The group's ID.
        "GroupId" group_id: String,
        /// The group type.
        "Type" group_type: String,
        /// `Kicked` or `Quit`.
        "ExitType" exit_type: String,
        /// Who made the request.
        "Operator_Account" operator_account: String,
        /// The members who left.
        "ExitMemberList" exit_member_list: Vec<Member>,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

callback_struct! {
    /// One requested friend in `Sns.CallbackPrevFriendAdd`.
    pub struct FriendItem {
        /// The user asked to become a friend.
        "To_Account" to_account: String,
        /// The requester's remark for them.
        "Remark" remark: String,
        /// The friend list group to put them in.
        "GroupName" group_name: String,
        /// Where the request came from, `AddSource_Type_<source>`.
        "AddSource" add_source: String,
        /// The request message.
        "AddWording" add_wording: String,
    }
}

callback_struct! {
    /// The body of `Sns.CallbackPrevFriendAdd`. Tencent reads the decision per account from
    /// `ResultItem` (see [`PrevFriendAddModify`]); a plain reject is turned into a refusal of
    /// every account by the host.
    pub struct SnsPrevFriendAdd {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// Who made the request (an admin for REST API calls).
        "Requester_Account" requester_account: String,
        /// Whose friend list grows.
        "From_Account" from_account: String,
        /// The requested friends.
        "FriendItem" friend_item: Vec<FriendItem>,
        /// `Add_Type_Single` or `Add_Type_Both`.
        "AddType" add_type: String,
        /// 1 when added without the other side's approval (admin).
        "ForceAddFlags" force_add_flags: i32,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

impl SnsPrevFriendAdd {
    /// The requested accounts, each once, in request order: the accounts a `ResultItem` answer
    /// must list.
    pub fn accounts(&self) -> Vec<&str> {
        let mut accounts: Vec<&str> = Vec::new();
        for item in &self.friend_item {
            if !accounts.contains(&item.to_account.as_str()) {
                accounts.push(&item.to_account);
            }
        }
        accounts
    }
}

callback_struct! {
    /// One pair of `Sns.CallbackFriendAdd`'s `PairList`.
    pub struct FriendPair {
        /// Whose friend list grew.
        "From_Account" from_account: String,
        /// The new friend.
        "To_Account" to_account: String,
        /// Who started the request.
        "Initiator_Account" initiator_account: String,
    }
}

callback_struct! {
    /// The body of `Sns.CallbackFriendAdd`.
    pub struct SnsFriendAdd {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// The friendships created.
        "PairList" pair_list: Vec<FriendPair>,
        /// `friend_add`/`FriendAdd` (request) or `friend_response`/`FriendResponse` (approval).
        "ClientCmd" client_cmd: String,
        /// The admin who made the REST API call, if any.
        "Admin_Account" admin_account: String,
        /// 1 when added without approval (admin).
        "ForceFlag" force_flag: i32,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

callback_struct! {
    /// The `Info` of `State.StateChange`.
    pub struct StateInfo {
        /// `Login`, `Logout` or `Disconnect`.
        "Action" action: String,
        /// The user whose state changed.
        "To_Account" to_account: String,
        /// `Register`, `Unregister`, `LinkClose` or `TimeOut`.
        "Reason" reason: String,
    }
}

callback_struct! {
    /// A device kicked off by a login (`KickedDevice`).
    pub struct KickedDevice {
        /// The device's platform (`IOS` upper case in this callback, `Android`, `Web`, ...).
        "Platform" platform: String,
    }
}

callback_struct! {
    /// The body of `State.StateChange`.
    pub struct StateChange {
        /// The command.
        "CallbackCommand" callback_command: String,
        /// What happened.
        "Info" info: StateInfo,
        /// Devices kicked off by this login (only on `Login`).
        "KickedDevice" kicked_device: Vec<KickedDevice>,
        /// When the callback fired, Unix milliseconds; 0 when absent (number or string on input).
        "EventTime" event_time: i64,
    }
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// The fields a `C2C.CallbackBeforeSendMsg` / `Group.CallbackBeforeSendMsg` answer may set.
/// `None` fields are left out (Tencent keeps the original). To change only the text and keep
/// every other element byte for byte, prefer
/// [`TextMessage::map_text`](crate::message::TextMessage::map_text).
///
/// ```
/// # use hookbox_sdk::tencent::{MsgElement, SendMsgModify};
/// # use hookbox_sdk::Verdict;
/// let answer = SendMsgModify {
///     msg_body: Some(vec![MsgElement::new_text("***")]),
///     ..SendMsgModify::default()
/// };
/// assert_eq!(
///     answer.verdict()?,
///     Verdict::Modify(r#"{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}]}"#.into())
/// );
/// # Ok::<(), hookbox_sdk::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SendMsgModify {
    /// The new message body (replaces the whole body; must not be empty).
    #[serde(rename = "MsgBody", skip_serializing_if = "Option::is_none")]
    pub msg_body: Option<Vec<MsgElement>>,
    /// The new custom data.
    #[serde(rename = "CloudCustomData", skip_serializing_if = "Option::is_none")]
    pub cloud_custom_data: Option<String>,
}

impl SendMsgModify {
    /// The modify verdict carrying these fields.
    ///
    /// # Errors
    ///
    /// An [`MsgElement::Other`] holds text that is not JSON (impossible for elements read from
    /// a body or built with [`RawElement::new`]).
    pub fn verdict(&self) -> Result<Verdict, Error> {
        Verdict::modify(self)
    }
}

/// One answer of a `ResultItem` list (`Sns.CallbackPrevFriendAdd` /
/// `Sns.CallbackPrevFriendResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultItem {
    /// The requested account this answers.
    #[serde(rename = "To_Account")]
    pub to_account: String,
    /// 0 allows; a code in [`code::FRIEND`] refuses.
    #[serde(rename = "ResultCode")]
    pub result_code: i32,
    /// The reason, for a refusal.
    #[serde(rename = "ResultInfo")]
    pub result_info: String,
}

impl ResultItem {
    /// Allow the request for `account`.
    pub fn allow(account: impl Into<String>) -> Self {
        Self {
            to_account: account.into(),
            result_code: 0,
            result_info: String::new(),
        }
    }

    /// Refuse the request for `account`; `code` outside [`code::FRIEND`] becomes 38000.
    pub fn refuse(account: impl Into<String>, code: i32, info: impl Into<String>) -> Self {
        let range: RangeInclusive<i32> = code::FRIEND;
        Self {
            to_account: account.into(),
            result_code: if range.contains(&code) {
                code
            } else {
                *range.start()
            },
            result_info: info.into(),
        }
    }
}

/// The field a `Sns.CallbackPrevFriendAdd` answer sets: one [`ResultItem`] per requested
/// account (see [`SnsPrevFriendAdd::accounts`]); the host refuses an answer that misses or
/// repeats one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrevFriendAddModify {
    /// The per-account decisions.
    #[serde(rename = "ResultItem")]
    pub result_item: Vec<ResultItem>,
}

impl PrevFriendAddModify {
    /// The modify verdict carrying these results.
    ///
    /// # Errors
    ///
    /// Never in practice (the fields always serialise); the `Result` mirrors
    /// [`Verdict::modify`].
    pub fn verdict(&self) -> Result<Verdict, Error> {
        Verdict::modify(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lists_are_complete_and_unique() {
        let mut all = command::ALL.to_vec();
        assert_eq!(all.len(), 34);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 34);
        assert_eq!(command::BEFORE.len(), 8);
        assert!(command::BEFORE.iter().all(|c| command::ALL.contains(c)));
        for c in command::ALL {
            assert_eq!(
                code::custom_range(c).is_some(),
                command::BEFORE.contains(c),
                "{c}"
            );
        }
    }

    #[test]
    fn peek_agrees_with_the_typed_reading() {
        for json in [
            r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"a","Lang":"en"}}"#,
            r#"{"MsgContent":{"Text":"b"},"MsgType":"TIMTextElem"}"#,
            r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":5}}"#,
            r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":null}}"#,
            r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"a","Text":"b"}}"#,
            r#"{"MsgType":"TIMTextElem","MsgContent":["a"]}"#,
            r#"{"MsgType":"TIMTextElem","MsgContent":{}}"#,
            r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"},"More":1}"#,
            r#"{"MsgType":"TIMTextElem"}"#,
            r#"{"MsgType":"TIMFaceElem","MsgContent":{"Index":1}}"#,
            r#"{"MsgType":7,"MsgContent":{"Text":"x"}}"#,
            r#"{"MsgContent":{"Text":"x"}}"#,
            r#""TIMTextElem""#,
        ] {
            let elem = MsgElement::parse(json).unwrap();
            let (kind, text) = peek_element(json);
            assert_eq!(kind, elem.msg_type(), "{json}");
            assert_eq!(text.as_deref(), elem.as_text(), "{json}");
        }
    }

    #[test]
    fn result_item_codes() {
        assert_eq!(ResultItem::refuse("a", 5, "no").result_code, 38_000);
        assert_eq!(ResultItem::refuse("a", 38_500, "no").result_code, 38_500);
        assert_eq!(ResultItem::allow("a").result_code, 0);
    }
}
