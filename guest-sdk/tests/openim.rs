//! The typed OpenIM bodies parse what the server really sends (and the doc samples in
//! `shared/seeds`), with `null` arrays, missing fields and unknown fields.

use hookbox_sdk::openim::{self, command, content_type};
use hookbox_sdk::{Dialect, Event};

fn event(command: &str, payload: &str) -> Event {
    Event::new(Dialect::OpenIm, command, payload)
}

/// A before-send body as OpenIM `main` encodes it: HTML-escaped, `null` for the nil
/// `atUserList`, a trailing newline, and content that is JSON inside a string.
const BEFORE_SEND_SINGLE: &str = concat!(
    r#"{"sendID":"u1","callbackCommand":"callbackBeforeSendSingleMsgCommand","serverMsgID":"","#,
    r#""clientMsgID":"c1","operationID":"op1","senderPlatformID":5,"senderNickname":"Ann","#,
    r#""sessionType":1,"msgFrom":100,"contentType":101,"status":1,"sendTime":1735000000123,"#,
    r#""createTime":1735000000000,"content":"{\"content\":\"a \u003cb\u003e \u0026 c\"}","#,
    r#""seq":0,"atUserList":null,"faceURL":"","ex":"","recvID":"u2"}"#,
    "\n"
);

#[test]
fn before_send_single_as_the_server_sends_it() {
    let msg: openim::SendSingleMsgReq = event(command::BEFORE_SEND_SINGLE_MSG, BEFORE_SEND_SINGLE)
        .json()
        .unwrap();
    assert_eq!(msg.send_id, "u1");
    assert_eq!(msg.recv_id, "u2");
    assert_eq!(msg.callback_command, command::BEFORE_SEND_SINGLE_MSG);
    assert_eq!(msg.client_msg_id, "c1");
    assert_eq!(msg.operation_id, "op1");
    assert_eq!(msg.sender_platform_id, 5);
    assert_eq!(msg.sender_nickname, "Ann");
    assert_eq!(msg.session_type, 1);
    assert_eq!(msg.msg_from, 100);
    assert_eq!(msg.content_type, content_type::TEXT);
    assert_eq!(msg.send_time, 1_735_000_000_123);
    assert_eq!(msg.create_time, 1_735_000_000_000);
    assert!(msg.at_user_list.is_empty());
    assert_eq!(msg.content, r#"{"content":"a <b> & c"}"#);
    assert!(msg.is_text());
    assert_eq!(msg.text().as_deref(), Some("a <b> & c"));
}

/// `shared/seeds` sample of `callbackAfterSendGroupMsgCommand` (docs: contentType 1, plain
/// content, recvID instead of groupID).
const SEED_AFTER_SEND_GROUP: &str = r#"{
"sendID": "user123",
"callbackCommand": "callbackAfterSendGroupMsgCommand",
"serverMsgID": "serverMsg123",
"clientMsgID": "clientMsg123",
"operationID": "1646445464564",
"senderPlatformID": 1,
"senderNickname": "John Doe",
"sessionType": 1,
"msgFrom": 1,
"contentType": 1,
"status": 1,
"sendTime": 1673048592000,
"createTime": 1673048592000,
"content": "Hello, how are you?",
"seq": 1,
"atUserList": ["user456", "user789"],
"faceURL": "http://example.com/path/to/face/image.png",
"ex": "Extra data",
"recvID": "user456"
}"#;

#[test]
fn seed_after_send_group() {
    let msg: openim::SendGroupMsgReq = event(command::AFTER_SEND_GROUP_MSG, SEED_AFTER_SEND_GROUP)
        .json()
        .unwrap();
    assert_eq!(msg.send_id, "user123");
    assert_eq!(msg.server_msg_id, "serverMsg123");
    assert_eq!(msg.seq, 1);
    assert_eq!(msg.at_user_list, ["user456", "user789"]);
    assert_eq!(msg.face_url, "http://example.com/path/to/face/image.png");
    assert_eq!(msg.ex, "Extra data");
    // The sample has no groupID: it reads as empty. contentType 1 is not a text type.
    assert_eq!(msg.group_id, "");
    assert!(!msg.is_text());
    assert_eq!(msg.text(), None);
    // The same body read as a single-chat message keeps recvID.
    let single: openim::SendSingleMsgReq = serde_json::from_str(SEED_AFTER_SEND_GROUP).unwrap();
    assert_eq!(single.recv_id, "user456");
}

