//! The message view reads its members with its own scan instead of a serde struct (see the
//! SDK's `json::members`). These tests hold it to what the serde structs it replaced read
//! (`oracle`): the same fields from the same bodies, and an error for the same broken bodies,
//! over thousands of bodies mutated byte by byte from realistic OpenIM and Tencent callbacks.
//! `fuzz/` runs the same comparison under libFuzzer.

mod oracle;

use hookbox_sdk::message::TextMessage;
use hookbox_sdk::openim::command as oc;
use hookbox_sdk::tencent::command as tc;
use hookbox_sdk::{Dialect, Event};
use oracle::{Seen, has_surrogate_escape, openim_oracle, seen, tencent_oracle};

const OPENIM: &str = r#"{"sendID":"user-alice","callbackCommand":"callbackBeforeSendSingleMsgCommand","serverMsgID":"srv-7f3a","clientMsgID":"cli-91bc","operationID":"op-1","senderPlatformID":2,"senderNickname":"Alice \"A\" \u00c5","sessionType":1,"msgFrom":100,"contentType":101,"status":1,"sendTime":1767225600123,"createTime":1767225600100,"content":"{\"content\":\"hello \\\"there\\\" \u00e9\"}","seq":0,"atUserList":null,"faceURL":"https://example.com/a.png","ex":"","recvID":"user-bob","options":{"history":true,"x":[1,2.5e3,-0]}}"#;

const TENCENT: &str = r#"{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"jared","To_Account":"Jonh","MsgSeq":48374,"MsgRandom":2837546,"MsgTime":1557481126,"MsgKey":"48374_2837546_1557481126","MsgId":"","OnlineOnlyFlag":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"buy \"SPAM\""}},{"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"content"}},{"MsgType":"TIMTextElem","MsgContent":{"Text":" now"}}],"CloudCustomData":"your cloud custom data","EventTime":1670574414123}"#;

/// A small deterministic generator (xorshift), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `body` with a few bytes replaced, inserted or deleted, from an alphabet of JSON's
/// structural characters, digits, letters and escapes; still UTF-8.
fn mutate(body: &str, rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "\"", "\\", "{", "}", "[", "]", ":", ",", " ", "0", "7", "-", ".", "e", "n", "null",
        "true", "x", "\\n", "\\\"", "\\u00e9", "\u{e9}", "\t", "1.5", "\"\"", "[]", "{}", "-0",
        "0.5",
    ];
    let mut bytes = body.as_bytes().to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        let piece = PIECES[rng.below(PIECES.len())].as_bytes();
        match rng.below(3) {
            0 => {
                bytes.splice(at..at, piece.iter().copied());
            }
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {
                let end = (at + piece.len()).min(bytes.len());
                bytes.splice(at..end, piece.iter().copied());
            }
        }
    }
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn compare(dialect: Dialect, command: &str, seed: &str, oracle: impl Fn(&str) -> Option<Seen>) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut agreed_ok, mut agreed_err) = (0, 0);
    for case in 0..6_000 {
        let body = if case == 0 {
            seed.to_owned()
        } else {
            mutate(seed, &mut rng)
        };
        if has_surrogate_escape(&body) {
            continue;
        }
        let got = seen(&Event::new(dialect, command, body.as_str()));
        let want = oracle(&body);
        assert_eq!(got, want, "case {case}: {body}");
        if got.is_some() {
            agreed_ok += 1;
        } else {
            agreed_err += 1;
        }
    }
    // Both kinds of body were exercised, not just one.
    assert!(
        agreed_ok > 500 && agreed_err > 500,
        "{agreed_ok} read, {agreed_err} refused"
    );
}

#[test]
fn openim_bodies_read_as_the_serde_struct_read_them() {
    compare(
        Dialect::OpenIm,
        oc::BEFORE_SEND_SINGLE_MSG,
        OPENIM,
        |body| openim_oracle(oc::BEFORE_SEND_SINGLE_MSG, body),
    );
}

#[test]
fn tencent_bodies_read_as_the_serde_struct_read_them() {
    compare(
        Dialect::Tencent,
        tc::C2C_BEFORE_SEND_MSG,
        TENCENT,
        tencent_oracle,
    );
}

#[test]
fn errors_name_the_command_and_the_member() {
    let err = |dialect, command, body: &str| {
        TextMessage::from_event(&Event::new(dialect, command, body))
            .unwrap_err()
            .message()
            .to_owned()
    };
    assert_eq!(
        err(Dialect::OpenIm, oc::BEFORE_MSG_MODIFY, r#"{"sendTime":-0}"#),
        "cannot parse callbackBeforeMsgModifyCommand payload: sendTime: invalid type: floating point `-0.0`, expected i64 at line 1 column 2"
    );
    assert_eq!(
        err(
            Dialect::OpenIm,
            oc::BEFORE_MSG_MODIFY,
            r#"{"contentType":"x"}"#
        ),
        "cannot parse callbackBeforeMsgModifyCommand payload: contentType: invalid type: string \"x\", expected i32 at line 1 column 3"
    );
    assert_eq!(
        err(
            Dialect::OpenIm,
            oc::BEFORE_MSG_MODIFY,
            r#"{"sendID":"a","sendID":"b"}"#
        ),
        "cannot parse callbackBeforeMsgModifyCommand payload: duplicate key \"sendID\""
    );
    assert_eq!(
        err(
            Dialect::Tencent,
            tc::C2C_BEFORE_SEND_MSG,
            r#"{"MsgBody":[1,]}"#
        ),
        "cannot parse C2C.CallbackBeforeSendMsg payload: json: expected a value at byte 14"
    );
    assert_eq!(
        err(
            Dialect::Tencent,
            tc::C2C_BEFORE_SEND_MSG,
            r#"{"MsgBody":{"a":1}}"#
        ),
        "cannot parse C2C.CallbackBeforeSendMsg payload: MsgBody: json: expected an array at byte 0"
    );
    assert_eq!(
        err(Dialect::Tencent, tc::C2C_BEFORE_SEND_MSG, "not json"),
        "cannot parse C2C.CallbackBeforeSendMsg payload: json: expected an object at byte 0"
    );
}

#[test]
fn tencent_integers_may_be_strings_and_members_may_be_null() {
    let body = r#"{"From_Account":null,"To_Account":"b","MsgTime":"1557481126","MsgBody":null,"MsgKey":null}"#;
    let msg = TextMessage::from_event(&Event::new(Dialect::Tencent, tc::C2C_AFTER_SEND_MSG, body))
        .unwrap()
        .unwrap();
    assert_eq!(msg.sender(), "");
    assert_eq!(msg.sent_at_ms(), Some(1_557_481_126_000));
    assert_eq!(msg.text(), None);
    assert!(msg.element_types().is_empty());
    assert_eq!(msg.message_id(), None);
}
