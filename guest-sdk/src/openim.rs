//! Typed request bodies of OpenIM Server callbacks.
//!
//! Parse one with [`Event::json`](crate::Event::json):
//!
//! ```
//! # use hookbox_sdk::{Dialect, Event, openim};
//! let event = Event::new(
//!     Dialect::OpenIm,
//!     openim::command::BEFORE_SEND_SINGLE_MSG,
//!     r#"{"sendID":"u1","recvID":"u2","contentType":101,"content":"{\"content\":\"hi\"}","atUserList":null}"#,
//! );
//! let msg: openim::SendSingleMsgReq = event.json()?;
//! assert_eq!(msg.send_id, "u1");
//! assert_eq!(msg.text().as_deref(), Some("hi"));
//! assert!(msg.at_user_list.is_empty());
//! # Ok::<(), hookbox_sdk::Error>(())
//! ```
//!
//! The structs follow the OpenIM server code, not its docs: JSON keys are spelled exactly as
//! the server sends them (`sendID`, `faceURL`, `ownerUserId`, `Seqs`, ...). Every field is
//! optional on input and a JSON `null` reads as the field's default (Go sends `null` for nil
//! slices), so older servers that lack a field still parse. Unknown fields are ignored. For
//! commands without a struct here, use [`Event::value`](crate::Event::value).
//!
//! Modifying callbacks answer with a [`Verdict::modify`](crate::Verdict::modify) whose keys are
//! the response fields OpenIM applies; for `callbackBeforeMsgModifyCommand` use
//! [`Verdict::replace_text`](crate::Verdict::replace_text).

use serde::{Deserialize, Serialize};

use std::borrow::Cow;

use crate::Error;
use crate::json::{RawFields, keep, nullable, raw_string, visit_members};