#[test]
fn group_at_text_message() {
    let body = serde_json::json!({
        "sendID": "u1", "callbackCommand": command::BEFORE_SEND_GROUP_MSG,
        "sessionType": 3, "contentType": 106, "groupID": "g1",
        "content": r#"{"text":"@bob hi","atUserList":["bob"],"atUsersInfo":[{"atUserID":"bob","groupNickname":"Bob"}],"isAtSelf":false}"#,
        "atUserList": ["bob"], "seq": 4_294_967_295_u64,
    })
    .to_string();
    let msg: openim::SendGroupMsgReq = event(command::BEFORE_SEND_GROUP_MSG, &body).json().unwrap();
    assert_eq!(msg.group_id, "g1");
    assert_eq!(msg.seq, 4_294_967_295);
    assert_eq!(msg.text().as_deref(), Some("@bob hi"));
}

#[test]
fn msg_modify_has_no_recv_or_group() {
    let body =
        BEFORE_SEND_SINGLE.replace(command::BEFORE_SEND_SINGLE_MSG, command::BEFORE_MSG_MODIFY);
    let msg: openim::MsgModifyReq = event(command::BEFORE_MSG_MODIFY, &body).json().unwrap();
    assert_eq!(msg.callback_command, command::BEFORE_MSG_MODIFY);
    assert_eq!(msg.text().as_deref(), Some("a <b> & c"));
    // Serialising back gives exactly CommonCallbackReq's 18 keys.
    let value = serde_json::to_value(&msg).unwrap();
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = vec![
        "sendID",
        "callbackCommand",
        "serverMsgID",
        "clientMsgID",
        "operationID",
        "senderPlatformID",
        "senderNickname",
        "sessionType",
        "msgFrom",
        "contentType",
        "status",
        "sendTime",
        "createTime",
        "content",
        "seq",
        "atUserList",
        "faceURL",
        "ex",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
}

#[test]
fn after_msg_save_db() {
    let body = r#"{"sendID":"u1","callbackCommand":"callbackAfterMsgSaveDBCommand","sessionType":3,
        "contentType":101,"status":2,"seq":77,"content":"{\"content\":\"x\"}","atUserList":null,
        "recvID":"","groupID":"g9"}"#;
    let msg: openim::MsgSaveDbReq = event(command::AFTER_MSG_SAVE_DB, body).json().unwrap();
    assert_eq!(
        (msg.recv_id.as_str(), msg.group_id.as_str(), msg.seq),
        ("", "g9", 77)
    );
    assert_eq!(msg.status, 2);
}

#[test]
fn group_read_seed_and_real() {
    // shared/seeds sample (the docs' wrong command name, but the same fields).
    let seed = r#"{
"callbackCommand": "callbackGroupMsgReadCommand",
"sendID": "user123",
"receiveID": "group789",
"unreadMsgNum": 5
}"#;
    let read: openim::GroupMsgReadReq = serde_json::from_str(seed).unwrap();
    assert_eq!(read.send_id, "user123");
    assert_eq!(read.receive_id, "group789");
    assert_eq!(read.unread_msg_num, 5);
    assert_eq!(read.content_type, 0);

    let real = r#"{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"u1","receiveID":"u1","unreadMsgNum":1234567890123,"contentType":3}"#;
    let read: openim::GroupMsgReadReq = event(command::AFTER_GROUP_MSG_READ, real).json().unwrap();
    assert_eq!(read.unread_msg_num, 1_234_567_890_123);
    assert_eq!(read.content_type, 3);
}

#[test]
fn single_read_with_null_and_present_seqs() {
    let null = r#"{"callbackCommand":"callbackAfterSingleMsgReadCommand","conversationID":"si_a_b","userID":"a","Seqs":null,"contentType":1}"#;
    let read: openim::SingleMsgReadReq = serde_json::from_str(null).unwrap();
    assert!(read.seqs.is_empty());
    assert_eq!(read.conversation_id, "si_a_b");
    let some = null.replace("null", "[3,4,9007199254740993]");
    let read: openim::SingleMsgReadReq = serde_json::from_str(&some).unwrap();
    assert_eq!(read.seqs, [3, 4, 9_007_199_254_740_993]);
}

