//! A client for planbok's REST API (`shared/API.md`).
//!
//! - [`Client`]: one method per route, returning the envelope's `data` or an [`Error`]
//!   carrying the stable `code` (match on it, never on the message).
//! - [`secret`]: the client side of the organization-secret envelope: generate a secret,
//!   encrypt it for a context (RSA-OAEP-SHA256 over `{"secret","timestamp","context"}`,
//!   base64), compatible with the platform's published Node.js recipe.
//! - [`webhook`]: verifying the webhooks the server sends (both signature styles).
//! - [`gateway`]: the customer Gateway's client side (PIN hashing, OPRF, the customer
//!   secret's wrap), without IO; [`Client::gateway`] carries a challenge token.
//!
//! The client is blocking (ureq); use one per thread, or wrap calls in `spawn_blocking`.
//!
//! Feature `export`: [`export`], the export's CSV rebuilt from the nodes' sealed shares.
//! Feature `alloy`: [`alloy::PlanbokSigner`], a wallet as an alloy signer.
//! Feature `client` (default) is the REST client. Without it the crate has no IO and
//! builds for `wasm32-unknown-unknown` (the Gateway page's module): the Gateway client,
//! the secret envelope, key trust and webhook verification. CI checks that build.

#![forbid(unsafe_code)]

#[cfg(feature = "alloy")]
pub mod alloy;
#[cfg(feature = "client")]
mod client;
mod clock;
#[cfg(feature = "client")]
mod customer_ops;
#[cfg(feature = "client")]
mod customers;
mod error;
#[cfg(feature = "export")]
pub mod export;
pub mod gateway;
pub mod secret;
#[cfg(feature = "client")]
mod transactions;
pub mod trust;
pub mod webhook;

#[cfg(feature = "client")]
pub use client::Client;
pub use error::Error;

/// The wall clock, unix milliseconds (for [`gateway::OpenedPin::authorize`], which takes
/// the time as an argument so that the Gateway client itself reads no clock).
pub fn unix_now_ms() -> i64 {
    clock::now_ms()
}
pub use planbok_api as api;

/// A fresh idempotency key (UUID v4).
pub fn idempotency_key() -> String {
    uuid::Uuid::new_v4().to_string()
}
