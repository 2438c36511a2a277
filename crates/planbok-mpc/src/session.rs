//! The generic party state machine every protocol runs in.
//!
//! A [`Session`] owns one protocol engine and everything that is the same for all of them:
//! frame parsing, checking that a frame belongs to this run (protocol, session id, sender,
//! receiver, round), ignoring exact duplicates, rejecting equivocation, buffering messages
//! that arrive before their round, and closing for good after the first error. The engines
//! only see messages that passed these checks, in round order.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::MpcError;
use crate::frame::{Frame, FrameHeader, PartyIndex, ProtocolId, SessionId};

/// A message an engine wants sent to the counterparty.
#[derive(Debug)]
pub struct Outgoing {
    pub(crate) round: u16,
    pub(crate) broadcast: bool,
    pub(crate) payload: Vec<u8>,
}

impl Outgoing {
    pub(crate) fn p2p(round: u16, payload: Vec<u8>) -> Self {
        Outgoing {
            round,
            broadcast: false,
            payload,
        }
    }
}

/// A message delivered to an engine.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub(crate) round: u16,
    pub(crate) broadcast: bool,
    pub(crate) sender: PartyIndex,
    pub(crate) payload: &'a [u8],
}

mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// One protocol, seen from one party. Implemented by this crate's protocol engines only
/// (sealed); callers name it to write code generic over protocols and drive it through
/// [`Session`].
pub trait Engine: Sealed {
    /// What a successful run yields.
    type Output;
    /// Protocol id written in every frame.
    const PROTOCOL: ProtocolId;
    /// Rounds are numbered `1..=ROUNDS`.
    const ROUNDS: u16;

    /// Messages to send before anything is received.
    fn start(&mut self) -> Result<Vec<Outgoing>, MpcError>;
    /// The round whose message the engine needs next, or `None` if it accepts any round
    /// (engines that order messages themselves).
    fn awaiting(&self) -> Option<u16>;
    /// Processes one message that passed the session checks.
    fn on_message(&mut self, msg: Incoming<'_>) -> Result<Vec<Outgoing>, MpcError>;
    /// The output, once the protocol has finished.
    fn take_output(&mut self) -> Option<Self::Output>;
}

type Digest = [u8; 32];
/// (round, broadcast): where one message of the counterparty's fits.
type Slot = (u16, bool);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Running,
    Finished,
    Failed,
}

/// One party's side of one protocol run: bytes in, bytes out, an output at the end.
///
/// Usage: call [`start`](Self::start) once and send what it returns to the counterparty;
/// pass every frame received from the counterparty to [`handle`](Self::handle) and send
/// what it returns; when [`is_finished`](Self::is_finished), take the output with
/// [`take_output`](Self::take_output). After any error the session is closed and its
/// secret state dropped; the run cannot be resumed.
pub struct Session<E: Engine> {
    id: SessionId,
    me: PartyIndex,
    phase: Phase,
    engine: Option<E>,
    /// SHA-256 of each payload already accepted, keyed by (round, broadcast), to tell a
    /// harmless duplicate from equivocation without keeping the bytes (some are secret
    /// shares).
    received: HashMap<Slot, Digest>,
    /// Frames that arrived before the engine reached their round, with their digests;
    /// wiped when dropped.
    early: BTreeMap<Slot, (Digest, Zeroizing<Vec<u8>>)>,
    output: Option<E::Output>,
}

