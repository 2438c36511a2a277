//! Engine errors.
//!
//! Every variant says what happened and, where a message caused it, which party sent that
//! message. In a 2-of-2 protocol a misbehaving message can only come from the counterparty
//! (or the transport between us), so `blame` names the sender as written in the frame.

use crate::frame::{PartyIndex, ProtocolId};

/// What went wrong in a protocol run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MpcError {
    /// The caller used the API wrongly (bad parameters, wrong share for the protocol, ...).
    /// Nothing was sent; this is never an attack.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A frame could not be parsed (truncated, bad magic, unknown version, over the size cap).
    #[error("malformed frame from party {blame:?}: {reason}")]
    MalformedFrame {
        /// The sender named in the frame, when the header was readable.
        blame: Option<PartyIndex>,
        /// Why it was rejected.
        reason: String,
    },

    /// A well-formed frame that does not belong to this run: another session, another
    /// protocol, or addressed to someone else.
    #[error("frame from party {blame} does not belong to this run: {reason}")]
    WrongSession {
        /// The sender named in the frame.
        blame: PartyIndex,
        /// Which field did not match.
        reason: String,
    },

    /// The frame names a sender that is not our counterparty (including ourselves).
    #[error("frame claims sender {claimed}, expected {expected}")]
    UnexpectedSender {
        /// The sender the frame claims.
        claimed: PartyIndex,
        /// The only sender we accept.
        expected: PartyIndex,
    },

    /// The frame is for a round this protocol does not have, or one already completed.
    #[error("party {blame} sent a message for round {round}, which is not expected now")]
    UnexpectedRound {
        /// The sender.
        blame: PartyIndex,
        /// The round in the frame.
        round: u16,
    },

    /// Two different messages for the same round and slot: the sender equivocated.
    #[error("party {blame} sent two different messages for round {round}")]
    Equivocation {
        /// The sender.
        blame: PartyIndex,
        /// The round.
        round: u16,
    },

    /// The payload did not decode as the message this round expects.
    #[error("party {blame} sent an undecodable {protocol:?} message for round {round}: {reason}")]
    MalformedMessage {
        /// The sender.
        blame: PartyIndex,
        /// The protocol.
        protocol: ProtocolId,
        /// The round.
        round: u16,
        /// Decoder message.
        reason: String,
    },

    /// The counterparty's message failed a protocol check (invalid proof, bad share,
    /// inconsistent commitment). This may be an attack: alert, do not retry in a loop.
    #[error("party {blame} misbehaved in {protocol:?}: {reason}")]
    PeerMisbehaved {
        /// The party the protocol blames.
        blame: PartyIndex,
        /// The protocol.
        protocol: ProtocolId,
        /// What the underlying library reported.
        reason: String,
    },

    /// DKLs23 detected a failed OT-consistency check: continuing to use this key with this
    /// counterparty would leak the key over time. The caller must disable the key.
    #[error("DKLs23 demands banning party {blame}: {reason}; disable this key")]
    BanCounterparty {
        /// The counterparty to ban.
        blame: PartyIndex,
        /// What the library reported.
        reason: String,
    },

    /// The protocol finished but its signature did not verify against the (derived) public
    /// key. Never returned to the client; treat as a security event.
    #[error("{protocol:?} produced a signature that does not verify; refusing to release it")]
    SignatureInvalid {
        /// The protocol.
        protocol: ProtocolId,
        /// The counterparty: with two parties, an honest party's output can only be wrong
        /// because of the other's messages (or the channel between them).
        blame: PartyIndex,
    },

    /// The run was already aborted or finished; it accepts no more input.
    #[error("the run is closed: {0}")]
    Closed(&'static str),

    /// A sealed share could not be read back.
    #[error("sealed share rejected: {0}")]
    SealedFormat(String),

    /// A local failure that should not happen (library contract broken). Not the peer's fault.
    #[error("internal engine error: {0}")]
    Internal(String),
}

impl MpcError {
    /// The party blamed by this error, if a message caused it.
    pub fn blame(&self) -> Option<PartyIndex> {
        match self {
            MpcError::MalformedFrame { blame, .. } => *blame,
            MpcError::WrongSession { blame, .. }
            | MpcError::UnexpectedRound { blame, .. }
            | MpcError::Equivocation { blame, .. }
            | MpcError::MalformedMessage { blame, .. }
            | MpcError::PeerMisbehaved { blame, .. }
            | MpcError::BanCounterparty { blame, .. }
            | MpcError::SignatureInvalid { blame, .. } => Some(*blame),
            MpcError::UnexpectedSender { claimed, .. } => Some(*claimed),
            MpcError::InvalidInput(_)
            | MpcError::Closed(_)
            | MpcError::SealedFormat(_)
            | MpcError::Internal(_) => None,
        }
    }

    /// Whether the error may indicate an attack (as opposed to misuse or a local fault).
    pub fn may_be_attack(&self) -> bool {
        matches!(
            self,
            MpcError::PeerMisbehaved { .. }
                | MpcError::BanCounterparty { .. }
                | MpcError::SignatureInvalid { .. }
                | MpcError::Equivocation { .. }
        )
    }
}

/// The export's and the share format's errors (`planbok-export`), as this crate's.
impl From<planbok_export::ExportError> for MpcError {
    fn from(e: planbok_export::ExportError) -> MpcError {
        match e {
            planbok_export::ExportError::InvalidInput(m) => MpcError::InvalidInput(m),
            planbok_export::ExportError::SealedFormat(m) => MpcError::SealedFormat(m),
            planbok_export::ExportError::Internal(m) => MpcError::Internal(m),
        }
    }
}
