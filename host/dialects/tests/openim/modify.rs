//! Modification checks: every rule, with a good and a bad case.

use hookbox_dialects::{Callback, ModifyError, openim};
use serde_json::{Value, json};

use crate::support::{callback, obj};

const MSG_MODIFY: &str = "callbackBeforeMsgModifyCommand";

fn check(cb: &Callback, fields: Value) -> Result<(), ModifyError> {
    openim::check_modify(cb, &obj(fields))
}

fn ok(command: &str, fields: Value) {
    let cb = callback(command, "{}");
    if let Err(e) = check(&cb, fields.clone()) {
        panic!("{command} {fields}: expected ok, got {e}");
    }
}

fn bad(command: &str, fields: Value) -> ModifyError {
    let cb = callback(command, "{}");
    match check(&cb, fields.clone()) {
        Ok(()) => panic!("{command} {fields}: expected an error"),
        Err(e) => e,
    }
}

fn wrong_type_field(e: &ModifyError) -> &str {
    match e {
        ModifyError::WrongType { field, .. } => field,
        other => panic!("expected WrongType, got {other:?}"),
    }
}

#[test]
fn envelope_keys_are_refused_in_any_case() {
    for key in [
        "actionCode",
        "errCode",
        "errMsg",
        "errDlt",
        "nextCode",
        "NEXTCODE",
        "Errcode",
    ] {
        let e = bad(MSG_MODIFY, json!({ key: 0 }));
        assert_eq!(
            e,
            ModifyError::EnvelopeField {
                field: key.to_owned()
            }
        );
        assert!(e.to_string().contains(key));
    }
    // Also on commands that take no fields at all: the envelope reason comes first.
    let e = bad("callbackBeforeSendSingleMsgCommand", json!({"nextCode": 1}));
    assert!(matches!(e, ModifyError::EnvelopeField { .. }), "{e:?}");
}

#[test]
fn empty_modification_is_always_acceptable() {
    for info in openim::COMMANDS {
        ok(info.name, json!({}));
    }
    ok("callbackSomethingNewCommand", json!({}));
}

#[test]
fn deny_only_commands_accept_no_fields() {
    for name in [
        "callbackBeforeSendSingleMsgCommand",
        "callbackBeforeSendGroupMsgCommand",
        "callbackBeforeOnlinePushCommand",
        "callbackBeforeAddFriendCommand",
        "callbackBeforeInviteJoinGroupCommand",
    ] {
        let e = bad(name, json!({"content": "{}"}));
        assert!(
            matches!(&e, ModifyError::NotModifiable { field, .. } if field == "content"),
            "{name}: {e:?}"
        );
    }
}

#[test]
fn after_commands_accept_no_fields() {
    let e = bad(
        "callbackAfterSendSingleMsgCommand",
        json!({"content": "{}"}),
    );
    assert!(matches!(e, ModifyError::NotModifiable { .. }), "{e:?}");
    assert!(e.to_string().contains("after"), "{e}");
}

#[test]
fn unknown_commands_accept_no_fields() {
    let e = bad("callbackBeforeSomethingNewCommand", json!({"x": 1}));
    assert!(
        matches!(&e, ModifyError::NotModifiable { why, .. } if why.contains("unknown")),
        "{e:?}"
    );
}

#[test]
fn unknown_fields_are_refused() {
    for key in ["contnet", "Content", "recvId"] {
        let e = bad(MSG_MODIFY, json!({ key: "x" }));
        assert_eq!(
            e,
            ModifyError::UnknownField {
                command: MSG_MODIFY.to_owned(),
                field: key.to_owned()
            }
        );
    }
}

#[test]
fn msg_modify_content_must_be_json_object_text() {
    ok(MSG_MODIFY, json!({"content": "{\"content\":\"***\"}"}));
    ok(MSG_MODIFY, json!({"content": null}));
    for text in ["Modified content", "[1]", "null", "\"x\"", "{", ""] {
        let e = bad(MSG_MODIFY, json!({ "content": text }));
        assert_eq!(
            e,
            ModifyError::NotJsonObjectText {
                field: "content".to_owned()
            },
            "{text:?}"
        );
    }
    let e = bad(MSG_MODIFY, json!({"content": {"content": "x"}}));
    assert_eq!(wrong_type_field(&e), "content");
}