/// Callback command names, exactly as OpenIM sends them in the URL and `callbackCommand`.
pub mod command {
    /// Before a one-to-one message is sent (reject only).
    pub const BEFORE_SEND_SINGLE_MSG: &str = "callbackBeforeSendSingleMsgCommand";
    /// After a one-to-one message was sent.
    pub const AFTER_SEND_SINGLE_MSG: &str = "callbackAfterSendSingleMsgCommand";
    /// Before a group message is sent (reject only).
    pub const BEFORE_SEND_GROUP_MSG: &str = "callbackBeforeSendGroupMsgCommand";
    /// After a group message was sent.
    pub const AFTER_SEND_GROUP_MSG: &str = "callbackAfterSendGroupMsgCommand";
    /// Before any message is sent, after the before-send check; the message may be modified.
    pub const BEFORE_MSG_MODIFY: &str = "callbackBeforeMsgModifyCommand";
    /// After a message was written to the database.
    pub const AFTER_MSG_SAVE_DB: &str = "callbackAfterMsgSaveDBCommand";
    /// After a user marked a group conversation read.
    pub const AFTER_GROUP_MSG_READ: &str = "callbackAfterGroupMsgReadCommand";
    /// After a user marked one-to-one messages read.
    pub const AFTER_SINGLE_MSG_READ: &str = "callbackAfterSingleMsgReadCommand";
    /// After a message was revoked (the server's real, oddly named command).
    pub const AFTER_REVOKE_MSG: &str = "callbackBeforeAfterMsgCommand";
    /// After a user came online on a platform.
    pub const AFTER_USER_ONLINE: &str = "callbackAfterUserOnlineCommand";
    /// After a user went offline on a platform.
    pub const AFTER_USER_OFFLINE: &str = "callbackAfterUserOfflineCommand";
    /// After a user was kicked off (defined, never sent by current servers).
    pub const AFTER_USER_KICK_OFF: &str = "callbackAfterUserKickOffCommand";
    /// Before an offline push.
    pub const BEFORE_OFFLINE_PUSH: &str = "callbackBeforeOfflinePushCommand";
    /// Before an online push of a one-to-one message.
    pub const BEFORE_ONLINE_PUSH: &str = "callbackBeforeOnlinePushCommand";
    /// Before an online push of a group message.
    pub const BEFORE_GROUP_ONLINE_PUSH: &str = "callbackBeforeGroupOnlinePushCommand";
    /// Before a friend request is stored.
    pub const BEFORE_ADD_FRIEND: &str = "callbackBeforeAddFriendCommand";
    /// After a friend request was stored.
    pub const AFTER_ADD_FRIEND: &str = "callbackAfterAddFriendCommand";
    /// Before a friend request is accepted.
    pub const BEFORE_ADD_FRIEND_AGREE: &str = "callbackBeforeAddFriendAgreeCommand";
    /// After a friend request was accepted.
    pub const AFTER_ADD_FRIEND_AGREE: &str = "callbackAfterAddFriendAgreeCommand";
    /// After a friend was deleted.
    pub const AFTER_DELETE_FRIEND: &str = "callbackAfterDeleteFriendCommand";
    /// Before an admin imports friends.
    pub const BEFORE_IMPORT_FRIENDS: &str = "callbackBeforeImportFriendsCommand";
    /// After an admin imported friends.
    pub const AFTER_IMPORT_FRIENDS: &str = "callbackAfterImportFriendsCommand";
    /// Before a friend remark is set.
    pub const BEFORE_SET_FRIEND_REMARK: &str = "callbackBeforeSetFriendRemarkCommand";
    /// After a friend remark was set.
    pub const AFTER_SET_FRIEND_REMARK: &str = "callbackAfterSetFriendRemarkCommand";
    /// Before a user is added to a blacklist.
    pub const BEFORE_ADD_BLACK: &str = "callbackBeforeAddBlackCommand";
    /// After a user was removed from a blacklist.
    pub const AFTER_REMOVE_BLACK: &str = "callbackAfterRemoveBlackCommand";
    /// Before a user's profile is updated.
    pub const BEFORE_UPDATE_USER_INFO: &str = "callbackBeforeUpdateUserInfoCommand";
    /// After a user's profile was updated.
    pub const AFTER_UPDATE_USER_INFO: &str = "callbackAfterUpdateUserInfoCommand";
    /// Before a user's profile is updated (partial-update API).
    pub const BEFORE_UPDATE_USER_INFO_EX: &str = "callbackBeforeUpdateUserInfoExCommand";
    /// After a user's profile was updated (partial-update API).
    pub const AFTER_UPDATE_USER_INFO_EX: &str = "callbackAfterUpdateUserInfoExCommand";
    /// Before users are registered.
    pub const BEFORE_USER_REGISTER: &str = "callbackBeforeUserRegisterCommand";
    /// After users were registered.
    pub const AFTER_USER_REGISTER: &str = "callbackAfterUserRegisterCommand";
    /// Before a group is created.
    pub const BEFORE_CREATE_GROUP: &str = "callbackBeforeCreateGroupCommand";
    /// After a group was created.
    pub const AFTER_CREATE_GROUP: &str = "callbackAfterCreateGroupCommand";
    /// Before members join a group.
    pub const BEFORE_MEMBERS_JOIN_GROUP: &str = "callbackBeforeMembersJoinGroupCommand";
    /// Before a group member's info is set.
    pub const BEFORE_SET_GROUP_MEMBER_INFO: &str = "callbackBeforeSetGroupMemberInfoCommand";
    /// After a group member's info was set.
    pub const AFTER_SET_GROUP_MEMBER_INFO: &str = "callbackAfterSetGroupMemberInfoCommand";
    /// After a member quit a group.
    pub const AFTER_QUIT_GROUP: &str = "callbackAfterQuitGroupCommand";
    /// After members were kicked from a group.
    pub const AFTER_KICK_GROUP: &str = "callbackAfterKickGroupCommand";
    /// After a group was dismissed (the server's spelling).
    pub const AFTER_DISMISS_GROUP: &str = "callbackAfterDisMissGroupCommand";
    /// Before an application to join a group is stored.
    pub const BEFORE_JOIN_GROUP: &str = "callbackBeforeJoinGroupCommand";
    /// After a user joined a group directly.
    pub const AFTER_JOIN_GROUP: &str = "callbackAfterJoinGroupCommand";
    /// After a group's owner changed.
    pub const AFTER_TRANSFER_GROUP_OWNER: &str = "callbackAfterTransferGroupOwnerCommand";
    /// Before users are invited to a group.
    pub const BEFORE_INVITE_JOIN_GROUP: &str = "callbackBeforeInviteJoinGroupCommand";
    /// Before a group's info is set (the answer must echo the request, see the protocol notes).
    pub const BEFORE_SET_GROUP_INFO: &str = "callbackBeforeSetGroupInfoCommand";
    /// After a group's info was set.
    pub const AFTER_SET_GROUP_INFO: &str = "callbackAfterSetGroupInfoCommand";
    /// Before a group's info is set (partial-update API; the answer must echo the request).
    pub const BEFORE_SET_GROUP_INFO_EX: &str = "callbackBeforeSetGroupInfoExCommand";
    /// After a group's info was set (partial-update API).
    pub const AFTER_SET_GROUP_INFO_EX: &str = "callbackAfterSetGroupInfoExCommand";
    /// Before one-to-one conversations are created.
    pub const BEFORE_CREATE_SINGLE_CHAT_CONVERSATIONS: &str =
        "callbackBeforeCreateSingleChatConversationsCommand";
    /// After one-to-one conversations were created.
    pub const AFTER_CREATE_SINGLE_CHAT_CONVERSATIONS: &str =
        "callbackAfterCreateSingleChatConversationsCommand";
    /// Before group conversations are created.
    pub const BEFORE_CREATE_GROUP_CHAT_CONVERSATIONS: &str =
        "callbackBeforeCreateGroupChatConversationsCommand";
    /// After group conversations were created.
    pub const AFTER_CREATE_GROUP_CHAT_CONVERSATIONS: &str =
        "callbackAfterCreateGroupChatConversationsCommand";

