//! Delivery keys of OpenIM after-callbacks: what names the event, which conversation it is in.

use hookbox_dialects::{DeliveryKeys, openim};
use hookbox_model::Phase;
use http::HeaderMap;

use crate::support::{callback, headers, parse_with};

fn keys(command: &str, body: serde_json::Value) -> DeliveryKeys {
    callback(command, &body.to_string()).delivery_keys()
}

fn message(command: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut body = serde_json::json!({
        "sendID": "alice", "callbackCommand": command, "serverMsgID": "srv-1",
        "clientMsgID": "cli-1", "operationID": "op-1", "sessionType": 1, "seq": 0,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[test]
fn the_command_table_marks_every_after_callback() {
    let after: Vec<&str> = openim::COMMANDS
        .iter()
        .filter(|c| c.phase == Phase::After)
        .map(|c| c.name)
        .collect();
    assert_eq!(after.len(), 29);
    assert!(after.contains(&"callbackBeforeAfterMsgCommand"), "revoke");
    for info in openim::COMMANDS {
        let named_after = info.name.starts_with("callbackAfter") || info.name.contains("After");
        assert_eq!(info.phase == Phase::After, named_after, "{}", info.name);
    }
}

#[test]
fn tagging_adds_the_key_to_the_metadata_and_nothing_else() {
    let send = "callbackAfterSendSingleMsgCommand";
    let cb = callback(
        send,
        &message(send, serde_json::json!({"recvID": "bob"})).to_string(),
    );
    let tagged = cb.delivery_keys().tag(&cb.event);
    assert_eq!(tagged.payload, cb.event.payload);
    assert_eq!(tagged.metadata.len(), cb.event.metadata.len() + 1);
    assert_eq!(
        tagged.metadata_value(hookbox_dialects::IDEMPOTENCY_KEY),
        Some(format!("openim:{send}:msg:srv-1").as_str())
    );
}

#[test]
fn a_message_is_named_by_its_server_id_and_the_command() {
    let send = "callbackAfterSendSingleMsgCommand";
    let saved = "callbackAfterMsgSaveDBCommand";
    let k = keys(send, message(send, serde_json::json!({"recvID": "bob"})));
    assert_eq!(k.idempotency, format!("openim:{send}:msg:srv-1"));
    // The same message's save-to-db callback is another event of the same conversation.
    let s = keys(
        saved,
        message(saved, serde_json::json!({"recvID": "bob", "groupID": ""})),
    );
    assert_eq!(s.idempotency, format!("openim:{saved}:msg:srv-1"));
    assert_eq!(k.ordering, "openim:si_alice_bob");
    assert_eq!(s.ordering, k.ordering);
    // Without a server id, the client's.
    let mut body = message(send, serde_json::json!({"recvID": "bob"}));
    body["serverMsgID"] = "".into();
    assert_eq!(
        keys(send, body).idempotency,
        format!("openim:{send}:cmsg:cli-1")
    );
}

#[test]
fn both_directions_of_a_chat_are_one_conversation_and_groups_win() {
    let send = "callbackAfterSendSingleMsgCommand";
    let there = keys(
        send,
        message(
            send,
            serde_json::json!({"sendID": "bob", "recvID": "alice"}),
        ),
    );
    let back = keys(send, message(send, serde_json::json!({"recvID": "bob"})));
    assert_eq!(there.ordering, back.ordering);
    let group = "callbackAfterSendGroupMsgCommand";
    let g = keys(
        group,
        message(
            group,
            serde_json::json!({"groupID": "g1", "sessionType": 3}),
        ),
    );
    assert_eq!(g.ordering, "openim:sg_g1");
    let note = keys(
        send,
        message(send, serde_json::json!({"recvID": "bob", "sessionType": 4})),
    );
    assert_eq!(note.ordering, "openim:sn_alice_bob");
}

#[test]
fn a_revoke_joins_the_conversation_of_the_messages_it_revokes() {
    let revoke = "callbackBeforeAfterMsgCommand";
    let k = keys(
        revoke,
        serde_json::json!({"callbackCommand": revoke, "conversationID": "sg_g1", "seq": 7, "userID": "alice"}),
    );
    assert_eq!(k.ordering, "openim:sg_g1");
    assert!(
        k.idempotency.starts_with(&format!("openim:{revoke}:body:")),
        "{}",
        k.idempotency
    );
}

#[test]
fn without_a_message_id_the_operation_and_a_body_hash_name_the_event() {
    let online = "callbackAfterUserOnlineCommand";
    let body = |seq: i64| {
        serde_json::json!({"callbackCommand": online, "operationID": "op-9", "platformID": 2,
                           "platform": "Android", "userID": "alice", "seq": seq, "connID": "c"})
        .to_string()
    };
    let first = callback(online, &body(1)).delivery_keys();
    let again = callback(online, &body(1)).delivery_keys();
    let other = callback(online, &body(2)).delivery_keys();
    assert_eq!(first, again, "the same bytes are the same event");
    assert!(
        first
            .idempotency
            .starts_with(&format!("openim:{online}:op:op-9:"))
    );
    assert_ne!(
        first.idempotency, other.idempotency,
        "one operation, two events"
    );
    assert_eq!(first.ordering, "openim:u:alice");

    // The header's operation id counts like the body's.
    let plain =
        serde_json::json!({"callbackCommand": online, "userID": "bob", "seq": 3}).to_string();
    let headed = parse_with(
        Some(online),
        None,
        &headers(&[("operationID", "op-h")]),
        plain.as_bytes(),
    )
    .unwrap()
    .delivery_keys();
    assert!(
        headed.idempotency.contains(":op:op-h:"),
        "{}",
        headed.idempotency
    );
    let bare = parse_with(Some(online), None, &HeaderMap::new(), plain.as_bytes())
        .unwrap()
        .delivery_keys();
    assert!(
        bare.idempotency
            .starts_with(&format!("openim:{online}:body:"))
    );
}

#[test]
fn relationships_order_by_the_pair_and_the_rest_by_user_or_command() {
    let cases = [
        (
            "callbackAfterAddFriendCommand",
            serde_json::json!({"fromUserID": "bob", "toUserID": "alice"}),
            "openim:si_alice_bob",
        ),
        (
            "callbackAfterAddFriendAgreeCommand",
            serde_json::json!({"fromUserID": "alice", "blackUserID": "bob"}),
            "openim:si_alice_bob",
        ),
        (
            "callbackAfterDeleteFriendCommand",
            serde_json::json!({"ownerUserID": "bob", "friendUserID": "alice"}),
            "openim:si_alice_bob",
        ),
        (
            "callbackAfterImportFriendsCommand",
            serde_json::json!({"ownerUserID": "carol", "friendUserIDs": ["a"]}),
            "openim:u:carol",
        ),
        (
            "callbackAfterKickGroupCommand",
            serde_json::json!({"groupID": "g7", "kickedUserIDs": ["a"]}),
            "openim:sg_g7",
        ),
        (
            "callbackAfterCreateGroupChatConversationsCommand",
            serde_json::json!({"groupId": "g8", "conversationId": "sg_g8"}),
            "openim:sg_g8",
        ),
        (
            "callbackAfterUserRegisterCommand",
            serde_json::json!({"users": []}),
            "openim:cmd:callbackAfterUserRegisterCommand",
        ),
    ];
    for (command, mut body, want) in cases {
        body["callbackCommand"] = command.into();
        assert_eq!(keys(command, body).ordering, want, "{command}");
    }
}

#[test]
fn phase_of_knows_both_servers_commands_without_a_request() {
    use hookbox_dialects::phase_of;
    assert_eq!(phase_of("callbackAfterSendGroupMsgCommand"), Phase::After);
    assert_eq!(phase_of("callbackBeforeAfterMsgCommand"), Phase::After);
    assert_eq!(phase_of("callbackBeforeSendGroupMsgCommand"), Phase::Before);
    assert_eq!(phase_of("callbackAfterSomethingNewCommand"), Phase::After);
    assert_eq!(phase_of("State.StateChange"), Phase::After);
    assert_eq!(phase_of("Sns.CallbackPrevFriendAdd"), Phase::Before);
    assert_eq!(phase_of("Group.CallbackSomethingNew"), Phase::After);
    assert_eq!(phase_of("Group.CallbackBeforeSomethingNew"), Phase::Before);
}
