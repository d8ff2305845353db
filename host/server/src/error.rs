//! The one error type that becomes an HTTP response.
//!
//! Bodies are small JSON objects with a stable `code` for programs and a `message` for
//! people. Nothing internal (paths, wasmtime errors, plugin output) ever reaches a client:
//! an internal failure is logged here and answered with a generic 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookbox_dialects::DialectError;
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
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(detail = %detail, "internal error answering a request");
        } else {
            tracing::info!(code = self.code(), "request refused: {self}");
        }
        let body = ErrorBody {
            code: self.code(),
            message: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}
