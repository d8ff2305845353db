//! message-logger: logs every one-to-one and group message after it was sent, for OpenIM and
//! Tencent Cloud Chat from one component, and always allows.
//!
//! - OpenIM `callbackAfterSendSingleMsgCommand` / `callbackAfterSendGroupMsgCommand` and
//!   Tencent `C2C.CallbackAfterSendMsg` / `Group.CallbackAfterSendMsg`: one info line,
//!   `sender -> user|group target: "text"`, read through
//!   [`hookbox_sdk::message::TextMessage`].
//! - Anything else: allow without logging (and without parsing).
//!
//! Not: an archive (it keeps nothing) and not a before-callback (it never changes a message).
//!
//! The decision a reader may question: the text is logged. Operators who must not keep message
//! text in their logs should not subscribe this plugin; for messages without text the line
//! names the content type (OpenIM) or the element types (Tencent) instead.

use hookbox_sdk::message::{MessagePhase, Target, TextMessage};
use hookbox_sdk::prelude::*;

struct MessageLogger;

impl Plugin for MessageLogger {
    fn handle(event: Event) -> Result<Verdict, Error> {
        if MessagePhase::of(event.dialect(), event.command()) != Some(MessagePhase::AfterSend) {
            return Ok(Verdict::allow());
        }
        match TextMessage::from_event(&event) {
            Ok(Some(msg)) => log::info(&describe(&msg)),
            Ok(None) => {}
            // After-callbacks cannot change anything: note the bad body and let it pass.
            Err(err) => log::warn(err.message()),
        }
        Ok(Verdict::allow())
    }
}

hookbox_sdk::export_plugin!(MessageLogger);

/// `u1 -> group g1: "hello"`; without text `u1 -> user u2: [contentType 102]` (OpenIM) or
/// `jared -> user Jonh: [TIMImageElem, TIMFaceElem]` (Tencent); Tencent text with other
/// elements `jared -> group @TGS#1: "hi" +[TIMFaceElem]`.
fn describe(msg: &TextMessage) -> String {
    let target = match msg.target() {
        Target::User(user) => format!("user {user}"),
        Target::Group(group) => format!("group {group}"),
        Target::Unknown => "unknown".to_owned(),
    };
    let others: Vec<&str> = msg
        .element_types()
        .into_iter()
        .filter(|t| *t != hookbox_sdk::tencent::msg_type::TEXT)
        .collect();
    let what = match (msg.text(), msg.content_type()) {
        (Some(text), _) if others.is_empty() => format!("{text:?}"),
        (Some(text), _) => format!("{text:?} +[{}]", others.join(", ")),
        (None, Some(content_type)) => format!("[contentType {content_type}]"),
        (None, None) if others.is_empty() => "[no elements]".to_owned(),
        (None, None) => format!("[{}]", others.join(", ")),
    };
    format!("{} -> {target}: {what}", msg.sender())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! Native tests: `cargo test --target x86_64-unknown-linux-gnu -p message-logger`.

    use hookbox_sdk::openim::command;
    use hookbox_sdk::tencent::command as tencent;

    use super::*;

    fn run(command: &str, body: &str) -> Vec<String> {
        run_in(Dialect::OpenIm, command, body)
    }

    fn run_in(dialect: Dialect, command: &str, body: &str) -> Vec<String> {
        let _ = log::take_captured();
        let verdict = MessageLogger::handle(Event::new(dialect, command, body)).unwrap();
        assert_eq!(verdict, Verdict::allow());
        log::take_captured()
            .into_iter()
            .map(|l| l.message)
            .collect()
    }

    #[test]
    fn logs_single_group_and_non_text() {
        assert_eq!(
            run(
                command::AFTER_SEND_SINGLE_MSG,
                r#"{"sendID":"u1","recvID":"u2","contentType":101,"content":"{\"content\":\"hi \\\"you\\\"\"}"}"#
            ),
            [r#"u1 -> user u2: "hi \"you\"""#]
        );
        assert_eq!(
            run(
                command::AFTER_SEND_GROUP_MSG,
                r#"{"sendID":"u1","groupID":"g1","contentType":102,"content":"{}","atUserList":null}"#
            ),
            ["u1 -> group g1: [contentType 102]"]
        );
        assert!(run(command::BEFORE_SEND_SINGLE_MSG, "{}").is_empty());
        assert_eq!(run(command::AFTER_SEND_GROUP_MSG, "nope").len(), 1);
    }

    #[test]
    fn logs_tencent_c2c_and_group() {
        let tencent_run = |command: &str, body: &str| run_in(Dialect::Tencent, command, body);
        assert_eq!(
            tencent_run(
                tencent::GROUP_AFTER_SEND_MSG,
                include_str!("../events/tencent-group-after-send.json")
            ),
            [r#"jared -> group @TGS#2J4SZEAEL: "red packet""#]
        );
        assert_eq!(
            tencent_run(
                tencent::C2C_AFTER_SEND_MSG,
                include_str!("../events/tencent-c2c-after-send.json")
            ),
            ["jared -> user Jonh: [TIMImageElem, TIMFaceElem]"]
        );
        assert_eq!(
            tencent_run(
                tencent::C2C_AFTER_SEND_MSG,
                r#"{"From_Account":"a","To_Account":"b","MsgBody":[
                    {"MsgType":"TIMTextElem","MsgContent":{"Text":"line\nbreak "}},
                    {"MsgType":"TIMFaceElem","MsgContent":{"Index":1}},
                    {"MsgType":"TIMTextElem","MsgContent":{"Text":"\"q\""}},
                    {"MsgType":"TIMRelayElem","MsgContent":{}}]}"#
            ),
            [r#"a -> user b: "line\nbreak \"q\"" +[TIMFaceElem, TIMRelayElem]"#]
        );
        assert_eq!(
            tencent_run(
                tencent::GROUP_AFTER_SEND_MSG,
                r#"{"From_Account":"a","GroupId":"g"}"#
            ),
            ["a -> group g: [no elements]"]
        );
        // Before-send and other commands: nothing logged, nothing parsed.
        assert!(tencent_run(tencent::C2C_BEFORE_SEND_MSG, "nope").is_empty());
        assert!(tencent_run(tencent::STATE_CHANGE, "nope").is_empty());
        assert!(tencent_run(command::AFTER_SEND_SINGLE_MSG, "nope").is_empty());
        // A bad after-send body: one warning, still allowed.
        let lines = {
            let _ = log::take_captured();
            let verdict = MessageLogger::handle(Event::new(
                Dialect::Tencent,
                tencent::C2C_AFTER_SEND_MSG,
                "nope",
            ))
            .unwrap();
            assert_eq!(verdict, Verdict::allow());
            log::take_captured()
        };
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].level, log::Level::Warn);
    }
}
