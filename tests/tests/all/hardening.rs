//! HTTP ingress under hostile or broken clients (issue #5, catalogue items 1–8 of
//! `docs/security.md`): stalled heads, trickled bodies, lying lengths, oversized heads,
//! wrong media types, and more requests than a source may have in flight. Each refusal is
//! checked on the wire (status, or the connection closing), in the metrics, and by a
//! healthy callback answered right after.
//!
//! Most tests speak raw HTTP/1.1 over a `TcpStream`, because a well-behaved client cannot
//! be made to stall mid-head or lie about its body length.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use hookbox_tests::{
    OPENIM_ALLOW, TENCENT_ALLOW, TENCENT_APP, TestServer, openim_text_message, tencent_message,
    tencent_query,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answered by keyword-filter: "spam" is rejected with errCode 5001, anything else allowed.
const HEALTHY: &str = "callbackBeforeSendGroupMsgCommand";
/// Answered by fixture-sleep, which holds the request for `SLEEP_MS`.
const SLOW: &str = "callbackBeforeSendSingleMsgCommand";
const SLEEP_MS: u64 = 1_500;
/// Generous: the machine is shared and noisy; a hang would take far longer.
const BOUND: Duration = Duration::from_secs(10);

/// A config with the healthy and the slow plugin and these `[server]` lines.
fn config(server: &str) -> String {
    healthy_only(server)
        + &format!(
            r#"
[[plugin]]
name = "sleeper"
source = "fixture_sleep.wasm"
commands = ["{SLOW}"]
limits = {{ timeout_ms = 5000 }}
grants = {{ config = {{ sleep_ms = "{SLEEP_MS}" }} }}
"#
        )
}

/// A config with only the healthy plugin, for a request deadline shorter than the slow
/// plugin's timeout.
fn healthy_only(server: &str) -> String {
    format!(
        r#"
[server]
{server}

[[plugin]]
name = "keyword-filter"
source = "keyword_filter.wasm"
commands = ["{HEALTHY}"]
grants = {{ config = {{ banned = "spam" }} }}
"#
    )
}

/// A healthy callback still gets its exact answer.
async fn assert_healthy(server: &TestServer) {
    let spam = server
        .openim(HEALTHY, &openim_text_message(HEALTHY, "spam"))
        .await;
    assert_eq!(spam.status, 200, "{}", spam.body);
    assert_eq!(spam.json()["errCode"], 5001, "{}", spam.body);
    let fine = server
        .openim(HEALTHY, &openim_text_message(HEALTHY, "hello"))
        .await;
    assert_eq!(fine.body, OPENIM_ALLOW);
}

/// `hookbox_refused_requests_total{code}` as exported.
fn refused(server: &TestServer, code: &str) -> u64 {
    let text = server.app.metrics.render(&server.app.registry);
    let prefix = format!("hookbox_refused_requests_total{{code=\"{code}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.parse().expect("a counter value"))
}

/// Wait until the refusal counter reaches `expected` (connection-level refusals are
/// counted by the connection's task, which may finish a moment after the client sees it).
async fn assert_refused(server: &TestServer, code: &str, expected: u64) {
    let started = Instant::now();
    while refused(server, code) < expected && started.elapsed() < BOUND {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        refused(server, code),
        expected,
        "refused_requests_total{{code={code:?}}}"
    );
}

/// Not one plugin call has started on `server`.
fn assert_no_plugin_ran(server: &TestServer) {
    let calls = server
        .app
        .counters
        .plugin_calls
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(calls, 0, "no plugin ran");
}

/// A request head for `path` with `extra` header lines (each ending in `\r\n`).
fn head(path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: hookbox\r\nContent-Type: application/json\r\n{extra}\r\n"
    )
}

/// A whole request for `path`: `extra` header lines, the body's `Content-Length`, the body.
fn raw_post(path: &str, extra: &str, body: &str) -> String {
    head(path, &format!("{extra}Content-Length: {}\r\n", body.len())) + body
}

/// `X-Filler-{i}: {i}` header lines, one for each `i`.
fn fillers(numbers: std::ops::Range<usize>) -> String {
    numbers.map(|i| format!("X-Filler-{i}: {i}\r\n")).collect()
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.addr)
        .await
        .expect("connect to the server")
}