#[test]
fn msg_modify_refuses_offline_push_info_and_msg_data_list() {
    for (key, value) in [
        ("offlinePushInfo", json!({"title": "x"})),
        ("offlinePushInfo", Value::Null),
        ("msgDataList", json!("QUJD")),
    ] {
        let e = bad(MSG_MODIFY, json!({ key: value }));
        assert!(
            matches!(&e, ModifyError::Refused { field, .. } if field == key),
            "{e:?}"
        );
        assert!(e.to_string().contains(key));
    }
}

#[test]
fn msg_modify_other_fields() {
    ok(
        MSG_MODIFY,
        json!({
            "recvID": "u2", "groupID": null, "clientMsgID": "c", "serverMsgID": "s",
            "senderPlatformID": 2, "senderNickname": "A", "senderFaceURL": "https://x",
            "sessionType": 1, "msgFrom": 100, "contentType": 101, "status": 1,
            "options": {"history": true, "unreadCount": false}, "atUserIDList": ["u3"],
            "attachedInfo": "", "ex": "e"
        }),
    );
    let e = bad(MSG_MODIFY, json!({"options": {"history": 1}}));
    assert_eq!(wrong_type_field(&e), "options.history");
    let e = bad(MSG_MODIFY, json!({"options": [true]}));
    assert_eq!(wrong_type_field(&e), "options");
    let e = bad(MSG_MODIFY, json!({"atUserIDList": ["u1", 2]}));
    assert_eq!(wrong_type_field(&e), "atUserIDList[1]");
    let e = bad(MSG_MODIFY, json!({"atUserIDList": "u1"}));
    assert_eq!(wrong_type_field(&e), "atUserIDList");
    let e = bad(MSG_MODIFY, json!({"senderNickname": 5}));
    assert_eq!(wrong_type_field(&e), "senderNickname");
    assert!(e.to_string().contains("senderNickname"), "{e}");
}

#[test]
fn int32_fields_check_type_and_range() {
    ok(MSG_MODIFY, json!({"sessionType": i32::MAX}));
    ok(MSG_MODIFY, json!({"sessionType": i32::MIN}));
    ok(MSG_MODIFY, json!({"sessionType": null}));
    for too_big in [
        json!(i64::from(i32::MAX) + 1),
        json!(i64::from(i32::MIN) - 1),
        json!(u64::MAX),
    ] {
        let e = bad(MSG_MODIFY, json!({ "sessionType": too_big }));
        assert!(
            matches!(&e, ModifyError::OutOfRange { field, min: -2147483648, max: 2147483647 } if field == "sessionType"),
            "{e:?}"
        );
    }
    for wrong in [json!(1.5), json!(1.0), json!("3"), json!(true)] {
        let e = bad(MSG_MODIFY, json!({ "sessionType": wrong }));
        assert_eq!(wrong_type_field(&e), "sessionType");
    }
}

#[test]
fn offline_push_fields() {
    let cmd = "callbackBeforeOfflinePushCommand";
    ok(
        cmd,
        json!({"userIDList": ["u1"], "offlinePushInfo": {"title": "t", "desc": "d", "ex": "", "iOSPushSound": "default", "iOSBadgeCount": true, "signalInfo": ""}}),
    );
    ok(cmd, json!({"userIDList": null, "offlinePushInfo": null}));
    let e = bad(cmd, json!({"offlinePushInfo": {"title": null}}));
    assert_eq!(wrong_type_field(&e), "offlinePushInfo.title");
    let e = bad(cmd, json!({"offlinePushInfo": {"iOSBadgeCount": 1}}));
    assert_eq!(wrong_type_field(&e), "offlinePushInfo.iOSBadgeCount");
    let e = bad(cmd, json!({"offlinePushInfo": {"sound": "x"}}));
    assert_eq!(
        e,
        ModifyError::UnknownField {
            command: cmd.to_owned(),
            field: "offlinePushInfo.sound".to_owned()
        }
    );
    let e = bad(cmd, json!({"offlinePushInfo": "x"}));
    assert_eq!(wrong_type_field(&e), "offlinePushInfo");
}

#[test]
fn group_online_push_takes_only_the_user_list() {
    let cmd = "callbackBeforeGroupOnlinePushCommand";
    ok(cmd, json!({"userIDList": ["u1", "u2"]}));
    let e = bad(cmd, json!({"offlinePushInfo": {"title": "x"}}));
    assert!(matches!(e, ModifyError::Refused { .. }), "{e:?}");
}