#[test]
fn revoke() {
    let body = r#"{"callbackCommand":"callbackBeforeAfterMsgCommand","conversationID":"sg_g1","seq":42,"userID":"u7"}"#;
    let revoke: openim::RevokeMsgReq = event(command::AFTER_REVOKE_MSG, body).json().unwrap();
    assert_eq!(
        (
            revoke.conversation_id.as_str(),
            revoke.seq,
            revoke.user_id.as_str()
        ),
        ("sg_g1", 42, "u7")
    );
}

/// `shared/seeds` sample of `callbackAfterCreateGroupCommand`.
const SEED_AFTER_CREATE_GROUP: &str = r#"{
"callbackCommand": "callbackAfterCreateGroupCommand",
"groupID": "12345",
"groupName": "MyGroup",
"notification": "Welcome to MyGroup!",
"introduction": "This is a group for discussing example topics.",
"faceURL": "http://example.com/path/to/face/image.png",
"ownerUserID": "user123",
"createTime": 1673048592000,
"memberCount": 10,
"ex": "Extra data",
"status": 1,
"creatorUserID": "user123",
"groupType": 1,
"needVerification": 1,
"lookMemberInfo": 1,
"applyMemberFriend": 0,
"notificationUpdateTime": 1673048592000,
"notificationUserID": "user456",
"initMemberList": [
{
"userID": "user789",
"roleLevel": 60
},
{
"userID": "user101112",
"roleLevel": 20
}
]
}"#;

#[test]
fn seed_after_create_group() {
    let req: openim::CreateGroupReq = event(command::AFTER_CREATE_GROUP, SEED_AFTER_CREATE_GROUP)
        .json()
        .unwrap();
    assert_eq!(req.callback_command, command::AFTER_CREATE_GROUP);
    assert_eq!(req.operation_id, "");
    let g = &req.group;
    assert_eq!(g.group_id, "12345");
    assert_eq!(g.group_name, "MyGroup");
    assert_eq!(g.notification, "Welcome to MyGroup!");
    assert_eq!(g.owner_user_id, "user123");
    assert_eq!(g.create_time, 1_673_048_592_000);
    assert_eq!(g.member_count, 10);
    assert_eq!(g.status, 1);
    assert_eq!(g.group_type, 1);
    assert_eq!(g.need_verification, 1);
    assert_eq!(g.notification_update_time, 1_673_048_592_000);
    assert_eq!(g.notification_user_id, "user456");
    assert_eq!(req.init_member_list.len(), 2);
    assert_eq!(req.init_member_list[0].user_id, "user789");
    assert_eq!(req.init_member_list[0].role_level, 60);

    // Serialising flattens the group back to the top level.
    let value = serde_json::to_value(&req).unwrap();
    assert_eq!(value["groupName"], "MyGroup");
    assert!(value.get("group").is_none());
}

#[test]
fn before_create_group_with_null_member_list() {
    let body = r#"{"operationID":"op9","callbackCommand":"callbackBeforeCreateGroupCommand","groupID":"","groupName":"g","notification":"","introduction":"","faceURL":"","ownerUserID":"o","createTime":0,"memberCount":0,"ex":"","status":0,"creatorUserID":"o","groupType":2,"needVerification":0,"lookMemberInfo":0,"applyMemberFriend":0,"notificationUpdateTime":0,"notificationUserID":"","initMemberList":null}"#;
    let req: openim::CreateGroupReq = event(command::BEFORE_CREATE_GROUP, body).json().unwrap();
    assert_eq!(req.operation_id, "op9");
    assert_eq!(req.group.group_type, 2);
    assert!(req.init_member_list.is_empty());
}

