//! Misbehaving plugins: each is answered with its `on_error` envelope inside its timeout,
//! while a healthy plugin on another command keeps answering correctly at the same time.

use std::time::Duration;

use hookbox_tests::{OPENIM_ALLOW, TestServer, openim_text_message};

const BAD_COMMAND: &str = "callbackBeforeSendSingleMsgCommand";
const HEALTHY_COMMAND: &str = "callbackBeforeSendGroupMsgCommand";
const TIMEOUT_MS: u64 = 300;
/// Generous: the machine is shared and noisy; a hang would take far longer.
const ANSWER_BOUND: Duration = Duration::from_millis(TIMEOUT_MS + 2_000);

fn config(fixture: &str, on_error: &str) -> String {
    format!(
        r#"
[[plugin]]
name = "bad"
source = "{fixture}.wasm"
commands = ["{BAD_COMMAND}"]
on_error = "{on_error}"
on_error_code = 5900
on_error_message = "checking failed"
limits = {{ timeout_ms = {TIMEOUT_MS}, memory_mb = 16, fuel = 5_000_000_000, max_output_kb = 1024 }}
grants = {{ config = {{ sleep_ms = "60000" }} }}

[[plugin]]
name = "keyword-filter"
source = "keyword_filter.wasm"
commands = ["{HEALTHY_COMMAND}"]
grants = {{ config = {{ banned = "spam" }} }}
"#
    )
}