#[test]
fn friend_fields() {
    ok(
        "callbackBeforeImportFriendsCommand",
        json!({"friendUserIDs": ["u1"]}),
    );
    let e = bad(
        "callbackBeforeImportFriendsCommand",
        json!({"friendUserIDs": [null]}),
    );
    assert_eq!(wrong_type_field(&e), "friendUserIDs[0]");
    ok(
        "callbackBeforeSetFriendRemarkCommand",
        json!({"remark": "bestie"}),
    );
    let e = bad(
        "callbackBeforeSetFriendRemarkCommand",
        json!({"remark": null}),
    );
    assert_eq!(wrong_type_field(&e), "remark");
}

#[test]
fn update_user_info_fields() {
    ok(
        "callbackBeforeUpdateUserInfoCommand",
        json!({"nickName": "A", "faceURL": null, "ex": "x"}),
    );
    let e = bad(
        "callbackBeforeUpdateUserInfoCommand",
        json!({"nickname": "A"}),
    );
    assert!(matches!(e, ModifyError::UnknownField { .. }), "{e:?}");
}

#[test]
fn update_user_info_ex_only_sets_fields_present_in_the_request() {
    let cb = callback(
        "callbackBeforeUpdateUserInfoExCommand",
        r#"{"callbackCommand":"callbackBeforeUpdateUserInfoExCommand","userID":"u1","nickName":"Alice","faceURL":null,"ex":null}"#,
    );
    assert!(check(&cb, json!({"nickName": "Alice L."})).is_ok());
    assert!(check(&cb, json!({"faceURL": null, "ex": null})).is_ok());
    for key in ["faceURL", "ex"] {
        assert_eq!(
            check(&cb, json!({ key: "x" })),
            Err(ModifyError::NotInRequest {
                field: key.to_owned()
            })
        );
    }
    // Absent from the request counts as null.
    let cb = callback(
        "callbackBeforeUpdateUserInfoExCommand",
        r#"{"userID":"u1"}"#,
    );
    assert!(matches!(
        check(&cb, json!({"nickName": "x"})),
        Err(ModifyError::NotInRequest { .. })
    ));
    assert!(matches!(
        check(&cb, json!({"nickName": 1})),
        Err(ModifyError::WrongType { .. })
    ));
}

#[test]
fn user_register_users() {
    let cmd = "callbackBeforeUserRegisterCommand";
    ok(
        cmd,
        json!({"users": [{"userID": "u1", "nickname": "A", "faceURL": "", "ex": "", "createTime": 1719830400123_i64, "appMangerLevel": 1, "globalRecvMsgOpt": 0}]}),
    );
    ok(cmd, json!({"users": [{"userID": "u1"}]}));
    let e = bad(cmd, json!({"users": [{"userID": "u1"}, {"nickname": 1}]}));
    assert_eq!(wrong_type_field(&e), "users[1].nickname");
    let e = bad(cmd, json!({"users": ["u1"]}));
    assert_eq!(wrong_type_field(&e), "users[0]");
    let e = bad(cmd, json!({"users": {"userID": "u1"}}));
    assert_eq!(wrong_type_field(&e), "users");
    let e = bad(cmd, json!({"users": [{"nickName": "A"}]}));
    assert!(
        matches!(&e, ModifyError::UnknownField { field, .. } if field == "users[0].nickName"),
        "{e:?}"
    );
}

#[test]
fn members_join_group_entries_need_a_user_id() {
    let cmd = "callbackBeforeMembersJoinGroupCommand";
    ok(
        cmd,
        json!({"memberCallbackList": [{"userID": "u1", "nickname": null, "faceURL": "f", "roleLevel": 20, "muteEndTime": 1719830400123_i64, "ex": "x"}]}),
    );
    ok(cmd, json!({"memberCallbackList": null}));
    let e = bad(cmd, json!({"memberCallbackList": [{"nickname": "x"}]}));
    assert_eq!(
        e,
        ModifyError::MissingField {
            field: "memberCallbackList[0].userID".to_owned()
        }
    );
    let e = bad(cmd, json!({"memberCallbackList": [{"userID": null}]}));
    assert_eq!(wrong_type_field(&e), "memberCallbackList[0].userID");
    let e = bad(cmd, json!({"memberCallbackList": [{"userID": 7}]}));
    assert_eq!(wrong_type_field(&e), "memberCallbackList[0].userID");
    let e = bad(
        cmd,
        json!({"memberCallbackList": [{"userID": "u", "muteEndTime": 1.5}]}),
    );
    assert_eq!(wrong_type_field(&e), "memberCallbackList[0].muteEndTime");
}

