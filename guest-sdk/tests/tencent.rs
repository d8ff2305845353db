//! The typed Tencent bodies parse the bodies of Tencent's documentation (and the doc sample in
//! `shared/seeds/001`), with `EventTime` as a number or a string, missing and unknown fields;
//! `MsgBody` elements round-trip, unknown ones byte for byte.

use hookbox_sdk::tencent::{
    self, CustomElem, FaceElem, ImageElem, LocationElem, MsgElement, PrevFriendAddModify,
    ResultItem, SendMsgModify, TextElem, code, command, msg_type,
};
use hookbox_sdk::{Dialect, Event, Verdict};
use serde_json::{Value, json};

fn event(command: &str, payload: &str) -> Event {
    Event::new(Dialect::Tencent, command, payload)
}

fn parse<T: serde::de::DeserializeOwned>(command: &str, payload: &str) -> T {
    event(command, payload).json().unwrap()
}

/// `C2C.CallbackBeforeSendMsg`, Tencent's sample (page 1047/34364) plus an unknown field.
const C2C_BEFORE: &str = r#"{
    "CallbackCommand": "C2C.CallbackBeforeSendMsg",
    "From_Account": "jared",
    "To_Account": "Jonh",
    "MsgSeq": 48374,
    "MsgRandom": 2837546,
    "MsgTime": 1557481126,
    "MsgKey": "48374_2837546_1557481126",
    "OnlineOnlyFlag": 1,
    "MsgBody": [
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "red packet"}},
        {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "content"}}
    ],
    "CloudCustomData": "your cloud custom data",
    "EventTime": 1670574414123,
    "SomethingNew": {"a": [1, 2]}
}"#;

#[test]
fn c2c_before_send_msg() {
    let msg: tencent::C2cBeforeSendMsg = parse(command::C2C_BEFORE_SEND_MSG, C2C_BEFORE);
    assert_eq!(msg.callback_command, command::C2C_BEFORE_SEND_MSG);
    assert_eq!(
        (msg.from_account.as_str(), msg.to_account.as_str()),
        ("jared", "Jonh")
    );
    assert_eq!(msg.msg_seq, 48_374);
    assert_eq!(msg.msg_random, 2_837_546);
    assert_eq!(msg.msg_time, 1_557_481_126);
    assert_eq!(msg.msg_key, "48374_2837546_1557481126");
    assert_eq!(msg.msg_id, "");
    assert_eq!(msg.online_only_flag, 1);
    assert_eq!(msg.cloud_custom_data, "your cloud custom data");
    assert_eq!(msg.event_time, 1_670_574_414_123);
    assert_eq!(msg.msg_body.len(), 2);
    assert_eq!(msg.text().as_deref(), Some("red packet"));
    assert_eq!(msg.element_types(), [msg_type::TEXT, msg_type::FACE]);
    assert_eq!(
        msg.msg_body[1],
        MsgElement::Face(FaceElem {
            index: Some(1),
            data: Some("content".into()),
            ..FaceElem::default()
        })
    );
}

#[test]
fn c2c_after_send_msg() {
    let body = C2C_BEFORE
        .replace("C2C.CallbackBeforeSendMsg", "C2C.CallbackAfterSendMsg")
        .replace(
            r#""EventTime""#,
            r#""SendMsgResult": 0, "ErrorInfo": "send msg succeed", "UnreadMsgNum": -1, "EventTime""#,
        );
    let msg: tencent::C2cAfterSendMsg = parse(command::C2C_AFTER_SEND_MSG, &body);
    assert_eq!(msg.callback_command, command::C2C_AFTER_SEND_MSG);
    assert_eq!(msg.msg_key, "48374_2837546_1557481126");
    assert_eq!(msg.send_msg_result, 0);
    assert_eq!(msg.error_info, "send msg succeed");
    assert_eq!(msg.unread_msg_num, -1);
    assert_eq!(msg.text().as_deref(), Some("red packet"));
}

