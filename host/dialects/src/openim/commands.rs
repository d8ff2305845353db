//! The OpenIM command table: every callback command OpenIM Server `main` sends (52), whether it
//! waits for the answer, its `webhooks.yml` key, what a modification may set (with JSON types) and
//! which request fields the answer must echo.
//!
//! This is the one table; parsing, rendering, modification checks, after-callback queueing and
//! verdict validation all read it. Source: `protocols/openim.md` §3 (commands) and §4 (fields).
//! It is not a request schema: request bodies are never validated against it.
//!
//! The decision a reader may question: modifications are typed *stricter* than Go decodes them
//! (unknown and case-variant keys are refused, plain Go strings refuse `null`). Go would ignore an
//! unknown key, which hides a plugin's typo; and a wrongly typed key makes OpenIM fail the user's
//! action with 90007, so every doubt is resolved on our side, where the plugin author sees it.

use hookbox_model::Phase;

use crate::modify_rule::FieldName;

/// One OpenIM callback command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// The command string, exactly as OpenIM sends it (URL segment and `callbackCommand`).
    pub name: &'static str,
    /// Whether OpenIM waits for the answer (before) or only logs it (after).
    pub phase: Phase,
    /// What a modification may set.
    pub modify: ModifyRule,
    /// The command's key in OpenIM's `webhooks.yml`.
    pub config_key: &'static str,
    /// Request fields the allow and modify answers must repeat, because OpenIM overwrites its own
    /// values with the response's (`§4.6` echo rule). Empty for most commands.
    pub echo: &'static [&'static str],
    /// Whether OpenIM adds the `key` query parameter (base64 JSON of sendID/recvID/groupID).
    pub key_query: bool,
}

/// What OpenIM does with the fields of an answer to one command.
pub type ModifyRule = crate::modify_rule::ModifyRule<FieldRule>;

/// One field a modification may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// The JSON key (exact case).
    pub name: &'static str,
    /// Its JSON type.
    pub ty: FieldType,
    /// An extra condition.
    pub requirement: Requirement,
}

impl FieldName for FieldRule {
    fn name(&self) -> &'static str {
        self.name
    }
}

/// The JSON type a field must have (how OpenIM's Go struct decodes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Go `string`: a JSON string. `null` is refused (Go would read it as "").
    String,
    /// Go `*string` / `StringValue`: a string, or `null` for "keep".
    NullableString,
    /// Go `int32` (inside a struct): an integer in the int32 range. `null` is refused.
    Int32,
    /// Go `int64` (inside a struct): an integer in the int64 range. `null` is refused.
    Int64,
    /// Go `bool` (inside a struct): `true`/`false`. `null` is refused.
    Bool,
    /// Go `*int32` / `Int32Value`: an integer in the int32 range, or `null`.
    NullableInt32,
    /// Go `*int64`: an integer in the int64 range, or `null`.
    NullableInt64,
    /// Go `*bool` / `BoolValue`: `true`/`false`, or `null`.
    NullableBool,
    /// Go `[]string`: an array of strings, or `null` (OpenIM treats empty/null as "keep").
    StringList,
    /// Go `map[string]bool`: an object whose values are booleans, or `null`.
    BoolMap,
    /// Go `*string` holding message content: a string whose text is a JSON object, or `null`.
    JsonObjectText,
    /// A Go struct pointer: an object with exactly these keys (all optional), or `null`.
    Object(&'static [FieldRule]),
    /// A Go slice of structs: an array of such objects, or `null`.
    ObjectList(&'static [FieldRule]),
    /// OpenIM decodes the field, but a plugin must not set it; the reason is in the error.
    Refused(&'static str),
}

impl FieldType {
    /// How an error message describes the expected JSON.
    pub fn expected(&self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::NullableString => "a string or null",
            FieldType::Int32 => "an int32 integer",
            FieldType::Int64 => "an int64 integer",
            FieldType::Bool => "a boolean",
            FieldType::NullableInt32 => "an int32 integer or null",
            FieldType::NullableInt64 => "an int64 integer or null",
            FieldType::NullableBool => "a boolean or null",
            FieldType::StringList => "an array of strings or null",
            FieldType::BoolMap => "an object of booleans or null",
            FieldType::JsonObjectText => "a string holding a JSON object, or null",
            FieldType::Object(_) => "an object or null",
            FieldType::ObjectList(_) => "an array of objects or null",
            FieldType::Refused(_) => "absent",
        }
    }
}

/// An extra condition on a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// None.
    None,
    /// The key must be present and non-null (in a nested object).
    Required,
    /// A non-null value may only be set if the request's top-level field of the same name was
    /// non-null (`NotNilReplace` dereferences the request's wrapper: nil → panic).
    NonNullInRequest,
}

