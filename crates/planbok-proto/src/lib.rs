//! planbok's internal contract.
//!
//! - [`pb`]: the gRPC services and messages generated from `proto/planbok.proto` (server →
//!   Node 1 `Coordinator`, Node 1 → Node 2 `Peer`, operator → node `Operator`).
//! - [`grant`]: authorization grants: the server signs one per DKG, signature, refresh and
//!   export; each node verifies it on its own.
//! - [`codes`]: stable error codes carried in gRPC statuses.
//! - [`roles`]: the certificate roles (`planbok://node1` …) every call is checked against.
//! - [`tls`]: loading mutual-TLS material (CA, certificate, key).

/// Generated protobuf messages and tonic clients/servers.
#[allow(missing_docs, missing_debug_implementations, clippy::all)]
pub mod pb {
    tonic::include_proto!("planbok.v1");
}

pub mod codes;
pub mod grant;
pub mod roles;
pub mod tls;