/// `Group.CallbackBeforeSendMsg` (page 1047/34374): `EventTime` as a string, two text elements.
const GROUP_BEFORE: &str = r#"{
    "CallbackCommand": "Group.CallbackBeforeSendMsg",
    "GroupId": "@TGS#2J4SZEAEL",
    "Type": "Public",
    "From_Account": "jared",
    "Operator_Account": "admin",
    "Random": 123456,
    "OnlineOnlyFlag": 0,
    "MsgBody": [
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "red "}},
        {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "message", "Desc": "notification", "Ext": "url", "Sound": "dingdong.aiff"}},
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "packet"}}
    ],
    "CloudCustomData": "your cloud custom data",
    "EventTime": "1670574414123"
}"#;

#[test]
fn group_before_send_msg() {
    let msg: tencent::GroupBeforeSendMsg = parse(command::GROUP_BEFORE_SEND_MSG, GROUP_BEFORE);
    assert_eq!(msg.group_id, "@TGS#2J4SZEAEL");
    assert_eq!(msg.group_type, "Public");
    assert_eq!(msg.from_account, "jared");
    assert_eq!(msg.operator_account, "admin");
    assert_eq!(msg.random, 123_456);
    assert_eq!(msg.topic_id, "");
    assert_eq!(msg.event_time, 1_670_574_414_123);
    assert_eq!(msg.text().as_deref(), Some("red packet"));
    assert_eq!(
        msg.element_types(),
        [msg_type::TEXT, msg_type::CUSTOM, msg_type::TEXT]
    );
    assert_eq!(
        msg.msg_body[1],
        MsgElement::Custom(CustomElem {
            data: Some("message".into()),
            desc: Some("notification".into()),
            ext: Some("url".into()),
            sound: Some("dingdong.aiff".into()),
            ..CustomElem::default()
        })
    );
}

/// `shared/seeds/001`: Tencent's `Group.CallbackAfterSendMsg` sample for a Live group, with the
/// `// ...` annotations of the doc page removed and every value as the page has it.
const SEED_001: &str = r#"{"CallbackCommand": "Group.CallbackAfterSendMsg","GroupId": "@TGS#2J4SZEAEL","Type": "Live","From_Account": "jared","Operator_Account":"admin","Random": 123456,"MsgId": "144115233406643804-1727580296-4026038328","MsgSeq": 123,"MsgTime": 1490686222,"MsgBody": [{"MsgType": "TIMTextElem","MsgContent":{"Text": "red packet"}}],"CloudCustomData": "your cloud custom data","EventTime":"1670574414123"}"#;

#[test]
fn seed_001_group_after_send_msg() {
    let msg: tencent::GroupAfterSendMsg = parse(command::GROUP_AFTER_SEND_MSG, SEED_001);
    assert_eq!(msg.callback_command, command::GROUP_AFTER_SEND_MSG);
    assert_eq!(msg.group_id, "@TGS#2J4SZEAEL");
    assert_eq!(msg.group_type, "Live");
    assert_eq!(msg.from_account, "jared");
    assert_eq!(msg.operator_account, "admin");
    assert_eq!(msg.random, 123_456);
    assert_eq!(msg.msg_id, "144115233406643804-1727580296-4026038328");
    assert_eq!(msg.msg_seq, 123);
    assert_eq!(msg.msg_time, 1_490_686_222);
    assert_eq!(msg.cloud_custom_data, "your cloud custom data");
    assert_eq!(msg.event_time, 1_670_574_414_123);
    assert_eq!(msg.msg_body, [MsgElement::new_text("red packet")]);
    assert_eq!(msg.text().as_deref(), Some("red packet"));
}

