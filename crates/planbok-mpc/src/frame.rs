//! The wire frame every protocol message travels in.
//!
//! Layout, version 1 (all integers big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `PBKF` |
//! | 1 | format version (1) |
//! | 1 | protocol id ([`ProtocolId`]) |
//! | 1 | flags (bit 0: broadcast; other bits must be 0) |
//! | 1 | reserved, must be 0 |
//! | 2 | round |
//! | 2 | sender |
//! | 2 | receiver |
//! | 32 | session id |
//! | 4 | payload length |
//! | n | payload |
//!
//! The payload is the protocol library's own message encoding (postcard for cggmp21 and
//! DKLs23, `serialize()` for FROST). The total frame is capped at [`MAX_FRAME_LEN`].

use std::fmt;

use crate::error::MpcError;

/// Frame magic.
pub const MAGIC: [u8; 4] = *b"PBKF";
/// Current frame format version.
pub const FRAME_VERSION: u8 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 1 + 1 + 2 + 2 + 2 + 32 + 4;
/// Largest accepted frame (header + payload). The largest honest message (cggmp21
/// aux-info round) is about 0.5 MiB.
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

const FLAG_BROADCAST: u8 = 1;

/// Index of a party in a 2-of-2 run: Node 1 is 0, Node 2 is 1.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyIndex(u16);

impl PartyIndex {
    /// Node 1, the coordinator.
    pub const NODE1: PartyIndex = PartyIndex(0);
    /// Node 2, the signer.
    pub const NODE2: PartyIndex = PartyIndex(1);

    /// Parses an index; only 0 and 1 exist in a 2-of-2 scheme.
    pub fn new(i: u16) -> Result<Self, MpcError> {
        match i {
            0 | 1 => Ok(PartyIndex(i)),
            _ => Err(MpcError::InvalidInput(format!(
                "party index {i} out of range (2 parties)"
            ))),
        }
    }

    /// The raw index (0 or 1).
    pub fn get(self) -> u16 {
        self.0
    }

    /// The other party.
    pub fn peer(self) -> PartyIndex {
        PartyIndex(1 - self.0)
    }
}

impl fmt::Debug for PartyIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", self.0)
    }
}

impl fmt::Display for PartyIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node{}", self.0 + 1)
    }
}

/// Which protocol a frame belongs to. Values are part of the wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ProtocolId {
    /// cggmp21 auxiliary info (Paillier keys and ring-Pedersen parameters).
    CggmpAuxInfo = 1,
    /// cggmp21 non-threshold key generation with chain code.
    CggmpKeygen = 2,
    /// cggmp21 interactive signing.
    CggmpSign = 3,
    /// cggmp21 key refresh.
    CggmpRefresh = 4,
    /// DKLs23 key generation with chain code.
    DklsKeygen = 10,
    /// DKLs23 signing.
    DklsSign = 11,
    /// DKLs23 complete refresh.
    DklsRefresh = 12,
    /// FROST(Ed25519, SHA-512) DKG.
    FrostKeygen = 20,
    /// FROST signing.
    FrostSign = 21,
    /// FROST refresh DKG.
    FrostRefresh = 22,
}

impl ProtocolId {
    /// Parses the wire value.
    pub fn from_u8(v: u8) -> Option<Self> {
        use ProtocolId::*;
        Some(match v {
            1 => CggmpAuxInfo,
            2 => CggmpKeygen,
            3 => CggmpSign,
            4 => CggmpRefresh,
            10 => DklsKeygen,
            11 => DklsSign,
            12 => DklsRefresh,
            20 => FrostKeygen,
            21 => FrostSign,
            22 => FrostRefresh,
            _ => return None,
        })
    }

    /// Stable lowercase name, used for domain separation and logs.
    pub fn name(self) -> &'static str {
        use ProtocolId::*;
        match self {
            CggmpAuxInfo => "cggmp-aux",
            CggmpKeygen => "cggmp-keygen",
            CggmpSign => "cggmp-sign",
            CggmpRefresh => "cggmp-refresh",
            DklsKeygen => "dkls-keygen",
            DklsSign => "dkls-sign",
            DklsRefresh => "dkls-refresh",
            FrostKeygen => "frost-keygen",
            FrostSign => "frost-sign",
            FrostRefresh => "frost-refresh",
        }
    }
}

/// A caller-supplied, 32-byte identifier binding every message of one protocol run.
/// Node 1 derives it from the authorization grant; both parties must agree on it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 32]);

