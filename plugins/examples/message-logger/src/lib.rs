//! message-logger: logs every OpenIM one-to-one and group message after it was sent, and
//! always allows.

use hookbox_sdk::openim::{self, command};
use hookbox_sdk::prelude::*;

struct MessageLogger;

impl Plugin for MessageLogger {
    fn handle(event: Event) -> Result<Verdict, Error> {
        let line = match event.command() {
            command::AFTER_SEND_SINGLE_MSG => event
                .json::<openim::SendSingleMsgReq>()
                .map(|m| describe(&m.send_id, "user", &m.recv_id, m.content_type, m.text())),
            command::AFTER_SEND_GROUP_MSG => event
                .json::<openim::SendGroupMsgReq>()
                .map(|m| describe(&m.send_id, "group", &m.group_id, m.content_type, m.text())),
            _ => return Ok(Verdict::allow()),
        };
        match line {
            Ok(line) => log::info(&line),
            // After-callbacks cannot change anything: note the bad body and let it pass.
            Err(err) => log::warn(err.message()),
        }
        Ok(Verdict::allow())
    }
}

hookbox_sdk::export_plugin!(MessageLogger);

/// `u1 -> group g1: "hello"`, or `u1 -> user u2: [contentType 102]` for non-text messages.
fn describe(
    sender: &str,
    kind: &str,
    target: &str,
    content_type: i32,
    text: Option<String>,
) -> String {
    match text {
        Some(text) => format!("{sender} -> {kind} {target}: {text:?}"),
        None => format!("{sender} -> {kind} {target}: [contentType {content_type}]"),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! Native tests: `cargo test --target x86_64-unknown-linux-gnu -p message-logger`.

    use super::*;

    fn run(command: &str, body: &str) -> Vec<String> {
        let _ = log::take_captured();
        let verdict = MessageLogger::handle(Event::new(Dialect::OpenIm, command, body)).unwrap();
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
}