    /// Every command of OpenIM Server `main` (52).
    pub const ALL: &[&str] = &[
        BEFORE_SEND_SINGLE_MSG,
        AFTER_SEND_SINGLE_MSG,
        BEFORE_SEND_GROUP_MSG,
        AFTER_SEND_GROUP_MSG,
        BEFORE_MSG_MODIFY,
        AFTER_MSG_SAVE_DB,
        AFTER_GROUP_MSG_READ,
        AFTER_SINGLE_MSG_READ,
        AFTER_REVOKE_MSG,
        AFTER_USER_ONLINE,
        AFTER_USER_OFFLINE,
        AFTER_USER_KICK_OFF,
        BEFORE_OFFLINE_PUSH,
        BEFORE_ONLINE_PUSH,
        BEFORE_GROUP_ONLINE_PUSH,
        BEFORE_ADD_FRIEND,
        AFTER_ADD_FRIEND,
        BEFORE_ADD_FRIEND_AGREE,
        AFTER_ADD_FRIEND_AGREE,
        AFTER_DELETE_FRIEND,
        BEFORE_IMPORT_FRIENDS,
        AFTER_IMPORT_FRIENDS,
        BEFORE_SET_FRIEND_REMARK,
        AFTER_SET_FRIEND_REMARK,
        BEFORE_ADD_BLACK,
        AFTER_REMOVE_BLACK,
        BEFORE_UPDATE_USER_INFO,
        AFTER_UPDATE_USER_INFO,
        BEFORE_UPDATE_USER_INFO_EX,
        AFTER_UPDATE_USER_INFO_EX,
        BEFORE_USER_REGISTER,
        AFTER_USER_REGISTER,
        BEFORE_CREATE_GROUP,
        AFTER_CREATE_GROUP,
        BEFORE_MEMBERS_JOIN_GROUP,
        BEFORE_SET_GROUP_MEMBER_INFO,
        AFTER_SET_GROUP_MEMBER_INFO,
        AFTER_QUIT_GROUP,
        AFTER_KICK_GROUP,
        AFTER_DISMISS_GROUP,
        BEFORE_JOIN_GROUP,
        AFTER_JOIN_GROUP,
        AFTER_TRANSFER_GROUP_OWNER,
        BEFORE_INVITE_JOIN_GROUP,
        BEFORE_SET_GROUP_INFO,
        AFTER_SET_GROUP_INFO,
        BEFORE_SET_GROUP_INFO_EX,
        AFTER_SET_GROUP_INFO_EX,
        BEFORE_CREATE_SINGLE_CHAT_CONVERSATIONS,
        AFTER_CREATE_SINGLE_CHAT_CONVERSATIONS,
        BEFORE_CREATE_GROUP_CHAT_CONVERSATIONS,
        AFTER_CREATE_GROUP_CHAT_CONVERSATIONS,
    ];
}