/// Send a request to the bad plugin and, concurrently, two to the healthy one.
async fn check(fixture: &str) {
    for on_error in ["allow", "reject"] {
        let server = TestServer::start(&config(fixture, on_error)).await;
        let bad_body = openim_text_message(BAD_COMMAND, "hello");
        let good_body = openim_text_message(HEALTHY_COMMAND, "hello");
        let spam_body = openim_text_message(HEALTHY_COMMAND, "spam");
        let (bad, good, spam) = tokio::join!(
            server.openim(BAD_COMMAND, &bad_body),
            server.openim(HEALTHY_COMMAND, &good_body),
            server.openim(HEALTHY_COMMAND, &spam_body),
        );
        assert_eq!(bad.status, 200, "{fixture}: {}", bad.body);
        assert!(
            bad.elapsed < ANSWER_BOUND,
            "{fixture}: answered after {:?}",
            bad.elapsed
        );
        match on_error {
            "allow" => assert_eq!(bad.body, OPENIM_ALLOW, "{fixture}"),
            _ => assert_eq!(
                bad.body,
                r#"{"actionCode":0,"errCode":5900,"errMsg":"checking failed","errDlt":"plugin bad failed","nextCode":1}"#,
                "{fixture}"
            ),
        }
        assert_eq!(
            good.body, OPENIM_ALLOW,
            "{fixture}: healthy plugin while the bad one runs"
        );
        assert_eq!(
            spam.json()["errCode"],
            5001,
            "{fixture}: healthy plugin still rejects"
        );

        // And right after: the healthy plugin, then the bad one again, still answer.
        assert_eq!(
            server.openim(HEALTHY_COMMAND, &good_body).await.body,
            OPENIM_ALLOW
        );
        let again = server.openim(BAD_COMMAND, &bad_body).await;
        assert_eq!(again.status, 200, "{fixture}");
        assert_eq!(
            server
                .app
                .counters
                .plugin_failures
                .load(std::sync::atomic::Ordering::Relaxed),
            2,
            "{fixture}"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn infinite_loop_is_stopped_at_its_timeout() {
    check("fixture_spin").await;
}

#[tokio::test]
async fn unbounded_allocation_is_stopped_at_its_memory_cap() {
    check("fixture_hog").await;
}

#[tokio::test]
async fn trap_is_contained() {
    check("fixture_trap").await;
}

#[tokio::test]
async fn returned_error_applies_on_error() {
    check("fixture_fail").await;
}

#[tokio::test]
async fn ten_megabyte_modify_is_refused() {
    check("fixture_huge").await;
}

#[tokio::test]
async fn sleeping_in_a_host_call_is_cut_off_at_the_deadline() {
    check("fixture_sleep").await;
}

/// Issue #5: every misbehaving fixture at once, each on its own before-callback, while four
/// clients send healthy traffic. Each bad call gets its `on_error` answer (reject 5900) within
/// its bound, the log flood is cut to its budget and allowed, and the healthy traffic sees
/// not one wrong answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_misbehaving_plugins_at_once_leave_healthy_traffic_untouched() {
    /// (name, component, config verdict or other config, expected errCode).
    const BAD: &[(&str, &str, &str, i64)] = &[
        ("spin", "fixture_spin", "", 5900),
        (
            "sleep-in-host-call",
            "fixture_sleep",
            "sleep_ms = \"60000\"",
            5900,
        ),
        ("allocate-4-gib", "fixture_hog", "", 5900),
        ("recurse", "fixture_scripted", "verdict = \"recurse\"", 5900),
        ("ten-mb-output", "fixture_huge", "", 5900),
        ("trap", "fixture_trap", "", 5900),
        ("panic", "fixture_scripted", "verdict = \"panic\"", 5900),
        ("err", "fixture_fail", "", 5900),
        (
            "invalid-json-modify",
            "fixture_scripted",
            "verdict = \"modify-raw:{not json\"",
            5900,
        ),
        (
            "forbidden-modify",
            "fixture_scripted",
            "verdict = 'modify:{\"nextCode\":1}'",
            5900,
        ),
        (
            "log-flood",
            "fixture_scripted",
            "verdict = \"log-flood\"",
            0,
        ),
    ];
    // One plain before-callback per bad plugin (no echo rule, so a reject is the whole answer).
    let commands: Vec<&str> = hookbox_dialects::openim::COMMANDS
        .iter()
        .filter(|c| c.phase == hookbox_model::Phase::Before && c.echo.is_empty())
        .map(|c| c.name)
        .filter(|name| *name != HEALTHY_COMMAND && *name != BAD_COMMAND)
        .take(BAD.len())
        .collect();
    assert_eq!(commands.len(), BAD.len(), "enough before-callbacks");
    let mut config = format!(
        r#"
[[plugin]]
name = "keyword-filter"
source = "keyword_filter.wasm"
commands = ["{HEALTHY_COMMAND}"]
grants = {{ config = {{ banned = "spam" }} }}
"#
    );
    for ((name, component, plugin_config, _), command) in BAD.iter().zip(&commands) {
        config += &format!(
            r#"
[[plugin]]
name = "{name}"
source = "{component}.wasm"
commands = ["{command}"]
on_error = "reject"
on_error_code = 5900
limits = {{ timeout_ms = {TIMEOUT_MS}, memory_mb = 16, max_output_kb = 1024, max_log_kb = 16 }}
grants = {{ config = {{ {plugin_config} }} }}
"#
        );
    }
    let server = std::sync::Arc::new(TestServer::start(&config).await);

    let healthy: Vec<_> = (0..4)
        .map(|client| {
            let server = server.clone();
            tokio::spawn(async move {
                let mut wrong = Vec::new();
                for i in 0..40 {
                    let spam = (client + i) % 2 == 0;
                    let text = if spam { "buy spam now" } else { "hello" };
                    let answer = server
                        .openim(HEALTHY_COMMAND, &openim_text_message(HEALTHY_COMMAND, text))
                        .await;
                    let expected = if spam { 5001 } else { 0 };
                    if answer.status != 200 || answer.json()["errCode"] != expected {
                        wrong.push(format!("{text}: {} {}", answer.status, answer.body));
                    }
                }
                wrong
            })
        })
        .collect();
    let bad: Vec<_> = BAD
        .iter()
        .zip(commands)
        .map(|(&(name, _, _, expected), command)| {
            let server = server.clone();
            tokio::spawn(async move {
                let mut wrong = Vec::new();
                for _ in 0..3 {
                    let answer = server
                        .openim(command, &openim_text_message(command, "hello"))
                        .await;
                    if answer.status != 200 || answer.json()["errCode"] != expected {
                        wrong.push(format!("{name}: {} {}", answer.status, answer.body));
                    }
                    if answer.elapsed >= ANSWER_BOUND {
                        wrong.push(format!("{name}: answered after {:?}", answer.elapsed));
                    }
                }
                wrong
            })
        })
        .collect();
    let mut healthy_wrong = Vec::new();
    for client in healthy {
        healthy_wrong.extend(client.await.expect("client ran"));
    }
    let mut bad_wrong = Vec::new();
    for client in bad {
        bad_wrong.extend(client.await.expect("client ran"));
    }
    assert_eq!(healthy_wrong, Vec::<String>::new(), "healthy traffic");
    assert_eq!(bad_wrong, Vec::<String>::new(), "misbehaving plugins");
    std::sync::Arc::into_inner(server)
        .expect("all clients are done")
        .stop()
        .await;
}