/// `shared/seeds` sample of `callbackAfterCreateSingleChatConversationsCommand`.
const SEED_SINGLE_CONVERSATION: &str = r#"{
"callbackCommand": "callbackAfterCreateSingleChatConversationsCommand",
"ownerUserId": "123228123",
"conversationId": "si_123228123_622925731",
"conversationType": 1,
"userId": "622925731",
"recvMsgOpt": 0,
"isPinned": false,
"isPrivateChat": false,
"burnDuration": 0,
"groupAtType": 0,
"attachedInfo": "",
"ex": "Extra conversation data"
}"#;

#[test]
fn seed_single_chat_conversation() {
    let c: openim::SingleChatConversationReq = event(
        command::AFTER_CREATE_SINGLE_CHAT_CONVERSATIONS,
        SEED_SINGLE_CONVERSATION,
    )
    .json()
    .unwrap();
    assert_eq!(c.owner_user_id, "123228123");
    assert_eq!(c.conversation_id, "si_123228123_622925731");
    assert_eq!(c.conversation_type, 1);
    assert_eq!(c.user_id, "622925731");
    assert!(!c.is_pinned);
    assert_eq!(c.ex, "Extra conversation data");
}

#[test]
fn group_chat_conversation() {
    let body = r#"{"callbackCommand":"callbackBeforeCreateGroupChatConversationsCommand","ownerUserId":"","conversationId":"sg_g1","conversationType":3,"groupId":"g1","recvMsgOpt":2,"isPinned":true,"isPrivateChat":false,"burnDuration":30,"groupAtType":0,"attachedInfo":"","ex":""}"#;
    let c: openim::GroupChatConversationReq =
        event(command::BEFORE_CREATE_GROUP_CHAT_CONVERSATIONS, body)
            .json()
            .unwrap();
    assert_eq!(c.group_id, "g1");
    assert_eq!(c.conversation_type, 3);
    assert_eq!(c.recv_msg_opt, 2);
    assert!(c.is_pinned);
    assert_eq!(c.burn_duration, 30);
}

#[test]
fn add_friend() {
    let body = r#"{"callbackCommand":"callbackBeforeAddFriendCommand","fromUserID":"a","toUserID":"b","reqMsg":"hi","ex":"x"}"#;
    let f: openim::AddFriendReq = event(command::BEFORE_ADD_FRIEND, body).json().unwrap();
    assert_eq!(
        (
            f.from_user_id.as_str(),
            f.to_user_id.as_str(),
            f.req_msg.as_str()
        ),
        ("a", "b", "hi")
    );
    // The after-callback has no `ex`.
    let after = r#"{"callbackCommand":"callbackAfterAddFriendCommand","fromUserID":"a","toUserID":"b","reqMsg":"hi"}"#;
    let f: openim::AddFriendReq = serde_json::from_str(after).unwrap();
    assert_eq!(f.ex, "");
}

#[test]
fn update_user_info() {
    let before = r#"{"callbackCommand":"callbackBeforeUpdateUserInfoCommand","userID":"u1","nickName":"N","faceURL":"","ex":null}"#;
    let u: openim::UpdateUserInfoReq = event(command::BEFORE_UPDATE_USER_INFO, before)
        .json()
        .unwrap();
    assert_eq!(
        (u.user_id.as_str(), u.nick_name.as_str(), u.ex.as_deref()),
        ("u1", "N", None)
    );
    let after = before.replace("null", "\"\"");
    let u: openim::UpdateUserInfoReq = serde_json::from_str(&after).unwrap();
    assert_eq!(u.ex.as_deref(), Some(""));

    let ex = r#"{"callbackCommand":"callbackBeforeUpdateUserInfoExCommand","userID":"u1","nickName":null,"faceURL":"http://f","ex":null}"#;
    let u: openim::UpdateUserInfoExReq = serde_json::from_str(ex).unwrap();
    assert_eq!(u.nick_name, None);
    assert_eq!(u.face_url.as_deref(), Some("http://f"));
}

