//! Modification checks: every rule, with a good and a bad case.

use hookbox_dialects::tencent::{self, COMMANDS};
use hookbox_dialects::{Callback, ModifyError};
use hookbox_model::Phase;
use serde_json::{Value, json};

use crate::support::{callback, obj};

const C2C: &str = "C2C.CallbackBeforeSendMsg";
const GROUP: &str = "Group.CallbackBeforeSendMsg";
const INVITE: &str = "Group.CallbackBeforeInviteJoinGroup";
const FRIEND_ADD: &str = "Sns.CallbackPrevFriendAdd";
const FRIEND_RESPONSE: &str = "Sns.CallbackPrevFriendResponse";

fn check(cb: &Callback, fields: Value) -> Result<(), ModifyError> {
    tencent::check_modify(cb, &obj(fields))
}

fn ok_on(cb: &Callback, fields: Value) {
    if let Err(e) = check(cb, fields.clone()) {
        panic!("{} {fields}: expected ok, got {e}", cb.event.command);
    }
}

fn bad_on(cb: &Callback, fields: Value) -> ModifyError {
    match check(cb, fields.clone()) {
        Ok(()) => panic!("{} {fields}: expected an error", cb.event.command),
        Err(e) => e,
    }
}

fn ok(command: &str, fields: Value) {
    ok_on(&callback(command, json!({})), fields);
}

fn bad(command: &str, fields: Value) -> ModifyError {
    bad_on(&callback(command, json!({})), fields)
}

fn text(t: &str) -> Value {
    json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": t}})
}

/// The field an error names.
fn field_of(e: &ModifyError) -> &str {
    match e {
        ModifyError::EnvelopeField { field }
        | ModifyError::NotModifiable { field, .. }
        | ModifyError::UnknownField { field, .. }
        | ModifyError::Refused { field, .. }
        | ModifyError::WrongType { field, .. }
        | ModifyError::OutOfRange { field, .. }
        | ModifyError::NotJsonObjectText { field }
        | ModifyError::NotInRequest { field }
        | ModifyError::MissingField { field } => field,
        other => panic!("unexpected error {other:?}"),
    }
}

fn friend_add() -> Callback {
    callback(
        FRIEND_ADD,
        json!({"FriendItem": [{"To_Account": "id1"}, {"To_Account": "id2"}]}),
    )
}

#[test]
fn masked_text_msg_body_is_accepted() {
    for command in [C2C, GROUP] {
        ok(command, json!({"MsgBody": [text("call me at ***")]}));
        ok(
            command,
            json!({"MsgBody": [text("a"), text("b")], "CloudCustomData": "{\"masked\":1}"}),
        );
        ok(command, json!({"CloudCustomData": ""}));
    }
}

#[test]
fn every_documented_element_type_is_accepted() {
    ok(
        C2C,
        json!({"MsgBody": [
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}},
            {"MsgType": "TIMLocationElem", "MsgContent": {"Desc": "here", "Latitude": 22.5, "Longitude": 113.9}},
            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "x"}},
            {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d", "Desc": "", "Ext": "", "Sound": ""}},
            {"MsgType": "TIMSoundElem", "MsgContent": {"Url": "https://x/s", "UUID": "u", "Size": 1, "Second": 2, "Download_Flag": 2}},
            {"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "ImageFormat": 1, "ImageInfoArray": [{"Type": 1, "Size": 1, "Width": 1, "Height": 1, "URL": "https://x/i"}]}},
            {"MsgType": "TIMFileElem", "MsgContent": {"Url": "https://x/f", "UUID": "u", "FileSize": 1, "FileName": "f.txt", "Download_Flag": 2}},
            {"MsgType": "TIMVideoFileElem", "MsgContent": {"VideoUrl": "v", "VideoUUID": "u", "VideoSize": 1, "VideoSecond": 1, "VideoFormat": "mp4", "VideoDownloadFlag": 2, "ThumbUrl": "t", "ThumbUUID": "u", "ThumbSize": 1, "ThumbWidth": 1, "ThumbHeight": 1, "ThumbFormat": "jpg", "ThumbDownloadFlag": 2}},
            {"MsgType": "TIMRelayElem", "MsgContent": {"Title": "t", "MsgNum": 1, "CompatibleText": "c", "AbstractList": ["a"], "MsgList": [{"From_Account": "a", "MsgBody": []}]}}
        ]}),
    );
}

#[test]
fn unknown_content_keys_pass() {
    // A newer SDK's key copied back from the request must not fail the plugin.
    ok(
        C2C,
        json!({"MsgBody": [{"MsgType": "TIMImageElem", "MsgContent": {"UUID": "u", "NewKey": {"x": 1}}}]}),
    );
}

