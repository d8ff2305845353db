//! `GET /metrics` on the admin listener after known traffic: exact counter values.

use hookbox_tests::{AdminServer, openim_text_message, temp_dir};
use reqwest::Method;

const SEND: &str = "callbackBeforeSendSingleMsgCommand";
const AFTER: &str = "callbackAfterSendSingleMsgCommand";

fn config() -> String {
    format!(
        r#"
[[plugin]]
name = "keyword-filter"
source = "keyword_filter.wasm"
commands = ["{SEND}"]
grants = {{ config = {{ banned = "spam" }} }}

[[plugin]]
name = "failing"
source = "fixture_fail.wasm"
commands = ["{AFTER}"]
"#
    )
}

#[tokio::test]
async fn metrics_count_exactly_the_traffic_sent() {
    let dir = temp_dir("metrics");
    let server = AdminServer::start(&config(), &dir).await;
    let hooks = &server.webhooks;
    for _ in 0..3 {
        assert_eq!(
            hooks
                .openim(SEND, &openim_text_message(SEND, "hello"))
                .await
                .status,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            hooks
                .openim(SEND, &openim_text_message(SEND, "spam"))
                .await
                .json()["errCode"],
            5001
        );
    }
    assert_eq!(
        hooks
            .openim(AFTER, &openim_text_message(AFTER, "hi"))
            .await
            .status,
        200
    );
    let unknown = serde_json::json!({"callbackCommand": "callbackBeforeTeleportCommand"});
    assert_eq!(
        hooks
            .openim("callbackBeforeTeleportCommand", &unknown)
            .await
            .status,
        200
    );
    assert_eq!(
        hooks
            .post(&format!("/openim/{SEND}"), &[], "{oops")
            .await
            .status,
        400
    );

    let unauthenticated = server
        .call_as(None, Method::GET, "/metrics", None, "")
        .await;
    assert_eq!(unauthenticated.status, 401);

    let scrape = server.call(Method::GET, "/metrics", None, "").await;
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/openmetrics-text"))
    );
    let text = scrape.body;
    let snapshot = server.registry().snapshot();
    let sha = |name: &str| {
        snapshot
            .plugins()
            .iter()
            .find(|p| p.manifest.name == name)
            .map(|p| p.sha256.clone())
            .expect("loaded")
    };
    let (filter, failing) = (sha("keyword-filter"), sha("failing"));
    for line in [
        format!(
            r#"hookbox_callbacks_total{{dialect="openim",command="{SEND}",outcome="allow"}} 3"#
        ),
        format!(
            r#"hookbox_callbacks_total{{dialect="openim",command="{SEND}",outcome="reject"}} 2"#
        ),
        format!(
            r#"hookbox_callbacks_total{{dialect="openim",command="{AFTER}",outcome="allow"}} 1"#
        ),
        r#"hookbox_callbacks_total{dialect="openim",command="unknown",outcome="allow"} 1"#
            .to_owned(),
        r#"hookbox_unknown_commands_total{dialect="openim"} 1"#.to_owned(),
        format!(
            r#"hookbox_plugin_calls_total{{plugin="keyword-filter",version="{filter}",outcome="allow"}} 3"#
        ),
        format!(
            r#"hookbox_plugin_calls_total{{plugin="keyword-filter",version="{filter}",outcome="reject"}} 2"#
        ),
        format!(
            r#"hookbox_plugin_calls_total{{plugin="failing",version="{failing}",outcome="plugin_error"}} 1"#
        ),
        r#"hookbox_plugin_duration_seconds_count{plugin="keyword-filter"} 5"#.to_owned(),
        r#"hookbox_refused_requests_total{code="body_not_json"} 1"#.to_owned(),
        "hookbox_in_flight_requests 0".to_owned(),
        format!(
            "hookbox_plugin_swaps_total {}",
            server.registry().swap_count()
        ),
        "hookbox_plugin_load_failures_total 0".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    let fuel = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"hookbox_plugin_fuel_total{plugin="keyword-filter"} "#))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("fuel is reported");
    assert!(fuel > 0);
    assert!(
        text.lines().any(|l| l
            == r#"hookbox_plugin_duration_seconds_bucket{le="+Inf",plugin="keyword-filter"} 5"#),
        "{text}"
    );

    // GET /plugins reads its percentiles from the same histogram.
    let listed = server.call(Method::GET, "/plugins", None, "").await.json();
    let latency = |name: &str| {
        listed["plugins"]
            .as_array()
            .and_then(|plugins| plugins.iter().find(|p| p["name"] == name))
            .map(|p| p["latency"].clone())
            .expect("listed")
    };
    let filter_latency = latency("keyword-filter");
    assert_eq!(filter_latency["count"], 5, "{filter_latency}");
    let p = |q: &str| filter_latency[q].as_f64().expect("a number");
    assert!(
        0.0 < p("p50_us") && p("p50_us") <= p("p90_us") && p("p90_us") <= p("p99_us"),
        "{filter_latency}"
    );
    assert_eq!(latency("failing")["count"], 1);
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_never_called_has_no_latency_yet() {
    let dir = temp_dir("metrics-idle");
    let server = AdminServer::start(&config(), &dir).await;
    let listed = server.call(Method::GET, "/plugins", None, "").await.json();
    let plugins = listed["plugins"].as_array().expect("a list");
    assert_eq!(plugins.len(), 2);
    for plugin in plugins {
        assert!(plugin["latency"].is_null(), "{plugin}");
        assert_eq!(plugin["calls"], 0);
    }
    server.stop().await;
}
