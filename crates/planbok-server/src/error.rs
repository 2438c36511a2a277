//! The one error type of the handlers, and the only place it becomes an HTTP response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use planbok_api::{ErrorBody, ErrorCode};
use planbok_chains::ChainError;
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

impl From<ChainError> for ApiError {
    fn from(e: ChainError) -> Self {
        let code = match &e {
            ChainError::UnsupportedChain(_) => ErrorCode::UnsupportedChain,
            ChainError::UnsupportedOperation(_) => ErrorCode::UnsupportedOperation,
            ChainError::InvalidMessage(_) => ErrorCode::InvalidRequest,
            ChainError::InvalidTypedData(_) => ErrorCode::InvalidTypedData,
            ChainError::InvalidTransaction(_) => ErrorCode::InvalidTransaction,
            ChainError::ChainIdMismatch { .. } => ErrorCode::ChainIdMismatch,
            ChainError::NotSigner => ErrorCode::NotSigner,
            // The server hands the chain crate only keys and paths from its own records, and
            // signatures from the nodes: one of these is a bug or an attack, never the
            // client's input, so it is logged and answered as `internal`.
            ChainError::InvalidPublicKey
            | ChainError::InvalidPath
            | ChainError::InputMismatch(_)
            | ChainError::SignatureMismatch => return ApiError::internal(e),
        };
        ApiError::new(code, e.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each chain error's code and HTTP status, decided by the match above (they used to be
    /// strings parsed back into codes, where `invalid_public_key` and `invalid_path` fell
    /// through to a 500 by accident; they are 500s by decision now, tested here).
    #[test]
    fn every_chain_error_gets_its_code_and_status() {
        let cases = [
            (
                ChainError::UnsupportedChain("X".into()),
                "unsupported_chain",
                422,
            ),
            (
                ChainError::UnsupportedOperation("x".into()),
                "unsupported_operation",
                422,
            ),
            (
                ChainError::InvalidMessage("x".into()),
                "invalid_request",
                400,
            ),
            (
                ChainError::InvalidTypedData("x".into()),
                "invalid_typed_data",
                422,
            ),
            (
                ChainError::InvalidTransaction("x".into()),
                "invalid_transaction",
                422,
            ),
            (
                ChainError::ChainIdMismatch {
                    expected: 1,
                    got: 2,
                },
                "chain_id_mismatch",
                422,
            ),
            (ChainError::NotSigner, "not_signer", 422),
            (ChainError::InvalidPublicKey, "internal", 500),
            (ChainError::InvalidPath, "internal", 500),
            (ChainError::InputMismatch("x".into()), "internal", 500),
            (ChainError::SignatureMismatch, "internal", 500),
        ];
        for (chain_error, code, status) in cases {
            let text = chain_error.to_string();
            let e = ApiError::from(chain_error);
            assert_eq!(e.code.as_str(), code, "{text}");
            assert_eq!(e.code.http_status(), status, "{text}");
            if status < 500 {
                assert_eq!(e.message, text, "a client error says what was wrong");
            } else {
                assert_eq!(
                    e.message, "internal error",
                    "an internal error says nothing"
                );
            }
        }
    }
}