const fn field(name: &'static str, ty: FieldType) -> FieldRule {
    FieldRule {
        name,
        ty,
        requirement: Requirement::None,
    }
}

const fn required(name: &'static str, ty: FieldType) -> FieldRule {
    FieldRule {
        name,
        ty,
        requirement: Requirement::Required,
    }
}

const fn set_in_request(name: &'static str, ty: FieldType) -> FieldRule {
    FieldRule {
        name,
        ty,
        requirement: Requirement::NonNullInRequest,
    }
}

use FieldType::{
    BoolMap, JsonObjectText, NullableBool, NullableInt32, NullableInt64, NullableString, Object,
    ObjectList, Refused, StringList,
};

/// `sdkws.OfflinePushInfo`.
const OFFLINE_PUSH_INFO: &[FieldRule] = &[
    field("title", FieldType::String),
    field("desc", FieldType::String),
    field("ex", FieldType::String),
    field("iOSPushSound", FieldType::String),
    field("iOSBadgeCount", FieldType::Bool),
    field("signalInfo", FieldType::String),
];

/// `sdkws.UserInfo`.
const USER_INFO: &[FieldRule] = &[
    field("userID", FieldType::String),
    field("nickname", FieldType::String),
    field("faceURL", FieldType::String),
    field("ex", FieldType::String),
    field("createTime", FieldType::Int64),
    field("appMangerLevel", FieldType::Int32),
    field("globalRecvMsgOpt", FieldType::Int32),
];

/// One entry of `memberCallbackList` (`callbackBeforeMembersJoinGroupCommand`).
const MEMBER_CALLBACK: &[FieldRule] = &[
    required("userID", FieldType::String),
    field("nickname", NullableString),
    field("faceURL", NullableString),
    field("roleLevel", NullableInt32),
    field("muteEndTime", NullableInt64),
    field("ex", NullableString),
];

const MSG_MODIFY: &[FieldRule] = &[
    field("content", JsonObjectText),
    field("recvID", NullableString),
    field("groupID", NullableString),
    field("clientMsgID", NullableString),
    field("serverMsgID", NullableString),
    field("senderPlatformID", NullableInt32),
    field("senderNickname", NullableString),
    field("senderFaceURL", NullableString),
    field("sessionType", NullableInt32),
    field("msgFrom", NullableInt32),
    field("contentType", NullableInt32),
    field("status", NullableInt32),
    field("options", BoolMap),
    field(
        "offlinePushInfo",
        Refused(
            "OpenIM copies it into the message's own offlinePushInfo, which is nil for most \
             messages: a nil-pointer panic in the msg service",
        ),
    ),
    field("atUserIDList", StringList),
    field(
        "msgDataList",
        Refused("OpenIM decodes it but never applies it"),
    ),
    field("attachedInfo", NullableString),
    field("ex", NullableString),
];

const OFFLINE_PUSH: &[FieldRule] = &[
    field("userIDList", StringList),
    field("offlinePushInfo", Object(OFFLINE_PUSH_INFO)),
];

const GROUP_ONLINE_PUSH: &[FieldRule] = &[
    field("userIDList", StringList),
    field(
        "offlinePushInfo",
        Refused("OpenIM decodes it but never applies it for online pushes"),
    ),
];

