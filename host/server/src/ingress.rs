//! Webhook handlers: read the body within its limit, let the dialect parse (and for Tencent,
//! authenticate) it, run the chain for its command on one registry snapshot, and answer with
//! the dialect's envelope.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use hookbox_dialects::{Callback, Inbound, ModifyError, openim, tencent};
use hookbox_model::{DialectKind, JsonObject, Verdict};
use hookbox_registry::{StepResult, run_chain};
use tracing::Instrument;

use crate::app::{App, Counters};
use crate::error::ApiError;

/// `POST {openim.path}/{command}`: OpenIM ≥ 3.4.2.
pub(crate) async fn openim(
    State(app): State<Arc<App>>,
    Path(command): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _in_flight = app.metrics.in_flight();
    handle_openim(&app, Some(command), uri, headers, body)
        .await
        .inspect_err(|e| app.metrics.record_refused(e.code()))
}

/// `POST {openim.path}?command=…`: OpenIM ≤ 3.4.0 (and bodies that name their command).
pub(crate) async fn openim_legacy(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _in_flight = app.metrics.in_flight();
    handle_openim(&app, None, uri, headers, body)
        .await
        .inspect_err(|e| app.metrics.record_refused(e.code()))
}

async fn handle_openim(
    app: &App,
    path_command: Option<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(body, app.max_body_bytes).await?;
    let inbound = Inbound {
        path_command: path_command.as_deref(),
        query: uri.query(),
        headers: &headers,
        body: &body,
    };
    let callback = openim::parse(&inbound)?;
    Ok(answer(app, &callback, DialectKind::Openim, None).await)
}

/// `POST {tencent.path}?SdkAppid=…&CallbackCommand=…&Sign=…&RequestTime=…`.
pub(crate) async fn tencent(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let _in_flight = app.metrics.in_flight();
    handle_tencent(&app, uri, headers, body)
        .await
        .inspect_err(|e| app.metrics.record_refused(e.code()))
}

async fn handle_tencent(
    app: &App,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let Some(endpoint) = &app.tencent else {
        return Err(ApiError::NotFound);
    };
    let body = read_body(body, app.max_body_bytes).await?;
    let inbound = Inbound {
        path_command: None,
        query: uri.query(),
        headers: &headers,
        body: &body,
    };
    let auth = tencent::Auth {
        apps: &endpoint.apps,
        max_skew_secs: endpoint.max_skew_secs,
        now_unix_secs: unix_now(),
    };
    let callback = tencent::parse(&inbound, &auth).inspect_err(|error| {
        if error.is_unauthorized() {
            Counters::add(&app.counters.auth_failures, 1);
            app.metrics.record_auth_failure(DialectKind::Tencent);
            tracing::warn!(code = error.code(), "Tencent callback refused: {error}");
        }
    })?;
    let deadline = arrived + endpoint.answer_within;
    Ok(answer(app, &callback, DialectKind::Tencent, Some(deadline)).await)
}

/// Run the chain for a parsed callback and render the dialect's envelope. Never fails: a
/// parsed callback always gets an envelope.
async fn answer(
    app: &App,
    callback: &Callback,
    dialect: DialectKind,
    deadline: Option<Instant>,
) -> Response {
    let event = &callback.event;
    let span = tracing::info_span!(
        "callback",
        dialect = dialect.as_str(),
        command = %event.command,
        operation_id = callback.operation_id().unwrap_or(""),
    );
    async {
        if !callback.known {
            Counters::add(&app.counters.unknown_commands, 1);
            tracing::info!("unknown command: answering allow unless a plugin subscribed to it");
        }
        let snapshot = app.registry.snapshot();
        let chain = snapshot.chain(&event.command);
        let check = |fields: &JsonObject| {
            check_modify(dialect, callback, fields).map_err(|e| e.to_string())
        };
        let report = run_chain(
            app.registry.runtime(),
            chain,
            event,
            callback.phase,
            deadline,
            check,
        )
        .await;
        let failures = report
            .steps
            .iter()
            .filter(|s| matches!(s.result, StepResult::Failed { .. }))
            .count();
        Counters::add(&app.counters.plugin_calls, report.steps.len() as u64);
        Counters::add(&app.counters.plugin_failures, failures as u64);
        Counters::add(&app.counters.callbacks, 1);
        app.metrics
            .record_callback(dialect, &event.command, callback.known, &report);
        if let (DialectKind::Tencent, Verdict::Reject(rejection)) = (dialect, &report.verdict) {
            let (sent, replaced) = tencent::reject_code(callback, rejection.code);
            if replaced {
                tracing::warn!(
                    plugin_code = rejection.code,
                    sent_code = sent,
                    "reject code outside this command's custom range: Tencent gets the generic code"
                );
            }
        }
        tracing::debug!(
            verdict = report.verdict.kind(),
            plugins = report.steps.len(),
            "callback answered"
        );
        json_response(render(dialect, callback, &report.verdict))
    }
    .instrument(span)
    .await
}

fn check_modify(
    dialect: DialectKind,
    callback: &Callback,
    fields: &JsonObject,
) -> Result<(), ModifyError> {
    match dialect {
        DialectKind::Openim => openim::check_modify(callback, fields),
        DialectKind::Tencent => tencent::check_modify(callback, fields),
    }
}

fn render(dialect: DialectKind, callback: &Callback, verdict: &Verdict) -> Vec<u8> {
    match dialect {
        DialectKind::Openim => openim::render(callback, verdict),
        DialectKind::Tencent => tencent::render(callback, verdict),
    }
}

fn unix_now() -> i64 {
    // A clock before 1970 makes every signed request look stale, which is the safe failure.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    to_bytes(body, limit).await.map_err(|e| {
        // axum reports an over-limit body as a `LengthLimitError` somewhere in the chain.
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return ApiError::BodyTooLarge { limit_bytes: limit };
            }
            source = err.source();
        }
        ApiError::BodyUnreadable
    })
}

fn json_response(body: Vec<u8>) -> Response {
    let mut response = Body::from(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
