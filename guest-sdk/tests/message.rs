//! The cross-dialect message view: the same questions answered for OpenIM and Tencent bodies,
//! and text changes answered in each dialect's own terms, other elements kept byte for byte.

use hookbox_sdk::message::{MessagePhase, Target, TextMessage};
use hookbox_sdk::openim::command as oc;
use hookbox_sdk::tencent::command as tc;
use hookbox_sdk::{Dialect, Event, Verdict};

fn openim(command: &str, content_type: i32, content: &str) -> Event {
    let body = serde_json::json!({
        "sendID": "u1", "recvID": "u2", "groupID": "g1", "clientMsgID": "c1",
        "sessionType": 1, "contentType": content_type, "content": content, "atUserList": null,
    });
    Event::new(Dialect::OpenIm, command, body.to_string())
}

fn view(event: &Event) -> TextMessage {
    TextMessage::from_event(event).unwrap().unwrap()
}

fn modify_json(verdict: Verdict) -> String {
    match verdict {
        Verdict::Modify(json) => json,
        other => panic!("not a modify: {other:?}"),
    }
}

#[test]
fn phases() {
    use MessagePhase::*;
    for (dialect, command, phase) in [
        (
            Dialect::OpenIm,
            oc::BEFORE_SEND_SINGLE_MSG,
            Some(BeforeSend),
        ),
        (Dialect::OpenIm, oc::BEFORE_SEND_GROUP_MSG, Some(BeforeSend)),
        (Dialect::OpenIm, oc::BEFORE_MSG_MODIFY, Some(BeforeModify)),
        (Dialect::OpenIm, oc::AFTER_SEND_SINGLE_MSG, Some(AfterSend)),
        (Dialect::OpenIm, oc::AFTER_SEND_GROUP_MSG, Some(AfterSend)),
        (Dialect::OpenIm, oc::AFTER_MSG_SAVE_DB, Some(AfterSave)),
        (Dialect::OpenIm, oc::AFTER_REVOKE_MSG, None),
        (Dialect::OpenIm, tc::C2C_BEFORE_SEND_MSG, None),
        (Dialect::Tencent, tc::C2C_BEFORE_SEND_MSG, Some(BeforeSend)),
        (
            Dialect::Tencent,
            tc::GROUP_BEFORE_SEND_MSG,
            Some(BeforeSend),
        ),
        (Dialect::Tencent, tc::C2C_AFTER_SEND_MSG, Some(AfterSend)),
        (Dialect::Tencent, tc::GROUP_AFTER_SEND_MSG, Some(AfterSend)),
        (Dialect::Tencent, tc::C2C_AFTER_MSG_WITHDRAW, None),
        (Dialect::Tencent, oc::BEFORE_MSG_MODIFY, None),
    ] {
        assert_eq!(MessagePhase::of(dialect, command), phase, "{command}");
    }
}

#[test]
fn other_commands_are_not_parsed() {
    let event = Event::new(Dialect::Tencent, tc::STATE_CHANGE, "not json");
    assert_eq!(TextMessage::from_event(&event).unwrap(), None);
    let event = Event::new(Dialect::OpenIm, oc::AFTER_ADD_FRIEND, "not json");
    assert_eq!(TextMessage::from_event(&event).unwrap(), None);
    let bad = Event::new(Dialect::Tencent, tc::C2C_BEFORE_SEND_MSG, "not json");
    let err = TextMessage::from_event(&bad).unwrap_err();
    assert!(err.message().contains(tc::C2C_BEFORE_SEND_MSG), "{err}");
    let bad = Event::new(
        Dialect::OpenIm,
        oc::BEFORE_MSG_MODIFY,
        r#"{"contentType":"x"}"#,
    );
    assert!(TextMessage::from_event(&bad).is_err());
}

