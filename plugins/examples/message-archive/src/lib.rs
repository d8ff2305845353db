//! message-archive: every message sent through OpenIM or Tencent Cloud Chat, as one JSON
//! record POSTed to an archive endpoint (a search index, a compliance store, a data lake's
//! ingest API). On each after-send callback (one-to-one and group) it sends
//!
//! ```json
//! {"server":"openim","command":"callbackAfterSendGroupMsgCommand","from":"u1",
//!  "group":"g1","text":"hello","time":1700000000000,"message_id":"cli-1"}
//! ```
//!
//! with `to` (the receiving user) instead of `group` for one-to-one messages, `text` null for
//! messages without text, `time` in milliseconds since the Unix epoch (null when the body has
//! none), and `message_id` as [`TextMessage::message_id`] reads it (null when there is none).
//!
//! Config: `endpoint` (the URL, required), `api_key` (from a secret; sent when present),
//! `api_key_header` (default: `Authorization: Bearer <key>`; any other name carries the bare
//! key). The manifest grants the endpoint's host in `grants.outbound_hosts`.
//!
//! Not: a queue. A record the endpoint does not take (an error, a non-2xx answer, a timeout)
//! fails the call, which hookbox logs and counts; the plugin does not retry by itself (what
//! happens to a failed after-callback is hookbox's delivery policy). The IM server ignores
//! the answer to an after-send callback either way.
//!
//! The decision a reader may question: the record is sent while the callback is being
//! answered, not batched. The host runs every call in a fresh instance, so a batch would need
//! the key-value store as a buffer and a flush trigger; one POST per message keeps the plugin
//! stateless and the archive current, at one request per message.

use hookbox_sdk::message::{MessagePhase, Target, TextMessage};
use hookbox_sdk::prelude::*;
use hookbox_sdk::serde_json::{Map, Value, json};

struct MessageArchive;

impl Plugin for MessageArchive {
    fn handle(event: Event) -> Result<Verdict, Error> {
        if MessagePhase::of(event.dialect(), event.command()) != Some(MessagePhase::AfterSend) {
            return Ok(Verdict::allow());
        }
        let Some(msg) = TextMessage::from_event(&event)? else {
            return Ok(Verdict::allow());
        };
        let endpoint = config::get("endpoint")
            .filter(|e| !e.is_empty())
            .ok_or_else(|| Error::new("message-archive: config `endpoint` is not set"))?;
        let auth = auth_header(
            config::get("api_key_header").as_deref(),
            config::get("api_key").as_deref(),
        );
        let headers: Vec<(&str, &str)> = auth
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let answer = http::post_json(&endpoint, &headers, &record(&msg))?;
        if !answer.is_success() {
            return Err(Error::new(format!(
                "message-archive: the archive answered {}",
                answer.status
            )));
        }
        Ok(Verdict::allow())
    }
}

hookbox_sdk::export_plugin!(MessageArchive);

/// The archive record of one message.
fn record(msg: &TextMessage) -> Value {
    let server = match msg.dialect() {
        Dialect::OpenIm => "openim",
        Dialect::Tencent => "tencent",
    };
    let mut record = Map::new();
    record.insert("server".into(), json!(server));
    record.insert("command".into(), json!(msg.command()));
    record.insert("from".into(), json!(msg.sender()));
    match msg.target() {
        Target::User(user) => {
            record.insert("to".into(), json!(user));
        }
        Target::Group(group) => {
            record.insert("group".into(), json!(group));
        }
        Target::Unknown => {}
    }
    record.insert("text".into(), json!(msg.text()));
    record.insert("time".into(), json!(msg.sent_at_ms()));
    record.insert("message_id".into(), json!(msg.message_id()));
    Value::Object(record)
}

