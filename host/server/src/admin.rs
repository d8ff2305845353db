//! The admin API: list, upload, add, patch, roll back and delete plugins while traffic flows,
//! plus health and readiness. It is served on its own listener (`server.admin_listen`), never
//! on the webhook port, and every route — health included — needs
//! `Authorization: Bearer <HOOKBOX_ADMIN_TOKEN>`.
//!
//! | route | body | answer |
//! | --- | --- | --- |
//! | `GET /plugins` | | `{"plugins": [view…]}` |
//! | `GET /plugins/{name}` | | one view, and its revision as `ETag` |
//! | `PUT /plugins/{name}` | `application/wasm` | `{"name","sha256","changed","version","revision"}` once live |
//! | `POST /plugins` | `{"manifest": {…}, "component": "<base64>"}` | 201, the same shape |
//! | `PATCH /plugins/{name}` | JSON merge patch of manifest fields | the new view |
//! | `POST /plugins/{name}/rollback` | | `{"name","sha256","changed","version","revision"}` |
//! | `DELETE /plugins/{name}` | | 204 |
//! | `GET /plugins/{name}/kv?prefix=&cursor=&limit=` | | `{"keys": [{"key", "value"}…], "next_cursor"}` (module `kv`) |
//! | `GET /plugins/{name}/kv/{key}` | | `{"key", "value"}`, or `value_base64` for bytes |
//! | `GET /plugins/{name}/dead-letters?cursor=&limit=` | | `{"dead_letters": […], "next_cursor"}` (module `dead_letters`) |
//! | `POST /plugins/{name}/dead-letters/replay` | none (all) or `{"ids": […]}` | `{"replayed": n}` |
//! | `DELETE /plugins/{name}/dead-letters` | none (all) or `{"ids": […]}` | `{"deleted": n}` |
//! | `GET /healthz`, `GET /readyz` | | `{"status": …}`; readyz 503 until the plugins loaded |
//!
//! Every change to an existing plugin (`PUT`, `PATCH`, rollback, `DELETE`) takes an optional
//! `If-Match: "<revision>"` (the `revision` of a view, or a view's `ETag`): the change is made
//! only if the plugin is still at that revision, else 409 `revision_conflict` and nothing
//! changes. Two operators (or two deploy jobs) racing from what they both read cannot both
//! win. Without `If-Match` the later change wins, as before (ADR 012).
//!
//! This module is *not* where versions are validated or kept: it checks the request (token,
//! name, content type, size, JSON shape) and hands the change to the
//! [`Registry`], which publishes it or changes nothing.
//!
//! The decision a reader may question: `POST /plugins` takes one JSON body with the component
//! base64-encoded rather than multipart. It costs a third more bytes on the wire, but needs
//! no multipart parser on the server, one `Content-Type`, and a client is a `jq` one-liner.

mod dead_letters;
mod kv;

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use hookbox_queue::Queue;
use hookbox_registry::manifest::is_valid_name;
use hookbox_registry::{PluginEntry, PluginManifest, Registry};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::delivery::delivers_queued;
use crate::error::ApiError;
use crate::ingress::read_body;
use crate::metrics::Metrics;

/// Shortest admin token accepted: guessing one must be hopeless.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why the admin API cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// `server.admin_listen` is set but no token is configured.
    #[error(
        "server.admin_listen is set but HOOKBOX_ADMIN_TOKEN is not: the admin API never runs without a token"
    )]
    Missing,
    /// The token is too short or contains whitespace.
    #[error("HOOKBOX_ADMIN_TOKEN must be at least {MIN_TOKEN_LEN} characters with no whitespace")]
    Weak,
}