/// Message `contentType` values (OpenIM protocol `constant`).
pub mod content_type {
    /// Plain text: content `{"content":"..."}`.
    pub const TEXT: i32 = 101;
    /// Picture.
    pub const PICTURE: i32 = 102;
    /// Voice.
    pub const VOICE: i32 = 103;
    /// Video.
    pub const VIDEO: i32 = 104;
    /// File.
    pub const FILE: i32 = 105;
    /// Text with @-mentions: content `{"text":"...","atUserList":[...],...}`.
    pub const AT_TEXT: i32 = 106;
    /// Merged (forwarded) messages.
    pub const MERGER: i32 = 107;
    /// Contact card.
    pub const CARD: i32 = 108;
    /// Location.
    pub const LOCATION: i32 = 109;
    /// Custom message.
    pub const CUSTOM: i32 = 110;
    /// Typing indicator (never sent to message callbacks).
    pub const TYPING: i32 = 113;
    /// A reply quoting another message: content `{"text":"...","quoteMessage":{...}}`.
    pub const QUOTE: i32 = 114;
    /// Rich text: content `{"text":"...","messageEntityList":[...]}`.
    pub const ADVANCED_TEXT: i32 = 117;
}

/// The key of the user-typed text inside a message's content JSON, for the content types
/// that carry text.
fn text_key(content_type: i32) -> Option<&'static str> {
    match content_type {
        content_type::TEXT => Some("content"),
        content_type::AT_TEXT | content_type::QUOTE | content_type::ADVANCED_TEXT => Some("text"),
        _ => None,
    }
}

/// The text a user typed, from a message's `contentType` and `content` (which is itself JSON
/// text): `content` of a text message (101), `text` of an @-message (106), a quote (114) or
/// rich text (117). `None` for other content types or content that is not the expected JSON.
///
/// ```
/// # use hookbox_sdk::openim::text_of;
/// assert_eq!(text_of(101, r#"{"content":"hi"}"#).as_deref(), Some("hi"));
/// assert_eq!(text_of(106, r#"{"text":"@bob hi","atUserList":["bob"]}"#).as_deref(), Some("@bob hi"));
/// assert_eq!(text_of(102, r#"{"sourcePicture":{}}"#), None);
/// ```
pub fn text_of(content_type: i32, content: &str) -> Option<String> {
    let key = text_key(content_type)?;
    let mut text = None;
    visit_members(content, |k, value| {
        if k == key {
            keep(&mut text, k, value)?;
        }
        Ok::<(), Error>(())
    })
    .ok()?;
    text?.string_or_null().ok()?.map(Cow::into_owned)
}

/// A message's content JSON with its text replaced by `new_text`, keeping every other field
/// (an @-message keeps its `atUserList`). `None` for content types without text or content that
/// is not a JSON object. Answer `callbackBeforeMsgModifyCommand` with it through
/// [`Verdict::replace_content`](crate::Verdict::replace_content).
///
/// ```
/// # use hookbox_sdk::openim::replace_text_in_content;
/// assert_eq!(
///     replace_text_in_content(106, r#"{"text":"@bob spam","atUserList":["bob"]}"#, "@bob ***").as_deref(),
///     Some(r#"{"text":"@bob ***","atUserList":["bob"]}"#),
/// );
/// ```
pub fn replace_text_in_content(content_type: i32, content: &str, new_text: &str) -> Option<String> {
    let key = text_key(content_type)?;
    let mut elem: RawFields = serde_json::from_str(content).ok()?;
    elem.set(key, raw_string(new_text));
    serde_json::to_string(&elem).ok()
}

/// Defines a request struct: every field is `pub`, renamed to its exact JSON key, optional on
/// input and `null`-tolerant.
macro_rules! callback_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])* $json:literal $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            $(
                $(#[doc = $doc])*
                #[serde(rename = $json, default, deserialize_with = "nullable")]
                pub $field: $ty,
            )*
        }
    };
}

