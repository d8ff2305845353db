//! Answer rendering: each verdict kind to the exact envelope bytes.

use hookbox_dialects::openim::{self, DEFAULT_REJECT_CODE};
use hookbox_model::{Rejection, Verdict};
use serde_json::json;

use crate::support::{callback, obj};

const ALLOW: &str = r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}"#;

fn render(cb: &hookbox_dialects::Callback, verdict: &Verdict) -> String {
    String::from_utf8(openim::render(cb, verdict)).expect("render writes UTF-8")
}

fn reject(code: i32, message: &str, detail: &str) -> Verdict {
    Verdict::Reject(Rejection {
        code,
        message: message.to_owned(),
        detail: detail.to_owned(),
    })
}

fn single() -> hookbox_dialects::Callback {
    callback("callbackBeforeSendSingleMsgCommand", r#"{"sendID":"u1"}"#)
}

const SET_GROUP_INFO_BODY: &str = r#"{"callbackCommand":"callbackBeforeSetGroupInfoCommand","operationID":"","groupID":"g_1","groupName":"New name","notification":"","introduction":"We talk about \u003cRust\u003e","faceURL":"","ex":"","needVerification":0,"lookMemberInfo":0,"applyMemberFriend":0}
"#;

const SET_GROUP_INFO_EX_BODY: &str = r#"{"callbackCommand":"callbackBeforeSetGroupInfoExCommand","operationID":"","groupID":"g_1","groupName":null,"notification":null,"introduction":null,"faceURL":"https://cdn.example.com/g.png","ex":"{\"tier\":2}","needVerification":null,"lookMemberInfo":1,"applyMemberFriend":null}
"#;

#[test]
fn allow_envelope() {
    assert_eq!(render(&single(), &Verdict::Allow), ALLOW);
}

#[test]
fn reject_envelope() {
    assert_eq!(
        render(&single(), &reject(5001, "blocked", "rule=spam")),
        r#"{"actionCode":0,"errCode":5001,"errMsg":"blocked","errDlt":"rule=spam","nextCode":1}"#
    );
}

#[test]
fn reject_code_zero_becomes_default() {
    assert_eq!(DEFAULT_REJECT_CODE, 5000);
    assert_eq!(
        render(&single(), &reject(0, "no", "")),
        r#"{"actionCode":0,"errCode":5000,"errMsg":"no","errDlt":"","nextCode":1}"#
    );
}

#[test]
fn reject_keeps_other_codes_including_negative() {
    assert_eq!(
        render(&single(), &reject(-7, "", "")),
        r#"{"actionCode":0,"errCode":-7,"errMsg":"","errDlt":"","nextCode":1}"#
    );
    assert_eq!(
        render(&single(), &reject(i32::MAX, "", "")),
        r#"{"actionCode":0,"errCode":2147483647,"errMsg":"","errDlt":"","nextCode":1}"#
    );
}

#[test]
fn reject_strings_are_escaped() {
    assert_eq!(
        render(
            &single(),
            &reject(5002, "say \"hi\"\n<b>é</b>", "tab\there \u{1} \\")
        ),
        r#"{"actionCode":0,"errCode":5002,"errMsg":"say \"hi\"\n<b>é</b>","errDlt":"tab\there \u0001 \\","nextCode":1}"#
    );
}

#[test]
fn discard_is_a_reject_with_the_default_code() {
    assert_eq!(
        render(&single(), &Verdict::Discard),
        r#"{"actionCode":0,"errCode":5000,"errMsg":"discarded by policy","errDlt":"","nextCode":1}"#
    );
}

#[test]
fn modify_appends_fields_in_plugin_order() {
    let cb = callback("callbackBeforeMsgModifyCommand", r#"{"sendID":"u1"}"#);
    let fields =
        obj(json!({"ex": "x", "content": "{\"content\":\"***\"}", "options": {"history": false}}));
    assert_eq!(
        render(&cb, &Verdict::Modify(fields)),
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"ex":"x","content":"{\"content\":\"***\"}","options":{"history":false}}"#
    );
}

#[test]
fn modify_cannot_overwrite_envelope_keys() {
    let cb = callback("callbackBeforeMsgModifyCommand", "{}");
    let fields = obj(json!({
        "nextCode": 1, "errCode": 7, "ActionCode": 1, "ERRMSG": "x", "errDlt": "y",
        "content": "{}"
    }));
    assert_eq!(
        render(&cb, &Verdict::Modify(fields)),
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"content":"{}"}"#
    );
}

#[test]
fn modify_cannot_overwrite_envelope_keys_through_go_unicode_folding() {
    // Go's encoding/json folds ſ (U+017F) to s and the Kelvin sign (U+212A) to k, so
    // `errMſg` would fill `errMsg` (found by fuzz/; fuzz/regressions/openim/go-fold-errmsg.txt).
    let cb = callback("callbackBeforeMsgModifyCommand", "{}");
    let fields = obj(json!({ "errMſg": 1, "content": "{}" }));
    assert_eq!(
        render(&cb, &Verdict::Modify(fields)),
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"content":"{}"}"#
    );
    assert!(openim::check_modify(&cb, &obj(json!({ "errMſg": 1 }))).is_err());
}