/// The admin API's state.
pub struct Admin {
    /// The plugins it changes.
    pub registry: Arc<Registry>,
    /// sha256 of the token: compared in constant time, never logged.
    token_hash: [u8; 32],
    max_body_bytes: usize,
    ready: AtomicBool,
    metrics: OnceLock<Arc<Metrics>>,
    queue: OnceLock<Queue>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// State for an admin API on `registry` that accepts `token`. Not ready until
    /// [`Admin::set_ready`].
    pub fn new(
        registry: Arc<Registry>,
        token: Option<&str>,
        max_body_bytes: usize,
    ) -> Result<Arc<Admin>, TokenError> {
        let token = token.ok_or(TokenError::Missing)?;
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        if token.len() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
            return Err(TokenError::Weak);
        }
        Ok(Arc::new(Admin {
            registry,
            token_hash: Sha256::digest(token.as_bytes()).into(),
            max_body_bytes,
            ready: AtomicBool::new(false),
            metrics: OnceLock::new(),
            queue: OnceLock::new(),
        }))
    }

    /// Every configured plugin is loaded: `/readyz` answers 200 from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Serve `metrics` at `GET /metrics` (behind the same token as every admin route).
    /// Until this is called, `/metrics` answers 404.
    pub fn export_metrics(&self, metrics: Arc<Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// The metrics `GET /metrics` serves, once [`Admin::export_metrics`] has been called.
    fn metrics(&self) -> Option<&Metrics> {
        self.metrics.get().map(|m| &**m)
    }

    /// Serve the dead letters of `queue` (a clone of the handle the consumers use, so a
    /// replay wakes them). Until this is called, the dead-letter routes answer 404.
    pub fn serve_queue(&self, queue: Queue) {
        let _ = self.queue.set(queue);
    }

    fn queue(&self) -> Result<&Queue, ApiError> {
        self.queue.get().ok_or(ApiError::NotFound)
    }

    /// The admin router.
    pub fn router(self: &Arc<Admin>) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/plugins", get(list).post(add))
            .route(
                "/plugins/{name}",
                get(show).put(replace).patch(patch).delete(remove),
            )
            .route("/plugins/{name}/rollback", post(rollback))
            .route("/plugins/{name}/kv", get(kv::list))
            .route("/plugins/{name}/kv/{*key}", get(kv::get))
            .route(
                "/plugins/{name}/dead-letters",
                get(dead_letters::list).delete(dead_letters::delete),
            )
            .route(
                "/plugins/{name}/dead-letters/replay",
                post(dead_letters::replay),
            )
            .fallback(|| async { ApiError::NotFound })
            .layer(middleware::from_fn_with_state(self.clone(), authenticate))
            // Bodies are limited by the handlers, which answer 413 in our own error format.
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(self.clone())
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        // Hashing first makes the comparison independent of the given token's length.
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        given
            .iter()
            .zip(self.token_hash.iter())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

/// Every route: the token first, before any body is read.
async fn authenticate(State(admin): State<Arc<Admin>>, request: Request, next: Next) -> Response {
    if !admin.authorized(request.headers()) {
        return ApiError::Unauthorized.into_response();
    }
    next.run(request).await
}

async fn metrics(State(admin): State<Arc<Admin>>) -> Result<Response, ApiError> {
    let metrics = admin.metrics.get().ok_or(ApiError::NotFound)?;
    if let Some(queue) = admin.queue.get() {
        // The queue gauges are read at scrape time: one cheap stats call per queued plugin.
        let snapshot = admin.registry.snapshot();
        for entry in snapshot.plugins().iter().filter(|e| delivers_queued(e)) {
            let name = &entry.manifest.name;
            match queue.stats(name).await {
                Ok(stats) => metrics.set_queue_stats(name, &stats),
                Err(error) => tracing::warn!(plugin = %name, "cannot read queue stats: {error}"),
            }
        }
    }
    let text = metrics.render(&admin.registry);
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(admin): State<Arc<Admin>>) -> Result<Json<Value>, ApiError> {
    if admin.ready.load(Ordering::Acquire) {
        Ok(Json(json!({ "status": "ready" })))
    } else {
        Err(ApiError::NotReady)
    }
}

async fn list(State(admin): State<Arc<Admin>>) -> Json<Value> {
    let snapshot = admin.registry.snapshot();
    let plugins: Vec<Value> = snapshot
        .plugins()
        .iter()
        .map(|e| view(e, admin.metrics()))
        .collect();
    Json(json!({ "plugins": plugins }))
}

async fn show(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = checked(name)?;
    let snapshot = admin.registry.snapshot();
    let entry = snapshot
        .plugin(&name)
        .ok_or_else(|| plugin_not_found(&name))?;
    let etag = format!("\"{}\"", entry.revision);
    Ok(([(header::ETAG, etag)], Json(view(entry, admin.metrics()))).into_response())
}

async fn replace(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let name = checked(name)?;
    require_type(&headers, &["application/wasm"])?;
    let bytes = read_body(body, admin.max_body_bytes).await?;
    let replaced = admin
        .registry
        .replace_code(&name, bytes.to_vec(), if_match(&headers)?)
        .await?;
    tracing::info!(plugin = %name, sha256 = %replaced.version.sha256, changed = replaced.changed, "admin: plugin code replaced");
    Ok(Json(applied(&name, &replaced)))
}

/// The answer to a change that left `applied` live.
fn applied(name: &str, applied: &hookbox_registry::Applied) -> Value {
    json!({
        "name": name,
        "sha256": applied.version.sha256,
        "changed": applied.changed,
        "version": applied.version,
        "revision": applied.revision,
    })
}

/// The revision in `If-Match`, if the request has one. `*` (any revision) is the same as
/// none: the routes that take it answer 404 for a plugin that does not exist anyway. One
/// strong entity tag only: a list, a weak tag or two headers are 400, because a precondition
/// hookbox cannot evaluate exactly must not be ignored.
fn if_match(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(header::IF_MATCH).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(
            "If-Match takes one revision, quoted as an entity tag: If-Match: \"<revision>\"".into(),
        )
    };
    if values.next().is_some() {
        return Err(bad());
    }
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(bad)?;
    if tag.is_empty() || tag.contains('"') {
        return Err(bad());
    }
    Ok(Some(tag))
}

