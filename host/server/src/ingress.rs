//! Webhook handlers: check the request's media type, read the body within its size limit
//! and the request deadline, let the dialect parse (and for Tencent, authenticate) it, run
//! the chain for its command on one registry snapshot, and answer with the dialect's
//! envelope. An after-callback's `delivery = "queued"` plugins are not run here: the event is
//! stored in the durable queue before the answer and delivered afterwards
//! ([`crate::delivery`]).
//!
//! The decision a reader may question: OpenIM requests must say `Content-Type:
//! application/json` (every OpenIM release does), while Tencent's are not checked. An OpenIM
//! endpoint has no authentication, and a browser on the operator's network can POST a form
//! or `text/plain` to it cross-origin without asking; demanding JSON makes the browser ask
//! first (a CORS preflight hookbox never approves). Tencent does not document its request
//! headers, so refusing some would risk refusing Tencent itself; its `Sign` authenticates
//! instead.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use hookbox_dialects::{Callback, Inbound, ModifyError, openim, tencent};
use hookbox_model::{DialectKind, JsonObject, Phase, Verdict};
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
    handle_openim(&app, Some(&command), uri, headers, body).await
}

/// A callback path known when the endpoint is built, and so routed without a path parameter
/// (its extraction and percent-decoding cost ~1k instructions a request): the router has a
/// route for each, and [`Webhooks`](crate::webhooks::Webhooks) calls [`CallbackPath::handle`]
/// directly for a `POST` to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackPath {
    /// `POST {openim.path}?command=…`: OpenIM ≤ 3.4.0 (and bodies that name their command).
    OpenimLegacy,
    /// `POST {openim.path}/{command}` for a command of the table: OpenIM ≥ 3.4.2.
    OpenimCommand(&'static str),
    /// `POST {tencent.path}?SdkAppid=…&CallbackCommand=…&Sign=…&RequestTime=…`.
    Tencent,
}

impl CallbackPath {
    /// The answer to a `POST` on this path.
    pub(crate) async fn handle(
        self,
        app: &App,
        uri: Uri,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response, ApiError> {
        let _in_flight = app.metrics.in_flight();
        match self {
            CallbackPath::OpenimLegacy => handle_openim(app, None, uri, headers, body).await,
            CallbackPath::OpenimCommand(command) => {
                handle_openim(app, Some(command), uri, headers, body).await
            }
            CallbackPath::Tencent => handle_tencent(app, uri, headers, body).await,
        }
    }
}

async fn handle_openim(
    app: &App,
    path_command: Option<&str>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let deadline = app.request_deadline();
    require_plain_body(&headers)?;
    require_json(&headers)?;
    let body = read_body_by(deadline, body, app.max_body_bytes).await?;
    let inbound = Inbound {
        path_command,
        query: uri.query(),
        headers: &headers,
        body: &body,
    };
    let callback = openim::parse(&inbound)?;
    Ok(answer(app, &callback, DialectKind::Openim, Some(deadline)).await)
}

async fn handle_tencent(
    app: &App,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let request_deadline = app.request_deadline();
    let Some(endpoint) = &app.tencent else {
        return Err(ApiError::NotFound);
    };
    require_plain_body(&headers)?;
    let body = read_body_by(request_deadline, body, app.max_body_bytes).await?;
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
    let deadline = (arrived + endpoint.answer_within).min(request_deadline);
    // A signed before-callback seen before, byte for byte, gets the answer it got then
    // (catalogue #12). After-callbacks are deduplicated by the queue instead.
    let replay = match (&endpoint.replays, callback.phase) {
        (Some(cache), Phase::Before) => cache.key(uri.query(), &body).map(|key| (cache, key)),
        _ => None,
    };
    // Boxed, like the chain in `envelope`: the store's futures would otherwise make every
    // callback's future larger.
    if let Some((cache, key)) = &replay
        && let Some(envelope) = Box::pin(cache.answered(key)).await
    {
        Counters::add(&app.counters.replays, 1);
        tracing::info!(
            command = %callback.event.command,
            message_key = callback.message_key().unwrap_or(""),
            "replayed Tencent callback: answered as before, no plugin ran"
        );
        return Ok(json_response(envelope));
    }
    let envelope = envelope(app, &callback, DialectKind::Tencent, Some(deadline)).await;
    if let Some((cache, key)) = &replay {
        Box::pin(cache.remember(key, &envelope, unix_now())).await;
    }
    Ok(json_response(envelope))
}

/// [`envelope`] as the HTTP answer.
async fn answer(
    app: &App,
    callback: &Callback,
    dialect: DialectKind,
    deadline: Option<Instant>,
) -> Response {
    json_response(envelope(app, callback, dialect, deadline).await)
}

/// Run the chain for a parsed callback and render the dialect's envelope. Never fails: a
/// parsed callback always gets an envelope.
async fn envelope(
    app: &App,
    callback: &Callback,
    dialect: DialectKind,
    deadline: Option<Instant>,
) -> Vec<u8> {
    let event = &callback.event;
    let span = tracing::info_span!(
        "callback",
        dialect = dialect.as_str(),
        command = %event.command,
        operation_id = callback.operation_id().unwrap_or(""),
        message_key = callback.message_key().unwrap_or(""),
    );
    async {
        if !callback.known {
            Counters::add(&app.counters.unknown_commands, 1);
            tracing::info!("unknown command: answering allow unless a plugin subscribed to it");
        }
        let snapshot = app.registry.snapshot();
        let chain = snapshot.chain(&event.command);
        // An after-callback for queued plugins is stored before the answer and delivered
        // afterwards; what is left runs now. Before-callbacks run whole.
        // The chain's future and the queue's are boxed: inline, their ~2.3 KiB would be part
        // of every future that holds this one, and each is copied as it is moved into its
        // caller's (memmove was ~5 % of a callback's time).
        let (event, inline) = match (&app.delivery, callback.phase) {
            (Some(delivery), Phase::After) if !chain.is_empty() => {
                let (event, inline) = Box::pin(delivery.accept(callback, chain)).await;
                (Cow::Owned(event), Cow::Owned(inline))
            }
            _ => (Cow::Borrowed(event), Cow::Borrowed(chain)),
        };
        let check = |fields: &JsonObject| {
            check_modify(dialect, callback, fields).map_err(|e| e.to_string())
        };
        let report = Box::pin(run_chain(
            app.registry.runtime(),
            &inline,
            &event,
            callback.phase,
            deadline,
            check,
        ))
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
        render(dialect, callback, &report.verdict)
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

/// Refuse a body sent with a `Content-Encoding` (gzip, …): neither IM server compresses
/// what it sends, and decoding one would let a small request expand past the body cap.
fn require_plain_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let encoded = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return Err(ApiError::UnsupportedEncoding);
    }
    Ok(())
}

/// What OpenIM sends is `application/json; charset=utf-8`. Accepted: `application/json` or
/// any `application/*+json`, with any parameters, but a `charset` must be UTF-8 (the body
/// is read as UTF-8 whatever it says). A missing `Content-Type` is refused too: browsers
/// can send such a request cross-origin without a preflight as well.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    const EXPECTED: &str = "application/json";
    let refused = ApiError::UnsupportedMediaType { expected: EXPECTED };
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(refused);
    };
    let Ok(value) = value.to_str() else {
        return Err(refused);
    };
    let mut parts = value.split(';');
    // Compared as bytes without case, not through a lowercased copy: this runs on every
    // callback.
    let essence = parts.next().unwrap_or("").trim().as_bytes();
    let (prefix, suffix) = (b"application/", b"+json");
    let json = essence.eq_ignore_ascii_case(EXPECTED.as_bytes())
        || (essence.len() >= prefix.len() + suffix.len()
            && essence[..prefix.len()].eq_ignore_ascii_case(prefix)
            && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix));
    let utf8 = parts.all(|parameter| match parameter.split_once('=') {
        Some((name, charset)) if name.trim().eq_ignore_ascii_case("charset") => {
            let charset = charset.trim().trim_matches('"');
            charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")
        }
        _ => true,
    });
    if json && utf8 { Ok(()) } else { Err(refused) }
}