const IMPORT_FRIENDS: &[FieldRule] = &[field("friendUserIDs", StringList)];

const SET_FRIEND_REMARK: &[FieldRule] = &[field("remark", FieldType::String)];

const UPDATE_USER_INFO: &[FieldRule] = &[
    field("nickName", NullableString),
    field("faceURL", NullableString),
    field("ex", NullableString),
];

const UPDATE_USER_INFO_EX: &[FieldRule] = &[
    set_in_request("nickName", NullableString),
    set_in_request("faceURL", NullableString),
    set_in_request("ex", NullableString),
];

const USER_REGISTER: &[FieldRule] = &[field("users", ObjectList(USER_INFO))];

const CREATE_GROUP: &[FieldRule] = &[
    field("groupID", NullableString),
    field("groupName", NullableString),
    field("notification", NullableString),
    field("introduction", NullableString),
    field("faceURL", NullableString),
    field("ownerUserID", NullableString),
    field("ex", NullableString),
    field("status", NullableInt32),
    field("creatorUserID", NullableString),
    field("groupType", NullableInt32),
    field("needVerification", NullableInt32),
    field("lookMemberInfo", NullableInt32),
    field(
        "applyMemberFriend",
        Refused("OpenIM decodes it but never applies it when creating a group"),
    ),
];

const MEMBERS_JOIN_GROUP: &[FieldRule] =
    &[field("memberCallbackList", ObjectList(MEMBER_CALLBACK))];

const SET_GROUP_MEMBER_INFO: &[FieldRule] = &[
    field("ex", NullableString),
    field("nickName", NullableString),
    field("faceURL", NullableString),
    field("roleLevel", NullableInt32),
];

const GROUP_ID_REFUSED: &str = "the host echoes the request's groupID; changing it would apply \
                                the change to another group";
const NOTIFICATION_REFUSED: &str = "OpenIM never applies it from this callback";

const SET_GROUP_INFO: &[FieldRule] = &[
    field("groupID", Refused(GROUP_ID_REFUSED)),
    field("groupName", FieldType::String),
    field("notification", Refused(NOTIFICATION_REFUSED)),
    field("introduction", FieldType::String),
    field("faceURL", FieldType::String),
    field("ex", NullableString),
    field("needVerification", NullableInt32),
    field("lookMemberInfo", NullableInt32),
    field("applyMemberFriend", NullableInt32),
];

const SET_GROUP_INFO_EX: &[FieldRule] = &[
    field("groupID", Refused(GROUP_ID_REFUSED)),
    field("groupName", NullableString),
    field("notification", Refused(NOTIFICATION_REFUSED)),
    field("introduction", NullableString),
    field("faceURL", NullableString),
    field("ex", NullableString),
    field("needVerification", NullableInt32),
    field("lookMemberInfo", NullableInt32),
    field("applyMemberFriend", NullableInt32),
];

const CREATE_CONVERSATIONS: &[FieldRule] = &[
    field("recvMsgOpt", NullableInt32),
    field("isPinned", NullableBool),
    field("isPrivateChat", NullableBool),
    field("burnDuration", NullableInt32),
    field("groupAtType", NullableInt32),
    field("attachedInfo", NullableString),
    field("ex", NullableString),
];

/// `callbackBeforeSetGroupInfoCommand`: the four plain-string fields OpenIM always overwrites, plus
/// groupID (without it the update targets group ""), plus notification (not applied today; echoed
/// so a pass-through stays one if OpenIM starts applying it the same way).
const SET_GROUP_INFO_ECHO: &[&str] = &[
    "groupID",
    "groupName",
    "notification",
    "introduction",
    "faceURL",
];

/// `callbackBeforeSetGroupInfoExCommand`: every field OpenIM overwrites, nil included.
const SET_GROUP_INFO_EX_ECHO: &[&str] = &[
    "groupID",
    "groupName",
    "faceURL",
    "introduction",
    "ex",
    "needVerification",
    "lookMemberInfo",
    "applyMemberFriend",
];

