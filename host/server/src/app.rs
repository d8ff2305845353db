//! The router, its shared state, and the serve loop.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so tests bind
//! `127.0.0.1:0` and stop the server when they are done; on shutdown, in-flight requests
//! are drained before it returns.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use axum::Router;
use axum::routing::post;
use hookbox_dialects::tencent::TencentApp;
use hookbox_registry::Registry;
use tokio::net::TcpListener;

use crate::config::{Config, ConfigError};
use crate::error::ApiError;
use crate::ingress;
use crate::metrics::Metrics;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    /// The plugins serving now.
    pub registry: Arc<Registry>,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Plain counters for tests and quick checks; the exported metrics are in `metrics`.
    pub counters: Counters,
    /// The Prometheus metrics, served at `GET /metrics` on the admin listener.
    pub metrics: Arc<Metrics>,
    /// The Tencent endpoint's apps and budget, when `[tencent]` is configured.
    pub tencent: Option<TencentEndpoint>,
}

/// What the Tencent handler needs: the apps it accepts and how long it may take.
#[derive(Debug)]
pub struct TencentEndpoint {
    /// The accepted apps, with their resolved tokens.
    pub apps: Vec<TencentApp>,
    /// Largest accepted clock skew of `RequestTime`, in seconds.
    pub max_skew_secs: u64,
    /// The answer leaves within this time of the request arriving.
    pub answer_within: Duration,
}

/// Counters of things operators want to know about.
#[derive(Debug, Default)]
pub struct Counters {
    /// Callbacks whose command is not in the dialect's command table.
    pub unknown_commands: AtomicU64,
    /// Callbacks answered (any verdict).
    pub callbacks: AtomicU64,
    /// Plugin calls made (successful or not).
    pub plugin_calls: AtomicU64,
    /// Plugin calls that failed and were replaced by their `on_error` answer.
    pub plugin_failures: AtomicU64,
    /// Requests refused because their authentication failed (Tencent `Sign`, `SdkAppid`).
    pub auth_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl App {
    /// State for `config`, serving the plugins in `registry`. Secrets named in the config
    /// (Tencent tokens) are read through `secret`; the binary passes the environment.
    pub fn new(
        config: &Config,
        registry: Arc<Registry>,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<App>, ConfigError> {
        let tencent = match &config.tencent {
            None => None,
            Some(tencent) => Some(TencentEndpoint {
                apps: tencent
                    .resolve_apps(secret)
                    .map_err(|message| ConfigError::Invalid {
                        path: "[tencent]".into(),
                        message,
                    })?,
                max_skew_secs: tencent.max_skew_secs,
                answer_within: Duration::from_millis(tencent.answer_within_ms),
            }),
        };
        if let Some(endpoint) = &tencent {
            for app in endpoint.apps.iter().filter(|app| app.token.is_none()) {
                tracing::warn!(
                    sdk_app_id = app.sdk_app_id,
                    "Tencent callback authentication is off for this app (no token_env): anyone who can reach hookbox can post its callbacks"
                );
            }
        }
        Ok(Arc::new(App {
            registry,
            max_body_bytes: config.server.max_body_kb.saturating_mul(1024),
            counters: Counters::default(),
            metrics: Arc::new(Metrics::new()),
            tencent,
        }))
    }

    /// The webhook router for `config`'s endpoints.
    pub fn router(self: &Arc<App>, config: &Config) -> Router {
        let openim = config.openim.path.as_str();
        let mut router = Router::new()
            .route(openim, post(ingress::openim_legacy))
            .route(&format!("{openim}/{{command}}"), post(ingress::openim));
        if let Some(tencent) = config.tencent.as_ref().filter(|_| self.tencent.is_some()) {
            router = router.route(&tencent.path, post(ingress::tencent));
        }
        router
            .fallback(|| async { ApiError::NotFound })
            // Bodies are limited by the handlers, which answer 413 in our own error format.
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(self.clone())
    }
}

/// Serve `router` on `listener` until `shutdown` resolves, then drain in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
