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
