//! Driving `round-based` state machines: the library's protocols as type-erased machines
//! that take and give bytes, with each incoming frame decoded and checked against its round
//! before the library sees it, and the library's errors turned into blame.

use cggmp21::round_based::state_machine::{ProceedResult, StateMachine};
use cggmp21::round_based::{Incoming as RbIncoming, MessageType, ProtocolMessage};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::MpcError;
use crate::frame::{PartyIndex, ProtocolId};
use crate::session::{Incoming, Outgoing};

/// Type-erased state machine: hides the library's message type behind bytes.
trait ErasedMachine<T> {
    fn proceed(&mut self) -> Result<Step<T>, MpcError>;
    fn feed(&mut self, id: u64, msg: &Incoming<'_>, protocol: ProtocolId) -> Result<(), MpcError>;
}

enum Step<T> {
    Send(Outgoing),
    NeedMessage,
    Done(Result<T, String>),
}

struct Machine<SM>(SM);

impl<SM, T, Er> ErasedMachine<T> for Machine<SM>
where
    SM: StateMachine<Output = Result<T, Er>>,
    SM::Msg: Serialize + DeserializeOwned + ProtocolMessage,
    Er: std::error::Error,
{
    fn proceed(&mut self) -> Result<Step<T>, MpcError> {
        loop {
            return Ok(match self.0.proceed() {
                ProceedResult::SendMsg(o) => Step::Send(Outgoing {
                    round: o.msg.round() + 1,
                    broadcast: o.recipient.is_broadcast(),
                    payload: postcard::to_stdvec(&o.msg)
                        .map_err(|e| MpcError::Internal(format!("postcard encode: {e}")))?,
                }),
                ProceedResult::NeedsOneMoreMessage => Step::NeedMessage,
                ProceedResult::Output(r) => Step::Done(r.map_err(|e| error_chain(&e))),
                ProceedResult::Yielded => continue,
                ProceedResult::Error(e) => {
                    return Err(MpcError::Internal(format!("state machine: {e}")));
                }
            });
        }
    }

    fn feed(&mut self, id: u64, msg: &Incoming<'_>, protocol: ProtocolId) -> Result<(), MpcError> {
        let m: SM::Msg =
            postcard::from_bytes(msg.payload).map_err(|e| MpcError::MalformedMessage {
                blame: msg.sender,
                protocol,
                round: msg.round,
                reason: e.to_string(),
            })?;
        if m.round() + 1 != msg.round {
            return Err(MpcError::MalformedMessage {
                blame: msg.sender,
                protocol,
                round: msg.round,
                reason: format!("payload is a round-{} message", m.round() + 1),
            });
        }
        self.0
            .received_msg(RbIncoming {
                id,
                sender: msg.sender.get(),
                msg_type: if msg.broadcast {
                    MessageType::Broadcast
                } else {
                    MessageType::P2P
                },
                msg: m,
            })
            .map_err(|_| MpcError::Internal("state machine refused a message it asked for".into()))
    }
}

/// The error with its sources: cggmp21 names the blamed party in the source chain.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Drives one type-erased state machine and remembers its result.
pub(super) struct Driver<T> {
    protocol: ProtocolId,
    machine: Box<dyn ErasedMachine<T>>,
    next_id: u64,
    result: Option<Result<T, String>>,
}

impl<T> Driver<T> {
    pub(super) fn new<SM, Er>(protocol: ProtocolId, sm: SM) -> Self
    where
        SM: StateMachine<Output = Result<T, Er>> + 'static,
        SM::Msg: Serialize + DeserializeOwned + ProtocolMessage,
        Er: std::error::Error,
    {
        Driver {
            protocol,
            machine: Box::new(Machine(sm)),
            next_id: 0,
            result: None,
        }
    }

    /// Runs until the machine needs a message or finishes.
    pub(super) fn pump(&mut self) -> Result<Vec<Outgoing>, MpcError> {
        let mut out = Vec::new();
        loop {
            match self.machine.proceed()? {
                Step::Send(o) => out.push(o),
                Step::NeedMessage => return Ok(out),
                Step::Done(r) => {
                    self.result = Some(r);
                    return Ok(out);
                }
            }
        }
    }

    pub(super) fn feed(&mut self, msg: &Incoming<'_>) -> Result<Vec<Outgoing>, MpcError> {
        if self.result.is_some() {
            return Err(MpcError::Closed("protocol already finished"));
        }
        self.machine.feed(self.next_id, msg, self.protocol)?;
        self.next_id += 1;
        self.pump()
    }

    /// The protocol's result once finished; a library error blames the counterparty (in a
    /// 2-party run only its messages can make a proof or a check fail).
    pub(super) fn take(&mut self, peer: PartyIndex) -> Option<Result<T, MpcError>> {
        let protocol = self.protocol;
        self.result.take().map(|r| {
            r.map_err(|reason| MpcError::PeerMisbehaved {
                blame: peer,
                protocol,
                reason,
            })
        })
    }
}
