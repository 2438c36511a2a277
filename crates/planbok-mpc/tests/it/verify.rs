//! Independent verification: libsecp256k1 (the `secp256k1` crate) for ECDSA, `ed25519-dalek`
//! for ed25519, the `bip32` crate for derivation. None of them is used by the engine.

use planbok_mpc::{
    DerivationPath, EcdsaPublicKey, EcdsaSignature, Ed25519PublicKey, Ed25519Signature,
};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
use secp256k1::{Message, PublicKey, SECP256K1};
use sha3::{Digest, Keccak256};

/// Verifies with libsecp256k1 (which also rejects high-S) and checks that recovery with the
/// returned recovery id yields the same key.
#[track_caller]
pub fn ecdsa(pk: &EcdsaPublicKey, digest: &[u8; 32], sig: &EcdsaSignature) {
    let key = PublicKey::from_slice(&pk.to_compressed()).expect("public key parses");
    let msg = Message::from_digest(*digest);
    let s = Signature::from_compact(&sig.to_compact()).expect("signature parses");
    SECP256K1
        .verify_ecdsa(msg, &s, &key)
        .expect("libsecp256k1 verifies the signature");
    let rec = RecoverableSignature::from_compact(
        &sig.to_compact(),
        RecoveryId::try_from(sig.recovery_id as i32).expect("recovery id"),
    )
    .expect("recoverable signature parses");
    let recovered = SECP256K1.recover_ecdsa(msg, &rec).expect("recovers");
    assert_eq!(recovered, key, "recovery id recovers the signer");
}

#[track_caller]
pub fn ed25519(pk: &Ed25519PublicKey, msg: &[u8], sig: &Ed25519Signature) {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk.to_bytes()).expect("public key parses");
    let s = ed25519_dalek::Signature::from_bytes(&sig.0);
    vk.verify_strict(msg, &s)
        .expect("ed25519-dalek verifies the signature");
}

/// BIP-32 public derivation with the `bip32` crate.
pub fn bip32_child(
    master: &EcdsaPublicKey,
    chain_code: [u8; 32],
    path: &DerivationPath,
) -> EcdsaPublicKey {
    use bip32::{ChildNumber, ExtendedKeyAttrs, PublicKey as _, XPub};
    let mut x = XPub::new(
        bip32::secp256k1::ecdsa::VerifyingKey::from_bytes(master.to_compressed()).expect("key"),
        ExtendedKeyAttrs {
            depth: 0,
            parent_fingerprint: [0; 4],
            child_number: ChildNumber(0),
            chain_code,
        },
    );
    for i in path.indices() {
        x = x
            .derive_child(ChildNumber::new(*i, false).expect("index"))
            .expect("derive");
    }
    EcdsaPublicKey::from_sec1(&x.public_key().to_bytes()).expect("child key")
}

/// EIP-191 personal-message digest.
pub fn eip191(msg: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", msg.len()).as_bytes());
    h.update(msg);
    h.finalize().into()
}

/// The Ethereum address (lowercase hex, 0x-prefixed) of a public key.
pub fn eth_address(pk: &EcdsaPublicKey) -> String {
    let unc = pk.to_uncompressed().expect("uncompressed");
    let h = Keccak256::digest(&unc[1..]);
    format!("0x{}", hex::encode(&h[12..]))
}

pub fn digest(label: &str) -> [u8; 32] {
    sha3::Sha3_256::digest(label.as_bytes()).into()
}
