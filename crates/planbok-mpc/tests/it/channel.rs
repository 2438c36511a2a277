//! A faulty or hostile channel: drops, duplicates, reordering, foreign frames, tampering.
//! The engine either waits or fails with a typed error naming a party; it never outputs a
//! signature that does not verify.

use std::sync::Arc;

use planbok_mpc::frame::{Frame, HEADER_LEN};
use planbok_mpc::{DerivationPath, MpcError, PartyIndex, cggmp, dkls, frost};

use crate::harness::{Faults, Outcome, P0, P1, run_with, sid};
use crate::verify;

fn frost_keys() -> (Arc<frost::FrostKeyShare>, Arc<frost::FrostKeyShare>) {
    let (a, b) = crate::frost::keypair();
    (Arc::new(a), Arc::new(b))
}

fn frost_run(
    keys: &(Arc<frost::FrostKeyShare>, Arc<frost::FrostKeyShare>),
    faults: Faults,
    tamper: impl FnMut(usize, &mut Vec<u8>),
) -> Outcome<planbok_mpc::Ed25519Signature, planbok_mpc::Ed25519Signature> {
    let s = sid();
    run_with(
        frost::sign(s, keys.0.clone(), b"msg").unwrap(),
        frost::sign(s, keys.1.clone(), b"msg").unwrap(),
        faults,
        tamper,
    )
}

fn dkls_run(
    keys: &(Arc<dkls::DklsKeyShare>, Arc<dkls::DklsKeyShare>),
    faults: Faults,
    tamper: impl FnMut(usize, &mut Vec<u8>),
) -> Outcome<planbok_mpc::EcdsaSignature, planbok_mpc::EcdsaSignature> {
    let s = sid();
    let path = DerivationPath::master();
    run_with(
        dkls::sign(s, keys.0.clone(), &path, [7; 32]).unwrap(),
        dkls::sign(s, keys.1.clone(), &path, [7; 32]).unwrap(),
        faults,
        tamper,
    )
}

fn dkls_keys() -> (Arc<dkls::DklsKeyShare>, Arc<dkls::DklsKeyShare>) {
    let (a, b) = crate::dkls::keypair();
    (Arc::new(a), Arc::new(b))
}

/// The sender written in a frame.
fn sender_of(frame: &[u8]) -> PartyIndex {
    Frame::decode(frame).unwrap().header.sender
}

#[test]
fn duplicates_and_reordering_still_produce_valid_signatures() {
    let fk = frost_keys();
    let dk = dkls_keys();
    for faults in [
        Faults {
            duplicate: true,
            ..Default::default()
        },
        Faults {
            reorder: true,
            ..Default::default()
        },
        Faults {
            duplicate: true,
            reorder: true,
            ..Default::default()
        },
    ] {
        let (sig, _) = frost_run(&fk, faults, |_, _| {}).unwrap();
        verify::ed25519(&fk.0.public_key(), b"msg", &sig);
        let (sig, _) = dkls_run(&dk, faults, |_, _| {}).unwrap();
        verify::ecdsa(&dk.0.public_key().unwrap(), &[7; 32], &sig);
    }
}