#[test]
fn openim_view() {
    let msg = view(&openim(
        oc::BEFORE_SEND_SINGLE_MSG,
        101,
        r#"{"content":"hi"}"#,
    ));
    assert_eq!(msg.dialect(), Dialect::OpenIm);
    assert_eq!(msg.command(), oc::BEFORE_SEND_SINGLE_MSG);
    assert_eq!(msg.phase(), MessagePhase::BeforeSend);
    assert!(!msg.can_modify());
    assert_eq!(msg.sender(), "u1");
    assert_eq!(msg.target(), &Target::User("u2".into()));
    assert_eq!(msg.message_id(), Some("c1"));
    assert_eq!(msg.text(), Some("hi"));
    assert_eq!(msg.content_type(), Some(101));
    assert!(msg.element_types().is_empty());
    assert_eq!(msg.reject(5001, "no"), Verdict::reject(5001, "no"));
    assert!(
        msg.replace_text("x").is_err(),
        "before-send cannot modify in OpenIM"
    );
    let err = msg.map_text(|_| None).unwrap_err();
    assert!(
        err.message().contains("callbackBeforeMsgModifyCommand"),
        "{err}"
    );

    let group = view(&openim(
        oc::AFTER_SEND_GROUP_MSG,
        106,
        r#"{"text":"@a yo","atUserList":["a"]}"#,
    ));
    assert_eq!(group.phase(), MessagePhase::AfterSend);
    assert_eq!(group.target(), &Target::Group("g1".into()));
    assert_eq!(group.text(), Some("@a yo"));

    let picture = view(&openim(
        oc::AFTER_SEND_SINGLE_MSG,
        102,
        r#"{"sourcePicture":{}}"#,
    ));
    assert_eq!(picture.text(), None);
    assert_eq!(picture.content_type(), Some(102));

    let modify = view(&openim(oc::BEFORE_MSG_MODIFY, 101, r#"{"content":"hi"}"#));
    assert_eq!(
        modify.target(),
        &Target::Unknown,
        "msg-modify has no recvID/groupID"
    );

    let saved = Event::new(
        Dialect::OpenIm,
        oc::AFTER_MSG_SAVE_DB,
        r#"{"sendID":"u1","sessionType":3,"groupID":"g9","recvID":"","contentType":101,"content":"{\"content\":\"k\"}"}"#,
    );
    let saved = view(&saved);
    assert_eq!(saved.phase(), MessagePhase::AfterSave);
    assert_eq!(saved.target(), &Target::Group("g9".into()));
    assert_eq!(saved.message_id(), None);
    assert_eq!(saved.text(), Some("k"));
}

#[test]
fn openim_msg_modify_answers_like_the_existing_helpers() {
    let msg = view(&openim(
        oc::BEFORE_MSG_MODIFY,
        101,
        r#"{"content":"spam here"}"#,
    ));
    assert!(msg.can_modify());
    assert_eq!(
        msg.replace_text("***").unwrap(),
        Verdict::replace_text("***")
    );
    assert_eq!(
        msg.map_text(|t| Some(t.replace("spam", "***"))).unwrap(),
        Verdict::Modify(r#"{"content":"{\"content\":\"*** here\"}"}"#.into())
    );
    assert_eq!(msg.map_text(|_| None).unwrap(), Verdict::allow());

    let at = view(&openim(
        oc::BEFORE_MSG_MODIFY,
        106,
        r#"{"text":"@a spam","atUserList":["a"],"isAtSelf":false}"#,
    ));
    assert_eq!(
        at.map_text(|t| Some(t.replace("spam", "***"))).unwrap(),
        Verdict::replace_content(r#"{"text":"@a ***","atUserList":["a"],"isAtSelf":false}"#)
    );

    let picture = view(&openim(oc::BEFORE_MSG_MODIFY, 102, "{}"));
    assert_eq!(
        picture.map_text(|_| Some("x".into())).unwrap(),
        Verdict::allow()
    );
    assert!(picture.replace_text("x").is_err());
}

/// A C2C before-send as Tencent sends it, with elements whose bytes a re-serialisation would
/// change: spacing, escapes, a float written `1.50`, an unknown element type, and an unknown key
/// inside a text element's content.
const C2C_BEFORE: &str = r#"{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"jared","To_Account":"Jonh","MsgSeq":48374,"MsgRandom":2837546,"MsgTime":1557481126,"MsgKey":"48374_2837546_1557481126","OnlineOnlyFlag":0,"MsgBody":[
  {"MsgType": "TIMTextElem", "MsgContent": {"Text": "buy SPAM", "Lang": "en"}},
  {"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"\u003cface\u003e"}},
  {"MsgType":"TIMLocationElem","MsgContent":{"Desc":"here","Latitude":1.50,"Longitude":-0.0}},
  {"MsgType":"TIMFutureElem","MsgContent":{"X":[1, 2]}},
  {"MsgType":"TIMTextElem","MsgContent":{"Text":" now \/ spam"}}
],"CloudCustomData":"","EventTime":1670574414123}"#;

/// The elements of [`C2C_BEFORE`] as they appear in the body.
const FACE: &str =
    r#"{"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"\u003cface\u003e"}}"#;
const LOCATION: &str = r#"{"MsgType":"TIMLocationElem","MsgContent":{"Desc":"here","Latitude":1.50,"Longitude":-0.0}}"#;
const FUTURE: &str = r#"{"MsgType":"TIMFutureElem","MsgContent":{"X":[1, 2]}}"#;

#[test]
fn tencent_c2c_view() {
    let event = Event::new(Dialect::Tencent, tc::C2C_BEFORE_SEND_MSG, C2C_BEFORE)
        .with_metadata("SdkAppid", "1400000002");
    let msg = view(&event);
    assert_eq!(msg.dialect(), Dialect::Tencent);
    assert_eq!(msg.phase(), MessagePhase::BeforeSend);
    assert!(msg.can_modify());
    assert_eq!(msg.sender(), "jared");
    assert_eq!(msg.target(), &Target::User("Jonh".into()));
    assert_eq!(msg.message_id(), Some("48374_2837546_1557481126"));
    assert_eq!(msg.text(), Some("buy SPAM now / spam"));
    assert_eq!(msg.content_type(), None);
    assert_eq!(
        msg.element_types(),
        [
            "TIMTextElem",
            "TIMFaceElem",
            "TIMLocationElem",
            "TIMFutureElem",
            "TIMTextElem"
        ]
    );
    assert_eq!(msg.reject(5001, "no"), Verdict::reject(120_001, "no"));
    assert_eq!(msg.reject(120_777, "no"), Verdict::reject(120_777, "no"));
}

#[test]
fn tencent_masking_keeps_non_text_elements_identical() {
    let msg = view(&Event::new(
        Dialect::Tencent,
        tc::C2C_BEFORE_SEND_MSG,
        C2C_BEFORE,
    ));
    let mut pieces = Vec::new();
    let verdict = msg
        .map_text(|t| {
            pieces.push(t.to_owned());
            let lower = t.to_lowercase();
            lower.contains("spam").then(|| lower.replace("spam", "***"))
        })
        .unwrap();
    assert_eq!(
        pieces,
        ["buy SPAM", " now / spam"],
        "one call per text element"
    );
    let json = modify_json(verdict);
    assert_eq!(
        json,
        format!(
            r#"{{"MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"buy ***","Lang":"en"}}}},{FACE},{LOCATION},{FUTURE},{{"MsgType":"TIMTextElem","MsgContent":{{"Text":" now / ***"}}}}]}}"#
        )
    );
    // The answer is one JSON object with exactly the MsgBody key.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value.as_object().unwrap().len(), 1);
    assert_eq!(value["MsgBody"].as_array().unwrap().len(), 5);

    // Nothing to change: allow, not an empty modify.
    assert_eq!(msg.map_text(|_| None).unwrap(), Verdict::allow());
}

#[test]
fn tencent_replace_text_uses_the_first_text_element() {
    let msg = view(&Event::new(
        Dialect::Tencent,
        tc::C2C_BEFORE_SEND_MSG,
        C2C_BEFORE,
    ));
    let json = modify_json(msg.replace_text("all \"new\"").unwrap());
    assert_eq!(
        json,
        format!(
            r#"{{"MsgBody":[{{"MsgType":"TIMTextElem","MsgContent":{{"Text":"all \"new\"","Lang":"en"}}}},{FACE},{LOCATION},{FUTURE}]}}"#
        )
    );
}

#[test]
fn tencent_group_view_and_messages_without_text() {
    let body = r#"{"CallbackCommand":"Group.CallbackBeforeSendMsg","GroupId":"@TGS#1","Type":"Public","From_Account":"ann","Operator_Account":"ann","Random":7,"MsgBody":[{"MsgType":"TIMImageElem","MsgContent":{"UUID":"x","ImageFormat":1,"ImageInfoArray":[]}}],"EventTime":"1670574414123"}"#;
    let msg = view(&Event::new(
        Dialect::Tencent,
        tc::GROUP_BEFORE_SEND_MSG,
        body,
    ));
    assert_eq!(msg.target(), &Target::Group("@TGS#1".into()));
    assert_eq!(msg.message_id(), None);
    assert_eq!(msg.text(), None);
    assert_eq!(msg.element_types(), ["TIMImageElem"]);
    assert_eq!(msg.reject(5001, "no"), Verdict::reject(10_100, "no"));
    assert_eq!(
        msg.map_text(|_| Some("x".into())).unwrap(),
        Verdict::allow()
    );
    let err = msg.replace_text("x").unwrap_err();
    assert!(err.message().contains("no text"), "{err}");

    // A TIMTextElem whose Text is not a string is not text, and is kept as it is.
    let odd = r#"{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":5}},{"MsgType":"TIMTextElem","MsgContent":{"Text":"ok spam"}}]}"#;
    let msg = view(&Event::new(
        Dialect::Tencent,
        tc::GROUP_BEFORE_SEND_MSG,
        odd,
    ));
    assert_eq!(msg.text(), Some("ok spam"));
    assert_eq!(
        modify_json(msg.map_text(|t| Some(t.replace("spam", "***"))).unwrap()),
        r#"{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":5}},{"MsgType":"TIMTextElem","MsgContent":{"Text":"ok ***"}}]}"#
    );

    // No MsgBody at all.
    let empty = view(&Event::new(
        Dialect::Tencent,
        tc::GROUP_BEFORE_SEND_MSG,
        "{}",
    ));
    assert_eq!(empty.text(), None);
    assert!(empty.element_types().is_empty());
}

#[test]
fn tencent_after_send_is_read_only() {
    // shared/seeds/001, annotations removed.
    let seed = r#"{"CallbackCommand": "Group.CallbackAfterSendMsg","GroupId": "@TGS#2J4SZEAEL","Type": "Live","From_Account": "jared","Operator_Account":"admin","Random": 123456,"MsgId": "144115233406643804-1727580296-4026038328","MsgSeq": 123,"MsgTime": 1490686222,"MsgBody": [{"MsgType": "TIMTextElem","MsgContent":{"Text": "red packet"}}],"CloudCustomData": "your cloud custom data","EventTime":"1670574414123"}"#;
    let msg = view(&Event::new(
        Dialect::Tencent,
        tc::GROUP_AFTER_SEND_MSG,
        seed,
    ));
    assert_eq!(msg.phase(), MessagePhase::AfterSend);
    assert!(!msg.can_modify());
    assert_eq!(msg.sender(), "jared");
    assert_eq!(msg.target(), &Target::Group("@TGS#2J4SZEAEL".into()));
    assert_eq!(
        msg.message_id(),
        Some("144115233406643804-1727580296-4026038328")
    );
    assert_eq!(msg.text(), Some("red packet"));
    assert!(msg.replace_text("x").is_err());
    assert!(msg.map_text(|_| None).is_err());
    assert_eq!(msg.reject(5001, "late"), Verdict::reject(5001, "late"));

    let c2c = r#"{"From_Account":"a","To_Account":"b","MsgKey":"","MsgId":"m1","MsgBody":null,"SendMsgResult":0}"#;
    let msg = view(&Event::new(Dialect::Tencent, tc::C2C_AFTER_SEND_MSG, c2c));
    assert_eq!(msg.target(), &Target::User("b".into()));
    assert_eq!(msg.message_id(), Some("m1"));
    assert_eq!(msg.text(), None);
}
