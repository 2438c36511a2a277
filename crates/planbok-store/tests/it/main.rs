//! The store's one integration-test binary. Every case in `node_cases` and the `server_*`
//! modules runs against SQLite (a temp file) and PostgreSQL (a fresh database per test).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a panic is the failure report"
)]

mod harness;
mod node_cases;
mod node_customers;
mod node_misc;
mod node_pins;
mod node_recovery;
mod server_access;
mod server_audit;
mod server_customer_tx;
mod server_fixtures;
mod server_idem;
mod server_mail;
mod server_transactions;
mod server_wallets;
mod server_webhooks;
