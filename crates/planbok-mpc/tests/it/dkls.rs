use std::sync::Arc;

use planbok_mpc::{DerivationPath, MpcError, dkls, export};

use crate::harness::{Outcome, P0, P1, run, sid};
use crate::verify;

pub fn keypair() -> (dkls::DklsKeyShare, dkls::DklsKeyShare) {
    let s = sid();
    run(dkls::keygen(s, P0).unwrap(), dkls::keygen(s, P1).unwrap()).unwrap()
}

pub fn sign(
    a: &Arc<dkls::DklsKeyShare>,
    b: &Arc<dkls::DklsKeyShare>,
    path: &DerivationPath,
    digest: [u8; 32],
) -> Outcome<planbok_mpc::EcdsaSignature, planbok_mpc::EcdsaSignature> {
    let s = sid();
    run(
        dkls::sign(s, a.clone(), path, digest).unwrap(),
        dkls::sign(s, b.clone(), path, digest).unwrap(),
    )
}

#[test]
fn dkls_keygen_derive_sign_verifies_with_libsecp256k1() {
    let (a, b) = keypair();
    assert_eq!(a.public_key().unwrap(), b.public_key().unwrap());
    assert_eq!(a.chain_code(), b.chain_code());
    let (a, b) = (Arc::new(a), Arc::new(b));
    for path in ["m", "m/44/60/0/0", "m/44/0/0/7", "m/44/60/0/2147483647"] {
        let path: DerivationPath = path.parse().unwrap();
        let pk = a.derive_public_key(&path).unwrap();
        assert_eq!(
            pk,
            verify::bip32_child(&a.public_key().unwrap(), a.chain_code(), &path),
            "{path}"
        );
        let digest = verify::digest(&format!("dkls {path}"));
        let (sa, sb) = sign(&a, &b, &path, digest).unwrap();
        assert_eq!(sa, sb);
        verify::ecdsa(&pk, &digest, &sa);
    }
}

#[test]
fn dkls_refresh_keeps_key_and_separates_generations() {
    let (a, b) = keypair();
    let pk = a.public_key().unwrap();
    let a_old =
        Arc::new(dkls::DklsKeyShare::from_sealable_bytes(&a.to_sealable_bytes().unwrap()).unwrap());
    let s = sid();
    let (a2, b2) = run(dkls::refresh(s, a).unwrap(), dkls::refresh(s, b).unwrap()).unwrap();
    assert_eq!(a2.public_key().unwrap(), pk);
    let (a2, b2) = (Arc::new(a2), Arc::new(b2));
    let path: DerivationPath = "m/44/60/0/1".parse().unwrap();
    let digest = verify::digest("after refresh");
    let (sig, _) = sign(&a2, &b2, &path, digest).unwrap();
    verify::ecdsa(&a2.derive_public_key(&path).unwrap(), &digest, &sig);

    match sign(&a_old, &b2, &path, digest) {
        Outcome::Failed(_, e) => assert!(
            matches!(
                e,
                MpcError::PeerMisbehaved { .. }
                    | MpcError::BanCounterparty { .. }
                    | MpcError::SignatureInvalid { .. }
            ),
            "{e:?}"
        ),
        other => panic!("mixing generations must fail, got {other:?}"),
    }
}

#[test]
fn dkls_export_reconstructs_the_derived_key() {
    let (a, b) = keypair();
    let path: DerivationPath = "m/44/60/0/3".parse().unwrap();
    let k = export::reconstruct_dkls_private_key_dangerous(&a, &b, &path).unwrap();
    let sk = secp256k1::SecretKey::from_byte_array(*k.secret).unwrap();
    let pk = secp256k1::PublicKey::from_secret_key(secp256k1::SECP256K1, &sk);
    assert_eq!(
        pk.serialize(),
        a.derive_public_key(&path).unwrap().to_compressed()
    );
    assert_eq!(k.public_key, a.derive_public_key(&path).unwrap());
}

#[test]
fn dkls_sealed_share_round_trips_and_rejects_other_kinds() {
    let (a, _b) = keypair();
    let bytes = a.to_sealable_bytes().unwrap();
    let back = dkls::DklsKeyShare::from_sealable_bytes(&bytes).unwrap();
    assert_eq!(back.public_key().unwrap(), a.public_key().unwrap());
    assert!(matches!(
        planbok_mpc::frost::FrostKeyShare::from_sealable_bytes(&bytes),
        Err(MpcError::SealedFormat(_))
    ));
    let mut v2 = bytes.to_vec();
    v2[4] = 2;
    assert!(matches!(
        dkls::DklsKeyShare::from_sealable_bytes(&v2),
        Err(MpcError::SealedFormat(_))
    ));
}
