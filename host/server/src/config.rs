//! `hookbox.toml`: the server's settings and its plugins.
//!
//! Every table rejects unknown keys. Errors name the file, and the line and key where the
//! TOML parser can point at them (syntax, unknown keys, wrong types); checks that need the
//! whole file (plugin names, limits, paths) name the file, the plugin and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hookbox_registry::PluginManifest;
use serde::{Deserialize, Serialize};

mod sources;
mod storage;

pub use sources::SourceNetwork;
pub(crate) use sources::source_allowed;
pub use storage::{Backend, KvConfig, QueueSettings, RedisUrl};

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and request settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// The OpenIM webhook endpoint.
    #[serde(default)]
    pub openim: OpenImConfig,
    /// The Tencent Cloud Chat webhook endpoint; absent = not served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tencent: Option<TencentConfig>,
    /// Where plugins' key-value buckets live.
    #[serde(default)]
    pub kv: KvConfig,
    /// The durable queue of after-callbacks.
    #[serde(default)]
    pub queue: QueueSettings,
    /// Where traces go besides the log.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The plugins, as `[[plugin]]` tables.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<PluginManifest>,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the webhook listener binds.
    pub listen: SocketAddr,
    /// Largest request body accepted, in KiB.
    pub max_body_kb: usize,
    /// Address of the admin API; none = no admin API. Needs `HOOKBOX_ADMIN_TOKEN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<SocketAddr>,
    /// Largest admin API request body (a component upload), in MiB.
    pub admin_max_body_mb: usize,
    /// hookbox's own state: admin changes, kept versions, compiled cache. Relative to the
    /// config file; must be writable by hookbox alone.
    pub data_dir: PathBuf,
    /// Longest a plugin version may take to compile before it is refused, in milliseconds.
    pub compile_timeout_ms: u64,
    /// Reload plugins whose `source` file changes, and the config file when it changes.
    pub watch: bool,
    /// A connection that has not sent a complete request head (request line and headers)
    /// within this many milliseconds is closed. Also closes idle keep-alive connections.
    pub header_timeout_ms: u64,
    /// Everything after the head — reading the body, running the plugins, answering — ends
    /// within this many milliseconds: a body still arriving gets 408, a plugin still running
    /// gets its `on_error` answer.
    pub request_timeout_ms: u64,
    /// Most header fields one request may carry; more gets 431.
    pub max_headers: usize,
    /// Largest request head (request line and headers), in KiB; larger gets 431.
    pub max_header_kb: usize,
    /// Most webhook requests answered at once; more get 503 with `Retry-After`.
    pub max_in_flight: usize,
    /// Most webhook requests answered at once for one peer IP address; more get 503.
    pub max_in_flight_per_source: usize,
    /// The peer addresses and networks whose webhook requests are answered; others get 403
    /// before their body is read. Empty (the default) allows every source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_sources: Vec<SourceNetwork>,
    /// Most open connections on the webhook listener; further ones wait in the kernel's
    /// accept queue.
    pub max_connections: usize,
    /// Most wasm instances alive at once, all plugins together (reuse-mode idle instances
    /// included): the pooling allocator's slots, whose address space is reserved at start.
    /// A call that finds every slot taken fails with its plugin's `on_error` answer.
    pub max_instances: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_kb: 1024,
            admin_listen: None,
            admin_max_body_mb: 64,
            data_dir: PathBuf::from(".hookbox"),
            compile_timeout_ms: 60_000,
            watch: true,
            header_timeout_ms: 5_000,
            // OpenIM's HTTP client gives up after 15 s whatever its per-callback timeout says,
            // and Tencent after 2 s: hookbox never gives up before the IM server does.
            request_timeout_ms: 15_000,
            max_headers: 100,
            max_header_kb: 16,
            max_in_flight: 1024,
            max_in_flight_per_source: 256,
            allow_sources: Vec::new(),
            max_connections: 4096,
            // One source for the default: the runtime's own.
            max_instances: hookbox_runtime::RuntimeConfig::default().max_concurrent_calls,
        }
    }
}