const fn before(name: &'static str, config_key: &'static str, modify: ModifyRule) -> CommandInfo {
    CommandInfo {
        name,
        phase: Phase::Before,
        modify,
        config_key,
        echo: &[],
        key_query: false,
    }
}

const fn deny_only(name: &'static str, config_key: &'static str) -> CommandInfo {
    before(name, config_key, ModifyRule::DenyOnly)
}

const fn fields(
    name: &'static str,
    config_key: &'static str,
    fields: &'static [FieldRule],
) -> CommandInfo {
    before(name, config_key, ModifyRule::Fields(fields))
}

const fn echoing(
    name: &'static str,
    config_key: &'static str,
    fields: &'static [FieldRule],
    echo: &'static [&'static str],
) -> CommandInfo {
    CommandInfo {
        echo,
        ..before(name, config_key, ModifyRule::Fields(fields))
    }
}

const fn after(name: &'static str, config_key: &'static str) -> CommandInfo {
    CommandInfo {
        name,
        phase: Phase::After,
        modify: ModifyRule::Ignored,
        config_key,
        echo: &[],
        key_query: false,
    }
}

const fn after_with_key(name: &'static str, config_key: &'static str) -> CommandInfo {
    CommandInfo {
        key_query: true,
        ..after(name, config_key)
    }
}

