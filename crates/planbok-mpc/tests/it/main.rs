//! Integration tests for planbok-mpc: both parties in one process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