#[test]
fn msg_body_not_an_array_is_refused() {
    for value in [
        json!("text"),
        json!({"MsgType": "TIMTextElem"}),
        json!(null),
        json!(3),
    ] {
        let e = bad(C2C, json!({ "MsgBody": value }));
        assert!(
            matches!(&e, ModifyError::WrongType { field, .. } if field == "MsgBody"),
            "{e:?}"
        );
        assert!(e.to_string().contains("MsgBody"), "{e}");
    }
}

#[test]
fn empty_msg_body_is_refused() {
    let e = bad(GROUP, json!({"MsgBody": []}));
    assert!(
        matches!(&e, ModifyError::Refused { field, .. } if field == "MsgBody"),
        "{e:?}"
    );
}

#[test]
fn element_without_msg_type_is_refused() {
    let e = bad(
        C2C,
        json!({"MsgBody": [text("ok"), {"MsgContent": {"Text": "x"}}]}),
    );
    assert_eq!(
        e,
        ModifyError::MissingField {
            field: "MsgBody[1].MsgType".to_owned()
        }
    );
    assert!(e.to_string().contains("MsgBody[1].MsgType"), "{e}");
}

#[test]
fn element_shape_errors_name_the_path() {
    for (body, path) in [
        (json!(["TIMTextElem"]), "MsgBody[0]"),
        (
            json!([{"MsgType": 1, "MsgContent": {}}]),
            "MsgBody[0].MsgType",
        ),
        (json!([{"MsgType": "TIMTextElem"}]), "MsgBody[0].MsgContent"),
        (
            json!([{"MsgType": "TIMTextElem", "MsgContent": "x"}]),
            "MsgBody[0].MsgContent",
        ),
        (
            json!([{"MsgType": "TIMTextElem", "MsgContent": {}}]),
            "MsgBody[0].MsgContent.Text",
        ),
        (
            json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}]),
            "MsgBody[0].MsgContent.Text",
        ),
        (
            json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": null}}]),
            "MsgBody[0].MsgContent.Text",
        ),
        (
            json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}, "Extra": 1}]),
            "MsgBody[0].Extra",
        ),
        (
            json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}, "msgType": "x"}]),
            "MsgBody[0].msgType",
        ),
        (
            json!([{"MsgType": "TIMHtmlElem", "MsgContent": {}}]),
            "MsgBody[0].MsgType",
        ),
        (
            json!([{"MsgType": "timtextelem", "MsgContent": {"Text": "x"}}]),
            "MsgBody[0].MsgType",
        ),
        (
            json!([{"MsgType": "TIMLocationElem", "MsgContent": {"Latitude": "22.5"}}]),
            "MsgBody[0].MsgContent.Latitude",
        ),
        (
            json!([{"MsgType": "TIMImageElem", "MsgContent": {"ImageInfoArray": [1]}}]),
            "MsgBody[0].MsgContent.ImageInfoArray[0]",
        ),
        (
            json!([{"MsgType": "TIMImageElem", "MsgContent": {"ImageInfoArray": {}}}]),
            "MsgBody[0].MsgContent.ImageInfoArray",
        ),
        (
            json!([{"MsgType": "TIMRelayElem", "MsgContent": {"AbstractList": ["a", 2]}}]),
            "MsgBody[0].MsgContent.AbstractList[1]",
        ),
    ] {
        let e = bad(C2C, json!({ "MsgBody": body }));
        assert_eq!(field_of(&e), path, "{body}: {e}");
    }
}

#[test]
fn at_most_one_custom_element() {
    let custom = json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d"}});
    ok(C2C, json!({"MsgBody": [text("a"), custom.clone()]}));
    let e = bad(C2C, json!({"MsgBody": [custom.clone(), text("a"), custom]}));
    assert!(
        matches!(&e, ModifyError::Refused { field, .. } if field == "MsgBody[2].MsgType"),
        "{e:?}"
    );
}

#[test]
fn cloud_custom_data_must_be_a_string() {
    for value in [
        json!(5),
        json!({"a": 1}),
        json!(null),
        json!(["x"]),
        json!(true),
    ] {
        let e = bad(C2C, json!({ "CloudCustomData": value }));
        assert!(
            matches!(&e, ModifyError::WrongType { field, expected: "a string", .. } if field == "CloudCustomData"),
            "{e:?}"
        );
    }
}