/// Every command of OpenIM Server `main` (`pkg/callbackstruct/constant.go`), in the order of
/// `protocols/openim.md` §3: 52 commands, 23 before, 29 after.
pub static COMMANDS: &[CommandInfo] = &[
    // §3.1 messages
    deny_only("callbackBeforeSendSingleMsgCommand", "beforeSendSingleMsg"),
    after_with_key("callbackAfterSendSingleMsgCommand", "afterSendSingleMsg"),
    deny_only("callbackBeforeSendGroupMsgCommand", "beforeSendGroupMsg"),
    after_with_key("callbackAfterSendGroupMsgCommand", "afterSendGroupMsg"),
    fields(
        "callbackBeforeMsgModifyCommand",
        "beforeMsgModify",
        MSG_MODIFY,
    ),
    after_with_key("callbackAfterMsgSaveDBCommand", "afterMsgSaveDB"),
    after("callbackAfterGroupMsgReadCommand", "afterGroupMsgRead"),
    after("callbackAfterSingleMsgReadCommand", "afterSingleMsgRead"),
    // Revoke: OpenIM's constant CallbackAfterRevokeMsgCommand really has this string value.
    after("callbackBeforeAfterMsgCommand", "afterRevokeMsg"),
    // §3.2 online / offline
    after("callbackAfterUserOnlineCommand", "afterUserOnline"),
    after("callbackAfterUserOfflineCommand", "afterUserOffline"),
    after("callbackAfterUserKickOffCommand", "afterUserKickOff"),
    // §3.3 push
    fields(
        "callbackBeforeOfflinePushCommand",
        "beforeOfflinePush",
        OFFLINE_PUSH,
    ),
    deny_only("callbackBeforeOnlinePushCommand", "beforeOnlinePush"),
    fields(
        "callbackBeforeGroupOnlinePushCommand",
        "beforeGroupOnlinePush",
        GROUP_ONLINE_PUSH,
    ),
    // §3.4 friends / blacklist
    deny_only("callbackBeforeAddFriendCommand", "beforeAddFriend"),
    after("callbackAfterAddFriendCommand", "afterAddFriend"),
    deny_only(
        "callbackBeforeAddFriendAgreeCommand",
        "beforeAddFriendAgree",
    ),
    after("callbackAfterAddFriendAgreeCommand", "afterAddFriendAgree"),
    after("callbackAfterDeleteFriendCommand", "afterDeleteFriend"),
    fields(
        "callbackBeforeImportFriendsCommand",
        "beforeImportFriends",
        IMPORT_FRIENDS,
    ),
    after("callbackAfterImportFriendsCommand", "afterImportFriends"),
    fields(
        "callbackBeforeSetFriendRemarkCommand",
        "beforeSetFriendRemark",
        SET_FRIEND_REMARK,
    ),
    after(
        "callbackAfterSetFriendRemarkCommand",
        "afterSetFriendRemark",
    ),
    deny_only("callbackBeforeAddBlackCommand", "beforeAddBlack"),
    after("callbackAfterRemoveBlackCommand", "afterRemoveBlack"),
    // §3.5 users
    fields(
        "callbackBeforeUpdateUserInfoCommand",
        "beforeUpdateUserInfo",
        UPDATE_USER_INFO,
    ),
    after("callbackAfterUpdateUserInfoCommand", "afterUpdateUserInfo"),
    fields(
        "callbackBeforeUpdateUserInfoExCommand",
        "beforeUpdateUserInfoEx",
        UPDATE_USER_INFO_EX,
    ),
    after(
        "callbackAfterUpdateUserInfoExCommand",
        "afterUpdateUserInfoEx",
    ),
    fields(
        "callbackBeforeUserRegisterCommand",
        "beforeUserRegister",
        USER_REGISTER,
    ),
    after("callbackAfterUserRegisterCommand", "afterUserRegister"),
    // §3.6 groups
    fields(
        "callbackBeforeCreateGroupCommand",
        "beforeCreateGroup",
        CREATE_GROUP,
    ),
    after("callbackAfterCreateGroupCommand", "afterCreateGroup"),
    fields(
        "callbackBeforeMembersJoinGroupCommand",
        "beforeMemberJoinGroup",
        MEMBERS_JOIN_GROUP,
    ),
    fields(
        "callbackBeforeSetGroupMemberInfoCommand",
        "beforeSetGroupMemberInfo",
        SET_GROUP_MEMBER_INFO,
    ),
    after(
        "callbackAfterSetGroupMemberInfoCommand",
        "afterSetGroupMemberInfo",
    ),
    after("callbackAfterQuitGroupCommand", "afterQuitGroup"),
    after("callbackAfterKickGroupCommand", "afterKickGroupMember"),
    after("callbackAfterDisMissGroupCommand", "afterDismissGroup"),
    deny_only("callbackBeforeJoinGroupCommand", "beforeApplyJoinGroup"),
    after("callbackAfterJoinGroupCommand", "afterJoinGroup"),
    after(
        "callbackAfterTransferGroupOwnerCommand",
        "afterTransferGroupOwner",
    ),
    // refusedMembersAccount is decoded but its handling is commented out in OpenIM: deny only.
    deny_only(
        "callbackBeforeInviteJoinGroupCommand",
        "beforeInviteUserToGroup",
    ),
    echoing(
        "callbackBeforeSetGroupInfoCommand",
        "beforeSetGroupInfo",
        SET_GROUP_INFO,
        SET_GROUP_INFO_ECHO,
    ),
    after("callbackAfterSetGroupInfoCommand", "afterSetGroupInfo"),
    echoing(
        "callbackBeforeSetGroupInfoExCommand",
        "beforeSetGroupInfoEx",
        SET_GROUP_INFO_EX,
        SET_GROUP_INFO_EX_ECHO,
    ),
    after("callbackAfterSetGroupInfoExCommand", "afterSetGroupInfoEx"),
    // §3.7 conversations
    fields(
        "callbackBeforeCreateSingleChatConversationsCommand",
        "beforeCreateSingleChatConversations",
        CREATE_CONVERSATIONS,
    ),
    after(
        "callbackAfterCreateSingleChatConversationsCommand",
        "afterCreateSingleChatConversations",
    ),
    fields(
        "callbackBeforeCreateGroupChatConversationsCommand",
        "beforeCreateGroupChatConversations",
        CREATE_CONVERSATIONS,
    ),
    after(
        "callbackAfterCreateGroupChatConversationsCommand",
        "afterCreateGroupChatConversations",
    ),
];

/// The table entry for `name` (exact, case-sensitive match).
pub fn command(name: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.name == name)
}