#[test]
fn modify_keeps_big_integers_exact() {
    let cb = callback("callbackBeforeMembersJoinGroupCommand", "{}");
    let fields = obj(json!({"memberCallbackList": [{"userID": "u1", "muteEndTime": i64::MAX}]}));
    assert_eq!(
        render(&cb, &Verdict::Modify(fields)),
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"memberCallbackList":[{"userID":"u1","muteEndTime":9223372036854775807}]}"#
    );
}

#[test]
fn empty_modify_is_the_allow_envelope() {
    assert_eq!(
        render(&single(), &Verdict::Modify(Default::default())),
        ALLOW
    );
}

#[test]
fn set_group_info_allow_echoes_the_request() {
    let cb = callback("callbackBeforeSetGroupInfoCommand", SET_GROUP_INFO_BODY);
    assert_eq!(
        render(&cb, &Verdict::Allow),
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"groupID":"g_1","groupName":"New name","notification":"","introduction":"We talk about <Rust>","faceURL":""}"#
    );
}

#[test]
fn set_group_info_modify_overrides_echoes_except_group_id() {
    let cb = callback("callbackBeforeSetGroupInfoCommand", SET_GROUP_INFO_BODY);
    let fields = obj(json!({"groupID": "g_evil", "groupName": "Renamed", "ex": "x"}));
    assert_eq!(
        render(&cb, &Verdict::Modify(fields)),
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"groupID":"g_1","groupName":"Renamed","notification":"","introduction":"We talk about <Rust>","faceURL":"","ex":"x"}"#
    );
}

#[test]
fn set_group_info_reject_has_no_echo() {
    let cb = callback("callbackBeforeSetGroupInfoCommand", SET_GROUP_INFO_BODY);
    assert_eq!(
        render(&cb, &reject(5003, "name taken", "")),
        r#"{"actionCode":0,"errCode":5003,"errMsg":"name taken","errDlt":"","nextCode":1}"#
    );
    assert_eq!(
        render(&cb, &Verdict::Discard),
        r#"{"actionCode":0,"errCode":5000,"errMsg":"discarded by policy","errDlt":"","nextCode":1}"#
    );
}

#[test]
fn set_group_info_ex_allow_echoes_all_overwritten_fields() {
    let cb = callback(
        "callbackBeforeSetGroupInfoExCommand",
        SET_GROUP_INFO_EX_BODY,
    );
    assert_eq!(
        render(&cb, &Verdict::Allow),
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"groupID":"g_1","groupName":null,"faceURL":"https://cdn.example.com/g.png","introduction":null,"ex":"{\"tier\":2}","needVerification":null,"lookMemberInfo":1,"applyMemberFriend":null}"#
    );
}

#[test]
fn set_group_info_ex_modify_overrides_echoes() {
    let cb = callback(
        "callbackBeforeSetGroupInfoExCommand",
        SET_GROUP_INFO_EX_BODY,
    );
    let fields = obj(json!({"needVerification": 1, "groupName": "Renamed", "groupID": "g_2"}));
    assert_eq!(
        render(&cb, &Verdict::Modify(fields)),
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"groupID":"g_1","groupName":"Renamed","faceURL":"https://cdn.example.com/g.png","introduction":null,"ex":"{\"tier\":2}","needVerification":1,"lookMemberInfo":1,"applyMemberFriend":null}"#
    );
}

#[test]
fn echo_skips_fields_missing_from_the_request() {
    let cb = callback(
        "callbackBeforeSetGroupInfoCommand",
        r#"{"groupID":"g_9","groupName":"n"}"#,
    );
    assert_eq!(
        render(&cb, &Verdict::Allow),
        r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0,"groupID":"g_9","groupName":"n"}"#
    );
}

#[test]
fn other_commands_never_echo() {
    for info in openim::COMMANDS.iter().filter(|c| c.echo.is_empty()) {
        let cb = callback(
            info.name,
            SET_GROUP_INFO_BODY
                .replace("callbackBeforeSetGroupInfoCommand", info.name)
                .as_str(),
        );
        assert_eq!(render(&cb, &Verdict::Allow), ALLOW, "{}", info.name);
    }
}

#[test]
fn unknown_and_after_commands_render_plain_envelopes() {
    let cb = callback("callbackAfterSomethingNewCommand", "{}");
    assert_eq!(render(&cb, &Verdict::Allow), ALLOW);
    let cb = callback("callbackAfterSendSingleMsgCommand", "{}");
    assert_eq!(render(&cb, &Verdict::Allow), ALLOW);
}