#[test]
fn create_group_fields() {
    let cmd = "callbackBeforeCreateGroupCommand";
    ok(
        cmd,
        json!({"groupID": "g_custom", "groupName": "n", "groupType": 2, "needVerification": 1, "status": null}),
    );
    let e = bad(cmd, json!({"applyMemberFriend": 1}));
    assert!(matches!(e, ModifyError::Refused { .. }), "{e:?}");
    let e = bad(cmd, json!({"groupType": "2"}));
    assert_eq!(wrong_type_field(&e), "groupType");
}

#[test]
fn set_group_member_info_fields() {
    let cmd = "callbackBeforeSetGroupMemberInfoCommand";
    ok(
        cmd,
        json!({"nickName": "n", "roleLevel": 60, "ex": null, "faceURL": ""}),
    );
    let e = bad(cmd, json!({"roleLevel": 1e3}));
    assert_eq!(wrong_type_field(&e), "roleLevel");
}

#[test]
fn set_group_info_fields() {
    let cmd = "callbackBeforeSetGroupInfoCommand";
    ok(
        cmd,
        json!({"groupName": "n", "introduction": "i", "faceURL": "f", "ex": null, "needVerification": 1}),
    );
    // Plain Go strings: null would read as "" and wipe the change.
    let e = bad(cmd, json!({"groupName": null}));
    assert_eq!(wrong_type_field(&e), "groupName");
    for key in ["groupID", "notification"] {
        let e = bad(cmd, json!({ key: "x" }));
        assert!(
            matches!(&e, ModifyError::Refused { field, .. } if field == key),
            "{e:?}"
        );
    }
}

#[test]
fn set_group_info_ex_fields() {
    let cmd = "callbackBeforeSetGroupInfoExCommand";
    ok(
        cmd,
        json!({"groupName": null, "faceURL": "f", "lookMemberInfo": 1, "applyMemberFriend": null}),
    );
    let e = bad(cmd, json!({"groupID": "g_2"}));
    assert!(matches!(e, ModifyError::Refused { .. }), "{e:?}");
    let e = bad(cmd, json!({"lookMemberInfo": true}));
    assert_eq!(wrong_type_field(&e), "lookMemberInfo");
}

#[test]
fn conversation_fields() {
    for cmd in [
        "callbackBeforeCreateSingleChatConversationsCommand",
        "callbackBeforeCreateGroupChatConversationsCommand",
    ] {
        ok(
            cmd,
            json!({"recvMsgOpt": 2, "isPinned": true, "isPrivateChat": null, "burnDuration": 30, "groupAtType": 0, "attachedInfo": "", "ex": "x"}),
        );
        let e = bad(cmd, json!({"isPinned": "true"}));
        assert_eq!(wrong_type_field(&e), "isPinned");
        let e = bad(cmd, json!({"conversationId": "x"}));
        assert!(matches!(e, ModifyError::UnknownField { .. }), "{e:?}");
    }
}

#[test]
fn every_error_message_names_the_field() {
    let cases = [
        bad(MSG_MODIFY, json!({"errCode": 1})),
        bad("callbackBeforeAddFriendCommand", json!({"reqMsg": "x"})),
        bad(MSG_MODIFY, json!({"bogus": 1})),
        bad(MSG_MODIFY, json!({"msgDataList": "x"})),
        bad(MSG_MODIFY, json!({"status": "1"})),
        bad(MSG_MODIFY, json!({"status": 1_u64 << 40})),
        bad(MSG_MODIFY, json!({"content": "x"})),
    ];
    let fields = [
        "errCode",
        "reqMsg",
        "bogus",
        "msgDataList",
        "status",
        "status",
        "content",
    ];
    for (e, field) in cases.iter().zip(fields) {
        assert!(e.to_string().contains(field), "{e} lacks {field}");
    }
}
