//! OpenIM: request line and body → `openim::parse` → for every parsed callback,
//! `openim::check_modify` of the plugin's modification, and `openim::render` of allow, that
//! modification (accepted or not), a reject per [`REJECT_CODES`] and discard.
//!
//! The body check's fast path must agree with its full check wherever it answers. Besides
//! "nothing panics", every answer must be a JSON object that starts with OpenIM's five
//! envelope keys in order and that Go's `encoding/json` decodes into `CommonCallbackResp`
//! (`protocols/openim.md` §2.1: keys match fields under Unicode case folding, the last match
//! wins, null leaves a field alone, int32 fields are integral and in range). Decoded, it must
//! mean what the verdict meant: allow and modify never deny; reject and discard deny
//! (`actionCode` 0, `nextCode` 1) with the expected non-zero `errCode` and the message and detail
//! intact. Allow echoes the request's values on the set-group-info commands, and an accepted
//! modification's fields reach the answer unchanged (bar `groupID` on those commands).

#![no_main]

use hookbox_dialects::{Callback, openim};
use hookbox_fuzz::{Input, REJECT_CODES, int32, object, string};
use hookbox_model::{JsonObject, Rejection, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::split(data) else {
        return;
    };
    if let Ok(body) = std::str::from_utf8(input.body) {
        assert!(
            hookbox_dialects::body_checks_agree(body),
            "the body check's fast path and full check disagree"
        );
    }
    let Ok(callback) = openim::parse(&input.inbound()) else {
        return;
    };
    let _ = callback.operation_id();
    let echo = openim::command(&callback.event.command).map_or(&[][..], |info| info.echo);

    let (allow, envelope) = render(&callback, &Verdict::Allow);
    assert!(!envelope.denies(), "allow denies: {envelope:?}");
    for &key in echo {
        if let Some(value) = callback.request().get(key) {
            assert_eq!(allow.get(key), Some(value), "allow does not echo `{key}`");
        }
    }

    let fields = input.modify.unwrap_or_else(|| callback.request().clone());
    let accepted = openim::check_modify(&callback, &fields).is_ok();
    let (modified, envelope) = render(&callback, &Verdict::Modify(fields.clone()));
    assert!(!envelope.denies(), "modify denies: {envelope:?}");
    if accepted {
        for (key, value) in &fields {
            if !(key == "groupID" && echo.contains(&"groupID")) {
                assert_eq!(modified.get(key), Some(value), "accepted `{key}` is lost");
            }
        }
    }

    let message = &callback.event.payload;
    let detail = input.query.unwrap_or_default();
    for &code in REJECT_CODES {
        let rejection = Rejection {
            code,
            message: message.clone(),
            detail: detail.to_owned(),
        };
        let (_, envelope) = render(&callback, &Verdict::Reject(rejection));
        let err_code = if code == 0 {
            openim::DEFAULT_REJECT_CODE
        } else {
            code
        };
        assert_eq!(envelope, Envelope::deny(err_code, message, detail));
    }
    let (_, envelope) = render(&callback, &Verdict::Discard);
    let discard = Envelope::deny(openim::DEFAULT_REJECT_CODE, openim::DISCARD_MESSAGE, "");
    assert_eq!(envelope, discard);
});

/// Renders `verdict`, checks the envelope keys lead in order, and decodes the envelope as OpenIM.
fn render(callback: &Callback, verdict: &Verdict) -> (JsonObject, Envelope) {
    let body = object(&openim::render(callback, verdict));
    assert!(
        body.keys().take(5).eq(openim::ENVELOPE_KEYS),
        "{} answer does not start with the envelope: {body:?}",
        verdict.kind()
    );
    let envelope = Envelope::decode(&body);
    (body, envelope)
}

/// OpenIM's `CommonCallbackResp`, as Go decodes it from an answer.
#[derive(Debug, Default, PartialEq)]
struct Envelope {
    action_code: i32,
    err_code: i32,
    err_msg: String,
    err_dlt: String,
    next_code: i32,
}

impl Envelope {
    /// Decodes like `json.Unmarshal(body, &resp)`; panics where Go would fail (a wrong type).
    fn decode(body: &JsonObject) -> Self {
        let mut envelope = Envelope::default();
        for (key, value) in body.iter().filter(|(_, v)| !v.is_null()) {
            let field = openim::ENVELOPE_KEYS
                .iter()
                .position(|field| go_fold_eq(key, field));
            match field {
                Some(0) => envelope.action_code = int32(key, value),
                Some(1) => envelope.err_code = int32(key, value),
                Some(2) => envelope.err_msg = string(key, value).to_owned(),
                Some(3) => envelope.err_dlt = string(key, value).to_owned(),
                Some(4) => envelope.next_code = int32(key, value),
                _ => {}
            }
        }
        envelope
    }

    /// The only deny every OpenIM 3.x reads as one.
    fn deny(err_code: i32, err_msg: &str, err_dlt: &str) -> Self {
        Envelope {
            action_code: 0,
            err_code,
            err_msg: err_msg.to_owned(),
            err_dlt: err_dlt.to_owned(),
            next_code: 1,
        }
    }

    /// `CommonCallbackResp::Parse` since v3.7.0.
    fn denies(&self) -> bool {
        self.action_code == 0 && self.next_code == 1
    }
}

/// Whether Go's `encoding/json` fills the (ASCII) field `field` from the key `key`: simple
/// Unicode case folding, under which `ſ` (U+017F) is an `s` and the Kelvin sign (U+212A) a `k`.
fn go_fold_eq(key: &str, field: &str) -> bool {
    let fold = |c: char| match c {
        'ſ' => 's',
        '\u{212A}' => 'k',
        c => c.to_ascii_lowercase(),
    };
    key.chars().map(fold).eq(field.chars().map(fold))
}
