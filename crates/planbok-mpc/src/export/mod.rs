//! **Key export: rebuilds a full private key from both parties' shares.**
//!
//! This defeats the purpose of MPC for the exported key and exists only for the client-side
//! export flows (the owner's or end user's device reconstructs, never a server). Each
//! function checks that the reconstructed key's public key equals the wallet's before
//! returning it.
//!
//! [`envelope`] carries the shares there: each node encrypts its own share to the client's
//! ephemeral key ([`seal_share_for_export`]); the client opens both and reconstructs
//! ([`open_export_dangerous`]).

mod envelope;

pub use envelope::{
    EXPORT_VERSION, ExportProtocol, ExportRecipientSecret, ExportedKey, RECIPIENT_KEY_LEN,
    check_recipient_public_key, open_export_dangerous, seal_share_for_export,
};

use cggmp21::generic_ec::{Scalar, SecretScalar, curves::Secp256k1};
use zeroize::Zeroizing;

use crate::cggmp::{self, CggmpKeyShare};
use crate::dkls::DklsKeyShare;
use crate::error::MpcError;
use crate::frost::FrostKeyShare;
use crate::hd::{self, DerivationPath};
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

/// Reconstructs the private key at `path` from both halves of a CGGMP key.
pub fn reconstruct_cggmp_private_key_dangerous(
    a: &CggmpKeyShare,
    b: &CggmpKeyShare,
    path: &DerivationPath,
) -> Result<ExportedEcdsaKey, MpcError> {
    let master = cggmp::reconstruct(a, b)?;
    finish_ecdsa_export(master, a.public_key()?, a.chain_code()?, path)
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
    if a.party() == b.party() || a.public_key()? != b.public_key()? {
        return Err(MpcError::InvalidInput(
            "shares are not the two halves of one key".into(),
        ));
    }
    let (p1, p2) = if a.party().get() == 0 { (a, b) } else { (b, a) };
    let x = Zeroizing::new(*p1.poly_point() + *p1.poly_point() - *p2.poly_point());
    let bytes = Zeroizing::new(<[u8; 32]>::from(x.to_bytes()));
    let mut scalar = Scalar::<Secp256k1>::from_be_bytes(&bytes[..])
        .map_err(|_| MpcError::Internal("scalar conversion".into()))?;
    finish_ecdsa_export(
        SecretScalar::new(&mut scalar),
        a.public_key()?,
        a.chain_code(),
        path,
    )
}

/// Derives the child key and checks both the master and the child public keys.
fn finish_ecdsa_export(
    master: SecretScalar<Secp256k1>,
    master_pk: EcdsaPublicKey,
    chain_code: [u8; 32],
    path: &DerivationPath,
) -> Result<ExportedEcdsaKey, MpcError> {
    let (child, got_master, pk) = hd::derive_secret_key(master, chain_code, path)?;
    if got_master != master_pk {
        return Err(MpcError::InvalidInput(
            "shares do not reconstruct the public key".into(),
        ));
    }
    if pk != hd::derive_public_key(&master_pk, &chain_code, path)?.0 {
        return Err(MpcError::Internal(
            "reconstructed key does not match the wallet".into(),
        ));
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(&child.as_ref().to_be_bytes());
    Ok(ExportedEcdsaKey {
        secret,
        public_key: pk,
    })
}

/// Reconstructs the ed25519 secret scalar from both halves of a FROST key.
pub fn reconstruct_frost_private_key_dangerous(
    a: &FrostKeyShare,
    b: &FrostKeyShare,
) -> Result<ExportedEd25519Key, MpcError> {
    if a.party() == b.party() || a.public_key() != b.public_key() {
        return Err(MpcError::InvalidInput(
            "shares are not the two halves of one key".into(),
        ));
    }
    let key = frost_ed25519::keys::reconstruct(&[a.key_package().clone(), b.key_package().clone()])
        .map_err(|e| MpcError::InvalidInput(format!("reconstruct: {e}")))?;
    let vk = frost_ed25519::VerifyingKey::from(&key);
    let pk = vk
        .serialize()
        .map_err(|e| MpcError::Internal(format!("serialize: {e}")))?;
    if pk.as_slice() != a.public_key().to_bytes() {
        return Err(MpcError::Internal(
            "reconstructed key does not match the wallet".into(),
        ));
    }
    let mut secret_scalar = Zeroizing::new([0u8; 32]);
    secret_scalar.copy_from_slice(&key.serialize());
    Ok(ExportedEd25519Key {
        secret_scalar,
        public_key: a.public_key(),
    })
}
