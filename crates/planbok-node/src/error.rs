//! Node errors and their mapping to gRPC statuses (the only place that happens).

use planbok_keystore::KeystoreError;
use planbok_mpc::MpcError;
use planbok_proto::codes::{self, ErrorCode};
use planbok_proto::grant::GrantError;
use planbok_store::StoreError;
use tonic::Status;

/// A refused or failed request: a stable code and a message safe to show the caller.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct NodeError {
    /// Stable code.
    pub code: ErrorCode,
    /// Human text, never containing secret material.
    pub message: String,
    /// Set only when **this node's** engine reported DKLs23's `BanCounterparty`: the caller
    /// must disable the key before answering ([`crate::state::NodeState::disable_on_ban`]).
    /// Never set from a peer's status, so the peer cannot make us disable a key.
    pub(crate) ban: Option<String>,
}

impl NodeError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        NodeError {
            code,
            message: message.into(),
            ban: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub(crate) fn internal(message: impl std::fmt::Display) -> Self {
        // The detail goes to the log; the caller sees a generic text.
        tracing::error!(%message, "internal error");
        Self::new(ErrorCode::Internal, "internal error; see the node's log")
    }
}

impl From<NodeError> for Status {
    fn from(e: NodeError) -> Status {
        codes::status(e.code, e.message)
    }
}

impl From<GrantError> for NodeError {
    fn from(e: GrantError) -> Self {
        NodeError::new(e.code(), e.to_string())
    }
}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error");
        NodeError::new(ErrorCode::Storage, "the node's database failed")
    }
}

impl From<KeystoreError> for NodeError {
    fn from(e: KeystoreError) -> Self {
        match e {
            KeystoreError::Sealed | KeystoreError::NotInitialized => {
                NodeError::new(ErrorCode::Sealed, "the node is sealed")
            }
            KeystoreError::WrongOrgSecret => {
                NodeError::new(ErrorCode::SecretInvalid, "the organization secret is wrong")
            }
            other => {
                if other.may_be_attack() {
                    tracing::error!(alert = true, error = %other, "keystore refused a blob");
                }
                NodeError::internal(format!("keystore: {other}"))
            }
        }
    }
}

impl From<MpcError> for NodeError {
    fn from(e: MpcError) -> Self {
        if let MpcError::BanCounterparty { .. } = &e {
            // Alerted again, with the key, where the key is disabled.
            tracing::error!(alert = true, blame = ?e.blame(), error = %e,
                "protocol aborted: DKLs23 demands banning the counterparty");
            let mut err =
                NodeError::new(ErrorCode::ProtocolAborted, format!("protocol aborted: {e}"));
            err.ban = Some(e.to_string());
            return err;
        }
        if e.may_be_attack() {
            tracing::error!(alert = true, blame = ?e.blame(), error = %e, "protocol aborted; the peer may be misbehaving");
        } else {
            tracing::warn!(error = %e, "protocol failed");
        }
        NodeError::new(ErrorCode::ProtocolAborted, format!("protocol aborted: {e}"))
    }
}

/// A status received from the peer, with its code kept.
pub(crate) fn from_peer_status(s: &Status) -> NodeError {
    match codes::code_of(s) {
        Some(code) => NodeError::new(code, format!("node 2: {}", s.message())),
        None => NodeError::new(
            ErrorCode::PeerUnavailable,
            format!("node 2 unreachable: {}", s.message()),
        ),
    }
}

pub(crate) type NodeResult<T> = Result<T, NodeError>;
