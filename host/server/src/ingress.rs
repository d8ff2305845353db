//! Webhook handlers: read the body within its limit, let the dialect parse it, run the
//! chain for its command on one registry snapshot, and answer with the dialect's envelope.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use hookbox_dialects::{Inbound, openim};
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
    handle_openim(app, Some(command), uri, headers, body).await
}

/// `POST {openim.path}?command=…`: OpenIM ≤ 3.4.0 (and bodies that name their command).
pub(crate) async fn openim_legacy(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    handle_openim(app, None, uri, headers, body).await
}

async fn handle_openim(
    app: Arc<App>,
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
    let event = &callback.event;
    let span = tracing::info_span!(
        "callback",
        dialect = "openim",
        command = %event.command,
        operation_id = callback.operation_id().unwrap_or(""),
    );
    async {
        if !callback.known {
            Counters::add(&app.counters.unknown_commands, 1);
            tracing::info!("unknown OpenIM command: answering allow");
        }
        let snapshot = app.registry.snapshot();
        let chain = snapshot.chain(&event.command);
        let report = run_chain(
            app.registry.runtime(),
            chain,
            event,
            callback.phase,
            |fields| openim::check_modify(&callback, fields).map_err(|e| e.to_string()),
        )
        .await;
        let failures = report
            .steps
            .iter()
            .filter(|s| matches!(s.result, StepResult::Failed { .. }))
            .count();
        Counters::add(&app.counters.plugin_failures, failures as u64);
        Counters::add(&app.counters.callbacks, 1);
        tracing::debug!(
            verdict = report.verdict.kind(),
            plugins = report.steps.len(),
            "callback answered"
        );
        Ok(json_response(openim::render(&callback, &report.verdict)))
    }
    .instrument(span)
    .await
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
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