/// What the server sent until it closed the connection, and how long that took. Panics if
/// it is still open after [`BOUND`].
async fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let closed = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&received).into_owned();
    assert!(
        closed.is_ok(),
        "the server kept the connection open; it sent: {text}"
    );
    (text, started.elapsed())
}

/// Catalogue #3: a head sent in part, or not at all, is cut at `header_timeout_ms`; an idle
/// keep-alive connection is closed too, but is not counted as a refusal.
#[tokio::test]
async fn a_stalled_request_head_is_closed_at_the_header_timeout() {
    let server = TestServer::start(&config("header_timeout_ms = 400")).await;

    let mut partial = connect(&server).await;
    partial
        .write_all(b"POST /openim/callbackBeforeSendGroupMsgCommand HTTP/1.1\r\nHost: hookbox\r\nContent-Ty")
        .await
        .unwrap();
    let mut silent = connect(&server).await;
    let ((sent_partial, after_partial), (sent_silent, after_silent)) = tokio::join!(
        read_until_closed(&mut partial),
        read_until_closed(&mut silent)
    );
    for (sent, after) in [(sent_partial, after_partial), (sent_silent, after_silent)] {
        assert_eq!(
            sent, "",
            "nothing is answered to a head that never completed"
        );
        assert!(
            after >= Duration::from_millis(300),
            "closed after {after:?}, before the header timeout"
        );
    }
    assert_refused(&server, "header_timeout", 2).await;

    // A keep-alive connection that finished its request and then idles is closed at the
    // same timeout, without counting as a refusal.
    let mut idle = connect(&server).await;
    let body = openim_text_message(HEALTHY, "hello").to_string();
    let request = raw_post(&format!("/openim/{HEALTHY}"), "", &body);
    idle.write_all(request.as_bytes()).await.unwrap();
    let (answered, _) = read_until_closed(&mut idle).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(answered.ends_with(OPENIM_ALLOW), "{answered}");
    assert_refused(&server, "header_timeout", 2).await;

    assert_healthy(&server).await;
    server.stop().await;
}

/// The header timeout covers only the wait for a request head: a request whose answer takes
/// longer (a slow plugin) is answered, and the idle keep-alive connection is closed a header
/// timeout after that answer, not after the request began.
#[tokio::test]
async fn a_slow_answer_outlasts_the_header_timeout() {
    let server = TestServer::start(&config("header_timeout_ms = 600")).await;
    let mut stream = connect(&server).await;
    let body = openim_text_message(SLOW, "hold").to_string();
    let request = raw_post(&format!("/openim/{SLOW}"), "", &body);
    let started = Instant::now();
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answered, closed_after) = read_until_closed(&mut stream).await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(answered.ends_with(OPENIM_ALLOW), "{answered}");
    let answered_after = Duration::from_millis(SLEEP_MS);
    assert!(
        closed_after >= answered_after + Duration::from_millis(500),
        "closed {closed_after:?} after the request began, before a header timeout had passed since the answer"
    );
    assert!(started.elapsed() < BOUND);
    // Neither the request nor the idle close is a refusal.
    assert_eq!(refused(&server, "header_timeout"), 0);
    assert_healthy(&server).await;
    server.stop().await;
}

/// Catalogue #4 and #2 (declared longer than sent): a body that does not arrive within
/// `request_timeout_ms` gets 408 and the connection is closed.
#[tokio::test]
async fn a_trickled_body_gets_408_and_the_connection_closes() {
    let server = TestServer::start(&healthy_only("request_timeout_ms = 600")).await;
    let mut stream = connect(&server).await;
    let request =
        head(&format!("/openim/{HEALTHY}"), "Content-Length: 1000\r\n") + r#"{"callbackCommand":"#;
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, after) = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    assert!(
        after >= Duration::from_millis(500),
        "answered after {after:?}, before the deadline"
    );
    assert_refused(&server, "request_timeout", 1).await;
    assert_eq!(
        server
            .app
            .counters
            .callbacks
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no plugin ran"
    );
    assert_healthy(&server).await;
    server.stop().await;
}

