//! The harness for hookbox's end-to-end tests: the real server on `127.0.0.1:0`, a real HTTP
//! client, and the real plugins that `build.rs` compiled from `plugins/`.
//!
//! The tests themselves live in `tests/all/` (one binary, one module per area).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hookbox_registry::Registry;
use hookbox_runtime::{Runtime, RuntimeConfig};
use hookbox_server::{App, Config};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where `build.rs` put the plugin components.
pub fn plugin_dir() -> &'static Path {
    Path::new(env!("HOOKBOX_PLUGIN_DIR"))
}

/// The component of the plugin crate `crate_name` (e.g. `keyword-filter`).
pub fn plugin_path(crate_name: &str) -> PathBuf {
    plugin_dir().join(format!("{}.wasm", crate_name.replace('-', "_")))
}

/// One runtime for the whole test binary: an engine reserves address space for its pool,
/// so tests share one instead of each making their own.
pub fn shared_runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let config = RuntimeConfig {
                max_concurrent_calls: 200,
                ..RuntimeConfig::default()
            };
            Arc::new(Runtime::new(config).expect("the test runtime starts"))
        })
        .clone()
}

/// A hookbox server running in this process on a real socket.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (counters, registry).
    pub app: Arc<App>,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// An HTTP answer, with the time it took.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body as text.
    pub body: String,
    /// Time from sending to the full body.
    pub elapsed: Duration,
}

impl Answer {
    /// The body parsed as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// The exact allow envelope OpenIM expects.
pub const OPENIM_ALLOW: &str =
    r#"{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}"#;

impl TestServer {
    /// Start a server from config text; plugin `source`s are relative to [`plugin_dir`].
    pub async fn start(config_text: &str) -> TestServer {
        let config =
            Config::parse(config_text, Path::new("test.toml")).expect("test config is valid");
        let registry = Arc::new(Registry::new(shared_runtime()));
        registry
            .load_all(&config.plugins, plugin_dir())
            .await
            .expect("test plugins load");
        let app = App::new(&config, registry);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let router = app.router(&config);
        let task = tokio::spawn(hookbox_server::serve(listener, router, async {
            let _ = stop.await;
        }));
        TestServer {
            addr,
            app,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// `http://addr{path}`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// POST `body` to `path_and_query` with `headers`.
    pub async fn post(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self
            .client
            .post(self.url(path_and_query))
            .header("content-type", "application/json; charset=utf-8");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let started = Instant::now();
        let response = request
            .body(body)
            .send()
            .await
            .expect("request reaches the server");
        answer(response, started).await
    }

    /// POST an OpenIM callback to `/openim/{command}` the way OpenIM does.
    pub async fn openim(&self, command: &str, body: &serde_json::Value) -> Answer {
        let mut text = serde_json::to_string(body).expect("serialisable");
        text.push('\n'); // Go's json.Encoder ends every body with a newline.
        self.post(
            &format!("/openim/{command}"),
            &[("operationID", "op-test-1")],
            text,
        )
        .await
    }

    /// Any request, for methods other than POST.
    pub async fn request(&self, method: reqwest::Method, path: &str) -> Answer {
        let started = Instant::now();
        let response = self
            .client
            .request(method, self.url(path))
            .send()
            .await
            .expect("request reaches the server");
        answer(response, started).await
    }

    /// Stop accepting, drain in-flight requests, and wait for the server to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server exits cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn answer(response: reqwest::Response, started: Instant) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.expect("body is readable");
    Answer {
        status,
        content_type,
        body,
        elapsed: started.elapsed(),
    }
}

/// A realistic OpenIM message callback body (CommonCallbackReq + recvID or groupID), as
/// OpenIM main sends it for a text message.
pub fn openim_text_message(command: &str, text: &str) -> serde_json::Value {
    let content = serde_json::json!({ "content": text }).to_string();
    let mut body = serde_json::json!({
        "sendID": "user-alice",
        "callbackCommand": command,
        "serverMsgID": "srv-7f3a",
        "clientMsgID": "cli-91bc",
        "operationID": "op-test-1",
        "senderPlatformID": 2,
        "senderNickname": "Alice",
        "sessionType": 1,
        "msgFrom": 100,
        "contentType": 101,
        "status": 1,
        "sendTime": 1_767_225_600_123_i64,
        "createTime": 1_767_225_600_100_i64,
        "content": content,
        "seq": 0,
        "atUserList": null,
        "faceURL": "https://example.com/alice.png",
        "ex": "",
    });
    let object = body.as_object_mut().expect("an object");
    if command.contains("Group") {
        object.insert("sessionType".into(), 3.into());
        object.insert("groupID".into(), "group-42".into());
    } else if !command.contains("MsgModify") {
        object.insert("recvID".into(), "user-bob".into());
    }
    body
}