/// `[telemetry]`. Read once at start: a change needs a restart (the file watcher reloads
/// plugins, not the process's tracing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP traces URL, `/v1/traces` included (a collector's default is
    /// `http://127.0.0.1:4318/v1/traces`); none = no trace export. Needs a `hookbox` built
    /// with `--features otlp`, which refuses to start otherwise rather than drop the traces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: "hookbox".to_owned(),
        }
    }
}

/// `[openim]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenImConfig {
    /// URL path prefix: OpenIM posts to `{path}/{command}`; set OpenIM's `webhooks.yml`
    /// `url` to `http://host:port{path}`.
    pub path: String,
}

impl Default for OpenImConfig {
    fn default() -> Self {
        OpenImConfig {
            path: "/openim".to_owned(),
        }
    }
}

/// `[tencent]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentConfig {
    /// URL path Tencent's console points at; the command comes in the query.
    #[serde(default = "default_tencent_path")]
    pub path: String,
    /// Largest accepted `|now − RequestTime|`, in seconds.
    #[serde(default = "default_max_skew_secs")]
    pub max_skew_secs: u64,
    /// The answer leaves within this many milliseconds, whatever the plugins do (Tencent
    /// waits 2 s and then delivers the message as if we had allowed it). At most 1500.
    #[serde(default = "default_answer_within_ms")]
    pub answer_within_ms: u64,
    /// A signed before-callback that arrives again unchanged while its signature is valid
    /// gets the first answer, without running the plugins again (kept in Redis when `[kv]` is
    /// Redis, so replicas share it, else in memory).
    #[serde(default = "default_replay_cache")]
    pub replay_cache: bool,
    /// The apps whose callbacks are accepted, as `[[tencent.app]]` tables.
    #[serde(rename = "app")]
    pub apps: Vec<TencentAppConfig>,
}

fn default_replay_cache() -> bool {
    true
}

/// `[[tencent.app]]`: one SDKAppID and where its callback token comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TencentAppConfig {
    /// The app's SDKAppID.
    pub sdk_app_id: u64,
    /// Environment variable holding the callback token set in Tencent's console. Absent:
    /// callback authentication is off for this app (requests need no `Sign`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
}

fn default_tencent_path() -> String {
    "/tencent".to_owned()
}

fn default_max_skew_secs() -> u64 {
    60
}

fn default_answer_within_ms() -> u64 {
    1400
}

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line, column and key.
        message: String,
    },
    /// The TOML is well-formed but a value is not acceptable.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl Config {
    /// Read and check `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parse and check config text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.check().map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        check_path("openim.path", &self.openim.path)?;
        if let Some(tencent) = &self.tencent {
            check_path("tencent.path", &tencent.path)?;
            if tencent.path == self.openim.path {
                return Err("tencent.path and openim.path must differ".to_owned());
            }
            if tencent.apps.is_empty() {
                return Err("[tencent] needs at least one [[tencent.app]]".to_owned());
            }
            if tencent.answer_within_ms == 0 || tencent.answer_within_ms > 1500 {
                return Err(
                    "tencent.answer_within_ms must be between 1 and 1500 (Tencent waits 2 s)"
                        .to_owned(),
                );
            }
            let mut ids = std::collections::HashSet::new();
            for app in &tencent.apps {
                if !ids.insert(app.sdk_app_id) {
                    return Err(format!(
                        "two [[tencent.app]] tables have sdk_app_id {}",
                        app.sdk_app_id
                    ));
                }
            }
        }
        if self.server.max_body_kb == 0 {
            return Err("server.max_body_kb must be positive".to_owned());
        }
        if self.server.listen.port() != 0 && self.server.admin_listen == Some(self.server.listen) {
            return Err("server.admin_listen must differ from server.listen".to_owned());
        }
        if self.server.admin_max_body_mb == 0 {
            return Err("server.admin_max_body_mb must be positive".to_owned());
        }
        if self.server.compile_timeout_ms == 0 {
            return Err("server.compile_timeout_ms must be positive".to_owned());
        }
        if self.server.data_dir.as_os_str().is_empty() {
            return Err("server.data_dir must not be empty".to_owned());
        }
        self.check_ingress_limits()?;
        if self.server.max_instances == 0 || self.server.max_instances > MAX_INSTANCES {
            return Err(format!(
                "server.max_instances must be between 1 and {MAX_INSTANCES}"
            ));
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(format!(
                "telemetry.otlp_endpoint must be an http:// or https:// URL, not {endpoint:?}"
            ));
        }
        if self.telemetry.service_name.trim().is_empty() {
            return Err("telemetry.service_name must not be empty".to_owned());
        }
        self.kv.check()?;
        self.queue.check()?;
        let mut names = std::collections::HashSet::new();
        for plugin in &self.plugins {
            plugin.validate().map_err(|e| e.to_string())?;
            if !names.insert(&plugin.name) {
                return Err(format!("two [[plugin]] tables are named {:?}", plugin.name));
            }
        }
        Ok(())
    }
}