/// [`read_body`], cut off at `deadline`: a client that trickles its body gets 408 instead
/// of holding its slot until the IM server has long given up.
async fn read_body_by(
    deadline: Instant,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    tokio::time::timeout_at(deadline.into(), read_body(body, limit))
        .await
        .map_err(|_| ApiError::RequestTimeout)?
}

/// The whole body, or 413 as soon as it is known to exceed `limit`: at once when the
/// declared `Content-Length` says so, else when the bytes read pass it. The rest is never
/// read.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    use axum::body::HttpBody as _;
    let declared = body.size_hint().lower();
    if declared > u64::try_from(limit).unwrap_or(u64::MAX) {
        return Err(ApiError::BodyTooLarge { limit_bytes: limit });
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_matched_without_case_and_never_panic() {
        let check = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().expect("a header value"));
            require_json(&headers).is_ok()
        };
        for accepted in [
            "application/json",
            "APPLICATION/JSON ; charset=UTF8",
            "application/vnd.openim+json",
            "Application/Problem+JSON",
            "application/+json",
        ] {
            assert!(check(accepted), "{accepted}");
        }
        for refused in [
            "application/jsonx",
            "application/json+",
            "text/json",
            "application+json",
            "application/",
            "+json",
            "",
            "application/json; charset=utf-16",
        ] {
            assert!(!check(refused), "{refused}");
        }
        // Non-ASCII bytes where the prefix and suffix are compared: refused, not a panic.
        let mut headers = HeaderMap::new();
        let odd = header::HeaderValue::from_bytes("applicatioé/x+json".as_bytes()).unwrap();
        headers.insert(header::CONTENT_TYPE, odd);
        assert!(require_json(&headers).is_err());
        let odd = header::HeaderValue::from_bytes("application/x+jsoé".as_bytes()).unwrap();
        headers.insert(header::CONTENT_TYPE, odd);
        assert!(require_json(&headers).is_err());
    }
}
