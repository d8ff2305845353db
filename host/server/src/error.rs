//! The one error type that becomes an HTTP response.
//!
//! Bodies are small JSON objects with a stable `code` for programs and a `message` for
//! people. Nothing internal (paths, I/O errors, plugin output) ever reaches a client: an
//! internal failure is logged here and answered with a generic 500. The one place a
//! wasmtime message is passed on is the admin API's 422 for a refused component, because
//! the operator who uploaded it needs the reason (a missing import, a wrong world).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookbox_dialects::DialectError;
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
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::InvalidName | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Registry(e) => match e {
                RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
                RegistryError::Exists(_)
                | RegistryError::DuplicateName(_)
                | RegistryError::NoPreviousVersion(_)
                | RegistryError::VersionGone { .. } => StatusCode::CONFLICT,
                RegistryError::Manifest(_)
                | RegistryError::BadPatch(_)
                | RegistryError::Load { .. }
                | RegistryError::CompileTimeout { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The stable machine-readable code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Dialect(e) => e.code(),
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::BodyUnreadable => "body_unreadable",
            ApiError::NotFound => "not_found",
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
                RegistryError::VersionGone { .. } => "version_gone",
                RegistryError::Manifest(_) => "invalid_manifest",
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(detail = %detail, "internal error answering a request");
        } else if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(detail = %self, "internal error answering a request");
        } else {
            tracing::info!(code = self.code(), "request refused: {self}");
        }
        let body = ErrorBody {
            code: self.code(),
            message: self.public_message(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
