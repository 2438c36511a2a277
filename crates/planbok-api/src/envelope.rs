//! The success and error envelopes, and list pagination.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ErrorCode;

/// `{"success": true, "status", "message", "data"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Success<T> {
    /// Always `true`.
    pub success: bool,
    /// The HTTP status, repeated.
    pub status: u16,
    /// A human summary.
    pub message: String,
    /// The result.
    pub data: T,
}

impl<T> Success<T> {
    /// A success envelope.
    pub fn new(status: u16, message: impl Into<String>, data: T) -> Self {
        Success {
            success: true,
            status,
            message: message.into(),
            data,
        }
    }
}

/// `{"success": false, "status", "message", "code"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// The HTTP status, repeated.
    pub status: u16,
    /// For humans; may change between versions.
    pub message: String,
    /// Stable; match on this.
    pub code: ErrorCode,
    /// The request id, as in the `x-request-id` response header and the server log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Sort order of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest first.
    #[serde(alias = "ASC")]
    Asc,
    /// Newest first (the default).
    #[default]
    #[serde(alias = "DESC")]
    Desc,
}

/// `page` (1), `limit` (10, at most 100), `order` (`desc`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1-based page.
    #[param(minimum = 1, maximum = 2147483647)]
    pub page: Option<u32>,
    /// Items per page, 1..=100.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `asc` or `desc`.
    pub order: Option<Order>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct List<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The page number.
    pub page: u32,
    /// The page size.
    pub limit: u32,
    /// How many items there are in all.
    pub total: u64,
}
