//! The router, its shared state, and the serve loop.
//!
//! [`serve`] takes an already-bound listener and a shutdown future, so tests bind
//! `127.0.0.1:0` and stop the server when they are done; on shutdown, in-flight requests
//! are drained before it returns.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::post;
use hookbox_registry::Registry;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::ApiError;
use crate::ingress;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    /// The plugins serving now.
    pub registry: Arc<Registry>,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Event counters (metrics proper come with the metrics endpoint).
    pub counters: Counters,
}

/// Counters of things operators want to know about.
#[derive(Debug, Default)]
pub struct Counters {
    /// Callbacks whose command is not in the dialect's command table.
    pub unknown_commands: AtomicU64,
    /// Callbacks answered (any verdict).
    pub callbacks: AtomicU64,
    /// Plugin calls that failed and were replaced by their `on_error` answer.
    pub plugin_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl App {
    /// State for `config`, serving the plugins in `registry`.
    pub fn new(config: &Config, registry: Arc<Registry>) -> Arc<App> {
        Arc::new(App {
            registry,
            max_body_bytes: config.server.max_body_kb.saturating_mul(1024),
            counters: Counters::default(),
        })
    }

    /// The webhook router for `config`'s endpoints.
    pub fn router(self: &Arc<App>, config: &Config) -> Router {
        let openim = config.openim.path.as_str();
        Router::new()
            .route(openim, post(ingress::openim_legacy))
            .route(&format!("{openim}/{{command}}"), post(ingress::openim))
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