#[test]
fn cggmp_survives_duplicates_and_reordering() {
    let (x0, x1) = crate::cggmp::aux();
    let (a, b) = crate::cggmp::keypair();
    let s = sid();
    let path: DerivationPath = "m/1/2".parse().unwrap();
    let (sig, _) = run_with(
        cggmp::sign(s, &a, x0, &path, [9; 32]).unwrap(),
        cggmp::sign(s, &b, x1, &path, [9; 32]).unwrap(),
        Faults {
            duplicate: true,
            reorder: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .unwrap();
    verify::ecdsa(&a.derive_public_key(&path).unwrap(), &[9; 32], &sig);
}

#[test]
fn a_dropped_frame_leaves_both_waiting_without_output() {
    let fk = frost_keys();
    let dk = dkls_keys();
    for n in 0..4 {
        let faults = Faults {
            drop_nth: Some(n),
            ..Default::default()
        };
        assert!(
            matches!(frost_run(&fk, faults, |_, _| {}), Outcome::Stalled),
            "frost drop {n}"
        );
        assert!(
            matches!(dkls_run(&dk, faults, |_, _| {}), Outcome::Stalled),
            "dkls drop {n}"
        );
    }
}

#[test]
fn frames_of_another_session_are_refused_and_blamed() {
    let fk = frost_keys();
    let (mut a, mut b) = (
        frost::sign(sid(), fk.0.clone(), b"x").unwrap(),
        frost::sign(sid(), fk.1.clone(), b"x").unwrap(),
    );
    let from_a = a.start().unwrap();
    b.start().unwrap();
    match b.handle(&from_a[0]) {
        Err(e @ MpcError::WrongSession { .. }) => assert_eq!(e.blame(), Some(P0)),
        other => panic!("{other:?}"),
    }
    // The session is closed after an error.
    assert!(matches!(b.handle(&from_a[0]), Err(MpcError::Closed(_))));

    // A frame of another protocol with the same session id.
    let s = sid();
    let mut k = frost::keygen(s, P0).unwrap();
    let mut sg = frost::sign(s, fk.1.clone(), b"x").unwrap();
    sg.start().unwrap();
    let f = k.start().unwrap();
    assert!(matches!(
        sg.handle(&f[0]),
        Err(MpcError::WrongSession { .. })
    ));
}

#[test]
fn wrong_round_wrong_sender_and_equivocation_are_typed_errors() {
    let fk = frost_keys();
    let s = sid();
    let (mut a, mut b) = (
        frost::sign(s, fk.0.clone(), b"x").unwrap(),
        frost::sign(s, fk.1.clone(), b"x").unwrap(),
    );
    let f = a.start().unwrap().remove(0);
    b.start().unwrap();

    let mut bad_round = f.clone();
    bad_round[8..10].copy_from_slice(&9u16.to_be_bytes());
    match b.handle(&bad_round) {
        Err(MpcError::UnexpectedRound { blame, round: 9 }) => assert_eq!(blame, P0),
        other => panic!("{other:?}"),
    }

    let s = sid();
    let (mut a, mut b) = (
        frost::sign(s, fk.0.clone(), b"x").unwrap(),
        frost::sign(s, fk.1.clone(), b"x").unwrap(),
    );
    let f = a.start().unwrap().remove(0);
    b.start().unwrap();
    let mut self_sender = f.clone();
    self_sender[10..12].copy_from_slice(&1u16.to_be_bytes());
    match b.handle(&self_sender) {
        Err(MpcError::UnexpectedSender { claimed, expected }) => {
            assert_eq!((claimed, expected), (P1, P0))
        }
        other => panic!("{other:?}"),
    }

    let s = sid();
    let (mut a, mut b) = (
        frost::sign(s, fk.0.clone(), b"x").unwrap(),
        frost::sign(s, fk.1.clone(), b"x").unwrap(),
    );
    let f = a.start().unwrap().remove(0);
    b.start().unwrap();
    b.handle(&f).unwrap();
    assert!(
        b.handle(&f).unwrap().is_empty(),
        "an exact duplicate is ignored"
    );
    let mut other = f.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    match b.handle(&other) {
        Err(MpcError::Equivocation { blame, round: 1 }) => assert_eq!(blame, P0),
        other => panic!("{other:?}"),
    }
}

/// Flips one payload byte of frame `n` in flight: the run must fail with an error that
/// blames a party, and must never produce a signature.
#[test]
fn tampered_payloads_never_yield_a_signature() {
    let fk = frost_keys();
    let dk = dkls_keys();
    for n in 0..4 {
        for offset in [0usize, 7, 31] {
            let tamper = |i: usize, f: &mut Vec<u8>| {
                if i == n {
                    let at = HEADER_LEN + offset % (f.len() - HEADER_LEN);
                    f[at] ^= 0x5a;
                }
            };
            match frost_run(&fk, Faults::default(), tamper) {
                Outcome::Failed(_, e) => assert!(e.blame().is_some(), "frost frame {n}: {e:?}"),
                other => panic!("frost frame {n} offset {offset}: {other:?}"),
            }
            match dkls_run(&dk, Faults::default(), tamper) {
                Outcome::Failed(_, e) => assert!(e.blame().is_some(), "dkls frame {n}: {e:?}"),
                other => panic!("dkls frame {n} offset {offset}: {other:?}"),
            }
        }
    }
}

/// Tampering the header of a frame is caught before the engine sees it, and the error names
/// the party written as sender.
#[test]
fn tampered_headers_blame_the_named_sender() {
    let fk = frost_keys();
    let mut seen = Vec::new();
    let r = frost_run(&fk, Faults::default(), |i, f| {
        if i == 1 {
            seen.push(sender_of(f));
            f[20] ^= 1; // inside the session id
        }
    });
    match r {
        Outcome::Failed(_, e @ MpcError::WrongSession { .. }) => {
            assert_eq!(e.blame(), Some(seen[0]))
        }
        other => panic!("{other:?}"),
    }
}
