//! Golden tests: every directory under `tests/fixtures/tencent/` is one request (`request.json`:
//! the raw query, optionally the server's app config and clock, optionally a modification to try;
//! `body.json`: the exact body bytes) and its expected outcome (`expected.txt`: the parsed event
//! and the answer to every verdict kind, or the error).
//!
//! `HOOKBOX_BLESS=1 cargo test -p hookbox-dialects --test tencent` rewrites the `expected.txt`
//! files; review the diff before committing it. Every fixture directory must have a test below,
//! and every test a directory (`every_fixture_has_a_test`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hookbox_dialects::tencent::{self, TencentApp};
use hookbox_dialects::{Callback, DialectError};
use hookbox_model::{Phase, Rejection, Verdict};
use serde_json::Value;

use crate::golden_support::{
    assert_every_fixture_has_a_case, assert_expected, describe_error, golden_cases, read,
    request_and_body,
};

use crate::support::{NOW, apps, parse_at};

golden_cases! {
    // The seed the product started from (shared/seeds/001, Group.CallbackAfterSendMsg).
    seed_001_group_after_send_msg,
    seed_001_doc_body_verbatim,
    // Online status and profile.
    state_change,
    profile_portrait_set,
    // Relationship chain.
    sns_prev_friend_add,
    sns_prev_friend_response,
    sns_friend_add,
    sns_friend_delete,
    sns_black_list_add,
    sns_black_list_delete,
    // One-to-one messages.
    c2c_before_send_msg,
    c2c_after_send_msg,
    c2c_after_msg_report,
    c2c_after_msg_withdraw,
    // Groups.
    group_before_create_group,
    group_after_create_group,
    group_before_apply_join_group,
    group_before_invite_join_group,
    group_after_new_member_join,
    group_after_member_exit,
    group_before_send_msg,
    group_after_send_msg,
    group_after_group_full,
    group_after_group_destroyed,
    group_after_group_info_changed,
    group_on_member_state_change,
    group_send_msg_exception,
    group_before_create_topic,
    group_after_create_topic,
    group_after_topic_destroyed,
    group_after_topic_info_changed,
    group_after_recall_msg,
    group_after_group_msg_extension,
    // Other product areas.
    official_account_after_send_msg,
    official_account_after_msg_withdraw,
    alert_request_over_limit,
    // Commands newer than the table.
    unknown_after_command,
    unknown_before_command,
    // Refused requests.
    auth_wrong_sign,
    command_mismatch,
}

/// The reject codes every case renders: one in each custom range, and one in none.
const PROBE_CODES: [i32; 4] = [10_150, 120_500, 38_500, 7];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tencent")
}

fn run_case(name: &str) {
    let dir = fixtures().join(name);
    let (request, body) = request_and_body(&dir);
    let configured = match request.get("apps") {
        Some(list) => list
            .as_array()
            .expect("apps is an array")
            .iter()
            .map(|app| TencentApp {
                sdk_app_id: app["sdk_app_id"].as_u64().expect("sdk_app_id"),
                token: app["token"].as_str().map(str::to_owned),
            })
            .collect(),
        None => apps(),
    };
    let now = request["now_unix_secs"].as_i64().unwrap_or(NOW);
    let result = parse_at(&configured, now, request["query"].as_str(), &body);
    let actual = describe(&body, result, request.get("modify"));
    assert_expected(&dir, &actual);
}

fn answer(cb: &Callback, verdict: &Verdict) -> String {
    String::from_utf8(tencent::render(cb, verdict)).expect("render writes UTF-8")
}

fn describe(body: &[u8], result: Result<Callback, DialectError>, modify: Option<&Value>) -> String {
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
            let _ = writeln!(out, "metadata:");
            for (key, value) in &cb.event.metadata {
                let _ = writeln!(out, "  {key} = {value:?}");
            }
            let _ = writeln!(
                out,
                "payload: body.json byte for byte ({} bytes)",
                body.len()
            );
            let _ = writeln!(out, "allow: {}", answer(&cb, &Verdict::Allow));
            for code in PROBE_CODES {
                let reject = Verdict::Reject(Rejection {
                    code,
                    message: "blocked by policy".to_owned(),
                    detail: "rule 7".to_owned(),
                });
                let (mapped, replaced) = tencent::reject_code(&cb, code);
                let _ = writeln!(
                    out,
                    "reject {code} (-> {mapped}{}): {}",
                    if replaced { ", replaced" } else { "" },
                    answer(&cb, &reject)
                );
            }
            let _ = writeln!(out, "discard: {}", answer(&cb, &Verdict::Discard));
            if let Some(fields) = modify {
                let fields = fields.as_object().expect("modify is an object").clone();
                let _ = writeln!(out, "modify: {}", Value::Object(fields.clone()));
                match tencent::check_modify(&cb, &fields) {
                    Ok(()) => {
                        let _ = writeln!(out, "  check: ok");
                        let _ =
                            writeln!(out, "  answer: {}", answer(&cb, &Verdict::Modify(fields)));
                    }
                    Err(e) => {
                        let _ = writeln!(out, "  check: refused: {e}");
                    }
                }
            }
        }
        Err(e) => describe_error(&mut out, &e),
    }
    out
}

#[test]
fn every_fixture_has_a_test() {
    assert_every_fixture_has_a_case(&fixtures(), CASES);
}

#[test]
fn every_command_has_a_fixture() {
    let mut covered = std::collections::HashSet::new();
    for case in CASES {
        let body = read(&fixtures().join(case).join("body.json"));
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body)
            && let Some(Value::String(command)) = map.get("CallbackCommand")
        {
            covered.insert(command.clone());
        }
    }
    for info in tencent::COMMANDS {
        assert!(
            covered.contains(info.name),
            "{} has no golden fixture",
            info.name
        );
    }
}
