//! Answer rendering: each verdict kind to the exact envelope bytes, per command family.

use hookbox_dialects::Callback;
use hookbox_dialects::tencent::{self, COMMANDS};
use hookbox_model::{Phase, Rejection, Verdict};
use serde_json::json;

use crate::support::{callback, obj};

const ALLOW: &str = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#;

fn render(cb: &Callback, verdict: &Verdict) -> String {
    String::from_utf8(tencent::render(cb, verdict)).expect("render writes UTF-8")
}

fn reject(code: i32, message: &str) -> Verdict {
    Verdict::Reject(Rejection {
        code,
        message: message.to_owned(),
        detail: "internal detail".to_owned(),
    })
}

fn c2c() -> Callback {
    callback(
        "C2C.CallbackBeforeSendMsg",
        json!({"From_Account": "jared"}),
    )
}

fn group_send() -> Callback {
    callback("Group.CallbackBeforeSendMsg", json!({"GroupId": "@TGS#1"}))
}

fn friend_add() -> Callback {
    callback(
        "Sns.CallbackPrevFriendAdd",
        json!({"From_Account": "id", "FriendItem": [
            {"To_Account": "id1", "AddWording": "hi"},
            {"To_Account": "id2"}
        ]}),
    )
}

#[test]
fn allow_envelope() {
    assert_eq!(render(&c2c(), &Verdict::Allow), ALLOW);
    assert_eq!(render(&group_send(), &Verdict::Allow), ALLOW);
}

#[test]
fn c2c_reject_in_range_passes_through() {
    for code in [120_001, 125_000, 130_000] {
        assert_eq!(
            render(&c2c(), &reject(code, "blocked")),
            format!(r#"{{"ActionStatus":"OK","ErrorCode":{code},"ErrorInfo":"blocked"}}"#)
        );
        assert_eq!(tencent::reject_code(&c2c(), code), (code, false));
    }
}

#[test]
fn c2c_reject_out_of_range_becomes_1() {
    for code in [0, 2, 120_000, 130_001, 10_150, -5, i32::MAX, i32::MIN] {
        assert_eq!(
            render(&c2c(), &reject(code, "blocked")),
            r#"{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"blocked"}"#,
            "{code}"
        );
        assert_eq!(tencent::reject_code(&c2c(), code), (1, true), "{code}");
    }
    assert_eq!(tencent::reject_code(&c2c(), 1), (1, false));
}

#[test]
fn group_reject_range_is_10100_to_10200() {
    for command in [
        "Group.CallbackBeforeSendMsg",
        "Group.CallbackBeforeCreateGroup",
        "Group.CallbackBeforeApplyJoinGroup",
        "Group.CallbackBeforeInviteJoinGroup",
        "Group.CallbackBeforeCreateTopic",
    ] {
        let cb = callback(command, json!({}));
        for code in [10_100, 10_150, 10_200] {
            assert_eq!(
                render(&cb, &reject(code, "no")),
                format!(r#"{{"ActionStatus":"OK","ErrorCode":{code},"ErrorInfo":"no"}}"#),
                "{command}"
            );
        }
        for code in [10_099, 10_201, 120_500, 0] {
            assert_eq!(
                render(&cb, &reject(code, "no")),
                r#"{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"no"}"#,
                "{command} {code}"
            );
        }
    }
}

#[test]
fn reject_message_is_escaped_and_detail_not_sent() {
    assert_eq!(
        render(&c2c(), &reject(120_002, "say \"hi\"\n<b>é</b>\u{1}")),
        r#"{"ActionStatus":"OK","ErrorCode":120002,"ErrorInfo":"say \"hi\"\n<b>é</b>\u0001"}"#
    );
}

#[test]
fn discard_is_a_silent_drop_on_send_callbacks() {
    assert_eq!(
        render(&c2c(), &Verdict::Discard),
        r#"{"ActionStatus":"OK","ErrorCode":2,"ErrorInfo":""}"#
    );
    assert_eq!(
        render(&group_send(), &Verdict::Discard),
        r#"{"ActionStatus":"OK","ErrorCode":2,"ErrorInfo":""}"#
    );
}

#[test]
fn discard_elsewhere_is_a_reject_with_1() {
    for command in [
        "Group.CallbackBeforeCreateGroup",
        "Group.CallbackBeforeApplyJoinGroup",
        "Group.CallbackBeforeInviteJoinGroup",
        "Group.CallbackBeforeCreateTopic",
        "Group.CallbackBeforeSomethingNew",
    ] {
        assert_eq!(
            render(&callback(command, json!({})), &Verdict::Discard),
            r#"{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"discarded by policy"}"#,
            "{command}"
        );
    }
}

#[test]
fn a_reject_never_becomes_a_silent_drop_or_an_allow() {
    for code in [0, 2] {
        assert_eq!(tencent::reject_code(&c2c(), code), (1, true));
        assert_eq!(tencent::reject_code(&group_send(), code), (1, true));
    }
}

#[test]
fn modify_appends_fields_in_plugin_order() {
    let fields = obj(json!({
        "CloudCustomData": "{\"moderated\":true}",
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "***"}}]
    }));
    assert_eq!(
        render(&c2c(), &Verdict::Modify(fields)),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","CloudCustomData":"{\"moderated\":true}","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"***"}}]}"#
    );
}

#[test]
fn modify_cannot_overwrite_envelope_keys() {
    let fields = obj(json!({
        "ErrorCode": 2, "actionstatus": "FAIL", "ERRORINFO": "x", "ActionStatus": "FAIL",
        "CloudCustomData": "c"
    }));
    assert_eq!(
        render(&group_send(), &Verdict::Modify(fields)),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","CloudCustomData":"c"}"#
    );
}

