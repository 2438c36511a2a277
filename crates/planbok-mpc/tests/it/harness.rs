//! Runs two sessions against each other over a simulated network.

use std::collections::VecDeque;

use planbok_mpc::{Engine, MpcError, PartyIndex, Session};

pub use planbok_drivers::session_id as sid;

/// How the simulated network treats frames.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Deliver every frame twice.
    pub duplicate: bool,
    /// Deliver queued frames newest first (the maximal reordering).
    pub reorder: bool,
    /// Silently drop the n-th frame sent (0-based).
    pub drop_nth: Option<usize>,
}

/// Where a run ended.
#[derive(Debug)]
pub enum Outcome<A, B> {
    /// Both parties produced outputs.
    Done(A, B),
    /// A party failed (which one is shown in panic messages).
    Failed(
        #[allow(dead_code, reason = "read only through Debug, in panic messages")] PartyIndex,
        MpcError,
    ),
    /// Nothing left to deliver and no output: the parties are waiting (a frame was lost).
    Stalled,
}

impl<A: std::fmt::Debug, B: std::fmt::Debug> Outcome<A, B> {
    #[track_caller]
    pub fn unwrap(self) -> (A, B) {
        match self {
            Outcome::Done(a, b) => (a, b),
            other => panic!("protocol did not complete: {other:?}"),
        }
    }
}

/// Runs `a` (party 0) and `b` (party 1) to completion over a network with `faults`.
/// `tamper` may rewrite any frame in flight (index of the frame, bytes).
pub fn run_with<A: Engine, B: Engine>(
    mut a: Session<A>,
    mut b: Session<B>,
    faults: Faults,
    mut tamper: impl FnMut(usize, &mut Vec<u8>),
) -> Outcome<A::Output, B::Output> {
    let (ia, ib) = (a.me(), b.me());
    let mut queue: VecDeque<(PartyIndex, Vec<u8>)> = VecDeque::new();
    let mut sent = 0usize;
    let mut push =
        |queue: &mut VecDeque<(PartyIndex, Vec<u8>)>, to: PartyIndex, frames: Vec<Vec<u8>>| {
            for mut f in frames {
                let n = sent;
                sent += 1;
                if faults.drop_nth == Some(n) {
                    continue;
                }
                tamper(n, &mut f);
                if faults.duplicate {
                    queue.push_back((to, f.clone()));
                }
                queue.push_back((to, f));
            }
        };
    match a.start() {
        Ok(f) => push(&mut queue, ib, f),
        Err(e) => return Outcome::Failed(ia, e),
    }
    match b.start() {
        Ok(f) => push(&mut queue, ia, f),
        Err(e) => return Outcome::Failed(ib, e),
    }
    loop {
        let next = if faults.reorder {
            queue.pop_back()
        } else {
            queue.pop_front()
        };
        let Some((to, frame)) = next else { break };
        if to == ia {
            if a.is_finished() {
                continue;
            }
            match a.handle(&frame) {
                Ok(f) => push(&mut queue, ib, f),
                Err(e) => return Outcome::Failed(ia, e),
            }
        } else {
            if b.is_finished() {
                continue;
            }
            match b.handle(&frame) {
                Ok(f) => push(&mut queue, ia, f),
                Err(e) => return Outcome::Failed(ib, e),
            }
        }
        if a.is_finished() && b.is_finished() {
            break;
        }
    }
    match (a.take_output(), b.take_output()) {
        (Some(x), Some(y)) => Outcome::Done(x, y),
        _ => Outcome::Stalled,
    }
}

/// Runs over a perfect network.
pub fn run<A: Engine, B: Engine>(a: Session<A>, b: Session<B>) -> Outcome<A::Output, B::Output> {
    run_with(a, b, Faults::default(), |_, _| {})
}

pub const P0: PartyIndex = PartyIndex::NODE1;
pub const P1: PartyIndex = PartyIndex::NODE2;