/// Defines a message callback struct: the fields of OpenIM's `CommonCallbackReq` plus extras,
/// and the text helpers.
macro_rules! message_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($extra:tt)* }
    ) => {
        callback_struct! {
            $(#[$meta])*
            pub struct $name {
                /// The sender's user ID.
                "sendID" send_id: String,
                /// The command, as in the URL.
                "callbackCommand" callback_command: String,
                /// The server's message ID.
                "serverMsgID" server_msg_id: String,
                /// The client's message ID.
                "clientMsgID" client_msg_id: String,
                /// The tracing ID of the request that sent the message.
                "operationID" operation_id: String,
                /// The sender's platform: 1 iOS, 2 Android, 3 Windows, 4 macOS, 5 Web, ...
                "senderPlatformID" sender_platform_id: i32,
                /// The sender's nickname.
                "senderNickname" sender_nickname: String,
                /// 1 one-to-one, 3 group, 4 notification.
                "sessionType" session_type: i32,
                /// 100 sent by a user, 200 by the system or an admin.
                "msgFrom" msg_from: i32,
                /// What `content` holds; see [`content_type`].
                "contentType" content_type: i32,
                /// 1 sending, 2 sent.
                "status" status: i32,
                /// When the message was sent, Unix milliseconds (absent before OpenIM v3.8.1).
                "sendTime" send_time: i64,
                /// When the message was created, Unix milliseconds.
                "createTime" create_time: i64,
                /// The content element as JSON text, e.g. `{"content":"hi"}` for text; see
                /// [`text_of`].
                "content" content: String,
                /// The sequence number (0 before the server assigned one).
                "seq" seq: i64,
                /// The users @-mentioned (group messages).
                "atUserList" at_user_list: Vec<String>,
                /// The sender's avatar URL.
                "faceURL" face_url: String,
                /// Free-form extension data.
                "ex" ex: String,
                $($extra)*
            }
        }

        impl $name {
            /// The text the user typed, for text-like content types; see [`text_of`].
            pub fn text(&self) -> Option<String> {
                text_of(self.content_type, &self.content)
            }

            /// Whether this content type carries user-typed text (101, 106, 114, 117).
            pub fn is_text(&self) -> bool {
                text_key(self.content_type).is_some()
            }
        }
    };
}

message_struct! {
    /// `CommonCallbackReq`: the fields every message callback has. It is the whole body of
    /// `callbackBeforeMsgModifyCommand` (no `recvID`/`groupID` there); answer that with
    /// [`Verdict::replace_text`](crate::Verdict::replace_text).
    pub struct CommonCallbackReq {}
}

/// The body of `callbackBeforeMsgModifyCommand`.
pub type MsgModifyReq = CommonCallbackReq;

message_struct! {
    /// The body of `callbackBeforeSendSingleMsgCommand` and `callbackAfterSendSingleMsgCommand`.
    pub struct SendSingleMsgReq {
        /// The receiver's user ID.
        "recvID" recv_id: String,
    }
}

message_struct! {
    /// The body of `callbackBeforeSendGroupMsgCommand` and `callbackAfterSendGroupMsgCommand`.
    pub struct SendGroupMsgReq {
        /// The group's ID.
        "groupID" group_id: String,
    }
}

message_struct! {
    /// The body of `callbackAfterMsgSaveDBCommand`: `recv_id` is set for one-to-one and
    /// notification messages, `group_id` for group messages.
    pub struct MsgSaveDbReq {
        /// The receiver's user ID (session types 1 and 4).
        "recvID" recv_id: String,
        /// The group's ID (session type 3).
        "groupID" group_id: String,
    }
}

callback_struct! {
    /// The body of `callbackAfterGroupMsgReadCommand`. There is no group or conversation ID in
    /// it; both user fields are the reader.
    pub struct GroupMsgReadReq {
        /// The command.
        "callbackCommand" callback_command: String,
        /// The reader.
        "sendID" send_id: String,
        /// The reader again.
        "receiveID" receive_id: String,
        /// The read-up-to sequence number the client reported (not a count, despite the name).
        "unreadMsgNum" unread_msg_num: i64,
        /// The conversation type (3).
        "contentType" content_type: i64,
    }
}

callback_struct! {
    /// The body of `callbackAfterSingleMsgReadCommand`.
    pub struct SingleMsgReadReq {
        /// The command.
        "callbackCommand" callback_command: String,
        /// The conversation read.
        "conversationID" conversation_id: String,
        /// The reader.
        "userID" user_id: String,
        /// The sequence numbers marked read (JSON key `Seqs`).
        "Seqs" seqs: Vec<i64>,
        /// The conversation type (1).
        "contentType" content_type: i32,
    }
}

callback_struct! {
    /// The body of the revoke callback, `callbackBeforeAfterMsgCommand`.
    pub struct RevokeMsgReq {
        /// The command.
        "callbackCommand" callback_command: String,
        /// The conversation of the revoked message.
        "conversationID" conversation_id: String,
        /// The revoked message's sequence number.
        "seq" seq: i64,
        /// Who revoked it.
        "userID" user_id: String,
    }
}

