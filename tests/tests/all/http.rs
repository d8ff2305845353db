//! Outbound HTTP (`wasi:http/outgoing-handler`) through the registry's grants: `message-archive`
//! posting to a sink this test runs on `127.0.0.1:0`, and every way the host refuses or cuts a
//! request: a host outside `grants.outbound_hosts`, a loopback address without
//! `grants.allow_private`, a missing grant at load, a stalled endpoint, an oversized answer,
//! too many requests at once. Each refused request must leave the sink untouched.
//!
//! The callbacks go through the real server; what the plugin was told comes from calling the
//! same loaded plugin, with the capabilities the registry gave it, through the runtime.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookbox_model::{DialectKind, Event};
use hookbox_registry::{Registry, RegistryError, RegistryOptions, SecretSource};
use hookbox_runtime::InvokeError;
use hookbox_tests::{
    OPENIM_ALLOW, TENCENT_ALLOW, TENCENT_APP, TestServer, openim_text_message, plugin_dir,
    shared_runtime, tencent_message, tencent_query, unix_now,
};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const AFTER_GROUP: &str = "callbackAfterSendGroupMsgCommand";
const AFTER_SINGLE: &str = "callbackAfterSendSingleMsgCommand";
const TENCENT_AFTER_GROUP: &str = "Group.CallbackAfterSendMsg";
const API_KEY_VAR: &str = "ARCHIVE_API_KEY";
const API_KEY: &str = "archive-key-7f3a";
const TOKEN_VAR: &str = "HOOKBOX_TEST_TENCENT_TOKEN";
const TOKEN: &str = "xxxxyyyy-test-token";

/// What the sink answers.
#[derive(Debug, Clone, Copy)]
enum Reply {
    /// `204 No Content` at once.
    Accept,
    /// Nothing, for a minute.
    Stall,
    /// `200` with this many bytes, streamed in 64 KiB chunks without a `Content-Length`.
    Stream(usize),
    /// `200` with this many bytes and a `Content-Length` saying so.
    Sized(usize),
    /// `302` to another path of the sink.
    Redirect,
}

/// One request the sink received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

/// An HTTP server on `127.0.0.1:0` that records every request and answers as told.
struct Sink {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Sink {
    async fn start(reply: Reply) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let addr = listener.local_addr().expect("sink address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(request, log.clone(), reply));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Sink {
            addr,
            received,
            task,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("sink log").clone()
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type SinkBody = Either<Full<Bytes>, Chunks>;

async fn answer(
    request: Request<Incoming>,
    log: Arc<Mutex<Vec<Received>>>,
    reply: Reply,
) -> Result<Response<SinkBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    log.lock().expect("sink log").push(Received {
        method: parts.method.to_string(),
        path: parts.uri.to_string(),
        headers: parts.headers,
        body,
    });
    let response = match reply {
        Reply::Accept => Response::builder()
            .status(204)
            .body(Either::Left(Full::new(Bytes::new()))),
        Reply::Stall => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Response::builder()
                .status(204)
                .body(Either::Left(Full::new(Bytes::new())))
        }
        Reply::Stream(size) => Response::builder()
            .status(200)
            .body(Either::Right(Chunks { left: size })),
        Reply::Sized(size) => Response::builder()
            .status(200)
            .body(Either::Left(Full::new(Bytes::from(vec![b'x'; size])))),
        Reply::Redirect => Response::builder()
            .status(302)
            .header("location", "/moved")
            .body(Either::Left(Full::new(Bytes::new()))),
    };
    Ok(response.expect("a valid response"))
}

/// A body of `left` bytes of unknown length (sent chunked).
struct Chunks {
    left: usize,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(64 << 10);
        self.left -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
    }
}

/// A registry whose secrets come from a table instead of the environment.
fn registry() -> Arc<Registry> {
    let options = RegistryOptions {
        secrets: SecretSource::from_fn(|name| (name == API_KEY_VAR).then(|| API_KEY.to_owned())),
        ..RegistryOptions::default()
    };
    Arc::new(Registry::open(shared_runtime(), options).expect("the registry opens"))
}

