//! Integration tests for planbok-mpc: both parties in one process.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test: a panic is the failure report"
)]

mod cggmp;
mod channel;
mod decoders;
mod dkls;
mod export;
mod fixtures;
mod frost;
mod harness;
mod python;
mod secrets;
mod verify;