#[test]
fn event_time_number_string_or_absent() {
    for (body, want) in [
        (r#"{"EventTime":1670574414123}"#, 1_670_574_414_123),
        (r#"{"EventTime":"1670574414123"}"#, 1_670_574_414_123),
        (r#"{"EventTime":" 1670574414123 "}"#, 1_670_574_414_123),
        (r#"{"EventTime":1.670574414123e12}"#, 1_670_574_414_123),
        (r#"{"EventTime":null}"#, 0),
        (r#"{"EventTime":""}"#, 0),
        ("{}", 0),
    ] {
        let msg: tencent::GroupAfterSendMsg = parse(command::GROUP_AFTER_SEND_MSG, body);
        assert_eq!(msg.event_time, want, "{body}");
        let state: tencent::StateChange = parse(command::STATE_CHANGE, body);
        assert_eq!(state.event_time, want, "{body}");
    }
    for bad in [
        r#"{"EventTime":"soon"}"#,
        r#"{"EventTime":true}"#,
        r#"{"EventTime":1.5}"#,
    ] {
        let result: Result<tencent::StateChange, _> = event(command::STATE_CHANGE, bad).json();
        let err = result.unwrap_err();
        assert!(err.message().contains("State.StateChange"), "{err}");
    }
}

#[test]
fn big_ids_and_ints_as_strings() {
    let msg: tencent::GroupAfterSendMsg = parse(
        command::GROUP_AFTER_SEND_MSG,
        r#"{"Random":4294967295,"MsgSeq":"18446744073709551615","MsgTime":"1490686222","OnlineOnlyFlag":"1"}"#,
    );
    assert_eq!(msg.random, u64::from(u32::MAX));
    assert_eq!(msg.msg_seq, u64::MAX);
    assert_eq!(msg.msg_time, 1_490_686_222);
    assert_eq!(msg.online_only_flag, 1);
    let negative: Result<tencent::GroupAfterSendMsg, _> =
        event(command::GROUP_AFTER_SEND_MSG, r#"{"MsgSeq":-1}"#).json();
    assert!(negative.is_err());
}

#[test]
fn every_struct_reads_an_empty_or_null_body() {
    let nulls = r#"{"CallbackCommand":null,"MsgBody":null,"MemberList":null,"FriendItem":null,
        "PairList":null,"Info":null,"KickedDevice":null,"NewMemberList":null,"ExitMemberList":null,
        "UserDefinedDataList":null,"GroupId":null,"MsgSeq":null}"#;
    for body in ["{}", nulls] {
        assert_eq!(
            parse::<tencent::C2cBeforeSendMsg>("c", body),
            tencent::C2cBeforeSendMsg::default()
        );
        assert_eq!(
            parse::<tencent::C2cAfterSendMsg>("c", body),
            tencent::C2cAfterSendMsg::default()
        );
        assert_eq!(
            parse::<tencent::GroupBeforeSendMsg>("c", body),
            tencent::GroupBeforeSendMsg::default()
        );
        assert_eq!(
            parse::<tencent::GroupAfterSendMsg>("c", body),
            tencent::GroupAfterSendMsg::default()
        );
        assert_eq!(
            parse::<tencent::GroupBeforeCreateGroup>("c", body),
            tencent::GroupBeforeCreateGroup::default()
        );
        assert_eq!(
            parse::<tencent::GroupAfterCreateGroup>("c", body),
            tencent::GroupAfterCreateGroup::default()
        );
        assert_eq!(
            parse::<tencent::GroupAfterNewMemberJoin>("c", body),
            tencent::GroupAfterNewMemberJoin::default()
        );
        assert_eq!(
            parse::<tencent::GroupAfterMemberExit>("c", body),
            tencent::GroupAfterMemberExit::default()
        );
        assert_eq!(
            parse::<tencent::SnsPrevFriendAdd>("c", body),
            tencent::SnsPrevFriendAdd::default()
        );
        assert_eq!(
            parse::<tencent::SnsFriendAdd>("c", body),
            tencent::SnsFriendAdd::default()
        );
        assert_eq!(
            parse::<tencent::StateChange>("c", body),
            tencent::StateChange::default()
        );
    }
    let msg: tencent::C2cBeforeSendMsg = parse("c", "{}");
    assert_eq!(msg.text(), None);
    assert!(msg.element_types().is_empty());
    assert!(event("c", "1").json::<tencent::StateChange>().is_err());
}

#[test]
fn group_before_create_group() {
    let msg: tencent::GroupBeforeCreateGroup = parse(
        command::GROUP_BEFORE_CREATE_GROUP,
        r#"{
            "CallbackCommand": "Group.CallbackBeforeCreateGroup",
            "Operator_Account": "leckie",
            "Owner_Account": "leckie",
            "Type": "Public",
            "Name": "MyFirstGroup",
            "CreateGroupNum": 1,
            "MemberList": [{"Member_Account": "bob"}, {"Member_Account": "peter"}],
            "EventTime": 1670574414123
        }"#,
    );
    assert_eq!(msg.operator_account, "leckie");
    assert_eq!(msg.owner_account, "leckie");
    assert_eq!(msg.group_type, "Public");
    assert_eq!(msg.name, "MyFirstGroup");
    assert_eq!(msg.create_group_num, 1);
    let members: Vec<&str> = msg
        .member_list
        .iter()
        .map(|m| m.member_account.as_str())
        .collect();
    assert_eq!(members, ["bob", "peter"]);
    assert_eq!(msg.event_time, 1_670_574_414_123);
}

#[test]
fn group_after_create_group() {
    let msg: tencent::GroupAfterCreateGroup = parse(
        command::GROUP_AFTER_CREATE_GROUP,
        r#"{
            "CallbackCommand": "Group.CallbackAfterCreateGroup",
            "GroupId": "@TGS#2J4SZEAEL",
            "Operator_Account": "leckie",
            "Owner_Account": "leckie",
            "Type": "Public",
            "Name": "MyFirstGroup",
            "MemberList": [{"Member_Account": "bob"}, {"Member_Account": "peter"}],
            "UserDefinedDataList": [{"Key": "UserDefined1", "Value": "hello"}, {"Key": "UserDefined2", "Value": "world"}],
            "EventTime": "1670574414123"
        }"#,
    );
    assert_eq!(msg.group_id, "@TGS#2J4SZEAEL");
    assert_eq!(msg.member_list.len(), 2);
    assert_eq!(msg.user_defined_data_list.len(), 2);
    assert_eq!(msg.user_defined_data_list[1].key, "UserDefined2");
    assert_eq!(msg.user_defined_data_list[1].value, "world");
    assert_eq!(msg.event_time, 1_670_574_414_123);
}

#[test]
fn group_member_join_and_exit() {
    let join: tencent::GroupAfterNewMemberJoin = parse(
        command::GROUP_AFTER_NEW_MEMBER_JOIN,
        r#"{
            "CallbackCommand": "Group.CallbackAfterNewMemberJoin",
            "GroupId": "@TGS#2J4SZEAEL",
            "Type": "Public",
            "JoinType": "Apply",
            "Operator_Account": "leckie",
            "NewMemberList": [{"Member_Account": "jared"}, {"Member_Account": "tommy"}],
            "EventTime": "1670574414123"
        }"#,
    );
    assert_eq!(join.group_id, "@TGS#2J4SZEAEL");
    assert_eq!(join.join_type, "Apply");
    assert_eq!(join.operator_account, "leckie");
    assert_eq!(join.new_member_list[1].member_account, "tommy");
    assert_eq!(join.event_time, 1_670_574_414_123);

    let exit: tencent::GroupAfterMemberExit = parse(
        command::GROUP_AFTER_MEMBER_EXIT,
        r#"{
            "CallbackCommand": "Group.CallbackAfterMemberExit",
            "GroupId": "@TGS#2J4SZEAEL",
            "Type": "Public",
            "ExitType": "Kicked",
            "Operator_Account": "leckie",
            "ExitMemberList": [{"Member_Account": "jared"}, {"Member_Account": "tommy"}]
        }"#,
    );
    assert_eq!(exit.exit_type, "Kicked");
    assert_eq!(exit.exit_member_list.len(), 2);
    assert_eq!(exit.event_time, 0, "older samples have no EventTime");
}

const PREV_FRIEND_ADD: &str = r#"{
    "CallbackCommand": "Sns.CallbackPrevFriendAdd",
    "Requester_Account": "admin",
    "From_Account": "id",
    "FriendItem": [
        {"To_Account": "id1", "Remark": "remark1", "GroupName": "Group1", "AddSource": "AddSource_Type_Android", "AddWording": "I'm Test1"},
        {"To_Account": "id2", "Remark": "remark2", "GroupName": "Group2", "AddSource": "AddSource_Type_IOS", "AddWording": "I'm Test2"},
        {"To_Account": "id1"}
    ],
    "AddType": "Add_Type_Both",
    "ForceAddFlags": 1,
    "EventTime": 1670574414123
}"#;

#[test]
fn sns_prev_friend_add_and_its_answer() {
    let msg: tencent::SnsPrevFriendAdd = parse(command::SNS_PREV_FRIEND_ADD, PREV_FRIEND_ADD);
    assert_eq!(msg.requester_account, "admin");
    assert_eq!(msg.from_account, "id");
    assert_eq!(msg.friend_item.len(), 3);
    assert_eq!(msg.friend_item[0].remark, "remark1");
    assert_eq!(msg.friend_item[1].group_name, "Group2");
    assert_eq!(msg.friend_item[1].add_source, "AddSource_Type_IOS");
    assert_eq!(msg.friend_item[0].add_wording, "I'm Test1");
    assert_eq!(msg.add_type, "Add_Type_Both");
    assert_eq!(msg.force_add_flags, 1);
    assert_eq!(msg.event_time, 1_670_574_414_123);
    assert_eq!(msg.accounts(), ["id1", "id2"]);

    let answer = PrevFriendAddModify {
        result_item: vec![
            ResultItem::allow("id1"),
            ResultItem::refuse("id2", 7, "not today"),
        ],
    };
    assert_eq!(
        answer.verdict().unwrap(),
        Verdict::Modify(
            r#"{"ResultItem":[{"To_Account":"id1","ResultCode":0,"ResultInfo":""},{"To_Account":"id2","ResultCode":38000,"ResultInfo":"not today"}]}"#
                .into()
        )
    );
}

#[test]
fn sns_friend_add() {
    let msg: tencent::SnsFriendAdd = parse(
        command::SNS_FRIEND_ADD,
        r#"{
            "CallbackCommand": "Sns.CallbackFriendAdd",
            "PairList": [
                {"From_Account": "id", "To_Account": "id1", "Initiator_Account": "id"},
                {"From_Account": "id1", "To_Account": "id", "Initiator_Account": "id"}
            ],
            "ClientCmd": "friend_add",
            "Admin_Account": "admin",
            "ForceFlag": 0,
            "EventTime": 1670574414123
        }"#,
    );
    assert_eq!(msg.pair_list.len(), 2);
    assert_eq!(msg.pair_list[1].from_account, "id1");
    assert_eq!(msg.pair_list[1].to_account, "id");
    assert_eq!(msg.pair_list[1].initiator_account, "id");
    assert_eq!(msg.client_cmd, "friend_add");
    assert_eq!(msg.admin_account, "admin");
    assert_eq!(msg.force_flag, 0);
}

