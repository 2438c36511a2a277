//! Drives one `planbok-mpc` session over a peer stream.
//!
//! A [`Build::Thread`] session runs on a blocking thread (CPU-heavy rounds stay off the
//! async executor, and CGGMP sessions, which are `!Send`, are built and driven on that one
//! thread). The async side moves frames between that thread and the gRPC stream and owns
//! the timeouts: a deadline for the whole run and a limit on how long the peer may stay
//! silent. When the async side gives up, it drops the thread's inbox; the thread sees the
//! channel close and drops the session, with its secret state.
//!
//! A [`Build::Inline`] session (FROST: each round is a fraction of a millisecond of CPU,
//! less than the thread hops and channel wake-ups would add) runs on the calling task
//! itself, under the same timeouts; giving up drops it there.

use std::time::Duration;

use planbok_mpc::cggmp::{CggmpAuxInfo, CggmpKeyShare};
use planbok_mpc::dkls::DklsKeyShare;
use planbok_mpc::frost::FrostKeyShare;
use planbok_mpc::{EcdsaSignature, Ed25519Signature, Engine, MpcError, Session};
use planbok_proto::codes::ErrorCode;
use planbok_proto::pb::{PeerMessage, peer_message::Msg};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

use crate::error::{NodeError, NodeResult, from_peer_status};

/// What a run produced.
pub(crate) enum RunOutput {
    Cggmp(CggmpKeyShare),
    Dkls(DklsKeyShare),
    Frost(FrostKeyShare),
    Aux(CggmpAuxInfo),
    Ecdsa(EcdsaSignature),
    Ed25519(Ed25519Signature),
}

/// A session with its output mapped into [`RunOutput`], so one driver serves every protocol.
pub(crate) trait DynSession {
    fn start(&mut self) -> Result<Vec<Vec<u8>>, MpcError>;
    fn handle(&mut self, frame: &[u8]) -> Result<Vec<Vec<u8>>, MpcError>;
    fn is_finished(&self) -> bool;
    fn take_output(&mut self) -> Option<RunOutput>;
}

struct Mapped<E: Engine> {
    session: Session<E>,
    map: fn(E::Output) -> RunOutput,
}

impl<E: Engine> DynSession for Mapped<E> {
    fn start(&mut self) -> Result<Vec<Vec<u8>>, MpcError> {
        self.session.start()
    }
    fn handle(&mut self, frame: &[u8]) -> Result<Vec<Vec<u8>>, MpcError> {
        self.session.handle(frame)
    }
    fn is_finished(&self) -> bool {
        self.session.is_finished()
    }
    fn take_output(&mut self) -> Option<RunOutput> {
        self.session.take_output().map(self.map)
    }
}

/// Boxes a session for the driver.
pub(crate) fn boxed<E: Engine + 'static>(
    session: Session<E>,
    map: fn(E::Output) -> RunOutput,
) -> Box<dyn DynSession> {
    Box::new(Mapped { session, map })
}

/// Boxes a `Send` session, which may also run inline.
pub(crate) fn boxed_send<E>(
    session: Session<E>,
    map: fn(E::Output) -> RunOutput,
) -> Box<dyn DynSession + Send>
where
    E: Engine + Send + 'static,
    E::Output: Send,
{
    Box::new(Mapped { session, map })
}

/// How a session is built and where it runs.
pub(crate) enum Build {
    /// Built and driven on a blocking thread.
    Thread(Box<dyn FnOnce() -> Result<Box<dyn DynSession>, MpcError> + Send>),
    /// Built and driven on the calling task: only for sessions whose rounds are cheap.
    Inline(Box<dyn FnOnce() -> Result<Box<dyn DynSession + Send>, MpcError> + Send>),
}

enum EngineEvent {
    Frame(Vec<u8>),
    Done(Box<Result<RunOutput, MpcError>>),
}

/// Something the driver can send peer messages into.
pub(crate) trait Outbox: Send {
    fn send(&self, m: PeerMessage) -> impl Future<Output = bool> + Send;
}

impl Outbox for mpsc::Sender<PeerMessage> {
    async fn send(&self, m: PeerMessage) -> bool {
        mpsc::Sender::send(self, m).await.is_ok()
    }
}