#[test]
fn unknown_fields_on_send_callbacks_are_refused() {
    for key in [
        "msgBody",
        "MsgBODY",
        "From_Account",
        "To_Account",
        "MsgRandom",
        "ResultItem",
    ] {
        let e = bad(C2C, json!({ key: [] }));
        assert!(
            matches!(&e, ModifyError::UnknownField { field, .. } if field == key),
            "{e:?}"
        );
    }
}

#[test]
fn envelope_keys_are_refused_in_any_case() {
    for key in [
        "ActionStatus",
        "ErrorCode",
        "ErrorInfo",
        "errorcode",
        "ACTIONSTATUS",
    ] {
        for command in [
            C2C,
            FRIEND_ADD,
            "Group.CallbackBeforeCreateGroup",
            "State.StateChange",
            "Unknown.Command",
        ] {
            let e = bad(command, json!({ key: 0 }));
            assert_eq!(
                e,
                ModifyError::EnvelopeField {
                    field: key.to_owned()
                },
                "{command}"
            );
            assert!(e.to_string().contains(key));
        }
    }
}

#[test]
fn empty_modification_is_always_acceptable() {
    for info in COMMANDS {
        ok(info.name, json!({}));
    }
    ok("Group.CallbackBeforeSomethingNew", json!({}));
}

#[test]
fn deny_only_commands_accept_no_fields() {
    for command in [
        "Group.CallbackBeforeCreateGroup",
        "Group.CallbackBeforeApplyJoinGroup",
        "Group.CallbackBeforeCreateTopic",
    ] {
        let e = bad(command, json!({"Name": "x"}));
        assert!(
            matches!(&e, ModifyError::NotModifiable { field, command: c, .. } if field == "Name" && c == command),
            "{e:?}"
        );
    }
}

#[test]
fn after_commands_accept_no_fields() {
    for info in COMMANDS.iter().filter(|c| c.phase == Phase::After) {
        let e = bad(info.name, json!({"MsgBody": [text("x")]}));
        assert!(
            matches!(&e, ModifyError::NotModifiable { .. }),
            "{}: {e:?}",
            info.name
        );
        assert!(e.to_string().contains("after-callback"), "{e}");
    }
}