callback_struct! {
    /// A group's stored fields (`sdkws.GroupInfo`), flattened into group callback bodies.
    pub struct GroupInfo {
        /// The group's ID (may be `""` before creation).
        "groupID" group_id: String,
        /// The group's name.
        "groupName" group_name: String,
        /// The group's announcement.
        "notification" notification: String,
        /// The group's introduction.
        "introduction" introduction: String,
        /// The group's avatar URL.
        "faceURL" face_url: String,
        /// The owner's user ID.
        "ownerUserID" owner_user_id: String,
        /// When the group was created, Unix milliseconds.
        "createTime" create_time: i64,
        /// How many members the group has.
        "memberCount" member_count: i64,
        /// Free-form extension data.
        "ex" ex: String,
        /// The group's status: 0 ok, 2 dismissed, 3 muted.
        "status" status: i32,
        /// The creator's user ID.
        "creatorUserID" creator_user_id: String,
        /// The group type (always 2, a working group).
        "groupType" group_type: i32,
        /// Who may join: 0 invite directly/apply needs approval, 1 all need approval, 2 free.
        "needVerification" need_verification: i32,
        /// Whether members may see each other's info.
        "lookMemberInfo" look_member_info: i32,
        /// Whether members may add each other as friends.
        "applyMemberFriend" apply_member_friend: i32,
        /// When the announcement changed, Unix milliseconds.
        "notificationUpdateTime" notification_update_time: i64,
        /// Who changed the announcement.
        "notificationUserID" notification_user_id: String,
    }
}

callback_struct! {
    /// One entry of a create-group callback's `initMemberList`.
    pub struct GroupMemberRole {
        /// The member's user ID.
        "userID" user_id: String,
        /// 100 owner, 60 admin, 20 member.
        "roleLevel" role_level: i32,
    }
}

/// The body of `callbackBeforeCreateGroupCommand` and `callbackAfterCreateGroupCommand`: the
/// group's fields at the top level (here in [`CreateGroupReq::group`]) and its first members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateGroupReq {
    /// The tracing ID (before-callback only).
    #[serde(rename = "operationID", default, deserialize_with = "nullable")]
    pub operation_id: String,
    /// The command.
    #[serde(rename = "callbackCommand", default, deserialize_with = "nullable")]
    pub callback_command: String,
    /// The group, as the client sent it (before) or as stored (after).
    #[serde(flatten)]
    pub group: GroupInfo,
    /// The first members with their roles. In the after-callback the owner and admins appear
    /// again with role 20 (a server quirk).
    #[serde(rename = "initMemberList", default, deserialize_with = "nullable")]
    pub init_member_list: Vec<GroupMemberRole>,
}

callback_struct! {
    /// The body of `callbackBeforeCreateSingleChatConversationsCommand` and
    /// `callbackAfterCreateSingleChatConversationsCommand` (note the `…Id` key spelling).
    pub struct SingleChatConversationReq {
        /// The command.
        "callbackCommand" callback_command: String,
        /// The conversation owner's user ID.
        "ownerUserId" owner_user_id: String,
        /// The conversation's ID, `si_<a>_<b>`.
        "conversationId" conversation_id: String,
        /// 1 one-to-one.
        "conversationType" conversation_type: i32,
        /// The peer's user ID.
        "userId" user_id: String,
        /// 0 receive, 1 don't receive, 2 receive without notification.
        "recvMsgOpt" recv_msg_opt: i32,
        /// Whether the conversation is pinned.
        "isPinned" is_pinned: bool,
        /// Whether burn-after-reading is on.
        "isPrivateChat" is_private_chat: bool,
        /// Burn-after-reading duration, seconds.
        "burnDuration" burn_duration: i32,
        /// The @-mention prompt type.
        "groupAtType" group_at_type: i32,
        /// Extension field used by OpenIM.
        "attachedInfo" attached_info: String,
        /// Extension field for users.
        "ex" ex: String,
    }
}

