use std::sync::Arc;

use planbok_mpc::{MpcError, export, frost};

use crate::harness::{P0, P1, run, sid};
use crate::verify;

pub fn keypair() -> (frost::FrostKeyShare, frost::FrostKeyShare) {
    let s = sid();
    run(frost::keygen(s, P0).unwrap(), frost::keygen(s, P1).unwrap()).unwrap()
}

pub fn sign(
    a: &Arc<frost::FrostKeyShare>,
    b: &Arc<frost::FrostKeyShare>,
    msg: &[u8],
) -> (planbok_mpc::Ed25519Signature, planbok_mpc::Ed25519Signature) {
    let s = sid();
    run(
        frost::sign(s, a.clone(), msg).unwrap(),
        frost::sign(s, b.clone(), msg).unwrap(),
    )
    .unwrap()
}

#[test]
fn frost_keygen_sign_verifies_with_ed25519_dalek() {
    let (a, b) = keypair();
    assert_eq!(a.public_key(), b.public_key());
    let (a, b) = (Arc::new(a), Arc::new(b));
    for msg in [&b"hello solana"[..], b"", &[0u8; 1232][..]] {
        let (sa, sb) = sign(&a, &b, msg);
        assert_eq!(sa, sb, "both parties hold the same signature");
        verify::ed25519(&a.public_key(), msg, &sa);
    }
}

#[test]
fn frost_refresh_keeps_key_and_separates_generations() {
    let (a, b) = keypair();
    let pk = a.public_key();
    let (a_old, b_old) = (
        Arc::new(
            frost::FrostKeyShare::from_sealable_bytes(&a.to_sealable_bytes().unwrap()).unwrap(),
        ),
        Arc::new(
            frost::FrostKeyShare::from_sealable_bytes(&b.to_sealable_bytes().unwrap()).unwrap(),
        ),
    );
    let s = sid();
    let (a2, b2) = run(frost::refresh(s, a).unwrap(), frost::refresh(s, b).unwrap()).unwrap();
    assert_eq!(a2.public_key(), pk);
    assert_ne!(
        a2.to_sealable_bytes().unwrap(),
        a_old.to_sealable_bytes().unwrap(),
        "refresh changes the share"
    );
    let (a2, b2) = (Arc::new(a2), Arc::new(b2));
    let (sig, _) = sign(&a2, &b2, b"after refresh");
    verify::ed25519(&pk, b"after refresh", &sig);

    // An old share cannot co-sign with a new one: the run fails, it never yields a signature.
    let s = sid();
    let r = run(
        frost::sign(s, a_old.clone(), b"mix").unwrap(),
        frost::sign(s, b2.clone(), b"mix").unwrap(),
    );
    match r {
        crate::harness::Outcome::Failed(
            _,
            MpcError::PeerMisbehaved { .. } | MpcError::SignatureInvalid { .. },
        ) => {}
        other => panic!("mixing generations must fail, got {other:?}"),
    }
    // And the old pair still works on its own (refresh does not destroy old copies; the
    // node deletes them when it commits the new generation).
    let (sig, _) = sign(&a_old, &b_old, b"old pair");
    verify::ed25519(&pk, b"old pair", &sig);
}

#[test]
fn frost_export_reconstructs_the_wallet_key() {
    use curve25519_dalek::{EdwardsPoint, Scalar};
    let (a, b) = keypair();
    let k = export::reconstruct_frost_private_key_dangerous(&a, &b).unwrap();
    let scalar = Option::<Scalar>::from(Scalar::from_canonical_bytes(*k.secret_scalar))
        .expect("canonical scalar");
    assert_eq!(
        EdwardsPoint::mul_base(&scalar).compress().to_bytes(),
        a.public_key().to_bytes()
    );
    // The same share twice is refused.
    assert!(export::reconstruct_frost_private_key_dangerous(&a, &a).is_err());
}
