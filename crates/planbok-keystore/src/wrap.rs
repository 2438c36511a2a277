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
use crate::crypto::{self, hkdf32};

/// The wrapped-share format version.
pub const WRAP_VERSION: u8 = 1;

const SHARE_INFO: &[u8] = b"planbok node1 share v1";
const VERIFIER_INFO: &[u8] = b"planbok org secret verifier v1";

fn aad(org_id: &str, key_id: &str) -> Result<Vec<u8>, KeystoreError> {
    let mut out = Vec::with_capacity(SHARE_INFO.len() + 10 + org_id.len() + key_id.len());
    out.extend_from_slice(SHARE_INFO);
    out.push(0);
    out.push(WRAP_VERSION);
    crypto::push_len_prefixed(&mut out, org_id)?;
    crypto::push_len_prefixed(&mut out, key_id)?;
    Ok(out)
}

/// The wrapping key. Derived per call: the API takes the secret itself, and HKDF costs a
/// few microseconds next to the signing run the share is opened for.
fn share_key(org_secret: &[u8; 32], org_id: &str) -> Zeroizing<[u8; 32]> {
    hkdf32(org_secret, org_id.as_bytes(), SHARE_INFO)
}

/// Encrypts a Node 1 share under a key derived from the organization secret, bound to the
/// organization and key ids.
pub fn wrap_share(
    org_secret: &[u8; 32],
    org_id: &str,
    key_id: &str,
    share: &[u8],
) -> Result<Vec<u8>, KeystoreError> {
    let aad = aad(org_id, key_id)?;
    let mut out = Vec::with_capacity(1 + share.len() + crypto::SEAL_OVERHEAD);
    out.push(WRAP_VERSION);
    crypto::seal_into(&mut out, &share_key(org_secret, org_id), &aad, share)?;
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
    let [WRAP_VERSION, sealed @ ..] = wrapped else {
        return Err(KeystoreError::MalformedWrappedShare);
    };
    if sealed.len() < crypto::SEAL_OVERHEAD {
        return Err(KeystoreError::MalformedWrappedShare);
    }
    let aad = aad(org_id, key_id)?;
    crypto::open(&share_key(org_secret, org_id), &aad, sealed).ok_or(KeystoreError::WrongOrgSecret)
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
