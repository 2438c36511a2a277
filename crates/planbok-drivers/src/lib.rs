//! Runs both parties of a planbok protocol locally: on one thread with frames delivered in
//! order, or on two threads talking over channels the way two nodes talk over their stream.
//! For tests, benchmarks and `planbok demo`; the nodes have their own network driver.
//!
//! Its own crate, apart from `planbok-testkit` (the process-cluster harness): the `planbok`
//! binary links these drivers for `planbok demo` and never the harness, and `planbok-mpc`'s
//! tests get them without compiling the node stack.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;

use planbok_mpc::{Engine, MpcError, PartyIndex, Session, SessionId};
use rand_core::RngCore;

/// Why a local run did not produce both outputs.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A party's session failed.
    #[error("{party} failed: {source}")]
    Mpc {
        /// The failing party.
        party: PartyIndex,
        /// Its error.
        #[source]
        source: MpcError,
    },
    /// A party stopped sending before its counterparty finished (it failed or panicked).
    #[error("{0}'s counterparty stopped before the run finished")]
    PeerGone(PartyIndex),
    /// A party's thread panicked.
    #[error("{0}'s thread panicked")]
    Panicked(PartyIndex),
    /// Every frame was delivered and the run still has no output.
    #[error("the run stalled without output")]
    Stalled,
}

/// `N` bytes from the operating system's RNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand_core::OsRng.fill_bytes(&mut b);
    b
}

/// A fresh random session id (nodes derive theirs from the authorization grant).
pub fn session_id() -> SessionId {
    SessionId::from_bytes(random_bytes())
}

/// Runs `a` and `b` to completion on this thread, delivering frames in order.
pub fn run_local<A: Engine, B: Engine>(
    mut a: Session<A>,
    mut b: Session<B>,
) -> Result<(A::Output, B::Output), RunError> {
    let fail = |s: PartyIndex| move |source| RunError::Mpc { party: s, source };
    let (pa, pb) = (a.me(), b.me());
    let mut to_b = a.start().map_err(fail(pa))?;
    let mut to_a = b.start().map_err(fail(pb))?;
    while !(to_a.is_empty() && to_b.is_empty()) {
        let mut next_b = Vec::new();
        for f in to_a.drain(..) {
            next_b.extend(a.handle(&f).map_err(fail(pa))?);
        }
        for f in to_b.drain(..) {
            to_a.extend(b.handle(&f).map_err(fail(pb))?);
        }
        to_b = next_b;
    }
    match (a.take_output(), b.take_output()) {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err(RunError::Stalled),
    }
}

/// Drives one party's session over a channel pair until it finishes.
fn drive<E: Engine>(
    mut s: Session<E>,
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
) -> Result<E::Output, RunError> {
    let me = s.me();
    let fail = |source| RunError::Mpc { party: me, source };
    // A send fails only when the peer has already stopped; its own result says why.
    for f in s.start().map_err(fail)? {
        let _ = tx.send(f);
    }
    while !s.is_finished() {
        let frame = rx.recv().map_err(|_| RunError::PeerGone(me))?;
        for f in s.handle(&frame).map_err(fail)? {
            let _ = tx.send(f);
        }
    }
    s.take_output().ok_or(RunError::Stalled)
}

/// Runs party 0 and party 1 on two threads. `make` builds each party's session inside its
/// own thread, because CGGMP sessions cannot move between threads.
pub fn run_threads<E, F>(make: F) -> Result<(E::Output, E::Output), RunError>
where
    E: Engine,
    E::Output: Send + 'static,
    F: Fn(PartyIndex) -> Result<Session<E>, MpcError> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let (tx0, rx1) = channel();
    let (tx1, rx0) = channel();
    let spawn = |me: PartyIndex, tx, rx| {
        let make = make.clone();
        thread::spawn(move || {
            let s = make(me).map_err(|source| RunError::Mpc { party: me, source })?;
            drive(s, tx, rx)
        })
    };
    let h0 = spawn(PartyIndex::NODE1, tx0, rx0);
    let h1 = spawn(PartyIndex::NODE2, tx1, rx1);
    let a = h0.join().map_err(|_| RunError::Panicked(PartyIndex::NODE1));
    let b = h1.join().map_err(|_| RunError::Panicked(PartyIndex::NODE2));
    // Report the root cause: a party's own failure before its peer's "peer gone".
    match (a?, b?) {
        (Ok(x), Ok(y)) => Ok((x, y)),
        (Err(e @ RunError::Mpc { .. }), _) | (_, Err(e @ RunError::Mpc { .. })) => Err(e),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}
