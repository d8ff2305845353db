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

/// Where `plugins/build-languages.sh` puts the JavaScript, Python, Go and C example plugins
/// (`welcome.wasm`, `pii-mask.wasm`, `group-allowlist.wasm`, `length-limit.wasm`). `build.rs`
/// does not build them: they need toolchains from `.ci/install-languages.sh`.
pub fn languages_dir() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests
        .parent()
        .unwrap_or(tests)
        .join("plugins/target/languages")
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
    /// `ETag` header, if any.
    pub etag: Option<String>,
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
        TestServer::start_with_secrets(config_text, &[]).await
    }

    /// Like [`TestServer::start`], with `secrets` standing in for the environment variables
    /// the config names (Tencent tokens).
    pub async fn start_with_secrets(config_text: &str, secrets: &[(&str, &str)]) -> TestServer {
        let registry = Arc::new(Registry::new(shared_runtime()));
        TestServer::start_on(registry, config_text, secrets).await
    }

    /// Like [`TestServer::start_with_secrets`], on a registry the caller made (e.g. with a
    /// compiled cache and a longer compile timeout for JS/Python components).
    pub async fn start_on(
        registry: Arc<Registry>,
        config_text: &str,
        secrets: &[(&str, &str)],
    ) -> TestServer {
        let config =
            Config::parse(config_text, Path::new("test.toml")).expect("test config is valid");
        registry
            .load_all(&config.plugins, plugin_dir())
            .await
            .expect("test plugins load");
        let secret = |var: &str| {
            secrets
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        };
        let app = App::new(&config, registry, &secret).expect("test config's secrets resolve");
        TestServer::serve(&config, app).await
    }

    /// Serve `app`'s webhook router on a fresh `127.0.0.1:0` listener.
    async fn serve(config: &Config, app: Arc<App>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let router = app.router(config);
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
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type");
    let etag = header("etag");
    let body = response.text().await.expect("body is readable");
    Answer {
        status,
        content_type,
        body,
        elapsed: started.elapsed(),
        etag,
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

/// The exact allow envelope Tencent expects.
pub const TENCENT_ALLOW: &str = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#;

/// The SDKAppID the Tencent tests configure.
pub const TENCENT_APP: u64 = 1_400_000_000;

/// Seconds since the Unix epoch, as Tencent's `RequestTime`.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The query string Tencent appends to the callback URL, signed with `token` at
/// `request_time` when a token is given.
pub fn tencent_query(command: &str, app: u64, token: Option<&str>, request_time: i64) -> String {
    let mut query = format!(
        "SdkAppid={app}&CallbackCommand={command}&contenttype=json&ClientIP=203.0.113.7&OptPlatform=iOS"
    );
    if let Some(token) = token {
        let time = request_time.to_string();
        let sign = hookbox_dialects::tencent::sign(token, &time);
        query.push_str(&format!("&Sign={sign}&RequestTime={time}"));
    }
    query
}

/// A Tencent before/after-send message body with a text element followed by a custom one.
pub fn tencent_message(command: &str, text: &str) -> serde_json::Value {
    let mut body = serde_json::json!({
        "CallbackCommand": command,
        "From_Account": "jared",
        "Operator_Account": "admin",
        "Random": 123456,
        "MsgBody": [
            { "MsgType": "TIMTextElem", "MsgContent": { "Text": text } },
            { "MsgType": "TIMCustomElem", "MsgContent": { "Data": "message", "Desc": "notification", "Ext": "url", "Sound": "dingdong.aiff" } }
        ],
        "CloudCustomData": "your cloud custom data",
        "EventTime": "1670574414123",
    });
    let object = body.as_object_mut().expect("an object");
    if command.starts_with("Group.") {
        object.insert("GroupId".into(), "@TGS#2J4SZEAEL".into());
        object.insert("Type".into(), "Public".into());
        object.insert("MsgSeq".into(), 123.into());
        object.insert("MsgTime".into(), 1_490_686_222.into());
    } else {
        object.insert("To_Account".into(), "Jonh".into());
        object.insert("MsgSeq".into(), 48374.into());
        object.insert("MsgRandom".into(), 2_837_546.into());
        object.insert("MsgTime".into(), 1_557_481_126.into());
        object.insert("MsgKey".into(), "48374_2837546_1557481126".into());
    }
    body
}

/// The admin token the admin-API tests use.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// A fresh, empty directory under the system temp dir for one test's `data_dir`.
pub fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("hookbox-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// The bytes of the plugin crate `crate_name`'s component.
pub fn plugin_bytes(crate_name: &str) -> Vec<u8> {
    std::fs::read(plugin_path(crate_name)).expect("the plugin was built")
}

/// The stores an [`AdminServer`] runs with: a kv store for plugins granted `grants.kv`, and a
/// queue through which after-callbacks reach `delivery = "queued"` plugins (consumers
/// included). Neither by default: no kv, and after-callbacks run before the answer.
#[derive(Debug, Default)]
pub struct Stores {
    /// The key-value store.
    pub kv: Option<hookbox_kv::KvStore>,
    /// The after-callback queue.
    pub queue: Option<hookbox_queue::Queue>,
}

/// A hookbox with the admin API: the webhook server, plus the admin listener on another
/// `127.0.0.1:0` port, with `data_dir` in a directory the test owns.
pub struct AdminServer {
    /// The webhook side.
    pub webhooks: TestServer,
    /// Where the admin API listens.
    pub admin_addr: SocketAddr,
    /// The admin API's state (and through it, the registry).
    pub admin: Arc<hookbox_server::Admin>,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    consumers: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl AdminServer {
    /// Start from config text (plugin sources relative to [`plugin_dir`]) with `data_dir`,
    /// the way `hookbox serve` does: registry from the store, plugins loaded, admin ready.
    pub async fn start(config_text: &str, data_dir: &Path) -> AdminServer {
        AdminServer::try_start(config_text, data_dir)
            .await
            .expect("the admin test server starts")
    }

    /// Like [`AdminServer::start`], but a registry error (e.g. a bad persisted state) is
    /// returned instead of panicking.
    pub async fn try_start(
        config_text: &str,
        data_dir: &Path,
    ) -> Result<AdminServer, hookbox_registry::RegistryError> {
        AdminServer::try_start_with(config_text, data_dir, Stores::default()).await
    }

    /// Like [`AdminServer::start`], with `stores`: plugins get kv from `stores.kv`, and with
    /// `stores.queue` after-callbacks go through the queue and its consumers run until the
    /// server stops, the way `hookbox serve` runs them.
    pub async fn start_with(config_text: &str, data_dir: &Path, stores: Stores) -> AdminServer {
        AdminServer::try_start_with(config_text, data_dir, stores)
            .await
            .expect("the admin test server starts")
    }

    async fn try_start_with(
        config_text: &str,
        data_dir: &Path,
        stores: Stores,
    ) -> Result<AdminServer, hookbox_registry::RegistryError> {
        let config =
            Config::parse(config_text, Path::new("test.toml")).expect("test config is valid");
        let store = hookbox_registry::Store::open(data_dir)?;
        let options = hookbox_registry::RegistryOptions {
            store: Some(store),
            compile_timeout: Duration::from_millis(config.server.compile_timeout_ms),
            kv: stores.kv,
            kv_op_timeout: Duration::from_millis(config.kv.op_timeout_ms),
            ..hookbox_registry::RegistryOptions::default()
        };
        let registry = Arc::new(Registry::open(shared_runtime(), options)?);
        let admin = hookbox_server::Admin::new(
            registry.clone(),
            Some(ADMIN_TOKEN),
            config.server.admin_max_body_mb << 20,
        )
        .expect("the test token is strong enough");
        let admin_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let admin_addr = admin_listener.local_addr().expect("bound address");
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(hookbox_server::serve(
            admin_listener,
            admin.router(),
            async {
                let _ = stop.await;
            },
        ));
        registry.load_all(&config.plugins, plugin_dir()).await?;
        admin.set_ready();
        let no_secrets = |_: &str| None;
        let app = match stores.queue {
            None => App::new(&config, registry, &no_secrets),
            Some(queue) => {
                admin.serve_queue(queue.clone());
                App::with_queue(&config, registry, &no_secrets, queue)
            }
        }
        .expect("no secrets needed");
        admin.export_metrics(app.metrics.clone());
        let consumers = app.delivery.clone().map(|delivery| {
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(delivery.run(async {
                let _ = stopped.await;
            }));
            (stop, task)
        });
        let webhooks = TestServer::serve(&config, app).await;
        Ok(AdminServer {
            webhooks,
            admin_addr,
            admin,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            task: Some(task),
            consumers,
        })
    }

    /// The registry serving the webhooks.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.admin.registry
    }

    /// An admin request with the right token.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        self.call_as(Some(ADMIN_TOKEN), method, path, content_type, body)
            .await
    }

    /// An admin request with the test token and more headers (`(name, value)` pairs).
    pub async fn call_with_headers(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        self.request(Some(ADMIN_TOKEN), method, path, None, headers, body)
            .await
    }

    /// An admin request with `token` (`None`: no `Authorization` header).
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        self.request(token, method, path, content_type, &[], body)
            .await
    }

    async fn request(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("http://{}{}", self.admin_addr, path))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let started = Instant::now();
        let response = request.send().await.expect("request reaches the admin API");
        answer(response, started).await
    }

    /// `PUT /plugins/{name}` with `bytes` as `application/wasm`.
    pub async fn put(&self, name: &str, bytes: Vec<u8>) -> Answer {
        self.call(
            reqwest::Method::PUT,
            &format!("/plugins/{name}"),
            Some("application/wasm"),
            bytes,
        )
        .await
    }

    /// `GET /plugins/{name}` as JSON (panics unless 200).
    pub async fn plugin(&self, name: &str) -> serde_json::Value {
        let answer = self
            .call(reqwest::Method::GET, &format!("/plugins/{name}"), None, "")
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()
    }

    /// Stop both listeners, draining in-flight requests. (Dropping the server stops it
    /// too: the listeners end when their shutdown senders are dropped.)
    pub async fn stop(self) {
        let AdminServer {
            webhooks,
            shutdown,
            task,
            consumers,
            ..
        } = self;
        drop(shutdown);
        if let Some(task) = task {
            task.await
                .expect("admin task")
                .expect("admin server exits cleanly");
        }
        webhooks.stop().await;
        if let Some((stop, task)) = consumers {
            drop(stop);
            task.await.expect("the consumers stop cleanly");
        }
    }
}

/// `component` with a custom section named `tag` appended: the same plugin under another
/// sha256, for tests that must compile rather than share code another test has loaded
/// (plugins loaded from the same bytes share one compiled component).
pub fn distinct_copy(component: &[u8], tag: &str) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb128(tag.len(), &mut payload);
    payload.extend_from_slice(tag.as_bytes());
    let mut copy = component.to_vec();
    copy.push(0); // custom section id
    leb128(payload.len(), &mut copy);
    copy.extend_from_slice(&payload);
    copy
}