impl Config {
    /// The `[server]` keys that bound what one client can hold: each must be positive, and
    /// the request deadline must leave room for what it contains.
    fn check_ingress_limits(&self) -> Result<(), String> {
        let server = &self.server;
        for (key, value) in [
            ("server.header_timeout_ms", server.header_timeout_ms),
            ("server.request_timeout_ms", server.request_timeout_ms),
        ] {
            if value == 0 || value > MAX_TIMEOUT_MS {
                return Err(format!("{key} must be between 1 and {MAX_TIMEOUT_MS}"));
            }
        }
        for (key, value) in [
            ("server.max_headers", server.max_headers),
            ("server.max_header_kb", server.max_header_kb),
            ("server.max_in_flight", server.max_in_flight),
            (
                "server.max_in_flight_per_source",
                server.max_in_flight_per_source,
            ),
            ("server.max_connections", server.max_connections),
        ] {
            if value == 0 {
                return Err(format!("{key} must be positive"));
            }
        }
        if server.max_in_flight_per_source > server.max_in_flight {
            return Err(format!(
                "server.max_in_flight_per_source ({}) must not exceed server.max_in_flight ({})",
                server.max_in_flight_per_source, server.max_in_flight
            ));
        }
        if server.max_in_flight > server.max_connections {
            return Err(format!(
                "server.max_in_flight ({}) must not exceed server.max_connections ({}): an HTTP/1 request needs its own connection",
                server.max_in_flight, server.max_connections
            ));
        }
        if let Some(tencent) = &self.tencent
            && tencent.answer_within_ms > server.request_timeout_ms
        {
            return Err(format!(
                "tencent.answer_within_ms ({}) must not exceed server.request_timeout_ms ({})",
                tencent.answer_within_ms, server.request_timeout_ms
            ));
        }
        // A plugin timeout beyond the request deadline could never be used: the deadline
        // would cut the call first. Saying so here beats a surprise under load.
        for plugin in &self.plugins {
            if plugin.limits.timeout_ms > server.request_timeout_ms {
                return Err(format!(
                    "plugin {:?}: limits.timeout_ms ({}) exceeds server.request_timeout_ms ({}), which would cut every call at the request deadline",
                    plugin.name, plugin.limits.timeout_ms, server.request_timeout_ms
                ));
            }
        }
        Ok(())
    }
}

/// Longest configurable header or request timeout: ten minutes, far past any IM server's.
const MAX_TIMEOUT_MS: u64 = 600_000;

/// Most configurable wasm instance slots. Each reserves address space for the largest
/// linear memories and their guards (~8.6 GB): 10,000 is ~86 TB of the ~140 TB a Linux x86-64
/// process can map.
const MAX_INSTANCES: u32 = 10_000;

fn check_path(key: &str, path: &str) -> Result<(), String> {
    let valid = path.starts_with('/')
        && path.len() > 1
        && !path.ends_with('/')
        && !path.contains(['{', '}', '*', '?', '#'])
        && !path.contains("//");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{key} {path:?} must start with '/', not end with '/', and not be '/' alone"
        ))
    }
}