#[test]
fn state_change() {
    let msg: tencent::StateChange = parse(
        command::STATE_CHANGE,
        r#"{
            "CallbackCommand": "State.StateChange",
            "EventTime": 1629883332497,
            "Info": {"Action": "Login", "To_Account": "testuser316", "Reason": "Register"},
            "KickedDevice": [{"Platform": "Windows"}, {"Platform": "IOS"}]
        }"#,
    );
    assert_eq!(msg.event_time, 1_629_883_332_497);
    assert_eq!(msg.info.action, "Login");
    assert_eq!(msg.info.to_account, "testuser316");
    assert_eq!(msg.info.reason, "Register");
    let platforms: Vec<&str> = msg
        .kicked_device
        .iter()
        .map(|d| d.platform.as_str())
        .collect();
    assert_eq!(platforms, ["Windows", "IOS"]);
}

// ---------------------------------------------------------------------------------------------
// MsgBody elements
// ---------------------------------------------------------------------------------------------

/// One element of each documented type, as Tencent's message-format page (1047/33527) shows
/// them, then a relay element, an element type nobody knows, and malformed ones.
const EVERY_ELEMENT: &str = r#"[
{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello world"}},
{"MsgType":"TIMLocationElem","MsgContent":{"Desc":"someinfo","Latitude":29.340656774469956,"Longitude":116.77497920478824}},
{"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"content"}},
{"MsgType":"TIMCustomElem","MsgContent":{"Data":"message","Desc":"notification","Ext":"url","Sound":"dingdong.aiff"}},
{"MsgType":"TIMSoundElem","MsgContent":{"Url":"https://1400000000.vod2.myqcloud.com/a.silk","UUID":"305c0201","Size":62351,"Second":1,"Download_Flag":2}},
{"MsgType":"TIMImageElem","MsgContent":{"UUID":"1853095_D61040894AC3DE44CDFFFB3EC7EB720F","ImageFormat":1,"ImageInfoArray":[{"Type":1,"Size":1853095,"Width":2448,"Height":3264,"URL":"http://d.im.qcloud.com/a.jpg"},{"Type":3,"Size":2565,"Width":144,"Height":192,"URL":"http://d.im.qcloud.com/c.jpg"}]}},
{"MsgType":"TIMFileElem","MsgContent":{"Url":"https://cos.ap-shanghai.myqcloud.com/f","UUID":"1853095_f","FileSize":1773552,"FileName":"file:///private/var/Mobile/Media/DCIM/IMG_0001.JPG","Download_Flag":2}},
{"MsgType":"TIMVideoFileElem","MsgContent":{"VideoUrl":"https://a.vod2.myqcloud.com/v.mp4","VideoUUID":"5da38ba89d6521b","VideoSize":1194603,"VideoSecond":5,"VideoFormat":"mp4","VideoDownloadFlag":2,"ThumbUrl":"https://a.vod2.myqcloud.com/t.jpg","ThumbUUID":"6edaffedcc4b","ThumbSize":13907,"ThumbWidth":720,"ThumbHeight":1280,"ThumbFormat":"JPG","ThumbDownloadFlag":2}},
{"MsgType" : "TIMRelayElem", "MsgContent": {"Title":"Chat history","MsgNum":2,"CompatibleText":"upgrade \u003cyour\u003e app","AbstractList":["a: hi"],"MsgList":[]}},
{"MsgType":"TIMFutureElem","MsgContent":{"Big":1.50,"Esc":"\u00e9\/"}},
{"MsgType":"TIMTextElem","MsgContent":{"Text":42}},
{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"},"Extra":true},
{"MsgContent":{"Text":"no type"}},
"just a string"
]"#;

fn elements() -> Vec<MsgElement> {
    serde_json::from_str(EVERY_ELEMENT).unwrap()
}

fn raw_elements() -> Vec<String> {
    let raws: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(EVERY_ELEMENT).unwrap();
    raws.iter().map(|r| r.get().to_owned()).collect()
}

#[test]
fn every_element_type_parses() {
    let body = elements();
    let types: Vec<&str> = body.iter().map(MsgElement::msg_type).collect();
    assert_eq!(
        types,
        [
            "TIMTextElem",
            "TIMLocationElem",
            "TIMFaceElem",
            "TIMCustomElem",
            "TIMSoundElem",
            "TIMImageElem",
            "TIMFileElem",
            "TIMVideoFileElem",
            "TIMRelayElem",
            "TIMFutureElem",
            "TIMTextElem",
            "TIMTextElem",
            "",
            "",
        ]
    );
    assert_eq!(body[0], MsgElement::new_text("hello world"));
    let MsgElement::Location(LocationElem {
        desc,
        latitude,
        longitude,
        ..
    }) = &body[1]
    else {
        panic!("{:?}", body[1])
    };
    assert_eq!(desc.as_deref(), Some("someinfo"));
    assert_eq!(*latitude, Some(29.340_656_774_469_956));
    assert_eq!(*longitude, Some(116.774_979_204_788_24));
    let MsgElement::Sound(sound) = &body[4] else {
        panic!()
    };
    assert_eq!(
        (sound.size, sound.second, sound.download_flag),
        (Some(62_351), Some(1), Some(2))
    );
    assert_eq!(sound.uuid.as_deref(), Some("305c0201"));
    let MsgElement::Image(ImageElem {
        uuid,
        image_format,
        image_info_array,
        ..
    }) = &body[5]
    else {
        panic!()
    };
    assert_eq!(
        uuid.as_deref(),
        Some("1853095_D61040894AC3DE44CDFFFB3EC7EB720F")
    );
    assert_eq!(*image_format, Some(1));
    let infos = image_info_array.as_ref().unwrap();
    assert_eq!(infos.len(), 2);
    assert_eq!(
        (
            infos[1].kind,
            infos[1].size,
            infos[1].width,
            infos[1].height
        ),
        (Some(3), Some(2565), Some(144), Some(192))
    );
    assert_eq!(
        infos[1].url.as_deref(),
        Some("http://d.im.qcloud.com/c.jpg")
    );
    let MsgElement::File(file) = &body[6] else {
        panic!()
    };
    assert_eq!(file.file_size, Some(1_773_552));
    assert_eq!(
        file.name(),
        Some("file:///private/var/Mobile/Media/DCIM/IMG_0001.JPG")
    );
    let MsgElement::VideoFile(video) = &body[7] else {
        panic!()
    };
    assert_eq!(video.video_format.as_deref(), Some("mp4"));
    assert_eq!(video.video_second, Some(5));
    assert_eq!(
        (video.thumb_width, video.thumb_height),
        (Some(720), Some(1280))
    );
    assert_eq!(video.thumb_download_flag, Some(2));

    // Relay, unknown, a text element whose Text is not a string, an element with a key beside
    // MsgType/MsgContent, no MsgType, not an object: all kept verbatim as Other.
    let raws = raw_elements();
    assert_eq!(raws.len(), body.len());
    for (elem, json) in body.iter().zip(&raws).skip(8) {
        let MsgElement::Other(raw) = elem else {
            panic!("should be Other: {elem:?}")
        };
        assert_eq!(raw.json(), json);
    }
    assert_eq!(tencent::text_of(&body).as_deref(), Some("hello world"));
}

#[test]
fn msg_body_round_trip_keeps_unknown_elements_byte_for_byte() {
    let body = elements();
    let out = serde_json::to_string(&body).unwrap();
    let raws = raw_elements();
    // Other elements are copied verbatim, odd spacing and escapes included.
    for raw in &raws[8..] {
        assert!(out.contains(raw.as_str()), "{raw} missing from {out}");
    }
    assert!(out.contains(r#"{"MsgType" : "TIMRelayElem", "MsgContent": {"Title":"Chat history","MsgNum":2,"CompatibleText":"upgrade \u003cyour\u003e app","AbstractList":["a: hi"],"MsgList":[]}}"#));
    assert!(
        out.contains(r#"{"MsgType":"TIMFutureElem","MsgContent":{"Big":1.50,"Esc":"\u00e9\/"}}"#)
    );
    // Typed elements come back as the same JSON values.
    let before: Value = serde_json::from_str(EVERY_ELEMENT).unwrap();
    let after: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(before, after);
    // And reading the output again gives the same elements.
    let again: Vec<MsgElement> = serde_json::from_str(&out).unwrap();
    assert_eq!(again, body);
}

#[test]
fn typed_elements_keep_undocumented_content_keys() {
    let json =
        r#"{"MsgType":"TIMTextElem","MsgContent":{"Lang":"en","Text":"hi","Style":{"b":true}}}"#;
    let elem = MsgElement::parse(json).unwrap();
    let MsgElement::Text(TextElem { text, extra }) = &elem else {
        panic!("{elem:?}")
    };
    assert_eq!(text, "hi");
    assert_eq!(extra.get("Style"), Some(&json!({"b": true})));
    // Documented keys first, then the others in their order.
    assert_eq!(
        serde_json::to_string(&elem).unwrap(),
        r#"{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi","Lang":"en","Style":{"b":true}}}"#
    );

    let file = MsgElement::parse(
        r#"{"MsgType":"TIMFileElem","MsgContent":{"UUID":"u","fileName":"old.txt","FileSize":3}}"#,
    )
    .unwrap();
    let MsgElement::File(f) = &file else { panic!() };
    assert_eq!(f.file_name, None);
    assert_eq!(f.name(), Some("old.txt"));
    assert_eq!(
        serde_json::to_string(&file).unwrap(),
        r#"{"MsgType":"TIMFileElem","MsgContent":{"UUID":"u","FileSize":3,"fileName":"old.txt"}}"#
    );
    assert!(MsgElement::parse("{nope").is_err());
}

#[test]
fn elements_from_a_value() {
    // serde_json's Value deserializer hands out compact text: typing still works, but an Other
    // element holds the re-serialised value, not the bytes of the original body.
    let elems: Vec<MsgElement> = serde_json::from_value(json!([
        {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}},
        {"MsgType": "TIMTextElem"},
    ]))
    .unwrap();
    assert_eq!(elems[0], MsgElement::new_text("hi"));
    let MsgElement::Other(raw) = &elems[1] else {
        panic!("{:?}", elems[1])
    };
    assert_eq!(raw.json(), r#"{"MsgType":"TIMTextElem"}"#);
}

#[test]
fn raw_elements_and_send_msg_modify() {
    let raw = tencent::RawElement::new(r#" {"MsgType":"TIMRelayElem","MsgContent":{}} "#).unwrap();
    assert_eq!(raw.msg_type(), "TIMRelayElem");
    assert_eq!(raw.json(), r#"{"MsgType":"TIMRelayElem","MsgContent":{}}"#);
    assert!(tencent::RawElement::new("{").is_err());

    let answer = SendMsgModify {
        msg_body: Some(vec![MsgElement::new_text("a"), MsgElement::Other(raw)]),
        cloud_custom_data: Some("cc".into()),
    };
    assert_eq!(
        answer.verdict().unwrap(),
        Verdict::Modify(
            r#"{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"a"}},{"MsgType":"TIMRelayElem","MsgContent":{}}],"CloudCustomData":"cc"}"#
                .into()
        )
    );
    assert_eq!(
        SendMsgModify::default().verdict().unwrap(),
        Verdict::Modify("{}".into())
    );
}

#[test]
fn refusal_codes() {
    assert_eq!(
        code::custom_range(command::C2C_BEFORE_SEND_MSG),
        Some(code::C2C_SEND)
    );
    assert_eq!(
        code::custom_range(command::GROUP_BEFORE_SEND_MSG),
        Some(code::GROUP)
    );
    assert_eq!(
        code::custom_range(command::GROUP_BEFORE_CREATE_GROUP),
        Some(code::GROUP)
    );
    assert_eq!(
        code::custom_range(command::SNS_PREV_FRIEND_ADD),
        Some(code::FRIEND)
    );
    assert_eq!(code::custom_range(command::C2C_AFTER_SEND_MSG), None);
    assert_eq!(code::custom_range("Nope.Nope"), None);
    assert_eq!(code::fit(command::C2C_BEFORE_SEND_MSG, 130_000), 130_000);
    assert_eq!(code::fit(command::C2C_BEFORE_SEND_MSG, 130_001), 120_001);
    assert_eq!(
        code::fit(command::GROUP_BEFORE_CREATE_GROUP, 10_200),
        10_200
    );
    assert_eq!(code::fit(command::GROUP_BEFORE_CREATE_GROUP, 1), 10_100);
    assert_eq!(code::fit(command::SNS_PREV_FRIEND_ADD, 0), 38_000);
}