/// Catalogue #1: a body over `max_body_kb` is refused with 413 without being read to its
/// end: at once when `Content-Length` declares it, and as soon as the cap is passed when it
/// is chunked. Either way the rest is never waited for.
#[tokio::test]
async fn a_body_over_the_cap_is_refused_without_reading_the_rest() {
    let server = TestServer::start(&config("max_body_kb = 64")).await;
    let path = format!("/openim/{HEALTHY}");

    // 50 MB declared, not a byte of it sent: the answer cannot have waited for the body.
    let mut declared = connect(&server).await;
    declared
        .write_all(head(&path, "Content-Length: 52428800\r\n").as_bytes())
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut declared).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"body_too_large""#), "{answer}");

    // Chunked, no length: 64 KiB + 1 byte sent, then the client waits without ending the
    // body. The 413 comes anyway.
    let mut chunked = connect(&server).await;
    let mut request = head(&path, "Transfer-Encoding: chunked\r\n").into_bytes();
    for size in [32 * 1024, 32 * 1024, 1] {
        request.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        request.extend(std::iter::repeat_n(b' ', size));
        request.extend_from_slice(b"\r\n");
    }
    chunked.write_all(&request).await.unwrap();
    let (answer, _) = read_until_closed(&mut chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    assert_refused(&server, "body_too_large", 2).await;
    assert_healthy(&server).await;
    server.stop().await;
}