impl Outbox for mpsc::Sender<Result<PeerMessage, Status>> {
    async fn send(&self, m: PeerMessage) -> bool {
        mpsc::Sender::send(self, Ok(m)).await.is_ok()
    }
}

/// Timeouts of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    pub(crate) run_until: Instant,
    pub(crate) silence: Duration,
}

impl Deadlines {
    pub(crate) fn new(run: Duration, silence: Duration) -> Self {
        Deadlines {
            run_until: Instant::now() + run,
            silence,
        }
    }

    /// Waits for `fut` under both limits.
    pub(crate) async fn within<T>(
        &self,
        what: &str,
        fut: impl Future<Output = T>,
    ) -> NodeResult<T> {
        tokio::time::timeout_at(self.next_frame_by(), fut)
            .await
            .map_err(|_| {
                NodeError::new(ErrorCode::Timeout, format!("timed out waiting for {what}"))
            })
    }

    /// When the next frame must have arrived: the silence limit, capped by the run's end.
    fn next_frame_by(&self) -> Instant {
        (Instant::now() + self.silence).min(self.run_until)
    }

    /// The timeout error once `next_frame_by` has passed.
    fn expired(&self) -> NodeError {
        NodeError::new(
            ErrorCode::Timeout,
            if Instant::now() >= self.run_until {
                "the protocol run exceeded its timeout"
            } else {
                "the peer went silent mid-run"
            },
        )
    }
}

/// The peer ended its stream; `message` says at which point.
fn peer_closed(message: &'static str) -> NodeError {
    NodeError::new(ErrorCode::PeerUnavailable, message)
}

/// A message that has no place in a protocol run.
fn unexpected_message() -> NodeError {
    NodeError::new(
        ErrorCode::ProtocolAborted,
        "unexpected message from the peer",
    )
}

/// The counterparty's control message that arrived while the protocol ran (Node 2 may
/// report its stored DKG share before Node 1's own engine finishes).
pub(crate) type Early = Option<Msg>;

/// Runs `build`'s session to completion against the peer.
pub(crate) async fn drive<S>(
    build: Build,
    outbox: &impl Outbox,
    inbox: &mut S,
    deadlines: Deadlines,
) -> NodeResult<(RunOutput, Early)>
where
    S: Stream<Item = Result<PeerMessage, Status>> + Unpin,
{
    match build {
        Build::Thread(b) => drive_thread(b, outbox, inbox, deadlines).await,
        Build::Inline(b) => drive_inline(b()?, outbox, inbox, deadlines).await,
    }
}

/// Runs a cheap session on this task: each frame from the peer is handled as it arrives.
async fn drive_inline<S>(
    mut s: Box<dyn DynSession + Send>,
    outbox: &impl Outbox,
    inbox: &mut S,
    deadlines: Deadlines,
) -> NodeResult<(RunOutput, Early)>
where
    S: Stream<Item = Result<PeerMessage, Status>> + Unpin,
{
    let mut early: Early = None;
    let mut out = s.start()?;
    loop {
        for f in out.drain(..) {
            if !outbox
                .send(PeerMessage {
                    msg: Some(Msg::Frame(f)),
                })
                .await
            {
                return Err(peer_closed("the peer closed the stream"));
            }
        }
        if s.is_finished() {
            let output = s
                .take_output()
                .ok_or_else(|| NodeError::internal("finished session without output"))?;
            return Ok((output, early));
        }
        let msg = tokio::time::timeout_at(deadlines.next_frame_by(), inbox.next())
            .await
            .map_err(|_| deadlines.expired())?;
        match msg {
            Some(Ok(PeerMessage {
                msg: Some(Msg::Frame(f)),
            })) => out = s.handle(&f)?,
            Some(Ok(PeerMessage {
                msg: Some(m @ Msg::Stored(_)),
            })) if early.is_none() => early = Some(m),
            Some(Ok(_)) => return Err(unexpected_message()),
            Some(Err(st)) => return Err(from_peer_status(&st)),
            None => return Err(peer_closed("the peer closed the stream mid-run")),
        }
    }
}

