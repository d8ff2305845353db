//! The check behind the `message_view` target: the SDK's message view against the serde oracle.

use hookbox_sdk::message::TextMessage;
use hookbox_sdk::openim::command as oc;
use hookbox_sdk::tencent::command as tc;
use hookbox_sdk::{Dialect, Event, Verdict};

#[path = "../../guest-sdk/tests/oracle/mod.rs"]
mod oracle;

/// Reads `body` as both dialects' message callbacks; panics where the view and the oracle
/// disagree or a verdict misbehaves.
pub fn check(body: &str) {
    // The scan checks a `\u` escape's form, not whether it is a whole character, in members
    // it does not read; serde_json (and the host, before any plugin) refuses lone surrogates.
    let comparable = !oracle::has_surrogate_escape(body);
    // A body the host would pass to a plugin at all: it parses every body into a JSON value
    // first (lone surrogates and numbers out of f64's range are refused there).
    let host_accepts = serde_json::from_str::<serde_json::Value>(body).is_ok();

    let openim = Event::new(Dialect::OpenIm, oc::BEFORE_MSG_MODIFY, body);
    if comparable {
        assert_eq!(
            oracle::seen(&openim),
            oracle::openim_oracle(oc::BEFORE_MSG_MODIFY, body),
            "OpenIM: {body}"
        );
    }
    exercise(&openim, host_accepts);

    let tencent = Event::new(Dialect::Tencent, tc::C2C_BEFORE_SEND_MSG, body);
    if comparable {
        assert_eq!(
            oracle::seen(&tencent),
            oracle::tencent_oracle(body),
            "Tencent: {body}"
        );
    }
    exercise(&tencent, host_accepts);
}

/// The verdicts that change a message's text: errors are fine, panics are not, and neither
/// are modifications that are not JSON objects, for bodies the host accepts (the view copies
/// what it does not change byte for byte, so a body serde_json refuses makes a modification
/// it refuses too).
fn exercise(event: &Event, host_accepts: bool) {
    let Ok(Some(msg)) = TextMessage::from_event(event) else {
        return;
    };
    let verdicts = [
        msg.map_text(|text| Some(text.to_uppercase())),
        msg.replace_text("\"new\" text \u{e9}"),
    ];
    for verdict in verdicts.into_iter().flatten() {
        if let Verdict::Modify(json) = verdict
            && host_accepts
        {
            let parsed: Result<serde_json::Map<String, serde_json::Value>, _> =
                serde_json::from_str(&json);
            assert!(parsed.is_ok(), "modify is not a JSON object: {json}");
        }
    }
}
