//! The export envelope: each party's share sealed to the client's key, opened and
//! reconstructed only with that key, for that key id, each ciphertext as its own node's.

use planbok_mpc::export::{
    self, ExportProtocol, ExportRecipientSecret, ExportedKey, open_export_dangerous,
    seal_share_for_export,
};
use planbok_mpc::{DerivationPath, PartyIndex};

const KEY: &str = "key-1";

fn seal_pair(pk: &[u8], a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (
        seal_share_for_export(pk, KEY, PartyIndex::NODE1, a).unwrap(),
        seal_share_for_export(pk, KEY, PartyIndex::NODE2, b).unwrap(),
    )
}

fn ecdsa(k: ExportedKey) -> export::ExportedEcdsaKey {
    match k {
        ExportedKey::Ecdsa(k) => k,
        other => panic!("expected an ECDSA key, got {other:?}"),
    }
}

#[test]
fn every_protocol_round_trips_and_matches_the_direct_reconstruction() {
    let (secret, pk) = ExportRecipientSecret::generate();
    assert_eq!(secret.public_key(), pk);
    let path: DerivationPath = "m/44/60/0/3".parse().unwrap();

    let (a, b) = crate::frost::keypair();
    let (c1, c2) = seal_pair(
        &pk,
        &a.to_sealable_bytes().unwrap(),
        &b.to_sealable_bytes().unwrap(),
    );
    let direct = export::reconstruct_frost_private_key_dangerous(&a, &b).unwrap();
    let m = DerivationPath::master();
    match open_export_dangerous(&secret, KEY, &c1, &c2, ExportProtocol::Frost, &m).unwrap() {
        ExportedKey::Ed25519(k) => {
            assert_eq!(*k.secret_scalar, *direct.secret_scalar);
            assert_eq!(k.public_key, a.public_key());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        open_export_dangerous(&secret, KEY, &c1, &c2, ExportProtocol::Frost, &path).is_err(),
        "ed25519 keys are not derived"
    );

    let (a, b) = crate::dkls::keypair();
    let (c1, c2) = seal_pair(
        &pk,
        &a.to_sealable_bytes().unwrap(),
        &b.to_sealable_bytes().unwrap(),
    );
    let direct = export::reconstruct_dkls_private_key_dangerous(&a, &b, &path).unwrap();
    let k = ecdsa(
        open_export_dangerous(&secret, KEY, &c1, &c2, ExportProtocol::Dkls23, &path).unwrap(),
    );
    assert_eq!(*k.secret, *direct.secret);
    assert_eq!(k.public_key, a.derive_public_key(&path).unwrap());
    // The wrong protocol is refused, not misread.
    assert!(open_export_dangerous(&secret, KEY, &c1, &c2, ExportProtocol::Cggmp, &path).is_err());

    let (a, b) = crate::cggmp::keypair();
    let (c1, c2) = seal_pair(
        &pk,
        &a.to_sealable_bytes().unwrap(),
        &b.to_sealable_bytes().unwrap(),
    );
    let direct = export::reconstruct_cggmp_private_key_dangerous(&a, &b, &path).unwrap();
    let k =
        ecdsa(open_export_dangerous(&secret, KEY, &c1, &c2, ExportProtocol::Cggmp, &path).unwrap());
    assert_eq!(*k.secret, *direct.secret);
    assert_eq!(k.public_key, a.derive_public_key(&path).unwrap());
}

#[test]
fn ciphertexts_open_only_with_their_key_id_node_and_recipient() {
    let (secret, pk) = ExportRecipientSecret::generate();
    let (other, _) = ExportRecipientSecret::generate();
    let (a, b) = crate::frost::keypair();
    let (sa, sb) = (
        a.to_sealable_bytes().unwrap(),
        b.to_sealable_bytes().unwrap(),
    );
    let (c1, c2) = seal_pair(&pk, &sa, &sb);
    let m = DerivationPath::master();
    let open = |s: &ExportRecipientSecret, key: &str, x: &[u8], y: &[u8]| {
        open_export_dangerous(s, key, x, y, ExportProtocol::Frost, &m)
    };
    assert!(open(&secret, KEY, &c1, &c2).is_ok());
    assert!(open(&other, KEY, &c1, &c2).is_err(), "another recipient");
    assert!(open(&secret, "key-2", &c1, &c2).is_err(), "another key id");
    assert!(open(&secret, KEY, &c2, &c1).is_err(), "swapped nodes");
    // A node that seals the other node's share under its own role is caught after opening.
    let c1_wrong = seal_share_for_export(&pk, KEY, PartyIndex::NODE1, &sb).unwrap();
    assert!(
        open(&secret, KEY, &c1_wrong, &c2).is_err(),
        "both halves from node 2"
    );
    let mut tampered = c1.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(open(&secret, KEY, &tampered, &c2).is_err(), "tampered");
    let mut v2 = c1.clone();
    v2[0] = 2;
    assert!(open(&secret, KEY, &v2, &c2).is_err(), "unknown version");
    assert!(open(&secret, KEY, &c1[..20], &c2).is_err(), "truncated");
    // The ciphertext carries no plaintext share bytes.
    assert!(!c1.windows(4).any(|w| w == b"PBKS"));
}

#[test]
fn only_key_shares_are_sealed_and_recipient_keys_are_checked() {
    let (_, pk) = ExportRecipientSecret::generate();
    let aux = crate::cggmp::aux().0.to_sealable_bytes().unwrap();
    assert!(seal_share_for_export(&pk, KEY, PartyIndex::NODE1, &aux).is_err());
    assert!(seal_share_for_export(&pk, KEY, PartyIndex::NODE1, b"not a share").is_err());
    let (a, _) = crate::frost::keypair();
    let sa = a.to_sealable_bytes().unwrap();
    assert!(seal_share_for_export(&pk[..31], KEY, PartyIndex::NODE1, &sa).is_err());
    assert!(export::check_recipient_public_key(&pk).is_ok());
    assert!(export::check_recipient_public_key(&[1u8; 33]).is_err());
}

#[test]
fn recipient_secret_debug_is_redacted_and_round_trips() {
    let (secret, pk) = ExportRecipientSecret::generate();
    assert_eq!(format!("{secret:?}"), "ExportRecipientSecret(<redacted>)");
    let bytes = [42u8; 32];
    let s = ExportRecipientSecret::from_bytes(&bytes).unwrap();
    assert_ne!(s.public_key(), pk);
    assert_eq!(
        ExportRecipientSecret::from_bytes(&bytes)
            .unwrap()
            .public_key(),
        s.public_key()
    );
}