#[test]
fn unknown_commands_accept_no_fields() {
    let e = bad(
        "Group.CallbackBeforeSomethingNew",
        json!({"MsgBody": [text("x")]}),
    );
    assert!(
        matches!(
            &e,
            ModifyError::NotModifiable {
                why: "unknown command",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn refused_members_must_be_invited_accounts() {
    let cb = callback(
        INVITE,
        json!({"DestinationMembers": [{"Member_Account": "jared"}, {"Member_Account": "leckie"}]}),
    );
    ok_on(&cb, json!({"RefusedMembers_Account": ["jared"]}));
    ok_on(&cb, json!({"RefusedMembers_Account": ["jared", "leckie"]}));
    ok_on(&cb, json!({"RefusedMembers_Account": []}));
    let e = bad_on(&cb, json!({"RefusedMembers_Account": ["mallory"]}));
    assert!(
        matches!(&e, ModifyError::Refused { field, .. } if field == "RefusedMembers_Account[0]"),
        "{e:?}"
    );
    let e = bad_on(&cb, json!({"RefusedMembers_Account": ["jared", 5]}));
    assert_eq!(field_of(&e), "RefusedMembers_Account[1]");
    let e = bad_on(&cb, json!({"RefusedMembers_Account": "jared"}));
    assert!(matches!(&e, ModifyError::WrongType { .. }), "{e:?}");
    let e = bad_on(&cb, json!({"MsgBody": [text("x")]}));
    assert!(matches!(&e, ModifyError::UnknownField { .. }), "{e:?}");
}

#[test]
fn result_item_answering_every_account_is_accepted() {
    ok_on(
        &friend_add(),
        json!({"ResultItem": [
            {"To_Account": "id2", "ResultCode": 38000, "ResultInfo": "no"},
            {"To_Account": "id1", "ResultCode": 0, "ResultInfo": ""}
        ]}),
    );
    ok_on(
        &friend_add(),
        json!({"ResultItem": [
            {"To_Account": "id1", "ResultCode": 39000, "ResultInfo": ""},
            {"To_Account": "id2", "ResultCode": 38999, "ResultInfo": ""}
        ]}),
    );
}

#[test]
fn result_item_errors() {
    let item = |account: Value, code: Value, info: Value| json!({"To_Account": account, "ResultCode": code, "ResultInfo": info});
    let id2 = item(json!("id2"), json!(0), json!(""));
    for (first, path) in [
        (
            item(json!("id1"), json!(1), json!("")),
            "ResultItem[0].ResultCode",
        ),
        (
            item(json!("id1"), json!(37_999), json!("")),
            "ResultItem[0].ResultCode",
        ),
        (
            item(json!("id1"), json!(39_001), json!("")),
            "ResultItem[0].ResultCode",
        ),
        (
            item(json!("id1"), json!(-38_000), json!("")),
            "ResultItem[0].ResultCode",
        ),
        (
            item(json!("id1"), json!(u64::MAX), json!("")),
            "ResultItem[0].ResultCode",
        ),
        (
            item(json!("id1"), json!(38_000.5), json!("")),
            "ResultItem[0].ResultCode",
        ),
        (
            item(json!("id1"), json!("0"), json!("")),
            "ResultItem[0].ResultCode",
        ),
        (
            item(json!("id1"), json!(0), json!(5)),
            "ResultItem[0].ResultInfo",
        ),
        (
            item(json!(1), json!(0), json!("")),
            "ResultItem[0].To_Account",
        ),
        (
            item(json!("mallory"), json!(0), json!("")),
            "ResultItem[0].To_Account",
        ),
        (
            item(json!("id2"), json!(0), json!("")),
            "ResultItem[1].To_Account",
        ),
        (
            json!({"To_Account": "id1", "ResultCode": 0}),
            "ResultItem[0].ResultInfo",
        ),
        (
            json!({"To_Account": "id1", "ResultInfo": ""}),
            "ResultItem[0].ResultCode",
        ),
        (
            json!({"ResultCode": 0, "ResultInfo": ""}),
            "ResultItem[0].To_Account",
        ),
        (
            json!({"To_Account": "id1", "ResultCode": 0, "ResultInfo": "", "Extra": 1}),
            "ResultItem[0].Extra",
        ),
        (json!("id1"), "ResultItem[0]"),
    ] {
        let e = bad_on(&friend_add(), json!({"ResultItem": [first, id2.clone()]}));
        assert_eq!(field_of(&e), path, "{e}");
    }
    let e = bad_on(
        &friend_add(),
        json!({"ResultItem": [item(json!("id1"), json!(0), json!(""))]}),
    );
    assert!(
        matches!(&e, ModifyError::Refused { field, .. } if field == "ResultItem"),
        "{e:?}"
    );
    let e = bad_on(&friend_add(), json!({"ResultItem": {"To_Account": "id1"}}));
    assert!(
        matches!(&e, ModifyError::WrongType { field, .. } if field == "ResultItem"),
        "{e:?}"
    );
}

#[test]
fn result_item_on_friend_response_answers_response_friend_item() {
    let cb = callback(
        FRIEND_RESPONSE,
        json!({"ResponseFriendItem": [{"To_Account": "id9"}]}),
    );
    ok_on(
        &cb,
        json!({"ResultItem": [{"To_Account": "id9", "ResultCode": 38500, "ResultInfo": "no"}]}),
    );
    let e = bad_on(
        &cb,
        json!({"ResultItem": [{"To_Account": "id1", "ResultCode": 0, "ResultInfo": ""}]}),
    );
    assert_eq!(field_of(&e), "ResultItem[0].To_Account");
}

#[test]
fn result_item_is_only_for_friend_commands() {
    let e = bad(C2C, json!({"ResultItem": []}));
    assert!(matches!(&e, ModifyError::UnknownField { .. }), "{e:?}");
    let e = bad_on(&friend_add(), json!({"MsgBody": [text("x")]}));
    assert!(matches!(&e, ModifyError::UnknownField { .. }), "{e:?}");
}

#[test]
fn elements_copied_from_the_request_pass_whatever_they_hold() {
    let newer = json!({"MsgType": "TIMStreamElem", "MsgContent": {"Chunks": 3}, "Extra": true});
    let cb = callback(
        C2C,
        json!({"CallbackCommand": C2C, "MsgBody": [text("spam"), newer.clone()]}),
    );
    // The plugin masked the text and copied the unknown element back unchanged.
    ok_on(&cb, json!({"MsgBody": [text("***"), newer.clone()]}));
    // The same element written by the plugin itself (changed) is still checked.
    let changed = json!({"MsgType": "TIMStreamElem", "MsgContent": {"Chunks": 4}, "Extra": true});
    let e = bad_on(&cb, json!({"MsgBody": [text("***"), changed]}));
    assert_eq!(field_of(&e), "MsgBody[1].Extra");
    // Not in the request: refused as before.
    let other = callback(
        C2C,
        json!({"CallbackCommand": C2C, "MsgBody": [text("hi")]}),
    );
    bad_on(&other, json!({"MsgBody": [text("***"), newer]}));
}