impl SessionId {
    /// Wraps 32 bytes.
    pub const fn from_bytes(b: [u8; 32]) -> Self {
        SessionId(b)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A protocol-specific value derived from the session id, so that one session id can
    /// never be replayed into a different protocol's transcript.
    pub(crate) fn domain_separated(&self, protocol: ProtocolId) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"planbok/mpc/v1/");
        h.update(protocol.name().as_bytes());
        h.update([0u8]);
        h.update(self.0);
        h.finalize().into()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", hex::encode(&self.0[..8]))
    }
}

/// The routing and binding fields of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Protocol of the run.
    pub protocol: ProtocolId,
    /// Session id of the run.
    pub session: SessionId,
    /// Protocol round the payload belongs to.
    pub round: u16,
    /// Broadcast (true) or point-to-point message.
    pub broadcast: bool,
    /// Sender.
    pub sender: PartyIndex,
    /// Receiver.
    pub receiver: PartyIndex,
}

/// A parsed frame borrowing its payload.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Header fields.
    pub header: FrameHeader,
    /// The protocol message bytes.
    pub payload: &'a [u8],
}

impl FrameHeader {
    /// Encodes a frame with this header and `payload`.
    pub fn encode(&self, payload: &[u8]) -> Result<Vec<u8>, MpcError> {
        let total = HEADER_LEN + payload.len();
        if total > MAX_FRAME_LEN {
            return Err(MpcError::Internal(format!(
                "outgoing frame of {total} bytes exceeds the {MAX_FRAME_LEN}-byte cap"
            )));
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        out.push(FRAME_VERSION);
        out.push(self.protocol as u8);
        out.push(if self.broadcast { FLAG_BROADCAST } else { 0 });
        out.push(0);
        out.extend_from_slice(&self.round.to_be_bytes());
        out.extend_from_slice(&self.sender.get().to_be_bytes());
        out.extend_from_slice(&self.receiver.get().to_be_bytes());
        out.extend_from_slice(self.session.as_bytes());
        // Cannot truncate: total <= MAX_FRAME_LEN < u32::MAX.
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        Ok(out)
    }
}

impl<'a> Frame<'a> {
    /// Parses a frame. Never panics; every malformed input is a [`MpcError::MalformedFrame`].
    pub fn decode(bytes: &'a [u8]) -> Result<Frame<'a>, MpcError> {
        let bad =
            |blame: Option<PartyIndex>, reason: String| MpcError::MalformedFrame { blame, reason };
        if bytes.len() > MAX_FRAME_LEN {
            return Err(bad(
                None,
                format!("{} bytes exceeds the frame cap", bytes.len()),
            ));
        }
        if bytes.len() < HEADER_LEN {
            return Err(bad(
                None,
                format!("{} bytes is shorter than a header", bytes.len()),
            ));
        }
        let (head, payload) = bytes.split_at(HEADER_LEN);
        if head[0..4] != MAGIC {
            return Err(bad(None, "bad magic".into()));
        }
        if head[4] != FRAME_VERSION {
            return Err(bad(None, format!("unsupported frame version {}", head[4])));
        }
        let u16_at = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
        let sender = PartyIndex::new(u16_at(10))
            .map_err(|_| bad(None, format!("sender index {} out of range", u16_at(10))))?;
        let blame = Some(sender);
        let protocol = ProtocolId::from_u8(head[5])
            .ok_or_else(|| bad(blame, format!("unknown protocol id {}", head[5])))?;
        let flags = head[6];
        if flags & !FLAG_BROADCAST != 0 || head[7] != 0 {
            return Err(bad(blame, "reserved bits set".into()));
        }
        let receiver = PartyIndex::new(u16_at(12))
            .map_err(|_| bad(blame, format!("receiver index {} out of range", u16_at(12))))?;
        let mut session = [0u8; 32];
        session.copy_from_slice(&head[14..46]);
        let len = u32::from_be_bytes([head[46], head[47], head[48], head[49]]) as usize;
        if len != payload.len() {
            return Err(bad(
                blame,
                format!("payload length {} but {} bytes follow", len, payload.len()),
            ));
        }
        Ok(Frame {
            header: FrameHeader {
                protocol,
                session: SessionId(session),
                round: u16_at(8),
                broadcast: flags & FLAG_BROADCAST != 0,
                sender,
                receiver,
            },
            payload,
        })
    }
}
