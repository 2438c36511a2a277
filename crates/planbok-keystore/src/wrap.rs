//! Node 1's share wrapping under an organization secret: one code path for every custody
//! mode. The node keystore then seals the wrapped share like any other blob, so a Node 1
//! share needs both the node's key-encryption key and the organization's secret.
//!
//! ```text
//! key     = HKDF-SHA256(ikm = org secret, salt = org id, info = "planbok node1 share v1")
//! wrapped = 0x01 ‖ nonce (12) ‖ AES-256-GCM(key, nonce, AAD, share) ‖ tag (16)
//! AAD     = "planbok node1 share v1" ‖ 0x00 ‖ 0x01 ‖ u32 BE len(org id) ‖ org id
//!           ‖ u32 BE len(key id) ‖ key id
//! ```
//!
//! [`secret_verifier`] derives a separate value (info "planbok org secret verifier v1") that
//! Node 1 may store to recognize the secret without storing it.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::KeystoreError;
use crate::crypto::{self, NONCE_LEN, TAG_LEN, hkdf32};

/// The wrapped-share format version.
pub const WRAP_VERSION: u8 = 1;

const SHARE_INFO: &[u8] = b"planbok node1 share v1";
const VERIFIER_INFO: &[u8] = b"planbok org secret verifier v1";

fn aad(org_id: &str, key_id: &str) -> Result<Vec<u8>, KeystoreError> {
    let len =
        |s: &str| u32::try_from(s.len()).map_err(|_| KeystoreError::Config("id too long".into()));
    let mut out = Vec::with_capacity(SHARE_INFO.len() + 10 + org_id.len() + key_id.len());
    out.extend_from_slice(SHARE_INFO);
    out.push(0);
    out.push(WRAP_VERSION);
    out.extend_from_slice(&len(org_id)?.to_be_bytes());
    out.extend_from_slice(org_id.as_bytes());
    out.extend_from_slice(&len(key_id)?.to_be_bytes());
    out.extend_from_slice(key_id.as_bytes());
    Ok(out)
}

/// Encrypts a Node 1 share under a key derived from the organization secret, bound to the
/// organization and key ids.
pub fn wrap_share(
    org_secret: &[u8; 32],
    org_id: &str,
    key_id: &str,
    share: &[u8],
) -> Result<Vec<u8>, KeystoreError> {
    let key = hkdf32(org_secret, org_id.as_bytes(), SHARE_INFO);
    let nonce = crypto::random_nonce()?;
    let ciphertext = crypto::aes_gcm_seal(&key, &nonce, &aad(org_id, key_id)?, share)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(WRAP_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Reverses [`wrap_share`]. A wrong secret, another organization or key id, or an altered
/// blob are all [`KeystoreError::WrongOrgSecret`]; AES-GCM cannot tell them apart.
pub fn unwrap_share(
    org_secret: &[u8; 32],
    org_id: &str,
    key_id: &str,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    let [version, rest @ ..] = wrapped else {
        return Err(KeystoreError::MalformedWrappedShare);
    };
    if *version != WRAP_VERSION || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(KeystoreError::MalformedWrappedShare);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce
        .try_into()
        .map_err(|_| KeystoreError::MalformedWrappedShare)?;
    let key = hkdf32(org_secret, org_id.as_bytes(), SHARE_INFO);
    crypto::aes_gcm_open(&key, nonce, &aad(org_id, key_id)?, ciphertext)
        .ok_or(KeystoreError::WrongOrgSecret)
}

/// A value Node 1 can store at registration to check later that a submitted organization
/// secret is the registered one. It reveals nothing usable to unwrap shares (a different
/// HKDF label from the wrapping key).
pub fn secret_verifier(org_secret: &[u8; 32], org_id: &str) -> [u8; 32] {
    *hkdf32(org_secret, org_id.as_bytes(), VERIFIER_INFO)
}

/// True when `org_secret` matches `registered` (from [`secret_verifier`]), compared in
/// constant time.
pub fn verify_secret(org_secret: &[u8; 32], org_id: &str, registered: &[u8; 32]) -> bool {
    secret_verifier(org_secret, org_id).ct_eq(registered).into()
}