impl TencentConfig {
    /// The apps with their tokens, read through `secret` (the binary passes the process
    /// environment; this crate never reads it itself). A named token variable that is unset
    /// or empty is an error: a typo must not silently switch authentication off.
    pub fn resolve_apps(
        &self,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<hookbox_dialects::tencent::TencentApp>, String> {
        self.apps
            .iter()
            .map(|app| {
                let token = match &app.token_env {
                    None => None,
                    Some(var) => match secret(var) {
                        Some(token) if !token.is_empty() => Some(token),
                        _ => {
                            return Err(format!(
                                "tencent app {}: environment variable {var} (token_env) is not set or empty",
                                app.sdk_app_id
                            ));
                        }
                    },
                };
                Ok(hookbox_dialects::tencent::TencentApp { sdk_app_id: app.sdk_app_id, token })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("hookbox.toml"))
    }

    #[test]
    fn telemetry_is_off_by_default_and_its_url_is_checked() {
        let config = parse("").unwrap();
        assert_eq!(config.telemetry.otlp_endpoint, None);
        assert_eq!(config.telemetry.service_name, "hookbox");
        let config = parse(
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/v1/traces\"\nservice_name = \"im-hooks\"\n",
        )
        .unwrap();
        assert_eq!(
            config.telemetry.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        for bad in [
            "otlp_endpoint = \"collector:4318\"",
            "service_name = \" \"",
            "otlp = true",
        ] {
            let err = parse(&format!("[telemetry]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("telemetry") || err.contains("otlp"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn admin_and_data_dir_keys_are_checked() {
        let config = parse("").unwrap();
        assert_eq!(
            config.server.admin_listen, None,
            "no admin API unless asked for"
        );
        assert_eq!(config.server.data_dir, PathBuf::from(".hookbox"));
        assert!(config.server.watch);
        let config =
            parse("[server]\nadmin_listen = \"127.0.0.1:8081\"\ndata_dir = \"/var/lib/hookbox\"\n")
                .unwrap();
        assert_eq!(
            config.server.admin_listen,
            Some(([127, 0, 0, 1], 8081).into())
        );
        for (bad, key) in [
            (
                "listen = \"127.0.0.1:9000\"\nadmin_listen = \"127.0.0.1:9000\"",
                "server.admin_listen",
            ),
            ("admin_max_body_mb = 0", "server.admin_max_body_mb"),
            ("compile_timeout_ms = 0", "server.compile_timeout_ms"),
            ("data_dir = \"\"", "server.data_dir"),
        ] {
            let err = parse(&format!("[server]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn empty_file_means_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.openim.path, "/openim");
        assert!(config.plugins.is_empty());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let err = parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("hookbox.toml: "), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("unknown field `lisen`"), "{err}");

        let err = parse("[[plugin]]\nname = \"a\"\nsource = \"a.wasm\"\ncommands = [\"x\"]\npriority = \"high\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 5") && err.contains("invalid type"),
            "{err}"
        );
    }

    #[test]
    fn semantic_errors_name_the_plugin_and_key() {
        let text = "[[plugin]]\nname = \"a\"\nsource = \"a.wasm\"\ncommands = [\"x\"]\nlimits = { timeout_ms = 0 }\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("\"a\"") && err.contains("limits.timeout_ms"),
            "{err}"
        );

        let dup = "[[plugin]]\nname = \"a\"\nsource = \"a.wasm\"\ncommands = [\"x\"]\n".repeat(2);
        assert!(
            parse(&dup)
                .unwrap_err()
                .to_string()
                .contains("two [[plugin]] tables are named \"a\"")
        );

        let tencent = "[tencent]\npath = \"/openim\"\n[[tencent.app]]\nsdk_app_id = 1\n";
        assert!(
            parse(tencent)
                .unwrap_err()
                .to_string()
                .contains("must differ")
        );
        let no_apps = "[tencent]\napp = []\n";
        assert!(
            parse(no_apps)
                .unwrap_err()
                .to_string()
                .contains("at least one")
        );
        let slow = "[tencent]\nanswer_within_ms = 2000\n[[tencent.app]]\nsdk_app_id = 1\n";
        assert!(
            parse(slow)
                .unwrap_err()
                .to_string()
                .contains("answer_within_ms")
        );

        for bad in ["", "/", "openim", "/openim/", "/a/{x}"] {
            let err = parse(&format!("[openim]\npath = {bad:?}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("openim.path"), "{bad}: {err}");
        }
    }
}

#[cfg(test)]
mod ingress_limit_tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("hookbox.toml"))
    }

    #[test]
    fn ingress_limits_have_defaults_and_are_checked() {
        let server = parse("").unwrap().server;
        assert_eq!(server.header_timeout_ms, 5_000);
        assert_eq!(server.request_timeout_ms, 15_000);
        assert_eq!(server.max_headers, 100);
        assert_eq!(server.max_header_kb, 16);
        assert_eq!(server.max_in_flight, 1024);
        assert_eq!(server.max_in_flight_per_source, 256);
        assert_eq!(server.max_connections, 4096);
        assert_eq!(server.max_instances, 1000);
        for (bad, key) in [
            ("max_instances = 0", "server.max_instances"),
            ("max_instances = 10001", "server.max_instances"),
            ("header_timeout_ms = 0", "server.header_timeout_ms"),
            ("request_timeout_ms = 0", "server.request_timeout_ms"),
            ("request_timeout_ms = 600001", "server.request_timeout_ms"),
            ("max_headers = 0", "server.max_headers"),
            ("max_header_kb = 0", "server.max_header_kb"),
            ("max_in_flight = 0", "server.max_in_flight"),
            ("max_connections = 0", "server.max_connections"),
            (
                "max_in_flight = 10\nmax_in_flight_per_source = 11",
                "server.max_in_flight_per_source",
            ),
            (
                "max_connections = 10\nmax_in_flight = 11\nmax_in_flight_per_source = 5",
                "server.max_connections",
            ),
        ] {
            let err = parse(&format!("[server]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn allow_sources_takes_addresses_and_networks_and_names_a_bad_entry() {
        assert!(parse("").unwrap().server.allow_sources.is_empty());
        let server = parse("[server]\nallow_sources = [\"10.0.0.0/8\", \"fd00::7\"]\n")
            .unwrap()
            .server;
        let entries: Vec<String> = server.allow_sources.iter().map(|n| n.to_string()).collect();
        assert_eq!(entries, ["10.0.0.0/8", "fd00::7"]);
        let err = parse("[server]\nallow_sources = [\"10.0.0.0/8\", \"10.0.0.7/8\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow_sources"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("write the network (10.0.0.0/8)"), "{err}");
    }

    #[test]
    fn the_request_deadline_must_leave_room_for_plugins_and_tencent() {
        let slow_plugin = "[server]\nrequest_timeout_ms = 1000\n[[plugin]]\nname = \"slow\"\nsource = \"a.wasm\"\ncommands = [\"x\"]\nlimits = { timeout_ms = 1001 }\n";
        let err = parse(slow_plugin).unwrap_err().to_string();
        assert!(
            err.contains("\"slow\"") && err.contains("server.request_timeout_ms"),
            "{err}"
        );
        let tencent =
            "[server]\nrequest_timeout_ms = 1000\n[tencent]\n[[tencent.app]]\nsdk_app_id = 1\n";
        let err = parse(tencent).unwrap_err().to_string();
        assert!(err.contains("tencent.answer_within_ms"), "{err}");
        assert!(parse(&tencent.replace("1000", "1400")).is_ok());
    }
}

#[cfg(test)]
mod tencent_tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_named_variables_and_must_exist() {
        let text = "[tencent]\n[[tencent.app]]\nsdk_app_id = 1400000000\ntoken_env = \"TOKEN_A\"\n[[tencent.app]]\nsdk_app_id = 1400000001\n";
        let config = Config::parse(text, Path::new("hookbox.toml")).unwrap();
        let tencent = config.tencent.as_ref().unwrap();
        assert_eq!(tencent.path, "/tencent");
        assert_eq!(tencent.max_skew_secs, 60);
        let apps = tencent
            .resolve_apps(&|var| (var == "TOKEN_A").then(|| "secret".to_owned()))
            .unwrap();
        assert_eq!(apps[0].token.as_deref(), Some("secret"));
        assert_eq!(apps[1].token, None);
        let err = tencent.resolve_apps(&|_| None).unwrap_err();
        assert!(err.contains("TOKEN_A") && !err.contains("secret"), "{err}");
        assert!(tencent.resolve_apps(&|_| Some(String::new())).is_err());
    }
}
