//! The one error type of the handlers, and the only place it becomes an HTTP response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use planbok_api::{ErrorBody, ErrorCode};
use planbok_store::StoreError;

use crate::context;

/// An error answered to the client: a stable code and a human message. Internal details
/// are logged with the request id, never sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The code.
    pub code: ErrorCode,
    /// The message sent.
    pub message: String,
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid_request`, naming the field.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// 500 `internal`: logs `detail` with the request id and sends nothing of it.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(request_id = %context::request_id(), error = %detail, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => {
                tracing::warn!(request_id = %context::request_id(), error = %e, "database unavailable");
                ApiError::new(ErrorCode::StorageUnavailable, "the database is unavailable")
            }
            StoreError::NotFound(what) => ApiError::new(ErrorCode::NotFound, what),
            StoreError::Conflict(what) => ApiError::new(ErrorCode::Conflict, what),
            other => ApiError::internal(other),
        }
    }
}

impl From<planbok_chains::ChainError> for ApiError {
    fn from(e: planbok_chains::ChainError) -> Self {
        // A bad key, path or signature comes from our own records or the nodes: a bug or
        // an attack, never the client's input.
        match ErrorCode::parse(e.code()) {
            Some(code) if !e.is_internal() && code.http_status() < 500 => {
                ApiError::new(code, e.to_string())
            }
            _ => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.http_status();
        let body = ErrorBody {
            success: false,
            status,
            message: self.message,
            code: self.code,
            request_id: Some(context::request_id()),
        };
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(body)).into_response()
    }
}
