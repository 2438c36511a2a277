//! The two-thread driver: outputs agree, and a failing party ends the run with its own
//! error instead of leaving its counterparty waiting forever.
#![expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]

use std::sync::Arc;

use planbok_drivers::{RunError, run_local, run_threads, session_id};
use planbok_mpc::{MpcError, PartyIndex, SessionId, dkls, frost};

#[test]
fn two_threads_produce_the_same_verified_signature() {
    let s = session_id();
    let (a, b) = run_local(
        dkls::keygen(s, PartyIndex::NODE1).unwrap(),
        dkls::keygen(s, PartyIndex::NODE2).unwrap(),
    )
    .unwrap();
    let pk = a.public_key().unwrap();
    let shares = Arc::new([Arc::new(a), Arc::new(b)]);
    let s = session_id();
    let path = planbok_mpc::DerivationPath::master();
    let (x, y) =
        run_threads(move |me| dkls::sign(s, shares[me.get() as usize].clone(), &path, [4; 32]))
            .unwrap();
    assert_eq!(x, y);
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&pk.to_compressed()).unwrap();
    let sig = k256::ecdsa::Signature::from_slice(&x.to_compact()).unwrap();
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    vk.verify_prehash(&[4; 32], &sig).unwrap();
}

#[test]
fn a_failing_party_ends_the_run_with_its_error() {
    // The parties disagree on the session id: party 1 rejects party 0's first frame and
    // stops; party 0 then sees its peer gone. The reported cause is party 1's error.
    let r = run_threads(|me| {
        let s = SessionId::from_bytes([me.get() as u8; 32]);
        frost::keygen(s, me)
    });
    match r {
        Err(RunError::Mpc {
            source: MpcError::WrongSession { .. },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
}