impl<E: Engine> std::fmt::Debug for Session<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("protocol", &E::PROTOCOL)
            .field("id", &self.id)
            .field("me", &self.me)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl<E: Engine> Session<E> {
    pub(crate) fn new(id: SessionId, me: PartyIndex, engine: E) -> Self {
        Session {
            id,
            me,
            phase: Phase::New,
            engine: Some(engine),
            received: HashMap::new(),
            early: BTreeMap::new(),
            output: None,
        }
    }

    /// The protocol this session runs.
    pub fn protocol(&self) -> ProtocolId {
        E::PROTOCOL
    }

    /// This run's session id.
    pub fn session_id(&self) -> SessionId {
        self.id
    }

    /// This party's index.
    pub fn me(&self) -> PartyIndex {
        self.me
    }

    /// Whether the protocol has produced its output.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// Produces the first messages. Must be called exactly once, before [`handle`](Self::handle).
    pub fn start(&mut self) -> Result<Vec<Vec<u8>>, MpcError> {
        if self.phase != Phase::New {
            return Err(MpcError::Closed("start called twice"));
        }
        self.phase = Phase::Running;
        let res = self.engine_mut()?.start();
        self.after_step(res)
    }

    /// Processes one frame from the counterparty and returns the frames to send back.
    ///
    /// An exact duplicate of a frame already accepted is ignored (returns no frames). A
    /// frame for a later round is kept until the engine reaches that round.
    pub fn handle(&mut self, frame: &[u8]) -> Result<Vec<Vec<u8>>, MpcError> {
        match self.phase {
            Phase::Running => {}
            Phase::New => return Err(MpcError::Closed("handle called before start")),
            Phase::Finished => return Err(MpcError::Closed("protocol already finished")),
            Phase::Failed => return Err(MpcError::Closed("protocol aborted earlier")),
        }
        let res = self.handle_inner(frame);
        self.after_step(res)
    }

    /// Takes the output of a finished run.
    pub fn take_output(&mut self) -> Option<E::Output> {
        self.output.take()
    }

    fn engine_mut(&mut self) -> Result<&mut E, MpcError> {
        self.engine
            .as_mut()
            .ok_or(MpcError::Closed("engine state already dropped"))
    }

    fn handle_inner(&mut self, bytes: &[u8]) -> Result<Vec<Outgoing>, MpcError> {
        let frame = Frame::decode(bytes)?;
        let h = frame.header;
        let peer = self.me.peer();
        if h.sender != peer {
            return Err(MpcError::UnexpectedSender {
                claimed: h.sender,
                expected: peer,
            });
        }
        let wrong = |reason: &str| MpcError::WrongSession {
            blame: h.sender,
            reason: reason.to_owned(),
        };
        if h.protocol != E::PROTOCOL {
            return Err(wrong(&format!(
                "protocol {:?}, this run is {:?}",
                h.protocol,
                E::PROTOCOL
            )));
        }
        if h.session != self.id {
            return Err(wrong("session id differs"));
        }
        if h.receiver != self.me {
            return Err(wrong("addressed to another party"));
        }
        if h.round == 0 || h.round > E::ROUNDS {
            return Err(MpcError::UnexpectedRound {
                blame: h.sender,
                round: h.round,
            });
        }
        let slot = (h.round, h.broadcast);
        let digest: Digest = Sha256::digest(frame.payload).into();
        let seen = self
            .received
            .get(&slot)
            .or_else(|| self.early.get(&slot).map(|e| &e.0));
        if let Some(prev) = seen {
            return if *prev == digest {
                Ok(Vec::new())
            } else {
                Err(MpcError::Equivocation {
                    blame: h.sender,
                    round: h.round,
                })
            };
        }
        match self.engine_mut()?.awaiting() {
            Some(r) if h.round > r => {
                self.early
                    .insert(slot, (digest, Zeroizing::new(frame.payload.to_vec())));
                return Ok(Vec::new());
            }
            Some(r) if h.round < r => {
                return Err(MpcError::UnexpectedRound {
                    blame: h.sender,
                    round: h.round,
                });
            }
            _ => {}
        }
        let mut out = self.deliver(slot, digest, frame.payload)?;
        // Deliver buffered frames the engine is now ready for.
        while let Some(r) = self.engine.as_ref().and_then(|e| e.awaiting()) {
            let Some(key) = self.early.keys().find(|k| k.0 == r).copied() else {
                break;
            };
            let Some((digest, payload)) = self.early.remove(&key) else {
                break;
            };
            out.extend(self.deliver(key, digest, &payload)?);
        }
        Ok(out)
    }

    fn deliver(
        &mut self,
        slot: Slot,
        digest: Digest,
        payload: &[u8],
    ) -> Result<Vec<Outgoing>, MpcError> {
        let sender = self.me.peer();
        let engine = self.engine_mut()?;
        let out = engine.on_message(Incoming {
            round: slot.0,
            broadcast: slot.1,
            sender,
            payload,
        })?;
        self.received.insert(slot, digest);
        Ok(out)
    }

    fn after_step(
        &mut self,
        res: Result<Vec<Outgoing>, MpcError>,
    ) -> Result<Vec<Vec<u8>>, MpcError> {
        let res = res.and_then(|out| {
            let frames = out
                .into_iter()
                .map(|o| {
                    FrameHeader {
                        protocol: E::PROTOCOL,
                        session: self.id,
                        round: o.round,
                        broadcast: o.broadcast,
                        sender: self.me,
                        receiver: self.me.peer(),
                    }
                    .encode(&o.payload)
                })
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(output) = self.engine_mut()?.take_output() {
                self.output = Some(output);
                self.phase = Phase::Finished;
                self.close();
            }
            Ok(frames)
        });
        if res.is_err() {
            self.phase = Phase::Failed;
            self.close();
        }
        res
    }

    /// Drops the engine (and with it every secret intermediate value, which zeroize on drop)
    /// and the message buffers.
    fn close(&mut self) {
        self.engine = None;
        self.received.clear();
        self.early.clear();
    }
}