/// Catalogue #2 (declared shorter than sent): the declared length is the body; what follows
/// is read as the next request, refused as malformed, and the connection is closed.
#[tokio::test]
async fn a_body_longer_than_its_content_length_never_hangs() {
    let server = TestServer::start(&config("")).await;
    let mut stream = connect(&server).await;
    let body = openim_text_message(HEALTHY, "spam").to_string();
    let request = head(&format!("/openim/{HEALTHY}"), "Content-Length: 10\r\n") + &body;
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "the first 10 bytes are not JSON: {answer}"
    );
    assert!(answer.contains(r#""code":"body_not_json""#), "{answer}");
    assert!(
        answer.matches("HTTP/1.1 400").count() == 2,
        "the leftover bytes are a malformed request: {answer}"
    );
    assert_refused(&server, "body_not_json", 1).await;
    assert_refused(&server, "malformed_request", 1).await;
    assert_healthy(&server).await;
    server.stop().await;
}

/// Catalogue #8: more header fields than `max_headers`, or a head over `max_header_kb`,
/// gets 431 and the connection is closed; a request within both is served.
#[tokio::test]
async fn too_many_or_too_large_headers_get_431() {
    let server = TestServer::start(&config("max_headers = 20\nmax_header_kb = 8")).await;
    let path = format!("/openim/{HEALTHY}");
    let body = openim_text_message(HEALTHY, "hello").to_string();

    let many = fillers(0..30);
    let large = format!("X-Large: {}\r\n", "a".repeat(10 * 1024));
    for extra in [many, large] {
        let mut stream = connect(&server).await;
        let request = raw_post(&path, &extra, &body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let (answer, _) = read_until_closed(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    }
    assert_refused(&server, "headers_too_large", 2).await;

    // Within the caps: 15 fields, a 4 KiB one among them.
    let within = fillers(0..12) + &format!("X-Large: {}\r\n", "a".repeat(4 * 1024));
    let mut stream = connect(&server).await;
    let request = raw_post(&path, &(within + "Connection: close\r\n"), &body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(OPENIM_ALLOW), "{answer}");
    assert_healthy(&server).await;
    server.stop().await;

    // The default cap, 100 fields (hyper's own, which the listener then leaves to hyper):
    // 101 get 431, 100 are served.
    let server = TestServer::start(&config("")).await;
    for (fields, status) in [(101, "431"), (100, "200")] {
        // The head already has Host, Content-Type and Content-Length.
        let mut stream = connect(&server).await;
        let request = raw_post(&path, &fillers(3..fields), &body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 12];
        stream.read_exact(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{fields}: {answer}"
        );
    }
    assert_refused(&server, "headers_too_large", 1).await;
    server.stop().await;
}

/// Catalogue #17, #19, #20, #21: bodies that are not JSON the way IM servers send it get 400
/// with a JSON error, and no plugin runs.
#[tokio::test]
async fn malformed_bodies_get_400_and_run_no_plugin() {
    let server = TestServer::start(&config("")).await;
    let command = format!(r#""callbackCommand":"{HEALTHY}""#);
    let bodies: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            format!("{{{command},\"ex\":").into_bytes(),
            "body_not_json",
        ),
        (
            "trailing comma",
            format!("{{{command},}}").into_bytes(),
            "body_not_json",
        ),
        (
            "comment",
            format!("{{{command} /* hi */}}").into_bytes(),
            "body_not_json",
        ),
        (
            "NaN",
            format!("{{{command},\"seq\":NaN}}").into_bytes(),
            "body_not_json",
        ),
        (
            "BOM",
            format!("\u{feff}{{{command}}}").into_bytes(),
            "body_not_json",
        ),
        (
            "lone surrogate",
            format!(r#"{{{command},"ex":"\ud800"}}"#).into_bytes(),
            "body_not_json",
        ),
        (
            "1e400",
            format!("{{{command},\"seq\":1e400}}").into_bytes(),
            "body_not_json",
        ),
        (
            "the command twice",
            format!(r#"{{"callbackCommand":"callbackBeforeSendSingleMsgCommand",{command}}}"#)
                .into_bytes(),
            "duplicate_key",
        ),
        (
            "an identity field twice",
            format!(r#"{{{command},"sendID":"alice","recvID":"bob","sendID":"admin"}}"#)
                .into_bytes(),
            "duplicate_key",
        ),
        (
            "invalid UTF-8",
            [format!("{{{command},\"ex\":\"").as_bytes(), b"\xff\xfe\"}"].concat(),
            "body_not_utf8",
        ),
    ];
    for (what, body, code) in bodies {
        let answer = server.post(&format!("/openim/{HEALTHY}"), &[], body).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
        assert_eq!(answer.json()["code"], code, "{what}");
    }
    assert_no_plugin_ran(&server);
    assert_refused(&server, "body_not_json", 7).await;
    assert_refused(&server, "body_not_utf8", 1).await;
    assert_refused(&server, "duplicate_key", 2).await;
    assert_healthy(&server).await;
    server.stop().await;
}

/// A client whose requests come from `ip` (any 127.0.0.0/8 address is loopback on Linux).
fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(ip))
        .build()
        .expect("a client")
}

async fn post_openim(
    client: &reqwest::Client,
    server: &TestServer,
    command: &str,
    text: &str,
) -> reqwest::Response {
    client
        .post(server.url(&format!("/openim/{command}")))
        .header("content-type", "application/json; charset=utf-8")
        .body(openim_text_message(command, text).to_string())
        .send()
        .await
        .expect("the request reaches the server")
}

/// Wait until `n` webhook requests are in flight.
async fn wait_in_flight(server: &TestServer, n: usize) {
    let line = format!("hookbox_in_flight_requests {n}");
    let started = Instant::now();
    while !server
        .app
        .metrics
        .render(&server.app.registry)
        .lines()
        .any(|l| l == line)
    {
        assert!(started.elapsed() < BOUND, "never reached {n} in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issue #5 item 1: a source over `max_in_flight_per_source` gets 503 with `Retry-After`
/// at once while other sources are served; past `max_in_flight` everyone gets 503; once the
/// held requests finish, the refused source is served again.
#[tokio::test]
async fn in_flight_caps_shed_load_with_503_instead_of_queueing() {
    let server =
        TestServer::start(&config("max_in_flight = 3\nmax_in_flight_per_source = 2")).await;
    let a = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let b = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let c = client_from(Ipv4Addr::new(127, 0, 0, 3));

    let held_by_a = tokio::join!(
        post_openim(&a, &server, SLOW, "hold 1"),
        post_openim(&a, &server, SLOW, "hold 2"),
        async {
            wait_in_flight(&server, 2).await;
            let started = Instant::now();
            let refused = post_openim(&a, &server, HEALTHY, "one too many").await;
            let refused_after = started.elapsed();
            // Another source is not affected by a's share being used up.
            let served = post_openim(&b, &server, HEALTHY, "spam").await;
            (refused, refused_after, served)
        }
    );
    let (hold_1, hold_2, (refused_a, refused_after, served_b)) = held_by_a;
    assert_eq!(refused_a.status(), 503);
    assert_eq!(
        refused_a
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert!(
        refused_after < Duration::from_millis(SLEEP_MS),
        "the refusal waited for a slot ({refused_after:?})"
    );
    let body: serde_json::Value = refused_a.json().await.unwrap();
    assert_eq!(body["code"], "source_overloaded", "{body}");
    assert_eq!(served_b.status(), 200);
    let served: serde_json::Value = served_b.json().await.unwrap();
    assert_eq!(served["errCode"], 5001);
    for held in [hold_1, hold_2] {
        assert_eq!(held.status(), 200);
        assert_eq!(held.text().await.unwrap(), OPENIM_ALLOW);
    }

    // Three held (two by a, one by b): the global cap is full for a third source too.
    let (_, _, _, refused_c) = tokio::join!(
        post_openim(&a, &server, SLOW, "hold 1"),
        post_openim(&a, &server, SLOW, "hold 2"),
        post_openim(&b, &server, SLOW, "hold 3"),
        async {
            wait_in_flight(&server, 3).await;
            post_openim(&c, &server, HEALTHY, "hello").await
        }
    );
    assert_eq!(refused_c.status(), 503);
    let body: serde_json::Value = refused_c.json().await.unwrap();
    assert_eq!(body["code"], "overloaded", "{body}");

    assert_refused(&server, "source_overloaded", 1).await;
    assert_refused(&server, "overloaded", 1).await;
    // Slots are given back: a is served again.
    let again = post_openim(&a, &server, HEALTHY, "spam").await;
    assert_eq!(again.status(), 200);
    assert_healthy(&server).await;
    server.stop().await;
}

/// Catalogue #16: with `server.allow_sources` set, a peer outside it gets 403
/// `source_not_allowed` before its body is read, its connection is closed, and no plugin
/// runs; addresses and networks on the list are served as usual.
#[tokio::test]
async fn a_source_outside_allow_sources_is_refused_before_any_plugin_runs() {
    let server =
        TestServer::start(&config(r#"allow_sources = ["127.0.0.1", "127.0.1.0/24"]"#)).await;
    let stranger = client_from(Ipv4Addr::new(127, 0, 0, 3));
    let started = Instant::now();
    let refused_answer = post_openim(&stranger, &server, SLOW, "spam").await;
    assert!(
        started.elapsed() < Duration::from_millis(SLEEP_MS),
        "the refusal ran the slow plugin"
    );
    assert_eq!(refused_answer.status(), 403);
    assert_eq!(
        refused_answer
            .headers()
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close")
    );
    let body: serde_json::Value = refused_answer.json().await.unwrap();
    assert_eq!(body["code"], "source_not_allowed", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("127.0.0.3"),
        "{body}"
    );
    assert_no_plugin_ran(&server);
    assert_refused(&server, "source_not_allowed", 1).await;

    // Inside the listed network, and the listed address (assert_healthy's own client).
    let member = client_from(Ipv4Addr::new(127, 0, 1, 9));
    let served = post_openim(&member, &server, HEALTHY, "spam").await;
    assert_eq!(served.status(), 200);
    let served: serde_json::Value = served.json().await.unwrap();
    assert_eq!(served["errCode"], 5001, "{served}");
    assert_healthy(&server).await;
    assert_refused(&server, "source_not_allowed", 1).await;
    server.stop().await;
}

/// Catalogue #5 and #6: OpenIM callbacks must be JSON (as OpenIM sends them, charset
/// included) and unencoded; Tencent's undocumented headers are not checked, except that a
/// body may not be compressed.
#[tokio::test]
async fn openim_needs_a_json_content_type_and_no_one_may_compress() {
    let tencent = format!("[tencent]\n[[tencent.app]]\nsdk_app_id = {TENCENT_APP}\n");
    let server = TestServer::start(&(config("") + &tencent)).await;
    let client = reqwest::Client::new();
    let openim_url = server.url(&format!("/openim/{HEALTHY}"));
    let openim_body = openim_text_message(HEALTHY, "hello").to_string();
    let send = |content_type: Option<&'static str>, encoding: Option<&'static str>| {
        let mut request = client.post(&openim_url).body(openim_body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        async move {
            let response = request.send().await.expect("reaches the server");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };

    for accepted in [
        "application/json; charset=utf-8",
        "application/json",
        "Application/JSON;charset=\"UTF-8\"",
        "application/vnd.openim+json",
    ] {
        let (status, body) = send(Some(accepted), None).await;
        assert_eq!((status, body.as_str()), (200, OPENIM_ALLOW), "{accepted}");
    }
    let mut media_refusals = 0;
    for refused_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=latin1"),
    ] {
        let (status, body) = send(refused_type, None).await;
        assert_eq!(status, 415, "{refused_type:?}: {body}");
        assert!(
            body.contains(r#""code":"unsupported_media_type""#),
            "{body}"
        );
        media_refusals += 1;
    }
    let (status, body) = send(Some("application/json"), Some("gzip")).await;
    assert_eq!(status, 415, "{body}");
    assert!(body.contains(r#""code":"unsupported_content_encoding""#));

    let query = tencent_query("Group.CallbackBeforeSendMsg", TENCENT_APP, None, 0);
    let tencent_body = tencent_message("Group.CallbackBeforeSendMsg", "hello").to_string();
    let tencent_url = server.url(&format!("/tencent?{query}"));
    let plain = client
        .post(&tencent_url)
        .header("content-type", "text/plain")
        .body(tencent_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.text().await.unwrap(), TENCENT_ALLOW);
    let gzip = client
        .post(&tencent_url)
        .header("content-encoding", "gzip")
        .body(tencent_body)
        .send()
        .await
        .unwrap();
    assert_eq!(gzip.status(), 415);

    assert_refused(&server, "unsupported_media_type", media_refusals).await;
    assert_refused(&server, "unsupported_content_encoding", 2).await;
    assert_healthy(&server).await;
    server.stop().await;
}

/// Catalogue #7: a callback path with another method gets a JSON 405 naming POST; a path
/// that is no endpoint gets a JSON 404; neither looks anything up by the attacker's name.
#[tokio::test]
async fn wrong_methods_and_paths_get_json_405_and_404() {
    let server = TestServer::start(&config("")).await;
    let client = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::PUT] {
        let response = client
            .request(method.clone(), server.url(&format!("/openim/{HEALTHY}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some("POST")
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "method_not_allowed");
    }
    for path in ["/", "/openim/a/b", "/hooks/../../etc/passwd", "/tencent"] {
        let answer = server.post(path, &[], "{}").await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        assert_eq!(answer.json()["code"], "not_found", "{path}");
    }
    assert_refused(&server, "method_not_allowed", 2).await;
    assert_refused(&server, "not_found", 4).await;
    assert_healthy(&server).await;
    server.stop().await;
}

/// Catalogue #3 (connection caps): past `max_connections`, a new connection waits in the
/// accept queue until an open one closes, here by the header timeout.
#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let server = TestServer::start(&config(
        "max_connections = 2\nmax_in_flight = 2\nmax_in_flight_per_source = 2\nheader_timeout_ms = 800",
    ))
    .await;
    let _silent = [connect(&server).await, connect(&server).await];
    // Let the server accept both before the real request connects.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let answer = server
        .openim(HEALTHY, &openim_text_message(HEALTHY, "spam"))
        .await;
    assert_eq!(answer.json()["errCode"], 5001, "{}", answer.body);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "answered after {:?}, while both connections were still open",
        started.elapsed()
    );
    server.stop().await;
}

/// Shutdown stops accepting, but a request already in flight is finished first.
#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let server = TestServer::start(&config("")).await;
    let client = reqwest::Client::new();
    let addr = server.addr;
    let in_flight = {
        let client = client.clone();
        let url = server.url(&format!("/openim/{SLOW}"));
        tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .body(openim_text_message(SLOW, "hold").to_string())
                .send()
                .await
                .expect("answered despite the shutdown")
        })
    };
    wait_in_flight(&server, 1).await;
    server.stop().await;
    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), OPENIM_ALLOW);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}