/// Runs `build()`'s session on a blocking thread.
async fn drive_thread<S>(
    build: impl FnOnce() -> Result<Box<dyn DynSession>, MpcError> + Send + 'static,
    outbox: &impl Outbox,
    inbox: &mut S,
    deadlines: Deadlines,
) -> NodeResult<(RunOutput, Early)>
where
    S: Stream<Item = Result<PeerMessage, Status>> + Unpin,
{
    let (to_engine, mut engine_in) = mpsc::channel::<Vec<u8>>(16);
    let (engine_out, mut from_engine) = mpsc::channel::<EngineEvent>(16);
    let thread = tokio::task::spawn_blocking(move || {
        let run = || -> Result<Option<RunOutput>, MpcError> {
            let mut s = build()?;
            for f in s.start()? {
                if engine_out.blocking_send(EngineEvent::Frame(f)).is_err() {
                    return Ok(None);
                }
            }
            while !s.is_finished() {
                let Some(frame) = engine_in.blocking_recv() else {
                    return Ok(None); // the driver gave up; drop the session
                };
                for f in s.handle(&frame)? {
                    if engine_out.blocking_send(EngineEvent::Frame(f)).is_err() {
                        return Ok(None);
                    }
                }
            }
            Ok(s.take_output())
        };
        let result = match run() {
            Ok(Some(out)) => Ok(out),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        let _ = engine_out.blocking_send(EngineEvent::Done(Box::new(result)));
    });

    let mut early: Early = None;
    let mut to_engine = Some(to_engine);
    let outcome = loop {
        let limit = deadlines.next_frame_by();
        tokio::select! {
            ev = from_engine.recv() => match ev {
                Some(EngineEvent::Frame(f)) => {
                    let m = PeerMessage { msg: Some(Msg::Frame(f)) };
                    if !outbox.send(m).await {
                        break Err(peer_closed("the peer closed the stream"));
                    }
                }
                Some(EngineEvent::Done(result)) => break result.map_err(NodeError::from),
                // The engine needed a frame after the peer's stream had ended.
                None if to_engine.is_none() => break Err(peer_closed("the peer closed the stream mid-run")),
                None => break Err(NodeError::internal("protocol thread ended without a result")),
            },
            msg = inbox.next(), if to_engine.is_some() => match msg {
                Some(Ok(PeerMessage { msg: Some(Msg::Frame(f)) })) => {
                    // A full inbox means the engine is busy computing; waiting here is the
                    // back-pressure we want. A send error means the engine stopped; its
                    // Done event says why.
                    if let Some(t) = &to_engine {
                        let _ = t.send(f).await;
                    }
                }
                Some(Ok(PeerMessage { msg: Some(m @ Msg::Stored(_)) })) if early.is_none() => {
                    early = Some(m);
                }
                Some(Ok(_)) => break Err(unexpected_message()),
                Some(Err(s)) => break Err(from_peer_status(&s)),
                // The peer may finish (and close) before our engine has processed its last
                // frame: let the engine finish with what it has.
                None => to_engine = None,
            },
            _ = tokio::time::sleep_until(limit) => break Err(deadlines.expired()),
        }
    };
    drop(to_engine);
    drop(from_engine);
    // The thread exits once its channels are closed; do not wait for a CPU-heavy round to
    // finish before answering.
    drop(thread);
    outcome.map(|o| (o, early))
}

/// Reads the next control message from the peer.
pub(crate) async fn next_control<S>(
    inbox: &mut S,
    deadlines: &Deadlines,
    what: &str,
) -> NodeResult<Msg>
where
    S: Stream<Item = Result<PeerMessage, Status>> + Unpin,
{
    match deadlines.within(what, inbox.next()).await? {
        Some(Ok(PeerMessage { msg: Some(m) })) => Ok(m),
        Some(Ok(_)) => Err(NodeError::new(
            ErrorCode::ProtocolAborted,
            "empty message from the peer",
        )),
        Some(Err(s)) => Err(from_peer_status(&s)),
        None => Err(NodeError::new(
            ErrorCode::PeerUnavailable,
            format!("the peer closed the stream before {what}"),
        )),
    }
}
