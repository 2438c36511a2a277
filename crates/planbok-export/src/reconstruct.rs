//! **Rebuilds a full private key from both parties' shares.** Each function checks that
//! the reconstructed key gives the shares' public key (and, derived, the wallet's) before
//! returning it.

use std::fmt;

use frost_ed25519::keys::KeyPackage;
use generic_ec::curves::Secp256k1;
use generic_ec::{Scalar, SecretScalar};
use zeroize::Zeroizing;

use crate::error::ExportError;
use crate::hd;
use crate::shares::{CggmpShare, DklsShare};

/// A reconstructed secp256k1 private key (32 bytes, big-endian) and its public key.
pub struct ExportedEcdsaKey {
    /// The private key. Zeroized on drop.
    pub secret: Zeroizing<[u8; 32]>,
    /// Its public key (SEC1 compressed), equal to the wallet's derived key.
    pub public_key: [u8; 33],
}

impl fmt::Debug for ExportedEcdsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedEcdsaKey")
            .field("public_key", &hex::encode(self.public_key))
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
    pub public_key: [u8; 32],
}

impl fmt::Debug for ExportedEd25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedEd25519Key")
            .field("public_key", &hex::encode(self.public_key))
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

fn not_halves() -> ExportError {
    ExportError::InvalidInput("shares are not the two halves of one key".into())
}

/// Reconstructs the private key at `path` from both halves of a CGGMP key: `x1 + x2`.
pub fn reconstruct_cggmp_dangerous(
    a: &CggmpShare,
    b: &CggmpShare,
    path: &[u32],
) -> Result<ExportedEcdsaKey, ExportError> {
    if a.shared_public_key != b.shared_public_key || a.i == b.i {
        return Err(not_halves());
    }
    let chain_code = a
        .chain_code
        .ok_or_else(|| ExportError::InvalidInput("key share has no chain code".into()))?;
    let (xa, xb): (&SecretScalar<Secp256k1>, &SecretScalar<Secp256k1>) = (&a.x, &b.x);
    let master = SecretScalar::new(&mut (xa.as_ref() + xb.as_ref()));
    let master_pk = hd::compressed(&a.shared_public_key)?;
    finish_ecdsa(master, &master_pk, chain_code, path)
}

/// Reconstructs the private key at `path` from both halves of a DKLs23 key.
///
/// DKLs23 shares are Shamir points p(1), p(2) of a degree-1 polynomial; the key is
/// p(0) = 2·p(1) − p(2) (Lagrange coefficients at 0 for the points 1 and 2).
pub fn reconstruct_dkls_dangerous(
    a: &DklsShare,
    b: &DklsShare,
    path: &[u32],
) -> Result<ExportedEcdsaKey, ExportError> {
    if a.party_index == b.party_index || a.pk != b.pk {
        return Err(not_halves());
    }
    let (p1, p2) = if a.party_index == crate::shares::dkls_index(0)? {
        (a, b)
    } else {
        (b, a)
    };
    let x = Zeroizing::new(p1.poly_point + p1.poly_point - p2.poly_point);
    let bytes = Zeroizing::new(<[u8; 32]>::from(x.to_bytes()));
    let mut scalar = Scalar::<Secp256k1>::from_be_bytes(&bytes[..])
        .map_err(|_| ExportError::Internal("scalar conversion".into()))?;
    let vk = k256::ecdsa::VerifyingKey::from_affine(a.pk)
        .map_err(|_| ExportError::Internal("DKLs public key is the identity".into()))?;
    let master_pk = <[u8; 33]>::try_from(vk.to_sec1_point(true).as_bytes())
        .map_err(|_| ExportError::Internal("DKLs public key encoding".into()))?;
    finish_ecdsa(
        SecretScalar::new(&mut scalar),
        &master_pk,
        *a.chain_code(),
        path,
    )
}

/// Derives the child key and checks both the master and the child public keys.
fn finish_ecdsa(
    master: SecretScalar<Secp256k1>,
    master_pk: &[u8; 33],
    chain_code: [u8; 32],
    path: &[u32],
) -> Result<ExportedEcdsaKey, ExportError> {
    let (child, got_master, pk) = hd::derive_secret_key(master, chain_code, path)?;
    if &got_master != master_pk {
        return Err(ExportError::InvalidInput(
            "shares do not reconstruct the public key".into(),
        ));
    }
    if pk != hd::derive_public_key(master_pk, &chain_code, path)?.0 {
        return Err(ExportError::Internal(
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
pub fn reconstruct_frost_dangerous(
    a: &KeyPackage,
    b: &KeyPackage,
) -> Result<ExportedEd25519Key, ExportError> {
    if a.identifier() == b.identifier() || a.verifying_key() != b.verifying_key() {
        return Err(not_halves());
    }
    let key = frost_ed25519::keys::reconstruct(&[a.clone(), b.clone()])
        .map_err(|e| ExportError::InvalidInput(format!("reconstruct: {e}")))?;
    let pk = frost_ed25519::VerifyingKey::from(&key)
        .serialize()
        .map_err(|e| ExportError::Internal(format!("serialize: {e}")))?;
    let want = a
        .verifying_key()
        .serialize()
        .map_err(|e| ExportError::Internal(format!("serialize: {e}")))?;
    let public_key = <[u8; 32]>::try_from(&pk[..])
        .map_err(|_| ExportError::Internal("ed25519 public key length".into()))?;
    if pk != want {
        return Err(ExportError::Internal(
            "reconstructed key does not match the wallet".into(),
        ));
    }
    let mut secret_scalar = Zeroizing::new([0u8; 32]);
    secret_scalar.copy_from_slice(&key.serialize());
    Ok(ExportedEd25519Key {
        secret_scalar,
        public_key,
    })
}
