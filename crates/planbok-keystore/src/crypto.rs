//! The few primitives every module shares: OS randomness, AES-256-GCM, HKDF-SHA256, and the
//! length-prefixed fields of our associated data.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::KeystoreError;

/// AES-GCM nonce length (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;
/// What [`seal_into`] adds to a plaintext: nonce and tag.
pub(crate) const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Fills `buf` from the operating system's generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), KeystoreError> {
    getrandom::fill(buf).map_err(|_| KeystoreError::Rng)
}

/// A fresh random 32-byte key.
pub(crate) fn random_key() -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let mut key = Zeroizing::new([0u8; 32]);
    fill_random(key.as_mut())?;
    Ok(key)
}

/// A fresh random nonce.
pub(crate) fn random_nonce() -> Result<[u8; NONCE_LEN], KeystoreError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    Ok(nonce)
}

/// Splits `nonce ‖ rest`; `None` when there is no whole nonce.
pub(crate) fn split_nonce(bytes: &[u8]) -> Option<(&[u8; NONCE_LEN], &[u8])> {
    bytes.split_first_chunk::<NONCE_LEN>()
}

/// AES-256-GCM under a fresh random nonce: appends `nonce ‖ ciphertext ‖ tag` to `out`.
///
/// The plaintext is encrypted in place inside `out`, so a large payload is copied once.
pub(crate) fn seal_into(
    out: &mut Vec<u8>,
    key: &[u8; 32],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(), KeystoreError> {
    let nonce = random_nonce()?;
    out.reserve(plaintext.len() + SEAL_OVERHEAD);
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let sealed = Aes256Gcm::new(key.into()).encrypt_in_place_detached(
        &Nonce::from(nonce),
        aad,
        &mut out[start..],
    );
    match sealed {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(())
        }
        Err(_) => {
            // Only inputs over 64 GiB fail; never leave the plaintext behind in `out`.
            out[start..].zeroize();
            out.truncate(start - NONCE_LEN);
            Err(KeystoreError::Internal("AES-GCM encryption"))
        }
    }
}

/// Reverses [`seal_into`] on `nonce ‖ ciphertext ‖ tag`. `None` when the input is too short
/// or fails authentication; the caller picks the error that names what failed.
pub(crate) fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let (nonce, ciphertext) = split_nonce(sealed)?;
    Aes256Gcm::new(key.into())
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

/// HKDF-SHA256 with a 32-byte output.
pub(crate) fn hkdf32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // HKDF-SHA256 can produce up to 255 * 32 bytes; 32 always fits, so this cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, out.as_mut());
    out
}

/// Appends `u32 big-endian len(field) ‖ field`, the way every AAD in this crate encodes an
/// id, so that ("ab", "c") and ("a", "bc") never collide.
pub(crate) fn push_len_prefixed(out: &mut Vec<u8>, field: &str) -> Result<(), KeystoreError> {
    let len = u32::try_from(field.len())
        .map_err(|_| KeystoreError::Config("an id is longer than 4 GiB".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field.as_bytes());
    Ok(())
}
