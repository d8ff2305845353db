//! Golden tests: every directory under `tests/fixtures/openim/` is one request (`request.json`:
//! path segment, query, headers; `body.json`: the exact body bytes) and its expected outcome
//! (`expected.txt`: the parsed event and the allow answer, or the error).
//!
//! `HOOKBOX_BLESS=1 cargo test -p hookbox-dialects` rewrites the `expected.txt` files; review the
//! diff before committing it. Every fixture directory must have a test below, and every test a
//! directory (`every_fixture_has_a_test`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hookbox_dialects::{Callback, DialectError, openim};
use hookbox_model::{Phase, Verdict};

use crate::golden_support::{
    assert_every_fixture_has_a_case, assert_expected, describe_error, golden_cases,
    request_and_body,
};

use crate::support::{headers, parse_with};

golden_cases! {
    // The seeds the product started from (bodies verbatim from OpenIM's docs).
    seed_000_after_send_group_msg,
    seed_002_doc_url_mismatch,
    seed_002_after_create_single_chat_conversations,
    seed_003_group_msg_read_legacy_query,
    seed_004_after_create_group,
    // Messages.
    msg_before_send_single,
    msg_after_send_group_key,
    msg_after_send_single_key,
    msg_after_save_db_key,
    msg_before_send_group_legacy_query,
    // Message modification.
    msg_modify,
    // Read receipts.
    read_single,
    read_group,
    // Revoke.
    revoke,
    // Online status and push.
    online,
    online_push_no_header,
    push_offline,
    // Friends.
    friend_add,
    friend_agree,
    // Users.
    user_update_ex,
    user_register,
    // Groups.
    group_create,
    group_members_join,
    group_dismiss,
    // Set group info (echo rule).
    set_group_info,
    set_group_info_ex,
    // Conversations.
    conversation_single,
    conversation_group_after,
    // Commands newer than the table.
    unknown_future_command,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openim")
}

fn run_case(name: &str) {
    let dir = fixtures().join(name);
    let (request, body) = request_and_body(&dir);
    let pairs: Vec<(&str, &str)> = request["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let header_map = headers(&pairs);
    let result = parse_with(
        request["path_command"].as_str(),
        request["query"].as_str(),
        &header_map,
        &body,
    );
    let actual = describe(&body, result);
    assert_expected(&dir, &actual);
}

fn describe(body: &[u8], result: Result<Callback, DialectError>) -> String {
    let mut out = String::new();
    match result {
        Ok(cb) => {
            assert_eq!(
                cb.event.payload.as_bytes(),
                body,
                "the payload must be the request body, byte for byte"
            );
            let phase = match cb.phase {
                Phase::Before => "before",
                Phase::After => "after",
            };
            let _ = writeln!(out, "dialect: {}", cb.event.dialect);
            let _ = writeln!(out, "command: {}", cb.event.command);
            let _ = writeln!(out, "phase: {phase}");
            let _ = writeln!(out, "known: {}", cb.known);
            let _ = writeln!(out, "operation_id: {:?}", cb.operation_id());
            let _ = writeln!(out, "metadata:");
            for (key, value) in &cb.event.metadata {
                let _ = writeln!(out, "  {key} = {value:?}");
            }
            let _ = writeln!(
                out,
                "payload: body.json byte for byte ({} bytes)",
                body.len()
            );
            let allow = openim::render(&cb, &Verdict::Allow);
            let _ = writeln!(
                out,
                "allow: {}",
                String::from_utf8(allow).expect("render writes UTF-8")
            );
        }
        Err(e) => describe_error(&mut out, &e),
    }
    out
}

#[test]
fn every_fixture_has_a_test() {
    assert_every_fixture_has_a_case(&fixtures(), CASES);
}