#[test]
fn user_register() {
    let body = r#"{"callbackCommand":"callbackBeforeUserRegisterCommand","users":[{"userID":"u1","nickname":"A","faceURL":"","ex":"","createTime":0,"appMangerLevel":1,"globalRecvMsgOpt":0}]}"#;
    let r: openim::UserRegisterReq = event(command::BEFORE_USER_REGISTER, body).json().unwrap();
    assert_eq!(r.users[0].nickname, "A");
    assert_eq!(r.users[0].app_manger_level, 1);
    let r: openim::UserRegisterReq = serde_json::from_str(r#"{"users":null}"#).unwrap();
    assert!(r.users.is_empty());
}

#[test]
fn nulls_missing_and_unknown_fields() {
    let body = r#"{"sendID":null,"contentType":null,"content":null,"someFutureField":{"a":[1,2]},"recvID":"u2"}"#;
    let msg: openim::SendSingleMsgReq = serde_json::from_str(body).unwrap();
    assert_eq!(msg.send_id, "");
    assert_eq!(msg.content_type, 0);
    assert_eq!(msg.recv_id, "u2");
    assert_eq!(msg.text(), None);
    let empty: openim::SendGroupMsgReq = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, openim::SendGroupMsgReq::default());
}

#[test]
fn wrong_types_are_errors_naming_the_command() {
    let err = event(command::BEFORE_SEND_SINGLE_MSG, r#"{"contentType":"101"}"#)
        .json::<openim::SendSingleMsgReq>()
        .unwrap_err();
    assert!(
        err.message().contains(command::BEFORE_SEND_SINGLE_MSG),
        "{err}"
    );
    let err = event("x", "not json").value().unwrap_err();
    assert!(err.message().starts_with("cannot parse x payload"), "{err}");
}

#[test]
fn text_extraction() {
    assert_eq!(
        openim::text_of(101, r#"{"content":"hi"}"#).as_deref(),
        Some("hi")
    );
    assert_eq!(
        openim::text_of(101, r#"{"content":"line\nbreak \"q\" ü"}"#).as_deref(),
        Some("line\nbreak \"q\" ü")
    );
    assert_eq!(openim::text_of(101, r#"{"content":null}"#), None);
    assert_eq!(openim::text_of(101, "hi"), None, "content that is not JSON");
    assert_eq!(
        openim::text_of(
            106,
            r#"{"text":"@a yo","atUserList":["a"],"isAtSelf":false}"#
        )
        .as_deref(),
        Some("@a yo")
    );
    assert_eq!(openim::text_of(106, r#"{"content":"no text key"}"#), None);
    assert_eq!(
        openim::text_of(
            114,
            r#"{"text":"reply","quoteMessage":{"contentType":101}}"#
        )
        .as_deref(),
        Some("reply")
    );
    assert_eq!(
        openim::text_of(102, r#"{"content":"looks like text"}"#),
        None
    );
}

#[test]
fn replace_text_in_content_keeps_other_fields() {
    assert_eq!(
        openim::replace_text_in_content(101, r#"{"content":"bad"}"#, "***").as_deref(),
        Some(r#"{"content":"***"}"#)
    );
    assert_eq!(
        openim::replace_text_in_content(
            106,
            r#"{"text":"@a bad","atUserList":["a"],"isAtSelf":false}"#,
            "@a ***"
        )
        .as_deref(),
        Some(r#"{"text":"@a ***","atUserList":["a"],"isAtSelf":false}"#)
    );
    assert_eq!(
        openim::replace_text_in_content(102, r#"{"x":1}"#, "y"),
        None
    );
    assert_eq!(openim::replace_text_in_content(101, "[1]", "y"), None);
}

#[test]
fn replace_text_in_content_keeps_other_bytes_verbatim() {
    // Nested values, odd spacing and number forms survive; a missing text key is added.
    assert_eq!(
        openim::replace_text_in_content(
            106,
            r#"{ "text" : "x", "atUsersInfo": [ {"atUserID":"a","n":1.50e3} ], "isAtSelf": false }"#,
            "say \"hi\"",
        )
        .as_deref(),
        Some(r#"{"text":"say \"hi\"","atUsersInfo":[ {"atUserID":"a","n":1.50e3} ],"isAtSelf":false}"#)
    );
    assert_eq!(
        openim::replace_text_in_content(114, r#"{"quoteMessage":{}}"#, "t").as_deref(),
        Some(r#"{"quoteMessage":{},"text":"t"}"#)
    );
    assert_eq!(
        openim::replace_text_in_content(101, r#"{"content":"a"#, "t"),
        None
    );
}