#[test]
fn empty_modify_is_the_allow_envelope() {
    assert_eq!(render(&c2c(), &Verdict::Modify(Default::default())), ALLOW);
}

#[test]
fn after_callbacks_answer_allow_whatever_the_verdict() {
    for info in COMMANDS.iter().filter(|c| c.phase == Phase::After) {
        let cb = callback(info.name, json!({"EventTime": 1}));
        for verdict in [
            Verdict::Allow,
            reject(120_001, "x"),
            reject(10_100, "x"),
            Verdict::Discard,
            Verdict::Modify(obj(json!({"MsgBody": []}))),
        ] {
            assert_eq!(render(&cb, &verdict), ALLOW, "{} {verdict:?}", info.name);
        }
        assert_eq!(tencent::reject_code(&cb, 10_100), (0, true));
        assert_eq!(tencent::reject_code(&cb, 0), (0, false));
    }
}

#[test]
fn unknown_commands() {
    let after = callback("Group.CallbackAfterReadReceipt", json!({}));
    assert_eq!(render(&after, &reject(10_100, "x")), ALLOW);
    let before = callback("Group.CallbackBeforeSetAttr", json!({}));
    assert_eq!(render(&before, &Verdict::Allow), ALLOW);
    assert_eq!(
        render(&before, &reject(10_100, "x")),
        r#"{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"x"}"#
    );
    assert_eq!(tencent::reject_code(&before, 10_100), (1, true));
}

#[test]
fn friend_allow_answers_every_account_with_0() {
    assert_eq!(
        render(&friend_add(), &Verdict::Allow),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"id1","ResultCode":0,"ResultInfo":""},{"To_Account":"id2","ResultCode":0,"ResultInfo":""}]}"#
    );
}

#[test]
fn friend_reject_refuses_every_account() {
    assert_eq!(
        render(&friend_add(), &reject(38_123, "not now")),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"id1","ResultCode":38123,"ResultInfo":"not now"},{"To_Account":"id2","ResultCode":38123,"ResultInfo":"not now"}]}"#
    );
    assert_eq!(tencent::reject_code(&friend_add(), 38_123), (38_123, false));
    assert_eq!(tencent::reject_code(&friend_add(), 39_000), (39_000, false));
}

#[test]
fn friend_reject_out_of_range_becomes_38000() {
    for code in [0, 1, 37_999, 39_001, 10_100] {
        assert_eq!(
            render(&friend_add(), &reject(code, "no")),
            r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"id1","ResultCode":38000,"ResultInfo":"no"},{"To_Account":"id2","ResultCode":38000,"ResultInfo":"no"}]}"#,
            "{code}"
        );
        assert_eq!(tencent::reject_code(&friend_add(), code), (38_000, true));
    }
}

#[test]
fn friend_discard_refuses_every_account_with_38000() {
    assert_eq!(
        render(&friend_add(), &Verdict::Discard),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"id1","ResultCode":38000,"ResultInfo":"discarded by policy"},{"To_Account":"id2","ResultCode":38000,"ResultInfo":"discarded by policy"}]}"#
    );
}

#[test]
fn friend_modify_replaces_the_echoed_result_items() {
    let fields = obj(json!({"ResultItem": [
        {"To_Account": "id2", "ResultCode": 38001, "ResultInfo": "blocked"},
        {"To_Account": "id1", "ResultCode": 0, "ResultInfo": ""}
    ]}));
    assert_eq!(
        render(&friend_add(), &Verdict::Modify(fields)),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"id2","ResultCode":38001,"ResultInfo":"blocked"},{"To_Account":"id1","ResultCode":0,"ResultInfo":""}]}"#
    );
}

#[test]
fn friend_response_uses_response_friend_item() {
    let cb = callback(
        "Sns.CallbackPrevFriendResponse",
        json!({"ResponseFriendItem": [{"To_Account": "id9", "ResponseAction": "Response_Action_Agree"}],
               "FriendItem": [{"To_Account": "wrong"}]}),
    );
    assert_eq!(
        render(&cb, &Verdict::Allow),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"id9","ResultCode":0,"ResultInfo":""}]}"#
    );
}

#[test]
fn friend_request_without_accounts() {
    let cb = callback("Sns.CallbackPrevFriendAdd", json!({"FriendItem": "odd"}));
    assert_eq!(
        render(&cb, &Verdict::Allow),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[]}"#
    );
    assert_eq!(
        render(&cb, &reject(38_500, "no")),
        r#"{"ActionStatus":"OK","ErrorCode":38500,"ErrorInfo":"no"}"#
    );
}

#[test]
fn friend_accounts_are_deduplicated_and_non_strings_skipped() {
    let cb = callback(
        "Sns.CallbackPrevFriendAdd",
        json!({"FriendItem": [{"To_Account": "a"}, {"To_Account": 5}, {}, "x", {"To_Account": "a"}, {"To_Account": "b"}]}),
    );
    assert_eq!(
        render(&cb, &Verdict::Allow),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"a","ResultCode":0,"ResultInfo":""},{"To_Account":"b","ResultCode":0,"ResultInfo":""}]}"#
    );
}

#[test]
fn big_numbers_in_modifications_stay_exact() {
    let fields = obj(
        json!({"MsgBody": [{"MsgType": "TIMFaceElem", "MsgContent": {"Index": u64::MAX, "Data": ""}}]}),
    );
    assert_eq!(
        render(&c2c(), &Verdict::Modify(fields)),
        r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgBody":[{"MsgType":"TIMFaceElem","MsgContent":{"Index":18446744073709551615,"Data":""}}]}"#
    );
}
