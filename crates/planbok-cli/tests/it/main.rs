//! Node 1 and Node 2 as real processes over real mutual TLS, driven the way the REST server
//! drives them (server certificate + grant key).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod faults;
mod grants;
mod protocols;
mod sealed;
mod secrets;
mod transport;
