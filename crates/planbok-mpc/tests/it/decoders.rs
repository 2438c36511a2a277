//! Random bytes fed to every decoder never panic.

use std::sync::{Arc, OnceLock};

use planbok_mpc::frame::{Frame, FrameHeader};
use planbok_mpc::{
    DerivationPath, Engine, PartyIndex, ProtocolId, Session, SessionId, cggmp, dkls, frost,
};
use proptest::prelude::*;

use crate::harness::{P0, P1};

struct Keys {
    frost: Arc<frost::FrostKeyShare>,
    dkls: Arc<dkls::DklsKeyShare>,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| Keys {
        frost: Arc::new(crate::frost::keypair().1),
        dkls: Arc::new(crate::dkls::keypair().1),
    })
}

/// A frame with a valid header for `s` (addressed from P0 to P1) and an arbitrary payload.
fn frame(
    protocol: ProtocolId,
    s: SessionId,
    round: u16,
    broadcast: bool,
    payload: &[u8],
) -> Vec<u8> {
    FrameHeader {
        protocol,
        session: s,
        round,
        broadcast,
        sender: P0,
        receiver: P1,
    }
    .encode(payload)
    .unwrap()
}

/// Starts `session`, feeds it one hostile frame; only `Ok` or `Err` may come back.
fn feed<E: Engine>(mut session: Session<E>, round: u16, broadcast: bool, payload: &[u8]) {
    let _ = session.start();
    let f = frame(
        session.protocol(),
        session.session_id(),
        round,
        broadcast,
        payload,
    );
    let _ = session.handle(&f);
    let _ = session.handle(payload);
}

const S: SessionId = SessionId::from_bytes([3; 32]);

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn frame_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Frame::decode(&bytes);
    }

    #[test]
    fn frame_decoder_never_panics_on_valid_magic(mut bytes in proptest::collection::vec(any::<u8>(), 50..120)) {
        bytes[..5].copy_from_slice(b"PBKF\x01");
        let _ = Frame::decode(&bytes);
    }

    #[test]
    fn engines_never_panic_on_hostile_payloads(
        round in 1u16..6,
        broadcast in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let k = keys();
        feed(frost::keygen(S, P1).unwrap(), round, broadcast, &payload);
        feed(frost::sign(S, k.frost.clone(), b"m").unwrap(), round, broadcast, &payload);
        feed(dkls::keygen(S, P1).unwrap(), round, broadcast, &payload);
        feed(dkls::sign(S, k.dkls.clone(), &DerivationPath::master(), [1; 32]).unwrap(), round, broadcast, &payload);
        feed(cggmp::keygen(S, P1), round, broadcast, &payload);
    }

    #[test]
    fn sealed_decoders_never_panic(kind in 1u8..6, body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = b"PBKS\x01".to_vec();
        bytes.push(kind);
        bytes.extend_from_slice(&body);
        let _ = frost::FrostKeyShare::from_sealable_bytes(&bytes);
        let _ = dkls::DklsKeyShare::from_sealable_bytes(&bytes);
        let _ = cggmp::CggmpKeyShare::from_sealable_bytes(&bytes);
        let _ = cggmp::CggmpAuxInfo::from_sealable_bytes(&bytes);
        let _ = cggmp::PaillierPrimes::from_sealable_bytes(&bytes);
        let _ = PartyIndex::new(u16::from(kind));
    }
}

/// Hostile messages for the later rounds of a cggmp signing run (the expensive protocol;
/// fewer cases).
#[test]
fn cggmp_sign_never_panics_on_hostile_payloads() {
    let (x0, _x1) = crate::cggmp::aux();
    let (a, _b) = crate::cggmp::keypair();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(
                1u16..6,
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..300),
            ),
            |(round, bc, payload)| {
                // Party 0 receives a hostile frame claimed from party 1.
                let mut s = cggmp::sign(S, &a, x0, &DerivationPath::master(), [2; 32]).unwrap();
                let _ = s.start();
                let f = FrameHeader {
                    protocol: ProtocolId::CggmpSign,
                    session: S,
                    round,
                    broadcast: bc,
                    sender: P1,
                    receiver: P0,
                }
                .encode(&payload)
                .unwrap();
                let _ = s.handle(&f);
                Ok(())
            },
        )
        .unwrap();
}
