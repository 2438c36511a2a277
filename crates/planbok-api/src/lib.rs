//! planbok's public REST contract (`shared/API.md`): the JSON shapes of every request and
//! response, the stable error codes, and the OpenAPI document the server serves at
//! `/v2/openapi.json`.
//!
//! This crate has no IO and no logic beyond parsing; the server (`planbok-server`) and the
//! client SDK (`planbok-sdk`) both build on it, so they cannot drift apart.

#![forbid(unsafe_code)]

mod codes;
pub mod customer_ops;
pub mod customers;
mod envelope;
pub mod model;
pub mod openapi;
mod openapi_wire;
mod tx;

pub use codes::ErrorCode;
pub use envelope::{ErrorBody, List, ListQuery, Order, Success};

/// The header that carries an API key.
pub const API_KEY_HEADER: &str = "PLANBOK-X-API-KEY";
/// The header that carries the operator token on `POST /v2/organizations`.
pub const OPERATOR_TOKEN_HEADER: &str = "PLANBOK-X-OPERATOR-TOKEN";
/// The largest request body the server reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The longest `memo` a signing request may carry.
pub const MAX_MEMO_CHARS: usize = 256;

/// Every event a webhook endpoint may subscribe to (API.md, "Webhooks"). `webhook.test` is
/// sent only by `POST /v2/webhooks/{id}/test`, to that endpoint.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "transaction.created",
    "transaction.signed",
    "transaction.broadcast",
    "transaction.confirmed",
    "transaction.failed",
    "transaction.accelerated",
    "transaction.cancelled",
    "wallet.created",
    "customer.created",
    "customer.pin_setup",
    "customer.locked_out",
    "customer.recovery_initiated",
    "customer.recovery_completed",
    "key.disabled",
];

/// Every status a transaction may have (the `status` filter of the transaction lists).
pub const TRANSACTION_STATUSES: &[&str] = &[
    "queued",
    "signed",
    "broadcast",
    "confirmed",
    "failed",
    "cancelled",
    "replaced",
];

/// Every status a webhook delivery may have (the `status` filter of its list).
pub const DELIVERY_STATUSES: &[&str] = &["pending", "delivering", "succeeded", "failed"];

/// The token standards an organization may register (`POST /v2/tokens`).
pub const TOKEN_STANDARDS: &[&str] = &["erc20", "erc721", "erc1155"];

/// The fee levels, lowest first (`feeLevel`).
pub const FEE_LEVELS: [&str; 3] = ["low", "medium", "high"];
