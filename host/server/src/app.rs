//! The router and its shared state.
//!
//! [`App::router`] builds the webhook endpoint (its router, with the 404/405 answers, behind
//! [`Webhooks`]' admission and shortcut to the callback paths) and returns it as an
//! [`Endpoint`] carrying `[server]`'s connection limits, which [`serve`](crate::serve)
//! enforces.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::post;
use hookbox_dialects::tencent::TencentApp;
use hookbox_queue::Queue;
use hookbox_registry::Registry;

use crate::admission::Admission;
use crate::config::{Config, ConfigError};
use crate::delivery::Delivery;
use crate::error::ApiError;
use crate::ingress::{self, CallbackPath};
use crate::listener::{ConnectionLimits, Endpoint};
use crate::metrics::Metrics;
use crate::replay::ReplayCache;
use crate::webhooks::Webhooks;

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
    /// Everything after the request head finishes within this (`server.request_timeout_ms`).
    pub request_timeout: Duration,
    /// Who may send webhook requests, and how many at once (`server.allow_sources`,
    /// `server.max_in_flight`, `server.max_in_flight_per_source`).
    pub(crate) admission: Admission,
    /// The durable queue of after-callbacks and its consumers; `None`: after-callbacks run
    /// before the answer, like `delivery = "sync"` (an embedding without a queue).
    pub delivery: Option<Arc<Delivery>>,
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
    /// Answers to signed before-callbacks, for replays (`replay_cache`, and a kv store).
    pub(crate) replays: Option<ReplayCache>,
}

/// The replay cache of `[tencent]`, in the registry's kv store; none without one (an
/// embedding without a store), which is logged.
fn replay_cache(
    tencent: &crate::config::TencentConfig,
    registry: &Registry,
) -> Result<Option<ReplayCache>, ConfigError> {
    if !tencent.replay_cache {
        return Ok(None);
    }
    let Some(store) = registry.kv_store() else {
        tracing::warn!(
            "[tencent] replay_cache is on, but this hookbox has no kv store: replays run the plugins again"
        );
        return Ok(None);
    };
    ReplayCache::new(store, tencent.max_skew_secs)
        .map(Some)
        .map_err(|e| ConfigError::Invalid {
            path: "[tencent]".into(),
            message: format!("replay cache: {e}"),
        })
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
    /// Signed Tencent before-callbacks answered from the replay cache.
    pub replays: AtomicU64,
    /// Requests refused because their authentication failed (Tencent `Sign`, `SdkAppid`).
    pub auth_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl App {
    /// State for `config`, serving the plugins in `registry`, without a queue: every
    /// after-callback runs its plugins before the answer. Secrets named in the config (Tencent
    /// tokens) are read through `secret`; the binary passes the environment.
    pub fn new(
        config: &Config,
        registry: Arc<Registry>,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<App>, ConfigError> {
        App::build(config, registry, secret, None)
    }

    /// Like [`App::new`], with after-callbacks going through `queue` to plugins with
    /// `delivery = "queued"`. Their consumers run once [`Delivery::run`] is spawned on
    /// [`App::delivery`].
    pub fn with_queue(
        config: &Config,
        registry: Arc<Registry>,
        secret: &dyn Fn(&str) -> Option<String>,
        queue: Queue,
    ) -> Result<Arc<App>, ConfigError> {
        App::build(config, registry, secret, Some(queue))
    }

    fn build(
        config: &Config,
        registry: Arc<Registry>,
        secret: &dyn Fn(&str) -> Option<String>,
        queue: Option<Queue>,
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
                replays: replay_cache(tencent, &registry)?,
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
        let metrics = Arc::new(Metrics::new());
        let delivery = queue.map(|queue| {
            Delivery::new(
                queue,
                registry.clone(),
                metrics.clone(),
                config.queue.concurrency,
            )
        });
        Ok(Arc::new(App {
            registry,
            max_body_bytes: config.server.max_body_kb.saturating_mul(1024),
            counters: Counters::default(),
            metrics,
            tencent,
            request_timeout: Duration::from_millis(config.server.request_timeout_ms),
            admission: Admission::new(
                config.server.max_in_flight,
                config.server.max_in_flight_per_source,
                config.server.allow_sources.clone(),
            ),
            delivery,
        }))
    }

    /// When a request whose head has just been read must be answered by.
    pub(crate) fn request_deadline(&self) -> Instant {
        Instant::now() + self.request_timeout
    }

    /// The webhook endpoint for `config`'s paths, with `[server]`'s connection limits, for
    /// [`serve`](crate::serve).
    pub fn router(self: &Arc<App>, config: &Config) -> Endpoint<Webhooks> {
        let openim = config.openim.path.as_str();
        let tencent = config.tencent.as_ref().filter(|_| self.tencent.is_some());
        let mut paths = vec![(openim.to_owned(), CallbackPath::OpenimLegacy)];
        // A Tencent path that happens to be one of the table's commands keeps it.
        for info in hookbox_dialects::openim::COMMANDS {
            let path = format!("{openim}/{}", info.name);
            if tencent.is_none_or(|t| t.path != path) {
                paths.push((path, CallbackPath::OpenimCommand(info.name)));
            }
        }
        if let Some(tencent) = tencent {
            paths.push((tencent.path.clone(), CallbackPath::Tencent));
        }
        let mut router =
            Router::new().route(&format!("{openim}/{{command}}"), post(ingress::openim));
        for &(ref path, callback) in &paths {
            router =
                router.route(
                    path,
                    post(
                        move |State(app): State<Arc<App>>,
                              uri: Uri,
                              headers: HeaderMap,
                              body: Body| async move {
                            callback.handle(&app, uri, headers, body).await
                        },
                    ),
                );
        }
        let router = router
            .fallback(|| async { ApiError::NotFound })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
            // No `DefaultBodyLimit` layer: every handler here takes the raw `Body` and reads it
            // under its own limit, answering 413 in our own error format, and each layer costs
            // every request a boxed future.
            .with_state(self.clone());
        Endpoint {
            dispatch: Webhooks::new(self.clone(), paths, router),
            limits: ConnectionLimits::from(&config.server),
            metrics: Some(self.metrics.clone()),
        }
    }
}