/// `message-archive` posting to `endpoint`, with `grants` added to its config and secret.
fn archive(endpoint: &str, grants: &str, timeout_ms: u64) -> String {
    format!(
        r#"
[[plugin]]
name = "message-archive"
source = "message_archive.wasm"
commands = ["{AFTER_SINGLE}", "{AFTER_GROUP}", "{TENCENT_AFTER_GROUP}"]
limits = {{ timeout_ms = {timeout_ms} }}
grants = {{ config = {{ endpoint = "{endpoint}" }}, secrets = {{ api_key = "{API_KEY_VAR}" }}{grants} }}
"#
    )
}

async fn start(registry: &Arc<Registry>, plugins: &str) -> TestServer {
    let tencent = format!(
        "[tencent]\npath = \"/tencent\"\n\n[[tencent.app]]\nsdk_app_id = {TENCENT_APP}\ntoken_env = \"{TOKEN_VAR}\"\n"
    );
    TestServer::start_on(
        registry.clone(),
        &(tencent + plugins),
        &[(TOKEN_VAR, TOKEN)],
    )
    .await
}

/// Send OpenIM's after-send group callback; the answer is always the allow envelope.
async fn after_send(server: &TestServer) -> hookbox_tests::Answer {
    let answer = server
        .openim(AFTER_GROUP, &openim_text_message(AFTER_GROUP, "hello"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, OPENIM_ALLOW);
    answer
}

/// Call the loaded `message-archive` directly, with the capabilities and limits the
/// registry gave it, and return what it answered.
async fn plugin_answer(registry: &Registry) -> Result<(), InvokeError> {
    let entry = registry
        .snapshot()
        .plugin("message-archive")
        .expect("message-archive is loaded")
        .clone();
    let event = Event {
        dialect: DialectKind::Openim,
        command: AFTER_GROUP.to_owned(),
        payload: openim_text_message(AFTER_GROUP, "hello").to_string(),
        metadata: vec![("operationID".into(), "op-http".into())],
    };
    shared_runtime()
        .invoke(&entry.plugin, &event, &entry.capabilities, &entry.limits)
        .await
        .map(|_| ())
}

/// Wait (up to 5 s) until `done`: the server's answer to an after-callback need not wait for
/// the plugin, so what the plugin did is awaited, not assumed.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(5), "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Plugin failures the server has counted.
fn failures(server: &TestServer) -> u64 {
    server.app.counters.plugin_failures.load(Ordering::Relaxed)
}

fn plugin_error(result: Result<(), InvokeError>) -> String {
    match result {
        Err(InvokeError::Plugin(message)) => message,
        other => panic!("expected the plugin to fail with its own error, got {other:?}"),
    }
}

#[tokio::test]
async fn message_archive_delivers_the_exact_record_with_the_secret_header() {
    let sink = Sink::start(Reply::Accept).await;
    let port = sink.port();
    let registry = registry();
    let grants = format!(r#", outbound_hosts = ["http://127.0.0.1:{port}"], allow_private = true"#);
    let server = start(
        &registry,
        &archive(
            &format!("http://127.0.0.1:{port}/archive?v=1"),
            &grants,
            2000,
        ),
    )
    .await;

    after_send(&server).await;
    let body = tencent_message(TENCENT_AFTER_GROUP, "hi there");
    let query = tencent_query(TENCENT_AFTER_GROUP, TENCENT_APP, Some(TOKEN), unix_now());
    let answer = server
        .post(&format!("/tencent?{query}"), &[], body.to_string())
        .await;
    assert_eq!(answer.body, TENCENT_ALLOW);

    eventually("the sink received both records", || {
        sink.received().len() >= 2
    })
    .await;
    let received = sink.received();
    assert_eq!(received.len(), 2, "{received:?}");
    for request in &received {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/archive?v=1");
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(
            header("authorization"),
            Some(format!("Bearer {API_KEY}").as_str())
        );
        assert_eq!(header("content-type"), Some("application/json"));
        assert_eq!(header("host"), Some(format!("127.0.0.1:{port}").as_str()));
    }
    let records: Vec<Value> = received
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("the record is JSON"))
        .collect();
    assert_eq!(
        records,
        [
            json!({
                "server": "openim",
                "command": AFTER_GROUP,
                "from": "user-alice",
                "group": "group-42",
                "text": "hello",
                "time": 1_767_225_600_123_i64,
                "message_id": "cli-91bc",
            }),
            json!({
                "server": "tencent",
                "command": TENCENT_AFTER_GROUP,
                "from": "jared",
                "group": "@TGS#2J4SZEAEL",
                "text": "hi there",
                "time": 1_490_686_222_000_i64,
                "message_id": null,
            }),
        ]
    );
    assert_eq!(failures(&server), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_host_outside_the_allowlist_is_refused_and_the_sink_hears_nothing() {
    let sink = Sink::start(Reply::Accept).await;
    let registry = registry();
    let grants = r#", outbound_hosts = ["https://archive.example.com", "http://127.0.0.2:1"], allow_private = true"#;
    let server = start(
        &registry,
        &archive(
            &format!("http://127.0.0.1:{}/archive", sink.port()),
            grants,
            2000,
        ),
    )
    .await;

    after_send(&server).await;
    eventually("the plugin failed", || failures(&server) >= 1).await;
    let error = plugin_error(plugin_answer(&registry).await);
    assert!(error.contains("grants.outbound_hosts"), "{error}");
    assert!(sink.received().is_empty(), "{:?}", sink.received());
    server.stop().await;
}

#[tokio::test]
async fn loopback_is_refused_without_allow_private_by_name_and_by_address() {
    let sink = Sink::start(Reply::Accept).await;
    let port = sink.port();
    for host in ["localhost", "127.0.0.1"] {
        let registry = registry();
        let grants = format!(r#", outbound_hosts = ["http://{host}:{port}"]"#);
        let server = start(
            &registry,
            &archive(&format!("http://{host}:{port}/archive"), &grants, 2000),
        )
        .await;
        after_send(&server).await;
        eventually("the plugin failed", || failures(&server) >= 1).await;
        let error = plugin_error(plugin_answer(&registry).await);
        assert!(error.contains("grants.allow_private"), "{host}: {error}");
        server.stop().await;
    }
    assert!(sink.received().is_empty(), "{:?}", sink.received());
}

#[tokio::test]
async fn a_component_importing_wasi_http_without_outbound_hosts_is_refused_at_load() {
    let registry = registry();
    let config = hookbox_server::Config::parse(
        &archive("http://127.0.0.1:9/archive", "", 2000),
        Path::new("t.toml"),
    )
    .expect("the config parses");
    let err = registry
        .load_all(&config.plugins, plugin_dir())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RegistryError::NotGranted { grant: "grants.outbound_hosts", import, .. }
                if import.starts_with("wasi:http/")
        ),
        "{err}"
    );
    assert!(registry.snapshot().plugins().is_empty());

    // The grant's knobs are refused without the grant itself, when the config is checked.
    let config = hookbox_server::Config::parse(
        &archive("http://127.0.0.1:9/archive", ", allow_private = true", 2000),
        Path::new("t.toml"),
    );
    let err = match config {
        Err(e) => e.to_string(),
        Ok(config) => registry
            .load_all(&config.plugins, plugin_dir())
            .await
            .expect_err("allow_private alone is refused")
            .to_string(),
    };
    assert!(
        err.contains("only applies with grants.outbound_hosts"),
        "{err}"
    );
}

#[tokio::test]
async fn a_stalled_endpoint_times_out_for_the_plugin_and_the_host_answers_in_time() {
    let sink = Sink::start(Reply::Stall).await;
    let port = sink.port();
    let registry = registry();
    let grants = format!(r#", outbound_hosts = ["http://127.0.0.1:{port}"], allow_private = true"#);
    let server = start(
        &registry,
        &archive(&format!("http://127.0.0.1:{port}/archive"), &grants, 1000),
    )
    .await;

    let answer = after_send(&server).await;
    assert!(
        answer.elapsed < Duration::from_millis(1500),
        "answered after {:?}",
        answer.elapsed
    );
    // The request was cut before the call's deadline: the plugin saw a timeout and failed
    // on its own, it was not stopped by the host.
    eventually("the plugin failed", || failures(&server) >= 1).await;
    let started = Instant::now();
    let error = plugin_error(plugin_answer(&registry).await);
    assert!(error.contains("timed out"), "{error}");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert!(
        sink.received().len() >= 2,
        "the sink got both, then stalled"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_response_over_max_response_kb_is_an_error_to_the_plugin() {
    // A Content-Length over the cap is refused before the body is read; a body of unknown
    // length fails while the plugin reads it, when it passes the cap.
    for (reply, told) in [
        (Reply::Sized(2 << 20), "larger than grants.max_response_kb"),
        (
            Reply::Stream(4 << 20),
            "response body size exceeds limit: 65536 bytes",
        ),
    ] {
        let sink = Sink::start(reply).await;
        let port = sink.port();
        let registry = registry();
        let grants = format!(
            r#", outbound_hosts = ["http://127.0.0.1:{port}"], allow_private = true, max_response_kb = 64"#
        );
        let server = start(
            &registry,
            &archive(&format!("http://127.0.0.1:{port}/archive"), &grants, 5000),
        )
        .await;
        let answer = after_send(&server).await;
        assert!(answer.elapsed < Duration::from_secs(5), "{reply:?}");
        let error = plugin_error(plugin_answer(&registry).await);
        assert!(error.contains(told), "{reply:?}: {error}");
        eventually("the plugin failed", || failures(&server) >= 1).await;
        // Nothing of the refused body stays behind: the request's slot is free again.
        let entry = registry
            .snapshot()
            .plugin("message-archive")
            .unwrap()
            .clone();
        let http = entry.capabilities.http.as_ref().expect("granted");
        assert_eq!(http.in_flight(), 0, "{reply:?}");
        server.stop().await;
    }
}

#[tokio::test]
async fn a_request_over_max_concurrent_requests_fails_at_once() {
    let sink = Sink::start(Reply::Stall).await;
    let port = sink.port();
    let registry = registry();
    let grants = format!(
        r#", outbound_hosts = ["http://127.0.0.1:{port}"], allow_private = true, max_concurrent_requests = 1"#
    );
    let server = start(
        &registry,
        &archive(&format!("http://127.0.0.1:{port}/archive"), &grants, 1000),
    )
    .await;

    let first = tokio::spawn({
        let registry = registry.clone();
        async move { plugin_answer(&registry).await }
    });
    // Wait until the first request holds the plugin's one slot (the sink has it).
    eventually("the first request reached the sink", || {
        !sink.received().is_empty()
    })
    .await;
    let started = Instant::now();
    let error = plugin_error(plugin_answer(&registry).await);
    assert!(error.contains("grants.max_concurrent_requests"), "{error}");
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "refused at once, not after waiting: {:?}",
        started.elapsed()
    );
    let first = plugin_error(first.await.expect("the first call ran"));
    assert!(first.contains("timed out"), "{first}");
    assert_eq!(sink.received().len(), 1, "the second request never left");
    server.stop().await;
}

#[tokio::test]
async fn a_redirect_reaches_the_plugin_and_is_not_followed() {
    let sink = Sink::start(Reply::Redirect).await;
    let port = sink.port();
    let registry = registry();
    let grants = format!(r#", outbound_hosts = ["http://127.0.0.1:{port}"], allow_private = true"#);
    let server = start(
        &registry,
        &archive(&format!("http://127.0.0.1:{port}/archive"), &grants, 2000),
    )
    .await;
    let error = plugin_error(plugin_answer(&registry).await);
    assert!(error.contains("answered 302"), "{error}");
    let paths: Vec<String> = sink.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/archive"], "the Location was not requested");
    server.stop().await;
}

#[tokio::test]
async fn https_goes_through_tls_and_fails_closed_on_a_peer_that_does_not_speak_it() {
    // The sink speaks plain HTTP: the TLS handshake with it fails, by address and by name
    // (the name is the SNI and the certificate name), and no request is sent in clear.
    let sink = Sink::start(Reply::Accept).await;
    let port = sink.port();
    for host in ["127.0.0.1", "localhost"] {
        let registry = registry();
        let grants =
            format!(r#", outbound_hosts = ["https://{host}:{port}"], allow_private = true"#);
        let server = start(
            &registry,
            &archive(&format!("https://{host}:{port}/archive"), &grants, 2000),
        )
        .await;
        let error = plugin_error(plugin_answer(&registry).await);
        assert!(error.contains("Tls"), "{host}: {error}");
        server.stop().await;
    }
    assert!(sink.received().is_empty(), "{:?}", sink.received());
}