/// `POST /plugins`: the manifest as in `[[plugin]]` minus `source` and `build`, and the
/// component's bytes in standard base64.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPlugin {
    manifest: serde_json::Map<String, Value>,
    component: String,
}

async fn add(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    require_type(&headers, &["application/json"])?;
    let body = read_body(body, admin.max_body_bytes).await?;
    let new: NewPlugin = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a new plugin: {e}")))?;
    let name = match new.manifest.get("name") {
        Some(Value::String(name)) => checked(name.clone())?,
        _ => return Err(ApiError::BadRequest("manifest.name is required".into())),
    };
    if let Some(key) = ["source", "build"]
        .into_iter()
        .find(|k| new.manifest.contains_key(*k))
    {
        return Err(ApiError::BadRequest(format!(
            "manifest.{key} is for the config file; an uploaded plugin's code is the component"
        )));
    }
    let mut fields = new.manifest;
    fields.insert("source".into(), Value::String(String::new()));
    let manifest: PluginManifest = serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::BadRequest(format!("invalid manifest: {e}")))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(new.component.as_bytes())
        .map_err(|e| ApiError::BadRequest(format!("component is not base64: {e}")))?;
    let added = admin.registry.add(manifest, bytes).await?;
    tracing::info!(plugin = %name, sha256 = %added.version.sha256, "admin: plugin added");
    Ok((StatusCode::CREATED, Json(applied(&name, &added))).into_response())
}

async fn patch(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let name = checked(name)?;
    require_type(
        &headers,
        &["application/json", "application/merge-patch+json"],
    )?;
    let body = read_body(body, admin.max_body_bytes).await?;
    let patch: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    admin
        .registry
        .patch(&name, &patch, if_match(&headers)?)
        .await?;
    tracing::info!(plugin = %name, "admin: plugin manifest patched");
    let snapshot = admin.registry.snapshot();
    let entry = snapshot
        .plugin(&name)
        .ok_or_else(|| ApiError::Internal(format!("plugin {name} vanished after a patch")))?;
    Ok(Json(view(entry, admin.metrics())))
}

async fn rollback(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let name = checked(name)?;
    let rolled_back = admin.registry.rollback(&name, if_match(&headers)?).await?;
    tracing::info!(plugin = %name, sha256 = %rolled_back.version.sha256, "admin: plugin rolled back");
    Ok(Json(applied(&name, &rolled_back)))
}

async fn remove(
    State(admin): State<Arc<Admin>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let name = checked(name)?;
    admin.registry.remove(&name, if_match(&headers)?).await?;
    tracing::info!(plugin = %name, "admin: plugin deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The name from the path, if it is a valid plugin name (which also rules out `..`, `/`
/// and anything else a path could be made of).
fn checked(name: String) -> Result<String, ApiError> {
    if is_valid_name(&name) {
        Ok(name)
    } else {
        Err(ApiError::InvalidName)
    }
}

/// 404 `plugin_not_found` for `name`.
fn plugin_not_found(name: &str) -> ApiError {
    ApiError::Registry(hookbox_registry::RegistryError::NotFound(name.to_owned()))
}

/// Items per page when a listing asks for none.
const DEFAULT_PAGE: usize = 100;
/// The most items a listing may ask for.
const MAX_PAGE: usize = 1000;

/// A listing's `limit`: [`DEFAULT_PAGE`] when absent, else 1 to [`MAX_PAGE`].
fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        ))),
    }
}

/// A route's query parameters, or 400 in our own error format (axum's rejection is text).
fn query<T>(
    params: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    params
        .map(|axum::extract::Query(params)| params)
        .map_err(|e| ApiError::BadRequest(format!("bad query parameters: {}", e.body_text())))
}

fn require_type(headers: &HeaderMap, accepted: &[&'static str]) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match given {
        Some(t) if accepted.contains(&t.as_str()) => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType {
            expected: accepted[0],
        }),
    }
}

/// What `GET /plugins` says about one plugin: its manifest fields, where its live version
/// came from, the versions kept for rollback, its call counters, and the percentiles of its
/// call durations (`latency`: `null` before the first call, or when metrics are not served).
fn view(entry: &PluginEntry, metrics: Option<&Metrics>) -> Value {
    let mut value = serde_json::to_value(&entry.manifest).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut value {
        if entry.manifest.source.as_os_str().is_empty() {
            fields.remove("source");
        }
        fields.insert("managed_by".into(), json!(entry.managed_by));
        fields.insert("revision".into(), json!(entry.revision));
        fields.insert("active".into(), json!(entry.version));
        fields.insert("previous".into(), json!(entry.previous));
        fields.insert("calls".into(), json!(entry.stats.calls()));
        fields.insert("failures".into(), json!(entry.stats.failures()));
        fields.insert("in_flight".into(), json!(entry.stats.in_flight()));
        let latency = metrics.and_then(|m| m.plugin_latency(&entry.manifest.name));
        fields.insert("latency".into(), json!(latency));
    }
    value
}