callback_struct! {
    /// The body of `callbackBeforeCreateGroupChatConversationsCommand` and
    /// `callbackAfterCreateGroupChatConversationsCommand` (note the `…Id` key spelling).
    pub struct GroupChatConversationReq {
        /// The command.
        "callbackCommand" callback_command: String,
        /// Always `""` for group conversations.
        "ownerUserId" owner_user_id: String,
        /// The conversation's ID, `sg_<groupID>`.
        "conversationId" conversation_id: String,
        /// 3 group.
        "conversationType" conversation_type: i32,
        /// The group's ID.
        "groupId" group_id: String,
        /// 0 receive, 1 don't receive, 2 receive without notification.
        "recvMsgOpt" recv_msg_opt: i32,
        /// Whether the conversation is pinned.
        "isPinned" is_pinned: bool,
        /// Whether burn-after-reading is on.
        "isPrivateChat" is_private_chat: bool,
        /// Burn-after-reading duration, seconds.
        "burnDuration" burn_duration: i32,
        /// The @-mention prompt type.
        "groupAtType" group_at_type: i32,
        /// Extension field used by OpenIM.
        "attachedInfo" attached_info: String,
        /// Extension field for users.
        "ex" ex: String,
    }
}

callback_struct! {
    /// The body of `callbackBeforeAddFriendCommand` and `callbackAfterAddFriendCommand` (the
    /// after-callback has no `ex`).
    pub struct AddFriendReq {
        /// The command.
        "callbackCommand" callback_command: String,
        /// Who asks.
        "fromUserID" from_user_id: String,
        /// Who is asked.
        "toUserID" to_user_id: String,
        /// The request message.
        "reqMsg" req_msg: String,
        /// Free-form extension data.
        "ex" ex: String,
    }
}

callback_struct! {
    /// The body of `callbackBeforeUpdateUserInfoCommand` and
    /// `callbackAfterUpdateUserInfoCommand`. The before-callback sends `ex` as `null` (never
    /// filled); the after-callback sends `""`.
    pub struct UpdateUserInfoReq {
        /// The command.
        "callbackCommand" callback_command: String,
        /// The user being updated.
        "userID" user_id: String,
        /// The new nickname (possibly `""`).
        "nickName" nick_name: String,
        /// The new avatar URL (possibly `""`).
        "faceURL" face_url: String,
        /// The new extension data.
        "ex" ex: Option<String>,
    }
}

callback_struct! {
    /// The body of `callbackBeforeUpdateUserInfoExCommand` and
    /// `callbackAfterUpdateUserInfoExCommand`: `None` means the field is not being changed.
    /// A before-answer must only set fields that are `Some` here (the server crashes on others).
    pub struct UpdateUserInfoExReq {
        /// The command.
        "callbackCommand" callback_command: String,
        /// The user being updated.
        "userID" user_id: String,
        /// The new nickname, if it changes.
        "nickName" nick_name: Option<String>,
        /// The new avatar URL, if it changes.
        "faceURL" face_url: Option<String>,
        /// The new extension data, if it changes.
        "ex" ex: Option<String>,
    }
}

callback_struct! {
    /// A user's stored fields (`sdkws.UserInfo`; note `nickname` in lower case here).
    pub struct UserInfo {
        /// The user's ID.
        "userID" user_id: String,
        /// The nickname.
        "nickname" nickname: String,
        /// The avatar URL.
        "faceURL" face_url: String,
        /// Free-form extension data.
        "ex" ex: String,
        /// When the user was created, Unix milliseconds.
        "createTime" create_time: i64,
        /// App manager level (the server's spelling).
        "appMangerLevel" app_manger_level: i32,
        /// Global receive option.
        "globalRecvMsgOpt" global_recv_msg_opt: i32,
    }
}

callback_struct! {
    /// The body of `callbackBeforeUserRegisterCommand` and `callbackAfterUserRegisterCommand`.
    pub struct UserRegisterReq {
        /// The command.
        "callbackCommand" callback_command: String,
        /// The users being registered.
        "users" users: Vec<UserInfo>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_list_is_complete_and_unique() {
        let mut all = command::ALL.to_vec();
        assert_eq!(all.len(), 52);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 52);
        assert!(all.iter().all(|c| c.starts_with("callback")));
    }

    #[test]
    fn text_key_covers_text_types_only() {
        for ct in [101, 106, 114, 117] {
            assert!(text_key(ct).is_some(), "{ct}");
        }
        for ct in [0, 102, 103, 104, 105, 107, 108, 109, 110, 113, 1501] {
            assert!(text_key(ct).is_none(), "{ct}");
        }
    }
}
