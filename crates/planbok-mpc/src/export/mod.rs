//! **Key export: rebuilds a full private key from both parties' shares.**
//!
//! This defeats the purpose of MPC for the exported key and exists only for the client-side
//! export flows (the owner's or end user's device reconstructs, never a server). Each
//! function checks that the reconstructed key's public key equals the wallet's before
//! returning it.
//!
//! The envelope and the reconstruction are `planbok-export`'s (no engine, no GMP: the
//! Gateway page's WebAssembly client runs the same code); this module gives them this
//! crate's share and key types. Each node encrypts its own share to the client's ephemeral
//! key ([`seal_share_for_export`]); the client opens both and reconstructs
//! ([`open_export_dangerous`]).

pub use planbok_export::{
    EXPORT_VERSION, ExportProtocol, ExportRecipientSecret, RECIPIENT_KEY_LEN,
};

use zeroize::Zeroizing;

use crate::cggmp::CggmpKeyShare;
use crate::dkls::DklsKeyShare;
use crate::error::MpcError;
use crate::frame::PartyIndex;
use crate::frost::FrostKeyShare;
use crate::hd::DerivationPath;
use crate::signature::{EcdsaPublicKey, Ed25519PublicKey};

/// A reconstructed secp256k1 private key (32 bytes, big-endian) and its public key.
pub struct ExportedEcdsaKey {
    /// The private key. Zeroized on drop.
    pub secret: Zeroizing<[u8; 32]>,
    /// Its public key, equal to the wallet's derived key.
    pub public_key: EcdsaPublicKey,
}

impl std::fmt::Debug for ExportedEcdsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportedEcdsaKey")
            .field("public_key", &self.public_key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A reconstructed ed25519 secret scalar (32 bytes, little-endian) and its public key.
/// FROST keys have no RFC 8032 seed; the scalar is the exportable form.
pub struct ExportedEd25519Key {
    /// The secret scalar. Zeroized on drop.
    pub secret_scalar: Zeroizing<[u8; 32]>,
    /// Its public key, equal to the wallet's.
    pub public_key: Ed25519PublicKey,
}

impl std::fmt::Debug for ExportedEd25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportedEd25519Key")
            .field("public_key", &self.public_key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A reconstructed key: secp256k1 (at the requested derivation path) or ed25519.
#[derive(Debug)]
pub enum ExportedKey {
    /// CGGMP or DKLs23.
    Ecdsa(ExportedEcdsaKey),
    /// FROST.
    Ed25519(ExportedEd25519Key),
}

fn ecdsa(k: planbok_export::ExportedEcdsaKey) -> Result<ExportedEcdsaKey, MpcError> {
    Ok(ExportedEcdsaKey {
        public_key: EcdsaPublicKey::from_sec1(&k.public_key)?,
        secret: k.secret,
    })
}

fn ed25519(k: planbok_export::ExportedEd25519Key) -> ExportedEd25519Key {
    ExportedEd25519Key {
        public_key: Ed25519PublicKey(k.public_key),
        secret_scalar: k.secret_scalar,
    }
}

/// Reconstructs the private key at `path` from both halves of a CGGMP key.
pub fn reconstruct_cggmp_private_key_dangerous(
    a: &CggmpKeyShare,
    b: &CggmpKeyShare,
    path: &DerivationPath,
) -> Result<ExportedEcdsaKey, MpcError> {
    ecdsa(planbok_export::reconstruct_cggmp_dangerous(
        a.core(),
        b.core(),
        path.indices(),
    )?)
}

/// Reconstructs the private key at `path` from both halves of a DKLs23 key.
///
/// DKLs23 shares are Shamir points p(1), p(2) of a degree-1 polynomial; the key is
/// p(0) = 2·p(1) − p(2) (Lagrange coefficients at 0 for the points 1 and 2).
pub fn reconstruct_dkls_private_key_dangerous(
    a: &DklsKeyShare,
    b: &DklsKeyShare,
    path: &DerivationPath,
) -> Result<ExportedEcdsaKey, MpcError> {
    ecdsa(planbok_export::reconstruct_dkls_dangerous(
        a.lib_share(),
        b.lib_share(),
        path.indices(),
    )?)
}

/// Reconstructs the ed25519 secret scalar from both halves of a FROST key.
pub fn reconstruct_frost_private_key_dangerous(
    a: &FrostKeyShare,
    b: &FrostKeyShare,
) -> Result<ExportedEd25519Key, MpcError> {
    if a.public_key() != b.public_key() {
        return Err(MpcError::InvalidInput(
            "shares are not the two halves of one key".into(),
        ));
    }
    Ok(ed25519(planbok_export::reconstruct_frost_dangerous(
        a.key_package(),
        b.key_package(),
    )?))
}

/// Checks that a recipient public key is 32 bytes and a valid X25519 point encoding.
pub fn check_recipient_public_key(bytes: &[u8]) -> Result<(), MpcError> {
    Ok(planbok_export::check_recipient_public_key(bytes)?)
}

/// **Encrypts one node's key share to the client's export key.** `sealable_share` is the
/// share's sealable form (what `to_sealable_bytes` returns and the keystore seals); only a
/// key share (CGGMP, DKLs23, FROST) is accepted, never aux info or primes.
pub fn seal_share_for_export(
    recipient_public_key: &[u8],
    key_id: &str,
    party: PartyIndex,
    sealable_share: &[u8],
) -> Result<Vec<u8>, MpcError> {
    Ok(planbok_export::seal_share_for_export(
        recipient_public_key,
        key_id,
        party.get(),
        sealable_share,
    )?)
}

/// **Client side: opens both nodes' ciphertexts and reconstructs the full private key** at
/// `path` (secp256k1; ed25519 keys are not derived, pass [`DerivationPath::master`]). Each
/// ciphertext must open under `recipient` for `key_id` and its own node; the shares must
/// be the two halves of one key, whose public key the reconstruction must reproduce.
pub fn open_export_dangerous(
    recipient: &ExportRecipientSecret,
    key_id: &str,
    node1_ciphertext: &[u8],
    node2_ciphertext: &[u8],
    protocol: ExportProtocol,
    path: &DerivationPath,
) -> Result<ExportedKey, MpcError> {
    match planbok_export::open_export_dangerous(
        recipient,
        key_id,
        node1_ciphertext,
        node2_ciphertext,
        protocol,
        path.indices(),
    )? {
        planbok_export::ExportedKey::Ecdsa(k) => ecdsa(k).map(ExportedKey::Ecdsa),
        planbok_export::ExportedKey::Ed25519(k) => Ok(ExportedKey::Ed25519(ed25519(k))),
    }
}
