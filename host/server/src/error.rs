//! The one error type that becomes an HTTP response.
//!
//! Bodies are small JSON objects with a stable `code` for programs and a `message` for
//! people. Nothing internal (paths, I/O errors, plugin output) ever reaches a client: an
//! internal failure is logged here and answered with a generic 500. The one place a
//! wasmtime message is passed on is the admin API's 422 for a refused component, because
//! the operator who uploaded it needs the reason (a missing import, a wrong world).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hookbox_dialects::DialectError;
use hookbox_kv::KvError;
use hookbox_queue::QueueError;
use hookbox_registry::RegistryError;
use hookbox_runtime::LoadError;
use serde::Serialize;

/// Why a request was not answered with an envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request is not a callback the dialect can read.
    #[error(transparent)]
    Dialect(#[from] DialectError),
    /// The body is larger than `server.max_body_kb`.
    #[error("request body exceeds the {limit_bytes}-byte limit")]
    BodyTooLarge {
        /// The configured limit.
        limit_bytes: usize,
    },
    /// The body could not be read (client went away, bad chunking).
    #[error("request body could not be read")]
    BodyUnreadable,
    /// No route matches the path.
    #[error("no callback endpoint at this path")]
    NotFound,
    /// The path is a callback endpoint, but callbacks are POSTed.
    #[error("callbacks are sent with POST")]
    MethodNotAllowed,
    /// The body is compressed or otherwise encoded; IM servers send plain JSON.
    #[error("Content-Encoding is not supported: send the body unencoded")]
    UnsupportedEncoding,
    /// The body did not arrive within `server.request_timeout_ms`.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// `server.max_in_flight` requests are being answered already.
    #[error("too many requests in flight; retry shortly")]
    Overloaded,
    /// The peer address is outside `server.allow_sources`.
    #[error("{0} may not send callbacks to this endpoint (server.allow_sources)")]
    SourceNotAllowed(std::net::IpAddr),
    /// `server.max_in_flight_per_source` requests from this peer address are being answered
    /// already.
    #[error("too many requests in flight from this address; retry shortly")]
    SourceOverloaded,
    /// Something failed inside hookbox. The detail is logged, never sent.
    #[error("internal error")]
    Internal(String),
    /// Admin API: no `Authorization: Bearer` header, or the wrong token.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// Admin API: the plugin name in the path is not `[a-z0-9][a-z0-9-]{0,62}`.
    #[error(
        "invalid plugin name: use 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
    )]
    InvalidName,
    /// Admin API: the body's `Content-Type` is not the one the route takes.
    #[error("Content-Type must be {expected}")]
    UnsupportedMediaType {
        /// What the route takes.
        expected: &'static str,
    },
    /// Admin API: the body is not what the route takes (JSON shape, base64).
    #[error("{0}")]
    BadRequest(String),
    /// Admin API: the plugins are still loading.
    #[error("not ready: the configured plugins are still loading")]
    NotReady,
    /// Admin API: the registry refused the change; nothing was changed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Admin API: the plugin has no key-value bucket (no `grants.kv`, or no kv store).
    #[error("this plugin has no key-value bucket (grants.kv)")]
    NoKv,
    /// Admin API: no value under this key.
    #[error("no value under this key")]
    KeyNotFound,
    /// Admin API: the kv store refused the key, or failed (then the detail is only logged).
    #[error(transparent)]
    Kv(#[from] KvError),
    /// Admin API: the queue refused the request, or failed (then the detail is only logged).
    #[error(transparent)]
    Queue(#[from] QueueError),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Dialect(e) => e.status(),
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyUnreadable => StatusCode::BAD_REQUEST,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded | ApiError::SourceOverloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::SourceNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::InvalidName | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Registry(e) => match e {
                RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
                RegistryError::Exists(_)
                | RegistryError::RevisionConflict { .. }
                | RegistryError::DuplicateName(_)
                | RegistryError::NoPreviousVersion(_)
                | RegistryError::VersionGone { .. } => StatusCode::CONFLICT,
                RegistryError::Manifest(_)
                | RegistryError::BadPatch(_)
                | RegistryError::Load { .. }
                | RegistryError::CompileTimeout { .. }
                | RegistryError::NotGranted { .. }
                | RegistryError::Unavailable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::NoKv | ApiError::KeyNotFound => StatusCode::NOT_FOUND,
            ApiError::Kv(KvError::InvalidKey(_) | KvError::KeyTooLarge { .. })
            | ApiError::Queue(QueueError::InvalidPlugin { .. }) => StatusCode::BAD_REQUEST,
            ApiError::Kv(_) | ApiError::Queue(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Dialect(e) => e.code(),
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::BodyUnreadable => "body_unreadable",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::UnsupportedEncoding => "unsupported_content_encoding",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Overloaded => "overloaded",
            ApiError::SourceOverloaded => "source_overloaded",
            ApiError::SourceNotAllowed(_) => "source_not_allowed",
            ApiError::Internal(_) => "internal",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidName => "invalid_name",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotReady => "not_ready",
            ApiError::Registry(e) => match e {
                RegistryError::NotFound(_) => "plugin_not_found",
                RegistryError::Exists(_) | RegistryError::DuplicateName(_) => "plugin_exists",
                RegistryError::NoPreviousVersion(_) => "no_previous_version",
                RegistryError::RevisionConflict { .. } => "revision_conflict",
                RegistryError::VersionGone { .. } => "version_gone",
                // A grant this hookbox cannot honour (no kv store configured) is, for this
                // host, a manifest it cannot accept.
                RegistryError::Manifest(_) | RegistryError::Unavailable { .. } => {
                    "invalid_manifest"
                }
                RegistryError::NotGranted { .. } => "not_granted",
                RegistryError::BadPatch(_) => "invalid_patch",
                RegistryError::CompileTimeout { .. } => "compile_timeout",
                RegistryError::Load { source, .. } => match source {
                    LoadError::NotWasm | LoadError::CoreModule => "not_a_component",
                    LoadError::Compile(_) => "compile_failed",
                    LoadError::Link(_) => "unsupported_import",
                    LoadError::WrongWorld(_) => "wrong_world",
                    _ => "invalid_component",
                },
                _ => "internal",
            },
            ApiError::NoKv => "no_kv",
            ApiError::KeyNotFound => "key_not_found",
            ApiError::Kv(KvError::InvalidKey(_) | KvError::KeyTooLarge { .. }) => "invalid_key",
            ApiError::Queue(QueueError::InvalidPlugin { .. }) => "invalid_name",
            ApiError::Kv(_) | ApiError::Queue(_) => "internal",
        }
    }

    /// The `message` sent: the error itself, except for internal failures, whose detail
    /// (paths, I/O errors) is only logged. A refused component's message is the reason
    /// the runtime gave, which is about the uploaded component, not about the host.
    fn public_message(&self) -> String {
        match self {
            ApiError::Registry(RegistryError::Load { source, .. }) => source.to_string(),
            e if e.status() == StatusCode::INTERNAL_SERVER_ERROR => "internal error".to_owned(),
            e => e.to_string(),
        }
    }
}

/// Marks a response as a refusal, so the layer that counts refusals can tell it from an
/// envelope without parsing bodies. Set on every [`ApiError`] response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The error's [`ApiError::code`].
    pub code: &'static str,
}

/// Seconds a client is asked to wait after a 503 for load: long enough to matter, short
/// enough that a before-callback retried by hand is still useful.
const RETRY_AFTER_SECS: &str = "1";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(detail = %detail, "internal error answering a request");
        } else if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(detail = %self, "internal error answering a request");
        } else if matches!(self, ApiError::Overloaded | ApiError::SourceOverloaded) {
            // Load shedding is the one refusal an operator must act on (raise the caps, add
            // replicas), so it is louder than a malformed request.
            tracing::warn!(refused = self.code(), "request refused: {self}");
        } else {
            tracing::info!(refused = self.code(), "request refused: {self}");
        }
        let body = ErrorBody {
            code: self.code(),
            message: self.public_message(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            ApiError::Overloaded | ApiError::SourceOverloaded => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            // The rest of the body is unread (and may never come): close rather than
            // read it just to keep the connection. A source that may not send anything is
            // not kept talking either.
            ApiError::BodyTooLarge { .. }
            | ApiError::RequestTimeout
            | ApiError::SourceNotAllowed(_) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
            .extensions_mut()
            .insert(Refusal { code: self.code() });
        response
    }
}