/// The header that carries the API key: `Authorization: Bearer <key>` unless the config names
/// another header, which then carries the bare key. None without a key.
fn auth_header(header: Option<&str>, key: Option<&str>) -> Option<(String, String)> {
    let key = key.filter(|k| !k.is_empty())?;
    match header.map(str::trim).filter(|h| !h.is_empty()) {
        None => Some(("authorization".into(), format!("Bearer {key}"))),
        Some(name) if name.eq_ignore_ascii_case("authorization") => {
            Some(("authorization".into(), format!("Bearer {key}")))
        }
        Some(name) => Some((name.to_owned(), key.to_owned())),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    //! Native tests: `cargo test --target x86_64-unknown-linux-gnu -p message-archive`.

    use hookbox_sdk::http::{self, Response};
    use hookbox_sdk::openim::command;
    use hookbox_sdk::tencent;

    use super::*;

    fn configure(pairs: &[(&str, &str)]) {
        config::clear_native();
        for (key, value) in pairs {
            config::set_native(*key, *value);
        }
        http::set_native_response(Ok(Response {
            status: 204,
            ..Response::default()
        }));
        let _ = http::take_native_requests();
    }

    fn sent_record() -> (Vec<(String, String)>, Value) {
        let mut sent = http::take_native_requests();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let request = sent.remove(0);
        assert_eq!(request.method(), "POST");
        assert_eq!(request.url(), "https://archive.example.com/v1/messages");
        let body = hookbox_sdk::serde_json::from_slice(request.body_bytes()).unwrap();
        (request.headers().to_vec(), body)
    }

    const ENDPOINT: (&str, &str) = ("endpoint", "https://archive.example.com/v1/messages");

    #[test]
    fn an_openim_group_message_becomes_one_record_with_a_bearer_key() {
        configure(&[ENDPOINT, ("api_key", "k-123")]);
        let body = r#"{"sendID":"u1","groupID":"g1","sessionType":3,"contentType":101,"content":"{\"content\":\"hello\"}","sendTime":1700000000000,"clientMsgID":"cli-1"}"#;
        let event = Event::new(Dialect::OpenIm, command::AFTER_SEND_GROUP_MSG, body);
        assert_eq!(MessageArchive::handle(event).unwrap(), Verdict::allow());
        let (headers, record) = sent_record();
        assert!(headers.contains(&("authorization".into(), "Bearer k-123".into())));
        assert!(headers.contains(&("content-type".into(), "application/json".into())));
        assert_eq!(
            record,
            json!({
                "server": "openim",
                "command": "callbackAfterSendGroupMsgCommand",
                "from": "u1",
                "group": "g1",
                "text": "hello",
                "time": 1_700_000_000_000_i64,
                "message_id": "cli-1",
            })
        );
    }

    #[test]
    fn a_tencent_c2c_message_goes_to_a_user_with_a_named_key_header() {
        configure(&[
            ENDPOINT,
            ("api_key", "k-9"),
            ("api_key_header", "X-Api-Key"),
        ]);
        let body = r#"{"CallbackCommand":"C2C.CallbackAfterSendMsg","From_Account":"jared","To_Account":"lisa","MsgTime":1700000000,"MsgKey":"k1","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}"#;
        let event = Event::new(Dialect::Tencent, tencent::command::C2C_AFTER_SEND_MSG, body);
        MessageArchive::handle(event).unwrap();
        let (headers, record) = sent_record();
        assert!(headers.contains(&("X-Api-Key".into(), "k-9".into())));
        assert!(!headers.iter().any(|(n, _)| n == "authorization"));
        assert_eq!(
            record,
            json!({
                "server": "tencent",
                "command": "C2C.CallbackAfterSendMsg",
                "from": "jared",
                "to": "lisa",
                "text": "hi",
                "time": 1_700_000_000_000_i64,
                "message_id": "k1",
            })
        );
    }

    #[test]
    fn other_commands_send_nothing_and_failures_fail_the_call() {
        configure(&[ENDPOINT]);
        let event = Event::new(Dialect::OpenIm, command::BEFORE_SEND_SINGLE_MSG, "{}");
        assert_eq!(MessageArchive::handle(event).unwrap(), Verdict::allow());
        assert!(http::take_native_requests().is_empty());

        let single = r#"{"sendID":"u1","recvID":"u2","sessionType":1,"contentType":101,"content":"{\"content\":\"x\"}"}"#;
        http::set_native_response(Ok(Response {
            status: 503,
            ..Response::default()
        }));
        let event = Event::new(Dialect::OpenIm, command::AFTER_SEND_SINGLE_MSG, single);
        let err = MessageArchive::handle(event).unwrap_err();
        assert!(err.message().contains("503"), "{err}");
        let (headers, record) = sent_record();
        assert!(
            !headers.iter().any(|(n, _)| n == "authorization"),
            "no key, no header"
        );
        assert_eq!(record["to"], "u2");
        assert_eq!(record["time"], Value::Null);
        assert_eq!(record["message_id"], Value::Null);

        config::clear_native();
        let event = Event::new(Dialect::OpenIm, command::AFTER_SEND_SINGLE_MSG, single);
        let err = MessageArchive::handle(event).unwrap_err();
        assert!(err.message().contains("endpoint"), "{err}");
    }

    #[test]
    fn the_key_header_defaults_to_bearer_authorization() {
        assert_eq!(auth_header(None, None), None);
        assert_eq!(auth_header(Some("X-Key"), Some("")), None);
        assert_eq!(
            auth_header(None, Some("k")),
            Some(("authorization".into(), "Bearer k".into()))
        );
        assert_eq!(
            auth_header(Some("Authorization"), Some("k")),
            Some(("authorization".into(), "Bearer k".into()))
        );
        assert_eq!(
            auth_header(Some(" X-Key "), Some("k")),
            Some(("X-Key".into(), "k".into()))
        );
    }
}
