//! Persistence for planbok, on SQLite (the default) or PostgreSQL.
//!
//! The backend is chosen once, by the URL given to `connect`, and every query is written
//! once in SQL both accept; the two backends differ only in their migrations (DDL). See
//! `docs/storage.md` for the schema and the two-phase commit of key shares.
//!
//! - [`NodeStore`]: a node daemon's database (key shares, replay sets, organization keys).
//! - [`server::ServerStore`]: the REST server's database (organizations, members, API
//!   keys, wallet sets, wallets, idempotency records, the hash-chained audit trail).
//!
//! Everything secret this crate stores arrives already sealed (encrypted) by the keystore;
//! the store never sees plaintext key material.

#![forbid(unsafe_code)]

mod clock;
mod credentials;
mod db;
mod error;
mod node;
mod node_customers;
mod node_factors;
mod node_orgs;
mod node_pins;
mod node_recovery;
mod node_replay;
mod node_shares;
pub mod server;

pub use credentials::{DatabaseCredentials, OpenBaoDatabase};
pub use db::Backend;
pub use error::StoreError;
pub use node::{Custody, CustodySummary, KeyDisabled, KeyRecord, NewKey, NodeStore};
pub use node_factors::{FactorRecord, FactorTable, PinAttempt, PinRecord, RecoveryRecord};
pub use node_orgs::{OrgKeyRecord, OrgSecretRecord};
pub use server::ServerStore;
