//! Delivery keys of Tencent after-callbacks: what names the event, which conversation it is in.

use hookbox_dialects::{DeliveryKeys, tencent};
use hookbox_model::Phase;

use crate::support::{OPEN_APP, SIGNED_APP, body_for, open_query, parse_with, signed_query};

fn keys(command: &str, fields: serde_json::Value) -> DeliveryKeys {
    let body = body_for(command, fields);
    parse_with(Some(&open_query(command)), body.as_bytes())
        .expect("parses")
        .delivery_keys()
}

#[test]
fn the_command_table_marks_every_after_callback() {
    let before = ["CallbackBefore", "CallbackPrev"];
    for info in tencent::COMMANDS {
        let is_before = before.iter().any(|b| info.name.contains(b));
        assert_eq!(info.phase == Phase::Before, is_before, "{}", info.name);
    }
    for after in [
        "State.StateChange",
        "Sns.CallbackFriendAdd",
        "C2C.CallbackAfterSendMsg",
        "Group.CallbackAfterRecallMsg",
    ] {
        assert_eq!(
            tencent::command(after).map(|c| c.phase),
            Some(Phase::After),
            "{after}"
        );
    }
}

#[test]
fn one_to_one_messages_are_named_by_msg_key_and_ordered_by_the_pair() {
    let send = "C2C.CallbackAfterSendMsg";
    let fields = |from: &str, to: &str| {
        serde_json::json!({"From_Account": from, "To_Account": to, "MsgSeq": 48374,
                           "MsgKey": "48374_2837546_1557481126", "MsgBody": []})
    };
    let k = keys(send, fields("jared", "Jonh"));
    assert_eq!(
        k.idempotency,
        format!("tencent:{OPEN_APP}:{send}:msgkey:48374_2837546_1557481126")
    );
    assert_eq!(k.ordering, format!("tencent:{OPEN_APP}:c2c:Jonh|jared"));
    assert_eq!(keys(send, fields("Jonh", "jared")).ordering, k.ordering);
    // Its recall is another event in the same conversation.
    let recall = keys(
        "C2C.CallbackAfterMsgWithDraw",
        serde_json::json!({"From_Account": "jared", "To_Account": "Jonh", "MsgKey": "48374_2837546_1557481126"}),
    );
    assert_ne!(recall.idempotency, k.idempotency);
    assert_eq!(recall.ordering, k.ordering);
}

#[test]
fn group_messages_are_named_by_group_topic_and_seq() {
    let send = "Group.CallbackAfterSendMsg";
    let k = keys(
        send,
        serde_json::json!({"GroupId": "@TGS#1", "From_Account": "a", "MsgSeq": 123}),
    );
    assert_eq!(
        k.idempotency,
        format!("tencent:{OPEN_APP}:{send}:seq:@TGS#1:123")
    );
    assert_eq!(k.ordering, format!("tencent:{OPEN_APP}:g:@TGS#1"));
    let topic = keys(
        send,
        serde_json::json!({"GroupId": "@TGS#1", "TopicId": "t1", "MsgSeq": 123}),
    );
    assert_eq!(
        topic.idempotency,
        format!("tencent:{OPEN_APP}:{send}:seq:@TGS#1/t1:123")
    );
    assert_eq!(
        topic.ordering, k.ordering,
        "topics share their group's conversation"
    );
    let live = keys(
        send,
        serde_json::json!({"GroupId": "@TGS#2", "MsgId": "m-9", "MsgSeq": 1}),
    );
    assert_eq!(
        live.idempotency,
        format!("tencent:{OPEN_APP}:{send}:msgid:m-9")
    );
}

#[test]
fn apps_never_share_keys() {
    let send = "Group.CallbackAfterSendMsg";
    let body = body_for(send, serde_json::json!({"GroupId": "g", "MsgSeq": 1}));
    let open = parse_with(Some(&open_query(send)), body.as_bytes())
        .unwrap()
        .delivery_keys();
    let signed = parse_with(Some(&signed_query(send)), body.as_bytes())
        .unwrap()
        .delivery_keys();
    assert_ne!(open.idempotency, signed.idempotency);
    assert_ne!(open.ordering, signed.ordering);
    assert!(
        signed
            .ordering
            .starts_with(&format!("tencent:{SIGNED_APP}:"))
    );
}

#[test]
fn other_callbacks_fall_back_to_an_account_a_pair_or_the_command_and_a_body_hash() {
    let state = "State.StateChange";
    let fields = |action: &str| serde_json::json!({"EventTime": 1, "Info": {"Action": action, "To_Account": "u1", "Reason": "LinkClose"}});
    let login = keys(state, fields("Login"));
    let logout = keys(state, fields("Logout"));
    assert_eq!(login.ordering, format!("tencent:{OPEN_APP}:u:u1"));
    assert!(
        login
            .idempotency
            .starts_with(&format!("tencent:{OPEN_APP}:{state}:body:"))
    );
    assert_ne!(login.idempotency, logout.idempotency);
    assert_eq!(
        login,
        keys(state, fields("Login")),
        "the same bytes are the same event"
    );

    let friend = "Sns.CallbackFriendAdd";
    let one = keys(
        friend,
        serde_json::json!({"PairList": [{"From_Account": "b", "To_Account": "a", "Initiator_Account": "b"}]}),
    );
    assert_eq!(one.ordering, format!("tencent:{OPEN_APP}:c2c:a|b"));
    let many = keys(
        friend,
        serde_json::json!({"PairList": [{"From_Account": "b", "To_Account": "a"}, {"From_Account": "c", "To_Account": "a"}]}),
    );
    assert_eq!(many.ordering, format!("tencent:{OPEN_APP}:cmd:{friend}"));
    let alert = keys("Alert.RequestOverLimit", serde_json::json!({}));
    assert_eq!(
        alert.ordering,
        format!("tencent:{OPEN_APP}:cmd:Alert.RequestOverLimit")
    );
}
