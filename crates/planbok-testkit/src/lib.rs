//! The whole system as real processes for integration tests and benchmarks: node pairs
//! and the REST server with a throwaway PKI and databases ([`cluster`]), and a throwaway
//! PostgreSQL server ([`postgres`]). Test-only: no production binary links it.
//!
//! The in-process protocol drivers live in `planbok-drivers`; they are re-exported here for
//! the tests that use both.

mod clock;
pub mod cluster;
mod configs;
pub mod postgres;

pub use planbok_drivers::{RunError, random_bytes, run_local, run_threads, session_id};
